//! The HTTP API end to end, on both engine sets: `api_sqlite_<name>` on the
//! embedded engines, `api_aws_<name>` on DynamoDB + SQS (local server).

use std::sync::Arc;

use serde_json::{json, Value};
use tms_ports::{OutgoingMessage, Queue, QueueError, QueueName, ReceivedMessage, SendBatchResult};
use tms_tests::{call, on_both_engines, Engine, TestSystem, JSON};

pub fn run_body() -> Value {
    tms_http::routes::course_runs::example_run()
}

on_both_engines! {
    systems;
    run_lifecycle => api_sqlite_run_lifecycle, api_aws_run_lifecycle;
    sessions_lifecycle => api_sqlite_sessions_lifecycle, api_aws_sessions_lifecycle;
    bad_input_changes_nothing => api_sqlite_bad_input_changes_nothing, api_aws_bad_input_changes_nothing;
    idempotency_key => api_sqlite_idempotency_key, api_aws_idempotency_key;
    correlation_id_travels => api_sqlite_correlation_id_travels, api_aws_correlation_id_travels;
    list_filters_and_pages => api_sqlite_list_filters_and_pages, api_aws_list_filters_and_pages;
    failed_enqueue_is_swept => api_sqlite_failed_enqueue_is_swept, api_aws_failed_enqueue_is_swept;
}

/// On the embedded engine only: moto (the local AWS-compatible server) does
/// not isolate concurrent TransactWriteItems, so two conditional writes on
/// the same version can both succeed there, which DynamoDB never allows.
/// The conditional write itself is covered on both engines by the store
/// conformance suite (optimistic lock).
#[tokio::test]
async fn api_sqlite_concurrent_updates_one_wins() {
    concurrent_updates_one_wins(TestSystem::start(Engine::Sqlite).await).await;
}

/// Create, read, list, update with If-Match (412 stale, 428 missing),
/// cancel, and the audit trail and sync jobs each change left.
async fn run_lifecycle(sys: TestSystem) {
    let (id, created) = sys.create_run(&run_body()).await;
    assert_eq!(
        created.header("location"),
        Some(format!("/course-runs/{id}").as_str())
    );
    assert_eq!(created.header("etag"), Some("\"1\""));
    assert_eq!(created.body["status"], "pending");
    assert_eq!(created.body["sessions"].as_array().map(Vec::len), Some(2));
    assert_eq!(created.body["sessions"][0]["start_time"], "09:00");

    let read = sys.get(&format!("/course-runs/{id}")).await;
    assert_eq!(read.status, 200);
    // The POST answer is built once from the same representation: same
    // fields in the same order as a GET.
    let order = |v: &Value| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>());
    assert_eq!(order(&created.body), order(&read.body));
    assert_eq!(read.header("etag"), Some("\"1\""));
    assert_eq!(read.body["title"], "Workplace Safety and Health");
    assert_eq!(read.body["sessions"].as_array().map(Vec::len), Some(2));

    let uri = format!("/course-runs/{id}");
    let missing = sys.patch(&uri, &json!({"title": "New"}), None).await;
    assert_eq!(missing.status, 428);
    let updated = sys
        .patch(
            &uri,
            &json!({"title": "Safety 2", "capacity": 25}),
            Some("\"1\""),
        )
        .await;
    assert_eq!(updated.status, 200, "{:?}", updated.body);
    assert_eq!(updated.header("etag"), Some("\"2\""));
    assert_eq!(updated.body["title"], "Safety 2");
    assert_eq!(updated.body["capacity"], 25);
    assert_eq!(updated.body["course_ref"], "TGS-2020000697");
    let stale = sys
        .patch(&uri, &json!({"title": "Lost update"}), Some("\"1\""))
        .await;
    assert_eq!(stale.status, 412);
    assert_eq!(
        stale.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(sys.get(&uri).await.body["title"], "Safety 2");

    let cancel_uri = format!("/course-runs/{id}/cancel");
    let no_etag = sys.post(&cancel_uri, &json!({}), &[]).await;
    assert_eq!(no_etag.status, 428);
    let cancelled = sys
        .post(
            &cancel_uri,
            &json!({"reason": "low enrolment"}),
            &[("if-match", "\"2\"")],
        )
        .await;
    assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);
    assert_eq!(cancelled.body["status"], "cancelled");
    assert_eq!(cancelled.header("etag"), Some("\"3\""));
    let again = sys
        .post(&cancel_uri, &json!({}), &[("if-match", "\"3\"")])
        .await;
    assert_eq!(again.status, 409);
    let edit_cancelled = sys.patch(&uri, &json!({"title": "x"}), Some("\"3\"")).await;
    assert_eq!(edit_cancelled.status, 409);

    let audit = sys
        .get(&format!(
            "/audit-logs?entity_type=course_run&entity_id={id}"
        ))
        .await;
    assert_eq!(audit.status, 200);
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|a| a["action"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        actions,
        [
            "course_run.cancelled",
            "course_run.updated",
            "course_run.created"
        ]
    );
    let newest = &audit.body["items"][0];
    assert_eq!(newest["actor_id"], tms_tests::TEST_ACTOR);
    assert_eq!(newest["payload_snapshot"]["status"], "cancelled");

    // One sync job per version, each enqueued.
    let messages = sys.receive_all().await;
    assert_eq!(messages.len(), 3);
    let mut keys = Vec::new();
    for m in &messages {
        let body: Value = serde_json::from_str(&m.body).expect("json");
        let job_id = body["job_id"].as_str().expect("job id");
        let pk = tms_app::keys::sync_job_pk(job_id);
        let item = sys
            .app
            .store
            .get(&pk, &pk)
            .await
            .expect("get")
            .expect("job exists");
        assert_eq!(item.data["status"], "queued");
        keys.push(
            item.data["idempotency_key"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        );
    }
    keys.sort();
    assert_eq!(
        keys,
        [1, 2, 3].map(|v| format!("course_run#{id}#{v}")).to_vec()
    );
    let not_found = sys
        .get("/course-runs/0193a4e2-7c1b-7d3e-9a51-2b7f00c0ffee")
        .await;
    assert_eq!(not_found.status, 404);
}

