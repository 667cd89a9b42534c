//! The TPGateway port over HTTP (reqwest with rustls).
//!
//! - The connection settings come from the TPGateway secret (read through the
//!   secrets port, cached for a TTL, re-read once on an authentication
//!   failure).
//! - OAuth client credentials (the token is cached until shortly before it
//!   expires, and fetched again once on 401/403) or mutual TLS with the
//!   secret's PEM certificate and key, as the secret's `auth_mode` says.
//! - [`API_TABLE`] is the one place that says, per API, the method, the
//!   `x-api-version`, which side is encrypted (API-NOTES §3) and the
//!   default time-out.
//! - Failures come back classified ([`ErrorKind`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine;
use serde_json::Value;
use tms_ports::{
    Api, ErrorKind, FieldDetail, ProviderIdentity, Secrets, TpGateway, TpgError, TpgRequest,
    TpgResponse,
};
use tms_tpgateway::{Auth, SecretText, TpGatewaySecret};
use tokio::sync::Mutex;

/// How one API is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiSpec {
    pub api: Api,
    pub post: bool,
    /// `x-api-version` (API-NOTES §4: the values working integrations send).
    pub version: &'static str,
    pub encrypted_request: bool,
    pub encrypted_response: bool,
    pub timeout: Duration,
}

const fn spec(
    api: Api,
    post: bool,
    version: &'static str,
    encrypted: (bool, bool),
    timeout_secs: u64,
) -> ApiSpec {
    ApiSpec {
        api,
        post,
        version,
        encrypted_request: encrypted.0,
        encrypted_response: encrypted.1,
        timeout: Duration::from_secs(timeout_secs),
    }
}

/// Per API: method, version, (request, response) encrypted, time-out.
/// Versions: v1.0 for the course-run APIs (the encrypted "new" endpoints,
/// as LT calls them); v1.5 for sessions (the newest value seen, EX); v1 for
/// the enrolment APIs (LT and CI; EX's v3.0 is one source); v1.5 for the
/// attendance upload (as for sessions, EX).
/// Encryption: API-NOTES §3's matrix; enrolment create, update (and
/// cancel) and search are encrypted both ways, the view (GET) only in its
/// answer.
/// Time-outs: a create-enrolment can take over 30 s and still succeed
/// (§12), so it waits 60 s; an unknown outcome is then resolved by a
/// search, never by creating again.
pub const API_TABLE: [ApiSpec; 14] = [
    spec(Api::PublishRun, true, "v1.0", (true, false), 30),
    spec(Api::EditRun, true, "v1.0", (true, false), 30),
    spec(Api::GetRun, false, "v1.0", (false, false), 15),
    spec(Api::RunsByCrn, false, "v1.0", (false, false), 15),
    spec(Api::GetSessions, false, "v1.5", (false, false), 15),
    spec(Api::CreateEnrolment, true, "v1", (true, true), 60),
    spec(Api::UpdateEnrolment, true, "v1", (true, true), 30),
    spec(Api::SearchEnrolments, true, "v1", (true, true), 15),
    spec(Api::GetEnrolment, false, "v1", (false, true), 15),
    spec(Api::UploadAttendance, true, "v1.5", (true, false), 30),
    // Assessments (§9): encrypted as enrolments are (§3's matrix); v1 as
    // for enrolments (the version is NOT FOUND for assessments); a create
    // waits 60 s like an enrolment's, its unknown outcome resolved by a
    // search.
    spec(Api::CreateAssessment, true, "v1", (true, true), 60),
    spec(Api::UpdateAssessment, true, "v1", (true, true), 30),
    spec(Api::SearchAssessments, true, "v1", (true, true), 15),
    spec(Api::GetAssessment, false, "v1", (false, true), 15),
];

pub fn api_spec(api: Api) -> ApiSpec {
    API_TABLE
        .iter()
        .copied()
        .find(|s| s.api == api)
        .unwrap_or(API_TABLE[0])
}

/// Settings of the client that are not in the secret.
#[derive(Debug, Clone)]
pub struct HttpTpGatewayConfig {
    /// The secret's id in the secrets port.
    pub secret_id: String,
    /// How long a read secret is used before it is read again.
    pub secret_ttl: Duration,
    /// Per-API time-outs overriding [`API_TABLE`].
    pub timeouts: Vec<(Api, Duration)>,
    pub connect_timeout: Duration,
    /// PEM of the only CA to trust (a fake or test TPGateway); `None`: the
    /// platform's roots.
    pub trusted_ca_pem: Option<String>,
}

