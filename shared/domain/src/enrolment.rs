//! Enrolments: a trainee in a course run, with the fee, the subsidy and
//! who pays, and where the enrolment stands with TPGateway. One per
//! trainee and run (a guard item); money as decimals (cents), never floats.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, ValidationErrors};
use crate::ids::{EnrolmentId, RunId, TraineeId, TypedId};
use crate::patch::{apply_merge_patch, MergePatch};
use crate::sync::SubmissionSync;
use crate::trainee::{Phone, PhoneInput};
use crate::types::{optional_text, required_text, strict_date, Email};

/// Largest fee taken (TPGateway's limit is NOT FOUND; a course fee above a
/// million dollars is a typing error).
pub const MAX_CENTS: i64 = 100_000_000;
pub const MAX_SUBSIDY_INFO: usize = 500;
/// TPGateway's limit on an employer contact's name (the trainee's, §7).
pub const MAX_CONTACT_NAME: usize = 200;

crate::named_enum! {
    /// Where an enrolment stands.
    pub enum EnrolmentStatus {
        /// Kept locally, not sent.
        Draft,
        /// Queued for TPGateway.
        Pending,
        /// TPGateway has it (its reference number is stored).
        Accepted,
        /// TPGateway refused it; a person must fix the data.
        Failed,
        Cancelled,
    }
}

impl EnrolmentStatus {
    /// Counts against the run's capacity and sits in the active index.
    pub fn is_active(self) -> bool {
        !matches!(self, EnrolmentStatus::Cancelled | EnrolmentStatus::Failed)
    }

    /// The status after a person changes the enrolment: a draft stays a
    /// draft; anything sent (or refused) goes back to pending.
    pub fn after_edit(self) -> Result<EnrolmentStatus, DomainError> {
        match self {
            EnrolmentStatus::Cancelled => Err(DomainError::InvalidState(
                "the enrolment is cancelled and can no longer be changed".into(),
            )),
            EnrolmentStatus::Draft => Ok(EnrolmentStatus::Draft),
            _ => Ok(EnrolmentStatus::Pending),
        }
    }

    /// A person's own move of the status (only a draft's submission).
    pub fn moved_to(self, to: EnrolmentStatus) -> Result<EnrolmentStatus, DomainError> {
        match (self, to) {
            (a, b) if a == b => Ok(a),
            (EnrolmentStatus::Draft, EnrolmentStatus::Pending) => Ok(EnrolmentStatus::Pending),
            (_, EnrolmentStatus::Accepted | EnrolmentStatus::Failed) => {
                Err(DomainError::InvalidState(
                    "accepted and failed are set by the sync with TPGateway, not by a person"
                        .into(),
                ))
            }
            (_, EnrolmentStatus::Cancelled) => Err(DomainError::InvalidState(
                "cancel an enrolment with POST /enrolments/{id}/cancel".into(),
            )),
            (from, to) => Err(DomainError::InvalidState(format!(
                "an enrolment cannot go from {from} to {to}"
            ))),
        }
    }

    pub fn after_cancel(self) -> Result<EnrolmentStatus, DomainError> {
        match self {
            EnrolmentStatus::Cancelled => Err(DomainError::InvalidState(
                "the enrolment is already cancelled".into(),
            )),
            _ => Ok(EnrolmentStatus::Cancelled),
        }
    }
}

crate::named_enum! {
    /// Who pays (TPGateway's sponsorshipType, §10).
    pub enum Sponsorship {
        Individual,
        Employer,
    }
}

crate::named_enum! {
    /// How much of the fee is collected (TPGateway's collectionStatus, §10).
    pub enum CollectionStatus {
        PendingPayment,
        PartialPayment,
        FullPayment,
    }
}

impl CollectionStatus {
    pub fn tpg_name(self) -> &'static str {
        match self {
            CollectionStatus::PendingPayment => "Pending Payment",
            CollectionStatus::PartialPayment => "Partial Payment",
            CollectionStatus::FullPayment => "Full Payment",
        }
    }
}

