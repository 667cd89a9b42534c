//! The assessment APIs (API-NOTES §9): create, update and void, search and
//! view, validated as TPGateway does as far as the notes show (§9 field
//! names, §10 result and grade codes and the plain-string `idType`, §11
//! NRIC/FIN check letters). Each handler gives an [`Answer`], which the
//! router sends encrypted (§3). Problems name the field path, never the
//! value.
//!
//! Where the notes are silent, the fake chooses:
//! - required on create: `trainingPartner{uen, code}`,
//!   `course{referenceNumber, run{id}}`, `trainee{id, idType, fullName}`,
//!   `result`, `assessmentDate`; `grade`, `score`, `skillCode` checked when
//!   given; `score` a whole number 0–100; `skillCode` up to 100 characters;
//! - the run must be published and of that course, and the trainee
//!   confirmed-enrolled in it (in the fake's enrolments);
//! - a second assessment, not void, of the same trainee in the same run
//!   on the same date (and skill code) is refused as a duplicate;
//! - references are `ASM-YYMM-NNNNNN`;
//! - update and void: `action` exactly `update` or `void` (§9: `Update` is
//!   invalid); an update or void of a void assessment is refused;
//! - search needs `assessments.trainingPartner.code`; it filters on the
//!   run, the course, the trainee's id, the enrolment reference and the
//!   skill code; items are flat records, newest first; none is a 404.

use chrono::NaiveDate;
use http::StatusCode;
use serde_json::{json, Map, Value};
use tms_domain::national_id::{NationalId, NationalIdType};

use crate::api::decrypt;
use crate::enrolment::{confirmed_in_run, parse_iso_date, published_run, training_partner};
use crate::envelope::{Answer, Detail};
use crate::state::{App, StoredAssessment};
use crate::validate::{self, member, Errors};

const MAX_RUN_ID: usize = 20;
const MAX_CRN: usize = 100;
const MAX_TRAINEE_ID: usize = 20;
const MAX_FULL_NAME: usize = 200;
const MAX_SKILL_CODE: usize = 100;
const MAX_SCORE: u64 = 100;

const ID_TYPES: [&str; 3] = ["NRIC", "FIN", "OTHERS"];
const RESULTS: [&str; 3] = ["Pass", "Fail", "Exempt"];
const GRADES: [&str; 6] = ["A", "B", "C", "D", "E", "F"];
const ACTIONS: [&str; 2] = ["update", "void"];

fn at(prefix: &str, name: &str) -> String {
    format!("{prefix}.{name}")
}

/// The decrypted body's member `key` (an object).
fn doc(app: &App, body: &[u8], key: &str) -> Result<Value, Answer> {
    let doc = decrypt(app, body).map_err(|m| Answer::bad_request("body", m))?;
    match member(&doc, key) {
        Some(a) if a.is_object() => Ok(a.clone()),
        Some(_) => Err(Answer::bad_request(key, "must be an object")),
        None => Err(Answer::bad_request(key, "is required")),
    }
}

/// A string that must be exactly one of `allowed`.
fn one_of(
    e: &mut Errors,
    v: Option<&Value>,
    field: &str,
    required: bool,
    allowed: &[&'static str],
    any_case: bool,
) -> Option<&'static str> {
    let s = validate::text(e, v, field, required, 50)?;
    let found = allowed
        .iter()
        .find(|a| **a == s || (any_case && a.eq_ignore_ascii_case(s.trim())));
    if found.is_none() {
        e.push(field, format!("must be one of {}", allowed.join(", ")));
    }
    found.copied()
}

fn date(e: &mut Errors, v: Option<&Value>, field: &str, required: bool) -> Option<NaiveDate> {
    let s = validate::text(e, v, field, required, 10)?;
    let parsed = parse_iso_date(s);
    if parsed.is_none() {
        e.push(field, "must be a valid date as YYYY-MM-DD");
    }
    parsed
}

