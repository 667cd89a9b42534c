//! One embedded database shared by the SQLite store and queue: ONE writer
//! connection, driven by one thread that commits in groups, and a small pool
//! of reader connections on the same file.
//!
//! Why one writer: SQLite lets one transaction write at a time. Two
//! connections that both write (the store's and the queue's, as before)
//! fight for that lock through the busy handler, which sleeps while the
//! loser's mutex stays held; under load that, not SQLite, bounded the
//! throughput. With every write on one connection, writers queue in a
//! channel instead and never meet a busy lock from this process.
//!
//! Why group commit: each commit appends every page it changed to the WAL,
//! and one request changes the same few pages as the next (the last leaf of
//! each table and index). The writer thread takes every job waiting in the
//! channel (up to `MAX_BATCH`), runs each in its own SAVEPOINT inside one
//! transaction (a job that fails is rolled back alone, exactly as if it had
//! run in a transaction of its own), commits once, and only then answers
//! each job. Jobs run one after another in arrival order, so the result is
//! the same as committing them one by one; a lone job waits for nobody.
//!
//! Why readers: in WAL mode a reader sees the last committed state without
//! taking the write lock, so a GET (or an idle queue poll) never waits for a
//! write transaction, and writes never wait for reads. An in-memory database
//! is private to its connection and cannot have separate readers: there
//! reads go to the writer.
//!
//! Why a checkpointer thread: a checkpoint copies the WAL back into the
//! database file and fsyncs it; run by the writer (SQLite's default, after
//! the commit that crosses 1,000 pages) it stalls every write waiting behind
//! it for milliseconds. A thread of its own checkpoints instead (PASSIVE:
//! it never blocks the writer) every `CHECKPOINT_EVERY` after commits. Since
//! the writer keeps appending meanwhile, the WAL could then never be found
//! fully copied and rewound; so when it has grown past `REWIND_FRAMES` the
//! writer itself checkpoints the frames left once, between two groups, and
//! the next write starts the WAL afresh.
//!
//! Every connection runs `synchronous=NORMAL`: in WAL mode a commit is then
//! durable against a crash of the process, and only a power loss can lose
//! the last commits; that is the trade every local run makes.
//!
//! No call blocks the async runtime: writes wait on a oneshot channel, reads
//! run on tokio's blocking pool.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// How long a connection waits for a lock held by another process (another
/// `tms-local` on the same file, a `sqlite3` shell) before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Reader connections at most. Reads are short; a few more than the cores
/// keeps every core busy without opening a connection per request.
const MAX_READERS: usize = 4;

/// How often the checkpointer looks for new commits to copy back. Often,
/// so that each pass is short: at 100 ms a pass under load copied for about
/// 20 ms, taking one of two cores from the requests, and showed in their
/// p99 (11 ms at 8 connections against 7 ms at 25 ms).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(25);

/// WAL frames (pages) past which the writer checkpoints the rest itself so
/// that the WAL starts again from its beginning (64 MB of 4 KiB pages).
/// That checkpoint stalls the writes behind it for about two fsyncs (10 ms
/// here), so it should be rare.
const REWIND_FRAMES: i64 = 16384;

/// Jobs committed together at most: bounds how long the first job of a
/// batch waits for the others.
const MAX_BATCH: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("SQLite: {0}")]
    Sql(#[from] rusqlite::Error),
    /// The commit (or the transaction) that a job was part of failed.
    #[error("SQLite: {}", .0.message)]
    Batch(BatchFailure),
    #[error("cannot create the directory {dir}: {reason}")]
    Directory { dir: String, reason: String },
    #[error("SQLite refused WAL journal mode (got {0})")]
    NoWal(String),
    #[error("a SQLite connection mutex is poisoned")]
    Poisoned,
    #[error("SQLite task failed: {0}")]
    Task(String),
    #[error("the SQLite writer has stopped")]
    WriterGone,
}

/// A failure shared by every job of a batch (a commit that failed), which
/// each of them reports.
#[derive(Debug, Clone)]
pub struct BatchFailure {
    busy: bool,
    message: String,
}

