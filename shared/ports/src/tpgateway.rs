//! The TPGateway port: one call of one TPGateway API. The adapter knows the
//! wire (base URL, authentication, `x-api-version`, which bodies are
//! encrypted, time-outs); the application builds bodies through the domain's
//! payload builders and decides what each outcome means for a job.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The TPGateway APIs the system calls (API-NOTES §6, §7). The method, path
/// shape, version header and encryption of each are in the adapter's one
/// table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Api {
    /// `POST /courses/courseRuns/publish`
    PublishRun,
    /// `POST /courses/courseRuns/edit/{runId}` (update or delete)
    EditRun,
    /// `GET /courses/courseRuns/id/{runId}`
    GetRun,
    /// `GET /courses/courseRuns/reference`
    RunsByCrn,
    /// `GET /courses/runs/{runId}/sessions`
    GetSessions,
    /// `POST /tpg/enrolments`
    CreateEnrolment,
    /// `POST /tpg/enrolments/details/{enrolmentRef}` (update or cancel)
    UpdateEnrolment,
    /// `POST /tpg/enrolments/search` (a POST that only reads)
    SearchEnrolments,
    /// `GET /tpg/enrolments/details/{enrolmentRef}`
    GetEnrolment,
    /// `POST /courses/runs/{runId}/sessions/attendance` (one trainee)
    UploadAttendance,
    /// `POST /tpg/assessments`
    CreateAssessment,
    /// `POST /tpg/assessments/details/{assessmentRef}` (update or void)
    UpdateAssessment,
    /// `POST /tpg/assessments/search` (a POST that only reads)
    SearchAssessments,
    /// `GET /tpg/assessments/details/{assessmentRef}`
    GetAssessment,
}

impl Api {
    pub const ALL: [Api; 14] = [
        Api::PublishRun,
        Api::EditRun,
        Api::GetRun,
        Api::RunsByCrn,
        Api::GetSessions,
        Api::CreateEnrolment,
        Api::UpdateEnrolment,
        Api::SearchEnrolments,
        Api::GetEnrolment,
        Api::UploadAttendance,
        Api::CreateAssessment,
        Api::UpdateAssessment,
        Api::SearchAssessments,
        Api::GetAssessment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Api::PublishRun => "publish_run",
            Api::EditRun => "edit_run",
            Api::GetRun => "get_run",
            Api::RunsByCrn => "runs_by_crn",
            Api::GetSessions => "get_sessions",
            Api::CreateEnrolment => "create_enrolment",
            Api::UpdateEnrolment => "update_enrolment",
            Api::SearchEnrolments => "search_enrolments",
            Api::GetEnrolment => "get_enrolment",
            Api::UploadAttendance => "upload_attendance",
            Api::CreateAssessment => "create_assessment",
            Api::UpdateAssessment => "update_assessment",
            Api::SearchAssessments => "search_assessments",
            Api::GetAssessment => "get_assessment",
        }
    }

    /// Whether the call only reads: an unknown outcome of a read is simply
    /// a failed read. An enrolment search is a POST but only reads.
    pub fn is_read(self) -> bool {
        matches!(
            self,
            Api::GetRun
                | Api::RunsByCrn
                | Api::GetSessions
                | Api::SearchEnrolments
                | Api::GetEnrolment
                | Api::SearchAssessments
                | Api::GetAssessment
        )
    }
}

/// One request: the API, its path (with ids filled in, e.g.
/// `/courses/courseRuns/edit/835457`), query parameters, and the plaintext
/// JSON body (the adapter encrypts it when the API's request is encrypted).
#[derive(Debug, Clone, PartialEq)]
pub struct TpgRequest {
    pub api: Api,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
}

impl TpgRequest {
    pub fn new(api: Api, path: impl Into<String>) -> Self {
        TpgRequest {
            api,
            path: path.into(),
            query: Vec::new(),
            body: None,
        }
    }
    pub fn query(mut self, name: &str, value: impl Into<String>) -> Self {
        self.query.push((name.to_string(), value.into()));
        self
    }
    pub fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
}

