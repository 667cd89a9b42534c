//! Session attendance (API-NOTES §8): the upload, one trainee per call,
//! its request encrypted, its answer plain (§3). Validated as far as the
//! notes show: `uen` (this provider's), `course.referenceNumber` (the
//! run's CRN), `course.sessionID` (a live session of the run in the path),
//! `course.attendance.status.code` (§10: 1–4, as text or a number),
//! `course.attendance.trainee{id, name, idType.code (§10), email or
//! contactNumber (one of them, §8), numberOfHours (0.5–8.0; required for
//! On-the-Job sessions, mode 4), surveyLanguage.code (§10)}`; the NRIC/FIN
//! check letter (§11) for ids of type SP, SB and SO; and that the trainee
//! has an enrolment in the run that is not cancelled.
//!
//! Where the notes are silent, the fake chooses: an upload for a trainee
//! and session it has replaces the record (there is no update call); the
//! answer is `{"status":200,"data":{"sessionId","traineeId","status"}}`
//! with no personal data beyond the id sent; `FP` and `OT` ids are only
//! held to 20 characters; `name` to 200; `contactNumber.mobile` 4 to 20
//! digits.

use http::StatusCode;
use serde_json::{json, Value};
use tms_domain::national_id::{NationalId, NationalIdType};

use crate::api::decrypt;
use crate::envelope::{self, Answer};
use crate::state::{App, StoredAttendance, CANCELLED};
use crate::validate::{self, member, Errors};

const ID_CODES: [&str; 5] = ["SP", "SB", "SO", "FP", "OT"];
const STATUS_CODES: [&str; 4] = ["1", "2", "3", "4"];
const SURVEY_LANGUAGES: [&str; 4] = ["EL", "MN", "MY", "TM"];
const MAX_TRAINEE_ID: usize = 20;
const MAX_NAME: usize = 200;
const MAX_EMAIL: usize = 100;
/// The mode of training for which `numberOfHours` is required (§8, §10).
const ON_THE_JOB: &str = "4";

/// `POST /courses/runs/{runId}/sessions/attendance`.
pub(crate) fn upload(app: &App, run_id: &str, body: &[u8]) -> axum::response::Response {
    let answer = match try_upload(app, run_id, body) {
        Ok(a) | Err(a) => a,
    };
    envelope::json_response(answer.status, &answer.body)
}

fn code_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn try_upload(app: &App, run_id: &str, body: &[u8]) -> Result<Answer, Answer> {
    let doc = decrypt(app, body).map_err(|m| Answer::bad_request("body", m))?;
    let mut e = Errors::default();
    if let Some(uen) = validate::text(&mut e, member(&doc, "uen"), "uen", true, 50) {
        if uen.trim() != app.cfg.uen {
            return Err(Answer::forbidden(
                "The training provider UEN does not match this application",
            ));
        }
    }
    let course = validate::object(&mut e, member(&doc, "course"), "course");
    let mut crn = None;
    let mut session_id = None;
    let mut trainee_id = None;
    let mut status = None;
    let mut hours_given = false;
    if let Some(c) = course {
        crn = validate::text(
            &mut e,
            member(c, "referenceNumber"),
            "course.referenceNumber",
            true,
            100,
        )
        .map(|s| s.trim().to_string());
        session_id = validate::text(
            &mut e,
            member(c, "sessionID"),
            "course.sessionID",
            true,
            300,
        )
        .map(|s| s.trim().to_string());
        if let Some(a) = validate::object(&mut e, member(c, "attendance"), "course.attendance") {
            let code_path = "course.attendance.status.code";
            if let Some(s) =
                validate::object(&mut e, member(a, "status"), "course.attendance.status")
            {
                match code_text(member(s, "code")) {
                    Some(code) if STATUS_CODES.contains(&code.as_str()) => status = Some(code),
                    Some(_) => e.push(code_path, "must be one of 1, 2, 3, 4"),
                    None => e.push(code_path, "is required"),
                }
            }
            if let Some(t) =
                validate::object(&mut e, member(a, "trainee"), "course.attendance.trainee")
            {
                trainee_id = trainee(&mut e, t, "course.attendance.trainee");
                hours_given = member(t, "numberOfHours").is_some_and(|v| !v.is_null());
            }
        }
    }
    if !e.is_empty() {
        return Err(Answer::invalid(&e.0));
    }
    let (Some(crn), Some(session_id), Some(trainee_id), Some(status)) =
        (crn, session_id, trainee_id, status)
    else {
        return Err(Answer::bad_request("course", "is incomplete"));
    };
    let mut state = app.lock();
    let Some(run) = run_id
        .parse::<u64>()
        .ok()
        .and_then(|id| state.runs.get(&id))
        .filter(|r| !r.deleted)
    else {
        return Err(Answer::not_found("Course run not found"));
    };
    if run.crn != crn {
        return Err(Answer::bad_request(
            "course.referenceNumber",
            "is not the course of this run",
        ));
    }
    let Some(session) = run
        .sessions
        .iter()
        .find(|s| s.id == session_id && !s.deleted)
    else {
        return Err(Answer::bad_request(
            "course.sessionID",
            "names no session of this run",
        ));
    };
    let mode = session
        .body
        .get("modeOfTraining")
        .and_then(Value::as_str)
        .or_else(|| run.body.get("modeOfTraining").and_then(Value::as_str));
    if mode == Some(ON_THE_JOB) && !hours_given {
        return Err(Answer::bad_request(
            "course.attendance.trainee.numberOfHours",
            "is required for On-the-Job sessions",
        ));
    }
    let enrolled = state
        .enrolments
        .iter()
        .any(|en| en.run_id == run_id && en.trainee_id == trainee_id && en.status != CANCELLED);
    if !enrolled {
        return Err(Answer::bad_request(
            "course.attendance.trainee.id",
            "has no enrolment in this course run",
        ));
    }
    let now = envelope::now();
    let trainee = doc["course"]["attendance"]["trainee"].clone();
    let run_id = run_id.to_string();
    match state
        .attendance
        .iter_mut()
        .find(|a| a.session_id == session_id && a.trainee_id == trainee_id)
    {
        Some(a) => {
            a.status_code = status.clone();
            a.trainee = trainee;
            a.upload_count += 1;
            a.updated_on = now.clone();
        }
        None => state.attendance.push(StoredAttendance {
            run_id,
            session_id: session_id.clone(),
            trainee_id: trainee_id.clone(),
            status_code: status.clone(),
            trainee,
            upload_count: 1,
            created_on: now.clone(),
            updated_on: now.clone(),
        }),
    }
    Ok(Answer {
        status: StatusCode::OK,
        body: json!({
            "status": 200,
            "data": {"sessionId": session_id, "traineeId": trainee_id, "status": status},
            "meta": {"createdOn": now, "updatedOn": now},
            "error": {},
        }),
    })
}

