//! Course runs on TPGateway: the publish, edit and delete bodies (API-NOTES
//! §6.1, §6.2, §13).

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use super::{date_compact, date_number, time_hhmm, Provider};
use crate::course_run::{CourseRun, Session, MAX_SCHEDULE_INFO};
use crate::types::Venue;

/// `POST /courses/courseRuns/publish` body: one run (`course.runs` has
/// exactly one entry, `sequenceNumber` 1) with all its sessions.
pub fn publish_run(p: &Provider, run: &CourseRun, sessions: &[Session]) -> Value {
    let sessions = in_order(sessions);
    let mut r = Map::new();
    r.insert("sequenceNumber".into(), json!(1));
    r.extend(run_fields(run, &sessions));
    let list: Vec<Value> = sessions
        .iter()
        .map(|s| Value::Object(session_fields(run, s)))
        .collect();
    r.insert("sessions".into(), Value::Array(list));
    r.insert("linkCourseRunTrainer".into(), no_trainers());
    let mut course = course_head(p, run);
    course.insert("runs".into(), json!([r]));
    json!({ "course": course })
}

/// `POST /courses/courseRuns/edit/{runId}` body with `course.run.action =
/// "update"`, the same run fields as publish, and `sessions`: each session
/// with an external id as `{"action":"update","sessionId":…, …fields}`, each
/// without one as `{"action":"add", …fields}`, and each id in
/// `published_session_ids` that no current session has as
/// `{"action":"delete","sessionId":…}` (listed first).
pub fn edit_run(
    p: &Provider,
    run: &CourseRun,
    sessions: &[Session],
    published_session_ids: &[String],
) -> Value {
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
    r.insert("linkCourseRunTrainer".into(), no_trainers());
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

/// The trainers of a run: none yet.
fn no_trainers() -> Value {
    // NOT FOUND (API-NOTES §6.1, §6.2): trainers are a later issue, so no
    // run links any; what an empty list does on edit to trainers linked on
    // TPGateway's side is not known.
    json!([])
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
