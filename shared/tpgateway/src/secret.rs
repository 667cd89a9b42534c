//! The one JSON document that configures a TPGateway connection (issue 6,
//! DESIGN §5), kept in Secrets Manager in AWS and in the file named by
//! `TMS_TPGATEWAY_SECRET_FILE` locally:
//!
//! `{"base_url", "auth_mode": "oauth"|"certificate", "client_id",
//! "client_secret", "token_url" (optional, default base_url +
//! "/dp-oauth/oauth/token"), "certificate_pem", "private_key_pem",
//! "encryption_key" (base64 of 32 bytes), "uen", "tp_code"}`.
//!
//! Parsed into types that cannot be printed: no secret value reaches a log
//! line, an error or `Debug` output. Errors name the field, never its value.

use serde::Deserialize;

use crate::crypto::EncryptionKey;

/// A secret text: `Debug` shows nothing of it, there is no `Display`; the
/// value is read only through [`SecretText::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct SecretText(String);

impl SecretText {
    pub fn new(value: impl Into<String>) -> Self {
        SecretText(value.into())
    }
    /// The value, for the one place that sends it (a token request, a TLS
    /// identity).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How the client authenticates (API-NOTES §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// OAuth 2.0 client credentials.
    OAuth {
        client_id: String,
        client_secret: SecretText,
        token_url: String,
    },
    /// Mutual TLS with the provider's certificate and private key (PEM).
    Certificate {
        certificate_pem: SecretText,
        private_key_pem: SecretText,
    },
}

/// A parsed, checked TPGateway secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpGatewaySecret {
    /// Without a trailing `/`; https, or http on loopback only.
    pub base_url: String,
    pub auth: Auth,
    pub encryption_key: EncryptionKey,
    /// The provider's UEN (API-NOTES §11).
    pub uen: String,
    /// The training partner code.
    pub tp_code: String,
}

/// What is wrong with a secret document: the field and why, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("the TPGateway secret is not a JSON object of the documented shape")]
    NotJson,
    #[error("the TPGateway secret's {field} {reason}")]
    Invalid {
        field: &'static str,
        reason: &'static str,
    },
}

#[derive(Deserialize)]
struct Document {
    base_url: Option<String>,
    auth_mode: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    token_url: Option<String>,
    certificate_pem: Option<String>,
    private_key_pem: Option<String>,
    encryption_key: Option<String>,
    uen: Option<String>,
    tp_code: Option<String>,
}

fn required(field: &'static str, v: Option<String>) -> Result<String, SecretError> {
    match v.map(|s| s.trim().to_string()) {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(SecretError::Invalid {
            field,
            reason: "is required",
        }),
    }
}

