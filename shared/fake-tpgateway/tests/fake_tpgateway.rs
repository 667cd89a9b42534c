//! The fake TPGateway over real HTTP on loopback: authentication, the
//! encrypted publish and edit, the reads, and every fault kind.

use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tms_fake_tpgateway::{FakeAuth, FakeConfig, FakeTpg, Fault, Route, TEST_ENCRYPTION_KEY};
use tms_tpgateway::{Auth, EncryptionKey, TpGatewaySecret};

const CRN: &str = "TGS-2020000697";
const UEN: &str = "199900650G";

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn encrypt(doc: &Value) -> String {
    EncryptionKey::from_base64(TEST_ENCRYPTION_KEY)
        .unwrap()
        .encrypt(&doc.to_string())
}

/// The API-NOTES §13 example run, with its course dates moved by `days`
/// days into January 2025 (so several runs of one course differ).
fn run(day: u32) -> Value {
    let date = |d: u32| format!("202501{d:02}");
    json!({
        "sequenceNumber": 1,
        "registrationDates": {"opening": 20250101, "closing": 20250110},
        "courseDates": {"start": date(day).parse::<u64>().unwrap(),
                        "end": date(day + 1).parse::<u64>().unwrap()},
        "scheduleInfoType": {"code": "01", "description": "Description"},
        "scheduleInfo": "Wed-Thu 9am-6pm",
        "venue": {"floor": "03", "unit": "01", "postalCode": "408533", "room": "R1",
                  "wheelChairAccess": true},
        "intakeSize": 20, "threshold": 2, "modeOfTraining": "1",
        "courseAdminEmail": "admin@example.com",
        "courseVacancy": {"code": "A", "description": "Available"},
        "sessions": [
            {"startDate": date(day), "endDate": date(day), "startTime": "09:00",
             "endTime": "18:00", "modeOfTraining": "1",
             "venue": {"primaryVenue": true}},
            {"startDate": date(day + 1), "endDate": date(day + 1), "startTime": "09:00",
             "endTime": "13:00", "modeOfTraining": "1",
             "venue": {"floor": "04", "unit": "02", "postalCode": "408533", "room": "R2"}}
        ],
        "linkCourseRunTrainer": [{"trainer": {"trainerType": {"code": "1", "description": "Existing"},
            "idNumber": "S0808315J", "photo": {"name": "", "content": ""}}}]
    })
}

fn publish_doc(runs: Vec<Value>) -> Value {
    json!({"course": {"courseReferenceNumber": CRN, "trainingProvider": {"uen": UEN},
                      "runs": runs}})
}

/// A fake in OAuth mode and a token for it.
async fn oauth_fake() -> (FakeTpg, Api) {
    let fake = FakeTpg::start(FakeConfig::oauth()).await.unwrap();
    let api = Api::new(&fake).await;
    (fake, api)
}

/// Calls the fake as a client would.
struct Api {
    http: Client,
    base: String,
    token: Option<String>,
}

impl Api {
    async fn new(fake: &FakeTpg) -> Api {
        let http = client();
        let token = get_token(&http, &fake.base_url(), "tms-local", "tms-local-secret")
            .await
            .1["access_token"]
            .as_str()
            .map(str::to_string);
        assert!(token.is_some());
        Api {
            http,
            base: fake.base_url(),
            token,
        }
    }

