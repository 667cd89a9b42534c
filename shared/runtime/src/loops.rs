//! The worker and sweeper loops of the local run (in AWS the worker is an
//! SQS-triggered Lambda, functions/sync-worker, and the sweeper a scheduled
//! one, functions/sync-sweeper; both call the same application code).

use std::time::Duration;

use tms_app::sync::MessageOutcome;
use tms_app::{App, AppError};
use tms_ports::QueueName;
use tracing::Instrument;

/// Receives sync messages and handles them, until `shutdown` fires.
pub async fn worker(
    app: App,
    visibility: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let visibility_secs = u32::try_from(visibility.as_secs()).unwrap_or(120);
    loop {
        if *shutdown.borrow() {
            break;
        }
        let received = tokio::select! {
            r = app.queue.receive(QueueName::Main, 10, visibility_secs, 1) => r,
            _ = shutdown.changed() => break,
        };
        let messages = match received {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "worker could not receive; retrying shortly");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        let mut tasks = tokio::task::JoinSet::new();
        for m in messages {
            let app = app.clone();
            let correlation_id = m
                .attributes
                .get("correlation_id")
                .cloned()
                .unwrap_or_default();
            let span = tracing::info_span!("sync_message", message_id = %m.message_id, correlation_id = %correlation_id, receive_count = m.receive_count);
            tasks.spawn(
                async move {
                    let outcome = app.handle_sync_message(&m.body, m.receive_count).await;
                    settle(&app, &m.receipt_handle, outcome).await;
                }
                .instrument(span),
            );
        }
        while tasks.join_next().await.is_some() {}
    }
}

/// Does with a received message what the worker decided: delete it, or
/// leave it to come back after the retry delay (or, when our own side
/// failed, after its visibility timeout).
pub async fn settle(app: &App, receipt: &str, outcome: Result<MessageOutcome, AppError>) {
    if !crate::worker::retry_needed(app, receipt, outcome).await {
        delete(app, receipt).await;
    }
}

async fn delete(app: &App, receipt: &str) {
    if let Err(e) = app.queue.delete(QueueName::Main, receipt).await {
        tracing::warn!(error = %e, "could not delete a handled message; it will be delivered again");
    }
}

/// Re-enqueues due jobs every `interval`, until `shutdown` fires.
pub async fn sweeper(
    app: App,
    interval: Duration,
    requeue_after: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let requeue = chrono::Duration::from_std(requeue_after).unwrap_or(chrono::Duration::minutes(5));
    loop {
        if let Err(e) = app.sweep_due_jobs(requeue, 100).await {
            tracing::warn!(error = %e, "sweep failed; trying again next interval");
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => break,
        }
    }
}
