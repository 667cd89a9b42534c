//! Assessments end to end on both engine sets, through the router with
//! real tokens: record, read, list, change (a new version each time), void
//! with a reason (once), the history newest first; a Trainer on their own
//! run and not on another's; Finance refused; a cancelled enrolment (409),
//! a missing one (422), a stale If-Match (412), each writing nothing.

use serde_json::{json, Value};
use tms_domain::access::Role;
use tms_tests::{on_both_engines, Reply, TestSystem};

use crate::auth::{admin, enrolment_body, fresh_nric, send, user_with};

on_both_engines! {
    systems;
    assessments_end_to_end => assessments_sqlite_end_to_end, assessments_aws_end_to_end;
}

/// A valid assessment of the enrolment.
pub(crate) fn assessment_body(enrolment_id: &str) -> Value {
    let mut b = tms_http::routes::assessments::example_assessment();
    b["enrolment_id"] = json!(enrolment_id);
    b
}

fn id(r: &Reply) -> String {
    r.body["id"].as_str().unwrap_or_default().to_string()
}

/// A run, a trainee enrolled in it: (run id, enrolment id).
async fn enrolled(sys: &TestSystem, token: &str) -> (String, String) {
    let run = send(
        sys,
        Some(token),
        "POST",
        "/course-runs",
        &[],
        Some(&tms_http::routes::course_runs::example_run()),
    )
    .await;
    assert_eq!(run.status, 201, "{:?}", run.body);
    let mut trainee = tms_http::routes::trainees::example_trainee();
    trainee["national_id"] = json!(fresh_nric());
    let t = send(sys, Some(token), "POST", "/trainees", &[], Some(&trainee)).await;
    assert_eq!(t.status, 201, "{:?}", t.body);
    let e = send(
        sys,
        Some(token),
        "POST",
        "/enrolments",
        &[],
        Some(&enrolment_body(&id(&run), &id(&t))),
    )
    .await;
    assert_eq!(e.status, 201, "{:?}", e.body);
    (id(&run), id(&e))
}

async fn record(sys: &TestSystem, token: &str, body: &Value) -> Reply {
    send(sys, Some(token), "POST", "/assessments", &[], Some(body)).await
}

/// The table and the queue, to show that a refused request wrote nothing.
async fn state(sys: &TestSystem) -> impl PartialEq + std::fmt::Debug {
    (sys.all_versions().await, sys.message_counts().await)
}

