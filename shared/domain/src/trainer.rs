//! Trainers: who teaches sessions, with their contact and credentials, and
//! optionally the user who signs in as them (one trainer per user).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ValidationErrors;
use crate::ids::{TrainerId, TypedId, UserId};
use crate::patch::{apply_merge_patch, MergePatch};
use crate::types::{optional_text, required_text, Email};

pub const MAX_NAME: usize = 66;
pub const MAX_PHONE: usize = 20;
pub const MAX_CREDENTIALS: usize = 1000;
/// Longest TPGateway trainer id we take (theirs are GUID-like, API-NOTES §5).
pub const MAX_TPG_TRAINER_ID: usize = 64;

crate::named_enum! {
    /// Whether the trainer may be assigned to sessions.
    pub enum TrainerStatus {
        Active,
        Inactive,
    }
}

/// A trainer as stored (and answered: nothing in it is secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Trainer {
    pub id: TrainerId,
    #[serde(flatten)]
    pub fields: TrainerFields,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a person sets; serialized, the document a merge patch applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TrainerFields {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Qualifications, as free text (e.g. "ACTA; WSQ Advanced Certificate").
    pub credentials: Option<String>,
    pub status: TrainerStatus,
    /// The user who signs in as this trainer.
    pub user_id: Option<UserId>,
    /// TPGateway's id of this trainer, already in the provider's trainer
    /// profile on TPGateway (a GUID-like string, API-NOTES §5). With it the
    /// trainer is linked to their runs on TPGateway without a national id.
    #[serde(default)]
    pub tpg_trainer_id: Option<String>,
}

/// A trainer as it arrives (create, or a merged patch).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainerInput {
    #[schemars(length(max = MAX_NAME))]
    pub name: Option<String>,
    #[schemars(extend("format" = "email"))]
    pub email: Option<String>,
    #[schemars(length(max = MAX_PHONE))]
    pub phone: Option<String>,
    #[schemars(length(max = MAX_CREDENTIALS))]
    pub credentials: Option<String>,
    #[schemars(with = "Option<TrainerStatus>")]
    pub status: Option<String>,
    #[schemars(with = "Option<UserId>")]
    pub user_id: Option<String>,
    /// TPGateway's id of the trainer in the provider's profile.
    #[schemars(extend("pattern" = "^[A-Za-z0-9-]{1,64}$"))]
    pub tpg_trainer_id: Option<String>,
}

impl TrainerInput {
    pub fn parse(&self) -> Result<TrainerFields, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let name = required_text(&mut errors, "name", self.name.as_deref(), MAX_NAME);
        let email = self.email.as_deref().and_then(|e| {
            Email::parse(e)
                .map(|e| e.normalized())
                .map_err(|why| errors.push("email", why))
                .ok()
        });
        let phone = optional_text(&mut errors, "phone", self.phone.as_deref(), MAX_PHONE);
        if let Some(p) = &phone {
            let ok = p
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')'))
                && p.chars().filter(char::is_ascii_digit).count() >= 6;
            if !ok {
                errors.push("phone", "must be a phone number: digits, spaces, + - ( )");
            }
        }
        let credentials = optional_text(
            &mut errors,
            "credentials",
            self.credentials.as_deref(),
            MAX_CREDENTIALS,
        );
        let status = match self.status.as_deref() {
            None => Some(TrainerStatus::Active),
            Some(s) => TrainerStatus::parse(s)
                .map_err(|why| errors.push("status", why))
                .ok(),
        };
        let user_id = self.user_id.as_deref().and_then(|u| {
            UserId::parse(u)
                .map_err(|why| errors.push("user_id", why))
                .ok()
        });
        let tpg_trainer_id = self.tpg_trainer_id.as_deref().and_then(|t| {
            parse_tpg_trainer_id(t)
                .map_err(|why| errors.push("tpg_trainer_id", why))
                .ok()
        });
        match (name, status, errors.is_empty()) {
            (Some(name), Some(status), true) => Ok(TrainerFields {
                name,
                email,
                phone,
                credentials,
                status,
                user_id,
                tpg_trainer_id,
            }),
            _ => Err(errors),
        }
    }
}

/// TPGateway's id of a trainer: 1 to [`MAX_TPG_TRAINER_ID`] ASCII letters,
/// digits and hyphens, taken as given (no trimming, no case change).
pub fn parse_tpg_trainer_id(value: &str) -> Result<String, String> {
    let ok = (1..=MAX_TPG_TRAINER_ID).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(value.to_string())
    } else {
        Err(format!(
            "must be TPGateway's trainer id: 1 to {MAX_TPG_TRAINER_ID} ASCII letters, digits or hyphens"
        ))
    }
}

