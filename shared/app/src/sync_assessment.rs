//! The worker's handler for assessment jobs (API-NOTES §9): create the
//! assessment on TPGateway and store its reference, update it once it has
//! one, void it. A job waits until the run has TPGateway's run id and the
//! enrolment its TPGateway reference. After an unknown outcome the
//! assessment is looked up by search before anything is sent again, and a
//! create refused as a duplicate is taken as ours when the search finds
//! it: a retry never creates a second one. Only here is the trainee's
//! national id opened, to build the payload.
//!
//! What the worker records on the assessment (the reference, the receipt,
//! `synced` or `failed` with TPGateway's message) is a new version too,
//! with its own version item: the history holds every change.

use chrono::{DateTime, Utc};
use serde_json::json;
use tms_domain::assessment::{Assessment, AssessmentSyncStatus};
use tms_domain::enrolment::Enrolment;
use tms_domain::ids::{AssessmentId, TypedId};
use tms_domain::sync::{JobType, SyncFailure, SyncJob};
use tms_domain::tpg::assessment as wire;
use tms_domain::tpg::Provider;
use tms_domain::AuditAction;
use tms_ports::{Api, ErrorKind, TpgError, TpgRequest};

use crate::assessments::AssessmentView;
use crate::error::{found, AppError};
use crate::records::{assessment_item, assessment_version_item};
use crate::sync::{Done, Effect, JobError};
use crate::sync_course_run::provider_of;
use crate::write::{ChangeSet, OnConflict};
use crate::App;

/// What an assessment's job records on the assessment.
pub(crate) struct AssessmentEffect {
    pub id: AssessmentId,
    /// The version the submission was built from: the assessment becomes
    /// `synced` only if it is still at this version.
    pub read_version: u64,
    /// TPGateway's reference, when the job learnt it.
    pub reference: Option<String>,
    /// Whether TPGateway now has the assessment as it was read.
    pub synced: bool,
}

/// What the payload needs besides the assessment.
struct Context {
    enrolment: Enrolment,
    course_ref: String,
    tpg_run_id: String,
    enrolment_ref: String,
}

impl App {
    /// An assessment's dependencies: TPGateway must have its run (the run
    /// id) and its enrolment (the enrolment reference), else the job waits.
    pub(crate) async fn assessment_waits_on(
        &self,
        job: &SyncJob,
    ) -> Result<Option<String>, AppError> {
        let Ok(id) = AssessmentId::parse(&job.entity_id) else {
            return Ok(None);
        };
        let Some((a, _)) = found(self.read_assessment(&id).await)? else {
            return Ok(None);
        };
        if job.job_type == JobType::AssessmentVoid && a.sync_reference.is_some() {
            return Ok(None);
        }
        let Some((enrolment, _)) = found(self.read_enrolment(&a.enrolment_id).await)? else {
            return Ok(None);
        };
        let Some((run, _)) = found(self.read_run(&a.course_run_id).await)? else {
            return Ok(None);
        };
        Ok(if run.external_id.is_none() {
            Some("waiting for TPGateway to have the course run (its run id)".to_string())
        } else if enrolment.sync_reference.is_none() {
            Some("waiting for TPGateway to have the enrolment (its reference)".to_string())
        } else {
            None
        })
    }

    pub(crate) async fn sync_assessment(&self, job: &SyncJob) -> Result<Done, JobError> {
        let Ok(id) = AssessmentId::parse(&job.entity_id) else {
            return Ok(Done::nothing("the job names no valid assessment id"));
        };
        let Some((a, version)) = found(self.read_assessment(&id).await)? else {
            return Ok(Done::nothing("the assessment no longer exists"));
        };
        let Some((enrolment, _)) = found(self.read_enrolment(&a.enrolment_id).await)? else {
            return Ok(Done::nothing("the enrolment no longer exists"));
        };
        let Some((run, _)) = found(self.read_run(&a.course_run_id).await)? else {
            return Ok(Done::nothing("the course run no longer exists"));
        };
        let (Some(tpg_run_id), Some(enrolment_ref)) =
            (run.external_id.clone(), enrolment.sync_reference.clone())
        else {
            return Err(JobError::App(AppError::Unavailable(
                "the course run or the enrolment is not on TPGateway yet".into(),
            )));
        };
        let ctx = Context {
            enrolment,
            course_ref: run.fields.course_ref.as_str().to_string(),
            tpg_run_id,
            enrolment_ref,
        };
        let provider = provider_of(self.tpgateway.provider().await?);
        match job.job_type {
            JobType::AssessmentUpsert => {
                if a.is_void() {
                    return Ok(Done::nothing(
                        "the assessment is void: its void job tells TPGateway",
                    ));
                }
                let payload = self.assessment_payload(&a, &ctx).await?;
                self.upsert_assessment(job, &a, version, &provider, &payload)
                    .await
            }
            JobType::AssessmentVoid => {
                let payload = self.assessment_payload(&a, &ctx).await?;
                self.void_on_tpgateway(job, &a, version, &provider, &payload)
                    .await
            }
            other => Ok(Done::nothing(format!(
                "a {other} job is not an assessment's: nothing sent"
            ))),
        }
    }

