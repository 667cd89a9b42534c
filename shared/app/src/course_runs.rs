//! Use cases of course runs and their sessions.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tms_domain::course_run::{
    is_valid_id, run_fields, CancelInput, CourseRun, CourseRunInput, CourseRunPatch, RunStatus,
    Session, SessionInput, SessionPatch, ENTITY_COURSE_RUN, ENTITY_SESSION,
};
use tms_domain::sync::JobType;
use tms_domain::ValidationErrors;
use tms_ports::{Index, Item, Query, SkCondition};

use crate::context::{IdempotencyRequest, Idempotent, RequestContext};
use crate::error::AppError;
use crate::records::{decode, run_item, session_item};
use crate::write::{ChangeSet, Committed};
use crate::{keys, parse_paging, App, ListPage};

/// A session with its ETag version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionView {
    #[serde(flatten)]
    pub session: Session,
    pub version: u64,
}

/// A run with its version and, when read alone, its sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CourseRunView {
    #[serde(flatten)]
    pub run: CourseRun,
    pub version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions: Option<Vec<SessionView>>,
}

/// The filters of `GET /course-runs`, as given in the query string.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunListParams {
    pub status: Option<String>,
    /// `true`: only runs that are not cancelled (the sparse active index).
    pub active: Option<String>,
    pub start_from: Option<String>,
    pub start_to: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

fn run_not_found() -> AppError {
    AppError::NotFound("course run")
}

fn check_id(id: &str, what: &'static str) -> Result<(), AppError> {
    if is_valid_id(id) {
        Ok(())
    } else {
        Err(AppError::NotFound(what))
    }
}

fn snapshot<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// The run and its sessions as read from the run's partition.
struct RunPartition {
    run: CourseRun,
    version: u64,
    sessions: Vec<(Session, u64)>,
}

impl RunPartition {
    fn view(&self) -> CourseRunView {
        let mut sessions: Vec<SessionView> = self
            .sessions
            .iter()
            .map(|(s, v)| SessionView {
                session: s.clone(),
                version: *v,
            })
            .collect();
        sessions.sort_by(|a, b| {
            (a.session.session_date, a.session.start_time, &a.session.id).cmp(&(
                b.session.session_date,
                b.session.start_time,
                &b.session.id,
            ))
        });
        CourseRunView {
            run: self.run.clone(),
            version: self.version,
            sessions: Some(sessions),
        }
    }

    fn session(&self, id: &str) -> Option<&(Session, u64)> {
        self.sessions.iter().find(|(s, _)| s.id == id)
    }
}

impl App {
    /// Reads a run with its sessions: one Query of the run's partition (more
    /// only for a run whose sessions exceed one page of 1 MB).
    async fn read_run_partition(&self, id: &str) -> Result<RunPartition, AppError> {
        check_id(id, "course run")?;
        let (lo, hi) = keys::run_and_sessions_range(id);
        let mut query = Query {
            index: None,
            pk: keys::run_pk(id),
            sk: SkCondition::Between(lo, hi),
            forward: true,
            limit: tms_ports::store::MAX_PAGE_SIZE,
            cursor: None,
        };
        let mut items: Vec<Item> = Vec::new();
        loop {
            let page = self.store.query(&query).await?;
            items.extend(page.items);
            match page.next {
                Some(c) => query.cursor = Some(c),
                None => break,
            }
        }
        let mut run = None;
        let mut sessions = Vec::new();
        for item in &items {
            match item.entity_type.as_str() {
                ENTITY_COURSE_RUN => {
                    run = Some((decode::<CourseRun>(item, ENTITY_COURSE_RUN)?, item.version))
                }
                ENTITY_SESSION => {
                    sessions.push((decode::<Session>(item, ENTITY_SESSION)?, item.version))
                }
                _ => {}
            }
        }
        let (run, version) = run.ok_or_else(run_not_found)?;
        Ok(RunPartition {
            run,
            version,
            sessions,
        })
    }

    /// Reads the run item alone: one GetItem.
    async fn read_run(&self, id: &str) -> Result<(CourseRun, u64), AppError> {
        check_id(id, "course run")?;
        let item = self
            .store
            .get(&keys::run_pk(id), &keys::run_sk(id))
            .await?
            .ok_or_else(run_not_found)?;
        Ok((decode(&item, ENTITY_COURSE_RUN)?, item.version))
    }

