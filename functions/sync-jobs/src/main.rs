//! The sync-jobs Lambda: `/sync-jobs`, the ops view of the sync to
//! TPGateway (list, read, retry, redrive).
//! Everything but the resource is shared: tms_runtime::serve_http_lambda.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tms_runtime::serve_http_lambda(const { tms_http::Resource::SyncJobs.mount_fn() }).await
}
