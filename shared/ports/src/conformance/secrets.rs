//! The secrets port's conformance suite: every adapter returns the current
//! value of a secret (no caching of its own: the caller caches with a TTL
//! and must see a rotated value once it reads again), reports a missing
//! secret as `NotFound`, and never shows a value in `Debug` output.

use async_trait::async_trait;

use crate::secrets::{Secrets, SecretsError};

/// An adapter under test, with a way to set a secret's value from outside
/// (as ops would: a file written, `PutSecretValue`).
#[async_trait]
pub trait SecretsUnderTest: Send + Sync {
    fn secrets(&self) -> &dyn Secrets;
    /// The id of one secret the adapter can read once it is set.
    fn id(&self) -> String;
    /// An id the adapter has no secret for.
    fn missing_id(&self) -> String;
    async fn set(&self, value: &str);
}

pub async fn reads_the_current_value(t: &impl SecretsUnderTest) {
    t.set(r#"{"v": 1}"#).await;
    let first = t.secrets().read(&t.id()).await.expect("read");
    assert_eq!(first.expose(), r#"{"v": 1}"#);
    // Rotated: the next read sees the new value.
    t.set(r#"{"v": 2}"#).await;
    let second = t.secrets().read(&t.id()).await.expect("read again");
    assert_eq!(second.expose(), r#"{"v": 2}"#);
}

pub async fn missing_is_not_found(t: &impl SecretsUnderTest) {
    match t.secrets().read(&t.missing_id()).await {
        Err(SecretsError::NotFound(id)) => assert_eq!(id, t.missing_id()),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

pub async fn values_cannot_be_printed(t: &impl SecretsUnderTest) {
    t.set("s3cr3t-value").await;
    let v = t.secrets().read(&t.id()).await.expect("read");
    let printed = format!("{v:?}");
    assert!(!printed.contains("s3cr3t"), "{printed}");
    let missing = t.secrets().read(&t.missing_id()).await;
    assert!(!format!("{missing:?}").contains("s3cr3t"));
}
