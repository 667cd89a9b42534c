//! The store port: one table of items with a partition key, a sort key, three
//! overloaded global secondary indexes and optimistic versions. DynamoDB and
//! the embedded SQLite engine implement it with the same keys and semantics.

use async_trait::async_trait;
use serde_json::Value;

use crate::cursor::{Cursor, CursorError};

/// Most operations a single transaction may hold (DynamoDB's limit).
pub const MAX_TRANSACTION_ITEMS: usize = 100;
/// Largest item we write, as serialized JSON (DynamoDB allows 400 KB; keep a margin
/// for attribute names and type tags).
pub const MAX_ITEM_BYTES: usize = 350 * 1024;
/// Largest transaction we write, as serialized JSON (DynamoDB allows 4 MB).
pub const MAX_TRANSACTION_BYTES: usize = 3 * 1024 * 1024;
/// Largest page a query may ask for.
pub const MAX_PAGE_SIZE: u32 = 100;

/// The global secondary indexes of the table. What each holds is documented in
/// docs/access-patterns.md; the names are those of template.yaml.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Index {
    /// General listings (runs by start date, jobs per entity, ...).
    Gsi1,
    /// Listings by status.
    Gsi2,
    /// Sparse work index (active runs, sync jobs that are due).
    Gsi3,
}

impl Index {
    pub const ALL: [Index; 3] = [Index::Gsi1, Index::Gsi2, Index::Gsi3];

    pub fn name(self) -> &'static str {
        match self {
            Index::Gsi1 => "GSI1",
            Index::Gsi2 => "GSI2",
            Index::Gsi3 => "GSI3",
        }
    }
    pub fn pk_attr(self) -> &'static str {
        match self {
            Index::Gsi1 => "GSI1PK",
            Index::Gsi2 => "GSI2PK",
            Index::Gsi3 => "GSI3PK",
        }
    }
    pub fn sk_attr(self) -> &'static str {
        match self {
            Index::Gsi1 => "GSI1SK",
            Index::Gsi2 => "GSI2SK",
            Index::Gsi3 => "GSI3SK",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexKey {
    pub pk: String,
    pub sk: String,
}

impl IndexKey {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

/// One item of the table. `data` is the entity itself (a JSON object); the
/// other fields are the keys and bookkeeping every item carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub pk: String,
    pub sk: String,
    pub entity_type: String,
    /// Optimistic-lock version, starting at 1.
    pub version: u64,
    pub gsi1: Option<IndexKey>,
    pub gsi2: Option<IndexKey>,
    /// Sparse: present only on items that belong in the work index.
    pub gsi3: Option<IndexKey>,
    /// Expiry as epoch seconds (DynamoDB TTL attribute `expires_at`).
    pub expires_at: Option<i64>,
    pub data: Value,
}

impl Item {
    pub fn new(
        pk: impl Into<String>,
        sk: impl Into<String>,
        entity_type: impl Into<String>,
        data: Value,
    ) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
            entity_type: entity_type.into(),
            version: 1,
            gsi1: None,
            gsi2: None,
            gsi3: None,
            expires_at: None,
            data,
        }
    }

    pub fn index_key(&self, index: Index) -> Option<&IndexKey> {
        match index {
            Index::Gsi1 => self.gsi1.as_ref(),
            Index::Gsi2 => self.gsi2.as_ref(),
            Index::Gsi3 => self.gsi3.as_ref(),
        }
    }

    /// Approximate stored size, used for the item and transaction limits.
    pub fn approx_size(&self) -> usize {
        let keys = [&self.gsi1, &self.gsi2, &self.gsi3]
            .iter()
            .filter_map(|k| k.as_ref())
            .map(|k| k.pk.len() + k.sk.len() + 12)
            .sum::<usize>();
        self.pk.len() + self.sk.len() + self.entity_type.len() + keys + 64 + json_len(&self.data)
    }
}

/// The length of a value's JSON text, counted as it is written, without
/// building the text (every write checks the size of every item).
fn json_len(v: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    // Writing a Value into a counter cannot fail.
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

/// A condition on the item currently stored under a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// No condition.
    None,
    /// No item exists under the key (create, uniqueness guard).
    NotExists,
    /// An item exists under the key.
    Exists,
    /// An item exists and its version is exactly this (optimistic lock).
    VersionIs(u64),
}

/// One operation of a transaction.
// Puts are the common case; boxing the item would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    Put {
        item: Item,
        condition: Condition,
    },
    Delete {
        pk: String,
        sk: String,
        condition: Condition,
    },
    Check {
        pk: String,
        sk: String,
        condition: Condition,
    },
}

impl WriteOp {
    pub fn key(&self) -> (&str, &str) {
        match self {
            WriteOp::Put { item, .. } => (&item.pk, &item.sk),
            WriteOp::Delete { pk, sk, .. } | WriteOp::Check { pk, sk, .. } => (pk, sk),
        }
    }
}

/// Condition on the sort key of a query (the table's SK or the index's SK).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkCondition {
    Any,
    BeginsWith(String),
    /// Inclusive on both ends, compared as UTF-8 bytes.
    Between(String, String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_len_is_the_text_length() {
        let v = serde_json::json!({"a": [1, "é", null], "b": {"c": 1.5}});
        assert_eq!(json_len(&v), serde_json::to_vec(&v).unwrap().len());
    }
}

