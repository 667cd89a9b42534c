//! Sign-in and authorization end to end, on both engine sets, through the
//! router with the real token check (not the test helpers' fixed actor):
//! login, refresh rotation and reuse, logout, revocation, the sign-in limit,
//! every kind of bad token, users and roles, and the role matrix tried cell
//! by cell against every route.

use serde_json::{json, Value};
use tms_auth::jwt::{self, Claims};
use tms_domain::access::{decide, Action, Area, Decision, Ownership, Role};
use tms_domain::types::Password;
use tms_tests::{call, on_both_engines, Reply, TestSystem, JSON};

const ADMIN_EMAIL: &str = "admin@example.sg";
const ADMIN_PASSWORD: &str = "a long manager passphrase";

on_both_engines! {
    systems;
    login_refresh_logout => auth_sqlite_login_refresh_logout, auth_aws_login_refresh_logout;
    bad_tokens_are_401 => auth_sqlite_bad_tokens, auth_aws_bad_tokens;
    failed_sign_ins_are_limited => auth_sqlite_sign_in_limit, auth_aws_sign_in_limit;
    users_roles_and_revocation => auth_sqlite_users_roles, auth_aws_users_roles;
    every_role_against_every_route => auth_sqlite_matrix, auth_aws_matrix;
    a_trainer_sees_their_own_runs => auth_sqlite_trainer_own_runs, auth_aws_trainer_own_runs;
}

/// The system's router with the real token check.
fn router(sys: &TestSystem) -> axum::Router {
    tms_http::router(
        sys.app.clone(),
        tms_http::ActorSource::Token(sys.app.auth.clone()),
        &tms_http::Resource::ALL,
    )
}

pub(crate) async fn send(
    sys: &TestSystem,
    token: Option<&str>,
    method: &str,
    uri: &str,
    extra: &[(&str, &str)],
    body: Option<&Value>,
) -> Reply {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut h: Vec<(&str, &str)> = Vec::new();
    if let Some(b) = &bearer {
        h.push(("authorization", b.as_str()));
    }
    if body.is_some() {
        h.push(JSON);
    }
    h.extend_from_slice(extra);
    call(
        &router(sys),
        method,
        uri,
        &h,
        body.map(|b| b.to_string().into_bytes()),
    )
    .await
}

pub(crate) async fn login(sys: &TestSystem, email: &str, password: &str) -> Reply {
    send(
        sys,
        None,
        "POST",
        "/auth/login",
        &[],
        Some(&json!({"email": email, "password": password})),
    )
    .await
}

