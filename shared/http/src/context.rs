//! Request context middleware: the correlation id (accepted, generated,
//! echoed, carried into logs) and the acting user.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tms_app::{Actor, RequestContext};
use tracing::Instrument;

use crate::problem::{ApiError, Problem};

pub const CORRELATION_HEADER: HeaderName = HeaderName::from_static("x-correlation-id");

tokio::task_local! {
    static CORRELATION_ID: String;
}

/// The correlation id of the request being served, if any.
pub fn current_correlation_id() -> Option<String> {
    CORRELATION_ID.try_with(|c| c.clone()).ok()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorrelationId(pub String);

/// The function serving the request, for logs: the Lambda's name in AWS,
/// `tms-local` elsewhere.
fn function_name() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "tms-local".into())
    })
}

/// A client's correlation id is kept when it is 1..=128 characters of
/// `[A-Za-z0-9._:-]`; anything else is replaced, never echoed.
pub fn accept_correlation_id(headers: &HeaderMap) -> String {
    headers
        .get(&CORRELATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
        })
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// Accepts or generates the correlation id, runs the request inside a span
/// carrying it, echoes it, and logs one line per request (method, route
/// pattern, status, duration: never the query string or the body).
pub async fn correlation(mut req: Request, next: Next) -> Response {
    let id = accept_correlation_id(req.headers());
    req.extensions_mut().insert(CorrelationId(id.clone()));
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let span = tracing::info_span!("request", function = function_name(), correlation_id = %id, method = %method, route = %route);
    let started = std::time::Instant::now();
    let mut res = CORRELATION_ID
        .scope(id.clone(), next.run(req))
        .instrument(span.clone())
        .await;
    span.in_scope(|| {
        tracing::info!(
            status = res.status().as_u16(),
            duration_ms = started.elapsed().as_millis() as u64,
            "request served"
        )
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(CORRELATION_HEADER, v);
    }
    res
}

/// Where the acting user comes from. Login and roles arrive in a later
/// issue; it will replace this one piece (a token check here locally, the
/// API Gateway authorizer's context in AWS).
#[derive(Debug, Clone)]
pub enum ActorSource {
    /// Every request acts as this user (the local run, and until login).
    Fixed(Actor),
}

pub async fn actor(State(source): State<ActorSource>, mut req: Request, next: Next) -> Response {
    let actor = match &source {
        ActorSource::Fixed(a) => a.clone(),
    };
    req.extensions_mut().insert(actor);
    next.run(req).await
}

/// The use-case context of a request: actor and correlation id.
pub struct Ctx(pub RequestContext);

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let actor = parts.extensions.get::<Actor>().cloned().ok_or_else(|| {
            ApiError::from(Problem::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Not signed in",
            ))
        })?;
        let correlation_id = parts
            .extensions
            .get::<CorrelationId>()
            .map(|c| c.0.clone())
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        Ok(Ctx(RequestContext {
            actor,
            correlation_id,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_good_ids_replaces_bad_ones() {
        let mut h = HeaderMap::new();
        h.insert(
            CORRELATION_HEADER,
            HeaderValue::from_static("abc-123.x:y_z"),
        );
        assert_eq!(accept_correlation_id(&h), "abc-123.x:y_z");
        h.insert(CORRELATION_HEADER, HeaderValue::from_static("has space"));
        let generated = accept_correlation_id(&h);
        assert_ne!(generated, "has space");
        assert_eq!(generated.len(), 36);
        h.insert(
            CORRELATION_HEADER,
            HeaderValue::from_str(&"a".repeat(129)).unwrap(),
        );
        assert_eq!(accept_correlation_id(&h).len(), 36);
    }
}
