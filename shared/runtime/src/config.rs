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
    pub auth: AuthConfig,
    pub pii: PiiConfig,
    pub sweep_interval: Duration,
    pub requeue_after: Duration,
    pub worker_visibility_timeout: Duration,
    /// Local server: the origins a browser may call it from
    /// (`TMS_CORS_ORIGINS`, comma-separated; none by default). In AWS the
    /// HTTP API's CORS settings do it (the template's AllowedOrigins).
    pub cors_origins: Vec<String>,
    /// Local run: how many worker loops receive and handle batches side by
    /// side (`TMS_WORKER_LOOPS`, default 4).
    pub worker_loops: usize,
    pub tpgateway: TpGatewayConfig,
    pub sync: tms_app::SyncSettings,
}

/// Where the TPGateway connection's secret comes from, and the client's
/// settings that are not in it.
#[derive(Debug, Clone)]
pub struct TpGatewayConfig {
    /// `TMS_TPGATEWAY_SECRET_FILE`: the secret document in a file (local).
    pub secret_file: Option<PathBuf>,
    /// `TMS_TPGATEWAY_SECRET_ID`: the Secrets Manager secret (AWS).
    pub secret_id: String,
    /// `TMS_TPGATEWAY_SECRET_TTL_SECS`: how long a read secret is used.
    pub secret_ttl: Duration,
    /// The PEM of `TMS_TPGATEWAY_CA_FILE`: trust only this CA (a fake or
    /// test gateway) instead of the platform's roots.
    pub ca_pem: Option<String>,
    /// `TMS_TPGATEWAY_TIMEOUT_<API>_SECS`: per-API time-outs.
    pub timeouts: Vec<(tms_ports::Api, Duration)>,
    /// Not from the environment: a secret document held in memory (the
    /// local run's in-process fake TPGateway), used when no file is named.
    pub inline_secret: Option<String>,
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
    flag_or(name, false)
}

fn flag_or(name: &'static str, default: bool) -> Result<bool, ConfigError> {
    match var(name).as_deref() {
        None => Ok(default),
        Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(v) => Err(ConfigError::Invalid {
            name,
            reason: format!("must be true or false, got {v:?}"),
        }),
    }
}

impl TpGatewayConfig {
    fn from_env() -> Result<TpGatewayConfig, ConfigError> {
        let mut timeouts = Vec::new();
        for api in tms_ports::Api::ALL {
            let name = format!("TMS_TPGATEWAY_TIMEOUT_{}_SECS", api.as_str().to_uppercase());
            if let Some(v) = var(&name) {
                let d = v
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(ConfigError::Invalid {
                        name: "TMS_TPGATEWAY_TIMEOUT_<API>_SECS",
                        reason: format!("{name} must be a positive number of seconds, got {v:?}"),
                    })?;
                timeouts.push((api, Duration::from_secs(d)));
            }
        }
        Ok(TpGatewayConfig {
            secret_file: var("TMS_TPGATEWAY_SECRET_FILE").map(PathBuf::from),
            secret_id: var("TMS_TPGATEWAY_SECRET_ID").unwrap_or_else(|| "tms/tpgateway".into()),
            secret_ttl: secs("TMS_TPGATEWAY_SECRET_TTL_SECS", 300)?,
            ca_pem: match var("TMS_TPGATEWAY_CA_FILE") {
                None => None,
                Some(path) => {
                    Some(
                        std::fs::read_to_string(&path).map_err(|e| ConfigError::Invalid {
                            name: "TMS_TPGATEWAY_CA_FILE",
                            reason: format!("{path} cannot be read: {}", e.kind()),
                        })?,
                    )
                }
            },
            timeouts,
            inline_secret: None,
        })
    }
}

/// Sign-in: where the token signing key comes from, token settings, and
/// the first Admin of a local run.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// `TMS_AUTH_SECRET_FILE`: `{"signing_key": "<base64>"}` in a file.
    pub secret_file: Option<PathBuf>,
    /// `TMS_AUTH_SECRET_ID`: the Secrets Manager secret (AWS).
    pub secret_id: String,
    /// Not from the environment: a document held in memory (the local run
    /// without a file makes a random key per process).
    pub inline_secret: Option<String>,
    pub settings: tms_app::auth::AuthSettings,
    /// `TMS_BOOTSTRAP_ADMIN_EMAIL` / `TMS_BOOTSTRAP_ADMIN_PASSWORD`.
    pub bootstrap_admin: Option<(String, String)>,
    /// `TMS_AUTHORIZER_WARM_UP` (true): the authorizer reads the signing
    /// key while it starts, so that its first check does not wait on
    /// Secrets Manager (tms_runtime::authorizer::warm_up).
    pub warm_up: bool,
}

/// Where the keys that protect national ids come from (tms_auth::pii
/// describes the document).
#[derive(Debug, Clone)]
pub struct PiiConfig {
    /// `TMS_PII_SECRET_FILE`: the document in a file. The local run, when
    /// none is named, keeps one beside its SQLite file
    /// (`<TMS_SQLITE_PATH>.pii-keys.json`, made on first start).
    pub secret_file: Option<PathBuf>,
    /// `TMS_PII_SECRET_ID`: the Secrets Manager secret (AWS; default
    /// `tms/pii`).
    pub secret_id: String,
    /// Not from the environment: a document held in memory (tests).
    pub inline_secret: Option<String>,
}

