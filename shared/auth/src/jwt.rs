//! Access tokens: JSON Web Tokens (RFC 7519) signed with HS256 only
//! (HMAC-SHA256, RFC 7518 §3.2), written by hand so that exactly one
//! algorithm and one form are accepted.
//!
//! A token is `base64url(header) "." base64url(payload) "." base64url(mac)`,
//! base64url without padding. [`sign`] always writes the header
//! `{"alg":"HS256","typ":"JWT"}`. [`verify`] takes, in this order:
//! 1. at most [`MAX_TOKEN_LEN`] bytes, exactly three segments of base64url
//!    characters (no padding, no whitespace), header and payload not empty,
//!    each in the canonical encoding; else [`TokenError::Malformed`];
//! 2. a header that is a JSON object without repeated names, whose `alg`
//!    is exactly `"HS256"` (else [`TokenError::UnsupportedAlgorithm`], before
//!    any signature work) and whose `typ`, if present, is `"JWT"`, with no
//!    `crit` (else `Malformed`);
//! 3. the MAC over the first two segments as they were sent, compared in
//!    constant time ([`TokenError::BadSignature`]);
//! 4. a payload that is a JSON object without repeated names holding every
//!    [`Claims`] field with its type (integers for the times; `aud` a
//!    string or an array of strings); else `Malformed`;
//! 5. `exp`, then `nbf` (with the leeway), then `iss`, then `aud`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::Mac;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::key::SigningKey;

/// The longest token [`verify`] reads, in bytes.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The one header [`sign`] writes.
pub const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: String,
    /// The user's role names (`tms_domain::Role` names).
    pub roles: Vec<String>,
    pub iss: String,
    /// The audience. A token may name several (an array); [`verify`] then
    /// returns the one it expected here.
    pub aud: String,
    /// Issued at, seconds since the Unix epoch.
    pub iat: i64,
    /// Not before, seconds since the Unix epoch.
    pub nbf: i64,
    /// Expires at, seconds since the Unix epoch.
    pub exp: i64,
    /// The token's own id.
    pub jti: String,
}

/// What [`verify`] requires of a token besides its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    pub issuer: String,
    pub audience: String,
    /// Clock skew allowed on `exp` and `nbf`, in seconds (a negative value
    /// counts as 0).
    pub leeway_secs: i64,
}

/// Why a token is refused. The text is a short generic reason, safe to log;
/// it never quotes the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("unsupported token algorithm")]
    UnsupportedAlgorithm,
    #[error("bad token signature")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("token not yet valid")]
    NotYetValid,
    #[error("wrong token issuer")]
    WrongIssuer,
    #[error("wrong token audience")]
    WrongAudience,
}

/// Signs the claims into a token with the header [`HEADER`].
pub fn sign(key: &SigningKey, claims: &Claims) -> String {
    let payload = serde_json::json!({
        "sub": claims.sub,
        "roles": claims.roles,
        "iss": claims.iss,
        "aud": claims.aud,
        "iat": claims.iat,
        "nbf": claims.nbf,
        "exp": claims.exp,
        "jti": claims.jti,
    });
    let header = URL_SAFE_NO_PAD.encode(HEADER);
    let payload = URL_SAFE_NO_PAD.encode(payload.to_string());
    let mut mac = key.mac();
    mac.update(header.as_bytes());
    mac.update(b".");
    mac.update(payload.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{header}.{payload}.{signature}")
}

/// Checks a token and returns its claims (see the module's steps).
pub fn verify(
    key: &SigningKey,
    token: &str,
    expect: &Expect,
    now: i64,
) -> Result<Claims, TokenError> {
    use TokenError::*;

    if token.len() > MAX_TOKEN_LEN {
        return Err(Malformed);
    }
    let mut segments = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(Malformed);
    };
    if header.is_empty()
        || payload.is_empty()
        || ![header, payload, signature]
            .iter()
            .all(|s| s.bytes().all(is_base64url))
    {
        return Err(Malformed);
    }

    let header_json = strict_object(&decode(header)?)?;
    match header_json.get("alg") {
        Some(Value::String(alg)) if alg == "HS256" => {}
        _ => return Err(UnsupportedAlgorithm),
    }
    match header_json.get("typ") {
        None => {}
        Some(Value::String(typ)) if typ == "JWT" => {}
        Some(_) => return Err(Malformed),
    }
    if header_json.contains_key("crit") {
        return Err(Malformed);
    }

    let signature = decode(signature)?;
    let mut mac = key.mac();
    mac.update(header.as_bytes());
    mac.update(b".");
    mac.update(payload.as_bytes());
    mac.verify_slice(&signature).map_err(|_| BadSignature)?;

    let payload = strict_object(&decode(payload)?)?;
    let (mut claims, audience) = read_claims(&payload)?;

    let leeway = expect.leeway_secs.max(0);
    if claims.exp <= now.saturating_sub(leeway) {
        return Err(Expired);
    }
    if claims.nbf > now.saturating_add(leeway) {
        return Err(NotYetValid);
    }
    if claims.iss != expect.issuer {
        return Err(WrongIssuer);
    }
    match audience {
        Audience::One(aud) if aud == expect.audience => claims.aud = aud,
        Audience::Many(list) if list.contains(&expect.audience) => {
            claims.aud = expect.audience.clone()
        }
        _ => return Err(WrongAudience),
    }
    Ok(claims)
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Decodes one segment: base64url, no padding, canonical trailing bits.
fn decode(segment: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| TokenError::Malformed)
}

