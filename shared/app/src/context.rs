//! What a use case is given besides its input (who is acting, the
//! correlation id, the request's preconditions and Idempotency-Key) and the
//! shape of what a write answers.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The acting user. Until login arrives (a later issue) one middleware
/// provides it; use cases only read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: String,
    /// The roles the access token names.
    pub roles: Vec<tms_domain::access::Role>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    pub actor: Actor,
    pub correlation_id: String,
}

/// An `Idempotency-Key` with the fingerprint of the request it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRequest {
    pub key: String,
    /// A hash of method, path and body: same key + other body is refused.
    pub fingerprint: String,
}

/// Most characters an Idempotency-Key may have.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// An `If-Match` precondition (RFC 9110 §13.1.1), compared strongly: an
/// entity-tag matches only when it is strong and its opaque text is exactly
/// the current version's (`"01"` does not match `"1"`); `*` matches any
/// current version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    Any,
    /// The opaque texts of the strong entity-tags listed (weak ones are
    /// dropped: they never match in a strong comparison).
    Tags(Vec<String>),
}

impl Precondition {
    pub fn matches(&self, version: u64) -> bool {
        match self {
            Precondition::Any => true,
            Precondition::Tags(tags) => {
                let current = version.to_string();
                tags.contains(&current)
            }
        }
    }

    /// The version the change is made against: the current one when the
    /// precondition holds.
    pub(crate) fn check(this: Option<&Precondition>, current: u64) -> Result<u64, crate::AppError> {
        match this {
            None => Err(crate::AppError::PreconditionRequired),
            Some(p) if p.matches(current) => Ok(current),
            Some(_) => Err(crate::AppError::PreconditionFailed),
        }
    }
}

/// What a write answers: the resource's representation, serialized once,
/// with its version (the ETag) and, for a created resource, its location.
/// The same is recorded under an Idempotency-Key and replayed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Written {
    pub body: Value,
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

impl Written {
    /// A representation serialized once: the response body, the audit
    /// snapshot and the Idempotency-Key record are all this one value.
    pub fn of<T: Serialize>(
        view: &T,
        version: u64,
        location: Option<String>,
    ) -> Result<Written, crate::AppError> {
        let body = serde_json::to_value(view)
            .map_err(|e| crate::AppError::Internal(format!("serialize: {e}")))?;
        Ok(Written {
            body,
            version,
            location,
        })
    }
}

/// The result of a POST that honours an Idempotency-Key.
#[derive(Debug, Clone, PartialEq)]
pub enum Idempotent {
    /// Done now.
    New(Written),
    /// The same request was made before: its first response.
    Replayed(Written),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strong_exact_comparison() {
        let tags = |t: &[&str]| Precondition::Tags(t.iter().map(|s| s.to_string()).collect());
        assert!(tags(&["1"]).matches(1));
        assert!(!tags(&["01"]).matches(1));
        assert!(!tags(&["+2"]).matches(2));
        assert!(tags(&["7", "2"]).matches(2));
        assert!(!tags(&[]).matches(2));
        assert!(Precondition::Any.matches(9));
    }
}
