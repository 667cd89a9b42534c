//! `/enrolments`: trainees in course runs. One per trainee and run; the
//! fee as a decimal string; cancel with `POST /enrolments/{id}/cancel`.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::Json;
use serde_json::{json, Value};
use tms_app::enrolments::{EnrolmentListParams, EnrolmentView};
use tms_app::{App, ListPage};
use tms_domain::course_run::CancelInput;
use tms_domain::enrolment::{EnrolmentFields, EnrolmentInput, EnrolmentStatus};
use tms_domain::ids::EnrolmentId;
use tms_domain::patch::MergePatch;

use crate::context::Ctx;
use crate::extract::{IfMatch, JsonRequest, PathIds, QueryParams};
use crate::problem::ApiResult;
use crate::respond::{idempotent, with_etag, written};
use crate::routes::RouteSink;

/// The run id in [`example_enrolment`] (a test puts a real one there).
pub const EXAMPLE_RUN_ID: &str = "0193a4e2-7c1b-7d3e-9a51-2b7f00c0ffee";
/// The trainee id in [`example_enrolment`].
pub const EXAMPLE_TRAINEE_ID: &str = "0193a4e2-7c1b-7d3e-9a51-2b7f00c0ffef";

/// A valid create body (with a real run and trainee in place of the ids).
pub fn example_enrolment() -> Value {
    json!({"course_run_id": EXAMPLE_RUN_ID, "trainee_id": EXAMPLE_TRAINEE_ID,
           "enrolment_date": "2025-01-05", "sponsorship": "individual",
           "fee_amount": "1200.00", "discount_amount": "0.00",
           "fee_collection_status": "pending_payment",
           "subsidy_info": "SkillsFuture Credit"})
}

/// A fee-only change (what Finance may do).
fn example_patch() -> Value {
    json!({"fee_amount": "1100.00", "fee_collection_status": "partial_payment"})
}

fn example_cancel() -> Value {
    json!({"reason": "the trainee withdrew"})
}

const REQUIRED: &[&str] = &["course_run_id", "trainee_id", "fee_amount"];
const PATCH_REQUIRED: &[&str] = &tms_domain::enrolment::NOT_NULL_IN_PATCH;

pub fn mount<S: RouteSink>(s: &mut S) {
    s.route(Method::POST, "/enrolments", post(create), |d| {
        d.summary("Enrol a trainee in a course run")
            .body::<EnrolmentInput>(example_enrolment, REQUIRED)
            .idempotent()
            .resource::<EnrolmentView>(201)
    });
    s.route(Method::GET, "/enrolments", get(list), |d| {
        d.summary("A run's or a trainee's enrolments")
            .query::<EnrolmentListParams>(
                &["course_run_id", "trainee_id", "limit", "cursor"],
                "course_run_id=0193a4e2-7c1b-7d3e-9a51-2b7f00c0ffee",
            )
            .json::<ListPage<EnrolmentView>>(200)
    });
    s.route(Method::GET, "/enrolments/{id}", get(read), |d| {
        d.summary("Read an enrolment")
            .resource::<EnrolmentView>(200)
    });
    s.route(Method::PATCH, "/enrolments/{id}", patch(update), |d| {
        d.summary("Change an enrolment (Finance: the fee and subsidy fields only)")
            .merge_patch::<EnrolmentInput, EnrolmentPatchable>(example_patch, PATCH_REQUIRED)
            .if_match()
            .resource::<EnrolmentView>(200)
    });
    s.route(Method::POST, "/enrolments/{id}/cancel", post(cancel), |d| {
        d.summary("Cancel an enrolment")
            .body::<CancelInput>(example_cancel, &[])
            .if_match()
            .idempotent()
            .resource::<EnrolmentView>(200)
    });
}

/// The members a patch of an enrolment may name: its fields and, for a
/// draft, `status` (`pending` submits it).
#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
struct EnrolmentPatchable {
    #[schemars(flatten)]
    fields: EnrolmentFields,
    status: EnrolmentStatus,
}

async fn create(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    req: JsonRequest<EnrolmentInput>,
) -> ApiResult<Response> {
    let out = app
        .create_enrolment(&ctx, req.value, req.idempotency)
        .await?;
    Ok(idempotent(StatusCode::CREATED, out))
}

async fn list(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    QueryParams(params): QueryParams<EnrolmentListParams>,
) -> ApiResult<Response> {
    Ok(Json(app.list_enrolments(&ctx, &params).await?).into_response())
}

async fn read(State(app): State<App>, Ctx(ctx): Ctx, ids: PathIds) -> ApiResult<Response> {
    let view = app
        .get_enrolment(&ctx, &ids.get::<EnrolmentId>("id")?)
        .await?;
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
        .update_enrolment(&ctx, &ids.get::<EnrolmentId>("id")?, if_match, req.value)
        .await?;
    Ok(written(StatusCode::OK, out))
}

async fn cancel(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    ids: PathIds,
    IfMatch(if_match): IfMatch,
    req: JsonRequest<CancelInput>,
) -> ApiResult<Response> {
    let id = ids.get::<EnrolmentId>("id")?;
    let out = app
        .cancel_enrolment(&ctx, &id, if_match, req.value, req.idempotency)
        .await?;
    Ok(idempotent(StatusCode::OK, out))
}
