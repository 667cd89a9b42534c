//! Attendance: one record per (session, enrolment), recorded a whole
//! session at a time or one row at a time, signed off by the session's
//! trainer (or Ops Admin); after sign-off each row is reported to TPGateway,
//! one trainee per call.
//!
//! A row's `revision` counts the changes a person made to it (status,
//! reason); the worker records which revision TPGateway accepted, so a
//! retry sends only the rows whose current revision it has not accepted.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ValidationErrors;
use crate::ids::{EnrolmentId, RunId, SessionId, TraineeId, TypedId};
use crate::sync::{Receipt, SyncFailure};
use crate::types::optional_text;

/// The most rows one request may record. A session's rows, their sheet,
/// the audit record and the sync job are written in one transaction of at
/// most 100 operations: 97 + 3.
pub const MAX_ROWS_PER_REQUEST: usize = 97;
// The rows, the sheet, the audit record and the job fit one transaction.
const _: () = assert!(MAX_ROWS_PER_REQUEST + 3 <= 100);
/// The longest reason, in characters.
pub const MAX_REASON: usize = 300;

crate::named_enum! {
    /// Whether the trainee attended the session.
    pub enum AttendanceStatus {
        Present,
        Absent,
        Late,
        /// Not known yet: kept, never reported to TPGateway.
        Unknown,
    }
}

crate::named_enum! {
    /// Where a row stands with TPGateway (computed for display from the
    /// sheet and the row; never stored).
    pub enum RowSyncStatus {
        /// The session's attendance is not signed off: nothing is sent.
        NotSent,
        /// Signed off; TPGateway does not have this revision yet.
        Pending,
        /// TPGateway accepted this revision.
        Accepted,
        /// TPGateway refused this revision (see `sync.error`).
        Failed,
        /// Status `unknown`: not reported.
        NotReported,
    }
}

/// A status and its reason, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Mark {
    pub status: AttendanceStatus,
    pub reason: Option<String>,
}

/// One row as it arrives in `PUT /sessions/{id}/attendance/{enrolment_id}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkInput {
    #[schemars(with = "Option<AttendanceStatus>")]
    pub status: Option<String>,
    /// Why (absent, late, a correction); at most 300 characters.
    #[schemars(length(max = MAX_REASON))]
    pub reason: Option<String>,
}

impl MarkInput {
    /// Checks the row; `prefix` names its place in the request (`rows[3].`).
    pub fn parse_into(&self, errors: &mut ValidationErrors, prefix: &str) -> Option<Mark> {
        let status = match self.status.as_deref() {
            None => {
                errors.push(format!("{prefix}status"), "is required");
                None
            }
            Some(s) => AttendanceStatus::parse(s)
                .map_err(|why| errors.push(format!("{prefix}status"), why))
                .ok(),
        };
        let before = errors.0.len();
        let reason = optional_text(
            errors,
            &format!("{prefix}reason"),
            self.reason.as_deref(),
            MAX_REASON,
        );
        if errors.0.len() > before {
            return None;
        }
        Some(Mark {
            status: status?,
            reason,
        })
    }

    pub fn parse(&self) -> Result<Mark, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let mark = self.parse_into(&mut errors, "");
        match mark {
            Some(m) if errors.is_empty() => Ok(m),
            _ => Err(errors),
        }
    }
}

/// A row of a whole-session request.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RowInput {
    /// An active enrolment of the session's course run.
    #[schemars(with = "Option<EnrolmentId>")]
    pub enrolment_id: Option<String>,
    #[schemars(with = "Option<AttendanceStatus>")]
    pub status: Option<String>,
    #[schemars(length(max = MAX_REASON))]
    pub reason: Option<String>,
}

/// `PUT /sessions/{id}/attendance`: the rows of a session (at most 97).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SheetInput {
    #[schemars(length(min = 1, max = MAX_ROWS_PER_REQUEST))]
    pub rows: Option<Vec<RowInput>>,
}

/// A row of a request, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowMark {
    pub enrolment_id: EnrolmentId,
    pub mark: Mark,
}

/// Why a whole-session request is refused before anything is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SheetRefused {
    /// More rows than one transaction holds.
    TooManyRows {
        given: usize,
    },
    Invalid(ValidationErrors),
}

