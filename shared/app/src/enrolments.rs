//! Enrolments: one per trainee and run (a guard item in the same
//! transaction), into a run that is neither cancelled nor full; the status
//! machine of tms_domain::enrolment; Finance changes the fee and subsidy
//! fields only. Every change TPGateway must hear of queues a sync job.

use serde::{Deserialize, Serialize};
use tms_domain::access::{decide, Action, Area, Decision, Ownership};
use tms_domain::course_run::{CancelInput, RunStatus};
use tms_domain::enrolment::{first_non_fee_field, Enrolment, EnrolmentInput, EnrolmentStatus};
use tms_domain::ids::{EnrolmentId, RunId, TraineeId, TypedId};
use tms_domain::patch::MergePatch;
use tms_domain::sync::JobType;
use tms_domain::{AuditAction, EntityType, ValidationErrors};
use tms_ports::{Index, Query, SkCondition};

use crate::context::{IdempotencyRequest, Idempotent, Precondition, RequestContext, Written};
use crate::course_runs::only_own;
use crate::error::AppError;
use crate::records::{decode, enrolment_guard_item, enrolment_item};
use crate::write::{outcome, ChangeSet, OnConflict};
use crate::{keys, parse_paging, App, ListPage};

/// An enrolment with its ETag version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EnrolmentView {
    #[serde(flatten)]
    pub enrolment: Enrolment,
    pub version: u64,
}

impl EnrolmentView {
    pub fn location(&self) -> String {
        format!("/enrolments/{}", self.enrolment.id)
    }
}

/// The query string of `GET /enrolments`: a run's or a trainee's.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolmentListParams {
    /// A run's enrolments (this or `trainee_id`).
    #[schemars(with = "Option<RunId>")]
    pub course_run_id: Option<String>,
    /// A trainee's enrolments (this or `course_run_id`).
    #[schemars(with = "Option<TraineeId>")]
    pub trainee_id: Option<String>,
    /// Items per page (default 20).
    #[schemars(with = "Option<u32>", range(min = 1, max = crate::MAX_PAGE_SIZE))]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

const ENROLLED: OnConflict = OnConflict::Exists("enrolment of this trainee in this course run");

impl App {
    /// Enrols a trainee: the run (not cancelled, not full) and the trainee
    /// read; 1 TransactWriteItems (the guard of one enrolment per trainee
    /// and run, the enrolment, checks that run and trainee still exist, the
    /// audit record, the sync job, + the Idempotency-Key record); then the
    /// job to the queue.
    pub async fn create_enrolment(
        &self,
        ctx: &RequestContext,
        input: EnrolmentInput,
        idem: Option<IdempotencyRequest>,
    ) -> Result<Idempotent, AppError> {
        self.authorize(ctx, Area::Enrolments, Action::Write, "enrolment")?;
        let parsed = input.parse_new(self.today_sg()).map_err(AppError::from);
        let new = match self.replay_or(ctx, idem.as_ref(), parsed).await? {
            Ok(n) => n,
            Err(first) => return Ok(Idempotent::Replayed(first)),
        };
        let (run, _) = match self.read_run(&new.course_run_id).await {
            Ok(r) => r,
            Err(AppError::NotFound(_)) => {
                return Err(ValidationErrors::single("course_run_id", "names no course run").into())
            }
            Err(e) => return Err(e),
        };
        if run.status == RunStatus::Cancelled {
            return Err(AppError::Conflict(
                "the course run is cancelled: no one can enrol in it".into(),
            ));
        }
        match self.read_trainee(&new.trainee_id).await {
            Ok(_) => {}
            Err(AppError::NotFound(_)) => {
                return Err(ValidationErrors::single("trainee_id", "names no trainee").into())
            }
            Err(e) => return Err(e),
        }
        let taken = self
            .count_active_enrolments(&run.id, run.fields.capacity)
            .await?;
        if taken >= run.fields.capacity {
            return Err(AppError::Conflict(format!(
                "the course run is full: {} of {} places taken",
                taken, run.fields.capacity
            )));
        }
        let id = EnrolmentId::parse(&self.ids.new_id())
            .map_err(|_| AppError::Internal("the id generator made a bad enrolment id".into()))?;
        let now = self.now();
        let view = EnrolmentView {
            enrolment: Enrolment::create(id, new, now),
            version: 1,
        };
        let response = Written::of(&view, 1, Some(view.location()))?;
        let e = &view.enrolment;
        let mut change = ChangeSet::default();
        change.put_new(
            enrolment_guard_item(&e.course_run_id, &e.trainee_id, &e.id),
            ENROLLED,
        );
        change.put_new(enrolment_item(e, 1)?, OnConflict::Exists("enrolment"));
        let run_pk = keys::run_pk(&e.course_run_id);
        change.check_exists(
            run_pk,
            keys::run_sk(&e.course_run_id),
            OnConflict::Missing {
                field: "course_run_id",
                reason: "names no course run",
            },
        );
        let trainee_pk = keys::trainee_pk(&e.trainee_id);
        change.check_exists(
            trainee_pk.clone(),
            trainee_pk,
            OnConflict::Missing {
                field: "trainee_id",
                reason: "names no trainee",
            },
        );
        change.audit(&self.audit_record(
            ctx,
            EntityType::Enrolment,
            e.id.as_str(),
            AuditAction::EnrolmentCreated,
            response.body.clone(),
            now,
        ))?;
        if e.status == EnrolmentStatus::Pending {
            change.job(self.sync_job(
                ctx,
                JobType::EnrolmentUpsert,
                EntityType::Enrolment,
                e.id.as_str(),
                1,
                now,
            ))?;
        }
        let committed = self
            .commit(ctx, change, idem.as_ref().map(|i| (i, &response)))
            .await?;
        Ok(outcome(committed, response))
    }

