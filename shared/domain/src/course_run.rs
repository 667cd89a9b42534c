//! Course runs and their sessions.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, ValidationErrors};
use crate::types::{
    optional_text, parse_date, parse_time, required_text, CourseRef, Email, ModeOfTraining, Venue,
    VenueInput,
};

pub const ENTITY_COURSE_RUN: &str = "course_run";
pub const ENTITY_SESSION: &str = "session";

/// Longest title we take.
pub const MAX_TITLE: usize = 200;
/// TPGateway's limit on schedule info.
pub const MAX_SCHEDULE_INFO: usize = 300;
/// Largest class.
pub const MAX_CAPACITY: u32 = 9999;
/// Most sessions one create request may carry: run, sessions, audit record,
/// sync job and idempotency record must fit one transaction (100 items).
pub const MAX_SESSIONS_PER_CREATE: usize = 90;

/// Where a run stands with TPGateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Kept locally, not to be sent yet.
    Draft,
    /// Changed; a sync job is queued to tell TPGateway.
    Pending,
    /// TPGateway has the current version.
    Synced,
    /// TPGateway refused the current version; a person must fix the data.
    Failed,
    /// Cancelled (terminal).
    Cancelled,
}

impl RunStatus {
    pub const ALL: [RunStatus; 5] = [
        RunStatus::Draft,
        RunStatus::Pending,
        RunStatus::Synced,
        RunStatus::Failed,
        RunStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Draft => "draft",
            RunStatus::Pending => "pending",
            RunStatus::Synced => "synced",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(value: &str) -> Result<RunStatus, String> {
        RunStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == value)
            .ok_or_else(|| {
                let names: Vec<&str> = RunStatus::ALL.iter().map(|s| s.as_str()).collect();
                format!("must be one of: {}", names.join(", "))
            })
    }

    pub fn is_active(self) -> bool {
        self != RunStatus::Cancelled
    }

    /// The status after a person changes the run (or one of its sessions):
    /// pending, since TPGateway must hear of it. A cancelled run is final.
    pub fn after_edit(self) -> Result<RunStatus, DomainError> {
        match self {
            RunStatus::Cancelled => Err(DomainError::InvalidState(
                "the course run is cancelled and can no longer be changed".into(),
            )),
            _ => Ok(RunStatus::Pending),
        }
    }

    /// The status after cancellation.
    pub fn after_cancel(self) -> Result<RunStatus, DomainError> {
        match self {
            RunStatus::Cancelled => Err(DomainError::InvalidState(
                "the course run is already cancelled".into(),
            )),
            _ => Ok(RunStatus::Cancelled),
        }
    }
}

/// A course run as stored. The optimistic-lock version lives on the item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CourseRun {
    pub id: String,
    /// TPGateway's run id, once published.
    pub external_id: Option<String>,
    pub course_ref: CourseRef,
    pub title: String,
    pub registration_opening: NaiveDate,
    pub registration_closing: NaiveDate,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub delivery_mode: ModeOfTraining,
    pub venue: Option<Venue>,
    pub capacity: u32,
    pub schedule_info: Option<String>,
    pub course_admin_email: Option<Email>,
    pub status: RunStatus,
    pub cancel_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The fields of a run a person sets, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct CourseRunFields {
    pub course_ref: CourseRef,
    pub title: String,
    pub registration_opening: NaiveDate,
    pub registration_closing: NaiveDate,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub delivery_mode: ModeOfTraining,
    pub venue: Option<Venue>,
    pub capacity: u32,
    pub schedule_info: Option<String>,
    pub course_admin_email: Option<Email>,
}

/// A run as it arrives in a create request (also the shape an update is
/// merged into, so create and update share one validation).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CourseRunInput {
    pub course_ref: Option<String>,
    pub title: Option<String>,
    pub registration_opening: Option<String>,
    pub registration_closing: Option<String>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub delivery_mode: Option<String>,
    pub venue: Option<VenueInput>,
    pub capacity: Option<u32>,
    pub schedule_info: Option<String>,
    pub course_admin_email: Option<String>,
    /// Only on create: the run's sessions.
    pub sessions: Option<Vec<SessionInput>>,
}

