//! The sample events in events/ fed through the Lambda handlers on a real
//! system, on both engine sets:
//!
//! - the API Gateway HTTP API events through the Lambda conversion
//!   (`lambda_http::request::from_str`, what the runtime applies) and the
//!   function's router, in the order a person would send them (the
//!   trainers function's event through the trainers router alone, as
//!   TrainersFunction mounts it);
//! - the SQS batch through the sync worker's handler
//!   (`tms_runtime::sqs_events::handle_event`), its records carrying real
//!   job ids and receipt handles, against the fake TPGateway;
//! - the scheduled event through the sweeper's handler (`tms_runtime::sweep`;
//!   the sweeper ignores the event's content);
//! - the Lambda authorizer's request through its handler
//!   (`tms_runtime::authorizer::authorize`) with a real access token, and
//!   the API request it lets through, carrying its context, through the
//!   users function's router (`ActorSource::Authorizer`).

use std::collections::BTreeSet;

use aws_lambda_events::event::apigw::{
    ApiGatewayV2CustomAuthorizerSimpleResponse, ApiGatewayV2CustomAuthorizerV2Request,
};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use serde_json::{json, Value};
use tms_auth::jwt::{self, Claims};
use tms_domain::types::Password;
use tms_domain::user::LoginInput;
use tms_fake_tpgateway::{Fault, Route};
use tms_runtime::authorizer::authorize;
use tms_tests::{on_both_engines, read_reply, Engine, Reply, TestSystem};

const RUN_PLACEHOLDER: &str = "00000000-0000-4000-8000-000000000001";
const SESSION_PLACEHOLDER: &str = "00000000-0000-4000-8000-000000000002";

/// The HTTP API events (course-runs, audit-logs, users and trainers
/// functions).
const HTTP_EVENTS: [&str; 18] = [
    "add-session",
    "cancel-course-run",
    "create-course-run",
    "create-course-run-invalid",
    CREATE_TRAINER_EVENT,
    CREATE_TRAINEE_EVENT,
    CREATE_ENROLMENT_EVENT,
    CREATE_ASSESSMENT_EVENT,
    "get-course-run",
    "list-audit-logs",
    "list-course-runs",
    LIST_SYNC_JOBS_EVENT,
    "list-users",
    LOGIN_EVENT,
    RECORD_ATTENDANCE_EVENT,
    "remove-session",
    "update-course-run",
    "update-session",
];
/// The sync worker's SQS event (SyncWorkerFunction).
const SQS_BATCH_EVENT: &str = "sync-worker-batch";
/// The sweeper's EventBridge scheduled event (SyncSweeperFunction).
const SCHEDULE_EVENT: &str = "sync-sweeper-schedule";
/// The HTTP API Lambda authorizer's request (AuthorizerFunction).
const AUTHORIZER_EVENT: &str = "authorizer-request";
/// An API request the authorizer let through (UsersFunction).
const LIST_USERS_EVENT: &str = "list-users";
/// A trainer created by an Admin (TrainersFunction).
const CREATE_TRAINER_EVENT: &str = "create-trainer";
/// An enrolment of the run and trainee the test puts in place of the
/// placeholders (EnrolmentsFunction).
const CREATE_ENROLMENT_EVENT: &str = "create-enrolment";
const TRAINEE_PLACEHOLDER: &str = "00000000-0000-4000-8000-000000000004";
/// The failed sync jobs, as Ops list them (SyncJobsFunction).
const LIST_SYNC_JOBS_EVENT: &str = "list-sync-jobs";
/// A sign-in (AuthFunction; public: no authorizer context) with the local
/// run's first Admin.
const LOGIN_EVENT: &str = "login";
/// A session's attendance recorded by an Admin (AttendanceFunction).
const RECORD_ATTENDANCE_EVENT: &str = "record-attendance";
/// An assessment of the enrolment the test puts in place of the
/// placeholder (AssessmentsFunction).
const CREATE_ASSESSMENT_EVENT: &str = "create-assessment";
const ENROLMENT_PLACEHOLDER: &str = "00000000-0000-4000-8000-000000000005";
/// A trainee created by an Admin (TraineesFunction).
const CREATE_TRAINEE_EVENT: &str = "create-trainee";
/// The token in the fixtures' Authorization header, and the user id in
/// list-users' authorizer context: the tests put real ones there.
const TOKEN_PLACEHOLDER: &str = "<access-token>";
const USER_PLACEHOLDER: &str = "00000000-0000-4000-8000-000000000003";

