//! Assessments: the result of an enrolled trainee's assessment (pass or
//! fail, an optional score 0–100 and grade A–F), who assessed and when,
//! and where it stands with TPGateway. Every change is a new version (the
//! history is kept); void is a change of the result, never a delete.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, ValidationErrors};
use crate::ids::{AssessmentId, EnrolmentId, RunId, TraineeId, TrainerId, TypedId};
use crate::patch::{apply_merge_patch, MergePatch};
use crate::sync::SubmissionSync;
use crate::types::{optional_text, required_text, strict_date};

/// Longest assessment type (`final`, `practical`, ...).
pub const MAX_ASSESSMENT_TYPE: usize = 50;
/// Longest void reason.
pub const MAX_VOID_REASON: usize = 500;
/// Highest score: a score is a whole number from 0 to 100 (a percentage;
/// TPGateway's own range is NOT FOUND, its example sends 90).
pub const MAX_SCORE: i64 = 100;
/// Longest skill code (TPGateway's example `ATP-SSM-3007-1.1`).
pub const MAX_SKILL_CODE: usize = 30;
/// No assessment predates this day.
pub fn earliest_assessment_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN)
}

crate::named_enum! {
    /// The assessment's result. `void` is reached only by
    /// `POST /assessments/{id}/void`.
    pub enum AssessmentResult {
        Pass,
        Fail,
        Void,
    }
}

impl AssessmentResult {
    /// TPGateway's code (§10: Pass, Fail; a void is an action, not a result).
    pub fn tpg_code(self) -> Option<&'static str> {
        match self {
            AssessmentResult::Pass => Some("Pass"),
            AssessmentResult::Fail => Some("Fail"),
            AssessmentResult::Void => None,
        }
    }
}

crate::named_enum! {
    /// The grade (TPGateway's A–F, §10).
    pub enum Grade {
        A,
        B,
        C,
        D,
        E,
        F,
    }
}

impl Grade {
    pub fn letter(self) -> &'static str {
        match self {
            Grade::A => "A",
            Grade::B => "B",
            Grade::C => "C",
            Grade::D => "D",
            Grade::E => "E",
            Grade::F => "F",
        }
    }

    /// A grade as written: one letter A–F, either case.
    pub fn parse_letter(v: &str) -> Result<Grade, &'static str> {
        match v {
            "A" | "a" => Ok(Grade::A),
            "B" | "b" => Ok(Grade::B),
            "C" | "c" => Ok(Grade::C),
            "D" | "d" => Ok(Grade::D),
            "E" | "e" => Ok(Grade::E),
            "F" | "f" => Ok(Grade::F),
            _ => Err("must be one of: A, B, C, D, E, F"),
        }
    }
}

crate::named_enum! {
    /// Where the assessment stands with TPGateway.
    pub enum AssessmentSyncStatus {
        /// Queued for TPGateway (its current version is not there yet).
        Pending,
        /// TPGateway has the current version (its reference is stored).
        Synced,
        /// TPGateway refused it; a person must fix the data.
        Failed,
    }
}

/// What a person sets; serialized, the document a merge patch applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AssessmentFields {
    /// The kind of assessment, short text (`final`, `practical`).
    pub assessment_type: String,
    /// `pass` or `fail` (`void` only by the void action).
    pub result: AssessmentResult,
    /// A whole number from 0 to 100.
    pub score: Option<u8>,
    /// A–F.
    #[schemars(with = "Option<String>", regex(pattern = "^[A-F]$"))]
    #[serde(with = "grade_letter")]
    pub grade: Option<Grade>,
    /// The day of the assessment (Singapore), not in the future.
    pub assessed_at: NaiveDate,
    /// The trainer who assessed.
    pub assessor_id: Option<TrainerId>,
    /// The skill assessed (TPGateway's `skillCode`, e.g. `ATP-SSM-3007-1.1`).
    pub skill_code: Option<String>,
}