async fn sessions_lifecycle(sys: TestSystem) {
    let mut body = run_body();
    body["sessions"] = json!([]);
    let (id, _) = sys.create_run(&body).await;
    let uri = format!("/course-runs/{id}/sessions");
    let added = sys
        .post(
            &uri,
            &json!({"session_date": "2025-01-15", "start_time": "09:00", "end_time": "12:00"}),
            &[],
        )
        .await;
    assert_eq!(added.status, 201, "{:?}", added.body);
    let sid = added.body["id"].as_str().expect("id").to_string();
    assert_eq!(
        added.header("location"),
        Some(format!("/course-runs/{id}/sessions/{sid}").as_str())
    );
    assert_eq!(added.header("etag"), Some("\"1\""));

    let outside = sys
        .post(
            &uri,
            &json!({"session_date": "2025-03-01", "start_time": "09:00", "end_time": "12:00"}),
            &[],
        )
        .await;
    assert_eq!(outside.status, 422);
    assert_eq!(outside.error_fields(), ["session_date"]);

    let s_uri = format!("{uri}/{sid}");
    let changed = sys
        .patch(&s_uri, &json!({"end_time": "13:00"}), Some("\"1\""))
        .await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    assert_eq!(changed.body["end_time"], "13:00");
    assert_eq!(changed.header("etag"), Some("\"2\""));
    let bad_time = sys
        .patch(&s_uri, &json!({"end_time": "08:00"}), Some("\"2\""))
        .await;
    assert_eq!(bad_time.status, 422);
    assert_eq!(bad_time.error_fields(), ["end_time"]);
    let stale = sys
        .patch(&s_uri, &json!({"end_time": "14:00"}), Some("\"1\""))
        .await;
    assert_eq!(stale.status, 412);

    let listed = sys.get(&uri).await;
    assert_eq!(listed.body["items"].as_array().map(Vec::len), Some(1));
    // Each session change moved the run's version on (1 create + 2 changes).
    let run = sys.get(&format!("/course-runs/{id}")).await;
    assert_eq!(run.header("etag"), Some("\"3\""));

    let removed = call(
        &sys.router,
        "DELETE",
        &s_uri,
        &[("if-match", "\"2\"")],
        None,
    )
    .await;
    assert_eq!(removed.status, 204);
    let gone = call(
        &sys.router,
        "DELETE",
        &s_uri,
        &[("if-match", "\"2\"")],
        None,
    )
    .await;
    assert_eq!(gone.status, 404);
    let run = sys.get(&format!("/course-runs/{id}")).await;
    assert_eq!(run.body["sessions"].as_array().map(Vec::len), Some(0));
    assert_eq!(run.header("etag"), Some("\"4\""));

    let actions = sys.audit_actions("course_run", &id).await;
    assert_eq!(
        actions,
        [
            "session.removed",
            "session.updated",
            "session.added",
            "course_run.created"
        ]
    );
}

