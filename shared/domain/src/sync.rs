//! Sync jobs: the record that TPGateway must hear of a change, and the
//! rules of a job's life (claim, success, retry, failure, dead letter).
//! Pure: the time, the lease and the random jitter are passed in.

use chrono::{DateTime, Duration, Utc};
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
    /// "due" index): queued jobs whose message may be lost, running jobs
    /// whose worker may have died, and failed-transiently jobs waiting for
    /// their retry are all `queued` or `running`.
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
        /// Fetch the run's session ids from TPGateway and store them.
        CourseRunSessions,
        /// Create the enrolment on TPGateway, or update it when TPGateway
        /// has it (its reference is stored).
        EnrolmentUpsert,
        /// Cancel the enrolment on TPGateway.
        EnrolmentCancel,
        /// Upload a signed-off session's attendance, one trainee per call.
        AttendanceUpload,
        /// Create the assessment on TPGateway, or update it when TPGateway
        /// has it (its reference is stored).
        AssessmentUpsert,
        /// Void the assessment on TPGateway.
        AssessmentVoid,
    }
}

/// What TPGateway answered to one accepted call: kept on the job and on the
/// entity, so a person can show what was sent and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Receipt {
    /// The API called (`publish_run`, `edit_run`, ...).
    pub api: String,
    pub http_status: u16,
    /// TPGateway's reference: the run id, an enrolment or assessment number.
    pub reference: Option<String>,
    pub at: DateTime<Utc>,
    pub correlation_id: String,
}

crate::named_enum! {
    /// How an attempt failed.
    pub enum FailureKind {
        /// Retried with backoff.
        Transient,
        /// Refused by TPGateway: not retried until the data changes or a
        /// person retries.
        Permanent,
        /// Sent, no answer: TPGateway is looked at before anything is sent
        /// again.
        UnknownOutcome,
    }
}

/// One of TPGateway's field details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FailureDetail {
    pub field: String,
    pub message: String,
}

/// Why the last attempt failed: TPGateway's own code, message and field
/// details when it answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SyncFailure {
    pub kind: FailureKind,
    pub http_status: Option<u16>,
    pub code: Option<String>,
    pub message: String,
    #[serde(default)]
    pub details: Vec<FailureDetail>,
    pub at: DateTime<Utc>,
}

/// An enrolment's or an assessment's standing with TPGateway, as the
/// worker last recorded it (written by the worker only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SubmissionSync {
    /// Submissions made (creates, updates, cancels or voids).
    #[serde(default)]
    pub attempts: u32,
    pub receipt: Option<Receipt>,
    pub error: Option<SyncFailure>,
}