impl HttpTpGatewayConfig {
    pub fn new(secret_id: impl Into<String>) -> Self {
        HttpTpGatewayConfig {
            secret_id: secret_id.into(),
            secret_ttl: Duration::from_secs(300),
            timeouts: Vec::new(),
            connect_timeout: Duration::from_secs(5),
            trusted_ca_pem: None,
        }
    }

    fn timeout(&self, api: Api) -> Duration {
        self.timeouts
            .iter()
            .find(|(a, _)| *a == api)
            .map(|(_, d)| *d)
            .unwrap_or_else(|| api_spec(api).timeout)
    }
}

struct Token {
    value: SecretText,
    usable_until: Instant,
}

/// A secret as read, with the client built for it.
struct Connection {
    secret: Arc<TpGatewaySecret>,
    client: reqwest::Client,
    read_at: Instant,
}

pub struct HttpTpGateway {
    secrets: Arc<dyn Secrets>,
    config: HttpTpGatewayConfig,
    connection: Mutex<Option<Arc<Connection>>>,
    token: Mutex<Option<Token>>,
}

/// The token is fetched again this long before TPGateway says it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);
/// A token response without `expires_in`: TPGateway's tokens last an hour
/// (API-NOTES §2).
const DEFAULT_TOKEN_LIFETIME: u64 = 3600;

fn auth_failed(status: u16) -> bool {
    status == 401 || status == 403
}

impl HttpTpGateway {
    pub fn new(secrets: Arc<dyn Secrets>, config: HttpTpGatewayConfig) -> Self {
        HttpTpGateway {
            secrets,
            config,
            connection: Mutex::new(None),
            token: Mutex::new(None),
        }
    }

    /// The current connection: the cached one while its secret is fresh,
    /// else the secret read again and a client built for it.
    async fn connection(&self, api: Api, refresh: bool) -> Result<Arc<Connection>, TpgError> {
        let mut slot = self.connection.lock().await;
        if let Some(c) = slot.as_ref() {
            if !refresh && c.read_at.elapsed() < self.config.secret_ttl {
                return Ok(c.clone());
            }
        }
        let text = self
            .secrets
            .read(&self.config.secret_id)
            .await
            .map_err(|e| {
                // Not reachable, or not there: retry later (ops may be fixing it).
                TpgError::local(api, ErrorKind::Transient, format!("TPGateway secret: {e}"))
            })?;
        let secret = TpGatewaySecret::parse(text.expose())
            .map_err(|e| TpgError::local(api, ErrorKind::Transient, e.to_string()))?;
        let client = self.build_client(api, &secret)?;
        let c = Arc::new(Connection {
            secret: Arc::new(secret),
            client,
            read_at: Instant::now(),
        });
        *slot = Some(c.clone());
        Ok(c)
    }

    fn build_client(
        &self,
        api: Api,
        secret: &TpGatewaySecret,
    ) -> Result<reqwest::Client, TpgError> {
        let bad = |what: &str| TpgError::local(api, ErrorKind::Transient, what.to_string());
        let mut b = reqwest::Client::builder()
            .connect_timeout(self.config.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(50))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tms/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &self.config.trusted_ca_pem {
            let cert = reqwest::Certificate::from_pem(ca.as_bytes())
                .map_err(|_| bad("the trusted CA is not a PEM certificate"))?;
            b = b.tls_certs_only([cert]);
        }
        if let Auth::Certificate {
            certificate_pem,
            private_key_pem,
        } = &secret.auth
        {
            let pem = format!(
                "{}\n{}",
                certificate_pem.expose().trim(),
                private_key_pem.expose().trim()
            );
            let identity = reqwest::Identity::from_pem(pem.as_bytes()).map_err(|_| {
                bad("the TPGateway secret's certificate_pem and private_key_pem are not a usable PEM certificate and key")
            })?;
            b = b.identity(identity);
        }
        b.build()
            .map_err(|_| bad("the TPGateway HTTP client could not be built"))
    }

