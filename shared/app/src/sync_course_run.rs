//! The course-run handler of the sync worker: what is sent to TPGateway for
//! a run's jobs (publish, edit, delete, fetch session ids), and what is
//! recorded on the run and its sessions afterwards.
//!
//! Unknown outcomes: before anything is sent again after an attempt that
//! may have reached TPGateway, the worker looks: a run never stored as
//! published is searched for by its course reference and dates (API-NOTES
//! §6.3) and adopted when exactly one matches; sessions are listed and our
//! sessions set against them before an edit, so that a retried edit never
//! adds a session twice. A publish refused with "Course Run ID is N"
//! (API-NOTES §12) adopts run N.

use chrono::{DateTime, Utc};
use serde_json::json;
use tms_domain::course_run::{CourseRun, RunStatus, Session};
use tms_domain::ids::{RunId, SessionId, TrainerId, TypedId};
use tms_domain::sync::{JobType, Receipt, SyncFailure, SyncJob};
use tms_domain::tpg::{self, Provider, RunMatch, TrainerSkip};
use tms_domain::trainer::Trainer;
use tms_domain::{AuditAction, EntityType};
use tms_ports::{Api, ErrorKind, TpgError, TpgRequest, TpgResponse};

use crate::course_runs::RunPartition;
use crate::error::{found, AppError};
use crate::records::{run_item, session_item};
use crate::sync::{Done, JobError};
use crate::write::{ChangeSet, OnConflict};
use crate::App;

/// What a run's job changes on the run and its sessions.
pub(crate) struct RunEffect {
    pub run_id: RunId,
    /// The run's version the submission was built from: the run becomes
    /// `synced` only if it is still at this version.
    pub read_version: u64,
    pub external_id: Option<String>,
    /// Session ids to store (`None` clears a stale one).
    pub session_ids: Vec<(SessionId, Option<String>)>,
    /// The session ids TPGateway listed, when the job listed them.
    pub tpg_session_ids: Option<Vec<String>>,
    /// Whether TPGateway now has the run as it was read.
    pub synced: bool,
    /// Queue a job that fetches the session ids TPGateway gave.
    pub fetch_sessions: bool,
}

/// TPGateway's largest runs-by-CRN page, and how many pages are read.
const CRN_PAGE_SIZE: u32 = 100;
const CRN_MAX_PAGES: u32 = 20;

pub(crate) fn provider_of(p: tms_ports::ProviderIdentity) -> Provider {
    Provider {
        uen: p.uen,
        tp_code: p.tp_code,
    }
}

/// The job's note on the run's trainers that are not linked on TPGateway
/// (one clause per trainer, by id: no name or other personal data), or
/// none when every trainer is linked.
fn skipped_trainers_note(skipped: &[(TrainerId, TrainerSkip)]) -> Option<String> {
    if skipped.is_empty() {
        return None;
    }
    let clauses: Vec<String> = skipped
        .iter()
        .map(|(id, why)| format!("trainer {id} not linked on TPGateway: {}", why.reason()))
        .collect();
    Some(clauses.join("; "))
}

/// An answer we cannot read after a write TPGateway accepted: what it
/// did is unknown, so the next attempt looks first.
fn unreadable(api: Api, e: tpg::ParseError) -> TpgError {
    TpgError::local(
        api,
        if api.is_read() {
            ErrorKind::Transient
        } else {
            ErrorKind::UnknownOutcome
        },
        format!("TPGateway's answer could not be read: {e}"),
    )
}

impl App {
    pub(crate) fn receipt(
        &self,
        job: &SyncJob,
        api: Api,
        resp: &TpgResponse,
        reference: Option<String>,
    ) -> Receipt {
        Receipt {
            api: api.as_str().into(),
            http_status: resp.status,
            reference,
            at: self.now(),
            correlation_id: job.correlation_id.clone(),
        }
    }

