//! Process wiring shared by every binary: configuration from the
//! environment, JSON logging, building the application on the chosen
//! engines, and the in-process worker and sweeper loops of the local run.
//!
//! Features (none by default, so that a Lambda links only the AWS wiring):
//! `embedded` adds the SQLite engine and the local loops, `bootstrap` the
//! creation of the table and queues at start (`TMS_BOOTSTRAP=true`).

#[cfg(feature = "authorizer-events")]
pub mod authorizer;
pub mod config;
#[cfg(feature = "embedded")]
pub mod loops;
#[cfg(feature = "sqs-events")]
pub mod sqs_events;
pub mod worker;

use std::sync::Arc;

use tms_adapters::dynamodb::DynamoStore;
use tms_adapters::local_secrets::LocalSecrets;
use tms_adapters::secretsmanager::SecretsManagerSecrets;
#[cfg(feature = "embedded")]
use tms_adapters::sqlite_db::{DbError, SqliteDb};
#[cfg(feature = "embedded")]
use tms_adapters::sqlite_queue::{SqliteQueue, SqliteQueueConfig};
#[cfg(feature = "embedded")]
use tms_adapters::sqlite_store::SqliteStore;
use tms_adapters::sqs::SqsQueue;
use tms_adapters::tpgateway_http::{HttpTpGateway, HttpTpGatewayConfig};
use tms_app::{App, UuidV7Ids};
use tms_http::ActorSource;
use tms_ports::clock::SystemClock;
use tms_ports::{Secrets, TpGateway};

