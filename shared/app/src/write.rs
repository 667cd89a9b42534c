//! The one write path: entity items + audit record + sync job (+ the
//! Idempotency-Key record) in ONE transaction, then the job id to the queue.
//! A failed send does not fail the request: the sweeper finds the job.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use tms_domain::audit::AuditRecord;
use tms_domain::sync::{JobType, SyncJob};
use tms_domain::{AuditAction, EntityType};
use tms_ports::{Condition, Item, OutgoingMessage, StoreError, WriteOp};

use crate::context::{IdempotencyRequest, Idempotent, Precondition, RequestContext, Written};
use crate::error::AppError;
use crate::records;
use crate::{keys, App};

/// How long an Idempotency-Key is remembered.
pub const IDEMPOTENCY_TTL_HOURS: i64 = 24;

/// Message attribute names carried with every sync message.
pub const ATTR_CORRELATION_ID: &str = "correlation_id";
pub const ATTR_JOB_TYPE: &str = "job_type";
pub const ATTR_ENTITY_TYPE: &str = "entity_type";

/// What a failed condition of one operation means to the person asking: a
/// tag on each operation, so the mapping does not depend on positions in
/// the transaction (guard items are about to join them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OnConflict {
    /// The item exists already (409).
    Exists(&'static str),
    /// The version the request was made against is no longer current
    /// (412: the client's If-Match is stale).
    Stale,
    /// The version read by this request moved on concurrently (409,
    /// retryable: read again and retry).
    Moved(&'static str),
    /// A referenced item does not exist: a 422 naming the field.
    Missing {
        field: &'static str,
        reason: &'static str,
    },
    /// The request's own Idempotency-Key record: it exists (the commit then
    /// looks the key up) or existed and is gone (expired, or its first
    /// attempt rolled back: in flight).
    IdempotencyKey,
}

impl OnConflict {
    /// The tag of a versioned write whose version the client named in
    /// If-Match: stale (412) for an entity-tag; with `*` the client named no
    /// version, so a concurrent change is a retry (409), not a stale tag.
    pub fn against(if_match: Option<&Precondition>, what: &'static str) -> OnConflict {
        match if_match {
            Some(Precondition::Any) => OnConflict::Moved(what),
            _ => OnConflict::Stale,
        }
    }

    fn into_error(self) -> AppError {
        match self {
            OnConflict::Exists(what) => AppError::Conflict(format!("the {what} exists already")),
            OnConflict::Stale => AppError::PreconditionFailed,
            OnConflict::Moved(what) => AppError::Contention(format!(
                "the {what} changed concurrently; read it again and retry"
            )),
            OnConflict::IdempotencyKey => in_flight(),
            OnConflict::Missing { field, reason } => {
                AppError::Validation(tms_domain::ValidationErrors::single(field, reason))
            }
        }
    }
}

/// The items of one change, collected before the commit.
#[derive(Default)]
pub(crate) struct ChangeSet {
    ops: Vec<WriteOp>,
    on_conflict: Vec<OnConflict>,
    job: Option<SyncJob>,
}

/// What a commit did.
pub(crate) enum Committed {
    Done,
    /// The Idempotency-Key was seen before with the same request.
    Replayed(Written),
}

/// Why a change made by the system (not a request) did not commit.
#[derive(Debug)]
pub(crate) enum SystemCommitFailure {
    /// The condition of the operation at this position failed.
    Conflict(usize),
    /// A concurrent transaction got in the way.
    Contention,
    Other(AppError),
}

impl ChangeSet {
    /// How many operations the set holds (the position of the next one).
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    fn push(&mut self, op: WriteOp, on_conflict: OnConflict) {
        self.ops.push(op);
        self.on_conflict.push(on_conflict);
    }

    /// The transaction holds only if the item exists (a reference).
    pub fn check_exists(&mut self, pk: String, sk: String, on_conflict: OnConflict) {
        let condition = Condition::Exists;
        self.push(WriteOp::Check { pk, sk, condition }, on_conflict);
    }

    /// The transaction holds only if the item is still at this version
    /// (a reference read before, whose state the change relies on).
    pub fn check_version(
        &mut self,
        pk: String,
        sk: String,
        expected: u64,
        on_conflict: OnConflict,
    ) {
        let condition = Condition::VersionIs(expected);
        self.push(WriteOp::Check { pk, sk, condition }, on_conflict);
    }

    /// Deletes an item that must exist (a guard moving on).
    pub fn delete_existing(&mut self, pk: String, sk: String, on_conflict: OnConflict) {
        let condition = Condition::Exists;
        self.push(WriteOp::Delete { pk, sk, condition }, on_conflict);
    }

    pub fn put_new(&mut self, item: Item, on_conflict: OnConflict) {
        let condition = Condition::NotExists;
        self.push(WriteOp::Put { item, condition }, on_conflict);
    }

    pub fn put_versioned(&mut self, item: Item, expected: u64, on_conflict: OnConflict) {
        let condition = Condition::VersionIs(expected);
        self.push(WriteOp::Put { item, condition }, on_conflict);
    }

    pub fn delete_versioned(
        &mut self,
        pk: String,
        sk: String,
        expected: u64,
        on_conflict: OnConflict,
    ) {
        let condition = Condition::VersionIs(expected);
        self.push(WriteOp::Delete { pk, sk, condition }, on_conflict);
    }

    pub fn audit(&mut self, record: &AuditRecord) -> Result<(), AppError> {
        self.put_new(
            records::audit_item(record)?,
            OnConflict::Exists("audit record"),
        );
        Ok(())
    }

    pub fn job(&mut self, job: SyncJob) -> Result<(), AppError> {
        self.put_new(
            records::sync_job_item(&job, 1)?,
            OnConflict::Exists("sync job"),
        );
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
        entity_type: EntityType,
        entity_id: &str,
        action: AuditAction,
        snapshot: Value,
        at: DateTime<Utc>,
    ) -> AuditRecord {
        AuditRecord {
            id: self.ids.new_id(),
            entity_type,
            entity_id: entity_id.to_string(),
            action,
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
        entity_type: EntityType,
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
        .by(&ctx.actor.user_id)
    }

    /// Commits a change set in one transaction, then enqueues its job.
    ///
    /// With `idem`, the Idempotency-Key and the response are recorded in the
    /// same transaction. When the transaction fails for any reason while a
    /// key is given, the key's record decides: recorded with the same
    /// request, the first response is returned (the failure was this very
    /// request's retry racing its first attempt); with another request,
    /// 422; not recorded and the engine reported a concurrent transaction,
    /// the first attempt may still be in flight: 409 with Retry-After.
    pub(crate) async fn commit(
        &self,
        ctx: &RequestContext,
        mut change: ChangeSet,
        idem: Option<(&IdempotencyRequest, &Written)>,
    ) -> Result<Committed, AppError> {
        if let Some((req, response)) = idem {
            let now = self.now();
            let pk = keys::idempotency_pk(&ctx.actor.user_id, &req.key);
            let mut item = Item::new(
                pk.clone(),
                pk,
                EntityType::IdempotencyRecord.as_str(),
                json!({ "fingerprint": req.fingerprint, "response": response, "created_at": keys::ts(now) }),
            );
            item.expires_at = Some((now + Duration::hours(IDEMPOTENCY_TTL_HOURS)).timestamp());
            change.put_new(item, OnConflict::IdempotencyKey);
        }
        let failure = match self.store.transact_write(change.ops).await {
            Ok(()) => {
                if let Some(job) = &change.job {
                    self.enqueue(job).await;
                }
                return Ok(Committed::Done);
            }
            Err(e @ (StoreError::ConditionFailed { .. } | StoreError::TransactionConflict)) => e,
            Err(e) => return Err(e.into()),
        };
        if let Some((req, _)) = idem {
            if let Some(replayed) = self.recorded_response(ctx, req).await? {
                return Ok(Committed::Replayed(replayed));
            }
        }
        Err(match failure {
            StoreError::ConditionFailed { index } => match change.on_conflict.get(index) {
                Some(tag) => tag.clone().into_error(),
                None => {
                    AppError::Internal(format!("condition failed on unknown operation {index}"))
                }
            },
            _ if idem.is_some() => in_flight(),
            other => other.into(),
        })
    }

    /// Commits a change the system makes on its own (the sync worker, an
    /// ops action): no Idempotency-Key; a failed condition is reported by
    /// its position so the caller can tell whose item moved. Then enqueues
    /// the set's job.
    pub(crate) async fn commit_system(&self, change: ChangeSet) -> Result<(), SystemCommitFailure> {
        match self.store.transact_write(change.ops).await {
            Ok(()) => {
                if let Some(job) = &change.job {
                    self.enqueue(job).await;
                }
                Ok(())
            }
            Err(StoreError::ConditionFailed { index }) => Err(SystemCommitFailure::Conflict(index)),
            Err(StoreError::TransactionConflict) => Err(SystemCommitFailure::Contention),
            Err(e) => Err(SystemCommitFailure::Other(e.into())),
        }
    }

    /// For a POST that failed before its commit (a precondition, the
    /// entity's state, a rule): when its Idempotency-Key was recorded with
    /// the same request, the failure is the retry of a request that
    /// succeeded, and the first response is returned instead of `error`.
    pub(crate) async fn replay_or<T>(
        &self,
        ctx: &RequestContext,
        idem: Option<&IdempotencyRequest>,
        result: Result<T, AppError>,
    ) -> Result<Result<T, Written>, AppError> {
        match (result, idem) {
            (Ok(v), _) => Ok(Ok(v)),
            (Err(e), None) => Err(e),
            (Err(e), Some(req)) => match self.recorded_response(ctx, req).await? {
                Some(w) => Ok(Err(w)),
                None => Err(e),
            },
        }
    }

    /// The response recorded under the request's Idempotency-Key: `None`
    /// when the key is not recorded; 422 when it was recorded with another
    /// request.
    async fn recorded_response(
        &self,
        ctx: &RequestContext,
        req: &IdempotencyRequest,
    ) -> Result<Option<Written>, AppError> {
        let pk = keys::idempotency_pk(&ctx.actor.user_id, &req.key);
        let Some(item) = self.store.get(&pk, &pk).await? else {
            return Ok(None);
        };
        if item.data.get("fingerprint").and_then(Value::as_str) != Some(req.fingerprint.as_str()) {
            return Err(AppError::IdempotencyKeyReused);
        }
        let response = item.data.get("response").cloned().unwrap_or(Value::Null);
        Ok(Some(serde_json::from_value(response)?))
    }

    /// Sends a job's id to the sync queue and says whether it was sent.
    /// Failure is logged, not returned: the job is committed and the sweeper
    /// will enqueue it.
    pub(crate) async fn enqueue(&self, job: &SyncJob) -> bool {
        let msg = OutgoingMessage::new(json!({ "job_id": job.id }).to_string())
            .with_attribute(ATTR_CORRELATION_ID, job.correlation_id.clone())
            .with_attribute(ATTR_JOB_TYPE, job.job_type.as_str())
            .with_attribute(ATTR_ENTITY_TYPE, job.entity_type.as_str());
        match self.queue.send(msg).await {
            Ok(message_id) => {
                tracing::info!(job_id = %job.id, correlation_id = %job.correlation_id, %message_id, "sync job enqueued");
                true
            }
            Err(e) => {
                tracing::warn!(job_id = %job.id, correlation_id = %job.correlation_id, error = %e, "sync job not enqueued; the sweeper will pick it up");
                false
            }
        }
    }
}

fn in_flight() -> AppError {
    AppError::Contention(
        "a request with this Idempotency-Key is still in flight, or a concurrent change got in the way; retry shortly".into(),
    )
}

/// A committed write or its replay, as a POST answers it.
pub(crate) fn outcome(committed: Committed, written: Written) -> Idempotent {
    match committed {
        Committed::Done => Idempotent::New(written),
        Committed::Replayed(first) => Idempotent::Replayed(first),
    }
}