    /// The handler of every course-run job.
    pub(crate) async fn sync_course_run(&self, job: &SyncJob) -> Result<Done, JobError> {
        let Ok(run_id) = RunId::parse(&job.entity_id) else {
            return Ok(Done::nothing("the job names no valid course run id"));
        };
        let Some(part) = found(self.read_run_partition(&run_id).await)? else {
            return Ok(Done::nothing("the course run no longer exists"));
        };
        let provider = provider_of(self.tpgateway.provider().await?);
        match job.job_type {
            JobType::CourseRunUpsert => self.upsert_run(job, &part, &provider).await,
            JobType::CourseRunCancel => self.delete_run(job, &part, &provider).await,
            JobType::CourseRunSessions => self.fetch_session_ids(job, &part, &provider).await,
            other => Ok(Done::nothing(format!(
                "a {other} job is not a course run's: nothing sent"
            ))),
        }
    }

    /// Publish (or, once published, edit) the run with its sessions.
    async fn upsert_run(
        &self,
        job: &SyncJob,
        part: &RunPartition,
        p: &Provider,
    ) -> Result<Done, JobError> {
        let run = &part.run;
        match run.status {
            RunStatus::Cancelled => {
                return Ok(Done::nothing(
                    "the run is cancelled; its cancel job tells TPGateway",
                ))
            }
            RunStatus::Draft => return Ok(Done::nothing("the run is a draft")),
            _ => {}
        }
        let mut receipts = Vec::new();
        let mut look_first = job.unknown_outcome;
        let mut external = run.external_id.clone();
        if external.is_none() && job.unknown_outcome {
            external = self.find_published(p, run).await?;
        }
        let sessions = part.sessions();
        let trainers = self.trainers_of(&sessions).await?;
        // The trainers not sent are named in the job's note; the run is
        // sent all the same.
        let note = skipped_trainers_note(&tpg::link_trainers(&sessions, &trainers).skipped);
        let run_ext = match external {
            Some(id) => id,
            None => {
                let req = TpgRequest::new(Api::PublishRun, "/courses/courseRuns/publish")
                    .query("includeExpiredCourses", "true")
                    .body(tpg::publish_run(p, run, &sessions, &trainers));
                match self.tpgateway.call(req).await {
                    Ok(resp) => {
                        let id = tpg::parse_publish_response(&resp.body)
                            .map_err(|e| unreadable(Api::PublishRun, e))?;
                        receipts.push(self.receipt(job, Api::PublishRun, &resp, Some(id.clone())));
                        return Ok(Done {
                            receipts,
                            note,
                            entity: Some(crate::sync::Effect::Run(RunEffect {
                                run_id: run.id.clone(),
                                read_version: part.version,
                                external_id: Some(id),
                                session_ids: Vec::new(),
                                tpg_session_ids: None,
                                synced: true,
                                fetch_sessions: true,
                            })),
                        });
                    }
                    Err(e) if e.kind == ErrorKind::Permanent => {
                        let existing = e.body.as_deref().and_then(tpg::existing_run_id);
                        match existing {
                            // Published by an earlier attempt of ours (one
                            // that went unanswered, or failed after it was
                            // sent): adopt it and bring it up to date. A
                            // first attempt refused so found another run of
                            // the same course and dates, which is not ours
                            // to take: a person decides.
                            Some(id) if self.earlier_publish_attempt(job).await? => {
                                tracing::info!(job_id = %job.id, "TPGateway has the run already; adopting it");
                                look_first = true;
                                id
                            }
                            _ => return Err(e.into()),
                        }
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        // Edit. After an unknown outcome, list TPGateway's sessions first
        // and set ours against them, so that nothing is added twice.
        let (sessions, published, changed) = if look_first {
            let theirs = self.tpg_sessions(p, run, &run_ext).await?;
            let plan = tpg::reconcile_sessions(&sessions, &theirs);
            (plan.sessions, plan.live_ids, plan.changed)
        } else {
            (sessions, run.sync.tpg_session_ids.clone(), Vec::new())
        };
        let req = TpgRequest::new(Api::EditRun, format!("/courses/courseRuns/edit/{run_ext}"))
            .query("includeExpiredCourses", "true")
            .body(tpg::edit_run(p, run, &sessions, &published, &trainers));
        let resp = self.tpgateway.call(req).await?;
        receipts.push(self.receipt(job, Api::EditRun, &resp, Some(run_ext.clone())));
        // TPGateway now lists the sessions we hold ids of (those we told it
        // to delete are gone); the ones just added have ids to learn.
        let live: Vec<String> = sessions
            .iter()
            .filter_map(|s| s.external_id.clone())
            .collect();
        let fetch_sessions = sessions.iter().any(|s| s.external_id.is_none());
        Ok(Done {
            receipts,
            note,
            entity: Some(crate::sync::Effect::Run(RunEffect {
                run_id: run.id.clone(),
                read_version: part.version,
                external_id: Some(run_ext),
                session_ids: changed,
                tpg_session_ids: Some(live),
                synced: true,
                fetch_sessions,
            })),
        })
    }

    /// The trainer records the sessions name (each once; 1 GetItem per
    /// distinct trainer). A trainer no record has is left out: the
    /// builders skip it, and the job's note says so.
    async fn trainers_of(&self, sessions: &[Session]) -> Result<Vec<Trainer>, AppError> {
        let mut ids: Vec<&TrainerId> = Vec::new();
        for id in sessions.iter().filter_map(|s| s.fields.trainer_id.as_ref()) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let mut trainers = Vec::with_capacity(ids.len());
        for id in ids {
            match self.read_trainer(id).await {
                Ok(view) => trainers.push(view.trainer),
                Err(AppError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(trainers)
    }

    /// Delete the run on TPGateway (after a cancel).
    async fn delete_run(
        &self,
        job: &SyncJob,
        part: &RunPartition,
        p: &Provider,
    ) -> Result<Done, JobError> {
        let run = &part.run;
        let external = match &run.external_id {
            Some(id) => Some(id.clone()),
            // Never stored as published: look only when an attempt to
            // publish may have reached TPGateway.
            None if self.publish_may_have_reached(job).await? => {
                self.find_published(p, run).await?
            }
            None => None,
        };
        let Some(run_ext) = external else {
            return Ok(Done::nothing(
                "never published: nothing to delete on TPGateway",
            ));
        };
        let req = TpgRequest::new(Api::EditRun, format!("/courses/courseRuns/edit/{run_ext}"))
            .query("includeExpiredCourses", "true")
            .body(tpg::delete_run(p, run));
        let done = |receipts, note: Option<String>| Done {
            receipts,
            note,
            entity: Some(crate::sync::Effect::Run(RunEffect {
                run_id: run.id.clone(),
                read_version: part.version,
                external_id: Some(run_ext.clone()),
                session_ids: Vec::new(),
                tpg_session_ids: None,
                synced: true,
                fetch_sessions: false,
            })),
        };
        match self.tpgateway.call(req).await {
            Ok(resp) => {
                let receipt = self.receipt(job, Api::EditRun, &resp, Some(run_ext.clone()));
                Ok(done(vec![receipt], None))
            }
            // Gone already (our earlier attempt deleted it).
            Err(e) if e.is_not_found() && job.unknown_outcome => Ok(done(
                Vec::new(),
                Some("TPGateway no longer has the run: deleted by an earlier attempt".into()),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// List TPGateway's sessions of the run and store their ids on ours.
    async fn fetch_session_ids(
        &self,
        job: &SyncJob,
        part: &RunPartition,
        p: &Provider,
    ) -> Result<Done, JobError> {
        let run = &part.run;
        if run.status == RunStatus::Cancelled {
            return Ok(Done::nothing("the run is cancelled"));
        }
        let Some(run_ext) = run.external_id.clone() else {
            return Ok(Done::nothing("the run is not published yet"));
        };
        let theirs = self.tpg_sessions(p, run, &run_ext).await?;
        let plan = tpg::reconcile_sessions(&part.sessions(), &theirs);
        Ok(Done {
            receipts: Vec::new(),
            note: None,
            entity: Some(crate::sync::Effect::Run(RunEffect {
                run_id: run.id.clone(),
                read_version: part.version,
                external_id: None,
                session_ids: plan.changed,
                tpg_session_ids: Some(plan.live_ids),
                synced: false,
                fetch_sessions: false,
            })),
        })
        .inspect(|_| tracing::debug!(job_id = %job.id, "session ids fetched"))
    }

    /// TPGateway's sessions of a run (none when it has no records).
    async fn tpg_sessions(
        &self,
        p: &Provider,
        run: &CourseRun,
        run_ext: &str,
    ) -> Result<Vec<tpg::TpgSession>, TpgError> {
        let req = TpgRequest::new(
            Api::GetSessions,
            format!("/courses/runs/{run_ext}/sessions"),
        )
        .query("uen", p.uen.clone())
        .query("courseReferenceNumber", run.fields.course_ref.as_str())
        .query("includeExpiredCourses", "true");
        match self.tpgateway.call(req).await {
            Ok(resp) => tpg::parse_sessions_response(&resp.body)
                .map_err(|e| unreadable(Api::GetSessions, e)),
            // "No records" is a 404 (API-NOTES §4).
            Err(e) if e.is_not_found() => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Looks for our run among TPGateway's runs of its course reference.
    /// More than one candidate is refused (a person must say which).
    async fn find_published(
        &self,
        p: &Provider,
        run: &CourseRun,
    ) -> Result<Option<String>, TpgError> {
        let mut candidates = Vec::new();
        for page in 0..CRN_MAX_PAGES {
            let req = TpgRequest::new(Api::RunsByCrn, "/courses/courseRuns/reference")
                .query("uen", p.uen.clone())
                .query("courseReferenceNumber", run.fields.course_ref.as_str())
                .query("pageSize", CRN_PAGE_SIZE.to_string())
                .query("page", page.to_string())
                .query("includeExpiredCourses", "true");
            let runs = match self.tpgateway.call(req).await {
                Ok(resp) => tpg::parse_runs_by_crn_response(&resp.body)
                    .map_err(|e| unreadable(Api::RunsByCrn, e))?,
                Err(e) if e.is_not_found() => Vec::new(),
                Err(e) => return Err(e),
            };
            let full = runs.len() as u32 >= CRN_PAGE_SIZE;
            candidates.extend(runs);
            if !full {
                break;
            }
        }
        match tpg::find_our_run(run, &candidates) {
            RunMatch::None => Ok(None),
            RunMatch::One(id) => Ok(Some(id)),
            RunMatch::Many(ids) => Err(TpgError::local(
                Api::RunsByCrn,
                ErrorKind::Permanent,
                format!(
                    "an earlier attempt may have published this run, and TPGateway has {} runs of this course with its dates ({}); a person must check which is ours",
                    ids.len(),
                    ids.join(", ")
                ),
            )),
        }
    }

    /// Whether a publish of this run was attempted before this attempt:
    /// this job's earlier attempts, or another upsert job of the run that
    /// was claimed.
    async fn earlier_publish_attempt(&self, job: &SyncJob) -> Result<bool, AppError> {
        if job.attempts > 1 || job.unknown_outcome {
            return Ok(true);
        }
        self.upsert_claimed(job, Some(&job.id)).await
    }

    /// Whether any publish of the run was ever attempted: an upsert job of
    /// the run that was claimed.
    async fn publish_may_have_reached(&self, job: &SyncJob) -> Result<bool, AppError> {
        self.upsert_claimed(job, None).await
    }

    /// Whether an upsert job of the job's entity (other than `except`) was
    /// ever claimed.
    async fn upsert_claimed(&self, job: &SyncJob, except: Option<&str>) -> Result<bool, AppError> {
        let query = tms_ports::Query {
            index: Some(tms_ports::Index::Gsi1),
            pk: crate::keys::sync_jobs_of_entity_pk(job.entity_type, &job.entity_id),
            sk: tms_ports::SkCondition::Between("0".into(), crate::keys::HIGH.into()),
            forward: true,
            limit: tms_ports::store::MAX_PAGE_SIZE,
            cursor: None,
        };
        let mut query = query;
        loop {
            let page = self.store.query(&query).await?;
            for item in &page.items {
                let j: SyncJob = crate::records::decode(item)?;
                if j.job_type == JobType::CourseRunUpsert
                    && j.attempts > 0
                    && Some(j.id.as_str()) != except
                {
                    return Ok(true);
                }
            }
            match page.next {
                Some(c) => query.cursor = Some(c),
                None => return Ok(false),
            }
        }
    }

    /// Adds to `change` what a run's job records on the run and its
    /// sessions (read afresh: a person's change in between is kept).
    pub(crate) async fn record_run_effect(
        &self,
        change: &mut ChangeSet,
        job: &SyncJob,
        effect: &RunEffect,
        receipts: &[Receipt],
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let Some(part) = found(self.read_run_partition(&effect.run_id).await)? else {
            return Ok(());
        };
        let mut run = part.run.clone();
        if let Some(ext) = &effect.external_id {
            run.external_id = Some(ext.clone());
        }
        if let Some(ids) = &effect.tpg_session_ids {
            run.sync.tpg_session_ids = ids.clone();
        }
        if let Some(r) = receipts.last() {
            run.sync.receipt = Some(r.clone());
        }
        let unchanged = part.version == effect.read_version;
        if effect.synced && unchanged {
            run.sync.error = None;
            if matches!(run.status, RunStatus::Pending | RunStatus::Failed) {
                run.status = RunStatus::Synced;
            }
        }
        let mut stored_sessions = Vec::new();
        for (sid, ext) in &effect.session_ids {
            if let Some((s, v)) = part.session(sid) {
                if &s.external_id != ext {
                    let updated = Session {
                        external_id: ext.clone(),
                        updated_at: now,
                        ..s.clone()
                    };
                    stored_sessions.push((updated, *v));
                }
            }
        }
        let run_changed = run != part.run;
        if run_changed {
            run.updated_at = now;
            change.put_versioned(
                run_item(&run, part.version + 1)?,
                part.version,
                OnConflict::Moved("course run"),
            );
        }
        for (s, v) in &stored_sessions {
            change.put_versioned(session_item(s, v + 1)?, *v, OnConflict::Moved("session"));
        }
        change.audit(&self.sync_audit(
            job,
            AuditAction::CourseRunSynced,
            json!({
                "receipts": receipts,
                "tpgateway_run_id": run.external_id,
                "session_ids": stored_sessions.iter().map(|(s, _)| json!({"session_id": s.id, "tpgateway_session_id": s.external_id})).collect::<Vec<_>>(),
                "status": run.status,
            }),
            now,
        ))?;
        if effect.fetch_sessions {
            let version = if run_changed {
                part.version + 1
            } else {
                part.version
            };
            change.job(
                SyncJob::queued(
                    self.ids.new_id(),
                    JobType::CourseRunSessions,
                    EntityType::CourseRun,
                    run.id.as_str(),
                    version,
                    &job.correlation_id,
                    now,
                )
                .by(crate::sync::WORKER_ACTOR),
            )?;
        }
        Ok(())
    }

    /// Adds to `change` what a permanent refusal records on the run: its
    /// status `failed` (unless it is cancelled) and TPGateway's message.
    pub(crate) async fn record_run_failure(
        &self,
        change: &mut ChangeSet,
        job: &SyncJob,
        failure: &SyncFailure,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let Ok(run_id) = RunId::parse(&job.entity_id) else {
            return Ok(());
        };
        let Some(part) = found(self.read_run_partition(&run_id).await)? else {
            return Ok(());
        };
        let mut run = part.run.clone();
        run.sync.error = Some(failure.clone());
        if job.job_type == JobType::CourseRunUpsert && run.status != RunStatus::Cancelled {
            run.status = RunStatus::Failed;
        }
        run.updated_at = now;
        change.put_versioned(
            run_item(&run, part.version + 1)?,
            part.version,
            OnConflict::Moved("course run"),
        );
        change.audit(&self.sync_audit(
            job,
            AuditAction::CourseRunSyncFailed,
            json!({ "failure": failure, "status": run.status }),
            now,
        ))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_note_names_each_skipped_trainer_and_why() {
        let t = |s: &str| TrainerId::parse(s).unwrap_or_else(|_| unreachable!());
        let a = "0193a4e2-7c1b-7d3e-9a51-2b7f00c0ff03";
        let b = "0193a4e2-7c1b-7d3e-9a51-2b7f00c0ff04";
        assert_eq!(skipped_trainers_note(&[]), None);
        assert_eq!(
            skipped_trainers_note(&[
                (t(a), TrainerSkip::NoTpgTrainerId),
                (t(b), TrainerSkip::NotFound)
            ])
            .as_deref(),
            Some(
                format!(
                    "trainer {a} not linked on TPGateway: no tpg_trainer_id; \
                     trainer {b} not linked on TPGateway: no such trainer"
                )
                .as_str()
            )
        );
    }
}
