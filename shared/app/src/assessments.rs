//! Assessments of enrolled trainees: recorded against an enrolment that
//! exists and is not cancelled (checked again in the transaction), changed
//! by merge patch, voided with a reason. Every change is a new version:
//! the current item and an immutable copy of that version are written in
//! the same transaction, so the history is one Query. Each change queues
//! its sync job.
//!
//! DynamoDB calls per route (a Trainer's ownership check adds the reads of
//! `own_run_ids`: their trainer link and their sessions, as for enrolments):
//! - `POST /assessments`: 1 GetItem (the enrolment) + 1 TransactWriteItems
//!   (the assessment, its version 1, ConditionCheck of the enrolment's
//!   version, ConditionCheck of the assessor, audit, sync job, + the
//!   Idempotency-Key record) + 1 SendMessage. The enrolment is read first
//!   because its run and trainee are copied into the assessment and a
//!   cancelled one is refused (409).
//! - `GET /assessments?enrolment_id=`: 1 GetItem (the enrolment: a missing
//!   one is 422, and its run decides a Trainer's access) + 1 Query (GSI1).
//! - `GET /assessments/{id}`: 1 GetItem.
//! - `GET /assessments/{id}/versions`: 1 GetItem (the current item: 404
//!   and a Trainer's access) + 1 Query (the versions, newest first).
//! - `PATCH /assessments/{id}`, `POST /assessments/{id}/void`: 1 GetItem +
//!   1 TransactWriteItems (the assessment, its new version, audit, sync
//!   job; the void + the Idempotency-Key record) + 1 SendMessage.

use serde::{Deserialize, Serialize};
use tms_domain::access::{Action, Area, Ownership};
use tms_domain::assessment::{Assessment, AssessmentInput, VoidInput};
use tms_domain::enrolment::EnrolmentStatus;
use tms_domain::ids::{AssessmentId, EnrolmentId, RunId, TypedId};
use tms_domain::patch::MergePatch;
use tms_domain::sync::JobType;
use tms_domain::{AuditAction, EntityType, ValidationErrors};
use tms_ports::{Index, Query, SkCondition};

use crate::context::{IdempotencyRequest, Idempotent, Precondition, RequestContext, Written};
use crate::course_runs::only_own;
use crate::error::AppError;
use crate::records::{assessment_item, assessment_version_item, decode};
use crate::write::{outcome, ChangeSet, OnConflict};
use crate::{keys, parse_paging, App, ListPage};

/// An assessment with its version (the ETag; in the history, the number
/// of that version).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AssessmentView {
    #[serde(flatten)]
    pub assessment: Assessment,
    pub version: u64,
}

impl AssessmentView {
    pub fn location(&self) -> String {
        format!("/assessments/{}", self.assessment.id)
    }
}

/// The query string of `GET /assessments`: an enrolment's.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessmentListParams {
    /// The enrolment whose assessments are listed (required).
    #[schemars(with = "Option<EnrolmentId>")]
    pub enrolment_id: Option<String>,
    /// Items per page (default 25).
    #[schemars(with = "Option<u32>", range(min = 1, max = crate::MAX_PAGE_SIZE))]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The query string of `GET /assessments/{id}/versions`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessmentVersionParams {
    /// Items per page (default 25).
    #[schemars(with = "Option<u32>", range(min = 1, max = crate::MAX_PAGE_SIZE))]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

const WHAT: &str = "assessment";

impl App {
    /// Whether the run is the acting Trainer's own (for the roles that see
    /// only their own runs' assessments).
    async fn assessment_ownership(
        &self,
        ctx: &RequestContext,
        run: &RunId,
    ) -> Result<Ownership, AppError> {
        if !only_own(ctx, Area::Assessments) {
            return Ok(Ownership::NotApplicable);
        }
        Ok(if self.own_run_ids(ctx).await?.contains(run) {
            Ownership::Own
        } else {
            Ownership::NotOwn
        })
    }

    /// The stored assessment and its version: 1 GetItem.
    pub async fn read_assessment(&self, id: &AssessmentId) -> Result<(Assessment, u64), AppError> {
        let pk = keys::assessment_pk(id);
        let item = self
            .store
            .get(&pk, &pk)
            .await?
            .ok_or(AppError::NotFound(WHAT))?;
        Ok((decode(&item)?, item.version))
    }

    /// The assessment, refused as not found to a Trainer for whom it is
    /// not their own run's.
    async fn visible_assessment(
        &self,
        ctx: &RequestContext,
        id: &AssessmentId,
        action: Action,
    ) -> Result<(Assessment, u64), AppError> {
        self.authorize_owned(ctx, Area::Assessments, action, Ownership::Own, WHAT)?;
        let (a, version) = self.read_assessment(id).await?;
        let ownership = self.assessment_ownership(ctx, &a.course_run_id).await?;
        self.authorize_owned(ctx, Area::Assessments, action, ownership, WHAT)?;
        Ok((a, version))
    }