/// The trainee object; its id (trimmed, in capitals) when valid.
fn trainee(e: &mut Errors, t: &Value, p: &str) -> Option<String> {
    let at = |n: &str| format!("{p}.{n}");
    let id = validate::text(e, member(t, "id"), &at("id"), true, MAX_TRAINEE_ID);
    validate::text(e, member(t, "name"), &at("name"), true, MAX_NAME);
    let code = validate::object(e, member(t, "idType"), &at("idType")).and_then(|ty| {
        let path = at("idType.code");
        match code_text(member(ty, "code")) {
            Some(c) if ID_CODES.contains(&c.as_str()) => Some(c),
            Some(_) => {
                e.push(path, format!("must be one of {}", ID_CODES.join(", ")));
                None
            }
            None => {
                e.push(path, "is required");
                None
            }
        }
    });
    let email = member(t, "email").filter(|v| !v.is_null());
    if let Some(s) = validate::text(e, email, &at("email"), false, MAX_EMAIL) {
        if !validate::looks_like_email(s.trim()) {
            e.push(at("email"), "must be an e-mail address");
        }
    }
    let contact = member(t, "contactNumber").filter(|v| !v.is_null());
    if let Some(c) = contact {
        contact_number(e, c, &at("contactNumber"));
    }
    if email.is_none() && contact.is_none() {
        e.push(at("email"), "or contactNumber is required");
    }
    if let Some(h) = member(t, "numberOfHours").filter(|v| !v.is_null()) {
        match h.as_f64() {
            Some(n) if (0.5..=8.0).contains(&n) => {}
            _ => e.push(at("numberOfHours"), "must be a number from 0.5 to 8.0"),
        }
    }
    if let Some(l) = validate::object(e, member(t, "surveyLanguage"), &at("surveyLanguage")) {
        match code_text(member(l, "code")) {
            Some(c) if SURVEY_LANGUAGES.contains(&c.as_str()) => {}
            _ => e.push(
                at("surveyLanguage.code"),
                format!("must be one of {}", SURVEY_LANGUAGES.join(", ")),
            ),
        }
    }
    let (id, code) = (id?, code?);
    let checked = match code.as_str() {
        "SP" | "SB" => Some(NationalIdType::Nric),
        "SO" => Some(NationalIdType::Fin),
        _ => None,
    };
    if let Some(kind) = checked {
        // The message names the rule, never the value.
        if let Err(why) = NationalId::parse(kind, id) {
            e.push(at("id"), why);
            return None;
        }
    }
    Some(id.trim().to_ascii_uppercase())
}

/// `contactNumber{mobile, areaCode (null or digits), countryCode (integer)}`.
fn contact_number(e: &mut Errors, c: &Value, p: &str) {
    if !c.is_object() {
        e.push(p, "must be an object");
        return;
    }
    let mobile = member(c, "mobile").and_then(Value::as_str).map(str::trim);
    if !mobile.is_some_and(|m| (4..=20).contains(&m.len()) && m.bytes().all(|b| b.is_ascii_digit()))
    {
        e.push(format!("{p}.mobile"), "must be 4 to 20 digits");
    }
    match member(c, "countryCode") {
        Some(Value::Number(n)) if n.as_u64().is_some_and(|n| (1..=999).contains(&n)) => {}
        _ => e.push(format!("{p}.countryCode"), "must be an integer, e.g. 65"),
    }
    match member(c, "areaCode") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit()) => {}
        Some(Value::Number(_)) => {}
        Some(_) => e.push(format!("{p}.areaCode"), "must be null or up to 5 digits"),
    }
}
