//! `/course-runs` and `/course-runs/{id}/sessions`. Each handler parses,
//! calls one use case and maps the result.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde_json::Value;
use tms_app::course_runs::{CourseRunView, RunListParams, SessionView};
use tms_app::{App, Idempotent};
use tms_domain::course_run::{
    CancelInput, CourseRunInput, CourseRunPatch, SessionInput, SessionPatch,
};

use crate::context::Ctx;
use crate::extract::{etag, IfMatch, JsonRequest, QueryParams, REPLAYED_HEADER};
use crate::problem::ApiResult;

pub fn router() -> Router<App> {
    Router::new()
        .route("/course-runs", post(create).get(list))
        .route("/course-runs/{id}", get(read).patch(update))
        .route("/course-runs/{id}/cancel", post(cancel))
        .route(
            "/course-runs/{id}/sessions",
            post(add_session).get(list_sessions),
        )
        .route(
            "/course-runs/{id}/sessions/{session_id}",
            patch(update_session).delete(remove_session),
        )
}

fn with_etag(status: StatusCode, version: u64, body: impl serde::Serialize) -> Response {
    let mut res = (status, Json(body)).into_response();
    res.headers_mut().insert(header::ETAG, etag(version));
    res
}

/// 201 with Location and ETag; for a replayed Idempotency-Key, the first
/// response's body with the same Location and ETag.
fn created<T: serde::Serialize>(
    outcome: Idempotent<T>,
    location: impl Fn(&Value) -> Option<String>,
) -> Response {
    respond(StatusCode::CREATED, outcome, location)
}

/// `status` with the body, its ETag and (when given) Location; a replayed
/// Idempotency-Key answers the first response's body, marked as replayed.
fn respond<T: serde::Serialize>(
    status: StatusCode,
    outcome: Idempotent<T>,
    location: impl Fn(&Value) -> Option<String>,
) -> Response {
    let (body, replayed) = match outcome {
        Idempotent::New(v) => (serde_json::to_value(v).unwrap_or(Value::Null), false),
        Idempotent::Replayed(v) => (v, true),
    };
    let version = body.get("version").and_then(Value::as_u64).unwrap_or(1);
    let loc = location(&body);
    let mut res = with_etag(status, version, &body);
    if let Some(l) = loc.and_then(|l| HeaderValue::from_str(&l).ok()) {
        res.headers_mut().insert(header::LOCATION, l);
    }
    if replayed {
        res.headers_mut()
            .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    }
    res
}

async fn create(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    req: JsonRequest<CourseRunInput>,
) -> ApiResult<Response> {
    let out = app
        .create_course_run(&ctx, req.value, req.idempotency)
        .await?;
    Ok(created(out, |b| {
        b.get("id")
            .and_then(Value::as_str)
            .map(|id| format!("/course-runs/{id}"))
    }))
}

async fn list(
    State(app): State<App>,
    QueryParams(params): QueryParams<RunListParams>,
) -> ApiResult<Response> {
    Ok(Json(app.list_course_runs(&params).await?).into_response())
}

async fn read(State(app): State<App>, Path(id): Path<String>) -> ApiResult<Response> {
    let view: CourseRunView = app.get_course_run(&id).await?;
    Ok(with_etag(StatusCode::OK, view.version, view))
}

async fn update(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    IfMatch(if_match): IfMatch,
    req: JsonRequest<CourseRunPatch>,
) -> ApiResult<Response> {
    let view = app
        .update_course_run(&ctx, &id, if_match, req.value)
        .await?;
    Ok(with_etag(StatusCode::OK, view.version, view))
}

async fn cancel(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    IfMatch(if_match): IfMatch,
    req: JsonRequest<CancelInput>,
) -> ApiResult<Response> {
    let out = app
        .cancel_course_run(&ctx, &id, if_match, req.value, req.idempotency)
        .await?;
    Ok(respond(StatusCode::OK, out, |_| None))
}

async fn list_sessions(State(app): State<App>, Path(id): Path<String>) -> ApiResult<Response> {
    let view = app.get_course_run(&id).await?;
    let sessions: Vec<SessionView> = view.sessions.unwrap_or_default();
    Ok(Json(serde_json::json!({ "items": sessions, "next_cursor": null })).into_response())
}

async fn add_session(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    req: JsonRequest<SessionInput>,
) -> ApiResult<Response> {
    let out = app
        .add_session(&ctx, &id, req.value, req.idempotency)
        .await?;
    Ok(created(out, |b| {
        let sid = b.get("id").and_then(Value::as_str)?;
        let rid = b.get("course_run_id").and_then(Value::as_str)?;
        Some(format!("/course-runs/{rid}/sessions/{sid}"))
    }))
}

async fn update_session(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    Path((id, session_id)): Path<(String, String)>,
    IfMatch(if_match): IfMatch,
    req: JsonRequest<SessionPatch>,
) -> ApiResult<Response> {
    let view = app
        .update_session(&ctx, &id, &session_id, if_match, req.value)
        .await?;
    Ok(with_etag(StatusCode::OK, view.version, view))
}

async fn remove_session(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    Path((id, session_id)): Path<(String, String)>,
    IfMatch(if_match): IfMatch,
) -> ApiResult<Response> {
    app.remove_session(&ctx, &id, &session_id, if_match).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
