//! The worker's handler for a signed-off session's attendance (API-NOTES
//! §8): one TPGateway call per trainee. It waits until TPGateway has the
//! session (its session id) and the enrolment of every row to send (its
//! reference). Each row TPGateway accepts is recorded at once, with the
//! revision sent, so that a failure later in the batch (or a worker that
//! dies) never sends it again: a retry sends only the rows not accepted.
//! A row TPGateway refuses keeps TPGateway's message; the job then fails
//! (a person fixes the data and retries the job, or changes the row).

use chrono::{DateTime, Utc};
use serde_json::json;
use tms_domain::attendance::{hours_of, AttendanceRecord};
use tms_domain::course_run::{CourseRun, Session};
use tms_domain::enrolment::EnrolmentStatus;
use tms_domain::ids::{SessionId, TypedId};
use tms_domain::sync::{SyncFailure, SyncJob};
use tms_domain::tpg::attendance as wire;
use tms_domain::types::ModeOfTraining;
use tms_domain::AuditAction;
use tms_ports::{Api, Condition, ErrorKind, StoreError, TpgError, TpgRequest};

use crate::error::{found, AppError};
use crate::records::attendance_item;
use crate::sync::{failure_of, Done, Effect, JobError};
use crate::sync_course_run::provider_of;
use crate::write::ChangeSet;
use crate::App;

/// What an attendance job reports on the session's trail.
pub(crate) struct AttendanceEffect {
    /// Rows TPGateway accepted in this job.
    pub accepted: usize,
    /// Rows not sent, by enrolment id, with the reason.
    pub skipped: Vec<(String, &'static str)>,
}

impl App {
    /// A signed-off session's attendance waits for TPGateway to have the
    /// session (its session id), the run, and the enrolment of every row
    /// still to send.
    pub(crate) async fn attendance_waits_on(
        &self,
        job: &SyncJob,
    ) -> Result<Option<String>, AppError> {
        let Ok(id) = SessionId::parse(&job.entity_id) else {
            return Ok(None);
        };
        let (session, run) = match self.session_and_run(&id).await? {
            Some(x) => x,
            None => return Ok(None),
        };
        if run.external_id.is_none() {
            return Ok(Some(
                "waiting for TPGateway to have the course run (its run id)".into(),
            ));
        }
        if session.external_id.is_none() {
            return Ok(Some("waiting for TPGateway's id of the session".into()));
        }
        let read = self.read_attendance(&id).await?;
        for (row, _) in read.rows.iter().filter(|(r, _)| r.needs_retry()) {
            let Some((e, _)) = found(self.read_enrolment(&row.enrolment_id).await)? else {
                continue;
            };
            if e.status != EnrolmentStatus::Cancelled && e.sync_reference.is_none() {
                return Ok(Some(
                    "waiting for TPGateway to have the enrolment of every row (its reference)"
                        .into(),
                ));
            }
        }
        Ok(None)
    }

    async fn session_and_run(
        &self,
        id: &SessionId,
    ) -> Result<Option<(Session, CourseRun)>, AppError> {
        let Some((session, _)) = found(self.find_session(id).await)? else {
            return Ok(None);
        };
        Ok(found(self.read_run(&session.course_run_id).await)?.map(|(run, _)| (session, run)))
    }

