//! The users Lambda: `/users` (Admin manages users and roles, anyone reads
//! and changes their own password).
//! Everything but the resource is shared: tms_runtime::serve_http_lambda.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tms_runtime::serve_http_lambda(const { tms_http::Resource::Users.mount_fn() }).await
}
