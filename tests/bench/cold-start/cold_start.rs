//! The cold-start benchmark: a fake Lambda Runtime API on loopback serves
//! events to each function's release binary, against the local
//! AWS-compatible server with the table, queues and secrets bootstrapped,
//! and times, for each of N starts (default 20):
//!
//! - **init**: from exec to the binary's first poll of
//!   `GET /2018-06-01/runtime/invocation/next`;
//! - **first**: from handing it the first event to its response;
//! - **warm**: the same for a second event.
//!
//! The starts go in rounds (one start of each binary per round). Then
//! one process per binary answers 100 events in a row and its peak
//! RSS (`VmHWM`) is read. Beside the functions, two floors built with the
//! same profile: `floor-hello` (lambda_runtime alone) and `floor-sdk` (the
//! AWS SDK clients from the environment, nothing else). It prints a table;
//! it asserts nothing about time.
//!
//! Run by `tests/bench/cold-start.sh`, which builds the binaries first.
//! Environment: `TMS_BENCH_BIN_DIR` (the release binaries; default
//! `target/release` or `$CARGO_TARGET_DIR/release`), `TMS_BENCH_STARTS`
//! (20), `TMS_BENCH_RSS_EVENTS` (100), `AWS_ENDPOINT_URL` (the local
//! server; without it the benchmark starts `.venv/bin/moto_server` on a
//! free port and stops it at the end), `TMS_BENCH_ONLY` (comma-separated
//! binaries, to measure a few).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::{mpsc, Notify};

/// What happened at the fake Runtime API, with when.
#[derive(Debug)]
enum Seen {
    /// A `GET .../invocation/next` arrived.
    Poll(Instant),
    /// An event was handed over (the answer to a poll).
    Handed(Instant),
    /// The response (or error) of the invocation, and whether it was an error.
    Done(Instant, bool, String),
}

struct Shared {
    events: Mutex<VecDeque<Value>>,
    ready: Notify,
    seen: mpsc::UnboundedSender<Seen>,
}

async fn next(State(s): State<Arc<Shared>>) -> Response {
    let _ = s.seen.send(Seen::Poll(Instant::now()));
    let event = loop {
        let popped = s.events.lock().ok().and_then(|mut q| q.pop_front());
        if let Some(e) = popped {
            break e;
        }
        s.ready.notified().await;
    };
    let id = uuid::Uuid::new_v4().to_string();
    let deadline = (std::time::SystemTime::now() + Duration::from_secs(30))
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let mut headers = HeaderMap::new();
    let mut set = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            headers.insert(k, v);
        }
    };
    set("lambda-runtime-aws-request-id", id);
    set("lambda-runtime-deadline-ms", deadline.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:ap-southeast-1:123456789012:function:bench".into(),
    );
    set(
        "lambda-runtime-trace-id",
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0".into(),
    );
    set("content-type", "application/json".into());
    let _ = s.seen.send(Seen::Handed(Instant::now()));
    (StatusCode::OK, headers, event.to_string()).into_response()
}

async fn respond(
    State(s): State<Arc<Shared>>,
    UrlPath(_id): UrlPath<String>,
    body: String,
) -> StatusCode {
    let _ = s.seen.send(Seen::Done(Instant::now(), false, body));
    StatusCode::ACCEPTED
}

async fn error(
    State(s): State<Arc<Shared>>,
    UrlPath(_id): UrlPath<String>,
    body: String,
) -> StatusCode {
    let _ = s.seen.send(Seen::Done(Instant::now(), true, body));
    StatusCode::ACCEPTED
}

async fn init_error(State(s): State<Arc<Shared>>, body: String) -> StatusCode {
    let _ = s.seen.send(Seen::Done(Instant::now(), true, body));
    StatusCode::ACCEPTED
}

