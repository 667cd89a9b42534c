//! The APIs: routing by path (and, for an enrolment's details, method),
//! authentication, `x-api-version`, payload decryption, and the course-run
//! handlers (API-NOTES §2–§6); the enrolment handlers are in
//! `enrolment.rs`.

use axum::body::{Body, Bytes};
use axum::extract::Query;
use axum::response::Response;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::header::{ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use serde_json::{json, Map, Value};

use crate::envelope::{self, Detail};
use crate::state::{App, State, StoredRun, StoredSession};
use crate::validate::{self, member, Errors, RunInfo};
use crate::{assessment, attendance, enrolment};
use crate::{FakeAuth, Route};

/// An answer that ends the handling early (boxed: a `Response` is large).
type Refused = Box<Response>;

/// Request bodies larger than this are refused (413).
const BODY_LIMIT: usize = 1024 * 1024;
const DEFAULT_PAGE_SIZE: usize = 20;
const MAX_PAGE_SIZE: usize = 100;

/// The API a path names, and the id in it (a run id or an enrolment
/// reference).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) route: Route,
    id: Option<String>,
}

/// Which API this path is for (whatever the method, except that an
/// enrolment's details path is the view for GET and the update otherwise).
pub(crate) fn classify(method: &Method, path: &str) -> Option<Target> {
    let path = path.strip_suffix('/').unwrap_or(path);
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let target = |route, id: Option<&str>| {
        Some(Target {
            route,
            id: id.map(str::to_string),
        })
    };
    match segments.as_slice() {
        ["dp-oauth", "oauth", "token"] => target(Route::Token, None),
        ["courses", "courseRuns", "publish"] => target(Route::Publish, None),
        ["courses", "courseRuns", "edit", id] if !id.is_empty() => target(Route::Edit, Some(id)),
        ["courses", "courseRuns", "id", id] if !id.is_empty() => target(Route::GetRun, Some(id)),
        ["courses", "courseRuns", "reference"] => target(Route::RunsByCrn, None),
        ["courses", "runs", id, "sessions"] if !id.is_empty() => target(Route::Sessions, Some(id)),
        ["courses", "runs", id, "sessions", "attendance"] if !id.is_empty() => {
            target(Route::UploadAttendance, Some(id))
        }
        ["tpg", "enrolments"] => target(Route::CreateEnrolment, None),
        ["tpg", "enrolments", "search"] => target(Route::SearchEnrolments, None),
        ["tpg", "enrolments", "details", r] if !r.is_empty() => {
            if *method == Method::GET {
                target(Route::GetEnrolment, Some(r))
            } else {
                target(Route::UpdateEnrolment, Some(r))
            }
        }
        ["tpg", "assessments"] => target(Route::CreateAssessment, None),
        ["tpg", "assessments", "search"] => target(Route::SearchAssessments, None),
        ["tpg", "assessments", "details", r] if !r.is_empty() => {
            if *method == Method::GET {
                target(Route::GetAssessment, Some(r))
            } else {
                target(Route::UpdateAssessment, Some(r))
            }
        }
        _ => None,
    }
}

/// The `x-api-version` values seen in working code for each API
/// (API-NOTES §4); a missing header means the newest version.
fn api_versions(route: Route) -> &'static [&'static str] {
    match route {
        Route::Publish | Route::Edit => &["v1.0", "v1.2"],
        Route::GetRun | Route::RunsByCrn => &["v1.0"],
        Route::Sessions | Route::UploadAttendance => &["v1.3", "v1.4", "v1.5"],
        Route::CreateEnrolment
        | Route::UpdateEnrolment
        | Route::SearchEnrolments
        | Route::GetEnrolment => &["v1", "v3.0"],
        // NOT FOUND for assessments: the enrolments' versions.
        Route::CreateAssessment
        | Route::UpdateAssessment
        | Route::SearchAssessments
        | Route::GetAssessment => &["v1", "v3.0"],
        Route::Token | Route::Any => &[],
    }
}

