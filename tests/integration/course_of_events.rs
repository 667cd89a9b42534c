//! A full course of events on both engine sets, through the HTTP API and
//! the worker, against the fake TPGateway over real HTTP: a run, a trainee,
//! an enrolment, the session's attendance signed off, an assessment, its
//! void, and the enrolment's cancel. Every entity ends synced, no job is
//! left failed or dead-lettered, and the fake holds exactly one record of
//! each, in its final state.

use serde_json::{json, Value};
use tms_tests::{on_both_engines, TestSystem, JSON};

use crate::api::run_body;
use crate::assessments::assessment_body;
use crate::auth::{enrolment_body, fresh_nric};

on_both_engines! {
    synced;
    run_to_cancel => course_of_events_sqlite, course_of_events_aws;
}

async fn ok(r: tms_tests::Reply, status: u16, what: &str) -> Value {
    assert_eq!(r.status, status, "{what}: {:?}", r.body);
    r.body
}

fn etag(body: &Value) -> String {
    format!("\"{}\"", body["version"])
}

async fn run_to_cancel(sys: TestSystem) {
    // The run, published with its sessions' TPGateway ids.
    let (run, _) = sys.create_run(&run_body()).await;
    sys.work().await;
    let r = ok(sys.get(&format!("/course-runs/{run}")).await, 200, "run").await;
    assert_eq!(r["status"], "synced", "{r}");
    let session = r["sessions"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(r["sessions"][0]["external_id"].is_string(), "{r}");

    // A trainee and their enrolment, accepted with a reference.
    let nric = fresh_nric();
    let mut t = tms_http::routes::trainees::example_trainee();
    t["national_id"] = json!(nric);
    let trainee = ok(sys.post("/trainees", &t, &[]).await, 201, "trainee").await;
    let trainee_id = trainee["id"].as_str().unwrap_or_default().to_string();
    let e = ok(
        sys.post("/enrolments", &enrolment_body(&run, &trainee_id), &[])
            .await,
        201,
        "enrolment",
    )
    .await;
    let enrolment = e["id"].as_str().unwrap_or_default().to_string();
    sys.work().await;
    let e = ok(
        sys.get(&format!("/enrolments/{enrolment}")).await,
        200,
        "enrolment",
    )
    .await;
    assert_eq!(e["status"], "accepted", "{e}");

    // The session's attendance, recorded and signed off, then uploaded.
    let uri = format!("/sessions/{session}/attendance");
    let rows = json!({"rows": [{"enrolment_id": enrolment, "status": "present"}]});
    ok(
        sys.call(
            "PUT",
            &uri,
            &[JSON, ("if-match", "\"0\"")],
            Some(rows.to_string().into_bytes()),
        )
        .await,
        200,
        "attendance",
    )
    .await;
    ok(
        sys.call(
            "POST",
            &format!("{uri}/sign-off"),
            &[JSON, ("if-match", "\"1\"")],
            Some(b"{}".to_vec()),
        )
        .await,
        200,
        "sign-off",
    )
    .await;
    sys.work().await;
    let sheet = ok(sys.get(&uri).await, 200, "sheet").await;
    assert_eq!(sheet["rows"][0]["sync_status"], "accepted", "{sheet}");

    // An assessment, synced with its reference, then voided.
    let a = ok(
        sys.post("/assessments", &assessment_body(&enrolment), &[])
            .await,
        201,
        "assessment",
    )
    .await;
    let assessment = a["id"].as_str().unwrap_or_default().to_string();
    sys.work().await;
    let a = ok(
        sys.get(&format!("/assessments/{assessment}")).await,
        200,
        "assessment",
    )
    .await;
    assert_eq!(a["sync_status"], "synced", "{a}");
    assert!(a["sync_reference"].is_string(), "{a}");
    ok(
        sys.call(
            "POST",
            &format!("/assessments/{assessment}/void"),
            &[JSON, ("if-match", &etag(&a))],
            Some(
                json!({"reason": "marked against the wrong skill"})
                    .to_string()
                    .into_bytes(),
            ),
        )
        .await,
        200,
        "void",
    )
    .await;
    sys.work().await;
    let a = ok(
        sys.get(&format!("/assessments/{assessment}")).await,
        200,
        "assessment",
    )
    .await;
    assert_eq!(a["result"], "void", "{a}");
    assert_eq!(a["sync_status"], "synced", "{a}");

    // The enrolment is cancelled: TPGateway's record too.
    let e = ok(
        sys.get(&format!("/enrolments/{enrolment}")).await,
        200,
        "enrolment",
    )
    .await;
    ok(
        sys.call(
            "POST",
            &format!("/enrolments/{enrolment}/cancel"),
            &[JSON, ("if-match", &etag(&e))],
            Some(
                json!({"reason": "withdrew after the course"})
                    .to_string()
                    .into_bytes(),
            ),
        )
        .await,
        200,
        "cancel",
    )
    .await;
    sys.work().await;

    // Everything synced; nothing failed or dead-lettered.
    let e = ok(
        sys.get(&format!("/enrolments/{enrolment}")).await,
        200,
        "enrolment",
    )
    .await;
    assert_eq!(e["status"], "cancelled", "{e}");
    assert!(e["sync"]["error"].is_null(), "{e}");
    for status in ["failed", "dead_letter", "queued", "running"] {
        let jobs = ok(
            sys.get(&format!("/sync-jobs?status={status}")).await,
            200,
            "jobs",
        )
        .await;
        assert_eq!(jobs["items"], json!([]), "{status} jobs: {jobs}");
    }

    // The fake holds one of each, in its final state.
    let fake = sys.fake();
    let runs = fake.runs();
    assert_eq!(runs.len(), 1);
    assert!(!runs[0].deleted);
    let enrolments = fake.enrolments();
    assert_eq!(enrolments.len(), 1);
    assert_eq!(enrolments[0].status, "Cancelled");
    assert_eq!(enrolments[0].trainee_id, nric);
    assert_eq!(json!(enrolments[0].reference), e["sync_reference"]);
    let attendance = fake.attendance();
    assert_eq!(attendance.len(), 1);
    assert_eq!(attendance[0].status_code, "1");
    assert_eq!(attendance[0].session_id, runs[0].sessions[0].id);
    assert_eq!(attendance[0].upload_count, 1);
    let assessments = fake.assessments();
    assert_eq!(assessments.len(), 1);
    assert!(assessments[0].void, "{:?}", assessments[0]);
    assert_eq!(json!(assessments[0].reference), a["sync_reference"]);
    assert_eq!(assessments[0].trainee_id, nric);
}