/// The first Admin, signed in: (access token, refresh token).
pub(crate) async fn admin(sys: &TestSystem) -> (String, String) {
    sys.app
        .ensure_admin(ADMIN_EMAIL, Password::new(ADMIN_PASSWORD))
        .await
        .expect("first admin");
    let r = login(sys, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    tokens(&r)
}

pub(crate) fn tokens(r: &Reply) -> (String, String) {
    (
        r.body["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        r.body["refresh_token"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

/// A user with these roles, created by the admin, signed in.
pub(crate) async fn user_with(
    sys: &TestSystem,
    admin: &str,
    roles: &[Role],
    n: usize,
) -> (String, String) {
    let email = format!("user{n}@example.sg");
    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    let r = send(
        sys,
        Some(admin),
        "POST",
        "/users",
        &[],
        Some(&json!({"email": email, "name": format!("User {n}"),
                     "password": "their own passphrase", "roles": names})),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap_or_default().to_string();
    let l = login(sys, &email, "their own passphrase").await;
    assert_eq!(l.status, 200, "{:?}", l.body);
    (id, tokens(&l).0)
}

/// README's matrix section equals the policy's own table.
#[test]
fn readme_matrix_is_the_policy() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let start = readme.find("<!-- matrix:").expect("the matrix marker");
    let body_start = readme[start..]
        .find('\n')
        .map(|i| start + i + 1)
        .expect("line");
    let end = readme.find("<!-- /matrix -->").expect("the end marker");
    assert_eq!(
        &readme[body_start..end],
        tms_domain::access::matrix_markdown()
    );
}

async fn login_refresh_logout(sys: TestSystem) {
    let (access, refresh) = admin(&sys).await;
    let me = send(&sys, Some(&access), "GET", "/users/me", &[], None).await;
    assert_eq!(me.status, 200, "{:?}", me.body);
    assert_eq!(me.body["email"], ADMIN_EMAIL);
    assert_eq!(me.body["roles"], json!(["admin"]));
    let text = me.body.to_string();
    assert!(
        !text.contains("password") && !text.contains("argon2"),
        "{text}"
    );

    // Rotation: the new refresh token works once; the old one is used.
    let r1 = send(
        &sys,
        None,
        "POST",
        "/auth/refresh",
        &[],
        Some(&json!({"refresh_token": refresh})),
    )
    .await;
    assert_eq!(r1.status, 200, "{:?}", r1.body);
    let (access2, refresh2) = tokens(&r1);
    assert_ne!(refresh2, refresh);
    assert_eq!(
        send(&sys, Some(&access2), "GET", "/users/me", &[], None)
            .await
            .status,
        200
    );
    // The used one again: refused, and the whole chain is revoked.
    let reused = send(
        &sys,
        None,
        "POST",
        "/auth/refresh",
        &[],
        Some(&json!({"refresh_token": refresh})),
    )
    .await;
    assert_eq!(reused.status, 401);
    assert_eq!(reused.error_fields(), vec!["refresh_token".to_string()]);
    let next = send(
        &sys,
        None,
        "POST",
        "/auth/refresh",
        &[],
        Some(&json!({"refresh_token": refresh2})),
    )
    .await;
    assert_eq!(next.status, 401, "the chain was revoked by the reuse");

    // Logout revokes.
    let (_, refresh3) = tokens(&login(&sys, ADMIN_EMAIL, ADMIN_PASSWORD).await);
    let out = send(
        &sys,
        None,
        "POST",
        "/auth/logout",
        &[],
        Some(&json!({"refresh_token": refresh3})),
    )
    .await;
    assert_eq!(out.status, 204);
    let after = send(
        &sys,
        None,
        "POST",
        "/auth/refresh",
        &[],
        Some(&json!({"refresh_token": refresh3})),
    )
    .await;
    assert_eq!(after.status, 401);
    // Unknown (well-formed) token: 401; malformed: 422 naming the field.
    let unknown = send(
        &sys,
        None,
        "POST",
        "/auth/refresh",
        &[],
        Some(&json!({"refresh_token": "kM3x_Qv8yZ0aB1cD2eF3gH4iJ5kL6mN7oP8qR9sT0uV"})),
    )
    .await;
    assert_eq!(unknown.status, 401);
    let bad = send(
        &sys,
        None,
        "POST",
        "/auth/refresh",
        &[],
        Some(&json!({"refresh_token": "short"})),
    )
    .await;
    assert_eq!(bad.status, 422);
}

/// Every kind of bad access token is a 401 problem+json.
async fn bad_tokens_are_401(sys: TestSystem) {
    let (good, _) = admin(&sys).await;
    let key = sys.app.auth.key().await.expect("key");
    let me = sys.app.auth.settings.clone();
    let now = chrono::Utc::now().timestamp();
    let claims = |f: &dyn Fn(&mut Claims)| {
        let mut c = Claims {
            sub: "0193a4e2-7c1b-7d3e-9a51-2b7f00c0ff01".into(),
            roles: vec!["admin".into()],
            iss: me.issuer.clone(),
            aud: me.audience.clone(),
            iat: now,
            nbf: now,
            exp: now + 600,
            jti: "j".into(),
        };
        f(&mut c);
        c
    };
    let other_key = tms_auth::SigningKey::from_base64(
        "b3RoZXIga2V5IG90aGVyIGtleSBvdGhlciBrZXkgb3RoZXIga2V5IQ==",
    )
    .expect("key");
    let b64 = |s: &str| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    };
    let payload = b64(&serde_json::to_string(&claims(&|_| {})).unwrap_or_default());
    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("malformed", Some("not.a.token".into())),
        (
            "expired",
            Some(jwt::sign(
                &key,
                &claims(&|c| {
                    c.iat = now - 3600;
                    c.nbf = now - 3600;
                    c.exp = now - 1800;
                }),
            )),
        ),
        (
            "not yet valid",
            Some(jwt::sign(&key, &claims(&|c| c.nbf = now + 3600))),
        ),
        (
            "wrongly signed",
            Some(jwt::sign(&other_key, &claims(&|_| {}))),
        ),
        (
            "alg none",
            Some(format!(
                "{}.{payload}.",
                b64(r#"{"alg":"none","typ":"JWT"}"#)
            )),
        ),
        (
            "wrong issuer",
            Some(jwt::sign(&key, &claims(&|c| c.iss = "someone-else".into()))),
        ),
        (
            "wrong audience",
            Some(jwt::sign(&key, &claims(&|c| c.aud = "another-api".into()))),
        ),
    ];
    for (what, token) in cases {
        let r = send(&sys, token.as_deref(), "GET", "/course-runs", &[], None).await;
        assert_eq!(r.status, 401, "{what}: {:?}", r.body);
        assert_eq!(
            r.header("content-type"),
            Some("application/problem+json"),
            "{what}"
        );
        assert_eq!(
            r.error_fields(),
            vec!["Authorization".to_string()],
            "{what}"
        );
    }
    // A stale token does not stop a client from signing in again.
    let expired = jwt::sign(
        &key,
        &claims(&|c| {
            c.iat = now - 3600;
            c.nbf = now - 3600;
            c.exp = now - 1800;
        }),
    );
    let relogin = send(
        &sys,
        Some(&expired),
        "POST",
        "/auth/login",
        &[],
        Some(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})),
    )
    .await;
    assert_eq!(relogin.status, 200, "{:?}", relogin.body);
    // Not a Bearer header at all.
    let basic = call(
        &router(&sys),
        "GET",
        "/course-runs",
        &[("authorization", "Basic YTpi")],
        None,
    )
    .await;
    assert_eq!(basic.status, 401);
    assert_eq!(
        send(&sys, Some(&good), "GET", "/course-runs", &[], None)
            .await
            .status,
        200
    );
}

/// Unknown e-mail and wrong password answer alike; after 5 failures for an
/// e-mail, 429 with Retry-After, even with the right password.
async fn failed_sign_ins_are_limited(sys: TestSystem) {
    admin(&sys).await;
    let unknown = login(&sys, "nobody@example.sg", ADMIN_PASSWORD).await;
    let wrong = login(&sys, ADMIN_EMAIL, "not the password at all").await;
    assert_eq!((unknown.status, wrong.status), (401, 401));
    assert_eq!(unknown.body["type"], wrong.body["type"]);
    assert_eq!(unknown.body["detail"], wrong.body["detail"]);
    for _ in 0..4 {
        assert_eq!(
            login(&sys, ADMIN_EMAIL, "not the password at all")
                .await
                .status,
            401
        );
    }
    let limited = login(&sys, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(limited.status, 429, "{:?}", limited.body);
    let retry: u64 = limited
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!((1..=900).contains(&retry), "{retry}");
    // Other e-mails are not affected.
    assert_eq!(
        login(&sys, "nobody@example.sg", ADMIN_PASSWORD)
            .await
            .status,
        401
    );
}

async fn users_roles_and_revocation(sys: TestSystem) {
    let (admin_token, _) = admin(&sys).await;
    let (ops_id, ops_token) = user_with(&sys, &admin_token, &[Role::OpsAdmin], 1).await;
    // Ops may create runs, not users.
    let run = send(
        &sys,
        Some(&ops_token),
        "POST",
        "/course-runs",
        &[],
        Some(&tms_http::routes::course_runs::example_run()),
    )
    .await;
    assert_eq!(run.status, 201, "{:?}", run.body);
    let users = send(&sys, Some(&ops_token), "GET", "/users", &[], None).await;
    assert_eq!(users.status, 403);
    // The audit record names the real actor.
    let run_id = run.body["id"].as_str().unwrap_or_default();
    let trail = send(
        &sys,
        Some(&ops_token),
        "GET",
        &format!("/audit-logs?entity_type=course_run&entity_id={run_id}"),
        &[],
        None,
    )
    .await;
    assert_eq!(trail.body["items"][0]["actor_id"], json!(ops_id));
    // And so does the run's sync job.
    let jobs = send(
        &sys,
        Some(&admin_token),
        "GET",
        &format!("/sync-jobs?entity_type=course_run&entity_id={run_id}"),
        &[],
        None,
    )
    .await;
    assert_eq!(jobs.body["items"][0]["actor_id"], json!(ops_id));
    // A duplicate e-mail, any case: 409.
    let dup = send(&sys, Some(&admin_token), "POST", "/users", &[],
        Some(&json!({"email": "USER1@Example.SG", "name": "Again", "password": "another passphrase"}))).await;
    assert_eq!(dup.status, 409, "{:?}", dup.body);
    // Weak passwords: 422 naming the field.
    for weak in ["short", "password1234", "user2@example.sg and more"] {
        let r = send(
            &sys,
            Some(&admin_token),
            "POST",
            "/users",
            &[],
            Some(&json!({"email": "user2@example.sg", "name": "Two", "password": weak})),
        )
        .await;
        assert_eq!(r.status, 422, "{weak}: {:?}", r.body);
        assert_eq!(r.error_fields(), vec!["password".to_string()], "{weak}");
    }
    // Own password: the old one is required and checked.
    let wrong_old = send(
        &sys,
        Some(&ops_token),
        "POST",
        "/users/me/password",
        &[],
        Some(&json!({"old_password": "not my password now", "new_password": "a fresh passphrase"})),
    )
    .await;
    assert_eq!(wrong_old.status, 422);
    assert_eq!(wrong_old.error_fields(), vec!["old_password".to_string()]);
    // Revoking a role refuses the user's refresh tokens.
    let ops_login = login(&sys, "user1@example.sg", "their own passphrase").await;
    let (_, ops_refresh) = tokens(&ops_login);
    let u = send(
        &sys,
        Some(&admin_token),
        "GET",
        &format!("/users/{ops_id}"),
        &[],
        None,
    )
    .await;
    let etag = u.header("etag").unwrap_or_default().to_string();
    let revoked = send(
        &sys,
        Some(&admin_token),
        "DELETE",
        &format!("/users/{ops_id}/roles/ops_admin"),
        &[("if-match", etag.as_str())],
        None,
    )
    .await;
    assert_eq!(revoked.status, 200, "{:?}", revoked.body);
    assert_eq!(revoked.body["roles"], json!([]));
    let refreshed = send(
        &sys,
        None,
        "POST",
        "/auth/refresh",
        &[],
        Some(&json!({"refresh_token": ops_refresh})),
    )
    .await;
    assert_eq!(refreshed.status, 401);
    // Deactivated: no sign-in.
    let u = send(
        &sys,
        Some(&admin_token),
        "GET",
        &format!("/users/{ops_id}"),
        &[],
        None,
    )
    .await;
    let etag = u.header("etag").unwrap_or_default().to_string();
    let off = send(
        &sys,
        Some(&admin_token),
        "PATCH",
        &format!("/users/{ops_id}"),
        &[("if-match", etag.as_str())],
        Some(&json!({"active": false})),
    )
    .await;
    assert_eq!(off.status, 200, "{:?}", off.body);
    assert_eq!(
        login(&sys, "user1@example.sg", "their own passphrase")
            .await
            .status,
        401
    );
    // No audit snapshot carries a password or a hash.
    let trail = send(
        &sys,
        Some(&admin_token),
        "GET",
        &format!("/audit-logs?entity_type=user&entity_id={ops_id}"),
        &[],
        None,
    )
    .await;
    let text = trail.body.to_string();
    assert!(
        trail.body["items"].as_array().is_some_and(|a| a.len() == 3),
        "{text}"
    );
    assert!(
        !text.contains("passphrase") && !text.contains("argon2"),
        "{text}"
    );
}

/// The capability a route needs, as the use cases ask it (reads of one run
/// ask with the trainer's ownership: no trainer owns any run yet).
fn capability(method: &str, path: &str) -> Option<(Area, Action, Ownership)> {
    let read = method == "GET";
    let action = if read { Action::Read } else { Action::Write };
    let owned = |o| if read { o } else { Ownership::NotApplicable };
    Some(match path {
        "/users/me" | "/users/me/password" => return None,
        p if p.starts_with("/users") => (Area::Users, action, Ownership::NotApplicable),
        "/course-runs" => (Area::CourseRuns, action, Ownership::NotApplicable),
        p if p.starts_with("/course-runs/") => (Area::CourseRuns, action, owned(Ownership::NotOwn)),
        p if p.starts_with("/audit-logs") => (Area::AuditLogs, action, Ownership::NotApplicable),
        p if p.starts_with("/sync-jobs") => (Area::SyncJobs, action, Ownership::NotApplicable),
        p if p.starts_with("/trainers") => (Area::Trainers, action, Ownership::NotApplicable),
        "/trainees" => (Area::Trainees, action, Ownership::NotApplicable),
        // A run's enrolments: not a Trainer's run.
        "/enrolments" if read => (Area::Enrolments, action, Ownership::NotOwn),
        "/enrolments" => (Area::Enrolments, action, Ownership::NotApplicable),
        // The example patch changes the fee fields only (Finance may).
        "/enrolments/{id}" if method == "PATCH" => (
            Area::Enrolments,
            Action::WriteFees,
            Ownership::NotApplicable,
        ),
        p if p.starts_with("/enrolments/") => (Area::Enrolments, action, owned(Ownership::NotOwn)),
        p if p.starts_with("/trainees/") => (Area::Trainees, action, owned(Ownership::NotOwn)),
        // A session's attendance: not a Trainer's session.
        p if p.starts_with("/sessions/") => (Area::Attendance, action, Ownership::NotOwn),
        // Assessments of an enrolment in a run that is not a Trainer's:
        // reads and writes alike.
        p if p.starts_with("/assessments") => (Area::Assessments, action, Ownership::NotOwn),
        other => panic!("no capability known for {other}: add it to the matrix test"),
    })
}

/// What a request must get: 401 without a token; then the policy's answer.
fn expected(roles: Option<&[Role]>, method: &str, path: &str) -> &'static str {
    let Some(roles) = roles else {
        return "401";
    };
    match capability(method, path) {
        None => "2xx",
        Some((area, action, ownership)) => match decide(roles, area, action, ownership) {
            Decision::Allow => "2xx",
            Decision::Deny(_) => "403",
            // A create naming an enrolment the actor may not see: as if
            // it did not exist (422 naming enrolment_id).
            Decision::Hide if method == "POST" && path == "/assessments" => "422",
            Decision::Hide => "404",
        },
    }
}

fn class(status: u16) -> String {
    if (200..300).contains(&status) {
        "2xx".into()
    } else {
        status.to_string()
    }
}

/// Every role (and no token) against every route that needs one. A denied
/// request changes nothing (items and queue messages counted before and
/// after).
async fn every_role_against_every_route(sys: TestSystem) {
    let (mut admin_token, _) = admin(&sys).await;
    let mut actors: Vec<(String, Option<Vec<Role>>, Option<String>)> =
        vec![("no token".into(), None, None)];
    let all = [
        Role::Admin,
        Role::OpsAdmin,
        Role::Trainer,
        Role::Finance,
        Role::Auditor,
    ];
    for (n, role) in all.iter().enumerate() {
        let (_, token) = user_with(&sys, &admin_token, &[*role], 10 + n).await;
        actors.push((role.as_str().into(), Some(vec![*role]), Some(token)));
    }
    // Access tokens live 15 minutes at most, and the whole matrix takes
    // longer on moto: everyone signs in again every 10 minutes.
    let mut signed_in = std::time::Instant::now();
    // Someone whose record and roles the users routes act on.
    let (target_id, _) = user_with(&sys, &admin_token, &[Role::Auditor], 99).await;
    let docs: Vec<_> = tms_http::route_docs(&tms_http::Resource::ALL)
        .into_iter()
        .filter(|d| !d.public)
        .collect();
    let mut cells = 0;
    let mut mismatches = Vec::new();
    for doc in &docs {
        if signed_in.elapsed() > std::time::Duration::from_secs(600) {
            admin_token = admin(&sys).await.0;
            for (n, (_, _, token)) in actors.iter_mut().skip(1).enumerate() {
                let again = login(
                    &sys,
                    &format!("user{}@example.sg", 10 + n),
                    "their own passphrase",
                )
                .await;
                assert_eq!(again.status, 200, "{:?}", again.body);
                *token = Some(tokens(&again).0);
            }
            signed_in = std::time::Instant::now();
        }
        // Things to act on (a run with a session, a failed sync job, a
        // trainer), made again after a request that may have changed them.
        let mut targets: Option<Targets> = None;
        for (name, roles, token) in &actors {
            if targets.is_none() {
                targets = Some(Targets::make(&sys, &admin_token, &target_id).await);
            }
            let Some(t) = &targets else { continue };
            let prepared = t.request_for(&sys, &admin_token, doc, cells).await;
            let (uri, extra, body) = (prepared.uri, prepared.headers, prepared.body);
            let want = expected(roles.as_deref(), doc.method.as_str(), doc.path);
            let before = if want == "2xx" {
                None
            } else {
                Some((sys.all_versions().await, sys.message_counts().await))
            };
            let h: Vec<(&str, &str)> = extra
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let r = send(
                &sys,
                token.as_deref(),
                doc.method.as_str(),
                &uri,
                &h,
                body.as_ref(),
            )
            .await;
            cells += 1;
            if doc.method != "GET" && (200..300).contains(&r.status) {
                targets = None;
            }
            if class(r.status) != want {
                mismatches.push(format!(
                    "{name} {} {}: want {want}, got {} {:?}",
                    doc.method, doc.path, r.status, r.body
                ));
            }
            if let Some(before) = before {
                let after = (sys.all_versions().await, sys.message_counts().await);
                if after != before {
                    mismatches.push(format!(
                        "{name} {} {}: a refused request changed the table or the queue",
                        doc.method, doc.path
                    ));
                }
            }
            if doc.path == "/users/me/password" && r.status == 204 {
                // Put it back, for the next route.
                let _ = send(&sys, token.as_deref(), "POST", "/users/me/password", &[],
                    Some(&json!({"old_password": "their own passphrase 2", "new_password": "their own passphrase"}))).await;
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {cells} cells wrong:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert_eq!(cells, docs.len() * 6);
    println!("matrix: {cells} cells ({} routes x 6 actors)", docs.len());
}

/// A failed sync job of the run (its job set to `failed`, as a refusal by
/// TPGateway leaves it), for the retry route.
async fn failed_job(sys: &TestSystem, run_id: &str) -> String {
    let page = sys
        .app
        .store
        .query(&tms_ports::Query {
            index: Some(tms_ports::Index::Gsi1),
            pk: tms_app::keys::sync_jobs_of_entity_pk(tms_domain::EntityType::CourseRun, run_id),
            sk: tms_ports::SkCondition::Any,
            forward: true,
            limit: 1,
            cursor: None,
        })
        .await
        .expect("jobs");
    let item = page.items.first().cloned().expect("a job");
    let mut job: tms_domain::sync::SyncJob = tms_app::records::decode(&item).expect("job");
    job.status = tms_domain::sync::SyncStatus::Failed;
    let next = tms_app::records::sync_job_item(&job, item.version + 1).expect("item");
    sys.app
        .store
        .put(next, tms_ports::Condition::VersionIs(item.version))
        .await
        .expect("put");
    job.id
}

/// A valid enrolment of the trainee in the run.
pub(crate) fn enrolment_body(run_id: &str, trainee_id: &str) -> Value {
    let mut b = tms_http::routes::enrolments::example_enrolment();
    b["course_run_id"] = json!(run_id);
    b["trainee_id"] = json!(trainee_id);
    b
}

/// A valid NRIC no other test of this process used: S, 7 digits from a
/// counter, and the check letter.
pub(crate) fn fresh_nric() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(1_000_000);
    let digits = format!("{:07}", NEXT.fetch_add(1, Ordering::Relaxed));
    let letter = tms_domain::national_id::check_letter('S', &digits).unwrap_or('A');
    format!("S{digits}{letter}")
}

/// Things a request can act on, made by the admin: a run with a session,
/// a failed sync job of it, a trainer, and a user (given).
pub(crate) struct Targets {
    pub trainee_id: String,
    /// A second trainee, not enrolled: for a new enrolment.
    pub other_trainee_id: String,
    pub enrolment_id: String,
    /// An assessment of the enrolment.
    pub assessment_id: String,
    pub run_id: String,
    pub session_id: String,
    pub job_id: String,
    pub trainer_id: String,
    pub user_id: String,
}

/// A request ready to send to one declared route.
pub(crate) struct Prepared {
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

impl Targets {
    pub(crate) async fn make(sys: &TestSystem, admin_token: &str, user_id: &str) -> Targets {
        let run = send(
            sys,
            Some(admin_token),
            "POST",
            "/course-runs",
            &[],
            Some(&tms_http::routes::course_runs::example_run()),
        )
        .await;
        assert_eq!(run.status, 201, "{:?}", run.body);
        let run_id = run.body["id"].as_str().unwrap_or_default().to_string();
        let session_id = run.body["sessions"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let job_id = failed_job(sys, &run_id).await;
        let t = send(
            sys,
            Some(admin_token),
            "POST",
            "/trainers",
            &[],
            Some(&tms_http::routes::trainers::example_trainer()),
        )
        .await;
        assert_eq!(t.status, 201, "{:?}", t.body);
        let mut trainee = tms_http::routes::trainees::example_trainee();
        trainee["national_id"] = json!(fresh_nric());
        let e = send(
            sys,
            Some(admin_token),
            "POST",
            "/trainees",
            &[],
            Some(&trainee),
        )
        .await;
        assert_eq!(e.status, 201, "{:?}", e.body);
        let trainee_id = e.body["id"].as_str().unwrap_or_default().to_string();
        trainee["national_id"] = json!(fresh_nric());
        let o = send(
            sys,
            Some(admin_token),
            "POST",
            "/trainees",
            &[],
            Some(&trainee),
        )
        .await;
        assert_eq!(o.status, 201, "{:?}", o.body);
        let enrolment = send(
            sys,
            Some(admin_token),
            "POST",
            "/enrolments",
            &[],
            Some(&enrolment_body(&run_id, &trainee_id)),
        )
        .await;
        assert_eq!(enrolment.status, 201, "{:?}", enrolment.body);
        let enrolment_id = enrolment.body["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let assessment = send(
            sys,
            Some(admin_token),
            "POST",
            "/assessments",
            &[],
            Some(&crate::assessments::assessment_body(&enrolment_id)),
        )
        .await;
        assert_eq!(assessment.status, 201, "{:?}", assessment.body);
        Targets {
            assessment_id: assessment.body["id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            other_trainee_id: o.body["id"].as_str().unwrap_or_default().to_string(),
            enrolment_id,
            trainee_id,
            run_id,
            session_id,
            job_id,
            trainer_id: t.body["id"].as_str().unwrap_or_default().to_string(),
            user_id: user_id.to_string(),
        }
    }

    /// A valid request to `doc`'s route acting on these targets: its path
    /// ids, query, If-Match (the current ETag, read by the admin) and body.
    /// `n` makes a created user's e-mail unique. The password change
    /// assumes the user's password is "their own passphrase".
    pub(crate) async fn request_for(
        &self,
        sys: &TestSystem,
        admin_token: &str,
        doc: &tms_http::routes::RouteDoc,
        n: usize,
    ) -> Prepared {
        let id = if doc.path.starts_with("/users/") {
            self.user_id.clone()
        } else if doc.path.starts_with("/trainers/") {
            self.trainer_id.clone()
        } else if doc.path.starts_with("/sync-jobs/") {
            self.job_id.clone()
        } else if doc.path.starts_with("/trainees/") {
            self.trainee_id.clone()
        } else if doc.path.starts_with("/enrolments/") {
            self.enrolment_id.clone()
        } else if doc.path.starts_with("/sessions/") {
            self.session_id.clone()
        } else if doc.path.starts_with("/assessments/") {
            self.assessment_id.clone()
        } else {
            self.run_id.clone()
        };
        let sheet_uri = format!("/sessions/{}/attendance", self.session_id);
        if doc.path.ends_with("/sign-off") {
            // Something to sign off: the session's one row recorded.
            let sheet = send(sys, Some(admin_token), "GET", &sheet_uri, &[], None).await;
            let tag = sheet.header("etag").unwrap_or("\"0\"").to_string();
            let put = send(
                sys,
                Some(admin_token),
                "PUT",
                &sheet_uri,
                &[("if-match", tag.as_str())],
                Some(&self.attendance_sheet()),
            )
            .await;
            assert_eq!(put.status, 200, "{:?}", put.body);
        }
        let mut uri = doc
            .path
            .replace("{id}", &id)
            .replace("{session_id}", &self.session_id)
            .replace("{enrolment_id}", &self.enrolment_id)
            .replace(
                "{role}",
                if doc.method == "DELETE" {
                    "auditor"
                } else {
                    "finance"
                },
            );
        if !doc.query_example.is_empty() {
            uri = format!(
                "{uri}?{}",
                doc.query_example
                    .replace("0193a4e2-7c1b-7d3e-9a51-2b7f00c0ffee", &self.run_id)
                    .replace(
                        tms_http::routes::assessments::EXAMPLE_ENROLMENT_ID,
                        &self.enrolment_id,
                    )
            );
        }
        let mut headers: Vec<(String, String)> = Vec::new();
        if doc.if_match && doc.path.starts_with("/sessions/") {
            let current = send(sys, Some(admin_token), "GET", &sheet_uri, &[], None).await;
            let tag = if doc.path.contains("{enrolment_id}") {
                current.body["rows"]
                    .as_array()
                    .and_then(|rows| {
                        rows.iter()
                            .find(|r| r["enrolment_id"] == json!(self.enrolment_id))
                    })
                    .map_or("\"0\"".to_string(), |r| format!("\"{}\"", r["version"]))
            } else {
                current.header("etag").unwrap_or("\"0\"").to_string()
            };
            headers.push(("if-match".into(), tag));
        } else if doc.if_match {
            let target = if doc.path.contains("{session_id}") {
                format!("/course-runs/{}", self.run_id)
            } else {
                doc.path
                    .replace("{id}", &id)
                    .replace("/roles/{role}", "")
                    .replace("/cancel", "")
                    .replace("/void", "")
            };
            let current = send(sys, Some(admin_token), "GET", &target, &[], None).await;
            let tag = if doc.path.contains("{session_id}") {
                format!("\"{}\"", current.body["sessions"][0]["version"])
            } else {
                current.header("etag").unwrap_or("\"1\"").to_string()
            };
            headers.push(("if-match".into(), tag));
        }
        let body = doc.body.map(|b| {
            if doc.path == "/users/me/password" {
                json!({"old_password": "their own passphrase", "new_password": "their own passphrase 2"})
            } else if doc.path == "/enrolments" {
                enrolment_body(&self.run_id, &self.other_trainee_id)
            } else if doc.path == "/sessions/{id}/attendance" {
                self.attendance_sheet()
            } else if doc.path == "/assessments" {
                crate::assessments::assessment_body(&self.enrolment_id)
            } else if doc.path == "/trainees" {
                let mut t = (b.example)();
                t["national_id"] = json!(fresh_nric());
                t
            } else if doc.path == "/users" {
                json!({"email": format!("new{n}@example.sg"), "name": "New", "password": "a new user passphrase"})
            } else {
                (b.example)()
            }
        });
        Prepared { uri, headers, body }
    }

    /// A whole-session body: the enrolment present.
    pub(crate) fn attendance_sheet(&self) -> Value {
        json!({"rows": [{"enrolment_id": self.enrolment_id, "status": "present"}]})
    }
}

/// Trainers: linked to a user (one trainer per user), assigned to
/// sessions (a missing or inactive trainer is refused); a Trainer user
/// reads the runs of their own sessions and no other (404), and writes none.
async fn a_trainer_sees_their_own_runs(sys: TestSystem) {
    let (admin_token, _) = admin(&sys).await;
    let (user_id, trainer_token) = user_with(&sys, &admin_token, &[Role::Trainer], 1).await;
    let mut body = tms_http::routes::trainers::example_trainer();
    body["user_id"] = json!(user_id);
    let t = send(
        &sys,
        Some(&admin_token),
        "POST",
        "/trainers",
        &[],
        Some(&body),
    )
    .await;
    assert_eq!(t.status, 201, "{:?}", t.body);
    let trainer_id = t.body["id"].as_str().unwrap_or_default().to_string();
    // One trainer per user; the user must exist.
    let again = send(
        &sys,
        Some(&admin_token),
        "POST",
        "/trainers",
        &[],
        Some(&body),
    )
    .await;
    assert_eq!(again.status, 409, "{:?}", again.body);
    body["user_id"] = json!("0193a4e2-7c1b-7d3e-9a51-2b7f00c0ff09");
    let nobody = send(
        &sys,
        Some(&admin_token),
        "POST",
        "/trainers",
        &[],
        Some(&body),
    )
    .await;
    assert_eq!(nobody.status, 422, "{:?}", nobody.body);
    assert_eq!(nobody.error_fields(), vec!["user_id".to_string()]);

    let mine = send(
        &sys,
        Some(&admin_token),
        "POST",
        "/course-runs",
        &[],
        Some(&tms_http::routes::course_runs::example_run()),
    )
    .await;
    let other = send(
        &sys,
        Some(&admin_token),
        "POST",
        "/course-runs",
        &[],
        Some(&tms_http::routes::course_runs::example_run()),
    )
    .await;
    let (mine_id, other_id) = (
        mine.body["id"].as_str().unwrap_or_default().to_string(),
        other.body["id"].as_str().unwrap_or_default().to_string(),
    );
    let session = &mine.body["sessions"][0];
    let session_uri = format!(
        "/course-runs/{mine_id}/sessions/{}",
        session["id"].as_str().unwrap_or_default()
    );
    let tag = format!("\"{}\"", session["version"]);
    // A trainer who does not exist: 422 naming the field.
    let missing = send(
        &sys,
        Some(&admin_token),
        "PATCH",
        &session_uri,
        &[("if-match", tag.as_str())],
        Some(&json!({"trainer_id": "0193a4e2-7c1b-7d3e-9a51-2b7f00c0ff08"})),
    )
    .await;
    assert_eq!(missing.status, 422, "{:?}", missing.body);
    assert_eq!(missing.error_fields(), vec!["trainer_id".to_string()]);
    let assigned = send(
        &sys,
        Some(&admin_token),
        "PATCH",
        &session_uri,
        &[("if-match", tag.as_str())],
        Some(&json!({"trainer_id": trainer_id})),
    )
    .await;
    assert_eq!(assigned.status, 200, "{:?}", assigned.body);

    let list = send(&sys, Some(&trainer_token), "GET", "/course-runs", &[], None).await;
    assert_eq!(list.status, 200, "{:?}", list.body);
    let ids: Vec<&str> = list.body["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, vec![mine_id.as_str()]);
    assert_eq!(
        send(
            &sys,
            Some(&trainer_token),
            "GET",
            &format!("/course-runs/{mine_id}"),
            &[],
            None
        )
        .await
        .status,
        200
    );
    assert_eq!(
        send(
            &sys,
            Some(&trainer_token),
            "GET",
            &format!("/course-runs/{other_id}"),
            &[],
            None
        )
        .await
        .status,
        404
    );
    let write = send(
        &sys,
        Some(&trainer_token),
        "PATCH",
        &format!("/course-runs/{mine_id}"),
        &[("if-match", "*")],
        Some(&json!({"title": "Mine now"})),
    )
    .await;
    assert_eq!(write.status, 403, "{:?}", write.body);
    // An inactive trainer cannot be assigned.
    let tr = send(
        &sys,
        Some(&admin_token),
        "GET",
        &format!("/trainers/{trainer_id}"),
        &[],
        None,
    )
    .await;
    let etag = tr.header("etag").unwrap_or_default().to_string();
    let off = send(
        &sys,
        Some(&admin_token),
        "PATCH",
        &format!("/trainers/{trainer_id}"),
        &[("if-match", etag.as_str())],
        Some(&json!({"status": "inactive"})),
    )
    .await;
    assert_eq!(off.status, 200, "{:?}", off.body);
    let other_session = &other.body["sessions"][0];
    let inactive = send(
        &sys,
        Some(&admin_token),
        "PATCH",
        &format!(
            "/course-runs/{other_id}/sessions/{}",
            other_session["id"].as_str().unwrap_or_default()
        ),
        &[(
            "if-match",
            format!("\"{}\"", other_session["version"]).as_str(),
        )],
        Some(&json!({"trainer_id": trainer_id})),
    )
    .await;
    assert_eq!(inactive.status, 422, "{:?}", inactive.body);
}
