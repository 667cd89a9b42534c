//! Course-run validation as TPGateway does it, as far as public code shows
//! (API-NOTES §6.1 field shapes and maximum lengths, §10 codes, §11 rules).
//! Every problem is collected with its field path
//! (`course.runs[0].venue.postalCode`), never the value.

use chrono::{NaiveDate, NaiveTime};
use serde_json::Value;

use crate::envelope::Detail;

/// The problems found so far.
#[derive(Debug, Default)]
pub(crate) struct Errors(pub(crate) Vec<Detail>);

impl Errors {
    pub(crate) fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(Detail {
            field: field.into(),
            message: message.into(),
        });
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What later checks need from a run: its course dates.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RunInfo {
    pub(crate) start: Option<NaiveDate>,
    pub(crate) end: Option<NaiveDate>,
}

/// A member, JSON `null` read as absent.
pub(crate) fn member<'a>(obj: &'a Value, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn at(prefix: &str, name: &str) -> String {
    format!("{prefix}.{name}")
}

/// A string member; when required, present and not blank.
pub(crate) fn text<'a>(
    e: &mut Errors,
    v: Option<&'a Value>,
    field: &str,
    required: bool,
    max: usize,
) -> Option<&'a str> {
    match v {
        None => {
            if required {
                e.push(field, "is required");
            }
            None
        }
        Some(Value::String(s)) if s.trim().is_empty() => {
            if required {
                e.push(field, "is required");
                None
            } else {
                Some(s)
            }
        }
        Some(Value::String(s)) if s.chars().count() > max => {
            e.push(field, format!("must be at most {max} characters"));
            None
        }
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            e.push(field, "must be a string");
            None
        }
    }
}

/// An object member (returned as the value, to read its members).
pub(crate) fn object<'a>(e: &mut Errors, v: Option<&'a Value>, field: &str) -> Option<&'a Value> {
    match v {
        None => {
            e.push(field, "is required");
            None
        }
        Some(o) if o.is_object() => Some(o),
        Some(_) => {
            e.push(field, "must be an object");
            None
        }
    }
}

/// A date written as the digits YYYYMMDD, if it is a real date.
pub(crate) fn yyyymmdd(n: u64) -> Option<NaiveDate> {
    if !(10_000_101..=99_991_231).contains(&n) {
        return None;
    }
    let year = i32::try_from(n / 10000).ok()?;
    let month = u32::try_from(n / 100 % 100).ok()?;
    let day = u32::try_from(n % 100).ok()?;
    NaiveDate::from_ymd_opt(year, month, day)
}

/// `"YYYYMMDD"` text, if it is a real date.
pub(crate) fn yyyymmdd_text(s: &str) -> Option<NaiveDate> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    yyyymmdd(s.parse().ok()?)
}

/// A required integer date, YYYYMMDD (runs' registration and course dates).
fn int_date(e: &mut Errors, v: Option<&Value>, field: &str) -> Option<NaiveDate> {
    match v {
        None => {
            e.push(field, "is required");
            None
        }
        Some(Value::Number(n)) => match n.as_u64().and_then(yyyymmdd) {
            Some(d) => Some(d),
            None => {
                e.push(field, "must be a valid date as the integer YYYYMMDD");
                None
            }
        },
        Some(_) => {
            e.push(field, "must be a date as the integer YYYYMMDD");
            None
        }
    }
}

/// A required string date, `"YYYYMMDD"` (sessions' dates).
fn text_date(e: &mut Errors, v: Option<&Value>, field: &str) -> Option<NaiveDate> {
    match v {
        None => {
            e.push(field, "is required");
            None
        }
        Some(Value::String(s)) => match yyyymmdd_text(s) {
            Some(d) => Some(d),
            None => {
                e.push(field, "must be a valid date as the string YYYYMMDD");
                None
            }
        },
        Some(_) => {
            e.push(field, "must be a date as the string YYYYMMDD");
            None
        }
    }
}

/// A required time, `"HH:mm"`.
fn hhmm(e: &mut Errors, v: Option<&Value>, field: &str) -> Option<NaiveTime> {
    let parsed = match v {
        None => {
            e.push(field, "is required");
            return None;
        }
        Some(Value::String(s)) => parse_hhmm(s),
        Some(_) => None,
    };
    if parsed.is_none() {
        e.push(field, "must be a time as HH:mm");
    }
    parsed
}

