//! The sync to TPGateway end to end, on both engine sets, against the fake
//! TPGateway over real HTTP: the worker's job lifecycle, faults, unknown
//! outcomes, the sweeper, the dead-letter queue and the ops API.

use serde_json::{json, Value};
use tms_fake_tpgateway::{FakeConfig, Fault, Route};
use tms_tests::{on_both_engines, Engine, TestSystem};

use crate::api::run_body;

on_both_engines! {
    synced;
    create_edit_cancel_reach_tpgateway => sync_sqlite_create_edit_cancel, sync_aws_create_edit_cancel;
    down_for_a_while_then_back => sync_sqlite_down_then_back, sync_aws_down_then_back;
    failed_send_is_swept_and_delivered => sync_sqlite_failed_send_swept, sync_aws_failed_send_swept;
    permanent_refusal_then_fix => sync_sqlite_permanent_then_fix, sync_aws_permanent_then_fix;
    poison_message_dead_letters_then_redrive => sync_sqlite_poison_redrive, sync_aws_poison_redrive;
    accepted_then_dropped_is_adopted => sync_sqlite_accepted_then_dropped, sync_aws_accepted_then_dropped;
    two_quick_updates_end_with_the_newer => sync_sqlite_two_quick_updates, sync_aws_two_quick_updates;
    oauth_token_expiry_is_refreshed_once => sync_sqlite_token_refresh, sync_aws_token_refresh;
    retry_after_is_honoured => sync_sqlite_retry_after, sync_aws_retry_after;
    same_dates_on_a_first_publish_are_not_adopted => sync_sqlite_same_dates_not_adopted, sync_aws_same_dates_not_adopted;
    dead_worker_lease_expires_and_job_is_swept => sync_sqlite_dead_worker, sync_aws_dead_worker;
    time_out_is_an_unknown_outcome => sync_sqlite_time_out, sync_aws_time_out;
    assigned_trainer_reaches_tpgateway => sync_sqlite_trainer_linked, sync_aws_trainer_linked;
    trainer_without_tpg_id_is_skipped_with_a_note => sync_sqlite_trainer_skipped, sync_aws_trainer_skipped;
}

on_both_engines! {
    synced_cert;
    certificate_mode_syncs => sync_sqlite_certificate_mode, sync_aws_certificate_mode;
}