impl PiiConfig {
    fn from_env() -> PiiConfig {
        PiiConfig {
            secret_file: var("TMS_PII_SECRET_FILE").map(PathBuf::from),
            secret_id: var("TMS_PII_SECRET_ID").unwrap_or_else(|| "tms/pii".into()),
            inline_secret: None,
        }
    }
}

/// The local run's first Admin, when the environment names none.
pub const LOCAL_ADMIN_EMAIL: &str = "admin@tms.local";
pub const LOCAL_ADMIN_PASSWORD: &str = "change me before use";

impl AuthConfig {
    fn from_env() -> Result<AuthConfig, ConfigError> {
        let d = tms_app::auth::AuthSettings::default();
        let access = secs("TMS_ACCESS_TOKEN_TTL_SECS", d.access_ttl.as_secs())?;
        if access > tms_app::auth::MAX_ACCESS_TTL {
            return Err(ConfigError::Invalid {
                name: "TMS_ACCESS_TOKEN_TTL_SECS",
                reason: "must be at most 900 (15 minutes)".into(),
            });
        }
        let secret_id = var("TMS_AUTH_SECRET_ID").unwrap_or_else(|| d.secret_id.clone());
        let bootstrap_admin = match (
            var("TMS_BOOTSTRAP_ADMIN_EMAIL"),
            var("TMS_BOOTSTRAP_ADMIN_PASSWORD"),
        ) {
            (Some(e), Some(p)) => Some((e, p)),
            (None, None) => None,
            _ => {
                return Err(ConfigError::Invalid {
                    name: "TMS_BOOTSTRAP_ADMIN_EMAIL",
                    reason:
                        "TMS_BOOTSTRAP_ADMIN_EMAIL and TMS_BOOTSTRAP_ADMIN_PASSWORD go together"
                            .into(),
                })
            }
        };
        Ok(AuthConfig {
            secret_file: var("TMS_AUTH_SECRET_FILE").map(PathBuf::from),
            secret_id: secret_id.clone(),
            inline_secret: None,
            settings: tms_app::auth::AuthSettings {
                secret_id,
                issuer: var("TMS_AUTH_ISSUER").unwrap_or(d.issuer),
                audience: var("TMS_AUTH_AUDIENCE").unwrap_or(d.audience),
                access_ttl: access,
                refresh_ttl: secs("TMS_REFRESH_TOKEN_TTL_SECS", d.refresh_ttl.as_secs())?,
                key_ttl: d.key_ttl,
            },
            bootstrap_admin,
            warm_up: flag_or("TMS_AUTHORIZER_WARM_UP", true)?,
        })
    }
}

/// `TMS_SYNC_LEASE_SECS` (120), `TMS_SYNC_BACKOFF_BASE_SECS` (5),
/// `TMS_SYNC_BACKOFF_MAX_SECS` (900), `TMS_SYNC_MAX_RECEIVE_COUNT` (the
/// queue's maxReceiveCount, 5 as infra/resources.json has it).
fn sync_settings() -> Result<tms_app::SyncSettings, ConfigError> {
    let d = tms_app::SyncSettings::default();
    let max_receive_count = match var("TMS_SYNC_MAX_RECEIVE_COUNT") {
        None => d.max_receive_count,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or(ConfigError::Invalid {
                name: "TMS_SYNC_MAX_RECEIVE_COUNT",
                reason: format!("must be a positive whole number, got {v:?}"),
            })?,
    };
    Ok(tms_app::SyncSettings {
        lease: secs("TMS_SYNC_LEASE_SECS", d.lease.as_secs())?,
        backoff_base: secs("TMS_SYNC_BACKOFF_BASE_SECS", d.backoff_base.as_secs())?,
        backoff_max: secs("TMS_SYNC_BACKOFF_MAX_SECS", d.backoff_max.as_secs())?,
        max_receive_count,
    })
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
            auth: AuthConfig::from_env()?,
            pii: PiiConfig::from_env(),
            sweep_interval: secs("TMS_SWEEP_INTERVAL_SECS", 60)?,
            requeue_after: secs("TMS_REQUEUE_AFTER_SECS", 300)?,
            worker_visibility_timeout: secs("TMS_WORKER_VISIBILITY_SECS", 120)?,
            cors_origins: match var("TMS_CORS_ORIGINS") {
                None => Vec::new(),
                Some(v) => {
                    let origins: Vec<String> = v
                        .split(',')
                        .map(|o| o.trim().trim_end_matches('/').to_string())
                        .filter(|o| !o.is_empty())
                        .collect();
                    if let Some(bad) = origins.iter().find(|o| {
                        !(o.starts_with("http://") || o.starts_with("https://"))
                            || o.matches('/').count() != 2
                    }) {
                        return Err(ConfigError::Invalid {
                            name: "TMS_CORS_ORIGINS",
                            reason: format!("{bad:?} is not an origin like https://app.example.sg"),
                        });
                    }
                    origins
                }
            },
            worker_loops: match var("TMS_WORKER_LOOPS") {
                None => 4,
                Some(v) => v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=64).contains(n))
                    .ok_or(ConfigError::Invalid {
                        name: "TMS_WORKER_LOOPS",
                        reason: format!("must be a whole number from 1 to 64, got {v:?}"),
                    })?,
            },
            tpgateway: TpGatewayConfig::from_env()?,
            sync: sync_settings()?,
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
