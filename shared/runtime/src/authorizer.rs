//! The Lambda authorizer's side, without Lambda's runtime: the token of an
//! HTTP API request checked with the signing key, answered as a simple
//! response whose context carries the user id and roles.

use std::sync::Arc;

use aws_lambda_events::event::apigw::{
    ApiGatewayV2CustomAuthorizerSimpleResponse, ApiGatewayV2CustomAuthorizerV2Request,
};
use serde_json::json;
use tms_app::auth::AuthKeys;
use tms_http::context::{AUTHORIZER_ROLES, AUTHORIZER_USER_ID};

use crate::Config;

/// The signing key's source, as the app would have it (no table or queue).
pub async fn keys(cfg: &Config) -> Arc<AuthKeys> {
    let sdk = match cfg.engine {
        crate::Engine::Aws => {
            Some(aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await)
        }
        crate::Engine::Embedded => None,
    };
    crate::auth_keys(cfg, sdk.as_ref())
}

/// How long the start-up read of the signing key may take; past it (or on
/// any error) the authorizer starts anyway and reads the key on its first
/// check, as it would without the warm-up.
pub const WARM_UP_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The one network call the authorizer makes while it starts, when
/// `TMS_AUTHORIZER_WARM_UP` is on (the default): the signing key read from
/// Secrets Manager and cached, so that the first check is as fast as a
/// warm one (tests/bench/cold-start.sh measures both ways). Returns
/// whether the key is now cached; a failure is logged, never fatal.
pub async fn warm_up(cfg: &Config, keys: &AuthKeys) -> bool {
    if !cfg.auth.warm_up {
        return false;
    }
    warm_up_within(keys, WARM_UP_LIMIT).await
}

async fn warm_up_within(keys: &AuthKeys, limit: std::time::Duration) -> bool {
    match tokio::time::timeout(limit, keys.key()).await {
        Ok(Ok(_)) => true,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "signing key not read at start; read on the first check");
            false
        }
        Err(_) => {
            tracing::warn!(
                limit_ms = limit.as_millis() as u64,
                "signing key read at start took too long; read on the first check"
            );
            false
        }
    }
}

/// Allows a request whose Authorization header holds a valid access token,
/// with `user_id` and `roles` (comma-separated) in the context; refuses
/// any other (API Gateway then answers 401/403 itself).
pub async fn authorize(
    keys: &AuthKeys,
    event: &ApiGatewayV2CustomAuthorizerV2Request,
) -> ApiGatewayV2CustomAuthorizerSimpleResponse {
    let token = event
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, t)| {
            scheme.eq_ignore_ascii_case("bearer") && !t.is_empty() && !t.contains(' ')
        })
        .map(|(_, t)| t);
    let actor = match token {
        Some(t) => keys.actor_of(t, chrono::Utc::now()).await.ok(),
        None => None,
    };
    let mut response = ApiGatewayV2CustomAuthorizerSimpleResponse::default();
    if let Some(a) = actor {
        response.is_authorized = true;
        let roles: Vec<&str> = a.roles.iter().map(|r| r.as_str()).collect();
        response.context =
            json!({ AUTHORIZER_USER_ID: a.user_id, AUTHORIZER_ROLES: roles.join(",") });
    }
    response
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use async_trait::async_trait;
    use tms_app::auth::AuthSettings;
    use tms_ports::{SecretValue, Secrets, SecretsError};

    use super::*;

    /// A signing-key secret that counts its reads, and can be slow or fail.
    struct Counted {
        reads: AtomicUsize,
        delay: Duration,
        fail: bool,
        doc: String,
    }

    impl Counted {
        fn new(delay: Duration, fail: bool) -> Arc<Counted> {
            Arc::new(Counted {
                reads: AtomicUsize::new(0),
                delay,
                fail,
                doc: tms_auth::key::SigningKey::generate_document(),
            })
        }
    }

    #[async_trait]
    impl Secrets for Counted {
        async fn read(&self, id: &str) -> Result<SecretValue, SecretsError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            if self.fail {
                return Err(SecretsError::Unavailable(format!("{id}: test")));
            }
            Ok(SecretValue::new(self.doc.clone()))
        }
    }

    fn request(token: &str) -> ApiGatewayV2CustomAuthorizerV2Request {
        let mut r = ApiGatewayV2CustomAuthorizerV2Request::default();
        r.headers.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_str(&format!("Bearer {token}")).expect("header"),
        );
        r
    }

    #[tokio::test]
    async fn a_warmed_up_key_serves_the_first_check_without_another_read() {
        let secrets = Counted::new(Duration::ZERO, false);
        let keys = AuthKeys::new(secrets.clone(), AuthSettings::default());
        assert!(warm_up_within(&keys, Duration::from_secs(5)).await);
        assert_eq!(secrets.reads.load(Ordering::SeqCst), 1);
        let key = keys.key().await.expect("cached key");
        let now = chrono::Utc::now().timestamp();
        let token = tms_auth::jwt::sign(
            &key,
            &tms_auth::jwt::Claims {
                sub: "0193a4e2-7c1b-7d3e-9a51-2b7f00c0ffee".into(),
                roles: vec!["admin".into()],
                iss: keys.settings.issuer.clone(),
                aud: keys.settings.audience.clone(),
                iat: now,
                nbf: now,
                exp: now + 60,
                jti: "warm-up-test".into(),
            },
        );
        let answer = authorize(&keys, &request(&token)).await;
        assert!(answer.is_authorized);
        assert_eq!(
            secrets.reads.load(Ordering::SeqCst),
            1,
            "no read on the check"
        );
    }

    #[tokio::test]
    async fn a_failed_warm_up_is_not_fatal_and_the_first_check_reads_again() {
        let secrets = Counted::new(Duration::ZERO, true);
        let keys = AuthKeys::new(secrets.clone(), AuthSettings::default());
        assert!(!warm_up_within(&keys, Duration::from_secs(5)).await);
        let answer = authorize(&keys, &request("a.b.c")).await;
        assert!(!answer.is_authorized);
        assert_eq!(secrets.reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_slow_warm_up_gives_up_at_its_limit() {
        let secrets = Counted::new(Duration::from_secs(30), false);
        let keys = AuthKeys::new(secrets.clone(), AuthSettings::default());
        let started = std::time::Instant::now();
        assert!(!warm_up_within(&keys, Duration::from_millis(50)).await);
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
