//! The fake TPGateway's enrolment APIs over real HTTP on loopback, called
//! with the real client (`tms_adapters`' `HttpTpGateway`, which encrypts
//! and decrypts per API-NOTES §3) and the domain's payload builders and
//! parsers: create, duplicate, search, view, update, cancel, cancel again,
//! validation, encryption both ways, and faults.

mod common;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tms_domain::tpg::enrolment::{
    cancel_enrolment, create_enrolment, is_already_cancelled, is_duplicate, is_enrolment_ref,
    parse_enrolment_reference, parse_search, search_enrolments, update_enrolment, EnrolmentPayload,
    FoundEnrolment, Sponsorship,
};
use tms_domain::tpg::Provider;
use tms_fake_tpgateway::{FakeConfig, Fault, Route, TEST_ENCRYPTION_KEY};
use tms_ports::{Api, ErrorKind, TpGateway, TpgError, TpgRequest, TpgResponse};
use tms_tpgateway::EncryptionKey;

use common::{enrolment_payload as payload, fields, Env, CRN, NRIC};

impl Env {
    async fn update_with(&self, reference: &str, body: Value) -> Result<TpgResponse, TpgError> {
        let req = TpgRequest::new(
            Api::UpdateEnrolment,
            format!("/tpg/enrolments/details/{reference}"),
        )
        .body(body);
        self.tpg.call(req).await
    }

    async fn search(&self, p: &EnrolmentPayload) -> Result<TpgResponse, TpgError> {
        let req = TpgRequest::new(Api::SearchEnrolments, "/tpg/enrolments/search").body(
            search_enrolments(
                &self.provider,
                &p.course_ref,
                &p.tpg_run_id,
                &p.trainee.id,
                p.trainee.id_type,
            ),
        );
        self.tpg.call(req).await
    }

    /// The search's records: none on a 404 (API-NOTES §4), as a caller
    /// reads it.
    async fn found(&self, p: &EnrolmentPayload) -> Vec<FoundEnrolment> {
        match self.search(p).await {
            Ok(resp) => parse_search(&resp.body).unwrap(),
            Err(e) if e.is_not_found() => {
                // The error envelope says the same.
                assert_eq!(parse_search(e.body.as_deref().unwrap()), Ok(Vec::new()));
                Vec::new()
            }
            Err(e) => panic!("search failed: {e:?}"),
        }
    }

    async fn view(&self, reference: &str) -> Result<TpgResponse, TpgError> {
        self.tpg
            .call(TpgRequest::new(
                Api::GetEnrolment,
                format!("/tpg/enrolments/details/{reference}"),
            ))
            .await
    }
}

fn key() -> EncryptionKey {
    EncryptionKey::from_base64(TEST_ENCRYPTION_KEY).unwrap()
}