impl Trainer {
    pub fn create(id: TrainerId, fields: TrainerFields, now: DateTime<Utc>) -> Trainer {
        Trainer {
            id,
            fields,
            created_at: now,
            updated_at: now,
        }
    }

    /// The trainer after a JSON merge patch, validated as a create.
    pub fn patched(
        &self,
        patch: &MergePatch,
        now: DateTime<Utc>,
    ) -> Result<Trainer, ValidationErrors> {
        let input: TrainerInput = apply_merge_patch(&self.fields, patch)?;
        if input.status.is_none() {
            // Null for the status: it has no default once set.
            let mut errors = input.parse().err().unwrap_or_default();
            errors.push("status", "is required");
            return Err(errors);
        }
        Ok(Trainer {
            fields: input.parse()?,
            updated_at: now,
            ..self.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap()
    }

    #[test]
    fn parse_and_patch() {
        let input = TrainerInput {
            name: Some("Tan Ah Kow".into()),
            email: Some("Tan@Example.SG".into()),
            phone: Some("+65 9123 4567".into()),
            credentials: Some("ACTA".into()),
            status: None,
            user_id: None,
            tpg_trainer_id: None,
        };
        let f = input.parse().unwrap();
        assert_eq!(f.email.as_deref(), Some("tan@example.sg"));
        assert_eq!(f.status, TrainerStatus::Active);
        let t = Trainer::create(
            TrainerId::parse("0193a4e2-7c1b-7d3e-9a51-2b7f00c0ff03").unwrap(),
            f,
            now(),
        );
        let patch: MergePatch =
            serde_json::from_value(serde_json::json!({"status": "inactive", "phone": null}))
                .unwrap();
        let p = t.patched(&patch, now()).unwrap();
        assert_eq!(
            (p.fields.status, p.fields.phone.clone()),
            (TrainerStatus::Inactive, None)
        );
        let bad: MergePatch = serde_json::from_value(
            serde_json::json!({"name": null, "user_id": "x", "phone": "call me"}),
        )
        .unwrap();
        let e = t.patched(&bad, now()).unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, vec!["name", "phone", "user_id"]);
    }

    #[test]
    fn tpg_trainer_id_is_checked_set_and_cleared() {
        let guid = "3F2504E0-4F89-11D3-9A0C-0305E82C3301";
        let input = TrainerInput {
            name: Some("Tan Ah Kow".into()),
            tpg_trainer_id: Some(guid.into()),
            ..TrainerInput::default()
        };
        let f = input.parse().unwrap();
        assert_eq!(f.tpg_trainer_id.as_deref(), Some(guid));
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(json["tpg_trainer_id"], guid);
        let t = Trainer::create(
            TrainerId::parse("0193a4e2-7c1b-7d3e-9a51-2b7f00c0ff03").unwrap(),
            f,
            now(),
        );
        let clear: MergePatch =
            serde_json::from_value(serde_json::json!({"tpg_trainer_id": null})).unwrap();
        assert_eq!(
            t.patched(&clear, now()).unwrap().fields.tpg_trainer_id,
            None
        );
        for ok in ["a", "A-1", &"9".repeat(MAX_TPG_TRAINER_ID)] {
            assert_eq!(parse_tpg_trainer_id(ok).as_deref(), Ok(ok), "{ok}");
        }
        for bad in [
            "",
            " a",
            "a b",
            "a_b",
            "a\u{a0}",
            "é",
            "{guid}",
            &"9".repeat(MAX_TPG_TRAINER_ID + 1),
        ] {
            assert!(parse_tpg_trainer_id(bad).is_err(), "{bad:?}");
            let input = TrainerInput {
                name: Some("Tan Ah Kow".into()),
                tpg_trainer_id: Some(bad.into()),
                ..TrainerInput::default()
            };
            let e = input.parse().unwrap_err();
            let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
            assert_eq!(fields, vec!["tpg_trainer_id"], "{bad:?}");
        }
        // A trainer stored before the field existed reads as without one.
        let mut old = serde_json::to_value(&t).unwrap();
        old.as_object_mut().unwrap().remove("tpg_trainer_id");
        let read: Trainer = serde_json::from_value(old).unwrap();
        assert_eq!(read.fields.tpg_trainer_id, None);
    }
}
