//! Configuration from environment variables. Every variable has a default
//! that makes the local run work; the README lists them all.

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// SQLite store and queue in one local file.
    Embedded,
    /// DynamoDB and SQS (AWS, or AWS_ENDPOINT_URL).
    Aws,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub engine: Engine,
    pub sqlite_path: PathBuf,
    pub table_name: String,
    pub queue_url: Option<String>,
    pub dlq_url: Option<String>,
    pub queue_name: String,
    pub dlq_name: String,
    pub bootstrap: bool,
    pub bind: String,
    pub acting_user: String,
    pub sweep_interval: Duration,
    pub requeue_after: Duration,
    pub worker_visibility_timeout: Duration,
}

/// Limits of the local HTTP server against slow or oversized clients. (A
/// Lambda sits behind API Gateway, which enforces its own.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// The whole request head must arrive within this, or the connection
    /// is closed.
    pub header_timeout: Duration,
    /// A request body that sends nothing for this long fails the request,
    /// and the connection is closed.
    pub body_timeout: Duration,
    /// Largest request head (request line and headers) in bytes; hyper
    /// answers a larger one with 431.
    pub max_header_bytes: usize,
}

impl ServerLimits {
    /// Reads `TMS_HEADER_TIMEOUT_SECS` (10), `TMS_BODY_TIMEOUT_SECS` (30)
    /// and `TMS_MAX_HEADER_BYTES` (16384, at least 1024).
    pub fn from_env() -> Result<ServerLimits, ConfigError> {
        let max_header_bytes = match var("TMS_MAX_HEADER_BYTES") {
            None => 16 * 1024,
            Some(v) => {
                v.parse::<usize>()
                    .ok()
                    .filter(|n| *n >= 1024)
                    .ok_or(ConfigError::Invalid {
                        name: "TMS_MAX_HEADER_BYTES",
                        reason: format!("must be a number of bytes, at least 1024, got {v:?}"),
                    })?
            }
        };
        Ok(ServerLimits {
            header_timeout: secs("TMS_HEADER_TIMEOUT_SECS", 10)?,
            body_timeout: secs("TMS_BODY_TIMEOUT_SECS", 30)?,
            max_header_bytes,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name}: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("{0} is required with TMS_ENGINE=aws (or set TMS_BOOTSTRAP=true)")]
    Missing(&'static str),
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn secs(name: &'static str, default: u64) -> Result<Duration, ConfigError> {
    match var(name) {
        None => Ok(Duration::from_secs(default)),
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .map(Duration::from_secs)
            .ok_or(ConfigError::Invalid {
                name,
                reason: format!("must be a positive number of seconds, got {v:?}"),
            }),
    }
}

fn flag(name: &'static str) -> Result<bool, ConfigError> {
    match var(name).as_deref() {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(v) => Err(ConfigError::Invalid {
            name,
            reason: format!("must be true or false, got {v:?}"),
        }),
    }
}

impl Config {
    /// Reads the environment. `default_engine` is `Embedded` for the local
    /// binary and `Aws` for the Lambda functions.
    pub fn from_env(default_engine: Engine) -> Result<Config, ConfigError> {
        let engine = match var("TMS_ENGINE").as_deref() {
            None => default_engine,
            Some("embedded") => Engine::Embedded,
            Some("aws") => Engine::Aws,
            Some(v) => {
                return Err(ConfigError::Invalid {
                    name: "TMS_ENGINE",
                    reason: format!("must be embedded or aws, got {v:?}"),
                })
            }
        };
        Ok(Config {
            engine,
            sqlite_path: var("TMS_SQLITE_PATH")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(".tms-local/tms.sqlite")),
            table_name: var("TMS_TABLE_NAME").unwrap_or_else(|| "tms".into()),
            queue_url: var("TMS_SYNC_QUEUE_URL"),
            dlq_url: var("TMS_SYNC_DLQ_URL"),
            queue_name: var("TMS_SYNC_QUEUE_NAME").unwrap_or_else(|| "tms-sync".into()),
            dlq_name: var("TMS_SYNC_DLQ_NAME").unwrap_or_else(|| "tms-sync-dlq".into()),
            bootstrap: flag("TMS_BOOTSTRAP")?,
            bind: var("TMS_BIND").unwrap_or_else(|| "127.0.0.1:8080".into()),
            acting_user: var("TMS_ACTING_USER").unwrap_or_else(|| "local-admin".into()),
            sweep_interval: secs("TMS_SWEEP_INTERVAL_SECS", 60)?,
            requeue_after: secs("TMS_REQUEUE_AFTER_SECS", 300)?,
            worker_visibility_timeout: secs("TMS_WORKER_VISIBILITY_SECS", 120)?,
        })
    }

    pub fn require_queue_url(&self) -> Result<String, ConfigError> {
        self.queue_url
            .clone()
            .ok_or(ConfigError::Missing("TMS_SYNC_QUEUE_URL"))
    }

    pub fn require_dlq_url(&self) -> Result<String, ConfigError> {
        self.dlq_url
            .clone()
            .ok_or(ConfigError::Missing("TMS_SYNC_DLQ_URL"))
    }
}