/// A file of events/, as it is.
fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(format!("{name}.json"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn event(name: &str, run_id: &str, session_id: &str) -> String {
    fixture(name)
        .replace(RUN_PLACEHOLDER, run_id)
        .replace(SESSION_PLACEHOLDER, session_id)
}

/// The event through the routers as the Lambdas build them: the acting
/// user from the authorizer context the event carries.
async fn invoke(sys: &TestSystem, name: &str, run_id: &str, session_id: &str) -> Reply {
    use tower::ServiceExt;
    let req = lambda_http::request::from_str(&event(name, run_id, session_id))
        .unwrap_or_else(|e| panic!("{name}.json is not an API Gateway event: {e}"));
    let router = tms_http::router(
        sys.app.clone(),
        tms_http::ActorSource::Authorizer,
        &tms_http::Resource::ALL,
    );
    let res = router.oneshot(req).await.expect("infallible");
    read_reply(res).await
}

/// The event through one function's router, as that Lambda builds it
/// (`tms_http::router_of(app, ActorSource::Authorizer, resource.mount_fn())`).
async fn invoke_function(sys: &TestSystem, name: &str, resource: tms_http::Resource) -> Reply {
    use tower::ServiceExt;
    let req = lambda_http::request::from_str(&fixture(name))
        .unwrap_or_else(|e| panic!("{name}.json is not an API Gateway event: {e}"));
    let router = tms_http::router_of(
        sys.app.clone(),
        tms_http::ActorSource::Authorizer,
        resource.mount_fn(),
    );
    read_reply(router.oneshot(req).await.expect("infallible")).await
}

/// create-trainer through the trainers function's router: 201 with the
/// trainer, its Location and ETag; the same event again is the replay of
/// its Idempotency-Key; the trainer and its audit record are stored.
async fn walk_the_trainer_event(sys: &TestSystem) {
    let trainers = tms_http::Resource::Trainers;
    let created = invoke_function(sys, CREATE_TRAINER_EVENT, trainers).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(
        created.header("x-correlation-id"),
        Some("evt-create-trainer")
    );
    assert_eq!(created.header("etag"), Some("\"1\""));
    let id = created.body["id"].as_str().expect("id").to_string();
    let location = format!("/trainers/{id}");
    assert_eq!(created.header("location"), Some(location.as_str()));
    assert_eq!(created.body["name"], "Tan Ah Kow");
    assert_eq!(created.body["status"], "active");
    assert_eq!(created.body["user_id"], Value::Null);

    let replay = invoke_function(sys, CREATE_TRAINER_EVENT, trainers).await;
    assert_eq!(replay.status, 201, "{:?}", replay.body);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.body["id"], json!(id));

    let got = sys.get(&location).await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    assert_eq!(got.body["email"], "ahkow.tan@example.sg");
    assert_eq!(
        sys.audit_actions("trainer", &id).await,
        ["trainer.created"],
        "one trainer, one audit record"
    );
}

/// create-trainee through the trainees function's router: 201 with the
/// national id masked; the replay; nothing stored or answered carries the
/// full id.
async fn walk_the_trainee_event(sys: &TestSystem) -> String {
    let trainees = tms_http::Resource::Trainees;
    let created = invoke_function(sys, CREATE_TRAINEE_EVENT, trainees).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["national_id_masked"], "*****587D");
    assert!(!created.body.to_string().contains("7020587"));
    let id = created.body["id"].as_str().expect("id").to_string();
    let replay = invoke_function(sys, CREATE_TRAINEE_EVENT, trainees).await;
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.body["id"], json!(id));
    assert_eq!(sys.audit_actions("trainee", &id).await, ["trainee.created"]);
    id
}

/// create-enrolment through the enrolments function's router, with a real
/// run and trainee in place of its placeholders: 201, pending; the replay
/// answers the same. Its id.
async fn walk_the_enrolment_event(sys: &TestSystem, run_id: &str, trainee_id: &str) -> String {
    use tower::ServiceExt;
    let text = fixture(CREATE_ENROLMENT_EVENT)
        .replace(RUN_PLACEHOLDER, run_id)
        .replace(TRAINEE_PLACEHOLDER, trainee_id);
    let send = || async {
        let req = lambda_http::request::from_str(&text)
            .unwrap_or_else(|e| panic!("create-enrolment.json is not an API Gateway event: {e}"));
        let router = tms_http::router_of(
            sys.app.clone(),
            tms_http::ActorSource::Authorizer,
            tms_http::Resource::Enrolments.mount_fn(),
        );
        read_reply(router.oneshot(req).await.expect("infallible")).await
    };
    let created = send().await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["status"], "pending");
    assert_eq!(created.body["fee_amount"], "1200.00");
    let replay = send().await;
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.body["id"], created.body["id"]);
    created.body["id"].as_str().expect("id").to_string()
}

