//! Value types, each built only through a parser that names the field and the
//! reason when the input is wrong.

use chrono::{NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};

use crate::error::ValidationErrors;

/// Why a text is refused, if it is: control characters, Unicode format
/// characters (bidi overrides, zero-width characters, the BOM, ...), line or
/// paragraph separators, and spaces other than the ordinary space. Such
/// characters hide or reorder what a person reads, or break the one-line
/// fields of TPGateway.
pub fn text_problem(value: &str) -> Option<&'static str> {
    use unicode_general_category::{get_general_category, GeneralCategory as G};
    for c in value.chars() {
        let why = match get_general_category(c) {
            G::Control => "must not contain control characters",
            G::Format => {
                "must not contain invisible format characters (such as bidi controls or zero-width characters)"
            }
            G::LineSeparator | G::ParagraphSeparator => {
                "must not contain line or paragraph separators"
            }
            G::SpaceSeparator if c != ' ' => "must not contain spaces other than the ordinary space",
            G::Surrogate | G::PrivateUse | G::Unassigned => {
                "must not contain private-use or unassigned characters"
            }
            _ => continue,
        };
        return Some(why);
    }
    None
}

/// Checks a required text: present, no refused characters (see
/// [`text_problem`]), not blank, at most `max` characters once the ordinary
/// spaces around it are trimmed.
pub fn required_text(
    errors: &mut ValidationErrors,
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Option<String> {
    let Some(v) = value else {
        errors.push(field, "is required");
        return None;
    };
    match clean_text(v, max) {
        Ok(Some(t)) => Some(t),
        Ok(None) => {
            errors.push(field, "must not be blank");
            None
        }
        Err(why) => {
            errors.push(field, why);
            None
        }
    }
}

/// Checks an optional text: when present, as [`required_text`]; a blank
/// text counts as absent.
pub fn optional_text(
    errors: &mut ValidationErrors,
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Option<String> {
    match clean_text(value?, max) {
        Ok(t) => t,
        Err(why) => {
            errors.push(field, why);
            None
        }
    }
}

/// The text trimmed of ordinary spaces, `None` when blank, or why it is
/// refused.
fn clean_text(value: &str, max: usize) -> Result<Option<String>, String> {
    if let Some(why) = text_problem(value) {
        return Err(why.to_string());
    }
    let v = value.trim_matches(' ');
    if v.is_empty() {
        return Ok(None);
    }
    if v.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    Ok(Some(v.to_string()))
}

/// Reads `n` ASCII digits as a number; `None` for anything else (no sign,
/// no space, no other digit form).
fn ascii_number(bytes: &[u8]) -> Option<u32> {
    bytes.iter().try_fold(0u32, |n, b| {
        b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
    })
}

/// Why a date is refused: a date is exactly `YYYY-MM-DD`, a real day.
pub const DATE_FORM: &str = "must be a date written YYYY-MM-DD";
/// Why a time is refused: a time is exactly `HH:MM`, 24-hour clock.
pub const TIME_FORM: &str = "must be a time written HH:MM (24-hour)";

/// A calendar date written exactly `YYYY-MM-DD`: four, two and two ASCII
/// digits, no sign, no padding, a day that exists. (chrono's own parser
/// takes signs and leading spaces, which then sort outside every range.)
pub fn strict_date(v: &str) -> Result<NaiveDate, &'static str> {
    let b = v.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(DATE_FORM);
    }
    let (Some(y), Some(m), Some(d)) = (
        ascii_number(&b[0..4]),
        ascii_number(&b[5..7]),
        ascii_number(&b[8..10]),
    ) else {
        return Err(DATE_FORM);
    };
    i32::try_from(y)
        .ok()
        .and_then(|y| NaiveDate::from_ymd_opt(y, m, d))
        .ok_or(DATE_FORM)
}

/// A time of day written exactly `HH:MM`, 00:00 to 23:59.
pub fn strict_time(v: &str) -> Result<NaiveTime, &'static str> {
    let b = v.as_bytes();
    if b.len() != 5 || b[2] != b':' {
        return Err(TIME_FORM);
    }
    match (ascii_number(&b[0..2]), ascii_number(&b[3..5])) {
        (Some(h), Some(m)) => NaiveTime::from_hms_opt(h, m, 0).ok_or(TIME_FORM),
        _ => Err(TIME_FORM),
    }
}

/// A required date field (see [`strict_date`]).
pub fn parse_date(
    errors: &mut ValidationErrors,
    field: &str,
    value: Option<&str>,
) -> Option<NaiveDate> {
    let Some(v) = value else {
        errors.push(field, "is required");
        return None;
    };
    strict_date(v).map_err(|why| errors.push(field, why)).ok()
}