/// Every kind of bad input gets a 4xx problem+json naming the field, and
/// the table (audit records and sync jobs included) is left as it was.
async fn bad_input_changes_nothing(sys: TestSystem) {
    let (id, _) = sys.create_run(&run_body()).await;
    let _ = sys.receive_all().await;
    let before = sys.all_keys().await;
    let run_uri = format!("/course-runs/{id}");

    let with = |f: &dyn Fn(&mut Value)| {
        let mut b = run_body();
        f(&mut b);
        b
    };
    let cases: Vec<(&str, Value, u16, Vec<&str>)> = vec![
        (
            "wrong type",
            with(&|b| b["capacity"] = json!("twenty")),
            422,
            vec!["capacity"],
        ),
        (
            "unknown field",
            with(&|b| b["colour"] = json!("red")),
            422,
            vec!["colour"],
        ),
        (
            "unknown nested field",
            with(&|b| b["venue"]["lift"] = json!(true)),
            422,
            vec!["venue.lift"],
        ),
        (
            "missing field",
            with(&|b| {
                b.as_object_mut().map(|o| o.remove("title"));
            }),
            422,
            vec!["title"],
        ),
        (
            "end before start",
            with(&|b| b["end_date"] = json!("2025-01-14")),
            422,
            vec!["end_date"],
        ),
        (
            "over-long title",
            with(&|b| b["title"] = json!("x".repeat(201))),
            422,
            vec!["title"],
        ),
        (
            "bad course ref",
            with(&|b| b["course_ref"] = json!("TGS-12")),
            422,
            vec!["course_ref"],
        ),
        (
            "bad postal code",
            with(&|b| b["venue"]["postal_code"] = json!("12ab56")),
            422,
            vec!["venue.postal_code"],
        ),
        (
            "bad session",
            with(&|b| b["sessions"][1]["end_time"] = json!("25:00")),
            422,
            vec!["sessions[1].end_time"],
        ),
        (
            "negative capacity",
            with(&|b| b["capacity"] = json!(-1)),
            422,
            vec!["capacity"],
        ),
    ];
    for (what, body, status, fields) in cases {
        let r = sys.post("/course-runs", &body, &[]).await;
        assert_eq!(r.status, status, "{what}: {:?}", r.body);
        assert_eq!(
            r.header("content-type"),
            Some("application/problem+json"),
            "{what}"
        );
        assert_eq!(r.error_fields(), fields, "{what}");
    }
    let malformed = call(
        &sys.router,
        "POST",
        "/course-runs",
        &[JSON],
        Some(b"{\"title\": ".to_vec()),
    )
    .await;
    assert_eq!(malformed.status, 400);
    let not_json = call(
        &sys.router,
        "POST",
        "/course-runs",
        &[("content-type", "text/plain")],
        Some(b"hello".to_vec()),
    )
    .await;
    assert_eq!(not_json.status, 415);
    let huge = format!("{{\"title\": \"{}\"}}", "x".repeat(1024 * 1024 + 10));
    let too_big = call(
        &sys.router,
        "POST",
        "/course-runs",
        &[JSON],
        Some(huge.into_bytes()),
    )
    .await;
    assert_eq!(too_big.status, 413);
    assert_eq!(
        too_big.header("content-type"),
        Some("application/problem+json")
    );

    // Updates with bad input, a right ETag, change nothing either.
    let bad_patch = sys
        .patch(&run_uri, &json!({"end_date": "2024-12-01"}), Some("\"1\""))
        .await;
    assert_eq!(bad_patch.status, 422);
    let bad_etag = sys.patch(&run_uri, &json!({"title": "x"}), Some("1")).await;
    assert_eq!(bad_etag.status, 400);
    let empty_patch = sys.patch(&run_uri, &json!({}), Some("\"1\"")).await;
    assert_eq!(empty_patch.status, 422);
    let unknown_id = sys
        .patch(
            "/course-runs/0193a4e2-7c1b-7d3e-9a51-2b7f00c0ffee",
            &json!({"title": "x"}),
            Some("\"1\""),
        )
        .await;
    assert_eq!(unknown_id.status, 404);
    let not_an_id = sys.get("/course-runs/not-an-id").await;
    assert_eq!(not_an_id.status, 400);
    assert_eq!(not_an_id.error_fields(), ["id"]);
    let long_reason = sys
        .post(
            &format!("{run_uri}/cancel"),
            &json!({"reason": "r".repeat(501)}),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(long_reason.status, 422);
    assert_eq!(long_reason.error_fields(), ["reason"]);

    // Lists with bad parameters.
    for (uri, status, field) in [
        ("/course-runs?status=bogus", 400, "status"),
        ("/course-runs?start_from=2025-13-01", 400, "start_from"),
        (
            "/course-runs?start_from=2025-02-01&start_to=2025-01-01",
            400,
            "start_to",
        ),
        ("/course-runs?limit=0", 400, "limit"),
        ("/course-runs?limit=101", 400, "limit"),
        ("/course-runs?cursor=garbage!", 400, "cursor"),
        ("/course-runs?sort=desc", 400, "sort"),
        ("/audit-logs?entity_type=course_run", 400, "entity_id"),
        (
            "/audit-logs?entity_type=nope&entity_id=0193a4e2-7c1b-7d3e-9a51-2b7f00c0ffee",
            400,
            "entity_type",
        ),
    ] {
        let r = sys.get(uri).await;
        assert_eq!(r.status, status, "{uri}: {:?}", r.body);
        assert_eq!(r.error_fields(), [field], "{uri}");
    }
    let nowhere = sys.get("/no-such-route").await;
    assert_eq!(nowhere.status, 404);
    assert_eq!(
        nowhere.header("content-type"),
        Some("application/problem+json")
    );
    let wrong_method = call(&sys.router, "PUT", "/course-runs", &[], None).await;
    assert_eq!(wrong_method.status, 405);

    assert_eq!(
        sys.all_keys().await,
        before,
        "bad input must change nothing"
    );
    assert!(
        sys.receive_all().await.is_empty(),
        "bad input must enqueue nothing"
    );
}

async fn idempotency_key(sys: TestSystem) {
    let key = [("idempotency-key", "create-run-0001")];
    let first = sys.post("/course-runs", &run_body(), &key).await;
    assert_eq!(first.status, 201);
    let second = sys.post("/course-runs", &run_body(), &key).await;
    assert_eq!(second.status, 201);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(second.body, first.body);
    assert_eq!(second.header("location"), first.header("location"));
    assert_eq!(second.header("etag"), first.header("etag"));

    let before = sys.all_keys().await;
    let mut other = run_body();
    other["title"] = json!("Another run");
    let reused = sys.post("/course-runs", &other, &key).await;
    assert_eq!(reused.status, 422);
    assert_eq!(reused.body["type"], "/problems/idempotency-key-reused");
    assert_eq!(sys.all_keys().await, before);

    let list = sys.get("/course-runs").await;
    assert_eq!(
        list.body["items"].as_array().map(Vec::len),
        Some(1),
        "one run only"
    );
    let bad_key = sys
        .post("/course-runs", &run_body(), &[("idempotency-key", "")])
        .await;
    assert_eq!(bad_key.status, 400);

    // A retried cancellation gets its first response, not 412.
    let id = first.body["id"].as_str().expect("id");
    let cancel_uri = format!("/course-runs/{id}/cancel");
    let headers = [("if-match", "\"1\""), ("idempotency-key", "cancel-0001")];
    let cancelled = sys
        .post(&cancel_uri, &json!({"reason": "r"}), &headers)
        .await;
    assert_eq!(cancelled.status, 200);
    let retried = sys
        .post(&cancel_uri, &json!({"reason": "r"}), &headers)
        .await;
    assert_eq!(retried.status, 200, "{:?}", retried.body);
    assert_eq!(retried.header("idempotent-replayed"), Some("true"));
    assert_eq!(retried.body, cancelled.body);
    assert_eq!(retried.header("etag"), Some("\"2\""));
    let other = sys
        .post(&cancel_uri, &json!({"reason": "other"}), &headers)
        .await;
    assert_eq!(other.status, 422);
    let without_key = sys
        .post(
            &cancel_uri,
            &json!({"reason": "r"}),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(without_key.status, 412);
}

async fn correlation_id_travels(sys: TestSystem) {
    let cid = "trace-abc-123";
    let r = sys
        .post("/course-runs", &run_body(), &[("x-correlation-id", cid)])
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.header("x-correlation-id"), Some(cid));
    let id = r.body["id"].as_str().expect("id");
    let audit = sys
        .get(&format!(
            "/audit-logs?entity_type=course_run&entity_id={id}"
        ))
        .await;
    assert_eq!(audit.body["items"][0]["correlation_id"], cid);
    let messages = sys.receive_all().await;
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0]
            .attributes
            .get("correlation_id")
            .map(String::as_str),
        Some(cid)
    );
    let job: Value = serde_json::from_str(&messages[0].body).expect("json");
    let pk = tms_app::keys::sync_job_pk(job["job_id"].as_str().unwrap_or(""));
    let item = sys
        .app
        .store
        .get(&pk, &pk)
        .await
        .expect("get")
        .expect("job");
    assert_eq!(item.data["correlation_id"], cid);

    // A generated id when none (or a bad one) is given; problems carry it.
    let bad = call(
        &sys.router,
        "GET",
        "/course-runs?limit=0",
        &[("x-correlation-id", "bad id!")],
        None,
    )
    .await;
    let generated = bad.header("x-correlation-id").expect("echoed").to_string();
    assert_ne!(generated, "bad id!");
    assert_eq!(bad.body["correlation_id"], json!(generated));
}