impl SheetInput {
    pub fn parse(&self) -> Result<Vec<RowMark>, SheetRefused> {
        let mut errors = ValidationErrors::default();
        let Some(rows) = &self.rows else {
            errors.push("rows", "is required");
            return Err(SheetRefused::Invalid(errors));
        };
        if rows.len() > MAX_ROWS_PER_REQUEST {
            return Err(SheetRefused::TooManyRows { given: rows.len() });
        }
        if rows.is_empty() {
            errors.push("rows", "must hold at least one row");
        }
        let mut out: Vec<RowMark> = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let prefix = format!("rows[{i}].");
            let id = match row.enrolment_id.as_deref() {
                None => {
                    errors.push(format!("{prefix}enrolment_id"), "is required");
                    None
                }
                Some(s) => EnrolmentId::parse(s)
                    .map_err(|why| errors.push(format!("{prefix}enrolment_id"), why))
                    .ok(),
            };
            if let Some(id) = &id {
                if out.iter().any(|r| &r.enrolment_id == id) {
                    errors.push(
                        format!("{prefix}enrolment_id"),
                        "names an enrolment an earlier row names",
                    );
                }
            }
            let mark = MarkInput {
                status: row.status.clone(),
                reason: row.reason.clone(),
            }
            .parse_into(&mut errors, &prefix);
            if let (Some(enrolment_id), Some(mark)) = (id, mark) {
                out.push(RowMark { enrolment_id, mark });
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(SheetRefused::Invalid(errors))
        }
    }
}

/// A session's attendance sheet: the item that holds the sign-off and
/// whose version is the ETag of the whole session's attendance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Sheet {
    pub session_id: SessionId,
    pub course_run_id: RunId,
    pub session_date: NaiveDate,
    pub signed_off_at: Option<DateTime<Utc>>,
    /// The user who signed off.
    pub signed_off_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Sheet {
    pub fn new(
        session_id: SessionId,
        course_run_id: RunId,
        session_date: NaiveDate,
        now: DateTime<Utc>,
    ) -> Sheet {
        Sheet {
            session_id,
            course_run_id,
            session_date,
            signed_off_at: None,
            signed_off_by: None,
            created_at: now,
            updated_at: now,
        }
    }

    pub fn is_signed_off(&self) -> bool {
        self.signed_off_at.is_some()
    }

    /// Signed off by `by` at `now`; refused when it already is.
    pub fn signed_off(&self, by: &str, now: DateTime<Utc>) -> Result<Sheet, crate::DomainError> {
        if let Some(at) = self.signed_off_at {
            return Err(crate::DomainError::InvalidState(format!(
                "the session's attendance was signed off at {}",
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )));
        }
        Ok(Sheet {
            signed_off_at: Some(now),
            signed_off_by: Some(by.to_string()),
            updated_at: now,
            ..self.clone()
        })
    }
}

/// A row's standing with TPGateway, as the worker last recorded it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RowSync {
    /// Uploads made.
    #[serde(default)]
    pub attempts: u32,
    /// The revision TPGateway accepted last.
    pub accepted_revision: Option<u64>,
    pub receipt: Option<Receipt>,
    /// TPGateway's refusal of `error_revision`.
    pub error: Option<SyncFailure>,
    pub error_revision: Option<u64>,
}

/// One trainee's attendance of one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AttendanceRecord {
    pub session_id: SessionId,
    pub enrolment_id: EnrolmentId,
    pub course_run_id: RunId,
    pub trainee_id: TraineeId,
    pub session_date: NaiveDate,
    pub status: AttendanceStatus,
    pub reason: Option<String>,
    /// The user who recorded the current status.
    pub recorded_by: String,
    /// Changes a person made (1 when first recorded).
    pub revision: u64,
    #[serde(default)]
    pub sync: RowSync,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Who a row is about, from the enrolment it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowSubject {
    pub session_id: SessionId,
    pub course_run_id: RunId,
    pub session_date: NaiveDate,
    pub enrolment_id: EnrolmentId,
    pub trainee_id: TraineeId,
}

impl AttendanceRecord {
    pub fn new(subject: RowSubject, mark: Mark, by: &str, now: DateTime<Utc>) -> AttendanceRecord {
        AttendanceRecord {
            session_id: subject.session_id,
            enrolment_id: subject.enrolment_id,
            course_run_id: subject.course_run_id,
            trainee_id: subject.trainee_id,
            session_date: subject.session_date,
            status: mark.status,
            reason: mark.reason,
            recorded_by: by.to_string(),
            revision: 1,
            sync: RowSync::default(),
            created_at: now,
            updated_at: now,
        }
    }

