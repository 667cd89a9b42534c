//! The worker's handler for enrolment jobs (API-NOTES §7): create the
//! enrolment on TPGateway, or update it once it has a reference; cancel it.
//! After an unknown outcome the enrolment is looked up by search before
//! anything is sent again, and a create refused as a duplicate counts as
//! done when the search finds ours: a retry never creates a second one.
//! Only here is a trainee's national id opened, to build the payload.

use chrono::{DateTime, Utc};
use serde_json::json;
use tms_domain::course_run::CourseRun;
use tms_domain::enrolment::{Enrolment, EnrolmentStatus, Sponsorship};
use tms_domain::ids::{EnrolmentId, TypedId};
use tms_domain::sync::{JobType, SyncFailure, SyncJob};
use tms_domain::tpg::enrolment as wire;
use tms_domain::tpg::Provider;
use tms_domain::AuditAction;
use tms_ports::{Api, ErrorKind, TpgError, TpgRequest};

use crate::error::{found, AppError};
use crate::records::enrolment_item;
use crate::sync::{Done, Effect, JobError};
use crate::sync_course_run::provider_of;
use crate::write::{ChangeSet, OnConflict};
use crate::App;

/// What an enrolment's job records on the enrolment.
pub(crate) struct EnrolmentEffect {
    pub id: EnrolmentId,
    /// The enrolment's version the submission was built from: it becomes
    /// `accepted` only if it is still at this version.
    pub read_version: u64,
    /// TPGateway's reference, when the job learnt it.
    pub reference: Option<String>,
    /// Whether TPGateway now has the enrolment as it was read.
    pub accepted: bool,
}

impl App {
    /// An enrolment's dependency: TPGateway must have its run (the run's
    /// TPGateway id), else the job waits.
    pub(crate) async fn enrolment_waits_on(
        &self,
        job: &SyncJob,
    ) -> Result<Option<String>, AppError> {
        let Ok(id) = EnrolmentId::parse(&job.entity_id) else {
            return Ok(None);
        };
        let Some((enrolment, _)) = found(self.read_enrolment(&id).await)? else {
            return Ok(None);
        };
        if job.job_type == JobType::EnrolmentCancel && enrolment.sync_reference.is_some() {
            return Ok(None);
        }
        let Some((run, _)) = found(self.read_run(&enrolment.course_run_id).await)? else {
            return Ok(None);
        };
        Ok(run
            .external_id
            .is_none()
            .then(|| "waiting for TPGateway to have the course run (its run id)".to_string()))
    }

    pub(crate) async fn sync_enrolment(&self, job: &SyncJob) -> Result<Done, JobError> {
        let Ok(id) = EnrolmentId::parse(&job.entity_id) else {
            return Ok(Done::nothing("the job names no valid enrolment id"));
        };
        let Some((enrolment, version)) = found(self.read_enrolment(&id).await)? else {
            return Ok(Done::nothing("the enrolment no longer exists"));
        };
        let Some((run, _)) = found(self.read_run(&enrolment.course_run_id).await)? else {
            return Ok(Done::nothing("the course run no longer exists"));
        };
        let Some(tpg_run_id) = run.external_id.clone() else {
            return Err(JobError::App(AppError::Unavailable(
                "the course run is not on TPGateway yet".into(),
            )));
        };
        let provider = provider_of(self.tpgateway.provider().await?);
        match job.job_type {
            JobType::EnrolmentUpsert => {
                if enrolment.status == EnrolmentStatus::Cancelled {
                    return Ok(Done::nothing(
                        "the enrolment is cancelled: its cancel job tells TPGateway",
                    ));
                }
                if enrolment.status == EnrolmentStatus::Draft {
                    return Ok(Done::nothing("the enrolment is a draft: nothing is sent"));
                }
                let payload = self
                    .enrolment_payload(&enrolment, &run, &tpg_run_id)
                    .await?;
                self.upsert_enrolment(job, &enrolment, version, &provider, &payload)
                    .await
            }
            JobType::EnrolmentCancel => {
                self.cancel_on_tpgateway(job, &enrolment, version, &run, &tpg_run_id, &provider)
                    .await
            }
            other => Ok(Done::nothing(format!(
                "a {other} job is not an enrolment's: nothing sent"
            ))),
        }
    }

