//! The enrolment APIs (API-NOTES §7): create, update and cancel, search and
//! view, validated as TPGateway does as far as public code shows (§7 field
//! names and maximum lengths, §10 codes, §11 NRIC/FIN check letters, §12
//! duplicates). Each handler gives an [`Answer`], which the router sends
//! encrypted (§3).
//!
//! Problems are reported by field path (`enrolment.trainee.id`), never
//! with the value: these bodies carry personal data.
//!
//! Where the notes are silent, the fake chooses:
//! - required on create: `trainingPartner{uen, code}`,
//!   `course{referenceNumber, run{id}}`, `trainee{id, idType{type},
//!   fullName, dateOfBirth, enrolmentDate, sponsorshipType,
//!   fees{discountAmount, collectionStatus}}`, and for `EMPLOYER`
//!   `employer{uen, contact{fullName, emailAddress, contactNumber}}`; the
//!   trainee's `emailAddress` and `contactNumber` are checked when given;
//! - `contactNumber`: `countryCode` 1 to 3 digits (a leading `+` allowed),
//!   `phoneNumber` 4 to 20 digits, `areaCode` empty, null or up to 5 digits;
//! - `idType.type` is read without regard to case (LT sends `Others`); an
//!   `OTHERS` id is only held to the 20-character limit;
//! - an update names `course.run.id` (a cancel the enrolment's own run; an
//!   update another run of the same course moves the enrolment, TS);
//!   `trainee.emailAddress` on an update is refused (the update's field is
//!   `email`), as is an `employer` block for an individual's enrolment;
//! - an update or cancel of a cancelled enrolment is refused with
//!   `TGS-439` "cannot be updated";
//! - search needs `enrolment.trainingPartner.code`; it filters on the run,
//!   the course, the status, the trainee's id, id type, sponsorship type,
//!   employer UEN, enrolment date and fee collection status, and on
//!   `meta.lastUpdateDateFrom/To`; its items are flat records; none is a
//!   404 "No records found".

use chrono::NaiveDate;
use http::StatusCode;
use serde_json::{json, Map, Value};
use tms_domain::national_id::{NationalId, NationalIdType};

use crate::api::decrypt;
use crate::envelope::{self, Answer, Detail};
use crate::state::{App, State, StoredEnrolment, CANCELLED, CONFIRMED};
use crate::validate::{self, member, Errors};

/// Maximum lengths (API-NOTES §7, from SC).
const MAX_RUN_ID: usize = 20;
const MAX_CRN: usize = 100;
const MAX_TRAINEE_ID: usize = 20;
const MAX_FULL_NAME: usize = 200;
const MAX_EMAIL: usize = 100;
const TP_CODE_MIN: usize = 12;
const TP_CODE_MAX: usize = 15;
/// Ours (the course-run APIs take the same).
const MAX_UEN: usize = 50;
const MAX_PAGE_SIZE: u64 = 100;
const DEFAULT_PAGE_SIZE: u64 = 20;

/// The code of an update or cancel of a cancelled enrolment (API-NOTES
/// §4, the one code seen).
const ALREADY_CANCELLED_CODE: &str = "TGS-439";

const ID_TYPES: [&str; 3] = ["NRIC", "FIN", "OTHERS"];
const SPONSORSHIP_TYPES: [&str; 2] = ["EMPLOYER", "INDIVIDUAL"];
/// `fees.collectionStatus` on create and update (API-NOTES §10).
const COLLECTION_STATUSES: [&str; 3] = ["Pending Payment", "Partial Payment", "Full Payment"];
/// The same, as a search filter (`Cancelled` too).
const SEARCH_COLLECTION_STATUSES: [&str; 4] = [
    "Pending Payment",
    "Partial Payment",
    "Full Payment",
    "Cancelled",
];

fn at(prefix: &str, name: &str) -> String {
    format!("{prefix}.{name}")
}

/// The decrypted body and its `enrolment` object.
fn enrolment_doc(app: &App, body: &[u8]) -> Result<Value, Answer> {
    let doc = decrypt(app, body).map_err(|m| Answer::bad_request("body", m))?;
    match member(&doc, "enrolment") {
        Some(e) if e.is_object() => Ok(e.clone()),
        Some(_) => Err(Answer::bad_request("enrolment", "must be an object")),
        None => Err(Answer::bad_request("enrolment", "is required")),
    }
}

// ------------------------------------------------------------ field rules