/// A required time field (see [`strict_time`]).
pub fn parse_time(
    errors: &mut ValidationErrors,
    field: &str,
    value: Option<&str>,
) -> Option<NaiveTime> {
    let Some(v) = value else {
        errors.push(field, "is required");
        return None;
    };
    strict_time(v).map_err(|why| errors.push(field, why)).ok()
}

/// A TPGateway course reference number: `TGS-` and 10 digits, e.g.
/// `TGS-2020000697` (the only format seen in working integrations).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CourseRef(String);

impl CourseRef {
    pub fn parse(value: &str) -> Result<CourseRef, &'static str> {
        let v = value.trim_matches(' ').to_ascii_uppercase();
        let digits = v.strip_prefix("TGS-").unwrap_or("");
        if digits.len() == 10 && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(CourseRef(v))
        } else {
            Err("must be a course reference number: TGS- followed by 10 digits, e.g. TGS-2020000697")
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A time of day as the API writes it (`HH:MM`, 24-hour).
pub const HHMM_PATTERN: &str = "^([01][0-9]|2[0-3]):[0-5][0-9]$";

/// The JSON Schema of a string type whose rules live in its `parse`.
macro_rules! string_schema {
    ($name:ident, $($schema:tt)+) => {
        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn inline_schema() -> bool {
                true
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!($($schema)+)
            }
        }
    };
}

string_schema!(CourseRef, {
    "type": "string",
    "pattern": "^TGS-[0-9]{10}$",
    "description": "A TPGateway course reference number: TGS- and 10 digits.",
    "examples": ["TGS-2020000697"]
});

impl TryFrom<String> for CourseRef {
    type Error = &'static str;
    fn try_from(v: String) -> Result<Self, Self::Error> {
        CourseRef::parse(&v)
    }
}

impl From<CourseRef> for String {
    fn from(v: CourseRef) -> String {
        v.0
    }
}

/// An e-mail address as RFC 5322 allows it in an address field (checked by
/// the `email_address` crate), with a dotted domain and without display
/// text or an IP-literal domain, at most 254 characters. Stored as given
/// (trimmed of spaces); compared lowercased.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(value: &str) -> Result<Email, &'static str> {
        const WHY: &str = "must be an e-mail address, e.g. name@example.sg";
        if text_problem(value).is_some() {
            return Err(WHY);
        }
        let v = value.trim_matches(' ');
        let options = email_address::Options::default()
            .with_required_tld()
            .without_domain_literal()
            .without_display_text();
        match email_address::EmailAddress::parse_with_options(v, options) {
            Ok(_) if v.len() <= 254 && !v.contains(' ') => Ok(Email(v.to_string())),
            _ => Err(WHY),
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }
}

string_schema!(Email, {
    "type": "string",
    "format": "email",
    "maxLength": 254,
    "examples": ["name@example.sg"]
});

impl TryFrom<String> for Email {
    type Error = &'static str;
    fn try_from(v: String) -> Result<Self, Self::Error> {
        Email::parse(&v)
    }
}

impl From<Email> for String {
    fn from(v: Email) -> String {
        v.0
    }
}

crate::named_enum! {
    /// TPGateway's mode of training (API-NOTES §10), named in our API and
    /// mapped to TPGateway's code when a payload is built.
    pub enum ModeOfTraining {
        Classroom,
        AsynchronousElearning,
        InHouse,
        OnTheJob,
        PracticalPracticum,
        SupervisedField,
        Traineeship,
        Assessment,
        SynchronousElearning,
    }
}

impl ModeOfTraining {
    /// TPGateway's code for this mode.
    pub fn code(self) -> &'static str {
        match self {
            ModeOfTraining::Classroom => "1",
            ModeOfTraining::AsynchronousElearning => "2",
            ModeOfTraining::InHouse => "3",
            ModeOfTraining::OnTheJob => "4",
            ModeOfTraining::PracticalPracticum => "5",
            ModeOfTraining::SupervisedField => "6",
            ModeOfTraining::Traineeship => "7",
            ModeOfTraining::Assessment => "8",
            ModeOfTraining::SynchronousElearning => "9",
        }
    }

    pub fn name(self) -> &'static str {
        self.as_str()
    }

    /// TPGateway requires a physical venue except for asynchronous e-learning
    /// and on-the-job training (API-NOTES §11).
    pub fn needs_venue(self) -> bool {
        !matches!(
            self,
            ModeOfTraining::AsynchronousElearning | ModeOfTraining::OnTheJob
        )
    }
}

