//! Assessments on TPGateway: the create, update, void and search bodies
//! (API-NOTES §9, §13) and the answers read back. Pure: JSON in, JSON out;
//! the adapter encrypts (§3: requests and answers both).
//!
//! The input is plain data ([`AssessmentPayload`]) with the trainee's
//! national id opened: personal data, which its `Debug` never shows.
//!
//! # Choices made where the notes have no evidence (NOT FOUND)
//!
//! - The search answer's shape (§9: "Response shape NOT FOUND"): read as
//!   enrolment searches are, `data` a list whose items are
//!   `{"assessment": {referenceNumber, ...}}` or flat `{referenceNumber,
//!   ...}`; an envelope status 404 is no records; a 200 without `data` is
//!   an error, never "none" (which would have the caller create a second
//!   assessment).
//! - The search body: `assessments{course{referenceNumber, run{id}},
//!   trainee{id}, enrolment{referenceNumber}, trainingPartner{uen, code}}`
//!   (no `skillCode`: an assessment without one must be found too), no
//!   `meta`, `sortBy{field: updatedOn, order: desc}`, `parameters{page: 0,
//!   pageSize: 20}`.
//! - Which found record is ours: the newest one (the answer's order) whose
//!   `assessmentDate` is the one we sent, when the record has a date; a
//!   voided one is skipped when the record says so (`status` or `action`
//!   `void`, any case: the field is NOT FOUND).
//! - A duplicate refusal is an error whose message contains "duplicate"
//!   in any case (as for enrolments, §12; nothing is known for
//!   assessments).
//! - `score` is sent as a JSON integer (§13's example `90`); the range is
//!   ours (0–100).
//! - An update sends `trainee{fullName}`, `result`, `assessmentDate` and,
//!   when held, `grade`, `score`, `skillCode`; a grade, score or skill code
//!   removed locally is left out (whether a missing field clears
//!   TPGateway's copy is NOT FOUND).
//! - `conferringInstitute` is never sent (§9: the TP code is used).
//! - A reference in an answer is taken when it is 1 to 50 ASCII letters,
//!   digits and `-` (it goes into a URL path); its form (§5) is NOT FOUND
//!   for assessments.

use chrono::NaiveDate;
use serde_json::{json, Map, Value};

use super::{at, check_status, envelope_status, ParseError, Provider};

/// The longest reference taken from an answer.
const MAX_REFERENCE: usize = 50;

/// The trainee of an assessment, as TPGateway is told of them. `Debug`
/// shows only the id type.
#[derive(Clone, PartialEq, Eq)]
pub struct AssessmentTrainee {
    /// The national id, opened.
    pub id: String,
    /// `"NRIC"`, `"FIN"` or `"OTHERS"`: a plain string here (§9, §10).
    pub id_type: &'static str,
    pub full_name: String,
}

impl std::fmt::Debug for AssessmentTrainee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssessmentTrainee")
            .field("id", &"<redacted>")
            .field("id_type", &self.id_type)
            .field("full_name", &"<redacted>")
            .finish()
    }
}

/// What an assessment's bodies are built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssessmentPayload {
    /// The course reference number (`TGS-2020000697`).
    pub course_ref: String,
    /// TPGateway's run id.
    pub tpg_run_id: String,
    /// The enrolment's TPGateway reference (for the search).
    pub enrolment_ref: String,
    pub trainee: AssessmentTrainee,
    /// `Pass` or `Fail` (§10).
    pub result: &'static str,
    /// `A`–`F` (§10).
    pub grade: Option<&'static str>,
    pub score: Option<u8>,
    pub assessment_date: NaiveDate,
    pub skill_code: Option<String>,
}