/// A string that must be one of `allowed` (exactly, or without regard to
/// ASCII case when `any_case`); the allowed spelling is returned.
fn one_of(
    e: &mut Errors,
    v: Option<&Value>,
    field: &str,
    required: bool,
    allowed: &[&'static str],
    any_case: bool,
) -> Option<&'static str> {
    let s = validate::text(e, v, field, required, 50)?;
    if s.trim().is_empty() {
        return None;
    }
    let found = allowed
        .iter()
        .find(|a| **a == s || (any_case && a.eq_ignore_ascii_case(s.trim())));
    if found.is_none() {
        e.push(field, format!("must be one of {}", allowed.join(", ")));
    }
    found.copied()
}

/// A date as `YYYY-MM-DD` (API-NOTES §7).
fn iso_date(e: &mut Errors, v: Option<&Value>, field: &str, required: bool) -> Option<NaiveDate> {
    let s = validate::text(e, v, field, required, 10)?;
    if s.trim().is_empty() {
        return None;
    }
    let parsed = parse_iso_date(s);
    if parsed.is_none() {
        e.push(field, "must be a valid date as YYYY-MM-DD");
    }
    parsed
}

pub(crate) fn parse_iso_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
    if !shape {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// An e-mail address of at most 100 characters.
fn email(e: &mut Errors, v: Option<&Value>, field: &str, required: bool) {
    if let Some(s) = validate::text(e, v, field, required, MAX_EMAIL) {
        if !s.trim().is_empty() && !validate::looks_like_email(s.trim()) {
            e.push(field, "must be an e-mail address");
        }
    }
}

fn digits(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// `contactNumber{countryCode, areaCode?, phoneNumber}`.
fn contact_number(e: &mut Errors, v: Option<&Value>, field: &str, required: bool) {
    let Some(c) = v else {
        if required {
            e.push(field, "is required");
        }
        return;
    };
    if !c.is_object() {
        e.push(field, "must be an object");
        return;
    }
    let cc_path = at(field, "countryCode");
    if let Some(cc) = validate::text(e, member(c, "countryCode"), &cc_path, true, 4) {
        let cc = cc.trim();
        if !digits(cc.strip_prefix('+').unwrap_or(cc), 1, 3) {
            e.push(cc_path, "must be 1 to 3 digits, e.g. 65");
        }
    }
    let area_path = at(field, "areaCode");
    match member(c, "areaCode") {
        None => {}
        Some(Value::String(a)) if a.trim().is_empty() || digits(a.trim(), 1, 5) => {}
        Some(_) => e.push(area_path, "must be empty or 1 to 5 digits"),
    }
    let phone_path = at(field, "phoneNumber");
    if let Some(n) = validate::text(e, member(c, "phoneNumber"), &phone_path, true, 20) {
        if !digits(n.trim(), 4, 20) {
            e.push(phone_path, "must be 4 to 20 digits");
        }
    }
}

/// `discountAmount`: a JSON number, zero or more.
fn discount(e: &mut Errors, v: Option<&Value>, field: &str, required: bool) {
    match v {
        None if required => e.push(field, "is required"),
        None => {}
        Some(Value::Number(n)) if n.as_f64().is_some_and(|f| f.is_finite() && f >= 0.0) => {}
        Some(Value::Number(_)) => e.push(field, "must not be negative"),
        Some(_) => e.push(field, "must be a number"),
    }
}

/// `fees{discountAmount, collectionStatus}`; on create both are required.
fn fees(e: &mut Errors, v: Option<&Value>, field: &str, create: bool) {
    let Some(f) = v else {
        if create {
            e.push(field, "is required");
        }
        return;
    };
    if !f.is_object() {
        e.push(field, "must be an object");
        return;
    }
    discount(
        e,
        member(f, "discountAmount"),
        &at(field, "discountAmount"),
        create,
    );
    one_of(
        e,
        member(f, "collectionStatus"),
        &at(field, "collectionStatus"),
        create,
        &COLLECTION_STATUSES,
        false,
    );
}

/// The trainee's `id` and `idType.type`: the id trimmed in capitals and
/// the type, when both are valid. An NRIC or FIN must have the right check
/// letter (API-NOTES §11).
fn trainee_identity(e: &mut Errors, t: &Value, p: &str) -> Option<(String, &'static str)> {
    let id_path = at(p, "id");
    let id = validate::text(e, member(t, "id"), &id_path, true, MAX_TRAINEE_ID);
    let type_path = at(p, "idType");
    let kind = validate::object(e, member(t, "idType"), &type_path).and_then(|ty| {
        one_of(
            e,
            member(ty, "type"),
            &at(&type_path, "type"),
            true,
            &ID_TYPES,
            true,
        )
    });
    let (id, kind) = (id?, kind?);
    let checked = match kind {
        "NRIC" => Some(NationalIdType::Nric),
        "FIN" => Some(NationalIdType::Fin),
        _ => None,
    };
    if let Some(checked) = checked {
        // The message names the rule, never the value.
        if let Err(why) = NationalId::parse(checked, id) {
            e.push(id_path, why);
            return None;
        }
    }
    Some((id.trim().to_ascii_uppercase(), kind))
}

/// `trainingPartner{uen, code}`: the UEN (when given, or when required)
/// must be the provider's, else 403; the code must be the provider's.
pub(crate) fn training_partner(
    app: &App,
    e: &mut Errors,
    tp: Option<&Value>,
    p: &str,
    uen_required: bool,
) -> Result<(), Answer> {
    let Some(tp) = validate::object(e, tp, p) else {
        return Ok(());
    };
    if let Some(uen) = validate::text(e, member(tp, "uen"), &at(p, "uen"), uen_required, MAX_UEN) {
        if !uen.trim().is_empty() && uen.trim() != app.cfg.uen {
            return Err(Answer::forbidden(
                "The training provider UEN does not match this application",
            ));
        }
    }
    let code_path = at(p, "code");
    if let Some(code) = validate::text(e, member(tp, "code"), &code_path, true, TP_CODE_MAX) {
        let code = code.trim();
        if code.chars().count() < TP_CODE_MIN {
            e.push(
                code_path,
                format!("must be {TP_CODE_MIN} to {TP_CODE_MAX} characters"),
            );
        } else if code != app.cfg.tp_code {
            e.push(code_path, "is not this training provider's code");
        }
    }
    Ok(())
}

/// The run `run_id` if it is published (not deleted) and, when `crn` is
/// given, of that course; else the problem is pushed.
pub(crate) fn published_run(
    state: &State,
    e: &mut Errors,
    run_id: &str,
    run_path: &str,
    crn: Option<(&str, &str)>,
) -> bool {
    let run = run_id
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|id| state.runs.get(&id))
        .filter(|r| !r.deleted);
    let Some(run) = run else {
        e.push(run_path, "is not a published course run");
        return false;
    };
    if let Some((crn, crn_path)) = crn {
        if run.crn != crn.trim() {
            e.push(
                crn_path,
                "does not match the course run's course reference number",
            );
            return false;
        }
    }
    true
}

fn duplicate() -> Answer {
    Answer::error(
        StatusCode::BAD_REQUEST,
        "Duplicate enrolment: the trainee is already enrolled in this course run",
        &[Detail {
            field: "enrolment.trainee.id".to_string(),
            message: "has a duplicate enrolment in this course run".to_string(),
        }],
    )
}

pub(crate) fn confirmed_in_run<'a>(
    state: &'a State,
    trainee_id: &'a str,
    run_id: &'a str,
) -> impl Iterator<Item = &'a StoredEnrolment> + 'a {
    state
        .enrolments
        .iter()
        .filter(move |x| x.status == CONFIRMED && x.trainee_id == trainee_id && x.run_id == run_id)
}

