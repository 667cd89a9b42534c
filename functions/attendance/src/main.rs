//! The attendance Lambda: `/sessions/{id}/attendance`.
//! Everything but the resource is shared: tms_runtime::serve_http_lambda.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tms_runtime::serve_http_lambda(&[tms_http::Resource::Attendance]).await
}
