//! The queue port on SQS: a standard queue and its dead-letter queue (the
//! redrive policy, with maxReceiveCount, is set on the queue by
//! `infra/bootstrap`, so SQS itself moves messages to the dead-letter queue).
//!
//! Message attributes are SQS String message attributes. Message bodies are
//! never logged.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, Message, MessageAttributeValue, MessageSystemAttributeName,
    SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client;
use tms_ports::queue::MAX_BATCH;
use tms_ports::{OutgoingMessage, Queue, QueueError, QueueName, ReceivedMessage, SendBatchResult};

/// Visibility timeout of dead-letter messages while redrive moves them: if a
/// send fails (or the process dies) they are back in the DLQ soon.
const REDRIVE_VISIBILITY_SECS: i32 = 30;
/// Long-poll wait of redrive's DLQ receives: short, but long enough that SQS
/// asks all its servers (a short poll may answer empty on a non-empty queue).
const REDRIVE_WAIT_SECS: i32 = 1;

/// The queue port on an SQS queue and its dead-letter queue.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    main_url: String,
    dlq_url: String,
}

impl SqsQueue {
    pub fn new(client: Client, main_url: impl Into<String>, dlq_url: impl Into<String>) -> Self {
        Self {
            client,
            main_url: main_url.into(),
            dlq_url: dlq_url.into(),
        }
    }

    fn url(&self, name: QueueName) -> &str {
        match name {
            QueueName::Main => &self.main_url,
            QueueName::DeadLetter => &self.dlq_url,
        }
    }

    /// A ReceiveMessage call asking for the receive count and all message
    /// attributes.
    async fn receive_raw(
        &self,
        url: &str,
        max: i32,
        visibility_timeout_secs: i32,
        wait_secs: i32,
    ) -> Result<Vec<Message>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(max)
            .visibility_timeout(visibility_timeout_secs)
            .wait_time_seconds(wait_secs)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| map_sdk("ReceiveMessage", e))?;
        Ok(out.messages.unwrap_or_default())
    }
}

/// Maps an SDK error to the port's error, by error code and HTTP status.
fn map_sdk<E>(op: &str, err: SdkError<E, HttpResponse>) -> QueueError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
            QueueError::Unavailable(format!("{op}: {}", DisplayErrorContext(&err)))
        }
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("unknown");
            let message = service.err().message().unwrap_or("");
            let status = service.raw().status();
            classify(op, code, message, status.as_u16())
        }
        SdkError::ResponseError(response) if response.raw().status().is_server_error() => {
            QueueError::Unavailable(format!("{op}: {}", DisplayErrorContext(&err)))
        }
        _ => QueueError::Backend(format!("{op}: {}", DisplayErrorContext(&err))),
    }
}

/// Maps an SQS error code (as a service error or a batch entry failure).
fn classify(op: &str, code: &str, message: &str, status: u16) -> QueueError {
    // Codes come plain ("ReceiptHandleIsInvalid") or prefixed
    // ("AWS.SimpleQueueService.NonExistentQueue"); compare the last part.
    let short = code.rsplit('.').next().unwrap_or(code);
    match short {
        "ReceiptHandleIsInvalid" | "InvalidIdFormat" | "MessageNotInflight" => {
            QueueError::InvalidReceipt
        }
        "RequestThrottled"
        | "Throttling"
        | "ThrottlingException"
        | "KmsThrottled"
        | "ServiceUnavailable"
        | "InternalError"
        | "InternalFailure" => QueueError::Unavailable(format!("{op}: {code}: {message}")),
        _ if status == 429 || status >= 500 => {
            QueueError::Unavailable(format!("{op}: {code} (HTTP {status}): {message}"))
        }
        _ => QueueError::Backend(format!("{op}: {code}: {message}")),
    }
}

fn to_sqs_attributes(
    attributes: &BTreeMap<String, String>,
) -> Result<Option<HashMap<String, MessageAttributeValue>>, QueueError> {
    if attributes.is_empty() {
        return Ok(None);
    }
    attributes
        .iter()
        .map(|(name, value)| {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| QueueError::InvalidRequest(format!("attribute {name}: {e}")))?;
            Ok((name.clone(), value))
        })
        .collect::<Result<HashMap<_, _>, _>>()
        .map(Some)
}

fn from_sqs_message(message: Message) -> Result<ReceivedMessage, QueueError> {
    let receipt_handle = message.receipt_handle.ok_or_else(|| {
        QueueError::Backend("ReceiveMessage: a message without receipt handle".into())
    })?;
    let receive_count = message
        .attributes
        .as_ref()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or_else(|| {
            tracing::warn!("ReceiveMessage: no ApproximateReceiveCount; assuming 1");
            1
        });
    let attributes = message
        .message_attributes
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(name, value)| value.string_value.map(|v| (name, v)))
        .collect();
    Ok(ReceivedMessage {
        message_id: message.message_id.unwrap_or_default(),
        receipt_handle,
        body: message.body.unwrap_or_default(),
        attributes,
        receive_count,
    })
}

