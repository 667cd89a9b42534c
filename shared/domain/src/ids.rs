//! Typed identifiers. Every id is a UUID in its canonical form (lowercase,
//! hyphenated), so that one id has one spelling and one table key; a run id
//! cannot be passed where a session id is wanted.

use serde::{Deserialize, Serialize};

/// True for a UUID written in canonical form: 8-4-4-4-12 lowercase hex.
pub fn is_canonical_uuid(id: &str) -> bool {
    id.len() == 36
        && id.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

/// What every typed id offers.
pub trait TypedId: Sized + Clone + std::fmt::Display {
    /// What the id names, for messages ("course run").
    const WHAT: &'static str;
    /// Parses an id in canonical form.
    fn parse(value: &str) -> Result<Self, &'static str>;
    fn as_str(&self) -> &str;
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl TypedId for $name {
            const WHAT: &'static str = $what;
            fn parse(value: &str) -> Result<Self, &'static str> {
                if is_canonical_uuid(value) {
                    Ok($name(value.to_string()))
                } else {
                    Err(concat!(
                        "must be a ", $what,
                        " id: a UUID in lowercase, e.g. 0193a4e2-7c1b-7d3e-9a51-2b7f00c0ffee"
                    ))
                }
            }
            fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn inline_schema() -> bool {
                true
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "format": "uuid",
                    "description": concat!("A ", $what, " id: a UUID in lowercase."),
                    "examples": ["0193a4e2-7c1b-7d3e-9a51-2b7f00c0ffee"]
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = &'static str;
            fn try_from(v: String) -> Result<Self, Self::Error> {
                <$name as TypedId>::parse(&v)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
    };
}

typed_id!(
    /// A course run.
    RunId,
    "course run"
);
typed_id!(
    /// A session of a course run.
    SessionId,
    "session"
);
typed_id!(
    /// A trainer.
    TrainerId,
    "trainer"
);
typed_id!(
    /// A trainee.
    TraineeId,
    "trainee"
);
typed_id!(
    /// An enrolment.
    EnrolmentId,
    "enrolment"
);
typed_id!(
    /// An assessment of an enrolled trainee.
    AssessmentId,
    "assessment"
);
typed_id!(
    /// A sync job.
    JobId,
    "sync job"
);
typed_id!(
    /// A user.
    UserId,
    "user"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_uuids() {
        let ok = "0193a4e2-7c1b-7d3e-9a51-2b7f00c0ffee";
        assert_eq!(RunId::parse(ok).map(|r| r.to_string()), Ok(ok.to_string()));
        for bad in [
            "0193A4E2-7C1B-7D3E-9A51-2B7F00C0FFEE",
            "0193a4e27c1b7d3e9a512b7f00c0ffee",
            "{0193a4e2-7c1b-7d3e-9a51-2b7f00c0ffee}",
            " 0193a4e2-7c1b-7d3e-9a51-2b7f00c0ffee",
            "0193a4e2-7c1b-7d3e-9a51-2b7f00c0ffeg",
            "",
        ] {
            assert!(SessionId::parse(bad).is_err(), "{bad}");
        }
        let json = serde_json::to_string(&TrainerId::parse(ok).unwrap()).unwrap();
        assert_eq!(json, format!("\"{ok}\""));
        assert!(
            serde_json::from_str::<TrainerId>("\"0193A4E2-7C1B-7D3E-9A51-2B7F00C0FFEE\"").is_err()
        );
    }
}