/// record-attendance through the attendance function's router, for a
/// session of the run and its enrolment: the row recorded, the sheet at
/// version 1, one audit record; the same event again is refused as stale
/// (its If-Match "0" no longer holds) and changes nothing.
async fn walk_the_attendance_event(sys: &TestSystem, session_id: &str, enrolment_id: &str) {
    use tower::ServiceExt;
    let text = fixture(RECORD_ATTENDANCE_EVENT)
        .replace(SESSION_PLACEHOLDER, session_id)
        .replace(ENROLMENT_PLACEHOLDER, enrolment_id);
    let send = || async {
        let req = lambda_http::request::from_str(&text)
            .unwrap_or_else(|e| panic!("record-attendance.json is not an API Gateway event: {e}"));
        let router = tms_http::router_of(
            sys.app.clone(),
            tms_http::ActorSource::Authorizer,
            tms_http::Resource::Attendance.mount_fn(),
        );
        read_reply(router.oneshot(req).await.expect("infallible")).await
    };
    let recorded = send().await;
    assert_eq!(recorded.status, 200, "{:?}", recorded.body);
    assert_eq!(recorded.header("etag"), Some("\"1\""));
    assert_eq!(recorded.body["rows"][0]["status"], "present");
    assert_eq!(recorded.body["rows"][0]["sync_status"], "not_sent");
    let again = send().await;
    assert_eq!(again.status, 412, "{:?}", again.body);
    assert_eq!(
        sys.audit_actions("session_attendance", session_id).await,
        ["attendance.recorded"]
    );
}

/// create-assessment through the assessments function's router, with a
/// real enrolment in place of its placeholder: 201, version 1, its sync
/// job queued; the replay answers the same.
async fn walk_the_assessment_event(sys: &TestSystem, enrolment_id: &str) {
    use tower::ServiceExt;
    let text = fixture(CREATE_ASSESSMENT_EVENT).replace(ENROLMENT_PLACEHOLDER, enrolment_id);
    let send = || async {
        let req = lambda_http::request::from_str(&text)
            .unwrap_or_else(|e| panic!("create-assessment.json is not an API Gateway event: {e}"));
        let router = tms_http::router_of(
            sys.app.clone(),
            tms_http::ActorSource::Authorizer,
            tms_http::Resource::Assessments.mount_fn(),
        );
        read_reply(router.oneshot(req).await.expect("infallible")).await
    };
    let queued = sys.message_counts().await.0;
    let created = send().await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["result"], "pass");
    assert_eq!(created.body["version"], 1);
    assert_eq!(created.body["enrolment_id"], json!(enrolment_id));
    assert_eq!(sys.message_counts().await.0, queued + 1);
    let replay = send().await;
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.body["id"], created.body["id"]);
    let id = created.body["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(
        sys.audit_actions("assessment", &id).await,
        ["assessment.created"]
    );
}

async fn walk_the_events(sys: TestSystem) {
    let none = "";
    let created = invoke(&sys, "create-course-run", none, none).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(
        created.header("x-correlation-id"),
        Some("evt-create-course-run")
    );
    let run_id = created.body["id"].as_str().expect("id").to_string();

    let replay = invoke(&sys, "create-course-run", none, none).await;
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));

    let listed = invoke(&sys, "list-course-runs", none, none).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["items"].as_array().map(Vec::len), Some(1));

    let got = invoke(&sys, "get-course-run", &run_id, none).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.header("etag"), Some("\"1\""));

    let updated = invoke(&sys, "update-course-run", &run_id, none).await;
    assert_eq!(updated.status, 200, "{:?}", updated.body);
    assert_eq!(updated.body["capacity"], 25);

    let added = invoke(&sys, "add-session", &run_id, none).await;
    assert_eq!(added.status, 201, "{:?}", added.body);
    let session_id = added.body["id"].as_str().expect("id").to_string();

    let changed = invoke(&sys, "update-session", &run_id, &session_id).await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    assert_eq!(changed.body["end_time"], "21:30");

    let removed = invoke(&sys, "remove-session", &run_id, &session_id).await;
    assert_eq!(removed.status, 204, "{:?}", removed.body);

    let cancelled = invoke(&sys, "cancel-course-run", &run_id, none).await;
    assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);
    assert_eq!(cancelled.body["status"], "cancelled");

    let audit = invoke(&sys, "list-audit-logs", &run_id, none).await;
    assert_eq!(audit.status, 200);
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "course_run.cancelled",
            "session.removed",
            "session.updated",
            "session.added",
            "course_run.updated",
            "course_run.created"
        ]
    );

    let invalid = invoke(&sys, "create-course-run-invalid", none, none).await;
    assert_eq!(invalid.status, 422);
    assert_eq!(
        invalid.header("content-type"),
        Some("application/problem+json")
    );
    let fields: Vec<String> = invalid.error_fields();
    assert!(fields.contains(&"course_ref".to_string()), "{fields:?}");
    assert!(fields.contains(&"end_date".to_string()), "{fields:?}");
    assert_eq!(
        invalid.body["correlation_id"],
        Value::from("evt-create-course-run-invalid")
    );

    walk_the_trainer_event(&sys).await;
    let trainee_id = walk_the_trainee_event(&sys).await;
    let (live_run, _) = sys
        .create_run(&tms_http::routes::course_runs::example_run())
        .await;
    let enrolment_id = walk_the_enrolment_event(&sys, &live_run, &trainee_id).await;
    let run = sys.get(&format!("/course-runs/{live_run}")).await;
    let session_id = run.body["sessions"][0]["id"].as_str().expect("a session");
    walk_the_attendance_event(&sys, session_id, &enrolment_id).await;

    // The sync jobs function: the failed jobs (none), as a page.
    let jobs = invoke_function(&sys, LIST_SYNC_JOBS_EVENT, tms_http::Resource::SyncJobs).await;
    assert_eq!(jobs.status, 200, "{:?}", jobs.body);
    assert_eq!(jobs.body["items"], json!([]));
    // The auth function: the first Admin signs in.
    sys.app
        .ensure_admin("admin@tms.local", Password::new("change me before use"))
        .await
        .expect("first admin");
    let login = invoke_function(&sys, LOGIN_EVENT, tms_http::Resource::Auth).await;
    assert_eq!(login.status, 200, "{:?}", login.body);
    assert!(login.body["access_token"].is_string());
    assert_eq!(login.header("x-correlation-id"), Some("evt-login"));
    walk_the_assessment_event(&sys, &enrolment_id).await;
}

