//! Enrolments end to end on both engine sets, through the router with real
//! tokens: one per trainee and run, the status machine, Finance's fee-only
//! changes, cancel and re-enrol, cancelled and full runs; and, on the
//! embedded engine, 50 concurrent attempts of which exactly one wins.

use serde_json::{json, Value};
use tms_domain::access::Role;
use tms_tests::{on_both_engines, Reply, TestSystem};

use crate::auth::{admin, enrolment_body, fresh_nric, send, user_with};

on_both_engines! {
    systems;
    enrolments_end_to_end => enrolments_sqlite_end_to_end, enrolments_aws_end_to_end;
}

async fn new_run(sys: &TestSystem, token: &str, capacity: u32) -> String {
    let mut body = tms_http::routes::course_runs::example_run();
    body["capacity"] = json!(capacity);
    let r = send(sys, Some(token), "POST", "/course-runs", &[], Some(&body)).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["id"].as_str().unwrap_or_default().to_string()
}

async fn new_trainee(sys: &TestSystem, token: &str) -> String {
    let mut body = tms_http::routes::trainees::example_trainee();
    body["national_id"] = json!(fresh_nric());
    let r = send(sys, Some(token), "POST", "/trainees", &[], Some(&body)).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["id"].as_str().unwrap_or_default().to_string()
}

async fn enrol(sys: &TestSystem, token: &str, run: &str, trainee: &str) -> Reply {
    send(
        sys,
        Some(token),
        "POST",
        "/enrolments",
        &[],
        Some(&enrolment_body(run, trainee)),
    )
    .await
}

fn id(r: &Reply) -> String {
    r.body["id"].as_str().unwrap_or_default().to_string()
}

async fn patch(sys: &TestSystem, token: &str, uri: &str, etag: &str, body: Value) -> Reply {
    send(
        sys,
        Some(token),
        "PATCH",
        uri,
        &[("if-match", etag)],
        Some(&body),
    )
    .await
}