fn parse_hhmm(s: &str) -> Option<NaiveTime> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)
}

/// A required mode-of-training code, `"1"` to `"9"` (API-NOTES §10).
fn mode<'a>(e: &mut Errors, v: Option<&'a Value>, field: &str) -> Option<&'a str> {
    match v {
        None => {
            e.push(field, "is required");
            None
        }
        Some(Value::String(s))
            if matches!(
                s.as_str(),
                "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9"
            ) =>
        {
            Some(s)
        }
        Some(_) => {
            e.push(field, "must be a mode of training code from 1 to 9");
            None
        }
    }
}

/// Asynchronous eLearning (2) and On-the-Job (4) need no venue (§11). An
/// unreadable mode (already reported) does not make the venue required.
fn needs_venue(mode: Option<&str>) -> bool {
    mode.is_some_and(|m| m != "2" && m != "4")
}

/// Venue members: name, maximum length, required when a venue is needed.
const VENUE: [(&str, usize, bool); 7] = [
    ("block", 10, false),
    ("street", 32, false),
    ("floor", 3, true),
    ("unit", 5, true),
    ("building", 66, false),
    ("postalCode", 6, true),
    ("room", 255, true),
];

fn boolean(e: &mut Errors, v: Option<&Value>, field: &str) -> Option<bool> {
    match v {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            e.push(field, "must be true or false");
            None
        }
    }
}

/// A venue; `needed` when the mode of training needs one. A session venue
/// marked `primaryVenue: true` takes the run's venue and may omit members.
fn venue(e: &mut Errors, v: Option<&Value>, field: &str, needed: bool, session: bool) {
    let Some(v) = v else {
        if needed {
            e.push(field, "is required");
        }
        return;
    };
    if !v.is_object() {
        e.push(field, "must be an object");
        return;
    }
    let primary = if session {
        boolean(e, member(v, "primaryVenue"), &at(field, "primaryVenue")).unwrap_or(false)
    } else {
        false
    };
    for (name, max, required) in VENUE {
        text(
            e,
            member(v, name),
            &at(field, name),
            required && needed && !primary,
            max,
        );
    }
    boolean(
        e,
        member(v, "wheelChairAccess"),
        &at(field, "wheelChairAccess"),
    );
}

pub(crate) fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn integer(e: &mut Errors, v: Option<&Value>, field: &str, min: u64, what: &str) -> Option<u64> {
    let v = v?;
    match v.as_u64().filter(|n| *n >= min) {
        Some(n) => Some(n),
        None => {
            e.push(field, what);
            None
        }
    }
}

