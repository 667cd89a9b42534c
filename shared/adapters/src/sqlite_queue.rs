//! The embedded queue: a standard queue and its dead-letter queue in one
//! SQLite table, with the semantics of SQS (see `tms_ports::queue`).
//!
//! - receive returns visible messages oldest first, hides them for the
//!   visibility timeout, increments their receive count and issues a new
//!   receipt handle per receive (an older handle is then invalid);
//! - a visible main-queue message whose receive count already equals
//!   `max_receive_count` is moved to the dead-letter queue instead of being
//!   delivered (SQS moves it when the count would exceed maxReceiveCount);
//! - long polling: when nothing is visible, receive polls every 50 ms until
//!   `wait_secs` have passed; each poll is a read on a reader connection, and
//!   only a poll that finds something opens a write transaction (an idle
//!   worker must not take the write lock twenty times a second);
//! - redrive moves dead-letter messages back to the main queue as new
//!   messages (new id, receive count 0).
//!
//! The table (`queue_messages`) can live in the same SQLite file as the
//! store's `items` table: build both on one [`SqliteDb`] so that their writes
//! share its one writer. Writes run on the writer thread, reads on tokio's
//! blocking pool; no connection lock is held across an await.
//!
//! Known difference from SQS: deleting twice with the same handle fails the
//! second time (SQS accepts a recently used handle again), and a stale handle
//! (from an earlier receive of a redelivered message) is always rejected.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use rusqlite::{params, Connection};
use tms_ports::{OutgoingMessage, Queue, QueueError, QueueName, ReceivedMessage, SendBatchResult};

use crate::sqlite_db::{DbError, SqliteDb};

/// How often an empty long poll looks again.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How many dead-letter messages one redrive transaction moves.
const REDRIVE_CHUNK: u32 = 100;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queue_messages (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    queue          TEXT NOT NULL CHECK (queue IN ('main', 'dlq')),
    body           TEXT NOT NULL,
    attributes     TEXT NOT NULL,
    receive_count  INTEGER NOT NULL DEFAULT 0,
    visible_at_ms  INTEGER NOT NULL,
    receipt_handle TEXT UNIQUE,
    sent_at_ms     INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_messages_visible
    ON queue_messages (queue, visible_at_ms, seq);
";

/// Settings of the embedded queue. The production values come from
/// `infra/resources.json` (through the caller), so both engines agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteQueueConfig {
    /// Receives after which an undeleted message goes to the dead-letter
    /// queue (SQS's `maxReceiveCount`); at least 1.
    pub max_receive_count: u32,
}

/// The queue port on a SQLite file.
#[derive(Clone)]
pub struct SqliteQueue {
    db: SqliteDb,
    config: SqliteQueueConfig,
}

impl std::fmt::Debug for SqliteQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteQueue")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Milliseconds since the Unix epoch, from the system clock: the one place
/// this adapter reads the time.
fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

fn queue_key(name: QueueName) -> &'static str {
    match name {
        QueueName::Main => "main",
        QueueName::DeadLetter => "dlq",
    }
}

impl From<DbError> for QueueError {
    fn from(e: DbError) -> Self {
        // Busy also covers a group commit that failed for lock contention.
        if e.is_busy() {
            QueueError::Unavailable(format!("sqlite: {e}"))
        } else {
            QueueError::Backend(format!("sqlite: {e}"))
        }
    }
}

fn map_sql(err: rusqlite::Error) -> QueueError {
    match err.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            QueueError::Unavailable(format!("sqlite: {err}"))
        }
        _ => QueueError::Backend(format!("sqlite: {err}")),
    }
}

fn encode_attributes(attributes: &BTreeMap<String, String>) -> Result<String, QueueError> {
    serde_json::to_string(attributes)
        .map_err(|e| QueueError::Backend(format!("encoding attributes: {e}")))
}