/// Grades are written as their letter, `"A"`.
mod grade_letter {
    use super::Grade;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(g: &Option<Grade>, s: S) -> Result<S::Ok, S::Error> {
        match g {
            Some(g) => s.serialize_str(g.letter()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Grade>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|v| Grade::parse_letter(&v).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// An assessment as stored and answered (its version is the item's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Assessment {
    pub id: AssessmentId,
    pub enrolment_id: EnrolmentId,
    /// The enrolment's run (copied at creation: whose run it is decides a
    /// Trainer's access without reading the enrolment).
    pub course_run_id: RunId,
    /// The enrolment's trainee (copied at creation).
    pub trainee_id: TraineeId,
    #[serde(flatten)]
    pub fields: AssessmentFields,
    /// Why it was voided (set by the void action only).
    pub void_reason: Option<String>,
    pub sync_status: AssessmentSyncStatus,
    /// TPGateway's assessment reference number, once it has it.
    pub sync_reference: Option<String>,
    /// What the sync worker recorded (written by the worker only).
    #[serde(default)]
    pub sync: SubmissionSync,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An assessment as it arrives: a create names the enrolment; a merged
/// patch does not.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessmentInput {
    #[schemars(with = "Option<EnrolmentId>")]
    pub enrolment_id: Option<String>,
    #[schemars(length(max = MAX_ASSESSMENT_TYPE))]
    pub assessment_type: Option<String>,
    /// `pass` or `fail`.
    #[schemars(with = "Option<String>", regex(pattern = "^(pass|fail)$"))]
    pub result: Option<String>,
    /// A whole number from 0 to 100.
    #[schemars(range(min = 0, max = MAX_SCORE))]
    pub score: Option<i64>,
    /// A–F.
    #[schemars(regex(pattern = "^[A-F]$"))]
    pub grade: Option<String>,
    /// `YYYY-MM-DD`, not in the future (Singapore), not before 1900.
    #[schemars(extend("format" = "date"))]
    pub assessed_at: Option<String>,
    #[schemars(with = "Option<TrainerId>")]
    pub assessor_id: Option<String>,
    #[schemars(length(max = MAX_SKILL_CODE))]
    pub skill_code: Option<String>,
}

/// A create, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAssessment {
    pub enrolment_id: EnrolmentId,
    pub fields: AssessmentFields,
}

/// A skill code as TPGateway shows them: upper-case letters and digits in
/// groups joined by `-`, the last group may hold `.`; e.g.
/// `ATP-SSM-3007-1.1` (the exact rule is NOT FOUND).
pub fn skill_code_ok(v: &str) -> bool {
    let groups: Vec<&str> = v.split('-').collect();
    v.len() <= MAX_SKILL_CODE
        && groups.len() >= 2
        && groups.iter().enumerate().all(|(i, g)| {
            !g.is_empty()
                && g.bytes().all(|b| {
                    b.is_ascii_uppercase()
                        || b.is_ascii_digit()
                        || (b == b'.' && i == groups.len() - 1)
                })
                && !g.starts_with('.')
                && !g.ends_with('.')
        })
}

impl AssessmentInput {
    /// Checks the fields a person sets (`today` is Singapore's day).
    pub fn parse_fields(
        &self,
        errors: &mut ValidationErrors,
        today: NaiveDate,
    ) -> Option<AssessmentFields> {
        let before = errors.0.len();
        let assessment_type = required_text(
            errors,
            "assessment_type",
            self.assessment_type.as_deref(),
            MAX_ASSESSMENT_TYPE,
        );
        let result = match self.result.as_deref() {
            None => {
                errors.push("result", "is required");
                None
            }
            Some("pass") => Some(AssessmentResult::Pass),
            Some("fail") => Some(AssessmentResult::Fail),
            Some("void") => {
                errors.push(
                    "result",
                    "must be pass or fail (void an assessment with POST /assessments/{id}/void)",
                );
                None
            }
            Some(_) => {
                errors.push("result", "must be one of: pass, fail");
                None
            }
        };
        let score = match self.score {
            None => None,
            Some(s) => match u8::try_from(s) {
                Ok(s) if i64::from(s) <= MAX_SCORE => Some(s),
                _ => {
                    errors.push("score", "must be a whole number from 0 to 100");
                    None
                }
            },
        };
        let grade = self.grade.as_deref().and_then(|g| {
            Grade::parse_letter(g)
                .map_err(|why| errors.push("grade", why))
                .ok()
        });
        let assessed_at = match self.assessed_at.as_deref() {
            None => {
                errors.push("assessed_at", "is required");
                None
            }
            Some(d) => match strict_date(d) {
                Err(why) => {
                    errors.push("assessed_at", why);
                    None
                }
                Ok(d) if d > today => {
                    errors.push("assessed_at", "must not be in the future (Singapore time)");
                    None
                }
                Ok(d) if d < earliest_assessment_date() => {
                    errors.push("assessed_at", "must not be before 1900-01-01");
                    None
                }
                Ok(d) => Some(d),
            },
        };
        let assessor_id = self.assessor_id.as_deref().and_then(|a| {
            TrainerId::parse(a)
                .map_err(|why| errors.push("assessor_id", why))
                .ok()
        });
        let skill_code = optional_text(
            errors,
            "skill_code",
            self.skill_code.as_deref(),
            MAX_SKILL_CODE,
        )
        .and_then(|c| {
            let c = c.to_ascii_uppercase();
            if skill_code_ok(&c) {
                Some(c)
            } else {
                errors.push(
                    "skill_code",
                    "must be a skill code: letters, digits and hyphens, e.g. ATP-SSM-3007-1.1",
                );
                None
            }
        });
        if errors.0.len() > before {
            return None;
        }
        Some(AssessmentFields {
            assessment_type: assessment_type?,
            result: result?,
            score,
            grade,
            assessed_at: assessed_at?,
            assessor_id,
            skill_code,
        })
    }

    /// A create: the enrolment and the fields.
    pub fn parse_new(&self, today: NaiveDate) -> Result<NewAssessment, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let enrolment = match self.enrolment_id.as_deref() {
            None => {
                errors.push("enrolment_id", "is required");
                None
            }
            Some(e) => EnrolmentId::parse(e)
                .map_err(|why| errors.push("enrolment_id", why))
                .ok(),
        };
        let fields = self.parse_fields(&mut errors, today);
        match (enrolment, fields, errors.is_empty()) {
            (Some(enrolment_id), Some(fields), true) => Ok(NewAssessment {
                enrolment_id,
                fields,
            }),
            _ => Err(errors),
        }
    }
}

/// The members a patch may not set to null.
pub const NOT_NULL_IN_PATCH: [&str; 3] = ["assessment_type", "result", "assessed_at"];

/// The body of `POST /assessments/{id}/void`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VoidInput {
    /// Why the assessment is void (required).
    #[schemars(length(min = 1, max = MAX_VOID_REASON))]
    pub reason: Option<String>,
}

