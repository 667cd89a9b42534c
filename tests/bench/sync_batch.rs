//! Benchmark (not a test): one SQS batch of 10 sync jobs through the
//! worker's batch handler, with the fake TPGateway answering every call in
//! 100 ms. Target: the batch completes within 1.5 x 100 ms (the records are
//! handled concurrently). Embedded engine; prints the figures.
//!
//!     cargo bench -p tms-tests --bench sync_batch

use std::time::{Duration, Instant};

use tms_fake_tpgateway::FakeConfig;
use tms_runtime::worker::{handle_batch, BatchRecord};
use tms_tests::{Engine, TestSystem};

const LATENCY: Duration = Duration::from_millis(100);
const ROUNDS: usize = 20;

#[tokio::main]
async fn main() {
    let sys = TestSystem::with_fake(Engine::Sqlite, FakeConfig::oauth()).await;
    sys.fake().set_latency(LATENCY);
    let mut times = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        // Ten creates, each with its own end date (distinct runs for
        // TPGateway, which refuses a second run of a course with the same
        // dates).
        for i in 0..10 {
            let mut body = tms_http::routes::course_runs::example_run();
            let end = chrono::NaiveDate::from_ymd_opt(2025, 1, 16)
                .and_then(|d| d.checked_add_days(chrono::Days::new((round * 10 + i) as u64)))
                .expect("a date");
            body["end_date"] = serde_json::json!(end.to_string());
            sys.create_run(&body).await;
        }
        let messages = sys.receive_all().await;
        assert_eq!(messages.len(), 10, "one message per create");
        let records: Vec<BatchRecord> = messages
            .into_iter()
            .map(|m| BatchRecord {
                message_id: m.message_id,
                receipt_handle: m.receipt_handle,
                body: m.body,
                receive_count: m.receive_count,
                correlation_id: None,
            })
            .collect();
        let started = Instant::now();
        let failed = handle_batch(&sys.app, records).await;
        let took = started.elapsed();
        assert!(failed.is_empty(), "records to retry: {failed:?}");
        times.push(took);
        // The follow-up session-id jobs, outside the measurement.
        sys.fake().set_latency(Duration::ZERO);
        sys.work().await;
        sys.fake().set_latency(LATENCY);
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let published = sys.fake().runs().len();
    println!(
        "sync batch of 10 jobs, fake TPGateway latency {} ms, {ROUNDS} rounds, embedded engine:",
        LATENCY.as_millis()
    );
    println!(
        "  min {:.1} ms, median {:.1} ms, p90 {:.1} ms, max {:.1} ms (target <= {:.0} ms); {published} runs published",
        ms(times[0]),
        ms(times[ROUNDS / 2]),
        ms(times[ROUNDS * 9 / 10]),
        ms(times[ROUNDS - 1]),
        ms(LATENCY) * 1.5
    );
}