    /// Records an assessment of an enrolment (not cancelled).
    pub async fn create_assessment(
        &self,
        ctx: &RequestContext,
        input: AssessmentInput,
        idem: Option<IdempotencyRequest>,
    ) -> Result<Idempotent, AppError> {
        self.authorize_owned(ctx, Area::Assessments, Action::Write, Ownership::Own, WHAT)?;
        let parsed = input.parse_new(self.today_sg()).map_err(AppError::from);
        let new = match self.replay_or(ctx, idem.as_ref(), parsed).await? {
            Ok(n) => n,
            Err(first) => return Ok(Idempotent::Replayed(first)),
        };
        let no_enrolment = || ValidationErrors::single("enrolment_id", "names no enrolment");
        let (enrolment, enrolment_version) = match self.read_enrolment(&new.enrolment_id).await {
            Ok(e) => e,
            Err(AppError::NotFound(_)) => return Err(no_enrolment().into()),
            Err(e) => return Err(e),
        };
        // Another trainer's enrolment is answered as a missing one.
        let ownership = self
            .assessment_ownership(ctx, &enrolment.course_run_id)
            .await?;
        if ownership == Ownership::NotOwn {
            return Err(no_enrolment().into());
        }
        if enrolment.status == EnrolmentStatus::Cancelled {
            return Err(AppError::Conflict(
                "the enrolment is cancelled: it cannot be assessed".into(),
            ));
        }
        let id = AssessmentId::parse(&self.ids.new_id())
            .map_err(|_| AppError::Internal("the id generator made a bad assessment id".into()))?;
        let now = self.now();
        let view = AssessmentView {
            assessment: Assessment::create(
                id,
                new,
                enrolment.course_run_id.clone(),
                enrolment.trainee_id.clone(),
                now,
            ),
            version: 1,
        };
        let response = Written::of(&view, 1, Some(view.location()))?;
        let a = &view.assessment;
        let mut change = ChangeSet::default();
        change.put_new(assessment_item(a, 1)?, OnConflict::Exists(WHAT));
        change.put_new(
            assessment_version_item(&view)?,
            OnConflict::Exists("assessment version"),
        );
        // The enrolment as read: a cancel (or any change) in between moves
        // its version, and the request is retried (409).
        let enrolment_pk = keys::enrolment_pk(&a.enrolment_id);
        change.check_version(
            enrolment_pk.clone(),
            enrolment_pk,
            enrolment_version,
            OnConflict::Moved("enrolment"),
        );
        if let Some(assessor) = &a.fields.assessor_id {
            let pk = keys::trainer_pk(assessor);
            change.check_exists(
                pk.clone(),
                pk,
                OnConflict::Missing {
                    field: "assessor_id",
                    reason: "names no trainer",
                },
            );
        }
        change.audit(&self.audit_record(
            ctx,
            EntityType::Assessment,
            a.id.as_str(),
            AuditAction::AssessmentCreated,
            response.body.clone(),
            now,
        ))?;
        change.job(self.sync_job(
            ctx,
            JobType::AssessmentUpsert,
            EntityType::Assessment,
            a.id.as_str(),
            1,
            now,
        ))?;
        let committed = self
            .commit(ctx, change, idem.as_ref().map(|i| (i, &response)))
            .await?;
        Ok(outcome(committed, response))
    }

    pub async fn get_assessment(
        &self,
        ctx: &RequestContext,
        id: &AssessmentId,
    ) -> Result<AssessmentView, AppError> {
        let (assessment, version) = self.visible_assessment(ctx, id, Action::Read).await?;
        Ok(AssessmentView {
            assessment,
            version,
        })
    }

    /// An enrolment's assessments, newest assessment day first (GSI1).
    pub async fn list_assessments(
        &self,
        ctx: &RequestContext,
        params: &AssessmentListParams,
    ) -> Result<ListPage<AssessmentView>, AppError> {
        self.authorize_owned(ctx, Area::Assessments, Action::Read, Ownership::Own, WHAT)?;
        let mut errors = ValidationErrors::default();
        let enrolment = match params.enrolment_id.as_deref() {
            None => {
                errors.push("enrolment_id", "is required");
                None
            }
            Some(e) => EnrolmentId::parse(e)
                .map_err(|why| errors.push("enrolment_id", why))
                .ok(),
        };
        let paging = parse_paging(params.limit.as_deref(), params.cursor.as_deref());
        if let Err(AppError::InvalidQuery(v)) = &paging {
            errors.0.extend(v.0.iter().cloned());
        }
        let (Some(enrolment), true) = (enrolment, errors.is_empty()) else {
            return Err(AppError::InvalidQuery(errors));
        };
        let (limit, cursor) = paging?;
        if cursor
            .as_ref()
            .is_some_and(|c| !keys::is_assessment_cursor(c))
        {
            return Err(AppError::InvalidCursor);
        }
        let (e, _) = match self.read_enrolment(&enrolment).await {
            Ok(e) => e,
            Err(AppError::NotFound(_)) => {
                return Err(AppError::InvalidQuery(ValidationErrors::single(
                    "enrolment_id",
                    "names no enrolment",
                )))
            }
            Err(e) => return Err(e),
        };
        let ownership = self.assessment_ownership(ctx, &e.course_run_id).await?;
        self.authorize_owned(ctx, Area::Assessments, Action::Read, ownership, "enrolment")?;
        let query = Query {
            index: Some(Index::Gsi1),
            pk: keys::enrolment_assessments_pk(&enrolment),
            sk: SkCondition::Any,
            forward: false,
            limit,
            cursor,
        };
        self.list_page(&query, |item| {
            Ok(AssessmentView {
                assessment: decode(item)?,
                version: item.version,
            })
        })
        .await
    }