pub use config::{Config, ConfigError, Engine, ServerLimits, TpGatewayConfig};

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("store: {0}")]
    Store(#[from] tms_ports::StoreError),
    #[error("queue: {0}")]
    Queue(#[from] tms_ports::QueueError),
    #[cfg(any(feature = "embedded", feature = "bootstrap"))]
    #[error("infrastructure: {0}")]
    Infra(#[from] tms_infra::InfraError),
    #[cfg(feature = "embedded")]
    #[error("embedded database: {0}")]
    Db(#[from] DbError),
    #[error("{0} is not built into this binary")]
    NotBuilt(&'static str),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("creating the first admin: {0}")]
    Bootstrap(tms_app::AppError),
    #[error("the national-id key file: {0}")]
    PiiKeys(String),
}

/// The secret's name in the local secrets adapter.
const LOCAL_SECRET_ID: &str = "tpgateway";

/// The secrets the local run reads: the file named by
/// TMS_TPGATEWAY_SECRET_FILE, else the in-memory document (the in-process
/// fake's), else none (jobs then wait, retrying, until one is configured).
fn local_secrets(cfg: &TpGatewayConfig) -> LocalSecrets {
    match (&cfg.secret_file, &cfg.inline_secret) {
        (Some(path), _) => LocalSecrets::new().with_file(LOCAL_SECRET_ID, path.clone()),
        (None, Some(doc)) => LocalSecrets::new().with_value(LOCAL_SECRET_ID, doc.clone()),
        (None, None) => LocalSecrets::new(),
    }
}

/// The TPGateway client over the given secrets source.
pub fn tpgateway_client(
    cfg: &TpGatewayConfig,
    secrets: Arc<dyn Secrets>,
    secret_id: &str,
) -> Result<Arc<dyn TpGateway>, RuntimeError> {
    let mut client = HttpTpGatewayConfig::new(secret_id);
    client.secret_ttl = cfg.secret_ttl;
    client.timeouts = cfg.timeouts.clone();
    client.trusted_ca_pem = cfg.ca_pem.clone();
    Ok(Arc::new(HttpTpGateway::new(secrets, client)))
}

/// The TPGateway client of a local run (secret from a file or memory).
pub fn local_tpgateway(cfg: &TpGatewayConfig) -> Result<Arc<dyn TpGateway>, RuntimeError> {
    tpgateway_client(cfg, Arc::new(local_secrets(cfg)), LOCAL_SECRET_ID)
}

/// JSON logs, one line per event, level from RUST_LOG (default info). Each
/// line carries the fields of every enclosing span: the request span's
/// function, correlation id, method and route, and in Lambda the runtime's
/// invocation span with the request id. Fields never include personal data:
/// handlers log ids and counts only.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_span_list(true)
        .with_target(false)
        .try_init();
}

/// The acting user: the access token of each request, checked with the
/// app's signing key.
pub fn actor_source(app: &App) -> ActorSource {
    ActorSource::Token(app.auth.clone())
}

/// A random signing-key document, for a local run without a key file (its
/// tokens end with the process).
pub fn random_auth_secret() -> String {
    tms_auth::key::SigningKey::generate_document()
}

/// The signing key's source: a file, a document in memory, or (AWS)
/// Secrets Manager.
pub fn auth_keys(
    cfg: &Config,
    sdk: Option<&aws_config::SdkConfig>,
) -> Arc<tms_app::auth::AuthKeys> {
    let a = &cfg.auth;
    let secrets: Arc<dyn Secrets> = match (&a.secret_file, &a.inline_secret, sdk) {
        (Some(path), _, _) => {
            Arc::new(LocalSecrets::new().with_file(a.secret_id.clone(), path.clone()))
        }
        (None, Some(doc), _) => {
            Arc::new(LocalSecrets::new().with_value(a.secret_id.clone(), doc.clone()))
        }
        (None, None, Some(sdk)) => Arc::new(SecretsManagerSecrets::new(
            aws_sdk_secretsmanager::Client::new(sdk),
        )),
        (None, None, None) => Arc::new(LocalSecrets::new()),
    };
    Arc::new(tms_app::auth::AuthKeys::new(secrets, a.settings.clone()))
}

/// The national-id keys' source: a file, a document in memory, or (AWS)
/// Secrets Manager.
pub fn pii_vault(cfg: &Config, sdk: Option<&aws_config::SdkConfig>) -> Arc<tms_app::pii::PiiVault> {
    let p = &cfg.pii;
    let secrets: Arc<dyn Secrets> = match (&p.secret_file, &p.inline_secret, sdk) {
        (Some(path), _, _) => {
            Arc::new(LocalSecrets::new().with_file(p.secret_id.clone(), path.clone()))
        }
        (None, Some(doc), _) => {
            Arc::new(LocalSecrets::new().with_value(p.secret_id.clone(), doc.clone()))
        }
        (None, None, Some(sdk)) => Arc::new(SecretsManagerSecrets::new(
            aws_sdk_secretsmanager::Client::new(sdk),
        )),
        (None, None, None) => Arc::new(LocalSecrets::new()),
    };
    Arc::new(tms_app::pii::PiiVault::new(secrets, p.secret_id.clone()))
}

/// The local run's national-id key file: the named one, or one beside the
/// SQLite file, made (owner-only) on first start. Losing it makes the
/// stored national ids unreadable: back it up with the database.
pub fn ensure_local_pii_keys(cfg: &mut Config) -> Result<std::path::PathBuf, RuntimeError> {
    if let Some(p) = &cfg.pii.secret_file {
        return Ok(p.clone());
    }
    let mut name = cfg.sqlite_path.clone().into_os_string();
    name.push(".pii-keys.json");
    let path = std::path::PathBuf::from(name);
    if !path.exists() {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| RuntimeError::PiiKeys(e.to_string()))?;
        }
        let doc = tms_auth::pii::PiiKeys::generate_document();
        write_private(&path, &doc).map_err(|e| RuntimeError::PiiKeys(e.to_string()))?;
        tracing::info!(path = %path.display(), "made the national-id key file");
    }
    cfg.pii.secret_file = Some(path.clone());
    Ok(path)
}

/// Writes a file readable by its owner only (where the OS has modes).
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())
}

/// Creates the configured first Admin when no user has that e-mail yet.
pub async fn ensure_bootstrap_admin(app: &App, cfg: &Config) -> Result<(), RuntimeError> {
    if let Some((email, password)) = &cfg.auth.bootstrap_admin {
        let created = app
            .ensure_admin(email, tms_domain::types::Password::new(password.clone()))
            .await
            .map_err(RuntimeError::Bootstrap)?;
        if created {
            tracing::info!("the first admin was created");
        }
    }
    Ok(())
}

/// The application on the engines the configuration names.
pub async fn build_app(cfg: &Config) -> Result<App, RuntimeError> {
    match cfg.engine {
        #[cfg(feature = "embedded")]
        Engine::Embedded => embedded_app(cfg),
        #[cfg(not(feature = "embedded"))]
        Engine::Embedded => Err(RuntimeError::NotBuilt(
            "the embedded engine (TMS_ENGINE=embedded)",
        )),
        Engine::Aws => aws_app(cfg).await,
    }
}

