//! The secrets adapter of the local run: each secret name maps to a file
//! (read anew on every call, so an edited file is picked up when the
//! caller's cache expires) or to a value held in memory (the in-process
//! fake TPGateway's document).

use std::collections::HashMap;
use std::path::PathBuf;

use async_trait::async_trait;
use tms_ports::{SecretValue, Secrets, SecretsError};

enum Source {
    File(PathBuf),
    Value(SecretValue),
}

#[derive(Default)]
pub struct LocalSecrets {
    sources: HashMap<String, Source>,
}

impl LocalSecrets {
    pub fn new() -> Self {
        Self::default()
    }

    /// The secret `id` is the content of the file at `path`.
    pub fn with_file(mut self, id: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        self.sources.insert(id.into(), Source::File(path.into()));
        self
    }

    /// The secret `id` is `value`.
    pub fn with_value(mut self, id: impl Into<String>, value: impl Into<String>) -> Self {
        self.sources
            .insert(id.into(), Source::Value(SecretValue::new(value)));
        self
    }
}

#[async_trait]
impl Secrets for LocalSecrets {
    async fn read(&self, id: &str) -> Result<SecretValue, SecretsError> {
        match self.sources.get(id) {
            None => Err(SecretsError::NotFound(id.to_string())),
            Some(Source::Value(v)) => Ok(v.clone()),
            Some(Source::File(path)) => match tokio::fs::read_to_string(path).await {
                Ok(text) if !text.trim().is_empty() => Ok(SecretValue::new(text)),
                Ok(_) => Err(SecretsError::NotFound(id.to_string())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    Err(SecretsError::Unreadable {
                        id: id.to_string(),
                        reason: format!("the file {} does not exist", path.display()),
                    })
                }
                // The io error names the kind of failure, never the content.
                Err(e) => Err(SecretsError::Unreadable {
                    id: id.to_string(),
                    reason: format!("reading {}: {}", path.display(), e.kind()),
                }),
            },
        }
    }
}