impl DbError {
    /// Lock contention with another process: worth retrying.
    pub fn is_busy(&self) -> bool {
        match self {
            DbError::Sql(e) => matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ),
            DbError::Batch(f) => f.busy,
            _ => false,
        }
    }

    fn shared(&self) -> BatchFailure {
        BatchFailure {
            busy: self.is_busy(),
            message: match self {
                DbError::Sql(e) => e.to_string(),
                DbError::Batch(f) => f.message.clone(),
                e => e.to_string(),
            },
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
    /// To the writer thread; it stops when the last handle is dropped.
    jobs: mpsc::Sender<Box<dyn Job>>,
    /// `None` for an in-memory database: reads go to the writer.
    readers: Option<ReaderPool>,
    /// Dropped with the last handle, which stops the checkpointer.
    _stop_checkpointer: Option<mpsc::Sender<()>>,
}

/// What the writer and the checkpointer tell each other.
#[derive(Default)]
struct WalState {
    /// Groups committed so far.
    commits: AtomicU64,
    /// The WAL is long: the writer should checkpoint the rest itself.
    rewind: AtomicBool,
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

/// The writer's own settings. Each job runs in a savepoint, whose undo
/// journal would otherwise be a temp file created and deleted per job;
/// in memory it costs nothing. A bigger page cache keeps the hot leaves of
/// every table and index. No automatic checkpoints: the checkpointer does
/// them.
fn configure_writer(conn: &Connection) -> Result<(), DbError> {
    configure(conn)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", -16 * 1024)?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    // Every statement of the store and the queue, and the transaction
    // control, stay prepared.
    conn.set_prepared_statement_cache_capacity(64);
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
        configure_writer(&conn)?;
        let checkpointer = Connection::open(path)?;
        configure(&checkpointer)?;
        let wal = Arc::new(WalState::default());
        let (stop, stopped) = mpsc::channel();
        let state = Arc::clone(&wal);
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run_checkpointer(checkpointer, state, stopped))
            .map_err(|e| DbError::Task(format!("cannot start the SQLite checkpointer: {e}")))?;
        Self::start(
            conn,
            Some(ReaderPool::new(path.to_path_buf())),
            Some((wal, stop)),
        )
    }

    /// A private in-memory database (tests, throwaway runs).
    pub fn open_in_memory() -> Result<Self, DbError> {
        let conn = Connection::open_in_memory()?;
        configure_writer(&conn)?;
        Self::start(conn, None, None)
    }

    fn start(
        conn: Connection,
        readers: Option<ReaderPool>,
        checkpointer: Option<(Arc<WalState>, mpsc::Sender<()>)>,
    ) -> Result<Self, DbError> {
        let (jobs, queue) = mpsc::channel();
        let (wal, stop) = checkpointer.unzip();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run_writer(conn, queue, wal))
            .map_err(|e| DbError::Task(format!("cannot start the SQLite writer: {e}")))?;
        Ok(SqliteDb {
            inner: Arc::new(Inner {
                jobs,
                readers,
                _stop_checkpointer: stop,
            }),
        })
    }

    /// Runs a schema script on the writer and waits for it (at start-up,
    /// outside any request).
    pub(crate) fn execute_batch(&self, sql: &str) -> Result<(), DbError> {
        let sql = sql.to_owned();
        let (tx, rx) = mpsc::channel();
        self.submit(
            move |conn: &Connection| conn.execute_batch(&sql).map_err(DbError::from),
            move |r| {
                let _ = tx.send(r);
            },
        )?;
        rx.recv().map_err(|_| DbError::WriterGone)?
    }

    /// Runs `f` on the writer, atomically (in a savepoint of the current
    /// group's transaction), and answers once that transaction committed.
    /// Every write of the store and the queue goes through here.
    pub(crate) async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit(f, move |r| {
            let _ = tx.send(r);
        })?;
        rx.await.map_err(|_| E::from(DbError::WriterGone))?
    }

    fn submit<T, E, F, R>(&self, f: F, reply: R) -> Result<(), E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        R: FnOnce(Result<T, E>) + Send + 'static,
    {
        self.inner
            .jobs
            .send(Box::new(Pending { f, reply }))
            .map_err(|_| E::from(DbError::WriterGone))
    }

    /// Runs `f` with a reader connection on the blocking pool (on the writer
    /// for an in-memory database). `f` must only read: readers are opened
    /// `query_only`.
    pub(crate) async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    {
        if self.inner.readers.is_none() {
            return self.write(f).await;
        }
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || match &inner.readers {
            Some(pool) => {
                let reader = pool.acquire()?;
                f(reader.conn())
            }
            None => Err(E::from(DbError::Task("no reader pool".into()))),
        })
        .await
        .map_err(|e| E::from(DbError::Task(e.to_string())))?
    }
}