/// The run as GET answers it.
async fn run(sys: &TestSystem, id: &str) -> Value {
    let r = sys.get(&format!("/course-runs/{id}")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body
}

/// The sync jobs of a run, newest first.
async fn jobs(sys: &TestSystem, id: &str) -> Vec<Value> {
    let r = sys
        .get(&format!(
            "/sync-jobs?entity_type=course_run&entity_id={id}&limit=100"
        ))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["items"].as_array().cloned().unwrap_or_default()
}

fn etag(r: &tms_tests::Reply) -> String {
    r.header("etag").unwrap_or_default().to_string()
}

/// The fake's one stored run for our CRN (panics unless exactly one).
fn only_fake_run(sys: &TestSystem) -> tms_fake_tpgateway::FakeRun {
    let runs = sys.fake().runs();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs.into_iter().next().unwrap_or_else(|| unreachable!())
}

/// Create, then the worker: the run is `synced` with TPGateway's run id and
/// every session's id; a PATCH sends an edit; a cancel sends a delete.
async fn create_edit_cancel_reach_tpgateway(sys: TestSystem) {
    let (id, _) = sys.create_run(&run_body()).await;
    assert_eq!(run(&sys, &id).await["status"], "pending");
    sys.work().await;
    let body = run(&sys, &id).await;
    assert_eq!(body["status"], "synced", "{body}");
    let fake_run = only_fake_run(&sys);
    assert_eq!(body["external_id"], json!(fake_run.id));
    assert_eq!(fake_run.publish_count, 1);
    let sessions = body["sessions"].as_array().cloned().unwrap_or_default();
    assert_eq!(sessions.len(), 2);
    for (i, s) in sessions.iter().enumerate() {
        assert_eq!(
            s["external_id"],
            json!(format!("TGS-2020000697-{}-S{}", fake_run.id, i + 1)),
            "{s}"
        );
    }
    assert_eq!(body["sync"]["receipt"]["api"], "publish_run");
    assert_eq!(body["sync"]["receipt"]["reference"], json!(fake_run.id));
    // Every job succeeded, with a receipt on the publish.
    let js = jobs(&sys, &id).await;
    assert!(js.iter().all(|j| j["status"] == "succeeded"), "{js:?}");
    let audit = sys.audit_actions("course_run", &id).await;
    assert!(
        audit.contains(&"course_run.synced".to_string()),
        "{audit:?}"
    );

    // A PATCH sends an edit with the new data.
    let r = sys.get(&format!("/course-runs/{id}")).await;
    let r = sys
        .patch(
            &format!("/course-runs/{id}"),
            &json!({"title": "Renamed", "capacity": 30}),
            Some(&etag(&r)),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(run(&sys, &id).await["status"], "pending");
    sys.work().await;
    let fake_run = only_fake_run(&sys);
    assert_eq!(fake_run.edit_count, 1);
    assert_eq!(fake_run.body["intakeSize"], json!(30));
    let body = run(&sys, &id).await;
    assert_eq!(body["status"], "synced", "{body}");
    assert_eq!(body["sync"]["receipt"]["api"], "edit_run");

    // A session added: the edit adds it, and its id is fetched.
    let added = sys
        .post(
            &format!("/course-runs/{id}/sessions"),
            &json!({"session_date": "2025-01-16", "start_time": "19:00", "end_time": "21:00"}),
            &[],
        )
        .await;
    assert_eq!(added.status, 201, "{:?}", added.body);
    sys.work().await;
    let fake_run = only_fake_run(&sys);
    assert_eq!(fake_run.sessions.iter().filter(|s| !s.deleted).count(), 3);
    let body = run(&sys, &id).await;
    let ids: Vec<&Value> = body["sessions"]
        .as_array()
        .map(|a| a.iter().map(|s| &s["external_id"]).collect())
        .unwrap_or_default();
    assert!(ids.iter().all(|v| v.is_string()), "{body}");
    assert_eq!(body["status"], "synced", "{body}");

    // A session removed: the edit deletes it on TPGateway.
    let gone = &body["sessions"][0];
    let r = sys
        .call(
            "DELETE",
            &format!(
                "/course-runs/{id}/sessions/{}",
                gone["id"].as_str().unwrap_or("")
            ),
            &[("if-match", &format!("\"{}\"", gone["version"]))],
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    sys.work().await;
    let fake_run = only_fake_run(&sys);
    let deleted: Vec<&str> = fake_run
        .sessions
        .iter()
        .filter(|s| s.deleted)
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(deleted, vec![gone["external_id"].as_str().unwrap_or("")]);
    let body = run(&sys, &id).await;
    assert_eq!(body["status"], "synced", "{body}");
    assert_eq!(
        body["sync"]["tpg_session_ids"].as_array().map(Vec::len),
        Some(2)
    );

    // A cancel sends a delete.
    let r = sys.get(&format!("/course-runs/{id}")).await;
    let c = sys
        .call(
            "POST",
            &format!("/course-runs/{id}/cancel"),
            &[tms_tests::JSON, ("if-match", &etag(&r))],
            Some(b"{}".to_vec()),
        )
        .await;
    assert_eq!(c.status, 200, "{:?}", c.body);
    sys.work().await;
    assert!(only_fake_run(&sys).deleted);
    let body = run(&sys, &id).await;
    assert_eq!(body["status"], "cancelled");
    let js = jobs(&sys, &id).await;
    assert!(js.iter().all(|j| j["status"] == "succeeded"), "{js:?}");
    assert_eq!(sys.message_counts().await, (0, 0));
}

/// TPGateway down for a while, then back: every job ends succeeded, none
/// lost, none submitted twice.
async fn down_for_a_while_then_back(sys: TestSystem) {
    sys.fake().inject(Route::Any, Fault::Status(503), 3);
    let mut ids = Vec::new();
    let mut n = 0;
    for _ in 0..3 {
        ids.push(sys.create_run(&run_body_on(&mut n)).await.0);
    }
    sys.work().await;
    for id in &ids {
        assert_eq!(run(&sys, id).await["status"], "synced");
        for j in jobs(&sys, id).await {
            assert_eq!(j["status"], "succeeded", "{j}");
        }
    }
    let runs = sys.fake().runs();
    assert_eq!(runs.len(), 3);
    assert!(runs.iter().all(|r| r.publish_count == 1), "{runs:?}");
    assert_eq!(sys.fake().accepted(Route::Publish), 3);
    assert_eq!(sys.message_counts().await, (0, 0));
}

/// Distinct end dates per call, so TPGateway sees distinct runs.
fn run_body_on(n: &mut u32) -> Value {
    *n += 1;
    let mut b = run_body();
    b["end_date"] = json!(format!("2025-01-{}", 16 + *n));
    b
}

/// SendMessage fails after the commit: the sweeper still delivers the job.
async fn failed_send_is_swept_and_delivered(sys: TestSystem) {
    let working = sys.app.clone();
    let broken = tms_app::App {
        queue: std::sync::Arc::new(crate::api::BrokenQueue),
        ..working.clone()
    };
    let sys = sys.with_app(broken);
    let (id, _) = sys.create_run(&run_body()).await;
    let sys = sys.with_app(working);
    assert_eq!(sys.work().await, 0, "the send failed: no message");
    assert_eq!(run(&sys, &id).await["status"], "pending");
    // After the enqueue grace the sweeper finds the job and sends it.
    let later = tms_app::App {
        clock: std::sync::Arc::new(crate::api::LaterClock(chrono::Duration::seconds(
            tms_domain::sync::ENQUEUE_GRACE_SECS + 1,
        ))),
        ..sys.app.clone()
    };
    let report = later
        .sweep_due_jobs(chrono::Duration::minutes(5), 100)
        .await
        .expect("sweep");
    assert_eq!(report.enqueued, 1);
    sys.work().await;
    assert_eq!(run(&sys, &id).await["status"], "synced");
    assert_eq!(sys.fake().accepted(Route::Publish), 1);
}

/// A permanent validation error: job and run `failed` with TPGateway's
/// message; fixing the run with a PATCH syncs it.
async fn permanent_refusal_then_fix(sys: TestSystem) {
    let mut body = run_body();
    if let Some(o) = body.as_object_mut() {
        o.remove("course_admin_email");
    }
    let (id, _) = sys.create_run(&body).await;
    sys.work().await;
    let r = run(&sys, &id).await;
    assert_eq!(r["status"], "failed", "{r}");
    let err = &r["sync"]["error"];
    assert_eq!(err["kind"], "permanent");
    assert_eq!(err["http_status"], 400);
    assert!(
        err["details"]
            .as_array()
            .is_some_and(|d| d.iter().any(|d| d["field"]
                .as_str()
                .is_some_and(|f| f.ends_with("courseAdminEmail")))),
        "{err}"
    );
    let js = jobs(&sys, &id).await;
    assert_eq!(js[0]["status"], "failed");
    assert!(js[0]["last_error"].is_string());
    let audit = sys.audit_actions("course_run", &id).await;
    assert!(audit.contains(&"course_run.sync_failed".to_string()));
    // Not retried by itself: nothing is due, nothing in the queue.
    assert_eq!(sys.work().await, 0);
    assert_eq!(sys.fake().runs().len(), 0);
    // Ops see it among the failed jobs, and may retry it: with the data
    // unchanged, TPGateway refuses it again.
    let failed = sys.get("/sync-jobs?status=failed").await;
    assert_eq!(failed.status, 200, "{:?}", failed.body);
    assert!(
        failed.body["items"]
            .as_array()
            .is_some_and(|a| a.iter().any(|j| j["id"] == js[0]["id"])),
        "{:?}",
        failed.body
    );
    let job_id = js[0]["id"].as_str().unwrap_or_default().to_string();
    let retried = sys
        .call("POST", &format!("/sync-jobs/{job_id}/retry"), &[], None)
        .await;
    assert_eq!(retried.status, 200, "{:?}", retried.body);
    assert_eq!(retried.body["status"], "queued");
    sys.work().await;
    let again = sys.get(&format!("/sync-jobs/{job_id}")).await;
    assert_eq!(again.body["status"], "failed");
    assert_eq!(again.body["attempts"], 2);
    let trail = sys.audit_actions("sync_job", &job_id).await;
    assert_eq!(trail, vec!["sync_job.retried".to_string()]);
    // Only failed and dead-lettered jobs can be retried.
    let first_job_of_another = {
        let (other, _) = sys
            .create_run(&{
                let mut b = run_body();
                b["end_date"] = json!("2025-01-20");
                b
            })
            .await;
        sys.work().await;
        jobs(&sys, &other).await[0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let refused = sys
        .call(
            "POST",
            &format!("/sync-jobs/{first_job_of_another}/retry"),
            &[],
            None,
        )
        .await;
    assert_eq!(refused.status, 409, "{:?}", refused.body);
    // A list needs a filter.
    let bare = sys.get("/sync-jobs").await;
    assert_eq!(bare.status, 400);
    assert_eq!(bare.error_fields(), vec!["status".to_string()]);
    // The fix.
    let g = sys.get(&format!("/course-runs/{id}")).await;
    let p = sys
        .patch(
            &format!("/course-runs/{id}"),
            &json!({"course_admin_email": "admin@example.sg"}),
            Some(&etag(&g)),
        )
        .await;
    assert_eq!(p.status, 200, "{:?}", p.body);
    sys.work().await;
    let r = run(&sys, &id).await;
    assert_eq!(r["status"], "synced", "{r}");
    assert!(r["sync"]["error"].is_null());
    assert_eq!(sys.fake().runs().len(), 2);
    assert!(sys.fake().runs().iter().all(|r| r.publish_count == 1));
}

/// A poison message (TPGateway fails every time) reaches the dead-letter
/// queue after maxReceiveCount and the job shows `dead_letter`; a redrive
/// through the API succeeds exactly once.
async fn poison_message_dead_letters_then_redrive(sys: TestSystem) {
    let max = sys.app.sync.max_receive_count;
    sys.fake().inject(Route::Publish, Fault::Status(500), max);
    let (id, _) = sys.create_run(&run_body()).await;
    sys.work().await;
    // The last receive dead-lettered the job; the next receive attempt
    // moves the message to the dead-letter queue.
    sys.work().await;
    let js = jobs(&sys, &id).await;
    assert_eq!(js[0]["status"], "dead_letter", "{js:?}");
    assert_eq!(js[0]["attempts"], json!(max));
    assert_eq!(sys.message_counts().await, (0, 1));
    assert_eq!(run(&sys, &id).await["status"], "pending");
    // Not swept: a dead letter waits for a redrive.
    let r = sys.post("/sync-jobs/redrive", &json!({}), &[]).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["moved"], 1);
    let again = sys.post("/sync-jobs/redrive", &json!({}), &[]).await;
    assert_eq!(again.body["moved"], 0, "a second redrive moves nothing");
    sys.work().await;
    assert_eq!(run(&sys, &id).await["status"], "synced");
    assert_eq!(sys.fake().accepted(Route::Publish), 1);
    assert_eq!(only_fake_run(&sys).publish_count, 1);
    let job_id = js[0]["id"].as_str().unwrap_or_default().to_string();
    let j = sys.get(&format!("/sync-jobs/{job_id}")).await;
    assert_eq!(j.body["status"], "succeeded");
    assert_eq!(j.body["receipts"][0]["api"], "publish_run");
    // A redriven message of a job that succeeded is acknowledged without a
    // second submission.
    sys.app
        .queue
        .send(tms_ports::OutgoingMessage::new(
            json!({"job_id": job_id}).to_string(),
        ))
        .await
        .expect("send");
    sys.work().await;
    assert_eq!(sys.fake().calls(Route::Publish), max + 1);
}

/// Accepted, then the connection dropped: the retry adopts the run
/// TPGateway has; no duplicate at the fake.
async fn accepted_then_dropped_is_adopted(sys: TestSystem) {
    sys.fake().inject(Route::Publish, Fault::AcceptThenDrop, 1);
    let (id, _) = sys.create_run(&run_body()).await;
    sys.work().await;
    let fake_run = only_fake_run(&sys);
    assert_eq!(fake_run.publish_count, 1);
    let r = run(&sys, &id).await;
    assert_eq!(r["status"], "synced", "{r}");
    assert_eq!(r["external_id"], json!(fake_run.id));
    assert!(
        r["sessions"]
            .as_array()
            .is_some_and(|s| s.iter().all(|s| s["external_id"].is_string())),
        "{r}"
    );
    // The session ids were adopted, not re-added.
    assert_eq!(fake_run.sessions.len(), 2, "{fake_run:?}");
    assert_eq!(sys.fake().calls(Route::RunsByCrn), 1);
}

/// Two updates in quick succession: the fake ends with the newer version.
async fn two_quick_updates_end_with_the_newer(sys: TestSystem) {
    let (id, created) = sys.create_run(&run_body()).await;
    sys.work().await;
    let uri = format!("/course-runs/{id}");
    let a = sys
        .patch(&uri, &json!({"capacity": 31}), Some(&etag(&created)))
        .await;
    // The worker's record moved the version on; read it again.
    let a = if a.status == 412 {
        let g = sys.get(&uri).await;
        sys.patch(&uri, &json!({"capacity": 31}), Some(&etag(&g)))
            .await
    } else {
        a
    };
    assert_eq!(a.status, 200, "{:?}", a.body);
    let b = sys
        .patch(&uri, &json!({"capacity": 32}), Some(&etag(&a)))
        .await;
    assert_eq!(b.status, 200, "{:?}", b.body);
    // Deliver the newer job's message first.
    let mut messages = sys.receive_all().await;
    messages.reverse();
    for m in &messages {
        let outcome = sys.app.handle_sync_message(&m.body, m.receive_count).await;
        tms_runtime::loops::settle(&sys.app, &m.receipt_handle, outcome).await;
    }
    sys.work().await;
    assert_eq!(only_fake_run(&sys).body["intakeSize"], json!(32));
    let r = run(&sys, &id).await;
    assert_eq!(r["status"], "synced");
    assert_eq!(r["capacity"], json!(32));
    let js = jobs(&sys, &id).await;
    assert!(
        js.iter().any(|j| j["note"]
            .as_str()
            .is_some_and(|n| n.starts_with("superseded"))),
        "{js:?}"
    );
}

/// OAuth: an expired token is refreshed once, and the job goes through.
async fn oauth_token_expiry_is_refreshed_once(sys: TestSystem) {
    let (first, _) = sys.create_run(&run_body()).await;
    sys.work().await;
    assert_eq!(run(&sys, &first).await["status"], "synced");
    let issued = sys.fake().tokens_issued();
    sys.fake().expire_tokens();
    let g = sys.get(&format!("/course-runs/{first}")).await;
    let p = sys
        .patch(
            &format!("/course-runs/{first}"),
            &json!({"capacity": 40}),
            Some(&etag(&g)),
        )
        .await;
    assert_eq!(p.status, 200);
    sys.work().await;
    assert_eq!(run(&sys, &first).await["status"], "synced");
    assert_eq!(sys.fake().tokens_issued(), issued + 1);
    let js = jobs(&sys, &first).await;
    assert!(js.iter().all(|j| j["attempts"] == json!(1)), "{js:?}");
}

/// 429 with Retry-After: the job waits at least that long (its message's
/// visibility), then goes through.
async fn retry_after_is_honoured(sys: TestSystem) {
    sys.fake().inject(
        Route::Publish,
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
        1,
    );
    let (id, _) = sys.create_run(&run_body()).await;
    sys.work().await;
    let js = jobs(&sys, &id).await;
    assert_eq!(js[0]["status"], "queued", "{js:?}");
    assert_eq!(js[0]["failure"]["http_status"], 429);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    sys.work().await;
    assert_eq!(run(&sys, &id).await["status"], "synced");
}

/// Mutual TLS with the PEM certificate and key of the secret.
async fn certificate_mode_syncs(sys: TestSystem) {
    let (id, _) = sys.create_run(&run_body()).await;
    sys.work().await;
    assert_eq!(run(&sys, &id).await["status"], "synced");
    assert_eq!(sys.fake().tokens_issued(), 0);
    assert_eq!(only_fake_run(&sys).publish_count, 1);
}

#[allow(dead_code)]
fn engine_name(e: Engine) -> &'static str {
    match e {
        Engine::Sqlite => "sqlite",
        Engine::Aws => "aws",
    }
}

#[allow(dead_code)]
fn oauth() -> FakeConfig {
    FakeConfig::oauth()
}

/// Two runs of one course with the same dates: TPGateway refuses the
/// second publish with "Course Run ID is N". On a first attempt that run is
/// not ours to adopt: the second run fails with TPGateway's message.
async fn same_dates_on_a_first_publish_are_not_adopted(sys: TestSystem) {
    let (first, _) = sys.create_run(&run_body()).await;
    sys.work().await;
    let (second, _) = sys.create_run(&run_body()).await;
    sys.work().await;
    assert_eq!(run(&sys, &first).await["status"], "synced");
    let r = run(&sys, &second).await;
    assert_eq!(r["status"], "failed", "{r}");
    assert!(r["external_id"].is_null());
    assert!(
        r["sync"]["error"]["details"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Course Run ID is")),
        "{r}"
    );
    assert_eq!(sys.fake().runs().len(), 1);
}

/// A worker died holding a job (running, lease expired): the sweeper finds
/// it through the due index and re-enqueues it; the next attempt looks
/// TPGateway up first (the dead worker may have published), then publishes.
async fn dead_worker_lease_expires_and_job_is_swept(sys: TestSystem) {
    let (id, _) = sys.create_run(&run_body()).await;
    // The worker took the message and died before finishing.
    let taken = sys.receive_all().await;
    assert_eq!(taken.len(), 1);
    let job_id = serde_json::from_str::<Value>(&taken[0].body).expect("json")["job_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let pk = tms_app::keys::sync_job_pk(&job_id);
    let item = sys
        .app
        .store
        .get(&pk, &pk)
        .await
        .expect("get")
        .expect("job");
    let mut job: tms_domain::sync::SyncJob = tms_app::records::decode(&item).expect("job");
    let past = chrono::Utc::now() - chrono::Duration::seconds(5);
    job.status = tms_domain::sync::SyncStatus::Running;
    job.attempts = 1;
    job.lease_until = Some(past);
    job.next_retry_at = past;
    let next = tms_app::records::sync_job_item(&job, item.version + 1).expect("item");
    sys.app
        .store
        .put(next, tms_ports::Condition::VersionIs(item.version))
        .await
        .expect("put");
    for m in &taken {
        sys.app
            .queue
            .delete(tms_ports::QueueName::Main, &m.receipt_handle)
            .await
            .expect("delete");
    }
    let report = sys
        .app
        .sweep_due_jobs(chrono::Duration::minutes(5), 100)
        .await
        .expect("sweep");
    assert_eq!((report.found, report.enqueued), (1, 1));
    sys.work().await;
    assert_eq!(run(&sys, &id).await["status"], "synced");
    assert_eq!(
        sys.fake().calls(Route::RunsByCrn),
        1,
        "looked up before publishing"
    );
    assert_eq!(only_fake_run(&sys).publish_count, 1);
    let j = sys.get(&format!("/sync-jobs/{job_id}")).await;
    assert_eq!(j.body["status"], "succeeded");
    assert_eq!(j.body["attempts"], 2);
}

/// A publish that times out (TPGateway never answers) is an unknown
/// outcome: the retry looks the run up first, finds none, and publishes.
async fn time_out_is_an_unknown_outcome(sys: TestSystem) {
    let mut cfg = tms_tests::test_config().tpgateway;
    cfg.inline_secret = Some(sys.fake().secret_json().to_string());
    cfg.timeouts = vec![(
        tms_ports::Api::PublishRun,
        std::time::Duration::from_millis(300),
    )];
    let app = tms_app::App {
        tpgateway: tms_runtime::local_tpgateway(&cfg).expect("client"),
        ..sys.app.clone()
    };
    let sys = sys.with_app(app);
    sys.fake().inject(Route::Publish, Fault::Hang, 1);
    let (id, _) = sys.create_run(&run_body()).await;
    sys.work().await;
    let js = jobs(&sys, &id).await;
    let publish = js
        .iter()
        .find(|j| j["job_type"] == "course_run_upsert")
        .cloned()
        .unwrap_or_default();
    assert_eq!(publish["status"], "succeeded", "{js:?}");
    assert_eq!(publish["attempts"], 2);
    assert_eq!(publish["failure"]["kind"], "unknown_outcome", "{publish}");
    assert_eq!(sys.fake().calls(Route::RunsByCrn), 1);
    assert_eq!(sys.fake().calls(Route::Publish), 2);
    assert_eq!(only_fake_run(&sys).publish_count, 1);
    assert_eq!(run(&sys, &id).await["status"], "synced");
}

/// A trainer created through the API; its id.
async fn create_trainer(sys: &TestSystem, body: &Value) -> String {
    let r = sys.post("/trainers", body, &[]).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["id"].as_str().unwrap_or_default().to_string()
}

/// Assigns a trainer to the run's `i`-th session (by date) through the
/// sessions route, with the session's If-Match.
async fn assign(sys: &TestSystem, run_id: &str, i: usize, trainer_id: &str) {
    let body = run(sys, run_id).await;
    let s = &body["sessions"][i];
    let r = sys
        .patch(
            &format!(
                "/course-runs/{run_id}/sessions/{}",
                s["id"].as_str().unwrap_or_default()
            ),
            &json!({ "trainer_id": trainer_id }),
            Some(&format!("\"{}\"", s["version"])),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["trainer_id"], json!(trainer_id));
}

/// A run's upsert job of the highest version (the newest).
async fn newest_upsert(sys: &TestSystem, run_id: &str) -> Value {
    jobs(sys, run_id)
        .await
        .into_iter()
        .filter(|j| j["job_type"] == "course_run_upsert")
        .max_by_key(|j| j["entity_version"].as_u64().unwrap_or(0))
        .unwrap_or_default()
}

/// A trainer with TPGateway's trainer id, assigned to a session of a
/// published run through the sessions route: the assignment queues the
/// run's sync job, and the edit links the trainer on TPGateway as an
/// existing trainer named by that id. Assigned to a second session, they
/// are still linked once. A run created with the trainer on a session
/// links them on its publish.
async fn assigned_trainer_reaches_tpgateway(sys: TestSystem) {
    let example = tms_http::routes::trainers::example_trainer();
    let tpg_id = example["tpg_trainer_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!tpg_id.is_empty());
    let trainer_id = create_trainer(&sys, &example).await;
    let (id, _) = sys.create_run(&run_body()).await;
    sys.work().await;
    let fake_run = only_fake_run(&sys);
    assert!(fake_run.trainers.is_empty(), "{fake_run:?}");
    assert_eq!(fake_run.body["linkCourseRunTrainer"], json!([]));
    let upserts_before = jobs(&sys, &id)
        .await
        .iter()
        .filter(|j| j["job_type"] == "course_run_upsert")
        .count();

    assign(&sys, &id, 0, &trainer_id).await;
    // The assignment is a change of the run: pending, with a queued job.
    assert_eq!(run(&sys, &id).await["status"], "pending");
    let js = jobs(&sys, &id).await;
    let upserts: Vec<&Value> = js
        .iter()
        .filter(|j| j["job_type"] == "course_run_upsert")
        .collect();
    assert_eq!(upserts.len(), upserts_before + 1, "{js:?}");
    assert_eq!(newest_upsert(&sys, &id).await["status"], "queued");
    assert_eq!(sys.message_counts().await.0, 1);

    sys.work().await;
    let body = run(&sys, &id).await;
    assert_eq!(body["status"], "synced", "{body}");
    assert_eq!(body["sync"]["receipt"]["api"], "edit_run");
    let fake_run = only_fake_run(&sys);
    assert_eq!((fake_run.publish_count, fake_run.edit_count), (1, 1));
    assert_eq!(fake_run.trainers.len(), 1, "{fake_run:?}");
    let t = &fake_run.trainers[0];
    assert_eq!(t.id.as_deref(), Some(tpg_id.as_str()));
    assert_eq!(t.index_number, Some(1));
    assert_eq!(t.trainer_type, "1");
    assert_eq!(t.name.as_deref(), example["name"].as_str());
    assert_eq!(t.email.as_deref(), example["email"].as_str());
    assert_eq!(t.body["inTrainingProviderProfile"], json!(true));
    assert!(t.body.get("idNumber").is_none(), "{:?}", t.body);
    let job = newest_upsert(&sys, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert!(job["note"].is_null(), "{job}");

    // The same trainer on the second session: still one link.
    assign(&sys, &id, 1, &trainer_id).await;
    sys.work().await;
    let fake_run = only_fake_run(&sys);
    assert_eq!(fake_run.edit_count, 2);
    assert_eq!(fake_run.trainers.len(), 1, "{fake_run:?}");
    assert_eq!(run(&sys, &id).await["status"], "synced");

    // A run created with the trainer on a session: linked on publish.
    let mut n = 0;
    let mut other = run_body_on(&mut n);
    other["sessions"][1]["trainer_id"] = json!(trainer_id);
    let (other_id, _) = sys.create_run(&other).await;
    sys.work().await;
    let body = run(&sys, &other_id).await;
    assert_eq!(body["status"], "synced", "{body}");
    let external = body["external_id"].as_str().unwrap_or_default().to_string();
    let published = sys
        .fake()
        .runs()
        .into_iter()
        .find(|r| r.id == external)
        .unwrap_or_else(|| panic!("the fake has run {external}"));
    assert_eq!((published.publish_count, published.edit_count), (1, 0));
    let ids: Vec<Option<&str>> = published.trainers.iter().map(|t| t.id.as_deref()).collect();
    assert_eq!(ids, vec![Some(tpg_id.as_str())]);
    assert_eq!(sys.message_counts().await, (0, 0));
}

/// A trainer without TPGateway's trainer id (and one whose record is
/// gone): the run syncs all the same, without them, and the job's note
/// names each and why.
async fn trainer_without_tpg_id_is_skipped_with_a_note(sys: TestSystem) {
    use tms_domain::ids::TypedId;
    let mut example = tms_http::routes::trainers::example_trainer();
    if let Some(o) = example.as_object_mut() {
        o.remove("tpg_trainer_id");
    }
    let trainer_id = create_trainer(&sys, &example).await;
    let mut body = run_body();
    body["sessions"][0]["trainer_id"] = json!(trainer_id);
    let (id, _) = sys.create_run(&body).await;
    sys.work().await;
    let r = run(&sys, &id).await;
    assert_eq!(r["status"], "synced", "{r}");
    let fake_run = only_fake_run(&sys);
    assert!(fake_run.trainers.is_empty(), "{fake_run:?}");
    assert_eq!(fake_run.body["linkCourseRunTrainer"], json!([]));
    let job = newest_upsert(&sys, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(
        job["note"],
        json!(format!(
            "trainer {trainer_id} not linked on TPGateway: no tpg_trainer_id"
        )),
        "{job}"
    );
    // No personal data in the note: the trainer's id, not their name.
    assert!(!job["note"]
        .as_str()
        .unwrap_or_default()
        .contains(example["name"].as_str().unwrap_or("-")));

    // A second trainer assigned, then their record gone (removed behind
    // the API's back): the edit goes out, and the note names both.
    let gone = create_trainer(&sys, &tms_http::routes::trainers::example_trainer()).await;
    assign(&sys, &id, 1, &gone).await;
    let pk = tms_app::keys::trainer_pk(
        &tms_domain::ids::TrainerId::parse(&gone).unwrap_or_else(|_| panic!("trainer id {gone}")),
    );
    sys.app
        .store
        .transact_write(vec![tms_ports::WriteOp::Delete {
            pk: pk.clone(),
            sk: pk,
            condition: tms_ports::Condition::None,
        }])
        .await
        .expect("delete the trainer");
    sys.work().await;
    let r = run(&sys, &id).await;
    assert_eq!(r["status"], "synced", "{r}");
    assert_eq!(r["sync"]["receipt"]["api"], "edit_run");
    let fake_run = only_fake_run(&sys);
    assert_eq!(fake_run.edit_count, 1);
    assert!(fake_run.trainers.is_empty(), "{fake_run:?}");
    assert!(
        fake_run.body.get("linkCourseRunTrainer") == Some(&json!([])),
        "the edit left the list as published: {:?}",
        fake_run.body
    );
    let job = newest_upsert(&sys, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(
        job["note"],
        json!(format!(
            "trainer {trainer_id} not linked on TPGateway: no tpg_trainer_id; \
             trainer {gone} not linked on TPGateway: no such trainer"
        )),
        "{job}"
    );
}
