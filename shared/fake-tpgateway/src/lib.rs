//! A faithful fake of TPGateway's course-run and enrolment APIs
//! (API-NOTES.md §2–§7, §10–§12): a real HTTP server on a loopback port with
//! the real paths, headers, response envelope, authentication (OAuth client
//! credentials over http, or mutual TLS over https with a CA of its own) and
//! payload encryption (the shared wire protocol of `tms-tpgateway`), per
//! §3's matrix: enrolment create, update/cancel and search are encrypted
//! both ways, the enrolment view in its answer only.
//!
//! It validates what it gets as TPGateway would, answers with realistic
//! identifiers (numeric run ids, `{CRN}-{runId}-S{n}` session ids,
//! `ENR-YYMM-NNNNNN` enrolment references) and errors, and can be told to
//! fail ([`FakeTpg::inject`]) for tests.
//!
//! Request bodies are never logged: enrolments carry personal data.

mod api;
mod assessment;
mod attendance;
mod enrolment;
mod envelope;
mod server;
mod state;
mod tls;
mod validate;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tms_tpgateway::EncryptionKey;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::App;

/// The key [`FakeConfig::oauth`] and [`FakeConfig::certificate`] use: base64
/// of the 32 bytes `0123456789abcdef0123456789abcdef`.
pub const TEST_ENCRYPTION_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// How clients authenticate to the fake (API-NOTES §2).
#[derive(Clone, PartialEq, Eq)]
pub enum FakeAuth {
    /// Plain http; `POST /dp-oauth/oauth/token` issues bearer tokens for
    /// these client credentials, valid for `token_lifetime`.
    OAuth {
        client_id: String,
        client_secret: String,
        token_lifetime: Duration,
    },
    /// https with a client certificate signed by the fake's own CA
    /// (generated at start); no bearer token.
    Certificate,
}

impl std::fmt::Debug for FakeAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FakeAuth::OAuth {
                client_id,
                token_lifetime,
                ..
            } => f
                .debug_struct("OAuth")
                .field("client_id", client_id)
                .field("client_secret", &"<redacted>")
                .field("token_lifetime", token_lifetime)
                .finish(),
            FakeAuth::Certificate => f.write_str("Certificate"),
        }
    }
}

/// What the fake is: how it authenticates, its payload key, the provider it
/// serves, and a latency added to every answer.
#[derive(Clone, PartialEq, Eq)]
pub struct FakeConfig {
    pub auth: FakeAuth,
    /// base64 of 32 bytes (API-NOTES §3).
    pub encryption_key_b64: String,
    /// The training provider's UEN; publish, edit and the enrolment APIs
    /// must name it.
    pub uen: String,
    /// The training partner code, `{UEN}-NN`; the enrolment APIs must name
    /// it.
    pub tp_code: String,
    /// Added to every answer.
    pub latency: Duration,
}

impl std::fmt::Debug for FakeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeConfig")
            .field("auth", &self.auth)
            .field("encryption_key_b64", &"<redacted>")
            .field("uen", &self.uen)
            .field("tp_code", &self.tp_code)
            .field("latency", &self.latency)
            .finish()
    }
}

impl FakeConfig {
    /// OAuth mode with test defaults: client `tms-local` /
    /// `tms-local-secret`, tokens valid 3600 s, UEN `199900650G`, TP code
    /// `199900650G-01`, [`TEST_ENCRYPTION_KEY`], no latency.
    pub fn oauth() -> Self {
        FakeConfig {
            auth: FakeAuth::OAuth {
                client_id: "tms-local".to_string(),
                client_secret: "tms-local-secret".to_string(),
                token_lifetime: Duration::from_secs(3600),
            },
            ..FakeConfig::certificate()
        }
    }

    /// Certificate (mutual TLS) mode with the same test defaults.
    pub fn certificate() -> Self {
        FakeConfig {
            auth: FakeAuth::Certificate,
            encryption_key_b64: TEST_ENCRYPTION_KEY.to_string(),
            uen: "199900650G".to_string(),
            tp_code: "199900650G-01".to_string(),
            latency: Duration::ZERO,
        }
    }
}