/// An amount of Singapore dollars, in cents; written as a decimal string
/// with two places (`"1200.00"`), read from one with at most two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Money(i64);

impl Money {
    pub const ZERO: Money = Money(0);
    pub fn cents(self) -> i64 {
        self.0
    }
    /// `"1200"`, `"1200.5"`, `"1200.50"`: digits, an optional point and at
    /// most two decimals; no sign, exponent or spaces.
    pub fn parse(v: &str) -> Result<Money, &'static str> {
        const WHY: &str = "must be an amount in dollars written as a decimal, e.g. \"1200.50\" (at most 2 decimals, not negative)";
        let (whole, frac) = match v.split_once('.') {
            Some((w, f)) => (w, f),
            None => (v, ""),
        };
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty()
            || whole.len() > 9
            || !digits(whole)
            || frac.len() > 2
            || !digits(frac)
            || (v.contains('.') && frac.is_empty())
        {
            return Err(WHY);
        }
        let whole: i64 = whole.parse().map_err(|_| WHY)?;
        let frac: i64 = format!("{frac:0<2}").parse().map_err(|_| WHY)?;
        let cents = whole * 100 + frac;
        if cents > MAX_CENTS {
            return Err("must be at most 1000000.00");
        }
        Ok(Money(cents))
    }
}

impl std::fmt::Display for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl TryFrom<String> for Money {
    type Error = &'static str;
    fn try_from(v: String) -> Result<Self, Self::Error> {
        Money::parse(&v)
    }
}

impl From<Money> for String {
    fn from(m: Money) -> String {
        m.to_string()
    }
}

impl schemars::JsonSchema for Money {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Money".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9]{1,9}(\\.[0-9]{1,2})?$",
            "description": "Singapore dollars as a decimal string, e.g. \"1200.50\" (never a JSON number).",
            "examples": ["1200.00"]
        })
    }
}

/// The employer who sponsors the trainee (required for `employer`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Employer {
    /// The employer's UEN.
    pub uen: String,
    pub contact_name: String,
    pub contact_email: String,
    pub contact_phone: Option<Phone>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmployerInput {
    #[schemars(length(max = 10))]
    pub uen: Option<String>,
    #[schemars(length(max = MAX_CONTACT_NAME))]
    pub contact_name: Option<String>,
    #[schemars(extend("format" = "email"))]
    pub contact_email: Option<String>,
    pub contact_phone: Option<PhoneInput>,
}

/// An enrolment as stored and answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Enrolment {
    pub id: EnrolmentId,
    pub course_run_id: RunId,
    pub trainee_id: TraineeId,
    #[serde(flatten)]
    pub fields: EnrolmentFields,
    pub status: EnrolmentStatus,
    /// TPGateway's enrolment reference (`ENR-YYMM-NNNNNN`), once accepted.
    pub sync_reference: Option<String>,
    /// What the sync worker recorded (written by the worker only).
    #[serde(default)]
    pub sync: SubmissionSync,
    pub cancel_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a person sets; serialized, the document a merge patch applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EnrolmentFields {
    pub enrolment_date: NaiveDate,
    pub sponsorship: Sponsorship,
    pub employer: Option<Employer>,
    pub fee_amount: Money,
    /// The discount TPGateway is told of (`fees.discountAmount`).
    pub discount_amount: Money,
    pub fee_collection_status: CollectionStatus,
    /// The subsidy scheme and notes, as free text.
    pub subsidy_info: Option<String>,
}

/// The fields Finance may change (the fee and subsidy fields).
pub const FEE_FIELDS: [&str; 4] = [
    "fee_amount",
    "discount_amount",
    "fee_collection_status",
    "subsidy_info",
];