/// `YYMM` of TPGateway's references: now, in Singapore (UTC+8).
fn yymm() -> String {
    (chrono::Utc::now() + chrono::Duration::hours(8))
        .format("%y%m")
        .to_string()
}

fn reference_answer(x: &StoredEnrolment) -> Answer {
    Answer::ok(
        json!({"enrolment": {"referenceNumber": x.reference, "status": x.status}}),
        &x.created_on,
        &x.updated_on,
    )
}

// ------------------------------------------------------------------ create

/// `POST /tpg/enrolments` (API-NOTES §7, §13).
pub(crate) fn create(app: &App, body: &[u8]) -> Answer {
    match try_create(app, body) {
        Ok(a) | Err(a) => a,
    }
}

fn try_create(app: &App, body: &[u8]) -> Result<Answer, Answer> {
    let enr = enrolment_doc(app, body)?;
    let mut e = Errors::default();
    training_partner(
        app,
        &mut e,
        member(&enr, "trainingPartner"),
        "enrolment.trainingPartner",
        true,
    )?;
    let (crn, run_id) = match validate::object(&mut e, member(&enr, "course"), "enrolment.course") {
        Some(c) => {
            let crn = validate::text(
                &mut e,
                member(c, "referenceNumber"),
                "enrolment.course.referenceNumber",
                true,
                MAX_CRN,
            );
            let run_id = validate::object(&mut e, member(c, "run"), "enrolment.course.run")
                .and_then(|r| {
                    validate::text(
                        &mut e,
                        member(r, "id"),
                        "enrolment.course.run.id",
                        true,
                        MAX_RUN_ID,
                    )
                });
            (crn, run_id)
        }
        None => (None, None),
    };
    let p = "enrolment.trainee";
    let mut identity = None;
    let mut sponsorship = None;
    let trainee = validate::object(&mut e, member(&enr, "trainee"), p);
    if let Some(t) = trainee {
        identity = trainee_identity(&mut e, t, p);
        validate::text(
            &mut e,
            member(t, "fullName"),
            &at(p, "fullName"),
            true,
            MAX_FULL_NAME,
        );
        iso_date(
            &mut e,
            member(t, "dateOfBirth"),
            &at(p, "dateOfBirth"),
            true,
        );
        email(
            &mut e,
            member(t, "emailAddress"),
            &at(p, "emailAddress"),
            false,
        );
        contact_number(
            &mut e,
            member(t, "contactNumber"),
            &at(p, "contactNumber"),
            false,
        );
        iso_date(
            &mut e,
            member(t, "enrolmentDate"),
            &at(p, "enrolmentDate"),
            true,
        );
        sponsorship = one_of(
            &mut e,
            member(t, "sponsorshipType"),
            &at(p, "sponsorshipType"),
            true,
            &SPONSORSHIP_TYPES,
            false,
        );
        if sponsorship == Some("EMPLOYER") {
            employer(&mut e, member(t, "employer"), &at(p, "employer"));
        }
        fees(&mut e, member(t, "fees"), &at(p, "fees"), true);
    }
    let (Some(crn), Some(run_id), Some((trainee_id, id_type)), Some(sponsorship), Some(t)) =
        (crn, run_id, identity, sponsorship, trainee)
    else {
        return Err(Answer::invalid(&e.0));
    };
    if !e.is_empty() {
        return Err(Answer::invalid(&e.0));
    }

    let mut state = app.lock();
    let run_known = published_run(
        &state,
        &mut e,
        run_id,
        "enrolment.course.run.id",
        Some((crn, "enrolment.course.referenceNumber")),
    );
    if !run_known {
        return Err(Answer::invalid(&e.0));
    }
    let run_id = run_id.trim().to_string();
    if confirmed_in_run(&state, &trainee_id, &run_id)
        .next()
        .is_some()
    {
        return Err(duplicate());
    }
    let now = envelope::now();
    let mut trainee = t.clone();
    if sponsorship == "INDIVIDUAL" {
        // An individual's employer block (LT sends one of empty strings)
        // is not kept.
        if let Some(o) = trainee.as_object_mut() {
            o.remove("employer");
        }
    }
    let stored = StoredEnrolment {
        reference: state.take_enrolment_ref(&yymm()),
        crn: crn.trim().to_string(),
        run_id,
        trainee_id,
        trainee_id_type: id_type.to_string(),
        trainee,
        status: CONFIRMED,
        sponsorship_type: sponsorship.to_string(),
        created_on: now.clone(),
        updated_on: now,
        update_count: 0,
    };
    let answer = reference_answer(&stored);
    state.enrolments.push(stored);
    Ok(answer)
}

