//! Trainees: the people who enrol, with their contact details, date of
//! birth, consents and national id. The national id is validated here
//! (national_id.rs) and leaves this module only as its masked form: the
//! application seals the full id (AES-256-GCM) and keys the duplicate guard
//! by a keyed hash; nothing here serializes it.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ValidationErrors;
use crate::ids::TraineeId;
use crate::national_id::{NationalId, NationalIdType};
use crate::patch::{apply_merge_patch, MergePatch};
use crate::types::{required_text, strict_date, Email};

/// TPGateway's limit on a trainee's full name (API-NOTES §7).
pub const MAX_NAME: usize = 200;
/// TPGateway's limit on a trainee's e-mail (API-NOTES §7).
pub const MAX_EMAIL: usize = 100;
/// Most consent flags one trainee carries.
pub const MAX_CONSENTS: usize = 16;
/// Longest consent flag name.
pub const MAX_CONSENT_NAME: usize = 40;
/// The earliest date of birth taken.
pub const EARLIEST_BIRTH: (i32, u32, u32) = (1900, 1, 1);

/// A phone number as TPGateway takes it: country code and number, digits
/// only (API-NOTES §7 `contactNumber{countryCode, phoneNumber}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Phone {
    /// 1 to 3 digits, e.g. `65`.
    #[schemars(extend("pattern" = "^[0-9]{1,3}$"))]
    pub country_code: String,
    /// 4 to 15 digits.
    #[schemars(extend("pattern" = "^[0-9]{4,15}$"))]
    pub number: String,
}

/// A trainee as stored and answered: the national id only masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Trainee {
    pub id: TraineeId,
    #[serde(flatten)]
    pub fields: TraineeFields,
    /// The national id masked: all but its last 4 characters are `*`.
    pub national_id_masked: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a person sets, but the national id itself; serialized, the
/// document a merge patch applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TraineeFields {
    pub name: String,
    pub national_id_type: NationalIdType,
    pub email: Option<String>,
    pub phone: Option<Phone>,
    pub date_of_birth: NaiveDate,
    /// The consents the trainee gave, by name (e.g. `pdpa`, `marketing`).
    #[serde(default)]
    pub consent_flags: BTreeMap<String, bool>,
}

/// A phone as it arrives.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneInput {
    #[schemars(extend("pattern" = "^[0-9]{1,3}$"))]
    pub country_code: Option<String>,
    #[schemars(extend("pattern" = "^[0-9]{4,15}$"))]
    pub number: Option<String>,
}

/// A trainee as it arrives (a create, or a merged patch). Not
/// serializable, and its Debug hides the national id.
#[derive(Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TraineeInput {
    #[schemars(length(max = MAX_NAME))]
    pub name: Option<String>,
    /// The full national id: never answered, logged or stored in clear.
    #[schemars(extend("writeOnly" = true), length(max = 20))]
    pub national_id: Option<String>,
    #[schemars(with = "Option<NationalIdType>")]
    pub national_id_type: Option<String>,
    #[schemars(extend("format" = "email"), length(max = MAX_EMAIL))]
    pub email: Option<String>,
    pub phone: Option<PhoneInput>,
    #[schemars(extend("format" = "date"))]
    pub date_of_birth: Option<String>,
    pub consent_flags: Option<BTreeMap<String, bool>>,
}

impl std::fmt::Debug for TraineeInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraineeInput")
            .field(
                "national_id",
                &self.national_id.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// A trainee's fields and national id, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedTrainee {
    pub fields: TraineeFields,
    /// `None` on a patch that leaves the national id as it is.
    pub national_id: Option<NationalId>,
}