impl SkCondition {
    pub fn matches(&self, sk: &str) -> bool {
        match self {
            SkCondition::Any => true,
            SkCondition::BeginsWith(p) => sk.starts_with(p.as_str()),
            SkCondition::Between(lo, hi) => lo.as_str() <= sk && sk <= hi.as_str(),
        }
    }
}

/// A query of one partition of the table or of an index.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// `None` reads the table itself.
    pub index: Option<Index>,
    pub pk: String,
    pub sk: SkCondition,
    /// Ascending sort-key order when true.
    pub forward: bool,
    /// Page size, 1..=[`MAX_PAGE_SIZE`].
    pub limit: u32,
    pub cursor: Option<Cursor>,
}

impl Query {
    /// Checks the partition key, the range, the page size and the cursor
    /// (DynamoDB rejects an empty key or a reversed range); adapters call
    /// this first.
    pub fn validate(&self) -> Result<(), StoreError> {
        if self.pk.is_empty() {
            return Err(StoreError::InvalidRequest("empty partition key".into()));
        }
        if let SkCondition::Between(lo, hi) = &self.sk {
            if lo > hi {
                return Err(StoreError::InvalidRequest(
                    "range start is after range end".into(),
                ));
            }
        }
        if self.limit == 0 || self.limit > MAX_PAGE_SIZE {
            return Err(StoreError::InvalidRequest(format!(
                "page size must be between 1 and {MAX_PAGE_SIZE}"
            )));
        }
        if let Some(c) = &self.cursor {
            c.check(self)?;
        }
        Ok(())
    }
}

/// One page of query results. `next` is present when more items may follow.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<Item>,
    pub next: Option<Cursor>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// A condition failed. `index` is the position of the failing operation in
    /// the transaction (0 for a single put).
    #[error("condition failed on operation {index}")]
    ConditionFailed { index: usize },
    /// Another transaction touched the same items concurrently; retryable.
    #[error("conflicting concurrent transaction")]
    TransactionConflict,
    #[error(transparent)]
    InvalidCursor(#[from] CursorError),
    /// The request is over a limit (item size, transaction size).
    #[error("too large: {0}")]
    TooLarge(String),
    /// The request is malformed (a bug in the caller, or a bad page size).
    #[error("invalid store request: {0}")]
    InvalidRequest(String),
    /// The engine could not be reached or throttled us; retryable.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else the engine reported.
    #[error("store error: {0}")]
    Backend(String),
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::TransactionConflict | StoreError::Unavailable(_)
        )
    }
}

/// Checks the limits of a transaction; adapters call this before writing.
pub fn validate_transaction(ops: &[WriteOp]) -> Result<(), StoreError> {
    if ops.is_empty() {
        return Err(StoreError::InvalidRequest("empty transaction".into()));
    }
    if ops.len() > MAX_TRANSACTION_ITEMS {
        return Err(StoreError::TooLarge(format!(
            "a transaction holds at most {MAX_TRANSACTION_ITEMS} items, this one has {}",
            ops.len()
        )));
    }
    let mut total = 0usize;
    let mut seen = std::collections::HashSet::new();
    for op in ops {
        if !seen.insert(op.key()) {
            return Err(StoreError::InvalidRequest(
                "a transaction touches the same key twice".into(),
            ));
        }
        if let WriteOp::Put { item, .. } = op {
            validate_item(item)?;
            total += item.approx_size();
        }
    }
    if total > MAX_TRANSACTION_BYTES {
        return Err(StoreError::TooLarge(format!(
            "a transaction holds at most {MAX_TRANSACTION_BYTES} bytes"
        )));
    }
    Ok(())
}

/// Checks one item: non-empty keys, object data, size.
pub fn validate_item(item: &Item) -> Result<(), StoreError> {
    if item.pk.is_empty() || item.sk.is_empty() {
        return Err(StoreError::InvalidRequest("empty key".into()));
    }
    if !item.data.is_object() {
        return Err(StoreError::InvalidRequest(
            "item data must be an object".into(),
        ));
    }
    for k in [&item.gsi1, &item.gsi2, &item.gsi3].into_iter().flatten() {
        if k.pk.is_empty() || k.sk.is_empty() {
            return Err(StoreError::InvalidRequest("empty index key".into()));
        }
    }
    let size = item.approx_size();
    if size > MAX_ITEM_BYTES {
        return Err(StoreError::TooLarge(format!(
            "an item holds at most {MAX_ITEM_BYTES} bytes, this one has {size}"
        )));
    }
    Ok(())
}

/// The single-table store.
#[async_trait]
pub trait Store: Send + Sync {
    /// Reads one item by its table key (one GetItem).
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError>;

    /// Writes one item if `condition` holds (one PutItem).
    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError>;

    /// Reads one page of a partition of the table or of an index (one Query).
    /// Up to `limit` items; `next` is set when more may follow.
    async fn query(&self, query: &Query) -> Result<Page, StoreError>;

    /// Applies all operations or none (one TransactWriteItems). When a
    /// condition fails, nothing is written and the error names the first
    /// failing operation.
    async fn transact_write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError>;
}
