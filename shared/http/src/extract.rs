//! Extractors that turn a request into typed input or a problem+json:
//! JSON bodies with field-level errors, Idempotency-Key, If-Match, query
//! strings.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use tms_app::context::MAX_IDEMPOTENCY_KEY;
use tms_app::IdempotencyRequest;

use crate::problem::{ApiError, Problem};

/// Largest request body we read.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub const IDEMPOTENCY_HEADER: HeaderName = HeaderName::from_static("idempotency-key");
pub const REPLAYED_HEADER: HeaderName = HeaderName::from_static("idempotent-replayed");

/// A JSON body parsed into `T`, with the request's Idempotency-Key (if any)
/// and the fingerprint of method, path and body. An empty body is read as
/// `{}` when `T` allows it.
pub struct JsonRequest<T> {
    pub value: T,
    pub idempotency: Option<IdempotencyRequest>,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonRequest<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let key = idempotency_key(req.headers())?;
        let has_body_type = req.headers().contains_key(header::CONTENT_TYPE);
        let json_type = is_json(req.headers());
        let body = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::from(
                    Problem::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "too-large",
                        "Request too large",
                    )
                    .detail(format!("the body must be at most {MAX_BODY_BYTES} bytes")),
                )
            } else {
                ApiError::from(Problem::bad_request("the request body could not be read"))
            }
        })?;
        let effective: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            if !(has_body_type && json_type) {
                return Err(ApiError::from(
                    Problem::new(
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        "unsupported-media-type",
                        "Unsupported media type",
                    )
                    .detail("send the body as application/json"),
                ));
            }
            &body
        };
        let value = parse_json(effective)?;
        let idempotency = key.map(|key| IdempotencyRequest {
            key,
            fingerprint: fingerprint(method.as_str(), &path, effective),
        });
        Ok(JsonRequest { value, idempotency })
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// Parses JSON into `T`, naming the field at fault.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Syntax
            | serde_json::error::Category::Eof
            | serde_json::error::Category::Io => ApiError::from(Problem::bad_request(format!(
                "the body is not valid JSON (line {}, column {})",
                inner.line(),
                inner.column()
            ))),
            serde_json::error::Category::Data => {
                let (field, reason) = describe_data_error(&path, &inner.to_string());
                ApiError::from(Problem::validation(vec![tms_domain::FieldError::new(
                    field, reason,
                )]))
            }
        }
    })
}

/// Turns serde's message into a field path and a reason without the
/// "at line x column y" suffix. Unknown and missing fields name the field
/// itself rather than its parent.
fn describe_data_error(path: &str, message: &str) -> (String, String) {
    let reason = message
        .split(" at line ")
        .next()
        .unwrap_or(message)
        .to_string();
    // serde_path_to_error's path ends with the field for an unknown field,
    // and at its parent for a missing one.
    let join = |name: &str| {
        if path.is_empty() || path == "." {
            name.to_string()
        } else if path == name || path.ends_with(&format!(".{name}")) {
            path.to_string()
        } else {
            format!("{path}.{name}")
        }
    };
    for prefix in ["unknown field `", "missing field `"] {
        if let Some(rest) = reason.strip_prefix(prefix) {
            if let Some(name) = rest.split('`').next() {
                let why = if prefix.starts_with("unknown") {
                    "is not a known field"
                } else {
                    "is required"
                };
                return (join(name), why.to_string());
            }
        }
    }
    // serde quotes the offending value ("invalid type: string \"S123...\",
    // expected u32"); keep only what was expected, so that no value (it may
    // be personal data) is echoed back.
    let reason = match reason.split_once(", expected ") {
        Some((what, expected))
            if what.starts_with("invalid type") || what.starts_with("invalid value") =>
        {
            format!("has the wrong type or value: expected {expected}")
        }
        _ => reason,
    };
    let field = if path.is_empty() || path == "." {
        "body".to_string()
    } else {
        path.to_string()
    };
    (field, reason)
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get(&IDEMPOTENCY_HEADER) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::from(Problem::bad_request(format!(
            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
        )))
    };
    let s = v.to_str().map_err(|_| bad())?;
    if s.is_empty() || s.len() > MAX_IDEMPOTENCY_KEY || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(Some(s.to_string()))
}

/// A digest of what makes two requests "the same request".
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update(b" ");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(body);
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h.finalize())
}

/// The version named by `If-Match`, if the header is present.
pub struct IfMatch(pub Option<u64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(v) = parts.headers.get(header::IF_MATCH) else {
            return Ok(IfMatch(None));
        };
        let parsed = v
            .to_str()
            .ok()
            .map(str::trim)
            .and_then(|s| s.strip_prefix('"'))
            .and_then(|s| s.strip_suffix('"'))
            .and_then(|s| s.parse::<u64>().ok());
        match parsed {
            Some(n) => Ok(IfMatch(Some(n))),
            None => Err(ApiError::from(
                Problem::bad_request("If-Match must be one ETag returned by this API, e.g. \"3\"")
                    .field("If-Match", "is not an ETag of this API"),
            )),
        }
    }
}

/// The ETag of a version.
pub fn etag(version: u64) -> HeaderValue {
    // A quoted number is always a valid header value.
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// A query string parsed into `T`, naming the parameter at fault.
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::try_from_uri(&parts.uri) {
            Ok(q) => Ok(QueryParams(q.0)),
            Err(e) => {
                let text = e.body_text();
                let message = text.rsplit(": ").next().unwrap_or(&text).to_string();
                let (field, reason) = describe_data_error("", &message);
                Err(ApiError::from(
                    Problem::bad_request("the query string is not valid")
                        .field(field.replace("body", "query"), reason),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        a: Option<String>,
        n: Option<u32>,
        inner: Option<Vec<Inner>>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        x: Option<String>,
    }

    fn field_of(body: &str) -> (u16, String) {
        match parse_json::<T>(body.as_bytes()) {
            Ok(_) => (200, String::new()),
            Err(ApiError(p)) => (
                p.status,
                p.errors
                    .first()
                    .map(|e| e.field.clone())
                    .unwrap_or_default(),
            ),
        }
    }

    #[test]
    fn names_the_field() {
        assert_eq!(field_of("{\"a\": 5}"), (422, "a".into()));
        assert_eq!(field_of("{\"n\": -1}"), (422, "n".into()));
        assert_eq!(field_of("{\"zzz\": 1}"), (422, "zzz".into()));
        assert_eq!(
            field_of("{\"inner\": [{\"x\": \"ok\"}, {\"y\": 1}]}"),
            (422, "inner[1].y".into())
        );
        assert_eq!(
            field_of("{\"inner\": [{\"x\": 1}]}"),
            (422, "inner[0].x".into())
        );
        assert_eq!(field_of("{\"a\": "), (400, String::new()));
        assert_eq!(field_of("[]"), (422, "body".into()));
        assert_eq!(field_of("{}"), (200, String::new()));
    }

    #[test]
    fn never_echoes_the_value() {
        let err = parse_json::<T>(b"{\"a\": 123456789}").err().map(|e| e.0);
        let p = err.expect("an error");
        let reason = &p.errors[0].reason;
        assert!(!reason.contains("123456789"), "{reason}");
        assert!(reason.contains("expected"), "{reason}");
    }

    #[test]
    fn fingerprints_differ_by_body_and_path() {
        let a = fingerprint("POST", "/x", b"{}");
        assert_eq!(a, fingerprint("POST", "/x", b"{}"));
        assert_ne!(a, fingerprint("POST", "/y", b"{}"));
        assert_ne!(a, fingerprint("POST", "/x", b"{\"a\":1}"));
    }
}