    /// The row with `mark`, or `None` when it already says that.
    pub fn marked(&self, mark: &Mark, by: &str, now: DateTime<Utc>) -> Option<AttendanceRecord> {
        if self.status == mark.status && self.reason == mark.reason {
            return None;
        }
        Some(AttendanceRecord {
            status: mark.status,
            reason: mark.reason.clone(),
            recorded_by: by.to_string(),
            revision: self.revision + 1,
            updated_at: now,
            ..self.clone()
        })
    }

    /// Whether TPGateway is told of this row at all.
    pub fn is_reported(&self) -> bool {
        self.status != AttendanceStatus::Unknown
    }

    /// Whether the worker still has to send this row: reported, and its
    /// current revision neither accepted nor refused.
    pub fn needs_sending(&self) -> bool {
        self.is_reported()
            && self.sync.accepted_revision != Some(self.revision)
            && self.sync.error_revision != Some(self.revision)
    }

    /// Whether a person's retry should send this row again: reported and
    /// not accepted (a refused revision is tried again).
    pub fn needs_retry(&self) -> bool {
        self.is_reported() && self.sync.accepted_revision != Some(self.revision)
    }

    pub fn sync_status(&self, signed_off: bool) -> RowSyncStatus {
        if !self.is_reported() {
            RowSyncStatus::NotReported
        } else if self.sync.accepted_revision == Some(self.revision) {
            RowSyncStatus::Accepted
        } else if !signed_off {
            RowSyncStatus::NotSent
        } else if self.sync.error_revision == Some(self.revision) {
            RowSyncStatus::Failed
        } else {
            RowSyncStatus::Pending
        }
    }

    /// The row after TPGateway accepted `revision`.
    pub fn accepted(
        &self,
        revision: u64,
        receipt: Receipt,
        now: DateTime<Utc>,
    ) -> AttendanceRecord {
        let mut next = self.clone();
        next.sync.attempts = next.sync.attempts.saturating_add(1);
        next.sync.accepted_revision = Some(revision);
        next.sync.receipt = Some(receipt);
        if next.sync.error_revision.is_some_and(|r| r <= revision) {
            next.sync.error = None;
            next.sync.error_revision = None;
        }
        next.updated_at = now;
        next
    }

    /// The row after TPGateway refused `revision`.
    pub fn refused(
        &self,
        revision: u64,
        failure: SyncFailure,
        now: DateTime<Utc>,
    ) -> AttendanceRecord {
        let mut next = self.clone();
        next.sync.attempts = next.sync.attempts.saturating_add(1);
        next.sync.error = Some(failure);
        next.sync.error_revision = Some(revision);
        next.updated_at = now;
        next
    }
}