/// An enrolment as it arrives: a create names the run and trainee; a
/// merged patch does not.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolmentInput {
    #[schemars(with = "Option<RunId>")]
    pub course_run_id: Option<String>,
    #[schemars(with = "Option<TraineeId>")]
    pub trainee_id: Option<String>,
    /// Default: today (Singapore).
    #[schemars(extend("format" = "date"))]
    pub enrolment_date: Option<String>,
    /// Default: individual.
    #[schemars(with = "Option<Sponsorship>")]
    pub sponsorship: Option<String>,
    pub employer: Option<EmployerInput>,
    #[schemars(with = "Option<Money>")]
    pub fee_amount: Option<String>,
    /// Default: "0.00".
    #[schemars(with = "Option<Money>")]
    pub discount_amount: Option<String>,
    /// Default: pending_payment.
    #[schemars(with = "Option<CollectionStatus>")]
    pub fee_collection_status: Option<String>,
    #[schemars(length(max = MAX_SUBSIDY_INFO))]
    pub subsidy_info: Option<String>,
    /// `draft`: kept locally, not sent; `pending` (default): sent.
    #[schemars(with = "Option<EnrolmentStatus>")]
    pub status: Option<String>,
}

/// A create, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEnrolment {
    pub course_run_id: RunId,
    pub trainee_id: TraineeId,
    pub fields: EnrolmentFields,
    pub status: EnrolmentStatus,
}

fn money(errors: &mut ValidationErrors, field: &str, v: Option<&str>) -> Option<Money> {
    Money::parse(v?).map_err(|why| errors.push(field, why)).ok()
}

fn uen_ok(u: &str) -> bool {
    // API-NOTES §11: 8 or 9 digits and a letter, or T/S/R + 2-digit year +
    // 2-letter entity code + 4 digits + a letter (10 characters).
    let b = u.as_bytes();
    let digits_letter = (b.len() == 9 || b.len() == 10)
        && b[..b.len() - 1].iter().all(u8::is_ascii_digit)
        && b[b.len() - 1].is_ascii_uppercase();
    let entity = b.len() == 10
        && matches!(b[0], b'T' | b'S' | b'R')
        && b[1..3].iter().all(u8::is_ascii_digit)
        && b[3..5].iter().all(u8::is_ascii_uppercase)
        && b[5..9].iter().all(u8::is_ascii_digit)
        && b[9].is_ascii_uppercase();
    digits_letter || entity
}

fn parse_employer(errors: &mut ValidationErrors, e: &EmployerInput) -> Option<Employer> {
    let uen = match e
        .uen
        .as_deref()
        .map(|u| u.trim_matches(' ').to_ascii_uppercase())
    {
        None => {
            errors.push("employer.uen", "is required");
            None
        }
        Some(u) if uen_ok(&u) => Some(u),
        Some(_) => {
            errors.push("employer.uen", "must be a UEN, e.g. 199900650G");
            None
        }
    };
    let name = required_text(
        errors,
        "employer.contact_name",
        e.contact_name.as_deref(),
        MAX_CONTACT_NAME,
    );
    let email = match e.contact_email.as_deref() {
        None => {
            errors.push("employer.contact_email", "is required");
            None
        }
        Some(m) => Email::parse(m)
            .map(|m| m.normalized())
            .map_err(|why| errors.push("employer.contact_email", why))
            .ok(),
    };
    let phone = e.contact_phone.as_ref().and_then(|p| {
        let mut inner = ValidationErrors::default();
        let out = crate::trainee::check_phone(&mut inner, p);
        for f in inner.0 {
            errors.push(format!("employer.contact_{}", f.field), f.reason);
        }
        out
    });
    Some(Employer {
        uen: uen?,
        contact_name: name?,
        contact_email: email?,
        contact_phone: phone,
    })
}