/// A partial update of a run: only the fields present change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CourseRunPatch {
    pub course_ref: Option<String>,
    pub title: Option<String>,
    pub registration_opening: Option<String>,
    pub registration_closing: Option<String>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub delivery_mode: Option<String>,
    pub venue: Option<VenueInput>,
    pub capacity: Option<u32>,
    pub schedule_info: Option<String>,
    pub course_admin_email: Option<String>,
}

impl CourseRunPatch {
    pub fn is_empty(&self) -> bool {
        self == &CourseRunPatch::default()
    }
}

impl CourseRunInput {
    /// Validates the run's own fields (not its sessions).
    pub fn parse_fields(&self, errors: &mut ValidationErrors) -> Option<CourseRunFields> {
        let before = errors.0.len();
        let course_ref = match self.course_ref.as_deref() {
            None => {
                errors.push("course_ref", "is required");
                None
            }
            Some(v) => CourseRef::parse(v)
                .map_err(|r| errors.push("course_ref", r))
                .ok(),
        };
        let title = required_text(errors, "title", self.title.as_deref(), MAX_TITLE);
        let opening = parse_date(
            errors,
            "registration_opening",
            self.registration_opening.as_deref(),
        );
        let closing = parse_date(
            errors,
            "registration_closing",
            self.registration_closing.as_deref(),
        );
        let start = parse_date(errors, "start_date", self.start_date.as_deref());
        let end = parse_date(errors, "end_date", self.end_date.as_deref());
        if let (Some(s), Some(e)) = (start, end) {
            if e < s {
                errors.push("end_date", "must not be before start_date");
            }
        }
        if let (Some(o), Some(c)) = (opening, closing) {
            if c < o {
                errors.push(
                    "registration_closing",
                    "must not be before registration_opening",
                );
            }
        }
        if let (Some(o), Some(s)) = (opening, start) {
            if s < o {
                errors.push("start_date", "must not be before registration_opening");
            }
        }
        if let (Some(c), Some(e)) = (closing, end) {
            if e < c {
                errors.push("end_date", "must not be before registration_closing");
            }
        }
        let mode = match self.delivery_mode.as_deref() {
            None => {
                errors.push("delivery_mode", "is required");
                None
            }
            Some(v) => ModeOfTraining::parse(v)
                .map_err(|r| errors.push("delivery_mode", r))
                .ok(),
        };
        let venue = self.venue.as_ref().and_then(|v| v.parse(errors, "venue"));
        if let Some(m) = mode {
            if m.needs_venue() && self.venue.is_none() {
                errors.push(
                    "venue",
                    format!("is required when delivery_mode is {}", m.name()),
                );
            }
        }
        let capacity = match self.capacity {
            None => {
                errors.push("capacity", "is required");
                None
            }
            Some(c) if c == 0 || c > MAX_CAPACITY => {
                errors.push("capacity", format!("must be between 1 and {MAX_CAPACITY}"));
                None
            }
            Some(c) => Some(c),
        };
        let schedule_info = optional_text(
            errors,
            "schedule_info",
            self.schedule_info.as_deref(),
            MAX_SCHEDULE_INFO,
        );
        let course_admin_email = self.course_admin_email.as_deref().and_then(|v| {
            Email::parse(v)
                .map_err(|r| errors.push("course_admin_email", r))
                .ok()
        });
        if errors.0.len() != before {
            return None;
        }
        Some(CourseRunFields {
            course_ref: course_ref?,
            title: title?,
            registration_opening: opening?,
            registration_closing: closing?,
            start_date: start?,
            end_date: end?,
            delivery_mode: mode?,
            venue,
            capacity: capacity?,
            schedule_info,
            course_admin_email,
        })
    }