/// The run's own fields (everything but `sessions`), all as publish needs
/// them. `p` is the run's path, `course.runs[0]` or `course.run`.
pub(crate) fn run_fields(e: &mut Errors, run: &Value, p: &str) -> RunInfo {
    if !run.is_object() {
        e.push(p, "must be an object");
        return RunInfo::default();
    }
    if let Some(v) = member(run, "sequenceNumber") {
        if !(v.is_i64() || v.is_u64()) {
            e.push(at(p, "sequenceNumber"), "must be an integer");
        }
    }

    let reg_path = at(p, "registrationDates");
    let (opening, closing) = match object(e, member(run, "registrationDates"), &reg_path) {
        Some(r) => (
            int_date(e, member(r, "opening"), &at(&reg_path, "opening")),
            int_date(e, member(r, "closing"), &at(&reg_path, "closing")),
        ),
        None => (None, None),
    };
    let dates_path = at(p, "courseDates");
    let (start, end) = match object(e, member(run, "courseDates"), &dates_path) {
        Some(d) => (
            int_date(e, member(d, "start"), &at(&dates_path, "start")),
            int_date(e, member(d, "end"), &at(&dates_path, "end")),
        ),
        None => (None, None),
    };
    if let (Some(o), Some(c)) = (opening, closing) {
        if c < o {
            e.push(
                at(&reg_path, "closing"),
                "must not be before registrationDates.opening",
            );
        }
    }
    if let (Some(s), Some(x)) = (start, end) {
        if x < s {
            e.push(
                at(&dates_path, "end"),
                "must not be before courseDates.start",
            );
        }
    }
    if let (Some(o), Some(s)) = (opening, start) {
        if s < o {
            e.push(
                at(&dates_path, "start"),
                "must not be before registrationDates.opening",
            );
        }
    }

    let type_path = at(p, "scheduleInfoType");
    if let Some(t) = object(e, member(run, "scheduleInfoType"), &type_path) {
        let code_path = at(&type_path, "code");
        if let Some(code) = text(e, member(t, "code"), &code_path, true, 2) {
            if code.chars().count() != 2 {
                e.push(code_path, "must be 2 characters");
            }
        }
        text(
            e,
            member(t, "description"),
            &at(&type_path, "description"),
            false,
            32,
        );
    }
    text(
        e,
        member(run, "scheduleInfo"),
        &at(p, "scheduleInfo"),
        true,
        300,
    );

    let m = mode(e, member(run, "modeOfTraining"), &at(p, "modeOfTraining"));
    venue(
        e,
        member(run, "venue"),
        &at(p, "venue"),
        needs_venue(m),
        false,
    );

    let email_path = at(p, "courseAdminEmail");
    if let Some(email) = text(e, member(run, "courseAdminEmail"), &email_path, true, 255) {
        if !looks_like_email(email) {
            e.push(email_path, "must be an e-mail address");
        }
    }

    let vacancy_path = at(p, "courseVacancy");
    if let Some(v) = object(e, member(run, "courseVacancy"), &vacancy_path) {
        let code_path = at(&vacancy_path, "code");
        if let Some(code) = text(e, member(v, "code"), &code_path, true, 1) {
            if !matches!(code, "A" | "F" | "L") {
                e.push(code_path, "must be A, F or L");
            }
        }
        text(
            e,
            member(v, "description"),
            &at(&vacancy_path, "description"),
            false,
            255,
        );
    }

    let intake = integer(
        e,
        member(run, "intakeSize"),
        &at(p, "intakeSize"),
        1,
        "must be a positive integer",
    );
    let threshold = integer(
        e,
        member(run, "threshold"),
        &at(p, "threshold"),
        0,
        "must be a non-negative integer",
    );
    let registered = integer(
        e,
        member(run, "registeredUserCount"),
        &at(p, "registeredUserCount"),
        0,
        "must be a non-negative integer",
    );
    if let (Some(intake), Some(registered)) = (intake, registered) {
        if registered > intake.saturating_add(threshold.unwrap_or(0)) {
            e.push(
                at(p, "registeredUserCount"),
                "must not exceed intakeSize plus threshold",
            );
        }
    }
    trainers(
        e,
        member(run, "linkCourseRunTrainer"),
        &at(p, "linkCourseRunTrainer"),
    );
    RunInfo { start, end }
}

/// Trainer members with a maximum length (API-NOTES §6.1; the id's length
/// is ours: TPGateway's ids are GUID-like, §5).
const TRAINER_ID_MAX: usize = 64;
const TRAINER_NAME_MAX: usize = 66;
const TRAINER_EMAIL_MAX: usize = 320;
const TRAINER_ID_NUMBER_MAX: usize = 50;