    /// The payload's data: the assessment, its run and enrolment, and the
    /// trainee with the national id opened.
    async fn assessment_payload(
        &self,
        a: &Assessment,
        ctx: &Context,
    ) -> Result<wire::AssessmentPayload, JobError> {
        let (stored, _) = self.read_trainee(&ctx.enrolment.trainee_id).await?;
        let national_id = self.open_national_id(&stored).await?;
        let t = &stored.trainee;
        let f = &a.fields;
        Ok(wire::AssessmentPayload {
            course_ref: ctx.course_ref.clone(),
            tpg_run_id: ctx.tpg_run_id.clone(),
            enrolment_ref: ctx.enrolment_ref.clone(),
            trainee: wire::AssessmentTrainee {
                id: national_id.expose().to_string(),
                id_type: t.fields.national_id_type.tpg_code(),
                full_name: t.fields.name.clone(),
            },
            // A void assessment's result is not sent (the void says it);
            // Pass stands in so the search payload can be built.
            result: f.result.tpg_code().unwrap_or("Pass"),
            grade: f.grade.map(|g| g.letter()),
            score: f.score,
            assessment_date: f.assessed_at,
            skill_code: f.skill_code.clone(),
        })
    }

    /// Ours on TPGateway, by search (see [`wire::find_ours`]); `Err` when
    /// the search could not be made or read.
    async fn search_our_assessments(
        &self,
        provider: &Provider,
        payload: &wire::AssessmentPayload,
    ) -> Result<Vec<wire::FoundAssessment>, JobError> {
        let req = TpgRequest::new(Api::SearchAssessments, "/tpg/assessments/search")
            .body(wire::search_assessments(provider, payload));
        match self.tpgateway.call(req).await {
            Ok(resp) => Ok(wire::parse_search(&resp.body).map_err(|why| {
                TpgError::local(
                    Api::SearchAssessments,
                    ErrorKind::Transient,
                    format!("the search answer could not be read: {why}"),
                )
            })?),
            // "No records" comes back as a 404 (API-NOTES §4).
            Err(err) if err.status == Some(404) => Ok(Vec::new()),
            Err(err) => Err(err.into()),
        }
    }

    /// Creates the assessment, or updates it once TPGateway has it. After
    /// an unknown outcome, or a create refused as a duplicate, search
    /// first: what it finds is ours, and is updated, never created again.
    async fn upsert_assessment(
        &self,
        job: &SyncJob,
        a: &Assessment,
        version: u64,
        provider: &Provider,
        payload: &wire::AssessmentPayload,
    ) -> Result<Done, JobError> {
        let mut receipts = Vec::new();
        let mut reference = a.sync_reference.clone();
        if reference.is_none() && job.unknown_outcome {
            let found = self.search_our_assessments(provider, payload).await?;
            reference = wire::find_ours(&found, payload);
        }
        if reference.is_none() {
            let req = TpgRequest::new(Api::CreateAssessment, "/tpg/assessments")
                .body(wire::create_assessment(provider, payload));
            match self.tpgateway.call(req).await {
                Ok(resp) => {
                    let r = wire::parse_assessment_reference(&resp.body).map_err(|why| {
                        TpgError::local(
                            Api::CreateAssessment,
                            ErrorKind::UnknownOutcome,
                            format!("the create answer has no assessment reference: {why}"),
                        )
                    })?;
                    receipts.push(self.receipt(job, Api::CreateAssessment, &resp, Some(r.clone())));
                    return Ok(synced(a, version, Some(r), receipts));
                }
                Err(err)
                    if err.kind == ErrorKind::Permanent && wire::is_duplicate(&err.message) =>
                {
                    let found = self.search_our_assessments(provider, payload).await?;
                    match wire::find_ours(&found, payload) {
                        Some(r) => reference = Some(r),
                        None => return Err(err.into()),
                    }
                }
                Err(err) => return Err(err.into()),
            }
        }
        let Some(r) = reference else {
            return Err(JobError::App(AppError::Internal(
                "no assessment reference after the create".into(),
            )));
        };
        let req = TpgRequest::new(
            Api::UpdateAssessment,
            format!("/tpg/assessments/details/{r}"),
        )
        .body(wire::update_assessment(payload));
        let resp = self.tpgateway.call(req).await?;
        receipts.push(self.receipt(job, Api::UpdateAssessment, &resp, Some(r.clone())));
        Ok(synced(a, version, Some(r), receipts))
    }

