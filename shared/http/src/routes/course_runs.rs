//! `/course-runs` and `/course-runs/{id}/sessions`. Each handler parses,
//! calls one use case and maps the result.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use axum::Json;
use serde_json::{json, Value};
use tms_app::course_runs::{CourseRunView, RunListParams, SessionView};
use tms_app::{App, ListPage};
use tms_domain::course_run::{
    CancelInput, CourseRunFields, CourseRunInput, SessionFields, SessionInput,
};
use tms_domain::ids::{RunId, SessionId};
use tms_domain::patch::MergePatch;

use crate::context::Ctx;
use crate::extract::{IfMatch, JsonRequest, PathIds, QueryParams};
use crate::problem::ApiResult;
use crate::respond::{idempotent, with_etag, written};
use crate::routes::RouteSink;

const RUNS: &str = "/course-runs";
const RUN: &str = "/course-runs/{id}";
const CANCEL: &str = "/course-runs/{id}/cancel";
const SESSIONS: &str = "/course-runs/{id}/sessions";
const SESSION: &str = "/course-runs/{id}/sessions/{session_id}";

/// A valid create body (the README's tour uses the same).
pub fn example_run() -> Value {
    json!({
        "course_ref": "TGS-2020000697",
        "title": "Workplace Safety and Health",
        "registration_opening": "2025-01-01",
        "registration_closing": "2025-01-10",
        "start_date": "2025-01-15",
        "end_date": "2025-01-16",
        "delivery_mode": "classroom",
        "venue": {"floor": "03", "unit": "01", "postal_code": "408533", "room": "R1"},
        "capacity": 20,
        "schedule_info": "Wed-Thu 9am-6pm",
        "course_admin_email": "admin@example.sg",
        "sessions": [
            {"session_date": "2025-01-15", "start_time": "09:00", "end_time": "18:00"},
            {"session_date": "2025-01-16", "start_time": "09:00", "end_time": "18:00"}
        ]
    })
}

const RUN_REQUIRED: &[&str] = &[
    "course_ref",
    "title",
    "registration_opening",
    "registration_closing",
    "start_date",
    "end_date",
    "delivery_mode",
    "capacity",
];

fn example_patch() -> Value {
    json!({"title": "Workplace Safety (revised)", "capacity": 25, "venue": {"room": "R2"}})
}

/// A session that fits [`example_run`]'s dates next to its sessions.
fn example_session() -> Value {
    json!({"session_date": "2025-01-16", "start_time": "19:00", "end_time": "21:00"})
}

const SESSION_REQUIRED: &[&str] = &["session_date", "start_time", "end_time"];

fn example_session_patch() -> Value {
    json!({"start_time": "08:00", "end_time": "08:30"})
}

fn example_cancel() -> Value {
    json!({"reason": "not enough trainees"})
}

