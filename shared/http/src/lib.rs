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

    /// Puts the resource's routes into `sink` (a router, or the
    /// descriptions). For every resource in one binary (the local server,
    /// tests); a Lambda mounts its one resource by [`Resource::mount_fn`]
    /// in a const context.
    pub fn mount<S: routes::RouteSink>(self, sink: &mut S) {
        self.mount_fn::<S>()(sink)
    }

    /// The function that mounts this resource's routes on a router, chosen
    /// at compile time when called in a const context (a Lambda's main:
    /// `const { Resource::CourseRuns.mount_fn() }`; `S` is then
    /// [`routes::Mount`]), so that the binary
    /// links that resource's handlers and use cases and no other's.
    pub const fn mount_fn<S: routes::RouteSink>(self) -> fn(&mut S) {
        match self {
            Resource::CourseRuns => routes::course_runs::mount::<S>,
            Resource::AuditLogs => routes::audit::mount::<S>,
            Resource::SyncJobs => routes::sync_jobs::mount::<S>,
            Resource::Users => routes::users::mount::<S>,
            Resource::Auth => routes::auth::mount::<S>,
            Resource::Trainers => routes::trainers::mount::<S>,
            Resource::Trainees => routes::trainees::mount::<S>,
            Resource::Enrolments => routes::enrolments::mount::<S>,
            Resource::Attendance => routes::attendance::mount::<S>,
            Resource::Assessments => routes::assessments::mount::<S>,
        }
    }
}

/// What mounts one resource's routes on a router.
pub type MountFn = fn(&mut routes::Mount);

/// The declarations of every route the given resources serve: what the
/// bad-input suite and the OpenAPI document are built from.
pub fn route_docs(resources: &[Resource]) -> Vec<routes::RouteDoc> {
    let mut docs = routes::Docs::default();
    for r in resources {
        r.mount(&mut docs);
    }
    docs.0
}

/// A router for the given resources, with the shared middleware: body limit,
/// declared-length and URI limits, correlation id, acting user, problem+json
/// for unknown routes and methods.
pub fn router(app: App, actor: ActorSource, resources: &[Resource]) -> Router {
    let mut mount = routes::Mount::new(Router::new());
    for r in resources {
        r.mount(&mut mount);
    }
    with_middleware(mount.into_router(), app, actor)
}

/// [`router`] for one resource whose mount function was chosen at compile
/// time (a Lambda's).
pub fn router_of(app: App, actor: ActorSource, mount_fn: MountFn) -> Router {
    let mut mount = routes::Mount::new(Router::new());
    mount_fn(&mut mount);
    with_middleware(mount.into_router(), app, actor)
}

fn with_middleware(routes: Router<App>, app: App, actor: ActorSource) -> Router {
    routes
        .fallback(not_found)
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
