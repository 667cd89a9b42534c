//! Process wiring shared by every binary: configuration from the
//! environment, JSON logging, building the application on the chosen
//! engines, and the in-process worker and sweeper loops of the local run.
//!
//! Features (none by default, so that a Lambda links only the AWS wiring):
//! `embedded` adds the SQLite engine and the local loops, `bootstrap` the
//! creation of the table and queues at start (`TMS_BOOTSTRAP=true`).

pub mod config;
#[cfg(feature = "embedded")]
pub mod loops;

use std::sync::Arc;

use tms_adapters::dynamodb::DynamoStore;
#[cfg(feature = "embedded")]
use tms_adapters::sqlite_db::{DbError, SqliteDb};
#[cfg(feature = "embedded")]
use tms_adapters::sqlite_queue::{SqliteQueue, SqliteQueueConfig};
#[cfg(feature = "embedded")]
use tms_adapters::sqlite_store::SqliteStore;
use tms_adapters::sqs::SqsQueue;
use tms_app::{Actor, App, UuidV7Ids};
use tms_http::ActorSource;
use tms_ports::clock::SystemClock;

pub use config::{Config, ConfigError, Engine, ServerLimits};

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

/// The acting-user source until login exists: the configured fixed user.
pub fn actor_source(cfg: &Config) -> ActorSource {
    ActorSource::Fixed(Actor {
        user_id: cfg.acting_user.clone(),
    })
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
    })
}

/// DynamoDB and SQS, at AWS_ENDPOINT_URL when set (moto, LocalStack) or in
/// AWS. With `TMS_BOOTSTRAP=true` the table and queues are created first
/// from infra/resources.json (local use only; in AWS the template does it).
pub async fn aws_app(cfg: &Config) -> Result<App, RuntimeError> {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
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
