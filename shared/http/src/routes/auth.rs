//! `/auth`: sign in, rotate the refresh token, sign out. The only routes
//! served without an access token.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Json;
use serde_json::{json, Value};
use tms_app::App;
use tms_domain::user::{LoginInput, RefreshInput};

use crate::extract::JsonRequest;
use crate::problem::ApiResult;
use crate::routes::{Route, RouteDoc};

fn example_login() -> Value {
    json!({"email": "admin@tms.local", "password": "change me before use"})
}

fn example_refresh() -> Value {
    // The form of a real one (43 base64url characters); this one is no one's.
    json!({"refresh_token": "kM3x_Qv8yZ0aB1cD2eF3gH4iJ5kL6mN7oP8qR9sT0uV"})
}

pub fn routes() -> Vec<Route> {
    vec![
        Route::new(
            RouteDoc::new(Method::POST, "/auth/login")
                .body(example_login, &["email", "password"])
                .public(),
            post(login),
        ),
        Route::new(
            RouteDoc::new(Method::POST, "/auth/refresh")
                .body(example_refresh, &["refresh_token"])
                .public(),
            post(refresh),
        ),
        Route::new(
            RouteDoc::new(Method::POST, "/auth/logout")
                .body(example_refresh, &["refresh_token"])
                .public(),
            post(logout),
        ),
    ]
}

async fn login(State(app): State<App>, req: JsonRequest<LoginInput>) -> ApiResult<Response> {
    Ok(Json(app.login(req.value).await?).into_response())
}

async fn refresh(State(app): State<App>, req: JsonRequest<RefreshInput>) -> ApiResult<Response> {
    Ok(Json(app.refresh(req.value).await?).into_response())
}

async fn logout(State(app): State<App>, req: JsonRequest<RefreshInput>) -> ApiResult<Response> {
    app.logout(req.value).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