/// The employer block an `EMPLOYER` create needs (API-NOTES §7, SC's
/// validation): `uen`, `contact{fullName, emailAddress, contactNumber}`.
fn employer(e: &mut Errors, v: Option<&Value>, p: &str) {
    let Some(emp) = validate::object(e, v, p) else {
        return;
    };
    validate::text(e, member(emp, "uen"), &at(p, "uen"), true, MAX_UEN);
    let cp = at(p, "contact");
    if let Some(c) = validate::object(e, member(emp, "contact"), &cp) {
        validate::text(
            e,
            member(c, "fullName"),
            &at(&cp, "fullName"),
            true,
            MAX_FULL_NAME,
        );
        email(e, member(c, "emailAddress"), &at(&cp, "emailAddress"), true);
        contact_number(
            e,
            member(c, "contactNumber"),
            &at(&cp, "contactNumber"),
            true,
        );
    }
}

// ------------------------------------------------------- update and cancel

/// `POST /tpg/enrolments/details/{enrolmentRef}` (API-NOTES §7): `action`
/// `Update` (fees, trainee contact, employer contact, the run) or `Cancel`.
pub(crate) fn update(app: &App, reference: &str, body: &[u8]) -> Answer {
    match try_update(app, reference, body) {
        Ok(a) | Err(a) => a,
    }
}