    /// Creates a run with its sessions: 1 TransactWriteItems + 1 SendMessage.
    pub async fn create_course_run(
        &self,
        ctx: &RequestContext,
        input: CourseRunInput,
        idem: Option<IdempotencyRequest>,
    ) -> Result<Idempotent<CourseRunView>, AppError> {
        let (fields, session_fields) = input.parse()?;
        let now = self.now();
        let run = CourseRun::create(self.ids.new_id(), fields, now);
        let sessions: Vec<Session> = session_fields
            .into_iter()
            .map(|f| Session::create(self.ids.new_id(), run.id.clone(), f, now))
            .collect();
        let view = RunPartition {
            run: run.clone(),
            version: 1,
            sessions: sessions.iter().map(|s| (s.clone(), 1)).collect(),
        }
        .view();

        let mut change = ChangeSet::default();
        change.put_new(run_item(&run, 1)?);
        for s in &sessions {
            change.put_new(session_item(s, 1)?);
        }
        change.audit(&self.audit_record(
            ctx,
            ENTITY_COURSE_RUN,
            &run.id,
            "course_run.created",
            snapshot(&view),
            now,
        ))?;
        change.job(self.sync_job(
            ctx,
            JobType::CourseRunUpsert,
            ENTITY_COURSE_RUN,
            &run.id,
            1,
            now,
        ))?;
        let response = snapshot(&view);
        let committed = self
            .commit(ctx, change, idem.as_ref().map(|i| (i, &response)), |_| {
                AppError::Conflict("the course run exists already".into())
            })
            .await?;
        Ok(match committed {
            Committed::Done => {
                tracing::info!(run_id = %run.id, sessions = sessions.len(), "course run created");
                Idempotent::New(view)
            }
            Committed::Replayed(body) => Idempotent::Replayed(body),
        })
    }

    /// Reads a run with its sessions: 1 Query.
    pub async fn get_course_run(&self, id: &str) -> Result<CourseRunView, AppError> {
        Ok(self.read_run_partition(id).await?.view())
    }