fn score(e: &mut Errors, v: Option<&Value>, field: &str) -> Option<u64> {
    match v {
        None => None,
        Some(n) => match n.as_u64() {
            Some(s) if s <= MAX_SCORE => Some(s),
            _ => {
                e.push(field, "must be a whole number from 0 to 100");
                None
            }
        },
    }
}

/// The checked outcome fields of a create (all) or update (those given).
struct Outcome {
    result: Option<&'static str>,
    grade: Option<&'static str>,
    score: Option<u64>,
    date: Option<NaiveDate>,
    skill_code: Option<String>,
}

fn outcome(e: &mut Errors, a: &Value, create: bool) -> Outcome {
    let p = "assessment";
    Outcome {
        result: one_of(
            e,
            member(a, "result"),
            &at(p, "result"),
            create,
            &RESULTS,
            false,
        ),
        grade: one_of(
            e,
            member(a, "grade"),
            &at(p, "grade"),
            false,
            &GRADES,
            false,
        ),
        score: score(e, member(a, "score"), &at(p, "score")),
        date: date(
            e,
            member(a, "assessmentDate"),
            &at(p, "assessmentDate"),
            create,
        ),
        skill_code: validate::text(
            e,
            member(a, "skillCode"),
            &at(p, "skillCode"),
            false,
            MAX_SKILL_CODE,
        )
        .map(|s| s.trim().to_string()),
    }
}

/// `trainee{id, idType, fullName}`: `idType` a plain string (§9), the id's
/// check letter verified for NRIC and FIN (§11).
fn trainee(e: &mut Errors, t: &Value) -> Option<(String, &'static str)> {
    let p = "assessment.trainee";
    let id_path = at(p, "id");
    let id = validate::text(e, member(t, "id"), &id_path, true, MAX_TRAINEE_ID);
    let kind = one_of(
        e,
        member(t, "idType"),
        &at(p, "idType"),
        true,
        &ID_TYPES,
        true,
    );
    validate::text(
        e,
        member(t, "fullName"),
        &at(p, "fullName"),
        true,
        MAX_FULL_NAME,
    );
    let (id, kind) = (id?, kind?);
    let checked = match kind {
        "NRIC" => Some(NationalIdType::Nric),
        "FIN" => Some(NationalIdType::Fin),
        _ => None,
    };
    if let Some(checked) = checked {
        if let Err(why) = NationalId::parse(checked, id) {
            e.push(id_path, why);
            return None;
        }
    }
    Some((id.trim().to_ascii_uppercase(), kind))
}

fn refused(e: Errors) -> Answer {
    Answer::invalid(&e.0)
}

fn reference_answer(x: &StoredAssessment) -> Answer {
    Answer::ok(
        json!({"assessment": {"referenceNumber": x.reference}}),
        &x.created_on,
        &x.updated_on,
    )
}

/// `POST /tpg/assessments` (§9, §13).
pub(crate) fn create(app: &App, body: &[u8]) -> Answer {
    match try_create(app, body) {
        Ok(a) | Err(a) => a,
    }
}

