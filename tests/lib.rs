//! Helpers shared by the integration tests: engines to test against, the
//! system under test with request helpers, and the one macro that runs a
//! test on both engine sets.
//!
//! AWS engines use the local AWS-compatible server at TMS_TEST_AWS_ENDPOINT,
//! with dummy credentials; every call creates its own table or queues with
//! unique names, so tests run in parallel without resetting the server.

use aws_config::{BehaviorVersion, Region, SdkConfig};

/// The endpoint of the local AWS-compatible server. Panics with a clear
/// message when the tests were started without it.
pub fn aws_endpoint() -> String {
    match std::env::var("TMS_TEST_AWS_ENDPOINT") {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "TMS_TEST_AWS_ENDPOINT is not set: run the tests with `tests/run`, \
             which starts the local AWS-compatible server (moto) and sets it"
        ),
    }
}

/// SDK configuration pointing at the local server with dummy credentials.
pub async fn aws_config() -> SdkConfig {
    let creds = aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "tests");
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(aws_endpoint())
        .region(Region::new("ap-southeast-1"))
        .credentials_provider(creds)
        .load()
        .await
}

/// A unique resource name for one test.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

// ---------------------------------------------------------------------------
// The system under test on either engine set, driven through its router.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use tms_app::{Actor, App, UuidV7Ids};
use tms_ports::clock::SystemClock;

/// Counts AWS operations by name (GetItem, Query, TransactWriteItems,
/// SendMessage, ...), as the SDK executes them.
#[derive(Debug, Default)]
pub struct CallCounter(Mutex<BTreeMap<String, u32>>);

impl CallCounter {
    pub fn take(&self) -> BTreeMap<String, u32> {
        match self.0.lock() {
            Ok(mut m) => std::mem::take(&mut *m),
            Err(_) => BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone)]
struct CountingInterceptor(Arc<CallCounter>);

impl Intercept for CountingInterceptor {
    fn name(&self) -> &'static str {
        "tms-test-call-counter"
    }

    // Once per operation, after the operation's configuration (which holds
    // its name) is applied; not per retry attempt.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            if let Ok(mut counts) = (self.0).0.lock() {
                *counts.entry(m.name().to_string()).or_default() += 1;
            }
        }
        Ok(())
    }
}

/// Runs each named test on both engine sets, as `$sqlite` and `$aws`.
///
/// `on_both_engines! { systems; name => sqlite_name, aws_name; }` calls
/// `name(TestSystem)` with a fresh system of each engine set. Without
/// `systems;`, the calling module says how to run a test with two macros
/// defined before the call, `run_sqlite!(name)` and `run_aws!(name)` (the
/// conformance suites build an adapter rather than a system).
#[macro_export]
macro_rules! on_both_engines {
    (systems; $($name:ident => $sqlite:ident, $aws:ident;)*) => {$(
        #[tokio::test]
        async fn $sqlite() {
            $name($crate::TestSystem::start($crate::Engine::Sqlite).await).await
        }
        #[tokio::test]
        async fn $aws() {
            $name($crate::TestSystem::start($crate::Engine::Aws).await).await
        }
    )*};
    (with_fake $cfg:expr; $($name:ident => $sqlite:ident, $aws:ident;)*) => {$(
        #[tokio::test]
        async fn $sqlite() {
            $name($crate::TestSystem::with_fake($crate::Engine::Sqlite, $cfg).await).await
        }
        #[tokio::test]
        async fn $aws() {
            $name($crate::TestSystem::with_fake($crate::Engine::Aws, $cfg).await).await
        }
    )*};
    (synced; $($body:tt)*) => {
        $crate::on_both_engines! { with_fake tms_fake_tpgateway::FakeConfig::oauth(); $($body)* }
    };
    (synced_cert; $($body:tt)*) => {
        $crate::on_both_engines! { with_fake tms_fake_tpgateway::FakeConfig::certificate(); $($body)* }
    };
    ($($name:ident => $sqlite:ident, $aws:ident;)*) => {$(
        #[tokio::test]
        async fn $sqlite() {
            run_sqlite!($name)
        }
        #[tokio::test]
        async fn $aws() {
            run_aws!($name)
        }
    )*};
}