fn decode_attributes(json: &str) -> Result<BTreeMap<String, String>, QueueError> {
    serde_json::from_str(json).map_err(|e| QueueError::Backend(format!("decoding attributes: {e}")))
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn insert_main(
    conn: &Connection,
    id: &str,
    body: &str,
    attributes_json: &str,
    now: i64,
) -> Result<(), QueueError> {
    conn.prepare_cached(
        "INSERT INTO queue_messages
             (id, queue, body, attributes, receive_count, visible_at_ms, receipt_handle, sent_at_ms)
         VALUES (?1, 'main', ?2, ?3, 0, ?4, NULL, ?4)",
    )
    .and_then(|mut st| st.execute(params![id, body, attributes_json, now]))
    .map_err(map_sql)?;
    Ok(())
}

impl SqliteQueue {
    /// Opens (creating if needed) the queue tables in the SQLite file at
    /// `path`, on a handle of its own. To share the file with the store (and
    /// its writer connection), open a [`SqliteDb`] and use [`SqliteQueue::on`].
    pub fn open(path: &Path, config: SqliteQueueConfig) -> Result<Self, QueueError> {
        Self::on(SqliteDb::open(path)?, config)
    }

    /// A private in-memory queue (tests, throwaway runs).
    pub fn open_in_memory(config: SqliteQueueConfig) -> Result<Self, QueueError> {
        Self::on(SqliteDb::open_in_memory()?, config)
    }

    /// The queue on a shared database handle; creates its schema.
    pub fn on(db: SqliteDb, config: SqliteQueueConfig) -> Result<Self, QueueError> {
        if config.max_receive_count == 0 {
            return Err(QueueError::InvalidRequest(
                "max_receive_count must be at least 1".into(),
            ));
        }
        db.execute_batch(SCHEMA)?;
        Ok(Self { db, config })
    }

    /// Whether `from` has a visible message now: a read, no write lock.
    fn any_visible(conn: &Connection, from: QueueName) -> Result<bool, QueueError> {
        conn.prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM queue_messages
                            WHERE queue = ?1 AND visible_at_ms <= ?2)",
        )
        .and_then(|mut st| st.query_row(params![queue_key(from), now_ms()], |r| r.get(0)))
        .map_err(map_sql)
    }

    /// One non-waiting receive attempt, atomic (a writer job).
    fn try_receive(
        conn: &Connection,
        from: QueueName,
        max: u32,
        visibility_timeout_secs: u32,
        max_receive_count: u32,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        let now = now_ms();
        let visible_at = now + i64::from(visibility_timeout_secs) * 1000;
        let queue = queue_key(from);
        let mut out = Vec::new();
        loop {
            let wanted = max as usize - out.len();
            if wanted == 0 {
                break;
            }
            let candidates: Vec<(i64, String, String, String, u32)> = {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT seq, id, body, attributes, receive_count FROM queue_messages
                         WHERE queue = ?1 AND visible_at_ms <= ?2
                         ORDER BY seq LIMIT ?3",
                    )
                    .map_err(map_sql)?;
                let rows = stmt
                    .query_map(params![queue, now, wanted as i64], |row| {
                        Ok((
                            row.get(0)?,
                            row.get(1)?,
                            row.get(2)?,
                            row.get(3)?,
                            row.get(4)?,
                        ))
                    })
                    .map_err(map_sql)?;
                rows.collect::<Result<_, _>>().map_err(map_sql)?
            };
            if candidates.is_empty() {
                break;
            }
            for (seq, id, body, attributes_json, count) in candidates {
                if from == QueueName::Main && count >= max_receive_count {
                    // Received max_receive_count times and not deleted: off to
                    // the dead-letter queue, keeping its id and count (as SQS).
                    conn.prepare_cached(
                        "UPDATE queue_messages
                         SET queue = 'dlq', visible_at_ms = ?2, receipt_handle = NULL
                         WHERE seq = ?1",
                    )
                    .and_then(|mut st| st.execute(params![seq, now]))
                    .map_err(map_sql)?;
                    continue;
                }
                let receipt_handle = new_id();
                let receive_count = count.saturating_add(1);
                conn.prepare_cached(
                    "UPDATE queue_messages
                     SET receive_count = ?2, visible_at_ms = ?3, receipt_handle = ?4
                     WHERE seq = ?1",
                )
                .and_then(|mut st| {
                    st.execute(params![seq, receive_count, visible_at, receipt_handle])
                })
                .map_err(map_sql)?;
                out.push(ReceivedMessage {
                    message_id: id,
                    receipt_handle,
                    body,
                    attributes: decode_attributes(&attributes_json)?,
                    receive_count,
                });
            }
        }
        Ok(out)
    }

    /// Moves up to `max` visible dead-letter messages back, atomically (a
    /// writer job).
    fn redrive_chunk(conn: &Connection, max: u32) -> Result<u32, QueueError> {
        let now = now_ms();
        let rows: Vec<(i64, String, String)> = {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT seq, body, attributes FROM queue_messages
                     WHERE queue = 'dlq' AND visible_at_ms <= ?1
                     ORDER BY seq LIMIT ?2",
                )
                .map_err(map_sql)?;
            let rows = stmt
                .query_map(params![now, i64::from(max)], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })
                .map_err(map_sql)?;
            rows.collect::<Result<_, _>>().map_err(map_sql)?
        };
        let mut moved = 0u32;
        for (seq, body, attributes_json) in rows {
            insert_main(conn, &new_id(), &body, &attributes_json, now)?;
            conn.execute("DELETE FROM queue_messages WHERE seq = ?1", params![seq])
                .map_err(map_sql)?;
            moved += 1;
        }
        Ok(moved)
    }
}