impl TraineeInput {
    /// Checks every field (`today` bounds the date of birth). The national
    /// id is required when `id_required` (a create, or a patch that names
    /// it or changes its type).
    pub fn parse(
        &self,
        today: NaiveDate,
        id_required: bool,
    ) -> Result<CheckedTrainee, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let name = required_text(&mut errors, "name", self.name.as_deref(), MAX_NAME);
        let kind = match self.national_id_type.as_deref() {
            None => {
                errors.push("national_id_type", "is required");
                None
            }
            Some(k) => NationalIdType::parse(k)
                .map_err(|why| errors.push("national_id_type", why))
                .ok(),
        };
        let national_id = match (&self.national_id, kind) {
            (None, _) => {
                if id_required {
                    errors.push("national_id", "is required");
                }
                None
            }
            (Some(raw), Some(kind)) => NationalId::parse(kind, raw)
                .map_err(|why| errors.push("national_id", why))
                .ok(),
            (Some(_), None) => None,
        };
        let email = self.email.as_deref().and_then(|e| {
            match Email::parse(e) {
                Ok(e) if e.as_str().chars().count() <= MAX_EMAIL => return Some(e.normalized()),
                Ok(_) => errors.push("email", format!("must be at most {MAX_EMAIL} characters")),
                Err(why) => errors.push("email", why),
            }
            None
        });
        let phone = self
            .phone
            .as_ref()
            .and_then(|p| check_phone(&mut errors, p));
        let date_of_birth = match self.date_of_birth.as_deref() {
            None => {
                errors.push("date_of_birth", "is required");
                None
            }
            Some(d) => match strict_date(d) {
                Err(why) => {
                    errors.push("date_of_birth", why);
                    None
                }
                Ok(d) if d > today => {
                    errors.push("date_of_birth", "must not be in the future");
                    None
                }
                Ok(d) if d < earliest_birth() => {
                    errors.push("date_of_birth", "must be on or after 1900-01-01");
                    None
                }
                Ok(d) => Some(d),
            },
        };
        let consent_flags = self.consent_flags.clone().unwrap_or_default();
        if consent_flags.len() > MAX_CONSENTS {
            errors.push(
                "consent_flags",
                format!("must have at most {MAX_CONSENTS} flags"),
            );
        }
        for name in consent_flags.keys() {
            let ok = !name.is_empty()
                && name.len() <= MAX_CONSENT_NAME
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !ok {
                errors.push(
                    "consent_flags",
                    format!("flag names are 1 to {MAX_CONSENT_NAME} characters of a-z, 0-9 and _"),
                );
                break;
            }
        }
        match (name, kind, date_of_birth, errors.is_empty()) {
            (Some(name), Some(national_id_type), Some(date_of_birth), true) => Ok(CheckedTrainee {
                fields: TraineeFields {
                    name,
                    national_id_type,
                    email,
                    phone,
                    date_of_birth,
                    consent_flags,
                },
                national_id,
            }),
            _ => Err(errors),
        }
    }
}

fn earliest_birth() -> NaiveDate {
    let (y, m, d) = EARLIEST_BIRTH;
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN)
}

/// Checks a phone (fields named `phone.country_code`, `phone.number`).
pub fn check_phone(errors: &mut ValidationErrors, p: &PhoneInput) -> Option<Phone> {
    let digits = |v: &str, lo: usize, hi: usize| {
        (lo..=hi).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_digit())
    };
    let cc = match p.country_code.as_deref() {
        None => {
            errors.push("phone.country_code", "is required");
            None
        }
        Some(c) if digits(c, 1, 3) => Some(c.to_string()),
        Some(_) => {
            errors.push("phone.country_code", "must be 1 to 3 digits, e.g. 65");
            None
        }
    };
    let number = match p.number.as_deref() {
        None => {
            errors.push("phone.number", "is required");
            None
        }
        Some(n) if digits(n, 4, 15) => Some(n.to_string()),
        Some(_) => {
            errors.push("phone.number", "must be 4 to 15 digits");
            None
        }
    };
    Some(Phone {
        country_code: cc?,
        number: number?,
    })
}

/// The document a patch of a trainee applies to: its fields, and
/// `national_id` (null: never answered), so that a patch may name it.
#[derive(Serialize)]
struct PatchDocument<'a> {
    #[serde(flatten)]
    fields: &'a TraineeFields,
    national_id: Option<()>,
}

impl Trainee {
    pub fn create(
        id: TraineeId,
        checked: &CheckedTrainee,
        masked: String,
        now: DateTime<Utc>,
    ) -> Trainee {
        Trainee {
            id,
            fields: checked.fields.clone(),
            national_id_masked: masked,
            created_at: now,
            updated_at: now,
        }
    }

    /// The trainee's fields after a JSON merge patch, checked as a create.
    /// Changing `national_id_type` needs the `national_id` again; a null
    /// `national_id` is refused (it is required).
    pub fn patched(
        &self,
        patch: &MergePatch,
        today: NaiveDate,
    ) -> Result<CheckedTrainee, ValidationErrors> {
        if patch.get("national_id").is_some_and(|v| v.is_null()) {
            return Err(ValidationErrors::single("national_id", "is required"));
        }
        let doc = PatchDocument {
            fields: &self.fields,
            national_id: None,
        };
        let input: TraineeInput = apply_merge_patch(&doc, patch)?;
        let type_changed =
            input.national_id_type.as_deref() != Some(self.fields.national_id_type.as_str());
        let checked = input.parse(today, type_changed)?;
        if checked.national_id.is_none() && type_changed {
            return Err(ValidationErrors::single(
                "national_id",
                "must be given again when national_id_type changes",
            ));
        }
        Ok(checked)
    }