/// One fake Runtime API, for one process (a new one per start, so that a
/// poll left hanging by a killed process never takes the next one's event).
struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    seen: mpsc::UnboundedReceiver<Seen>,
    task: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    async fn start() -> RuntimeApi {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            events: Mutex::new(VecDeque::new()),
            ready: Notify::new(),
            seen: tx,
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake Runtime API");
        let addr = listener.local_addr().expect("its address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        RuntimeApi {
            addr,
            shared,
            seen: rx,
            task,
        }
    }

    fn push(&self, event: Value) {
        if let Ok(mut q) = self.shared.events.lock() {
            q.push_back(event);
        }
        self.shared.ready.notify_waiters();
        self.shared.ready.notify_one();
    }

    async fn wait(&mut self, what: &str, child: &mut Child) -> Seen {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match tokio::time::timeout(Duration::from_millis(200), self.seen.recv()).await {
                Ok(Some(s)) => return s,
                Ok(None) => panic!("the fake Runtime API stopped"),
                Err(_) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        panic!("the function exited ({status}) while waiting for {what}");
                    }
                    assert!(Instant::now() < deadline, "no {what} within 30 s");
                }
            }
        }
    }

    /// The next poll's time.
    async fn poll(&mut self, child: &mut Child) -> Instant {
        match self.wait("a poll", child).await {
            Seen::Poll(t) => t,
            other => panic!("expected a poll, got {other:?}"),
        }
    }

    /// Hands `event` to the function (it is polling or about to) and
    /// answers (handed, done, whether an error, the response body).
    async fn invoke(
        &mut self,
        event: Value,
        child: &mut Child,
    ) -> (Instant, Instant, bool, String) {
        self.push(event);
        let mut handed = None;
        loop {
            match self.wait("the response", child).await {
                Seen::Handed(t) => handed = Some(t),
                Seen::Poll(_) => {}
                Seen::Done(t, err, body) => {
                    let h = handed.expect("a response before the event was handed over");
                    return (h, t, err, body);
                }
            }
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The events, by kind.
#[derive(Clone)]
enum Event {
    /// An API Gateway HTTP API (v2) request, with an Admin's authorizer
    /// context (the functions behind the authorizer read it).
    Http {
        method: &'static str,
        path: &'static str,
        query: &'static str,
        body: Option<Value>,
    },
    /// events/sync-worker-batch.json (jobs that do not exist: each is read
    /// and discarded).
    Sqs,
    /// events/sync-sweeper-schedule.json.
    Schedule,
    /// events/authorizer-request.json (its token is not valid: denied,
    /// after the signing key is read).
    Authorizer,
    /// Anything (the floors).
    Plain,
}

/// Every binary measured and the event it gets: a read where the function
/// has one (a Query or GetItem against the table), else its one event.
fn binaries() -> Vec<(&'static str, Event)> {
    let get = |path, query| Event::Http {
        method: "GET",
        path,
        query,
        body: None,
    };
    vec![
        ("floor-hello", Event::Plain),
        ("floor-sdk", Event::Plain),
        ("course-runs", get("/course-runs", "limit=10")),
        ("audit-logs", get("/audit-logs", "day=2025-01-05")),
        ("sync-jobs", get("/sync-jobs", "status=failed")),
        ("users", get("/users", "limit=10")),
        (
            "auth",
            Event::Http {
                method: "POST",
                path: "/auth/login",
                query: "",
                body: Some(json!({"email": "nobody@example.sg", "password": "not the password"})),
            },
        ),
        ("authorizer", Event::Authorizer),
        ("trainers", get("/trainers", "limit=10")),
        ("trainees", get("/trainees", "limit=10")),
        (
            "enrolments",
            get(
                "/enrolments",
                "course_run_id=0193a4e2-7c1b-7d3e-9a51-2b7f00c0ffee",
            ),
        ),
        (
            "attendance",
            get(
                "/sessions/0193a4e2-7c1b-7d3e-9a51-2b7f00c0ffee/attendance",
                "",
            ),
        ),
        (
            "assessments",
            get(
                "/assessments",
                "enrolment_id=0193a4e2-7c1b-7d3e-9a51-2b7f00c0ffee",
            ),
        ),
        ("sync-worker", Event::Sqs),
        ("sync-sweeper", Event::Schedule),
    ]
}

/// One row of the table: its label, the binary, the event, one more
/// environment setting.
type Run<'a> = (&'a str, &'a str, &'a Event, Option<(&'a str, &'a str)>);

/// Rows that run a binary of [`binaries`] with one more setting: the
/// authorizer without its start-up read of the signing key, to show what
/// the warm-up moves from the first check into init.
fn variants() -> Vec<(&'static str, &'static str, (&'static str, &'static str))> {
    vec![(
        "authorizer-nowarm",
        "authorizer",
        ("TMS_AUTHORIZER_WARM_UP", "false"),
    )]
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..")
}

fn fixture(name: &str) -> Value {
    let path = root().join("events").join(format!("{name}.json"));
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn event_of(e: &Event) -> Value {
    match e {
        Event::Plain => json!({"hello": "bench"}),
        Event::Sqs => fixture("sync-worker-batch"),
        Event::Schedule => fixture("sync-sweeper-schedule"),
        Event::Authorizer => fixture("authorizer-request"),
        Event::Http {
            method,
            path,
            query,
            body,
        } => {
            let mut ev = fixture("get-course-run");
            let route = format!("{method} {path}");
            ev["routeKey"] = json!(route);
            ev["rawPath"] = json!(path);
            ev["rawQueryString"] = json!(query);
            ev["requestContext"]["routeKey"] = json!(route);
            ev["requestContext"]["http"]["method"] = json!(method);
            ev["requestContext"]["http"]["path"] = json!(path);
            ev["headers"]["x-correlation-id"] = json!("bench-cold-start");
            if let Some(obj) = ev.as_object_mut() {
                obj.remove("pathParameters");
                obj.remove("queryStringParameters");
            }
            if !query.is_empty() {
                let params: serde_json::Map<String, Value> = query
                    .split('&')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_string(), json!(v)))
                    .collect();
                ev["queryStringParameters"] = Value::Object(params);
            }
            if let Some(b) = body {
                ev["headers"]["content-type"] = json!("application/json");
                ev["body"] = json!(b.to_string());
            }
            ev
        }
    }
}

