//! The one definition of the table and the queues (`infra/resources.json`)
//! and the code that creates them against any endpoint: moto in the tests,
//! LocalStack, or a real account for a developer's sandbox. `template.yaml`
//! declares the same; a test keeps the two in step. Also the secrets a
//! local endpoint needs ([`ensure_secret`], [`local_secrets`]): in AWS the
//! template makes them.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde::Deserialize;

/// The definition file, compiled in.
pub const RESOURCES_JSON: &str = include_str!("../../resources.json");

#[derive(Debug, Clone, Deserialize)]
pub struct Resources {
    pub table: TableDef,
    pub sync_queue: QueueDef,
    pub sync_dlq: DlqDef,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TableDef {
    pub partition_key: String,
    pub sort_key: String,
    pub ttl_attribute: String,
    pub global_secondary_indexes: Vec<GsiDef>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GsiDef {
    pub name: String,
    pub partition_key: String,
    pub sort_key: String,
    pub projection: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct QueueDef {
    pub visibility_timeout_seconds: u32,
    pub message_retention_seconds: u32,
    pub receive_message_wait_time_seconds: u32,
    pub max_receive_count: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DlqDef {
    pub message_retention_seconds: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum InfraError {
    #[error("resources.json is invalid: {0}")]
    Definition(String),
    #[error("DynamoDB: {0}")]
    DynamoDb(String),
    #[error("SQS: {0}")]
    Sqs(String),
    #[error("Secrets Manager: {0}")]
    Secrets(String),
}

/// Parses the compiled-in definition.
pub fn resources() -> Result<Resources, InfraError> {
    serde_json::from_str(RESOURCES_JSON).map_err(|e| InfraError::Definition(e.to_string()))
}

/// URLs and ARN of the created queues.
#[derive(Debug, Clone)]
pub struct QueueUrls {
    pub main_url: String,
    pub dlq_url: String,
    pub dlq_arn: String,
}

/// Creates the table if it does not exist yet, with its GSIs and TTL.
pub async fn ensure_table(
    client: &aws_sdk_dynamodb::Client,
    table_name: &str,
    def: &TableDef,
) -> Result<(), InfraError> {
    let exists = client
        .describe_table()
        .table_name(table_name)
        .send()
        .await
        .is_ok();
    if exists {
        return Ok(());
    }
    let s = |name: &str| -> Result<AttributeDefinition, InfraError> {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| InfraError::DynamoDb(e.to_string()))
    };
    let key = |name: &str, t: KeyType| -> Result<KeySchemaElement, InfraError> {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(t)
            .build()
            .map_err(|e| InfraError::DynamoDb(e.to_string()))
    };
    let mut req = client
        .create_table()
        .table_name(table_name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(s(&def.partition_key)?)
        .attribute_definitions(s(&def.sort_key)?)
        .key_schema(key(&def.partition_key, KeyType::Hash)?)
        .key_schema(key(&def.sort_key, KeyType::Range)?);
    for gsi in &def.global_secondary_indexes {
        if gsi.projection != "ALL" {
            return Err(InfraError::Definition(format!(
                "GSI {}: only projection ALL is supported",
                gsi.name
            )));
        }
        req = req
            .attribute_definitions(s(&gsi.partition_key)?)
            .attribute_definitions(s(&gsi.sort_key)?)
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(&gsi.name)
                    .key_schema(key(&gsi.partition_key, KeyType::Hash)?)
                    .key_schema(key(&gsi.sort_key, KeyType::Range)?)
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .map_err(|e| InfraError::DynamoDb(e.to_string()))?,
            );
    }
    req.send()
        .await
        .map_err(|e| InfraError::DynamoDb(format!("{e:?}")))?;
    client
        .update_time_to_live()
        .table_name(table_name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(&def.ttl_attribute)
                .enabled(true)
                .build()
                .map_err(|e| InfraError::DynamoDb(e.to_string()))?,
        )
        .send()
        .await
        .map_err(|e| InfraError::DynamoDb(format!("{e:?}")))?;
    Ok(())
}

/// Creates (or finds) the sync queue and its dead-letter queue, with the
/// redrive policy and the redrive allow policy of the definition.
pub async fn ensure_queues(
    client: &aws_sdk_sqs::Client,
    main_name: &str,
    dlq_name: &str,
    res: &Resources,
) -> Result<QueueUrls, InfraError> {
    let err = |e: String| InfraError::Sqs(e);
    let dlq_url = client
        .create_queue()
        .queue_name(dlq_name)
        .attributes(
            QueueAttributeName::MessageRetentionPeriod,
            res.sync_dlq.message_retention_seconds.to_string(),
        )
        .send()
        .await
        .map_err(|e| err(format!("{e:?}")))?
        .queue_url
        .ok_or_else(|| err("no DLQ url".into()))?;
    let dlq_arn = queue_arn(client, &dlq_url).await?;
    let q = &res.sync_queue;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": q.max_receive_count,
    })
    .to_string();
    let main_url = client
        .create_queue()
        .queue_name(main_name)
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            q.visibility_timeout_seconds.to_string(),
        )
        .attributes(
            QueueAttributeName::MessageRetentionPeriod,
            q.message_retention_seconds.to_string(),
        )
        .attributes(
            QueueAttributeName::ReceiveMessageWaitTimeSeconds,
            q.receive_message_wait_time_seconds.to_string(),
        )
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .send()
        .await
        .map_err(|e| err(format!("{e:?}")))?
        .queue_url
        .ok_or_else(|| err("no queue url".into()))?;
    let main_arn = queue_arn(client, &main_url).await?;
    let allow = serde_json::json!({
        "redrivePermission": "byQueue",
        "sourceQueueArns": [main_arn],
    })
    .to_string();
    client
        .set_queue_attributes()
        .queue_url(&dlq_url)
        .attributes(QueueAttributeName::RedriveAllowPolicy, allow)
        .send()
        .await
        .map_err(|e| err(format!("{e:?}")))?;
    Ok(QueueUrls {
        main_url,
        dlq_url,
        dlq_arn,
    })
}

async fn queue_arn(client: &aws_sdk_sqs::Client, url: &str) -> Result<String, InfraError> {
    client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| InfraError::Sqs(format!("{e:?}")))?
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or_else(|| InfraError::Sqs(format!("no ARN for queue {url}")))
}