    /// The payload's data: the enrolment, its run, and its trainee with the
    /// national id opened.
    async fn enrolment_payload(
        &self,
        e: &Enrolment,
        run: &CourseRun,
        tpg_run_id: &str,
    ) -> Result<wire::EnrolmentPayload, JobError> {
        let (stored, _) = self.read_trainee(&e.trainee_id).await?;
        let national_id = self.open_national_id(&stored).await?;
        let t = &stored.trainee;
        let f = &e.fields;
        Ok(wire::EnrolmentPayload {
            course_ref: run.fields.course_ref.as_str().to_string(),
            tpg_run_id: tpg_run_id.to_string(),
            trainee: wire::EnrolmentTrainee {
                id: national_id.expose().to_string(),
                id_type: t.fields.national_id_type.tpg_code(),
                full_name: t.fields.name.clone(),
                date_of_birth: t.fields.date_of_birth,
                email: t.fields.email.clone(),
                phone: t
                    .fields
                    .phone
                    .as_ref()
                    .map(|p| (p.country_code.clone(), p.number.clone())),
            },
            enrolment_date: f.enrolment_date,
            sponsorship: match (&f.sponsorship, &f.employer) {
                (Sponsorship::Employer, Some(emp)) => wire::Sponsorship::Employer {
                    uen: emp.uen.clone(),
                    contact_name: emp.contact_name.clone(),
                    contact_email: emp.contact_email.clone(),
                    contact_phone: emp
                        .contact_phone
                        .as_ref()
                        .map(|p| (p.country_code.clone(), p.number.clone())),
                },
                _ => wire::Sponsorship::Individual,
            },
            discount_amount: f.discount_amount.to_string(),
            collection_status: f.fee_collection_status.tpg_name(),
        })
    }

    /// Creates the enrolment, or updates it once TPGateway gave it a
    /// reference. After an unknown outcome, search first.
    async fn upsert_enrolment(
        &self,
        job: &SyncJob,
        e: &Enrolment,
        version: u64,
        provider: &Provider,
        payload: &wire::EnrolmentPayload,
    ) -> Result<Done, JobError> {
        let mut receipts = Vec::new();
        let mut reference = e.sync_reference.clone();
        if reference.is_none() && job.unknown_outcome {
            reference = self.search_ours(provider, payload).await?;
        }
        match &reference {
            Some(r) => {
                let req =
                    TpgRequest::new(Api::UpdateEnrolment, format!("/tpg/enrolments/details/{r}"))
                        .body(wire::update_enrolment(payload));
                let resp = self.tpgateway.call(req).await?;
                receipts.push(self.receipt(job, Api::UpdateEnrolment, &resp, Some(r.clone())));
            }
            None => {
                let req = TpgRequest::new(Api::CreateEnrolment, "/tpg/enrolments")
                    .body(wire::create_enrolment(provider, payload));
                match self.tpgateway.call(req).await {
                    Ok(resp) => {
                        let (r, _) =
                            wire::parse_enrolment_reference(&resp.body).map_err(|why| {
                                TpgError::local(
                                    Api::CreateEnrolment,
                                    ErrorKind::UnknownOutcome,
                                    format!("the create answer has no enrolment reference: {why}"),
                                )
                            })?;
                        receipts.push(self.receipt(
                            job,
                            Api::CreateEnrolment,
                            &resp,
                            Some(r.clone()),
                        ));
                        reference = Some(r);
                    }
                    Err(err)
                        if err.kind == ErrorKind::Permanent && wire::is_duplicate(&err.message) =>
                    {
                        // A create of ours that landed before (its answer
                        // lost): the duplicate is ours when the search
                        // finds it.
                        match self.search_ours(provider, payload).await? {
                            Some(r) => reference = Some(r),
                            None => return Err(err.into()),
                        }
                    }
                    Err(err) => return Err(err.into()),
                }
            }
        }
        Ok(Done {
            receipts,
            note: None,
            entity: Some(Effect::Enrolment(EnrolmentEffect {
                id: e.id.clone(),
                read_version: version,
                reference,
                accepted: true,
            })),
        })
    }

    /// Our enrolment of this trainee in this run, by TPGateway's search: the
    /// newest one not cancelled.
    async fn search_ours(
        &self,
        provider: &Provider,
        payload: &wire::EnrolmentPayload,
    ) -> Result<Option<String>, JobError> {
        let req = TpgRequest::new(Api::SearchEnrolments, "/tpg/enrolments/search").body(
            wire::search_enrolments(
                provider,
                &payload.course_ref,
                &payload.tpg_run_id,
                &payload.trainee.id,
                payload.trainee.id_type,
            ),
        );
        let found = match self.tpgateway.call(req).await {
            Ok(resp) => wire::parse_search(&resp.body).map_err(|why| {
                TpgError::local(
                    Api::SearchEnrolments,
                    ErrorKind::Transient,
                    format!("the search answer could not be read: {why}"),
                )
            })?,
            // "No records" comes back as a 404 (API-NOTES §4).
            Err(err) if err.status == Some(404) => Vec::new(),
            Err(err) => return Err(err.into()),
        };
        Ok(found
            .into_iter()
            .find(|f| {
                !f.status
                    .as_deref()
                    .is_some_and(|s| s.eq_ignore_ascii_case("cancelled"))
            })
            .map(|f| f.reference))
    }