/// A write job as the writer thread sees it.
trait Job: Send {
    /// Runs the job; `true` when it succeeded (its savepoint is kept), and
    /// what answers it once the fate of the transaction is known.
    fn run(self: Box<Self>, conn: &Connection) -> (bool, Box<dyn Done>);
    /// Answers the job without running it.
    fn refuse(self: Box<Self>, failure: BatchFailure);
}

trait Done: Send {
    /// `committed`: whether the transaction the job ran in was committed.
    fn done(self: Box<Self>, committed: Result<(), BatchFailure>);
}

struct Pending<F, R> {
    f: F,
    reply: R,
}

struct Ran<T, E, R> {
    result: Result<T, E>,
    reply: R,
}

impl<T, E, F, R> Job for Pending<F, R>
where
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
    F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    R: FnOnce(Result<T, E>) + Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> (bool, Box<dyn Done>) {
        let Pending { f, reply } = *self;
        // A panicking job must not take the writer (and every later write)
        // down with it; its savepoint is rolled back like any failure.
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| f(conn)))
            .unwrap_or_else(|_| Err(E::from(DbError::Task("a write job panicked".into()))));
        (result.is_ok(), Box::new(Ran { result, reply }))
    }

    fn refuse(self: Box<Self>, failure: BatchFailure) {
        let Pending { reply, .. } = *self;
        reply(Err(E::from(DbError::Batch(failure))));
    }
}

impl<T, E, R> Done for Ran<T, E, R>
where
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
    R: FnOnce(Result<T, E>) + Send + 'static,
{
    fn done(self: Box<Self>, committed: Result<(), BatchFailure>) {
        let answer = match (self.result, committed) {
            (Ok(v), Ok(())) => Ok(v),
            (Ok(_), Err(failure)) => Err(E::from(DbError::Batch(failure))),
            // A failed job was rolled back to its savepoint whatever came next.
            (Err(e), _) => Err(e),
        };
        (self.reply)(answer);
    }
}

/// Runs one statement through the statement cache (the writer runs these
/// few for every job).
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// The writer thread: takes the jobs waiting, runs them in one transaction,
/// commits, answers; until every handle is gone.
fn run_writer(conn: Connection, queue: mpsc::Receiver<Box<dyn Job>>, wal: Option<Arc<WalState>>) {
    let mut waiting: VecDeque<Box<dyn Job>> = VecDeque::new();
    loop {
        if waiting.is_empty() {
            match queue.recv() {
                Ok(job) => waiting.push_back(job),
                Err(_) => return,
            }
        }
        while waiting.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => waiting.push_back(job),
                Err(_) => break,
            }
        }
        run_batch(&conn, &mut waiting);
        if let Some(wal) = &wal {
            wal.commits.fetch_add(1, Ordering::Relaxed);
            if wal.rewind.swap(false, Ordering::Relaxed) {
                // A failure only leaves the WAL long until the next try.
                if let Err(e) = checkpoint(&conn) {
                    tracing::warn!(error = %e, "SQLite checkpoint by the writer failed");
                }
            }
        }
    }
}

/// A PASSIVE checkpoint: copies what it can without waiting for anyone;
/// returns how many frames the WAL holds.
fn checkpoint(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
}

/// The checkpointer thread: after new commits, copies the WAL back into the
/// database; asks the writer to finish the job when the WAL grows long.
/// Stops when `stop` is dropped (with the last handle).
fn run_checkpointer(conn: Connection, wal: Arc<WalState>, stop: mpsc::Receiver<()>) {
    let mut seen = 0;
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        let commits = wal.commits.load(Ordering::Relaxed);
        if commits == seen {
            continue;
        }
        seen = commits;
        match checkpoint(&conn) {
            Ok(frames) if frames > REWIND_FRAMES => wal.rewind.store(true, Ordering::Relaxed),
            Ok(_) => {}
            // Busy (another process checkpointing) or I/O: the next round
            // tries again.
            Err(e) => tracing::debug!(error = %e, "SQLite checkpoint failed"),
        }
    }
}

