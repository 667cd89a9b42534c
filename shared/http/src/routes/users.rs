//! `/users`: users and their roles (Admin; Auditor reads), and one's own
//! record and password (anyone signed in).

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Json;
use serde_json::{json, Value};
use tms_app::users::{UserListParams, UserRecordView};
use tms_app::{App, ListPage};
use tms_domain::access::Role;
use tms_domain::ids::UserId;
use tms_domain::patch::MergePatch;
use tms_domain::user::{PasswordChangeInput, UserInput, UserPatchInput};

use crate::context::Ctx;
use crate::extract::{IfMatch, JsonRequest, PathIds, QueryParams};
use crate::problem::ApiResult;
use crate::respond::{idempotent, with_etag, written};
use crate::routes::{schema_of, RouteSink, SchemaFn};

/// A valid create body.
pub fn example_user() -> Value {
    json!({"email": "ops.lead@example.sg", "name": "Ops Lead",
           "password": "correct horse battery staple", "roles": ["ops_admin"]})
}

fn example_patch() -> Value {
    json!({"name": "Ops Lead (North)"})
}

fn example_password_change() -> Value {
    json!({"old_password": "the password you have now", "new_password": "a brand new long passphrase"})
}

const ROLE_PARAM: &[(&str, SchemaFn)] = &[("role", schema_of::<Role>)];

pub fn mount<S: RouteSink>(s: &mut S) {
    s.route(Method::POST, "/users", post(create), |d| {
        d.summary("Create a user (Admin)")
            .body::<UserInput>(example_user, &["email", "name", "password"])
            .idempotent()
            .resource::<UserRecordView>(201)
    });
    s.route(Method::GET, "/users", get(list), |d| {
        d.summary("List users")
            .query::<UserListParams>(&["limit", "cursor"], "")
            .json::<ListPage<UserRecordView>>(200)
    });
    s.route(Method::GET, "/users/me", get(me), |d| {
        d.summary("Read the signed-in user")
            .resource::<UserRecordView>(200)
    });
    s.route(
        Method::POST,
        "/users/me/password",
        post(change_password),
        |d| {
            d.summary("Change one's own password")
                .body::<PasswordChangeInput>(
                    example_password_change,
                    &["old_password", "new_password"],
                )
        },
    );
    s.route(Method::GET, "/users/{id}", get(read), |d| {
        d.summary("Read a user").resource::<UserRecordView>(200)
    });
    s.route(
        Method::PATCH,
        "/users/{id}",
        axum::routing::patch(update),
        |d| {
            d.summary("Change a user's name or active flag")
                .merge_patch::<UserPatchInput, UserPatchInput>(example_patch, &["name", "active"])
                .if_match()
                .resource::<UserRecordView>(200)
        },
    );
    s.route(Method::PUT, "/users/{id}/roles/{role}", put(grant), |d| {
        d.summary("Grant a role")
            .path_schemas(ROLE_PARAM)
            .if_match()
            .resource::<UserRecordView>(200)
    });
    s.route(
        Method::DELETE,
        "/users/{id}/roles/{role}",
        axum::routing::delete(revoke),
        |d| {
            d.summary("Revoke a role")
                .path_schemas(ROLE_PARAM)
                .if_match()
                .resource::<UserRecordView>(200)
        },
    );
}

fn role(ids: &PathIds) -> ApiResult<Role> {
    ids.parse("role", Role::parse)
}

async fn create(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    req: JsonRequest<UserInput>,
) -> ApiResult<Response> {
    let out = app.create_user(&ctx, req.value, req.idempotency).await?;
    Ok(idempotent(StatusCode::CREATED, out))
}

async fn list(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    QueryParams(params): QueryParams<UserListParams>,
) -> ApiResult<Response> {
    Ok(Json(app.list_users(&ctx, &params).await?).into_response())
}

async fn me(State(app): State<App>, Ctx(ctx): Ctx) -> ApiResult<Response> {
    let view = app.me(&ctx).await?;
    Ok(with_etag(StatusCode::OK, view.version, view))
}

async fn change_password(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    req: JsonRequest<PasswordChangeInput>,
) -> ApiResult<Response> {
    app.change_own_password(&ctx, req.value).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn read(State(app): State<App>, Ctx(ctx): Ctx, ids: PathIds) -> ApiResult<Response> {
    let view = app.get_user(&ctx, &ids.get::<UserId>("id")?).await?;
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
        .update_user(&ctx, &ids.get::<UserId>("id")?, if_match, req.value)
        .await?;
    Ok(written(StatusCode::OK, out))
}

async fn grant(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    ids: PathIds,
    IfMatch(if_match): IfMatch,
) -> ApiResult<Response> {
    set_role(&app, &ctx, &ids, if_match, true).await
}

async fn revoke(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    ids: PathIds,
    IfMatch(if_match): IfMatch,
) -> ApiResult<Response> {
    set_role(&app, &ctx, &ids, if_match, false).await
}

/// Grant (PUT) and revoke (DELETE) differ only in what they ask for.
async fn set_role(
    app: &App,
    ctx: &tms_app::RequestContext,
    ids: &PathIds,
    if_match: Option<tms_app::Precondition>,
    granted: bool,
) -> ApiResult<Response> {
    let (id, role) = (ids.get::<UserId>("id")?, role(ids)?);
    let out = app.set_role(ctx, &id, role, granted, if_match).await?;
    Ok(written(StatusCode::OK, out))
}
