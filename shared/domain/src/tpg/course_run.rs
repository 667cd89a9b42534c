//! Course runs on TPGateway: the publish, edit and delete bodies (API-NOTES
//! §6.1, §6.2, §13), and the answers read back: the publish answer, a run,
//! the runs of a course, a run's sessions (§6.3, §6.4) and the "already
//! published" error (§12).

use std::collections::HashSet;

use chrono::{NaiveDate, NaiveTime};
use serde_json::{json, Map, Value};

use super::{
    at, check_status, date_at, date_compact, date_number, envelope_status, flag_at, is_run_id,
    run_id_at, time_at, time_hhmm, ParseError, Provider,
};
use crate::course_run::{CourseRun, Session, MAX_SCHEDULE_INFO};
use crate::ids::{SessionId, TrainerId};
use crate::trainer::{Trainer, TrainerStatus};
use crate::types::Venue;

/// `POST /courses/courseRuns/publish` body: one run (`course.runs` has
/// exactly one entry, `sequenceNumber` 1) with all its sessions, and
/// `linkCourseRunTrainer` with the run's trainers that can be linked (see
/// [`link_trainers`]; `trainers` are those assigned to its sessions, in any
/// order), possibly none.
pub fn publish_run(
    p: &Provider,
    run: &CourseRun,
    sessions: &[Session],
    trainers: &[Trainer],
) -> Value {
    let links = link_trainers(sessions, trainers);
    let sessions = in_order(sessions);
    let mut r = Map::new();
    r.insert("sequenceNumber".into(), json!(1));
    r.extend(run_fields(run, &sessions));
    let list: Vec<Value> = sessions
        .iter()
        .map(|s| Value::Object(session_fields(run, s)))
        .collect();
    r.insert("sessions".into(), Value::Array(list));
    r.insert("linkCourseRunTrainer".into(), links.json());
    let mut course = course_head(p, run);
    course.insert("runs".into(), json!([r]));
    json!({ "course": course })
}

/// `POST /courses/courseRuns/edit/{runId}` body with `course.run.action =
/// "update"`, the same run fields as publish, and `sessions`: each session
/// with an external id as `{"action":"update","sessionId":…, …fields}`, each
/// without one as `{"action":"add", …fields}`, and each id in
/// `published_session_ids` that no current session has as
/// `{"action":"delete","sessionId":…}` (listed first); and
/// `linkCourseRunTrainer` as on publish, but only when at least one trainer
/// can be linked.
pub fn edit_run(
    p: &Provider,
    run: &CourseRun,
    sessions: &[Session],
    published_session_ids: &[String],
    trainers: &[Trainer],
) -> Value {
    let links = link_trainers(sessions, trainers);
    let ordered = in_order(sessions);
    let current: HashSet<&str> = sessions
        .iter()
        .filter_map(|s| s.external_id.as_deref())
        .collect();
    let mut list: Vec<Value> = Vec::with_capacity(sessions.len());
    // NOT FOUND (API-NOTES §6.2): only "update" is documented for sessions;
    // a published session we no longer have is sent as "delete" with its id
    // alone, before the others, so that its slot is free before an "add"
    // takes it again (should TPGateway apply them in order).
    let mut deleted: HashSet<&str> = HashSet::new();
    for id in published_session_ids {
        if !current.contains(id.as_str()) && deleted.insert(id.as_str()) {
            list.push(json!({ "action": "delete", "sessionId": id }));
        }
    }
    // NOT FOUND (API-NOTES §6.2): every current session is sent, not only
    // the changed ones (we do not track what changed); one TPGateway does not
    // know yet is sent as "add", with the fields of a published session.
    for s in &ordered {
        let mut m = Map::new();
        match &s.external_id {
            Some(ext) => {
                m.insert("action".into(), json!("update"));
                m.insert("sessionId".into(), json!(ext));
            }
            None => {
                m.insert("action".into(), json!("add"));
            }
        }
        m.extend(session_fields(run, s));
        list.push(Value::Object(m));
    }
    let mut r = Map::new();
    r.insert("action".into(), json!("update"));
    r.extend(run_fields(run, &ordered));
    r.insert("sessions".into(), Value::Array(list));
    // No empty `linkCourseRunTrainer` on edit: an empty list might unlink
    // trainers a person linked on TPGateway's portal; the field is optional
    // on edit.
    // NOT FOUND (API-NOTES §6.2): whether an edit's list replaces the run's
    // trainers or adds to them; we send the run's whole list each time.
    if !links.linked.is_empty() {
        r.insert("linkCourseRunTrainer".into(), links.json());
    }
    let mut course = course_head(p, run);
    course.insert("run".into(), Value::Object(r));
    json!({ "course": course })
}