    /// A bearer token (OAuth mode): the cached one, or a new one.
    async fn bearer(
        &self,
        api: Api,
        conn: &Connection,
        refresh: bool,
    ) -> Result<Option<SecretText>, TpgError> {
        let Auth::OAuth {
            client_id,
            client_secret,
            token_url,
        } = &conn.secret.auth
        else {
            return Ok(None);
        };
        let mut slot = self.token.lock().await;
        if let Some(t) = slot.as_ref() {
            if !refresh && Instant::now() < t.usable_until {
                return Ok(Some(t.value.clone()));
            }
        }
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{client_id}:{}", client_secret.expose()));
        let sent = conn
            .client
            .post(token_url)
            .header("authorization", format!("Basic {basic}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body("grant_type=client_credentials")
            .timeout(self.config.timeout(api))
            .send()
            .await
            .map_err(|e| {
                TpgError::local(
                    api,
                    ErrorKind::Transient,
                    format!("token request failed: {}", reqwest_kind(&e)),
                )
            })?;
        let status = sent.status().as_u16();
        let text = sent.text().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            let mut e = TpgError::local(
                api,
                ErrorKind::Transient,
                format!("the token endpoint answered {status}"),
            );
            e.status = Some(status);
            return Err(e);
        }
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let Some(token) = body.get("access_token").and_then(Value::as_str) else {
            return Err(TpgError::local(
                api,
                ErrorKind::Transient,
                "the token endpoint's answer has no access_token",
            ));
        };
        let lifetime = Duration::from_secs(
            body.get("expires_in")
                .and_then(|v| {
                    v.as_u64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                })
                .unwrap_or(DEFAULT_TOKEN_LIFETIME),
        );
        // A short-lived token is used for at most half its life.
        let margin = TOKEN_MARGIN.min(lifetime / 2);
        let value = SecretText::new(token);
        *slot = Some(Token {
            value: value.clone(),
            usable_until: Instant::now() + lifetime - margin,
        });
        Ok(Some(value))
    }

    async fn attempt(&self, request: &TpgRequest, refresh: bool) -> Result<TpgResponse, TpgError> {
        let api = request.api;
        let spec = api_spec(api);
        let conn = self.connection(api, refresh).await?;
        let token = self.bearer(api, &conn, refresh).await?;
        let url = format!("{}{}", conn.secret.base_url, request.path);
        let mut rb = if spec.post {
            conn.client.post(&url)
        } else {
            conn.client.get(&url)
        };
        rb = rb
            .header("accept", "application/json")
            .header("x-api-version", spec.version)
            .timeout(self.config.timeout(api));
        if !request.query.is_empty() {
            rb = rb.query(&request.query);
        }
        if let Some(t) = &token {
            rb = rb.header("authorization", format!("Bearer {}", t.expose()));
        }
        if let Some(body) = &request.body {
            let json = body.to_string();
            let payload = if spec.encrypted_request {
                conn.secret.encryption_key.encrypt(&json)
            } else {
                json
            };
            rb = rb.header("content-type", "application/json").body(payload);
        }
        let started = Instant::now();
        let sent = rb.send().await.map_err(|e| sent_failure(api, &e))?;
        let status = sent.status().as_u16();
        let retry_after = sent
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = sent.text().await.map_err(|e| sent_failure(api, &e))?;
        tracing::debug!(
            api = api.as_str(),
            status,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "TPGateway answered"
        );
        if (200..300).contains(&status) {
            let body =
                decode_body(&conn.secret, &text, spec.encrypted_response).ok_or_else(|| {
                    let mut e = TpgError::local(
                        api,
                        unknown_unless_read(api),
                        "TPGateway's answer is not the JSON (or ciphertext) expected",
                    );
                    e.status = Some(status);
                    e
                })?;
            return Ok(TpgResponse { status, body });
        }
        Err(answered_error(
            api,
            status,
            retry_after,
            error_body(&conn.secret, &text),
        ))
    }
}

/// What a failure to get an answer means: a connection never made is
/// transient; after the request went out, the outcome is unknown (for a
/// write) or just a failed read.
fn sent_failure(api: Api, e: &reqwest::Error) -> TpgError {
    let kind = if e.is_connect() {
        ErrorKind::Transient
    } else {
        unknown_unless_read(api)
    };
    TpgError::local(
        api,
        kind,
        format!("no answer from TPGateway: {}", reqwest_kind(e)),
    )
}

fn unknown_unless_read(api: Api) -> ErrorKind {
    if api.is_read() {
        ErrorKind::Transient
    } else {
        ErrorKind::UnknownOutcome
    }
}

/// The kind of a reqwest failure, without its text (which holds the URL).
fn reqwest_kind(e: &reqwest::Error) -> &'static str {
    if e.is_connect() {
        "could not connect"
    } else if e.is_timeout() {
        "timed out"
    } else if e.is_body() || e.is_decode() {
        "the answer broke off"
    } else if e.is_request() {
        "the request failed"
    } else {
        "transport error"
    }
}

