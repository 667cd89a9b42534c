//! The sync side: the worker's handling of one queue message (the job's
//! life: claim, skip, submit, record), and the sweeper that re-enqueues
//! jobs that are due or whose worker died.
//!
//! The life of a job is the same for every entity; what is sent, and what
//! is recorded on the entity, is the entity's handler (sync_course_run.rs
//! for runs). A later entity adds a handler, a dependency rule and an arm
//! in [`App::run_handler`].

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::json;
use tms_domain::sync::{
    backoff, ClaimRefused, FailureDetail, FailureKind, JobType, Receipt, SyncFailure, SyncJob,
    SyncLock, SyncStatus,
};
use tms_domain::{AuditAction, EntityType};
use tms_ports::{Condition, ErrorKind, Index, Query, SkCondition, StoreError, TpgError, WriteOp};

use crate::context::{Actor, RequestContext};
use crate::error::AppError;
use crate::records::{decode, sync_job_item, sync_lock_item};
use crate::write::{ChangeSet, SystemCommitFailure};
use crate::{keys, App};

/// The actor of the worker's audit records.
pub const WORKER_ACTOR: &str = "system:sync-worker";

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
    /// Try again: leave the message, visible again after this long.
    Retry { after: std::time::Duration },
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

/// A job this worker holds: the job as claimed and the versions of its
/// item and of its entity's lock.
pub(crate) struct Claim {
    pub job: SyncJob,
    job_version: u64,
    lock_version: u64,
}

/// Why a handler did not finish.
pub(crate) enum JobError {
    /// TPGateway (or the secret) failed; classified.
    Tpg(TpgError),
    /// Our own side failed (store unavailable, a bug): retried.
    App(AppError),
}

impl From<TpgError> for JobError {
    fn from(e: TpgError) -> Self {
        JobError::Tpg(e)
    }
}
impl From<AppError> for JobError {
    fn from(e: AppError) -> Self {
        JobError::App(e)
    }
}

/// What a handler did, for the finisher to record with the job.
pub(crate) struct Done {
    pub receipts: Vec<Receipt>,
    pub note: Option<String>,
    pub entity: Option<Effect>,
}

/// What a job changes on its entity.
pub(crate) enum Effect {
    Run(crate::sync_course_run::RunEffect),
    Enrolment(crate::sync_enrolment::EnrolmentEffect),
    Attendance(crate::sync_attendance::AttendanceEffect),
    Assessment(crate::sync_assessment::AssessmentEffect),
}

impl Done {
    pub fn nothing(note: impl Into<String>) -> Done {
        Done {
            receipts: Vec::new(),
            note: Some(note.into()),
            entity: None,
        }
    }
}

