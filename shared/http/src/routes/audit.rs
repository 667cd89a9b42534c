//! `GET /audit-logs`: audit records newest first, by entity, by actor or by
//! day. Read-only.

use axum::extract::State;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use tms_app::audit::AuditListParams;
use tms_app::{App, ListPage};
use tms_domain::audit::AuditRecord;

use crate::context::Ctx;
use crate::extract::QueryParams;
use crate::problem::ApiResult;
use crate::routes::RouteSink;

pub fn mount<S: RouteSink>(s: &mut S) {
    s.route(Method::GET, "/audit-logs", get(list), |d| {
        d.summary("Audit records newest first: an entity's, an actor's or a day's")
            .query::<AuditListParams>(
                &[
                    "entity_type",
                    "entity_id",
                    "actor_id",
                    "day",
                    "limit",
                    "cursor",
                ],
                "entity_type=course_run&entity_id=0193a4e2-7c1b-7d3e-9a51-2b7f00c0ffee",
            )
            .json::<ListPage<AuditRecord>>(200)
    });
}

async fn list(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    QueryParams(params): QueryParams<AuditListParams>,
) -> ApiResult<Response> {
    Ok(Json(app.list_audit(&ctx, &params).await?).into_response())
}