/// `POST /courses/courseRuns/edit/{runId}` body that deletes the run
/// (API-NOTES §6.2).
pub fn delete_run(p: &Provider, run: &CourseRun) -> Value {
    let mut course = course_head(p, run);
    course.insert("run".into(), json!({ "action": "delete" }));
    json!({ "course": course })
}

/// `courseReferenceNumber` and `trainingProvider`, which every body starts
/// with.
fn course_head(p: &Provider, run: &CourseRun) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "courseReferenceNumber".into(),
        json!(run.fields.course_ref.as_str()),
    );
    m.insert("trainingProvider".into(), json!({ "uen": p.uen }));
    m
}

/// The sessions by date, then start time (then end time and id, so that
/// the order never depends on the input's).
fn in_order(sessions: &[Session]) -> Vec<&Session> {
    let mut v: Vec<&Session> = sessions.iter().collect();
    v.sort_by(|a, b| {
        (
            a.fields.session_date,
            a.fields.start_time,
            a.fields.end_time,
            &a.id,
        )
            .cmp(&(
                b.fields.session_date,
                b.fields.start_time,
                b.fields.end_time,
                &b.id,
            ))
    });
    v
}

/// The run fields publish and edit share (all but `sequenceNumber` /
/// `action`, `sessions` and `linkCourseRunTrainer`).
fn run_fields(run: &CourseRun, sessions: &[&Session]) -> Map<String, Value> {
    let f = &run.fields;
    let mut m = Map::new();
    m.insert(
        "registrationDates".into(),
        json!({
            "opening": date_number(f.registration_opening),
            "closing": date_number(f.registration_closing),
        }),
    );
    m.insert(
        "courseDates".into(),
        json!({ "start": date_number(f.start_date), "end": date_number(f.end_date) }),
    );
    // NOT FOUND (API-NOTES §10): "01" is the only schedule info type code
    // seen; the list of codes and their descriptions is not known.
    m.insert(
        "scheduleInfoType".into(),
        json!({ "code": "01", "description": "Description" }),
    );
    m.insert("scheduleInfo".into(), json!(schedule_info(run, sessions)));
    if let Some(v) = &f.venue {
        m.insert("venue".into(), Value::Object(venue_json(v)));
    }
    m.insert("intakeSize".into(), json!(f.capacity));
    m.insert("modeOfTraining".into(), json!(f.delivery_mode.code()));
    // Left out when the run has none: TPGateway then refuses the run, a
    // permanent error a person fixes by setting the address.
    if let Some(e) = &f.course_admin_email {
        m.insert("courseAdminEmail".into(), json!(e.as_str()));
    }
    // NOT FOUND (API-NOTES §10): we do not track vacancy yet, so every run
    // is "A" (Available); "F" (Full) and "L" (Limited Vacancy) are unused.
    m.insert(
        "courseVacancy".into(),
        json!({ "code": "A", "description": "Available" }),
    );
    m
}

/// Why a trainer assigned to a run's session is not linked to the run on
/// TPGateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainerSkip {
    /// The trainer record has no `tpg_trainer_id` (we hold no national id
    /// to send instead).
    NoTpgTrainerId,
    /// The trainer is inactive.
    Inactive,
    /// No trainer record has the id the session names.
    NotFound,
    /// Another trainer of the run, linked before it, has the same
    /// `tpg_trainer_id` (two records of one person): TPGateway hears of
    /// them once.
    SameTpgTrainerId,
}

