//! `GET /audit-logs`: an entity's audit trail, newest first. Read-only.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tms_app::audit::AuditListParams;
use tms_app::App;

use crate::extract::QueryParams;
use crate::problem::ApiResult;

pub fn router() -> Router<App> {
    Router::new().route("/audit-logs", get(list))
}

async fn list(
    State(app): State<App>,
    QueryParams(params): QueryParams<AuditListParams>,
) -> ApiResult<Response> {
    Ok(Json(app.list_audit(&params).await?).into_response())
}
