//! `/sessions/{id}/attendance`: a session's attendance. The whole session
//! in one request (at most 97 rows, all or nothing), one row on its own,
//! and the sign-off that sends it to TPGateway. Every write takes If-Match:
//! the sheet's ETag, or the row's (`"0"` for what is not recorded yet).

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post, put};
use serde_json::{json, Value};
use tms_app::attendance::{AttendanceRowView, AttendanceSheetView};
use tms_app::App;
use tms_domain::attendance::{MarkInput, SheetInput};
use tms_domain::ids::{EnrolmentId, SessionId};

use crate::context::Ctx;
use crate::extract::{IfMatch, JsonRequest, PathIds};
use crate::problem::ApiResult;
use crate::respond::{idempotent, with_etag, written};
use crate::routes::RouteSink;

/// The enrolment id in [`example_sheet`] (a test puts a real one there).
pub const EXAMPLE_ENROLMENT_ID: &str = "0193a4e2-7c1b-7d3e-9a51-2b7f00c0ffed";

/// A valid whole-session body (with a real enrolment in place of the id).
pub fn example_sheet() -> Value {
    json!({"rows": [{"enrolment_id": EXAMPLE_ENROLMENT_ID, "status": "present"}]})
}

fn example_mark() -> Value {
    json!({"status": "late", "reason": "arrived 09:40, train delay"})
}

fn example_sign_off() -> Value {
    json!({})
}

/// The body of a sign-off: nothing to say (an empty object).
#[derive(Debug, Clone, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignOffInput {}

pub fn mount<S: RouteSink>(s: &mut S) {
    s.route(Method::GET, "/sessions/{id}/attendance", get(read), |d| {
        d.summary("A session's attendance: the sheet and every row (ETag \"0\" while nothing is recorded)").resource::<AttendanceSheetView>(200)
    });
    s.route(Method::PUT, "/sessions/{id}/attendance", put(record), |d| {
        d.summary("Record a session's attendance: at most 97 rows, in one change (If-Match: the sheet's ETag)").body::<SheetInput>(example_sheet, &["rows"])
            .if_match()
            .resource::<AttendanceSheetView>(200)
    });
    s.route(Method::PUT, "/sessions/{id}/attendance/{enrolment_id}", put(mark), |d| {
        d.summary("Record or change one trainee's attendance (If-Match: the row's ETag, \"0\" for a new row)").body::<MarkInput>(example_mark, &["status"])
            .if_match()
            .resource::<AttendanceRowView>(200)
    });
    s.route(
        Method::POST,
        "/sessions/{id}/attendance/sign-off",
        post(sign_off),
        |d| {
            d.summary("Sign off a session's attendance, which sends it to TPGateway")
                .body::<SignOffInput>(example_sign_off, &[])
                .if_match()
                .idempotent()
                .resource::<AttendanceSheetView>(200)
        },
    );
}

async fn read(State(app): State<App>, Ctx(ctx): Ctx, ids: PathIds) -> ApiResult<Response> {
    let view = app
        .get_attendance(&ctx, &ids.get::<SessionId>("id")?)
        .await?;
    Ok(with_etag(StatusCode::OK, view.version, view))
}

async fn record(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    ids: PathIds,
    IfMatch(if_match): IfMatch,
    req: JsonRequest<SheetInput>,
) -> ApiResult<Response> {
    let out = app
        .record_attendance(&ctx, &ids.get::<SessionId>("id")?, if_match, req.value)
        .await?;
    Ok(written(StatusCode::OK, out))
}

async fn mark(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    ids: PathIds,
    IfMatch(if_match): IfMatch,
    req: JsonRequest<MarkInput>,
) -> ApiResult<Response> {
    let (id, enrolment) = (
        ids.get::<SessionId>("id")?,
        ids.get::<EnrolmentId>("enrolment_id")?,
    );
    let out = app
        .mark_attendance(&ctx, &id, &enrolment, if_match, req.value)
        .await?;
    Ok(written(StatusCode::OK, out))
}

async fn sign_off(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    ids: PathIds,
    IfMatch(if_match): IfMatch,
    req: JsonRequest<SignOffInput>,
) -> ApiResult<Response> {
    let out = app
        .sign_off_attendance(
            &ctx,
            &ids.get::<SessionId>("id")?,
            if_match,
            req.idempotency,
        )
        .await?;
    Ok(idempotent(StatusCode::OK, out))
}
