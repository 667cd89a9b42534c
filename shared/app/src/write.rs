//! The one write path: entity items + audit record + sync job (+ the
//! Idempotency-Key record) in ONE transaction, then the job id to the queue.
//! A failed send does not fail the request: the sweeper finds the job.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use tms_domain::audit::AuditRecord;
use tms_domain::sync::{JobType, SyncJob};
use tms_ports::{Condition, Item, OutgoingMessage, StoreError, WriteOp};

use crate::context::{IdempotencyRequest, RequestContext};
use crate::error::AppError;
use crate::records::{self, ENTITY_IDEMPOTENCY};
use crate::{keys, App};

/// How long an Idempotency-Key is remembered.
pub const IDEMPOTENCY_TTL_HOURS: i64 = 24;

/// Message attribute names carried with every sync message.
pub const ATTR_CORRELATION_ID: &str = "correlation_id";
pub const ATTR_JOB_TYPE: &str = "job_type";
pub const ATTR_ENTITY_TYPE: &str = "entity_type";

/// The items of one change, collected before the commit.
#[derive(Default)]
pub(crate) struct ChangeSet {
    ops: Vec<WriteOp>,
    job: Option<SyncJob>,
}

/// What a commit did.
pub(crate) enum Committed {
    Done,
    /// The Idempotency-Key was seen before with the same request.
    Replayed(Value),
}

impl ChangeSet {
    pub fn put_new(&mut self, item: Item) -> usize {
        self.ops.push(WriteOp::Put {
            item,
            condition: Condition::NotExists,
        });
        self.ops.len() - 1
    }

    pub fn put_versioned(&mut self, item: Item, expected: u64) -> usize {
        self.ops.push(WriteOp::Put {
            item,
            condition: Condition::VersionIs(expected),
        });
        self.ops.len() - 1
    }

    pub fn delete_versioned(&mut self, pk: String, sk: String, expected: u64) -> usize {
        self.ops.push(WriteOp::Delete {
            pk,
            sk,
            condition: Condition::VersionIs(expected),
        });
        self.ops.len() - 1
    }

    pub fn audit(&mut self, record: &AuditRecord) -> Result<(), AppError> {
        self.put_new(records::audit_item(record)?);
        Ok(())
    }

    pub fn job(&mut self, job: SyncJob) -> Result<(), AppError> {
        self.put_new(records::sync_job_item(&job, 1)?);
        self.job = Some(job);
        Ok(())
    }
}

impl App {
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub(crate) fn audit_record(
        &self,
        ctx: &RequestContext,
        entity_type: &str,
        entity_id: &str,
        action: &str,
        snapshot: Value,
        at: DateTime<Utc>,
    ) -> AuditRecord {
        AuditRecord {
            id: self.ids.new_id(),
            entity_type: entity_type.to_string(),
            entity_id: entity_id.to_string(),
            action: action.to_string(),
            actor_id: ctx.actor.user_id.clone(),
            correlation_id: ctx.correlation_id.clone(),
            payload_snapshot: snapshot,
            created_at: at,
        }
    }

    pub(crate) fn sync_job(
        &self,
        ctx: &RequestContext,
        job_type: JobType,
        entity_type: &str,
        entity_id: &str,
        version: u64,
        at: DateTime<Utc>,
    ) -> SyncJob {
        SyncJob::queued(
            self.ids.new_id(),
            job_type,
            entity_type,
            entity_id,
            version,
            &ctx.correlation_id,
            at,
        )
    }