impl SubmissionSync {
    /// What a job's accepted calls leave: each one counted, the last
    /// receipt kept (none made: nothing changes).
    pub fn record_calls(&mut self, receipts: &[Receipt]) {
        if let Some(r) = receipts.last() {
            self.receipt = Some(r.clone());
        }
        let made = u32::try_from(receipts.len()).unwrap_or(u32::MAX);
        self.attempts = self.attempts.saturating_add(made);
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SyncJob {
    pub id: String,
    pub job_type: JobType,
    pub entity_type: EntityType,
    pub entity_id: String,
    pub entity_version: u64,
    pub correlation_id: String,
    /// Who made the change the job carries (the worker for its own
    /// follow-up jobs).
    #[serde(default)]
    pub actor_id: String,
    /// `<entity type>#<entity id>#<version>`: one job per version of an entity.
    pub idempotency_key: String,
    pub status: SyncStatus,
    /// Attempts started (claims).
    pub attempts: u32,
    /// The last failure's message, for lists.
    pub last_error: Option<String>,
    /// The last failure in full.
    #[serde(default)]
    pub failure: Option<SyncFailure>,
    /// When the sweeper looks at the job next (see [`SyncJob::is_due`]).
    pub next_retry_at: DateTime<Utc>,
    /// While running: until when the claim holds.
    #[serde(default)]
    pub lease_until: Option<DateTime<Utc>>,
    /// The last attempt may have reached TPGateway without an answer: look
    /// before sending anything again.
    #[serde(default)]
    pub unknown_outcome: bool,
    /// What TPGateway accepted for this job, in order.
    #[serde(default)]
    pub receipts: Vec<Receipt>,
    /// How the job ended when no call was needed ("superseded by version
    /// 4", "never published: nothing to delete"), or what a submission left
    /// out ("trainer <id> not linked on TPGateway: no tpg_trainer_id").
    #[serde(default)]
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Held by the one job that acts for an entity now, so that the jobs of one
/// entity reach TPGateway one at a time, in the order they run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncLock {
    pub entity_type: EntityType,
    pub entity_id: String,
    pub job_id: String,
    pub lease_until: DateTime<Utc>,
}

impl SyncLock {
    /// Whether `job_id` may take the lock at `now`: free, expired, or its own.
    pub fn can_take(&self, job_id: &str, now: DateTime<Utc>) -> bool {
        self.lease_until <= now || self.job_id == job_id
    }
}

pub fn idempotency_key(entity_type: EntityType, entity_id: &str, version: u64) -> String {
    format!("{entity_type}#{entity_id}#{version}")
}

/// How long a newly queued job is left to its queue message before the
/// sweeper treats it as lost and enqueues it again.
pub const ENQUEUE_GRACE_SECS: i64 = 120;

/// Why a job is not to be worked on now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimRefused {
    /// Succeeded already: acknowledge, send nothing.
    Done,
    /// Failed permanently: waits for new data or a person's retry.
    NeedsPerson,
    /// Another worker holds it until then.
    Busy(DateTime<Utc>),
}

/// Exponential backoff with jitter: `base * 2^(attempt-1)`, at most `max`,
/// then scaled into [50 %, 100 %] by `jitter` (a number in [0, 1)).
pub fn backoff(attempt: u32, base: Duration, max: Duration, jitter: f64) -> Duration {
    let exp = attempt.saturating_sub(1).min(30);
    let full = base
        .checked_mul(1_i32 << exp.min(30))
        .unwrap_or(max)
        .min(max);
    let scale = 0.5 + 0.5 * jitter.clamp(0.0, 1.0);
    Duration::milliseconds((full.num_milliseconds() as f64 * scale) as i64)
}

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
            actor_id: String::new(),
            idempotency_key: idempotency_key(entity_type, entity_id, entity_version),
            status: SyncStatus::Queued,
            attempts: 0,
            last_error: None,
            failure: None,
            next_retry_at: now + Duration::seconds(ENQUEUE_GRACE_SECS),
            lease_until: None,
            unknown_outcome: false,
            receipts: Vec::new(),
            note: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// The job, naming who made the change.
    pub fn by(mut self, actor_id: &str) -> SyncJob {
        self.actor_id = actor_id.to_string();
        self
    }

    /// The job, claimed by a worker until `now + lease`. A job found
    /// running with its lease expired had a worker die on it: whether its
    /// call reached TPGateway is unknown.
    pub fn claim(&self, now: DateTime<Utc>, lease: Duration) -> Result<SyncJob, ClaimRefused> {
        let mut next = self.clone();
        match self.status {
            SyncStatus::Succeeded => return Err(ClaimRefused::Done),
            SyncStatus::Failed => return Err(ClaimRefused::NeedsPerson),
            SyncStatus::Running => match self.lease_until {
                Some(until) if until > now => return Err(ClaimRefused::Busy(until)),
                _ => next.unknown_outcome = true,
            },
            SyncStatus::Queued | SyncStatus::DeadLetter => {}
        }
        next.status = SyncStatus::Running;
        next.attempts = self.attempts.saturating_add(1);
        next.lease_until = Some(now + lease);
        // A worker that dies leaves the job for the sweeper after the lease.
        next.next_retry_at = now + lease;
        next.updated_at = now;
        Ok(next)
    }

    /// Done: TPGateway has what it needs (or nothing had to be sent).
    pub fn succeeded(
        &self,
        now: DateTime<Utc>,
        receipts: Vec<Receipt>,
        note: Option<String>,
    ) -> SyncJob {
        let mut next = self.clone();
        next.status = SyncStatus::Succeeded;
        next.receipts.extend(receipts);
        next.note = note;
        next.lease_until = None;
        next.unknown_outcome = false;
        next.updated_at = now;
        next
    }

