//! `/sync-jobs`: the ops view of the sync to TPGateway. List and read jobs,
//! retry a failed or dead-lettered one, redrive the dead-letter queue.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use serde_json::json;
use tms_app::sync_jobs::SyncJobListParams;
use tms_app::App;
use tms_domain::ids::JobId;

use crate::context::Ctx;
use crate::extract::{PathIds, QueryParams};
use crate::problem::ApiResult;
use crate::respond::{with_etag, written};
use crate::routes::{Route, RouteDoc};

pub fn routes() -> Vec<Route> {
    vec![
        Route::new(
            RouteDoc::new(Method::GET, "/sync-jobs").query(
                &["status", "entity_type", "entity_id", "limit", "cursor"],
                "status=failed",
            ),
            get(list),
        ),
        Route::new(RouteDoc::new(Method::GET, "/sync-jobs/{id}"), get(read)),
        Route::new(
            RouteDoc::new(Method::POST, "/sync-jobs/{id}/retry"),
            post(retry),
        ),
        Route::new(
            RouteDoc::new(Method::POST, "/sync-jobs/redrive"),
            post(redrive),
        ),
    ]
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
    Ok(Json(json!({ "moved": moved })).into_response())
}