    /// Lists runs, by status or all (or only the active ones), in a start-date
    /// range, oldest start first: 1 Query on an index per page.
    pub async fn list_course_runs(
        &self,
        params: &RunListParams,
    ) -> Result<ListPage<CourseRunView>, AppError> {
        let mut errors = ValidationErrors::default();
        let status = params.status.as_deref().and_then(|s| {
            RunStatus::parse(s)
                .map_err(|r| errors.push("status", r))
                .ok()
        });
        let active = match params.active.as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                errors.push("active", "must be true or false");
                false
            }
        };
        if active && status.is_some() {
            errors.push("active", "cannot be combined with status");
        }
        let date = |errors: &mut ValidationErrors, field: &str, v: Option<&str>| {
            v.and_then(|v| tms_domain::types::parse_date(errors, field, Some(v)))
        };
        let from: Option<NaiveDate> = date(&mut errors, "start_from", params.start_from.as_deref());
        let to: Option<NaiveDate> = date(&mut errors, "start_to", params.start_to.as_deref());
        if let (Some(f), Some(t)) = (from, to) {
            if t < f {
                errors.push("start_to", "must not be before start_from");
            }
        }
        let paging = parse_paging(params.limit.as_deref(), params.cursor.as_deref());
        let (limit, cursor) = match paging {
            Ok(p) => p,
            Err(AppError::Validation(v)) => {
                errors.0.extend(v.0);
                return Err(errors.into());
            }
            Err(e) => return Err(e),
        };
        if !errors.is_empty() {
            return Err(errors.into());
        }
        let (index, pk) = match (status, active) {
            (Some(s), _) => (Index::Gsi2, keys::runs_by_status(s.as_str())),
            (None, true) => (Index::Gsi3, keys::RUNS_ACTIVE.to_string()),
            (None, false) => (Index::Gsi1, keys::RUNS_ALL.to_string()),
        };
        let (lo, hi) = keys::run_listing_range(from, to);
        let query = Query {
            index: Some(index),
            pk,
            sk: SkCondition::Between(lo, hi),
            forward: true,
            limit,
            cursor,
        };
        self.list_page(&query, |item| {
            Ok(CourseRunView {
                run: decode(item, ENTITY_COURSE_RUN)?,
                version: item.version,
                sessions: None,
            })
        })
        .await
    }

    /// Updates a run's fields: 1 Query + 1 TransactWriteItems + 1 SendMessage.
    pub async fn update_course_run(
        &self,
        ctx: &RequestContext,
        id: &str,
        if_match: Option<u64>,
        patch: CourseRunPatch,
    ) -> Result<CourseRunView, AppError> {
        let expected = if_match.ok_or(AppError::PreconditionRequired)?;
        let part = self.read_run_partition(id).await?;
        if part.version != expected {
            return Err(AppError::PreconditionFailed);
        }
        let sessions: Vec<Session> = part.sessions.iter().map(|(s, _)| s.clone()).collect();
        let now = self.now();
        let updated = part.run.apply_patch(&patch, &sessions, now)?;
        let view = RunPartition {
            run: updated.clone(),
            version: expected + 1,
            sessions: part.sessions,
        }
        .view();
        let audit_view = CourseRunView {
            sessions: None,
            ..view.clone()
        };
        let change = self.run_change(
            ctx,
            &updated,
            expected,
            "course_run.updated",
            snapshot(&audit_view),
            JobType::CourseRunUpsert,
        )?;
        self.commit(ctx, change, None, |_| AppError::PreconditionFailed)
            .await?;
        Ok(view)
    }

    /// Cancels a run: 1 GetItem + 1 TransactWriteItems + 1 SendMessage.
    /// With an Idempotency-Key, a retry of a cancellation that succeeded
    /// gets the first response (not 412).
    pub async fn cancel_course_run(
        &self,
        ctx: &RequestContext,
        id: &str,
        if_match: Option<u64>,
        input: CancelInput,
        idem: Option<IdempotencyRequest>,
    ) -> Result<Idempotent<CourseRunView>, AppError> {
        let expected = if_match.ok_or(AppError::PreconditionRequired)?;
        let reason = input.parse()?;
        let (run, current) = self.read_run(id).await?;
        let cancelled = if current != expected {
            Err(AppError::PreconditionFailed)
        } else {
            run.cancel(reason, self.now()).map_err(AppError::from)
        };
        let cancelled = match cancelled {
            Ok(c) => c,
            Err(e) => {
                return match self.replay_or(ctx, idem.as_ref(), e).await? {
                    Committed::Replayed(body) => Ok(Idempotent::Replayed(body)),
                    Committed::Done => Err(AppError::Internal("replay without a response".into())),
                }
            }
        };
        let view = CourseRunView {
            run: cancelled.clone(),
            version: expected + 1,
            sessions: None,
        };
        let change = self.run_change(
            ctx,
            &cancelled,
            expected,
            "course_run.cancelled",
            snapshot(&view),
            JobType::CourseRunCancel,
        )?;
        let response = snapshot(&view);
        let committed = self
            .commit(ctx, change, idem.as_ref().map(|i| (i, &response)), |_| {
                AppError::PreconditionFailed
            })
            .await?;
        Ok(match committed {
            Committed::Done => Idempotent::New(view),
            Committed::Replayed(body) => Idempotent::Replayed(body),
        })
    }

    /// Adds a session to a run: 1 GetItem + 1 TransactWriteItems + 1
    /// SendMessage. The run's version goes up too: TPGateway must hear of
    /// the run's new schedule, and concurrent session edits serialize on it.
    pub async fn add_session(
        &self,
        ctx: &RequestContext,
        run_id: &str,
        input: SessionInput,
        idem: Option<IdempotencyRequest>,
    ) -> Result<Idempotent<SessionView>, AppError> {
        let mut errors = ValidationErrors::default();
        let fields = input.parse(&mut errors, "");
        let (run, run_version) = self.read_run(run_id).await?;
        let Some(fields) = fields else {
            return Err(errors.into());
        };
        fields.check_within(&run_fields(&run), &mut errors, "");
        if !errors.is_empty() {
            return Err(errors.into());
        }
        let now = self.now();
        let session = Session::create(self.ids.new_id(), run.id.clone(), fields, now);
        let view = SessionView {
            session: session.clone(),
            version: 1,
        };
        let mut change = self.session_change(ctx, &run, run_version, "session.added", &view)?;
        change.put_new(session_item(&session, 1)?);
        let response = snapshot(&view);
        let committed = self
            .commit(ctx, change, idem.as_ref().map(|i| (i, &response)), |_| {
                AppError::Conflict("the course run changed concurrently; retry".into())
            })
            .await?;
        Ok(match committed {
            Committed::Done => Idempotent::New(view),
            Committed::Replayed(body) => Idempotent::Replayed(body),
        })
    }

    /// Changes a session: 1 Query + 1 TransactWriteItems + 1 SendMessage.
    pub async fn update_session(
        &self,
        ctx: &RequestContext,
        run_id: &str,
        session_id: &str,
        if_match: Option<u64>,
        patch: SessionPatch,
    ) -> Result<SessionView, AppError> {
        let (part, session, expected) = self.read_session(run_id, session_id, if_match).await?;
        let updated = session.apply_patch(&patch, &part.run, self.now())?;
        let view = SessionView {
            session: updated.clone(),
            version: expected + 1,
        };
        let mut change =
            self.session_change(ctx, &part.run, part.version, "session.updated", &view)?;
        change.put_versioned(session_item(&updated, expected + 1)?, expected);
        self.commit(ctx, change, None, session_conflict).await?;
        Ok(view)
    }

    /// Removes a session: 1 Query + 1 TransactWriteItems + 1 SendMessage.
    pub async fn remove_session(
        &self,
        ctx: &RequestContext,
        run_id: &str,
        session_id: &str,
        if_match: Option<u64>,
    ) -> Result<(), AppError> {
        let (part, session, expected) = self.read_session(run_id, session_id, if_match).await?;
        let view = SessionView {
            session,
            version: expected,
        };
        let mut change =
            self.session_change(ctx, &part.run, part.version, "session.removed", &view)?;
        change.delete_versioned(keys::run_pk(run_id), keys::session_sk(session_id), expected);
        self.commit(ctx, change, None, session_conflict).await?;
        Ok(())
    }

    /// Reads a run's partition and one of its sessions, checking If-Match
    /// against the session's version.
    async fn read_session(
        &self,
        run_id: &str,
        session_id: &str,
        if_match: Option<u64>,
    ) -> Result<(RunPartition, Session, u64), AppError> {
        let expected = if_match.ok_or(AppError::PreconditionRequired)?;
        check_id(session_id, "session")?;
        let part = self.read_run_partition(run_id).await?;
        let (session, current) = part
            .session(session_id)
            .cloned()
            .ok_or(AppError::NotFound("session"))?;
        if current != expected {
            return Err(AppError::PreconditionFailed);
        }
        Ok((part, session, expected))
    }

    /// The change every edit of a run makes: the run at its next version
    /// (conditional on the version read; operation 0), its audit record and
    /// the sync job of that version.
    fn run_change(
        &self,
        ctx: &RequestContext,
        run: &CourseRun,
        expected: u64,
        action: &str,
        audit_snapshot: Value,
        job_type: JobType,
    ) -> Result<ChangeSet, AppError> {
        let now = run.updated_at;
        let version = expected + 1;
        let mut change = ChangeSet::default();
        change.put_versioned(run_item(run, version)?, expected);
        change.audit(&self.audit_record(
            ctx,
            ENTITY_COURSE_RUN,
            &run.id,
            action,
            audit_snapshot,
            now,
        ))?;
        change.job(self.sync_job(ctx, job_type, ENTITY_COURSE_RUN, &run.id, version, now))?;
        Ok(change)
    }

    /// A session change is a change of its run: the run goes back to pending
    /// at its next version (TPGateway takes sessions with the run), and the
    /// record goes on the run's audit trail, where a person investigating
    /// the run looks.
    fn session_change(
        &self,
        ctx: &RequestContext,
        run: &CourseRun,
        run_version: u64,
        action: &str,
        view: &SessionView,
    ) -> Result<ChangeSet, AppError> {
        let touched = run.touched(self.now())?;
        let audit_snapshot = serde_json::json!({
            "session": snapshot(view),
            "run_version": run_version + 1,
        });
        self.run_change(
            ctx,
            &touched,
            run_version,
            action,
            audit_snapshot,
            JobType::CourseRunUpsert,
        )
    }
}

/// Operation 0 of a session change is the run; any other failing condition
/// is the session's own version.
fn session_conflict(index: usize) -> AppError {
    if index == 0 {
        AppError::Conflict("the course run changed concurrently; retry".into())
    } else {
        AppError::PreconditionFailed
    }
}
