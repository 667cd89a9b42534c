//! Sync jobs: the record that TPGateway must hear of a change.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::kinds::EntityType;

crate::named_enum! {
    /// Where a sync job stands.
    pub enum SyncStatus {
        Queued,
        Running,
        Succeeded,
        Failed,
        DeadLetter,
    }
}

impl SyncStatus {
    /// Whether the sweeper should look at the job (it belongs in the sparse
    /// "due" index).
    pub fn is_due_candidate(self) -> bool {
        matches!(self, SyncStatus::Queued | SyncStatus::Running)
    }
}

crate::named_enum! {
    /// What the worker is to tell TPGateway.
    pub enum JobType {
        /// Publish the run, or update it when TPGateway already has it.
        CourseRunUpsert,
        /// Delete the run on TPGateway.
        CourseRunCancel,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncJob {
    pub id: String,
    pub job_type: JobType,
    pub entity_type: EntityType,
    pub entity_id: String,
    pub entity_version: u64,
    pub correlation_id: String,
    /// `<entity type>#<entity id>#<version>`: one job per version of an entity.
    pub idempotency_key: String,
    pub status: SyncStatus,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub next_retry_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub fn idempotency_key(entity_type: EntityType, entity_id: &str, version: u64) -> String {
    format!("{entity_type}#{entity_id}#{version}")
}

/// How long a newly queued job is left to its queue message before the
/// sweeper treats it as lost and enqueues it again.
pub const ENQUEUE_GRACE_SECS: i64 = 120;

impl SyncJob {
    /// A new job, queued now. Its `next_retry_at` is `now` plus the enqueue
    /// grace: the message sent after the commit should reach the worker well
    /// before; if it never does (the send failed), the sweeper finds the job
    /// then.
    #[allow(clippy::too_many_arguments)]
    pub fn queued(
        id: String,
        job_type: JobType,
        entity_type: EntityType,
        entity_id: &str,
        entity_version: u64,
        correlation_id: &str,
        now: DateTime<Utc>,
    ) -> SyncJob {
        SyncJob {
            id,
            job_type,
            entity_type,
            entity_id: entity_id.to_string(),
            entity_version,
            correlation_id: correlation_id.to_string(),
            idempotency_key: idempotency_key(entity_type, entity_id, entity_version),
            status: SyncStatus::Queued,
            attempts: 0,
            last_error: None,
            next_retry_at: now + chrono::Duration::seconds(ENQUEUE_GRACE_SECS),
            created_at: now,
            updated_at: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_and_queued_state() {
        let now = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let j = SyncJob::queued(
            "j".into(),
            JobType::CourseRunUpsert,
            EntityType::CourseRun,
            "r1",
            3,
            "c",
            now,
        );
        assert_eq!(j.idempotency_key, "course_run#r1#3");
        assert_eq!(j.status, SyncStatus::Queued);
        assert_eq!(
            j.next_retry_at,
            now + chrono::Duration::seconds(ENQUEUE_GRACE_SECS)
        );
        assert!(j.status.is_due_candidate());
        assert!(!SyncStatus::Succeeded.is_due_candidate());
        assert_eq!(
            serde_json::to_value(SyncStatus::DeadLetter).unwrap(),
            "dead_letter"
        );
    }
}