async fn list_filters_and_pages(sys: TestSystem) {
    let mut ids = Vec::new();
    for day in 1..=5 {
        let mut b = run_body();
        b["registration_opening"] = json!("2025-01-01");
        b["registration_closing"] = json!(format!("2025-02-0{day}"));
        b["start_date"] = json!(format!("2025-02-0{day}"));
        b["end_date"] = json!(format!("2025-02-0{day}"));
        b["sessions"] = json!([]);
        ids.push(sys.create_run(&b).await.0);
    }
    // Cancel the 2nd run.
    let c = sys
        .post(
            &format!("/course-runs/{}/cancel", ids[1]),
            &json!({}),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(c.status, 200);

    let mut seen = Vec::new();
    let mut uri = "/course-runs?limit=2".to_string();
    let mut pages = 0;
    loop {
        let page = sys.get(&uri).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        pages += 1;
        for item in page.body["items"].as_array().expect("items") {
            seen.push(item["id"].as_str().unwrap_or("").to_string());
        }
        match page.body["next_cursor"].as_str() {
            Some(c) => uri = format!("/course-runs?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, ids, "every run once, by start date");
    assert_eq!(pages, 3);

    let ranged = sys
        .get("/course-runs?start_from=2025-02-02&start_to=2025-02-04")
        .await;
    let got: Vec<&str> = ranged.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["id"].as_str())
        .collect();
    assert_eq!(got, [ids[1].as_str(), ids[2].as_str(), ids[3].as_str()]);

    let pending = sys
        .get("/course-runs?status=pending&start_to=2025-02-03")
        .await;
    let got: Vec<&str> = pending.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["id"].as_str())
        .collect();
    assert_eq!(got, [ids[0].as_str(), ids[2].as_str()]);

    let cancelled = sys.get("/course-runs?status=cancelled").await;
    assert_eq!(cancelled.body["items"].as_array().map(Vec::len), Some(1));

    let active = sys.get("/course-runs?active=true").await;
    assert_eq!(active.body["items"].as_array().map(Vec::len), Some(4));

    // A cursor from one list used on another is refused, not a 500.
    let page = sys.get("/course-runs?limit=1").await;
    let c = page.body["next_cursor"].as_str().expect("cursor");
    let foreign = sys
        .get(&format!("/course-runs?status=cancelled&cursor={c}"))
        .await;
    assert_eq!(foreign.status, 400);
    let tampered = sys
        .get(&format!("/course-runs?cursor={}x", &c[..c.len() - 2]))
        .await;
    assert_eq!(tampered.status, 400);
}

/// A queue that refuses every send.
pub struct BrokenQueue;

#[async_trait::async_trait]
impl Queue for BrokenQueue {
    async fn send(&self, _m: OutgoingMessage) -> Result<String, QueueError> {
        Err(QueueError::Unavailable("broken for the test".into()))
    }
    async fn send_batch(&self, _m: Vec<OutgoingMessage>) -> Result<SendBatchResult, QueueError> {
        Err(QueueError::Unavailable("broken for the test".into()))
    }
    async fn receive(
        &self,
        _f: QueueName,
        _m: u32,
        _v: u32,
        _w: u32,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        Ok(Vec::new())
    }
    async fn delete(&self, _f: QueueName, _r: &str) -> Result<(), QueueError> {
        Ok(())
    }
    async fn change_visibility(&self, _f: QueueName, _r: &str, _v: u32) -> Result<(), QueueError> {
        Ok(())
    }
    async fn redrive(&self, _m: u32) -> Result<u32, QueueError> {
        Ok(0)
    }
}

/// A clock some minutes ahead of the wall clock: "later" for the sweeper.
pub struct LaterClock(pub chrono::Duration);

impl tms_ports::Clock for LaterClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + self.0
    }
}

