//! The auth Lambda: `/auth/login`, `/auth/refresh`, `/auth/logout` and
//! `/openapi.json`, the routes served without an access token (no
//! authorizer in front).
//! Everything but the resource is shared: tms_runtime::serve_http_lambda.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tms_runtime::serve_http_lambda(const { tms_http::Resource::Auth.mount_fn() }).await
}
