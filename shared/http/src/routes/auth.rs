//! `/auth`: sign in, rotate the refresh token, sign out; and
//! `/openapi.json`, the API's description. The only routes served without
//! an access token (one function serves them all, without the authorizer).

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use serde_json::{json, Value};
use tms_app::auth::TokenPair;
use tms_app::App;
use tms_domain::user::{LoginInput, RefreshInput};

use crate::extract::JsonRequest;
use crate::problem::ApiResult;
use crate::routes::RouteSink;

fn example_login() -> Value {
    json!({"email": "admin@tms.local", "password": "change me before use"})
}

fn example_refresh() -> Value {
    // The form of a real one (43 base64url characters); this one is no one's.
    json!({"refresh_token": "kM3x_Qv8yZ0aB1cD2eF3gH4iJ5kL6mN7oP8qR9sT0uV"})
}

pub fn mount<S: RouteSink>(s: &mut S) {
    s.route(Method::POST, "/auth/login", post(login), |d| {
        d.summary("Sign in: an access and a refresh token")
            .body::<LoginInput>(example_login, &["email", "password"])
            .json::<TokenPair>(200)
            .public()
    });
    s.route(Method::POST, "/auth/refresh", post(refresh), |d| {
        d.summary("Trade a refresh token for new tokens (the old one is spent)")
            .body::<RefreshInput>(example_refresh, &["refresh_token"])
            .json::<TokenPair>(200)
            .public()
    });
    s.route(Method::POST, "/auth/logout", post(logout), |d| {
        d.summary("Sign out: revoke a refresh token")
            .body::<RefreshInput>(example_refresh, &["refresh_token"])
            .public()
    });
    s.route(Method::GET, "/openapi.json", get(openapi), |d| {
        d.summary("This API's OpenAPI 3.1 document")
            .json::<crate::openapi::Document>(200)
            .public()
    });
}

async fn login(State(app): State<App>, req: JsonRequest<LoginInput>) -> ApiResult<Response> {
    Ok(Json(app.login(req.value).await?).into_response())
}

async fn refresh(State(app): State<App>, req: JsonRequest<RefreshInput>) -> ApiResult<Response> {
    Ok(Json(app.refresh(req.value).await?).into_response())
}

async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        crate::openapi::document_json(),
    )
        .into_response()
}

async fn logout(State(app): State<App>, req: JsonRequest<RefreshInput>) -> ApiResult<Response> {
    app.logout(req.value).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