    /// Voids the assessment on TPGateway: by its reference, or (never
    /// answered) by search. After an unknown outcome the search says
    /// whether an earlier void landed (ours is no longer found as live).
    async fn void_on_tpgateway(
        &self,
        job: &SyncJob,
        a: &Assessment,
        version: u64,
        provider: &Provider,
        payload: &wire::AssessmentPayload,
    ) -> Result<Done, JobError> {
        let reference = match (&a.sync_reference, job.unknown_outcome) {
            (Some(r), false) => Some(r.clone()),
            (Some(r), true) => {
                let found = self.search_our_assessments(provider, payload).await?;
                if !found.iter().any(|f| &f.reference == r && !f.void) {
                    let mut done = synced(a, version, Some(r.clone()), Vec::new());
                    done.note = Some("TPGateway has it void already".to_string());
                    return Ok(done);
                }
                Some(r.clone())
            }
            (None, _) => {
                let found = self.search_our_assessments(provider, payload).await?;
                wire::find_ours(&found, payload)
            }
        };
        let Some(r) = reference else {
            let mut done = synced(a, version, None, Vec::new());
            done.note = Some("TPGateway has no such assessment: nothing to void".to_string());
            return Ok(done);
        };
        let req = TpgRequest::new(
            Api::UpdateAssessment,
            format!("/tpg/assessments/details/{r}"),
        )
        .body(wire::void_assessment());
        let resp = self.tpgateway.call(req).await?;
        let receipts = vec![self.receipt(job, Api::UpdateAssessment, &resp, Some(r.clone()))];
        Ok(synced(a, version, Some(r), receipts))
    }

    /// The next version of an assessment, written by the worker (the
    /// current item and its version item).
    fn put_assessment_version(
        change: &mut ChangeSet,
        a: Assessment,
        version: u64,
    ) -> Result<(), AppError> {
        let view = AssessmentView {
            assessment: a,
            version: version + 1,
        };
        change.put_versioned(
            assessment_item(&view.assessment, version + 1)?,
            version,
            OnConflict::Moved("assessment"),
        );
        change.put_new(
            assessment_version_item(&view)?,
            OnConflict::Moved("assessment"),
        );
        Ok(())
    }

    /// Adds to `change` what an assessment's job records (read afresh):
    /// the reference, the receipt, and `synced` when the assessment is
    /// still the version that was sent.
    pub(crate) async fn record_assessment_effect(
        &self,
        change: &mut ChangeSet,
        job: &SyncJob,
        effect: &AssessmentEffect,
        receipts: &[tms_domain::sync::Receipt],
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let Some((mut a, version)) = found(self.read_assessment(&effect.id).await)? else {
            return Ok(());
        };
        let before = a.clone();
        if let Some(r) = &effect.reference {
            a.sync_reference = Some(r.clone());
        }
        a.sync.record_calls(receipts);
        if effect.synced && version == effect.read_version {
            a.sync.error = None;
            a.sync_status = AssessmentSyncStatus::Synced;
        }
        if a != before {
            a.updated_at = now;
            let (reference, status) = (a.sync_reference.clone(), a.sync_status);
            Self::put_assessment_version(change, a, version)?;
            change.audit(&self.sync_audit(
                job,
                AuditAction::AssessmentSynced,
                json!({ "receipts": receipts, "assessment_reference": reference, "sync_status": status }),
                now,
            ))?;
        }
        Ok(())
    }

    /// Adds to `change` what a permanent refusal records: `failed` and
    /// TPGateway's message (a person fixes the data; the fix sends again).
    pub(crate) async fn record_assessment_failure(
        &self,
        change: &mut ChangeSet,
        job: &SyncJob,
        failure: &SyncFailure,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let Ok(id) = AssessmentId::parse(&job.entity_id) else {
            return Ok(());
        };
        let Some((mut a, version)) = found(self.read_assessment(&id).await)? else {
            return Ok(());
        };
        a.sync.error = Some(failure.clone());
        a.sync_status = AssessmentSyncStatus::Failed;
        a.updated_at = now;
        Self::put_assessment_version(change, a, version)?;
        change.audit(&self.sync_audit(
            job,
            AuditAction::AssessmentSyncFailed,
            json!({ "failure": failure, "sync_status": AssessmentSyncStatus::Failed }),
            now,
        ))?;
        Ok(())
    }
}

/// A job that reached TPGateway (or found nothing to do there).
fn synced(
    a: &Assessment,
    version: u64,
    reference: Option<String>,
    receipts: Vec<tms_domain::sync::Receipt>,
) -> Done {
    Done {
        receipts,
        note: None,
        entity: Some(Effect::Assessment(AssessmentEffect {
            id: a.id.clone(),
            read_version: version,
            reference,
            synced: true,
        })),
    }
}