/// A JSON object whose names are not repeated (a repeated `alg` or `exp`
/// would otherwise mean whatever the last one says).
struct UniqueObject(Map<String, Value>);

impl<'de> Deserialize<'de> for UniqueObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = UniqueObject;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut access: A,
            ) -> Result<UniqueObject, A::Error> {
                let mut map = Map::new();
                while let Some((name, value)) = access.next_entry::<String, Value>()? {
                    if map.insert(name, value).is_some() {
                        return Err(serde::de::Error::custom("repeated name"));
                    }
                }
                Ok(UniqueObject(map))
            }
        }
        d.deserialize_map(Visitor)
    }
}

fn strict_object(bytes: &[u8]) -> Result<Map<String, Value>, TokenError> {
    serde_json::from_slice::<UniqueObject>(bytes)
        .map(|o| o.0)
        .map_err(|_| TokenError::Malformed)
}

/// The audience as the token gives it.
enum Audience {
    One(String),
    Many(Vec<String>),
}

fn read_claims(map: &Map<String, Value>) -> Result<(Claims, Audience), TokenError> {
    let text = |name: &str| match map.get(name) {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(TokenError::Malformed),
    };
    let texts = |value: Option<&Value>| match value {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<String>>>()
            .ok_or(TokenError::Malformed),
        _ => Err(TokenError::Malformed),
    };
    let number = |name: &str| {
        map.get(name)
            .and_then(Value::as_i64)
            .ok_or(TokenError::Malformed)
    };
    let audience = match map.get("aud") {
        Some(Value::String(s)) => Audience::One(s.clone()),
        other => Audience::Many(texts(other)?),
    };
    let claims = Claims {
        sub: text("sub")?,
        roles: texts(map.get("roles"))?,
        iss: text("iss")?,
        aud: String::new(),
        iat: number("iat")?,
        nbf: number("nbf")?,
        exp: number("exp")?,
        jti: text("jti")?,
    };
    Ok((claims, audience))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use TokenError::*;

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    const OTHER_KEY: &str = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=";
    const NOW: i64 = 1_750_000_000;

    fn key() -> SigningKey {
        SigningKey::from_base64(KEY).unwrap()
    }

    fn expect() -> Expect {
        Expect {
            issuer: "tms".into(),
            audience: "tms-api".into(),
            leeway_secs: 30,
        }
    }

    fn claims() -> Claims {
        Claims {
            sub: "user-1".into(),
            roles: vec!["trainer".into(), "finance".into()],
            iss: "tms".into(),
            aud: "tms-api".into(),
            iat: NOW - 60,
            nbf: NOW - 60,
            exp: NOW + 900,
            jti: "0197a1b2-jti".into(),
        }
    }

    fn payload_json(c: &Claims) -> Value {
        serde_json::to_value(c).unwrap()
    }

    /// A token of the given header and payload texts, signed with `key`.
    fn forge(header: &str, payload: &str, key: &SigningKey) -> String {
        let h = URL_SAFE_NO_PAD.encode(header);
        let p = URL_SAFE_NO_PAD.encode(payload);
        let mut mac = key.mac();
        mac.update(format!("{h}.{p}").as_bytes());
        let s = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{h}.{p}.{s}")
    }

    fn check(token: &str) -> Result<Claims, TokenError> {
        verify(&key(), token, &expect(), NOW)
    }

    fn with(f: impl Fn(&mut Value)) -> String {
        let mut p = payload_json(&claims());
        f(&mut p);
        forge(HEADER, &p.to_string(), &key())
    }

    #[test]
    fn round_trip() {
        let token = sign(&key(), &claims());
        assert_eq!(check(&token), Ok(claims()));
        let segments: Vec<&str> = token.split('.').collect();
        assert_eq!(segments.len(), 3);
        assert_eq!(segments[0], URL_SAFE_NO_PAD.encode(HEADER));
        assert_eq!(segments[0], "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9");
        let payload: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segments[1]).unwrap()).unwrap();
        assert_eq!(payload, payload_json(&claims()));
        // The same claims always give the same token; a forged one matches.
        assert_eq!(token, sign(&key(), &claims()));
        assert_eq!(
            token,
            forge(HEADER, &payload_json(&claims()).to_string(), &key())
        );
        // typ is optional; other header fields are ignored.
        let t = forge(
            r#"{"alg":"HS256"}"#,
            &payload_json(&claims()).to_string(),
            &key(),
        );
        assert_eq!(check(&t), Ok(claims()));
        let t = forge(
            r#"{"typ":"JWT","kid":"k1","alg":"HS256"}"#,
            &payload_json(&claims()).to_string(),
            &key(),
        );
        assert_eq!(check(&t), Ok(claims()));
    }

    #[test]
    fn other_algorithms_are_refused_before_the_signature() {
        let p = payload_json(&claims()).to_string();
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(&p)
        );
        assert_eq!(check(&none), Err(UnsupportedAlgorithm));
        for header in [
            r#"{"alg":"none","typ":"JWT"}"#,
            r#"{"alg":"None"}"#,
            r#"{"alg":"HS512","typ":"JWT"}"#,
            r#"{"alg":"HS384","typ":"JWT"}"#,
            r#"{"alg":"RS256","typ":"JWT"}"#,
            r#"{"alg":"ES256","typ":"JWT"}"#,
            r#"{"alg":"hs256","typ":"JWT"}"#,
            r#"{"alg":"HS256 ","typ":"JWT"}"#,
            r#"{"alg":["HS256"],"typ":"JWT"}"#,
            r#"{"alg":null,"typ":"JWT"}"#,
            r#"{"typ":"JWT"}"#,
            r#"{}"#,
        ] {
            // Even with a correct MAC over the token.
            assert_eq!(
                check(&forge(header, &p, &key())),
                Err(UnsupportedAlgorithm),
                "{header}"
            );
            let h = URL_SAFE_NO_PAD.encode(header);
            let bogus = format!("{h}.{}.AAAA", URL_SAFE_NO_PAD.encode(&p));
            assert_eq!(check(&bogus), Err(UnsupportedAlgorithm), "{header}");
        }
    }

    #[test]
    fn header_must_be_a_plain_jwt_object() {
        let p = payload_json(&claims()).to_string();
        for header in [
            r#"{"alg":"HS256","typ":"JWS"}"#,
            r#"{"alg":"HS256","typ":"jwt"}"#,
            r#"{"alg":"HS256","typ":1}"#,
            r#"{"alg":"HS256","crit":["exp"]}"#,
            r#"{"alg":"none","alg":"HS256"}"#,
            r#"{"alg":"HS256","alg":"HS256"}"#,
            r#"["HS256","JWT"]"#,
            r#""HS256""#,
            r#"{"alg":"HS256"} x"#,
            "not json",
        ] {
            assert_eq!(
                check(&forge(header, &p, &key())),
                Err(Malformed),
                "{header}"
            );
        }
    }

    #[test]
    fn a_token_signed_with_another_key_is_refused() {
        let other = SigningKey::from_base64(OTHER_KEY).unwrap();
        assert_eq!(check(&sign(&other, &claims())), Err(BadSignature));
    }

    #[test]
    fn the_signature_covers_the_segments_as_sent() {
        let token = sign(&key(), &claims());
        let (_, rest) = token.split_once('.').unwrap();
        // The same header, re-encoded with spaces: same meaning, other bytes.
        let spaced = URL_SAFE_NO_PAD.encode(r#"{ "alg": "HS256", "typ": "JWT" }"#);
        assert_eq!(check(&format!("{spaced}.{rest}")), Err(BadSignature));
        // A tampered payload: more roles, the original signature.
        let segments: Vec<&str> = token.split('.').collect();
        let mut p = payload_json(&claims());
        p["roles"] = json!(["admin"]);
        let tampered = URL_SAFE_NO_PAD.encode(p.to_string());
        let t = format!("{}.{}.{}", segments[0], tampered, segments[2]);
        assert_eq!(check(&t), Err(BadSignature));
        // No signature, or someone else's.
        assert_eq!(
            check(&format!("{}.{}.", segments[0], segments[1])),
            Err(BadSignature)
        );
        let other = sign(
            &key(),
            &Claims {
                sub: "user-2".into(),
                ..claims()
            },
        );
        let other_sig = other.rsplit('.').next().unwrap();
        assert_eq!(
            check(&format!("{}.{}.{}", segments[0], segments[1], other_sig)),
            Err(BadSignature)
        );
        // A truncated signature.
        assert_eq!(
            check(&format!(
                "{}.{}.{}",
                segments[0],
                segments[1],
                &segments[2][..40]
            )),
            Err(BadSignature)
        );
    }

    #[test]
    fn the_form_is_strict() {
        let token = sign(&key(), &claims());
        let segments: Vec<&str> = token.split('.').collect();
        let (h, p, s) = (segments[0], segments[1], segments[2]);
        let too_long = format!("{h}.{}.{s}", "A".repeat(MAX_TOKEN_LEN));
        for bad in [
            String::new(),
            ".".into(),
            "..".into(),
            format!("{h}.{p}"),
            format!("{h}.{p}.{s}."),
            format!("{h}.{p}.{s}.{s}"),
            format!(".{p}.{s}"),
            format!("{h}..{s}"),
            format!("{h}.{p}.{s}="),
            format!("{h}=.{p}.{s}"),
            format!(" {token}"),
            format!("{token} "),
            format!("{token}\n"),
            format!("{h}.{p} .{s}"),
            format!("Bearer {token}"),
            token.replace('-', "+").replace('_', "/") + "+/",
            format!("{h}.{p}.{s}é"),
            // 45 characters: a length no byte string encodes to
            format!("{h}.{p}.{s}AA"),
            // the signature with bits set past its last byte
            format!("{h}.{p}.{}", non_canonical(s)),
            too_long,
        ] {
            assert_eq!(check(&bad), Err(Malformed), "{bad:?}");
        }
    }

    /// The same bytes, but the unused low bits of the last character set.
    fn non_canonical(segment: &str) -> String {
        const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let (head, last) = segment.split_at(segment.len() - 1);
        let index = ALPHABET.find(last).unwrap();
        assert_eq!(index % 4, 0, "a 32-byte MAC leaves two unused bits");
        format!("{head}{}", &ALPHABET[index + 1..index + 2])
    }

    #[test]
    fn the_length_limit_is_8_kib() {
        let sized = |n: usize| {
            sign(
                &key(),
                &Claims {
                    jti: "j".repeat(n),
                    ..claims()
                },
            )
        };
        let base = sized(0).len();
        let mut n = (MAX_TOKEN_LEN - base) * 3 / 4 + 3;
        while sized(n).len() > MAX_TOKEN_LEN {
            n -= 1;
        }
        let longest = sized(n);
        assert!(longest.len() > MAX_TOKEN_LEN - 4, "{}", longest.len());
        assert!(check(&longest).is_ok());
        let over = sized(n + 3);
        assert!(over.len() > MAX_TOKEN_LEN);
        assert_eq!(check(&over), Err(Malformed));
    }

    #[test]
    fn the_payload_must_hold_every_claim_with_its_type() {
        let cases: &[fn(&mut Value)] = &[
            |p| {
                p.as_object_mut().unwrap().remove("sub");
            },
            |p| {
                p.as_object_mut().unwrap().remove("jti");
            },
            |p| {
                p.as_object_mut().unwrap().remove("exp");
            },
            |p| {
                p.as_object_mut().unwrap().remove("aud");
            },
            |p| p["sub"] = json!(1),
            |p| p["roles"] = json!("admin"),
            |p| p["roles"] = json!(["admin", 1]),
            |p| p["exp"] = json!("1750000900"),
            |p| p["exp"] = json!(1_750_000_900.5),
            |p| p["exp"] = json!(u64::MAX),
            |p| p["nbf"] = json!(null),
            |p| p["iat"] = json!(true),
            |p| p["iss"] = json!(["tms"]),
            |p| p["aud"] = json!(["tms-api", 5]),
            |p| p["aud"] = json!({"tms-api": true}),
        ];
        for (i, case) in cases.iter().enumerate() {
            assert_eq!(check(&with(case)), Err(Malformed), "case {i}");
        }
        let p = payload_json(&claims()).to_string();
        let repeated = p.replacen('{', r#"{"exp":99999999999,"#, 1);
        for payload in ["[1,2]", "\"claims\"", "not json", "", repeated.as_str()] {
            assert_eq!(
                check(&forge(HEADER, payload, &key())),
                Err(Malformed),
                "{payload}"
            );
        }
        // Extra claims are ignored.
        let t = with(|p| p["scope"] = json!("everything"));
        assert_eq!(check(&t), Ok(claims()));
    }

    #[test]
    fn expiry_and_not_before_with_leeway() {
        let leeway = expect().leeway_secs;
        let at = |exp: i64, nbf: i64| {
            let c = Claims {
                exp,
                nbf,
                ..claims()
            };
            check(&sign(&key(), &c))
        };
        assert_eq!(at(NOW - leeway, NOW - 900), Err(Expired));
        assert_eq!(at(NOW - 3600, NOW - 7200), Err(Expired));
        assert!(at(NOW - leeway + 1, NOW - 900).is_ok());
        assert_eq!(at(NOW + 900, NOW + leeway + 1), Err(NotYetValid));
        assert!(at(NOW + 900, NOW + leeway).is_ok());
        // Expiry is checked first.
        assert_eq!(at(NOW - 3600, NOW + 3600), Err(Expired));
        // Without leeway the boundary is exact.
        let strict = Expect {
            leeway_secs: 0,
            ..expect()
        };
        let c = Claims {
            exp: NOW,
            ..claims()
        };
        assert_eq!(
            verify(&key(), &sign(&key(), &c), &strict, NOW),
            Err(Expired)
        );
        let c = Claims {
            exp: NOW + 1,
            nbf: NOW + 1,
            ..claims()
        };
        assert_eq!(
            verify(&key(), &sign(&key(), &c), &strict, NOW),
            Err(NotYetValid)
        );
        // A negative leeway counts as none; extreme times do not overflow.
        let negative = Expect {
            leeway_secs: -100,
            ..expect()
        };
        assert!(verify(&key(), &sign(&key(), &claims()), &negative, NOW).is_ok());
        assert_eq!(
            verify(&key(), &sign(&key(), &claims()), &expect(), i64::MAX),
            Err(Expired)
        );
        assert_eq!(
            verify(&key(), &sign(&key(), &claims()), &expect(), i64::MIN),
            Err(NotYetValid)
        );
    }

    #[test]
    fn issuer_and_audience() {
        let t = with(|p| p["iss"] = json!("someone-else"));
        assert_eq!(check(&t), Err(WrongIssuer));
        let t = with(|p| p["aud"] = json!("another-api"));
        assert_eq!(check(&t), Err(WrongAudience));
        let t = with(|p| p["aud"] = json!("TMS-API"));
        assert_eq!(check(&t), Err(WrongAudience));
        let t = with(|p| p["aud"] = json!(["another-api", "tms-api"]));
        assert_eq!(check(&t), Ok(claims()));
        let t = with(|p| p["aud"] = json!(["another-api"]));
        assert_eq!(check(&t), Err(WrongAudience));
        let t = with(|p| p["aud"] = json!([]));
        assert_eq!(check(&t), Err(WrongAudience));
    }

    #[test]
    fn errors_are_short_and_copyable() {
        let e = check("x.y.z").unwrap_err();
        let copy = e;
        assert_eq!(e, copy);
        assert_eq!(Malformed.to_string(), "malformed token");
        assert_eq!(BadSignature.to_string(), "bad token signature");
        assert_eq!(Expired.to_string(), "token expired");
    }
}
