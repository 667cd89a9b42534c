//! The queue port: a standard queue with a dead-letter queue, as SQS has it.
//!
//! Semantics every adapter keeps:
//! - a received message is invisible for the visibility timeout, then comes
//!   back unless deleted; each receive increments its receive count;
//! - a message received `max_receive_count` times and not deleted is moved to
//!   the dead-letter queue instead of being delivered again;
//! - redrive moves messages from the dead-letter queue back to the main queue
//!   (receive, send, delete: a redriven message starts again at count 0).

use std::collections::BTreeMap;

use async_trait::async_trait;

/// Which of the two queues an operation addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueName {
    Main,
    DeadLetter,
}

/// Most messages one send_batch or receive may hold (SQS's limit).
pub const MAX_BATCH: usize = 10;
/// Longest visibility timeout SQS accepts (12 hours).
pub const MAX_VISIBILITY_SECS: u32 = 43_200;
/// Longest long-poll wait SQS accepts.
pub const MAX_WAIT_SECS: u32 = 20;

/// Checks the size of a batch send; adapters call this first.
pub fn check_batch(len: usize) -> Result<(), QueueError> {
    if len == 0 || len > MAX_BATCH {
        return Err(QueueError::InvalidRequest(format!(
            "a batch holds 1 to {MAX_BATCH} messages, not {len}"
        )));
    }
    Ok(())
}

/// Checks a visibility timeout; adapters call this first.
pub fn check_visibility(visibility_timeout_secs: u32) -> Result<(), QueueError> {
    if visibility_timeout_secs > MAX_VISIBILITY_SECS {
        return Err(QueueError::InvalidRequest(format!(
            "visibility timeout {visibility_timeout_secs} s is over {MAX_VISIBILITY_SECS} s"
        )));
    }
    Ok(())
}

/// Checks the arguments of a receive; adapters call this first.
pub fn check_receive(
    max: u32,
    visibility_timeout_secs: u32,
    wait_secs: u32,
) -> Result<(), QueueError> {
    if max == 0 || max as usize > MAX_BATCH {
        return Err(QueueError::InvalidRequest(format!(
            "receive takes 1 to {MAX_BATCH} messages, not {max}"
        )));
    }
    check_visibility(visibility_timeout_secs)?;
    if wait_secs > MAX_WAIT_SECS {
        return Err(QueueError::InvalidRequest(format!(
            "wait {wait_secs} s is over {MAX_WAIT_SECS} s"
        )));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutgoingMessage {
    pub body: String,
    /// String message attributes (correlation id, job type, ...).
    pub attributes: BTreeMap<String, String>,
}

impl OutgoingMessage {
    pub fn new(body: impl Into<String>) -> Self {
        Self {
            body: body.into(),
            attributes: BTreeMap::new(),
        }
    }
    pub fn with_attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.insert(name.into(), value.into());
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    pub message_id: String,
    /// Handle for delete and change_visibility; valid for this receive only.
    pub receipt_handle: String,
    pub body: String,
    pub attributes: BTreeMap<String, String>,
    /// How many times the message has been received, this receive included.
    pub receive_count: u32,
}

/// Outcome of a batch send: ids of the sent messages and the positions (in
/// the input) of those that failed, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SendBatchResult {
    pub sent: Vec<(usize, String)>,
    pub failed: Vec<(usize, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    #[error("invalid queue request: {0}")]
    InvalidRequest(String),
    /// The receipt handle is unknown or expired.
    #[error("invalid receipt handle")]
    InvalidReceipt,
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    #[error("queue error: {0}")]
    Backend(String),
}

#[async_trait]
pub trait Queue: Send + Sync {
    /// Sends one message to the main queue; returns its message id.
    async fn send(&self, message: OutgoingMessage) -> Result<String, QueueError>;

    /// Sends up to [`MAX_BATCH`] messages to the main queue in one call.
    async fn send_batch(
        &self,
        messages: Vec<OutgoingMessage>,
    ) -> Result<SendBatchResult, QueueError>;

    /// Receives up to `max` (1..=10) messages, making them invisible for
    /// `visibility_timeout_secs`. Waits up to `wait_secs` for a first message.
    async fn receive(
        &self,
        from: QueueName,
        max: u32,
        visibility_timeout_secs: u32,
        wait_secs: u32,
    ) -> Result<Vec<ReceivedMessage>, QueueError>;

    /// Deletes a received message.
    async fn delete(&self, from: QueueName, receipt_handle: &str) -> Result<(), QueueError>;

    /// Changes how long a received message stays invisible (0 = at once).
    async fn change_visibility(
        &self,
        from: QueueName,
        receipt_handle: &str,
        visibility_timeout_secs: u32,
    ) -> Result<(), QueueError>;

    /// Moves up to `max` messages from the dead-letter queue back to the main
    /// queue; returns how many were moved.
    async fn redrive(&self, max: u32) -> Result<u32, QueueError>;
}