/// Which API a request is for (by path, whatever the method).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `POST /dp-oauth/oauth/token`
    Token,
    /// `POST /courses/courseRuns/publish`
    Publish,
    /// `POST /courses/courseRuns/edit/{runId}`
    Edit,
    /// `GET /courses/courseRuns/id/{runId}`
    GetRun,
    /// `GET /courses/courseRuns/reference`
    RunsByCrn,
    /// `GET /courses/runs/{runId}/sessions`
    Sessions,
    /// `POST /tpg/enrolments`
    CreateEnrolment,
    /// `POST /tpg/enrolments/details/{enrolmentRef}` (update or cancel)
    UpdateEnrolment,
    /// `POST /tpg/enrolments/search`
    SearchEnrolments,
    /// `GET /tpg/enrolments/details/{enrolmentRef}`
    GetEnrolment,
    /// `POST /courses/runs/{runId}/sessions/attendance`
    UploadAttendance,
    /// `POST /tpg/assessments`
    CreateAssessment,
    /// `POST /tpg/assessments/details/{assessmentRef}` (update or void)
    UpdateAssessment,
    /// `POST /tpg/assessments/search`
    SearchAssessments,
    /// `GET /tpg/assessments/details/{assessmentRef}`
    GetAssessment,
    /// Any request (for [`FakeTpg::inject`], [`FakeTpg::calls`] and
    /// [`FakeTpg::accepted`]: all of them, unknown paths included).
    Any,
}

/// A failure the fake can be told to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and the real error envelope, without
    /// processing the request.
    Status(u16),
    /// 429 with `Retry-After: retry_after_secs`, not processed.
    TooManyRequests { retry_after_secs: u64 },
    /// Wait, then answer normally.
    Delay(Duration),
    /// Never answer (the client times out); the request is not processed.
    Hang,
    /// 400 whose details name this field and message, not processed.
    Validation { field: String, message: String },
    /// Process the request fully (a publish stores its run, a create its
    /// enrolment), then close the connection without writing an answer.
    AcceptThenDrop,
}

/// A course run the fake accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeRun {
    /// The numeric run id, as a string.
    pub id: String,
    pub course_reference_number: String,
    /// The last accepted run object (without `sessions` and `action`).
    pub body: serde_json::Value,
    pub sessions: Vec<FakeSession>,
    /// The trainers linked to the run (`linkCourseRunTrainer`), as the
    /// publish or the last edit that sent the list gave them (an edit
    /// without the list keeps them).
    pub trainers: Vec<FakeTrainer>,
    pub deleted: bool,
    /// 1 for a run created by a publish.
    pub publish_count: u32,
    /// Accepted edits (updates and the delete).
    pub edit_count: u32,
}

/// A trainer linked to an accepted run (one `linkCourseRunTrainer` entry).
#[derive(Debug, Clone, PartialEq)]
pub struct FakeTrainer {
    pub index_number: Option<i64>,
    /// TPGateway's trainer id, for an existing trainer named by it.
    pub id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    /// `trainerType.code`: `"1"` Existing, `"2"` New.
    pub trainer_type: String,
    /// The `trainer` object as accepted.
    pub body: serde_json::Value,
}

/// An enrolment the fake accepted (API-NOTES §7). `Debug` leaves out the
/// trainee's id and details.
#[derive(Clone, PartialEq)]
pub struct FakeEnrolment {
    /// `ENR-YYMM-NNNNNN`.
    pub reference: String,
    pub course_reference_number: String,
    /// The run it is in (an update may have moved it).
    pub run_id: String,
    /// The trainee's id, trimmed and in capitals.
    pub trainee_id: String,
    /// `NRIC`, `FIN` or `OTHERS`.
    pub trainee_id_type: String,
    /// `Confirmed` or `Cancelled`.
    pub status: String,
    /// `EMPLOYER` or `INDIVIDUAL`.
    pub sponsorship_type: String,
    pub employer_uen: Option<String>,
    /// `YYYY-MM-DD`.
    pub enrolment_date: String,
    /// `fees.discountAmount`.
    pub discount_amount: Option<f64>,
    /// `fees.collectionStatus`.
    pub collection_status: String,
    /// The trainee object as created, with updates applied (`fees` and
    /// `employer` included).
    pub trainee: serde_json::Value,
    /// Accepted updates and cancels.
    pub update_count: u32,
}

impl std::fmt::Debug for FakeEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeEnrolment")
            .field("reference", &self.reference)
            .field("course_reference_number", &self.course_reference_number)
            .field("run_id", &self.run_id)
            .field("trainee_id", &"<redacted>")
            .field("trainee_id_type", &self.trainee_id_type)
            .field("status", &self.status)
            .field("sponsorship_type", &self.sponsorship_type)
            .field("employer_uen", &self.employer_uen)
            .field("enrolment_date", &self.enrolment_date)
            .field("discount_amount", &self.discount_amount)
            .field("collection_status", &self.collection_status)
            .field("trainee", &"<redacted>")
            .field("update_count", &self.update_count)
            .finish()
    }
}

