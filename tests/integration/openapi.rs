//! The OpenAPI document: the committed docs/openapi.json is the generated
//! one, the served one is too, and every documented operation, sent one
//! valid request (on both engine sets), answers its documented success
//! status with the documented headers and a body valid against the
//! document's schema; without a token, a documented problem+json.
//!
//! After changing a route or a type it answers, write the file again:
//! `TMS_WRITE_OPENAPI=1 cargo test -p tms-tests --test integration openapi_committed`.

use serde_json::{json, Value};
use tms_domain::access::Role;
use tms_http::routes::RouteDoc;
use tms_tests::{on_both_engines, Reply, TestSystem};

use crate::auth::{admin, login, send, tokens, user_with, Targets};

on_both_engines! {
    systems;
    every_operation_answers_as_documented => openapi_sqlite_operations, openapi_aws_operations;
}

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");

#[test]
fn openapi_committed_file_is_the_generated_one() {
    let generated = tms_http::openapi::generated_json();
    if std::env::var("TMS_WRITE_OPENAPI").as_deref() == Ok("1") {
        std::fs::write(COMMITTED, &generated).expect("write docs/openapi.json");
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is not the document the code generates; write it again with \
         TMS_WRITE_OPENAPI=1 cargo test -p tms-tests --test integration openapi_committed"
    );
}

/// The password lengths the document states are the policy's.
#[test]
fn openapi_password_lengths_are_the_policy() {
    let doc: Value = serde_json::from_str(tms_http::openapi::document_json()).expect("json");
    let p = &doc["components"]["schemas"]["UserInput"]["properties"]["password"];
    assert_eq!(p["minLength"], json!(tms_auth::password::MIN_LEN), "{p}");
    assert_eq!(p["maxLength"], json!(tms_auth::password::MAX_LEN), "{p}");
}

/// A JSON pointer token (RFC 6901).
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Validates `instance` against the schema at `pointer` in `doc` (its
/// references resolved within the document), with formats checked.
fn check(doc: &Value, pointer: &str, instance: &Value) -> Result<(), String> {
    // The schema itself as the root, beside the components it refers to.
    let mut root = doc
        .pointer(pointer)
        .cloned()
        .ok_or_else(|| format!("no schema at {pointer}"))?;
    root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    root["components"] = doc["components"].clone();
    let validator = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&root)
        .map_err(|e| format!("schema at {pointer} does not compile: {e}"))?;
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// The response `r` checked against the operation's documented response
/// for its status: declared, its headers present, its body valid.
fn conforms(doc: &Value, route: &RouteDoc, r: &Reply) -> Result<(), String> {
    let method = route.method.as_str().to_ascii_lowercase();
    let op_ptr = format!("/paths/{}/{method}", escape(route.path));
    let status = r.status.to_string();
    let mut res_ptr = format!("{op_ptr}/responses/{status}");
    let mut res = doc
        .pointer(&res_ptr)
        .ok_or_else(|| format!("status {status} is not documented"))?
        .clone();
    if let Some(target) = res.get("$ref").and_then(Value::as_str) {
        res_ptr = target.trim_start_matches('#').to_string();
        res = doc.pointer(&res_ptr).cloned().unwrap_or_default();
    }
    for (name, _) in res["headers"].as_object().into_iter().flatten() {
        let optional = name == "Idempotent-Replayed" || (name == "Retry-After" && r.status == 409);
        if !optional && r.header(name).is_none() {
            return Err(format!("header {name} is documented but missing"));
        }
    }
    match res["content"].as_object() {
        None => {
            if !r.body.is_null() {
                return Err(format!("a body is not documented: {}", r.body));
            }
        }
        Some(content) => {
            let got = r.header("content-type").unwrap_or_default();
            let (media, _) = content
                .iter()
                .find(|(m, _)| got.starts_with(m.as_str()))
                .ok_or_else(|| format!("content-type {got} is not documented"))?;
            check(
                doc,
                &format!("{res_ptr}/content/{}/schema", escape(media)),
                &r.body,
            )?;
        }
    }
    Ok(())
}

/// One valid request per documented operation, as a user holding the Admin
/// role (public routes with what they need: credentials, a refresh token).
async fn every_operation_answers_as_documented(sys: TestSystem) {
    let doc: Value = serde_json::from_str(tms_http::openapi::document_json()).expect("json");
    let (admin_token, _) = admin(&sys).await;
    let (_, token) = user_with(&sys, &admin_token, &[Role::Admin], 1).await;
    let (target_user, _) = user_with(&sys, &admin_token, &[Role::Auditor], 2).await;
    let routes = tms_http::route_docs(&tms_http::Resource::ALL);
    let mut failures = Vec::new();
    let mut targets: Option<Targets> = None;
    for (n, route) in routes.iter().enumerate() {
        // Each request body is valid against its documented schema too.
        let method = route.method.as_str().to_ascii_lowercase();
        let op_ptr = format!("/paths/{}/{method}", escape(route.path));
        if targets.is_none() {
            targets = Some(Targets::make(&sys, &admin_token, &target_user).await);
        }
        let Some(t) = &targets else { continue };
        let mut prepared = t.request_for(&sys, &admin_token, route, n).await;
        match route.path {
            "/auth/login" => {
                prepared.body = Some(json!({"email": "user1@example.sg",
                                            "password": "their own passphrase"}));
            }
            "/auth/refresh" | "/auth/logout" => {
                let l = login(&sys, "user1@example.sg", "their own passphrase").await;
                prepared.body = Some(json!({"refresh_token": tokens(&l).1}));
            }
            _ => {}
        }
        if let Some(body) = &prepared.body {
            let ptr = format!("{op_ptr}/requestBody/content/application~1json/schema");
            if let Err(e) = check(&doc, &ptr, body) {
                failures.push(format!("{} {} request body: {e}", route.method, route.path));
            }
        }
        let h: Vec<(&str, &str)> = prepared
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let bearer = if route.public {
            None
        } else {
            Some(token.as_str())
        };
        let r = send(
            &sys,
            bearer,
            route.method.as_str(),
            &prepared.uri,
            &h,
            prepared.body.as_ref(),
        )
        .await;
        if r.status != route.response.status {
            failures.push(format!(
                "{} {}: want {}, got {} {}",
                route.method, route.path, route.response.status, r.status, r.body
            ));
        } else if let Err(e) = conforms(&doc, route, &r) {
            failures.push(format!("{} {} {}: {e}", route.method, route.path, r.status));
        }
        if route.method != "GET" {
            targets = None;
        }
        if route.path == "/users/me/password" && r.status == 204 {
            let _ = send(
                &sys,
                Some(&token),
                "POST",
                "/users/me/password",
                &[],
                Some(&json!({"old_password": "their own passphrase 2",
                             "new_password": "their own passphrase"})),
            )
            .await;
        }
        // Without a token: the documented 401 problem.
        if !route.public {
            let r = send(
                &sys,
                None,
                route.method.as_str(),
                &prepared.uri,
                &h,
                prepared.body.as_ref(),
            )
            .await;
            if r.status != 401 {
                failures.push(format!(
                    "{} {} without a token: {}",
                    route.method, route.path, r.status
                ));
            } else if let Err(e) = conforms(&doc, route, &r) {
                failures.push(format!("{} {} 401: {e}", route.method, route.path));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} operations do not answer as documented:\n{}",
        failures.len(),
        routes.len(),
        failures.join("\n")
    );
    println!(
        "openapi: {} operations answered as documented",
        routes.len()
    );
}