/// Runs up to `MAX_BATCH` jobs from `waiting` in one transaction. Jobs left
/// in `waiting` (after SQLite itself rolled the transaction back) run in
/// the next batch.
fn run_batch(conn: &Connection, waiting: &mut VecDeque<Box<dyn Job>>) {
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        let failure = DbError::from(e).shared();
        for job in waiting.drain(..) {
            job.refuse(failure.clone());
        }
        return;
    }
    let mut ran: Vec<Box<dyn Done>> = Vec::new();
    let mut broken: Option<BatchFailure> = None;
    let mut count = 0;
    while let Some(job) = waiting.pop_front() {
        if let Err(e) = exec(conn, "SAVEPOINT job") {
            let failure = DbError::from(e).shared();
            job.refuse(failure.clone());
            broken = Some(failure);
            break;
        }
        let (ok, done) = job.run(conn);
        let closed = if ok {
            exec(conn, "RELEASE job")
        } else {
            exec(conn, "ROLLBACK TO job").and_then(|()| exec(conn, "RELEASE job"))
        };
        if let Err(e) = closed {
            broken = Some(DbError::from(e).shared());
        } else if conn.is_autocommit() {
            // Some errors (disk full, I/O) make SQLite roll back the whole
            // transaction: the jobs before this one are lost too.
            broken = Some(BatchFailure {
                busy: false,
                message: "the transaction was rolled back by SQLite".into(),
            });
        }
        if broken.is_some() {
            // This job's own answer stands if it failed; if it succeeded,
            // its work is gone with the transaction.
            if ok {
                ran.push(done);
            } else {
                done.done(Ok(()));
            }
            break;
        }
        ran.push(done);
        count += 1;
        if count == MAX_BATCH {
            break;
        }
    }
    let outcome = match broken {
        Some(failure) => {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            Err(failure)
        }
        None => exec(conn, "COMMIT").map_err(|e| {
            let failure = DbError::from(e).shared();
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            failure
        }),
    };
    for done in ran {
        done.done(outcome.clone());
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
        db.write(|c| {
            c.execute("INSERT INTO t VALUES (1)", [])
                .map_err(DbError::from)
        })
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
            .read(|c| {
                c.execute("INSERT INTO t VALUES (2)", [])
                    .map_err(DbError::from)
            })
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
    async fn concurrent_writes_commit_in_groups_and_a_failing_one_alone_is_undone() {
        let db = SqliteDb::open_in_memory().unwrap();
        db.execute_batch("CREATE TABLE t (v INTEGER PRIMARY KEY)")
            .unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for v in 0..200i64 {
            let db = db.clone();
            tasks.spawn(async move {
                db.write(move |c| {
                    // Every fifth job writes, then fails: only its own write
                    // may be undone.
                    c.execute("INSERT INTO t VALUES (?1)", [v])?;
                    if v % 5 == 0 {
                        c.execute("INSERT INTO t VALUES (?1)", [v])?;
                    }
                    Ok::<_, DbError>(v)
                })
                .await
            });
        }
        let mut failed = 0;
        while let Some(r) = tasks.join_next().await {
            match r.unwrap() {
                Ok(v) => assert_ne!(v % 5, 0),
                Err(DbError::Sql(_)) => failed += 1,
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(failed, 40);
        let (n, bad): (i64, i64) = db
            .read(|c| {
                c.query_row(
                    "SELECT COUNT(*), COUNT(*) FILTER (WHERE v % 5 = 0) FROM t",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(DbError::from)
            })
            .await
            .unwrap();
        assert_eq!((n, bad), (160, 0));
    }

    #[tokio::test]
    async fn a_panicking_job_fails_alone_and_the_writer_lives_on() {
        let db = SqliteDb::open_in_memory().unwrap();
        db.execute_batch("CREATE TABLE t (v INTEGER)").unwrap();
        let err = db
            .write(|c| -> Result<(), DbError> {
                c.execute("INSERT INTO t VALUES (1)", [])?;
                panic!("boom")
            })
            .await
            .unwrap_err();
        assert!(matches!(err, DbError::Task(_)), "{err:?}");
        db.write(|c| {
            c.execute("INSERT INTO t VALUES (2)", [])
                .map_err(DbError::from)
        })
        .await
        .unwrap();
        let v: i64 = db
            .read(|c| {
                c.query_row("SELECT SUM(v) FROM t", [], |r| r.get(0))
                    .map_err(DbError::from)
            })
            .await
            .unwrap();
        assert_eq!(v, 2);
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
