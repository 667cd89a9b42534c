//! Request context middleware: the correlation id (accepted, generated,
//! echoed, carried into logs) and the acting user.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tms_app::{Actor, RequestContext};
use tracing::Instrument;

use crate::problem::ApiError;

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

/// Where the acting user comes from.
#[derive(Clone)]
pub enum ActorSource {
    /// The access token in `Authorization: Bearer <token>`, checked on
    /// every request (the local server). A request without the header has
    /// no actor: only login, refresh and logout serve it; a request with a
    /// bad token is refused at once.
    Token(std::sync::Arc<tms_app::auth::AuthKeys>),
    /// The API Gateway Lambda authorizer checked the token in front of the
    /// function and put the user id and roles in the request context
    /// (`user_id`, `roles` comma-separated). A request without that context
    /// has no actor.
    Authorizer,
    /// Every request acts as this user: test helpers only.
    Fixed(Actor),
}

/// The actor the Lambda authorizer put in an API Gateway (HTTP API)
/// request context, if any.
pub fn authorizer_actor(req: &Request) -> Option<Actor> {
    use lambda_http::request::RequestContext;
    let ctx = req.extensions().get::<RequestContext>()?;
    let RequestContext::ApiGatewayV2(v2) = ctx else {
        return None;
    };
    let fields = &v2.authorizer.as_ref()?.fields;
    let user_id = fields.get(AUTHORIZER_USER_ID)?.as_str()?.to_string();
    let roles = fields
        .get(AUTHORIZER_ROLES)?
        .as_str()?
        .split(',')
        .filter(|r| !r.is_empty())
        .map(tms_domain::access::Role::parse)
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    Some(Actor { user_id, roles })
}

/// The authorizer context's keys.
pub const AUTHORIZER_USER_ID: &str = "user_id";
pub const AUTHORIZER_ROLES: &str = "roles";

impl std::fmt::Debug for ActorSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ActorSource::Token(_) => f.write_str("ActorSource::Token"),
            ActorSource::Authorizer => f.write_str("ActorSource::Authorizer"),
            ActorSource::Fixed(a) => write!(f, "ActorSource::Fixed({})", a.user_id),
        }
    }
}

/// The bearer token of a request: `None` without an Authorization header,
/// `Err` when the header is there but is not `Bearer <token>`.
fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ()> {
    let Some(v) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let v = v.to_str().map_err(|_| ())?;
    let (scheme, token) = v.split_once(' ').ok_or(())?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains(' ') {
        return Err(());
    }
    Ok(Some(token))
}

/// Why the request's token gave no actor: kept for the routes that need
/// one (the sign-in routes do not, so a stale token header does not stop
/// a client from signing in again).
#[derive(Debug, Clone)]
struct TokenRefused {
    /// The signing key could not be read (503), rather than a bad token.
    unavailable: Option<String>,
}

impl TokenRefused {
    fn of(e: tms_app::AppError) -> Self {
        match e {
            tms_app::AppError::Unavailable(m) => TokenRefused {
                unavailable: Some(m),
            },
            _ => TokenRefused { unavailable: None },
        }
    }
    fn error(&self) -> tms_app::AppError {
        match &self.unavailable {
            Some(m) => tms_app::AppError::Unavailable(m.clone()),
            None => tms_app::AppError::Unauthenticated,
        }
    }
}

pub async fn actor(State(source): State<ActorSource>, mut req: Request, next: Next) -> Response {
    let actor = match &source {
        ActorSource::Fixed(a) => Ok(Some(a.clone())),
        ActorSource::Authorizer => Ok(authorizer_actor(&req)),
        ActorSource::Token(keys) => match bearer(req.headers()) {
            Ok(None) => Ok(None),
            Ok(Some(token)) => keys.actor_of(token, chrono::Utc::now()).await.map(Some),
            Err(()) => Err(tms_app::AppError::Unauthenticated),
        },
    };
    match actor {
        Ok(Some(a)) => {
            req.extensions_mut().insert(a);
        }
        Ok(None) => {}
        Err(e) => {
            req.extensions_mut().insert(TokenRefused::of(e));
        }
    }
    next.run(req).await
}

/// The use-case context of a request: actor and correlation id. A route
/// that takes it needs a signed-in user (401 without).
pub struct Ctx(pub RequestContext);

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let actor = match parts.extensions.get::<Actor>() {
            Some(a) => a.clone(),
            None => {
                let why = parts
                    .extensions
                    .get::<TokenRefused>()
                    .map(TokenRefused::error)
                    .unwrap_or(tms_app::AppError::Unauthenticated);
                return Err(ApiError::from(why));
            }
        };
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

    #[test]
    fn bearer_header_forms() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), Ok(None));
        h.insert(
            axum::http::header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(bearer(&h), Ok(Some("abc")));
        for bad in ["Basic abc", "Bearer", "Bearer ", "Bearer a b", "abc"] {
            h.insert(
                axum::http::header::AUTHORIZATION,
                HeaderValue::from_static(bad),
            );
            assert_eq!(bearer(&h), Err(()), "{bad}");
        }
    }
}
