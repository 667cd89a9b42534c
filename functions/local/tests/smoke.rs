//! The real `tms-local` binary, started as a person starts it, driven over
//! TCP the way the README's curl tour does: create a run with sessions, see
//! it synced to the in-process fake TPGateway, list it, update it with
//! If-Match, 412 with a stale ETag, cancel it, read its audit trail. Plain
//! HTTP/1.1 over std's TcpStream: no client crate.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{json, Value};

mod common;
use common::{start as start_server, Server};

const FRONTEND: &str = "http://localhost:5173";

fn start() -> Server {
    start_server("smoke", &[("TMS_CORS_ORIGINS", FRONTEND.to_string())])
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn request(
    s: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Reply {
    let mut stream = TcpStream::connect(&s.addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        s.addr,
        body.len()
    );
    if !body.is_empty() {
        req.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    stream.write_all(req.as_bytes()).expect("write");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a response head");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: serde_json::from_str(body).unwrap_or(Value::Null),
    }
}

#[test]
fn the_readme_tour_against_the_real_binary() {
    let s = start();
    // A browser's preflight from the configured origin is allowed; from
    // another origin it is not.
    let preflight = |origin: &str| {
        request(
            &s,
            "OPTIONS",
            "/course-runs",
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", "POST"),
                (
                    "Access-Control-Request-Headers",
                    "authorization, content-type, idempotency-key",
                ),
            ],
            None,
        )
    };
    let allowed = preflight(FRONTEND);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some(FRONTEND)
    );
    assert!(allowed
        .header("access-control-allow-headers")
        .is_some_and(|h| h.contains("authorization")));
    assert_eq!(
        preflight("https://evil.example").header("access-control-allow-origin"),
        None
    );
    // The API's description, served without a token: the committed one.
    let described = request(&s, "GET", "/openapi.json", &[], None);
    assert_eq!(described.status, 200);
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/openapi.json"
        ))
        .expect("docs/openapi.json"),
    )
    .expect("json");
    assert_eq!(described.body, committed);
    // Sign in as the first Admin that tms-local created on its start.
    let unauthenticated = request(&s, "GET", "/course-runs", &[], None);
    assert_eq!(unauthenticated.status, 401);
    let login = request(
        &s,
        "POST",
        "/auth/login",
        &[],
        Some(&json!({"email": "admin@tms.local", "password": "change me before use"})),
    );
    assert_eq!(login.status, 200, "{:?}", login.body);
    assert_eq!(login.body["token_type"], "Bearer");
    let bearer = format!(
        "Bearer {}",
        login.body["access_token"].as_str().expect("access token")
    );
    let auth = ("Authorization", bearer.as_str());
    let run = json!({
        "course_ref": "TGS-2020000697", "title": "Workplace Safety",
        "registration_opening": "2025-01-01", "registration_closing": "2025-01-10",
        "start_date": "2025-01-15", "end_date": "2025-01-16",
        "delivery_mode": "classroom", "capacity": 20,
        "course_admin_email": "admin@example.sg",
        "venue": {"floor": "03", "unit": "01", "postal_code": "408533", "room": "R1"},
        "sessions": [{"session_date": "2025-01-15", "start_time": "09:00", "end_time": "18:00"}]
    });
    let created = request(
        &s,
        "POST",
        "/course-runs",
        &[auth, ("Idempotency-Key", "first-run")],
        Some(&run),
    );
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().expect("id").to_string();
    assert_eq!(
        created.header("location"),
        Some(format!("/course-runs/{id}").as_str())
    );
    assert_eq!(created.header("etag"), Some("\"1\""));
    assert_eq!(created.body["status"], "pending");

    // The worker syncs it to the in-process fake TPGateway: synced, with
    // TPGateway's run id and session ids. (A bound that only catches a hang.)
    let path = format!("/course-runs/{id}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let synced = loop {
        let r = request(&s, "GET", &path, &[auth], None);
        let sessions_known = r.body["sessions"]
            .as_array()
            .is_some_and(|a| a.iter().all(|s| s["external_id"].is_string()));
        if r.body["status"] == "synced" && sessions_known {
            break r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never synced: {:?}",
            r.body
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let tpg_run_id = synced.body["external_id"]
        .as_str()
        .expect("TPGateway run id");
    assert_eq!(
        synced.body["sessions"][0]["external_id"],
        json!(format!("TGS-2020000697-{tpg_run_id}-S1"))
    );

    let listed = request(
        &s,
        "GET",
        "/course-runs?status=synced&start_from=2025-01-01",
        &[auth],
        None,
    );
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["items"][0]["id"], json!(id));

    // The worker's records changed the run: its ETag is the current one.
    let etag = synced.header("etag").expect("etag").to_string();
    let change = json!({"title": "Workplace Safety (revised)"});
    let updated = request(
        &s,
        "PATCH",
        &path,
        &[auth, ("If-Match", &etag)],
        Some(&change),
    );
    assert_eq!(updated.status, 200, "{:?}", updated.body);
    let stale = request(
        &s,
        "PATCH",
        &path,
        &[auth, ("If-Match", &etag)],
        Some(&change),
    );
    assert_eq!(stale.status, 412);
    assert_eq!(
        stale.header("content-type"),
        Some("application/problem+json")
    );

    // The worker may record the edit's sync between a read and the cancel:
    // a client re-reads on 412 and tries again, as here.
    let mut cancelled = None;
    for _ in 0..5 {
        let current = request(&s, "GET", &path, &[auth], None);
        let r = request(
            &s,
            "POST",
            &format!("{path}/cancel"),
            &[auth, ("If-Match", current.header("etag").expect("etag"))],
            Some(&json!({"reason": "not enough trainees"})),
        );
        if r.status != 412 {
            cancelled = Some(r);
            break;
        }
    }
    let cancelled = cancelled.expect("a cancel that is not stale five times over");
    assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);
    assert_eq!(cancelled.body["status"], "cancelled");

    let audit = request(
        &s,
        "GET",
        &format!("/audit-logs?entity_type=course_run&entity_id={id}"),
        &[auth],
        None,
    );
    assert_eq!(audit.status, 200);
    // What people did, newest first (the worker's course_run.synced
    // records sit between them).
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|a| a["action"].as_str())
        .filter(|a| !a.starts_with("course_run.sync"))
        .collect();
    assert_eq!(
        actions,
        [
            "course_run.cancelled",
            "course_run.updated",
            "course_run.created"
        ]
    );
}
