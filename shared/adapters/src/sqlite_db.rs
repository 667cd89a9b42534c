//! One embedded database shared by the SQLite store and queue: ONE writer
//! connection and a small pool of reader connections on the same file.
//!
//! Why one writer: SQLite lets one transaction write at a time. Two
//! connections that both write (the store's and the queue's, as before)
//! fight for that lock through the busy handler, which sleeps while the
//! loser's mutex stays held; under load that, not SQLite, bounded the
//! throughput. With every write on one connection behind one mutex, writers
//! queue on the mutex instead and never meet a busy lock from this process.
//!
//! Why readers: in WAL mode a reader sees the last committed state without
//! taking the write lock, so a GET (or an idle queue poll) never waits for a
//! write transaction, and writes never wait for reads. An in-memory database
//! is private to its connection and cannot have separate readers: there
//! reads use the writer.
//!
//! Every connection runs `synchronous=NORMAL`: in WAL mode a commit is then
//! durable against a crash of the process, and only a power loss can lose
//! the last commits; that is the trade every local run makes.
//!
//! All calls run on tokio's blocking pool; no mutex is held across an await.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// How long a connection waits for a lock held by another process (another
/// `tms-local` on the same file, a `sqlite3` shell) before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Reader connections at most. Reads are short; a few more than the cores
/// keeps every core busy without opening a connection per request.
const MAX_READERS: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("SQLite: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("cannot create the directory {dir}: {reason}")]
    Directory { dir: String, reason: String },
    #[error("SQLite refused WAL journal mode (got {0})")]
    NoWal(String),
    #[error("a SQLite connection mutex is poisoned")]
    Poisoned,
    #[error("SQLite task failed: {0}")]
    Task(String),
}

impl DbError {
    /// Lock contention with another process: worth retrying.
    pub fn is_busy(&self) -> bool {
        match self {
            DbError::Sql(e) => matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ),
            _ => false,
        }
    }
}

/// A handle on one SQLite database; cheap to clone, every clone shares the
/// same connections.
#[derive(Clone)]
pub struct SqliteDb {
    inner: Arc<Inner>,
}

struct Inner {
    writer: Mutex<Connection>,
    /// `None` for an in-memory database: reads go to the writer.
    readers: Option<ReaderPool>,
}

impl std::fmt::Debug for SqliteDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteDb")
            .field("path", &self.inner.readers.as_ref().map(|r| &r.path))
            .finish_non_exhaustive()
    }
}

fn configure(conn: &Connection) -> Result<(), DbError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(())
}

impl SqliteDb {
    /// Opens (or creates) the database file and its parent directory, in WAL
    /// mode. Reader connections are opened when first needed.
    pub fn open(path: &Path) -> Result<Self, DbError> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| DbError::Directory {
                    dir: dir.display().to_string(),
                    reason: e.to_string(),
                })?;
            }
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // journal_mode returns the resulting mode as a row; WAL is a
        // property of the file, so readers opened later inherit it.
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(DbError::NoWal(mode));
        }
        configure(&conn)?;
        Ok(SqliteDb {
            inner: Arc::new(Inner {
                writer: Mutex::new(conn),
                readers: Some(ReaderPool::new(path.to_path_buf())),
            }),
        })
    }

    /// A private in-memory database (tests, throwaway runs).
    pub fn open_in_memory() -> Result<Self, DbError> {
        let conn = Connection::open_in_memory()?;
        configure(&conn)?;
        Ok(SqliteDb {
            inner: Arc::new(Inner {
                writer: Mutex::new(conn),
                readers: None,
            }),
        })
    }

    /// Runs a schema script on the writer, synchronously (at start-up).
    pub(crate) fn execute_batch(&self, sql: &str) -> Result<(), DbError> {
        let conn = self.inner.writer.lock().map_err(|_| DbError::Poisoned)?;
        conn.execute_batch(sql)?;
        Ok(())
    }

    /// Runs `f` with the writer connection on the blocking pool. Every write
    /// of the store and the queue goes through here, one at a time.
    pub(crate) async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let mut conn = inner.writer.lock().map_err(|_| DbError::Poisoned)?;
            f(&mut conn)
        })
        .await
        .map_err(|e| E::from(DbError::Task(e.to_string())))?
    }

    /// Runs `f` with a reader connection (the writer for an in-memory
    /// database) on the blocking pool. `f` must only read: readers are
    /// opened `query_only`.
    pub(crate) async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || match &inner.readers {
            Some(pool) => {
                let reader = pool.acquire()?;
                f(reader.conn())
            }
            None => {
                let conn = inner.writer.lock().map_err(|_| DbError::Poisoned)?;
                f(&conn)
            }
        })
        .await
        .map_err(|e| E::from(DbError::Task(e.to_string())))?
    }
}