#[tokio::test]
async fn lambda_events_sqlite() {
    walk_the_events(TestSystem::start(Engine::Sqlite).await).await;
}

#[tokio::test]
async fn lambda_events_aws() {
    walk_the_events(TestSystem::start(Engine::Aws).await).await;
}

/// Every file in events/ is an event this test knows about: the HTTP ones
/// convert as `lambda_http` converts them, the SQS batch is a Lambda SQS
/// event, the schedule an EventBridge scheduled event.
#[test]
fn every_event_file_is_exercised() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("events dir")
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
        .collect();
    names.sort();
    let mut known: Vec<&str> = HTTP_EVENTS.to_vec();
    known.extend([SQS_BATCH_EVENT, SCHEDULE_EVENT, AUTHORIZER_EVENT]);
    known.sort();
    assert_eq!(names, known);
    for n in HTTP_EVENTS {
        assert!(
            lambda_http::request::from_str(&event(n, RUN_PLACEHOLDER, SESSION_PLACEHOLDER)).is_ok(),
            "{n}"
        );
        // Behind the authorizer: each carries its context, as in AWS; a
        // public route's (sign-in) carries none.
        let v: Value = serde_json::from_str(&fixture(n)).expect("JSON");
        let context = if n == LOGIN_EVENT {
            Value::Null
        } else {
            json!({ "user_id": USER_PLACEHOLDER, "roles": "admin" })
        };
        assert_eq!(
            v["requestContext"]["authorizer"]["lambda"], context,
            "{n}: the authorizer context of an Admin (none on a public route)"
        );
    }
    sqs_fixture_is_a_lambda_sqs_event();
    schedule_fixture();
    authorizer_event(Some(TOKEN_PLACEHOLDER));
}

// ---------------------------------------------------------------------------
// The sync worker's SQS batch.

/// The fixture's job ids: none exists in a fresh system.
const FIXTURE_JOB_IDS: [&str; 3] = [
    "00000000-0000-4000-8000-0000000000a1",
    "00000000-0000-4000-8000-0000000000a2",
    "00000000-0000-4000-8000-0000000000a3",
];