fn check_visibility(visibility_timeout_secs: u32) -> Result<i32, QueueError> {
    tms_ports::queue::check_visibility(visibility_timeout_secs)?;
    i32::try_from(visibility_timeout_secs)
        .map_err(|_| QueueError::InvalidRequest("visibility timeout out of range".into()))
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, message: OutgoingMessage) -> Result<String, QueueError> {
        let out = self
            .client
            .send_message()
            .queue_url(&self.main_url)
            .message_body(message.body)
            .set_message_attributes(to_sqs_attributes(&message.attributes)?)
            .send()
            .await
            .map_err(|e| map_sdk("SendMessage", e))?;
        out.message_id
            .ok_or_else(|| QueueError::Backend("SendMessage: no message id".into()))
    }

    async fn send_batch(
        &self,
        messages: Vec<OutgoingMessage>,
    ) -> Result<SendBatchResult, QueueError> {
        tms_ports::queue::check_batch(messages.len())?;
        let count = messages.len();
        let entries = messages
            .into_iter()
            .enumerate()
            .map(|(position, m)| {
                SendMessageBatchRequestEntry::builder()
                    .id(position.to_string())
                    .set_message_attributes(to_sqs_attributes(&m.attributes)?)
                    .message_body(m.body)
                    .build()
                    .map_err(|e| QueueError::InvalidRequest(format!("batch entry {position}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.main_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| map_sdk("SendMessageBatch", e))?;
        let position = |id: &str| -> Result<usize, QueueError> {
            id.parse::<usize>()
                .ok()
                .filter(|p| *p < count)
                .ok_or_else(|| {
                    QueueError::Backend(format!("SendMessageBatch: unknown entry id {id}"))
                })
        };
        let mut result = SendBatchResult::default();
        for entry in out.successful() {
            result
                .sent
                .push((position(entry.id())?, entry.message_id().to_owned()));
        }
        for entry in out.failed() {
            let reason = format!("{}: {}", entry.code(), entry.message().unwrap_or(""));
            tracing::warn!(
                entry = entry.id(),
                code = entry.code(),
                sender_fault = entry.sender_fault(),
                "SendMessageBatch entry failed"
            );
            result.failed.push((position(entry.id())?, reason));
        }
        result.sent.sort();
        result.failed.sort();
        Ok(result)
    }

    async fn receive(
        &self,
        from: QueueName,
        max: u32,
        visibility_timeout_secs: u32,
        wait_secs: u32,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        tms_ports::queue::check_receive(max, visibility_timeout_secs, wait_secs)?;
        let visibility = check_visibility(visibility_timeout_secs)?;
        // Both bounded above, so the casts cannot truncate.
        let messages = self
            .receive_raw(self.url(from), max as i32, visibility, wait_secs as i32)
            .await?;
        messages.into_iter().map(from_sqs_message).collect()
    }

    async fn delete(&self, from: QueueName, receipt_handle: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(self.url(from))
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(|e| map_sdk("DeleteMessage", e))?;
        Ok(())
    }

    async fn change_visibility(
        &self,
        from: QueueName,
        receipt_handle: &str,
        visibility_timeout_secs: u32,
    ) -> Result<(), QueueError> {
        let visibility = check_visibility(visibility_timeout_secs)?;
        self.client
            .change_message_visibility()
            .queue_url(self.url(from))
            .receipt_handle(receipt_handle)
            .visibility_timeout(visibility)
            .send()
            .await
            .map_err(|e| map_sdk("ChangeMessageVisibility", e))?;
        Ok(())
    }

    /// Redrive as receive + send + delete: dead-letter messages are received
    /// in batches of up to 10 (short long-poll wait), sent to the main queue
    /// with the same body and attributes (a new message, receive count 0),
    /// and deleted from the DLQ only once their send succeeded. It stops when
    /// `max` were moved or the DLQ answers empty.
    ///
    /// SQS's own StartMessageMoveTask is deliberately not used: the local
    /// AWS-compatible server the tests run against (moto) answers it with
    /// HTTP 500, while receive + send + delete works on every engine. A crash
    /// between send and delete leaves a duplicate, which the worker tolerates
    /// (delivery is at least once anyway).
    async fn redrive(&self, max: u32) -> Result<u32, QueueError> {
        let mut moved = 0u32;
        while moved < max {
            let want = (max - moved).min(MAX_BATCH as u32) as i32;
            let messages = self
                .receive_raw(
                    &self.dlq_url,
                    want,
                    REDRIVE_VISIBILITY_SECS,
                    REDRIVE_WAIT_SECS,
                )
                .await?;
            if messages.is_empty() {
                break;
            }
            let mut handles = HashMap::new();
            let mut entries = Vec::with_capacity(messages.len());
            for (i, m) in messages.into_iter().enumerate() {
                let Some(handle) = m.receipt_handle else {
                    continue;
                };
                let entry = SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(m.body.unwrap_or_default())
                    .set_message_attributes(m.message_attributes.filter(|a| !a.is_empty()))
                    .build()
                    .map_err(|e| QueueError::Backend(format!("redrive entry: {e}")))?;
                entries.push(entry);
                handles.insert(i.to_string(), handle);
            }
            if entries.is_empty() {
                break;
            }
            let sent = self
                .client
                .send_message_batch()
                .queue_url(&self.main_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| map_sdk("SendMessageBatch", e))?;
            for failed in sent.failed() {
                tracing::warn!(
                    code = failed.code(),
                    "redrive: send to the main queue failed; the message stays in the DLQ"
                );
            }
            let deletes = sent
                .successful()
                .iter()
                .filter_map(|s| handles.get(s.id()).map(|h| (s.id(), h)))
                .map(|(id, handle)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(id)
                        .receipt_handle(handle)
                        .build()
                        .map_err(|e| QueueError::Backend(format!("redrive delete entry: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let sent_now = deletes.len() as u32;
            moved += sent_now;
            if !deletes.is_empty() {
                let deleted = self
                    .client
                    .delete_message_batch()
                    .queue_url(&self.dlq_url)
                    .set_entries(Some(deletes))
                    .send()
                    .await
                    .map_err(|e| map_sdk("DeleteMessageBatch", e))?;
                for failed in deleted.failed() {
                    tracing::warn!(
                        code = failed.code(),
                        "redrive: delete from the DLQ failed; the message was sent and may be redriven twice"
                    );
                }
            }
            if let Some(first) = sent.failed().first() {
                // Stop rather than spin on a failing send; report it when
                // nothing at all could be moved.
                if moved == 0 {
                    return Err(classify(
                        "SendMessageBatch",
                        first.code(),
                        first.message().unwrap_or(""),
                        if first.sender_fault() { 400 } else { 500 },
                    ));
                }
                break;
            }
        }
        if moved > 0 {
            tracing::info!(moved, "redrove dead-letter messages to the main queue");
        }
        Ok(moved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_map_to_the_port() {
        assert_eq!(
            classify("DeleteMessage", "ReceiptHandleIsInvalid", "", 400),
            QueueError::InvalidReceipt
        );
        assert_eq!(
            classify(
                "DeleteMessage",
                "AWS.SimpleQueueService.ReceiptHandleIsInvalid",
                "",
                400
            ),
            QueueError::InvalidReceipt
        );
        assert_eq!(
            classify(
                "ChangeMessageVisibility",
                "AWS.SimpleQueueService.MessageNotInflight",
                "",
                400
            ),
            QueueError::InvalidReceipt
        );
        assert!(matches!(
            classify("SendMessage", "RequestThrottled", "slow down", 400),
            QueueError::Unavailable(_)
        ));
        assert!(matches!(
            classify("SendMessage", "Whatever", "", 503),
            QueueError::Unavailable(_)
        ));
        let QueueError::Backend(text) = classify(
            "SendMessage",
            "AWS.SimpleQueueService.NonExistentQueue",
            "no such queue",
            400,
        ) else {
            panic!("a client error is a backend error");
        };
        assert!(text.contains("NonExistentQueue") && text.contains("no such queue"));
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_is_unavailable() {
        let config = aws_sdk_sqs::Config::builder()
            .behavior_version_latest()
            .endpoint_url("http://127.0.0.1:9")
            .region(aws_sdk_sqs::config::Region::new("ap-southeast-1"))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .retry_config(aws_sdk_sqs::config::retry::RetryConfig::disabled())
            .build();
        let q = SqsQueue::new(
            Client::from_conf(config),
            "http://127.0.0.1:9/000000000000/main",
            "http://127.0.0.1:9/000000000000/dlq",
        );
        let err = q.send(OutgoingMessage::new("x")).await.unwrap_err();
        assert!(matches!(err, QueueError::Unavailable(_)), "{err:?}");
    }

    #[tokio::test]
    async fn limits_are_checked_before_any_call() {
        let config = aws_sdk_sqs::Config::builder()
            .behavior_version_latest()
            .region(aws_sdk_sqs::config::Region::new("ap-southeast-1"))
            .build();
        let q = SqsQueue::new(Client::from_conf(config), "main", "dlq");
        assert!(matches!(
            q.receive(QueueName::Main, 1, 30, 21).await,
            Err(QueueError::InvalidRequest(_))
        ));
        assert!(matches!(
            q.receive(QueueName::Main, 1, 43_201, 0).await,
            Err(QueueError::InvalidRequest(_))
        ));
        assert!(matches!(
            q.change_visibility(QueueName::Main, "h", 43_201).await,
            Err(QueueError::InvalidRequest(_))
        ));
    }
}