/// A successful answer: the HTTP status and the (decrypted) envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct TpgResponse {
    pub status: u16,
    pub body: Value,
}

/// What a failed call means for the caller, as a property of the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Not done, and worth retrying: the connection failed, 5xx, 429, or an
    /// authentication failure that persisted after one refresh.
    Transient,
    /// Refused: TPGateway answered 4xx (other than 401/403/429). Retrying
    /// the same data gets the same answer.
    Permanent,
    /// The request was sent and no answer came (time-out, dropped
    /// connection): TPGateway may or may not have acted on it.
    UnknownOutcome,
}

/// One of TPGateway's field details (`error.details[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDetail {
    pub field: String,
    pub message: String,
}

/// A failed call. Never holds a credential; `message` and `details` are
/// TPGateway's own words (kept on the job for a person to read, not logged).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("TPGateway {api} failed ({kind:?}, status {status:?}, code {code:?})", api = api.as_str())]
pub struct TpgError {
    pub api: Api,
    pub kind: ErrorKind,
    /// The HTTP status, when an answer came.
    pub status: Option<u16>,
    /// TPGateway's `error.code`.
    pub code: Option<String>,
    /// TPGateway's `error.message`, or what went wrong on our side.
    pub message: String,
    pub details: Vec<FieldDetail>,
    /// From a 429's Retry-After.
    pub retry_after: Option<Duration>,
    /// The (decrypted) error envelope, when one came (boxed: errors stay
    /// small on the happy path's stack).
    pub body: Option<Box<Value>>,
}

impl TpgError {
    /// An error of our own making (no answer from TPGateway).
    pub fn local(api: Api, kind: ErrorKind, message: impl Into<String>) -> Self {
        TpgError {
            api,
            kind,
            status: None,
            code: None,
            message: message.into(),
            details: Vec::new(),
            retry_after: None,
            body: None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status == Some(404)
    }
}

/// The provider this connection acts for (from the TPGateway secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderIdentity {
    pub uen: String,
    pub tp_code: String,
}

#[async_trait]
pub trait TpGateway: Send + Sync {
    /// The provider's UEN and training partner code.
    async fn provider(&self) -> Result<ProviderIdentity, TpgError>;

    /// Makes one call. Authentication failures are refreshed and retried
    /// once inside; every other failure is returned, classified.
    async fn call(&self, request: TpgRequest) -> Result<TpgResponse, TpgError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_api_is_listed_once_and_named_as_serde_names_it() {
        for (i, api) in Api::ALL.iter().enumerate() {
            assert!(!Api::ALL[..i].contains(api), "{api:?} listed twice");
            let serde_name = serde_json::to_value(api).unwrap();
            assert_eq!(serde_name, api.as_str(), "{api:?}");
        }
        assert_eq!(Api::CreateEnrolment.as_str(), "create_enrolment");
        assert_eq!(Api::UpdateEnrolment.as_str(), "update_enrolment");
        assert_eq!(Api::SearchEnrolments.as_str(), "search_enrolments");
        assert_eq!(Api::GetEnrolment.as_str(), "get_enrolment");
    }

    #[test]
    fn searches_and_views_only_read() {
        for api in [
            Api::GetRun,
            Api::RunsByCrn,
            Api::GetSessions,
            Api::SearchEnrolments,
            Api::GetEnrolment,
            Api::SearchAssessments,
            Api::GetAssessment,
        ] {
            assert!(api.is_read(), "{api:?}");
        }
        for api in [
            Api::PublishRun,
            Api::EditRun,
            Api::CreateEnrolment,
            Api::UpdateEnrolment,
            Api::CreateAssessment,
            Api::UpdateAssessment,
        ] {
            assert!(!api.is_read(), "{api:?}");
        }
    }
}