impl TrainerSkip {
    /// The reason, for a sync job's note.
    pub fn reason(self) -> &'static str {
        match self {
            TrainerSkip::NoTpgTrainerId => "no tpg_trainer_id",
            TrainerSkip::Inactive => "the trainer is inactive",
            TrainerSkip::NotFound => "no such trainer",
            TrainerSkip::SameTpgTrainerId => {
                "its tpg_trainer_id is another linked trainer's of this run"
            }
        }
    }
}

/// The trainers of a run as TPGateway is told of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainerLinks<'a> {
    /// The trainers sent in `linkCourseRunTrainer`, in order (their
    /// `indexNumber` is their place here, from 1).
    pub linked: Vec<&'a Trainer>,
    /// The trainers assigned to a session but not sent, and why, in the
    /// same order.
    pub skipped: Vec<(TrainerId, TrainerSkip)>,
}

impl TrainerLinks<'_> {
    /// The `linkCourseRunTrainer` list.
    fn json(&self) -> Value {
        Value::Array(
            self.linked
                .iter()
                .filter_map(|t| Some((*t, t.fields.tpg_trainer_id.as_deref()?)))
                .zip(1u32..)
                .map(|((t, id), n)| trainer_link(t, id, n))
                .collect(),
        )
    }
}

/// The run's trainers: the distinct trainers assigned to its sessions,
/// each at the place of its first session (by date, start time, end time,
/// session id; then trainer id), found in `trainers` (the records the
/// sessions name, in any order; others are ignored). A trainer is linked
/// when it is active and has a `tpg_trainer_id` no trainer linked before
/// it has; otherwise, or when no record has its id, it is skipped with the
/// reason.
pub fn link_trainers<'a>(sessions: &[Session], trainers: &'a [Trainer]) -> TrainerLinks<'a> {
    let mut order: Vec<&TrainerId> = Vec::new();
    for s in in_order(sessions) {
        if let Some(t) = &s.fields.trainer_id {
            if !order.contains(&t) {
                order.push(t);
            }
        }
    }
    let mut links = TrainerLinks {
        linked: Vec::new(),
        skipped: Vec::new(),
    };
    for id in order {
        match trainers.iter().find(|t| &t.id == id) {
            None => links.skipped.push((id.clone(), TrainerSkip::NotFound)),
            Some(t) if t.fields.status != TrainerStatus::Active => {
                links.skipped.push((id.clone(), TrainerSkip::Inactive));
            }
            Some(t) if t.fields.tpg_trainer_id.is_none() => {
                links
                    .skipped
                    .push((id.clone(), TrainerSkip::NoTpgTrainerId));
            }
            Some(t)
                if links
                    .linked
                    .iter()
                    .any(|l| l.fields.tpg_trainer_id == t.fields.tpg_trainer_id) =>
            {
                links
                    .skipped
                    .push((id.clone(), TrainerSkip::SameTpgTrainerId));
            }
            Some(t) => links.linked.push(t),
        }
    }
    links
}

/// One `linkCourseRunTrainer` entry: an existing trainer of the provider's
/// trainer profile, referred to by TPGateway's id `id`.
fn trainer_link(t: &Trainer, id: &str, index_number: u32) -> Value {
    let f = &t.fields;
    let mut m = Map::new();
    // NOT FOUND (API-NOTES §6.1): what `indexNumber` means; we number the
    // trainers we send 1, 2, ... in the run's order.
    m.insert("indexNumber".into(), json!(index_number));
    // NOT FOUND (API-NOTES §5, §6.1): which field finds an "Existing"
    // trainer; TS sends only `idNumber` (a national id, which we do not
    // hold), CI's sample has a GUID-like `id`: we send TPGateway's trainer
    // id as `id` and no `idNumber`/`idType`.
    m.insert("id".into(), json!(id));
    // NOT FOUND (API-NOTES §6.1): whether name and email are read (or
    // overwrite the profile) for an existing trainer; we send ours (name at
    // most 66 characters, email only when set), as SC and CI do.
    m.insert("name".into(), json!(f.name));
    if let Some(email) = &f.email {
        m.insert("email".into(), json!(email));
    }
    // NOT FOUND (API-NOTES §6.1): `inTrainingProviderProfile` is not
    // explained; a trainer with TPGateway's id is in the profile: true.
    m.insert("inTrainingProviderProfile".into(), json!(true));
    // trainerType 1 Existing (API-NOTES §10, [C2]).
    m.insert(
        "trainerType".into(),
        json!({ "code": "1", "description": "Existing" }),
    );
    // NOT FOUND (API-NOTES §6.1, §10): whether `roles` is needed for an
    // existing trainer, and which role; we do not record who assesses, so
    // every trainer is role 1 "Trainer" (the codes are [S1] SC). The
    // profile fields (`domainAreaOfPractice`, `experience`, `linkedInURL`,
    // `salutationId`, `photo`, `linkedSsecEQAs`) are left out: they belong
    // to a new trainer's profile (TS sends only an empty `photo` besides
    // the id, and that worked live).
    m.insert(
        "roles".into(),
        json!([{ "role": { "id": 1, "description": "Trainer" } }]),
    );
    json!({ "trainer": m })
}