fn try_update(app: &App, reference: &str, body: &[u8]) -> Result<Answer, Answer> {
    let enr = enrolment_doc(app, body)?;
    let mut e = Errors::default();
    let action = one_of(
        &mut e,
        member(&enr, "action"),
        "enrolment.action",
        true,
        &["Update", "Cancel"],
        false,
    );
    let run_id = validate::object(&mut e, member(&enr, "course"), "enrolment.course")
        .and_then(|c| validate::object(&mut e, member(c, "run"), "enrolment.course.run"))
        .and_then(|r| {
            validate::text(
                &mut e,
                member(r, "id"),
                "enrolment.course.run.id",
                true,
                MAX_RUN_ID,
            )
        })
        .map(|id| id.trim().to_string());
    let Some(action) = action else {
        return Err(Answer::invalid(&e.0));
    };

    let mut state = app.lock();
    let Some(at_index) = state
        .enrolments
        .iter()
        .position(|x| x.reference == reference)
    else {
        return Err(Answer::not_found("Enrolment record not found"));
    };
    let current = state.enrolments[at_index].clone();
    if current.status == CANCELLED {
        return Err(Answer::error_with_code(
            StatusCode::BAD_REQUEST,
            ALREADY_CANCELLED_CODE,
            "The enrolment has been cancelled and cannot be updated",
            &[],
        ));
    }
    let Some(run_id) = run_id else {
        return Err(Answer::invalid(&e.0));
    };
    if !e.is_empty() {
        return Err(Answer::invalid(&e.0));
    }
    let now = envelope::now();

    if action == "Cancel" {
        if run_id != current.run_id {
            return Err(Answer::bad_request(
                "enrolment.course.run.id",
                "is not the course run of this enrolment",
            ));
        }
        let x = &mut state.enrolments[at_index];
        x.status = CANCELLED;
        x.update_count += 1;
        x.updated_on = now;
        return Ok(reference_answer(x));
    }

    // Update: the fields an update may carry, checked, then applied.
    let tp = "enrolment.trainee";
    let trainee_changes = match member(&enr, "trainee") {
        None => None,
        Some(t) if t.is_object() => {
            if member(t, "emailAddress").is_some() {
                e.push(
                    at(tp, "emailAddress"),
                    "is not a field of an update (the update's field is email)",
                );
            }
            email(&mut e, member(t, "email"), &at(tp, "email"), false);
            contact_number(
                &mut e,
                member(t, "contactNumber"),
                &at(tp, "contactNumber"),
                false,
            );
            Some(t)
        }
        Some(_) => {
            e.push(tp, "must be an object");
            None
        }
    };
    let ep = "enrolment.employer";
    let contact_changes = match member(&enr, "employer") {
        None => None,
        Some(_) if current.sponsorship_type != "EMPLOYER" => {
            e.push(
                ep,
                "is only allowed for an enrolment sponsored by an employer",
            );
            None
        }
        Some(emp) if emp.is_object() => {
            let cp = at(ep, "contact");
            let contact = validate::object(&mut e, member(emp, "contact"), &cp);
            if let Some(c) = contact {
                validate::text(
                    &mut e,
                    member(c, "fullName"),
                    &at(&cp, "fullName"),
                    false,
                    MAX_FULL_NAME,
                );
                email(&mut e, member(c, "email"), &at(&cp, "email"), false);
                contact_number(
                    &mut e,
                    member(c, "contactNumber"),
                    &at(&cp, "contactNumber"),
                    false,
                );
            }
            contact
        }
        Some(_) => {
            e.push(ep, "must be an object");
            None
        }
    };
    fees(&mut e, member(&enr, "fees"), "enrolment.fees", false);
    if run_id != current.run_id {
        // TS: an update naming another run moves the enrolment there.
        let crn = Some((current.crn.as_str(), "enrolment.course.run.id"));
        if published_run(&state, &mut e, &run_id, "enrolment.course.run.id", crn)
            && confirmed_in_run(&state, &current.trainee_id, &run_id)
                .next()
                .is_some()
        {
            return Err(duplicate());
        }
    }
    if !e.is_empty() {
        return Err(Answer::invalid(&e.0));
    }

    let mut trainee = current.trainee.as_object().cloned().unwrap_or_default();
    if let Some(t) = trainee_changes {
        copy(t, "email", &mut trainee, "emailAddress");
        copy(t, "contactNumber", &mut trainee, "contactNumber");
    }
    if let Some(c) = contact_changes {
        let mut employer = trainee
            .get("employer")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut contact = employer
            .get("contact")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        copy(c, "fullName", &mut contact, "fullName");
        copy(c, "email", &mut contact, "emailAddress");
        copy(c, "contactNumber", &mut contact, "contactNumber");
        employer.insert("contact".to_string(), Value::Object(contact));
        trainee.insert("employer".to_string(), Value::Object(employer));
    }
    if let Some(f) = member(&enr, "fees") {
        let mut fees = trainee
            .get("fees")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        copy(f, "discountAmount", &mut fees, "discountAmount");
        copy(f, "collectionStatus", &mut fees, "collectionStatus");
        trainee.insert("fees".to_string(), Value::Object(fees));
    }
    let x = &mut state.enrolments[at_index];
    x.trainee = Value::Object(trainee);
    x.run_id = run_id;
    x.update_count += 1;
    x.updated_on = now;
    Ok(reference_answer(x))
}