    /// Cancels the enrolment on TPGateway: by its reference, or (never
    /// answered) by search; already cancelled counts as done.
    async fn cancel_on_tpgateway(
        &self,
        job: &SyncJob,
        e: &Enrolment,
        version: u64,
        run: &CourseRun,
        tpg_run_id: &str,
        provider: &Provider,
    ) -> Result<Done, JobError> {
        let reference = match &e.sync_reference {
            Some(r) => Some(r.clone()),
            None => {
                let payload = self.enrolment_payload(e, run, tpg_run_id).await?;
                self.search_ours(provider, &payload).await?
            }
        };
        let Some(r) = reference else {
            return Ok(Done::nothing(
                "TPGateway has no such enrolment: nothing to cancel",
            ));
        };
        let req = TpgRequest::new(Api::UpdateEnrolment, format!("/tpg/enrolments/details/{r}"))
            .body(wire::cancel_enrolment(tpg_run_id));
        let mut receipts = Vec::new();
        let mut note = None;
        match self.tpgateway.call(req).await {
            Ok(resp) => {
                receipts.push(self.receipt(job, Api::UpdateEnrolment, &resp, Some(r.clone())))
            }
            Err(err)
                if err.kind == ErrorKind::Permanent
                    && wire::is_already_cancelled(err.code.as_deref(), &err.message) =>
            {
                note = Some("TPGateway had it cancelled already".to_string());
            }
            Err(err) => return Err(err.into()),
        }
        Ok(Done {
            receipts,
            note,
            entity: Some(Effect::Enrolment(EnrolmentEffect {
                id: e.id.clone(),
                read_version: version,
                reference: Some(r),
                accepted: false,
            })),
        })
    }

    /// Adds to `change` what an enrolment's job records (read afresh): the
    /// reference, the receipt, and `accepted` when the enrolment is still
    /// the version that was sent.
    pub(crate) async fn record_enrolment_effect(
        &self,
        change: &mut ChangeSet,
        job: &SyncJob,
        effect: &EnrolmentEffect,
        receipts: &[tms_domain::sync::Receipt],
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let Some((mut e, version)) = found(self.read_enrolment(&effect.id).await)? else {
            return Ok(());
        };
        let before = e.clone();
        if let Some(r) = &effect.reference {
            e.sync_reference = Some(r.clone());
        }
        e.sync.record_calls(receipts);
        if effect.accepted && version == effect.read_version {
            e.sync.error = None;
            if matches!(e.status, EnrolmentStatus::Pending | EnrolmentStatus::Failed) {
                e.status = EnrolmentStatus::Accepted;
            }
        }
        if job.job_type == JobType::EnrolmentCancel {
            e.sync.error = None;
        }
        if e != before {
            e.updated_at = now;
            change.put_versioned(
                enrolment_item(&e, version + 1)?,
                version,
                OnConflict::Moved("enrolment"),
            );
        }
        change.audit(&self.sync_audit(
            job,
            AuditAction::EnrolmentSynced,
            json!({ "receipts": receipts, "enrolment_reference": e.sync_reference, "status": e.status }),
            now,
        ))?;
        Ok(())
    }

    /// Adds to `change` what a permanent refusal records on the enrolment:
    /// `failed` (for a create or update of the current version) and
    /// TPGateway's message.
    pub(crate) async fn record_enrolment_failure(
        &self,
        change: &mut ChangeSet,
        job: &SyncJob,
        failure: &SyncFailure,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let Ok(id) = EnrolmentId::parse(&job.entity_id) else {
            return Ok(());
        };
        let Some((mut e, version)) = found(self.read_enrolment(&id).await)? else {
            return Ok(());
        };
        e.sync.error = Some(failure.clone());
        if job.job_type == JobType::EnrolmentUpsert && e.status == EnrolmentStatus::Pending {
            e.status = EnrolmentStatus::Failed;
        }
        e.updated_at = now;
        change.put_versioned(
            enrolment_item(&e, version + 1)?,
            version,
            OnConflict::Moved("enrolment"),
        );
        change.audit(&self.sync_audit(
            job,
            AuditAction::EnrolmentSyncFailed,
            json!({ "failure": failure, "status": e.status }),
            now,
        ))?;
        Ok(())
    }
}