/// `linkCourseRunTrainer` (API-NOTES §6.1, §10): optional; an array of
/// `{"trainer": {...}}`. `trainerType.code` 1 (Existing) names the trainer
/// by `id` or `idNumber`; 2 (New) needs `name` and `idNumber`. A trainer
/// `id` listed twice is refused.
fn trainers(e: &mut Errors, v: Option<&Value>, p: &str) {
    let list = match v {
        None => return,
        Some(Value::Array(list)) => list,
        Some(_) => {
            e.push(p, "must be an array");
            return;
        }
    };
    let mut ids: Vec<&str> = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        let ep = format!("{p}[{i}]");
        if !entry.is_object() {
            e.push(ep, "must be an object");
            continue;
        }
        let Some(t) = object(e, member(entry, "trainer"), &at(&ep, "trainer")) else {
            continue;
        };
        let tp = at(&ep, "trainer");
        if let Some(n) = member(t, "indexNumber") {
            if !(n.is_i64() || n.is_u64()) {
                e.push(at(&tp, "indexNumber"), "must be an integer");
            }
        }
        let id = text(e, member(t, "id"), &at(&tp, "id"), false, TRAINER_ID_MAX);
        let id_number = text(
            e,
            member(t, "idNumber"),
            &at(&tp, "idNumber"),
            false,
            TRAINER_ID_NUMBER_MAX,
        );
        let name = text(
            e,
            member(t, "name"),
            &at(&tp, "name"),
            false,
            TRAINER_NAME_MAX,
        );
        let email_path = at(&tp, "email");
        if let Some(email) = text(e, member(t, "email"), &email_path, false, TRAINER_EMAIL_MAX) {
            if !email.trim().is_empty() && !looks_like_email(email) {
                e.push(email_path, "must be an e-mail address");
            }
        }
        boolean(
            e,
            member(t, "inTrainingProviderProfile"),
            &at(&tp, "inTrainingProviderProfile"),
        );
        roles(e, member(t, "roles"), &at(&tp, "roles"));
        let type_path = at(&tp, "trainerType");
        let code_path = at(&type_path, "code");
        let code = object(e, member(t, "trainerType"), &type_path)
            .and_then(|ty| text(e, member(ty, "code"), &code_path, true, 1));
        let present = |s: Option<&str>| s.is_some_and(|s| !s.trim().is_empty());
        match code {
            Some("1") if !present(id) && !present(id_number) => e.push(
                at(&tp, "id"),
                "is required for an existing trainer (or idNumber)",
            ),
            None | Some("1") => {}
            Some("2") => {
                if !present(name) {
                    e.push(at(&tp, "name"), "is required for a new trainer");
                }
                if !present(id_number) {
                    e.push(at(&tp, "idNumber"), "is required for a new trainer");
                }
            }
            Some(_) => e.push(code_path, "must be 1 (Existing) or 2 (New)"),
        }
        if let Some(id) = id.map(str::trim).filter(|id| !id.is_empty()) {
            if ids.contains(&id) {
                e.push(at(&tp, "id"), "names a trainer already linked to this run");
            } else {
                ids.push(id);
            }
        }
    }
}

/// A trainer's `roles`: optional; an array of `{"role": {"id": 1 | 2}}`
/// (1 Trainer, 2 Assessor, API-NOTES §10).
fn roles(e: &mut Errors, v: Option<&Value>, p: &str) {
    let list = match v {
        None => return,
        Some(Value::Array(list)) => list,
        Some(_) => {
            e.push(p, "must be an array");
            return;
        }
    };
    for (i, entry) in list.iter().enumerate() {
        let rp = format!("{p}[{i}]");
        if !entry.is_object() {
            e.push(rp, "must be an object");
            continue;
        }
        let role_path = at(&rp, "role");
        if let Some(role) = object(e, member(entry, "role"), &role_path) {
            let id_path = at(&role_path, "id");
            match member(role, "id").and_then(Value::as_u64) {
                Some(1 | 2) => {}
                _ => e.push(id_path, "must be 1 (Trainer) or 2 (Assessor)"),
            }
        }
    }
}

/// One session as publish (or an edit's update/add) gives it.
pub(crate) fn session(e: &mut Errors, s: &Value, p: &str, run: &RunInfo) {
    if !s.is_object() {
        e.push(p, "must be an object");
        return;
    }
    let start_date = text_date(e, member(s, "startDate"), &at(p, "startDate"));
    let end_date = text_date(e, member(s, "endDate"), &at(p, "endDate"));
    let start_time = hhmm(e, member(s, "startTime"), &at(p, "startTime"));
    let end_time = hhmm(e, member(s, "endTime"), &at(p, "endTime"));
    if let (Some(sd), Some(ed)) = (start_date, end_date) {
        if sd != ed {
            e.push(at(p, "endDate"), "must be the same day as startDate");
        }
    }
    if let (Some(st), Some(et)) = (start_time, end_time) {
        if et <= st {
            e.push(at(p, "endTime"), "must be after startTime");
        }
    }
    let m = mode(e, member(s, "modeOfTraining"), &at(p, "modeOfTraining"));
    venue(e, member(s, "venue"), &at(p, "venue"), needs_venue(m), true);
    if let (Some(sd), Some(first)) = (start_date, run.start) {
        if sd < first {
            e.push(at(p, "startDate"), "must be within the course dates");
        }
    }
    if let (Some(ed), Some(last)) = (end_date, run.end) {
        if ed > last {
            e.push(at(p, "endDate"), "must be within the course dates");
        }
    }
}