    pub(crate) async fn sync_attendance(&self, job: &SyncJob) -> Result<Done, JobError> {
        let Ok(id) = SessionId::parse(&job.entity_id) else {
            return Ok(Done::nothing("the job names no valid session id"));
        };
        let Some((session, run)) = self.session_and_run(&id).await? else {
            return Ok(Done::nothing("the session no longer exists"));
        };
        let read = self.read_attendance(&id).await?;
        let Some((sheet, _)) = &read.sheet else {
            return Ok(Done::nothing("the session has no attendance"));
        };
        if !sheet.is_signed_off() {
            return Ok(Done::nothing(
                "the session's attendance is not signed off: nothing is sent",
            ));
        }
        let (Some(tpg_run_id), Some(tpg_session_id)) = (&run.external_id, &session.external_id)
        else {
            return Err(JobError::App(AppError::Unavailable(
                "the session is not on TPGateway yet".into(),
            )));
        };
        let provider = provider_of(self.tpgateway.provider().await?);
        let mode = session
            .fields
            .mode_of_training
            .unwrap_or(run.fields.delivery_mode);
        let hours = (mode == ModeOfTraining::OnTheJob)
            .then(|| hours_of(session.fields.start_time, session.fields.end_time))
            .flatten();
        let mut receipts = Vec::new();
        let mut effect = AttendanceEffect {
            accepted: 0,
            skipped: Vec::new(),
        };
        let mut refused = 0usize;
        let mut sent = 0usize;
        for (row, version) in read.rows.iter().filter(|(r, _)| r.needs_retry()) {
            let (enrolment, _) = match self.read_enrolment(&row.enrolment_id).await {
                Ok(x) => x,
                Err(AppError::NotFound(_)) => {
                    effect.skipped.push((
                        row.enrolment_id.to_string(),
                        "the enrolment no longer exists",
                    ));
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            if enrolment.status == EnrolmentStatus::Cancelled {
                effect
                    .skipped
                    .push((row.enrolment_id.to_string(), "the enrolment is cancelled"));
                continue;
            }
            if enrolment.sync_reference.is_none() {
                return Err(JobError::App(AppError::Unavailable(
                    "an enrolment is not on TPGateway yet".into(),
                )));
            }
            let Some(status) = wire::TpgAttendance::of(row.status) else {
                continue;
            };
            let (stored, _) = self.read_trainee(&enrolment.trainee_id).await?;
            let national_id = self.open_national_id(&stored).await?;
            let t = &stored.trainee.fields;
            let payload = wire::AttendancePayload {
                course_ref: run.fields.course_ref.as_str().to_string(),
                session_id: tpg_session_id.clone(),
                status,
                trainee_id: national_id.expose().to_string(),
                id_type: t.national_id_type,
                name: t.name.clone(),
                email: t.email.clone(),
                phone: t
                    .phone
                    .as_ref()
                    .map(|p| (p.country_code.clone(), p.number.clone())),
                hours,
            };
            let req = TpgRequest::new(Api::UploadAttendance, wire::upload_path(tpg_run_id))
                .body(wire::upload_attendance(&provider, &payload));
            sent += 1;
            match self.tpgateway.call(req).await {
                Ok(resp) => {
                    let receipt = self.receipt(job, Api::UploadAttendance, &resp, None);
                    let next = row.accepted(row.revision, receipt.clone(), self.now());
                    self.record_row(&next, *version).await?;
                    receipts.push(receipt);
                    effect.accepted += 1;
                }
                Err(err) if err.kind == ErrorKind::Permanent => {
                    tracing::warn!(
                        job_id = %job.id,
                        enrolment_id = %row.enrolment_id,
                        status = err.status,
                        code = err.code.as_deref().unwrap_or(""),
                        "TPGateway refused one trainee's attendance"
                    );
                    let next = row.refused(row.revision, failure_of(&err, self.now()), self.now());
                    self.record_row(&next, *version).await?;
                    refused += 1;
                }
                // Transient or unknown: the job is retried; the rows
                // accepted so far are recorded and not sent again.
                Err(err) => return Err(err.into()),
            }
        }
        if refused > 0 {
            return Err(JobError::Tpg(TpgError::local(
                Api::UploadAttendance,
                ErrorKind::Permanent,
                format!(
                    "TPGateway refused the attendance of {refused} of {sent} trainees sent; each refused row holds TPGateway's answer"
                ),
            )));
        }
        let note = (!effect.skipped.is_empty()).then(|| {
            effect
                .skipped
                .iter()
                .map(|(e, why)| format!("enrolment {e} not sent: {why}"))
                .collect::<Vec<_>>()
                .join("; ")
        });
        Ok(Done {
            receipts,
            note,
            entity: Some(Effect::Attendance(effect)),
        })
    }

    /// Records TPGateway's answer on one row at once (1 PutItem, on the
    /// version read). A person's change in between wins: that change has
    /// its own job, which sends the row as it is now.
    async fn record_row(&self, row: &AttendanceRecord, version: u64) -> Result<(), AppError> {
        match self
            .store
            .put(
                attendance_item(row, version + 1)?,
                Condition::VersionIs(version),
            )
            .await
        {
            Ok(()) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The audit record of an attendance job that finished.
    pub(crate) fn record_attendance_effect(
        &self,
        change: &mut ChangeSet,
        job: &SyncJob,
        effect: &AttendanceEffect,
        receipts: &[tms_domain::sync::Receipt],
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        change.audit(&self.sync_audit(
            job,
            AuditAction::AttendanceSynced,
            json!({
                "accepted": effect.accepted,
                "uploads": receipts.len(),
                "skipped": effect.skipped.iter().map(|(e, why)| json!({"enrolment_id": e, "reason": why})).collect::<Vec<_>>(),
            }),
            now,
        ))
    }

    /// The audit record of an attendance job TPGateway refused (the rows
    /// hold each refusal).
    pub(crate) fn record_attendance_failure(
        &self,
        change: &mut ChangeSet,
        job: &SyncJob,
        failure: &SyncFailure,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        change.audit(&self.sync_audit(
            job,
            AuditAction::AttendanceSyncFailed,
            json!({ "failure": failure }),
            now,
        ))
    }
}
