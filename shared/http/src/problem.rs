//! Errors as `application/problem+json` (RFC 9457), mapped from every
//! layer's error in ONE place: here.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tms_app::AppError;
use tms_domain::FieldError;

use crate::context::current_correlation_id;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error (RFC 9457).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Problem {
    /// What went wrong, as a path naming the kind, e.g. `/problems/validation-error`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Seconds for a `Retry-After` header (not in the body).
    #[serde(skip)]
    pub retry_after: Option<u32>,
}

impl Problem {
    pub fn new(status: StatusCode, slug: &str, title: &str) -> Self {
        Problem {
            kind: format!("/problems/{slug}"),
            title: title.to_string(),
            status: status.as_u16(),
            detail: None,
            correlation_id: None,
            errors: Vec::new(),
            retry_after: None,
        }
    }
    pub fn retry_after(mut self, secs: u32) -> Self {
        self.retry_after = Some(secs);
        self
    }
    pub fn too_large() -> Self {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "Request too large",
        )
        .detail(format!(
            "the body must be at most {} bytes",
            crate::extract::MAX_BODY_BYTES
        ))
        .field("body", "is too large")
    }
    pub fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }
    pub fn errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }
    pub fn field(self, field: impl Into<String>, reason: impl Into<String>) -> Self {
        self.errors(vec![FieldError::new(field, reason)])
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::BAD_REQUEST, "bad-request", "Bad request").detail(detail)
    }
    pub fn validation(errors: Vec<FieldError>) -> Self {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation-error",
            "The request has invalid fields",
        )
        .errors(errors)
    }
    pub fn not_found(what: &str) -> Self {
        Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found")
            .detail(format!("{what} not found"))
    }
}

impl IntoResponse for Problem {
    fn into_response(mut self) -> Response {
        if self.correlation_id.is_none() {
            self.correlation_id = current_correlation_id();
        }
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut res = (status, body).into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

/// The edge's error: everything a handler can fail with.
#[derive(Debug)]
pub struct ApiError(pub Box<Problem>);

impl From<Problem> for ApiError {
    fn from(p: Problem) -> Self {
        ApiError(Box::new(p))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        let p = match e {
            AppError::Validation(v) => Problem::validation(v.0),
            AppError::InvalidQuery(v) => {
                Problem::bad_request("the query string is not valid").errors(v.0)
            }
            AppError::NotFound(what) => Problem::not_found(what),
            AppError::Conflict(m) => {
                Problem::new(StatusCode::CONFLICT, "conflict", "Conflict").detail(m)
            }
            AppError::Contention(m) => Problem::new(
                StatusCode::CONFLICT,
                "concurrent-request",
                "Concurrent request",
            )
            .detail(m)
            .retry_after(1),
            AppError::PreconditionFailed => Problem::new(
                StatusCode::PRECONDITION_FAILED,
                "precondition-failed",
                "The resource has changed",
            )
            .detail("the If-Match ETag is not the current version; read the resource again")
            .field("If-Match", "does not match the current ETag"),
            AppError::PreconditionRequired => Problem::new(
                StatusCode::PRECONDITION_REQUIRED,
                "precondition-required",
                "If-Match required",
            )
            .detail("send the resource's ETag in an If-Match header")
            .field("If-Match", "is required"),
            AppError::IdempotencyKeyReused => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency-Key reused",
            )
            .detail("this Idempotency-Key was used with a different request")
            .field("Idempotency-Key", "was used with a different request"),
            AppError::InvalidCursor => {
                Problem::bad_request("the cursor is not valid for this list")
                    .field("cursor", "is not a cursor this list returned")
            }
            AppError::TooLarge(m) => Problem::too_large().detail(m),
            AppError::TooManyRows {
                field,
                limit,
                given,
            } => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                "Request too large",
            )
            .detail(format!(
                "{field} holds {given} items; one request takes at most {limit}: send the rest in further requests"
            ))
            .field(field.to_string(), format!("must hold at most {limit} items")),
            AppError::Unavailable(m) => {
                tracing::warn!(error = %m, "dependency unavailable");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "Temporarily unavailable",
                )
                .detail("a backing service is unavailable; retry later")
            }
            AppError::Unauthenticated => {
                Problem::new(StatusCode::UNAUTHORIZED, "unauthenticated", "Not signed in")
                    .detail("sign in, and send the access token as Authorization: Bearer <token>")
                    .field("Authorization", "is missing, invalid or expired")
            }
            AppError::InvalidRefreshToken => Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid-refresh-token",
                "Refresh token not valid",
            )
            .detail("the refresh token is unknown, used, revoked or expired; sign in again")
            .field("refresh_token", "is not valid"),
            AppError::ForbiddenField { field, reason } => {
                Problem::new(StatusCode::FORBIDDEN, "forbidden", "Not allowed")
                    .detail(reason)
                    .field(field, "may not be changed by your roles")
            }
            AppError::Forbidden(why) => {
                Problem::new(StatusCode::FORBIDDEN, "forbidden", "Not allowed").detail(why)
            }
            AppError::TooManyAttempts { retry_after_secs } => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-sign-ins",
                "Too many failed sign-ins",
            )
            .detail("too many failed sign-ins for this e-mail; retry after the Retry-After delay")
            .retry_after(retry_after_secs),
            AppError::Internal(m) => {
                tracing::error!(error = %m, "internal error");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal error",
                )
            }
        };
        ApiError(Box::new(p))
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