/// The SQS fixture as the worker gets it. `SqsMessage` fields are all
/// optional, so a misspelt field would come through as `None`: each one the
/// worker or Lambda relies on is checked here.
fn sqs_fixture_is_a_lambda_sqs_event() -> SqsEvent {
    let event: SqsEvent = serde_json::from_str(&fixture(SQS_BATCH_EVENT))
        .unwrap_or_else(|e| panic!("{SQS_BATCH_EVENT}.json is not an SQS event: {e}"));
    assert_eq!(event.records.len(), FIXTURE_JOB_IDS.len());
    let mut message_ids = BTreeSet::new();
    for (r, job_id) in event.records.iter().zip(FIXTURE_JOB_IDS) {
        let id = r.message_id.as_deref().expect("messageId");
        assert!(message_ids.insert(id.to_string()), "messageId {id} twice");
        assert!(r.receipt_handle.as_deref().is_some_and(|h| !h.is_empty()));
        assert_eq!(
            serde_json::from_str::<Value>(r.body.as_deref().expect("body")).ok(),
            Some(json!({ "job_id": job_id }))
        );
        assert_eq!(r.event_source.as_deref(), Some("aws:sqs"));
        assert!(r
            .event_source_arn
            .as_deref()
            .is_some_and(|a| a.starts_with("arn:aws:sqs:ap-southeast-1:")));
        assert_eq!(r.aws_region.as_deref(), Some("ap-southeast-1"));
        assert!(r.md5_of_body.is_some());
        let count = r.attributes.get("ApproximateReceiveCount");
        assert!(count.and_then(|c| c.parse::<u32>().ok()).is_some());
        let corr = &r.message_attributes["correlation_id"];
        assert_eq!(corr.data_type.as_deref(), Some("String"));
        assert!(corr.string_value.is_some());
    }
    // The worker's view of the records: receive count and correlation id
    // from the event's attributes.
    let records = tms_runtime::sqs_events::records(event.clone());
    for (record, r) in records.iter().zip(&event.records) {
        assert_eq!(Some(&record.message_id), r.message_id.as_ref());
        assert_eq!(
            record.receive_count.to_string(),
            r.attributes["ApproximateReceiveCount"]
        );
        assert_eq!(
            record.correlation_id,
            r.message_attributes["correlation_id"].string_value
        );
    }
    event
}

/// The job id a sync message carries.
fn job_id_of(body: &str) -> String {
    let v: Value = serde_json::from_str(body).expect("a JSON body");
    v["job_id"].as_str().expect("job_id").to_string()
}

/// The fixture as an event for this system: its first records get the real
/// messages' job ids and receipt handles (received first, as Lambda would);
/// the other records, and every other field, are the file's.
fn sqs_event(messages: &[tms_ports::ReceivedMessage]) -> SqsEvent {
    let mut v: Value = serde_json::from_str(&fixture(SQS_BATCH_EVENT)).expect("JSON");
    let records = v["Records"].as_array_mut().expect("Records");
    assert!(
        messages.len() <= records.len(),
        "the fixture has too few records"
    );
    for (r, m) in records.iter_mut().zip(messages) {
        r["body"] = json!(json!({ "job_id": job_id_of(&m.body) }).to_string());
        r["receiptHandle"] = json!(m.receipt_handle);
    }
    serde_json::from_value(v).expect("an SQS event")
}

fn message_id(event: &SqsEvent, i: usize) -> String {
    event.records[i].message_id.clone().expect("messageId")
}

fn job_of_record(event: &SqsEvent, i: usize) -> String {
    job_id_of(event.records[i].body.as_deref().expect("body"))
}

/// What Lambda does with a partial batch response: deletes every record not
/// listed (here: those with a real receipt handle).
async fn settle_like_lambda(
    sys: &TestSystem,
    event: &SqsEvent,
    response: &SqsBatchResponse,
    real: usize,
) {
    let failed: BTreeSet<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    for r in event.records.iter().take(real) {
        if !failed.contains(r.message_id.as_deref().unwrap_or_default()) {
            sys.app
                .queue
                .delete(
                    tms_ports::QueueName::Main,
                    r.receipt_handle.as_deref().unwrap_or_default(),
                )
                .await
                .expect("delete an acknowledged record");
        }
    }
}

async fn job(sys: &TestSystem, id: &str) -> Reply {
    sys.get(&format!("/sync-jobs/{id}")).await
}