#[tokio::test]
async fn create_search_update_cancel_and_cancel_again() {
    let env = Env::start().await;
    let run_id = env.publish(CRN, 15).await;
    let p = payload(&run_id);

    // Nothing yet: the search's "no records" is a 404.
    assert_eq!(env.found(&p).await, Vec::new());

    // Create: an ENR-YYMM-NNNNNN reference, Confirmed.
    let resp = env.create(&p).await.unwrap();
    let (reference, status) = parse_enrolment_reference(&resp.body).unwrap();
    assert!(is_enrolment_ref(&reference), "{reference}");
    let yymm = (chrono::Utc::now() + chrono::Duration::hours(8))
        .format("%y%m")
        .to_string();
    assert_eq!(reference.get(4..8), Some(yymm.as_str()));
    assert_eq!(status.as_deref(), Some("Confirmed"));
    let stored = env.fake.enrolments();
    assert_eq!(stored.len(), 1);
    let x = &stored[0];
    assert_eq!(x.reference, reference);
    assert_eq!(x.run_id, run_id);
    assert_eq!(x.course_reference_number, CRN);
    assert_eq!(x.trainee_id, NRIC);
    assert_eq!(x.trainee_id_type, "NRIC");
    assert_eq!(x.status, "Confirmed");
    assert_eq!(x.sponsorship_type, "INDIVIDUAL");
    assert_eq!(x.enrolment_date, "2025-01-05");
    assert_eq!(x.discount_amount, Some(0.0));
    assert_eq!(x.collection_status, "Pending Payment");
    assert_eq!(x.trainee["fullName"], "Aileen Chong");
    // Debug leaves the trainee out.
    assert!(!format!("{x:?}").contains(NRIC));

    // A second create for the trainee in the run: a duplicate (§12).
    let err = env.create(&p).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent);
    assert_eq!(err.status, Some(400));
    assert!(is_duplicate(&err.message), "{}", err.message);
    assert_eq!(env.fake.enrolments().len(), 1);

    // Search finds it.
    assert_eq!(
        env.found(&p).await,
        vec![FoundEnrolment {
            reference: reference.clone(),
            status: Some("Confirmed".into()),
        }]
    );

    // The view (GET, encrypted answer).
    let resp = env.view(&reference).await.unwrap();
    assert_eq!(
        parse_enrolment_reference(&resp.body).unwrap(),
        (reference.clone(), Some("Confirmed".into()))
    );
    assert_eq!(
        resp.body["data"]["enrolment"]["course"]["run"]["id"],
        json!(run_id)
    );
    let missing = env.view("ENR-2501-999999").await.unwrap_err();
    assert_eq!(missing.status, Some(404));

    // Update the fees and the trainee's contact.
    let mut changed = p.clone();
    changed.discount_amount = "25.50".into();
    changed.collection_status = "Full Payment";
    changed.trainee.email = Some("aileen@example.sg".into());
    let resp = env
        .update_with(&reference, update_enrolment(&changed))
        .await
        .unwrap();
    assert_eq!(
        parse_enrolment_reference(&resp.body).unwrap(),
        (reference.clone(), Some("Confirmed".into()))
    );
    let x = env.fake.enrolments().remove(0);
    assert_eq!(x.discount_amount, Some(25.5));
    assert_eq!(x.collection_status, "Full Payment");
    assert_eq!(x.trainee["emailAddress"], "aileen@example.sg");
    assert_eq!(x.update_count, 1);

    // Cancel.
    let resp = env
        .update_with(&reference, cancel_enrolment(&run_id))
        .await
        .unwrap();
    assert_eq!(
        parse_enrolment_reference(&resp.body).unwrap(),
        (reference.clone(), Some("Cancelled".into()))
    );
    assert_eq!(env.fake.enrolments()[0].status, "Cancelled");

    // Cancel again: TGS-439 "cannot be updated" (§7); so is an update.
    let err = env
        .update_with(&reference, cancel_enrolment(&run_id))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent);
    assert_eq!(err.code.as_deref(), Some("TGS-439"));
    assert!(err.message.contains("cannot be updated"), "{}", err.message);
    assert!(is_already_cancelled(err.code.as_deref(), &err.message));
    let err = env
        .update_with(&reference, update_enrolment(&changed))
        .await
        .unwrap_err();
    assert_eq!(err.code.as_deref(), Some("TGS-439"));

    // Enrolled again after the cancel: a new reference; the search lists
    // both, the newest first.
    let resp = env.create(&p).await.unwrap();
    let (second, _) = parse_enrolment_reference(&resp.body).unwrap();
    assert_ne!(second, reference);
    let found = env.found(&p).await;
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].reference, second);
    assert_eq!(found[1].status.as_deref(), Some("Cancelled"));

    assert_eq!(env.fake.calls(Route::CreateEnrolment), 3);
    assert_eq!(env.fake.accepted(Route::CreateEnrolment), 2);
    assert_eq!(env.fake.accepted(Route::UpdateEnrolment), 2);
    assert_eq!(env.fake.calls(Route::UpdateEnrolment), 4);
    assert_eq!(env.fake.calls(Route::GetEnrolment), 2);
    assert!(env.fake.calls(Route::SearchEnrolments) >= 3);
}

#[tokio::test]
async fn employer_sponsorship_needs_the_employer_block() {
    let env = Env::start().await;
    let run_id = env.publish(CRN, 15).await;
    let mut p = payload(&run_id);
    p.sponsorship = Sponsorship::Employer {
        uen: "201234567K".into(),
        contact_name: "Tan Mei Ling".into(),
        contact_email: "hr@example.sg".into(),
        contact_phone: None,
    };
    // SC requires the contact's phone (API-NOTES §7).
    let err = env.create(&p).await.unwrap_err();
    assert_eq!(err.status, Some(400));
    assert_eq!(
        fields(&err),
        ["enrolment.trainee.employer.contact.contactNumber"]
    );
    p.sponsorship = Sponsorship::Employer {
        uen: "201234567K".into(),
        contact_name: "Tan Mei Ling".into(),
        contact_email: "hr@example.sg".into(),
        contact_phone: Some(("65".into(), "61234567".into())),
    };
    let resp = env.create(&p).await.unwrap();
    let (reference, _) = parse_enrolment_reference(&resp.body).unwrap();
    let x = env.fake.enrolments().remove(0);
    assert_eq!(x.sponsorship_type, "EMPLOYER");
    assert_eq!(x.employer_uen.as_deref(), Some("201234567K"));

    // The update's employer contact (`email`, not `emailAddress`).
    if let Sponsorship::Employer { contact_email, .. } = &mut p.sponsorship {
        *contact_email = "payroll@example.sg".into();
    }
    env.update_with(&reference, update_enrolment(&p))
        .await
        .unwrap();
    let x = env.fake.enrolments().remove(0);
    assert_eq!(
        x.trainee["employer"]["contact"]["emailAddress"],
        "payroll@example.sg"
    );

    // An individual's enrolment takes no employer block on update.
    let mut q = payload(&run_id);
    q.trainee.id = "T0000001E".into();
    let resp = env.create(&q).await.unwrap();
    let (individual, _) = parse_enrolment_reference(&resp.body).unwrap();
    let err = env
        .update_with(&individual, update_enrolment(&p))
        .await
        .unwrap_err();
    assert_eq!(fields(&err), ["enrolment.employer"]);
}