#[async_trait]
impl Queue for SqliteQueue {
    async fn send(&self, message: OutgoingMessage) -> Result<String, QueueError> {
        let attributes_json = encode_attributes(&message.attributes)?;
        self.db
            .write(move |conn| {
                let id = new_id();
                insert_main(conn, &id, &message.body, &attributes_json, now_ms())?;
                Ok(id)
            })
            .await
    }

    async fn send_batch(
        &self,
        messages: Vec<OutgoingMessage>,
    ) -> Result<SendBatchResult, QueueError> {
        tms_ports::queue::check_batch(messages.len())?;
        let encoded = messages
            .into_iter()
            .map(|m| Ok((m.body, encode_attributes(&m.attributes)?)))
            .collect::<Result<Vec<_>, QueueError>>()?;
        self.db
            .write(move |conn| {
                let now = now_ms();
                let mut result = SendBatchResult::default();
                for (position, (body, attributes_json)) in encoded.iter().enumerate() {
                    let id = new_id();
                    insert_main(conn, &id, body, attributes_json, now)?;
                    result.sent.push((position, id));
                }
                Ok(result)
            })
            .await
    }

    async fn receive(
        &self,
        from: QueueName,
        max: u32,
        visibility_timeout_secs: u32,
        wait_secs: u32,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        tms_ports::queue::check_receive(max, visibility_timeout_secs, wait_secs)?;
        let deadline = Instant::now() + Duration::from_secs(u64::from(wait_secs));
        let max_receive_count = self.config.max_receive_count;
        loop {
            let got = if self
                .db
                .read(move |conn| Self::any_visible(conn, from))
                .await?
            {
                self.db
                    .write(move |conn| {
                        Self::try_receive(
                            conn,
                            from,
                            max,
                            visibility_timeout_secs,
                            max_receive_count,
                        )
                    })
                    .await?
            } else {
                Vec::new()
            };
            let now = Instant::now();
            if !got.is_empty() || now >= deadline {
                return Ok(got);
            }
            tokio::time::sleep(POLL_INTERVAL.min(deadline - now)).await;
        }
    }

    async fn delete(&self, from: QueueName, receipt_handle: &str) -> Result<(), QueueError> {
        let handle = receipt_handle.to_owned();
        self.db
            .write(move |conn| {
                let n = conn
                    .prepare_cached(
                        "DELETE FROM queue_messages WHERE queue = ?1 AND receipt_handle = ?2",
                    )
                    .and_then(|mut st| st.execute(params![queue_key(from), handle]))
                    .map_err(map_sql)?;
                if n == 0 {
                    return Err(QueueError::InvalidReceipt);
                }
                Ok(())
            })
            .await
    }

    async fn change_visibility(
        &self,
        from: QueueName,
        receipt_handle: &str,
        visibility_timeout_secs: u32,
    ) -> Result<(), QueueError> {
        tms_ports::queue::check_visibility(visibility_timeout_secs)?;
        let handle = receipt_handle.to_owned();
        self.db
            .write(move |conn| {
                let now = now_ms();
                // Only a message still in flight can change (SQS answers
                // MessageNotInflight otherwise, which the SQS adapter maps to
                // InvalidReceipt too).
                let n = conn
                    .execute(
                        "UPDATE queue_messages SET visible_at_ms = ?3
                     WHERE queue = ?1 AND receipt_handle = ?2 AND visible_at_ms > ?4",
                        params![
                            queue_key(from),
                            handle,
                            now + i64::from(visibility_timeout_secs) * 1000,
                            now
                        ],
                    )
                    .map_err(map_sql)?;
                if n == 0 {
                    return Err(QueueError::InvalidReceipt);
                }
                Ok(())
            })
            .await
    }

    async fn redrive(&self, max: u32) -> Result<u32, QueueError> {
        let mut moved = 0u32;
        while moved < max {
            let chunk = (max - moved).min(REDRIVE_CHUNK);
            let n = self
                .db
                .write(move |conn| Self::redrive_chunk(conn, chunk))
                .await?;
            moved += n;
            if n < chunk {
                break;
            }
        }
        if moved > 0 {
            tracing::info!(moved, "redrove dead-letter messages to the main queue");
        }
        Ok(moved)
    }
}

impl SqliteQueue {
    /// How many messages each queue holds, visible or not: `(main, dlq)`
    /// (for the local run's diagnostics and for tests).
    pub async fn depth(&self) -> Result<(u64, u64), QueueError> {
        self.db
            .read(|conn| {
                let count = |queue: &str| -> Result<u64, QueueError> {
                    conn.query_row(
                        "SELECT COUNT(*) FROM queue_messages WHERE queue = ?1",
                        params![queue],
                        |row| row.get::<_, i64>(0),
                    )
                    .map_err(map_sql)
                    .map(|n| u64::try_from(n).unwrap_or(0))
                };
                Ok((count("main")?, count("dlq")?))
            })
            .await
    }
}