/// Where the local AWS-compatible server is, and the server this run
/// started (stopped at the end).
struct Aws {
    endpoint: String,
    moto: Option<Child>,
}

impl Drop for Aws {
    fn drop(&mut self) {
        if let Some(m) = &mut self.moto {
            let _ = m.kill();
            let _ = m.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn local_aws() -> Aws {
    if let Ok(e) = std::env::var("AWS_ENDPOINT_URL") {
        if !e.is_empty() {
            return Aws {
                endpoint: e,
                moto: None,
            };
        }
    }
    let moto = root().join(".venv/bin/moto_server");
    assert!(
        moto.exists(),
        "no AWS_ENDPOINT_URL and no {}: run tests/run once (it makes the venv)",
        moto.display()
    );
    let port = free_port();
    let child = Command::new(&moto)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto");
    let endpoint = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Aws {
        endpoint,
        moto: Some(child),
    }
}

/// The environment every function gets: the deployed template's names,
/// pointing at the local server.
fn environment(aws: &Aws, bin_dir: &Path) -> Vec<(String, String)> {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let names = [
        ("TMS_TABLE_NAME", format!("bench-{suffix}")),
        ("TMS_SYNC_QUEUE_NAME", format!("bench-sync-{suffix}")),
        ("TMS_SYNC_DLQ_NAME", format!("bench-dlq-{suffix}")),
        ("TMS_AUTH_SECRET_ID", format!("bench-auth-{suffix}")),
        ("TMS_PII_SECRET_ID", format!("bench-pii-{suffix}")),
        ("TMS_TPGATEWAY_SECRET_ID", format!("bench-tpg-{suffix}")),
    ];
    let mut env: Vec<(String, String)> = vec![
        ("AWS_ENDPOINT_URL".into(), aws.endpoint.clone()),
        ("AWS_ACCESS_KEY_ID".into(), "test".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
        ("AWS_REGION".into(), "ap-southeast-1".into()),
        ("AWS_DEFAULT_REGION".into(), "ap-southeast-1".into()),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
    ];
    env.extend(names.iter().map(|(k, v)| (k.to_string(), v.clone())));
    let out = Command::new(bin_dir.join("tms-bootstrap"))
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("run tms-bootstrap");
    assert!(
        out.status.success(),
        "tms-bootstrap failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let url = |label: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(label))
            .map(|u| u.trim().to_string())
            .unwrap_or_else(|| panic!("tms-bootstrap printed no {label}"))
    };
    env.push(("TMS_SYNC_QUEUE_URL".into(), url("sync queue:")));
    env.push(("TMS_SYNC_DLQ_URL".into(), url("sync dlq:")));
    env.push(("TMS_ENGINE".into(), "aws".into()));
    env.push(("RUST_LOG".into(), "info".into()));
    // What the Lambda service sets.
    for (k, v) in [
        ("AWS_LAMBDA_FUNCTION_NAME", "bench"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
        ("LAMBDA_TASK_ROOT", "/var/task"),
    ] {
        env.push((k.into(), v.into()));
    }
    env
}

fn spawn(bin: &Path, env: &[(String, String)], api: &RuntimeApi) -> Child {
    Command::new(bin)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()))
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// The peak resident set of a running process, in kB.
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

struct Figures {
    init: Vec<Duration>,
    first: Vec<Duration>,
    warm: Vec<Duration>,
    errors: Vec<String>,
    peak_rss_kb: Option<u64>,
    size: u64,
}

fn median(v: &[Duration]) -> Duration {
    let mut s = v.to_vec();
    s.sort();
    s.get(s.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Whether an answer is the function failing rather than answering: the
/// runtime's error call, or an HTTP function's 5xx.
fn failed(err: bool, body: &str) -> bool {
    err || serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("statusCode").and_then(Value::as_u64))
        .is_some_and(|s| s >= 500)
}

/// A row being measured: label, binary, event, environment, figures.
type Row = (String, PathBuf, Value, Vec<(String, String)>, Figures);

fn figures(bin: &Path) -> Figures {
    Figures {
        init: Vec::new(),
        first: Vec::new(),
        warm: Vec::new(),
        errors: Vec::new(),
        peak_rss_kb: None,
        size: std::fs::metadata(bin).map(|m| m.len()).unwrap_or_default(),
    }
}

/// One cold start: exec, first poll, a first and a second invocation.
async fn start_once(bin: &Path, event: &Value, env: &[(String, String)], f: &mut Figures) {
    let mut api = RuntimeApi::start().await;
    let t0 = Instant::now();
    let mut child = spawn(bin, env, &api);
    let polled = api.poll(&mut child).await;
    f.init.push(polled - t0);
    for (i, into) in [&mut f.first, &mut f.warm].into_iter().enumerate() {
        let (handed, done, err, body) = api.invoke(event.clone(), &mut child).await;
        into.push(done - handed);
        if failed(err, &body) && f.errors.len() < 3 {
            f.errors.push(format!(
                "invocation {}: {}",
                i + 1,
                body.chars().take(300).collect::<String>()
            ));
        }
    }
    stop(child);
}

/// The peak RSS of one process answering `events` invocations in a row.
async fn peak_rss(
    bin: &Path,
    event: &Value,
    env: &[(String, String)],
    events: usize,
) -> Option<u64> {
    let mut api = RuntimeApi::start().await;
    let mut child = spawn(bin, env, &api);
    api.poll(&mut child).await;
    for _ in 0..events {
        api.invoke(event.clone(), &mut child).await;
    }
    let kb = peak_rss_kb(child.id());
    stop(child);
    kb
}

#[tokio::main]
async fn main() {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("target"));
    let bin_dir = std::env::var("TMS_BENCH_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| target.join("release"));
    let starts: usize = std::env::var("TMS_BENCH_STARTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let rss_events: usize = std::env::var("TMS_BENCH_RSS_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let only: Option<Vec<String>> = std::env::var("TMS_BENCH_ONLY")
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect());
    let aws = local_aws();
    let env = environment(&aws, &bin_dir);
    println!(
        "cold start: {starts} starts per binary, peak RSS over {rss_events} events; binaries in {}; local AWS at {}",
        bin_dir.display(),
        aws.endpoint
    );
    let mut rows: Vec<(String, Figures)> = Vec::new();
    let all = binaries();
    let mut runs: Vec<Run> = all.iter().map(|(n, e)| (*n, *n, e, None)).collect();
    for (label, bin, setting) in variants() {
        if let Some((_, e)) = all.iter().find(|(n, _)| *n == bin) {
            runs.push((label, bin, e, Some(setting)));
        }
    }
    // The starts go in rounds, one start of every binary per round, so
    // that a machine that gets busier or quieter during the run moves
    // every row alike (the floors included) rather than the rows measured
    // at that time.
    let mut table: Vec<Row> = Vec::new();
    for (label, name, event, setting) in runs {
        if only.as_ref().is_some_and(|o| {
            !o.iter().any(|n| n == name || n == label) && !name.starts_with("floor-")
        }) {
            continue;
        }
        let bin = bin_dir.join(name);
        if !bin.exists() {
            println!("{name}: no binary at {} (build it first)", bin.display());
            continue;
        }
        let mut env = env.clone();
        if let Some((k, v)) = setting {
            env.push((k.to_string(), v.to_string()));
        }
        let f = figures(&bin);
        table.push((label.to_string(), bin, event_of(event), env, f));
    }
    for _ in 0..starts {
        for (_, bin, event, env, f) in table.iter_mut() {
            start_once(bin, event, env, f).await;
        }
    }
    for (label, bin, event, env, mut f) in table {
        f.peak_rss_kb = peak_rss(&bin, &event, &env, rss_events).await;
        rows.push((label, f));
    }
    let floor = rows
        .iter()
        .find(|(n, _)| n == "floor-sdk")
        .map(|(_, f)| median(&f.init));
    println!();
    println!(
        "{:<18} {:>24} {:>9} {:>10} {:>10} {:>10} {:>9} {:>9}",
        "binary",
        "init ms med (min-max)",
        "init/sdk",
        "first ms",
        "warm ms",
        "first/warm",
        "RSS MB",
        "size MB"
    );
    for (name, f) in &rows {
        let (lo, hi) = (
            f.init.iter().min().copied().unwrap_or_default(),
            f.init.iter().max().copied().unwrap_or_default(),
        );
        let init = median(&f.init);
        let (first, warm) = (median(&f.first), median(&f.warm));
        println!(
            "{:<18} {:>8.2} ({:>6.2}-{:>6.2}) {:>9} {:>10.2} {:>10.2} {:>10.2} {:>9} {:>9.1}",
            name,
            ms(init),
            ms(lo),
            ms(hi),
            floor
                .filter(|f| !f.is_zero())
                .map(|fl| format!("{:.2}", init.as_secs_f64() / fl.as_secs_f64()))
                .unwrap_or_else(|| "-".into()),
            ms(first),
            ms(warm),
            if warm.is_zero() {
                0.0
            } else {
                first.as_secs_f64() / warm.as_secs_f64()
            },
            f.peak_rss_kb
                .map(|k| format!("{:.1}", k as f64 / 1024.0))
                .unwrap_or_else(|| "-".into()),
            f.size as f64 / 1_048_576.0,
        );
    }
    for (name, f) in &rows {
        for e in &f.errors {
            println!("{name}: the function failed: {e}");
        }
    }
}
