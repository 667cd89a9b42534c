//! The sync worker Lambda's event: SQS records in, a partial batch
//! response out (the records to retry).

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use tms_app::App;

use crate::worker::{handle_batch, BatchRecord};

/// The records of an SQS event as the worker takes them. A record without
/// a message id cannot be reported for retry; one without a receipt handle
/// or body is handled as what it is (a message the worker discards).
pub fn records(event: SqsEvent) -> Vec<BatchRecord> {
    event
        .records
        .into_iter()
        .map(|m| BatchRecord {
            message_id: m.message_id.unwrap_or_default(),
            receipt_handle: m.receipt_handle.unwrap_or_default(),
            body: m.body.unwrap_or_default(),
            receive_count: m
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|c| c.parse().ok())
                .unwrap_or(1),
            correlation_id: m
                .message_attributes
                .get("correlation_id")
                .and_then(|a| a.string_value.clone()),
        })
        .collect()
}

/// Handles an SQS event: the batch's records concurrently, then the ids of
/// those to retry as `batchItemFailures`.
pub async fn handle_event(app: &App, event: SqsEvent) -> SqsBatchResponse {
    let failed = handle_batch(app, records(event)).await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    response
}