async fn enrolments_end_to_end(sys: TestSystem) {
    let (admin_token, _) = admin(&sys).await;
    let (_, finance) = user_with(&sys, &admin_token, &[Role::Finance], 1).await;
    let run = new_run(&sys, &admin_token, 2).await;
    let trainee = new_trainee(&sys, &admin_token).await;
    let (_, queued_before) = (sys.all_versions().await, sys.message_counts().await);

    let created = enrol(&sys, &admin_token, &run, &trainee).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["status"], "pending");
    assert_eq!(created.body["fee_amount"], "1200.00");
    assert_eq!(created.header("etag"), Some("\"1\""));
    let e = id(&created);
    let uri = format!("/enrolments/{e}");
    assert_eq!(
        sys.message_counts().await.0,
        queued_before.0 + 1,
        "one sync job queued"
    );

    // One per trainee and run: the second is a 409 that writes nothing.
    let before = (sys.all_versions().await, sys.message_counts().await);
    let again = enrol(&sys, &admin_token, &run, &trainee).await;
    assert_eq!(again.status, 409, "{:?}", again.body);
    assert_eq!(
        (sys.all_versions().await, sys.message_counts().await),
        before
    );

    // Listings by run and by trainee.
    let by_run = send(
        &sys,
        Some(&finance),
        "GET",
        &format!("/enrolments?course_run_id={run}"),
        &[],
        None,
    )
    .await;
    assert_eq!(by_run.status, 200, "{:?}", by_run.body);
    assert_eq!(by_run.body["items"].as_array().map(Vec::len), Some(1));
    let by_trainee = send(
        &sys,
        Some(&finance),
        "GET",
        &format!("/enrolments?trainee_id={trainee}"),
        &[],
        None,
    )
    .await;
    assert_eq!(by_trainee.body["items"][0]["id"], json!(e));
    let neither = send(&sys, Some(&finance), "GET", "/enrolments", &[], None).await;
    assert_eq!(neither.status, 400);

    // Finance: the fee and subsidy fields, and nothing else (403 naming it).
    let fee = patch(
        &sys,
        &finance,
        &uri,
        "\"1\"",
        json!({"fee_amount": "1000.50", "subsidy_info": "SFC $200"}),
    )
    .await;
    assert_eq!(fee.status, 200, "{:?}", fee.body);
    assert_eq!(fee.body["fee_amount"], "1000.50");
    let before = (sys.all_versions().await, sys.message_counts().await);
    let other = patch(
        &sys,
        &finance,
        &uri,
        "\"2\"",
        json!({"fee_amount": "900", "sponsorship": "employer"}),
    )
    .await;
    assert_eq!(other.status, 403, "{:?}", other.body);
    assert_eq!(other.error_fields(), ["sponsorship"]);
    // A float is not money.
    let float = patch(&sys, &finance, &uri, "\"2\"", json!({"fee_amount": 900.5})).await;
    assert_eq!(float.status, 422, "{:?}", float.body);
    assert_eq!(float.error_fields(), ["fee_amount"]);
    // The sync sets accepted and failed, not a person.
    let moved = patch(
        &sys,
        &admin_token,
        &uri,
        "\"2\"",
        json!({"status": "accepted"}),
    )
    .await;
    assert_eq!(moved.status, 409, "{:?}", moved.body);
    assert_eq!(
        (sys.all_versions().await, sys.message_counts().await),
        before
    );

    // Cancel: the guard is released, so the trainee may enrol again; a
    // second cancel is a 409.
    let cancel = |etag: &'static str| {
        let sys = &sys;
        let admin_token = &admin_token;
        let uri = format!("{uri}/cancel");
        async move {
            send(
                sys,
                Some(admin_token),
                "POST",
                &uri,
                &[("if-match", etag)],
                Some(&json!({"reason": "withdrew"})),
            )
            .await
        }
    };
    let cancelled = cancel("\"2\"").await;
    assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);
    assert_eq!(cancelled.body["status"], "cancelled");
    assert_eq!(cancel("\"3\"").await.status, 409);
    let re = enrol(&sys, &admin_token, &run, &trainee).await;
    assert_eq!(re.status, 201, "{:?}", re.body);

    // Full: capacity 2, one active (re) + one more, then the third is
    // refused.
    let second = new_trainee(&sys, &admin_token).await;
    assert_eq!(enrol(&sys, &admin_token, &run, &second).await.status, 201);
    let third = new_trainee(&sys, &admin_token).await;
    let full = enrol(&sys, &admin_token, &run, &third).await;
    assert_eq!(full.status, 409, "{:?}", full.body);
    assert!(full.body["detail"].as_str().unwrap_or("").contains("full"));

    // A cancelled run takes no one; a missing trainee is named.
    let other_run = new_run(&sys, &admin_token, 20).await;
    let gone = send(
        &sys,
        Some(&admin_token),
        "POST",
        &format!("/course-runs/{other_run}/cancel"),
        &[("if-match", "\"1\"")],
        Some(&json!({})),
    )
    .await;
    assert_eq!(gone.status, 200, "{:?}", gone.body);
    let refused = enrol(&sys, &admin_token, &other_run, &third).await;
    assert_eq!(refused.status, 409, "{:?}", refused.body);
    let live_run = new_run(&sys, &admin_token, 20).await;
    let missing = enrol(
        &sys,
        &admin_token,
        &live_run,
        "0193a4e2-7c1b-7d3e-9a51-2b7f00c0ffee",
    )
    .await;
    assert_eq!(missing.status, 422, "{:?}", missing.body);
    assert_eq!(missing.error_fields(), ["trainee_id"]);

    // A draft is not sent until a person submits it.
    let queued = sys.message_counts().await.0;
    let mut draft = enrolment_body(&live_run, &third);
    draft["status"] = json!("draft");
    let d = send(
        &sys,
        Some(&admin_token),
        "POST",
        "/enrolments",
        &[],
        Some(&draft),
    )
    .await;
    assert_eq!(d.status, 201, "{:?}", d.body);
    assert_eq!(d.body["status"], "draft");
    assert_eq!(
        sys.message_counts().await.0,
        queued,
        "a draft queues nothing"
    );
    let submitted = patch(
        &sys,
        &admin_token,
        &format!("/enrolments/{}", id(&d)),
        "\"1\"",
        json!({"status": "pending"}),
    )
    .await;
    assert_eq!(submitted.status, 200, "{:?}", submitted.body);
    assert_eq!(submitted.body["status"], "pending");
    assert_eq!(sys.message_counts().await.0, queued + 1);

    let trail = send(
        &sys,
        Some(&admin_token),
        "GET",
        &format!("/audit-logs?entity_type=enrolment&entity_id={e}"),
        &[],
        None,
    )
    .await;
    let actions: Vec<&str> = trail.body["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|i| i["action"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        actions,
        [
            "enrolment.cancelled",
            "enrolment.updated",
            "enrolment.created"
        ]
    );
}

/// 50 concurrent attempts to enrol one trainee in one run: exactly one
/// wins, 49 get 409, one enrolment and one guard are stored. On the
/// embedded engine only: the local AWS-compatible server (moto) does not
/// isolate concurrent transactions, so there the guard's conditional write
/// is covered by the store conformance suite (a Put with NotExists on an
/// existing key fails), not by a race.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn enrolments_sqlite_fifty_concurrent_attempts_one_wins() {
    let sys = TestSystem::start(tms_tests::Engine::Sqlite).await;
    let (admin_token, _) = admin(&sys).await;
    let run = new_run(&sys, &admin_token, 100).await;
    let trainee = new_trainee(&sys, &admin_token).await;
    let sys = std::sync::Arc::new(sys);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (sys, token, run, trainee) = (
            sys.clone(),
            admin_token.clone(),
            run.clone(),
            trainee.clone(),
        );
        tasks.spawn(async move { enrol(&sys, &token, &run, &trainee).await.status });
    }
    let mut statuses = Vec::new();
    while let Some(s) = tasks.join_next().await {
        statuses.push(s.unwrap_or(0));
    }
    let won = statuses.iter().filter(|s| **s == 201).count();
    let refused = statuses.iter().filter(|s| **s == 409).count();
    assert_eq!((won, refused), (1, 49), "{statuses:?}");
    let stored = sys
        .all_keys()
        .await
        .into_iter()
        .filter(|(pk, _)| pk.starts_with("ENROLMENT#") || pk.starts_with("ENROLLED#"))
        .count();
    assert_eq!(stored, 2, "one enrolment and its guard");
}
