//! The sync side: the sweeper that re-enqueues jobs that are due or stuck,
//! and the worker's handling of one queue message.
//!
//! The TPGateway submission itself is a later issue: for now the worker
//! reads the job, logs, and acknowledges; the job stays queued and the
//! sweeper offers it again every `requeue_after`.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use tms_domain::sync::SyncJob;
use tms_ports::{Condition, Index, Query, SkCondition, StoreError};

use crate::error::AppError;
use crate::records::{decode, sync_job_item};
use crate::{keys, App};

/// The body of a sync queue message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SyncMessage {
    pub job_id: String,
}

/// What the worker decided for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageOutcome {
    /// Done with: delete the message.
    Ack,
    /// Not processable (bad body, unknown job): delete it and say why.
    Discard(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    /// Due jobs found.
    pub found: usize,
    /// Of those, sent to the queue.
    pub enqueued: usize,
    /// Pushed forward but not sent (the send failed): offered again at
    /// their new `next_retry_at`.
    pub not_sent: usize,
}

impl App {
    /// Handles one sync queue message. An `Err` means "retry later" (the
    /// message becomes visible again and, after maxReceiveCount, dead-letters).
    pub async fn handle_sync_message(&self, body: &str) -> Result<MessageOutcome, AppError> {
        let msg: SyncMessage = match serde_json::from_str(body) {
            Ok(m) => m,
            Err(_) => {
                return Ok(MessageOutcome::Discard(
                    "the message body is not a sync job reference".into(),
                ))
            }
        };
        let pk = keys::sync_job_pk(&msg.job_id);
        let Some(item) = self.store.get(&pk, &pk).await? else {
            return Ok(MessageOutcome::Discard(format!(
                "sync job {} does not exist",
                msg.job_id
            )));
        };
        let job: SyncJob = decode(&item)?;
        tracing::info!(
            job_id = %job.id,
            correlation_id = %job.correlation_id,
            job_type = job.job_type.as_str(),
            entity_type = %job.entity_type,
            entity_id = %job.entity_id,
            status = job.status.as_str(),
            "sync job received; TPGateway submission is not built yet, job stays queued"
        );
        Ok(MessageOutcome::Ack)
    }

    /// Finds jobs whose `next_retry_at` has passed (through the sparse due
    /// index), sends each to the queue and pushes its `next_retry_at` forward
    /// by `requeue_after`, so that a job whose message was lost is offered
    /// again, and one in flight is not offered twice in a row.
    pub async fn sweep_due_jobs(
        &self,
        requeue_after: Duration,
        batch: u32,
    ) -> Result<SweepReport, AppError> {
        let now: DateTime<Utc> = self.now();
        let query = Query {
            index: Some(Index::Gsi3),
            pk: keys::SYNC_DUE.to_string(),
            sk: {
                let (lo, hi) = keys::sync_due_range(now);
                SkCondition::Between(lo, hi)
            },
            forward: true,
            limit: batch.clamp(1, tms_ports::store::MAX_PAGE_SIZE),
            cursor: None,
        };
        let page = self.store.query(&query).await?;
        let mut report = SweepReport {
            found: page.items.len(),
            enqueued: 0,
            not_sent: 0,
        };
        for item in page.items {
            let mut job: SyncJob = decode(&item)?;
            job.next_retry_at = now + requeue_after;
            job.updated_at = now;
            let next = sync_job_item(&job, item.version + 1)?;
            match self
                .store
                .put(next, Condition::VersionIs(item.version))
                .await
            {
                Ok(()) => {
                    if self.enqueue(&job).await {
                        report.enqueued += 1;
                    } else {
                        report.not_sent += 1;
                    }
                }
                // Someone else (a worker, another sweeper) moved it on: skip.
                Err(StoreError::ConditionFailed { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if report.enqueued > 0 {
            tracing::info!(
                found = report.found,
                enqueued = report.enqueued,
                not_sent = report.not_sent,
                "sweeper re-enqueued due sync jobs"
            );
        }
        if report.not_sent > 0 {
            tracing::warn!(
                found = report.found,
                enqueued = report.enqueued,
                not_sent = report.not_sent,
                "sweeper could not send every due sync job; they will be offered again"
            );
        }
        Ok(report)
    }
}
