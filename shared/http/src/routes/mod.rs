//! Every route the API serves, each declared once with what a client (and
//! the bad-input suite) needs to know of it: method, path, whether it takes
//! a JSON body (with a valid example and its required fields), If-Match,
//! Idempotency-Key and query parameters. Routers are built from these
//! declarations, so a route cannot be mounted without being described.

pub mod assessments;
pub mod attendance;
pub mod audit;
pub mod auth;
pub mod course_runs;
pub mod enrolments;
pub mod sync_jobs;
pub mod trainees;
pub mod trainers;
pub mod users;

use axum::http::Method;
use axum::routing::MethodRouter;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::Value;
use tms_app::App;

/// How a route's schema is made: a function of the generator, so that
/// types it refers to land in the document's components.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// The schema of `T` (a reference to it, for a named type).
pub fn schema_of<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

/// A JSON body a route takes.
#[derive(Debug, Clone, Copy)]
pub struct BodyDoc {
    /// A valid body (valid against the example resources a test creates).
    pub example: fn() -> Value,
    /// Top-level fields that may not be absent or null.
    pub required: &'static [&'static str],
    /// Whether the body is a JSON merge patch (RFC 7396).
    pub merge_patch: bool,
    /// The type the body is decoded into.
    pub schema: SchemaFn,
    /// For a merge patch: the stored fields it applies to (their names are
    /// the members a patch may name).
    pub patched: Option<SchemaFn>,
}

/// What a route answers when it succeeds.
#[derive(Debug, Clone, Copy)]
pub struct ResponseDoc {
    pub status: u16,
    /// The body's type; none for 204.
    pub schema: Option<SchemaFn>,
    /// Carries the representation's `ETag` (and `Location` when 201).
    pub etag: bool,
}

/// What a route is, as a client sees it.
#[derive(Debug, Clone)]
pub struct RouteDoc {
    pub method: Method,
    /// The axum path, e.g. `/course-runs/{id}`.
    pub path: &'static str,
    /// One line for the OpenAPI document.
    pub summary: &'static str,
    pub body: Option<BodyDoc>,
    /// Needs `If-Match` (428 without).
    pub if_match: bool,
    /// Honours `Idempotency-Key`.
    pub idempotent: bool,
    /// The query parameters it reads.
    pub query: &'static [&'static str],
    /// The type the query string is decoded into.
    pub query_schema: Option<SchemaFn>,
    /// A valid query string for the required parameters (may be empty).
    pub query_example: &'static str,
    /// Path parameters that are not ids (ids are UUIDs).
    pub path_schemas: &'static [(&'static str, SchemaFn)],
    /// Served without an access token (login, refresh, logout).
    pub public: bool,
    /// The success response.
    pub response: ResponseDoc,
}

impl RouteDoc {
    pub fn new(method: Method, path: &'static str) -> Self {
        RouteDoc {
            method,
            path,
            summary: "",
            body: None,
            if_match: false,
            idempotent: false,
            query: &[],
            query_schema: None,
            query_example: "",
            path_schemas: &[],
            public: false,
            response: ResponseDoc {
                status: 204,
                schema: None,
                etag: false,
            },
        }
    }
    pub fn summary(mut self, summary: &'static str) -> Self {
        self.summary = summary;
        self
    }
    pub fn public(mut self) -> Self {
        self.public = true;
        self
    }
    /// A JSON body decoded into `T`.
    pub fn body<T: JsonSchema>(
        mut self,
        example: fn() -> Value,
        required: &'static [&'static str],
    ) -> Self {
        self.body = Some(BodyDoc {
            example,
            required,
            merge_patch: false,
            schema: schema_of::<T>,
            patched: None,
        });
        self
    }
    /// A JSON merge patch of the fields `F`, the result decoded into `T`
    /// (the create body's type).
    pub fn merge_patch<T: JsonSchema, F: JsonSchema>(
        mut self,
        example: fn() -> Value,
        required: &'static [&'static str],
    ) -> Self {
        self.body = Some(BodyDoc {
            example,
            required,
            merge_patch: true,
            schema: schema_of::<T>,
            patched: Some(schema_of::<F>),
        });
        self
    }
    pub fn if_match(mut self) -> Self {
        self.if_match = true;
        self
    }
    pub fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }
    /// The query string, decoded into `P` (whose fields are `params`).
    pub fn query<P: JsonSchema>(
        mut self,
        params: &'static [&'static str],
        example: &'static str,
    ) -> Self {
        self.query = params;
        self.query_schema = Some(schema_of::<P>);
        self.query_example = example;
        self
    }
    pub fn path_schemas(mut self, schemas: &'static [(&'static str, SchemaFn)]) -> Self {
        self.path_schemas = schemas;
        self
    }
    /// Answers `status` with a `T` and its ETag (and Location when 201).
    pub fn resource<T: JsonSchema>(mut self, status: u16) -> Self {
        self.response = ResponseDoc {
            status,
            schema: Some(schema_of::<T>),
            etag: true,
        };
        self
    }
    /// Answers `status` with a `T` (no ETag: a list, tokens).
    pub fn json<T: JsonSchema>(mut self, status: u16) -> Self {
        self.response = ResponseDoc {
            status,
            schema: Some(schema_of::<T>),
            etag: false,
        };
        self
    }
    /// The names of the path parameters, in order.
    pub fn path_params(&self) -> Vec<&'static str> {
        self.path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect()
    }
}

/// Where a resource's routes go: each is declared with its method, path
/// and handler, and a function that describes it. A router takes the
/// handlers and never calls the description; the document takes the
/// descriptions. The description is a generic closure, not a function
/// pointer, so a Lambda that only mounts its router does not build (nor
/// link) the JSON Schema code the descriptions refer to.
pub trait RouteSink {
    fn route<D>(
        &mut self,
        method: Method,
        path: &'static str,
        handler: MethodRouter<App>,
        describe: D,
    ) where
        D: FnOnce(RouteDoc) -> RouteDoc;
}

/// A resource's routes mounted on a router.
pub struct Mount {
    router: axum::Router<App>,
}

impl Mount {
    pub fn new(router: axum::Router<App>) -> Self {
        Mount { router }
    }
    pub fn into_router(self) -> axum::Router<App> {
        self.router
    }
}

impl RouteSink for Mount {
    fn route<D>(&mut self, _method: Method, path: &'static str, handler: MethodRouter<App>, _: D)
    where
        D: FnOnce(RouteDoc) -> RouteDoc,
    {
        let router = std::mem::take(&mut self.router);
        self.router = router.route(path, handler);
    }
}

/// A resource's routes, described.
#[derive(Default)]
pub struct Docs(pub Vec<RouteDoc>);

impl RouteSink for Docs {
    fn route<D>(&mut self, method: Method, path: &'static str, _: MethodRouter<App>, describe: D)
    where
        D: FnOnce(RouteDoc) -> RouteDoc,
    {
        self.0.push(describe(RouteDoc::new(method, path)));
    }
}
