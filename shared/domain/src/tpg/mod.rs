//! TPGateway payloads for course runs: the bodies we send (API-NOTES §6,
//! §10, §13). Pure: JSON in,
//! JSON out; no I/O, no encryption (that is `tms-tpgateway`'s part).
//!
//! # Choices made where the notes have no evidence (NOT FOUND)
//!
//! Each one is marked at its place with a `// NOT FOUND (API-NOTES §x)`
//! comment.
//!
//! - `scheduleInfoType` is always `{"code":"01","description":"Description"}`:
//!   `"01"` is the only code seen; the list of codes is not known (§10).
//! - `scheduleInfo` is the run's own text; without one, a summary of the
//!   sessions (`Wed 15 Jan 2025 09:00-18:00; ...`, or `See sessions` when
//!   there are none), cut to 300 characters (§6.1 lists the field as
//!   required-looking text of at most 300).
//! - `courseVacancy` is always `{"code":"A","description":"Available"}`: we do
//!   not track vacancy yet (§10).
//! - `linkCourseRunTrainer` is always `[]`, on publish and on edit: trainers
//!   are a later issue. What an empty list does to trainers already linked
//!   on TPGateway's side (on edit) is not known (§6.1, §6.2).
//! - A session of ours with its own venue carries `"primaryVenue": false`;
//!   §11 only documents `true` (copy the run's venue).
//! - Edit sends every current session, not only the changed ones (we do
//!   not track what changed); one with a TPGateway id as `"action":"update"`,
//!   one without as `"action":"add"` (the add action is not documented), and
//!   every published session id no current session has as
//!   `{"action":"delete","sessionId":…}` (not documented either), placed
//!   before the others so that a freed slot is free before it is taken
//!   again, should TPGateway apply them in order (§6.2).
//!
//! Not a NOT FOUND choice but ours all the same: `courseAdminEmail` is left
//! out when the run has none; TPGateway then refuses the run (SC lists the
//! field as required, §6.2), a permanent error a person fixes by setting it.

use chrono::{Datelike, NaiveDate, NaiveTime};

pub mod course_run;

pub use course_run::{delete_run, edit_run, publish_run};

/// The provider's identity, from the TPGateway secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// The provider's UEN, e.g. `199900650G`.
    pub uen: String,
    /// The training partner code, `{UEN}-NN`, e.g. `199900650G-01`.
    pub tp_code: String,
}

/// A date as the integer `YYYYMMDD` (run dates on publish, §6.1).
pub(crate) fn date_number(d: NaiveDate) -> i64 {
    i64::from(d.year()) * 10_000 + i64::from(d.month()) * 100 + i64::from(d.day())
}

/// A date as the string `YYYYMMDD` (session dates on publish, §6.1).
pub(crate) fn date_compact(d: NaiveDate) -> String {
    d.format("%Y%m%d").to_string()
}

/// A time as `HH:mm` (§6.1).
pub(crate) fn time_hhmm(t: NaiveTime) -> String {
    t.format("%H:%M").to_string()
}

#[cfg(test)]
mod tests;