/// Test logs, only when asked: `TMS_TEST_LOG=debug cargo test ...` prints
/// the system's log lines (captured per test by the test harness).
pub fn init_test_logging() {
    if let Ok(filter) = std::env::var("TMS_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

/// Which engine set a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Aws,
}

/// A SQLite file removed (with its WAL files) when dropped.
pub struct TempDb(pub PathBuf);

impl TempDb {
    pub fn new(prefix: &str) -> Self {
        TempDb(
            std::env::temp_dir().join(format!("{prefix}-{}.sqlite", uuid::Uuid::new_v4().simple())),
        )
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

/// One running system: the app, its HTTP router, and ways to look inside.
pub struct TestSystem {
    pub engine: Engine,
    pub app: App,
    /// The fake TPGateway the app syncs to (systems started with one).
    pub fake: Option<tms_fake_tpgateway::FakeTpg>,
    pub router: axum::Router,
    /// AWS calls made (Aws engine only).
    pub calls: Option<Arc<CallCounter>>,
    dynamo: Option<(aws_sdk_dynamodb::Client, String)>,
    /// The SQS client and the main and dead-letter queue URLs.
    sqs: Option<(aws_sdk_sqs::Client, String, String)>,
    sqlite: Option<TempDb>,
}

/// The JSON content type header.
pub const JSON: (&str, &str) = ("content-type", "application/json");

pub const TEST_ACTOR: &str = "test-admin";

impl TestSystem {
    /// A fresh system: a new SQLite file, or a new table and queue pair on
    /// the local AWS-compatible server.
    pub async fn start(engine: Engine) -> TestSystem {
        init_test_logging();
        match engine {
            Engine::Sqlite => {
                let db = TempDb::new("tms-api");
                let cfg = tms_runtime::Config {
                    sqlite_path: db.0.clone(),
                    ..test_config()
                };
                let app = tms_runtime::embedded_app(&cfg).expect("embedded app");
                TestSystem::assemble(engine, app, None, None, None, Some(db))
            }
            Engine::Aws => {
                let sdk = aws_config().await;
                let counter = Arc::new(CallCounter::default());
                let dynamo = aws_sdk_dynamodb::Client::from_conf(
                    aws_sdk_dynamodb::config::Builder::from(&sdk)
                        .interceptor(CountingInterceptor(counter.clone()))
                        .build(),
                );
                let sqs = aws_sdk_sqs::Client::from_conf(
                    aws_sdk_sqs::config::Builder::from(&sdk)
                        .interceptor(CountingInterceptor(counter.clone()))
                        .build(),
                );
                let res = tms_infra::resources().expect("resources.json");
                let table = unique_name("tms-api");
                tms_infra::ensure_table(&dynamo, &table, &res.table)
                    .await
                    .expect("create table");
                let urls = tms_infra::ensure_queues(
                    &sqs,
                    &unique_name("tms-sync"),
                    &unique_name("tms-dlq"),
                    &res,
                )
                .await
                .expect("create queues");
                let app = App {
                    store: Arc::new(tms_adapters::dynamodb::DynamoStore::new(
                        dynamo.clone(),
                        table.clone(),
                    )),
                    queue: Arc::new(tms_adapters::sqs::SqsQueue::new(
                        sqs.clone(),
                        urls.main_url.clone(),
                        urls.dlq_url.clone(),
                    )),
                    clock: Arc::new(SystemClock),
                    ids: Arc::new(UuidV7Ids),
                    tpgateway: tms_runtime::local_tpgateway(&test_config().tpgateway)
                        .expect("tpgateway client"),
                    sync: test_sync_settings(),
                    auth: tms_runtime::auth_keys(&test_config(), None),
                    pii: tms_runtime::pii_vault(&test_config(), None),
                };
                counter.take();
                let sqs = Some((sqs, urls.main_url, urls.dlq_url));
                TestSystem::assemble(engine, app, Some(counter), Some((dynamo, table)), sqs, None)
            }
        }
    }

    /// The same system with another app (e.g. a failing queue).
    pub fn with_app(self, app: App) -> TestSystem {
        let TestSystem {
            engine,
            calls,
            dynamo,
            sqs,
            sqlite,
            fake,
            ..
        } = self;
        let mut sys = TestSystem::assemble(engine, app, calls, dynamo, sqs, sqlite);
        sys.fake = fake;
        sys
    }

    /// A fresh system that syncs to a new fake TPGateway over real HTTP.
    /// On the AWS engines the connection's secret is stored in Secrets
    /// Manager (the local server) and read from there, as in AWS.
    pub async fn with_fake(engine: Engine, cfg: tms_fake_tpgateway::FakeConfig) -> TestSystem {
        let sys = TestSystem::start(engine).await;
        let fake = tms_fake_tpgateway::FakeTpg::start(cfg)
            .await
            .expect("start the fake TPGateway");
        let doc = fake.secret_json().to_string();
        let mut tpg = test_config().tpgateway;
        tpg.ca_pem = fake.ca_pem();
        let gateway = match engine {
            Engine::Sqlite => {
                tpg.inline_secret = Some(doc);
                tms_runtime::local_tpgateway(&tpg).expect("tpgateway client")
            }
            Engine::Aws => {
                let sm = aws_sdk_secretsmanager::Client::new(&aws_config().await);
                let name = unique_name("tms-tpgateway");
                sm.create_secret()
                    .name(&name)
                    .secret_string(doc)
                    .send()
                    .await
                    .expect("create the TPGateway secret");
                let secrets = tms_adapters::secretsmanager::SecretsManagerSecrets::new(sm);
                tms_runtime::tpgateway_client(&tpg, Arc::new(secrets), &name)
                    .expect("tpgateway client")
            }
        };
        let app = App {
            tpgateway: gateway,
            ..sys.app.clone()
        };
        let mut sys = sys.with_app(app);
        sys.fake = Some(fake);
        sys
    }

    /// The fake TPGateway (systems started `with_fake`).
    pub fn fake(&self) -> &tms_fake_tpgateway::FakeTpg {
        self.fake.as_ref().expect("a system started with_fake")
    }

    /// Runs the worker until the queue has no visible message: receives,
    /// handles and settles each batch as the local loop does. Returns how
    /// many messages were handled.
    pub async fn work(&self) -> usize {
        let mut handled = 0;
        for _ in 0..200 {
            let batch = self
                .app
                .queue
                .receive(tms_ports::QueueName::Main, 10, 30, 0)
                .await
                .expect("receive");
            if batch.is_empty() {
                return handled;
            }
            handled += batch.len();
            let records = batch
                .into_iter()
                .map(|m| tms_runtime::worker::BatchRecord {
                    message_id: m.message_id,
                    receipt_handle: m.receipt_handle,
                    body: m.body,
                    receive_count: m.receive_count,
                    correlation_id: m.attributes.get("correlation_id").cloned(),
                })
                .collect::<Vec<_>>();
            for r in &records {
                let outcome = self.app.handle_sync_message(&r.body, r.receive_count).await;
                tms_runtime::loops::settle(&self.app, &r.receipt_handle, outcome).await;
            }
        }
        panic!("the worker did not run dry after 200 batches");
    }

    fn assemble(
        engine: Engine,
        app: App,
        calls: Option<Arc<CallCounter>>,
        dynamo: Option<(aws_sdk_dynamodb::Client, String)>,
        sqs: Option<(aws_sdk_sqs::Client, String, String)>,
        sqlite: Option<TempDb>,
    ) -> TestSystem {
        let router = tms_http::router(
            app.clone(),
            tms_http::ActorSource::Fixed(Actor {
                user_id: TEST_ACTOR.into(),
                roles: vec![tms_domain::access::Role::Admin],
            }),
            &tms_http::Resource::ALL,
        );
        TestSystem {
            engine,
            app,
            fake: None,
            router,
            calls,
            dynamo,
            sqs,
            sqlite,
        }
    }

    /// Every item in the table, as (PK, SK) pairs, sorted.
    pub async fn all_keys(&self) -> Vec<(String, String)> {
        let mut keys: Vec<(String, String)> = self
            .all_versions()
            .await
            .into_iter()
            .map(|(pk, sk, _)| (pk, sk))
            .collect();
        keys.sort();
        keys
    }

    /// Every item's key and version, sorted: what a test compares before
    /// and after to prove nothing was written. Test-only: it scans, which no
    /// request path does.
    pub async fn all_versions(&self) -> Vec<(String, String, u64)> {
        let mut out = Vec::new();
        if let Some((client, table)) = &self.dynamo {
            let mut start = None;
            loop {
                let page = client
                    .scan()
                    .table_name(table)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .expect("scan");
                for item in page.items() {
                    let s = |k: &str| {
                        item.get(k)
                            .and_then(|v| v.as_s().ok())
                            .cloned()
                            .unwrap_or_default()
                    };
                    let version = item
                        .get("version")
                        .and_then(|v| v.as_n().ok())
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0);
                    out.push((s("PK"), s("SK"), version));
                }
                match page.last_evaluated_key {
                    Some(k) if !k.is_empty() => start = Some(k),
                    _ => break,
                }
            }
            if let Some(c) = &self.calls {
                c.take();
            }
        }
        if let Some(db) = &self.sqlite {
            let conn = rusqlite::Connection::open(&db.0).expect("open sqlite");
            let mut stmt = conn
                .prepare("SELECT pk, sk, version FROM items")
                .expect("prepare");
            let rows = stmt
                .query_map([], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64))
                })
                .expect("query");
            for r in rows {
                out.push(r.expect("row"));
            }
        }
        out.sort();
        out
    }

    /// Every stored item, whole, as text (every attribute: keys, index
    /// keys, data): for tests that prove a value is stored nowhere.
    /// Test-only: it scans.
    pub async fn all_items_text(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some((client, table)) = &self.dynamo {
            let mut start = None;
            loop {
                let page = client
                    .scan()
                    .table_name(table)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .expect("scan");
                for item in page.items() {
                    out.push(format!("{item:?}"));
                }
                match page.last_evaluated_key {
                    Some(k) if !k.is_empty() => start = Some(k),
                    _ => break,
                }
            }
            if let Some(c) = &self.calls {
                c.take();
            }
        }
        if let Some(db) = &self.sqlite {
            let conn = rusqlite::Connection::open(&db.0).expect("open sqlite");
            let mut stmt = conn
                .prepare(
                    "SELECT pk, sk, entity_type, gsi1pk, gsi1sk, gsi2pk, gsi2sk, gsi3pk, gsi3sk, data FROM items",
                )
                .expect("prepare");
            let rows = stmt
                .query_map([], |r| {
                    let mut cols = Vec::new();
                    for i in 0..10 {
                        cols.push(r.get::<_, Option<String>>(i)?.unwrap_or_default());
                    }
                    Ok(cols.join(" | "))
                })
                .expect("query");
            for r in rows {
                out.push(r.expect("row"));
            }
        }
        out
    }

    /// Messages in the sync queue (visible or not) and its dead-letter
    /// queue.
    pub async fn message_counts(&self) -> (u64, u64) {
        if let Some(db) = &self.sqlite {
            let conn = rusqlite::Connection::open(&db.0).expect("open sqlite");
            let count = |q: &str| -> u64 {
                conn.query_row(
                    "SELECT COUNT(*) FROM queue_messages WHERE queue = ?1",
                    [q],
                    |r| r.get::<_, i64>(0),
                )
                .expect("count") as u64
            };
            return (count("main"), count("dlq"));
        }
        let (sqs, main, dlq) = self.sqs.as_ref().expect("an SQS queue pair");
        let mut counts = [0u64; 2];
        for (slot, url) in counts.iter_mut().zip([main, dlq]) {
            let attrs = sqs
                .get_queue_attributes()
                .queue_url(url.as_str())
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
                .send()
                .await
                .expect("queue attributes");
            let a = attrs.attributes().cloned().unwrap_or_default();
            use aws_sdk_sqs::types::QueueAttributeName as N;
            for name in [
                N::ApproximateNumberOfMessages,
                N::ApproximateNumberOfMessagesNotVisible,
                N::ApproximateNumberOfMessagesDelayed,
            ] {
                *slot += a
                    .get(&name)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
        if let Some(c) = &self.calls {
            c.take();
        }
        (counts[0], counts[1])
    }

    /// Sends one request through the router.
    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Reply {
        call(&self.router, method, uri, headers, body).await
    }

    /// POST with a JSON body and extra headers.
    pub async fn post(&self, uri: &str, body: &serde_json::Value, extra: &[(&str, &str)]) -> Reply {
        let mut h = vec![JSON];
        h.extend_from_slice(extra);
        self.call("POST", uri, &h, Some(body.to_string().into_bytes()))
            .await
    }

    /// PATCH with a JSON body and, when given, If-Match.
    pub async fn patch(
        &self,
        uri: &str,
        body: &serde_json::Value,
        if_match: Option<&str>,
    ) -> Reply {
        let mut h = vec![JSON];
        if let Some(m) = if_match {
            h.push(("if-match", m));
        }
        self.call("PATCH", uri, &h, Some(body.to_string().into_bytes()))
            .await
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.call("GET", uri, &[], None).await
    }

    /// Creates a run (201 expected) and returns its id and the reply.
    pub async fn create_run(&self, body: &serde_json::Value) -> (String, Reply) {
        let r = self.post("/course-runs", body, &[]).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        (r.body["id"].as_str().expect("id").to_string(), r)
    }

    /// Receives (and hides) every visible message of the sync queue.
    pub async fn receive_all(&self) -> Vec<tms_ports::ReceivedMessage> {
        let mut all = Vec::new();
        loop {
            let batch = self
                .app
                .queue
                .receive(tms_ports::QueueName::Main, 10, 30, 0)
                .await
                .expect("receive");
            if batch.is_empty() {
                break;
            }
            all.extend(batch);
        }
        all
    }

    /// The actions of an entity's audit trail, newest first.
    pub async fn audit_actions(&self, entity_type: &str, id: &str) -> Vec<String> {
        let r = self
            .get(&format!(
                "/audit-logs?entity_type={entity_type}&entity_id={id}"
            ))
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        r.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|a| a["action"].as_str().unwrap_or("").to_string())
            .collect()
    }

    /// AWS calls since the last take (Aws engine only; empty otherwise).
    pub fn take_calls(&self) -> BTreeMap<String, u32> {
        self.calls.as_ref().map(|c| c.take()).unwrap_or_default()
    }
}