#[tokio::test]
async fn bad_ids_unknown_runs_and_foreign_providers_are_refused() {
    let env = Env::start().await;
    let run_id = env.publish(CRN, 15).await;

    // A wrong NRIC check letter: 400 naming the field, not the value.
    let mut p = payload(&run_id);
    p.trainee.id = "S7020587E".into();
    let err = env.create(&p).await.unwrap_err();
    assert_eq!(err.status, Some(400));
    assert_eq!(fields(&err), ["enrolment.trainee.id"]);
    assert!(!err.details[0].message.contains("7020587"));
    // An NRIC given as a FIN.
    p.trainee.id = NRIC.into();
    p.trainee.id_type = "FIN";
    assert_eq!(
        fields(&env.create(&p).await.unwrap_err()),
        ["enrolment.trainee.id"]
    );
    // A valid FIN.
    p.trainee.id = "F1234567N".into();
    env.create(&p).await.unwrap();

    // An unknown run, a deleted run, a run of another course.
    let p = payload("999999");
    let err = env.create(&p).await.unwrap_err();
    assert_eq!(err.status, Some(400));
    assert_eq!(fields(&err), ["enrolment.course.run.id"]);
    let deleted = env.publish(CRN, 20).await;
    let delete = json!({"course": {"courseReferenceNumber": CRN,
        "trainingProvider": {"uen": env.provider.uen}, "run": {"action": "delete"}}});
    env.tpg
        .call(
            TpgRequest::new(Api::EditRun, format!("/courses/courseRuns/edit/{deleted}"))
                .body(delete),
        )
        .await
        .unwrap();
    assert_eq!(
        fields(&env.create(&payload(&deleted)).await.unwrap_err()),
        ["enrolment.course.run.id"]
    );
    let other_course = env.publish("TGS-2020000698", 15).await;
    assert_eq!(
        fields(&env.create(&payload(&other_course)).await.unwrap_err()),
        ["enrolment.course.referenceNumber"]
    );

    // Every field rule at once, with §7's names.
    let mut body = create_enrolment(&env.provider, &payload(&run_id));
    let t = &mut body["enrolment"]["trainee"];
    t["fullName"] = json!("x".repeat(201));
    t["dateOfBirth"] = json!("08-03-1969");
    t["emailAddress"] = json!(format!("{}@example.sg", "a".repeat(100)));
    t["enrolmentDate"] = json!("20250105");
    t["sponsorshipType"] = json!("SELF");
    t["fees"] = json!({"discountAmount": -1, "collectionStatus": "Paid"});
    t["idType"] = json!({"type": "PASSPORT"});
    body["enrolment"]["course"]["run"]["id"] = json!("1".repeat(21));
    body["enrolment"]["course"]["referenceNumber"] = json!("T".repeat(101));
    let err = env
        .tpg
        .call(TpgRequest::new(Api::CreateEnrolment, "/tpg/enrolments").body(body))
        .await
        .unwrap_err();
    assert_eq!(
        fields(&err),
        [
            "enrolment.course.referenceNumber",
            "enrolment.course.run.id",
            "enrolment.trainee.idType.type",
            "enrolment.trainee.fullName",
            "enrolment.trainee.dateOfBirth",
            "enrolment.trainee.emailAddress",
            "enrolment.trainee.enrolmentDate",
            "enrolment.trainee.sponsorshipType",
            "enrolment.trainee.fees.discountAmount",
            "enrolment.trainee.fees.collectionStatus",
        ]
    );

    // Another provider's code is refused; another UEN is forbidden.
    let mut body = create_enrolment(&env.provider, &payload(&run_id));
    body["enrolment"]["trainingPartner"]["code"] = json!("199900650G-02");
    let err = env
        .tpg
        .call(TpgRequest::new(Api::CreateEnrolment, "/tpg/enrolments").body(body))
        .await
        .unwrap_err();
    assert_eq!(fields(&err), ["enrolment.trainingPartner.code"]);
    let other = Provider {
        uen: "201234567K".into(),
        tp_code: "201234567K-01".into(),
    };
    let err = env
        .tpg
        .call(
            TpgRequest::new(Api::CreateEnrolment, "/tpg/enrolments")
                .body(create_enrolment(&other, &payload(&run_id))),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status, Some(403));

    // Update: the action is capitalised; a cancel names the enrolment's run.
    let mut q = payload(&run_id);
    q.trainee.id = "T0000001E".into();
    let (reference, _) = parse_enrolment_reference(&env.create(&q).await.unwrap().body).unwrap();
    let err = env
        .update_with(
            &reference,
            json!({"enrolment": {"action": "cancel", "course": {"run": {"id": run_id}}}}),
        )
        .await
        .unwrap_err();
    assert_eq!(fields(&err), ["enrolment.action"]);
    let err = env
        .update_with(&reference, cancel_enrolment("999999"))
        .await
        .unwrap_err();
    assert_eq!(fields(&err), ["enrolment.course.run.id"]);
    let err = env
        .update_with(
            &reference,
            json!({"enrolment": {"action": "Update", "course": {"run": {"id": run_id}},
                "trainee": {"emailAddress": "t@example.com"}}}),
        )
        .await
        .unwrap_err();
    assert_eq!(fields(&err), ["enrolment.trainee.emailAddress"]);
    let err = env
        .update_with("ENR-2501-999999", cancel_enrolment(&run_id))
        .await
        .unwrap_err();
    assert_eq!(err.status, Some(404));
    assert_eq!(env.fake.enrolments()[1].status, "Confirmed");

    // Search needs the training partner's code.
    let err = env
        .tpg
        .call(
            TpgRequest::new(Api::SearchEnrolments, "/tpg/enrolments/search")
                .body(json!({"enrolment": {"trainingPartner": {"uen": env.provider.uen}}})),
        )
        .await
        .unwrap_err();
    assert_eq!(fields(&err), ["enrolment.trainingPartner.code"]);
}