/// [`build_app`] for a binary that never handles a sync message (every
/// Lambda but the sync worker): on the AWS engines its TPGateway is
/// [`NoTpGateway`], so that the binary does not link the TPGateway HTTP
/// client (reqwest) nor build one at start. A choice made here and not by
/// a cargo feature: `sam build` builds every Lambda with the features of
/// all of them, the sync worker's included.
pub async fn build_app_without_tpgateway(cfg: &Config) -> Result<App, RuntimeError> {
    match cfg.engine {
        #[cfg(feature = "embedded")]
        Engine::Embedded => embedded_app(cfg),
        #[cfg(not(feature = "embedded"))]
        Engine::Embedded => Err(RuntimeError::NotBuilt(
            "the embedded engine (TMS_ENGINE=embedded)",
        )),
        Engine::Aws => aws_app_with(cfg, |_, _| Ok(Arc::new(NoTpGateway))).await,
    }
}

/// The TPGateway of a binary that never handles a sync message, the only
/// work that calls TPGateway. Should it ever be asked to, every call fails
/// as not done and worth retrying, so a job would wait for the sync worker
/// rather than be given up.
pub struct NoTpGateway;

impl NoTpGateway {
    fn refuse(api: tms_ports::Api) -> tms_ports::TpgError {
        tms_ports::TpgError::local(
            api,
            tms_ports::ErrorKind::Transient,
            "the TPGateway client is not built into this binary",
        )
    }
}

#[async_trait::async_trait]
impl TpGateway for NoTpGateway {
    async fn provider(&self) -> Result<tms_ports::ProviderIdentity, tms_ports::TpgError> {
        Err(Self::refuse(tms_ports::Api::PublishRun))
    }

    async fn call(
        &self,
        request: tms_ports::TpgRequest,
    ) -> Result<tms_ports::TpgResponse, tms_ports::TpgError> {
        Err(Self::refuse(request.api))
    }
}

/// The embedded default: one SQLite file holds the table and the queues,
/// and one database handle serves both, so that every write of the store
/// and the queue goes through the same writer connection.
#[cfg(feature = "embedded")]
pub fn embedded_app(cfg: &Config) -> Result<App, RuntimeError> {
    let res = tms_infra::resources()?;
    let db = SqliteDb::open(&cfg.sqlite_path)?;
    let store = SqliteStore::on(db.clone())?;
    let queue = SqliteQueue::on(
        db,
        SqliteQueueConfig {
            max_receive_count: res.sync_queue.max_receive_count,
        },
    )?;
    Ok(App {
        store: Arc::new(store),
        queue: Arc::new(queue),
        clock: Arc::new(SystemClock),
        ids: Arc::new(UuidV7Ids),
        tpgateway: local_tpgateway(&cfg.tpgateway)?,
        auth: auth_keys(cfg, None),
        pii: pii_vault(cfg, None),
        sync: tms_app::SyncSettings {
            max_receive_count: res.sync_queue.max_receive_count,
            ..cfg.sync
        },
    })
}

/// DynamoDB and SQS, at AWS_ENDPOINT_URL when set (moto, LocalStack) or in
/// AWS. With `TMS_BOOTSTRAP=true` the table and queues are created first
/// from infra/resources.json (local use only; in AWS the template does it).
pub async fn aws_app(cfg: &Config) -> Result<App, RuntimeError> {
    aws_app_with(cfg, aws_tpgateway).await
}

/// The TPGateway client of the AWS engines: a secret file (or the local
/// run's in-memory document) wins; else Secrets Manager. The secret is read
/// on the first TPGateway call only.
fn aws_tpgateway(
    cfg: &Config,
    sdk: &aws_config::SdkConfig,
) -> Result<Arc<dyn TpGateway>, RuntimeError> {
    if cfg.tpgateway.secret_file.is_some() || cfg.tpgateway.inline_secret.is_some() {
        local_tpgateway(&cfg.tpgateway)
    } else {
        let secrets = SecretsManagerSecrets::new(aws_sdk_secretsmanager::Client::new(sdk));
        tpgateway_client(&cfg.tpgateway, Arc::new(secrets), &cfg.tpgateway.secret_id)
    }
}