    /// How many active enrolments the run has, counted up to `cap` (GSI3,
    /// pages of 100).
    async fn count_active_enrolments(&self, run: &RunId, cap: u32) -> Result<u32, AppError> {
        let mut query = Query {
            index: Some(Index::Gsi3),
            pk: keys::run_active_enrolments_pk(run),
            sk: SkCondition::Any,
            forward: true,
            limit: tms_ports::store::MAX_PAGE_SIZE,
            cursor: None,
        };
        let mut n: u32 = 0;
        loop {
            let page = self.store.query(&query).await?;
            n = n.saturating_add(u32::try_from(page.items.len()).unwrap_or(u32::MAX));
            match page.next {
                Some(c) if n < cap => query.cursor = Some(c),
                _ => return Ok(n),
            }
        }
    }

    /// The stored enrolment and its version: 1 GetItem.
    pub async fn read_enrolment(&self, id: &EnrolmentId) -> Result<(Enrolment, u64), AppError> {
        let pk = keys::enrolment_pk(id);
        let item = self
            .store
            .get(&pk, &pk)
            .await?
            .ok_or(AppError::NotFound("enrolment"))?;
        Ok((decode(&item)?, item.version))
    }

    /// For a Trainer: whether the run is one of their own.
    async fn own_run_ownership(
        &self,
        ctx: &RequestContext,
        run: &RunId,
    ) -> Result<Ownership, AppError> {
        if !only_own(ctx, Area::Enrolments) {
            return Ok(Ownership::NotApplicable);
        }
        Ok(if self.own_run_ids(ctx).await?.contains(run) {
            Ownership::Own
        } else {
            Ownership::NotOwn
        })
    }

    pub async fn get_enrolment(
        &self,
        ctx: &RequestContext,
        id: &EnrolmentId,
    ) -> Result<EnrolmentView, AppError> {
        self.authorize_owned(
            ctx,
            Area::Enrolments,
            Action::Read,
            Ownership::Own,
            "enrolment",
        )?;
        let (enrolment, version) = self.read_enrolment(id).await?;
        let ownership = self
            .own_run_ownership(ctx, &enrolment.course_run_id)
            .await?;
        self.authorize_owned(ctx, Area::Enrolments, Action::Read, ownership, "enrolment")?;
        Ok(EnrolmentView { enrolment, version })
    }

    /// A run's enrolments (GSI1) or a trainee's (GSI2), by creation: 1
    /// Query per page. A Trainer: their own runs' only.
    pub async fn list_enrolments(
        &self,
        ctx: &RequestContext,
        params: &EnrolmentListParams,
    ) -> Result<ListPage<EnrolmentView>, AppError> {
        self.authorize_owned(
            ctx,
            Area::Enrolments,
            Action::Read,
            Ownership::Own,
            "enrolment",
        )?;
        let mut errors = ValidationErrors::default();
        let run = params.course_run_id.as_deref().and_then(|r| {
            RunId::parse(r)
                .map_err(|why| errors.push("course_run_id", why))
                .ok()
        });
        let trainee = params.trainee_id.as_deref().and_then(|t| {
            TraineeId::parse(t)
                .map_err(|why| errors.push("trainee_id", why))
                .ok()
        });
        match (&params.course_run_id, &params.trainee_id) {
            (None, None) => errors.push("course_run_id", "or trainee_id is required"),
            (Some(_), Some(_)) => {
                errors.push("trainee_id", "give course_run_id or trainee_id, not both")
            }
            _ => {}
        }
        let paging = parse_paging(params.limit.as_deref(), params.cursor.as_deref());
        if let Err(AppError::InvalidQuery(v)) = &paging {
            errors.0.extend(v.0.iter().cloned());
        }
        if !errors.is_empty() {
            return Err(AppError::InvalidQuery(errors));
        }
        let (limit, cursor) = paging?;
        if cursor
            .as_ref()
            .is_some_and(|c| !keys::is_enrolment_cursor(c))
        {
            return Err(AppError::InvalidCursor);
        }
        let (index, pk) = match (&run, &trainee) {
            (Some(r), _) => {
                let ownership = self.own_run_ownership(ctx, r).await?;
                self.authorize_owned(ctx, Area::Enrolments, Action::Read, ownership, "course run")?;
                (Index::Gsi1, keys::run_enrolments_pk(r))
            }
            (None, Some(t)) => (Index::Gsi2, keys::trainee_enrolments_pk(t)),
            (None, None) => return Err(AppError::InvalidQuery(errors)),
        };
        let query = Query {
            index: Some(index),
            pk,
            sk: SkCondition::Any,
            forward: true,
            limit,
            cursor,
        };
        let mut page = self
            .list_page(&query, |item| {
                Ok(EnrolmentView {
                    enrolment: decode(item)?,
                    version: item.version,
                })
            })
            .await?;
        if trainee.is_some() && only_own(ctx, Area::Enrolments) {
            let own = self.own_run_ids(ctx).await?;
            page.items
                .retain(|v| own.contains(&v.enrolment.course_run_id));
        }
        Ok(page)
    }

