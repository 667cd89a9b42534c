//! Trainees end to end on both engine sets: create, duplicate national id
//! (409, in any spelling), bad check letter, list by name, read, patch
//! (If-Match), a new national id that moves the guard. (The proof that the
//! full national id is in no answer, stored item or log line is
//! tests/pii_logs.rs: its own process, so that it can own the log output.)

use serde_json::{json, Value};
use tms_domain::TypedId;
use tms_tests::{on_both_engines, TestSystem};

on_both_engines! {
    systems;
    trainees_end_to_end => trainees_sqlite_end_to_end, trainees_aws_end_to_end;
}

const FIRST: &str = "S7020587D";
const SECOND: &str = "S0808315J";

fn trainee(national_id: &str, name: &str) -> Value {
    let mut t = tms_http::routes::trainees::example_trainee();
    t["national_id"] = json!(national_id);
    t["name"] = json!(name);
    t
}

async fn trainees_end_to_end(sys: TestSystem) {
    let created = sys
        .post("/trainees", &trainee(FIRST, "Aileen Chong"), &[])
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["national_id_masked"], "*****587D");
    assert_eq!(created.body["national_id_type"], "nric");
    assert!(created.body.get("national_id").is_none());
    assert_eq!(created.header("etag"), Some("\"1\""));
    let id = created.body["id"].as_str().expect("id").to_string();
    assert_eq!(
        created.header("location"),
        Some(format!("/trainees/{id}").as_str())
    );

    // The same id in another spelling is the same person: 409, nothing
    // written, and the answer names no one.
    let before = sys.all_versions().await;
    let dup = sys
        .post("/trainees", &trainee(" s7020587d ", "Someone Else"), &[])
        .await;
    assert_eq!(dup.status, 409, "{:?}", dup.body);
    assert!(!dup.body.to_string().contains(&id));
    assert_eq!(sys.all_versions().await, before);

    // A wrong check letter: 422 naming the field, without the value.
    let bad = sys
        .post("/trainees", &trainee("S7020587A", "Wrong Letter"), &[])
        .await;
    assert_eq!(bad.status, 422, "{:?}", bad.body);
    assert_eq!(bad.error_fields(), ["national_id"]);
    assert!(!bad.body.to_string().contains("7020587"));
    let fin = sys
        .post(
            "/trainees",
            &json!({"name": "Wrong Type", "national_id": FIRST, "national_id_type": "fin",
                    "date_of_birth": "1980-01-01"}),
            &[],
        )
        .await;
    assert_eq!(fin.status, 422, "an NRIC is not a FIN: {:?}", fin.body);
    assert_eq!(sys.all_versions().await, before);

    // Listing by name prefix, any case.
    let listed = sys.get("/trainees?name=aIl").await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    assert_eq!(listed.body["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(listed.body["items"][0]["national_id_masked"], "*****587D");
    let none = sys.get("/trainees?name=zz").await;
    assert_eq!(none.body["items"], json!([]));

    let got = sys.get(&format!("/trainees/{id}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.header("etag"), Some("\"1\""));

    // A patch keeps the sealed id; a new id replaces it and frees the old.
    let uri = format!("/trainees/{id}");
    let renamed = sys
        .patch(&uri, &json!({"name": "Aileen Chong Mei"}), Some("\"1\""))
        .await;
    assert_eq!(renamed.status, 200, "{:?}", renamed.body);
    assert_eq!(renamed.body["national_id_masked"], "*****587D");
    let moved = sys
        .patch(&uri, &json!({"national_id": SECOND}), Some("\"2\""))
        .await;
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    assert_eq!(moved.body["national_id_masked"], "*****315J");
    let retyped = sys
        .patch(&uri, &json!({"national_id_type": "fin"}), Some("\"3\""))
        .await;
    assert_eq!(retyped.status, 422, "{:?}", retyped.body);
    assert_eq!(retyped.error_fields(), ["national_id"]);
    let stale = sys.patch(&uri, &json!({"name": "X"}), Some("\"1\"")).await;
    assert_eq!(stale.status, 412);
    let again = sys
        .post("/trainees", &trainee(FIRST, "Aileen Again"), &[])
        .await;
    assert_eq!(again.status, 201, "the old id is free: {:?}", again.body);
    let taken = sys.post("/trainees", &trainee(SECOND, "Taken"), &[]).await;
    assert_eq!(taken.status, 409, "{:?}", taken.body);

    assert_eq!(
        sys.audit_actions("trainee", &id).await,
        ["trainee.updated", "trainee.updated", "trainee.created"]
    );

    // Only the worker's path opens the id: the sealed value opens to the
    // current id, bound to its own trainee.
    let tid = tms_domain::ids::TraineeId::parse(&id).expect("id");
    let (stored, _) = sys.app.read_trainee(&tid).await.expect("stored");
    let opened = sys.app.open_national_id(&stored).await.expect("open");
    assert_eq!(opened.expose(), SECOND);
    let other_id = again.body["id"].as_str().expect("id");
    let other = tms_domain::ids::TraineeId::parse(other_id).expect("id");
    let (mut moved_onto_other, _) = sys.app.read_trainee(&other).await.expect("stored");
    moved_onto_other.national_id_sealed = stored.national_id_sealed.clone();
    assert!(
        sys.app.open_national_id(&moved_onto_other).await.is_err(),
        "a sealed id copied onto another trainee does not open"
    );
}