#[tokio::test]
async fn an_update_naming_another_run_moves_the_enrolment() {
    let env = Env::start().await;
    let first = env.publish(CRN, 15).await;
    let second = env.publish(CRN, 20).await;
    let p = payload(&first);
    let (reference, _) = parse_enrolment_reference(&env.create(&p).await.unwrap().body).unwrap();
    let moved = payload(&second);
    env.update_with(&reference, update_enrolment(&moved))
        .await
        .unwrap();
    let x = env.fake.enrolments().remove(0);
    assert_eq!(
        (x.reference.as_str(), x.run_id.as_str()),
        (reference.as_str(), second.as_str())
    );
    assert_eq!(env.found(&p).await, Vec::new());
    assert_eq!(env.found(&moved).await.len(), 1);
    // Back, then a second enrolment in the second run: moving onto it is a
    // duplicate.
    env.update_with(&reference, update_enrolment(&p))
        .await
        .unwrap();
    env.create(&moved).await.unwrap();
    let err = env
        .update_with(&reference, update_enrolment(&moved))
        .await
        .unwrap_err();
    assert!(is_duplicate(&err.message), "{}", err.message);
}

#[tokio::test]
async fn encryption_really_happens_both_ways() {
    let env = Env::start().await;
    let run_id = env.publish(CRN, 15).await;
    let http = reqwest::Client::new();
    let base = env.fake.base_url();
    let token = http
        .post(format!("{base}/dp-oauth/oauth/token"))
        .basic_auth("tms-local", Some("tms-local-secret"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let doc = create_enrolment(&env.provider, &payload(&run_id));
    let post = |path: &str, body: String| {
        http.post(format!("{base}{path}"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .header("x-api-version", "v1")
            .body(body)
            .send()
    };

    // A plaintext request is refused, and the refusal is itself encrypted.
    for path in [
        "/tpg/enrolments",
        "/tpg/enrolments/search",
        "/tpg/enrolments/details/ENR-2501-000001",
    ] {
        let r = post(path, doc.to_string()).await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path}");
        let text = r.text().await.unwrap();
        assert!(
            serde_json::from_str::<Value>(&text).is_err(),
            "{path}: {text}"
        );
        let answer: Value = serde_json::from_str(&key().decrypt(&text).unwrap()).unwrap();
        assert_eq!(answer["status"], 400);
        assert_eq!(answer["error"]["details"][0]["field"], "body");
        assert_eq!(
            answer["error"]["details"][0]["message"],
            "request must be encrypted"
        );
    }
    assert!(env.fake.enrolments().is_empty());

    // Ciphertext in (raw, or as a JSON string), ciphertext out.
    let r = post("/tpg/enrolments", key().encrypt(&doc.to_string()))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
    let answer: Value = serde_json::from_str(&key().decrypt(&text).unwrap()).unwrap();
    let reference = answer["data"]["enrolment"]["referenceNumber"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(is_enrolment_ref(&reference));
    assert!(answer["meta"]["createdOn"].as_str().unwrap().ends_with('Z'));
    let quoted = serde_json::to_string(&key().encrypt(&doc.to_string())).unwrap();
    let r = post("/tpg/enrolments", quoted).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let answer: Value =
        serde_json::from_str(&key().decrypt(&r.text().await.unwrap()).unwrap()).unwrap();
    assert!(is_duplicate(answer["error"]["message"].as_str().unwrap()));

    // The view: a plain GET, an encrypted answer.
    let r = http
        .get(format!("{base}/tpg/enrolments/details/{reference}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
    let answer: Value = serde_json::from_str(&key().decrypt(&text).unwrap()).unwrap();
    assert_eq!(
        answer["data"]["enrolment"]["referenceNumber"],
        json!(reference)
    );
    assert_eq!(answer["data"]["enrolment"]["trainee"]["id"], NRIC);

    // Versions: v1 (LT, CI) and v3.0 (EX); others refused.
    let r = http
        .post(format!("{base}/tpg/enrolments/search"))
        .bearer_auth(&token)
        .header("x-api-version", "v1.0")
        .body(key().encrypt("{}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // The details path takes GET and POST only.
    let r = http
        .delete(format!("{base}/tpg/enrolments/details/{reference}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers()["allow"], "GET, POST");
}

#[tokio::test]
async fn a_lost_create_answer_is_found_by_search() {
    let env = Env::with(
        FakeConfig::oauth(),
        vec![(Api::CreateEnrolment, Duration::from_millis(500))],
    )
    .await;
    let run_id = env.publish(CRN, 15).await;
    let p = payload(&run_id);

    // No answer, nothing done: an unknown outcome for the caller.
    env.fake.inject(Route::CreateEnrolment, Fault::Hang, 1);
    let err = env.create(&p).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::UnknownOutcome);
    assert!(env.fake.enrolments().is_empty());

    // Done, but the answer is lost: the search finds it (API-NOTES §12).
    env.fake
        .inject(Route::CreateEnrolment, Fault::AcceptThenDrop, 1);
    let err = env.create(&p).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::UnknownOutcome);
    let stored = env.fake.enrolments();
    assert_eq!(stored.len(), 1);
    let found = env.found(&p).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].reference, stored[0].reference);

    // A failing search is a failed read, worth retrying.
    env.fake
        .inject(Route::SearchEnrolments, Fault::Status(503), 1);
    let err = env.search(&p).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient);
    env.fake.inject(
        Route::GetEnrolment,
        Fault::TooManyRequests {
            retry_after_secs: 3,
        },
        1,
    );
    let err = env.view(&stored[0].reference).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient);
    assert_eq!(err.retry_after, Some(Duration::from_secs(3)));
    env.fake.inject(
        Route::UpdateEnrolment,
        Fault::Validation {
            field: "enrolment.fees.collectionStatus".into(),
            message: "is invalid".into(),
        },
        1,
    );
    let err = env
        .update_with(&stored[0].reference, update_enrolment(&p))
        .await
        .unwrap_err();
    assert_eq!(fields(&err), ["enrolment.fees.collectionStatus"]);
    assert_eq!(env.fake.enrolments()[0].update_count, 0);
}

#[tokio::test]
async fn enrolments_over_mutual_tls() {
    let env = Env::with(FakeConfig::certificate(), Vec::new()).await;
    assert!(env.fake.base_url().starts_with("https://"));
    let run_id = env.publish(CRN, 15).await;
    let p = payload(&run_id);
    let (reference, _) = parse_enrolment_reference(&env.create(&p).await.unwrap().body).unwrap();
    assert_eq!(env.found(&p).await[0].reference, reference);
    env.update_with(&reference, cancel_enrolment(&run_id))
        .await
        .unwrap();
    assert_eq!(env.fake.enrolments()[0].status, "Cancelled");
}