/// Whether [`ensure_secret`] made the secret or found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretState {
    Created,
    Kept,
}

/// Creates the secret `name` with the value `make()` unless it exists; an
/// existing secret keeps its value (a key already in use is never
/// replaced). The value is never printed.
pub async fn ensure_secret(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
    make: impl FnOnce() -> String,
) -> Result<SecretState, InfraError> {
    match client.describe_secret().secret_id(name).send().await {
        Ok(_) => return Ok(SecretState::Kept),
        Err(e) => {
            let not_found = e
                .as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception());
            if !not_found {
                return Err(InfraError::Secrets(format!("describe {name}: {e}")));
            }
        }
    }
    match client
        .create_secret()
        .name(name)
        .secret_string(make())
        .send()
        .await
    {
        Ok(_) => Ok(SecretState::Created),
        // Made by someone else in between: theirs stays.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_exists_exception()) =>
        {
            Ok(SecretState::Kept)
        }
        Err(e) => Err(InfraError::Secrets(format!("create {name}: {e}"))),
    }
}

/// The secrets of a local endpoint, by name: the access-token signing key
/// and the national-id keys, each generated in the form the template
/// generates; TPGateway's connection when its document is given (it is
/// the provider's, never generated). Answers each secret's state.
pub async fn local_secrets(
    client: &aws_sdk_secretsmanager::Client,
    names: &SecretNames,
    tpgateway_document: Option<String>,
) -> Result<Vec<(String, SecretState)>, InfraError> {
    let mut out = Vec::new();
    let auth = ensure_secret(
        client,
        &names.auth,
        tms_auth::key::SigningKey::generate_document,
    )
    .await?;
    out.push((names.auth.clone(), auth));
    let pii = ensure_secret(
        client,
        &names.pii,
        tms_auth::pii::PiiKeys::generate_document,
    )
    .await?;
    out.push((names.pii.clone(), pii));
    if let Some(doc) = tpgateway_document {
        let tpg = ensure_secret(client, &names.tpgateway, || doc).await?;
        out.push((names.tpgateway.clone(), tpg));
    }
    Ok(out)
}

/// The names of the secrets (the functions read them from
/// TMS_AUTH_SECRET_ID, TMS_PII_SECRET_ID and TMS_TPGATEWAY_SECRET_ID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretNames {
    pub auth: String,
    pub pii: String,
    pub tpgateway: String,
}

impl Default for SecretNames {
    fn default() -> Self {
        SecretNames {
            auth: "tms/auth".into(),
            pii: "tms/pii".into(),
            tpgateway: "tms/tpgateway".into(),
        }
    }
}