    /// The trainee with new fields (and, when the id changed, its new mask).
    pub fn updated(&self, checked: &CheckedTrainee, now: DateTime<Utc>) -> Trainee {
        Trainee {
            fields: checked.fields.clone(),
            national_id_masked: checked
                .national_id
                .as_ref()
                .map(NationalId::masked)
                .unwrap_or_else(|| self.national_id_masked.clone()),
            updated_at: now,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TypedId;
    use serde_json::json;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 28).unwrap()
    }

    fn input(v: serde_json::Value) -> TraineeInput {
        serde_json::from_value(v).unwrap()
    }

    fn valid() -> serde_json::Value {
        json!({"name": "Aileen Chong", "national_id": "S7020587D", "national_id_type": "nric",
               "email": "Aileen@Example.sg", "phone": {"country_code": "65", "number": "98765432"},
               "date_of_birth": "1969-03-08", "consent_flags": {"pdpa": true}})
    }

    #[test]
    fn a_valid_trainee_parses_and_the_id_is_only_masked() {
        let c = input(valid()).parse(today(), true).unwrap();
        assert_eq!(c.fields.email.as_deref(), Some("aileen@example.sg"));
        let id = c.national_id.clone().unwrap();
        let t = Trainee::create(
            TraineeId::parse("0193a4e2-7c1b-7d3e-9a51-2b7f00c0ffee").unwrap(),
            &c,
            id.masked(),
            DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap(),
        );
        let text = serde_json::to_string(&t).unwrap();
        assert!(
            !text.contains("S7020587D") && !text.contains("7020587"),
            "{text}"
        );
        assert!(text.contains("*****587D"), "{text}");
        assert!(!format!("{:?}", input(valid())).contains("S7020587D"));
    }

    #[test]
    fn every_field_is_checked() {
        let bad = json!({"name": "", "national_id": "S7020587A", "national_id_type": "passport",
                         "email": "nope", "phone": {"country_code": "+65", "number": "12"},
                         "date_of_birth": "2030-01-01", "consent_flags": {"Bad Name": true}});
        let e = input(bad).parse(today(), true).unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
        for f in [
            "name",
            "national_id_type",
            "email",
            "phone.country_code",
            "phone.number",
            "date_of_birth",
            "consent_flags",
        ] {
            assert!(fields.contains(&f), "{f} not in {fields:?}");
        }
        let mut v = valid();
        v["national_id"] = json!("S7020587A");
        let e = input(v).parse(today(), true).unwrap_err();
        assert_eq!(e.0[0].field, "national_id");
        assert!(!e.0[0].reason.contains("S7020587"));
        let mut v = valid();
        v["date_of_birth"] = json!("1899-12-31");
        assert!(input(v).parse(today(), true).is_err());
        let mut v = valid();
        v.as_object_mut().unwrap().remove("national_id");
        assert_eq!(
            input(v).parse(today(), true).unwrap_err().0[0].field,
            "national_id"
        );
    }

    #[test]
    fn a_patch_keeps_or_replaces_the_national_id() {
        let c = input(valid()).parse(today(), true).unwrap();
        let now = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let t = Trainee::create(
            TraineeId::parse("0193a4e2-7c1b-7d3e-9a51-2b7f00c0ffee").unwrap(),
            &c,
            c.national_id.as_ref().unwrap().masked(),
            now,
        );
        let patch = |v: serde_json::Value| v.as_object().unwrap().clone();
        let kept = t
            .patched(&patch(json!({"name": "Aileen Chong Mei"})), today())
            .unwrap();
        assert!(kept.national_id.is_none());
        assert_eq!(t.updated(&kept, now).national_id_masked, "*****587D");
        let moved = t
            .patched(&patch(json!({"national_id": "S0808315J"})), today())
            .unwrap();
        assert_eq!(t.updated(&moved, now).national_id_masked, "*****315J");
        let e = t
            .patched(&patch(json!({"national_id_type": "fin"})), today())
            .unwrap_err();
        assert_eq!(e.0[0].field, "national_id");
        let e = t
            .patched(&patch(json!({"national_id": null})), today())
            .unwrap_err();
        assert_eq!(e.0[0].field, "national_id");
        let e = t
            .patched(&patch(json!({"national_id_masked": "x"})), today())
            .unwrap_err();
        assert_eq!(e.0[0].field, "national_id_masked");
    }
}