/// One session's fields, as publish sends them and edit after its `action`
/// (and `sessionId`).
fn session_fields(run: &CourseRun, s: &Session) -> Map<String, Value> {
    let f = &s.fields;
    let day = date_compact(f.session_date);
    let mode = f.mode_of_training.unwrap_or(run.fields.delivery_mode);
    let mut m = Map::new();
    m.insert("startDate".into(), json!(day));
    m.insert("endDate".into(), json!(day));
    m.insert("startTime".into(), json!(time_hhmm(f.start_time)));
    m.insert("endTime".into(), json!(time_hhmm(f.end_time)));
    m.insert("modeOfTraining".into(), json!(mode.code()));
    // primaryVenue true: TPGateway copies the run's venue (§11); we send it
    // too.
    // NOT FOUND (API-NOTES §11): only true is documented; a session with a
    // venue of its own says false.
    let venue = match (&f.venue, &run.fields.venue) {
        (Some(own), _) => Some((own, false)),
        (None, Some(run_venue)) => Some((run_venue, true)),
        (None, None) => None,
    };
    if let Some((v, primary)) = venue {
        let mut vj = venue_json(v);
        vj.insert("primaryVenue".into(), json!(primary));
        m.insert("venue".into(), Value::Object(vj));
    }
    m
}

/// A venue in TPGateway's names; absent optional parts are left out.
fn venue_json(v: &Venue) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(b) = &v.block {
        m.insert("block".into(), json!(b));
    }
    if let Some(s) = &v.street {
        m.insert("street".into(), json!(s));
    }
    m.insert("floor".into(), json!(v.floor));
    m.insert("unit".into(), json!(v.unit));
    if let Some(b) = &v.building {
        m.insert("building".into(), json!(b));
    }
    m.insert("postalCode".into(), json!(v.postal_code));
    m.insert("room".into(), json!(v.room));
    if let Some(w) = v.wheelchair_access {
        m.insert("wheelChairAccess".into(), json!(w));
    }
    m
}

/// What `scheduleInfo` says: the run's own text, or a summary of its
/// sessions; at most 300 characters either way.
fn schedule_info(run: &CourseRun, sessions: &[&Session]) -> String {
    match &run.fields.schedule_info {
        Some(text) => truncate_chars(text, MAX_SCHEDULE_INFO),
        // NOT FOUND (API-NOTES §6.1): the field looks required, and we let
        // a run go without one; we then describe the sessions.
        None => sessions_summary(sessions),
    }
}

/// `Wed 15 Jan 2025 09:00-18:00; Thu 16 Jan 2025 09:00-18:00`, whole
/// entries only, ending `; ...` when not all fit in 300 characters, or
/// `See sessions` when there are none.
fn sessions_summary(sessions: &[&Session]) -> String {
    const MORE: &str = "; ...";
    if sessions.is_empty() {
        return "See sessions".into();
    }
    let entries: Vec<String> = sessions
        .iter()
        .map(|s| {
            format!(
                "{} {}-{}",
                s.fields.session_date.format("%a %d %b %Y"),
                time_hhmm(s.fields.start_time),
                time_hhmm(s.fields.end_time)
            )
        })
        .collect();
    let full = entries.join("; ");
    if full.chars().count() <= MAX_SCHEDULE_INFO {
        return full;
    }
    let mut out = String::new();
    let mut used = 0;
    for e in &entries {
        let sep = if out.is_empty() { "" } else { "; " };
        let len = sep.chars().count() + e.chars().count();
        if used + len + MORE.chars().count() > MAX_SCHEDULE_INFO {
            break;
        }
        out.push_str(sep);
        out.push_str(e);
        used += len;
    }
    if out.is_empty() {
        return truncate_chars(&full, MAX_SCHEDULE_INFO);
    }
    out.push_str(MORE);
    out
}

