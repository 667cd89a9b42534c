//! Every route the API serves, each declared once with what a client (and
//! the bad-input suite) needs to know of it: method, path, whether it takes
//! a JSON body (with a valid example and its required fields), If-Match,
//! Idempotency-Key and query parameters. Routers are built from these
//! declarations, so a route cannot be mounted without being described.

pub mod audit;
pub mod auth;
pub mod course_runs;
pub mod sync_jobs;
pub mod trainers;
pub mod users;

use axum::http::Method;
use axum::routing::MethodRouter;
use serde_json::Value;
use tms_app::App;

/// A JSON body a route takes.
#[derive(Debug, Clone, Copy)]
pub struct BodyDoc {
    /// A valid body (valid against the example resources a test creates).
    pub example: fn() -> Value,
    /// Top-level fields that may not be absent or null.
    pub required: &'static [&'static str],
    /// Whether the body is a JSON merge patch (RFC 7396).
    pub merge_patch: bool,
}

/// What a route is, as a client sees it.
#[derive(Debug, Clone)]
pub struct RouteDoc {
    pub method: Method,
    /// The axum path, e.g. `/course-runs/{id}`.
    pub path: &'static str,
    pub body: Option<BodyDoc>,
    /// Needs `If-Match` (428 without).
    pub if_match: bool,
    /// Honours `Idempotency-Key`.
    pub idempotent: bool,
    /// The query parameters it reads.
    pub query: &'static [&'static str],
    /// A valid query string for the required parameters (may be empty).
    pub query_example: &'static str,
    /// Served without an access token (login, refresh, logout).
    pub public: bool,
}

impl RouteDoc {
    pub fn new(method: Method, path: &'static str) -> Self {
        RouteDoc {
            method,
            path,
            body: None,
            if_match: false,
            idempotent: false,
            query: &[],
            query_example: "",
            public: false,
        }
    }
    pub fn public(mut self) -> Self {
        self.public = true;
        self
    }
    pub fn body(mut self, example: fn() -> Value, required: &'static [&'static str]) -> Self {
        self.body = Some(BodyDoc {
            example,
            required,
            merge_patch: false,
        });
        self
    }
    pub fn merge_patch(
        mut self,
        example: fn() -> Value,
        required: &'static [&'static str],
    ) -> Self {
        self.body = Some(BodyDoc {
            example,
            required,
            merge_patch: true,
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
    pub fn query(mut self, params: &'static [&'static str], example: &'static str) -> Self {
        self.query = params;
        self.query_example = example;
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

/// A declared route and its handler.
pub struct Route {
    pub doc: RouteDoc,
    pub handler: MethodRouter<App>,
}

impl Route {
    pub fn new(doc: RouteDoc, handler: MethodRouter<App>) -> Self {
        Route { doc, handler }
    }
}
