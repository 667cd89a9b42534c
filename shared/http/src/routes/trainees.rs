//! `/trainees`: the people who enrol. The national id goes in (create, or a
//! patch that replaces it) and never comes out: answers carry
//! `national_id_masked` only.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::Json;
use serde_json::{json, Value};
use tms_app::trainees::{TraineeListParams, TraineeView};
use tms_app::{App, ListPage};
use tms_domain::ids::TraineeId;
use tms_domain::patch::MergePatch;
use tms_domain::trainee::{TraineeFields, TraineeInput};

use crate::context::Ctx;
use crate::extract::{IfMatch, JsonRequest, PathIds, QueryParams};
use crate::problem::ApiResult;
use crate::respond::{idempotent, with_etag, written};
use crate::routes::RouteSink;

/// A valid create body. The NRIC is the example of API-NOTES §13 (a
/// valid check letter, no one's).
pub fn example_trainee() -> Value {
    json!({"name": "Aileen Chong", "national_id": "S7020587D", "national_id_type": "nric",
           "email": "aileen.chong@example.sg",
           "phone": {"country_code": "65", "number": "98765432"},
           "date_of_birth": "1969-03-08", "consent_flags": {"pdpa": true}})
}

fn example_patch() -> Value {
    json!({"phone": {"country_code": "65", "number": "91234567"}, "email": "aileen.c@example.sg"})
}

const REQUIRED: &[&str] = &["name", "national_id", "national_id_type", "date_of_birth"];
const PATCH_REQUIRED: &[&str] = &["name", "national_id", "national_id_type", "date_of_birth"];

pub fn mount<S: RouteSink>(s: &mut S) {
    s.route(Method::POST, "/trainees", post(create), |d| {
        d.summary("Create a trainee")
            .body::<TraineeInput>(example_trainee, REQUIRED)
            .idempotent()
            .resource::<TraineeView>(201)
    });
    s.route(Method::GET, "/trainees", get(list), |d| {
        d.summary("List trainees by name")
            .query::<TraineeListParams>(&["name", "limit", "cursor"], "")
            .json::<ListPage<TraineeView>>(200)
    });
    s.route(Method::GET, "/trainees/{id}", get(read), |d| {
        d.summary("Read a trainee").resource::<TraineeView>(200)
    });
    s.route(Method::PATCH, "/trainees/{id}", patch(update), |d| {
        d.summary("Change a trainee")
            .merge_patch::<TraineeInput, TraineePatchable>(example_patch, PATCH_REQUIRED)
            .if_match()
            .resource::<TraineeView>(200)
    });
}

/// The members a patch of a trainee may name: its fields and the national
/// id (which, when given, replaces the stored one).
#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
struct TraineePatchable {
    #[schemars(flatten)]
    fields: TraineeFields,
    national_id: String,
}

async fn create(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    req: JsonRequest<TraineeInput>,
) -> ApiResult<Response> {
    let out = app.create_trainee(&ctx, req.value, req.idempotency).await?;
    Ok(idempotent(StatusCode::CREATED, out))
}

async fn list(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    QueryParams(params): QueryParams<TraineeListParams>,
) -> ApiResult<Response> {
    Ok(Json(app.list_trainees(&ctx, &params).await?).into_response())
}

async fn read(State(app): State<App>, Ctx(ctx): Ctx, ids: PathIds) -> ApiResult<Response> {
    let view = app.get_trainee(&ctx, &ids.get::<TraineeId>("id")?).await?;
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
        .update_trainee(&ctx, &ids.get::<TraineeId>("id")?, if_match, req.value)
        .await?;
    Ok(written(StatusCode::OK, out))
}
