//! The keys that protect national ids, read through the secrets port
//! (`TMS_PII_SECRET_ID` in AWS, a file locally) and cached for a few
//! minutes, so that a rotation (a new current key) is picked up without a
//! restart. See tms_auth::pii for the secret's document.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tms_auth::pii::PiiKeys;
use tms_ports::Secrets;
use tokio::sync::Mutex;

use crate::error::AppError;

/// How long the keys are kept before the secret is read again.
pub const KEY_TTL: Duration = Duration::from_secs(300);

pub struct PiiVault {
    secrets: Arc<dyn Secrets>,
    secret_id: String,
    cache: Mutex<Option<(Arc<PiiKeys>, Instant)>>,
}

impl PiiVault {
    pub fn new(secrets: Arc<dyn Secrets>, secret_id: impl Into<String>) -> Self {
        PiiVault {
            secrets,
            secret_id: secret_id.into(),
            cache: Mutex::new(None),
        }
    }

    pub async fn keys(&self) -> Result<Arc<PiiKeys>, AppError> {
        let mut slot = self.cache.lock().await;
        if let Some((k, at)) = slot.as_ref() {
            if at.elapsed() < KEY_TTL {
                return Ok(k.clone());
            }
        }
        let text = self
            .secrets
            .read(&self.secret_id)
            .await
            .map_err(|e| AppError::Unavailable(format!("the national-id keys: {e}")))?;
        let keys = PiiKeys::from_document(text.expose())
            .map_err(|e| AppError::Internal(format!("the national-id key secret: {e}")))?;
        let keys = Arc::new(keys);
        *slot = Some((keys.clone(), Instant::now()));
        Ok(keys)
    }
}
