//! The embedded store: the single table in a SQLite file (or in memory), with
//! the same keys, indexes and semantics as the DynamoDB table.
//!
//! - one `items` table keyed by `(pk, sk)`, a rowid table: rows (with their
//!   JSON, up to a few KB) are appended in write order and pack their pages,
//!   and only the small key index takes the inserts in key order. (As a
//!   WITHOUT ROWID table, keyed by `(pk, sk)` itself, every new run's items
//!   landed in the middle of four key ranges, split pages half-empty and
//!   doubled what each write and checkpoint copied.) A file created with the
//!   earlier layout keeps working, as the columns are the same;
//! - each GSI is a partial index on
//!   `(gsiNpk, gsiNsk, pk, sk)` over the rows that have that index key, so
//!   indexes are sparse exactly as in DynamoDB;
//! - text compares with SQLite's BINARY collation, i.e. as UTF-8 bytes, the
//!   order DynamoDB uses for string keys;
//! - a transaction is atomic (one savepoint on the writer, see `sqlite_db`):
//!   every condition is checked against the state before the transaction,
//!   the first failing one aborts it, otherwise all operations are applied;
//! - expired items are returned until something deletes them, as DynamoDB's
//!   lazy TTL deletion does.
//!
//! All SQLite calls go through a [`SqliteDb`], off the async runtime:
//! writes on its one writer thread (shared with the queue when both are
//! built on the same handle), reads on its reader connections on tokio's
//! blocking pool.

use std::path::Path;

use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, ErrorCode, OptionalExtension};
use tms_ports::store::{validate_item, validate_transaction};
use tms_ports::{
    Condition, Cursor, Index, IndexKey, Item, Page, Query, SkCondition, Store, StoreError, WriteOp,
};

use crate::sqlite_db::{DbError, SqliteDb};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    pk          TEXT    NOT NULL,
    sk          TEXT    NOT NULL,
    entity_type TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    gsi1pk      TEXT,
    gsi1sk      TEXT,
    gsi2pk      TEXT,
    gsi2sk      TEXT,
    gsi3pk      TEXT,
    gsi3sk      TEXT,
    expires_at  INTEGER,
    data        TEXT    NOT NULL,
    PRIMARY KEY (pk, sk)
);
CREATE INDEX IF NOT EXISTS items_gsi1 ON items (gsi1pk, gsi1sk, pk, sk) WHERE gsi1pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_gsi2 ON items (gsi2pk, gsi2sk, pk, sk) WHERE gsi2pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_gsi3 ON items (gsi3pk, gsi3sk, pk, sk) WHERE gsi3pk IS NOT NULL;
";

const COLUMNS: &str =
    "pk, sk, entity_type, version, gsi1pk, gsi1sk, gsi2pk, gsi2sk, gsi3pk, gsi3sk, expires_at, data";

/// The store on one SQLite database.
#[derive(Clone)]
pub struct SqliteStore {
    db: SqliteDb,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl From<DbError> for StoreError {
    fn from(e: DbError) -> Self {
        if e.is_busy() {
            StoreError::Unavailable(e.to_string())
        } else {
            StoreError::Backend(e.to_string())
        }
    }
}

impl SqliteStore {
    /// Opens (or creates) the database file, its parent directory and the
    /// schema, on a handle of its own. To share the file with the queue, open
    /// a [`SqliteDb`] and use [`SqliteStore::on`].
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::on(SqliteDb::open(path)?)
    }

    /// A private in-memory database (tests, throwaway runs).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::on(SqliteDb::open_in_memory()?)
    }

    /// The store on a shared database handle; creates its schema.
    pub fn on(db: SqliteDb) -> Result<Self, StoreError> {
        db.execute_batch(SCHEMA)?;
        Ok(Self { db })
    }
}

/// Maps a SQLite error: lock contention is retryable, the rest is a backend
/// error. SQLite messages name tables and constraints, never values.
fn sql_err(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) =>
        {
            StoreError::Unavailable(format!("SQLite: {e}"))
        }
        _ => StoreError::Backend(format!("SQLite: {e}")),
    }
}

fn index_columns(index: Index) -> (&'static str, &'static str) {
    match index {
        Index::Gsi1 => ("gsi1pk", "gsi1sk"),
        Index::Gsi2 => ("gsi2pk", "gsi2sk"),
        Index::Gsi3 => ("gsi3pk", "gsi3sk"),
    }
}

