//! The bad-input suite: every route the routers mount (read from their
//! declarations, `tms_http::route_docs`, never from a hand-kept list) gets
//! a shared corpus of bad requests, and each must answer a 4xx
//! problem+json naming the field at fault, having written nothing (every
//! item's key and version, and the queue's message counts, compared before
//! and after each case). On both engine sets. A route is covered the day it
//! is mounted.

use serde_json::{json, Value};
use tms_http::routes::RouteDoc;
use tms_tests::{on_both_engines, TestSystem};

/// One bad request and the field its answer must name.
struct Case {
    what: String,
    method: String,
    uri: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    field: String,
}

/// A step of a JSON path.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

fn field_name(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) if out.is_empty() => out.push_str(k),
            Step::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Every leaf (a non-object, non-array value) of a document, with its path.
fn leaves(v: &Value, path: &mut Vec<Step>, out: &mut Vec<(Vec<Step>, Value)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                path.push(Step::Key(k.clone()));
                leaves(x, path, out);
                path.pop();
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                path.push(Step::Index(i));
                leaves(x, path, out);
                path.pop();
            }
        }
        _ => out.push((path.clone(), v.clone())),
    }
}

/// Every object of a document (the document itself included), with its path.
fn objects(v: &Value, path: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    match v {
        Value::Object(m) => {
            out.push(path.clone());
            for (k, x) in m {
                path.push(Step::Key(k.clone()));
                objects(x, path, out);
                path.pop();
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                path.push(Step::Index(i));
                objects(x, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn at<'a>(v: &'a mut Value, path: &[Step]) -> &'a mut Value {
    path.iter().fold(v, |v, step| match step {
        Step::Key(k) => &mut v[k.as_str()],
        Step::Index(i) => &mut v[*i],
    })
}

fn with(doc: &Value, path: &[Step], value: Value) -> Value {
    let mut d = doc.clone();
    *at(&mut d, path) = value;
    d
}

const RAW: &str = "__raw_number__";

/// The body of a case: a document, or text with a raw number spliced in.
fn text(doc: &Value, raw: Option<&str>) -> Vec<u8> {
    let t = doc.to_string();
    match raw {
        Some(r) => t.replace(&format!("\"{RAW}\""), r).into_bytes(),
        None => t.into_bytes(),
    }
}

fn is_date(s: &str) -> bool {
    s.len() == 10 && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-'
}

fn is_time(s: &str) -> bool {
    s.len() == 5 && s.as_bytes()[2] == b':'
}

/// A value of another JSON type than `v`.
fn other_type(v: &Value) -> Value {
    match v {
        Value::String(_) => json!(12345),
        Value::Number(_) => json!("12345"),
        Value::Bool(_) => json!("true"),
        Value::Null => json!([1]),
        Value::Array(_) => json!({"a": 1}),
        Value::Object(_) => json!("x"),
    }
}

/// The shared corpus for one route.
fn corpus(doc: &RouteDoc, uri: &str, base_headers: &[(String, String)]) -> Vec<Case> {
    let method = doc.method.as_str().to_string();
    let json_type = ("content-type".to_string(), "application/json".to_string());
    let mut cases = Vec::new();
    let example = doc.body.map(|b| (b.example)());
    let base_body = example.as_ref().map(|e| e.to_string().into_bytes());
    let case =
        |what: String, headers: Vec<(String, String)>, body: Option<Vec<u8>>, field: &str| Case {
            what,
            method: method.clone(),
            uri: uri.to_string(),
            headers,
            body,
            field: field.to_string(),
        };
    let mut headers = base_headers.to_vec();
    if doc.body.is_some() {
        headers.push(json_type.clone());
    }

    if let (Some(body), Some(example)) = (doc.body, &example) {
        let raw_bodies: Vec<(&str, Vec<u8>)> = vec![
            ("malformed JSON", b"{\"title\": ".to_vec()),
            ("truncated JSON", {
                let t = example.to_string();
                t.as_bytes()[..t.len() / 2].to_vec()
            }),
            ("trailing data", format!("{example} x").into_bytes()),
            ("two documents", format!("{example} {example}").into_bytes()),
            ("invalid UTF-8", b"{\"title\": \"\xff\xfe\"}".to_vec()),
            ("array body", b"[]".to_vec()),
            ("string body", b"\"text\"".to_vec()),
            ("number body", b"42".to_vec()),
            ("null body", b"null".to_vec()),
        ];
        for (what, bytes) in raw_bodies {
            cases.push(case(what.into(), headers.clone(), Some(bytes), "body"));
        }
        let mut objs = Vec::new();
        objects(example, &mut Vec::new(), &mut objs);
        for path in objs {
            let mut d = example.clone();
            if let Some(o) = at(&mut d, &path).as_object_mut() {
                o.insert("zzz_unknown".into(), json!(1));
            }
            let mut p = path.clone();
            p.push(Step::Key("zzz_unknown".into()));
            cases.push(case(
                format!("unknown field {}", field_name(&p)),
                headers.clone(),
                Some(text(&d, None)),
                &field_name(&p),
            ));
        }
        // A duplicate key: the first member written twice.
        if let Some((k, v)) = example.as_object().and_then(|o| o.iter().next()) {
            let rest = example.to_string();
            let dup = format!("{{\"{k}\":{v},{}", &rest[1..]);
            cases.push(case(
                format!("duplicate key {k}"),
                headers.clone(),
                Some(dup.into_bytes()),
                k,
            ));
        }
        let mut all = Vec::new();
        leaves(example, &mut Vec::new(), &mut all);
        for (path, value) in all {
            let name = field_name(&path);
            let top_level = path.len() == 1;
            let mut push = |what: String, doc: Value, raw: Option<&str>| {
                cases.push(case(
                    format!("{name}: {what}"),
                    headers.clone(),
                    Some(text(&doc, raw)),
                    &name,
                ));
            };
            push(
                "wrong type".into(),
                with(example, &path, other_type(&value)),
                None,
            );
            if !top_level || body.required.contains(&name.as_str()) {
                push("null".into(), with(example, &path, Value::Null), None);
            }
            match &value {
                Value::String(s) => {
                    for c in [
                        '\u{0}', '\u{7}', '\u{202e}', '\u{200b}', '\u{2028}', '\u{2029}',
                        '\u{feff}', '\u{a0}',
                    ] {
                        push(
                            format!("character U+{:04X}", c as u32),
                            with(example, &path, json!(format!("{s}{c}"))),
                            None,
                        );
                    }
                    push(
                        "over-long".into(),
                        with(example, &path, json!("x".repeat(5000))),
                        None,
                    );
                    if is_date(s) {
                        for bad in [
                            "+025-01-15",
                            "-001-01-01",
                            " 2025-01-15",
                            "2025-1-15",
                            "2025-01-15 ",
                            "20250115",
                            "2025-02-30",
                        ] {
                            push(
                                format!("date {bad:?}"),
                                with(example, &path, json!(bad)),
                                None,
                            );
                        }
                    }
                    if is_time(s) {
                        for bad in [" 9:00", "9:00", "09:00:00", "+9:00", "24:00", "09:60"] {
                            push(
                                format!("time {bad:?}"),
                                with(example, &path, json!(bad)),
                                None,
                            );
                        }
                    }
                }
                Value::Number(_) => {
                    for raw in [
                        "1e400",
                        "-1e400",
                        "-1",
                        "1.5",
                        "4294967296",
                        "99999999999999999999999",
                        "1e30",
                    ] {
                        push(
                            format!("number {raw}"),
                            with(example, &path, json!(RAW)),
                            Some(raw),
                        );
                    }
                }
                _ => {}
            }
        }
        let mut plain = base_headers.to_vec();
        plain.push(("content-type".into(), "text/plain".into()));
        cases.push(case(
            "not JSON".into(),
            plain,
            base_body.clone(),
            "Content-Type",
        ));
        let mut declared = headers.clone();
        declared.push(("content-length".into(), "10000000".into()));
        cases.push(case(
            "declared Content-Length over the limit".into(),
            declared,
            base_body.clone(),
            "body",
        ));
    }

    if doc.if_match {
        let without: Vec<_> = headers
            .iter()
            .filter(|(k, _)| k != "if-match")
            .cloned()
            .collect();
        cases.push(case(
            "no If-Match".into(),
            without.clone(),
            base_body.clone(),
            "If-Match",
        ));
        for bad in [
            "1", "\"01\"", "W/\"1\"", "\"+1\"", "\"1\" x", "*1", "\"1", "\"1\"\"", "\" 1\"",
        ] {
            let mut h = without.clone();
            h.push(("if-match".into(), bad.into()));
            cases.push(case(
                format!("If-Match {bad}"),
                h,
                base_body.clone(),
                "If-Match",
            ));
        }
    }
    if doc.idempotent {
        for bad in [
            String::new(),
            "k".repeat(256),
            "a b".into(),
            "k\u{e9}y".into(),
        ] {
            let mut h = headers.clone();
            h.push(("idempotency-key".into(), bad.clone()));
            cases.push(case(
                format!("Idempotency-Key {bad:.20?}"),
                h,
                base_body.clone(),
                "Idempotency-Key",
            ));
        }
    }
    for param in doc.path_params() {
        for bad in [
            "%FF%FE",
            "NOT-A-UUID",
            "0193A4E2-7C1B-7D3E-9A51-2B7F00C0FFEE",
            "0193a4e2-7c1b-7d3e-9a51-2b7f00c0ffee-x",
        ] {
            cases.push(Case {
                uri: replace_param(doc, uri, param, bad),
                ..case(
                    format!("path {param} {bad}"),
                    headers.clone(),
                    base_body.clone(),
                    param,
                )
            });
        }
        let long = "a".repeat(600);
        cases.push(Case {
            uri: replace_param(doc, uri, param, &long),
            ..case(
                format!("path {param} over-long"),
                headers.clone(),
                base_body.clone(),
                param,
            )
        });
    }
    for param in doc.query {
        let base = doc.query_example;
        let sep = if base.is_empty() { "" } else { "&" };
        let without: Vec<&str> = base
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with(&format!("{param}=")))
            .collect();
        let without = without.join("&");
        let sep2 = if without.is_empty() { "" } else { "&" };
        cases.push(Case {
            uri: format!("{uri}?{base}{sep}{param}=1&{param}=2"),
            ..case(format!("query {param} twice"), headers.clone(), None, param)
        });
        for bad in [
            "",
            "%2B025-01-15",
            "-001-01-01",
            "%E2%80%AE",
            "%FF",
            "-1",
            "1e400",
            "%20true",
        ] {
            cases.push(Case {
                uri: format!("{uri}?{without}{sep2}{param}={bad}"),
                ..case(format!("query {param}={bad}"), headers.clone(), None, param)
            });
        }
        let long = "x".repeat(3000);
        cases.push(Case {
            uri: format!("{uri}?{without}{sep2}{param}={long}"),
            ..case(
                format!("query {param} over-long"),
                headers.clone(),
                None,
                param,
            )
        });
    }
    if !doc.query.is_empty() {
        let base = doc.query_example;
        let sep = if base.is_empty() { "" } else { "&" };
        cases.push(Case {
            uri: format!("{uri}?{base}{sep}zzz_unknown=1"),
            ..case(
                "unknown query parameter".into(),
                headers.clone(),
                None,
                "zzz_unknown",
            )
        });
    }
    cases
}

/// The route's path with one parameter replaced (the others keep their
/// real values).
fn replace_param(doc: &RouteDoc, uri: &str, param: &str, value: &str) -> String {
    let params = doc.path_params();
    let mut out: Vec<String> = Vec::new();
    let mut real = uri.split('/');
    for seg in doc.path.split('/') {
        let r = real.next().unwrap_or_default();
        if seg == format!("{{{param}}}") && params.contains(&param) {
            out.push(value.to_string());
        } else {
            out.push(r.to_string());
        }
    }
    out.join("/")
}

async fn bad_input_suite(sys: TestSystem) {
    let (run_id, created) = sys
        .create_run(&tms_http::routes::course_runs::example_run())
        .await;
    let session_id = created.body["sessions"][0]["id"]
        .as_str()
        .expect("session id")
        .to_string();
    let user = sys
        .post("/users", &tms_http::routes::users::example_user(), &[])
        .await;
    assert_eq!(user.status, 201, "{:?}", user.body);
    let user_id = user.body["id"].as_str().expect("user id").to_string();
    let trainer = sys
        .post(
            "/trainers",
            &tms_http::routes::trainers::example_trainer(),
            &[],
        )
        .await;
    assert_eq!(trainer.status, 201, "{:?}", trainer.body);
    let trainer_id = trainer.body["id"].as_str().expect("trainer id").to_string();
    let trainee = sys
        .post(
            "/trainees",
            &tms_http::routes::trainees::example_trainee(),
            &[],
        )
        .await;
    assert_eq!(trainee.status, 201, "{:?}", trainee.body);
    let trainee_id = trainee.body["id"].as_str().expect("trainee id").to_string();
    let enrolment = sys
        .post(
            "/enrolments",
            &crate::auth::enrolment_body(&run_id, &trainee_id),
            &[],
        )
        .await;
    assert_eq!(enrolment.status, 201, "{:?}", enrolment.body);
    let enrolment_id = enrolment.body["id"]
        .as_str()
        .expect("enrolment id")
        .to_string();
    let assessment = sys
        .post(
            "/assessments",
            &crate::assessments::assessment_body(&enrolment_id),
            &[],
        )
        .await;
    assert_eq!(assessment.status, 201, "{:?}", assessment.body);
    let assessment_id = assessment.body["id"]
        .as_str()
        .expect("assessment id")
        .to_string();
    // Creating it queued a sync job: the queue's count is the baseline.
    let before = (sys.all_versions().await, sys.message_counts().await);
    let docs = tms_http::route_docs(&tms_http::Resource::ALL);
    let mut total = 0;
    let mut per_route = Vec::new();
    for doc in &docs {
        let id = if doc.path.starts_with("/users/") {
            &user_id
        } else if doc.path.starts_with("/trainers/") {
            &trainer_id
        } else if doc.path.starts_with("/trainees/") {
            &trainee_id
        } else if doc.path.starts_with("/enrolments/") {
            &enrolment_id
        } else if doc.path.starts_with("/sessions/") {
            &session_id
        } else if doc.path.starts_with("/assessments/") {
            &assessment_id
        } else {
            &run_id
        };
        let uri = doc
            .path
            .replace("{id}", id)
            .replace("{session_id}", &session_id)
            .replace("{enrolment_id}", &enrolment_id)
            .replace("{role}", "auditor");
        let mut base_headers = Vec::new();
        if doc.if_match {
            base_headers.push(("if-match".to_string(), "\"1\"".to_string()));
        }
        let cases = corpus(doc, &uri, &base_headers);
        per_route.push(format!("{} {}: {}", doc.method, doc.path, cases.len()));
        total += cases.len();
        for c in cases {
            let h: Vec<(&str, &str)> = c
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let r = sys.call(&c.method, &c.uri, &h, c.body.clone()).await;
            let label = format!("{} {} [{}]", c.method, doc.path, c.what);
            assert!(
                (400..500).contains(&r.status),
                "{label}: {} {:?}",
                r.status,
                r.body
            );
            assert_eq!(
                r.header("content-type"),
                Some("application/problem+json"),
                "{label}: {:?}",
                r.body
            );
            assert!(
                r.error_fields().contains(&c.field),
                "{label}: the answer must name {:?}: {} {:?}",
                c.field,
                r.status,
                r.body
            );
            let after = (sys.all_versions().await, sys.message_counts().await);
            assert!(after == before, "{label}: something was written");
        }
    }
    assert!(docs.len() >= 10, "every mounted route is in the suite");
    println!(
        "bad-input suite on {:?}: {} routes, {total} cases\n  {}",
        sys.engine,
        docs.len(),
        per_route.join("\n  ")
    );
}

on_both_engines! {
    systems;
    bad_input_suite => bad_input_sqlite_every_route, bad_input_aws_every_route;
}
