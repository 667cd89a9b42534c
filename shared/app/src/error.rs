//! The application's error: what a use case can answer. The HTTP edge maps
//! each variant to a status once (tms-http::problem).

use tms_domain::{DomainError, ValidationErrors};
use tms_ports::{QueueError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Input that breaks a rule; nothing was changed.
    #[error("{0}")]
    Validation(ValidationErrors),
    /// Query parameters that are malformed or contradict each other.
    #[error("{0}")]
    InvalidQuery(ValidationErrors),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A duplicate, or a change the entity's state does not allow.
    #[error("{0}")]
    Conflict(String),
    /// If-Match names a version that is no longer current.
    #[error("the resource has changed since it was read")]
    PreconditionFailed,
    /// A change was asked for without If-Match.
    #[error("this change needs an If-Match header with the resource's ETag")]
    PreconditionRequired,
    /// An Idempotency-Key was used before with another request.
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,
    #[error("the cursor is not valid for this list")]
    InvalidCursor,
    #[error("{0}")]
    TooLarge(String),
    /// A list in the request holds more items than one change can take.
    #[error("{field} must hold at most {limit} items; {given} given")]
    TooManyRows {
        field: &'static str,
        limit: usize,
        given: usize,
    },
    /// A concurrent change (or a concurrent request with the same
    /// Idempotency-Key still in flight) got in the way; retry shortly.
    #[error("{0}")]
    Contention(String),
    /// The store or queue is unreachable or throttling; retryable.
    #[error("temporarily unavailable")]
    Unavailable(String),
    /// No valid access token, or the credentials given are wrong.
    #[error("not signed in")]
    Unauthenticated,
    /// The refresh token is unknown, used, revoked or expired.
    #[error("the refresh token is not valid")]
    InvalidRefreshToken,
    /// Signed in, but the acting user's roles do not allow this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// Signed in, allowed some of the change but not this field.
    #[error("{reason}: {field}")]
    ForbiddenField { field: String, reason: &'static str },
    /// Too many failed sign-ins for one e-mail: wait this many seconds.
    #[error("too many failed sign-ins; retry later")]
    TooManyAttempts { retry_after_secs: u32 },
    #[error("internal error")]
    Internal(String),
}

/// `None` for a `NotFound`, the value or the other error as they are: for
/// the sync worker, to which a missing entity is an outcome (nothing to
/// send, nothing to record), not a failure.
pub(crate) fn found<T>(r: Result<T, AppError>) -> Result<Option<T>, AppError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(AppError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

impl AppError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, AppError::Unavailable(_) | AppError::Contention(_))
    }
}

impl From<ValidationErrors> for AppError {
    fn from(e: ValidationErrors) -> Self {
        AppError::Validation(e)
    }
}

impl From<DomainError> for AppError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid(v) => AppError::Validation(v),
            DomainError::InvalidState(m) => AppError::Conflict(m),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InvalidCursor(_) => AppError::InvalidCursor,
            StoreError::TooLarge(m) => AppError::TooLarge(m),
            StoreError::TransactionConflict => {
                AppError::Contention("a concurrent change touched the same data; retry".into())
            }
            StoreError::ConditionFailed { .. } => {
                AppError::Conflict("the change conflicts with the stored data".into())
            }
            StoreError::Unavailable(m) => AppError::Unavailable(m),
            // Input never reaches the store unchecked (dates, ranges, cursors
            // and sizes are refused at the edge or in the use case), so an
            // invalid request here is a bug: internal.
            StoreError::InvalidRequest(m) | StoreError::Backend(m) => AppError::Internal(m),
        }
    }
}

impl From<QueueError> for AppError {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::Unavailable(m) => AppError::Unavailable(m),
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<serde_json::Error> for AppError {
    fn from(e: serde_json::Error) -> Self {
        AppError::Internal(format!("stored data could not be read: {e}"))
    }
}