/// A success body: decrypted when the API's response is encrypted (a plain
/// JSON body is taken as it is, as the mock environment answers), parsed.
fn decode_body(secret: &TpGatewaySecret, text: &str, encrypted: bool) -> Option<Value> {
    if text.trim().is_empty() {
        return Some(Value::Null);
    }
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        if v.is_object() || !encrypted {
            return Some(v);
        }
    }
    if encrypted {
        let plain = secret.encryption_key.decrypt(text).ok()?;
        return serde_json::from_str(&plain).ok();
    }
    None
}

/// An error body, plain or encrypted (API-NOTES §3): whole-body ciphertext,
/// a JSON envelope whose `error` is ciphertext, or plain JSON.
fn error_body(secret: &TpGatewaySecret, text: &str) -> Option<Value> {
    match serde_json::from_str::<Value>(text) {
        Ok(mut v) if v.is_object() => {
            if let Some(inner) = v.get("error").and_then(Value::as_str) {
                if let Some(decoded) = secret
                    .encryption_key
                    .decrypt(inner)
                    .ok()
                    .and_then(|p| serde_json::from_str::<Value>(&p).ok())
                {
                    v["error"] = decoded.get("error").cloned().unwrap_or(decoded);
                }
            }
            Some(v)
        }
        _ => secret
            .encryption_key
            .decrypt(text)
            .ok()
            .and_then(|p| serde_json::from_str(&p).ok()),
    }
}

