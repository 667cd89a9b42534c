//! TPGateway payloads for course runs: the bodies we send and the parts of
//! the answers we read (API-NOTES §4, §5, §6, §10, §12, §13). Pure: JSON in,
//! JSON out; no I/O, no encryption (that is `tms-tpgateway`'s part).
//! Enrolments are in [`enrolment`], attendance in [`attendance`], each
//! with its own list of NOT FOUND choices.
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
//! - `linkCourseRunTrainer` lists the run's trainers that have TPGateway's
//!   trainer id (`tpg_trainer_id`) and are active, each as an "Existing"
//!   trainer (`trainerType` 1) referred to by that id as `id` (no national
//!   id is held), with `indexNumber` 1, 2, ... in the order of their first
//!   session, our name and e-mail, `inTrainingProviderProfile: true` and
//!   the role 1 "Trainer" (§5, §6.1, §10); a second record with an id
//!   already linked is left out. Publish always sends the list
//!   (possibly `[]`); edit sends it only when it is not empty, since an
//!   empty list might unlink trainers linked on TPGateway's portal (the
//!   field is optional on edit, §6.2). Whether an edit's list replaces or
//!   adds to the run's trainers is not known either.
//! - A session of ours with its own venue carries `"primaryVenue": false`;
//!   §11 only documents `true` (copy the run's venue).
//! - Edit sends every current session, not only the changed ones (we do
//!   not track what changed); one with a TPGateway id as `"action":"update"`,
//!   one without as `"action":"add"` (the add action is not documented), and
//!   every published session id no current session has as
//!   `{"action":"delete","sessionId":…}` (not documented either), placed
//!   before the others so that a freed slot is free before it is taken
//!   again, should TPGateway apply them in order (§6.2).
//! - The answers' schemas are largely unknown (§6.3, §6.4): a get-sessions
//!   date is read as `"YYYYMMDD"`, `"YYYY-MM-DD"` or the integer `YYYYMMDD`,
//!   a time as `"HH:mm"` or `"HH:mm:ss"`; a run's dates from `courseDates`
//!   and `registrationDates` in the publish forms, with TS's
//!   `courseStartDate` as an alternative for the start; a missing `deleted`
//!   is false; a list answer (sessions, runs by CRN) whose envelope `status`
//!   is 404 is an empty list (§4: "no records" is a 404), while get-run's 404
//!   is [`ParseError::Status`]; a runs-by-CRN answer without
//!   `data.course.runs` is an empty list, a sessions answer without
//!   `data.sessions` an error (taking it for "no sessions" would have the
//!   next edit add them all again).
//! - Two of TPGateway's sessions in one slot: ours is paired with the first
//!   one listed, and each of theirs with at most one of ours (§6.4).
//! - `Course Run ID is <id>` (§12) is looked for without regard to ASCII case
//!   and with any spaces before the digits.
//!
//! Not a NOT FOUND choice but ours all the same: `courseAdminEmail` is left
//! out when the run has none; TPGateway then refuses the run (SC lists the
//! field as required, §6.2), a permanent error a person fixes by setting it.

use chrono::{Datelike, NaiveDate, NaiveTime, Timelike};
use serde_json::Value;

pub mod assessment;
pub mod attendance;
pub mod course_run;
pub mod enrolment;

pub use course_run::{
    delete_run, edit_run, existing_run_id, find_our_run, link_trainers, match_sessions,
    parse_publish_response, parse_run_response, parse_runs_by_crn_response,
    parse_sessions_response, publish_run, reconcile_sessions, RunMatch, SessionPlan, TpgRun,
    TpgSession, TrainerLinks, TrainerSkip,
};

/// The provider's identity, from the TPGateway secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// The provider's UEN, e.g. `199900650G`.
    pub uen: String,
    /// The training partner code, `{UEN}-NN`, e.g. `199900650G-01`.
    pub tp_code: String,
}

/// What is wrong with an answer from TPGateway. It names the place in the
/// answer, never the value found there (answers may carry personal data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The envelope's `status` says the request failed.
    #[error("TPGateway answered with status {0}")]
    Status(u16),
    /// A field we need is absent (or null).
    #[error("the answer has no `{0}`")]
    Missing(String),
    /// A field is present but not in a form we read.
    #[error("`{field}` in the answer {expected}")]
    Malformed {
        field: String,
        expected: &'static str,
    },
}

impl ParseError {
    fn missing(field: impl Into<String>) -> ParseError {
        ParseError::Missing(field.into())
    }