impl EnrolmentInput {
    /// Checks the fields a person sets (`today` is the default enrolment
    /// date).
    pub fn parse_fields(
        &self,
        errors: &mut ValidationErrors,
        today: NaiveDate,
    ) -> Option<EnrolmentFields> {
        let before = errors.0.len();
        let enrolment_date = match self.enrolment_date.as_deref() {
            None => Some(today),
            Some(d) => strict_date(d)
                .map_err(|why| errors.push("enrolment_date", why))
                .ok(),
        };
        let sponsorship = match self.sponsorship.as_deref() {
            None => Some(Sponsorship::Individual),
            Some(s) => Sponsorship::parse(s)
                .map_err(|why| errors.push("sponsorship", why))
                .ok(),
        };
        let employer = self
            .employer
            .as_ref()
            .and_then(|e| parse_employer(errors, e));
        match (sponsorship, &self.employer) {
            (Some(Sponsorship::Employer), None) => {
                errors.push("employer", "is required when the employer sponsors")
            }
            (Some(Sponsorship::Individual), Some(_)) => {
                errors.push("employer", "must be absent when the trainee pays")
            }
            _ => {}
        }
        let fee_amount = match self.fee_amount.as_deref() {
            None => {
                errors.push("fee_amount", "is required");
                None
            }
            v => money(errors, "fee_amount", v),
        };
        let discount_amount = match self.discount_amount.as_deref() {
            None => Some(Money::ZERO),
            v => money(errors, "discount_amount", v),
        };
        if let (Some(f), Some(d)) = (fee_amount, discount_amount) {
            if d > f {
                errors.push("discount_amount", "must not exceed fee_amount");
            }
        }
        let fee_collection_status = match self.fee_collection_status.as_deref() {
            None => Some(CollectionStatus::PendingPayment),
            Some(s) => CollectionStatus::parse(s)
                .map_err(|why| errors.push("fee_collection_status", why))
                .ok(),
        };
        let subsidy_info = optional_text(
            errors,
            "subsidy_info",
            self.subsidy_info.as_deref(),
            MAX_SUBSIDY_INFO,
        );
        if errors.0.len() > before {
            return None;
        }
        Some(EnrolmentFields {
            enrolment_date: enrolment_date?,
            sponsorship: sponsorship?,
            employer,
            fee_amount: fee_amount?,
            discount_amount: discount_amount?,
            fee_collection_status: fee_collection_status?,
            subsidy_info,
        })
    }

    fn parse_status(&self, errors: &mut ValidationErrors) -> Option<EnrolmentStatus> {
        match self.status.as_deref() {
            None => Some(EnrolmentStatus::Pending),
            Some(s) => match EnrolmentStatus::parse(s) {
                Ok(st @ (EnrolmentStatus::Draft | EnrolmentStatus::Pending)) => Some(st),
                Ok(_) => {
                    errors.push("status", "must be draft or pending on a create");
                    None
                }
                Err(why) => {
                    errors.push("status", why);
                    None
                }
            },
        }
    }

    /// A create: the run, the trainee and the fields.
    pub fn parse_new(&self, today: NaiveDate) -> Result<NewEnrolment, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let run = match self.course_run_id.as_deref() {
            None => {
                errors.push("course_run_id", "is required");
                None
            }
            Some(r) => RunId::parse(r)
                .map_err(|why| errors.push("course_run_id", why))
                .ok(),
        };
        let trainee = match self.trainee_id.as_deref() {
            None => {
                errors.push("trainee_id", "is required");
                None
            }
            Some(t) => TraineeId::parse(t)
                .map_err(|why| errors.push("trainee_id", why))
                .ok(),
        };
        let fields = self.parse_fields(&mut errors, today);
        let status = self.parse_status(&mut errors);
        match (run, trainee, fields, status, errors.is_empty()) {
            (Some(course_run_id), Some(trainee_id), Some(fields), Some(status), true) => {
                Ok(NewEnrolment {
                    course_run_id,
                    trainee_id,
                    fields,
                    status,
                })
            }
            _ => Err(errors),
        }
    }
}

