//! `GET /audit-logs` by entity, by actor and by day, on both engine sets:
//! newest first, paginated with cursors that cannot be moved to another
//! listing, one listing at a time.

use serde_json::Value;
use tms_tests::{on_both_engines, TestSystem, TEST_ACTOR};

use crate::api::run_body;

on_both_engines! {
    systems;
    audit_by_actor_and_by_day => audit_sqlite_by_actor_and_day, audit_aws_by_actor_and_day;
}

fn actions(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["action"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

async fn audit_by_actor_and_by_day(sys: TestSystem) {
    let (a, _) = sys.create_run(&run_body()).await;
    let (b, _) = sys.create_run(&run_body()).await;
    let mine = sys.get(&format!("/audit-logs?actor_id={TEST_ACTOR}")).await;
    assert_eq!(mine.status, 200, "{:?}", mine.body);
    let items = mine.body["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 2, "{items:?}");
    // Newest first.
    assert_eq!(items[0]["entity_id"], Value::from(b.clone()));
    assert_eq!(items[1]["entity_id"], Value::from(a.clone()));
    assert!(items.iter().all(|i| i["actor_id"] == TEST_ACTOR));
    assert_eq!(
        actions(
            &sys.get("/audit-logs?actor_id=system:sync-worker")
                .await
                .body
        ),
        Vec::<String>::new()
    );

    let day = chrono::Utc::now().date_naive();
    let today = sys.get(&format!("/audit-logs?day={day}&limit=1")).await;
    assert_eq!(today.status, 200, "{:?}", today.body);
    assert_eq!(today.body["items"][0]["entity_id"], Value::from(b.clone()));
    let cursor = today.body["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_string();
    let next = sys
        .get(&format!("/audit-logs?day={day}&limit=1&cursor={cursor}"))
        .await;
    assert_eq!(next.status, 200, "{:?}", next.body);
    assert_eq!(next.body["items"][0]["entity_id"], Value::from(a.clone()));
    // A day's cursor is not an actor's, nor another day's.
    let moved = sys
        .get(&format!(
            "/audit-logs?actor_id={TEST_ACTOR}&cursor={cursor}"
        ))
        .await;
    assert_eq!(moved.status, 400, "{:?}", moved.body);
    assert_eq!(moved.error_fields(), ["cursor"]);
    let other_day = sys
        .get(&format!("/audit-logs?day=2000-01-01&cursor={cursor}"))
        .await;
    assert_eq!(other_day.status, 400);
    let empty = sys.get("/audit-logs?day=2000-01-01").await;
    assert_eq!(empty.body["items"], Value::Array(Vec::new()));

    // One listing at a time; each asked for properly.
    for (q, field) in [
        (format!("actor_id={TEST_ACTOR}&day={day}"), "day"),
        (
            format!("actor_id={TEST_ACTOR}&entity_type=course_run&entity_id={a}"),
            "actor_id",
        ),
        ("".to_string(), "entity_type"),
        (format!("entity_id={a}"), "entity_type"),
        ("actor_id=Bad%20Actor".to_string(), "actor_id"),
        ("day=2025-02-30".to_string(), "day"),
    ] {
        let r = sys.get(&format!("/audit-logs?{q}")).await;
        assert_eq!(r.status, 400, "{q}: {:?}", r.body);
        assert!(
            r.error_fields().contains(&field.to_string()),
            "{q}: {:?}",
            r.body
        );
    }
}
