//! The secrets port: the text of a named secret (Secrets Manager in AWS, a
//! file or an in-memory value locally). Adapters read the current value on
//! every call; caching with a TTL is the caller's choice.

use async_trait::async_trait;

/// A secret's text. `Debug` shows nothing of it and there is no `Display`:
/// it cannot end up in a log line or an error by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn new(value: impl Into<String>) -> Self {
        SecretValue(value.into())
    }
    /// The text, for the one place that parses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

/// Why a secret could not be read. Messages name the secret, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretsError {
    #[error("secret {0} does not exist or has no value")]
    NotFound(String),
    #[error("secret {id} is not readable: {reason}")]
    Unreadable { id: String, reason: String },
    #[error("secrets store unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Secrets: Send + Sync {
    /// The current text of the secret `id` (a Secrets Manager name or ARN, or
    /// a name the local adapter was given).
    async fn read(&self, id: &str) -> Result<SecretValue, SecretsError>;
}