    fn auth(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    async fn post_raw(&self, path: &str, body: String) -> (StatusCode, Value) {
        let r = self
            .auth(self.http.post(format!("{}{path}", self.base)))
            .header("content-type", "application/json")
            .header("x-api-version", "v1.0")
            .body(body)
            .send()
            .await
            .unwrap();
        answer(r).await
    }

    async fn publish(&self, doc: &Value) -> (StatusCode, Value) {
        self.post_raw(
            "/courses/courseRuns/publish?includeExpiredCourses=true",
            encrypt(doc),
        )
        .await
    }

    async fn edit(&self, id: &str, doc: &Value) -> (StatusCode, Value) {
        self.post_raw(&format!("/courses/courseRuns/edit/{id}"), encrypt(doc))
            .await
    }

    async fn get(&self, path_and_query: &str) -> (StatusCode, Value) {
        let r = self
            .auth(self.http.get(format!("{}{path_and_query}", self.base)))
            .send()
            .await
            .unwrap();
        answer(r).await
    }

    /// Publishes one run and gives its id.
    async fn publish_one(&self, day: u32) -> String {
        let (status, body) = self.publish(&publish_doc(vec![run(day)])).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["data"]["runs"][0]["id"].as_u64().unwrap().to_string()
    }
}

async fn answer(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

async fn get_token(http: &Client, base: &str, id: &str, secret: &str) -> (StatusCode, Value) {
    let r = http
        .post(format!("{base}/dp-oauth/oauth/token"))
        .basic_auth(id, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    answer(r).await
}

fn detail_fields(body: &Value) -> Vec<String> {
    body["error"]["details"]
        .as_array()
        .map(|d| {
            d.iter()
                .map(|d| d["field"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

// ------------------------------------------------------------------ auth

#[tokio::test]
async fn oauth_tokens_are_issued_required_and_expire() {
    let mut cfg = FakeConfig::oauth();
    cfg.auth = FakeAuth::OAuth {
        client_id: "tms-local".into(),
        client_secret: "tms-local-secret".into(),
        token_lifetime: Duration::from_millis(250),
    };
    let fake = FakeTpg::start(cfg).await.unwrap();
    let http = client();
    let base = fake.base_url();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");

    let (status, body) = get_token(&http, &base, "tms-local", "wrong").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");
    let r = http
        .post(format!("{base}/dp-oauth/oauth/token"))
        .basic_auth("tms-local", Some("tms-local-secret"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=password")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(fake.tokens_issued(), 0);

    let (status, body) = get_token(&http, &base, "tms-local", "tms-local-secret").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 0);
    let token = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(fake.tokens_issued(), 1);

    let get = |token: Option<&str>| {
        let mut r = http.get(format!("{base}/courses/courseRuns/id/100001"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    let r = get(None).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (_, body) = answer(r).await;
    assert_eq!(body["status"], 401);
    assert_eq!(body["error"]["code"], "TGS-401");
    assert_eq!(
        get(Some("made-up")).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    // A valid token reaches the API: an unknown run is 404.
    let (status, body) = answer(get(Some(&token)).await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "TGS-404");

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        get(Some(&token)).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );

    // expire_tokens invalidates every token issued so far.
    let fake = FakeTpg::start(FakeConfig::oauth()).await.unwrap();
    let api = Api::new(&fake).await;
    assert_eq!(
        api.get("/courses/courseRuns/id/1").await.0,
        StatusCode::NOT_FOUND
    );
    fake.expire_tokens();
    assert_eq!(
        api.get("/courses/courseRuns/id/1").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(fake.calls(Route::Token), 1);
    assert_eq!(fake.calls(Route::GetRun), 2);
}

#[tokio::test]
async fn secret_documents_configure_a_client() {
    let fake = FakeTpg::start(FakeConfig::oauth()).await.unwrap();
    let secret = TpGatewaySecret::parse(&fake.secret_json().to_string()).unwrap();
    assert_eq!(secret.base_url, fake.base_url());
    assert_eq!(secret.uen, UEN);
    assert_eq!(secret.tp_code, "199900650G-01");
    match secret.auth {
        Auth::OAuth {
            client_id,
            token_url,
            ..
        } => {
            assert_eq!(client_id, "tms-local");
            assert_eq!(
                token_url,
                format!("{}/dp-oauth/oauth/token", fake.base_url())
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.ca_pem(), None);

    let fake = FakeTpg::start(FakeConfig::certificate()).await.unwrap();
    let secret = TpGatewaySecret::parse(&fake.secret_json().to_string()).unwrap();
    assert!(secret.base_url.starts_with("https://127.0.0.1:"));
    assert!(matches!(secret.auth, Auth::Certificate { .. }));
}

fn tls_client(fake: &FakeTpg, with_identity: bool, trust_ca: bool) -> Client {
    let mut b = Client::builder().timeout(Duration::from_secs(10));
    if trust_ca {
        let ca = reqwest::Certificate::from_pem(fake.ca_pem().unwrap().as_bytes()).unwrap();
        b = b.tls_certs_only([ca]);
    }
    if with_identity {
        let doc = fake.secret_json();
        let pem = format!(
            "{}\n{}",
            doc["certificate_pem"].as_str().unwrap(),
            doc["private_key_pem"].as_str().unwrap()
        );
        b = b.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    b.build().unwrap()
}

#[tokio::test]
async fn certificate_mode_needs_the_client_certificate() {
    let fake = FakeTpg::start(FakeConfig::certificate()).await.unwrap();
    let base = fake.base_url();
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");

    let with_cert = tls_client(&fake, true, true);
    let api = Api {
        http: with_cert.clone(),
        base: base.clone(),
        token: None,
    };
    let id = api.publish_one(15).await;
    let (status, body) = api.get(&format!("/courses/courseRuns/id/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Also by name.
    let localhost = base.replace("127.0.0.1", "localhost");
    let r = with_cert
        .get(format!("{localhost}/courses/courseRuns/id/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let without_cert = tls_client(&fake, false, true);
    let r = without_cert
        .get(format!("{base}/courses/courseRuns/id/{id}"))
        .send()
        .await;
    assert!(r.is_err(), "{r:?}");
    let untrusting = tls_client(&fake, true, false);
    assert!(untrusting
        .get(format!("{base}/courses/courseRuns/id/{id}"))
        .send()
        .await
        .is_err());
    // Certificate apps have no token endpoint.
    let r = with_cert
        .post(format!("{base}/dp-oauth/oauth/token"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Only the requests that got past the handshake were seen.
    assert_eq!(fake.calls(Route::GetRun), 2);
    // A dropped answer closes the TLS connection too.
    fake.inject(Route::Publish, Fault::AcceptThenDrop, 1);
    let r = with_cert
        .post(format!("{base}/courses/courseRuns/publish"))
        .body(encrypt(&publish_doc(vec![run(20)])))
        .send()
        .await;
    assert!(r.as_ref().is_err_and(|e| !e.is_timeout()), "{r:?}");
    assert_eq!(fake.runs().len(), 2);
}

// --------------------------------------------------------------- publish

#[tokio::test]
async fn publish_stores_runs_with_numeric_ids_and_session_ids() {
    let (fake, api) = oauth_fake().await;
    let (status, body) = api.publish(&publish_doc(vec![run(15), run(20)])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], 200);
    assert_eq!(body["error"], json!({}));
    assert!(body["meta"]["createdOn"].as_str().unwrap().ends_with('Z'));
    let ids: Vec<u64> = body["data"]["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);

    let runs = fake.runs();
    assert_eq!(runs.len(), 2);
    let first = &runs[0];
    assert_eq!(first.id, ids[0].to_string());
    assert_eq!(first.course_reference_number, CRN);
    let session_ids: Vec<&str> = first.sessions.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        session_ids,
        [
            format!("{CRN}-{}-S1", ids[0]),
            format!("{CRN}-{}-S2", ids[0])
        ]
    );
    assert_eq!(first.body["scheduleInfo"], "Wed-Thu 9am-6pm");
    assert!(first.body.get("sessions").is_none());
    assert_eq!(
        (first.publish_count, first.edit_count, first.deleted),
        (1, 0, false)
    );
    assert_eq!(fake.accepted(Route::Publish), 1);

    // The JSON-string-literal form of the ciphertext is accepted too.
    let literal = Value::String(encrypt(&publish_doc(vec![run(25)]))).to_string();
    let (status, body) = api.post_raw("/courses/courseRuns/publish", literal).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(fake.runs().len(), 3);
}

#[tokio::test]
async fn publish_refuses_plain_undecryptable_and_foreign_bodies() {
    let (fake, api) = oauth_fake().await;
    let plain = publish_doc(vec![run(15)]).to_string();
    let (status, body) = api.post_raw("/courses/courseRuns/publish", plain).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"]["details"][0]["message"],
        "request must be encrypted"
    );

    // base64 of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef": a key, not the fake's
    let other_key =
        EncryptionKey::from_base64("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=").unwrap();
    let (status, body) = api
        .post_raw(
            "/courses/courseRuns/publish",
            other_key.encrypt(&publish_doc(vec![run(15)]).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["details"][0]["field"], "body");
    let (status, _) = api
        .post_raw("/courses/courseRuns/publish", "not base64 at all".into())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let mut foreign = publish_doc(vec![run(15)]);
    foreign["course"]["trainingProvider"]["uen"] = json!("201000372W");
    let (status, body) = api.publish(&foreign).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["status"], 403);

    // An unknown x-api-version names the header; a known one is fine.
    let r = api
        .http
        .post(format!("{}/courses/courseRuns/publish", api.base))
        .bearer_auth(api.token.as_deref().unwrap())
        .header("x-api-version", "v9.9")
        .body(encrypt(&publish_doc(vec![run(15)])))
        .send()
        .await
        .unwrap();
    let (status, body) = answer(r).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(detail_fields(&body), ["x-api-version"]);

    assert!(fake.runs().is_empty());
    assert_eq!(fake.calls(Route::Publish), 5);
    assert_eq!(fake.accepted(Route::Publish), 0);
}

#[tokio::test]
async fn publish_lists_every_validation_error_with_its_path() {
    let (fake, api) = oauth_fake().await;
    let mut bad = run(15);
    bad["registrationDates"]["closing"] = json!(20241231);
    bad["courseDates"] = json!({"start": 20250230, "end": "20250116"});
    bad["scheduleInfoType"]["code"] = json!("1");
    bad["scheduleInfo"] = json!("x".repeat(301));
    bad["modeOfTraining"] = json!("10");
    bad["venue"]["postalCode"] = json!("4085331");
    bad["courseAdminEmail"] = json!("not-an-email");
    bad["courseVacancy"]["code"] = json!("X");
    bad["intakeSize"] = json!(0);
    bad["linkCourseRunTrainer"] = json!({});
    bad["sessions"][0]["startTime"] = json!("9am");
    bad["sessions"][1]["endDate"] = json!("20250120");
    bad["sessions"][1]["venue"] = json!({"floor": "04"});
    let mut no_venue = run(20);
    no_venue.as_object_mut().unwrap().remove("venue");
    no_venue.as_object_mut().unwrap().remove("courseAdminEmail");
    let mut doc = publish_doc(vec![bad, no_venue]);
    doc["course"]["courseReferenceNumber"] = json!("");

    let (status, body) = api.publish(&doc).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["status"], 400);
    assert_eq!(body["error"]["code"], "TGS-400");
    assert_eq!(
        detail_fields(&body),
        [
            "course.courseReferenceNumber",
            "course.runs[0].courseDates.start",
            "course.runs[0].courseDates.end",
            "course.runs[0].registrationDates.closing",
            "course.runs[0].scheduleInfoType.code",
            "course.runs[0].scheduleInfo",
            "course.runs[0].modeOfTraining",
            "course.runs[0].venue.postalCode",
            "course.runs[0].courseAdminEmail",
            "course.runs[0].courseVacancy.code",
            "course.runs[0].intakeSize",
            "course.runs[0].linkCourseRunTrainer",
            "course.runs[0].sessions[0].startTime",
            "course.runs[0].sessions[1].endDate",
            "course.runs[0].sessions[1].venue.unit",
            "course.runs[0].sessions[1].venue.postalCode",
            "course.runs[0].sessions[1].venue.room",
            "course.runs[1].venue",
            "course.runs[1].courseAdminEmail",
        ]
    );
    let (status, body) = api
        .publish(&json!({"course": {"courseReferenceNumber": CRN,
                                    "trainingProvider": {"uen": UEN}, "runs": []}}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(detail_fields(&body), ["course.runs"]);
    assert!(fake.runs().is_empty());
}

#[tokio::test]
async fn republishing_a_stored_run_names_its_id() {
    let (fake, api) = oauth_fake().await;
    let id = api.publish_one(15).await;
    let (status, body) = api.publish(&publish_doc(vec![run(15)])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"]["details"][0]["message"],
        format!("Course Run ID is {id} already exists")
    );
    // Other dates are another run.
    api.publish_one(16).await;
    // Once deleted, the same run may be published again.
    let delete = json!({"course": {"courseReferenceNumber": CRN,
        "trainingProvider": {"uen": UEN}, "run": {"action": "delete"}}});
    assert_eq!(api.edit(&id, &delete).await.0, StatusCode::OK);
    let again = api.publish_one(15).await;
    assert_ne!(again, id);
    assert_eq!(fake.runs().len(), 3);
}

// ------------------------------------------------------------------ edit

fn edit_doc(run: Value) -> Value {
    json!({"course": {"courseReferenceNumber": CRN, "trainingProvider": {"uen": UEN},
                      "run": run}})
}

#[tokio::test]
async fn edit_updates_the_run_and_updates_adds_and_deletes_sessions() {
    let (fake, api) = oauth_fake().await;
    let id = api.publish_one(15).await;
    let s1 = format!("{CRN}-{id}-S1");
    let s2 = format!("{CRN}-{id}-S2");
    let doc = edit_doc(json!({
        "action": "update",
        "courseAdminEmail": "other@example.com",
        "courseVacancy": {"code": "L", "description": "Limited Vacancy"},
        "courseDates": {"start": 20250115, "end": 20250117},
        "sessions": [
            {"action": "update", "sessionId": s1, "startTime": "10:00"},
            {"action": "delete", "sessionId": s2},
            {"action": "add", "startDate": "20250117", "endDate": "20250117",
             "startTime": "09:00", "endTime": "12:00", "modeOfTraining": "2"}
        ]
    }));
    let (status, body) = api.edit(&id, &doc).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"]["runs"][0]["id"].as_u64().unwrap().to_string(),
        id
    );

    let run = &fake.runs()[0];
    assert_eq!(run.edit_count, 1);
    assert_eq!(run.body["courseAdminEmail"], "other@example.com");
    assert_eq!(run.body["courseDates"]["end"], 20250117);
    assert_eq!(run.body["scheduleInfo"], "Wed-Thu 9am-6pm");
    let sessions: Vec<(&str, bool)> = run
        .sessions
        .iter()
        .map(|s| (s.id.as_str(), s.deleted))
        .collect();
    let s3 = format!("{CRN}-{id}-S3");
    assert_eq!(
        sessions,
        [
            (s1.as_str(), false),
            (s2.as_str(), true),
            (s3.as_str(), false)
        ]
    );
    assert_eq!(run.sessions[0].body["startTime"], "10:00");
    assert_eq!(run.sessions[0].body["endTime"], "18:00");

    // Errors: a deleted session, a bad action, a session outside the dates,
    // the admin e-mail missing; nothing is changed.
    let doc = edit_doc(json!({
        "action": "update",
        "courseVacancy": {"code": "A"},
        "sessions": [
            {"action": "update", "sessionId": s2, "startTime": "10:00"},
            {"action": "move", "sessionId": s1},
            {"action": "add", "startDate": "20250201", "endDate": "20250201",
             "startTime": "09:00", "endTime": "12:00", "modeOfTraining": "2"}
        ]
    }));
    let (status, body) = api.edit(&id, &doc).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        detail_fields(&body),
        [
            "course.run.courseAdminEmail",
            "course.run.sessions[0].sessionId",
            "course.run.sessions[1].action",
            "course.run.sessions[2].endDate",
        ]
    );
    assert_eq!(fake.runs()[0].edit_count, 1);
    assert_eq!(fake.runs()[0].sessions.len(), 3);

    // Run-level action, course and provider checks.
    let (status, body) = api.edit(&id, &edit_doc(json!({"action": "Update"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(detail_fields(&body), ["course.run.action"]);
    let mut other_course = edit_doc(json!({"action": "delete"}));
    other_course["course"]["courseReferenceNumber"] = json!("TGS-2020000698");
    let (status, body) = api.edit(&id, &other_course).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(detail_fields(&body), ["course.courseReferenceNumber"]);
    assert_eq!(
        api.edit("999999", &edit_doc(json!({"action": "delete"})))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let plain = edit_doc(json!({"action": "delete"})).to_string();
    assert_eq!(
        api.post_raw(&format!("/courses/courseRuns/edit/{id}"), plain)
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(fake.accepted(Route::Edit), 1);
    assert_eq!(fake.calls(Route::Edit), 6);
}

/// An existing trainer named by TPGateway's id, as the TMS sends it.
fn existing_trainer(index: u64, id: &str) -> Value {
    json!({"trainer": {"indexNumber": index, "id": id, "name": "Tan Ah Kow",
        "email": "ahkow.tan@example.sg", "inTrainingProviderProfile": true,
        "trainerType": {"code": "1", "description": "Existing"},
        "roles": [{"role": {"id": 1, "description": "Trainer"}}]}})
}

#[tokio::test]
async fn linked_trainers_are_checked_stored_and_replaced_by_an_edit() {
    let (fake, api) = oauth_fake().await;
    let mut r = run(15);
    r["linkCourseRunTrainer"] = json!([existing_trainer(1, "T-1")]);
    let (status, body) = api.publish(&publish_doc(vec![r])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["data"]["runs"][0]["id"].as_u64().unwrap().to_string();
    let trainers = &fake.runs()[0].trainers;
    assert_eq!(trainers.len(), 1);
    let t = &trainers[0];
    assert_eq!(
        (
            t.index_number,
            t.id.as_deref(),
            t.name.as_deref(),
            t.email.as_deref(),
            t.trainer_type.as_str()
        ),
        (
            Some(1),
            Some("T-1"),
            Some("Tan Ah Kow"),
            Some("ahkow.tan@example.sg"),
            "1"
        )
    );
    assert_eq!(t.body["roles"][0]["role"]["id"], 1);
    // Get-run shows them (API-NOTES §6.3).
    let (status, body) = api
        .get(&format!(
            "/courses/courseRuns/id/{id}?includeExpiredCourses=true"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"]["course"]["run"]["linkCourseRunTrainer"][0]["trainer"]["id"],
        "T-1"
    );

    let base = json!({"action": "update", "courseAdminEmail": "admin@example.com",
                      "courseVacancy": {"code": "A", "description": "Available"}});
    // An edit without the list keeps the trainers.
    let (status, body) = api.edit(&id, &edit_doc(base.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(fake.runs()[0].trainers.len(), 1);
    // An edit with the list replaces them.
    let mut two = base.clone();
    two["linkCourseRunTrainer"] = json!([existing_trainer(1, "T-2"), existing_trainer(2, "T-3")]);
    let (status, body) = api.edit(&id, &edit_doc(two)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ids: Vec<Option<String>> = fake.runs()[0]
        .trainers
        .iter()
        .map(|t| t.id.clone())
        .collect();
    assert_eq!(ids, [Some("T-2".to_string()), Some("T-3".to_string())]);

    // Refused, naming the field; nothing changed.
    let mut bad = base.clone();
    let mut nameless = existing_trainer(1, "T-4");
    nameless["trainer"]["trainerType"] = json!({"code": "2", "description": "New"});
    nameless["trainer"].as_object_mut().unwrap().remove("name");
    bad["linkCourseRunTrainer"] = json!([nameless, {"trainer": {"indexNumber": 1.5,
        "trainerType": {"code": "1"}}}]);
    let (status, body) = api.edit(&id, &edit_doc(bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "TGS-400");
    assert_eq!(
        detail_fields(&body),
        [
            "course.run.linkCourseRunTrainer[0].trainer.name",
            "course.run.linkCourseRunTrainer[0].trainer.idNumber",
            "course.run.linkCourseRunTrainer[1].trainer.indexNumber",
            "course.run.linkCourseRunTrainer[1].trainer.id",
        ]
    );
    assert_eq!(fake.runs()[0].trainers.len(), 2);
    assert_eq!(fake.runs()[0].edit_count, 2);
}

#[tokio::test]
async fn delete_marks_the_run_and_its_sessions_deleted() {
    let (fake, api) = oauth_fake().await;
    let id = api.publish_one(15).await;
    let (status, _) = api.edit(&id, &edit_doc(json!({"action": "delete"}))).await;
    assert_eq!(status, StatusCode::OK);
    let run = &fake.runs()[0];
    assert!(run.deleted);
    assert!(run.sessions.iter().all(|s| s.deleted));
    assert_eq!(run.edit_count, 1);

    let (status, body) = api.get(&format!("/courses/courseRuns/id/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["course"]["run"]["deleted"], true);
    assert_eq!(
        body["data"]["course"]["run"]["sessions"][0]["deleted"],
        true
    );
    // A deleted run cannot be edited again.
    let (status, _) = api.edit(&id, &edit_doc(json!({"action": "delete"}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

// ----------------------------------------------------------------- reads

#[tokio::test]
async fn runs_can_be_read_by_id_by_course_and_by_session() {
    let (_fake, api) = oauth_fake().await;
    let id = api.publish_one(15).await;
    let second = api.publish_one(20).await;

    let (status, body) = api
        .get(&format!(
            "/courses/courseRuns/id/{id}?includeExpiredCourses=true"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let run = &body["data"]["course"]["run"];
    assert_eq!(run["id"].as_u64().unwrap().to_string(), id);
    assert_eq!(run["deleted"], false);
    assert_eq!(run["courseDates"]["start"], 20250115);
    assert_eq!(run["sessions"][0]["id"], format!("{CRN}-{id}-S1"));
    // A primary-venue session shows the run's venue.
    assert_eq!(run["sessions"][0]["venue"]["room"], "R1");
    assert_eq!(run["sessions"][1]["venue"]["room"], "R2");
    assert_eq!(
        api.get("/courses/courseRuns/id/42").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.get(&format!(
            "/courses/courseRuns/id/{id}?includeExpiredCourses=maybe"
        ))
        .await
        .0,
        StatusCode::BAD_REQUEST
    );

    let by_crn = |q: &str| format!("/courses/courseRuns/reference?{q}");
    let (status, body) = api
        .get(&by_crn(&format!("uen={UEN}&courseReferenceNumber={CRN}")))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ids: Vec<String> = body["data"]["course"]["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap().to_string())
        .collect();
    assert_eq!(ids, [id.clone(), second.clone()]);
    let (status, body) = api
        .get(&by_crn(&format!(
            "uen={UEN}&courseReferenceNumber={CRN}&pageSize=1&page=1"
        )))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["data"]["course"]["runs"][0]["id"]
            .as_u64()
            .unwrap()
            .to_string(),
        second
    );
    let (status, body) = api
        .get(&by_crn(&format!(
            "uen={UEN}&courseReferenceNumber={CRN}&courseRunStartDate=20250120"
        )))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["course"]["runs"].as_array().unwrap().len(), 1);
    for (query, expected) in [
        (
            format!("uen={UEN}&courseReferenceNumber={CRN}&page=2&pageSize=1"),
            404,
        ),
        (
            format!("uen={UEN}&courseReferenceNumber=TGS-0000000001"),
            404,
        ),
        (
            format!("uen={UEN}&courseReferenceNumber={CRN}&pageSize=101"),
            400,
        ),
        (format!("courseReferenceNumber={CRN}"), 400),
        (format!("uen={UEN}"), 400),
        (format!("uen=201000372W&courseReferenceNumber={CRN}"), 403),
    ] {
        let (status, body) = api.get(&by_crn(&query)).await;
        assert_eq!(status.as_u16(), expected, "{query}: {body}");
        assert_eq!(body["status"], expected);
    }

    let sessions = |run: &str, q: &str| format!("/courses/runs/{run}/sessions?{q}");
    let q = format!("uen={UEN}&courseReferenceNumber={CRN}");
    let (status, body) = api.get(&sessions(&id, &q)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let list = body["data"]["sessions"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(
        list[1],
        json!({"id": format!("{CRN}-{id}-S2"), "startDate": "20250116", "endDate": "20250116",
               "startTime": "09:00", "endTime": "13:00", "modeOfTraining": "1",
               "venue": {"floor": "04", "unit": "02", "postalCode": "408533", "room": "R2"},
               "deleted": false, "attendanceTaken": false})
    );
    let (status, body) = api
        .get(&sessions(&id, &format!("{q}&sessionMonth=012025")))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["sessions"].as_array().unwrap().len(), 2);
    for (run_id, query, expected) in [
        (id.as_str(), format!("{q}&sessionMonth=022025"), 404),
        (id.as_str(), format!("{q}&sessionMonth=132025"), 400),
        (id.as_str(), format!("uen={UEN}"), 400),
        ("42", q.clone(), 404),
    ] {
        let (status, body) = api.get(&sessions(run_id, &query)).await;
        assert_eq!(status.as_u16(), expected, "{query}: {body}");
    }
    // x-api-version: the session API's versions, not the others'.
    let with_version = |v: &'static str| {
        api.auth(api.http.get(format!("{}{}", api.base, sessions(&id, &q))))
            .header("x-api-version", v)
            .send()
    };
    assert_eq!(with_version("v1.5").await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        with_version("v1.0").await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
}

// ---------------------------------------------------------------- faults

#[tokio::test]
async fn status_and_throttling_faults_answer_without_processing() {
    let (fake, api) = oauth_fake().await;
    fake.inject(Route::Publish, Fault::Status(503), 2);
    for _ in 0..2 {
        let (status, body) = api.publish(&publish_doc(vec![run(15)])).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["status"], 503);
        assert_eq!(body["error"]["code"], "TGS-503");
    }
    assert!(fake.runs().is_empty());

    fake.inject(
        Route::Any,
        Fault::TooManyRequests {
            retry_after_secs: 7,
        },
        1,
    );
    let r = api
        .http
        .get(format!("{}/courses/courseRuns/id/1", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "7");

    fake.inject(
        Route::Publish,
        Fault::Validation {
            field: "course.runs[0].venue.room".into(),
            message: "Room is not available".into(),
        },
        1,
    );
    let (status, body) = api.publish(&publish_doc(vec![run(15)])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"]["details"],
        json!([{"field": "course.runs[0].venue.room", "message": "Room is not available"}])
    );
    // Faults for other routes do not apply; cleared ones neither.
    fake.inject(Route::Edit, Fault::Status(500), 1);
    fake.inject(Route::Publish, Fault::Status(500), 5);
    fake.clear_faults();
    api.publish_one(15).await;
    assert_eq!(fake.calls(Route::Publish), 4);
    assert_eq!(fake.accepted(Route::Publish), 1);
    assert_eq!(fake.calls(Route::Any), 6);
    assert_eq!(fake.calls(Route::Token), 1);
}

#[tokio::test]
async fn delays_and_latency_slow_the_answer() {
    let (fake, api) = oauth_fake().await;
    fake.inject(Route::GetRun, Fault::Delay(Duration::from_millis(200)), 1);
    let started = Instant::now();
    assert_eq!(
        api.get("/courses/courseRuns/id/1").await.0,
        StatusCode::NOT_FOUND
    );
    assert!(started.elapsed() >= Duration::from_millis(200));
    let started = Instant::now();
    api.get("/courses/courseRuns/id/1").await;
    assert!(started.elapsed() < Duration::from_millis(200));

    fake.set_latency(Duration::from_millis(150));
    let started = Instant::now();
    let id = api.publish_one(15).await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    fake.set_latency(Duration::ZERO);
    assert!(!id.is_empty());
}

#[tokio::test]
async fn a_hung_request_times_out_and_is_not_processed() {
    let (fake, api) = oauth_fake().await;
    fake.inject(Route::Publish, Fault::Hang, 1);
    let started = Instant::now();
    let r = api
        .http
        .post(format!("{}/courses/courseRuns/publish", api.base))
        .bearer_auth(api.token.as_deref().unwrap())
        .body(encrypt(&publish_doc(vec![run(15)])))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(r.as_ref().is_err_and(|e| e.is_timeout()), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(fake.runs().is_empty());
    assert_eq!(fake.calls(Route::Publish), 1);
    assert_eq!(fake.accepted(Route::Publish), 0);
    // The next one is served.
    api.publish_one(15).await;
    // Shutting down ends hung connections too.
    fake.inject(Route::GetRun, Fault::Hang, 1);
    let hung = tokio::spawn({
        let http = api.http.clone();
        let url = format!("{}/courses/courseRuns/id/1", api.base);
        async move { http.get(url).send().await }
    });
    for _ in 0..300 {
        if fake.calls(Route::GetRun) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(fake.calls(Route::GetRun), 1);
    fake.shutdown().await;
    let r = tokio::time::timeout(Duration::from_secs(5), hung)
        .await
        .unwrap()
        .unwrap();
    assert!(r.is_err(), "{r:?}");
    let r = api
        .http
        .get(format!("{}/courses/courseRuns/id/1", api.base))
        .send()
        .await;
    assert!(r.is_err(), "{r:?}");
}

#[tokio::test]
async fn accept_then_drop_stores_the_run_but_answers_nothing() {
    let (fake, api) = oauth_fake().await;
    fake.inject(Route::Publish, Fault::AcceptThenDrop, 1);
    let r = api
        .http
        .post(format!("{}/courses/courseRuns/publish", api.base))
        .bearer_auth(api.token.as_deref().unwrap())
        .body(encrypt(&publish_doc(vec![run(15)])))
        .send()
        .await;
    let e = r.unwrap_err();
    assert!(!e.is_timeout(), "{e:?}");
    assert_eq!(fake.runs().len(), 1);
    assert_eq!(fake.accepted(Route::Publish), 1);
    let id = &fake.runs()[0].id;
    // The client's retry sees the duplicate and learns the id.
    let (status, body) = api.publish(&publish_doc(vec![run(15)])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"]["details"][0]["message"],
        format!("Course Run ID is {id} already exists")
    );
    // Edits are processed too before the drop.
    fake.inject(Route::Any, Fault::AcceptThenDrop, 1);
    let r = api
        .http
        .post(format!("{}/courses/courseRuns/edit/{id}", api.base))
        .bearer_auth(api.token.as_deref().unwrap())
        .body(encrypt(&edit_doc(json!({"action": "delete"}))))
        .send()
        .await;
    assert!(r.is_err());
    assert!(fake.runs()[0].deleted);
    // Later requests on new connections are answered.
    assert_eq!(
        api.get(&format!("/courses/courseRuns/id/{id}")).await.0,
        StatusCode::OK
    );
}