fn try_create(app: &App, body: &[u8]) -> Result<Answer, Answer> {
    let a = doc(app, body, "assessment")?;
    let mut e = Errors::default();
    let p = "assessment";
    training_partner(
        app,
        &mut e,
        member(&a, "trainingPartner"),
        &at(p, "trainingPartner"),
        true,
    )?;
    let course = validate::object(&mut e, member(&a, "course"), &at(p, "course"));
    let crn = course.and_then(|c| {
        validate::text(
            &mut e,
            member(c, "referenceNumber"),
            "assessment.course.referenceNumber",
            true,
            MAX_CRN,
        )
    });
    let run_id = course
        .and_then(|c| validate::object(&mut e, member(c, "run"), "assessment.course.run"))
        .and_then(|r| {
            validate::text(
                &mut e,
                member(r, "id"),
                "assessment.course.run.id",
                true,
                MAX_RUN_ID,
            )
        });
    let identity = validate::object(&mut e, member(&a, "trainee"), &at(p, "trainee"))
        .and_then(|t| trainee(&mut e, t));
    let o = outcome(&mut e, &a, true);
    if !e.is_empty() {
        return Err(refused(e));
    }
    let (Some(crn), Some(run_id), Some((trainee_id, id_type)), Some(result), Some(date)) =
        (crn, run_id, identity, o.result, o.date)
    else {
        return Err(Answer::bad_request("assessment", "is incomplete"));
    };
    let mut state = app.lock();
    let run_path = "assessment.course.run.id";
    if !published_run(
        &state,
        &mut e,
        run_id,
        run_path,
        Some((crn, "assessment.course.referenceNumber")),
    ) {
        return Err(refused(e));
    }
    let run_id = run_id.trim().to_string();
    let Some(enrolment_ref) = confirmed_in_run(&state, &trainee_id, &run_id)
        .next()
        .map(|x| x.reference.clone())
    else {
        e.push(
            "assessment.trainee.id",
            "is not enrolled in this course run",
        );
        return Err(refused(e));
    };
    let date_text = date.format("%Y-%m-%d").to_string();
    let duplicate = state.assessments.iter().any(|x| {
        !x.void
            && x.trainee_id == trainee_id
            && x.run_id == run_id
            && x.assessment_date == date_text
            && x.skill_code == o.skill_code
    });
    if duplicate {
        return Err(Answer::error(
            StatusCode::BAD_REQUEST,
            "Duplicate assessment: the trainee already has this assessment in this course run",
            &[Detail {
                field: "assessment.trainee.id".to_string(),
                message: "has a duplicate assessment on this date".to_string(),
            }],
        ));
    }
    let now = crate::envelope::now();
    let yymm = (chrono::Utc::now() + chrono::Duration::hours(8))
        .format("%y%m")
        .to_string();
    let x = StoredAssessment {
        reference: state.take_assessment_ref(&yymm),
        crn: crn.trim().to_string(),
        run_id,
        enrolment_ref,
        trainee_id,
        trainee_id_type: id_type.to_string(),
        full_name: member(&a, "trainee")
            .and_then(|t| member(t, "fullName"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        result: result.to_string(),
        grade: o.grade.map(str::to_string),
        score: o.score,
        assessment_date: date_text,
        skill_code: o.skill_code,
        void: false,
        update_count: 0,
        created_on: now.clone(),
        updated_on: now,
    };
    let answer = reference_answer(&x);
    state.assessments.push(x);
    Ok(answer)
}

/// `POST /tpg/assessments/details/{ref}`: `action` `update` or `void`.
pub(crate) fn update(app: &App, reference: &str, body: &[u8]) -> Answer {
    match try_update(app, reference, body) {
        Ok(a) | Err(a) => a,
    }
}

fn try_update(app: &App, reference: &str, body: &[u8]) -> Result<Answer, Answer> {
    let a = doc(app, body, "assessment")?;
    let mut e = Errors::default();
    let action = one_of(
        &mut e,
        member(&a, "action"),
        "assessment.action",
        true,
        &ACTIONS,
        false,
    );
    let o = if action == Some("update") {
        if let Some(t) = member(&a, "trainee") {
            if validate::object(&mut e, Some(t), "assessment.trainee").is_some() {
                validate::text(
                    &mut e,
                    member(t, "fullName"),
                    "assessment.trainee.fullName",
                    false,
                    MAX_FULL_NAME,
                );
            }
        }
        Some(outcome(&mut e, &a, false))
    } else {
        None
    };
    if !e.is_empty() {
        return Err(refused(e));
    }
    let mut state = app.lock();
    let Some(x) = state
        .assessments
        .iter_mut()
        .find(|x| x.reference == reference)
    else {
        return Err(Answer::not_found("Assessment record not found"));
    };
    if x.void {
        return Err(Answer::bad_request(
            "assessment.action",
            "the assessment is void and cannot be updated",
        ));
    }
    match o {
        None => x.void = true,
        Some(o) => {
            if let Some(r) = o.result {
                x.result = r.to_string();
            }
            if let Some(g) = o.grade {
                x.grade = Some(g.to_string());
            }
            if let Some(s) = o.score {
                x.score = Some(s);
            }
            if let Some(d) = o.date {
                x.assessment_date = d.format("%Y-%m-%d").to_string();
            }
            if let Some(c) = o.skill_code {
                x.skill_code = Some(c);
            }
            if let Some(n) = member(&a, "trainee")
                .and_then(|t| member(t, "fullName"))
                .and_then(Value::as_str)
            {
                x.full_name = n.to_string();
            }
        }
    }
    x.update_count += 1;
    x.updated_on = crate::envelope::now();
    Ok(reference_answer(x))
}

fn record(app: &App, x: &StoredAssessment) -> Value {
    let mut r = Map::new();
    r.insert("referenceNumber".into(), json!(x.reference));
    r.insert("result".into(), json!(x.result));
    r.insert("grade".into(), json!(x.grade));
    r.insert("score".into(), json!(x.score));
    r.insert("assessmentDate".into(), json!(x.assessment_date));
    r.insert("skillCode".into(), json!(x.skill_code));
    r.insert(
        "status".into(),
        json!(if x.void { "Void" } else { "Active" }),
    );
    r.insert(
        "trainingPartner".into(),
        json!({"uen": app.cfg.uen, "code": app.cfg.tp_code}),
    );
    r.insert(
        "course".into(),
        json!({"referenceNumber": x.crn, "run": {"id": x.run_id}}),
    );
    r.insert(
        "trainee".into(),
        json!({"id": x.trainee_id, "idType": {"type": x.trainee_id_type}, "fullName": x.full_name}),
    );
    r.insert(
        "enrolment".into(),
        json!({"referenceNumber": x.enrolment_ref}),
    );
    Value::Object(r)
}

/// `GET /tpg/assessments/details/{ref}` (§9's view answer).
pub(crate) fn view(app: &App, reference: &str) -> Answer {
    let state = app.lock();
    match state.assessments.iter().find(|x| x.reference == reference) {
        Some(x) => Answer::ok(record(app, x), &x.created_on, &x.updated_on),
        None => Answer::not_found("Assessment record not found"),
    }
}

/// `POST /tpg/assessments/search` (top-level key `assessments`, §9).
pub(crate) fn search(app: &App, body: &[u8]) -> Answer {
    match try_search(app, body) {
        Ok(a) | Err(a) => a,
    }
}

fn filter(e: &mut Errors, v: Option<&Value>, field: &str, max: usize) -> Option<String> {
    validate::text(e, v, field, false, max)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn try_search(app: &App, body: &[u8]) -> Result<Answer, Answer> {
    let s = doc(app, body, "assessments")?;
    let mut e = Errors::default();
    let p = "assessments";
    training_partner(
        app,
        &mut e,
        member(&s, "trainingPartner"),
        &at(p, "trainingPartner"),
        false,
    )?;
    if member(&s, "trainingPartner").is_none() {
        e.push("assessments.trainingPartner.code", "is required");
    }
    let course = member(&s, "course");
    let run_id = filter(
        &mut e,
        course
            .and_then(|c| member(c, "run"))
            .and_then(|r| member(r, "id")),
        "assessments.course.run.id",
        MAX_RUN_ID,
    );
    let crn = filter(
        &mut e,
        course.and_then(|c| member(c, "referenceNumber")),
        "assessments.course.referenceNumber",
        MAX_CRN,
    );
    let trainee_id = filter(
        &mut e,
        member(&s, "trainee").and_then(|t| member(t, "id")),
        "assessments.trainee.id",
        MAX_TRAINEE_ID,
    )
    .map(|t| t.to_ascii_uppercase());
    let enrolment_ref = filter(
        &mut e,
        member(&s, "enrolment").and_then(|x| member(x, "referenceNumber")),
        "assessments.enrolment.referenceNumber",
        50,
    );
    let skill_code = filter(
        &mut e,
        member(&s, "skillCode"),
        "assessments.skillCode",
        MAX_SKILL_CODE,
    );
    if !e.is_empty() {
        return Err(refused(e));
    }
    let state = app.lock();
    let same = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
    let items: Vec<Value> = state
        .assessments
        .iter()
        .rev()
        .filter(|x| {
            same(&run_id, &x.run_id)
                && same(&crn, &x.crn)
                && same(&trainee_id, &x.trainee_id)
                && same(&enrolment_ref, &x.enrolment_ref)
                && same(&skill_code, x.skill_code.as_deref().unwrap_or_default())
        })
        .take(100)
        .map(|x| record(app, x))
        .collect();
    if items.is_empty() {
        return Err(Answer::not_found("No records found"));
    }
    let now = crate::envelope::now();
    Ok(Answer::ok(Value::Array(items), &now, &now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(e: &Errors) -> Vec<&str> {
        e.0.iter().map(|d| d.field.as_str()).collect()
    }

    #[test]
    fn the_trainee_is_checked_with_a_plain_id_type() {
        let mut e = Errors::default();
        let ok = trainee(
            &mut e,
            &json!({"id": "s7020587d", "idType": "NRIC", "fullName": "Aileen Chong"}),
        );
        assert_eq!(ok, Some(("S7020587D".to_string(), "NRIC")));
        assert!(e.is_empty());
        let mut e = Errors::default();
        assert_eq!(
            trainee(
                &mut e,
                &json!({"id": "S7020587A", "idType": "NRIC", "fullName": "A"})
            ),
            None
        );
        assert_eq!(fields(&e), ["assessment.trainee.id"]);
        // The enrolment's object form is not the assessment's.
        let mut e = Errors::default();
        trainee(
            &mut e,
            &json!({"id": "S7020587D", "idType": {"type": "NRIC"}}),
        );
        assert_eq!(
            fields(&e),
            ["assessment.trainee.idType", "assessment.trainee.fullName"]
        );
        // An OTHERS id has no check letter; `Others` is read in any case.
        let mut e = Errors::default();
        let other = trainee(
            &mut e,
            &json!({"id": "X1234", "idType": "Others", "fullName": "B"}),
        );
        assert_eq!(other, Some(("X1234".to_string(), "OTHERS")));
    }

    #[test]
    fn codes_scores_and_dates() {
        let mut e = Errors::default();
        let o = outcome(
            &mut e,
            &json!({"result": "Exempt", "grade": "F", "score": 0, "assessmentDate": "2025-01-16"}),
            true,
        );
        assert!(e.is_empty());
        assert_eq!(
            (o.result, o.grade, o.score),
            (Some("Exempt"), Some("F"), Some(0))
        );
        let mut e = Errors::default();
        outcome(
            &mut e,
            &json!({"result": "PASS", "grade": "a", "score": 100.5, "assessmentDate": "2025-02-30"}),
            true,
        );
        assert_eq!(
            fields(&e),
            [
                "assessment.result",
                "assessment.grade",
                "assessment.score",
                "assessment.assessmentDate"
            ]
        );
        // An update needs none of them.
        let mut e = Errors::default();
        let o = outcome(&mut e, &json!({"action": "update"}), false);
        assert!(e.is_empty() && o.result.is_none() && o.date.is_none());
        let mut e = Errors::default();
        outcome(&mut e, &json!({}), true);
        assert_eq!(
            fields(&e),
            ["assessment.result", "assessment.assessmentDate"]
        );
    }
}