    /// Commits a change set in one transaction, then enqueues its job.
    ///
    /// `idem` with `response` records the Idempotency-Key in the same
    /// transaction; when the key exists already, the first response is
    /// returned (same request) or the request is refused (other request).
    /// `on_condition` maps the position of a failed condition (among the
    /// change's own operations) to the use case's error.
    pub(crate) async fn commit(
        &self,
        ctx: &RequestContext,
        mut change: ChangeSet,
        idem: Option<(&IdempotencyRequest, &Value)>,
        on_condition: impl Fn(usize) -> AppError,
    ) -> Result<Committed, AppError> {
        let now = self.now();
        let idem_index = match idem {
            None => None,
            Some((req, response)) => {
                let pk = keys::idempotency_pk(&ctx.actor.user_id, &req.key);
                let mut item = Item::new(
                    pk.clone(),
                    pk,
                    ENTITY_IDEMPOTENCY,
                    json!({ "fingerprint": req.fingerprint, "response": response, "created_at": keys::ts(now) }),
                );
                item.expires_at = Some((now + Duration::hours(IDEMPOTENCY_TTL_HOURS)).timestamp());
                Some(change.put_new(item))
            }
        };
        match self.store.transact_write(change.ops).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed { index }) if Some(index) == idem_index => {
                if let Some((req, _)) = idem {
                    return self.replay(ctx, req).await;
                }
            }
            Err(StoreError::ConditionFailed { index }) => return Err(on_condition(index)),
            Err(e) => return Err(e.into()),
        }
        if let Some(job) = change.job {
            self.enqueue(&job).await;
        }
        Ok(Committed::Done)
    }

    /// A POST that failed a precondition may be the retry of one that
    /// succeeded: when its Idempotency-Key was recorded with the same
    /// request, the first response is returned instead of `error`.
    pub(crate) async fn replay_or(
        &self,
        ctx: &RequestContext,
        idem: Option<&IdempotencyRequest>,
        error: AppError,
    ) -> Result<Committed, AppError> {
        let Some(req) = idem else {
            return Err(error);
        };
        let pk = keys::idempotency_pk(&ctx.actor.user_id, &req.key);
        match self.store.get(&pk, &pk).await? {
            None => Err(error),
            Some(item) => Self::stored_response(&item, req),
        }
    }

    fn stored_response(item: &Item, req: &IdempotencyRequest) -> Result<Committed, AppError> {
        if item.data.get("fingerprint").and_then(Value::as_str) != Some(req.fingerprint.as_str()) {
            return Err(AppError::IdempotencyKeyReused);
        }
        let response = item.data.get("response").cloned().unwrap_or(Value::Null);
        Ok(Committed::Replayed(response))
    }

    async fn replay(
        &self,
        ctx: &RequestContext,
        req: &IdempotencyRequest,
    ) -> Result<Committed, AppError> {
        let pk = keys::idempotency_pk(&ctx.actor.user_id, &req.key);
        let Some(item) = self.store.get(&pk, &pk).await? else {
            // Expired between the failed write and this read: treat as a conflict.
            return Err(AppError::Conflict(
                "the Idempotency-Key is being used by a concurrent request; retry".into(),
            ));
        };
        Self::stored_response(&item, req)
    }

    /// Sends a job's id to the sync queue. Failure is logged, not returned:
    /// the job is committed and the sweeper will enqueue it.
    pub(crate) async fn enqueue(&self, job: &SyncJob) {
        let msg = OutgoingMessage::new(json!({ "job_id": job.id }).to_string())
            .with_attribute(ATTR_CORRELATION_ID, job.correlation_id.clone())
            .with_attribute(ATTR_JOB_TYPE, job_type_name(job.job_type))
            .with_attribute(ATTR_ENTITY_TYPE, job.entity_type.clone());
        match self.queue.send(msg).await {
            Ok(message_id) => {
                tracing::info!(job_id = %job.id, %message_id, "sync job enqueued");
            }
            Err(e) => {
                tracing::warn!(job_id = %job.id, error = %e, "sync job not enqueued; the sweeper will pick it up");
            }
        }
    }
}

pub fn job_type_name(t: JobType) -> &'static str {
    match t {
        JobType::CourseRunUpsert => "course_run_upsert",
        JobType::CourseRunCancel => "course_run_cancel",
    }
}
