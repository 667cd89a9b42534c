//! The bootstrap's secrets against the local AWS-compatible server: the
//! signing key and the national-id keys are generated in the forms the
//! functions read, the TPGateway connection is stored only when given, and
//! a second run keeps every value (a key in use is never replaced).

use tms_infra::{local_secrets, SecretNames, SecretState};
use tms_tests::{aws_config, unique_name};

async fn value(client: &aws_sdk_secretsmanager::Client, name: &str) -> String {
    client
        .get_secret_value()
        .secret_id(name)
        .send()
        .await
        .expect("read the secret")
        .secret_string()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn infra_aws_bootstrap_secrets() {
    let client = aws_sdk_secretsmanager::Client::new(&aws_config().await);
    let names = SecretNames {
        auth: unique_name("tms-auth"),
        pii: unique_name("tms-pii"),
        tpgateway: unique_name("tms-tpgateway"),
    };
    let made = local_secrets(&client, &names, None)
        .await
        .expect("bootstrap");
    assert_eq!(
        made,
        vec![
            (names.auth.clone(), SecretState::Created),
            (names.pii.clone(), SecretState::Created),
        ],
        "no TPGateway secret without its document"
    );
    let auth = value(&client, &names.auth).await;
    let doc: serde_json::Value = serde_json::from_str(&auth).expect("JSON");
    assert!(tms_auth::key::SigningKey::from_base64(
        doc["signing_key"].as_str().unwrap_or_default()
    )
    .is_ok());
    let pii = value(&client, &names.pii).await;
    assert!(tms_auth::pii::PiiKeys::from_document(&pii).is_ok());

    let tpg = r#"{"base_url":"http://127.0.0.1:1"}"#.to_string();
    let again = local_secrets(&client, &names, Some(tpg.clone()))
        .await
        .expect("bootstrap again");
    assert_eq!(
        again,
        vec![
            (names.auth.clone(), SecretState::Kept),
            (names.pii.clone(), SecretState::Kept),
            (names.tpgateway.clone(), SecretState::Created),
        ]
    );
    assert_eq!(value(&client, &names.auth).await, auth, "kept as it was");
    assert_eq!(value(&client, &names.pii).await, pii, "kept as it was");
    assert_eq!(value(&client, &names.tpgateway).await, tpg);
}

/// The Python the LocalStack hook runs with (boto3): `TMS_TEST_PYTHON`,
/// which tests/run sets to its virtual environment's.
fn python() -> std::path::PathBuf {
    match std::env::var("TMS_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => p.into(),
        _ => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"),
    }
}

/// What a table looks like to a client: keys, attribute types, indexes,
/// billing, TTL.
async fn table_shape(ddb: &aws_sdk_dynamodb::Client, name: &str) -> serde_json::Value {
    let t = ddb
        .describe_table()
        .table_name(name)
        .send()
        .await
        .expect("describe table")
        .table
        .expect("a table");
    let keys = |k: &[aws_sdk_dynamodb::types::KeySchemaElement]| {
        k.iter()
            .map(|e| format!("{}:{}", e.attribute_name(), e.key_type().as_str()))
            .collect::<Vec<_>>()
    };
    let mut attrs: Vec<String> = t
        .attribute_definitions()
        .iter()
        .map(|a| format!("{}:{}", a.attribute_name(), a.attribute_type().as_str()))
        .collect();
    attrs.sort();
    let mut gsis: Vec<serde_json::Value> = t
        .global_secondary_indexes()
        .iter()
        .map(|g| {
            serde_json::json!({
                "name": g.index_name(),
                "keys": keys(g.key_schema()),
                "projection": g.projection().and_then(|p| p.projection_type()).map(|p| p.as_str().to_string()),
            })
        })
        .collect();
    gsis.sort_by_key(|g| g["name"].as_str().unwrap_or_default().to_string());
    let ttl = ddb
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .expect("describe TTL")
        .time_to_live_description
        .and_then(|d| d.attribute_name)
        .unwrap_or_default();
    serde_json::json!({
        "keys": keys(t.key_schema()),
        "attributes": attrs,
        "gsis": gsis,
        "billing": t.billing_mode_summary().and_then(|b| b.billing_mode()).map(|b| b.as_str().to_string()),
        "ttl": ttl,
    })
}

/// A queue's attributes that the definition sets (ARNs replaced by the
/// queue's role, so that two sets of queues compare).
async fn queue_shape(sqs: &aws_sdk_sqs::Client, url: &str) -> serde_json::Value {
    use aws_sdk_sqs::types::QueueAttributeName as N;
    let a = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(N::All)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .unwrap_or_default();
    let get = |n: N| a.get(&n).cloned().unwrap_or_default();
    let json = |n: N| serde_json::from_str::<serde_json::Value>(&get(n)).unwrap_or_default();
    serde_json::json!({
        "visibility": get(N::VisibilityTimeout),
        "retention": get(N::MessageRetentionPeriod),
        "wait": get(N::ReceiveMessageWaitTimeSeconds),
        "max_receive_count": json(N::RedrivePolicy)["maxReceiveCount"],
        "redrive_to_a_dlq": json(N::RedrivePolicy)["deadLetterTargetArn"].as_str().is_some_and(|a| a.contains("dlq")),
        "redrive_permission": json(N::RedriveAllowPolicy)["redrivePermission"],
        "redrive_sources": json(N::RedriveAllowPolicy)["sourceQueueArns"].as_array().map(Vec::len),
    })
}

/// The LocalStack init hook (infra/localstack/ready.d/tms-bootstrap.py),
/// run against moto, makes what tms-bootstrap makes: the same table
/// (keys, indexes, TTL), the same queues (timings, redrive both ways) and
/// secrets the functions can read; run again, it keeps them.
#[tokio::test]
async fn infra_aws_localstack_hook_matches_the_bootstrap() {
    let sdk = aws_config().await;
    let (ddb, sqs) = (
        aws_sdk_dynamodb::Client::new(&sdk),
        aws_sdk_sqs::Client::new(&sdk),
    );
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let ours = (
        unique_name("tms-b"),
        unique_name("tms-b-sync"),
        unique_name("tms-b-dlq"),
    );
    let res = tms_infra::resources().expect("resources.json");
    tms_infra::ensure_table(&ddb, &ours.0, &res.table)
        .await
        .expect("table");
    let urls = tms_infra::ensure_queues(&sqs, &ours.1, &ours.2, &res)
        .await
        .expect("queues");

    let names = [
        ("TMS_TABLE_NAME", unique_name("tms-h")),
        ("TMS_SYNC_QUEUE_NAME", unique_name("tms-h-sync")),
        ("TMS_SYNC_DLQ_NAME", unique_name("tms-h-dlq")),
        ("TMS_AUTH_SECRET_ID", unique_name("tms-h-auth")),
        ("TMS_PII_SECRET_ID", unique_name("tms-h-pii")),
    ];
    let hook = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../infra/localstack/ready.d/tms-bootstrap.py");
    let resources =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/resources.json");
    let run = || {
        let out = std::process::Command::new(python())
            .arg(&hook)
            .envs(names.iter().map(|(k, v)| (*k, v.as_str())))
            .env("TMS_RESOURCES_JSON", &resources)
            .env("AWS_ENDPOINT_URL", tms_tests::aws_endpoint())
            .output()
            .unwrap_or_else(|e| panic!("run the hook with {}: {e}", python().display()));
        assert!(
            out.status.success(),
            "the hook failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let first = run();
    assert!(first.contains("created"), "{first}");
    let url_of = |text: &str, label: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(label))
            .map(|u| u.trim().to_string())
            .unwrap_or_else(|| panic!("no {label} in {text}"))
    };
    assert_eq!(
        table_shape(&ddb, &names[0].1).await,
        table_shape(&ddb, &ours.0).await,
        "the hook's table is the bootstrap's"
    );
    let hook_main = url_of(&first, "tms: sync queue:");
    let hook_dlq = url_of(&first, "tms: sync dlq:");
    assert_eq!(
        queue_shape(&sqs, &hook_main).await,
        queue_shape(&sqs, &urls.main_url).await
    );
    assert_eq!(
        queue_shape(&sqs, &hook_dlq).await,
        queue_shape(&sqs, &urls.dlq_url).await
    );
    let auth = value(&sm, &names[3].1).await;
    let doc: serde_json::Value = serde_json::from_str(&auth).expect("JSON");
    assert!(tms_auth::key::SigningKey::from_base64(
        doc["signing_key"].as_str().unwrap_or_default()
    )
    .is_ok());
    let pii = value(&sm, &names[4].1).await;
    assert!(tms_auth::pii::PiiKeys::from_document(&pii).is_ok());

    let second = run();
    assert!(
        !second.contains("created"),
        "a second run keeps everything: {second}"
    );
    assert_eq!(value(&sm, &names[3].1).await, auth);
    assert_eq!(value(&sm, &names[4].1).await, pii);
}
