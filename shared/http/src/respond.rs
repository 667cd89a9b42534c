//! Turning a use case's result into a response: the representation with its
//! ETag, Location for a created resource, and the replay marker of an
//! Idempotency-Key. Every resource's routes use these.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use tms_app::{Idempotent, Written};

use crate::extract::REPLAYED_HEADER;

/// The ETag of a version.
pub fn etag(version: u64) -> HeaderValue {
    // A quoted number is always a valid header value.
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// `status` with a representation and its ETag.
pub fn with_etag(status: StatusCode, version: u64, body: impl serde::Serialize) -> Response {
    let mut res = (status, Json(body)).into_response();
    res.headers_mut().insert(header::ETAG, etag(version));
    res
}

/// `status` with what a write answered: body, ETag and (when there is one)
/// Location.
pub fn written(status: StatusCode, w: Written) -> Response {
    let location = w
        .location
        .as_deref()
        .and_then(|l| HeaderValue::from_str(l).ok());
    let mut res = with_etag(status, w.version, w.body);
    if let Some(l) = location {
        res.headers_mut().insert(header::LOCATION, l);
    }
    res
}

/// A POST that honours an Idempotency-Key: `status` for a new outcome; a
/// replay answers the first response again (its status is the same, since
/// one route has one success status), marked `Idempotent-Replayed: true`.
pub fn idempotent(status: StatusCode, outcome: Idempotent) -> Response {
    match outcome {
        Idempotent::New(w) => written(status, w),
        Idempotent::Replayed(w) => {
            let mut res = written(status, w);
            res.headers_mut()
                .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
            res
        }
    }
}
