//! The secrets port on AWS Secrets Manager: GetSecretValue's SecretString.

use async_trait::async_trait;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::Client;
use tms_ports::{SecretValue, Secrets, SecretsError};

#[derive(Clone)]
pub struct SecretsManagerSecrets {
    client: Client,
}

impl SecretsManagerSecrets {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl Secrets for SecretsManagerSecrets {
    async fn read(&self, id: &str) -> Result<SecretValue, SecretsError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| {
                let code = e.code().unwrap_or_default().to_string();
                match &e {
                    SdkError::ServiceError(_) if code == "ResourceNotFoundException" => {
                        SecretsError::NotFound(id.to_string())
                    }
                    SdkError::ServiceError(_) => SecretsError::Unreadable {
                        id: id.to_string(),
                        reason: if code.is_empty() {
                            "service error".into()
                        } else {
                            code
                        },
                    },
                    // Connection and time-out failures: worth retrying.
                    _ => SecretsError::Unavailable(format!("{id}: {}", aws_error_kind(&e))),
                }
            })?;
        match out.secret_string {
            Some(s) if !s.trim().is_empty() => Ok(SecretValue::new(s)),
            _ => Err(SecretsError::NotFound(id.to_string())),
        }
    }
}

/// What kind of SDK failure this was, without its (request-echoing) text.
fn aws_error_kind<E, R>(e: &SdkError<E, R>) -> &'static str {
    match e {
        SdkError::ConstructionFailure(_) => "request construction failed",
        SdkError::TimeoutError(_) => "timed out",
        SdkError::DispatchFailure(_) => "could not connect",
        SdkError::ResponseError(_) => "unreadable response",
        SdkError::ServiceError(_) => "service error",
        _ => "unknown failure",
    }
}
