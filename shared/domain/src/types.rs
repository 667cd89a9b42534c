//! Value types, each built only through a parser that names the field and the
//! reason when the input is wrong.

use chrono::{NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};

use crate::error::ValidationErrors;

/// Checks a required text: present, trimmed non-empty, at most `max` characters.
pub fn required_text(
    errors: &mut ValidationErrors,
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Option<String> {
    match value {
        None => {
            errors.push(field, "is required");
            None
        }
        Some(v) => optional_text(errors, field, Some(v), max).or_else(|| {
            if v.trim().is_empty() {
                errors.push(field, "must not be empty");
            }
            None
        }),
    }
}

/// Checks an optional text: when present, trimmed, non-empty, at most `max`
/// characters, no control characters.
pub fn optional_text(
    errors: &mut ValidationErrors,
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Option<String> {
    let v = value?.trim();
    if v.is_empty() {
        return None;
    }
    if v.chars().count() > max {
        errors.push(field, format!("must be at most {max} characters"));
        return None;
    }
    if v.chars().any(|c| c.is_control()) {
        errors.push(field, "must not contain control characters");
        return None;
    }
    Some(v.to_string())
}

/// A calendar date written `YYYY-MM-DD`.
pub fn parse_date(
    errors: &mut ValidationErrors,
    field: &str,
    value: Option<&str>,
) -> Option<NaiveDate> {
    let Some(v) = value else {
        errors.push(field, "is required");
        return None;
    };
    match NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        Ok(d) if v.len() == 10 => Some(d),
        _ => {
            errors.push(field, "must be a date written YYYY-MM-DD");
            None
        }
    }
}

/// A time of day written `HH:MM` (24-hour clock).
pub fn parse_time(
    errors: &mut ValidationErrors,
    field: &str,
    value: Option<&str>,
) -> Option<NaiveTime> {
    let Some(v) = value else {
        errors.push(field, "is required");
        return None;
    };
    match NaiveTime::parse_from_str(v, "%H:%M") {
        Ok(t) if v.len() == 5 => Some(t),
        _ => {
            errors.push(field, "must be a time written HH:MM (24-hour)");
            None
        }
    }
}

/// A TPGateway course reference number: `TGS-` and 10 digits, e.g.
/// `TGS-2020000697` (the only format seen in working integrations).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CourseRef(String);

impl CourseRef {
    pub fn parse(value: &str) -> Result<CourseRef, &'static str> {
        let v = value.trim().to_ascii_uppercase();
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

/// An e-mail address: one `@`, a dotted domain, no spaces, at most 254
/// characters. Stored as given (trimmed); compared lowercased.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(value: &str) -> Result<Email, &'static str> {
        let v = value.trim();
        let ok = v.len() <= 254
            && !v.chars().any(|c| c.is_whitespace() || c.is_control())
            && match v.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && !domain.contains('@')
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                }
                None => false,
            };
        if ok {
            Ok(Email(v.to_string()))
        } else {
            Err("must be an e-mail address")
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }
}

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

/// TPGateway's mode of training (API-NOTES §10), named in our API and mapped
/// to TPGateway's code when a payload is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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

impl ModeOfTraining {
    pub const ALL: [ModeOfTraining; 9] = [
        ModeOfTraining::Classroom,
        ModeOfTraining::AsynchronousElearning,
        ModeOfTraining::InHouse,
        ModeOfTraining::OnTheJob,
        ModeOfTraining::PracticalPracticum,
        ModeOfTraining::SupervisedField,
        ModeOfTraining::Traineeship,
        ModeOfTraining::Assessment,
        ModeOfTraining::SynchronousElearning,
    ];

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
        match self {
            ModeOfTraining::Classroom => "classroom",
            ModeOfTraining::AsynchronousElearning => "asynchronous_elearning",
            ModeOfTraining::InHouse => "in_house",
            ModeOfTraining::OnTheJob => "on_the_job",
            ModeOfTraining::PracticalPracticum => "practical_practicum",
            ModeOfTraining::SupervisedField => "supervised_field",
            ModeOfTraining::Traineeship => "traineeship",
            ModeOfTraining::Assessment => "assessment",
            ModeOfTraining::SynchronousElearning => "synchronous_elearning",
        }
    }

    pub fn parse(value: &str) -> Result<ModeOfTraining, String> {
        ModeOfTraining::ALL
            .into_iter()
            .find(|m| m.name() == value)
            .ok_or_else(|| {
                let names: Vec<&str> = ModeOfTraining::ALL.iter().map(|m| m.name()).collect();
                format!("must be one of: {}", names.join(", "))
            })
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

/// A venue as TPGateway takes it (API-NOTES §6.1, with its length limits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
        for bad in [
            "", "a", "a@b", "a@@b.sg", "@b.sg", "a b@c.sg", "a@.sg", "a@b.sg.",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn modes_round_trip_and_codes() {
        for m in ModeOfTraining::ALL {
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
        NaiveTime::parse_from_str(&s, "%H:%M")
            .or_else(|_| NaiveTime::parse_from_str(&s, "%H:%M:%S"))
            .map_err(serde::de::Error::custom)
    }
}