/// Handles a request for a known path, or answers 404.
pub(crate) async fn handle(app: &App, target: Option<Target>, req: Request<Body>) -> Response {
    let Some(target) = target else {
        return envelope::not_found("No such API");
    };
    if target.route == Route::Token {
        return token(app, req).await;
    }
    if let Some(refused) = authorize(app, req.headers()) {
        return refused;
    }
    let method = match target.route {
        Route::Publish
        | Route::Edit
        | Route::CreateEnrolment
        | Route::UpdateEnrolment
        | Route::SearchEnrolments
        | Route::UploadAttendance
        | Route::CreateAssessment
        | Route::UpdateAssessment
        | Route::SearchAssessments => Method::POST,
        _ => Method::GET,
    };
    if req.method() != method {
        // An enrolment's details path takes GET (view) and POST (update).
        let allowed = match target.route {
            Route::UpdateEnrolment
            | Route::GetEnrolment
            | Route::UpdateAssessment
            | Route::GetAssessment => "GET, POST",
            _ => method.as_str(),
        };
        return method_not_allowed(allowed);
    }
    if let Some(refused) = check_version(target.route, req.headers()) {
        return refused;
    }
    let query = match Query::<Vec<(String, String)>>::try_from_uri(req.uri()) {
        Ok(Query(q)) => q,
        Err(_) => return envelope::bad_request("query", "is not a valid query string"),
    };
    if let Some(v) = param(&query, "includeExpiredCourses") {
        if !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false") {
            return envelope::bad_request("includeExpiredCourses", "must be true or false");
        }
    }
    let id = target.id.as_deref().unwrap_or_default();
    match target.route {
        Route::Publish => match read_body(req).await {
            Ok(body) => publish(app, &body),
            Err(r) => *r,
        },
        Route::Edit => match read_body(req).await {
            Ok(body) => edit(app, id, &body),
            Err(r) => *r,
        },
        Route::GetRun => get_run(app, id),
        Route::RunsByCrn => runs_by_crn(app, &query),
        Route::Sessions => sessions(app, id, &query),
        // Encrypted both ways (API-NOTES §3): every answer of the handler,
        // errors included, goes back as ciphertext.
        Route::CreateEnrolment => match read_body(req).await {
            Ok(body) => enrolment::create(app, &body).encrypted(&app.key),
            Err(r) => *r,
        },
        Route::UpdateEnrolment => match read_body(req).await {
            Ok(body) => enrolment::update(app, id, &body).encrypted(&app.key),
            Err(r) => *r,
        },
        Route::SearchEnrolments => match read_body(req).await {
            Ok(body) => enrolment::search(app, &body).encrypted(&app.key),
            Err(r) => *r,
        },
        // The view's request has no body; its answer is encrypted.
        Route::GetEnrolment => enrolment::view(app, id).encrypted(&app.key),
        // The request is encrypted, the answer plain (API-NOTES §3).
        Route::UploadAttendance => match read_body(req).await {
            Ok(body) => attendance::upload(app, id, &body),
            Err(r) => *r,
        },
        // Assessments: encrypted both ways, the view in its answer (§3).
        Route::CreateAssessment => match read_body(req).await {
            Ok(body) => assessment::create(app, &body).encrypted(&app.key),
            Err(r) => *r,
        },
        Route::UpdateAssessment => match read_body(req).await {
            Ok(body) => assessment::update(app, id, &body).encrypted(&app.key),
            Err(r) => *r,
        },
        Route::SearchAssessments => match read_body(req).await {
            Ok(body) => assessment::search(app, &body).encrypted(&app.key),
            Err(r) => *r,
        },
        Route::GetAssessment => assessment::view(app, id).encrypted(&app.key),
        Route::Token | Route::Any => envelope::not_found("No such API"),
    }
}

fn method_not_allowed(allowed: &str) -> Response {
    let mut r = envelope::error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed", &[]);
    if let Ok(v) = HeaderValue::from_str(allowed) {
        r.headers_mut().insert(ALLOW, v);
    }
    r
}