/// [`aws_app`] with the TPGateway `tpgateway` makes (a generic, so that a
/// binary links only the TPGateway it asks for).
async fn aws_app_with<F>(cfg: &Config, tpgateway: F) -> Result<App, RuntimeError>
where
    F: FnOnce(&Config, &aws_config::SdkConfig) -> Result<Arc<dyn TpGateway>, RuntimeError>,
{
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let tpgateway = tpgateway(cfg, &sdk)?;
    let (main_url, dlq_url) = if cfg.bootstrap {
        bootstrap(cfg, &dynamo, &sqs).await?
    } else {
        (cfg.require_queue_url()?, cfg.require_dlq_url()?)
    };
    Ok(App {
        store: Arc::new(DynamoStore::new(dynamo, cfg.table_name.clone())),
        queue: Arc::new(SqsQueue::new(sqs, main_url, dlq_url)),
        clock: Arc::new(SystemClock),
        ids: Arc::new(UuidV7Ids),
        tpgateway,
        sync: cfg.sync,
        auth: auth_keys(cfg, Some(&sdk)),
        pii: pii_vault(cfg, Some(&sdk)),
    })
}

/// Creates the table and queues; returns the queue URLs (main, dead-letter).
#[cfg(feature = "bootstrap")]
async fn bootstrap(
    cfg: &Config,
    dynamo: &aws_sdk_dynamodb::Client,
    sqs: &aws_sdk_sqs::Client,
) -> Result<(String, String), RuntimeError> {
    let res = tms_infra::resources()?;
    tms_infra::ensure_table(dynamo, &cfg.table_name, &res.table).await?;
    let urls = tms_infra::ensure_queues(sqs, &cfg.queue_name, &cfg.dlq_name, &res).await?;
    Ok((urls.main_url, urls.dlq_url))
}

/// Without the `bootstrap` feature (a Lambda), TMS_BOOTSTRAP=true is refused.
#[cfg(not(feature = "bootstrap"))]
async fn bootstrap(
    _cfg: &Config,
    _dynamo: &aws_sdk_dynamodb::Client,
    _sqs: &aws_sdk_sqs::Client,
) -> Result<(String, String), RuntimeError> {
    Err(RuntimeError::NotBuilt("TMS_BOOTSTRAP=true"))
}

/// One sweep of the scheduled sweeper: pages of due jobs re-enqueued until
/// a page comes back short (at most 10 pages, so one run stays short).
pub async fn sweep(app: &App, cfg: &Config) -> Result<serde_json::Value, tms_app::AppError> {
    const PAGE: u32 = 100;
    let requeue =
        chrono::Duration::from_std(cfg.requeue_after).unwrap_or(chrono::Duration::minutes(5));
    let (mut found, mut enqueued, mut not_sent) = (0, 0, 0);
    for _ in 0..10 {
        let r = app.sweep_due_jobs(requeue, PAGE).await?;
        found += r.found;
        enqueued += r.enqueued;
        not_sent += r.not_sent;
        if r.found < PAGE as usize {
            break;
        }
    }
    Ok(serde_json::json!({ "found": found, "enqueued": enqueued, "not_sent": not_sent }))
}

/// The whole main of a per-resource HTTP Lambda: logging, configuration
/// (AWS engines), the app built once, and the resource's router served
/// with the actor the API Gateway Lambda authorizer checked (the auth
/// routes, which have no authorizer, need none). `mount` is chosen at
/// compile time (`const { Resource::X.mount_fn() }`), so the binary links
/// only its resource's handlers.
#[cfg(feature = "http-lambda")]
pub async fn serve_http_lambda(mount: tms_http::MountFn) -> Result<(), lambda_http::Error> {
    init_logging();
    let cfg = Config::from_env(Engine::Aws)?;
    let app = build_app_without_tpgateway(&cfg).await?;
    let router = tms_http::router_of(app, ActorSource::Authorizer, mount);
    lambda_http::run(router).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tms_ports::{Api, ErrorKind, TpgRequest};

    #[tokio::test]
    async fn no_tpgateway_refuses_every_call_as_worth_retrying() {
        let tpg = NoTpGateway;
        let e = tpg.provider().await.expect_err("no provider");
        assert_eq!(e.kind, ErrorKind::Transient);
        assert_eq!(e.status, None);
        let e = tpg
            .call(TpgRequest::new(Api::EditRun, "/courses/courseRuns/edit/1"))
            .await
            .expect_err("no call");
        assert_eq!((e.api, e.kind), (Api::EditRun, ErrorKind::Transient));
    }
}
