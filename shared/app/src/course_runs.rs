//! Use cases of course runs and their sessions.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tms_domain::access::{Action, Area, Ownership};
use tms_domain::course_run::{
    check_session_cap, CancelInput, CourseRun, CourseRunInput, RunStatus, Session, SessionInput,
};
use tms_domain::ids::{RunId, SessionId, TrainerId, TypedId};
use tms_domain::patch::MergePatch;
use tms_domain::sync::JobType;
use tms_domain::{AuditAction, EntityType, ValidationErrors};
use tms_ports::{Index, Item, Query, SkCondition};

use crate::context::{IdempotencyRequest, Idempotent, Precondition, RequestContext, Written};
use crate::error::AppError;
use crate::records::{decode, is, run_item, session_item};
use crate::write::{outcome, ChangeSet, OnConflict};
use crate::{keys, parse_paging, App, ListPage};

/// A session with its ETag version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SessionView {
    #[serde(flatten)]
    pub session: Session,
    pub version: u64,
}

impl SessionView {
    pub fn location(&self) -> String {
        format!(
            "/course-runs/{}/sessions/{}",
            self.session.course_run_id, self.session.id
        )
    }
}

/// A run with its version and, when read alone, its sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CourseRunView {
    #[serde(flatten)]
    pub run: CourseRun,
    pub version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions: Option<Vec<SessionView>>,
}

impl CourseRunView {
    pub fn location(&self) -> String {
        format!("/course-runs/{}", self.run.id)
    }
}

/// The filters of `GET /course-runs`, as given in the query string.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunListParams {
    #[schemars(with = "Option<tms_domain::course_run::RunStatus>")]
    pub status: Option<String>,
    /// `true`: only runs that are not cancelled (the sparse active index).
    #[schemars(with = "Option<bool>")]
    pub active: Option<String>,
    /// Runs starting on or after this day.
    #[schemars(extend("format" = "date"))]
    pub start_from: Option<String>,
    /// Runs starting on or before this day.
    #[schemars(extend("format" = "date"))]
    pub start_to: Option<String>,
    /// Items per page (default 20).
    #[schemars(with = "Option<u32>", range(min = 1, max = crate::MAX_PAGE_SIZE))]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// How many pages of a trainer's sessions their run list reads at most
/// (100 sessions a page).
const MAX_OWN_SESSION_PAGES: usize = 20;

/// Whether the actor may read `area` only where it is their own: lists
/// are then filtered to their own things.
pub(crate) fn only_own(ctx: &RequestContext, area: Area) -> bool {
    use tms_domain::access::{decide, Decision};
    decide(&ctx.actor.roles, area, Action::Read, Ownership::NotOwn) == Decision::Hide
}

/// The run and its sessions as read from the run's partition.
pub(crate) struct RunPartition {
    pub run: CourseRun,
    pub version: u64,
    pub sessions: Vec<(Session, u64)>,
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
            let key = |s: &SessionView| {
                (
                    s.session.fields.session_date,
                    s.session.fields.start_time,
                    s.session.id.clone(),
                )
            };
            key(a).cmp(&key(b))
        });
        CourseRunView {
            run: self.run.clone(),
            version: self.version,
            sessions: Some(sessions),
        }
    }

    pub(crate) fn session(&self, id: &SessionId) -> Option<&(Session, u64)> {
        self.sessions.iter().find(|(s, _)| s.id == *id)
    }

    pub(crate) fn sessions(&self) -> Vec<Session> {
        self.sessions.iter().map(|(s, _)| s.clone()).collect()
    }
}