/// The members a patch may not set to null.
pub const NOT_NULL_IN_PATCH: [&str; 6] = [
    "enrolment_date",
    "sponsorship",
    "fee_amount",
    "discount_amount",
    "fee_collection_status",
    "status",
];

/// The document a patch applies to: the fields and the status.
#[derive(Serialize)]
struct PatchDocument<'a> {
    #[serde(flatten)]
    fields: &'a EnrolmentFields,
    status: EnrolmentStatus,
}

impl Enrolment {
    pub fn create(id: EnrolmentId, new: NewEnrolment, now: DateTime<Utc>) -> Enrolment {
        Enrolment {
            id,
            course_run_id: new.course_run_id,
            trainee_id: new.trainee_id,
            fields: new.fields,
            status: new.status,
            sync_reference: None,
            sync: SubmissionSync::default(),
            cancel_reason: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// The enrolment after a merge patch of its fields (and, for a draft,
    /// its submission: `"status": "pending"`).
    pub fn patched(
        &self,
        patch: &MergePatch,
        today: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<Enrolment, DomainError> {
        // Null clears an optional field; these have no "unset" (their
        // defaults apply to a create only).
        let mut errors = ValidationErrors::default();
        for f in NOT_NULL_IN_PATCH {
            if patch.get(f).is_some_and(|v| v.is_null()) {
                errors.push(f, "is required");
            }
        }
        if !errors.is_empty() {
            return Err(errors.into());
        }
        let doc = PatchDocument {
            fields: &self.fields,
            status: self.status,
        };
        let input: EnrolmentInput = apply_merge_patch(&doc, patch)?;
        let mut errors = ValidationErrors::default();
        let fields = input.parse_fields(&mut errors, today);
        let asked = match input.status.as_deref() {
            None => {
                errors.push("status", "is required");
                None
            }
            Some(s) => EnrolmentStatus::parse(s)
                .map_err(|why| errors.push("status", why))
                .ok(),
        };
        let (Some(fields), Some(asked), true) = (fields, asked, errors.is_empty()) else {
            return Err(errors.into());
        };
        let status = self.status.after_edit()?;
        let status = if asked == self.status {
            status
        } else {
            self.status.moved_to(asked)?
        };
        Ok(Enrolment {
            fields,
            status,
            updated_at: now,
            ..self.clone()
        })
    }

    pub fn cancelled(
        &self,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Enrolment, DomainError> {
        Ok(Enrolment {
            status: self.status.after_cancel()?,
            cancel_reason: reason,
            updated_at: now,
            ..self.clone()
        })
    }
}

/// Whether a patch names only the fee and subsidy fields (what Finance
/// may change); else the first other field it names.
pub fn first_non_fee_field(patch: &MergePatch) -> Option<&str> {
    patch
        .keys()
        .map(String::as_str)
        .find(|k| !FEE_FIELDS.contains(k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 28).unwrap()
    }
    const R: &str = "0193a4e2-7c1b-7d3e-9a51-2b7f00c0ff01";
    const T: &str = "0193a4e2-7c1b-7d3e-9a51-2b7f00c0ff02";

    fn input(v: serde_json::Value) -> EnrolmentInput {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn money_is_a_decimal_never_a_float() {
        assert_eq!(Money::parse("1200").unwrap().cents(), 120_000);
        assert_eq!(Money::parse("1200.5").unwrap().to_string(), "1200.50");
        assert_eq!(Money::parse("0.07").unwrap().to_string(), "0.07");
        for bad in [
            "",
            "-1",
            "1.234",
            "1e3",
            " 1",
            "1.",
            ".5",
            "+1",
            "1,000",
            "10000000000",
        ] {
            assert!(Money::parse(bad).is_err(), "{bad}");
        }
        assert!(Money::parse("1000000.01").is_err());
        assert_eq!(
            serde_json::to_value(Money::parse("5").unwrap()).unwrap(),
            json!("5.00")
        );
        assert!(serde_json::from_value::<Money>(json!(5.0)).is_err());
    }

    #[test]
    fn a_create_is_checked_whole() {
        let ok = input(json!({"course_run_id": R, "trainee_id": T, "fee_amount": "1200.00"}))
            .parse_new(today())
            .unwrap();
        assert_eq!(ok.status, EnrolmentStatus::Pending);
        assert_eq!(ok.fields.enrolment_date, today());
        assert_eq!(ok.fields.discount_amount, Money::ZERO);
        let e = input(json!({"course_run_id": "x", "sponsorship": "employer",
                             "fee_amount": "10", "discount_amount": "20", "status": "accepted"}))
        .parse_new(today())
        .unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
        for f in [
            "course_run_id",
            "trainee_id",
            "employer",
            "discount_amount",
            "status",
        ] {
            assert!(fields.contains(&f), "{f} in {fields:?}");
        }
        let emp = input(json!({"course_run_id": R, "trainee_id": T, "fee_amount": "10",
            "sponsorship": "employer", "employer": {"uen": "199900650G", "contact_name": "HR",
            "contact_email": "hr@example.sg", "contact_phone": {"country_code": "65", "number": "61234567"}}}))
        .parse_new(today())
        .unwrap();
        assert_eq!(emp.fields.employer.unwrap().uen, "199900650G");
        let bad_uen = input(
            json!({"course_run_id": R, "trainee_id": T, "fee_amount": "10",
            "sponsorship": "employer", "employer": {"uen": "12", "contact_name": "HR",
            "contact_email": "hr@example.sg"}}),
        )
        .parse_new(today())
        .unwrap_err();
        assert_eq!(bad_uen.0[0].field, "employer.uen");
    }

    #[test]
    fn the_status_machine() {
        use EnrolmentStatus::*;
        assert_eq!(Draft.moved_to(Pending).unwrap(), Pending);
        assert!(Pending.moved_to(Accepted).is_err());
        assert!(Pending.moved_to(Draft).is_err());
        assert!(Accepted.moved_to(Cancelled).is_err());
        assert!(Cancelled.after_cancel().is_err());
        assert!(Cancelled.after_edit().is_err());
        assert_eq!(Accepted.after_edit().unwrap(), Pending);
        assert_eq!(Failed.after_edit().unwrap(), Pending);
        assert_eq!(Draft.after_edit().unwrap(), Draft);
        assert!(!Cancelled.is_active() && !Failed.is_active() && Accepted.is_active());
    }

    #[test]
    fn patches_and_the_fee_fields() {
        let new = input(
            json!({"course_run_id": R, "trainee_id": T, "fee_amount": "100", "status": "draft"}),
        )
        .parse_new(today())
        .unwrap();
        let now = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let e = Enrolment::create(EnrolmentId::parse(R).unwrap(), new, now);
        let p = |v: serde_json::Value| v.as_object().unwrap().clone();
        let fee = e
            .patched(&p(json!({"fee_amount": "90.50"})), today(), now)
            .unwrap();
        assert_eq!(fee.fields.fee_amount.to_string(), "90.50");
        assert_eq!(fee.status, EnrolmentStatus::Draft);
        let sent = e
            .patched(&p(json!({"status": "pending"})), today(), now)
            .unwrap();
        assert_eq!(sent.status, EnrolmentStatus::Pending);
        assert!(matches!(
            e.patched(&p(json!({"status": "accepted"})), today(), now),
            Err(DomainError::InvalidState(_))
        ));
        assert!(matches!(
            e.patched(&p(json!({"trainee_id": T})), today(), now),
            Err(DomainError::Invalid(_))
        ));
        assert_eq!(
            first_non_fee_field(&p(json!({"fee_amount": "1", "subsidy_info": "x"}))),
            None
        );
        assert_eq!(
            first_non_fee_field(&p(json!({"fee_amount": "1", "sponsorship": "employer"}))),
            Some("sponsorship")
        );
    }
}