/// What a finished job records on its entity.
#[derive(Clone, Copy)]
enum Outcome<'a> {
    Done(&'a Done),
    Failed(&'a SyncFailure),
}

/// TPGateway's failure as the job and the entity keep it.
pub(crate) fn failure_of(e: &TpgError, at: DateTime<Utc>) -> SyncFailure {
    SyncFailure {
        kind: match e.kind {
            ErrorKind::Transient => FailureKind::Transient,
            ErrorKind::Permanent => FailureKind::Permanent,
            ErrorKind::UnknownOutcome => FailureKind::UnknownOutcome,
        },
        http_status: e.status,
        code: e.code.clone(),
        message: e.message.clone(),
        details: e
            .details
            .iter()
            .map(|d| FailureDetail {
                field: d.field.clone(),
                message: d.message.clone(),
            })
            .collect(),
        at,
    }
}

/// A failure of our own making (no answer from TPGateway involved).
fn local_failure(kind: FailureKind, message: &str, at: DateTime<Utc>) -> SyncFailure {
    SyncFailure {
        kind,
        http_status: None,
        code: None,
        message: message.into(),
        details: Vec::new(),
        at,
    }
}

/// How many times a finisher re-reads the entity when a person's change
/// lands between its read and its write.
const RECORD_ATTEMPTS: usize = 5;

impl App {
    /// The worker's request context for a job: its correlation id, the
    /// worker as actor.
    pub(crate) fn worker_ctx(job: &SyncJob) -> RequestContext {
        RequestContext {
            actor: Actor {
                user_id: WORKER_ACTOR.into(),
                roles: Vec::new(),
            },
            correlation_id: job.correlation_id.clone(),
        }
    }

    /// Handles one sync queue message. `receive_count` is the message's
    /// receive count (this receive included). An `Err` means our own side
    /// failed before anything was decided: leave the message for its
    /// visibility timeout.
    pub async fn handle_sync_message(
        &self,
        body: &str,
        receive_count: u32,
    ) -> Result<MessageOutcome, AppError> {
        let Ok(msg) = serde_json::from_str::<SyncMessage>(body) else {
            return Ok(MessageOutcome::Discard(
                "the message body is not a sync job reference".into(),
            ));
        };
        let pk = keys::sync_job_pk(&msg.job_id);
        let Some(item) = self.store.get(&pk, &pk).await? else {
            return Ok(MessageOutcome::Discard(format!(
                "sync job {} does not exist",
                msg.job_id
            )));
        };
        let job: SyncJob = decode(&item)?;
        let claim = match self.claim(job, item.version).await? {
            Ok(c) => c,
            Err(outcome) => return Ok(outcome),
        };
        let job = &claim.job;
        tracing::info!(
            job_id = %job.id,
            correlation_id = %job.correlation_id,
            job_type = job.job_type.as_str(),
            entity_id = %job.entity_id,
            attempt = job.attempts,
            unknown_outcome = job.unknown_outcome,
            "sync job claimed"
        );
        if let Some(note) = self.superseded(job).await? {
            self.finish_done(&claim, Done::nothing(note)).await?;
            return Ok(MessageOutcome::Ack);
        }
        let now = self.now();
        if let Some(reason) = self.waiting_on(job).await? {
            // Not an error of TPGateway's: the job waits, with backoff.
            tracing::info!(job_id = %job.id, reason = %reason, "sync job waits for a dependency");
            let failure = local_failure(FailureKind::Transient, &reason, now);
            return self
                .finish_retry(&claim, failure, None, receive_count)
                .await;
        }
        match self.run_handler(job).await {
            Ok(done) => {
                self.finish_done(&claim, done).await?;
                Ok(MessageOutcome::Ack)
            }
            Err(JobError::Tpg(e)) => {
                tracing::warn!(
                    job_id = %job.id,
                    correlation_id = %job.correlation_id,
                    api = e.api.as_str(),
                    kind = ?e.kind,
                    status = e.status,
                    code = e.code.as_deref().unwrap_or(""),
                    "TPGateway did not take the sync job"
                );
                let failure = failure_of(&e, now);
                if e.kind == ErrorKind::Permanent {
                    self.finish_failed(&claim, failure).await?;
                    Ok(MessageOutcome::Ack)
                } else {
                    self.finish_retry(&claim, failure, e.retry_after, receive_count)
                        .await
                }
            }
            Err(JobError::App(e)) => {
                tracing::warn!(job_id = %job.id, error = %e, "sync job failed on our side; retrying");
                let failure = local_failure(
                    FailureKind::Transient,
                    "the system could not complete the job; it is retried",
                    now,
                );
                self.finish_retry(&claim, failure, None, receive_count)
                    .await
            }
        }
    }

    /// The entity's dependency rule: what TPGateway must have before this
    /// job can be sent (an enrolment needs its run's TPGateway id,
    /// attendance its session ids), as the reason to wait, or `None`.
    /// A course run depends on nothing.
    async fn waiting_on(&self, job: &SyncJob) -> Result<Option<String>, AppError> {
        match job.entity_type {
            EntityType::Enrolment => self.enrolment_waits_on(job).await,
            EntityType::SessionAttendance => self.attendance_waits_on(job).await,
            EntityType::Assessment => self.assessment_waits_on(job).await,
            _ => Ok(None),
        }
    }

    /// The entity's handler for a job.
    async fn run_handler(&self, job: &SyncJob) -> Result<Done, JobError> {
        match job.entity_type {
            EntityType::CourseRun => self.sync_course_run(job).await,
            EntityType::Enrolment => self.sync_enrolment(job).await,
            EntityType::SessionAttendance => self.sync_attendance(job).await,
            EntityType::Assessment => self.sync_assessment(job).await,
            other => Err(JobError::App(AppError::Internal(format!(
                "no sync handler for {other} jobs"
            )))),
        }
    }

    /// Claims the job and its entity's lock in one transaction. `Err`
    /// carries what to do with the message instead.
    async fn claim(
        &self,
        job: SyncJob,
        job_version: u64,
    ) -> Result<Result<Claim, MessageOutcome>, AppError> {
        let now = self.now();
        let lease = Duration::from_std(self.sync.lease).unwrap_or(Duration::seconds(120));
        let claimed = match job.claim(now, lease) {
            Ok(j) => j,
            Err(ClaimRefused::Done) | Err(ClaimRefused::NeedsPerson) => {
                return Ok(Err(MessageOutcome::Ack))
            }
            Err(ClaimRefused::Busy(until)) => return Ok(Err(retry_at(until, now))),
        };
        let lock_pk = keys::sync_lock_pk(job.entity_type, &job.entity_id);
        let (lock_condition, lock_version) = match self.store.get(&lock_pk, &lock_pk).await? {
            None => (Condition::NotExists, 1),
            Some(item) => {
                let lock: SyncLock = decode(&item)?;
                if !lock.can_take(&job.id, now) {
                    // Another job of the same entity is at TPGateway now.
                    return Ok(Err(retry_at(lock.lease_until, now)));
                }
                (Condition::VersionIs(item.version), item.version + 1)
            }
        };
        let lock = SyncLock {
            entity_type: job.entity_type,
            entity_id: job.entity_id.clone(),
            job_id: job.id.clone(),
            lease_until: now + lease,
        };
        let ops = vec![
            WriteOp::Put {
                item: sync_job_item(&claimed, job_version + 1)?,
                condition: Condition::VersionIs(job_version),
            },
            WriteOp::Put {
                item: sync_lock_item(&lock, lock_version)?,
                condition: lock_condition,
            },
        ];
        match self.store.transact_write(ops).await {
            Ok(()) => Ok(Ok(Claim {
                job: claimed,
                job_version: job_version + 1,
                lock_version,
            })),
            // Another worker claimed the job or the lock first.
            Err(StoreError::ConditionFailed { .. } | StoreError::TransactionConflict) => {
                Ok(Err(MessageOutcome::Retry {
                    after: std::time::Duration::from_secs(1),
                }))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Whether a newer change of the entity has its own job: then this one
    /// has nothing to send (the newer job sends the entity as it is now).
    async fn superseded(&self, job: &SyncJob) -> Result<Option<String>, AppError> {
        if job.job_type == JobType::CourseRunSessions {
            return Ok(None);
        }
        let query = Query {
            index: Some(Index::Gsi1),
            pk: keys::sync_jobs_of_entity_pk(job.entity_type, &job.entity_id),
            sk: SkCondition::Between("0".into(), keys::HIGH.into()),
            forward: false,
            limit: 10,
            cursor: None,
        };
        let page = self.store.query(&query).await?;
        let newest = page
            .items
            .iter()
            .filter_map(|i| decode::<SyncJob>(i).ok())
            .filter(|j| j.job_type != JobType::CourseRunSessions)
            .map(|j| j.entity_version)
            .max();
        Ok(newest
            .filter(|v| *v > job.entity_version)
            .map(|v| format!("superseded by version {v}, whose job sends the newer data")))
    }

    /// The job and lock operations that end a claim.
    fn end_claim(
        &self,
        change: &mut ChangeSet,
        claim: &Claim,
        next: &SyncJob,
    ) -> Result<(), AppError> {
        change.put_versioned(
            sync_job_item(next, claim.job_version + 1)?,
            claim.job_version,
            crate::write::OnConflict::Moved("sync job"),
        );
        change.delete_versioned(
            keys::sync_lock_pk(next.entity_type, &next.entity_id),
            keys::sync_lock_pk(next.entity_type, &next.entity_id),
            claim.lock_version,
            crate::write::OnConflict::Moved("sync lock"),
        );
        Ok(())
    }

    /// Records a success: the entity's side (re-read and re-applied when a
    /// person's change lands in between), the job succeeded with its
    /// receipts, the lock released, an audit record, and any follow-up
    /// job, in one transaction.
    async fn finish_done(&self, claim: &Claim, done: Done) -> Result<(), AppError> {
        let now = self.now();
        let next = claim
            .job
            .succeeded(now, done.receipts.clone(), done.note.clone());
        self.record_outcome(claim, &next, Outcome::Done(&done), now)
            .await?;
        tracing::info!(
            job_id = %next.id,
            correlation_id = %next.correlation_id,
            receipts = done.receipts.len(),
            note = next.note.as_deref().unwrap_or(""),
            "sync job succeeded"
        );
        Ok(())
    }

    /// Records a permanent refusal: job failed, entity failed with
    /// TPGateway's message (when the refused data is still current), the
    /// lock released, an audit record.
    async fn finish_failed(&self, claim: &Claim, failure: SyncFailure) -> Result<(), AppError> {
        let now = self.now();
        let next = claim.job.failed(now, failure.clone(), Vec::new());
        self.record_outcome(claim, &next, Outcome::Failed(&failure), now)
            .await
    }

    /// Commits the job's next state, its lock's release and the entity's
    /// side of an outcome in one transaction. The entity is read afresh
    /// for each try: when a person's change lands between the read and the
    /// write, the outcome is applied again to the new state.
    async fn record_outcome(
        &self,
        claim: &Claim,
        next: &SyncJob,
        outcome: Outcome<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        for _ in 0..RECORD_ATTEMPTS {
            let mut change = ChangeSet::default();
            match (claim.job.entity_type, outcome) {
                (_, Outcome::Done(done)) => match &done.entity {
                    Some(Effect::Run(effect)) => {
                        self.record_run_effect(
                            &mut change,
                            &claim.job,
                            effect,
                            &done.receipts,
                            now,
                        )
                        .await?;
                    }
                    Some(Effect::Enrolment(effect)) => {
                        self.record_enrolment_effect(
                            &mut change,
                            &claim.job,
                            effect,
                            &done.receipts,
                            now,
                        )
                        .await?;
                    }
                    Some(Effect::Attendance(effect)) => {
                        self.record_attendance_effect(
                            &mut change,
                            &claim.job,
                            effect,
                            &done.receipts,
                            now,
                        )?;
                    }
                    Some(Effect::Assessment(effect)) => {
                        self.record_assessment_effect(
                            &mut change,
                            &claim.job,
                            effect,
                            &done.receipts,
                            now,
                        )
                        .await?;
                    }
                    None => {}
                },
                (EntityType::CourseRun, Outcome::Failed(failure)) => {
                    self.record_run_failure(&mut change, &claim.job, failure, now)
                        .await?;
                }
                (EntityType::Enrolment, Outcome::Failed(failure)) => {
                    self.record_enrolment_failure(&mut change, &claim.job, failure, now)
                        .await?;
                }
                (EntityType::SessionAttendance, Outcome::Failed(failure)) => {
                    self.record_attendance_failure(&mut change, &claim.job, failure, now)?;
                }
                (EntityType::Assessment, Outcome::Failed(failure)) => {
                    self.record_assessment_failure(&mut change, &claim.job, failure, now)
                        .await?;
                }
                _ => {}
            }
            let entity_ops = change.len();
            self.end_claim(&mut change, claim, next)?;
            match self.commit_system(change).await {
                Ok(()) => return Ok(()),
                Err(SystemCommitFailure::Conflict(i)) if i < entity_ops => continue,
                Err(SystemCommitFailure::Contention) => continue,
                Err(SystemCommitFailure::Conflict(_)) => {
                    return Err(AppError::Contention(
                        "the job's claim was lost while it ran".into(),
                    ))
                }
                Err(SystemCommitFailure::Other(e)) => return Err(e),
            }
        }
        Err(AppError::Contention(
            "the entity kept changing while the sync outcome was recorded".into(),
        ))
    }

    /// A transient failure or an unknown outcome: the job is queued again
    /// with backoff (or, on the message's last receive, dead-lettered), the
    /// lock released, and the message comes back after the same delay.
    async fn finish_retry(
        &self,
        claim: &Claim,
        failure: SyncFailure,
        retry_after: Option<std::time::Duration>,
        receive_count: u32,
    ) -> Result<MessageOutcome, AppError> {
        let now = self.now();
        let base = Duration::from_std(self.sync.backoff_base).unwrap_or(Duration::seconds(5));
        let max = Duration::from_std(self.sync.backoff_max).unwrap_or(Duration::minutes(15));
        let jitter = (uuid::Uuid::new_v4().as_u128() % 1000) as f64 / 1000.0;
        let mut delay = backoff(claim.job.attempts, base, max, jitter);
        if let Some(after) = retry_after.and_then(|d| Duration::from_std(d).ok()) {
            delay = delay.max(after);
        }
        let last = receive_count >= self.sync.max_receive_count;
        let next = if last {
            claim.job.dead_lettered(now, failure, Vec::new())
        } else {
            claim.job.retry_later(now, delay, failure, Vec::new())
        };
        tracing::warn!(
            job_id = %next.id,
            correlation_id = %next.correlation_id,
            attempt = next.attempts,
            receive_count,
            retry_in_ms = delay.num_milliseconds(),
            dead_letter = last,
            "sync job not done; it will be retried"
        );
        let mut change = ChangeSet::default();
        self.end_claim(&mut change, claim, &next)?;
        match self.commit_system(change).await {
            Ok(()) => {}
            Err(SystemCommitFailure::Other(e)) => return Err(e),
            Err(_) => {
                return Err(AppError::Contention(
                    "the job's claim was lost while it ran".into(),
                ))
            }
        }
        Ok(MessageOutcome::Retry {
            after: delay.to_std().unwrap_or_default(),
        })
    }

    /// Finds jobs whose `next_retry_at` has passed (through the sparse due
    /// index), sends each to the queue and pushes its `next_retry_at` forward
    /// by `requeue_after`, so that a job whose message was lost is offered
    /// again, and one in flight is not offered twice in a row. A running
    /// job in the index has outlived its lease: its worker died.
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
            if !job.status.is_due_candidate() {
                continue;
            }
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

    /// The audit record of a sync outcome on an entity's trail.
    pub(crate) fn sync_audit(
        &self,
        job: &SyncJob,
        action: AuditAction,
        snapshot: serde_json::Value,
        at: DateTime<Utc>,
    ) -> tms_domain::audit::AuditRecord {
        self.audit_record(
            &Self::worker_ctx(job),
            job.entity_type,
            &job.entity_id,
            action,
            json!({ "job_id": job.id, "job_type": job.job_type, "entity_version": job.entity_version, "result": snapshot }),
            at,
        )
    }
}

/// Retry when `until` has passed (at least a second from now).
fn retry_at(until: DateTime<Utc>, now: DateTime<Utc>) -> MessageOutcome {
    let wait = (until - now).to_std().unwrap_or_default();
    MessageOutcome::Retry {
        after: wait.max(std::time::Duration::from_secs(1)),
    }
}

/// A status the sweeper does not touch, for docs and tests.
pub fn is_terminal(status: SyncStatus) -> bool {
    matches!(
        status,
        SyncStatus::Succeeded | SyncStatus::Failed | SyncStatus::DeadLetter
    )
}