/// A trainee's attendance of a session, as last uploaded (API-NOTES §8).
/// `Debug` leaves out the trainee's id and details.
#[derive(Clone, PartialEq)]
pub struct FakeAttendance {
    pub run_id: String,
    /// `{CRN}-{runId}-S{n}`.
    pub session_id: String,
    /// The trainee's id, trimmed and in capitals.
    pub trainee_id: String,
    /// `status.code` as text (`"1"` Confirmed ... `"4"` TP Voided).
    pub status_code: String,
    /// The trainee object as last uploaded.
    pub trainee: serde_json::Value,
    /// Accepted uploads for this trainee and session.
    pub upload_count: u32,
    pub created_on: String,
    pub updated_on: String,
}

impl std::fmt::Debug for FakeAttendance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeAttendance")
            .field("run_id", &self.run_id)
            .field("session_id", &self.session_id)
            .field("trainee_id", &"<redacted>")
            .field("status_code", &self.status_code)
            .field("trainee", &"<redacted>")
            .field("upload_count", &self.upload_count)
            .finish()
    }
}

/// An assessment the fake accepted (API-NOTES §9). `Debug` leaves out
/// the trainee's id.
#[derive(Clone, PartialEq)]
pub struct FakeAssessment {
    /// `ASM-YYMM-NNNNNN`.
    pub reference: String,
    pub course_reference_number: String,
    pub run_id: String,
    /// The trainee's enrolment in the run (its reference).
    pub enrolment_reference: String,
    /// Trimmed, in capitals.
    pub trainee_id: String,
    /// `NRIC`, `FIN` or `OTHERS`.
    pub trainee_id_type: String,
    /// `Pass`, `Fail` or `Exempt`.
    pub result: String,
    pub grade: Option<String>,
    pub score: Option<u64>,
    /// `YYYY-MM-DD`.
    pub assessment_date: String,
    pub skill_code: Option<String>,
    pub void: bool,
    /// Accepted updates and voids.
    pub update_count: u32,
}

impl std::fmt::Debug for FakeAssessment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeAssessment")
            .field("reference", &self.reference)
            .field("run_id", &self.run_id)
            .field("enrolment_reference", &self.enrolment_reference)
            .field("trainee_id", &"<redacted>")
            .field("result", &self.result)
            .field("grade", &self.grade)
            .field("score", &self.score)
            .field("assessment_date", &self.assessment_date)
            .field("void", &self.void)
            .field("update_count", &self.update_count)
            .finish()
    }
}

/// A session of an accepted run.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeSession {
    /// `{CRN}-{runId}-S{n}`.
    pub id: String,
    /// The session object as last accepted (without `action`/`sessionId`).
    pub body: serde_json::Value,
    pub deleted: bool,
}

/// A running fake TPGateway. Clones share the server; it stops on
/// [`FakeTpg::shutdown`] or when the last clone is dropped.
#[derive(Clone)]
pub struct FakeTpg {
    inner: Arc<Inner>,
}

struct Inner {
    app: Arc<App>,
    addr: SocketAddr,
    pki: Option<tls::ClientPki>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for FakeTpg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeTpg")
            .field("base_url", &self.base_url())
            .finish_non_exhaustive()
    }
}