    /// To be tried again after `delay`. The sweeper looks again only after
    /// the retry's message had its chance (`delay` plus the enqueue grace).
    /// An unknown outcome is remembered for the next attempt.
    pub fn retry_later(
        &self,
        now: DateTime<Utc>,
        delay: Duration,
        failure: SyncFailure,
        receipts: Vec<Receipt>,
    ) -> SyncJob {
        let mut next = self.clone();
        next.status = SyncStatus::Queued;
        next.unknown_outcome = self.unknown_outcome && failure.kind != FailureKind::Permanent
            || failure.kind == FailureKind::UnknownOutcome;
        next.last_error = Some(failure.message.clone());
        next.failure = Some(failure);
        next.receipts.extend(receipts);
        next.next_retry_at = now + delay + Duration::seconds(ENQUEUE_GRACE_SECS);
        next.lease_until = None;
        next.updated_at = now;
        next
    }

    /// Refused by TPGateway: not retried until the data changes (a new job)
    /// or a person retries it.
    pub fn failed(
        &self,
        now: DateTime<Utc>,
        failure: SyncFailure,
        receipts: Vec<Receipt>,
    ) -> SyncJob {
        let mut next = self.retry_later(now, Duration::zero(), failure, receipts);
        next.status = SyncStatus::Failed;
        next.unknown_outcome = false;
        next
    }

    /// The queue gave up on it (its last receive before the dead-letter
    /// queue): waits for a redrive or a person's retry.
    pub fn dead_lettered(
        &self,
        now: DateTime<Utc>,
        failure: SyncFailure,
        receipts: Vec<Receipt>,
    ) -> SyncJob {
        let mut next = self.retry_later(now, Duration::zero(), failure, receipts);
        next.status = SyncStatus::DeadLetter;
        next
    }

