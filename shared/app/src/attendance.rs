//! Attendance: one record per (session, enrolment), in the session's own
//! partition (`SESSION#<session id>`), with the session's sheet beside the
//! rows (sign-off, and the version that is the ETag of the session's
//! attendance).
//!
//! - A whole session is recorded in one transaction: every changed row, the
//!   sheet, ONE audit record for the batch, and (once signed off) ONE sync
//!   job: at most [`MAX_ROWS_PER_REQUEST`] rows, 413 beyond.
//! - One row can be changed on its own.
//! - Sign-off (the session's trainer, Admin or Ops Admin) sets
//!   `signed_off_at` and queues the upload; after it, only Admin and Ops
//!   Admin may change a row, and each change is audited and uploaded.
//!
//! The rows' session and enrolments are checked by the reads just before
//! the write (a 97-row batch has no room for 97 ConditionChecks); the
//! worker checks both again before it sends anything.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tms_domain::access::{decide, Action, Area, Decision, Ownership};
use tms_domain::attendance::{
    AttendanceRecord, Mark, MarkInput, RowSubject, RowSyncStatus, Sheet, SheetInput, SheetRefused,
    MAX_ROWS_PER_REQUEST,
};
use tms_domain::course_run::{RunStatus, Session};
use tms_domain::enrolment::Enrolment;
use tms_domain::ids::{EnrolmentId, RunId, SessionId, TraineeId};
use tms_domain::sync::JobType;
use tms_domain::{AuditAction, EntityType, ValidationErrors};
use tms_ports::{Index, Query, SkCondition};

use crate::context::{IdempotencyRequest, Idempotent, Precondition, RequestContext, Written};
use crate::course_runs::only_own;
use crate::error::AppError;
use crate::records::{attendance_item, attendance_sheet_item, decode, is};
use crate::write::{outcome, ChangeSet, OnConflict};
use crate::{keys, App};

/// One row as answered: the record, where it stands with TPGateway, and
/// its own version (the ETag of `PUT /sessions/{id}/attendance/{enrolment_id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AttendanceRowView {
    #[serde(flatten)]
    pub record: AttendanceRecord,
    pub sync_status: RowSyncStatus,
    /// When the session's attendance was signed off.
    pub signed_off_at: Option<DateTime<Utc>>,
    pub version: u64,
}

/// A session's attendance: the sheet and every row. `version` is the
/// sheet's (0 while nothing is recorded), the ETag that
/// `PUT /sessions/{id}/attendance` and the sign-off take in If-Match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AttendanceSheetView {
    pub session_id: SessionId,
    pub course_run_id: RunId,
    pub session_date: NaiveDate,
    pub signed_off_at: Option<DateTime<Utc>>,
    pub signed_off_by: Option<String>,
    pub rows: Vec<AttendanceRowView>,
    pub version: u64,
}

/// A session's attendance as read: the sheet (when anything was recorded)
/// and the rows, each with its version.
pub(crate) struct SheetRead {
    pub sheet: Option<(Sheet, u64)>,
    pub rows: Vec<(AttendanceRecord, u64)>,
}

impl SheetRead {
    fn version(&self) -> u64 {
        self.sheet.as_ref().map_or(0, |(_, v)| *v)
    }

    fn signed_off(&self) -> Option<DateTime<Utc>> {
        self.sheet.as_ref().and_then(|(s, _)| s.signed_off_at)
    }

    fn row(&self, id: &EnrolmentId) -> Option<&(AttendanceRecord, u64)> {
        self.rows.iter().find(|(r, _)| &r.enrolment_id == id)
    }

    /// The sheet as a write of rows leaves it: the one read, updated at
    /// `now`, or a new one for `session`.
    fn sheet_written(&self, session: &Session, now: DateTime<Utc>) -> Sheet {
        match &self.sheet {
            Some((s, _)) => Sheet {
                updated_at: now,
                ..s.clone()
            },
            None => Sheet::new(
                session.id.clone(),
                session.course_run_id.clone(),
                session.fields.session_date,
                now,
            ),
        }
    }
}

fn row_view(
    r: AttendanceRecord,
    version: u64,
    signed_off_at: Option<DateTime<Utc>>,
) -> AttendanceRowView {
    AttendanceRowView {
        sync_status: r.sync_status(signed_off_at.is_some()),
        record: r,
        signed_off_at,
        version,
    }
}