async fn run_status(sys: &TestSystem, id: &str) -> Value {
    let r = sys.get(&format!("/course-runs/{id}")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["status"].clone()
}

/// Three runs, each with a distinct end date (distinct runs for TPGateway),
/// and their one message each, received.
async fn three_runs(sys: &TestSystem) -> (Vec<String>, Vec<tms_ports::ReceivedMessage>) {
    let mut ids = Vec::new();
    for day in 17..20 {
        let mut body = crate::api::run_body();
        body["end_date"] = json!(format!("2025-01-{day}"));
        ids.push(sys.create_run(&body).await.0);
    }
    let messages = sys.receive_all().await;
    assert_eq!(messages.len(), 3, "one message per run");
    (ids, messages)
}

on_both_engines! {
    synced;
    sqs_batch_all_synced => lambda_events_sqs_sqlite_all_synced, lambda_events_sqs_aws_all_synced;
    sqs_batch_reports_the_failed_record => lambda_events_sqs_sqlite_failed_record, lambda_events_sqs_aws_failed_record;
    sqs_batch_discards_unknown_jobs => lambda_events_sqs_sqlite_unknown_jobs, lambda_events_sqs_aws_unknown_jobs;
    schedule_event_sweeps => lambda_events_schedule_sqlite_sweeps, lambda_events_schedule_aws_sweeps;
}

/// TPGateway up: every record is handled, none reported for retry.
async fn sqs_batch_all_synced(sys: TestSystem) {
    let (runs, messages) = three_runs(&sys).await;
    let event = sqs_event(&messages);
    let response = tms_runtime::sqs_events::handle_event(&sys.app, event.clone()).await;
    assert_eq!(
        serde_json::to_value(&response).expect("JSON"),
        json!({ "batchItemFailures": [] })
    );
    for i in 0..3 {
        let j = job(&sys, &job_of_record(&event, i)).await;
        assert_eq!(j.status, 200, "{:?}", j.body);
        assert_eq!(j.body["status"], "succeeded", "{:?}", j.body);
    }
    assert_eq!(sys.fake().accepted(Route::Publish), 3);
    settle_like_lambda(&sys, &event, &response, 3).await;
    // The follow-up jobs (session ids) the batch enqueued.
    sys.work().await;
    for id in &runs {
        assert_eq!(run_status(&sys, id).await, "synced");
    }
    let fake_runs = sys.fake().runs();
    assert_eq!(fake_runs.len(), 3);
    assert!(
        fake_runs.iter().all(|r| r.publish_count == 1),
        "{fake_runs:?}"
    );
    assert_eq!(sys.message_counts().await, (0, 0));
}

/// TPGateway fails one publish: exactly that record is reported for retry
/// (by its messageId), its job queued again; the retry syncs it once.
async fn sqs_batch_reports_the_failed_record(sys: TestSystem) {
    sys.fake().inject(Route::Publish, Fault::Status(503), 1);
    let (runs, messages) = three_runs(&sys).await;
    let event = sqs_event(&messages);
    let response = tms_runtime::sqs_events::handle_event(&sys.app, event.clone()).await;

    let mut not_done = Vec::new();
    for i in 0..3 {
        let j = job(&sys, &job_of_record(&event, i)).await;
        assert_eq!(j.status, 200, "{:?}", j.body);
        if j.body["status"] != "succeeded" {
            assert_eq!(j.body["status"], "queued", "{:?}", j.body);
            assert_eq!(j.body["attempts"], 1);
            assert!(j.body["last_error"].is_string(), "{:?}", j.body);
            not_done.push(message_id(&event, i));
        }
    }
    assert_eq!(not_done.len(), 1, "one publish failed");
    assert_eq!(
        serde_json::to_value(&response).expect("JSON"),
        json!({ "batchItemFailures": [{ "itemIdentifier": not_done[0] }] })
    );
    assert_eq!(sys.fake().accepted(Route::Publish), 2);

    settle_like_lambda(&sys, &event, &response, 3).await;
    sys.work().await;
    for id in &runs {
        assert_eq!(run_status(&sys, id).await, "synced");
    }
    assert_eq!(sys.fake().accepted(Route::Publish), 3);
    let fake_runs = sys.fake().runs();
    assert!(
        fake_runs.iter().all(|r| r.publish_count == 1),
        "{fake_runs:?}"
    );
    assert_eq!(sys.message_counts().await, (0, 0));
}

/// A record whose job does not exist (or whose body is no job reference)
/// is discarded, not retried; the real record beside it is handled.
async fn sqs_batch_discards_unknown_jobs(sys: TestSystem) {
    let (run_id, _) = sys.create_run(&crate::api::run_body()).await;
    let messages = sys.receive_all().await;
    assert_eq!(messages.len(), 1);
    let mut event = sqs_event(&messages);
    // Record 1 keeps the fixture's job id; record 2 carries no job at all.
    event.records[2].body = Some("{}".into());
    let response = tms_runtime::sqs_events::handle_event(&sys.app, event.clone()).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "{:?}",
        response.batch_item_failures
    );
    assert_eq!(job_of_record(&event, 1), FIXTURE_JOB_IDS[1]);
    assert_eq!(job(&sys, FIXTURE_JOB_IDS[1]).await.status, 404);
    let real = job(&sys, &job_of_record(&event, 0)).await;
    assert_eq!(real.body["status"], "succeeded", "{:?}", real.body);
    assert_eq!(sys.fake().accepted(Route::Publish), 1);

    settle_like_lambda(&sys, &event, &response, 1).await;
    sys.work().await;
    assert_eq!(run_status(&sys, &run_id).await, "synced");
    assert_eq!(sys.message_counts().await, (0, 0));
}

// ---------------------------------------------------------------------------
// The sweeper's schedule.

/// The scheduled event as EventBridge sends it. The sweeper takes it as a
/// `serde_json::Value` and ignores it.
fn schedule_fixture() -> Value {
    let v: Value = serde_json::from_str(&fixture(SCHEDULE_EVENT))
        .unwrap_or_else(|e| panic!("{SCHEDULE_EVENT}.json: {e}"));
    assert_eq!(v["source"], "aws.events");
    assert_eq!(v["detail-type"], "Scheduled Event");
    assert!(v["resources"][0]
        .as_str()
        .is_some_and(|r| r.starts_with("arn:aws:events:")));
    v
}

