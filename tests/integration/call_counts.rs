//! The number of DynamoDB and SQS calls each route of the seed's records
//! makes (trainees, enrolments, attendance, assessments), counted by the SDK
//! interceptor on the AWS engine set. A read is 1 GetItem or 1 Query, a
//! create 1 TransactWriteItems + 1 SendMessage; a route that needs more
//! says why (here and in its use case's doc comment).

use std::collections::BTreeMap;

use serde_json::json;
use tms_tests::{Engine, TestSystem, JSON};

use crate::auth::{enrolment_body, fresh_nric};

fn map(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[tokio::test]
async fn records_aws_call_counts_per_route() {
    let sys = TestSystem::start(Engine::Aws).await;
    let mut report = Vec::new();
    let mut measure = |route: &str, calls: BTreeMap<String, u32>| {
        let text: Vec<String> = calls.iter().map(|(k, v)| format!("{v} {k}")).collect();
        report.push(format!("{route}: {}", text.join(" + ")));
        calls
    };
    let (run, created) = sys
        .create_run(&tms_http::routes::course_runs::example_run())
        .await;
    let session = created.body["sessions"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let _ = sys.take_calls();

    let mut body = tms_http::routes::trainees::example_trainee();
    body["national_id"] = json!(fresh_nric());
    let t = sys.post("/trainees", &body, &[]).await;
    assert_eq!(t.status, 201, "{:?}", t.body);
    let trainee = t.body["id"].as_str().unwrap_or_default().to_string();
    // No sync job: a trainee reaches TPGateway with an enrolment. The
    // national-id keys come from the secrets port (cached), not the table.
    let c = measure("POST /trainees", sys.take_calls());
    assert_eq!(c, map(&[("TransactWriteItems", 1)]));

    let _ = sys.get(&format!("/trainees/{trainee}")).await;
    let c = measure("GET /trainees/{id}", sys.take_calls());
    assert_eq!(c, map(&[("GetItem", 1)]));

    let e = sys
        .post("/enrolments", &enrolment_body(&run, &trainee), &[])
        .await;
    assert_eq!(e.status, 201, "{:?}", e.body);
    let enrolment = e.body["id"].as_str().unwrap_or_default().to_string();
    // + GetItem run (cancelled? its capacity), GetItem trainee (exists? a
    // 422 naming it before the write), Query GSI3 (the run's active
    // enrolments, counted against its capacity).
    let c = measure("POST /enrolments", sys.take_calls());
    assert_eq!(
        c,
        map(&[
            ("GetItem", 2),
            ("Query", 1),
            ("TransactWriteItems", 1),
            ("SendMessage", 1)
        ])
    );

    let _ = sys.get(&format!("/enrolments/{enrolment}")).await;
    let c = measure("GET /enrolments/{id}", sys.take_calls());
    assert_eq!(c, map(&[("GetItem", 1)]));

    let _ = sys.get(&format!("/enrolments?course_run_id={run}")).await;
    let c = measure(
        "GET /enrolments?course_run_id= (one page)",
        sys.take_calls(),
    );
    assert_eq!(c, map(&[("Query", 1)]));

    let uri = format!("/sessions/{session}/attendance");
    let _ = sys.get(&uri).await;
    // The session by its id (GSI2), then its sheet and rows.
    let c = measure("GET /sessions/{id}/attendance", sys.take_calls());
    assert_eq!(c, map(&[("Query", 2)]));

    let rows = json!({"rows": [{"enrolment_id": enrolment, "status": "present"}]});
    let r = sys
        .call(
            "PUT",
            &uri,
            &[JSON, ("if-match", "\"0\"")],
            Some(rows.to_string().into_bytes()),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // + the session (GSI2), the run (not cancelled), the sheet and rows
    // (versions), the run's active enrolments (GSI3: the rows must name
    // them; a 97-row transaction has no room for 97 condition checks).
    // No job before sign-off.
    let c = measure("PUT /sessions/{id}/attendance", sys.take_calls());
    assert_eq!(
        c,
        map(&[("Query", 3), ("GetItem", 1), ("TransactWriteItems", 1)])
    );

    let r = sys
        .call(
            "PUT",
            &format!("{uri}/{enrolment}"),
            &[JSON, ("if-match", "\"1\"")],
            Some(json!({"status": "late"}).to_string().into_bytes()),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // + the session, the run, the sheet and rows, the enrolment.
    let c = measure(
        "PUT /sessions/{id}/attendance/{enrolment_id}",
        sys.take_calls(),
    );
    assert_eq!(
        c,
        map(&[("Query", 2), ("GetItem", 2), ("TransactWriteItems", 1)])
    );

    let r = sys
        .call(
            "POST",
            &format!("{uri}/sign-off"),
            &[JSON, ("if-match", "\"2\"")],
            Some(b"{}".to_vec()),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // + the session, the run, the sheet and rows, the run's active
    // enrolments (each needs a row).
    let c = measure("POST /sessions/{id}/attendance/sign-off", sys.take_calls());
    assert_eq!(
        c,
        map(&[
            ("Query", 3),
            ("GetItem", 1),
            ("TransactWriteItems", 1),
            ("SendMessage", 1)
        ])
    );
    let a = sys
        .post(
            "/assessments",
            &crate::assessments::assessment_body(&enrolment),
            &[],
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    let assessment = a.body["id"].as_str().unwrap_or_default().to_string();
    // + GetItem enrolment (exists, not cancelled, its run for a Trainer).
    let c = measure("POST /assessments", sys.take_calls());
    assert_eq!(
        c,
        map(&[
            ("GetItem", 1),
            ("TransactWriteItems", 1),
            ("SendMessage", 1)
        ])
    );
    let _ = sys.get(&format!("/assessments/{assessment}")).await;
    let c = measure("GET /assessments/{id}", sys.take_calls());
    assert_eq!(c, map(&[("GetItem", 1)]));
    let _ = sys
        .get(&format!("/assessments?enrolment_id={enrolment}"))
        .await;
    // + GetItem enrolment (missing: 422; its run decides a Trainer's access).
    let c = measure(
        "GET /assessments?enrolment_id= (one page)",
        sys.take_calls(),
    );
    assert_eq!(c, map(&[("GetItem", 1), ("Query", 1)]));
    let _ = sys
        .get(&format!("/assessments/{assessment}/versions"))
        .await;
    // + GetItem assessment (404, a Trainer's access).
    let c = measure(
        "GET /assessments/{id}/versions (one page)",
        sys.take_calls(),
    );
    assert_eq!(c, map(&[("GetItem", 1), ("Query", 1)]));
    let r = sys
        .patch(
            &format!("/assessments/{assessment}"),
            &json!({"score": 85}),
            Some("\"1\""),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let c = measure("PATCH /assessments/{id}", sys.take_calls());
    assert_eq!(
        c,
        map(&[
            ("GetItem", 1),
            ("TransactWriteItems", 1),
            ("SendMessage", 1)
        ])
    );
    let r = sys
        .call(
            "POST",
            &format!("/assessments/{assessment}/void"),
            &[JSON, ("if-match", "\"2\"")],
            Some(json!({"reason": "wrong skill"}).to_string().into_bytes()),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let c = measure("POST /assessments/{id}/void", sys.take_calls());
    assert_eq!(
        c,
        map(&[
            ("GetItem", 1),
            ("TransactWriteItems", 1),
            ("SendMessage", 1)
        ])
    );
    println!("AWS calls per route:\n  {}", report.join("\n  "));
}
