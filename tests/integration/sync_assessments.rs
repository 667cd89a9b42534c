//! Assessments reaching TPGateway, on both engine sets, through the worker
//! and the fake TPGateway over real HTTP (encrypted both ways): create
//! (the reference stored), update and void; a job that waits for its
//! enrolment's reference; a create accepted but unanswered, adopted by
//! search (exactly one assessment on TPGateway); a refusal kept on the
//! assessment, then fixed.

use serde_json::{json, Value};
use tms_fake_tpgateway::{Fault, Route};
use tms_tests::{on_both_engines, TestSystem};

use crate::api::run_body;
use crate::assessments::assessment_body;
use crate::auth::{enrolment_body, fresh_nric};

on_both_engines! {
    synced;
    assessment_create_update_void_reach_tpgateway => sync_sqlite_assessment_lifecycle, sync_aws_assessment_lifecycle;
    assessment_waits_for_its_enrolment => sync_sqlite_assessment_waits, sync_aws_assessment_waits;
    assessment_accepted_then_dropped_is_found_by_search => sync_sqlite_assessment_dropped, sync_aws_assessment_dropped;
    assessment_refused_is_failed_then_fixed => sync_sqlite_assessment_refused, sync_aws_assessment_refused;
}

/// A synced run and an enrolment of a new trainee (worked when `work`):
/// (NRIC, enrolment id).
async fn enrolled(sys: &TestSystem, work: bool) -> (String, String) {
    let (run, _) = sys.create_run(&run_body()).await;
    sys.work().await;
    let nric = fresh_nric();
    let mut body = tms_http::routes::trainees::example_trainee();
    body["national_id"] = json!(nric);
    let t = sys.post("/trainees", &body, &[]).await;
    assert_eq!(t.status, 201, "{:?}", t.body);
    let trainee = t.body["id"].as_str().unwrap_or_default();
    let e = sys
        .post("/enrolments", &enrolment_body(&run, trainee), &[])
        .await;
    assert_eq!(e.status, 201, "{:?}", e.body);
    if work {
        sys.work().await;
    }
    (nric, e.body["id"].as_str().unwrap_or_default().to_string())
}

async fn record(sys: &TestSystem, enrolment: &str) -> String {
    let a = sys
        .post("/assessments", &assessment_body(enrolment), &[])
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    a.body["id"].as_str().unwrap_or_default().to_string()
}