/// The sweep the schedule runs: nothing due at first; a job whose message
/// was lost is re-enqueued once the enqueue grace has passed, once.
async fn schedule_event_sweeps(sys: TestSystem) {
    let _event: Value = schedule_fixture();
    let cfg = tms_tests::test_config();
    let quiet = json!({ "found": 0, "enqueued": 0, "not_sent": 0 });
    let report = tms_runtime::sweep(&sys.app, &cfg).await.expect("sweep");
    assert_eq!(report, quiet);

    let (run_id, _) = sys.create_run(&crate::api::run_body()).await;
    // The message is lost.
    for m in sys.receive_all().await {
        sys.app
            .queue
            .delete(tms_ports::QueueName::Main, &m.receipt_handle)
            .await
            .expect("delete");
    }
    // Within the enqueue grace the job is not due yet.
    let report = tms_runtime::sweep(&sys.app, &cfg).await.expect("sweep");
    assert_eq!(report, quiet);

    let later = tms_app::App {
        clock: std::sync::Arc::new(crate::api::LaterClock(chrono::Duration::seconds(
            tms_domain::sync::ENQUEUE_GRACE_SECS + 1,
        ))),
        ..sys.app.clone()
    };
    let report = tms_runtime::sweep(&later, &cfg).await.expect("sweep");
    assert_eq!(report, json!({ "found": 1, "enqueued": 1, "not_sent": 0 }));
    // Pushed forward by TMS_REQUEUE_AFTER_SECS: not offered twice in a row.
    let report = tms_runtime::sweep(&later, &cfg).await.expect("sweep");
    assert_eq!(report, quiet);

    assert!(sys.work().await >= 1);
    assert_eq!(run_status(&sys, &run_id).await, "synced");
    assert_eq!(sys.fake().accepted(Route::Publish), 1);
    assert_eq!(sys.message_counts().await, (0, 0));
}

// ---------------------------------------------------------------------------
// The HTTP API's Lambda authorizer, and a request it let through.

const ADMIN_EMAIL: &str = "admin@example.sg";
const ADMIN_PASSWORD: &str = "a long manager passphrase";

/// The authorizer fixture as API Gateway sends it (payload 2.0), with
/// `Bearer <token>` in its Authorization header (and identity source), or
/// without the header.
fn authorizer_event(token: Option<&str>) -> ApiGatewayV2CustomAuthorizerV2Request {
    let mut v: Value = serde_json::from_str(&fixture(AUTHORIZER_EVENT))
        .unwrap_or_else(|e| panic!("{AUTHORIZER_EVENT}.json: {e}"));
    assert_eq!(v["version"], "2.0");
    assert_eq!(v["type"], "REQUEST");
    let placeholder = format!("Bearer {TOKEN_PLACEHOLDER}");
    assert_eq!(v["headers"]["authorization"], json!(placeholder));
    assert_eq!(v["identitySource"], json!([placeholder]));
    match token {
        Some(t) => {
            let header = json!(format!("Bearer {t}"));
            v["headers"]["authorization"] = header.clone();
            v["identitySource"] = json!([header]);
        }
        None => {
            v["headers"]
                .as_object_mut()
                .expect("headers")
                .remove("authorization");
            v["identitySource"] = json!([]);
        }
    }
    serde_json::from_value(v).unwrap_or_else(|e| {
        panic!("{AUTHORIZER_EVENT}.json is not an HTTP API authorizer request: {e}")
    })
}

/// The list-users fixture for the users function, its authorizer context
/// replaced (`None`: no authorizer context at all).
async fn list_users(sys: &TestSystem, context: Option<&Value>) -> Reply {
    use tower::ServiceExt;
    let mut v: Value = serde_json::from_str(&fixture(LIST_USERS_EVENT)).expect("JSON");
    assert_eq!(
        v["requestContext"]["authorizer"]["lambda"],
        json!({ "user_id": USER_PLACEHOLDER, "roles": "admin" }),
        "the fixture carries what the authorizer answers"
    );
    match context {
        Some(c) => v["requestContext"]["authorizer"]["lambda"] = c.clone(),
        None => {
            v["requestContext"]
                .as_object_mut()
                .expect("requestContext")
                .remove("authorizer");
        }
    }
    let req = lambda_http::request::from_str(&v.to_string())
        .unwrap_or_else(|e| panic!("{LIST_USERS_EVENT}.json is not an API Gateway event: {e}"));
    let router = tms_http::router_of(
        sys.app.clone(),
        tms_http::ActorSource::Authorizer,
        tms_http::Resource::Users.mount_fn(),
    );
    read_reply(router.oneshot(req).await.expect("infallible")).await
}