impl VoidInput {
    pub fn parse(&self) -> Result<String, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let reason = required_text(
            &mut errors,
            "reason",
            self.reason.as_deref(),
            MAX_VOID_REASON,
        );
        match reason {
            Some(r) if errors.is_empty() => Ok(r),
            _ => Err(errors),
        }
    }
}

impl Assessment {
    pub fn create(
        id: AssessmentId,
        new: NewAssessment,
        course_run_id: RunId,
        trainee_id: TraineeId,
        now: DateTime<Utc>,
    ) -> Assessment {
        Assessment {
            id,
            enrolment_id: new.enrolment_id,
            course_run_id,
            trainee_id,
            fields: new.fields,
            void_reason: None,
            sync_status: AssessmentSyncStatus::Pending,
            sync_reference: None,
            sync: SubmissionSync::default(),
            created_at: now,
            updated_at: now,
        }
    }

    pub fn is_void(&self) -> bool {
        self.fields.result == AssessmentResult::Void
    }

    /// The assessment after a merge patch of its fields; a void one no
    /// longer changes.
    pub fn patched(
        &self,
        patch: &MergePatch,
        today: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<Assessment, DomainError> {
        let mut errors = ValidationErrors::default();
        for f in NOT_NULL_IN_PATCH {
            if patch.get(f).is_some_and(|v| v.is_null()) {
                errors.push(f, "is required");
            }
        }
        if !errors.is_empty() {
            return Err(errors.into());
        }
        let input: AssessmentInput = apply_merge_patch(&self.fields, patch)?;
        if self.is_void() {
            return Err(DomainError::InvalidState(
                "the assessment is void and can no longer be changed".into(),
            ));
        }
        let mut errors = ValidationErrors::default();
        let Some(fields) = input.parse_fields(&mut errors, today) else {
            return Err(errors.into());
        };
        Ok(Assessment {
            fields,
            sync_status: AssessmentSyncStatus::Pending,
            updated_at: now,
            ..self.clone()
        })
    }

    /// The assessment voided with the reason; voiding a void one is a
    /// conflict.
    pub fn voided(&self, reason: String, now: DateTime<Utc>) -> Result<Assessment, DomainError> {
        if self.is_void() {
            return Err(DomainError::InvalidState(
                "the assessment is already void".into(),
            ));
        }
        let mut fields = self.fields.clone();
        fields.result = AssessmentResult::Void;
        Ok(Assessment {
            fields,
            void_reason: Some(reason),
            sync_status: AssessmentSyncStatus::Pending,
            updated_at: now,
            ..self.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 28).unwrap()
    }
    const E: &str = "0193a4e2-7c1b-7d3e-9a51-2b7f00c0ff01";
    const T: &str = "0193a4e2-7c1b-7d3e-9a51-2b7f00c0ff02";

    fn input(v: serde_json::Value) -> Result<AssessmentInput, serde_json::Error> {
        serde_json::from_value(v)
    }

    fn ok_body() -> serde_json::Value {
        json!({"enrolment_id": E, "assessment_type": "final", "result": "pass",
               "score": 90, "grade": "a", "assessed_at": "2026-11-28",
               "assessor_id": T, "skill_code": "atp-ssm-3007-1.1"})
    }

    fn fields_of(errors: &ValidationErrors) -> Vec<&str> {
        errors.0.iter().map(|f| f.field.as_str()).collect()
    }

    fn sample() -> Assessment {
        let new = input(ok_body()).unwrap().parse_new(today()).unwrap();
        let now = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        Assessment::create(
            AssessmentId::parse(E).unwrap(),
            new,
            RunId::parse(T).unwrap(),
            TraineeId::parse(T).unwrap(),
            now,
        )
    }

    #[test]
    fn a_create_is_checked_and_normalised() {
        let ok = input(ok_body()).unwrap().parse_new(today()).unwrap();
        assert_eq!(ok.fields.result, AssessmentResult::Pass);
        assert_eq!(ok.fields.score, Some(90));
        assert_eq!(ok.fields.grade, Some(Grade::A));
        assert_eq!(ok.fields.skill_code.as_deref(), Some("ATP-SSM-3007-1.1"));
        let minimal = input(json!({"enrolment_id": E, "assessment_type": "final",
                                   "result": "fail", "assessed_at": "1900-01-01"}))
        .unwrap()
        .parse_new(today())
        .unwrap();
        assert_eq!(minimal.fields.score, None);
        assert_eq!(minimal.fields.grade, None);
    }

    #[test]
    fn every_bad_field_is_named() {
        let e = input(
            json!({"enrolment_id": "x", "assessment_type": " ", "result": "void",
                             "score": 101, "grade": "G", "assessed_at": "2026-11-29",
                             "assessor_id": "y", "skill_code": "ATP SSM"}),
        )
        .unwrap()
        .parse_new(today())
        .unwrap_err();
        let fields = fields_of(&e);
        for f in [
            "enrolment_id",
            "assessment_type",
            "result",
            "score",
            "grade",
            "assessed_at",
            "assessor_id",
            "skill_code",
        ] {
            assert!(fields.contains(&f), "{f} in {fields:?}");
        }
        let missing = input(json!({})).unwrap().parse_new(today()).unwrap_err();
        assert_eq!(
            fields_of(&missing),
            ["enrolment_id", "assessment_type", "result", "assessed_at"]
        );
    }

    #[test]
    fn scores_are_whole_numbers_from_0_to_100() {
        for (score, good) in [
            (0, true),
            (100, true),
            (-1, false),
            (101, false),
            (256, false),
        ] {
            let mut b = ok_body();
            b["score"] = json!(score);
            let r = input(b).unwrap().parse_new(today());
            assert_eq!(r.is_ok(), good, "{score}");
        }
        let mut b = ok_body();
        b["score"] = json!(90.5);
        assert!(input(b).is_err(), "a fraction is not a score");
        let mut b = ok_body();
        b["score"] = json!("90");
        assert!(input(b).is_err(), "a string is not a score");
    }

    #[test]
    fn dates_are_strict_and_not_in_the_future() {
        for (d, good) in [
            ("2026-11-28", true),
            ("2026-11-29", false),
            ("1899-12-31", false),
            ("2026-02-30", false),
            ("28/11/2026", false),
        ] {
            let mut b = ok_body();
            b["assessed_at"] = json!(d);
            assert_eq!(input(b).unwrap().parse_new(today()).is_ok(), good, "{d}");
        }
    }

    #[test]
    fn skill_codes_have_the_shape() {
        assert!(skill_code_ok("ATP-SSM-3007-1.1"));
        assert!(skill_code_ok("TGS-2020"));
        for bad in ["ATP", "ATP--1", "ATP-1.", "A.T-1", "ATP-ssm", "-ATP-1"] {
            assert!(!skill_code_ok(bad), "{bad}");
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let mut b = ok_body();
        b["status"] = json!("void");
        assert!(input(b).is_err());
    }

    #[test]
    fn patches_keep_the_enrolment_and_refuse_void() {
        let a = sample();
        let now = a.created_at;
        let p = |v: serde_json::Value| v.as_object().unwrap().clone();
        let failed = a
            .patched(&p(json!({"result": "fail", "score": null})), today(), now)
            .unwrap();
        assert_eq!(failed.fields.result, AssessmentResult::Fail);
        assert_eq!(failed.fields.score, None);
        assert_eq!(failed.fields.grade, Some(Grade::A));
        assert_eq!(failed.enrolment_id, a.enrolment_id);
        assert!(matches!(
            a.patched(&p(json!({"enrolment_id": T})), today(), now),
            Err(DomainError::Invalid(_))
        ));
        assert!(matches!(
            a.patched(&p(json!({"result": "void"})), today(), now),
            Err(DomainError::Invalid(_))
        ));
        assert!(matches!(
            a.patched(&p(json!({"assessed_at": null})), today(), now),
            Err(DomainError::Invalid(_))
        ));
    }

    #[test]
    fn void_once_with_a_reason() {
        let a = sample();
        assert!(VoidInput::default().parse().is_err());
        assert!(VoidInput {
            reason: Some("  ".into())
        }
        .parse()
        .is_err());
        let reason = VoidInput {
            reason: Some("marked the wrong trainee".into()),
        }
        .parse()
        .unwrap();
        let v = a.voided(reason, a.created_at).unwrap();
        assert!(v.is_void());
        assert_eq!(v.void_reason.as_deref(), Some("marked the wrong trainee"));
        assert!(matches!(
            v.voided("again".into(), v.updated_at),
            Err(DomainError::InvalidState(_))
        ));
        let p = json!({"result": "pass"}).as_object().unwrap().clone();
        assert!(matches!(
            v.patched(&p, today(), v.updated_at),
            Err(DomainError::InvalidState(_))
        ));
    }

    #[test]
    fn stored_form_round_trips() {
        let a = sample();
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["grade"], "A");
        assert_eq!(v["result"], "pass");
        assert_eq!(v["sync_status"], "pending");
        let back: Assessment = serde_json::from_value(v).unwrap();
        assert_eq!(back, a);
    }
}
