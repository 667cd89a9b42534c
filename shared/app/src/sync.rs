//! The sync side: the sweeper that re-enqueues jobs that are due or stuck,
//! and the worker's handling of one queue message.
//!
//! The TPGateway submission itself is a later issue: for now the worker
//! reads the job, logs, and acknowledges; the job stays queued and the
//! sweeper offers it again every `requeue_after`.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use tms_domain::sync::{SyncJob, ENTITY_SYNC_JOB};
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
    pub found: usize,
    pub enqueued: usize,
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
        let job: SyncJob = decode(&item, ENTITY_SYNC_JOB)?;
        tracing::info!(
            job_id = %job.id,
            job_type = ?job.job_type,
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
            sk: SkCondition::Between("0".into(), format!("{}#{}", keys::ts(now), keys::HIGH)),
            forward: true,
            limit: batch.clamp(1, tms_ports::store::MAX_PAGE_SIZE),
            cursor: None,
        };
        let page = self.store.query(&query).await?;
        let mut report = SweepReport {
            found: page.items.len(),
            enqueued: 0,
        };
        for item in page.items {
            let mut job: SyncJob = decode(&item, ENTITY_SYNC_JOB)?;
            job.next_retry_at = now + requeue_after;
            job.updated_at = now;
            let next = sync_job_item(&job, item.version + 1)?;
            match self
                .store
                .put(next, Condition::VersionIs(item.version))
                .await
            {
                Ok(()) => {
                    self.enqueue(&job).await;
                    report.enqueued += 1;
                }
                // Someone else (a worker, another sweeper) moved it on: skip.
                Err(StoreError::ConditionFailed { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if report.found > 0 {
            tracing::info!(
                found = report.found,
                enqueued = report.enqueued,
                "sweeper re-enqueued due sync jobs"
            );
        }
        Ok(report)
    }
}