    /// Validates a create request: the run and every session.
    pub fn parse(&self) -> Result<(CourseRunFields, Vec<SessionFields>), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let fields = self.parse_fields(&mut errors);
        let inputs = self.sessions.as_deref().unwrap_or_default();
        if inputs.len() > MAX_SESSIONS_PER_CREATE {
            errors.push(
                "sessions",
                format!(
                    "at most {MAX_SESSIONS_PER_CREATE} sessions in one request; add more with POST /course-runs/{{id}}/sessions"
                ),
            );
            return Err(errors);
        }
        let mut sessions = Vec::with_capacity(inputs.len());
        for (i, s) in inputs.iter().enumerate() {
            let prefix = format!("sessions[{i}]");
            if let Some(parsed) = s.parse(&mut errors, &prefix) {
                if let Some(f) = &fields {
                    parsed.check_within(f, &mut errors, &prefix);
                }
                sessions.push(parsed);
            }
        }
        if errors.is_empty() {
            match fields {
                Some(f) => Ok((f, sessions)),
                None => Err(errors),
            }
        } else {
            Err(errors)
        }
    }

    /// The input that describes an existing run (to merge a patch into).
    pub fn from_run(run: &CourseRun) -> Self {
        CourseRunInput {
            course_ref: Some(run.course_ref.as_str().to_string()),
            title: Some(run.title.clone()),
            registration_opening: Some(run.registration_opening.to_string()),
            registration_closing: Some(run.registration_closing.to_string()),
            start_date: Some(run.start_date.to_string()),
            end_date: Some(run.end_date.to_string()),
            delivery_mode: Some(run.delivery_mode.name().to_string()),
            venue: run.venue.as_ref().map(VenueInput::from),
            capacity: Some(run.capacity),
            schedule_info: run.schedule_info.clone(),
            course_admin_email: run
                .course_admin_email
                .as_ref()
                .map(|e| e.as_str().to_string()),
            sessions: None,
        }
    }

    /// Applies a patch over this input.
    pub fn merge(mut self, p: &CourseRunPatch) -> Self {
        overlay(&mut self.course_ref, &p.course_ref);
        overlay(&mut self.title, &p.title);
        overlay(&mut self.registration_opening, &p.registration_opening);
        overlay(&mut self.registration_closing, &p.registration_closing);
        overlay(&mut self.start_date, &p.start_date);
        overlay(&mut self.end_date, &p.end_date);
        overlay(&mut self.delivery_mode, &p.delivery_mode);
        overlay(&mut self.venue, &p.venue);
        overlay(&mut self.capacity, &p.capacity);
        overlay(&mut self.schedule_info, &p.schedule_info);
        overlay(&mut self.course_admin_email, &p.course_admin_email);
        self
    }
}