on_both_engines! {
    systems;
    authorizer_lets_a_signed_in_admin_list_users => lambda_events_authorizer_sqlite, lambda_events_authorizer_aws;
}

/// A real admin signs in; the authorizer allows their access token with
/// their id and roles in the context (the simple response's wire form);
/// that context, in the list-users request, lists the users (200), and
/// the same request without it is 401. A token signed with another key,
/// an expired one, a malformed header or none at all is refused.
async fn authorizer_lets_a_signed_in_admin_list_users(sys: TestSystem) {
    let created = sys
        .app
        .ensure_admin(ADMIN_EMAIL, Password::new(ADMIN_PASSWORD))
        .await
        .expect("the first admin");
    assert!(created);
    let pair = sys
        .app
        .login(LoginInput {
            email: Some(ADMIN_EMAIL.into()),
            password: Some(Password::new(ADMIN_PASSWORD)),
        })
        .await
        .expect("sign in");

    let allowed = authorize(&sys.app.auth, &authorizer_event(Some(&pair.access_token))).await;
    assert!(allowed.is_authorized);
    let wire = serde_json::to_value(&allowed).expect("JSON");
    assert_eq!(wire["isAuthorized"], true, "{wire}");
    assert_eq!(wire["context"]["roles"], "admin", "{wire}");
    let user_id = wire["context"]["user_id"]
        .as_str()
        .expect("user_id in the context")
        .to_string();
    assert!(
        <tms_domain::ids::UserId as tms_domain::TypedId>::parse(&user_id).is_ok(),
        "{user_id}"
    );

    // The request API Gateway then sends the users function.
    let listed = list_users(&sys, Some(&allowed.context)).await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    assert_eq!(listed.header("x-correlation-id"), Some("evt-list-users"));
    let items = listed.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["id"], json!(user_id));
    assert_eq!(items[0]["email"], ADMIN_EMAIL);
    // The fixture as it is, with the real user's id.
    let fixture_context = json!({ "user_id": user_id, "roles": "admin" });
    assert_eq!(list_users(&sys, Some(&fixture_context)).await.status, 200);
    // No authorizer context: no actor, whatever the Authorization header.
    let anonymous = list_users(&sys, None).await;
    assert_eq!(anonymous.status, 401, "{:?}", anonymous.body);
    assert_eq!(
        anonymous.header("content-type"),
        Some("application/problem+json")
    );

    // Refused: no header, a malformed one, the placeholder, another key's
    // token, an expired token.
    let refused = |r: &ApiGatewayV2CustomAuthorizerSimpleResponse| {
        !r.is_authorized && r.context.as_object().is_none_or(|c| c.is_empty())
    };
    let none = authorize(&sys.app.auth, &authorizer_event(None)).await;
    assert!(refused(&none), "{none:?}");
    let mut basic = authorizer_event(None);
    basic.headers.insert(
        http::header::AUTHORIZATION,
        http::HeaderValue::from_static("Basic YWRtaW46cGFzcw=="),
    );
    assert!(refused(&authorize(&sys.app.auth, &basic).await));
    let placeholder = authorize(&sys.app.auth, &authorizer_event(Some(TOKEN_PLACEHOLDER))).await;
    assert!(refused(&placeholder), "the fixture as it is is refused");

    let other_keys = tms_runtime::auth_keys(&tms_tests::test_config(), None);
    let wrong_key = authorize(&other_keys, &authorizer_event(Some(&pair.access_token))).await;
    assert!(refused(&wrong_key), "a token signed with another key");

    let key = sys.app.auth.key().await.expect("the signing key");
    let settings = &sys.app.auth.settings;
    let long_ago = chrono::Utc::now().timestamp() - 3600;
    let expired = jwt::sign(
        &key,
        &Claims {
            sub: user_id.clone(),
            roles: vec!["admin".into()],
            iss: settings.issuer.clone(),
            aud: settings.audience.clone(),
            iat: long_ago,
            nbf: long_ago,
            exp: long_ago + 900,
            jti: uuid::Uuid::new_v4().to_string(),
        },
    );
    let late = authorize(&sys.app.auth, &authorizer_event(Some(&expired))).await;
    assert!(refused(&late), "an expired token");
    // The same claims, still valid: allowed (the refusal was the expiry).
    let now = chrono::Utc::now().timestamp();
    let fresh = jwt::sign(
        &key,
        &Claims {
            sub: user_id,
            roles: vec!["admin".into()],
            iss: settings.issuer.clone(),
            aud: settings.audience.clone(),
            iat: now,
            nbf: now,
            exp: now + 900,
            jti: uuid::Uuid::new_v4().to_string(),
        },
    );
    assert!(
        authorize(&sys.app.auth, &authorizer_event(Some(&fresh)))
            .await
            .is_authorized
    );
}
