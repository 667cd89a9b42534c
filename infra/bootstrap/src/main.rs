//! `tms-bootstrap`: creates the table and the sync queues from
//! infra/resources.json against the endpoint in AWS_ENDPOINT_URL (or AWS).
//!
//! Environment: TMS_TABLE_NAME (default `tms`), TMS_SYNC_QUEUE_NAME (default
//! `tms-sync`), TMS_SYNC_DLQ_NAME (default `tms-sync-dlq`).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let table = std::env::var("TMS_TABLE_NAME").unwrap_or_else(|_| "tms".into());
    let main_q = std::env::var("TMS_SYNC_QUEUE_NAME").unwrap_or_else(|_| "tms-sync".into());
    let dlq = std::env::var("TMS_SYNC_DLQ_NAME").unwrap_or_else(|_| "tms-sync-dlq".into());
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let res = tms_infra::resources()?;
    tms_infra::ensure_table(&aws_sdk_dynamodb::Client::new(&config), &table, &res.table).await?;
    let urls =
        tms_infra::ensure_queues(&aws_sdk_sqs::Client::new(&config), &main_q, &dlq, &res).await?;
    println!("table: {table}");
    println!("sync queue: {}", urls.main_url);
    println!("sync dlq: {}", urls.dlq_url);
    Ok(())
}
