//! The sample events in events/ fed through the Lambda conversion
//! (`lambda_http::request::from_str`, what the runtime applies to an API
//! Gateway HTTP API event) and the function's router, in the order a person
//! would send them, on both engine sets.

use serde_json::Value;
use tms_tests::{read_reply, Engine, Reply, TestSystem};

const RUN_PLACEHOLDER: &str = "00000000-0000-4000-8000-000000000001";
const SESSION_PLACEHOLDER: &str = "00000000-0000-4000-8000-000000000002";

fn event(name: &str, run_id: &str, session_id: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(format!("{name}.json"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .replace(RUN_PLACEHOLDER, run_id)
        .replace(SESSION_PLACEHOLDER, session_id)
}

async fn invoke(sys: &TestSystem, name: &str, run_id: &str, session_id: &str) -> Reply {
    use tower::ServiceExt;
    let req = lambda_http::request::from_str(&event(name, run_id, session_id))
        .unwrap_or_else(|e| panic!("{name}.json is not an API Gateway event: {e}"));
    let res = sys.router.clone().oneshot(req).await.expect("infallible");
    read_reply(res).await
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
}

#[tokio::test]
async fn lambda_events_sqlite() {
    walk_the_events(TestSystem::start(Engine::Sqlite).await).await;
}

#[tokio::test]
async fn lambda_events_aws() {
    walk_the_events(TestSystem::start(Engine::Aws).await).await;
}

/// Every file in events/ is a valid HTTP API event this test knows about.
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
    let known = [
        "add-session",
        "cancel-course-run",
        "create-course-run",
        "create-course-run-invalid",
        "get-course-run",
        "list-audit-logs",
        "list-course-runs",
        "remove-session",
        "update-course-run",
        "update-session",
    ];
    assert_eq!(names, known);
    for n in known {
        assert!(
            lambda_http::request::from_str(&event(n, RUN_PLACEHOLDER, SESSION_PLACEHOLDER)).is_ok(),
            "{n}"
        );
    }
}