impl App {
    /// Reads a run with its sessions: one Query of the run's partition (more
    /// only for a run whose sessions exceed one page of 1 MB).
    pub(crate) async fn read_run_partition(&self, id: &RunId) -> Result<RunPartition, AppError> {
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
            if is::<CourseRun>(item) {
                run = Some((decode::<CourseRun>(item)?, item.version));
            } else if is::<Session>(item) {
                sessions.push((decode::<Session>(item)?, item.version));
            }
        }
        let (run, version) = run.ok_or(AppError::NotFound("course run"))?;
        Ok(RunPartition {
            run,
            version,
            sessions,
        })
    }

    /// Reads the run item alone: one GetItem.
    pub(crate) async fn read_run(&self, id: &RunId) -> Result<(CourseRun, u64), AppError> {
        let item = self
            .store
            .get(&keys::run_pk(id), &keys::run_sk(id))
            .await?
            .ok_or(AppError::NotFound("course run"))?;
        Ok((decode(&item)?, item.version))
    }

    fn new_id<T: TypedId>(&self) -> Result<T, AppError> {
        T::parse(&self.ids.new_id())
            .map_err(|_| AppError::Internal(format!("the id generator made a bad {} id", T::WHAT)))
    }

    /// Creates a run with its sessions: 1 TransactWriteItems + 1 SendMessage.
    pub async fn create_course_run(
        &self,
        ctx: &RequestContext,
        input: CourseRunInput,
        idem: Option<IdempotencyRequest>,
    ) -> Result<Idempotent, AppError> {
        self.authorize(ctx, Area::CourseRuns, Action::Write, "course run")?;
        let parsed = self
            .replay_or(ctx, idem.as_ref(), input.parse().map_err(AppError::from))
            .await?;
        let (fields, session_fields) = match parsed {
            Ok(p) => p,
            Err(first) => return Ok(Idempotent::Replayed(first)),
        };
        let named: Vec<(String, &TrainerId)> = session_fields
            .iter()
            .enumerate()
            .filter_map(|(i, f)| {
                f.trainer_id
                    .as_ref()
                    .map(|t| (format!("sessions[{i}].trainer_id"), t))
            })
            .collect();
        self.check_trainers(&named).await?;
        let now = self.now();
        let run = CourseRun::create(self.new_id()?, fields, now);
        let mut sessions = Vec::with_capacity(session_fields.len());
        for f in session_fields {
            sessions.push(Session::create(self.new_id()?, run.id.clone(), f, now));
        }
        let mut change = ChangeSet::default();
        change.put_new(run_item(&run, 1)?, OnConflict::Exists("course run"));
        for s in &sessions {
            change.put_new(session_item(s, 1)?, OnConflict::Exists("session"));
        }
        let view = RunPartition {
            run,
            version: 1,
            sessions: sessions.into_iter().map(|s| (s, 1)).collect(),
        }
        .view();
        let response = Written::of(&view, 1, Some(view.location()))?;
        let run = &view.run;
        change.audit(&self.audit_record(
            ctx,
            EntityType::CourseRun,
            run.id.as_str(),
            AuditAction::CourseRunCreated,
            response.body.clone(),
            now,
        ))?;
        change.job(self.sync_job(
            ctx,
            JobType::CourseRunUpsert,
            EntityType::CourseRun,
            run.id.as_str(),
            1,
            now,
        ))?;
        let committed = self
            .commit(ctx, change, idem.as_ref().map(|i| (i, &response)))
            .await?;
        if matches!(committed, crate::write::Committed::Done) {
            tracing::info!(run_id = %run.id, sessions = view.sessions.as_ref().map_or(0, Vec::len), "course run created");
        }
        Ok(outcome(committed, response))
    }

    /// Reads a run with its sessions: 1 Query (+1 GetItem for a Trainer:
    /// their trainer, to tell whether the run is theirs).
    pub async fn get_course_run(
        &self,
        ctx: &RequestContext,
        id: &RunId,
    ) -> Result<CourseRunView, AppError> {
        let part = self.read_run_partition(id).await?;
        let ownership = self.run_ownership(ctx, &part).await?;
        self.authorize_owned(ctx, Area::CourseRuns, Action::Read, ownership, "course run")?;
        Ok(part.view())
    }

    /// Whether the run is the acting trainer's: one of its sessions is
    /// assigned to the trainer linked to the user. Only asked when the
    /// actor's roles grant runs "own" only.
    async fn run_ownership(
        &self,
        ctx: &RequestContext,
        part: &RunPartition,
    ) -> Result<Ownership, AppError> {
        if !only_own(ctx, Area::CourseRuns) {
            return Ok(Ownership::NotApplicable);
        }
        let Some(mine) = self.actor_trainer(ctx).await? else {
            return Ok(Ownership::NotOwn);
        };
        let own = part
            .sessions
            .iter()
            .any(|(s, _)| s.fields.trainer_id.as_ref() == Some(&mine));
        Ok(if own {
            Ownership::Own
        } else {
            Ownership::NotOwn
        })
    }

    /// The ids of the runs of the acting trainer's sessions (GSI1
    /// `TRAINER#<id>`), in the order of their first session; none for a
    /// user who is no trainer.
    pub(crate) async fn own_run_ids(&self, ctx: &RequestContext) -> Result<Vec<RunId>, AppError> {
        let Some(mine) = self.actor_trainer(ctx).await? else {
            return Ok(Vec::new());
        };
        let mut query = Query {
            index: Some(Index::Gsi1),
            pk: keys::trainer_sessions_pk(&mine),
            sk: SkCondition::Any,
            forward: true,
            limit: tms_ports::store::MAX_PAGE_SIZE,
            cursor: None,
        };
        let mut run_ids: Vec<RunId> = Vec::new();
        for _ in 0..MAX_OWN_SESSION_PAGES {
            let page = self.store.query(&query).await?;
            for item in &page.items {
                let s: Session = decode(item)?;
                if !run_ids.contains(&s.course_run_id) {
                    run_ids.push(s.course_run_id);
                }
            }
            match page.next {
                Some(c) => query.cursor = Some(c),
                None => break,
            }
        }
        Ok(run_ids)
    }

    /// The runs of the acting trainer's sessions (GSI1 `TRAINER#<id>`, then
    /// the runs), filtered as the list asks, by start date, in one page.
    async fn own_runs(
        &self,
        ctx: &RequestContext,
        filter: impl Fn(&CourseRun) -> bool,
    ) -> Result<ListPage<CourseRunView>, AppError> {
        let run_ids = self.own_run_ids(ctx).await?;
        let mut items = Vec::new();
        for id in &run_ids {
            let (run, version) = match self.read_run(id).await {
                Ok(r) => r,
                Err(AppError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            if filter(&run) {
                items.push(CourseRunView {
                    run,
                    version,
                    sessions: None,
                });
            }
        }
        items.sort_by(|a, b| {
            (a.run.fields.start_date, a.run.id.as_str())
                .cmp(&(b.run.fields.start_date, b.run.id.as_str()))
        });
        Ok(ListPage {
            items,
            next_cursor: None,
        })
    }

    /// Lists runs, by status or all (or only the active ones), in a start-date
    /// range, oldest start first: 1 Query on an index per page. Every
    /// problem with the parameters is a 400 naming the parameter.
    pub async fn list_course_runs(
        &self,
        ctx: &RequestContext,
        params: &RunListParams,
    ) -> Result<ListPage<CourseRunView>, AppError> {
        self.authorize(ctx, Area::CourseRuns, Action::Read, "course run")?;
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
            Err(AppError::InvalidQuery(v)) => {
                errors.0.extend(v.0);
                (1, None)
            }
            Err(e) => return Err(e),
        };
        if !errors.is_empty() {
            return Err(AppError::InvalidQuery(errors));
        }
        if cursor
            .as_ref()
            .is_some_and(|c| !keys::is_run_listing_cursor(c))
        {
            return Err(AppError::InvalidCursor);
        }
        if only_own(ctx, Area::CourseRuns) {
            // A trainer sees the runs of their own sessions.
            return self
                .own_runs(ctx, |r| {
                    status.is_none_or(|s| r.status == s)
                        && (!active || r.status.is_active())
                        && from.is_none_or(|f| r.fields.start_date >= f)
                        && to.is_none_or(|t| r.fields.start_date <= t)
                })
                .await;
        }
        let (index, pk) = match (status, active) {
            (Some(s), _) => (Index::Gsi2, keys::runs_by_status(s)),
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
                run: decode(item)?,
                version: item.version,
                sessions: None,
            })
        })
        .await
    }

    /// Updates a run's fields by a JSON merge patch: 1 Query + 1
    /// TransactWriteItems + 1 SendMessage.
    pub async fn update_course_run(
        &self,
        ctx: &RequestContext,
        id: &RunId,
        if_match: Option<Precondition>,
        patch: MergePatch,
    ) -> Result<Written, AppError> {
        self.authorize(ctx, Area::CourseRuns, Action::Write, "course run")?;
        if if_match.is_none() {
            return Err(AppError::PreconditionRequired);
        }
        let part = self.read_run_partition(id).await?;
        let expected = Precondition::check(if_match.as_ref(), part.version)?;
        let updated = part.run.apply_patch(&patch, &part.sessions(), self.now())?;
        let view = CourseRunView {
            run: updated,
            version: expected + 1,
            sessions: None,
        };
        let response = Written::of(&view, expected + 1, None)?;
        let change = self.run_change(
            ctx,
            &view.run,
            expected,
            AuditAction::CourseRunUpdated,
            response.body.clone(),
            JobType::CourseRunUpsert,
            OnConflict::against(if_match.as_ref(), "course run"),
        )?;
        self.commit(ctx, change, None).await?;
        // The answer carries the sessions, as a GET does.
        let full = RunPartition {
            run: view.run,
            version: view.version,
            sessions: part.sessions,
        }
        .view();
        Written::of(&full, full.version, None)
    }

    /// Cancels a run: 1 GetItem + 1 TransactWriteItems + 1 SendMessage.
    /// With an Idempotency-Key, a retry of a cancellation that succeeded
    /// gets the first response (not 412).
    pub async fn cancel_course_run(
        &self,
        ctx: &RequestContext,
        id: &RunId,
        if_match: Option<Precondition>,
        input: CancelInput,
        idem: Option<IdempotencyRequest>,
    ) -> Result<Idempotent, AppError> {
        self.authorize(ctx, Area::CourseRuns, Action::Write, "course run")?;
        let on_conflict = OnConflict::against(if_match.as_ref(), "course run");
        let attempt = async {
            if if_match.is_none() {
                return Err(AppError::PreconditionRequired);
            }
            let reason = input.parse()?;
            let (run, current) = self.read_run(id).await?;
            let expected = Precondition::check(if_match.as_ref(), current)?;
            Ok((run.cancel(reason, self.now())?, expected))
        }
        .await;
        let (cancelled, expected) = match self.replay_or(ctx, idem.as_ref(), attempt).await? {
            Ok(c) => c,
            Err(first) => return Ok(Idempotent::Replayed(first)),
        };
        let view = CourseRunView {
            run: cancelled,
            version: expected + 1,
            sessions: None,
        };
        let response = Written::of(&view, expected + 1, None)?;
        let change = self.run_change(
            ctx,
            &view.run,
            expected,
            AuditAction::CourseRunCancelled,
            response.body.clone(),
            JobType::CourseRunCancel,
            on_conflict,
        )?;
        let committed = self
            .commit(ctx, change, idem.as_ref().map(|i| (i, &response)))
            .await?;
        Ok(outcome(committed, response))
    }

    /// Adds a session to a run: 1 Query + 1 TransactWriteItems + 1
    /// SendMessage. The run's version goes up too: TPGateway must hear of
    /// the run's new schedule, and concurrent session edits serialize on it.
    pub async fn add_session(
        &self,
        ctx: &RequestContext,
        run_id: &RunId,
        input: SessionInput,
        idem: Option<IdempotencyRequest>,
    ) -> Result<Idempotent, AppError> {
        self.authorize(ctx, Area::CourseRuns, Action::Write, "course run")?;
        let attempt = async {
            let mut errors = ValidationErrors::default();
            let fields = input.parse(&mut errors, "");
            let part = self.read_run_partition(run_id).await?;
            let Some(fields) = fields else {
                return Err(errors.into());
            };
            check_session_cap(part.sessions.len())?;
            fields.check_within(&part.run.fields, &mut errors, "");
            fields.check_no_overlap(part.sessions.iter().map(|(s, _)| s), &mut errors);
            errors.into_result((part, fields)).map_err(AppError::from)
        }
        .await;
        let (part, fields) = match self.replay_or(ctx, idem.as_ref(), attempt).await? {
            Ok(v) => v,
            Err(first) => return Ok(Idempotent::Replayed(first)),
        };
        if let Some(t) = &fields.trainer_id {
            self.check_trainers(&[("trainer_id".to_string(), t)])
                .await?;
        }
        let now = self.now();
        let session = Session::create(self.new_id()?, run_id.clone(), fields, now);
        let view = SessionView {
            session,
            version: 1,
        };
        let response = Written::of(&view, 1, Some(view.location()))?;
        let mut change = self.session_change(
            ctx,
            &part.run,
            part.version,
            AuditAction::SessionAdded,
            &response,
        )?;
        change.put_new(
            session_item(&view.session, 1)?,
            OnConflict::Exists("session"),
        );
        let committed = self
            .commit(ctx, change, idem.as_ref().map(|i| (i, &response)))
            .await?;
        Ok(outcome(committed, response))
    }

    /// Changes a session by a JSON merge patch: 1 Query + 1
    /// TransactWriteItems + 1 SendMessage.
    pub async fn update_session(
        &self,
        ctx: &RequestContext,
        run_id: &RunId,
        session_id: &SessionId,
        if_match: Option<Precondition>,
        patch: MergePatch,
    ) -> Result<Written, AppError> {
        self.authorize(ctx, Area::CourseRuns, Action::Write, "course run")?;
        let on_conflict = OnConflict::against(if_match.as_ref(), "session");
        let (part, session, expected) = self.read_session(run_id, session_id, if_match).await?;
        let updated = session.apply_patch(&patch, &part.run, &part.sessions(), self.now())?;
        if let Some(t) = updated
            .fields
            .trainer_id
            .as_ref()
            .filter(|t| session.fields.trainer_id.as_ref() != Some(*t))
        {
            self.check_trainers(&[("trainer_id".to_string(), t)])
                .await?;
        }
        let view = SessionView {
            session: updated,
            version: expected + 1,
        };
        let response = Written::of(&view, expected + 1, None)?;
        let mut change = self.session_change(
            ctx,
            &part.run,
            part.version,
            AuditAction::SessionUpdated,
            &response,
        )?;
        change.put_versioned(
            session_item(&view.session, expected + 1)?,
            expected,
            on_conflict,
        );
        self.commit(ctx, change, None).await?;
        Ok(response)
    }

    /// Removes a session: 1 Query + 1 TransactWriteItems + 1 SendMessage.
    pub async fn remove_session(
        &self,
        ctx: &RequestContext,
        run_id: &RunId,
        session_id: &SessionId,
        if_match: Option<Precondition>,
    ) -> Result<(), AppError> {
        self.authorize(ctx, Area::CourseRuns, Action::Write, "course run")?;
        let on_conflict = OnConflict::against(if_match.as_ref(), "session");
        let (part, session, expected) = self.read_session(run_id, session_id, if_match).await?;
        // Attendance is kept: a session with any recorded is not removed
        // (1 GetItem: the session's attendance sheet exists once any row
        // does).
        let sheet_pk = keys::attendance_pk(session_id);
        if self
            .store
            .get(&sheet_pk, keys::ATTENDANCE_SHEET_SK)
            .await?
            .is_some()
        {
            return Err(AppError::Conflict(
                "the session has attendance recorded: it cannot be removed".into(),
            ));
        }
        let view = SessionView {
            session,
            version: expected,
        };
        let snapshot = Written::of(&view, expected, None)?;
        let mut change = self.session_change(
            ctx,
            &part.run,
            part.version,
            AuditAction::SessionRemoved,
            &snapshot,
        )?;
        change.delete_versioned(
            keys::run_pk(run_id),
            keys::session_sk(session_id),
            expected,
            on_conflict,
        );
        self.commit(ctx, change, None).await?;
        Ok(())
    }

    /// Reads a run's partition and one of its sessions, checking If-Match
    /// against the session's version.
    async fn read_session(
        &self,
        run_id: &RunId,
        session_id: &SessionId,
        if_match: Option<Precondition>,
    ) -> Result<(RunPartition, Session, u64), AppError> {
        if if_match.is_none() {
            return Err(AppError::PreconditionRequired);
        }
        let part = self.read_run_partition(run_id).await?;
        let (session, current) = part
            .session(session_id)
            .cloned()
            .ok_or(AppError::NotFound("session"))?;
        let expected = Precondition::check(if_match.as_ref(), current)?;
        Ok((part, session, expected))
    }

    /// The change every edit of a run makes: the run at its next version
    /// (conditional on the version read, failing as `on_conflict` says), its
    /// audit record and the sync job of that version.
    #[allow(clippy::too_many_arguments)]
    fn run_change(
        &self,
        ctx: &RequestContext,
        run: &CourseRun,
        expected: u64,
        action: AuditAction,
        audit_snapshot: Value,
        job_type: JobType,
        on_conflict: OnConflict,
    ) -> Result<ChangeSet, AppError> {
        let now = run.updated_at;
        let version = expected + 1;
        let mut change = ChangeSet::default();
        change.put_versioned(run_item(run, version)?, expected, on_conflict);
        change.audit(&self.audit_record(
            ctx,
            EntityType::CourseRun,
            run.id.as_str(),
            action,
            audit_snapshot,
            now,
        ))?;
        change.job(self.sync_job(
            ctx,
            job_type,
            EntityType::CourseRun,
            run.id.as_str(),
            version,
            now,
        ))?;
        Ok(change)
    }

    /// A session change is a change of its run: the run goes back to pending
    /// at its next version (TPGateway takes sessions with the run), and the
    /// record goes on the run's audit trail, where a person investigating
    /// the run looks. The run's version was read by this request, not given
    /// by the client: when it moved on, the request is retried (409,
    /// retryable), not refused as stale.
    fn session_change(
        &self,
        ctx: &RequestContext,
        run: &CourseRun,
        run_version: u64,
        action: AuditAction,
        session: &Written,
    ) -> Result<ChangeSet, AppError> {
        let touched = run.touched(self.now())?;
        let audit_snapshot = serde_json::json!({
            "session": session.body,
            "run_version": run_version + 1,
        });
        self.run_change(
            ctx,
            &touched,
            run_version,
            action,
            audit_snapshot,
            JobType::CourseRunUpsert,
            OnConflict::Moved("course run"),
        )
    }
}