/// Sets `to[to_key]` to `from[from_key]` when that is present.
fn copy(from: &Value, from_key: &str, to: &mut Map<String, Value>, to_key: &str) {
    if let Some(v) = member(from, from_key) {
        to.insert(to_key.to_string(), v.clone());
    }
}

// -------------------------------------------------------- search and view

/// A record as search lists it and the view shows it (API-NOTES §7: TS
/// reads `trainee.email.full`, LT `course.run.id`, `trainee.employer.uen`).
fn record(app: &App, x: &StoredEnrolment) -> Value {
    let mut trainee = x.trainee.as_object().cloned().unwrap_or_default();
    if let Some(email) = trainee.get("emailAddress").cloned() {
        trainee.insert("email".to_string(), json!({ "full": email }));
    }
    json!({
        "referenceNumber": x.reference,
        "status": x.status,
        "course": {"referenceNumber": x.crn, "run": {"id": x.run_id}},
        "trainee": Value::Object(trainee),
        "trainingPartner": {"uen": app.cfg.uen, "code": app.cfg.tp_code},
        "createdOn": x.created_on,
        "updatedOn": x.updated_on,
    })
}

/// `GET /tpg/enrolments/details/{enrolmentRef}` (API-NOTES §7).
pub(crate) fn view(app: &App, reference: &str) -> Answer {
    let state = app.lock();
    match state.enrolments.iter().find(|x| x.reference == reference) {
        Some(x) => Answer::ok(
            json!({ "enrolment": record(app, x) }),
            &x.created_on,
            &x.updated_on,
        ),
        None => Answer::not_found("Enrolment record not found"),
    }
}

/// What a search asks for.
#[derive(Default)]
struct Filters {
    run_id: Option<String>,
    crn: Option<String>,
    status: Option<&'static str>,
    trainee_id: Option<String>,
    id_type: Option<&'static str>,
    sponsorship: Option<&'static str>,
    employer_uen: Option<String>,
    enrolment_date: Option<String>,
    collection_status: Option<&'static str>,
    updated_from: Option<String>,
    updated_to: Option<String>,
}

impl Filters {
    fn keep(&self, x: &StoredEnrolment) -> bool {
        let same = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| have == Some(w))
        };
        let collection = match x.status {
            CANCELLED => Some("Cancelled"),
            _ => x.collection_status(),
        };
        let updated = x.updated_on.get(..10).unwrap_or_default();
        same(&self.run_id, Some(&x.run_id))
            && same(&self.crn, Some(&x.crn))
            && self.status.is_none_or(|s| s == x.status)
            && same(&self.trainee_id, Some(&x.trainee_id))
            && self.id_type.is_none_or(|t| t == x.trainee_id_type)
            && self.sponsorship.is_none_or(|s| s == x.sponsorship_type)
            && same(&self.employer_uen, x.employer_uen())
            && same(&self.enrolment_date, x.enrolment_date())
            && self.collection_status.is_none_or(|c| Some(c) == collection)
            && self
                .updated_from
                .as_deref()
                .is_none_or(|from| updated >= from)
            && self.updated_to.as_deref().is_none_or(|to| updated <= to)
    }
}

/// An optional string filter at `path` under `v`, trimmed.
fn text_filter(
    e: &mut Errors,
    v: Option<&Value>,
    field: &str,
    max: usize,
    upper: bool,
) -> Option<String> {
    validate::text(e, v, field, false, max)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            if upper {
                s.to_ascii_uppercase()
            } else {
                s.to_string()
            }
        })
}