fn sheet_view(
    session: &Session,
    sheet: Option<&Sheet>,
    version: u64,
    mut rows: Vec<(AttendanceRecord, u64)>,
) -> AttendanceSheetView {
    let signed_off_at = sheet.and_then(|s| s.signed_off_at);
    rows.sort_by(|a, b| a.0.enrolment_id.as_str().cmp(b.0.enrolment_id.as_str()));
    AttendanceSheetView {
        session_id: session.id.clone(),
        course_run_id: session.course_run_id.clone(),
        session_date: session.fields.session_date,
        signed_off_at,
        signed_off_by: sheet.and_then(|s| s.signed_off_by.clone()),
        rows: rows
            .into_iter()
            .map(|(r, v)| row_view(r, v, signed_off_at))
            .collect(),
        version,
    }
}

impl App {
    /// A session by its id alone: 1 Query of GSI2 (`SESSION#<id>`).
    pub(crate) async fn find_session(&self, id: &SessionId) -> Result<(Session, u64), AppError> {
        let query = Query {
            index: Some(Index::Gsi2),
            pk: keys::session_lookup_pk(id),
            sk: SkCondition::Any,
            forward: true,
            limit: 1,
            cursor: None,
        };
        let page = self.store.query(&query).await?;
        let item = page.items.first().ok_or(AppError::NotFound("session"))?;
        Ok((decode(item)?, item.version))
    }