impl CourseRun {
    /// A new run, pending its first sync.
    pub fn create(id: String, f: CourseRunFields, now: DateTime<Utc>) -> CourseRun {
        CourseRun {
            id,
            external_id: None,
            course_ref: f.course_ref,
            title: f.title,
            registration_opening: f.registration_opening,
            registration_closing: f.registration_closing,
            start_date: f.start_date,
            end_date: f.end_date,
            delivery_mode: f.delivery_mode,
            venue: f.venue,
            capacity: f.capacity,
            schedule_info: f.schedule_info,
            course_admin_email: f.course_admin_email,
            status: RunStatus::Pending,
            cancel_reason: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Applies a validated patch. The sessions are checked against the new
    /// dates: a session outside them is an error on `start_date`/`end_date`.
    pub fn apply_patch(
        &self,
        patch: &CourseRunPatch,
        sessions: &[Session],
        now: DateTime<Utc>,
    ) -> Result<CourseRun, DomainError> {
        let status = self.status.after_edit()?;
        if patch.is_empty() {
            return Err(ValidationErrors::single("body", "names no field to change").into());
        }
        let mut errors = ValidationErrors::default();
        let merged = CourseRunInput::from_run(self).merge(patch);
        let fields = merged.parse_fields(&mut errors);
        let Some(f) = fields else {
            return Err(errors.into());
        };
        if let Some(outside) = sessions
            .iter()
            .find(|s| s.session_date < f.start_date || s.session_date > f.end_date)
        {
            errors.push(
                "start_date",
                format!(
                    "the run's dates must include every session; session {} is on {}",
                    outside.id, outside.session_date
                ),
            );
            return Err(errors.into());
        }
        Ok(CourseRun {
            course_ref: f.course_ref,
            title: f.title,
            registration_opening: f.registration_opening,
            registration_closing: f.registration_closing,
            start_date: f.start_date,
            end_date: f.end_date,
            delivery_mode: f.delivery_mode,
            venue: f.venue,
            capacity: f.capacity,
            schedule_info: f.schedule_info,
            course_admin_email: f.course_admin_email,
            status,
            updated_at: now,
            ..self.clone()
        })
    }

    /// The run after one of its sessions changed: pending again.
    pub fn touched(&self, now: DateTime<Utc>) -> Result<CourseRun, DomainError> {
        Ok(CourseRun {
            status: self.status.after_edit()?,
            updated_at: now,
            ..self.clone()
        })
    }

    pub fn cancel(
        &self,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<CourseRun, DomainError> {
        Ok(CourseRun {
            status: self.status.after_cancel()?,
            cancel_reason: reason,
            updated_at: now,
            ..self.clone()
        })
    }
}

/// A cancellation request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelInput {
    pub reason: Option<String>,
}

impl CancelInput {
    pub fn parse(&self) -> Result<Option<String>, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let reason = optional_text(&mut errors, "reason", self.reason.as_deref(), 500);
        errors.into_result(reason)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Scheduled,
}

/// A session of a run, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub course_run_id: String,
    /// TPGateway's session id (`{CRN}-{runId}-S{n}`), once fetched.
    pub external_id: Option<String>,
    pub session_date: NaiveDate,
    #[serde(with = "crate::types::hhmm")]
    pub start_time: NaiveTime,
    #[serde(with = "crate::types::hhmm")]
    pub end_time: NaiveTime,
    /// When absent, the run's venue.
    pub venue: Option<Venue>,
    /// When absent, the run's delivery mode.
    pub mode_of_training: Option<ModeOfTraining>,
    pub trainer_id: Option<String>,
    pub status: SessionStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The fields of a session a person sets, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionFields {
    pub session_date: NaiveDate,
    pub start_time: NaiveTime,
    pub end_time: NaiveTime,
    pub venue: Option<Venue>,
    pub mode_of_training: Option<ModeOfTraining>,
    pub trainer_id: Option<String>,
}

/// A session as it arrives in a request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionInput {
    pub session_date: Option<String>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub venue: Option<VenueInput>,
    pub mode_of_training: Option<String>,
    pub trainer_id: Option<String>,
}

/// A partial update of a session.
pub type SessionPatch = SessionInput;

/// Replaces `slot` with `value` when a patch carries one.
fn overlay<T: Clone>(slot: &mut Option<T>, value: &Option<T>) {
    if value.is_some() {
        slot.clone_from(value);
    }
}

/// `prefix.name`, or `name` at the top level.
fn field_path(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Checks an id given in a request: a UUID in its hyphenated form.
pub fn is_valid_id(id: &str) -> bool {
    id.len() == 36
        && id.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

impl SessionInput {
    pub fn parse(&self, errors: &mut ValidationErrors, prefix: &str) -> Option<SessionFields> {
        let before = errors.0.len();
        let f = |name: &str| field_path(prefix, name);
        let date = parse_date(errors, &f("session_date"), self.session_date.as_deref());
        let start = parse_time(errors, &f("start_time"), self.start_time.as_deref());
        let end = parse_time(errors, &f("end_time"), self.end_time.as_deref());
        if let (Some(s), Some(e)) = (start, end) {
            if e <= s {
                errors.push(f("end_time"), "must be after start_time");
            }
        }
        let venue = self
            .venue
            .as_ref()
            .and_then(|v| v.parse(errors, &f("venue")));
        let mode = self.mode_of_training.as_deref().and_then(|v| {
            ModeOfTraining::parse(v)
                .map_err(|r| errors.push(f("mode_of_training"), r))
                .ok()
        });
        let trainer_id = match self.trainer_id.as_deref() {
            Some(t) if !is_valid_id(t) => {
                errors.push(f("trainer_id"), "must be a trainer id (a UUID)");
                None
            }
            other => other.map(str::to_string),
        };
        if errors.0.len() != before {
            return None;
        }
        Some(SessionFields {
            session_date: date?,
            start_time: start?,
            end_time: end?,
            venue,
            mode_of_training: mode,
            trainer_id,
        })
    }

    pub fn from_session(s: &Session) -> Self {
        SessionInput {
            session_date: Some(s.session_date.to_string()),
            start_time: Some(s.start_time.format("%H:%M").to_string()),
            end_time: Some(s.end_time.format("%H:%M").to_string()),
            venue: s.venue.as_ref().map(VenueInput::from),
            mode_of_training: s.mode_of_training.map(|m| m.name().to_string()),
            trainer_id: s.trainer_id.clone(),
        }
    }

    pub fn merge(mut self, p: &SessionPatch) -> Self {
        overlay(&mut self.session_date, &p.session_date);
        overlay(&mut self.start_time, &p.start_time);
        overlay(&mut self.end_time, &p.end_time);
        overlay(&mut self.venue, &p.venue);
        overlay(&mut self.mode_of_training, &p.mode_of_training);
        overlay(&mut self.trainer_id, &p.trainer_id);
        self
    }
}

impl SessionFields {
    /// A session must fall within its run's dates, and have a venue when its
    /// mode needs one and the run has none.
    pub fn check_within(&self, run: &CourseRunFields, errors: &mut ValidationErrors, prefix: &str) {
        let f = |name: &str| field_path(prefix, name);
        if self.session_date < run.start_date || self.session_date > run.end_date {
            errors.push(
                f("session_date"),
                format!(
                    "must be within the run's dates ({} to {})",
                    run.start_date, run.end_date
                ),
            );
        }
        let mode = self.mode_of_training.unwrap_or(run.delivery_mode);
        if mode.needs_venue() && self.venue.is_none() && run.venue.is_none() {
            errors.push(
                f("venue"),
                format!("is required when the mode of training is {}", mode.name()),
            );
        }
    }
}

impl Session {
    pub fn create(
        id: String,
        course_run_id: String,
        f: SessionFields,
        now: DateTime<Utc>,
    ) -> Session {
        Session {
            id,
            course_run_id,
            external_id: None,
            session_date: f.session_date,
            start_time: f.start_time,
            end_time: f.end_time,
            venue: f.venue,
            mode_of_training: f.mode_of_training,
            trainer_id: f.trainer_id,
            status: SessionStatus::Scheduled,
            created_at: now,
            updated_at: now,
        }
    }

    pub fn apply_patch(
        &self,
        patch: &SessionPatch,
        run: &CourseRun,
        now: DateTime<Utc>,
    ) -> Result<Session, ValidationErrors> {
        if patch == &SessionPatch::default() {
            return Err(ValidationErrors::single("body", "names no field to change"));
        }
        let mut errors = ValidationErrors::default();
        let merged = SessionInput::from_session(self).merge(patch);
        let Some(f) = merged.parse(&mut errors, "") else {
            return Err(errors);
        };
        f.check_within(&run_fields(run), &mut errors, "");
        errors.into_result(Session {
            session_date: f.session_date,
            start_time: f.start_time,
            end_time: f.end_time,
            venue: f.venue,
            mode_of_training: f.mode_of_training,
            trainer_id: f.trainer_id,
            updated_at: now,
            ..self.clone()
        })
    }
}

/// The validated fields of a stored run.
pub fn run_fields(run: &CourseRun) -> CourseRunFields {
    CourseRunFields {
        course_ref: run.course_ref.clone(),
        title: run.title.clone(),
        registration_opening: run.registration_opening,
        registration_closing: run.registration_closing,
        start_date: run.start_date,
        end_date: run.end_date,
        delivery_mode: run.delivery_mode,
        venue: run.venue.clone(),
        capacity: run.capacity,
        schedule_info: run.schedule_info.clone(),
        course_admin_email: run.course_admin_email.clone(),
    }
}

#[cfg(test)]
mod tests;