/// An optional whole number from `min` to `max`.
fn whole(e: &mut Errors, v: Option<&Value>, field: &str, min: u64, max: u64) -> Option<u64> {
    let v = v?;
    match v.as_u64().filter(|n| (min..=max).contains(n)) {
        Some(n) => Some(n),
        None => {
            e.push(field, format!("must be a whole number from {min} to {max}"));
            None
        }
    }
}

/// `POST /tpg/enrolments/search` (API-NOTES §7).
pub(crate) fn search(app: &App, body: &[u8]) -> Answer {
    match try_search(app, body) {
        Ok(a) | Err(a) => a,
    }
}

fn try_search(app: &App, body: &[u8]) -> Result<Answer, Answer> {
    let doc = decrypt(app, body).map_err(|m| Answer::bad_request("body", m))?;
    let mut e = Errors::default();
    let enr = validate::object(&mut e, member(&doc, "enrolment"), "enrolment");
    let mut f = Filters::default();
    if let Some(enr) = enr {
        training_partner(
            app,
            &mut e,
            member(enr, "trainingPartner"),
            "enrolment.trainingPartner",
            false,
        )?;
        if let Some(c) = member(enr, "course") {
            let run = member(c, "run");
            f.run_id = text_filter(
                &mut e,
                run.and_then(|r| member(r, "id")),
                "enrolment.course.run.id",
                MAX_RUN_ID,
                false,
            );
            f.crn = text_filter(
                &mut e,
                member(c, "referenceNumber"),
                "enrolment.course.referenceNumber",
                MAX_CRN,
                false,
            );
        }
        f.status = one_of(
            &mut e,
            member(enr, "status"),
            "enrolment.status",
            false,
            &[CONFIRMED, CANCELLED],
            false,
        );
        if let Some(t) = member(enr, "trainee") {
            let p = "enrolment.trainee";
            f.trainee_id = text_filter(&mut e, member(t, "id"), &at(p, "id"), MAX_TRAINEE_ID, true);
            f.id_type = member(t, "idType").and_then(|ty| {
                one_of(
                    &mut e,
                    member(ty, "type"),
                    &at(p, "idType.type"),
                    false,
                    &ID_TYPES,
                    true,
                )
            });
            f.sponsorship = one_of(
                &mut e,
                member(t, "sponsorshipType"),
                &at(p, "sponsorshipType"),
                false,
                &SPONSORSHIP_TYPES,
                false,
            );
            f.employer_uen = text_filter(
                &mut e,
                member(t, "employer").and_then(|x| member(x, "uen")),
                &at(p, "employer.uen"),
                MAX_UEN,
                false,
            );
            let date_path = at(p, "enrolmentDate");
            f.enrolment_date = iso_date(&mut e, member(t, "enrolmentDate"), &date_path, false)
                .map(|d| d.format("%Y-%m-%d").to_string());
            f.collection_status = member(t, "fees").and_then(|fees| {
                one_of(
                    &mut e,
                    member(fees, "feeCollectionStatus"),
                    &at(p, "fees.feeCollectionStatus"),
                    false,
                    &SEARCH_COLLECTION_STATUSES,
                    false,
                )
            });
        }
    }
    if let Some(meta) = member(&doc, "meta") {
        let day = |e: &mut Errors, k: &str| {
            iso_date(e, member(meta, k), &format!("meta.{k}"), false)
                .map(|d| d.format("%Y-%m-%d").to_string())
        };
        f.updated_from = day(&mut e, "lastUpdateDateFrom");
        f.updated_to = day(&mut e, "lastUpdateDateTo");
    }
    let mut by_created = false;
    let mut ascending = false;
    if let Some(sort) = member(&doc, "sortBy") {
        by_created = one_of(
            &mut e,
            member(sort, "field"),
            "sortBy.field",
            false,
            &["updatedOn", "createdOn"],
            false,
        ) == Some("createdOn");
        ascending = one_of(
            &mut e,
            member(sort, "order"),
            "sortBy.order",
            false,
            &["asc", "desc"],
            false,
        ) == Some("asc");
    }
    let params = member(&doc, "parameters");
    let page = whole(
        &mut e,
        params.and_then(|p| member(p, "page")),
        "parameters.page",
        0,
        u64::from(u32::MAX),
    )
    .unwrap_or(0);
    let size = whole(
        &mut e,
        params.and_then(|p| member(p, "pageSize")),
        "parameters.pageSize",
        1,
        MAX_PAGE_SIZE,
    )
    .unwrap_or(DEFAULT_PAGE_SIZE);
    if !e.is_empty() {
        return Err(Answer::invalid(&e.0));
    }

    let state = app.lock();
    let mut found: Vec<(usize, &StoredEnrolment)> = state
        .enrolments
        .iter()
        .enumerate()
        .filter(|(_, x)| f.keep(x))
        .collect();
    found.sort_by(|(i, a), (j, b)| {
        let (ka, kb) = if by_created {
            (&a.created_on, &b.created_on)
        } else {
            (&a.updated_on, &b.updated_on)
        };
        (ka, i).cmp(&(kb, j))
    });
    if !ascending {
        found.reverse();
    }
    let skip = usize::try_from(page.saturating_mul(size)).unwrap_or(usize::MAX);
    let take = usize::try_from(size).unwrap_or(usize::MAX);
    let items: Vec<Value> = found
        .into_iter()
        .skip(skip)
        .take(take)
        .map(|(_, x)| record(app, x))
        .collect();
    drop(state);
    if items.is_empty() {
        return Err(Answer::not_found("No records found"));
    }
    let now = envelope::now();
    Ok(Answer::ok(Value::Array(items), &now, &now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(e: &Errors) -> Vec<&str> {
        e.0.iter().map(|d| d.field.as_str()).collect()
    }

    #[test]
    fn iso_dates_are_strict() {
        assert_eq!(
            parse_iso_date("2024-02-29"),
            NaiveDate::from_ymd_opt(2024, 2, 29)
        );
        for bad in [
            "2023-02-29",
            "20250105",
            "2025-1-05",
            "2025-01-5",
            "2025/01/05",
            "",
        ] {
            assert_eq!(parse_iso_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn nric_and_fin_need_their_check_letter() {
        let mut e = Errors::default();
        let t = json!({"id": "s7020587d", "idType": {"type": "nric"}});
        assert_eq!(
            trainee_identity(&mut e, &t, "t"),
            Some(("S7020587D".to_string(), "NRIC"))
        );
        assert!(e.is_empty());
        let t = json!({"id": "S7020587E", "idType": {"type": "NRIC"}});
        assert_eq!(trainee_identity(&mut e, &t, "t"), None);
        assert_eq!(fields(&e), ["t.id"]);
        assert!(!e.0[0].message.contains("7020587"));
        let mut e = Errors::default();
        let t = json!({"id": "S7020587D", "idType": {"type": "FIN"}});
        assert_eq!(trainee_identity(&mut e, &t, "t"), None);
        assert_eq!(fields(&e), ["t.id"]);
        let mut e = Errors::default();
        let t = json!({"id": "E1234567", "idType": {"type": "Others"}});
        assert_eq!(
            trainee_identity(&mut e, &t, "t"),
            Some(("E1234567".to_string(), "OTHERS"))
        );
        let t = json!({"id": "X".repeat(21), "idType": {"type": "PASSPORT"}});
        assert_eq!(trainee_identity(&mut e, &t, "t"), None);
        assert_eq!(fields(&e), ["t.id", "t.idType.type"]);
    }

    #[test]
    fn contact_numbers_and_amounts() {
        let mut e = Errors::default();
        contact_number(
            &mut e,
            Some(&json!({"countryCode": "+65", "areaCode": "", "phoneNumber": "98765432"})),
            "c",
            true,
        );
        contact_number(
            &mut e,
            Some(&json!({"countryCode": "65", "areaCode": null, "phoneNumber": "98765432"})),
            "d",
            true,
        );
        assert!(e.is_empty(), "{e:?}");
        contact_number(
            &mut e,
            Some(&json!({"countryCode": "6500", "areaCode": "x", "phoneNumber": "12"})),
            "c",
            true,
        );
        contact_number(&mut e, None, "n", true);
        assert_eq!(
            fields(&e),
            ["c.countryCode", "c.areaCode", "c.phoneNumber", "n"]
        );
        let mut e = Errors::default();
        discount(&mut e, Some(&json!(0)), "a", true);
        discount(&mut e, Some(&json!(12.5)), "b", true);
        discount(&mut e, Some(&json!(-1)), "c", true);
        discount(&mut e, Some(&json!("0")), "d", true);
        discount(&mut e, None, "e", true);
        assert_eq!(fields(&e), ["c", "d", "e"]);
    }
}