/// OAuth mode: a valid, unexpired bearer token. Certificate mode: the TLS
/// handshake already checked the client certificate.
fn authorize(app: &App, headers: &HeaderMap) -> Option<Response> {
    if matches!(app.cfg.auth, FakeAuth::Certificate) {
        return None;
    }
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Some(envelope::unauthorized(
            "Full authentication is required to access this resource",
        ));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    match token {
        Some(t) if app.token_valid(t) => None,
        _ => Some(envelope::unauthorized("Invalid or expired access token")),
    }
}

fn check_version(route: Route, headers: &HeaderMap) -> Option<Response> {
    let value = headers.get("x-api-version")?;
    let accepted = api_versions(route);
    if value.to_str().is_ok_and(|v| accepted.contains(&v.trim())) {
        return None;
    }
    Some(envelope::bad_request(
        "x-api-version",
        &format!(
            "is not a version this API accepts ({})",
            accepted.join(", ")
        ),
    ))
}

/// The first non-empty value of a query parameter.
fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, v)| k == name && !v.trim().is_empty())
        .map(|(_, v)| v.trim())
}

async fn read_body(req: Request<Body>) -> Result<Bytes, Refused> {
    axum::body::to_bytes(req.into_body(), BODY_LIMIT)
        .await
        .map_err(|_| {
            Box::new(envelope::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "The request body is too large or could not be read",
                &[],
            ))
        })
}

// ---------------------------------------------------------------- token

/// `POST /dp-oauth/oauth/token`: OAuth 2.0 client credentials with HTTP
/// Basic client authentication (API-NOTES §2).
async fn token(app: &App, req: Request<Body>) -> Response {
    let FakeAuth::OAuth {
        client_id,
        client_secret,
        ..
    } = &app.cfg.auth
    else {
        // Certificate apps have no token endpoint on their host.
        return envelope::not_found("No such API");
    };
    let lifetime = app.token_lifetime().unwrap_or_default();
    if req.method() != Method::POST {
        return method_not_allowed("POST");
    }
    let form = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form {
        return envelope::oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Content-Type must be application/x-www-form-urlencoded",
        );
    }
    let credentials = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .and_then(|(_, b64)| STANDARD.decode(b64.trim()).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok());
    let authenticated = credentials
        .as_deref()
        .and_then(|c| c.split_once(':'))
        .is_some_and(|(id, secret)| id == client_id && secret == client_secret);
    if !authenticated {
        return envelope::oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Bad client credentials",
        );
    }
    let body = match read_body(req).await {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let grant = form_pairs(&body)
        .into_iter()
        .find(|(k, _)| k == "grant_type")
        .map(|(_, v)| v);
    match grant.as_deref() {
        Some("client_credentials") => {}
        Some(_) => {
            return envelope::oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Only client_credentials is supported",
            )
        }
        None => {
            return envelope::oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is required",
            )
        }
    }
    let token = app.issue_token(lifetime);
    let mut r = envelope::json_response(
        StatusCode::OK,
        &json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": lifetime.as_secs(),
        }),
    );
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `application/x-www-form-urlencoded` pairs, decoded.
fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    body.split(|b| *b == b'&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let mut it = pair.splitn(2, |b| *b == b'=');
            let key = it.next().unwrap_or_default();
            let value = it.next().unwrap_or_default();
            (form_decode(key), form_decode(value))
        })
        .collect()
}

