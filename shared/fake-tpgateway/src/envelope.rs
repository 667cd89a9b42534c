//! TPGateway's response envelope (API-NOTES §4):
//! `{"status", "data", "meta": {"createdOn", "updatedOn"}, "error": {}}`, and
//! for errors `{"status", "data": {}, "meta": {}, "error": {"code",
//! "message", "details": [{"field", "message"}]}}`. The error-code list is
//! not public: the fake uses `TGS-<status>`, and the one code seen,
//! `TGS-439` (an already-cancelled enrolment).
//!
//! An [`Answer`] is an envelope not yet written: APIs whose responses are
//! encrypted (API-NOTES §3) send it as base64 ciphertext.

use axum::body::Body;
use axum::response::Response;
use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};
use serde_json::{json, Value};
use tms_tpgateway::EncryptionKey;

/// One field-level problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Detail {
    pub(crate) field: String,
    pub(crate) message: String,
}

/// Now as TPGateway writes it, `2025-01-05T02:00:00Z`.
pub(crate) fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// A 200 envelope with `data` and the record's times.
fn ok_envelope(data: Value, created_on: &str, updated_on: &str) -> Value {
    json!({
        "status": 200,
        "data": data,
        "meta": {"createdOn": created_on, "updatedOn": updated_on},
        "error": {},
    })
}

/// An error envelope with this code; `details` may be empty.
fn error_envelope(status: StatusCode, code: &str, message: &str, details: &[Detail]) -> Value {
    let mut error = json!({
        "code": code,
        "message": message,
    });
    if !details.is_empty() {
        error["details"] = details
            .iter()
            .map(|d| json!({"field": d.field, "message": d.message}))
            .collect();
    }
    json!({
        "status": status.as_u16(),
        "data": {},
        "meta": {},
        "error": error,
    })
}

/// 200 with `data` and the record's times.
pub(crate) fn ok(data: Value, created_on: &str, updated_on: &str) -> Response {
    json_response(StatusCode::OK, &ok_envelope(data, created_on, updated_on))
}

/// An error envelope; `details` may be empty.
pub(crate) fn error(status: StatusCode, message: &str, details: &[Detail]) -> Response {
    let code = format!("TGS-{}", status.as_u16());
    json_response(status, &error_envelope(status, &code, message, details))
}

/// An envelope and its HTTP status, to be sent plain or encrypted.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Value,
}

impl Answer {
    /// 200 with `data` and the record's times.
    pub(crate) fn ok(data: Value, created_on: &str, updated_on: &str) -> Answer {
        Answer {
            status: StatusCode::OK,
            body: ok_envelope(data, created_on, updated_on),
        }
    }

    /// An error with the code `TGS-<status>`.
    pub(crate) fn error(status: StatusCode, message: &str, details: &[Detail]) -> Answer {
        let code = format!("TGS-{}", status.as_u16());
        Answer::error_with_code(status, &code, message, details)
    }

    pub(crate) fn error_with_code(
        status: StatusCode,
        code: &str,
        message: &str,
        details: &[Detail],
    ) -> Answer {
        Answer {
            status,
            body: error_envelope(status, code, message, details),
        }
    }

    /// 400 listing these problems.
    pub(crate) fn invalid(details: &[Detail]) -> Answer {
        Answer::error(StatusCode::BAD_REQUEST, "Invalid request", details)
    }

    /// 400 with one detail.
    pub(crate) fn bad_request(field: &str, message: &str) -> Answer {
        Answer::invalid(&[Detail {
            field: field.to_string(),
            message: message.to_string(),
        }])
    }

    pub(crate) fn not_found(message: &str) -> Answer {
        Answer::error(StatusCode::NOT_FOUND, message, &[])
    }

    pub(crate) fn forbidden(message: &str) -> Answer {
        Answer::error(StatusCode::FORBIDDEN, message, &[])
    }

    /// The envelope as base64 ciphertext of its JSON (API-NOTES §3: the
    /// raw base64 text, not wrapped in JSON), with the answer's status.
    pub(crate) fn encrypted(&self, key: &EncryptionKey) -> Response {
        let mut r = Response::new(Body::from(key.encrypt(&self.body.to_string())));
        *r.status_mut() = self.status;
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        r
    }
}

/// 400 with one detail.
pub(crate) fn bad_request(field: &str, message: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "Invalid request",
        &[Detail {
            field: field.to_string(),
            message: message.to_string(),
        }],
    )
}

pub(crate) fn invalid(details: &[Detail]) -> Response {
    error(StatusCode::BAD_REQUEST, "Invalid request", details)
}

pub(crate) fn not_found(message: &str) -> Response {
    error(StatusCode::NOT_FOUND, message, &[])
}

pub(crate) fn forbidden(message: &str) -> Response {
    error(StatusCode::FORBIDDEN, message, &[])
}

pub(crate) fn unauthorized(message: &str) -> Response {
    let mut r = error(StatusCode::UNAUTHORIZED, message, &[]);
    r.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    r
}

pub(crate) fn too_many_requests(retry_after_secs: u64) -> Response {
    let mut r = error(StatusCode::TOO_MANY_REQUESTS, "Too many requests", &[]);
    r.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(retry_after_secs));
    r
}

/// An answer with this status (500 when it is not a valid status code).
pub(crate) fn status(code: u16) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = status.canonical_reason().unwrap_or("Error");
    error(status, message, &[])
}

/// An OAuth 2.0 token-endpoint error (RFC 6749 §5.2).
pub(crate) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut r = json_response(
        status,
        &json!({"error": error, "error_description": description}),
    );
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"dp-oauth\""),
        );
    }
    r
}
