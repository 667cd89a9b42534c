//! `/sync-jobs`: the ops view of the sync to TPGateway. List and read jobs,
//! retry a failed or dead-lettered one, redrive the dead-letter queue.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use schemars::JsonSchema;
use serde::Serialize;
use tms_app::sync_jobs::{SyncJobListParams, SyncJobView};
use tms_app::{App, ListPage};
use tms_domain::ids::JobId;

use crate::context::Ctx;
use crate::extract::{PathIds, QueryParams};
use crate::problem::ApiResult;
use crate::respond::{with_etag, written};
use crate::routes::RouteSink;

/// What a redrive answers.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Redriven {
    /// Messages moved from the dead-letter queue back to the queue.
    pub moved: u32,
}

pub fn mount<S: RouteSink>(s: &mut S) {
    s.route(Method::GET, "/sync-jobs", get(list), |d| {
        d.summary("List sync jobs by status or entity")
            .query::<SyncJobListParams>(
                &["status", "entity_type", "entity_id", "limit", "cursor"],
                "status=failed",
            )
            .json::<ListPage<SyncJobView>>(200)
    });
    s.route(Method::GET, "/sync-jobs/{id}", get(read), |d| {
        d.summary("Read a sync job").resource::<SyncJobView>(200)
    });
    s.route(Method::POST, "/sync-jobs/{id}/retry", post(retry), |d| {
        d.summary("Retry a failed or dead-lettered job")
            .resource::<SyncJobView>(200)
    });
    s.route(Method::POST, "/sync-jobs/redrive", post(redrive), |d| {
        d.summary("Move dead-lettered messages back to the queue")
            .json::<Redriven>(200)
    });
}

async fn list(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    QueryParams(params): QueryParams<SyncJobListParams>,
) -> ApiResult<Response> {
    Ok(Json(app.list_sync_jobs(&ctx, &params).await?).into_response())
}

async fn read(State(app): State<App>, Ctx(ctx): Ctx, ids: PathIds) -> ApiResult<Response> {
    let view = app.get_sync_job(&ctx, &ids.get::<JobId>("id")?).await?;
    Ok(with_etag(StatusCode::OK, view.version, view))
}

async fn retry(State(app): State<App>, Ctx(ctx): Ctx, ids: PathIds) -> ApiResult<Response> {
    let out = app.retry_sync_job(&ctx, &ids.get::<JobId>("id")?).await?;
    Ok(written(StatusCode::OK, out))
}

async fn redrive(State(app): State<App>, Ctx(ctx): Ctx) -> ApiResult<Response> {
    let moved = app.redrive_dead_letters(&ctx).await?;
    Ok(Json(Redriven { moved }).into_response())
}