/// The configuration tests use (engine fields are set by the caller).
pub fn test_config() -> tms_runtime::Config {
    tms_runtime::Config {
        engine: tms_runtime::Engine::Embedded,
        sqlite_path: PathBuf::from("unused.sqlite"),
        table_name: "tms".into(),
        queue_url: None,
        dlq_url: None,
        queue_name: "tms-sync".into(),
        dlq_name: "tms-sync-dlq".into(),
        bootstrap: false,
        bind: "127.0.0.1:0".into(),
        auth: test_auth_config(),
        pii: tms_runtime::config::PiiConfig {
            secret_file: None,
            secret_id: "tms/pii".into(),
            inline_secret: Some(tms_auth::pii::PiiKeys::generate_document()),
        },
        sweep_interval: std::time::Duration::from_secs(60),
        requeue_after: std::time::Duration::from_secs(300),
        worker_visibility_timeout: std::time::Duration::from_secs(30),
        worker_loops: 1,
        cors_origins: Vec::new(),
        tpgateway: tms_runtime::TpGatewayConfig {
            secret_file: None,
            secret_id: "unused".into(),
            secret_ttl: std::time::Duration::from_secs(300),
            ca_pem: None,
            timeouts: Vec::new(),
            inline_secret: None,
        },
        sync: test_sync_settings(),
    }
}

