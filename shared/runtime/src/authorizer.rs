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