fn ids_of(r: &Reply) -> Vec<String> {
    r.body["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

async fn assessments_end_to_end(sys: TestSystem) {
    let (admin_token, _) = admin(&sys).await;
    let (_, finance) = user_with(&sys, &admin_token, &[Role::Finance], 1).await;
    let (_, auditor) = user_with(&sys, &admin_token, &[Role::Auditor], 2).await;
    let (trainer_user, trainer_token) = user_with(&sys, &admin_token, &[Role::Trainer], 3).await;
    let (run, enrolment) = enrolled(&sys, &admin_token).await;

    // Record: 201, version 1, one sync job queued.
    let queued = sys.message_counts().await.0;
    let created = record(&sys, &admin_token, &assessment_body(&enrolment)).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["result"], "pass");
    assert_eq!(created.body["score"], 90);
    assert_eq!(created.body["grade"], "A");
    assert_eq!(created.body["course_run_id"], json!(run));
    assert_eq!(created.body["sync_status"], "pending");
    assert_eq!(created.header("etag"), Some("\"1\""));
    assert_eq!(sys.message_counts().await.0, queued + 1);
    let a = id(&created);
    let uri = format!("/assessments/{a}");

    // The Idempotency-Key is honoured: the replay answers the first.
    let key = [("idempotency-key", "assess-1")];
    let body = assessment_body(&enrolment);
    let first = send(
        &sys,
        Some(&admin_token),
        "POST",
        "/assessments",
        &key,
        Some(&body),
    )
    .await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    let replay = send(
        &sys,
        Some(&admin_token),
        "POST",
        "/assessments",
        &key,
        Some(&body),
    )
    .await;
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.body["id"], first.body["id"]);

    // Read (Auditor may), list by enrolment, newest assessment day first.
    let read = send(&sys, Some(&auditor), "GET", &uri, &[], None).await;
    assert_eq!(read.status, 200, "{:?}", read.body);
    assert_eq!(read.header("etag"), Some("\"1\""));
    let mut older = assessment_body(&enrolment);
    older["assessed_at"] = json!("2024-06-01");
    let old = record(&sys, &admin_token, &older).await;
    assert_eq!(old.status, 201, "{:?}", old.body);
    let list = send(
        &sys,
        Some(&auditor),
        "GET",
        &format!("/assessments?enrolment_id={enrolment}&limit=2"),
        &[],
        None,
    )
    .await;
    assert_eq!(list.status, 200, "{:?}", list.body);
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(2));
    let cursor = list.body["next_cursor"].as_str().unwrap_or_default();
    assert!(!cursor.is_empty(), "a second page: {:?}", list.body);
    let rest = send(
        &sys,
        Some(&auditor),
        "GET",
        &format!("/assessments?enrolment_id={enrolment}&cursor={cursor}"),
        &[],
        None,
    )
    .await;
    assert_eq!(rest.status, 200, "{:?}", rest.body);
    assert_eq!(ids_of(&rest), vec![id(&old)], "the oldest day comes last");
    // A cursor of another listing is refused.
    let forged = send(
        &sys,
        Some(&auditor),
        "GET",
        &format!("/assessments/{a}/versions?cursor={cursor}"),
        &[],
        None,
    )
    .await;
    assert_eq!(forged.status, 400, "{:?}", forged.body);

    // Change: a new version; the stale tag is 412 and writes nothing.
    let changed = send(
        &sys,
        Some(&admin_token),
        "PATCH",
        &uri,
        &[("if-match", "\"1\"")],
        Some(&json!({"result": "fail", "score": 40, "grade": "E"})),
    )
    .await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    assert_eq!(changed.body["result"], "fail");
    assert_eq!(changed.body["version"], 2);
    let before = state(&sys).await;
    let stale = send(
        &sys,
        Some(&admin_token),
        "PATCH",
        &uri,
        &[("if-match", "\"1\"")],
        Some(&json!({"score": 41})),
    )
    .await;
    assert_eq!(stale.status, 412, "{:?}", stale.body);
    // A score out of range and a result of void are named.
    let bad = send(
        &sys,
        Some(&admin_token),
        "PATCH",
        &uri,
        &[("if-match", "\"2\"")],
        Some(&json!({"score": 101, "result": "void"})),
    )
    .await;
    assert_eq!(bad.status, 422, "{:?}", bad.body);
    assert_eq!(bad.error_fields(), ["result", "score"]);
    // Finance has no access; the Auditor reads only.
    let fin = send(&sys, Some(&finance), "GET", &uri, &[], None).await;
    assert_eq!(fin.status, 403, "{:?}", fin.body);
    let fin_create = record(&sys, &finance, &assessment_body(&enrolment)).await;
    assert_eq!(fin_create.status, 403, "{:?}", fin_create.body);
    let aud = send(
        &sys,
        Some(&auditor),
        "PATCH",
        &uri,
        &[("if-match", "\"2\"")],
        Some(&json!({"score": 41})),
    )
    .await;
    assert_eq!(aud.status, 403, "{:?}", aud.body);
    assert_eq!(state(&sys).await, before);

    // Void: the reason is required; then void, once.
    let void_uri = format!("{uri}/void");
    let no_reason = send(
        &sys,
        Some(&admin_token),
        "POST",
        &void_uri,
        &[("if-match", "\"2\"")],
        Some(&json!({})),
    )
    .await;
    assert_eq!(no_reason.status, 422, "{:?}", no_reason.body);
    assert_eq!(no_reason.error_fields(), ["reason"]);
    assert_eq!(state(&sys).await, before);
    let queued = sys.message_counts().await.0;
    let voided = send(
        &sys,
        Some(&admin_token),
        "POST",
        &void_uri,
        &[("if-match", "\"2\"")],
        Some(&json!({"reason": "recorded against the wrong trainee"})),
    )
    .await;
    assert_eq!(voided.status, 200, "{:?}", voided.body);
    assert_eq!(voided.body["result"], "void");
    assert_eq!(
        voided.body["void_reason"],
        "recorded against the wrong trainee"
    );
    assert_eq!(sys.message_counts().await.0, queued + 1);
    let before = state(&sys).await;
    let again = send(
        &sys,
        Some(&admin_token),
        "POST",
        &void_uri,
        &[("if-match", "\"3\"")],
        Some(&json!({"reason": "again"})),
    )
    .await;
    assert_eq!(again.status, 409, "{:?}", again.body);
    let frozen = send(
        &sys,
        Some(&admin_token),
        "PATCH",
        &uri,
        &[("if-match", "\"3\"")],
        Some(&json!({"result": "pass"})),
    )
    .await;
    assert_eq!(frozen.status, 409, "{:?}", frozen.body);
    assert_eq!(state(&sys).await, before);

    // The history: every version, newest first, each as it was.
    let history = send(
        &sys,
        Some(&auditor),
        "GET",
        &format!("{uri}/versions"),
        &[],
        None,
    )
    .await;
    assert_eq!(history.status, 200, "{:?}", history.body);
    let items = history.body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let seen: Vec<(Value, Value)> = items
        .iter()
        .map(|v| (v["version"].clone(), v["result"].clone()))
        .collect();
    assert_eq!(
        seen,
        [
            (json!(3), json!("void")),
            (json!(2), json!("fail")),
            (json!(1), json!("pass"))
        ]
    );
    let page = send(
        &sys,
        Some(&auditor),
        "GET",
        &format!("{uri}/versions?limit=1"),
        &[],
        None,
    )
    .await;
    let c = page.body["next_cursor"].as_str().unwrap_or_default();
    let next = send(
        &sys,
        Some(&auditor),
        "GET",
        &format!("{uri}/versions?limit=1&cursor={c}"),
        &[],
        None,
    )
    .await;
    assert_eq!(next.status, 200, "{:?}", next.body);
    assert_eq!(next.body["items"][0]["version"], 2);

    // A Trainer: not their run (404 on reads and writes, 422 on a create
    // naming the enrolment); once assigned to the run's session, their own.
    let before = state(&sys).await;
    let hidden = send(&sys, Some(&trainer_token), "GET", &uri, &[], None).await;
    assert_eq!(hidden.status, 404, "{:?}", hidden.body);
    let not_theirs = record(&sys, &trainer_token, &assessment_body(&enrolment)).await;
    assert_eq!(not_theirs.status, 422, "{:?}", not_theirs.body);
    assert_eq!(not_theirs.error_fields(), ["enrolment_id"]);
    let not_listed = send(
        &sys,
        Some(&trainer_token),
        "GET",
        &format!("/assessments?enrolment_id={enrolment}"),
        &[],
        None,
    )
    .await;
    assert_eq!(not_listed.status, 404, "{:?}", not_listed.body);
    assert_eq!(state(&sys).await, before);
    let mut tb = tms_http::routes::trainers::example_trainer();
    tb["user_id"] = json!(trainer_user);
    let trainer = send(
        &sys,
        Some(&admin_token),
        "POST",
        "/trainers",
        &[],
        Some(&tb),
    )
    .await;
    assert_eq!(trainer.status, 201, "{:?}", trainer.body);
    let trainer_id = id(&trainer);
    let r = send(
        &sys,
        Some(&admin_token),
        "GET",
        &format!("/course-runs/{run}"),
        &[],
        None,
    )
    .await;
    let session = &r.body["sessions"][0];
    let assigned = send(
        &sys,
        Some(&admin_token),
        "PATCH",
        &format!(
            "/course-runs/{run}/sessions/{}",
            session["id"].as_str().unwrap_or_default()
        ),
        &[("if-match", format!("\"{}\"", session["version"]).as_str())],
        Some(&json!({"trainer_id": trainer_id})),
    )
    .await;
    assert_eq!(assigned.status, 200, "{:?}", assigned.body);
    let mine = send(&sys, Some(&trainer_token), "GET", &uri, &[], None).await;
    assert_eq!(mine.status, 200, "{:?}", mine.body);
    let mut by_trainer = assessment_body(&enrolment);
    by_trainer["assessor_id"] = json!(trainer_id);
    let own = record(&sys, &trainer_token, &by_trainer).await;
    assert_eq!(own.status, 201, "{:?}", own.body);
    assert_eq!(own.body["assessor_id"], json!(trainer_id));
    let own_change = send(
        &sys,
        Some(&trainer_token),
        "PATCH",
        &format!("/assessments/{}", id(&own)),
        &[("if-match", "\"1\"")],
        Some(&json!({"grade": null})),
    )
    .await;
    assert_eq!(own_change.status, 200, "{:?}", own_change.body);
    assert_eq!(own_change.body["grade"], Value::Null);

    // References: a missing assessor, a missing enrolment (422 naming
    // them), a cancelled enrolment (409); none writes anything.
    let before = state(&sys).await;
    let mut no_assessor = assessment_body(&enrolment);
    no_assessor["assessor_id"] = json!("0193a4e2-7c1b-7d3e-9a51-2b7f00c0ff08");
    let r = record(&sys, &admin_token, &no_assessor).await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert_eq!(r.error_fields(), ["assessor_id"]);
    let r = record(
        &sys,
        &admin_token,
        &assessment_body("0193a4e2-7c1b-7d3e-9a51-2b7f00c0ff09"),
    )
    .await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert_eq!(r.error_fields(), ["enrolment_id"]);
    assert_eq!(state(&sys).await, before);
    let (_, cancelled) = enrolled(&sys, &admin_token).await;
    let c = send(
        &sys,
        Some(&admin_token),
        "POST",
        &format!("/enrolments/{cancelled}/cancel"),
        &[("if-match", "\"1\"")],
        Some(&json!({"reason": "withdrew"})),
    )
    .await;
    assert_eq!(c.status, 200, "{:?}", c.body);
    let before = state(&sys).await;
    let r = record(&sys, &admin_token, &assessment_body(&cancelled)).await;
    assert_eq!(r.status, 409, "{:?}", r.body);
    assert_eq!(state(&sys).await, before);

    // The audit trail names each change.
    let trail = send(
        &sys,
        Some(&admin_token),
        "GET",
        &format!("/audit-logs?entity_type=assessment&entity_id={a}"),
        &[],
        None,
    )
    .await;
    assert_eq!(trail.status, 200, "{:?}", trail.body);
    let actions: Vec<&str> = trail.body["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|i| i["action"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        actions,
        [
            "assessment.voided",
            "assessment.updated",
            "assessment.created"
        ]
    );
}
