//! The queue conformance suite (`tms_ports::conformance::queue`) on both
//! engines: `queue_sqlite_<name>` on a fresh SQLite queue file,
//! `queue_sqs_<name>` on a fresh SQS queue pair on the local AWS-compatible
//! server, created from the one resource definition with maxReceiveCount 2.

use tms_adapters::sqlite_queue::{SqliteQueue, SqliteQueueConfig};
use tms_adapters::sqs::SqsQueue;
use tms_ports::conformance::queue as conformance;
use tms_tests::TempDb;

/// A SQLite queue file removed (with its WAL files) when the test ends.
fn sqlite_queue() -> (SqliteQueue, TempDb) {
    let file = TempDb::new("tms-queue");
    let q = SqliteQueue::open(
        &file.0,
        SqliteQueueConfig {
            max_receive_count: conformance::MAX_RECEIVE_COUNT,
        },
    )
    .expect("open the SQLite queue");
    (q, file)
}

async fn sqs_queue() -> SqsQueue {
    let client = aws_sdk_sqs::Client::new(&tms_tests::aws_config().await);
    let mut res = tms_infra::resources().expect("resources.json");
    res.sync_queue.max_receive_count = conformance::MAX_RECEIVE_COUNT;
    res.sync_queue.receive_message_wait_time_seconds = 0;
    res.sync_queue.visibility_timeout_seconds = 5;
    let main_name = tms_tests::unique_name("tms-sync");
    let dlq_name = tms_tests::unique_name("tms-sync-dlq");
    let urls = tms_infra::ensure_queues(&client, &main_name, &dlq_name, &res)
        .await
        .expect("create the queue pair");
    SqsQueue::new(client, urls.main_url, urls.dlq_url)
}

/// Runs each conformance fn on both engines, as `$sqlite` and `$sqs`.
macro_rules! run_sqlite {
    ($name:ident) => {{
        let (q, _file) = sqlite_queue();
        conformance::$name(&q).await;
    }};
}
macro_rules! run_aws {
    ($name:ident) => {{
        let q = sqs_queue().await;
        conformance::$name(&q).await;
    }};
}

tms_tests::on_both_engines! {
    send_then_receive => queue_sqlite_send_then_receive, queue_sqs_send_then_receive;
    send_without_attributes => queue_sqlite_send_without_attributes, queue_sqs_send_without_attributes;
    send_batch_sends_all => queue_sqlite_send_batch_sends_all, queue_sqs_send_batch_sends_all;
    batch_limits_are_enforced => queue_sqlite_batch_limits_are_enforced, queue_sqs_batch_limits_are_enforced;
    visibility_timeout_hides_then_returns => queue_sqlite_visibility_timeout_hides_then_returns, queue_sqs_visibility_timeout_hides_then_returns;
    change_visibility_zero_makes_visible => queue_sqlite_change_visibility_zero_makes_visible, queue_sqs_change_visibility_zero_makes_visible;
    delete_removes_for_good => queue_sqlite_delete_removes_for_good, queue_sqs_delete_removes_for_good;
    batch_partial_failure => queue_sqlite_batch_partial_failure, queue_sqs_batch_partial_failure;
    moves_to_dead_letter_after_max_receives => queue_sqlite_moves_to_dead_letter_after_max_receives, queue_sqs_moves_to_dead_letter_after_max_receives;
    redrive_moves_back => queue_sqlite_redrive_moves_back, queue_sqs_redrive_moves_back;
    long_poll_returns_when_a_message_arrives => queue_sqlite_long_poll_returns_when_a_message_arrives, queue_sqs_long_poll_returns_when_a_message_arrives;
    bogus_receipt_is_rejected => queue_sqlite_bogus_receipt_is_rejected, queue_sqs_bogus_receipt_is_rejected;
}

// SQS accepts stale receipt handles (see the fn's doc): embedded engine only.
#[tokio::test]
async fn queue_sqlite_stale_receipt_is_rejected() {
    let (q, _file) = sqlite_queue();
    conformance::stale_receipt_is_rejected(&q).await;
}

/// Two handles (the local run's API and worker, say) on one file see the
/// same queue.
#[tokio::test]
async fn queue_sqlite_two_handles_share_one_file() {
    let (q, file) = sqlite_queue();
    let second = SqliteQueue::open(
        &file.0,
        SqliteQueueConfig {
            max_receive_count: conformance::MAX_RECEIVE_COUNT,
        },
    )
    .expect("open the same file again");
    use tms_ports::{OutgoingMessage, Queue, QueueName};
    q.send(OutgoingMessage::new("shared")).await.expect("send");
    let got = second
        .receive(QueueName::Main, 1, 30, 0)
        .await
        .expect("receive through the second handle");
    assert_eq!(got.len(), 1);
    assert_eq!(second.depth().await.expect("depth"), (1, 0));
}