async fn assessment(sys: &TestSystem, id: &str) -> Value {
    let r = sys.get(&format!("/assessments/{id}")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body
}

async fn assessment_create_update_void_reach_tpgateway(sys: TestSystem) {
    let (nric, enrolment) = enrolled(&sys, true).await;
    let id = record(&sys, &enrolment).await;
    sys.work().await;
    let a = assessment(&sys, &id).await;
    assert_eq!(a["sync_status"], "synced", "{a}");
    let fake = sys.fake().assessments();
    assert_eq!(fake.len(), 1, "exactly one record");
    assert_eq!(a["sync_reference"], json!(fake[0].reference));
    assert_eq!(
        fake[0].trainee_id, nric,
        "the worker opened the national id"
    );
    assert_eq!(fake[0].trainee_id_type, "NRIC");
    assert_eq!(
        (
            fake[0].result.as_str(),
            fake[0].grade.as_deref(),
            fake[0].score
        ),
        ("Pass", Some("A"), Some(90))
    );
    let e = sys.get(&format!("/enrolments/{enrolment}")).await;
    assert_eq!(json!(fake[0].enrolment_reference), e.body["sync_reference"]);

    // A change reaches TPGateway as an update of the same record.
    let uri = format!("/assessments/{id}");
    let etag = format!("\"{}\"", a["version"]);
    let p = sys
        .patch(
            &uri,
            &json!({"result": "fail", "score": 40, "grade": "E"}),
            Some(&etag),
        )
        .await;
    assert_eq!(p.status, 200, "{:?}", p.body);
    assert_eq!(p.body["sync_status"], "pending");
    sys.work().await;
    let fake = sys.fake().assessments();
    assert_eq!(fake.len(), 1);
    assert_eq!(
        (
            fake[0].result.as_str(),
            fake[0].grade.as_deref(),
            fake[0].score
        ),
        ("Fail", Some("E"), Some(40))
    );
    let a = assessment(&sys, &id).await;
    assert_eq!(a["sync_status"], "synced", "{a}");

    // Void: TPGateway's record is void, still one record.
    let etag = format!("\"{}\"", a["version"]);
    let v = sys
        .call(
            "POST",
            &format!("{uri}/void"),
            &[tms_tests::JSON, ("if-match", &etag)],
            Some(br#"{"reason": "recorded against the wrong trainee"}"#.to_vec()),
        )
        .await;
    assert_eq!(v.status, 200, "{:?}", v.body);
    sys.work().await;
    let fake = sys.fake().assessments();
    assert_eq!(fake.len(), 1);
    assert!(fake[0].void, "{fake:?}");
    assert_eq!(fake[0].update_count, 2);
    let a = assessment(&sys, &id).await;
    assert_eq!(
        (a["result"].as_str(), a["sync_status"].as_str()),
        (Some("void"), Some("synced"))
    );
    let audit = sys.audit_actions("assessment", &id).await;
    assert_eq!(
        audit.iter().filter(|a| *a == "assessment.synced").count(),
        3,
        "{audit:?}"
    );
    // The worker's records are versions too: the history has no gap.
    let history = sys.get(&format!("{uri}/versions?limit=100")).await;
    let versions: Vec<u64> = history.body["items"]
        .as_array()
        .map(|i| i.iter().filter_map(|v| v["version"].as_u64()).collect())
        .unwrap_or_default();
    let current = a["version"].as_u64().unwrap_or_default();
    assert_eq!(versions, (1..=current).rev().collect::<Vec<_>>());
}

/// TPGateway is briefly down for the enrolment's create, so the enrolment
/// has no reference when the assessment's job first runs: the job waits
/// (it is tried again), then goes through once the enrolment is there.
async fn assessment_waits_for_its_enrolment(sys: TestSystem) {
    let (_, enrolment) = enrolled(&sys, false).await;
    let id = record(&sys, &enrolment).await;
    sys.fake()
        .inject(Route::CreateEnrolment, Fault::Status(503), 1);
    sys.work().await;
    assert_eq!(assessment(&sys, &id).await["sync_status"], "synced");
    assert_eq!(sys.fake().assessments().len(), 1);
    assert_eq!(sys.fake().calls(Route::CreateEnrolment), 2);
    assert_eq!(sys.fake().calls(Route::CreateAssessment), 1);
    // The assessment's job was tried more than once: it waited.
    let page = sys
        .app
        .store
        .query(&tms_ports::Query {
            index: Some(tms_ports::Index::Gsi1),
            pk: tms_app::keys::sync_jobs_of_entity_pk(tms_domain::EntityType::Assessment, &id),
            sk: tms_ports::SkCondition::Any,
            forward: true,
            limit: 10,
            cursor: None,
        })
        .await
        .expect("jobs");
    let jobs: Vec<tms_domain::sync::SyncJob> = page
        .items
        .iter()
        .map(|i| tms_app::records::decode(i).expect("a job"))
        .collect();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert!(jobs[0].attempts >= 2, "{jobs:?}");
    assert_eq!(jobs[0].status, tms_domain::sync::SyncStatus::Succeeded);
}

/// The create is processed but its answer lost: the retry searches first,
/// finds ours and adopts its reference; TPGateway holds one assessment.
async fn assessment_accepted_then_dropped_is_found_by_search(sys: TestSystem) {
    let (_, enrolment) = enrolled(&sys, true).await;
    sys.fake()
        .inject(Route::CreateAssessment, Fault::AcceptThenDrop, 1);
    let id = record(&sys, &enrolment).await;
    sys.work().await;
    let a = assessment(&sys, &id).await;
    assert_eq!(a["sync_status"], "synced", "{a}");
    let fake = sys.fake().assessments();
    assert_eq!(fake.len(), 1, "no second assessment");
    assert_eq!(a["sync_reference"], json!(fake[0].reference));
    assert_eq!(sys.fake().calls(Route::CreateAssessment), 1);
    assert!(sys.fake().calls(Route::SearchAssessments) >= 1);
}

/// TPGateway refuses the data: the assessment is failed with its message;
/// a person's fix sends it again.
async fn assessment_refused_is_failed_then_fixed(sys: TestSystem) {
    let (_, enrolment) = enrolled(&sys, true).await;
    sys.fake().inject(
        Route::CreateAssessment,
        Fault::Validation {
            field: "assessment.grade".into(),
            message: "must be one of A, B, C, D, E, F".into(),
        },
        1,
    );
    let id = record(&sys, &enrolment).await;
    sys.work().await;
    let a = assessment(&sys, &id).await;
    assert_eq!(a["sync_status"], "failed", "{a}");
    assert_eq!(
        a["sync"]["error"]["details"][0]["field"],
        "assessment.grade"
    );
    let etag = format!("\"{}\"", a["version"]);
    let p = sys
        .patch(
            &format!("/assessments/{id}"),
            &json!({"grade": "B"}),
            Some(&etag),
        )
        .await;
    assert_eq!(p.status, 200, "{:?}", p.body);
    sys.work().await;
    let a = assessment(&sys, &id).await;
    assert_eq!(a["sync_status"], "synced", "{a}");
    assert_eq!(a["sync"]["error"], Value::Null);
    let fake = sys.fake().assessments();
    assert_eq!(fake.len(), 1);
    assert_eq!(fake[0].grade.as_deref(), Some("B"));
}
