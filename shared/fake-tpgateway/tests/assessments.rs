//! The fake TPGateway's assessment APIs over real HTTP on loopback,
//! called with the real client (`HttpTpGateway`, encrypting and decrypting
//! per API-NOTES §3) and the domain's payload builders and parsers
//! (`tms_domain::tpg::assessment`): create, duplicate, search, view,
//! update, void, void again, and the validation TPGateway does (required
//! fields, codes, dates, NRIC check letters, the run and the enrolment).

mod common;

use serde_json::{json, Value};
use tms_domain::tpg::assessment::{
    create_assessment, find_ours, is_duplicate, parse_assessment_reference, parse_search,
    search_assessments, update_assessment, void_assessment, AssessmentPayload, AssessmentTrainee,
};
use tms_domain::tpg::enrolment::parse_enrolment_reference;
use tms_fake_tpgateway::Route;
use tms_ports::{Api, ErrorKind, TpGateway, TpgError, TpgRequest, TpgResponse};

use common::{day, enrolment_payload as payload, Env, CRN, NRIC};

impl Env {
    /// A run of [`CRN`] with the §13 trainee enrolled: (run id, enrolment
    /// reference).
    async fn enrolled(&self) -> (String, String) {
        let run_id = self.publish(CRN, 15).await;
        let resp = self.create(&payload(&run_id)).await.unwrap();
        let (reference, _) = parse_enrolment_reference(&resp.body).unwrap();
        (run_id, reference)
    }

    async fn send(&self, api: Api, path: String, body: Value) -> Result<TpgResponse, TpgError> {
        self.tpg.call(TpgRequest::new(api, path).body(body)).await
    }

    async fn create_assessment(&self, a: &AssessmentPayload) -> Result<TpgResponse, TpgError> {
        let body = create_assessment(&self.provider, a);
        self.send(Api::CreateAssessment, "/tpg/assessments".into(), body)
            .await
    }

    async fn update(&self, reference: &str, body: Value) -> Result<TpgResponse, TpgError> {
        self.send(
            Api::UpdateAssessment,
            format!("/tpg/assessments/details/{reference}"),
            body,
        )
        .await
    }

    async fn found(
        &self,
        a: &AssessmentPayload,
    ) -> Vec<tms_domain::tpg::assessment::FoundAssessment> {
        let body = search_assessments(&self.provider, a);
        match self
            .send(
                Api::SearchAssessments,
                "/tpg/assessments/search".into(),
                body,
            )
            .await
        {
            Ok(resp) => parse_search(&resp.body).unwrap(),
            Err(e) if e.is_not_found() => Vec::new(),
            Err(e) => panic!("search failed: {e:?}"),
        }
    }
}

/// §13's assessment example in the run, of the enrolment.
fn assessment(run_id: &str, enrolment_ref: &str) -> AssessmentPayload {
    AssessmentPayload {
        course_ref: CRN.into(),
        tpg_run_id: run_id.into(),
        enrolment_ref: enrolment_ref.into(),
        trainee: AssessmentTrainee {
            id: NRIC.into(),
            id_type: "NRIC",
            full_name: "Aileen Chong".into(),
        },
        result: "Pass",
        grade: Some("A"),
        score: Some(90),
        assessment_date: day("2025-01-16"),
        skill_code: Some("ATP-SSM-3007-1.1".into()),
    }
}