/// When the send after commit fails, the request still succeeds, and the
/// sweeper finds the job through the due index once the enqueue grace has
/// passed (not before: a job whose message is in flight is left alone).
async fn failed_enqueue_is_swept(sys: TestSystem) {
    let working = sys.app.clone();
    let broken = tms_app::App {
        queue: Arc::new(BrokenQueue),
        ..working.clone()
    };
    let sys = sys.with_app(broken);
    let (id, _) = sys.create_run(&run_body()).await;
    assert!(sys.receive_all().await.is_empty());

    let requeue = chrono::Duration::minutes(5);
    let now = working.sweep_due_jobs(requeue, 100).await.expect("sweep");
    assert_eq!(
        now.found, 0,
        "within the grace the job is left to its message"
    );

    let later = tms_app::App {
        clock: Arc::new(LaterClock(chrono::Duration::seconds(
            tms_domain::sync::ENQUEUE_GRACE_SECS + 1,
        ))),
        ..working.clone()
    };
    // While the queue is still down, the sweeper finds the job but does not
    // count it as enqueued.
    let still_broken = tms_app::App {
        queue: Arc::new(BrokenQueue),
        ..later.clone()
    };
    let report = still_broken
        .sweep_due_jobs(requeue, 100)
        .await
        .expect("sweep");
    assert_eq!((report.found, report.enqueued, report.not_sent), (1, 0, 1));
    let even_later = tms_app::App {
        clock: Arc::new(LaterClock(
            chrono::Duration::seconds(tms_domain::sync::ENQUEUE_GRACE_SECS + 1) + requeue,
        )),
        ..working.clone()
    };
    let later = even_later;
    let report = later.sweep_due_jobs(requeue, 100).await.expect("sweep");
    assert_eq!(report.found, 1);
    assert_eq!(report.enqueued, 1);
    let messages = working
        .queue
        .receive(QueueName::Main, 10, 30, 1)
        .await
        .expect("receive");
    assert_eq!(messages.len(), 1);
    let job: Value = serde_json::from_str(&messages[0].body).expect("json");
    let pk = tms_app::keys::sync_job_pk(job["job_id"].as_str().unwrap_or(""));
    let item = working
        .store
        .get(&pk, &pk)
        .await
        .expect("get")
        .expect("job");
    assert_eq!(item.data["entity_id"], json!(id));
    // Pushed forward: a second sweep at the same time finds nothing due.
    let again = later.sweep_due_jobs(requeue, 100).await.expect("sweep");
    assert_eq!(again.found, 0);
    // The worker takes the job; with no TPGateway configured it cannot
    // send it, and the job waits, queued, for a retry.
    let outcome = working
        .handle_sync_message(&messages[0].body, messages[0].receive_count)
        .await
        .expect("handle");
    assert!(
        matches!(outcome, tms_app::sync::MessageOutcome::Retry { .. }),
        "{outcome:?}"
    );
    let item = working
        .store
        .get(&pk, &pk)
        .await
        .expect("get")
        .expect("job");
    assert_eq!(item.data["status"], json!("queued"));
    assert_eq!(item.data["attempts"], json!(1));
    assert!(
        item.data["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("secret")),
        "{}",
        item.data
    );
}

/// Two updates from the same ETag: exactly one wins, the other gets 412.
async fn concurrent_updates_one_wins(sys: TestSystem) {
    let (id, _) = sys.create_run(&run_body()).await;
    let uri = format!("/course-runs/{id}");
    let (ta, tb) = (json!({"title": "A"}), json!({"title": "B"}));
    let (a, b) = tokio::join!(
        sys.patch(&uri, &ta, Some("\"1\"")),
        sys.patch(&uri, &tb, Some("\"1\"")),
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [200, 412]);
    let audit = sys
        .get(&format!(
            "/audit-logs?entity_type=course_run&entity_id={id}"
        ))
        .await;
    assert_eq!(audit.body["items"].as_array().map(Vec::len), Some(2));
}

/// The number of DynamoDB and SQS calls each course-run route makes.
#[tokio::test]
async fn api_aws_call_counts_per_route() {
    let sys = TestSystem::start(Engine::Aws).await;
    let mut report = Vec::new();
    let mut measure = |route: &str, calls: std::collections::BTreeMap<String, u32>| {
        let text: Vec<String> = calls.iter().map(|(k, v)| format!("{v} {k}")).collect();
        report.push(format!("{route}: {}", text.join(" + ")));
        calls
    };
    let map = |pairs: &[(&str, u32)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect::<std::collections::BTreeMap<_, _>>()
    };

    let (id, _) = sys.create_run(&run_body()).await;
    let c = measure("POST /course-runs", sys.take_calls());
    assert_eq!(c, map(&[("TransactWriteItems", 1), ("SendMessage", 1)]));

    let r = sys
        .post("/course-runs", &run_body(), &[("idempotency-key", "k-1")])
        .await;
    assert_eq!(r.status, 201);
    let c = measure(
        "POST /course-runs (Idempotency-Key, first)",
        sys.take_calls(),
    );
    assert_eq!(c, map(&[("TransactWriteItems", 1), ("SendMessage", 1)]));
    let _ = sys
        .post("/course-runs", &run_body(), &[("idempotency-key", "k-1")])
        .await;
    let c = measure(
        "POST /course-runs (Idempotency-Key, replay)",
        sys.take_calls(),
    );
    assert_eq!(c, map(&[("TransactWriteItems", 1), ("GetItem", 1)]));

    let _ = sys.get(&format!("/course-runs/{id}")).await;
    let c = measure("GET /course-runs/{id}", sys.take_calls());
    assert_eq!(c, map(&[("Query", 1)]));

    let _ = sys.get("/course-runs?status=pending&limit=10").await;
    let c = measure("GET /course-runs (one page)", sys.take_calls());
    assert_eq!(c, map(&[("Query", 1)]));

    let r = sys
        .patch(
            &format!("/course-runs/{id}"),
            &json!({"title": "T"}),
            Some("\"1\""),
        )
        .await;
    assert_eq!(r.status, 200);
    let c = measure("PATCH /course-runs/{id}", sys.take_calls());
    assert_eq!(
        c,
        map(&[("Query", 1), ("TransactWriteItems", 1), ("SendMessage", 1)])
    );

    let s = sys
        .post(
            &format!("/course-runs/{id}/sessions"),
            &json!({"session_date": "2025-01-15", "start_time": "19:00", "end_time": "20:00"}),
            &[],
        )
        .await;
    assert_eq!(s.status, 201);
    // A Query, not a GetItem: the new session is checked against the
    // run's sessions (no overlap, the per-run cap).
    let c = measure("POST /course-runs/{id}/sessions", sys.take_calls());
    assert_eq!(
        c,
        map(&[("Query", 1), ("TransactWriteItems", 1), ("SendMessage", 1)])
    );
    let sid = s.body["id"].as_str().expect("id");

    let r = sys
        .patch(
            &format!("/course-runs/{id}/sessions/{sid}"),
            &json!({"end_time": "21:00"}),
            Some("\"1\""),
        )
        .await;
    assert_eq!(r.status, 200);
    let c = measure("PATCH /course-runs/{id}/sessions/{sid}", sys.take_calls());
    assert_eq!(
        c,
        map(&[("Query", 1), ("TransactWriteItems", 1), ("SendMessage", 1)])
    );

    let r = call(
        &sys.router,
        "DELETE",
        &format!("/course-runs/{id}/sessions/{sid}"),
        &[("if-match", "\"2\"")],
        None,
    )
    .await;
    assert_eq!(r.status, 204);
    // + 1 GetItem: a session with attendance is not removed.
    let c = measure("DELETE /course-runs/{id}/sessions/{sid}", sys.take_calls());
    assert_eq!(
        c,
        map(&[
            ("Query", 1),
            ("GetItem", 1),
            ("TransactWriteItems", 1),
            ("SendMessage", 1)
        ])
    );

    let r = sys
        .post(
            &format!("/course-runs/{id}/cancel"),
            &json!({}),
            &[("if-match", "\"5\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let c = measure("POST /course-runs/{id}/cancel", sys.take_calls());
    assert_eq!(
        c,
        map(&[
            ("GetItem", 1),
            ("TransactWriteItems", 1),
            ("SendMessage", 1)
        ])
    );

    let _ = sys
        .get(&format!(
            "/audit-logs?entity_type=course_run&entity_id={id}"
        ))
        .await;
    let c = measure("GET /audit-logs (one page)", sys.take_calls());
    assert_eq!(c, map(&[("Query", 1)]));

    let r = sys
        .patch(
            &format!("/course-runs/{id}"),
            &json!({"title": "T"}),
            Some("\"1\""),
        )
        .await;
    assert_eq!(r.status, 412);
    let c = measure("PATCH /course-runs/{id} (stale If-Match)", sys.take_calls());
    assert_eq!(c, map(&[("Query", 1)]));

    println!("AWS calls per route:\n  {}", report.join("\n  "));
}

/// Every route the template sends to a function is served by that
/// function's own router (not the unknown-route fallback, not 405).
#[tokio::test]
async fn api_template_routes_are_all_served() {
    let sys = TestSystem::start(Engine::Sqlite).await;
    let id = "0193a4e2-7c1b-7d3e-9a51-2b7f00c0ffee";
    for (function, resource) in crate::infra_drift::HTTP_FUNCTIONS {
        let router = tms_http::router(
            sys.app.clone(),
            tms_http::ActorSource::Fixed(tms_app::Actor {
                roles: vec![tms_domain::access::Role::Admin],
                user_id: tms_tests::TEST_ACTOR.into(),
            }),
            &[*resource],
        );
        for (method, path) in crate::infra_drift::declared_routes(*resource) {
            let uri = path.replace("{id}", id).replace("{session_id}", id);
            let r = call(
                &router,
                &method,
                &uri,
                &[JSON, ("if-match", "\"1\"")],
                Some(b"{}".to_vec()),
            )
            .await;
            assert_ne!(r.status, 405, "{function}: {method} {path}");
            assert_ne!(
                r.body["detail"], "no such route",
                "{function}: {method} {path}"
            );
        }
    }
}

/// 20 identical requests with one Idempotency-Key, raced: every answer is
/// the first request's outcome (the same status and body, replayed) or a
/// 409 with Retry-After while the first is in flight; the change happens
/// once. For a create, a cancel and a session add.
async fn idempotency_key_races(sys: TestSystem) {
    async fn race(
        sys: &TestSystem,
        uri: &str,
        body: Value,
        headers: Vec<(&'static str, String)>,
    ) -> Vec<tms_tests::Reply> {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let router = sys.router.clone();
            let (uri, body, headers) = (uri.to_string(), body.clone(), headers.clone());
            set.spawn(async move {
                let mut h: Vec<(&str, &str)> = vec![JSON];
                h.extend(headers.iter().map(|(k, v)| (*k, v.as_str())));
                call(
                    &router,
                    "POST",
                    &uri,
                    &h,
                    Some(body.to_string().into_bytes()),
                )
                .await
            });
        }
        let mut replies = Vec::new();
        while let Some(r) = set.join_next().await {
            replies.push(r.expect("task"));
        }
        replies
    }
    /// The outcomes, checked, and the distinct success bodies. On the
    /// embedded engine: exactly one success body; 409s carry Retry-After.
    /// moto (the AWS engine here) neither isolates nor completes concurrent
    /// TransactWriteItems: it can answer one with a 500 ("dictionary changed
    /// size") after applying part of it, and let two with the same
    /// condition both pass, which DynamoDB never does. There the race is
    /// run (every answer must still be a success, a 409 with Retry-After or
    /// moto's 5xx, and the key must replay one success afterwards), but the
    /// exactly-once assertions are the embedded engine's; the conditional
    /// writes they rest on are covered on both engines by the store
    /// conformance suite.
    fn check(engine: Engine, what: &str, replies: &[tms_tests::Reply], success: u16) -> Vec<Value> {
        let mut bodies: Vec<Value> = Vec::new();
        for r in replies {
            match r.status {
                s if s == success => {
                    if !bodies.contains(&r.body) {
                        bodies.push(r.body.clone());
                    }
                }
                409 => {
                    assert_eq!(r.header("retry-after"), Some("1"), "{what}: {:?}", r.body);
                    assert_eq!(r.body["type"], "/problems/concurrent-request", "{what}");
                }
                503 | 500 if engine == Engine::Aws => {}
                other => panic!("{what}: unexpected {other}: {:?}", r.body),
            }
        }
        match engine {
            Engine::Sqlite => assert_eq!(bodies.len(), 1, "{what}: one outcome: {bodies:?}"),
            Engine::Aws => assert!(!bodies.is_empty(), "{what}: no request succeeded"),
        }
        bodies
    }
    let exact = sys.engine == Engine::Sqlite;

    let key = |k: &str| vec![("idempotency-key", k.to_string())];
    let replies = race(&sys, "/course-runs", run_body(), key("race-create")).await;
    let outcomes = check(sys.engine, "create", &replies, 201);
    // After the race, a retry gets the first response, replayed.
    let again = sys
        .post(
            "/course-runs",
            &run_body(),
            &[("idempotency-key", "race-create")],
        )
        .await;
    assert_eq!(again.status, 201, "{:?}", again.body);
    assert!(
        outcomes.contains(&again.body),
        "the replay is an outcome of the race"
    );
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let id = again.body["id"].as_str().expect("id").to_string();
    if exact {
        let listed = sys.get("/course-runs?limit=100").await;
        assert_eq!(
            listed.body["items"].as_array().map(Vec::len),
            Some(1),
            "one run created"
        );
    }

    let uri = format!("/course-runs/{id}/sessions");
    let session = json!({"session_date": "2025-01-16", "start_time": "19:00", "end_time": "20:00"});
    let replies = race(&sys, &uri, session, key("race-session")).await;
    check(sys.engine, "add session", &replies, 201);
    let read = sys.get(&format!("/course-runs/{id}")).await;
    if exact {
        assert_eq!(
            read.body["sessions"].as_array().map(Vec::len),
            Some(3),
            "one session added"
        );
    }
    let etag = read.header("etag").expect("etag").to_string();

    let uri = format!("/course-runs/{id}/cancel");
    let mut headers = key("race-cancel");
    headers.push(("if-match", etag));
    let replies = race(&sys, &uri, json!({"reason": "r"}), headers).await;
    let cancelled = check(sys.engine, "cancel", &replies, 200);
    assert!(cancelled.iter().all(|c| c["status"] == "cancelled"));
    if exact {
        let actions = sys.audit_actions("course_run", &id).await;
        assert_eq!(
            actions,
            [
                "course_run.cancelled",
                "session.added",
                "course_run.created"
            ],
            "each change happened once"
        );
    }
}

/// PATCH is a JSON merge patch: null clears an optional field, null for a
/// required one is a 422 naming it, nested objects merge.
async fn merge_patch_semantics(sys: TestSystem) {
    let (id, _) = sys.create_run(&run_body()).await;
    let uri = format!("/course-runs/{id}");
    let r = sys
        .patch(&uri, &json!({"title": null, "capacity": 23}), Some("\"1\""))
        .await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert_eq!(r.error_fields(), ["title"]);
    let r = sys
        .patch(
            &uri,
            &json!({"schedule_info": null, "capacity": 23, "venue": {"room": "R9"}}),
            Some("\"1\""),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["schedule_info"], Value::Null);
    assert_eq!(r.body["capacity"], 23);
    assert_eq!(r.body["venue"]["room"], "R9");
    assert_eq!(r.body["venue"]["floor"], "03");
    let read = sys.get(&uri).await;
    assert_eq!(read.body["schedule_info"], Value::Null);
    assert_eq!(read.header("etag"), Some("\"2\""));
    let sid = read.body["sessions"][0]["id"]
        .as_str()
        .expect("sid")
        .to_string();
    let suri = format!("{uri}/sessions/{sid}");
    let created = sys
        .post(
            "/trainers",
            &tms_http::routes::trainers::example_trainer(),
            &[],
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let trainer = created.body["id"].as_str().expect("trainer id").to_string();
    let trainer = trainer.as_str();
    let r = sys
        .patch(&suri, &json!({"trainer_id": trainer}), Some("\"1\""))
        .await;
    assert_eq!(
        (r.status, r.body["trainer_id"].as_str()),
        (200, Some(trainer))
    );
    let r = sys
        .patch(&suri, &json!({"trainer_id": null}), Some("\"2\""))
        .await;
    assert_eq!((r.status, &r.body["trainer_id"]), (200, &Value::Null));
    let r = sys
        .patch(&suri, &json!({"start_time": null}), Some("\"3\""))
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.error_fields(), ["start_time"]);
}

/// If-Match compares strongly and exactly: "01", "+2" and W/"2" do not
/// match ETag "2"; a list matches if any tag does; * matches any version.
async fn if_match_is_strong_and_exact(sys: TestSystem) {
    let (id, created) = sys.create_run(&run_body()).await;
    let uri = format!("/course-runs/{id}");
    let sid = created.body["sessions"][0]["id"]
        .as_str()
        .expect("sid")
        .to_string();
    let suri = format!("{uri}/sessions/{sid}");
    for target in [&uri, &suri] {
        for stale in ["\"01\"", "\"+1\"", "W/\"1\"", "\"1.0\"", "\"2\", \"3\""] {
            let body = if target == &uri {
                json!({"title": "x"})
            } else {
                json!({"end_time": "18:30"})
            };
            let r = sys.patch(target, &body, Some(stale)).await;
            assert_eq!(r.status, 412, "{target} {stale}: {:?}", r.body);
            assert_eq!(r.error_fields(), ["If-Match"]);
        }
    }
    let r = sys
        .patch(&uri, &json!({"title": "listed"}), Some("\"7\", \"1\""))
        .await;
    assert_eq!((r.status, r.header("etag")), (200, Some("\"2\"")));
    let r = sys.patch(&uri, &json!({"title": "any"}), Some("*")).await;
    assert_eq!((r.status, r.header("etag")), (200, Some("\"3\"")));
    let r = sys
        .patch(&suri, &json!({"end_time": "18:30"}), Some("W/\"1\", \"1\""))
        .await;
    assert_eq!((r.status, r.header("etag")), (200, Some("\"2\"")));
    let r = sys.call("DELETE", &suri, &[("if-match", "*")], None).await;
    assert_eq!(r.status, 204);
}

/// Sessions of a run may not overlap (create, add, change), and a run
/// holds at most 96 sessions.
async fn sessions_do_not_overlap_and_are_capped(sys: TestSystem) {
    let mut body = run_body();
    body["sessions"][1] =
        json!({"session_date": "2025-01-15", "start_time": "17:00", "end_time": "19:00"});
    let r = sys.post("/course-runs", &body, &[]).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.error_fields(), ["sessions[1]"]);
    let (id, created) = sys.create_run(&run_body()).await;
    let first = created.body["sessions"][0]["id"]
        .as_str()
        .expect("sid")
        .to_string();
    let uri = format!("/course-runs/{id}/sessions");
    let same = json!({"session_date": "2025-01-15", "start_time": "09:00", "end_time": "18:00"});
    let r = sys.post(&uri, &same, &[]).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.error_fields(), ["start_time"]);
    assert!(r.body["errors"][0]["reason"]
        .as_str()
        .unwrap_or("")
        .contains(&first));
    let evening = json!({"session_date": "2025-01-15", "start_time": "18:00", "end_time": "20:00"});
    let added = sys.post(&uri, &evening, &[]).await;
    assert_eq!(added.status, 201, "{:?}", added.body);
    let added_uri = added.header("location").expect("location").to_string();
    let r = sys
        .patch(&added_uri, &json!({"start_time": "17:59"}), Some("\"1\""))
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.error_fields(), ["start_time"]);

    // The cap: a run created with 90 sessions takes 6 more, not 7.
    let mut big = run_body();
    big["end_date"] = json!("2025-01-17");
    let sessions: Vec<Value> = (0..90)
        .map(|i| {
            let (day, slot) = (15 + i / 48, i % 48);
            json!({
                "session_date": format!("2025-01-{day}"),
                "start_time": format!("{:02}:{:02}", slot / 2, (slot % 2) * 30),
                "end_time": format!("{:02}:{:02}", slot / 2, (slot % 2) * 30 + 29),
            })
        })
        .collect();
    big["sessions"] = Value::Array(sessions);
    let (big_id, _) = sys.create_run(&big).await;
    let uri = format!("/course-runs/{big_id}/sessions");
    for i in 0..7 {
        let slot = 18 + i; // 09:00 onwards on the 17th
        let s = json!({
            "session_date": "2025-01-17",
            "start_time": format!("{:02}:{:02}", slot / 2, (slot % 2) * 30),
            "end_time": format!("{:02}:{:02}", slot / 2, (slot % 2) * 30 + 29),
        });
        let r = sys.post(&uri, &s, &[]).await;
        if i < 6 {
            assert_eq!(r.status, 201, "session {}: {:?}", 91 + i, r.body);
        } else {
            assert_eq!(r.status, 422, "the 97th session: {:?}", r.body);
            assert_eq!(r.error_fields(), ["body"]);
        }
    }
}

/// A cursor with keys its list could not have produced (an empty table
/// key, another run's keys, a made-up sort key) is a 400 naming `cursor`,
/// before it reaches the store (DynamoDB would fail on some of them).
async fn made_up_cursors_are_refused(sys: TestSystem) {
    use base64::Engine as _;
    let (a, _) = sys.create_run(&run_body()).await;
    let (b, _) = sys.create_run(&run_body()).await;
    let page = sys.get("/course-runs?limit=1").await;
    assert_eq!(page.status, 200);
    let good = page.body["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_string();
    assert_eq!(
        sys.get(&format!("/course-runs?limit=1&cursor={good}"))
            .await
            .status,
        200
    );
    let enc = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    for made_up in [
        json!({"pk": "", "sk": format!("RUN#{a}"), "ipk": "RUNS", "isk": format!("2025-01-15#{a}")}),
        json!({"pk": format!("RUN#{b}"), "sk": format!("RUN#{b}"), "ipk": "RUNS", "isk": format!("2025-01-15#{a}")}),
        json!({"pk": format!("RUN#{a}"), "sk": format!("RUN#{a}"), "ipk": "RUNS", "isk": "2025-01-15#x"}),
        json!({"pk": format!("RUN#{a}"), "sk": format!("RUN#{a}"), "ipk": "RUNS", "isk": format!("2025-01-15#{}", "9".repeat(2000))}),
        json!({"pk": format!("RUN#{a}"), "sk": format!("RUN#{a}")}),
    ] {
        let r = sys
            .get(&format!("/course-runs?cursor={}", enc(made_up.clone())))
            .await;
        assert_eq!(r.status, 400, "{made_up}: {:?}", r.body);
        assert_eq!(r.error_fields(), ["cursor"], "{made_up}");
    }
    let audit = format!("/audit-logs?entity_type=course_run&entity_id={a}");
    let r = sys
        .get(&format!(
            "{audit}&cursor={}",
            enc(json!({"pk": format!("AUDIT#course_run#{a}"), "sk": ""}))
        ))
        .await;
    assert_eq!(
        (r.status, r.error_fields()),
        (400, vec!["cursor".to_string()])
    );
}

on_both_engines! {
    systems;
    made_up_cursors_are_refused => api_sqlite_made_up_cursors_are_refused, api_aws_made_up_cursors_are_refused;
    idempotency_key_races => api_sqlite_idempotency_key_races, api_aws_idempotency_key_races;
    merge_patch_semantics => api_sqlite_merge_patch_semantics, api_aws_merge_patch_semantics;
    if_match_is_strong_and_exact => api_sqlite_if_match_is_strong_and_exact, api_aws_if_match_is_strong_and_exact;
    sessions_do_not_overlap_and_are_capped => api_sqlite_sessions_do_not_overlap_and_are_capped, api_aws_sessions_do_not_overlap_and_are_capped;
}
