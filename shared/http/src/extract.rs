//! Extractors that turn a request into typed input or a problem+json that
//! names the field at fault: JSON bodies (strict: no duplicate keys, numbers
//! in range), typed ids in the path, Idempotency-Key, If-Match, query
//! strings (each parameter at most once).

use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, StatusCode};
use bytes::Bytes;
use serde::de::{DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tms_app::context::MAX_IDEMPOTENCY_KEY;
use tms_app::{IdempotencyRequest, Precondition};
use tms_domain::ids::TypedId;
use tms_domain::patch::{decode_value, describe_data_error};
use tms_domain::FieldError;

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
                ApiError::from(Problem::too_large())
            } else {
                ApiError::from(
                    Problem::bad_request("the request body could not be read")
                        .field("body", "could not be read"),
                )
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
                    .detail("send the body as application/json")
                    .field("Content-Type", "must be application/json"),
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

/// Parses a JSON body into `T`, naming the field at fault: first strictly
/// into a JSON value (syntax: 400; a duplicate key or a number out of range:
/// 422 naming it), which must be an object (422), then into `T` (422
/// naming the field).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let value = strict_value(body)?;
    // Every body the API takes is an object; serde would read a struct
    // from an array of its fields in order (`[]` as a struct whose fields
    // are all optional), so anything else is refused here.
    if !value.is_object() {
        return Err(ApiError::from(Problem::validation(vec![FieldError::new(
            "body",
            "must be a JSON object",
        )])));
    }
    decode_value(value).map_err(|v| ApiError::from(Problem::validation(v.0)))
}

/// A JSON document read strictly: the whole body is one value, no object
/// has a key twice, every number fits a double.
pub fn strict_value(body: &[u8]) -> Result<Value, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let (path, inner) = match serde_path_to_error::deserialize::<_, StrictValue>(&mut *de) {
        Ok(StrictValue(v)) => match de.end() {
            Ok(()) => return Ok(v),
            Err(e) => (String::new(), e),
        },
        Err(e) => (e.path().to_string(), e.into_inner()),
    };
    let message = inner.to_string();
    if message.starts_with("number out of range") {
        let field = if path.is_empty() || path == "." {
            "body".into()
        } else {
            path
        };
        return Err(ApiError::from(Problem::validation(vec![FieldError::new(
            field,
            "is a number out of range",
        )])));
    }
    match inner.classify() {
        serde_json::error::Category::Data => {
            let (field, reason) = describe_data_error(&path, &message);
            Err(ApiError::from(Problem::validation(vec![FieldError::new(
                field, reason,
            )])))
        }
        _ => Err(ApiError::from(
            Problem::bad_request(format!(
                "the body is not valid JSON (line {}, column {})",
                inner.line(),
                inner.column()
            ))
            .field("body", "is not valid JSON"),
        )),
    }
}

/// A JSON value whose objects may not repeat a key (serde_json's own
/// `Value` keeps the last one silently).
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(serde::de::Error::custom(format!("duplicate field `{key}`")));
            }
            let StrictValue(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all(&IDEMPOTENCY_HEADER).iter();
    let Some(v) = values.next() else {
        return Ok(None);
    };
    let bad = |reason: &str| {
        ApiError::from(
            Problem::bad_request(format!(
                "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
            ))
            .field("Idempotency-Key", reason),
        )
    };
    if values.next().is_some() {
        return Err(bad("must be sent once"));
    }
    let s = v
        .to_str()
        .map_err(|_| bad("must be visible ASCII characters"))?;
    if s.is_empty() || s.len() > MAX_IDEMPOTENCY_KEY || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad(&format!(
            "must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
        )));
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