#[tokio::test]
async fn create_search_update_void_and_void_again() {
    let env = Env::start().await;
    let (run_id, enrolment_ref) = env.enrolled().await;
    let a = assessment(&run_id, &enrolment_ref);
    assert!(env.found(&a).await.is_empty(), "none yet: a 404");

    let resp = env.create_assessment(&a).await.unwrap();
    let reference = parse_assessment_reference(&resp.body).unwrap();
    assert!(reference.starts_with("ASM-"), "{reference}");
    let stored = env.fake.assessments();
    assert_eq!(stored.len(), 1);
    let x = &stored[0];
    assert_eq!(x.reference, reference);
    assert_eq!(x.run_id, run_id);
    assert_eq!(x.enrolment_reference, enrolment_ref);
    assert_eq!(x.trainee_id, NRIC);
    assert_eq!(x.trainee_id_type, "NRIC");
    assert_eq!(
        (x.result.as_str(), x.grade.as_deref(), x.score),
        ("Pass", Some("A"), Some(90))
    );
    assert_eq!(x.assessment_date, "2025-01-16");
    assert!(!format!("{x:?}").contains(NRIC), "Debug hides the trainee");

    // A second create of the same is a duplicate; the search finds ours.
    let dup = env.create_assessment(&a).await.unwrap_err();
    assert_eq!(dup.kind, ErrorKind::Permanent);
    assert!(is_duplicate(&dup.message), "{}", dup.message);
    assert_eq!(env.fake.assessments().len(), 1);
    let found = env.found(&a).await;
    assert_eq!(find_ours(&found, &a), Some(reference.clone()));

    // The view answers (encrypted) the record.
    let view = env
        .tpg
        .call(TpgRequest::new(
            Api::GetAssessment,
            format!("/tpg/assessments/details/{reference}"),
        ))
        .await
        .unwrap();
    assert_eq!(view.body["data"]["referenceNumber"], json!(reference));
    assert_eq!(
        view.body["data"]["enrolment"]["referenceNumber"],
        json!(enrolment_ref)
    );

    // Update, then void; a void one takes no more.
    let mut changed = a.clone();
    changed.result = "Fail";
    changed.score = Some(40);
    env.update(&reference, update_assessment(&changed))
        .await
        .unwrap();
    let x = &env.fake.assessments()[0];
    assert_eq!(
        (x.result.as_str(), x.score, x.update_count),
        ("Fail", Some(40), 1)
    );
    env.update(&reference, void_assessment()).await.unwrap();
    assert!(env.fake.assessments()[0].void);
    let again = env.update(&reference, void_assessment()).await.unwrap_err();
    assert_eq!(again.kind, ErrorKind::Permanent);
    assert_eq!(env.fake.assessments()[0].update_count, 2);
    // Void, it is no longer ours.
    assert_eq!(find_ours(&env.found(&a).await, &a), None);
    assert_eq!(env.fake.accepted(Route::UpdateAssessment), 2);
}

#[tokio::test]
async fn creates_are_validated_as_tpgateway_does() {
    let env = Env::start().await;
    let (run_id, enrolment_ref) = env.enrolled().await;
    let good = create_assessment(&env.provider, &assessment(&run_id, &enrolment_ref));
    let refused =
        |e: &TpgError| -> Vec<String> { e.details.iter().map(|d| d.field.clone()).collect() };
    let cases: Vec<(&str, Value, &str)> = vec![
        ("no result", json!(null), "assessment.result"),
        ("lowercase result", json!("pass"), "assessment.result"),
        ("grade G", json!("G"), "assessment.grade"),
        ("score 101", json!(101), "assessment.score"),
        (
            "date form",
            json!("16/01/2025"),
            "assessment.assessmentDate",
        ),
        (
            "bad check letter",
            json!("S7020587A"),
            "assessment.trainee.id",
        ),
        (
            "idType object",
            json!({"type": "NRIC"}),
            "assessment.trainee.idType",
        ),
        ("unknown run", json!("999999"), "assessment.course.run.id"),
    ];
    for (what, value, field) in cases {
        let mut body = good.clone();
        let slot = match field {
            "assessment.result" => &mut body["assessment"]["result"],
            "assessment.grade" => &mut body["assessment"]["grade"],
            "assessment.score" => &mut body["assessment"]["score"],
            "assessment.assessmentDate" => &mut body["assessment"]["assessmentDate"],
            "assessment.trainee.id" => &mut body["assessment"]["trainee"]["id"],
            "assessment.trainee.idType" => &mut body["assessment"]["trainee"]["idType"],
            _ => &mut body["assessment"]["course"]["run"]["id"],
        };
        *slot = value;
        let err = env
            .send(Api::CreateAssessment, "/tpg/assessments".into(), body)
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Permanent, "{what}");
        assert!(
            refused(&err).contains(&field.to_string()),
            "{what}: {:?}",
            refused(&err)
        );
    }
    // A trainee not enrolled in the run (another valid NRIC).
    let mut other = assessment(&run_id, &enrolment_ref);
    other.trainee.id = "S0808315J".into();
    let err = env.create_assessment(&other).await.unwrap_err();
    assert_eq!(refused(&err), ["assessment.trainee.id"]);
    // `Update` (capitalised) is not an action.
    let ok = env
        .create_assessment(&assessment(&run_id, &enrolment_ref))
        .await
        .unwrap();
    let reference = parse_assessment_reference(&ok.body).unwrap();
    let err = env
        .update(&reference, json!({"assessment": {"action": "Update"}}))
        .await
        .unwrap_err();
    assert_eq!(refused(&err), ["assessment.action"]);
    // An unknown reference is a 404.
    let err = env
        .update("ASM-0000-000000", void_assessment())
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(env.fake.assessments().len(), 1, "only the valid one stored");
}
