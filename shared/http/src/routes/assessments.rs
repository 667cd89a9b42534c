//! `/assessments`: results of enrolled trainees' assessments. Every
//! change is a new version (`GET /assessments/{id}/versions`); void with
//! `POST /assessments/{id}/void` and a reason.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::Json;
use serde_json::{json, Value};
use tms_app::assessments::{AssessmentListParams, AssessmentVersionParams, AssessmentView};
use tms_app::{App, ListPage};
use tms_domain::assessment::{AssessmentFields, AssessmentInput, VoidInput};
use tms_domain::ids::AssessmentId;
use tms_domain::patch::MergePatch;

use crate::context::Ctx;
use crate::extract::{IfMatch, JsonRequest, PathIds, QueryParams};
use crate::problem::ApiResult;
use crate::respond::{idempotent, with_etag, written};
use crate::routes::RouteSink;

/// The enrolment id in [`example_assessment`] and the list's query
/// example (a test puts a real one there).
pub const EXAMPLE_ENROLMENT_ID: &str = "0193a4e2-7c1b-7d3e-9a51-2b7f00c0ffed";

/// A valid create body (with a real enrolment in place of the id).
pub fn example_assessment() -> Value {
    json!({"enrolment_id": EXAMPLE_ENROLMENT_ID, "assessment_type": "final",
           "result": "pass", "score": 90, "grade": "A",
           "assessed_at": "2025-01-16", "skill_code": "ATP-SSM-3007-1.1"})
}

fn example_patch() -> Value {
    json!({"score": 85, "grade": "B"})
}

fn example_void() -> Value {
    json!({"reason": "recorded against the wrong trainee"})
}

const REQUIRED: &[&str] = &["enrolment_id", "assessment_type", "result", "assessed_at"];
const PATCH_REQUIRED: &[&str] = &tms_domain::assessment::NOT_NULL_IN_PATCH;

pub fn mount<S: RouteSink>(s: &mut S) {
    s.route(Method::POST, "/assessments", post(create), |d| {
        d.summary("Record an assessment of an enrolled trainee")
            .body::<AssessmentInput>(example_assessment, REQUIRED)
            .idempotent()
            .resource::<AssessmentView>(201)
    });
    s.route(Method::GET, "/assessments", get(list), |d| {
        d.summary("An enrolment's assessments, newest first")
            .query::<AssessmentListParams>(
                &["enrolment_id", "limit", "cursor"],
                "enrolment_id=0193a4e2-7c1b-7d3e-9a51-2b7f00c0ffed",
            )
            .json::<ListPage<AssessmentView>>(200)
    });
    s.route(Method::GET, "/assessments/{id}", get(read), |d| {
        d.summary("Read an assessment")
            .resource::<AssessmentView>(200)
    });
    s.route(
        Method::GET,
        "/assessments/{id}/versions",
        get(versions),
        |d| {
            d.summary("An assessment's versions, newest first")
                .query::<AssessmentVersionParams>(&["limit", "cursor"], "limit=10")
                .json::<ListPage<AssessmentView>>(200)
        },
    );
    s.route(Method::PATCH, "/assessments/{id}", patch(update), |d| {
        d.summary("Change an assessment (a new version)")
            .merge_patch::<AssessmentInput, AssessmentFields>(example_patch, PATCH_REQUIRED)
            .if_match()
            .resource::<AssessmentView>(200)
    });
    s.route(Method::POST, "/assessments/{id}/void", post(void), |d| {
        d.summary("Void an assessment (a reason is required)")
            .body::<VoidInput>(example_void, &["reason"])
            .if_match()
            .idempotent()
            .resource::<AssessmentView>(200)
    });
}

async fn create(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    req: JsonRequest<AssessmentInput>,
) -> ApiResult<Response> {
    let out = app
        .create_assessment(&ctx, req.value, req.idempotency)
        .await?;
    Ok(idempotent(StatusCode::CREATED, out))
}

async fn list(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    QueryParams(params): QueryParams<AssessmentListParams>,
) -> ApiResult<Response> {
    Ok(Json(app.list_assessments(&ctx, &params).await?).into_response())
}

async fn read(State(app): State<App>, Ctx(ctx): Ctx, ids: PathIds) -> ApiResult<Response> {
    let view = app
        .get_assessment(&ctx, &ids.get::<AssessmentId>("id")?)
        .await?;
    Ok(with_etag(StatusCode::OK, view.version, view))
}

async fn versions(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    ids: PathIds,
    QueryParams(params): QueryParams<AssessmentVersionParams>,
) -> ApiResult<Response> {
    let id = ids.get::<AssessmentId>("id")?;
    Ok(Json(app.list_assessment_versions(&ctx, &id, &params).await?).into_response())
}

async fn update(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    ids: PathIds,
    IfMatch(if_match): IfMatch,
    req: JsonRequest<MergePatch>,
) -> ApiResult<Response> {
    let out = app
        .update_assessment(&ctx, &ids.get::<AssessmentId>("id")?, if_match, req.value)
        .await?;
    Ok(written(StatusCode::OK, out))
}

async fn void(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    ids: PathIds,
    IfMatch(if_match): IfMatch,
    req: JsonRequest<VoidInput>,
) -> ApiResult<Response> {
    let id = ids.get::<AssessmentId>("id")?;
    let out = app
        .void_assessment(&ctx, &id, if_match, req.value, req.idempotency)
        .await?;
    Ok(idempotent(StatusCode::OK, out))
}