/// The `If-Match` precondition, if the header is present.
pub struct IfMatch(pub Option<Precondition>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let values: Vec<_> = parts.headers.get_all(header::IF_MATCH).iter().collect();
        if values.is_empty() {
            return Ok(IfMatch(None));
        }
        let mut joined = String::new();
        for v in values {
            let Ok(s) = v.to_str() else {
                return Err(bad_if_match());
            };
            if !joined.is_empty() {
                joined.push(',');
            }
            joined.push_str(s);
        }
        parse_if_match(&joined)
            .map(|p| IfMatch(Some(p)))
            .ok_or_else(bad_if_match)
    }
}

fn bad_if_match() -> ApiError {
    ApiError::from(
        Problem::bad_request("If-Match must be * or a list of ETags, e.g. \"3\"")
            .field("If-Match", "is not * or a list of entity-tags"),
    )
}

/// Parses an If-Match field value (RFC 9110 §13.1.1): `*`, or a
/// comma-separated list of entity-tags `"opaque"` / `W/"opaque"`, with
/// optional spaces around the commas. Weak tags are kept out of the result:
/// they never match in the strong comparison If-Match uses.
pub fn parse_if_match(value: &str) -> Option<Precondition> {
    let v = value.trim_matches([' ', '\t']);
    if v == "*" {
        return Some(Precondition::Any);
    }
    let mut tags = Vec::new();
    let mut any = false;
    for part in v.split(',') {
        let part = part.trim_matches([' ', '\t']);
        if part.is_empty() {
            continue; // empty list elements are allowed (RFC 9110 §5.6.1)
        }
        let (weak, quoted) = match part.strip_prefix("W/") {
            Some(rest) => (true, rest),
            None => (false, part),
        };
        let opaque = quoted.strip_prefix('"')?.strip_suffix('"')?;
        // etagc = %x21 / %x23-7E / obs-text
        if !opaque
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80)
        {
            return None;
        }
        any = true;
        if !weak {
            tags.push(opaque.to_string());
        }
    }
    any.then_some(Precondition::Tags(tags))
}

/// A query string parsed into `T`: each parameter at most once, every
/// problem a 400 naming the parameter.
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let bad = |field: &str, reason: &str| {
            ApiError::from(
                Problem::bad_request("the query string is not valid").field(field, reason),
            )
        };
        let pairs = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map_err(|_| bad("query", "is not a valid query string"))?
            .0;
        let mut map = Map::new();
        for (name, value) in pairs {
            if map.contains_key(&name) {
                return Err(bad(&name, "must be given at most once"));
            }
            map.insert(name, Value::String(value));
        }
        decode_value(Value::Object(map))
            .map(QueryParams)
            .map_err(|v| {
                ApiError::from(Problem::bad_request("the query string is not valid").errors(v.0))
            })
    }
}

/// The typed ids of a request's path, each checked by name: a malformed id
/// (not a lowercase UUID, not UTF-8) is a 400 naming the parameter.
pub struct PathIds(RawPathParams);

impl<S: Send + Sync> FromRequestParts<S> for PathIds {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        RawPathParams::from_request_parts(parts, state)
            .await
            .map(PathIds)
            .map_err(|e| {
                let text = e.body_text();
                let name = text.split('`').nth(1).unwrap_or("path").to_string();
                ApiError::from(
                    Problem::bad_request("a path parameter is not valid")
                        .field(name, "is not valid UTF-8"),
                )
            })
    }
}

impl PathIds {
    /// The path parameter `name` as a typed id.
    pub fn get<T: TypedId>(&self, name: &str) -> Result<T, ApiError> {
        let value = self
            .0
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
            .unwrap_or_default();
        T::parse(value).map_err(|why| {
            ApiError::from(Problem::bad_request("a path parameter is not valid").field(name, why))
        })
    }

    /// The path parameter `name` parsed by `parse` (a name, not an id).
    pub fn parse<T>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, ApiError> {
        let value = self
            .0
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
            .unwrap_or_default();
        parse(value).map_err(|why| {
            ApiError::from(Problem::bad_request("a path parameter is not valid").field(name, why))
        })
    }
}

#[cfg(test)]
mod tests;