    /// A person's retry of a failed or dead-lettered job: queued again.
    pub fn retried(&self, now: DateTime<Utc>) -> Result<SyncJob, crate::DomainError> {
        match self.status {
            SyncStatus::Failed | SyncStatus::DeadLetter => {
                let mut next = self.clone();
                next.status = SyncStatus::Queued;
                next.next_retry_at = now + Duration::seconds(ENQUEUE_GRACE_SECS);
                next.updated_at = now;
                Ok(next)
            }
            other => Err(crate::DomainError::InvalidState(format!(
                "only a failed or dead_letter job can be retried; this one is {other}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    fn receipt(api: &str) -> Receipt {
        Receipt {
            api: api.into(),
            http_status: 200,
            reference: Some("ENR-1".into()),
            at: chrono::Utc::now(),
            correlation_id: "c".into(),
        }
    }

    #[test]
    fn recorded_calls_count_each_and_keep_the_last_receipt() {
        let mut s = SubmissionSync::default();
        s.record_calls(&[]);
        assert_eq!(s, SubmissionSync::default(), "no call, no change");
        s.record_calls(&[receipt("search_enrolment"), receipt("create_enrolment")]);
        assert_eq!(s.attempts, 2);
        assert_eq!(
            s.receipt.as_ref().map(|r| r.api.as_str()),
            Some("create_enrolment")
        );
        s.record_calls(&[receipt("update_enrolment")]);
        assert_eq!(s.attempts, 3);
        assert_eq!(
            s.receipt.as_ref().map(|r| r.api.as_str()),
            Some("update_enrolment")
        );
        s.attempts = u32::MAX - 1;
        s.record_calls(&[receipt("a"), receipt("b")]);
        assert_eq!(s.attempts, u32::MAX, "saturates");
    }

    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap()
    }

    fn job() -> SyncJob {
        SyncJob::queued(
            "j".into(),
            JobType::CourseRunUpsert,
            EntityType::CourseRun,
            "r1",
            3,
            "c",
            t0(),
        )
    }

    fn failure(kind: FailureKind) -> SyncFailure {
        SyncFailure {
            kind,
            http_status: Some(500),
            code: None,
            message: "boom".into(),
            details: vec![],
            at: t0(),
        }
    }

    #[test]
    fn key_and_queued_state() {
        let j = job();
        assert_eq!(j.idempotency_key, "course_run#r1#3");
        assert_eq!(j.status, SyncStatus::Queued);
        assert_eq!(
            j.next_retry_at,
            t0() + Duration::seconds(ENQUEUE_GRACE_SECS)
        );
        assert!(j.status.is_due_candidate());
        assert!(!SyncStatus::Succeeded.is_due_candidate());
        assert!(!SyncStatus::DeadLetter.is_due_candidate());
        assert_eq!(
            serde_json::to_value(SyncStatus::DeadLetter).unwrap(),
            "dead_letter"
        );
    }

    #[test]
    fn claims() {
        let lease = Duration::seconds(60);
        let c = job().claim(t0(), lease).unwrap();
        assert_eq!((c.status, c.attempts), (SyncStatus::Running, 1));
        assert_eq!(c.lease_until, Some(t0() + lease));
        assert!(!c.unknown_outcome);
        // Held by another worker.
        assert_eq!(
            c.claim(t0() + Duration::seconds(10), lease),
            Err(ClaimRefused::Busy(t0() + lease))
        );
        // The worker died: the next claim must look before sending.
        let again = c.claim(t0() + Duration::seconds(61), lease).unwrap();
        assert!(again.unknown_outcome);
        assert_eq!(again.attempts, 2);
        let done = c.succeeded(t0(), vec![], None);
        assert_eq!(done.claim(t0(), lease), Err(ClaimRefused::Done));
        let failed = c.failed(t0(), failure(FailureKind::Permanent), vec![]);
        assert_eq!(failed.claim(t0(), lease), Err(ClaimRefused::NeedsPerson));
        let dead = c.dead_lettered(t0(), failure(FailureKind::Transient), vec![]);
        assert_eq!(dead.status, SyncStatus::DeadLetter);
        assert!(
            dead.claim(t0(), lease).is_ok(),
            "a redriven message runs it again"
        );
    }

    #[test]
    fn retries_remember_unknown_outcomes() {
        let c = job().claim(t0(), Duration::seconds(60)).unwrap();
        let r = c.retry_later(
            t0(),
            Duration::seconds(4),
            failure(FailureKind::UnknownOutcome),
            vec![],
        );
        assert_eq!(r.status, SyncStatus::Queued);
        assert!(r.unknown_outcome);
        assert_eq!(r.last_error.as_deref(), Some("boom"));
        assert_eq!(
            r.next_retry_at,
            t0() + Duration::seconds(4 + ENQUEUE_GRACE_SECS)
        );
        // A transient failure of the next attempt does not forget it.
        let r2 = r.claim(t0(), Duration::seconds(60)).unwrap().retry_later(
            t0(),
            Duration::seconds(4),
            failure(FailureKind::Transient),
            vec![],
        );
        assert!(r2.unknown_outcome);
        let ok = r2
            .claim(t0(), Duration::seconds(60))
            .unwrap()
            .succeeded(t0(), vec![], None);
        assert!(!ok.unknown_outcome && ok.lease_until.is_none());
    }

    #[test]
    fn retried_by_a_person() {
        let c = job().claim(t0(), Duration::seconds(60)).unwrap();
        assert!(c.retried(t0()).is_err());
        let f = c.failed(t0(), failure(FailureKind::Permanent), vec![]);
        let q = f.retried(t0()).unwrap();
        assert_eq!(q.status, SyncStatus::Queued);
        assert!(job().succeeded(t0(), vec![], None).retried(t0()).is_err());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::seconds(2);
        let max = Duration::seconds(60);
        assert_eq!(backoff(1, base, max, 1.0), Duration::seconds(2));
        assert_eq!(backoff(1, base, max, 0.0), Duration::seconds(1));
        assert_eq!(backoff(3, base, max, 1.0), Duration::seconds(8));
        assert_eq!(backoff(10, base, max, 1.0), max);
        assert_eq!(backoff(40, base, max, 1.0), max);
        assert_eq!(backoff(0, base, max, 1.0), Duration::seconds(2));
    }
}