fn date_iso(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// The result, grade, score, date and skill code, as both bodies carry them.
fn outcome_fields(a: &AssessmentPayload, out: &mut Map<String, Value>) {
    out.insert("result".into(), json!(a.result));
    if let Some(g) = a.grade {
        out.insert("grade".into(), json!(g));
    }
    if let Some(s) = a.score {
        out.insert("score".into(), json!(s));
    }
    out.insert("assessmentDate".into(), json!(date_iso(a.assessment_date)));
    if let Some(c) = &a.skill_code {
        out.insert("skillCode".into(), json!(c));
    }
}

/// `POST /tpg/assessments` (§9, §13).
pub fn create_assessment(p: &Provider, a: &AssessmentPayload) -> Value {
    let mut body = Map::new();
    body.insert(
        "trainingPartner".into(),
        json!({"uen": p.uen, "code": p.tp_code}),
    );
    body.insert(
        "course".into(),
        json!({"referenceNumber": a.course_ref, "run": {"id": a.tpg_run_id}}),
    );
    body.insert(
        "trainee".into(),
        json!({"id": a.trainee.id, "idType": a.trainee.id_type, "fullName": a.trainee.full_name}),
    );
    outcome_fields(a, &mut body);
    json!({ "assessment": body })
}

/// `POST /tpg/assessments/details/{ref}` with `action: "update"` (§9:
/// lowercase).
pub fn update_assessment(a: &AssessmentPayload) -> Value {
    let mut body = Map::new();
    body.insert("action".into(), json!("update"));
    body.insert("trainee".into(), json!({"fullName": a.trainee.full_name}));
    outcome_fields(a, &mut body);
    json!({ "assessment": body })
}

/// `POST /tpg/assessments/details/{ref}` voiding it: only the action (§9).
pub fn void_assessment() -> Value {
    json!({"assessment": {"action": "void"}})
}

/// `POST /tpg/assessments/search`: top-level key `assessments` (§9).
pub fn search_assessments(p: &Provider, a: &AssessmentPayload) -> Value {
    json!({
        "assessments": {
            "course": {"referenceNumber": a.course_ref, "run": {"id": a.tpg_run_id}},
            "trainee": {"id": a.trainee.id},
            "enrolment": {"referenceNumber": a.enrolment_ref},
            "trainingPartner": {"uen": p.uen, "code": p.tp_code},
        },
        "sortBy": {"field": "updatedOn", "order": "desc"},
        "parameters": {"page": 0, "pageSize": 20},
    })
}

fn reference_at(v: Option<&Value>, field: &str) -> Result<String, ParseError> {
    const EXPECTED: &str = "must be an assessment reference: 1 to 50 letters, digits and '-'";
    match v {
        None => Err(ParseError::missing(field)),
        Some(Value::String(s))
            if !s.is_empty()
                && s.len() <= MAX_REFERENCE
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
        {
            Ok(s.clone())
        }
        Some(_) => Err(ParseError::malformed(field, EXPECTED)),
    }
}

/// The reference from a create or update answer
/// (`data.assessment.referenceNumber`, §9).
pub fn parse_assessment_reference(body: &Value) -> Result<String, ParseError> {
    check_status(body)?;
    reference_at(
        at(body, &["data", "assessment", "referenceNumber"]),
        "data.assessment.referenceNumber",
    )
}

/// An assessment a search found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundAssessment {
    pub reference: String,
    /// `assessmentDate`, when the record gives one we can read.
    pub assessment_date: Option<NaiveDate>,
    /// Whether the record says it is void.
    pub void: bool,
}

/// Reads a search answer (see the module's NOT FOUND list).
pub fn parse_search(body: &Value) -> Result<Vec<FoundAssessment>, ParseError> {
    if envelope_status(body) == Some(404) {
        return Ok(Vec::new());
    }
    check_status(body)?;
    let items = match at(body, &["data"]) {
        None => return Err(ParseError::missing("data")),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(ParseError::malformed("data", "must be a list")),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let (record, prefix) = match at(item, &["assessment"]) {
                Some(inner) => (inner, format!("data[{i}].assessment")),
                None => (item, format!("data[{i}]")),
            };
            if !record.is_object() {
                return Err(ParseError::malformed(prefix, "must be an object"));
            }
            let says_void = |k: &str| {
                at(record, &[k])
                    .and_then(Value::as_str)
                    .is_some_and(|s| s.eq_ignore_ascii_case("void"))
            };
            Ok(FoundAssessment {
                reference: reference_at(
                    at(record, &["referenceNumber"]),
                    &format!("{prefix}.referenceNumber"),
                )?,
                assessment_date: at(record, &["assessmentDate"])
                    .and_then(Value::as_str)
                    .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()),
                void: says_void("status") || says_void("action"),
            })
        })
        .collect()
}

/// Ours among the found: the first (newest) not void whose date, when
/// given, is the one sent.
pub fn find_ours(found: &[FoundAssessment], a: &AssessmentPayload) -> Option<String> {
    found
        .iter()
        .find(|f| !f.void && f.assessment_date.is_none_or(|d| d == a.assessment_date))
        .map(|f| f.reference.clone())
}