/// A password as it arrives in a request (login, a new password). It can
/// be read from JSON but never written back: it has no `Serialize`, no
/// `Display`, and `Debug` prints `Password(<redacted>)`. The value is read
/// only through [`Password::expose`], by the hasher and the policy check.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Password(String);

impl Password {
    pub fn new(s: impl Into<String>) -> Self {
        Password(s.into())
    }
    /// The text itself, for hashing and checking only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

// The lengths are tms_auth::password::{MIN_LEN, MAX_LEN} (the policy lives
// there; tests/integration/openapi.rs checks the two agree).
string_schema!(Password, {
    "type": "string",
    "writeOnly": true,
    "minLength": 12,
    "maxLength": 128,
    "description": "Never returned. At least 12 characters, not a common password, not the e-mail's local part."
});

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A venue as TPGateway takes it (API-NOTES §6.1, with its length limits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Venue {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    pub floor: String,
    pub unit: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub building: Option<String>,
    pub postal_code: String,
    pub room: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wheelchair_access: Option<bool>,
}

/// A venue as it arrives in a request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VenueInput {
    pub block: Option<String>,
    pub street: Option<String>,
    pub floor: Option<String>,
    pub unit: Option<String>,
    pub building: Option<String>,
    pub postal_code: Option<String>,
    pub room: Option<String>,
    pub wheelchair_access: Option<bool>,
}

impl From<&Venue> for VenueInput {
    fn from(v: &Venue) -> Self {
        VenueInput {
            block: v.block.clone(),
            street: v.street.clone(),
            floor: Some(v.floor.clone()),
            unit: Some(v.unit.clone()),
            building: v.building.clone(),
            postal_code: Some(v.postal_code.clone()),
            room: Some(v.room.clone()),
            wheelchair_access: v.wheelchair_access,
        }
    }
}

impl VenueInput {
    pub fn parse(&self, errors: &mut ValidationErrors, prefix: &str) -> Option<Venue> {
        let before = errors.0.len();
        let f = |name: &str| format!("{prefix}.{name}");
        let block = optional_text(errors, &f("block"), self.block.as_deref(), 10);
        let street = optional_text(errors, &f("street"), self.street.as_deref(), 32);
        let floor = required_text(errors, &f("floor"), self.floor.as_deref(), 3);
        let unit = required_text(errors, &f("unit"), self.unit.as_deref(), 5);
        let building = optional_text(errors, &f("building"), self.building.as_deref(), 66);
        let postal_code = required_text(errors, &f("postal_code"), self.postal_code.as_deref(), 6);
        if let Some(p) = &postal_code {
            if p.len() != 6 || !p.bytes().all(|b| b.is_ascii_digit()) {
                errors.push(
                    f("postal_code"),
                    "must be a Singapore postal code of 6 digits",
                );
            }
        }
        let room = required_text(errors, &f("room"), self.room.as_deref(), 255);
        if errors.0.len() != before {
            return None;
        }
        Some(Venue {
            block,
            street,
            floor: floor?,
            unit: unit?,
            building,
            postal_code: postal_code?,
            room: room?,
            wheelchair_access: self.wheelchair_access,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_reads_from_json_and_prints_nothing() {
        let p: Password = serde_json::from_str(r#""correct horse battery""#).unwrap();
        assert_eq!(p.expose(), "correct horse battery");
        assert_eq!(p, Password::new("correct horse battery"));
        assert_eq!(format!("{p:?}"), "Password(<redacted>)");
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Login {
            email: String,
            password: Password,
        }
        let login: Login =
            serde_json::from_str(r#"{"email":"a@b.sg","password":"hunter2-hunter2"}"#).unwrap();
        assert_eq!(login.password.expose(), "hunter2-hunter2");
        assert!(!format!("{login:?}").contains("hunter2"));
        assert!(serde_json::from_str::<Password>("12345").is_err());
        assert!(serde_json::from_str::<Password>("null").is_err());
    }

    #[test]
    fn course_ref() {
        assert_eq!(
            CourseRef::parse(" tgs-2020000697 ").unwrap().as_str(),
            "TGS-2020000697"
        );
        assert!(CourseRef::parse("TGS-202000069").is_err());
        assert!(CourseRef::parse("TGS-20200006970").is_err());
        assert!(CourseRef::parse("ABC-2020000697").is_err());
        assert!(CourseRef::parse("").is_err());
    }

    #[test]
    fn email() {
        assert!(Email::parse("a@b.sg").is_ok());
        assert_eq!(Email::parse("A@B.SG").unwrap().normalized(), "a@b.sg");
        assert!(Email::parse("first.last+tag@sub.example.com.sg").is_ok());
        for bad in [
            "",
            "a",
            "a@b",
            "a@@b.sg",
            "@b.sg",
            "a b@c.sg",
            "a@.sg",
            "a@b.sg.",
            "A <a@b.sg>",
            "a@[10.0.0.1]",
            "a\u{200b}@b.sg",
            "a..b@c.sg",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn modes_round_trip_and_codes() {
        use strum::VariantArray;
        for m in ModeOfTraining::VARIANTS.iter().copied() {
            assert_eq!(ModeOfTraining::parse(m.name()), Ok(m));
            let json = serde_json::to_string(&m).unwrap();
            assert_eq!(json, format!("\"{}\"", m.name()));
        }
        assert_eq!(ModeOfTraining::Classroom.code(), "1");
        assert_eq!(ModeOfTraining::SynchronousElearning.code(), "9");
        assert!(ModeOfTraining::parse("online").is_err());
        assert!(!ModeOfTraining::OnTheJob.needs_venue());
        assert!(ModeOfTraining::Classroom.needs_venue());
    }

    #[test]
    fn dates_and_times_are_strict() {
        let mut e = ValidationErrors::default();
        assert!(parse_date(&mut e, "d", Some("2025-01-15")).is_some());
        assert!(parse_date(&mut e, "d", Some("2025-1-15")).is_none());
        assert!(parse_date(&mut e, "d", Some("2025-02-30")).is_none());
        assert!(parse_time(&mut e, "t", Some("09:00")).is_some());
        assert!(parse_time(&mut e, "t", Some("9:00")).is_none());
        assert!(parse_time(&mut e, "t", Some("24:00")).is_none());
        assert_eq!(e.0.len(), 4);
        for bad in [
            "-001-01-01",
            "+025-01-15",
            " 2025-1-15",
            "2025-01-15 ",
            "２０２５-01-15",
            "2025/01/15",
            "20250115",
            "2025-13-01",
            "2025-00-10",
            "2025-01-00",
        ] {
            assert_eq!(strict_date(bad), Err(DATE_FORM), "{bad:?}");
        }
        assert_eq!(
            strict_date("2024-02-29").map(|d| d.to_string()).as_deref(),
            Ok("2024-02-29")
        );
        for bad in [
            " 9:00", "9:00", "09:00:00", "+9:00", "09:60", "-1:00", "0９:00", "09-00",
        ] {
            assert_eq!(strict_time(bad), Err(TIME_FORM), "{bad:?}");
        }
        assert_eq!(
            strict_time("23:59").map(|t| t.to_string()).as_deref(),
            Ok("23:59:00")
        );
    }

    #[test]
    fn venue_reports_each_field() {
        let mut e = ValidationErrors::default();
        let v = VenueInput {
            floor: Some("1234".into()),
            postal_code: Some("12345".into()),
            ..Default::default()
        };
        assert!(v.parse(&mut e, "venue").is_none());
        let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "venue.floor",
                "venue.unit",
                "venue.postal_code",
                "venue.room"
            ]
        );
    }

    #[test]
    fn texts() {
        let mut e = ValidationErrors::default();
        assert_eq!(
            required_text(&mut e, "t", Some("  x "), 3),
            Some("x".into())
        );
        assert_eq!(required_text(&mut e, "t", Some("   "), 3), None);
        assert_eq!(required_text(&mut e, "t", Some("abcd"), 3), None);
        assert_eq!(required_text(&mut e, "t", Some("a\u{0}"), 3), None);
        assert_eq!(required_text(&mut e, "t", None, 3), None);
        assert_eq!(e.0.len(), 4);
        for bad in [
            "a\u{202e}b",
            "a\u{200b}",
            "\u{feff}a",
            "a\u{2028}b",
            "a\u{2029}",
            "a\u{a0}b",
            "a\nb",
            "a\tb",
            "\u{2066}x",
            "x\u{e000}",
        ] {
            let mut e = ValidationErrors::default();
            assert_eq!(optional_text(&mut e, "t", Some(bad), 10), None, "{bad:?}");
            assert_eq!(e.0.len(), 1, "{bad:?}");
        }
        let mut e = ValidationErrors::default();
        assert_eq!(required_text(&mut e, "t", Some("  "), 3), None);
        assert_eq!(e.0[0].reason, "must not be blank");
        assert_eq!(
            required_text(&mut e, "t", Some("Café 東京"), 10).as_deref(),
            Some("Café 東京")
        );
    }
}

/// Serde for a time of day as `HH:MM`, the form requests use.
pub mod hhmm {
    use chrono::NaiveTime;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.format("%H:%M").to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
        let s = String::deserialize(d)?;
        super::strict_time(&s).map_err(serde::de::Error::custom)
    }
}
