//! The full national id appears in no answer, stored item or log line, on
//! both engine sets. Its own test binary (its own process): the log
//! subscriber it installs is the process's global one, so every line of
//! every thread is captured (a thread-local subscriber beside other tests
//! lost lines under tracing's shared callsite cache).

use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{json, Value};
use tms_tests::{on_both_engines, Reply, TestSystem};

on_both_engines! {
    systems;
    national_id_appears_nowhere => pii_sqlite_national_id_nowhere, pii_aws_national_id_nowhere;
}

on_both_engines! {
    synced;
    the_worker_opens_it_for_tpgateway_and_logs_it_nowhere => pii_sqlite_worker, pii_aws_worker;
}

/// An enrolment and a session's attendance synced to the fake TPGateway:
/// the worker opens the id and sends it (the fake has it), and no log line
/// or stored item holds it.
async fn the_worker_opens_it_for_tpgateway_and_logs_it_nowhere(sys: TestSystem) {
    let logs = capture();
    let nric = "T1000003Z";
    let (run, _) = sys
        .create_run(&tms_http::routes::course_runs::example_run())
        .await;
    sys.work().await;
    let t = sys
        .post("/trainees", &trainee(nric, "Worker Path"), &[])
        .await;
    assert_eq!(t.status, 201, "{:?}", t.body);
    let mut body = tms_http::routes::enrolments::example_enrolment();
    body["course_run_id"] = json!(run);
    body["trainee_id"] = t.body["id"].clone();
    let e = sys.post("/enrolments", &body, &[]).await;
    assert_eq!(e.status, 201, "{:?}", e.body);
    sys.work().await;
    let fake = sys.fake().enrolments();
    assert_eq!(fake.len(), 1);
    assert_eq!(fake[0].trainee_id, nric, "TPGateway got the id");
    // The session's attendance, signed off: the upload opens it too.
    let session = sys.get(&format!("/course-runs/{run}")).await.body["sessions"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let uri = format!("/sessions/{session}/attendance");
    let rows = json!({"rows": [{"enrolment_id": e.body["id"], "status": "present"}]});
    let json = ("content-type", "application/json");
    let r = sys
        .call(
            "PUT",
            &uri,
            &[json, ("if-match", "\"0\"")],
            Some(rows.to_string().into_bytes()),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = sys
        .call(
            "POST",
            &format!("{uri}/sign-off"),
            &[json, ("if-match", "\"1\"")],
            Some(b"{}".to_vec()),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    sys.work().await;
    let uploaded = sys.fake().attendance();
    assert_eq!(uploaded.len(), 1);
    assert_eq!(uploaded[0].trainee_id, nric, "TPGateway got the id");
    let log_text = String::from_utf8_lossy(&logs.0.lock().expect("logs")).to_string();
    assert!(
        log_text.contains("sync job succeeded"),
        "the worker's lines are captured"
    );
    for secret in [nric, "1000003"] {
        assert!(!log_text.contains(secret), "a log line holds {secret}");
        for i in sys.all_items_text().await {
            assert!(!i.contains(secret), "a stored item holds {secret}: {i}");
        }
    }
}

const FIRST: &str = "S7020587D";
const SECOND: &str = "S0808315J";

fn trainee(national_id: &str, name: &str) -> Value {
    let mut t = tms_http::routes::trainees::example_trainee();
    t["national_id"] = json!(national_id);
    t["name"] = json!(name);
    t
}

/// Every log line of the process (debug and up, trace for our crates).
fn capture() -> Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "debug,tms_app=trace,tms_http=trace,tms_runtime=trace,tms_adapters=trace",
            ))
            .with_writer(logs.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        logs
    })
    .clone()
}

/// A tracing writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

fn text_of(r: &Reply) -> String {
    format!("{:?} {}", r.headers, r.body)
}

/// Every request a trainee's id goes through, with every log line captured
/// (debug and up, trace for our crates): the full id, or its digits, is in
/// no answer, stored attribute or log line.
async fn national_id_appears_nowhere(sys: TestSystem) {
    let logs = capture();

    let mut answers = Vec::new();
    let created = sys
        .post("/trainees", &trainee(FIRST, "Aileen Chong"), &[])
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().expect("id").to_string();
    answers.push(created);
    answers.push(sys.post("/trainees", &trainee(FIRST, "Dup"), &[]).await);
    answers.push(
        sys.post("/trainees", &trainee("S7020587A", "Bad Letter"), &[])
            .await,
    );
    let mut wrong_type = trainee(FIRST, "Wrong Type");
    wrong_type["national_id"] = json!(["S7020587D"]);
    answers.push(sys.post("/trainees", &wrong_type, &[]).await);
    answers.push(sys.get(&format!("/trainees/{id}")).await);
    answers.push(sys.get("/trainees").await);
    answers.push(
        sys.patch(
            &format!("/trainees/{id}"),
            &json!({"national_id": SECOND}),
            Some("\"1\""),
        )
        .await,
    );
    answers.push(
        sys.get(&format!("/audit-logs?entity_type=trainee&entity_id={id}"))
            .await,
    );
    assert_eq!(answers[1].status, 409);
    assert_eq!(answers[2].status, 422);
    assert_eq!(answers[3].status, 422);
    assert_eq!(answers[6].status, 200, "{:?}", answers[6].body);
    assert_eq!(answers[7].body["items"].as_array().map(Vec::len), Some(2));

    let items = sys.all_items_text().await;
    let log_text = String::from_utf8_lossy(&logs.0.lock().expect("logs")).to_string();
    assert!(
        log_text.contains("request served"),
        "the capture holds the request log lines"
    );
    assert!(
        items.iter().any(|i| i.contains("national_id_sealed")),
        "the id is stored sealed"
    );
    for secret in [FIRST, SECOND, "7020587", "0808315", "s7020587d"] {
        for a in &answers {
            assert!(
                !text_of(a).contains(secret),
                "an answer holds {secret}: {}",
                text_of(a)
            );
        }
        for i in &items {
            assert!(!i.contains(secret), "a stored item holds {secret}: {i}");
        }
        assert!(!log_text.contains(secret), "a log line holds {secret}");
    }
}