/// True when an error message says the assessment is a duplicate.
pub fn is_duplicate(message: &str) -> bool {
    message.to_ascii_lowercase().contains("duplicate")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> Provider {
        Provider {
            uen: "199900650G".into(),
            tp_code: "199900650G-01".into(),
        }
    }

    fn payload() -> AssessmentPayload {
        AssessmentPayload {
            course_ref: "TGS-2020000697".into(),
            tpg_run_id: "835457".into(),
            enrolment_ref: "ENR-2501-000004".into(),
            trainee: AssessmentTrainee {
                id: "S7020587D".into(),
                id_type: "NRIC",
                full_name: "Aileen Chong".into(),
            },
            result: "Pass",
            grade: Some("A"),
            score: Some(90),
            assessment_date: NaiveDate::from_ymd_opt(2025, 1, 16).unwrap(),
            skill_code: Some("ATP-SSM-3007-1.1".into()),
        }
    }

    #[test]
    fn the_create_body_is_section_13s_example() {
        let expected: Value = serde_json::from_str(
            r#"{"assessment":{"trainingPartner":{"uen":"199900650G","code":"199900650G-01"},"course":{"referenceNumber":"TGS-2020000697","run":{"id":"835457"}},"trainee":{"id":"S7020587D","idType":"NRIC","fullName":"Aileen Chong"},"result":"Pass","grade":"A","score":90,"assessmentDate":"2025-01-16","skillCode":"ATP-SSM-3007-1.1"}}"#,
        )
        .unwrap();
        assert_eq!(create_assessment(&provider(), &payload()), expected);
    }

    #[test]
    fn update_void_and_search_bodies() {
        let mut p = payload();
        p.grade = None;
        p.score = None;
        let u = update_assessment(&p);
        assert_eq!(u["assessment"]["action"], "update");
        assert_eq!(
            u["assessment"]["trainee"],
            json!({"fullName": "Aileen Chong"})
        );
        assert!(u["assessment"].get("grade").is_none());
        assert!(u["assessment"].get("score").is_none());
        assert_eq!(u["assessment"]["result"], "Pass");
        assert_eq!(void_assessment(), json!({"assessment": {"action": "void"}}));
        let s = search_assessments(&provider(), &payload());
        assert_eq!(s["assessments"]["course"]["run"]["id"], "835457");
        assert_eq!(s["assessments"]["trainee"]["id"], "S7020587D");
        assert_eq!(
            s["assessments"]["enrolment"]["referenceNumber"],
            "ENR-2501-000004"
        );
        assert!(s.get("assessment").is_none(), "the key is plural");
    }

    #[test]
    fn debug_hides_the_trainee() {
        let text = format!("{:?}", payload());
        assert!(
            !text.contains("S7020587D") && !text.contains("Aileen"),
            "{text}"
        );
    }

    #[test]
    fn answers_are_read() {
        let ok =
            json!({"status": 200, "data": {"assessment": {"referenceNumber": "ASM-2501-000001"}}});
        assert_eq!(parse_assessment_reference(&ok).unwrap(), "ASM-2501-000001");
        for bad in [
            json!({"status": 200, "data": {}}),
            json!({"status": 200, "data": {"assessment": {"referenceNumber": "a/b"}}}),
            json!({"status": 400, "data": {"assessment": {"referenceNumber": "X"}}}),
        ] {
            assert!(parse_assessment_reference(&bad).is_err(), "{bad}");
        }
        assert_eq!(parse_search(&json!({"status": 404})).unwrap(), vec![]);
        assert!(
            parse_search(&json!({"status": 200})).is_err(),
            "no data is not none"
        );
        let found = parse_search(&json!({"status": 200, "data": [
            {"assessment": {"referenceNumber": "A-2", "assessmentDate": "2025-01-16", "status": "Void"}},
            {"referenceNumber": "A-1", "assessmentDate": "2025-01-15"},
            {"referenceNumber": "A-0", "assessmentDate": "2025-01-16"}
        ]}))
        .unwrap();
        assert_eq!(found.len(), 3);
        assert!(found[0].void && !found[1].void);
        assert_eq!(find_ours(&found, &payload()).as_deref(), Some("A-0"));
        assert!(is_duplicate("Duplicate assessment record"));
        assert!(!is_duplicate("Invalid grade"));
    }
}