/// A non-2xx answer, classified: 429, 5xx, 408 and (persisting) 401/403 are
/// transient; any other 4xx is permanent.
fn answered_error(
    api: Api,
    status: u16,
    retry_after: Option<Duration>,
    body: Option<Value>,
) -> TpgError {
    let err = body.as_ref().and_then(|b| b.get("error"));
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let code = text(err.and_then(|e| e.get("code")));
    let message = text(err.and_then(|e| e.get("message")))
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| format!("TPGateway answered HTTP {status}"));
    let details = err
        .and_then(|e| e.get("details"))
        .and_then(Value::as_array)
        .map(|ds| {
            ds.iter()
                .map(|d| FieldDetail {
                    field: text(d.get("field")).unwrap_or_default(),
                    message: text(d.get("message")).unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    let kind = match status {
        429 | 408 => ErrorKind::Transient,
        s if s >= 500 => ErrorKind::Transient,
        s if auth_failed(s) => ErrorKind::Transient,
        _ => ErrorKind::Permanent,
    };
    TpgError {
        api,
        kind,
        status: Some(status),
        code,
        message,
        details,
        retry_after: if status == 429 { retry_after } else { None },
        body: body.map(Box::new),
    }
}

#[async_trait]
impl TpGateway for HttpTpGateway {
    async fn provider(&self) -> Result<ProviderIdentity, TpgError> {
        let c = self.connection(Api::PublishRun, false).await?;
        Ok(ProviderIdentity {
            uen: c.secret.uen.clone(),
            tp_code: c.secret.tp_code.clone(),
        })
    }

    async fn call(&self, request: TpgRequest) -> Result<TpgResponse, TpgError> {
        match self.attempt(&request, false).await {
            Err(e) if e.status.is_some_and(auth_failed) => {
                // The token may have expired or the credentials rotated: read
                // the secret again, get a new token, and try once more.
                tracing::info!(
                    api = request.api.as_str(),
                    status = e.status,
                    "TPGateway refused our credentials; refreshing them once"
                );
                self.attempt(&request, true).await
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_api_has_one_row() {
        for api in Api::ALL {
            assert_eq!(
                API_TABLE.iter().filter(|s| s.api == api).count(),
                1,
                "{api:?}"
            );
        }
        // The encryption matrix of API-NOTES §3: (request, response).
        for api in Api::ALL {
            let s = api_spec(api);
            let expected = match api {
                Api::PublishRun | Api::EditRun => (true, false),
                Api::GetRun | Api::RunsByCrn | Api::GetSessions => (false, false),
                Api::CreateEnrolment | Api::UpdateEnrolment | Api::SearchEnrolments => (true, true),
                Api::GetEnrolment => (false, true),
                Api::UploadAttendance => (true, false),
                Api::CreateAssessment | Api::UpdateAssessment | Api::SearchAssessments => {
                    (true, true)
                }
                Api::GetAssessment => (false, true),
            };
            assert_eq!(
                (s.encrypted_request, s.encrypted_response),
                expected,
                "{api:?}"
            );
            // A GET sends no body, so nothing to encrypt.
            assert!(s.post || !s.encrypted_request, "{api:?}");
        }
        for api in [
            Api::GetRun,
            Api::RunsByCrn,
            Api::GetSessions,
            Api::GetEnrolment,
        ] {
            assert!(!api_spec(api).post, "{api:?}");
        }
        for api in [
            Api::PublishRun,
            Api::EditRun,
            Api::CreateEnrolment,
            Api::UpdateEnrolment,
            Api::SearchEnrolments,
            Api::UploadAttendance,
        ] {
            assert!(api_spec(api).post, "{api:?}");
        }
    }

    #[test]
    fn enrolment_versions_and_time_outs() {
        let secs = |api| api_spec(api).timeout.as_secs();
        for api in [
            Api::CreateEnrolment,
            Api::UpdateEnrolment,
            Api::SearchEnrolments,
            Api::GetEnrolment,
        ] {
            assert_eq!(api_spec(api).version, "v1", "{api:?}");
        }
        // API-NOTES §12: a create can exceed 30 s and still succeed.
        assert_eq!(secs(Api::CreateEnrolment), 60);
        assert_eq!(secs(Api::UpdateEnrolment), 30);
        assert_eq!(secs(Api::SearchEnrolments), 15);
        assert_eq!(secs(Api::GetEnrolment), 15);
    }

    #[test]
    fn configured_time_outs_override_the_table_per_api() {
        let mut cfg = HttpTpGatewayConfig::new("s");
        for api in Api::ALL {
            assert_eq!(cfg.timeout(api), api_spec(api).timeout, "{api:?}");
        }
        cfg.timeouts = vec![(Api::CreateEnrolment, Duration::from_secs(90))];
        assert_eq!(cfg.timeout(Api::CreateEnrolment), Duration::from_secs(90));
        assert_eq!(cfg.timeout(Api::UpdateEnrolment), Duration::from_secs(30));
    }

    #[test]
    fn an_unanswered_search_or_view_is_a_failed_read() {
        assert_eq!(
            unknown_unless_read(Api::SearchEnrolments),
            ErrorKind::Transient
        );
        assert_eq!(unknown_unless_read(Api::GetEnrolment), ErrorKind::Transient);
        assert_eq!(
            unknown_unless_read(Api::CreateEnrolment),
            ErrorKind::UnknownOutcome
        );
        assert_eq!(
            unknown_unless_read(Api::UpdateEnrolment),
            ErrorKind::UnknownOutcome
        );
    }

    #[test]
    fn classification_of_answers() {
        let e = answered_error(
            Api::PublishRun,
            400,
            None,
            Some(serde_json::json!({
                "status": 400, "data": {}, "meta": {},
                "error": {"code": "TGS-400", "message": "Invalid", "details": [{"field": "course.runs[0].courseAdminEmail", "message": "is required"}]}
            })),
        );
        assert_eq!(e.kind, ErrorKind::Permanent);
        assert_eq!(e.code.as_deref(), Some("TGS-400"));
        assert_eq!(e.details[0].field, "course.runs[0].courseAdminEmail");
        for s in [500, 502, 503, 429, 401, 403, 408] {
            assert_eq!(
                answered_error(Api::EditRun, s, None, None).kind,
                ErrorKind::Transient,
                "{s}"
            );
        }
        let e = answered_error(Api::EditRun, 429, Some(Duration::from_secs(7)), None);
        assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
        assert_eq!(
            answered_error(Api::GetRun, 404, None, None).kind,
            ErrorKind::Permanent
        );
        assert!(answered_error(Api::GetRun, 404, None, None).is_not_found());
    }

    #[test]
    fn error_bodies_plain_or_encrypted() {
        let key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
        let secret = TpGatewaySecret::parse(
            &serde_json::json!({
                "base_url": "http://127.0.0.1:1", "auth_mode": "oauth", "client_id": "i",
                "client_secret": "s", "encryption_key": key, "uen": "U", "tp_code": "T"
            })
            .to_string(),
        )
        .unwrap();
        let envelope = serde_json::json!({"status": 400, "error": {"code": "X", "message": "m"}});
        let plain = error_body(&secret, &envelope.to_string()).unwrap();
        assert_eq!(plain["error"]["code"], "X");
        let whole = secret.encryption_key.encrypt(&envelope.to_string());
        assert_eq!(error_body(&secret, &whole).unwrap()["error"]["code"], "X");
        let inner = serde_json::json!({
            "status": 400,
            "error": secret.encryption_key.encrypt(&serde_json::json!({"code": "Y", "message": "n"}).to_string())
        });
        assert_eq!(
            error_body(&secret, &inner.to_string()).unwrap()["error"]["code"],
            "Y"
        );
        assert_eq!(error_body(&secret, "<html>bad gateway</html>"), None);
    }
}