pub fn mount<S: RouteSink>(s: &mut S) {
    s.route(Method::POST, RUNS, post(create), |d| {
        d.summary("Create a course run with its sessions")
            .body::<CourseRunInput>(example_run, RUN_REQUIRED)
            .idempotent()
            .resource::<CourseRunView>(201)
    });
    s.route(Method::GET, RUNS, get(list), |d| {
        d.summary("List course runs, newest start first")
            .json::<ListPage<CourseRunView>>(200)
            .query::<RunListParams>(
                &[
                    "status",
                    "active",
                    "start_from",
                    "start_to",
                    "limit",
                    "cursor",
                ],
                "",
            )
    });
    s.route(Method::GET, RUN, get(read), |d| {
        d.summary("Read a course run with its sessions")
            .resource::<CourseRunView>(200)
    });
    s.route(Method::PATCH, RUN, patch(update), |d| {
        d.summary("Change a course run's fields")
            .merge_patch::<CourseRunInput, CourseRunFields>(example_patch, RUN_REQUIRED)
            .if_match()
            .resource::<CourseRunView>(200)
    });
    s.route(Method::POST, CANCEL, post(cancel), |d| {
        d.summary("Cancel a course run")
            .body::<CancelInput>(example_cancel, &[])
            .if_match()
            .idempotent()
            .resource::<CourseRunView>(200)
    });
    s.route(Method::GET, SESSIONS, get(list_sessions), |d| {
        d.summary("List a run's sessions")
            .json::<ListPage<SessionView>>(200)
    });
    s.route(Method::POST, SESSIONS, post(add_session), |d| {
        d.summary("Add a session to a run")
            .body::<SessionInput>(example_session, SESSION_REQUIRED)
            .idempotent()
            .resource::<SessionView>(201)
    });
    s.route(Method::PATCH, SESSION, patch(update_session), |d| {
        d.summary("Change a session (its ETag is its version)")
            .merge_patch::<SessionInput, SessionFields>(example_session_patch, SESSION_REQUIRED)
            .if_match()
            .resource::<SessionView>(200)
    });
    s.route(Method::DELETE, SESSION, delete(remove_session), |d| {
        d.summary("Remove a session from a run").if_match()
    });
}

async fn create(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    req: JsonRequest<CourseRunInput>,
) -> ApiResult<Response> {
    let out = app
        .create_course_run(&ctx, req.value, req.idempotency)
        .await?;
    Ok(idempotent(StatusCode::CREATED, out))
}

async fn list(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    QueryParams(params): QueryParams<RunListParams>,
) -> ApiResult<Response> {
    Ok(Json(app.list_course_runs(&ctx, &params).await?).into_response())
}

async fn read(State(app): State<App>, Ctx(ctx): Ctx, ids: PathIds) -> ApiResult<Response> {
    let view = app.get_course_run(&ctx, &ids.get::<RunId>("id")?).await?;
    Ok(with_etag(StatusCode::OK, view.version, view))
}

async fn update(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    ids: PathIds,
    IfMatch(if_match): IfMatch,
    req: JsonRequest<MergePatch>,
) -> ApiResult<Response> {
    let id = ids.get::<RunId>("id")?;
    let out = app
        .update_course_run(&ctx, &id, if_match, req.value)
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
    let id = ids.get::<RunId>("id")?;
    let out = app
        .cancel_course_run(&ctx, &id, if_match, req.value, req.idempotency)
        .await?;
    Ok(idempotent(StatusCode::OK, out))
}

async fn list_sessions(State(app): State<App>, Ctx(ctx): Ctx, ids: PathIds) -> ApiResult<Response> {
    let view = app.get_course_run(&ctx, &ids.get::<RunId>("id")?).await?;
    let sessions = view.sessions.unwrap_or_default();
    Ok(Json(json!({ "items": sessions, "next_cursor": null })).into_response())
}

async fn add_session(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    ids: PathIds,
    req: JsonRequest<SessionInput>,
) -> ApiResult<Response> {
    let id = ids.get::<RunId>("id")?;
    let out = app
        .add_session(&ctx, &id, req.value, req.idempotency)
        .await?;
    Ok(idempotent(StatusCode::CREATED, out))
}

async fn update_session(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    ids: PathIds,
    IfMatch(if_match): IfMatch,
    req: JsonRequest<MergePatch>,
) -> ApiResult<Response> {
    let (id, session_id) = (ids.get::<RunId>("id")?, ids.get::<SessionId>("session_id")?);
    let out = app
        .update_session(&ctx, &id, &session_id, if_match, req.value)
        .await?;
    Ok(written(StatusCode::OK, out))
}

async fn remove_session(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    ids: PathIds,
    IfMatch(if_match): IfMatch,
) -> ApiResult<Response> {
    let (id, session_id) = (ids.get::<RunId>("id")?, ids.get::<SessionId>("session_id")?);
    app.remove_session(&ctx, &id, &session_id, if_match).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