fn form_decode(s: &[u8]) -> String {
    let hex = |b: u8| (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => match (
                s.get(i + 1).and_then(|h| hex(*h)),
                s.get(i + 2).and_then(|l| hex(*l)),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ------------------------------------------------------ encrypted bodies

/// Publish and edit requests are encrypted (API-NOTES §3): the body is the
/// base64 ciphertext, raw or as a JSON string literal. A plain JSON object
/// is refused.
fn decrypt_body(app: &App, body: &[u8]) -> Result<Value, Refused> {
    decrypt(app, body).map_err(|message| Box::new(envelope::bad_request("body", message)))
}

/// An encrypted request body as its JSON object, or why not (the message
/// of a 400 on `body`).
pub(crate) fn decrypt(app: &App, body: &[u8]) -> Result<Value, &'static str> {
    const UNDECRYPTABLE: &str = "could not be decrypted with the provider's encryption key";
    let text = std::str::from_utf8(body).map_err(|_| UNDECRYPTABLE)?.trim();
    if text.is_empty() {
        return Err("is required (the encrypted request)");
    }
    if text.starts_with('{') || text.starts_with('[') {
        return Err("request must be encrypted");
    }
    let ciphertext = if text.starts_with('"') {
        serde_json::from_str::<String>(text).map_err(|_| UNDECRYPTABLE)?
    } else {
        text.to_string()
    };
    let plain = app.key.decrypt(&ciphertext).map_err(|_| UNDECRYPTABLE)?;
    match serde_json::from_str::<Value>(&plain) {
        Ok(v) if v.is_object() => Ok(v),
        _ => Err("decrypted request is not a JSON object"),
    }
}

/// `course` and the provider check: a UEN other than the configured one is
/// 403 (the application may not act for that provider).
fn course_of<'a>(app: &App, doc: &'a Value) -> Result<&'a Value, Refused> {
    let course = member(doc, "course")
        .filter(|c| c.is_object())
        .ok_or_else(|| Box::new(envelope::bad_request("course", "is required")))?;
    let uen = member(course, "trainingProvider").and_then(|t| member(t, "uen"));
    if let Some(uen) = uen.and_then(Value::as_str) {
        if uen.trim() != app.cfg.uen {
            return Err(Box::new(envelope::forbidden(
                "The training provider UEN does not match this application",
            )));
        }
    }
    Ok(course)
}

/// The course-level fields both publish and edit need.
fn course_fields(e: &mut Errors, course: &Value) -> Option<String> {
    let provider = member(course, "trainingProvider");
    validate::text(
        e,
        provider.and_then(|p| member(p, "uen")),
        "course.trainingProvider.uen",
        true,
        50,
    );
    validate::text(
        e,
        member(course, "courseReferenceNumber"),
        "course.courseReferenceNumber",
        true,
        100,
    )
    .map(|s| s.trim().to_string())
}

