//! The attendance Lambda: `/sessions/{id}/attendance`.
//! Everything but the resource is shared: tms_runtime::serve_http_lambda.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tms_runtime::serve_http_lambda(const { tms_http::Resource::Attendance.mount_fn() }).await
}