/// An http(s) URL we may send credentials to: https anywhere, http only to
/// a loopback host (the fake TPGateway, a local tunnel).
fn checked_url(field: &'static str, url: &str) -> Result<String, SecretError> {
    let bad = |reason| SecretError::Invalid { field, reason };
    let url = url.trim_end_matches('/');
    let (scheme, rest) = url.split_once("://").ok_or(bad("must be an http(s) URL"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let hostname = if host.starts_with('[') {
        host.split(']')
            .next()
            .map(|h| format!("{h}]"))
            .unwrap_or_default()
    } else {
        host.split(':').next().unwrap_or("").to_string()
    };
    if hostname.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("must be an http(s) URL"));
    }
    match scheme {
        "https" => Ok(url.to_string()),
        "http" if is_loopback(&hostname) => Ok(url.to_string()),
        "http" => Err(bad("must use https (http is accepted for loopback only)")),
        _ => Err(bad("must be an http(s) URL")),
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl TpGatewaySecret {
    /// Parses and checks the secret document.
    pub fn parse(json: &str) -> Result<TpGatewaySecret, SecretError> {
        let d: Document = serde_json::from_str(json).map_err(|_| SecretError::NotJson)?;
        let base_url = checked_url("base_url", &required("base_url", d.base_url)?)?;
        let auth = match required("auth_mode", d.auth_mode)?.as_str() {
            "oauth" => {
                let token_url = match d.token_url.filter(|t| !t.trim().is_empty()) {
                    Some(t) => checked_url("token_url", t.trim())?,
                    None => format!("{base_url}/dp-oauth/oauth/token"),
                };
                Auth::OAuth {
                    client_id: required("client_id", d.client_id)?,
                    client_secret: SecretText::new(required("client_secret", d.client_secret)?),
                    token_url,
                }
            }
            "certificate" => Auth::Certificate {
                certificate_pem: SecretText::new(required("certificate_pem", d.certificate_pem)?),
                private_key_pem: SecretText::new(required("private_key_pem", d.private_key_pem)?),
            },
            _ => {
                return Err(SecretError::Invalid {
                    field: "auth_mode",
                    reason: "must be oauth or certificate",
                })
            }
        };
        let encryption_key =
            EncryptionKey::from_base64(&required("encryption_key", d.encryption_key)?).map_err(
                |_| SecretError::Invalid {
                    field: "encryption_key",
                    reason: "must be base64 of exactly 32 bytes",
                },
            )?;
        Ok(TpGatewaySecret {
            base_url,
            auth,
            encryption_key,
            uen: required("uen", d.uen)?,
            tp_code: required("tp_code", d.tp_code)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

    fn oauth() -> serde_json::Value {
        json!({
            "base_url": "https://uat-api.ssg-wsg.sg/", "auth_mode": "oauth",
            "client_id": "the-id", "client_secret": "s3cr3t-value",
            "encryption_key": KEY, "uen": "201000372W", "tp_code": "201000372W-01"
        })
    }

    #[test]
    fn oauth_with_default_token_url() {
        let s = TpGatewaySecret::parse(&oauth().to_string()).unwrap();
        assert_eq!(s.base_url, "https://uat-api.ssg-wsg.sg");
        match &s.auth {
            Auth::OAuth {
                token_url,
                client_secret,
                ..
            } => {
                assert_eq!(token_url, "https://uat-api.ssg-wsg.sg/dp-oauth/oauth/token");
                assert_eq!(client_secret.expose(), "s3cr3t-value");
            }
            other => panic!("{other:?}"),
        }
        let printed = format!("{s:?}");
        for secret in ["s3cr3t-value", KEY] {
            assert!(!printed.contains(secret), "{printed}");
        }
    }

    #[test]
    fn certificate_mode_and_loopback_http() {
        let doc = json!({
            "base_url": "http://127.0.0.1:8443", "auth_mode": "certificate",
            "certificate_pem": "-----BEGIN CERTIFICATE-----", "private_key_pem": "-----BEGIN PRIVATE KEY-----x",
            "encryption_key": KEY, "uen": "U", "tp_code": "T"
        });
        let s = TpGatewaySecret::parse(&doc.to_string()).unwrap();
        assert!(matches!(s.auth, Auth::Certificate { .. }));
        assert!(!format!("{s:?}").contains("PRIVATE KEY"));
    }

    #[test]
    fn errors_name_the_field_not_the_value() {
        let with = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut d = oauth();
            f(&mut d);
            TpGatewaySecret::parse(&d.to_string()).unwrap_err()
        };
        let field = |e: SecretError| match e {
            SecretError::Invalid { field, .. } => field,
            SecretError::NotJson => "json",
        };
        assert_eq!(
            field(with(&|d| d["base_url"] = json!("http://api.ssg-wsg.sg"))),
            "base_url"
        );
        assert_eq!(
            field(with(&|d| d["base_url"] = json!("ftp://x"))),
            "base_url"
        );
        assert_eq!(
            field(with(&|d| d["auth_mode"] = json!("basic"))),
            "auth_mode"
        );
        assert_eq!(
            field(with(&|d| d["encryption_key"] = json!("c2hvcnQ="))),
            "encryption_key"
        );
        assert_eq!(
            field(with(&|d| d["client_secret"] = json!(""))),
            "client_secret"
        );
        assert_eq!(
            field(with(&|d| d["token_url"] = json!("http://evil.example"))),
            "token_url"
        );
        assert_eq!(
            field(with(&|d| {
                d.as_object_mut().map(|o| o.remove("uen"));
            })),
            "uen"
        );
        let e = with(&|d| d["encryption_key"] = json!("s3cr3t-value"));
        assert!(!e.to_string().contains("s3cr3t"), "{e}");
        assert_eq!(
            TpGatewaySecret::parse("not json"),
            Err(SecretError::NotJson)
        );
    }
}