impl FakeTpg {
    /// Starts the fake on `127.0.0.1`, on a free port.
    pub async fn start(cfg: FakeConfig) -> std::io::Result<FakeTpg> {
        FakeTpg::start_on(cfg, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts the fake on this address (port 0: a free one). Fails on a
    /// key that is not base64 of 32 bytes, or when it cannot bind.
    pub async fn start_on(cfg: FakeConfig, addr: SocketAddr) -> std::io::Result<FakeTpg> {
        let key = EncryptionKey::from_base64(&cfg.encryption_key_b64)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let (acceptor, pki) = match cfg.auth {
            FakeAuth::Certificate => {
                let (acceptor, pki) = tls::generate()?;
                (Some(acceptor), Some(pki))
            }
            FakeAuth::OAuth { .. } => (None, None),
        };
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let app = Arc::new(App::new(cfg, key));
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(server::accept_loop(
            listener,
            acceptor,
            Arc::clone(&app),
            stopped,
        ));
        Ok(FakeTpg {
            inner: Arc::new(Inner {
                app,
                addr,
                pki,
                stop,
                task: Mutex::new(Some(task)),
            }),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// `http://127.0.0.1:PORT` (OAuth) or `https://127.0.0.1:PORT`
    /// (certificate). An unspecified bind address is given as 127.0.0.1.
    pub fn base_url(&self) -> String {
        let scheme = if self.inner.pki.is_some() {
            "https"
        } else {
            "http"
        };
        let addr = self.inner.addr;
        let host = if addr.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else if addr.is_ipv6() {
            format!("[{}]", addr.ip())
        } else {
            addr.ip().to_string()
        };
        format!("{scheme}://{host}:{}", addr.port())
    }

    /// A complete secret document (the shape `tms_tpgateway::secret` parses)
    /// that configures a client for this fake.
    pub fn secret_json(&self) -> serde_json::Value {
        let cfg = &self.inner.app.cfg;
        let base_url = self.base_url();
        let mut doc = serde_json::json!({
            "base_url": base_url,
            "auth_mode": "oauth",
            "encryption_key": cfg.encryption_key_b64,
            "uen": cfg.uen,
            "tp_code": cfg.tp_code,
        });
        match (&cfg.auth, &self.inner.pki) {
            (
                FakeAuth::OAuth {
                    client_id,
                    client_secret,
                    ..
                },
                _,
            ) => {
                doc["client_id"] = client_id.as_str().into();
                doc["client_secret"] = client_secret.as_str().into();
                doc["token_url"] = format!("{base_url}/dp-oauth/oauth/token").into();
            }
            (FakeAuth::Certificate, pki) => {
                doc["auth_mode"] = "certificate".into();
                if let Some(pki) = pki {
                    doc["certificate_pem"] = pki.client_cert_pem.as_str().into();
                    doc["private_key_pem"] = pki.client_key_pem.as_str().into();
                }
            }
        }
        doc
    }

    /// Certificate mode: the CA (PEM) that signed the server certificate and
    /// the client certificate; clients must trust it.
    pub fn ca_pem(&self) -> Option<String> {
        self.inner.pki.as_ref().map(|p| p.ca_pem.clone())
    }

    /// The next `times` requests for `route` (any request for
    /// [`Route::Any`]) get `fault` instead of (or, for `Delay` and
    /// `AcceptThenDrop`, around) normal handling. Faults queue in order.
    pub fn inject(&self, route: Route, fault: Fault, times: u32) {
        self.inner.app.inject(route, fault, times);
    }

    /// Forgets every fault not yet used.
    pub fn clear_faults(&self) {
        self.inner.app.clear_faults();
    }

    /// Every token issued so far becomes invalid (401 on use).
    pub fn expire_tokens(&self) {
        self.inner.app.expire_tokens();
    }

    /// Changes the latency added to every answer.
    pub fn set_latency(&self, d: Duration) {
        self.inner.app.set_latency(d);
    }

    /// The runs it accepted, deleted ones included (flagged), by id.
    pub fn runs(&self) -> Vec<FakeRun> {
        self.inner.app.runs()
    }

    /// The attendance it accepted: one record per session and trainee.
    pub fn attendance(&self) -> Vec<FakeAttendance> {
        self.inner.app.attendance()
    }

    /// The enrolments it accepted, cancelled ones included, in the order
    /// they were created.
    pub fn enrolments(&self) -> Vec<FakeEnrolment> {
        self.inner.app.enrolments()
    }

    /// The assessments it accepted, void ones included, in the order they
    /// were created.
    pub fn assessments(&self) -> Vec<FakeAssessment> {
        self.inner.app.assessments()
    }

    /// Requests received for `route` (faulted ones included).
    pub fn calls(&self, route: Route) -> u32 {
        self.inner.app.calls(route)
    }

    /// Requests for `route` that were processed and succeeded (a 2xx
    /// answer, or processed and then dropped by `AcceptThenDrop`).
    pub fn accepted(&self, route: Route) -> u32 {
        self.inner.app.accepted(route)
    }

    /// Tokens issued so far.
    pub fn tokens_issued(&self) -> u32 {
        self.inner.app.tokens_issued()
    }

    /// Stops accepting, closes every connection (hung ones too) and waits
    /// for the server task to end.
    pub async fn shutdown(self) {
        let _ = self.inner.stop.send(true);
        let task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}
