//! Enrolments reaching TPGateway, on both engine sets, through the worker
//! and the fake TPGateway over real HTTP (encrypted both ways): create,
//! update, cancel; a job that waits for its run; a create accepted but
//! unanswered, adopted by search (no second enrolment); a refusal.

use serde_json::{json, Value};
use tms_fake_tpgateway::{Fault, Route};
use tms_tests::{on_both_engines, TestSystem};

use crate::api::run_body;
use crate::auth::{enrolment_body, fresh_nric};

on_both_engines! {
    synced;
    enrolment_create_update_cancel_reach_tpgateway => sync_sqlite_enrolment_lifecycle, sync_aws_enrolment_lifecycle;
    enrolment_waits_for_its_run => sync_sqlite_enrolment_waits, sync_aws_enrolment_waits;
    enrolment_accepted_then_dropped_is_found_by_search => sync_sqlite_enrolment_dropped, sync_aws_enrolment_dropped;
    enrolment_refused_is_failed_then_fixed => sync_sqlite_enrolment_refused, sync_aws_enrolment_refused;
}

async fn trainee(sys: &TestSystem, nric: &str) -> String {
    let mut body = tms_http::routes::trainees::example_trainee();
    body["national_id"] = json!(nric);
    let r = sys.post("/trainees", &body, &[]).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["id"].as_str().unwrap_or_default().to_string()
}

async fn enrolment(sys: &TestSystem, id: &str) -> Value {
    let r = sys.get(&format!("/enrolments/{id}")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body
}

/// A synced run, a trainee, and an enrolment of the trainee in the run
/// (not yet worked): (run id, NRIC, enrolment id).
async fn enrolled(sys: &TestSystem) -> (String, String, String) {
    let (run, _) = sys.create_run(&run_body()).await;
    sys.work().await;
    let nric = fresh_nric();
    let t = trainee(sys, &nric).await;
    let e = sys
        .post("/enrolments", &enrolment_body(&run, &t), &[])
        .await;
    assert_eq!(e.status, 201, "{:?}", e.body);
    (
        run,
        nric,
        e.body["id"].as_str().unwrap_or_default().to_string(),
    )
}

async fn enrolment_create_update_cancel_reach_tpgateway(sys: TestSystem) {
    let (_, nric, id) = enrolled(&sys).await;
    sys.work().await;
    let e = enrolment(&sys, &id).await;
    assert_eq!(e["status"], "accepted", "{e}");
    let reference = e["sync_reference"].as_str().unwrap_or_default().to_string();
    assert!(
        tms_domain::tpg::enrolment::is_enrolment_ref(&reference),
        "{e}"
    );
    let fake = sys.fake().enrolments();
    assert_eq!(fake.len(), 1, "exactly one record");
    assert_eq!(fake[0].reference, reference);
    assert_eq!(
        fake[0].trainee_id, nric,
        "the worker opened the national id"
    );
    assert_eq!(fake[0].status, "Confirmed");

    // A change of the fees reaches TPGateway as an update.
    let uri = format!("/enrolments/{id}");
    let etag = format!("\"{}\"", e["version"]);
    let p = sys
        .patch(
            &uri,
            &json!({"discount_amount": "100.00", "fee_collection_status": "full_payment"}),
            Some(&etag),
        )
        .await;
    assert_eq!(p.status, 200, "{:?}", p.body);
    assert_eq!(p.body["status"], "pending");
    sys.work().await;
    let fake = sys.fake().enrolments();
    assert_eq!(fake.len(), 1);
    assert_eq!(fake[0].discount_amount, Some(100.0));
    assert_eq!(fake[0].collection_status, "Full Payment");
    let e = enrolment(&sys, &id).await;
    assert_eq!(e["status"], "accepted", "{e}");

    // Cancel: TPGateway's record is cancelled, still one record.
    let etag = format!("\"{}\"", e["version"]);
    let c = sys
        .call(
            "POST",
            &format!("{uri}/cancel"),
            &[tms_tests::JSON, ("if-match", &etag)],
            Some(b"{}".to_vec()),
        )
        .await;
    assert_eq!(c.status, 200, "{:?}", c.body);
    sys.work().await;
    let fake = sys.fake().enrolments();
    assert_eq!(fake.len(), 1);
    assert_eq!(fake[0].status, "Cancelled");
    let e = enrolment(&sys, &id).await;
    assert_eq!(e["status"], "cancelled");
    let audit = sys.audit_actions("enrolment", &id).await;
    assert_eq!(
        audit.iter().filter(|a| *a == "enrolment.synced").count(),
        3,
        "{audit:?}"
    );
}

/// TPGateway is down for the run's publish: the enrolment's job waits for
/// the run's TPGateway id, then goes through once the run is there.
async fn enrolment_waits_for_its_run(sys: TestSystem) {
    sys.fake().inject(Route::Publish, Fault::Status(503), 2);
    let (run, _) = sys.create_run(&run_body()).await;
    let t = trainee(&sys, &fresh_nric()).await;
    let e = sys
        .post("/enrolments", &enrolment_body(&run, &t), &[])
        .await;
    assert_eq!(e.status, 201, "{:?}", e.body);
    let id = e.body["id"].as_str().unwrap_or_default().to_string();
    sys.work().await;
    assert_eq!(enrolment(&sys, &id).await["status"], "accepted");
    assert_eq!(sys.fake().enrolments().len(), 1);
}

/// The create is processed but its answer lost: the retry searches first,
/// finds ours and adopts its reference; TPGateway holds one enrolment.
async fn enrolment_accepted_then_dropped_is_found_by_search(sys: TestSystem) {
    sys.fake()
        .inject(Route::CreateEnrolment, Fault::AcceptThenDrop, 1);
    let (_, _, id) = enrolled(&sys).await;
    sys.work().await;
    let e = enrolment(&sys, &id).await;
    assert_eq!(e["status"], "accepted", "{e}");
    let fake = sys.fake().enrolments();
    assert_eq!(fake.len(), 1, "no second enrolment");
    assert_eq!(e["sync_reference"], json!(fake[0].reference));
    assert_eq!(sys.fake().calls(Route::CreateEnrolment), 1);
    assert!(sys.fake().calls(Route::SearchEnrolments) >= 1);
}

/// TPGateway refuses the data: the enrolment is failed with its message;
/// a person's fix sends it again.
async fn enrolment_refused_is_failed_then_fixed(sys: TestSystem) {
    sys.fake().inject(
        Route::CreateEnrolment,
        Fault::Validation {
            field: "enrolment.fees.collectionStatus".into(),
            message: "is not accepted".into(),
        },
        1,
    );
    let (_, _, id) = enrolled(&sys).await;
    sys.work().await;
    let e = enrolment(&sys, &id).await;
    assert_eq!(e["status"], "failed", "{e}");
    assert_eq!(
        e["sync"]["error"]["details"][0]["field"],
        "enrolment.fees.collectionStatus"
    );
    let etag = format!("\"{}\"", e["version"]);
    let p = sys
        .patch(
            &format!("/enrolments/{id}"),
            &json!({"fee_collection_status": "partial_payment"}),
            Some(&etag),
        )
        .await;
    assert_eq!(p.status, 200, "{:?}", p.body);
    sys.work().await;
    let e = enrolment(&sys, &id).await;
    assert_eq!(e["status"], "accepted", "{e}");
    assert_eq!(e["sync"]["error"], Value::Null);
    assert_eq!(sys.fake().enrolments().len(), 1);
}
