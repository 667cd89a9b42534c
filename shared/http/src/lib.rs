//! The HTTP edge: axum routers (served by `lambda_http::run` in a Lambda
//! and by a plain server locally), the request-context middleware, the
//! extractors and the one mapping of errors to problem+json.

pub mod context;
pub mod extract;
pub mod limits;
pub mod openapi;
pub mod problem;
pub mod respond;
pub mod routes;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::Router;
use tms_app::App;

pub use context::ActorSource;
use problem::Problem;

/// The resources a function serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    CourseRuns,
    AuditLogs,
    SyncJobs,
    Users,
    Auth,
    Trainers,
    Trainees,
    Enrolments,
    Attendance,
    Assessments,
}

impl Resource {
    pub const ALL: [Resource; 10] = [
        Resource::CourseRuns,
        Resource::AuditLogs,
        Resource::SyncJobs,
        Resource::Users,
        Resource::Auth,
        Resource::Trainers,
        Resource::Trainees,
        Resource::Enrolments,
        Resource::Attendance,
        Resource::Assessments,
    ];

    /// The resource's routes, each with its declaration.
    pub fn routes(self) -> Vec<routes::Route> {
        match self {
            Resource::CourseRuns => routes::course_runs::routes(),
            Resource::AuditLogs => routes::audit::routes(),
            Resource::SyncJobs => routes::sync_jobs::routes(),
            Resource::Users => routes::users::routes(),
            Resource::Auth => routes::auth::routes(),
            Resource::Trainers => routes::trainers::routes(),
            Resource::Trainees => routes::trainees::routes(),
            Resource::Enrolments => routes::enrolments::routes(),
            Resource::Attendance => routes::attendance::routes(),
            Resource::Assessments => routes::assessments::routes(),
        }
    }
}

/// The declarations of every route the given resources serve: what the
/// bad-input suite (and, later, the OpenAPI document) is built from.
pub fn route_docs(resources: &[Resource]) -> Vec<routes::RouteDoc> {
    resources
        .iter()
        .flat_map(|r| r.routes())
        .map(|r| r.doc)
        .collect()
}

/// A router for the given resources, with the shared middleware: body limit,
/// declared-length and URI limits, correlation id, acting user, problem+json
/// for unknown routes and methods.
pub fn router(app: App, actor: ActorSource, resources: &[Resource]) -> Router {
    let mut r: Router<App> = Router::new();
    for route in resources.iter().flat_map(|res| res.routes()) {
        r = r.route(route.doc.path, route.handler);
    }
    r.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(actor, context::actor))
        .layer(axum::middleware::from_fn(limits::limits))
        .layer(axum::middleware::from_fn(context::correlation))
        .layer(DefaultBodyLimit::max(extract::MAX_BODY_BYTES))
        .with_state(app)
}

async fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found")
        .detail("no such route")
        .field("path", "is not a route of this API")
}

async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
    )
    .field("method", "is not allowed on this route")
}
