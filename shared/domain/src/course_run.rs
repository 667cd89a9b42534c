//! Course runs and their sessions.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, ValidationErrors};
use crate::ids::{RunId, SessionId, TrainerId, TypedId};

use crate::patch::{apply_merge_patch, MergePatch};
use crate::sync::{Receipt, SyncFailure};
use crate::types::{
    optional_text, parse_date, parse_time, required_text, CourseRef, Email, ModeOfTraining, Venue,
    VenueInput,
};

/// Longest title we take.
pub const MAX_TITLE: usize = 200;
/// TPGateway's limit on schedule info.
pub const MAX_SCHEDULE_INFO: usize = 300;
/// Largest class.
pub const MAX_CAPACITY: u32 = 9999;
/// Most sessions one create request may carry: run, sessions, audit record,
/// sync job and idempotency record must fit one transaction (100 items).
pub const MAX_SESSIONS_PER_CREATE: usize = 90;
/// Most sessions a run may have (docs/access-patterns.md): the run and its
/// sessions stay one page of a Query, and the worker's publish result one
/// transaction.
pub const MAX_SESSIONS_PER_RUN: usize = 96;

crate::named_enum! {
    /// Where a run stands with TPGateway.
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
}

impl RunStatus {
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CourseRun {
    pub id: RunId,
    /// TPGateway's run id, once published.
    pub external_id: Option<String>,
    /// What a person sets (flattened: the JSON shape is one object).
    #[serde(flatten)]
    pub fields: CourseRunFields,
    pub status: RunStatus,
    pub cancel_reason: Option<String>,
    /// What the sync worker recorded (written by the worker only).
    #[serde(default)]
    pub sync: RunSync,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A run's standing with TPGateway, as the sync worker last recorded it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RunSync {
    /// The session ids TPGateway listed at the last fetch (not deleted).
    #[serde(default)]
    pub tpg_session_ids: Vec<String>,
    /// TPGateway's answer to the last accepted submission.
    pub receipt: Option<Receipt>,
    /// TPGateway's refusal of the run's data, for a person to fix; cleared
    /// when a later version is accepted.
    pub error: Option<SyncFailure>,
}

/// The fields of a run a person sets, validated. Serialized, they are the
/// document a merge patch applies to (the same names and forms as a create
/// request).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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

/// A run as it arrives in a create request, and the shape a merge patch is
/// decoded into (so create and update share one validation).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CourseRunInput {
    /// TGS- and 10 digits, e.g. TGS-2020000697.
    #[schemars(extend("examples" = ["TGS-2020000697"]))]
    pub course_ref: Option<String>,
    #[schemars(length(max = MAX_TITLE))]
    pub title: Option<String>,
    #[schemars(extend("format" = "date"))]
    pub registration_opening: Option<String>,
    #[schemars(extend("format" = "date"))]
    pub registration_closing: Option<String>,
    #[schemars(extend("format" = "date"))]
    pub start_date: Option<String>,
    #[schemars(extend("format" = "date"))]
    pub end_date: Option<String>,
    #[schemars(with = "Option<ModeOfTraining>")]
    pub delivery_mode: Option<String>,
    pub venue: Option<VenueInput>,
    #[schemars(range(min = 1, max = MAX_CAPACITY))]
    pub capacity: Option<u32>,
    #[schemars(length(max = MAX_SCHEDULE_INFO))]
    pub schedule_info: Option<String>,
    #[schemars(extend("format" = "email"))]
    pub course_admin_email: Option<String>,
    /// Only on create: the run's sessions.
    pub sessions: Option<Vec<SessionInput>>,
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
        let mut sessions: Vec<SessionFields> = Vec::with_capacity(inputs.len());
        for (i, s) in inputs.iter().enumerate() {
            let prefix = format!("sessions[{i}]");
            if let Some(parsed) = s.parse(&mut errors, &prefix) {
                if let Some(f) = &fields {
                    parsed.check_within(f, &mut errors, &prefix);
                }
                if let Some(j) = sessions.iter().position(|other| parsed.overlaps(other)) {
                    errors.push(
                        prefix,
                        format!("overlaps sessions[{j}] ({})", sessions[j].slot()),
                    );
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
}

impl CourseRun {
    /// A new run, pending its first sync.
    pub fn create(id: RunId, fields: CourseRunFields, now: DateTime<Utc>) -> CourseRun {
        CourseRun {
            id,
            external_id: None,
            fields,
            status: RunStatus::Pending,
            cancel_reason: None,
            sync: RunSync::default(),
            created_at: now,
            updated_at: now,
        }
    }

    /// Applies a JSON merge patch (RFC 7396) to the run's fields: an absent
    /// field stays, null clears an optional field (null for a required one
    /// is an error naming it), and the result is validated as a create
    /// would be. The sessions are checked against the new dates: a session
    /// outside them is an error on `start_date`.
    pub fn apply_patch(
        &self,
        patch: &MergePatch,
        sessions: &[Session],
        now: DateTime<Utc>,
    ) -> Result<CourseRun, DomainError> {
        let status = self.status.after_edit()?;
        if patch.contains_key("sessions") {
            return Err(ValidationErrors::single(
                "sessions",
                "cannot be changed here; use /course-runs/{id}/sessions",
            )
            .into());
        }
        let input: CourseRunInput = apply_merge_patch(&self.fields, patch)?;
        let mut errors = ValidationErrors::default();
        let Some(f) = input.parse_fields(&mut errors) else {
            return Err(errors.into());
        };
        if let Some(outside) = sessions
            .iter()
            .find(|s| s.fields.session_date < f.start_date || s.fields.session_date > f.end_date)
        {
            errors.push(
                "start_date",
                format!(
                    "the run's dates must include every session; session {} is on {}",
                    outside.id, outside.fields.session_date
                ),
            );
            return Err(errors.into());
        }
        Ok(CourseRun {
            fields: f,
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelInput {
    #[schemars(length(max = 500))]
    pub reason: Option<String>,
}

impl CancelInput {
    pub fn parse(&self) -> Result<Option<String>, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let reason = optional_text(&mut errors, "reason", self.reason.as_deref(), 500);
        errors.into_result(reason)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Scheduled,
}

/// A session of a run, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Session {
    pub id: SessionId,
    pub course_run_id: RunId,
    /// TPGateway's session id (`{CRN}-{runId}-S{n}`), once fetched.
    pub external_id: Option<String>,
    #[serde(flatten)]
    pub fields: SessionFields,
    pub status: SessionStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The fields of a session a person sets, validated; serialized, the
/// document a merge patch applies to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SessionFields {
    pub session_date: NaiveDate,
    #[serde(with = "crate::types::hhmm")]
    #[schemars(with = "String", extend("pattern" = crate::types::HHMM_PATTERN))]
    pub start_time: NaiveTime,
    #[serde(with = "crate::types::hhmm")]
    #[schemars(with = "String", extend("pattern" = crate::types::HHMM_PATTERN))]
    pub end_time: NaiveTime,
    /// When absent, the run's venue.
    pub venue: Option<Venue>,
    /// When absent, the run's delivery mode.
    pub mode_of_training: Option<ModeOfTraining>,
    pub trainer_id: Option<TrainerId>,
}

/// A session as it arrives in a request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionInput {
    #[schemars(extend("format" = "date"))]
    pub session_date: Option<String>,
    #[schemars(extend("pattern" = crate::types::HHMM_PATTERN))]
    pub start_time: Option<String>,
    #[schemars(extend("pattern" = crate::types::HHMM_PATTERN))]
    pub end_time: Option<String>,
    pub venue: Option<VenueInput>,
    #[schemars(with = "Option<ModeOfTraining>")]
    pub mode_of_training: Option<String>,
    #[schemars(with = "Option<TrainerId>")]
    pub trainer_id: Option<String>,
}

/// `prefix.name`, or `name` at the top level.
fn field_path(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
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
        let trainer_id = self.trainer_id.as_deref().and_then(|t| {
            TrainerId::parse(t)
                .map_err(|r| errors.push(f("trainer_id"), r))
                .ok()
        });
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

    /// Two sessions overlap when they share a moment of one day (a session
    /// that ends at 12:00 and one that starts at 12:00 do not).
    pub fn overlaps(&self, other: &SessionFields) -> bool {
        self.session_date == other.session_date
            && self.start_time < other.end_time
            && other.start_time < self.end_time
    }

    /// `2025-01-15 09:00-18:00`, for messages.
    pub fn slot(&self) -> String {
        format!(
            "{} {}-{}",
            self.session_date,
            self.start_time.format("%H:%M"),
            self.end_time.format("%H:%M")
        )
    }

    /// Checks this session against the run's other sessions: no overlap
    /// (an error on `start_time` naming the session it overlaps).
    pub fn check_no_overlap<'a>(
        &self,
        others: impl IntoIterator<Item = &'a Session>,
        errors: &mut ValidationErrors,
    ) {
        if let Some(o) = others.into_iter().find(|o| self.overlaps(&o.fields)) {
            errors.push(
                "start_time",
                format!("overlaps session {} ({})", o.id, o.fields.slot()),
            );
        }
    }
}

/// Checks that a run may take one more session (the per-run cap).
pub fn check_session_cap(current: usize) -> Result<(), ValidationErrors> {
    if current >= MAX_SESSIONS_PER_RUN {
        return Err(ValidationErrors::single(
            "body",
            format!("a course run has at most {MAX_SESSIONS_PER_RUN} sessions; this one is full"),
        ));
    }
    Ok(())
}

impl Session {
    pub fn create(
        id: SessionId,
        course_run_id: RunId,
        fields: SessionFields,
        now: DateTime<Utc>,
    ) -> Session {
        Session {
            id,
            course_run_id,
            external_id: None,
            fields,
            status: SessionStatus::Scheduled,
            created_at: now,
            updated_at: now,
        }
    }

    /// Applies a JSON merge patch to the session's fields and validates the
    /// result against the run and the run's other sessions.
    pub fn apply_patch(
        &self,
        patch: &MergePatch,
        run: &CourseRun,
        siblings: &[Session],
        now: DateTime<Utc>,
    ) -> Result<Session, ValidationErrors> {
        let input: SessionInput = apply_merge_patch(&self.fields, patch)?;
        let mut errors = ValidationErrors::default();
        let Some(f) = input.parse(&mut errors, "") else {
            return Err(errors);
        };
        f.check_within(&run.fields, &mut errors, "");
        f.check_no_overlap(siblings.iter().filter(|s| s.id != self.id), &mut errors);
        errors.into_result(Session {
            fields: f,
            updated_at: now,
            ..self.clone()
        })
    }
}

#[cfg(test)]
mod tests;