/// The first `max` characters of `s`.
fn truncate_chars(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// The TPGateway run id from a publish answer (`data.runs[0].id`, a JSON
/// number or a string of digits), as a decimal string.
pub fn parse_publish_response(body: &Value) -> Result<String, ParseError> {
    check_status(body)?;
    match at(body, &["data", "runs"]) {
        None => Err(ParseError::missing("data.runs")),
        Some(Value::Array(runs)) => {
            run_id_at(runs.first().and_then(|r| at(r, &["id"])), "data.runs[0].id")
        }
        Some(_) => Err(ParseError::malformed("data.runs", "must be a list")),
    }
}

/// A session as TPGateway lists it (API-NOTES §6.4 `data.sessions[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpgSession {
    /// `{CRN}-{runId}-S{n}`, e.g. `TGS-2020000697-835457-S1`.
    pub id: String,
    /// The session's day (its `startDate`; a session is one day).
    pub date: NaiveDate,
    pub start_time: NaiveTime,
    pub end_time: NaiveTime,
    pub deleted: bool,
}

/// Reads a get-sessions answer (`data.sessions[]`). Dates may be
/// `"YYYYMMDD"` or `"YYYY-MM-DD"` strings or the integer `YYYYMMDD`; times
/// `"HH:mm"` or `"HH:mm:ss"`; a missing `deleted` is false. An answer whose
/// envelope status is 404 has no sessions.
pub fn parse_sessions_response(body: &Value) -> Result<Vec<TpgSession>, ParseError> {
    // NOT FOUND (API-NOTES §4, §6.4): "no records" comes back as status 404
    // (one source); we read it as an empty list. A 200 without
    // `data.sessions` is an error, not an empty list: taking it for one
    // would have us add the run's sessions a second time.
    if envelope_status(body) == Some(404) {
        return Ok(Vec::new());
    }
    check_status(body)?;
    let list = match at(body, &["data", "sessions"]) {
        None => return Err(ParseError::missing("data.sessions")),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(ParseError::malformed("data.sessions", "must be a list")),
    };
    list.iter()
        .enumerate()
        .map(|(i, s)| parse_session(s, &format!("data.sessions[{i}]")))
        .collect()
}

fn parse_session(s: &Value, prefix: &str) -> Result<TpgSession, ParseError> {
    if !s.is_object() {
        return Err(ParseError::malformed(prefix, "must be an object"));
    }
    let f = |name: &str| format!("{prefix}.{name}");
    let id = match at(s, &["id"]) {
        None => return Err(ParseError::missing(f("id"))),
        Some(Value::String(id))
            if !id.trim().is_empty() && crate::types::text_problem(id).is_none() =>
        {
            id.clone()
        }
        Some(_) => {
            return Err(ParseError::malformed(
                f("id"),
                "must be a session id: text without control characters",
            ))
        }
    };
    // NOT FOUND (API-NOTES §6.4): the date forms of this answer are not
    // documented; `startDate` is the session's day (sessions are one day).
    let date = date_at(at(s, &["startDate"]), &f("startDate"))?
        .ok_or_else(|| ParseError::missing(f("startDate")))?;
    Ok(TpgSession {
        id,
        date,
        start_time: time_at(at(s, &["startTime"]), &f("startTime"))?,
        end_time: time_at(at(s, &["endTime"]), &f("endTime"))?,
        deleted: flag_at(at(s, &["deleted"]), &f("deleted"))?,
    })
}