    /// The session's sheet and rows: 1 Query per 100 items.
    pub(crate) async fn read_attendance(&self, id: &SessionId) -> Result<SheetRead, AppError> {
        let mut query = Query {
            index: None,
            pk: keys::attendance_pk(id),
            sk: SkCondition::BeginsWith(keys::ATTENDANCE_PREFIX.into()),
            forward: true,
            limit: tms_ports::store::MAX_PAGE_SIZE,
            cursor: None,
        };
        let mut out = SheetRead {
            sheet: None,
            rows: Vec::new(),
        };
        loop {
            let page = self.store.query(&query).await?;
            for item in &page.items {
                if is::<Sheet>(item) {
                    out.sheet = Some((decode(item)?, item.version));
                } else {
                    out.rows.push((decode(item)?, item.version));
                }
            }
            match page.next {
                Some(c) => query.cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    /// For a Trainer: whether the session is theirs (they teach it).
    async fn session_ownership(
        &self,
        ctx: &RequestContext,
        session: &Session,
    ) -> Result<Ownership, AppError> {
        if !only_own(ctx, Area::Attendance) {
            return Ok(Ownership::NotApplicable);
        }
        let mine = self.actor_trainer(ctx).await?;
        Ok(match (&mine, &session.fields.trainer_id) {
            (Some(me), Some(t)) if me == t => Ownership::Own,
            _ => Ownership::NotOwn,
        })
    }

    /// Whether the acting user may change any session's attendance (Admin,
    /// Ops Admin): after sign-off, only they may.
    fn manages_attendance(ctx: &RequestContext) -> bool {
        decide(
            &ctx.actor.roles,
            Area::Attendance,
            Action::Write,
            Ownership::NotOwn,
        ) == Decision::Allow
    }

    /// The session, checked for the acting user (another trainer's session
    /// is not found), and its run, which must not be cancelled for a write.
    async fn attendance_session(
        &self,
        ctx: &RequestContext,
        id: &SessionId,
        action: Action,
    ) -> Result<Session, AppError> {
        self.authorize_owned(ctx, Area::Attendance, action, Ownership::Own, "session")?;
        let (session, _) = self.find_session(id).await?;
        let ownership = self.session_ownership(ctx, &session).await?;
        self.authorize_owned(ctx, Area::Attendance, action, ownership, "session")?;
        Ok(session)
    }

    async fn writable_run(&self, session: &Session) -> Result<(), AppError> {
        let (run, _) = self.read_run(&session.course_run_id).await?;
        if run.status == RunStatus::Cancelled {
            return Err(AppError::Conflict(
                "the course run is cancelled: its attendance cannot change".into(),
            ));
        }
        Ok(())
    }

    /// The run's active enrolments, by id, with their trainees: 1 Query of
    /// GSI3 per 100.
    async fn active_enrolments(
        &self,
        run: &RunId,
    ) -> Result<HashMap<EnrolmentId, TraineeId>, AppError> {
        let mut query = Query {
            index: Some(Index::Gsi3),
            pk: keys::run_active_enrolments_pk(run),
            sk: SkCondition::Any,
            forward: true,
            limit: tms_ports::store::MAX_PAGE_SIZE,
            cursor: None,
        };
        let mut out = HashMap::new();
        loop {
            let page = self.store.query(&query).await?;
            for item in &page.items {
                let e: Enrolment = decode(item)?;
                out.insert(e.id, e.trainee_id);
            }
            match page.next {
                Some(c) => query.cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    /// `GET /sessions/{id}/attendance`: 1 Query (GSI2, the session) + 1
    /// Query (the sheet and rows) [+ 1 GetItem for a Trainer, to know
    /// which trainer they are].
    pub async fn get_attendance(
        &self,
        ctx: &RequestContext,
        id: &SessionId,
    ) -> Result<AttendanceSheetView, AppError> {
        let session = self.attendance_session(ctx, id, Action::Read).await?;
        let read = self.read_attendance(id).await?;
        let version = read.version();
        let sheet = read.sheet.map(|(s, _)| s);
        Ok(sheet_view(&session, sheet.as_ref(), version, read.rows))
    }

    /// `PUT /sessions/{id}/attendance`: the rows named, in ONE transaction
    /// (each changed row, the sheet, one audit record, and once signed off
    /// one sync job), all or nothing. Rows not named are left as they are;
    /// a row that already says what is asked is not written.
    ///
    /// If-Match: the sheet's version (`"0"` before anything is recorded).
    /// Calls: Query GSI2 (session), GetItem (run), Query (sheet
    /// and rows), Query GSI3 (the run's active enrolments, which the rows
    /// must name), [GetItem trainer link for a Trainer], 1
    /// TransactWriteItems, [1 SendMessage once signed off]: the reads are
    /// the checks a 97-row transaction has no room for.
    pub async fn record_attendance(
        &self,
        ctx: &RequestContext,
        id: &SessionId,
        if_match: Option<Precondition>,
        input: SheetInput,
    ) -> Result<Written, AppError> {
        self.authorize_owned(
            ctx,
            Area::Attendance,
            Action::Write,
            Ownership::Own,
            "session",
        )?;
        let marks = input.parse().map_err(|e| match e {
            SheetRefused::TooManyRows { given } => AppError::TooManyRows {
                field: "rows",
                limit: MAX_ROWS_PER_REQUEST,
                given,
            },
            SheetRefused::Invalid(v) => AppError::Validation(v),
        })?;
        let session = self.attendance_session(ctx, id, Action::Write).await?;
        self.writable_run(&session).await?;
        let read = self.read_attendance(id).await?;
        let expected = Precondition::check(if_match.as_ref(), read.version())?;
        let signed_off = read.signed_off().is_some();
        if signed_off && !Self::manages_attendance(ctx) {
            return Err(AppError::Forbidden(
                "the session's attendance is signed off: only Admin or Ops Admin may change it",
            ));
        }
        let active = self.active_enrolments(&session.course_run_id).await?;
        let mut errors = ValidationErrors::default();
        for (i, m) in marks.iter().enumerate() {
            if !active.contains_key(&m.enrolment_id) {
                errors.push(
                    format!("rows[{i}].enrolment_id"),
                    "is not an active enrolment of the session's course run",
                );
            }
        }
        if !errors.is_empty() {
            return Err(errors.into());
        }
        let now = self.now();
        let by = ctx.actor.user_id.as_str();
        let mut changed: Vec<(AttendanceRecord, u64, Option<u64>)> = Vec::new();
        for m in &marks {
            match read.row(&m.enrolment_id) {
                Some((r, v)) => {
                    if let Some(next) = r.marked(&m.mark, by, now) {
                        changed.push((next, v + 1, Some(*v)));
                    }
                }
                None => {
                    let Some(trainee_id) = active.get(&m.enrolment_id) else {
                        continue;
                    };
                    let subject = RowSubject {
                        session_id: session.id.clone(),
                        course_run_id: session.course_run_id.clone(),
                        session_date: session.fields.session_date,
                        enrolment_id: m.enrolment_id.clone(),
                        trainee_id: trainee_id.clone(),
                    };
                    changed.push((
                        AttendanceRecord::new(subject, m.mark.clone(), by, now),
                        1,
                        None,
                    ));
                }
            }
        }
        let mut rows: Vec<(AttendanceRecord, u64)> = read
            .rows
            .iter()
            .filter(|(r, _)| {
                !changed
                    .iter()
                    .any(|(c, _, _)| c.enrolment_id == r.enrolment_id)
            })
            .cloned()
            .collect();
        rows.extend(changed.iter().map(|(r, v, _)| (r.clone(), *v)));
        if changed.is_empty() {
            // Nothing to change: the sheet as it is.
            let sheet = read.sheet.as_ref().map(|(s, _)| s);
            let view = sheet_view(&session, sheet, expected, rows);
            return Written::of(&view, expected, None);
        }
        let sheet = read.sheet_written(&session, now);
        let version = expected + 1;
        let view = sheet_view(&session, Some(&sheet), version, rows);
        let response = Written::of(&view, version, None)?;
        let mut change = ChangeSet::default();
        for (r, v, before) in &changed {
            match before {
                Some(b) => change.put_versioned(
                    attendance_item(r, *v)?,
                    *b,
                    OnConflict::Moved("attendance row"),
                ),
                None => {
                    change.put_new(attendance_item(r, *v)?, OnConflict::Moved("attendance row"))
                }
            }
        }
        self.put_sheet(&mut change, &sheet, expected, if_match.as_ref())?;
        let snapshot = json!({
            "version": version,
            "signed_off": signed_off,
            "rows": changed.iter().map(|(r, _, _)| json!({
                "enrolment_id": r.enrolment_id, "status": r.status,
                "reason": r.reason, "revision": r.revision,
            })).collect::<Vec<_>>(),
        });
        change.audit(&self.audit_record(
            ctx,
            EntityType::SessionAttendance,
            id.as_str(),
            AuditAction::AttendanceRecorded,
            snapshot,
            now,
        ))?;
        if signed_off {
            change.job(self.attendance_job(ctx, id, version, now))?;
        }
        self.commit(ctx, change, None).await?;
        Ok(response)
    }

    /// `PUT /sessions/{id}/attendance/{enrolment_id}`: one row. If-Match:
    /// the row's version (`"0"` for a row not recorded yet). One transaction: the
    /// row, the sheet (its version moves on, so the sheet's ETag covers
    /// every row), the audit record, and once signed off the sync job.
    /// Calls: Query GSI2, GetItem run, Query sheet and rows, GetItem
    /// enrolment, [GetItem trainer link], 1 TransactWriteItems, [1
    /// SendMessage].
    pub async fn mark_attendance(
        &self,
        ctx: &RequestContext,
        id: &SessionId,
        enrolment_id: &EnrolmentId,
        if_match: Option<Precondition>,
        input: MarkInput,
    ) -> Result<Written, AppError> {
        self.authorize_owned(
            ctx,
            Area::Attendance,
            Action::Write,
            Ownership::Own,
            "session",
        )?;
        let mark: Mark = input.parse()?;
        let session = self.attendance_session(ctx, id, Action::Write).await?;
        self.writable_run(&session).await?;
        let read = self.read_attendance(id).await?;
        let signed_off = read.signed_off().is_some();
        if signed_off && !Self::manages_attendance(ctx) {
            return Err(AppError::Forbidden(
                "the session's attendance is signed off: only Admin or Ops Admin may change it",
            ));
        }
        let (enrolment, _) = self.read_enrolment(enrolment_id).await?;
        if enrolment.course_run_id != session.course_run_id || !enrolment.status.is_active() {
            return Err(AppError::NotFound(
                "active enrolment of the session's course run",
            ));
        }
        let now = self.now();
        let by = ctx.actor.user_id.as_str();
        let (next, before) = match read.row(enrolment_id) {
            Some((r, v)) => {
                let expected = Precondition::check(if_match.as_ref(), *v)?;
                match r.marked(&mark, by, now) {
                    Some(n) => (n, Some(expected)),
                    None => {
                        let view = row_view(r.clone(), *v, read.signed_off());
                        return Written::of(&view, *v, None);
                    }
                }
            }
            None => {
                Precondition::check(if_match.as_ref(), 0)?;
                let subject = RowSubject {
                    session_id: session.id.clone(),
                    course_run_id: session.course_run_id.clone(),
                    session_date: session.fields.session_date,
                    enrolment_id: enrolment_id.clone(),
                    trainee_id: enrolment.trainee_id.clone(),
                };
                (AttendanceRecord::new(subject, mark, by, now), None)
            }
        };
        let version = before.map_or(1, |b| b + 1);
        let view = row_view(next.clone(), version, read.signed_off());
        let response = Written::of(&view, version, None)?;
        let mut change = ChangeSet::default();
        match before {
            Some(b) => change.put_versioned(
                attendance_item(&next, version)?,
                b,
                OnConflict::against(if_match.as_ref(), "attendance row"),
            ),
            None => change.put_new(
                attendance_item(&next, version)?,
                OnConflict::against(if_match.as_ref(), "attendance row"),
            ),
        }
        let sheet_version = read.version();
        let sheet = read.sheet_written(&session, now);
        // The sheet's version was read here, not named by the client: a
        // concurrent change is a retry (409), not a stale tag.
        self.put_sheet(&mut change, &sheet, sheet_version, Some(&Precondition::Any))?;
        change.audit(&self.audit_record(
            ctx,
            EntityType::SessionAttendance,
            id.as_str(),
            AuditAction::AttendanceRowChanged,
            json!({ "version": sheet_version + 1, "signed_off": signed_off, "row": response.body }),
            now,
        ))?;
        if signed_off {
            change.job(self.attendance_job(ctx, id, sheet_version + 1, now))?;
        }
        self.commit(ctx, change, None).await?;
        Ok(response)
    }

    /// `POST /sessions/{id}/attendance/sign-off` (If-Match: the sheet's
    /// version): by the session's trainer, Admin or Ops Admin; every active
    /// enrolment of the run must have a row. One transaction: the sheet,
    /// the audit record, the sync job (+ the Idempotency-Key record); then
    /// the job to the queue. Calls: Query GSI2, GetItem run, Query sheet
    /// and rows, Query GSI3 (active enrolments), [GetItem trainer link], 1
    /// TransactWriteItems, 1 SendMessage.
    pub async fn sign_off_attendance(
        &self,
        ctx: &RequestContext,
        id: &SessionId,
        if_match: Option<Precondition>,
        idem: Option<IdempotencyRequest>,
    ) -> Result<Idempotent, AppError> {
        let checked = self.sign_off_checks(ctx, id, if_match.as_ref()).await;
        let (session, read, sheet, expected) =
            match self.replay_or(ctx, idem.as_ref(), checked).await? {
                Ok(x) => x,
                Err(first) => return Ok(Idempotent::Replayed(first)),
            };
        let now = self.now();
        let signed = sheet.signed_off(&ctx.actor.user_id, now)?;
        let version = expected + 1;
        let view = sheet_view(&session, Some(&signed), version, read.rows);
        let response = Written::of(&view, version, None)?;
        let mut change = ChangeSet::default();
        self.put_sheet(&mut change, &signed, expected, if_match.as_ref())?;
        change.audit(&self.audit_record(
            ctx,
            EntityType::SessionAttendance,
            id.as_str(),
            AuditAction::AttendanceSignedOff,
            json!({ "version": version, "signed_off_at": signed.signed_off_at, "rows": view.rows.len() }),
            now,
        ))?;
        change.job(self.attendance_job(ctx, id, version, now))?;
        let committed = self
            .commit(ctx, change, idem.as_ref().map(|i| (i, &response)))
            .await?;
        Ok(outcome(committed, response))
    }

    async fn sign_off_checks(
        &self,
        ctx: &RequestContext,
        id: &SessionId,
        if_match: Option<&Precondition>,
    ) -> Result<(Session, SheetRead, Sheet, u64), AppError> {
        let session = self.attendance_session(ctx, id, Action::Write).await?;
        if if_match.is_none() {
            return Err(AppError::PreconditionRequired);
        }
        self.writable_run(&session).await?;
        let read = self.read_attendance(id).await?;
        let expected = Precondition::check(if_match, read.version())?;
        let Some((sheet, _)) = read.sheet.clone() else {
            return Err(AppError::Conflict(
                "no attendance is recorded for this session: record it before signing off".into(),
            ));
        };
        if sheet.is_signed_off() {
            sheet.signed_off(&ctx.actor.user_id, self.now())?;
        }
        let active = self.active_enrolments(&session.course_run_id).await?;
        let missing = active.keys().filter(|e| read.row(e).is_none()).count();
        if missing > 0 {
            return Err(AppError::Conflict(format!(
                "{missing} active enrolment(s) of the course run have no attendance row for this session: record them before signing off"
            )));
        }
        Ok((session, read, sheet, expected))
    }

    fn put_sheet(
        &self,
        change: &mut ChangeSet,
        sheet: &Sheet,
        expected: u64,
        if_match: Option<&Precondition>,
    ) -> Result<(), AppError> {
        let item = attendance_sheet_item(sheet, expected + 1)?;
        if expected == 0 {
            change.put_new(item, OnConflict::against(if_match, "session's attendance"));
        } else {
            change.put_versioned(
                item,
                expected,
                OnConflict::against(if_match, "session's attendance"),
            );
        }
        Ok(())
    }

    fn attendance_job(
        &self,
        ctx: &RequestContext,
        id: &SessionId,
        version: u64,
        now: DateTime<Utc>,
    ) -> tms_domain::sync::SyncJob {
        self.sync_job(
            ctx,
            JobType::AttendanceUpload,
            EntityType::SessionAttendance,
            id.as_str(),
            version,
            now,
        )
    }
}