/// A run as publish gives it: its fields and its sessions.
pub(crate) fn publish_run(e: &mut Errors, run: &Value, p: &str) {
    let info = run_fields(e, run, p);
    if !run.is_object() {
        return;
    }
    match member(run, "sessions") {
        None => {}
        Some(Value::Array(sessions)) => {
            for (i, s) in sessions.iter().enumerate() {
                session(e, s, &format!("{p}.sessions[{i}]"), &info);
            }
        }
        Some(_) => e.push(at(p, "sessions"), "must be an array"),
    }
}

/// The dates that identify a run for TPGateway's duplicate check:
/// registration opening/closing and course start/end.
pub(crate) fn schedule_key(run: &Value) -> [Option<u64>; 4] {
    let n = |group: &str, name: &str| {
        member(run, group)
            .and_then(|g| member(g, name))
            .and_then(Value::as_u64)
    };
    [
        n("registrationDates", "opening"),
        n("registrationDates", "closing"),
        n("courseDates", "start"),
        n("courseDates", "end"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(e: &Errors) -> Vec<&str> {
        e.0.iter().map(|d| d.field.as_str()).collect()
    }

    fn valid_run() -> Value {
        json!({
            "registrationDates": {"opening": 20250101, "closing": 20250110},
            "courseDates": {"start": 20250115, "end": 20250116},
            "scheduleInfoType": {"code": "01", "description": "Description"},
            "scheduleInfo": "Wed-Thu 9am-6pm",
            "venue": {"floor": "03", "unit": "01", "postalCode": "408533", "room": "R1"},
            "modeOfTraining": "1",
            "courseAdminEmail": "admin@example.com",
            "courseVacancy": {"code": "A", "description": "Available"},
            "sessions": [{"startDate": "20250115", "endDate": "20250115",
                "startTime": "09:00", "endTime": "18:00", "modeOfTraining": "1",
                "venue": {"primaryVenue": true}}]
        })
    }

    #[test]
    fn the_example_run_is_valid() {
        let mut e = Errors::default();
        publish_run(&mut e, &valid_run(), "course.runs[0]");
        assert!(e.is_empty(), "{e:?}");
    }

    #[test]
    fn dates_must_be_real_ordered_integers() {
        let mut run = valid_run();
        run["registrationDates"] = json!({"opening": 20250230, "closing": "20250110"});
        run["courseDates"] = json!({"start": 20250120, "end": 20250119});
        let mut e = Errors::default();
        publish_run(&mut e, &run, "r");
        assert_eq!(
            fields(&e),
            [
                "r.registrationDates.opening",
                "r.registrationDates.closing",
                "r.courseDates.end",
                "r.sessions[0].startDate",
            ]
        );
    }

    #[test]
    fn venue_rules_follow_the_mode() {
        let mut run = valid_run();
        run.as_object_mut().map(|o| o.remove("venue"));
        run["sessions"] = json!([]);
        let mut e = Errors::default();
        publish_run(&mut e, &run, "r");
        assert_eq!(fields(&e), ["r.venue"]);
        run["modeOfTraining"] = json!("2");
        let mut e = Errors::default();
        publish_run(&mut e, &run, "r");
        assert!(e.is_empty(), "{e:?}");
        run["modeOfTraining"] = json!("1");
        run["venue"] = json!({"block": "12345678901", "unit": "01"});
        let mut e = Errors::default();
        publish_run(&mut e, &run, "r");
        assert_eq!(
            fields(&e),
            [
                "r.venue.block",
                "r.venue.floor",
                "r.venue.postalCode",
                "r.venue.room"
            ]
        );
    }

    #[test]
    fn sessions_are_one_day_ordered_and_within_the_course() {
        let mut run = valid_run();
        run["sessions"] = json!([
            {"startDate": "20250115", "endDate": "20250116", "startTime": "18:00",
             "endTime": "09:00", "modeOfTraining": "1", "venue": {"primaryVenue": true}},
            {"startDate": "20250117", "endDate": "20250117", "startTime": "9:00",
             "endTime": "10:00", "modeOfTraining": "0"}
        ]);
        let mut e = Errors::default();
        publish_run(&mut e, &run, "r");
        assert_eq!(
            fields(&e),
            [
                "r.sessions[0].endDate",
                "r.sessions[0].endTime",
                "r.sessions[1].startTime",
                "r.sessions[1].modeOfTraining",
                "r.sessions[1].endDate",
            ]
        );
    }

    fn existing(index: u64, id: &str) -> Value {
        json!({"trainer": {"indexNumber": index, "id": id, "name": "Tan Ah Kow",
            "email": "ahkow.tan@example.sg", "inTrainingProviderProfile": true,
            "trainerType": {"code": "1", "description": "Existing"},
            "roles": [{"role": {"id": 1, "description": "Trainer"}}]}})
    }

    fn trainer_errors(list: Value) -> Vec<String> {
        let mut run = valid_run();
        run["linkCourseRunTrainer"] = list;
        let mut e = Errors::default();
        publish_run(&mut e, &run, "r");
        e.0.into_iter().map(|d| d.field).collect()
    }

    #[test]
    fn trainers_are_checked_as_tpgateway_would() {
        let none: Vec<String> = Vec::new();
        assert_eq!(trainer_errors(json!([])), none);
        assert_eq!(
            trainer_errors(json!([existing(1, "T-1"), existing(2, "T-2")])),
            none
        );
        // The notes' example: an existing trainer by national id only.
        assert_eq!(
            trainer_errors(json!([{"trainer": {"trainerType": {"code": "1",
                "description": "Existing"}, "idNumber": "S0808315J",
                "photo": {"name": "", "content": ""}}}])),
            none
        );
        let new_ok = json!([{"trainer": {"trainerType": {"code": "2"}, "name": "Tan",
            "idNumber": "S0808315J"}}]);
        assert_eq!(trainer_errors(new_ok), none);
        assert_eq!(trainer_errors(json!({})), ["r.linkCourseRunTrainer"]);
        assert_eq!(
            trainer_errors(json!([1, {}, {"trainer": "x"}])),
            [
                "r.linkCourseRunTrainer[0]",
                "r.linkCourseRunTrainer[1].trainer",
                "r.linkCourseRunTrainer[2].trainer",
            ]
        );
        let t = "r.linkCourseRunTrainer[0].trainer";
        let mut bad = existing(1, "T-1");
        bad["trainer"]["indexNumber"] = json!("1");
        bad["trainer"]["name"] = json!("x".repeat(67));
        bad["trainer"]["email"] = json!(format!("{}@example.sg", "a".repeat(320)));
        bad["trainer"]["roles"] = json!([{"role": {"id": 3}}]);
        assert_eq!(
            trainer_errors(json!([bad])),
            [
                format!("{t}.indexNumber"),
                format!("{t}.name"),
                format!("{t}.email"),
                format!("{t}.roles[0].role.id"),
            ]
        );
        let mut no_id = existing(1, "T-1");
        no_id["trainer"].as_object_mut().map(|o| o.remove("id"));
        assert_eq!(trainer_errors(json!([no_id])), [format!("{t}.id")]);
        let mut no_type = existing(1, "T-1");
        no_type["trainer"]
            .as_object_mut()
            .map(|o| o.remove("trainerType"));
        assert_eq!(
            trainer_errors(json!([no_type])),
            [format!("{t}.trainerType")]
        );
        let mut other_type = existing(1, "T-1");
        other_type["trainer"]["trainerType"]["code"] = json!("3");
        assert_eq!(
            trainer_errors(json!([other_type])),
            [format!("{t}.trainerType.code")]
        );
        let new_without = json!([{"trainer": {"trainerType": {"code": "2"}}}]);
        assert_eq!(
            trainer_errors(new_without),
            [format!("{t}.name"), format!("{t}.idNumber")]
        );
        assert_eq!(
            trainer_errors(json!([existing(1, "T-1"), existing(2, "T-1")])),
            ["r.linkCourseRunTrainer[1].trainer.id"]
        );
    }

    #[test]
    fn dates_parse_strictly() {
        assert_eq!(yyyymmdd(20240229), NaiveDate::from_ymd_opt(2024, 2, 29));
        assert_eq!(yyyymmdd(20230229), None);
        assert_eq!(yyyymmdd(2023022), None);
        assert_eq!(yyyymmdd_text("2025011"), None);
        assert_eq!(yyyymmdd_text("+2025011"), None);
        assert_eq!(parse_hhmm("23:59"), NaiveTime::from_hms_opt(23, 59, 0));
        assert_eq!(parse_hhmm("24:00"), None);
        assert!(looks_like_email("a@b.sg"));
        for bad in ["a@b", "@b.sg", "a b@c.sg", "a@b@c.sg", "a@.sg"] {
            assert!(!looks_like_email(bad), "{bad}");
        }
    }
}