/// The smallest string greater than every string that starts with `prefix`
/// (in code point order, which is UTF-8 byte order), or `None` when there is
/// none (empty prefix, or a prefix of only U+10FFFF).
pub(crate) fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(u32::from(c) + 1),
        };
        if let Some(n) = next {
            chars.push(n);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

fn version_to_sql(version: u64) -> Result<i64, StoreError> {
    i64::try_from(version).map_err(|_| StoreError::InvalidRequest("version out of range".into()))
}

fn row_to_item(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
    Ok(RawRow {
        pk: row.get(0)?,
        sk: row.get(1)?,
        entity_type: row.get(2)?,
        version: row.get(3)?,
        gsi: [
            (row.get(4)?, row.get(5)?),
            (row.get(6)?, row.get(7)?),
            (row.get(8)?, row.get(9)?),
        ],
        expires_at: row.get(10)?,
        data: row.get(11)?,
    })
}

/// A row as read, before the fallible conversions into an [`Item`].
struct RawRow {
    pk: String,
    sk: String,
    entity_type: String,
    version: i64,
    gsi: [(Option<String>, Option<String>); 3],
    expires_at: Option<i64>,
    data: String,
}

impl RawRow {
    fn into_item(self) -> Result<Item, StoreError> {
        let version = u64::try_from(self.version)
            .map_err(|_| StoreError::Backend("stored version is negative".into()))?;
        let data = serde_json::from_str(&self.data)
            .map_err(|e| StoreError::Backend(format!("stored data is not JSON: {e}")))?;
        let [g1, g2, g3] = self.gsi.map(|(p, s)| match (p, s) {
            (Some(pk), Some(sk)) => Some(IndexKey { pk, sk }),
            _ => None,
        });
        Ok(Item {
            pk: self.pk,
            sk: self.sk,
            entity_type: self.entity_type,
            version,
            gsi1: g1,
            gsi2: g2,
            gsi3: g3,
            expires_at: self.expires_at,
            data,
        })
    }
}

fn get_item(conn: &Connection, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM items WHERE pk = ?1 AND sk = ?2");
    let raw = conn
        .prepare_cached(&sql)
        .and_then(|mut st| st.query_row([pk, sk], row_to_item).optional())
        .map_err(sql_err)?;
    raw.map(RawRow::into_item).transpose()
}

/// The version of the item under a key, if any.
fn current_version(conn: &Connection, pk: &str, sk: &str) -> Result<Option<u64>, StoreError> {
    let v: Option<i64> = conn
        .prepare_cached("SELECT version FROM items WHERE pk = ?1 AND sk = ?2")
        .and_then(|mut st| st.query_row([pk, sk], |r| r.get(0)).optional())
        .map_err(sql_err)?;
    v.map(|v| {
        u64::try_from(v).map_err(|_| StoreError::Backend("stored version is negative".into()))
    })
    .transpose()
}

fn condition_holds(condition: Condition, current: Option<u64>) -> bool {
    match condition {
        Condition::None => true,
        Condition::NotExists => current.is_none(),
        Condition::Exists => current.is_some(),
        Condition::VersionIs(v) => current == Some(v),
    }
}

/// The one statement that writes an item.
const INSERT_ITEM: &str = "INSERT OR REPLACE INTO items \
     (pk, sk, entity_type, version, gsi1pk, gsi1sk, gsi2pk, gsi2sk, gsi3pk, gsi3sk, expires_at, data) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";

/// An operation checked and with its item's data already serialized: that
/// work is done before the operation reaches the one writer, which every
/// write waits for.
struct Prepared {
    op: WriteOp,
    data: Option<String>,
}

fn prepare(ops: Vec<WriteOp>) -> Result<Vec<Prepared>, StoreError> {
    ops.into_iter()
        .map(|op| {
            let (pk, sk) = op.key();
            if pk.is_empty() || sk.is_empty() {
                return Err(StoreError::InvalidRequest("empty key".into()));
            }
            let data = match &op {
                WriteOp::Put { item, .. } => {
                    version_to_sql(item.version)?;
                    Some(serde_json::to_string(&item.data).map_err(|e| {
                        StoreError::InvalidRequest(format!("item data is not serializable: {e}"))
                    })?)
                }
                _ => None,
            };
            Ok(Prepared { op, data })
        })
        .collect()
}

fn write_item(conn: &Connection, item: &Item, data: &str) -> Result<(), StoreError> {
    fn key(k: &Option<IndexKey>) -> Option<(&str, &str)> {
        k.as_ref().map(|k| (k.pk.as_str(), k.sk.as_str()))
    }
    let (g1, g2, g3) = (key(&item.gsi1), key(&item.gsi2), key(&item.gsi3));
    let version = version_to_sql(item.version)?;
    conn.prepare_cached(INSERT_ITEM)
        .and_then(|mut st| {
            st.execute(rusqlite::params![
                item.pk,
                item.sk,
                item.entity_type,
                version,
                g1.map(|k| k.0),
                g1.map(|k| k.1),
                g2.map(|k| k.0),
                g2.map(|k| k.1),
                g3.map(|k| k.0),
                g3.map(|k| k.1),
                item.expires_at,
                data,
            ])
        })
        .map_err(sql_err)?;
    Ok(())
}

/// Checks every condition, then applies every operation. Atomic because the
/// writer runs each job in its own savepoint and rolls it back on an error.
/// Keys are distinct (checked by `validate_transaction`), so checking first
/// and applying after is the same as DynamoDB's semantics.
fn apply(conn: &Connection, ops: &[Prepared]) -> Result<(), StoreError> {
    for (index, Prepared { op, .. }) in ops.iter().enumerate() {
        let condition = match op {
            WriteOp::Put { condition, .. }
            | WriteOp::Delete { condition, .. }
            | WriteOp::Check { condition, .. } => *condition,
        };
        if condition == Condition::None {
            continue;
        }
        let (pk, sk) = op.key();
        if !condition_holds(condition, current_version(conn, pk, sk)?) {
            return Err(StoreError::ConditionFailed { index });
        }
    }
    for Prepared { op, data } in ops {
        match (op, data) {
            (WriteOp::Put { item, .. }, Some(data)) => write_item(conn, item, data)?,
            (WriteOp::Put { .. }, None) => {
                return Err(StoreError::Backend(
                    "a put reached the writer unprepared".into(),
                ))
            }
            (WriteOp::Delete { pk, sk, .. }, _) => {
                conn.prepare_cached("DELETE FROM items WHERE pk = ?1 AND sk = ?2")
                    .and_then(|mut st| st.execute([pk, sk]))
                    .map_err(sql_err)?;
            }
            (WriteOp::Check { .. }, _) => {}
        }
    }
    Ok(())
}

fn run_query(conn: &Connection, query: &Query) -> Result<Page, StoreError> {
    let (pk_col, sk_col) = match query.index {
        None => ("pk", "sk"),
        Some(i) => index_columns(i),
    };
    let mut sql = format!("SELECT {COLUMNS} FROM items WHERE {pk_col} = ?");
    let mut params: Vec<SqlValue> = vec![SqlValue::Text(query.pk.clone())];
    match &query.sk {
        SkCondition::Any => {}
        SkCondition::BeginsWith(p) => {
            if !p.is_empty() {
                sql.push_str(&format!(" AND {sk_col} >= ?"));
                params.push(SqlValue::Text(p.clone()));
            }
            if let Some(upper) = prefix_upper_bound(p) {
                sql.push_str(&format!(" AND {sk_col} < ?"));
                params.push(SqlValue::Text(upper));
            }
        }
        SkCondition::Between(lo, hi) => {
            sql.push_str(&format!(" AND {sk_col} >= ? AND {sk_col} <= ?"));
            params.push(SqlValue::Text(lo.clone()));
            params.push(SqlValue::Text(hi.clone()));
        }
    }
    let (cmp, dir) = if query.forward {
        (">", "ASC")
    } else {
        ("<", "DESC")
    };
    if let Some(c) = &query.cursor {
        match (query.index, &c.isk) {
            (None, _) => {
                sql.push_str(&format!(" AND sk {cmp} ?"));
                params.push(SqlValue::Text(c.sk.clone()));
            }
            (Some(_), Some(isk)) => {
                sql.push_str(&format!(" AND ({sk_col}, pk, sk) {cmp} (?, ?, ?)"));
                params.push(SqlValue::Text(isk.clone()));
                params.push(SqlValue::Text(c.pk.clone()));
                params.push(SqlValue::Text(c.sk.clone()));
            }
            // `Query::validate` refuses an index cursor without index keys.
            (Some(_), None) => return Err(StoreError::InvalidCursor(tms_ports::CursorError)),
        }
    }
    match query.index {
        None => sql.push_str(&format!(" ORDER BY sk {dir}")),
        Some(_) => sql.push_str(&format!(" ORDER BY {sk_col} {dir}, pk {dir}, sk {dir}")),
    }
    sql.push_str(" LIMIT ?");
    let limit = usize::try_from(query.limit).unwrap_or(usize::MAX);
    params.push(SqlValue::Integer(i64::from(query.limit) + 1));

    let rows = conn
        .prepare_cached(&sql)
        .and_then(|mut st| {
            st.query_map(rusqlite::params_from_iter(params), row_to_item)?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(sql_err)?;
    let more = rows.len() > limit;
    let items = rows
        .into_iter()
        .take(limit)
        .map(RawRow::into_item)
        .collect::<Result<Vec<_>, _>>()?;
    let next = match items.last() {
        Some(last) if more => Some(Cursor::after(last, query)),
        _ => None,
    };
    Ok(Page { items, next })
}

#[async_trait]
impl Store for SqliteStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        if pk.is_empty() || sk.is_empty() {
            return Err(StoreError::InvalidRequest("empty key".into()));
        }
        let (pk, sk) = (pk.to_owned(), sk.to_owned());
        self.db.read(move |conn| get_item(conn, &pk, &sk)).await
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        validate_item(&item)?;
        let ops = prepare(vec![WriteOp::Put { item, condition }])?;
        self.db.write(move |conn| apply(conn, &ops)).await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        query.validate()?;
        let query = query.clone();
        self.db.read(move |conn| run_query(conn, &query)).await
    }

    async fn transact_write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        validate_transaction(&ops)?;
        let ops = prepare(ops)?;
        self.db.write(move |conn| apply(conn, &ops)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prefix_upper_bound_brackets_exactly_the_prefixed_strings() {
        assert_eq!(prefix_upper_bound(""), None);
        assert_eq!(prefix_upper_bound("RUN#").as_deref(), Some("RUN$"));
        assert_eq!(
            prefix_upper_bound("a\u{D7FF}").as_deref(),
            Some("a\u{E000}")
        );
        assert_eq!(prefix_upper_bound("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_upper_bound("\u{10FFFF}\u{10FFFF}"), None);
        let p = "AB\u{e9}";
        let upper = prefix_upper_bound(p).unwrap();
        for s in [
            "AB\u{e9}",
            "AB\u{e9}\u{10FFFF}",
            "AB\u{e9}zz",
            "AB\u{ea}",
            "AB\u{e8}\u{10FFFF}",
            "AB",
        ] {
            let in_range = s >= p && s < upper.as_str();
            assert_eq!(in_range, s.starts_with(p), "{s:?}");
        }
    }

    #[test]
    fn conditions() {
        assert!(condition_holds(Condition::None, None));
        assert!(condition_holds(Condition::NotExists, None));
        assert!(!condition_holds(Condition::NotExists, Some(1)));
        assert!(condition_holds(Condition::Exists, Some(3)));
        assert!(!condition_holds(Condition::Exists, None));
        assert!(condition_holds(Condition::VersionIs(2), Some(2)));
        assert!(!condition_holds(Condition::VersionIs(2), Some(3)));
        assert!(!condition_holds(Condition::VersionIs(2), None));
    }

    #[tokio::test]
    async fn file_database_persists_across_opens() {
        let dir =
            std::env::temp_dir().join(format!("tms-sqlite-{}", uuid::Uuid::new_v4().simple()));
        let path = dir.join("nested").join("store.db");
        {
            let store = SqliteStore::open(&path).unwrap();
            store
                .put(
                    Item::new("P", "S", "thing", json!({"a": 1})),
                    Condition::NotExists,
                )
                .await
                .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let item = store.get("P", "S").await.unwrap().unwrap();
        assert_eq!(item.data, json!({"a": 1}));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn huge_version_is_refused_not_truncated() {
        let store = SqliteStore::open_in_memory().unwrap();
        let mut item = Item::new("P", "S", "thing", json!({}));
        item.version = u64::MAX;
        let err = store.put(item, Condition::None).await.unwrap_err();
        assert!(matches!(err, StoreError::InvalidRequest(_)), "{err:?}");
    }
}