    /// The assessment's versions, newest first (1 Query of its partition).
    pub async fn list_assessment_versions(
        &self,
        ctx: &RequestContext,
        id: &AssessmentId,
        params: &AssessmentVersionParams,
    ) -> Result<ListPage<AssessmentView>, AppError> {
        self.authorize_owned(ctx, Area::Assessments, Action::Read, Ownership::Own, WHAT)?;
        let (limit, cursor) = parse_paging(params.limit.as_deref(), params.cursor.as_deref())?;
        if cursor
            .as_ref()
            .is_some_and(|c| !keys::is_assessment_version_cursor(c, id))
        {
            return Err(AppError::InvalidCursor);
        }
        self.visible_assessment(ctx, id, Action::Read).await?;
        let query = Query {
            index: None,
            pk: keys::assessment_pk(id),
            sk: SkCondition::BeginsWith(keys::ASSESSMENT_VERSION_PREFIX.to_string()),
            forward: false,
            limit,
            cursor,
        };
        self.list_page(&query, decode::<AssessmentView>).await
    }

    /// Writes the next version of an assessment (the current item, the
    /// version's own item, the audit record, the sync job).
    #[allow(clippy::too_many_arguments)]
    async fn write_assessment_version(
        &self,
        ctx: &RequestContext,
        next: Assessment,
        expected: u64,
        if_match: Option<&Precondition>,
        action: AuditAction,
        job_type: JobType,
        idem: Option<&IdempotencyRequest>,
    ) -> Result<Idempotent, AppError> {
        let now = next.updated_at;
        let view = AssessmentView {
            assessment: next,
            version: expected + 1,
        };
        let response = Written::of(&view, expected + 1, None)?;
        let a = &view.assessment;
        let mut change = ChangeSet::default();
        change.put_versioned(
            assessment_item(a, expected + 1)?,
            expected,
            OnConflict::against(if_match, WHAT),
        );
        change.put_new(
            assessment_version_item(&view)?,
            OnConflict::Moved("assessment"),
        );
        if let Some(assessor) = &a.fields.assessor_id {
            let pk = keys::trainer_pk(assessor);
            change.check_exists(
                pk.clone(),
                pk,
                OnConflict::Missing {
                    field: "assessor_id",
                    reason: "names no trainer",
                },
            );
        }
        change.audit(&self.audit_record(
            ctx,
            EntityType::Assessment,
            a.id.as_str(),
            action,
            response.body.clone(),
            now,
        ))?;
        change.job(self.sync_job(
            ctx,
            job_type,
            EntityType::Assessment,
            a.id.as_str(),
            expected + 1,
            now,
        ))?;
        let committed = self
            .commit(ctx, change, idem.map(|i| (i, &response)))
            .await?;
        Ok(outcome(committed, response))
    }

    /// Changes an assessment by merge patch (If-Match): a new version.
    pub async fn update_assessment(
        &self,
        ctx: &RequestContext,
        id: &AssessmentId,
        if_match: Option<Precondition>,
        patch: MergePatch,
    ) -> Result<Written, AppError> {
        self.authorize_owned(ctx, Area::Assessments, Action::Write, Ownership::Own, WHAT)?;
        if if_match.is_none() {
            return Err(AppError::PreconditionRequired);
        }
        let (current, version) = self.visible_assessment(ctx, id, Action::Write).await?;
        let expected = Precondition::check(if_match.as_ref(), version)?;
        let next = current.patched(&patch, self.today_sg(), self.now())?;
        match self
            .write_assessment_version(
                ctx,
                next,
                expected,
                if_match.as_ref(),
                AuditAction::AssessmentUpdated,
                JobType::AssessmentUpsert,
                None,
            )
            .await?
        {
            Idempotent::New(w) | Idempotent::Replayed(w) => Ok(w),
        }
    }

    /// Voids an assessment (If-Match; a reason is required): a new version
    /// with result `void`. Voiding a void assessment is a conflict.
    pub async fn void_assessment(
        &self,
        ctx: &RequestContext,
        id: &AssessmentId,
        if_match: Option<Precondition>,
        input: VoidInput,
        idem: Option<IdempotencyRequest>,
    ) -> Result<Idempotent, AppError> {
        self.authorize_owned(ctx, Area::Assessments, Action::Write, Ownership::Own, WHAT)?;
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
        let (current, version) = self.visible_assessment(ctx, id, Action::Write).await?;
        let expected = Precondition::check(if_match.as_ref(), version)?;
        let next = current.voided(reason, self.now())?;
        self.write_assessment_version(
            ctx,
            next,
            expected,
            if_match.as_ref(),
            AuditAction::AssessmentVoided,
            JobType::AssessmentVoid,
            idem.as_ref(),
        )
        .await
    }
}