/// Pairs our sessions with TPGateway's (those not deleted) by date, start
/// and end time: (our session id, TPGateway's session id). Ours never
/// overlap, so a slot names one of ours; each of theirs is paired at most
/// once.
pub fn match_sessions(ours: &[Session], theirs: &[TpgSession]) -> Vec<(SessionId, String)> {
    let mut taken = vec![false; theirs.len()];
    let mut pairs = Vec::new();
    for s in ours {
        // NOT FOUND (API-NOTES §6.4): should TPGateway list two sessions in
        // one slot, ours is paired with the first one listed.
        let found = theirs.iter().zip(taken.iter_mut()).find(|(t, taken)| {
            !**taken
                && !t.deleted
                && t.date == s.fields.session_date
                && t.start_time == s.fields.start_time
                && t.end_time == s.fields.end_time
        });
        if let Some((t, taken)) = found {
            *taken = true;
            pairs.push((s.id.clone(), t.id.clone()));
        }
    }
    pairs
}

/// Our sessions set against what TPGateway lists, before an edit whose
/// previous attempt may have reached it, or to learn the ids of sessions
/// it created.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionPlan {
    /// Our sessions, each with the TPGateway id it has there (kept when
    /// TPGateway still lists it, else matched by slot, else none).
    pub sessions: Vec<Session>,
    /// The ids TPGateway lists, deleted ones left out.
    pub live_ids: Vec<String>,
    /// The sessions whose TPGateway id differs from the stored one.
    pub changed: Vec<(SessionId, Option<String>)>,
}

/// Sets our sessions against TPGateway's: a stored id TPGateway still
/// lists is kept; a stored id it no longer lists is dropped; sessions left
/// without one are paired by slot ([`match_sessions`]) with TPGateway's
/// sessions that no session of ours holds.
pub fn reconcile_sessions(ours: &[Session], theirs: &[TpgSession]) -> SessionPlan {
    let live_ids: Vec<String> = theirs
        .iter()
        .filter(|t| !t.deleted)
        .map(|t| t.id.clone())
        .collect();
    let mut sessions: Vec<Session> = ours.to_vec();
    for s in &mut sessions {
        if s.external_id
            .as_ref()
            .is_some_and(|e| !live_ids.contains(e))
        {
            s.external_id = None;
        }
    }
    let held: Vec<&String> = sessions
        .iter()
        .filter_map(|s| s.external_id.as_ref())
        .collect();
    let free: Vec<TpgSession> = theirs
        .iter()
        .filter(|t| !t.deleted && !held.contains(&&t.id))
        .cloned()
        .collect();
    let without: Vec<Session> = sessions
        .iter()
        .filter(|s| s.external_id.is_none())
        .cloned()
        .collect();
    for (sid, ext) in match_sessions(&without, &free) {
        if let Some(s) = sessions.iter_mut().find(|s| s.id == sid) {
            s.external_id = Some(ext);
        }
    }
    let changed = sessions
        .iter()
        .zip(ours)
        .filter(|(new, old)| new.external_id != old.external_id)
        .map(|(new, _)| (new.id.clone(), new.external_id.clone()))
        .collect();
    SessionPlan {
        sessions,
        live_ids,
        changed,
    }
}

/// A run as TPGateway returns it from get-run-by-id (`data.course.run`) or
/// runs-by-CRN (`data.course.runs[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpgRun {
    /// TPGateway's run id, as a decimal string.
    pub id: String,
    pub course_start: Option<NaiveDate>,
    pub course_end: Option<NaiveDate>,
    pub opening: Option<NaiveDate>,
    pub closing: Option<NaiveDate>,
    pub deleted: bool,
}

/// Reads a get-run-by-id answer (`data.course.run`).
pub fn parse_run_response(body: &Value) -> Result<TpgRun, ParseError> {
    check_status(body)?;
    match at(body, &["data", "course", "run"]) {
        None => Err(ParseError::missing("data.course.run")),
        Some(run) => parse_run(run, "data.course.run"),
    }
}