/// TPGateway's session attendance hours (`numberOfHours`, 0.5 to 8.0, in
/// halves), from a session's start and end, when they fall in range.
pub fn hours_of(start: chrono::NaiveTime, end: chrono::NaiveTime) -> Option<f64> {
    let minutes = (end - start).num_minutes();
    // Rounded down to the half hour: a trainee is not credited more.
    let halves = minutes / 30;
    (1..=16).contains(&halves).then(|| halves as f64 / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveTime, TimeZone};

    const E1: &str = "0193a4e2-7c1b-7d3e-9a51-2b7f00c0ff01";
    const E2: &str = "0193a4e2-7c1b-7d3e-9a51-2b7f00c0ff02";

    fn row(e: &str, status: &str) -> RowInput {
        RowInput {
            enrolment_id: Some(e.into()),
            status: Some(status.into()),
            reason: None,
        }
    }

    fn fields(err: SheetRefused) -> Vec<String> {
        match err {
            SheetRefused::Invalid(v) => v.0.into_iter().map(|f| f.field).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_sheet_is_checked_row_by_row() {
        let ok = SheetInput {
            rows: Some(vec![row(E1, "present"), row(E2, "late")]),
        }
        .parse()
        .unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[1].mark.status, AttendanceStatus::Late);

        let bad = SheetInput {
            rows: Some(vec![
                row(E1, "present"),
                row(E1, "absent"),
                row("nope", "here"),
                RowInput {
                    enrolment_id: None,
                    status: None,
                    reason: Some("x".repeat(MAX_REASON + 1)),
                },
            ]),
        }
        .parse()
        .unwrap_err();
        assert_eq!(
            fields(bad),
            [
                "rows[1].enrolment_id",
                "rows[2].enrolment_id",
                "rows[2].status",
                "rows[3].enrolment_id",
                "rows[3].status",
                "rows[3].reason"
            ]
        );
        assert_eq!(
            fields(SheetInput { rows: None }.parse().unwrap_err()),
            ["rows"]
        );
        assert_eq!(
            fields(SheetInput { rows: Some(vec![]) }.parse().unwrap_err()),
            ["rows"]
        );
    }

    #[test]
    fn more_rows_than_a_transaction_holds_are_refused_as_such() {
        let rows: Vec<RowInput> = (0..=MAX_ROWS_PER_REQUEST)
            .map(|i| row(&format!("0193a4e2-7c1b-7d3e-9a51-2b7f00c{i:05}"), "present"))
            .collect();
        assert_eq!(
            SheetInput { rows: Some(rows) }.parse().unwrap_err(),
            SheetRefused::TooManyRows {
                given: MAX_ROWS_PER_REQUEST + 1
            }
        );
    }

    fn record() -> AttendanceRecord {
        let t = Utc.with_ymd_and_hms(2025, 1, 5, 0, 0, 0).unwrap();
        AttendanceRecord::new(
            RowSubject {
                session_id: SessionId::parse(E1).unwrap(),
                course_run_id: RunId::parse(E1).unwrap(),
                session_date: NaiveDate::from_ymd_opt(2025, 1, 5).unwrap(),
                enrolment_id: EnrolmentId::parse(E2).unwrap(),
                trainee_id: TraineeId::parse(E2).unwrap(),
            },
            Mark {
                status: AttendanceStatus::Present,
                reason: None,
            },
            "u1",
            t,
        )
    }

    fn receipt() -> Receipt {
        Receipt {
            api: "upload_attendance".into(),
            http_status: 200,
            reference: None,
            at: Utc.with_ymd_and_hms(2025, 1, 6, 0, 0, 0).unwrap(),
            correlation_id: "c".into(),
        }
    }

    #[test]
    fn a_row_is_sent_until_its_revision_is_accepted() {
        let t = Utc.with_ymd_and_hms(2025, 1, 6, 0, 0, 0).unwrap();
        let r = record();
        assert_eq!(r.sync_status(false), RowSyncStatus::NotSent);
        assert_eq!(r.sync_status(true), RowSyncStatus::Pending);
        assert!(r.needs_sending());
        let same = Mark {
            status: AttendanceStatus::Present,
            reason: None,
        };
        assert!(r.marked(&same, "u2", t).is_none());
        let ok = r.accepted(1, receipt(), t);
        assert!(!ok.needs_sending());
        assert_eq!(ok.sync_status(true), RowSyncStatus::Accepted);
        let changed = ok
            .marked(
                &Mark {
                    status: AttendanceStatus::Absent,
                    reason: Some("sick".into()),
                },
                "u2",
                t,
            )
            .unwrap();
        assert_eq!(changed.revision, 2);
        assert_eq!(changed.recorded_by, "u2");
        assert!(changed.needs_sending());
        let failure = SyncFailure {
            kind: crate::sync::FailureKind::Permanent,
            http_status: Some(400),
            code: None,
            message: "no".into(),
            details: vec![],
            at: t,
        };
        let refused = changed.refused(2, failure, t);
        assert!(!refused.needs_sending());
        assert!(refused.needs_retry());
        assert_eq!(refused.sync_status(true), RowSyncStatus::Failed);
        let unknown = r
            .marked(
                &Mark {
                    status: AttendanceStatus::Unknown,
                    reason: None,
                },
                "u2",
                t,
            )
            .unwrap();
        assert!(!unknown.needs_sending());
        assert_eq!(unknown.sync_status(true), RowSyncStatus::NotReported);
    }

    #[test]
    fn sign_off_happens_once() {
        let t = Utc.with_ymd_and_hms(2025, 1, 6, 0, 0, 0).unwrap();
        let s = Sheet::new(
            SessionId::parse(E1).unwrap(),
            RunId::parse(E1).unwrap(),
            NaiveDate::from_ymd_opt(2025, 1, 5).unwrap(),
            t,
        );
        let signed = s.signed_off("u1", t).unwrap();
        assert!(signed.is_signed_off());
        assert!(signed.signed_off("u1", t).is_err());
    }

    #[test]
    fn hours_are_counted_in_halves_within_tpgateways_range() {
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        assert_eq!(hours_of(t(9, 0), t(12, 45)), Some(3.5));
        assert_eq!(hours_of(t(9, 0), t(9, 20)), None);
        assert_eq!(hours_of(t(9, 0), t(17, 0)), Some(8.0));
        assert_eq!(hours_of(t(9, 0), t(18, 0)), None);
    }
}