/// Sign-in for tests: a random signing key held in memory.
pub fn test_auth_config() -> tms_runtime::config::AuthConfig {
    tms_runtime::config::AuthConfig {
        secret_file: None,
        secret_id: "tms/auth".into(),
        inline_secret: Some(tms_runtime::random_auth_secret()),
        settings: tms_app::auth::AuthSettings::default(),
        bootstrap_admin: None,
        warm_up: true,
    }
}

/// Sync pacing for tests: retries at once (the queue's visibility is set
/// to the delay), a short lease.
pub fn test_sync_settings() -> tms_app::SyncSettings {
    tms_app::SyncSettings {
        lease: std::time::Duration::from_secs(30),
        backoff_base: std::time::Duration::ZERO,
        backoff_max: std::time::Duration::ZERO,
        max_receive_count: tms_infra::resources()
            .map(|r| r.sync_queue.max_receive_count)
            .unwrap_or(5),
    }
}

/// An HTTP response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: serde_json::Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// The field names of a problem+json's errors.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Sends one request through a router.
pub async fn call(
    router: &axum::Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Reply {
    use tower::ServiceExt;
    let mut b = http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b
        .body(axum::body::Body::from(body.unwrap_or_default()))
        .expect("request");
    let res = router.clone().oneshot(req).await.expect("infallible");
    read_reply(res).await
}

pub async fn read_reply(res: axum::response::Response) -> Reply {
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .expect("body");
    let body = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned())
        })
    };
    Reply {
        status,
        headers,
        body,
    }
}