/// A copy of an object without these members.
fn without(v: &Value, keys: &[&str]) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| !keys.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `base` with the members of `changes` (except `skip`) replacing its own;
/// a `null` removes a member.
fn merged(base: &Value, changes: &Value, skip: &[&str]) -> Value {
    let mut out: Map<String, Value> = base.as_object().cloned().unwrap_or_default();
    if let Some(changes) = changes.as_object() {
        for (k, v) in changes {
            if skip.contains(&k.as_str()) {
                continue;
            }
            if v.is_null() {
                out.remove(k);
            } else {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

// -------------------------------------------------------------- publish

/// `POST /courses/courseRuns/publish` (API-NOTES §6.1).
fn publish(app: &App, body: &[u8]) -> Response {
    let doc = match decrypt_body(app, body) {
        Ok(d) => d,
        Err(r) => return *r,
    };
    let course = match course_of(app, &doc) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let mut e = Errors::default();
    let crn = course_fields(&mut e, course);
    let runs = match member(course, "runs") {
        Some(Value::Array(runs)) if !runs.is_empty() => runs.as_slice(),
        _ => {
            e.push("course.runs", "must be a non-empty array");
            &[]
        }
    };
    for (i, run) in runs.iter().enumerate() {
        validate::publish_run(&mut e, run, &format!("course.runs[{i}]"));
    }
    let Some(crn) = crn.filter(|_| e.is_empty()) else {
        return envelope::invalid(&e.0);
    };

    let now = envelope::now();
    let mut state = app.lock();
    let duplicates: Vec<Detail> = runs
        .iter()
        .enumerate()
        .filter_map(|(i, run)| {
            let key = validate::schedule_key(run);
            state
                .runs
                .values()
                .find(|r| !r.deleted && r.crn == crn && validate::schedule_key(&r.body) == key)
                .map(|r| Detail {
                    field: format!("course.runs[{i}]"),
                    message: format!("Course Run ID is {} already exists", r.id),
                })
        })
        .collect();
    if !duplicates.is_empty() {
        return envelope::invalid(&duplicates);
    }
    let mut ids = Vec::with_capacity(runs.len());
    for run in runs {
        let id = state.take_run_id();
        let mut stored = StoredRun {
            id,
            crn: crn.clone(),
            body: without(run, &["sessions", "action"]),
            sessions: Vec::new(),
            next_session: 1,
            deleted: false,
            publish_count: 1,
            edit_count: 0,
            created_on: now.clone(),
            updated_on: now.clone(),
        };
        if let Some(Value::Array(sessions)) = member(run, "sessions") {
            for s in sessions {
                let n = stored.next_session;
                stored.sessions.push(StoredSession {
                    id: stored.session_id(n),
                    body: without(s, &["action", "sessionId"]),
                    deleted: false,
                });
                stored.next_session += 1;
            }
        }
        state.runs.insert(id, stored);
        ids.push(json!({ "id": id }));
    }
    drop(state);
    envelope::ok(json!({ "runs": ids }), &now, &now)
}

// ----------------------------------------------------------------- edit

fn run_not_found(run_id: &str) -> Response {
    // The id is digits only when it gets here, or not echoed at all.
    if run_id.bytes().all(|b| b.is_ascii_digit()) && !run_id.is_empty() {
        envelope::not_found(&format!("Course run {run_id} not found"))
    } else {
        envelope::not_found("Course run not found")
    }
}

/// `POST /courses/courseRuns/edit/{runId}` (API-NOTES §6.2): `action`
/// `update` (run fields replaced; sessions updated, added or deleted) or
/// `delete`.
fn edit(app: &App, run_id: &str, body: &[u8]) -> Response {
    let doc = match decrypt_body(app, body) {
        Ok(d) => d,
        Err(r) => return *r,
    };
    let course = match course_of(app, &doc) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let Ok(id) = run_id.parse::<u64>() else {
        return run_not_found(run_id);
    };
    let mut state = app.lock();
    let Some(run) = state.runs.get(&id).filter(|r| !r.deleted) else {
        return run_not_found(run_id);
    };

    let mut e = Errors::default();
    if let Some(crn) = course_fields(&mut e, course) {
        if crn != run.crn {
            e.push(
                "course.courseReferenceNumber",
                "does not match the course run's course reference number",
            );
        }
    }
    let changes = member(course, "run");
    let action = match changes {
        Some(c) if c.is_object() => {
            match validate::text(&mut e, member(c, "action"), "course.run.action", true, 10) {
                Some("update") => Some("update"),
                Some("delete") => Some("delete"),
                Some(_) => {
                    e.push("course.run.action", "must be update or delete");
                    None
                }
                None => None,
            }
        }
        Some(_) => {
            e.push("course.run", "must be an object");
            None
        }
        None => {
            e.push("course.run", "is required");
            None
        }
    };
    let (Some(action), Some(changes)) = (action, changes) else {
        return envelope::invalid(&e.0);
    };
    if !e.is_empty() {
        return envelope::invalid(&e.0);
    }

    let now = envelope::now();
    if action == "delete" {
        let Some(run) = state.runs.get_mut(&id) else {
            return run_not_found(run_id);
        };
        run.deleted = true;
        for s in &mut run.sessions {
            s.deleted = true;
        }
        run.edit_count += 1;
        run.updated_on = now;
        return edited(run);
    }

    let candidate = merged(&run.body, changes, &["action", "sessions"]);
    for required in ["courseAdminEmail", "courseVacancy"] {
        if member(changes, required).is_none() {
            e.push(format!("course.run.{required}"), "is required");
        }
    }
    let info = validate::run_fields(&mut e, &candidate, "course.run");
    let (sessions, next_session) = edit_sessions(&mut e, run, changes, &info);
    if !e.is_empty() {
        return envelope::invalid(&e.0);
    }
    let Some(run) = state.runs.get_mut(&id) else {
        return run_not_found(run_id);
    };
    run.body = candidate;
    run.sessions = sessions;
    run.next_session = next_session;
    run.edit_count += 1;
    run.updated_on = now;
    edited(run)
}

fn edited(run: &StoredRun) -> Response {
    envelope::ok(
        json!({ "runs": [{ "id": run.id }] }),
        &run.created_on,
        &run.updated_on,
    )
}

/// The run's sessions after an edit's `sessions[]` actions (checked; the
/// stored run is not touched), and the next session number.
fn edit_sessions(
    e: &mut Errors,
    run: &StoredRun,
    changes: &Value,
    info: &RunInfo,
) -> (Vec<StoredSession>, u32) {
    let mut sessions = run.sessions.clone();
    let mut next = run.next_session;
    let list = match member(changes, "sessions") {
        None => return (sessions, next),
        Some(Value::Array(list)) => list,
        Some(_) => {
            e.push("course.run.sessions", "must be an array");
            return (sessions, next);
        }
    };
    for (i, change) in list.iter().enumerate() {
        let p = format!("course.run.sessions[{i}]");
        if !change.is_object() {
            e.push(p, "must be an object");
            continue;
        }
        let action_path = format!("{p}.action");
        let id_path = format!("{p}.sessionId");
        let action = validate::text(e, member(change, "action"), &action_path, true, 10);
        let session_id = member(change, "sessionId");
        let existing = |e: &mut Errors| {
            let id = validate::text(e, session_id, &id_path, true, 100)?;
            let found = sessions.iter().position(|s| s.id == id && !s.deleted);
            if found.is_none() {
                e.push(id_path.clone(), "is not a session of this course run");
            }
            found
        };
        match action {
            None => {}
            Some("update") => {
                if let Some(at) = existing(e) {
                    if let Some(s) = sessions.get_mut(at) {
                        let body = merged(&s.body, change, &["action", "sessionId"]);
                        validate::session(e, &body, &p, info);
                        s.body = body;
                    }
                }
            }
            Some("add") => {
                if session_id.is_some() {
                    e.push(id_path.clone(), "must not be given when adding a session");
                }
                let body = without(change, &["action", "sessionId"]);
                validate::session(e, &body, &p, info);
                sessions.push(StoredSession {
                    id: run.session_id(next),
                    body,
                    deleted: false,
                });
                next += 1;
            }
            Some("delete") => {
                if let Some(at) = existing(e) {
                    if let Some(s) = sessions.get_mut(at) {
                        s.deleted = true;
                    }
                }
            }
            Some(_) => e.push(action_path, "must be update, add or delete"),
        }
    }
    (sessions, next)
}

// ----------------------------------------------------------------- reads

/// A session as get-sessions lists it (API-NOTES §6.4). A session venue
/// marked `primaryVenue` shows the run's venue.
fn session_view(run: &StoredRun, s: &StoredSession) -> Value {
    let field = |k: &str| member(&s.body, k).cloned().unwrap_or(Value::Null);
    let own = member(&s.body, "venue");
    let primary = own
        .and_then(|v| member(v, "primaryVenue"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let venue = match (primary, member(&run.body, "venue")) {
        (true, Some(Value::Object(run_venue))) => {
            let mut v = run_venue.clone();
            v.insert("primaryVenue".to_string(), Value::Bool(true));
            Value::Object(v)
        }
        _ => own.cloned().unwrap_or(Value::Null),
    };
    json!({
        "id": s.id,
        "startDate": field("startDate"),
        "endDate": field("endDate"),
        "startTime": field("startTime"),
        "endTime": field("endTime"),
        "modeOfTraining": field("modeOfTraining"),
        "venue": venue,
        "deleted": s.deleted || run.deleted,
        "attendanceTaken": false,
    })
}

/// The stored run object plus `id`, `deleted` and `sessions`.
fn run_view(run: &StoredRun) -> Value {
    let mut v = run.body.as_object().cloned().unwrap_or_default();
    v.insert("id".to_string(), json!(run.id));
    v.insert("deleted".to_string(), Value::Bool(run.deleted));
    v.insert(
        "sessions".to_string(),
        run.sessions.iter().map(|s| session_view(run, s)).collect(),
    );
    Value::Object(v)
}

/// `GET /courses/courseRuns/id/{runId}` (API-NOTES §6.3).
fn get_run(app: &App, run_id: &str) -> Response {
    let state = app.lock();
    let Some(run) = run_id
        .parse::<u64>()
        .ok()
        .and_then(|id| state.runs.get(&id))
    else {
        return run_not_found(run_id);
    };
    envelope::ok(
        json!({"course": {"courseReferenceNumber": run.crn, "run": run_view(run)}}),
        &run.created_on,
        &run.updated_on,
    )
}

/// `uen` and `courseReferenceNumber`, required on the read APIs; a UEN
/// other than the provider's is 403.
fn provider_params<'a>(app: &App, query: &'a [(String, String)]) -> Result<&'a str, Refused> {
    let mut e = Errors::default();
    let uen = param(query, "uen");
    let crn = param(query, "courseReferenceNumber");
    if uen.is_none() {
        e.push("uen", "is required");
    }
    if crn.is_none() {
        e.push("courseReferenceNumber", "is required");
    }
    match (uen, crn) {
        (Some(uen), Some(_)) if uen != app.cfg.uen => Err(Box::new(envelope::forbidden(
            "The training provider UEN does not match this application",
        ))),
        (Some(_), Some(crn)) => Ok(crn),
        _ => Err(Box::new(envelope::invalid(&e.0))),
    }
}

fn paging(query: &[(String, String)]) -> Result<(usize, usize), Refused> {
    let mut e = Errors::default();
    let page = match param(query, "page") {
        None => Some(0),
        Some(p) => p.parse::<usize>().ok(),
    };
    if page.is_none() {
        e.push("page", "must be a whole number from 0");
    }
    let size = match param(query, "pageSize") {
        None => Some(DEFAULT_PAGE_SIZE),
        Some(p) => p
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE_SIZE).contains(n)),
    };
    if size.is_none() {
        e.push("pageSize", format!("must be from 1 to {MAX_PAGE_SIZE}"));
    }
    match (page, size) {
        (Some(page), Some(size)) => Ok((page, size)),
        _ => Err(Box::new(envelope::invalid(&e.0))),
    }
}

/// `GET /courses/courseRuns/reference` (API-NOTES §6.3): the runs of a
/// course, paged; optional filters `tpCode` and `courseRunStartDate`
/// (YYYYMMDD). No runs (on that page) is 404, as TPGateway's "No records".
fn runs_by_crn(app: &App, query: &[(String, String)]) -> Response {
    let crn = match provider_params(app, query) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let (page, size) = match paging(query) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let start = match param(query, "courseRunStartDate") {
        None => None,
        Some(d) => match validate::yyyymmdd_text(d) {
            Some(_) => d.parse::<u64>().ok(),
            None => {
                return envelope::bad_request("courseRunStartDate", "must be a date as YYYYMMDD")
            }
        },
    };
    let other_tp = param(query, "tpCode").is_some_and(|tp| tp != app.cfg.tp_code);
    let state = app.lock();
    let runs: Vec<Value> = matching_runs(&state, crn, start)
        .filter(|_| !other_tp)
        .skip(page.saturating_mul(size))
        .take(size)
        .map(run_view)
        .collect();
    drop(state);
    if runs.is_empty() {
        return envelope::not_found("No records found");
    }
    let now = envelope::now();
    envelope::ok(
        json!({"course": {"courseReferenceNumber": crn, "runs": runs}}),
        &now,
        &now,
    )
}

fn matching_runs<'a>(
    state: &'a State,
    crn: &'a str,
    start: Option<u64>,
) -> impl Iterator<Item = &'a StoredRun> + 'a {
    state.runs.values().filter(move |r| {
        r.crn == crn
            && start.is_none_or(|s| {
                member(&r.body, "courseDates")
                    .and_then(|d| member(d, "start"))
                    .and_then(Value::as_u64)
                    == Some(s)
            })
    })
}

/// `GET /courses/runs/{runId}/sessions` (API-NOTES §6.4), optionally only
/// the sessions starting in `sessionMonth` (MMYYYY). None is 404.
fn sessions(app: &App, run_id: &str, query: &[(String, String)]) -> Response {
    let crn = match provider_params(app, query) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let month = match param(query, "sessionMonth") {
        None => None,
        Some(m) => {
            let valid = m.len() == 6
                && m.bytes().all(|b| b.is_ascii_digit())
                && matches!(
                    m.get(..2),
                    Some(
                        "01" | "02"
                            | "03"
                            | "04"
                            | "05"
                            | "06"
                            | "07"
                            | "08"
                            | "09"
                            | "10"
                            | "11"
                            | "12"
                    )
                );
            match (valid, m.get(..2), m.get(2..)) {
                (true, Some(mm), Some(yyyy)) => Some(format!("{yyyy}{mm}")),
                _ => return envelope::bad_request("sessionMonth", "must be a month as MMYYYY"),
            }
        }
    };
    let state = app.lock();
    let Some(run) = run_id
        .parse::<u64>()
        .ok()
        .and_then(|id| state.runs.get(&id))
    else {
        return run_not_found(run_id);
    };
    if run.crn != crn {
        return envelope::bad_request(
            "courseReferenceNumber",
            "does not match the course run's course reference number",
        );
    }
    let list: Vec<Value> = run
        .sessions
        .iter()
        .filter(|s| {
            month.as_deref().is_none_or(|yyyymm| {
                member(&s.body, "startDate")
                    .and_then(Value::as_str)
                    .is_some_and(|d| d.starts_with(yyyymm))
            })
        })
        .map(|s| session_view(run, s))
        .collect();
    if list.is_empty() {
        return envelope::not_found("No records found");
    }
    envelope::ok(
        json!({ "sessions": list }),
        &run.created_on,
        &run.updated_on,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_api() {
        let route = |p: &str| classify(&Method::POST, p).map(|t| (t.route, t.id));
        assert_eq!(route("/dp-oauth/oauth/token"), Some((Route::Token, None)));
        assert_eq!(
            route("/courses/courseRuns/edit/100001"),
            Some((Route::Edit, Some("100001".to_string())))
        );
        assert_eq!(
            route("/courses/runs/7/sessions/"),
            Some((Route::Sessions, Some("7".to_string())))
        );
        assert_eq!(route("/courses/runs//sessions"), None);
        assert_eq!(route("/courses/courseRuns/edit"), None);
        assert_eq!(route("/"), None);
        assert_eq!(
            route("/tpg/enrolments"),
            Some((Route::CreateEnrolment, None))
        );
        assert_eq!(
            route("/tpg/enrolments/search"),
            Some((Route::SearchEnrolments, None))
        );
        assert_eq!(
            route("/tpg/enrolments/details/ENR-2501-000001"),
            Some((Route::UpdateEnrolment, Some("ENR-2501-000001".to_string())))
        );
        assert_eq!(
            classify(&Method::GET, "/tpg/enrolments/details/ENR-2501-000001/")
                .map(|t| (t.route, t.id)),
            Some((Route::GetEnrolment, Some("ENR-2501-000001".to_string())))
        );
        assert_eq!(route("/tpg/enrolments/details/"), None);
        assert_eq!(
            route("/tpg/enrolments/feeCollections/ENR-2501-000001"),
            None
        );
    }

    #[test]
    fn form_bodies_decode() {
        assert_eq!(
            form_pairs(b"grant_type=client_credentials&scope=a+b%2Fc&x"),
            [
                ("grant_type".to_string(), "client_credentials".to_string()),
                ("scope".to_string(), "a b/c".to_string()),
                ("x".to_string(), String::new()),
            ]
        );
        assert_eq!(form_decode(b"100%"), "100%");
        assert_eq!(form_decode(b"%zz"), "%zz");
    }
}
