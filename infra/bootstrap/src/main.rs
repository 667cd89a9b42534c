//! `tms-bootstrap`: creates the table and the sync queues from
//! infra/resources.json, and the secrets, against the endpoint in
//! AWS_ENDPOINT_URL (LocalStack, moto, or a developer's account). Running
//! it again changes nothing that exists (a secret keeps its value).
//!
//! Environment: TMS_TABLE_NAME (default `tms`), TMS_SYNC_QUEUE_NAME (default
//! `tms-sync`), TMS_SYNC_DLQ_NAME (default `tms-sync-dlq`);
//! TMS_AUTH_SECRET_ID (default `tms/auth`) and TMS_PII_SECRET_ID (default
//! `tms/pii`), each generated when missing; TMS_TPGATEWAY_SECRET_ID
//! (default `tms/tpgateway`), created from the JSON document in the file
//! TMS_TPGATEWAY_SECRET_FILE when that is set.

use tms_infra::SecretNames;

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let table = var("TMS_TABLE_NAME").unwrap_or_else(|| "tms".into());
    let main_q = var("TMS_SYNC_QUEUE_NAME").unwrap_or_else(|| "tms-sync".into());
    let dlq = var("TMS_SYNC_DLQ_NAME").unwrap_or_else(|| "tms-sync-dlq".into());
    let d = SecretNames::default();
    let names = SecretNames {
        auth: var("TMS_AUTH_SECRET_ID").unwrap_or(d.auth),
        pii: var("TMS_PII_SECRET_ID").unwrap_or(d.pii),
        tpgateway: var("TMS_TPGATEWAY_SECRET_ID").unwrap_or(d.tpgateway),
    };
    let tpgateway_document = match var("TMS_TPGATEWAY_SECRET_FILE") {
        Some(path) => Some(
            std::fs::read_to_string(&path)
                .map_err(|e| format!("TMS_TPGATEWAY_SECRET_FILE {path}: {e}"))?,
        ),
        None => None,
    };
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let res = tms_infra::resources()?;
    tms_infra::ensure_table(&aws_sdk_dynamodb::Client::new(&config), &table, &res.table).await?;
    let urls =
        tms_infra::ensure_queues(&aws_sdk_sqs::Client::new(&config), &main_q, &dlq, &res).await?;
    let secrets = tms_infra::local_secrets(
        &aws_sdk_secretsmanager::Client::new(&config),
        &names,
        tpgateway_document,
    )
    .await?;
    println!("table: {table}");
    println!("sync queue: {}", urls.main_url);
    println!("sync dlq: {}", urls.dlq_url);
    for (name, state) in secrets {
        println!(
            "secret: {name} ({})",
            match state {
                tms_infra::SecretState::Created => "created",
                tms_infra::SecretState::Kept => "kept",
            }
        );
    }
    Ok(())
}
