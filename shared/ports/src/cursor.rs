//! The opaque pagination cursor shared by every store adapter.
//!
//! A cursor is the key of the last item of a page (table key and, for an index
//! query, the index key), encoded as URL-safe base64 of a small JSON object.
//! It is checked against the query it is used with, so that a tampered or
//! foreign cursor is reported as [`CursorError`] (a 400 at the edge), never
//! passed to an engine that would fail with a 500.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::store::{Item, Query};

/// Upper bound on an encoded cursor, to refuse junk before decoding it.
pub const MAX_CURSOR_LEN: usize = 2048;
/// DynamoDB's limits on a partition and a sort key value.
pub const MAX_PARTITION_KEY_BYTES: usize = 2048;
pub const MAX_SORT_KEY_BYTES: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    /// Table partition key of the last item returned.
    pub pk: String,
    /// Table sort key of the last item returned.
    pub sk: String,
    /// Index partition key (index queries only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipk: Option<String>,
    /// Index sort key (index queries only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isk: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the cursor is not valid for this list")]
pub struct CursorError;

impl Cursor {
    /// The cursor that continues `query` after `item`.
    pub fn after(item: &Item, query: &Query) -> Cursor {
        let index_key = query.index.and_then(|i| item.index_key(i));
        Cursor {
            pk: item.pk.clone(),
            sk: item.sk.clone(),
            ipk: index_key.map(|k| k.pk.clone()),
            isk: index_key.map(|k| k.sk.clone()),
        }
    }

    pub fn encode(&self) -> String {
        // Serializing a struct of strings cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    pub fn decode(text: &str) -> Result<Cursor, CursorError> {
        if text.is_empty() || text.len() > MAX_CURSOR_LEN {
            return Err(CursorError);
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| CursorError)?;
        serde_json::from_slice(&bytes).map_err(|_| CursorError)
    }

    /// Checks that this cursor can continue `query`: same partition, a sort
    /// key inside the query's range, and index keys exactly when the query
    /// reads an index.
    pub fn check(&self, query: &Query) -> Result<(), CursorError> {
        // DynamoDB refuses empty key values and keys over its limits in an
        // ExclusiveStartKey with an error that is not the client's to see.
        let key_ok = |k: &str, max: usize| !k.is_empty() && k.len() <= max;
        let keys_ok = key_ok(&self.pk, MAX_PARTITION_KEY_BYTES)
            && key_ok(&self.sk, MAX_SORT_KEY_BYTES)
            && self
                .ipk
                .as_deref()
                .is_none_or(|k| key_ok(k, MAX_PARTITION_KEY_BYTES))
            && self
                .isk
                .as_deref()
                .is_none_or(|k| key_ok(k, MAX_SORT_KEY_BYTES));
        if !keys_ok {
            return Err(CursorError);
        }
        let (part, sort) = match query.index {
            None => {
                if self.ipk.is_some() || self.isk.is_some() {
                    return Err(CursorError);
                }
                (&self.pk, &self.sk)
            }
            Some(_) => match (&self.ipk, &self.isk) {
                (Some(p), Some(s)) => (p, s),
                _ => return Err(CursorError),
            },
        };
        if *part != query.pk || !query.sk.matches(sort) {
            return Err(CursorError);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Index, SkCondition};

    fn q(index: Option<Index>) -> Query {
        Query {
            index,
            pk: "RUNS".into(),
            sk: SkCondition::Between("2025-01-01".into(), "2025-12-31~".into()),
            forward: true,
            limit: 10,
            cursor: None,
        }
    }

    #[test]
    fn round_trips_and_checks() {
        let c = Cursor {
            pk: "RUN#1".into(),
            sk: "RUN#1".into(),
            ipk: Some("RUNS".into()),
            isk: Some("2025-02-01#1".into()),
        };
        let d = Cursor::decode(&c.encode()).unwrap();
        assert_eq!(c, d);
        assert!(d.check(&q(Some(Index::Gsi1))).is_ok());
        assert_eq!(d.check(&q(None)), Err(CursorError));
    }

    #[test]
    fn rejects_tampering() {
        assert_eq!(Cursor::decode("not base64!"), Err(CursorError));
        assert_eq!(Cursor::decode(""), Err(CursorError));
        let junk = URL_SAFE_NO_PAD.encode(b"{\"pk\":1}");
        assert_eq!(Cursor::decode(&junk), Err(CursorError));
        let other = Cursor {
            pk: "X".into(),
            sk: "X".into(),
            ipk: Some("OTHER".into()),
            isk: Some("2025-02-01".into()),
        };
        assert_eq!(other.check(&q(Some(Index::Gsi1))), Err(CursorError));
        let out_of_range = Cursor {
            ipk: Some("RUNS".into()),
            isk: Some("2030-01-01".into()),
            ..other
        };
        assert_eq!(out_of_range.check(&q(Some(Index::Gsi1))), Err(CursorError));
        let empty_table_key = Cursor {
            pk: String::new(),
            sk: "RUN#1".into(),
            ipk: Some("RUNS".into()),
            isk: Some("2025-02-01#1".into()),
        };
        assert_eq!(
            empty_table_key.check(&q(Some(Index::Gsi1))),
            Err(CursorError)
        );
    }
}
