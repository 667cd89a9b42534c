//! `/trainers`: trainers, their contact and credentials, and their link to
//! the user who signs in as them.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::Json;
use serde_json::{json, Value};
use tms_app::trainers::{TrainerListParams, TrainerView};
use tms_app::{App, ListPage};
use tms_domain::ids::TrainerId;
use tms_domain::patch::MergePatch;
use tms_domain::trainer::{TrainerFields, TrainerInput};

use crate::context::Ctx;
use crate::extract::{IfMatch, JsonRequest, PathIds, QueryParams};
use crate::problem::ApiResult;
use crate::respond::{idempotent, with_etag, written};
use crate::routes::RouteSink;

/// A valid create body (no user link: the link is optional), with
/// TPGateway's id of the trainer, so that runs link them on TPGateway.
pub fn example_trainer() -> Value {
    json!({"name": "Tan Ah Kow", "email": "ahkow.tan@example.sg", "phone": "+65 9123 4567",
           "credentials": "ACTA; WSQ Advanced Certificate in Training and Assessment",
           "tpg_trainer_id": "3F2504E0-4F89-11D3-9A0C-0305E82C3301"})
}

fn example_patch() -> Value {
    json!({"phone": "+65 8123 4567", "status": "inactive",
           "tpg_trainer_id": "6B29FC40-CA47-1067-B31D-00DD010662DA"})
}

pub fn mount<S: RouteSink>(s: &mut S) {
    s.route(Method::POST, "/trainers", post(create), |d| {
        d.summary("Create a trainer")
            .body::<TrainerInput>(example_trainer, &["name"])
            .idempotent()
            .resource::<TrainerView>(201)
    });
    s.route(Method::GET, "/trainers", get(list), |d| {
        d.summary("List trainers")
            .query::<TrainerListParams>(&["status", "limit", "cursor"], "")
            .json::<ListPage<TrainerView>>(200)
    });
    s.route(Method::GET, "/trainers/{id}", get(read), |d| {
        d.summary("Read a trainer").resource::<TrainerView>(200)
    });
    s.route(Method::PATCH, "/trainers/{id}", patch(update), |d| {
        d.summary("Change a trainer")
            .merge_patch::<TrainerInput, TrainerFields>(example_patch, &["name", "status"])
            .if_match()
            .resource::<TrainerView>(200)
    });
}

async fn create(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    req: JsonRequest<TrainerInput>,
) -> ApiResult<Response> {
    let out = app.create_trainer(&ctx, req.value, req.idempotency).await?;
    Ok(idempotent(StatusCode::CREATED, out))
}

async fn list(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    QueryParams(params): QueryParams<TrainerListParams>,
) -> ApiResult<Response> {
    Ok(Json(app.list_trainers(&ctx, &params).await?).into_response())
}

async fn read(State(app): State<App>, Ctx(ctx): Ctx, ids: PathIds) -> ApiResult<Response> {
    let view = app.get_trainer(&ctx, &ids.get::<TrainerId>("id")?).await?;
    Ok(with_etag(StatusCode::OK, view.version, view))
}

async fn update(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    ids: PathIds,
    IfMatch(if_match): IfMatch,
    req: JsonRequest<MergePatch>,
) -> ApiResult<Response> {
    let out = app
        .update_trainer(&ctx, &ids.get::<TrainerId>("id")?, if_match, req.value)
        .await?;
    Ok(written(StatusCode::OK, out))
}
