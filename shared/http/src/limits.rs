//! Limits checked before anything reads the request: a declared body over
//! [`MAX_BODY_BYTES`] and an over-long URI are refused at once, as
//! problem+json, without reading the body.
//!
//! Why here and not only in the body extractor: the extractor learns of the
//! size by reading, and a client that declared 10 MB and then sends nothing
//! (or sends it slowly) would hold the connection until it gave up. A
//! declared length is known from the headers alone.

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::extract::MAX_BODY_BYTES;
use crate::problem::Problem;

/// Longest request target (path and query) we serve. No route needs more
/// than a few hundred bytes; 8 KiB is what most proxies accept.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// Refuses, before the handler runs: a `Content-Length` over
/// [`MAX_BODY_BYTES`] with 413 and `Connection: close` (the body is never
/// read, so the connection cannot be reused), a URI longer than
/// [`MAX_URI_BYTES`] with 414.
pub async fn limits(req: Request, next: Next) -> Response {
    let uri_len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if uri_len > MAX_URI_BYTES {
        return Problem::new(StatusCode::URI_TOO_LONG, "uri-too-long", "URI too long")
            .detail(format!(
                "the request target must be at most {MAX_URI_BYTES} bytes"
            ))
            .field("uri", "is too long")
            .into_response();
    }
    if declared_length(&req).is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        let mut res = Problem::too_large().into_response();
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return res;
    }
    next.run(req).await
}

/// The declared body length, when the header is a valid number (hyper has
/// already refused a malformed or contradictory one).
fn declared_length(req: &Request) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::post;
    use axum::Router;
    use tower::ServiceExt;

    fn app() -> Router {
        Router::new()
            .route("/x", post(|| async { "ok" }).get(|| async { "ok" }))
            .layer(axum::middleware::from_fn(limits))
    }

    #[tokio::test]
    async fn declared_length_over_the_limit_is_413_problem_and_close() {
        let req = axum::http::Request::post("/x")
            .header(header::CONTENT_LENGTH, "10000000")
            .body(Body::empty())
            .unwrap();
        let res = app().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            crate::problem::PROBLEM_JSON
        );
        assert_eq!(res.headers()[header::CONNECTION], "close");
    }

    #[tokio::test]
    async fn declared_length_at_the_limit_passes() {
        let req = axum::http::Request::post("/x")
            .header(header::CONTENT_LENGTH, MAX_BODY_BYTES.to_string())
            .body(Body::empty())
            .unwrap();
        let res = app().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn long_uri_is_414_problem() {
        let uri = format!("/x?q={}", "a".repeat(MAX_URI_BYTES));
        let req = axum::http::Request::get(uri).body(Body::empty()).unwrap();
        let res = app().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::URI_TOO_LONG);
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            crate::problem::PROBLEM_JSON
        );
        let ok = format!("/x?q={}", "a".repeat(100));
        let req = axum::http::Request::get(ok).body(Body::empty()).unwrap();
        assert_eq!(app().oneshot(req).await.unwrap().status(), StatusCode::OK);
    }
}