/// Reads a runs-by-CRN answer (`data.course.runs[]`); a missing or empty
/// list (or an envelope status 404) is no runs.
pub fn parse_runs_by_crn_response(body: &Value) -> Result<Vec<TpgRun>, ParseError> {
    // NOT FOUND (API-NOTES §4, §6.3): how "no runs" looks is not known; a
    // 404, and an answer without `data.course.runs`, are read as none.
    if envelope_status(body) == Some(404) {
        return Ok(Vec::new());
    }
    check_status(body)?;
    if at(body, &["data"]).is_none() {
        return Err(ParseError::missing("data"));
    }
    match at(body, &["data", "course", "runs"]) {
        None => Ok(Vec::new()),
        Some(Value::Array(runs)) => runs
            .iter()
            .enumerate()
            .map(|(i, r)| parse_run(r, &format!("data.course.runs[{i}]")))
            .collect(),
        Some(_) => Err(ParseError::malformed("data.course.runs", "must be a list")),
    }
}

fn parse_run(r: &Value, prefix: &str) -> Result<TpgRun, ParseError> {
    if !r.is_object() {
        return Err(ParseError::malformed(prefix, "must be an object"));
    }
    let f = |name: &str| format!("{prefix}.{name}");
    // NOT FOUND (API-NOTES §6.3): the run's schema is not documented; its
    // dates are read in the publish forms (or as strings), and TS's
    // `courseStartDate` stands in for `courseDates.start`.
    let course_start = match at(r, &["courseDates", "start"]) {
        Some(v) => date_at(Some(v), &f("courseDates.start"))?,
        None => date_at(at(r, &["courseStartDate"]), &f("courseStartDate"))?,
    };
    Ok(TpgRun {
        id: run_id_at(at(r, &["id"]), &f("id"))?,
        course_start,
        course_end: date_at(at(r, &["courseDates", "end"]), &f("courseDates.end"))?,
        opening: date_at(
            at(r, &["registrationDates", "opening"]),
            &f("registrationDates.opening"),
        )?,
        closing: date_at(
            at(r, &["registrationDates", "closing"]),
            &f("registrationDates.closing"),
        )?,
        deleted: flag_at(at(r, &["deleted"]), &f("deleted"))?,
    })
}

/// Which of TPGateway's runs is ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunMatch {
    None,
    One(String),
    /// Several runs fit; their ids, in the order listed.
    Many(Vec<String>),
}

/// Which of TPGateway's runs (for our CRN) is ours, after an unknown
/// outcome: not deleted, and course start and end and registration opening
/// and closing all equal ours. An id listed twice counts once.
pub fn find_our_run(run: &CourseRun, candidates: &[TpgRun]) -> RunMatch {
    let f = &run.fields;
    let mut ids: Vec<String> = Vec::new();
    for c in candidates {
        let fits = !c.deleted
            && c.course_start == Some(f.start_date)
            && c.course_end == Some(f.end_date)
            && c.opening == Some(f.registration_opening)
            && c.closing == Some(f.registration_closing);
        if fits && !ids.contains(&c.id) {
            ids.push(c.id.clone());
        }
    }
    if ids.len() > 1 {
        return RunMatch::Many(ids);
    }
    match ids.pop() {
        None => RunMatch::None,
        Some(id) => RunMatch::One(id),
    }
}

/// API-NOTES §12: the id of the run a re-publish collided with, from an
/// error whose `error.details[0].message` (or else `error.message`)
/// contains `Course Run ID is <digits>`.
pub fn existing_run_id(error_body: &Value) -> Option<String> {
    let first_detail = at(error_body, &["error", "details"])
        .and_then(|d| d.get(0))
        .and_then(|d| at(d, &["message"]))
        .and_then(Value::as_str);
    let message = at(error_body, &["error", "message"]).and_then(Value::as_str);
    first_detail
        .and_then(run_id_in)
        .or_else(|| message.and_then(run_id_in))
}

/// The digits after "Course Run ID is" in `message`.
fn run_id_in(message: &str) -> Option<String> {
    // NOT FOUND (API-NOTES §12): only the phrase is known (one source); its
    // case and the spaces before the digits are not relied on.
    const PHRASE: &str = "course run id is";
    // ASCII lowercasing keeps every byte offset.
    let lower = message.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower.get(from..)?.find(PHRASE) {
        let after = from + i + PHRASE.len();
        let rest = message.get(after..)?.trim_start_matches(' ');
        let end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let digits = rest.get(..end)?;
        if is_run_id(digits) {
            return Some(digits.to_string());
        }
        from = after;
    }
    None
}