    fn malformed(field: impl Into<String>, expected: &'static str) -> ParseError {
        ParseError::Malformed {
            field: field.into(),
            expected,
        }
    }
}

/// Longest run id we take: TPGateway's ids are numeric (§5) and enrolment
/// bodies allow at most 20 characters for one (§7).
const MAX_RUN_ID: usize = 20;

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

/// The value at `path` under `v`; a JSON null counts as absent.
pub(crate) fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter()
        .try_fold(v, |v, key| v.get(key))
        .filter(|v| !v.is_null())
}

/// The envelope's `status` (§4), a number or a numeric string, if any.
pub(crate) fn envelope_status(body: &Value) -> Option<u16> {
    match body.get("status")? {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Refuses an answer whose envelope reports a failure (status 400 or more).
pub(crate) fn check_status(body: &Value) -> Result<(), ParseError> {
    match envelope_status(body) {
        Some(s) if s >= 400 => Err(ParseError::Status(s)),
        _ => Ok(()),
    }
}

/// True for a run id as TPGateway issues them: 1 to 20 ASCII digits.
pub(crate) fn is_run_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_RUN_ID && s.bytes().all(|b| b.is_ascii_digit())
}

/// A run id given as a JSON number or a string of digits, as a decimal
/// string.
pub(crate) fn run_id_at(v: Option<&Value>, field: &str) -> Result<String, ParseError> {
    const EXPECTED: &str = "must be a run id: a whole number or a string of digits";
    match v {
        None => Err(ParseError::missing(field)),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(|n| n.to_string())
            .ok_or_else(|| ParseError::malformed(field, EXPECTED)),
        Some(Value::String(s)) if is_run_id(s) => Ok(s.clone()),
        Some(_) => Err(ParseError::malformed(field, EXPECTED)),
    }
}

const DATE_EXPECTED: &str = "must be a date: YYYYMMDD (a number or a string) or \"YYYY-MM-DD\"";

/// A date given as the integer `YYYYMMDD` or the string `"YYYYMMDD"` or
/// `"YYYY-MM-DD"`; `None` when absent.
pub(crate) fn date_at(v: Option<&Value>, field: &str) -> Result<Option<NaiveDate>, ParseError> {
    let bad = || ParseError::malformed(field, DATE_EXPECTED);
    let date = match v {
        None => return Ok(None),
        Some(Value::Number(n)) => n.as_u64().and_then(date_from_number),
        Some(Value::String(s)) if s.len() == 8 => s
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| s.parse().ok().and_then(date_from_number))
            .flatten(),
        Some(Value::String(s)) => crate::types::strict_date(s).ok(),
        Some(_) => None,
    };
    date.map(Some).ok_or_else(bad)
}

/// `YYYYMMDD` as a date, for years 1000 to 9999.
fn date_from_number(n: u64) -> Option<NaiveDate> {
    if !(10_000_101..=99_991_231).contains(&n) {
        return None;
    }
    let (y, m, d) = (n / 10_000, n / 100 % 100, n % 100);
    NaiveDate::from_ymd_opt(
        i32::try_from(y).ok()?,
        u32::try_from(m).ok()?,
        u32::try_from(d).ok()?,
    )
}

/// A time given as `"HH:mm"` or `"HH:mm:ss"`.
pub(crate) fn time_at(v: Option<&Value>, field: &str) -> Result<NaiveTime, ParseError> {
    const EXPECTED: &str = "must be a time: \"HH:mm\" or \"HH:mm:ss\"";
    let bad = || ParseError::malformed(field, EXPECTED);
    let s = match v {
        None => return Err(ParseError::missing(field)),
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(bad()),
    };
    let hhmm = crate::types::strict_time(s.get(..5).ok_or_else(bad)?).map_err(|_| bad())?;
    match s.as_bytes() {
        [_, _, _, _, _] => Ok(hhmm),
        [_, _, _, _, _, b':', s1, s0] if s1.is_ascii_digit() && s0.is_ascii_digit() => {
            let secs = u32::from(s1 - b'0') * 10 + u32::from(s0 - b'0');
            hhmm.with_second(secs).ok_or_else(bad)
        }
        _ => Err(bad()),
    }
}

/// A `deleted` flag: a boolean, false when absent.
pub(crate) fn flag_at(v: Option<&Value>, field: &str) -> Result<bool, ParseError> {
    match v {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ParseError::malformed(field, "must be true or false")),
    }
}

#[cfg(test)]
mod tests;