    /// Changes an enrolment by merge patch (If-Match). Finance may change
    /// the fee and subsidy fields only (any other field: 403 naming it).
    /// A sent (or refused) enrolment goes back to pending with a sync job;
    /// a draft stays a draft unless the patch submits it.
    pub async fn update_enrolment(
        &self,
        ctx: &RequestContext,
        id: &EnrolmentId,
        if_match: Option<Precondition>,
        patch: MergePatch,
    ) -> Result<Written, AppError> {
        let may_write = decide(
            &ctx.actor.roles,
            Area::Enrolments,
            Action::Write,
            Ownership::NotApplicable,
        ) == Decision::Allow;
        if !may_write {
            self.authorize(ctx, Area::Enrolments, Action::WriteFees, "enrolment")?;
            if let Some(field) = first_non_fee_field(&patch) {
                return Err(AppError::ForbiddenField {
                    field: field.to_string(),
                    reason: "your roles may change only the fee and subsidy fields of an enrolment",
                });
            }
        }
        if if_match.is_none() {
            return Err(AppError::PreconditionRequired);
        }
        let (current, version) = self.read_enrolment(id).await?;
        let expected = Precondition::check(if_match.as_ref(), version)?;
        let now = self.now();
        let next = current.patched(&patch, self.today_sg(), now)?;
        let view = EnrolmentView {
            enrolment: next,
            version: expected + 1,
        };
        let response = Written::of(&view, expected + 1, None)?;
        let e = &view.enrolment;
        let mut change = ChangeSet::default();
        change.put_versioned(
            enrolment_item(e, expected + 1)?,
            expected,
            OnConflict::against(if_match.as_ref(), "enrolment"),
        );
        change.audit(&self.audit_record(
            ctx,
            EntityType::Enrolment,
            id.as_str(),
            AuditAction::EnrolmentUpdated,
            response.body.clone(),
            now,
        ))?;
        if e.status == EnrolmentStatus::Pending {
            change.job(self.sync_job(
                ctx,
                JobType::EnrolmentUpsert,
                EntityType::Enrolment,
                id.as_str(),
                expected + 1,
                now,
            ))?;
        }
        self.commit(ctx, change, None).await?;
        Ok(response)
    }

    /// Cancels an enrolment (If-Match): its guard is released (the trainee
    /// may enrol again), and TPGateway is told unless it never heard of it
    /// (a draft).
    pub async fn cancel_enrolment(
        &self,
        ctx: &RequestContext,
        id: &EnrolmentId,
        if_match: Option<Precondition>,
        input: CancelInput,
        idem: Option<IdempotencyRequest>,
    ) -> Result<Idempotent, AppError> {
        self.authorize(ctx, Area::Enrolments, Action::Write, "enrolment")?;
        let reason = match self
            .replay_or(ctx, idem.as_ref(), input.parse().map_err(AppError::from))
            .await?
        {
            Ok(r) => r,
            Err(first) => return Ok(Idempotent::Replayed(first)),
        };
        if if_match.is_none() {
            return Err(AppError::PreconditionRequired);
        }
        let (current, version) = self.read_enrolment(id).await?;
        let expected = Precondition::check(if_match.as_ref(), version)?;
        let now = self.now();
        let next = current.cancelled(reason, now)?;
        let view = EnrolmentView {
            enrolment: next,
            version: expected + 1,
        };
        let response = Written::of(&view, expected + 1, None)?;
        let e = &view.enrolment;
        let mut change = ChangeSet::default();
        change.put_versioned(
            enrolment_item(e, expected + 1)?,
            expected,
            OnConflict::against(if_match.as_ref(), "enrolment"),
        );
        let guard = keys::enrolment_guard_pk(&e.course_run_id, &e.trainee_id);
        change.delete_existing(guard.clone(), guard, OnConflict::Moved("enrolment guard"));
        change.audit(&self.audit_record(
            ctx,
            EntityType::Enrolment,
            id.as_str(),
            AuditAction::EnrolmentCancelled,
            response.body.clone(),
            now,
        ))?;
        if current.status != EnrolmentStatus::Draft {
            change.job(self.sync_job(
                ctx,
                JobType::EnrolmentCancel,
                EntityType::Enrolment,
                id.as_str(),
                expected + 1,
                now,
            ))?;
        }
        let committed = self
            .commit(ctx, change, idem.as_ref().map(|i| (i, &response)))
            .await?;
        Ok(outcome(committed, response))
    }
}