/// Up to `MAX_READERS` read-only connections, opened on demand and reused.
struct ReaderPool {
    path: PathBuf,
    state: Mutex<PoolState>,
    returned: Condvar,
}

struct PoolState {
    idle: Vec<Connection>,
    open: usize,
}

impl ReaderPool {
    fn new(path: PathBuf) -> Self {
        ReaderPool {
            path,
            state: Mutex::new(PoolState {
                idle: Vec::new(),
                open: 0,
            }),
            returned: Condvar::new(),
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, PoolState>, DbError> {
        self.state.lock().map_err(|_| DbError::Poisoned)
    }

    /// An idle reader, a new one while fewer than `MAX_READERS` are open, or
    /// else the next one returned (a blocking wait, on the blocking pool).
    fn acquire(&self) -> Result<Reader<'_>, DbError> {
        let mut state = self.lock()?;
        loop {
            if let Some(conn) = state.idle.pop() {
                return Ok(Reader {
                    pool: self,
                    conn: Some(conn),
                });
            }
            if state.open < MAX_READERS {
                state.open += 1;
                drop(state);
                return match self.open_reader() {
                    Ok(conn) => Ok(Reader {
                        pool: self,
                        conn: Some(conn),
                    }),
                    Err(e) => {
                        if let Ok(mut s) = self.lock() {
                            s.open -= 1;
                        }
                        self.returned.notify_one();
                        Err(e)
                    }
                };
            }
            state = self.returned.wait(state).map_err(|_| DbError::Poisoned)?;
        }
    }

    fn open_reader(&self) -> Result<Connection, DbError> {
        // Not SQLITE_OPEN_READ_ONLY: a read-only connection cannot recreate
        // the WAL index if it is missing; query_only refuses writes all the
        // same.
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        configure(&conn)?;
        conn.pragma_update(None, "query_only", true)?;
        Ok(conn)
    }
}

/// A reader on loan; goes back to the pool when dropped.
struct Reader<'a> {
    pool: &'a ReaderPool,
    conn: Option<Connection>,
}

impl Reader<'_> {
    fn conn(&self) -> &Connection {
        // Always Some until drop.
        match &self.conn {
            Some(c) => c,
            None => unreachable!("a reader on loan holds its connection"),
        }
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            match self.pool.state.lock() {
                Ok(mut s) => s.idle.push(conn),
                // A poisoned pool closes the connection; nobody waits on it.
                Err(_) => return,
            }
            self.pool.returned.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path() -> PathBuf {
        std::env::temp_dir().join(format!(
            "tms-db-{}/db.sqlite",
            uuid::Uuid::new_v4().simple()
        ))
    }

    #[tokio::test]
    async fn readers_see_committed_writes_and_cannot_write() {
        let path = temp_path();
        let db = SqliteDb::open(&path).unwrap();
        db.execute_batch("CREATE TABLE t (v INTEGER)").unwrap();
        db.write(|c| c.execute("INSERT INTO t VALUES (1)", []).map_err(DbError::from))
            .await
            .unwrap();
        let n: i64 = db
            .read(|c| {
                c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
                    .map_err(DbError::from)
            })
            .await
            .unwrap();
        assert_eq!(n, 1);
        let err = db
            .read(|c| c.execute("INSERT INTO t VALUES (2)", []).map_err(DbError::from))
            .await
            .unwrap_err();
        assert!(matches!(err, DbError::Sql(_)), "{err:?}");
        if let Some(dir) = path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    #[tokio::test]
    async fn many_concurrent_reads_share_the_bounded_pool() {
        let path = temp_path();
        let db = SqliteDb::open(&path).unwrap();
        db.execute_batch("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (7);")
            .unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..32 {
            let db = db.clone();
            tasks.spawn(async move {
                db.read(|c| {
                    c.query_row("SELECT v FROM t", [], |r| r.get::<_, i64>(0))
                        .map_err(DbError::from)
                })
                .await
            });
        }
        while let Some(r) = tasks.join_next().await {
            assert_eq!(r.unwrap().unwrap(), 7);
        }
        let open = db.inner.readers.as_ref().unwrap().lock().unwrap().open;
        assert!((1..=MAX_READERS).contains(&open), "{open}");
        if let Some(dir) = path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    #[tokio::test]
    async fn in_memory_reads_use_the_writer() {
        let db = SqliteDb::open_in_memory().unwrap();
        db.execute_batch("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (3);")
            .unwrap();
        let v: i64 = db
            .read(|c| {
                c.query_row("SELECT v FROM t", [], |r| r.get(0))
                    .map_err(DbError::from)
            })
            .await
            .unwrap();
        assert_eq!(v, 3);
    }
}
