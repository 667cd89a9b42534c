//! The sync worker's Lambda side, without Lambda types: a batch of queue
//! records handled concurrently, answering which records to retry (SQS's
//! partial batch response). The local loop uses the same handling.

use std::future::Future;

use tms_app::sync::MessageOutcome;
use tms_app::{App, AppError};
use tms_ports::QueueName;
use tracing::Instrument;

/// One record of an SQS event, as the worker needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRecord {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    /// ApproximateReceiveCount, this receive included.
    pub receive_count: u32,
    pub correlation_id: Option<String>,
}

/// Runs `handle` on every item concurrently and collects the ids it
/// returns: the generic half of a partial batch response.
pub async fn partial_batch<T, F, Fut>(items: Vec<T>, handle: F) -> Vec<String>
where
    T: Send + 'static,
    F: Fn(T) -> Fut,
    Fut: Future<Output = Option<String>> + Send + 'static,
{
    let mut tasks = tokio::task::JoinSet::new();
    for item in items {
        tasks.spawn(handle(item));
    }
    let mut failed = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Some(id)) => failed.push(id),
            Ok(None) => {}
            // A task that panicked cannot say which record it had: the
            // caller reports the whole batch as failed (see handle_batch).
            Err(_) => failed.push(String::new()),
        }
    }
    failed
}

/// Handles a batch of sync messages; returns the message ids to retry.
/// A record to retry after a delay gets that delay as its visibility
/// timeout first; the Lambda service deletes every record not returned.
pub async fn handle_batch(app: &App, records: Vec<BatchRecord>) -> Vec<String> {
    let all: Vec<String> = records.iter().map(|r| r.message_id.clone()).collect();
    let failed = partial_batch(records, |r| {
        let app = app.clone();
        let span = tracing::info_span!(
            "sync_message",
            message_id = %r.message_id,
            correlation_id = %r.correlation_id.clone().unwrap_or_default(),
            receive_count = r.receive_count
        );
        async move {
            let outcome = app.handle_sync_message(&r.body, r.receive_count).await;
            retry_needed(&app, &r.receipt_handle, outcome)
                .await
                .then_some(r.message_id)
        }
        .instrument(span)
    })
    .await;
    if failed.iter().any(String::is_empty) {
        return all;
    }
    failed
}

/// Whether the message must stay (be retried). A retry with a delay sets
/// the delay as the message's visibility first.
pub async fn retry_needed(
    app: &App,
    receipt: &str,
    outcome: Result<MessageOutcome, AppError>,
) -> bool {
    match outcome {
        Ok(MessageOutcome::Ack) => false,
        Ok(MessageOutcome::Discard(why)) => {
            tracing::error!(reason = %why, "discarding sync message");
            false
        }
        Ok(MessageOutcome::Retry { after }) => {
            let secs = u32::try_from(after.as_secs())
                .unwrap_or(u32::MAX)
                .min(tms_ports::queue::MAX_VISIBILITY_SECS);
            if let Err(e) = app
                .queue
                .change_visibility(QueueName::Main, receipt, secs)
                .await
            {
                tracing::warn!(error = %e, "could not set the retry delay; the message comes back after its visibility timeout");
            }
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, "sync message failed; it will be retried after its visibility timeout");
            true
        }
    }
}
