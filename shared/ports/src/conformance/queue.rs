//! The queue conformance suite: every [`Queue`] adapter runs these.
//!
//! Precondition of every function: `q` is a FRESH, empty queue pair (main
//! queue and dead-letter queue) made for this one test, whose
//! max_receive_count (SQS's maxReceiveCount) is [`MAX_RECEIVE_COUNT`] (2).
//! Tests wait at most a few seconds: visibility timeouts are 1 s (the
//! AWS-compatible server counts whole seconds) and long polls 0 or 1 s.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::queue::{OutgoingMessage, Queue, QueueError, QueueName, ReceivedMessage, MAX_BATCH};

/// The max_receive_count every queue given to this suite must have.
pub const MAX_RECEIVE_COUNT: u32 = 2;

/// A visibility timeout long enough that a message stays hidden for the
/// whole test unless the test changes it.
const LONG_VISIBILITY: u32 = 60;
/// The short visibility timeout tests wait out.
const SHORT_VISIBILITY: u32 = 1;
/// How long to sleep to wait out [`SHORT_VISIBILITY`].
const PAST_SHORT_VISIBILITY: Duration = Duration::from_millis(1_500);
/// How long [`receive_n`] keeps trying before it gives up.
const RECEIVE_DEADLINE: Duration = Duration::from_secs(5);

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4())
}

fn message(prefix: &str) -> OutgoingMessage {
    let body = unique(prefix);
    OutgoingMessage::new(body.clone())
        .with_attribute("correlation_id", unique("corr"))
        .with_attribute("job_type", "sync")
}

/// Receives until `n` messages came (possibly over several receives: a
/// queue may answer with fewer than are available), or panics after a few
/// seconds.
async fn receive_n<Q: Queue + ?Sized>(
    q: &Q,
    from: QueueName,
    n: usize,
    visibility_timeout_secs: u32,
) -> Vec<ReceivedMessage> {
    let started = Instant::now();
    let mut got: Vec<ReceivedMessage> = Vec::new();
    while got.len() < n {
        assert!(
            started.elapsed() < RECEIVE_DEADLINE,
            "expected {n} messages from {from:?}, got {} within {RECEIVE_DEADLINE:?}",
            got.len()
        );
        let want = u32::try_from((n - got.len()).min(MAX_BATCH)).unwrap_or(1);
        let batch = q
            .receive(from, want, visibility_timeout_secs, 1)
            .await
            .unwrap_or_else(|e| panic!("receive from {from:?} failed: {e}"));
        got.extend(batch);
    }
    assert_eq!(
        got.len(),
        n,
        "received more messages than expected from {from:?}"
    );
    got
}

/// Receives once without waiting and asserts that nothing came.
async fn assert_empty<Q: Queue + ?Sized>(q: &Q, from: QueueName, why: &str) {
    let got = q
        .receive(from, 10, LONG_VISIBILITY, 0)
        .await
        .unwrap_or_else(|e| panic!("receive from {from:?} failed: {e}"));
    assert!(
        got.is_empty(),
        "{why}: expected nothing from {from:?}, got {} message(s) (bodies {:?})",
        got.len(),
        got.iter().map(|m| &m.body).collect::<Vec<_>>()
    );
}

async fn delete_ok<Q: Queue + ?Sized>(q: &Q, from: QueueName, m: &ReceivedMessage) {
    q.delete(from, &m.receipt_handle)
        .await
        .unwrap_or_else(|e| panic!("delete from {from:?} failed: {e}"));
}

async fn change_visibility_ok<Q: Queue + ?Sized>(q: &Q, m: &ReceivedMessage, secs: u32) {
    q.change_visibility(QueueName::Main, &m.receipt_handle, secs)
        .await
        .unwrap_or_else(|e| panic!("change_visibility failed: {e}"));
}

/// Sends one message and receives it `MAX_RECEIVE_COUNT` times without
/// deleting it, then receives the main queue once more, which moves it to
/// the dead-letter queue. Returns what was sent and its id.
async fn drive_to_dead_letter<Q: Queue + ?Sized>(q: &Q, prefix: &str) -> (OutgoingMessage, String) {
    let out = message(prefix);
    let id = q
        .send(out.clone())
        .await
        .unwrap_or_else(|e| panic!("send failed: {e}"));
    for expected_count in 1..=MAX_RECEIVE_COUNT {
        let got = receive_n(q, QueueName::Main, 1, LONG_VISIBILITY).await;
        assert_eq!(got[0].body, out.body);
        assert_eq!(got[0].receive_count, expected_count);
        // Make it visible at once rather than waiting out a timeout.
        change_visibility_ok(q, &got[0], 0).await;
    }
    assert_empty(
        q,
        QueueName::Main,
        "a message received max_receive_count times must go to the DLQ",
    )
    .await;
    (out, id)
}

/// send, then receive: same id, body and attributes, receive count 1.
pub async fn send_then_receive<Q: Queue + ?Sized>(q: &Q) {
    let out = message("one");
    let id = q.send(out.clone()).await.expect("send");
    assert!(!id.is_empty(), "send returns the message id");
    let got = receive_n(q, QueueName::Main, 1, LONG_VISIBILITY).await;
    let m = &got[0];
    assert_eq!(m.message_id, id);
    assert_eq!(m.body, out.body);
    assert_eq!(m.attributes, out.attributes);
    assert_eq!(m.receive_count, 1);
    assert!(!m.receipt_handle.is_empty());
    delete_ok(q, QueueName::Main, m).await;
}

/// A message without attributes comes back with none.
pub async fn send_without_attributes<Q: Queue + ?Sized>(q: &Q) {
    let out = OutgoingMessage::new(unique("plain"));
    q.send(out.clone()).await.expect("send");
    let got = receive_n(q, QueueName::Main, 1, LONG_VISIBILITY).await;
    assert_eq!(got[0].body, out.body);
    assert!(got[0].attributes.is_empty(), "no attributes were sent");
}

/// send_batch of 3: all sent (positions 0..3, distinct ids), all received
/// with their attributes.
pub async fn send_batch_sends_all<Q: Queue + ?Sized>(q: &Q) {
    let batch: Vec<OutgoingMessage> = (0..3)
        .map(|i| message("batch").with_attribute("position", i.to_string()))
        .collect();
    let result = q.send_batch(batch.clone()).await.expect("send_batch");
    assert!(result.failed.is_empty(), "failures: {:?}", result.failed);
    let positions: Vec<usize> = result.sent.iter().map(|(p, _)| *p).collect();
    assert_eq!(positions, vec![0, 1, 2], "sent positions, in order");
    let ids: BTreeSet<&String> = result.sent.iter().map(|(_, id)| id).collect();
    assert_eq!(ids.len(), 3, "distinct message ids");

    let got = receive_n(q, QueueName::Main, 3, LONG_VISIBILITY).await;
    let by_body: BTreeMap<&str, &ReceivedMessage> =
        got.iter().map(|m| (m.body.as_str(), m)).collect();
    for (position, sent) in batch.iter().enumerate() {
        let m = by_body
            .get(sent.body.as_str())
            .unwrap_or_else(|| panic!("message {position} not received"));
        assert_eq!(m.attributes, sent.attributes);
        assert_eq!(m.receive_count, 1);
        assert_eq!(
            &m.message_id, &result.sent[position].1,
            "id of position {position}"
        );
    }
    for m in &got {
        delete_ok(q, QueueName::Main, m).await;
    }
}

/// send_batch of 0 or more than MAX_BATCH, and receive of 0 or more than
/// MAX_BATCH, are invalid requests; nothing is sent.
pub async fn batch_limits_are_enforced<Q: Queue + ?Sized>(q: &Q) {
    let eleven: Vec<OutgoingMessage> = (0..MAX_BATCH + 1).map(|_| message("too-many")).collect();
    assert!(
        matches!(
            q.send_batch(eleven).await,
            Err(QueueError::InvalidRequest(_))
        ),
        "a batch of 11 is invalid"
    );
    assert!(
        matches!(
            q.send_batch(Vec::new()).await,
            Err(QueueError::InvalidRequest(_))
        ),
        "an empty batch is invalid"
    );
    for max in [0, 11] {
        assert!(
            matches!(
                q.receive(QueueName::Main, max, LONG_VISIBILITY, 0).await,
                Err(QueueError::InvalidRequest(_))
            ),
            "receive of {max} is invalid"
        );
    }
    assert_empty(q, QueueName::Main, "rejected batches send nothing").await;
}

/// A received message is invisible during its visibility timeout and comes
/// back after it, with receive count 2 and a new receipt handle.
pub async fn visibility_timeout_hides_then_returns<Q: Queue + ?Sized>(q: &Q) {
    let out = message("vis");
    let id = q.send(out).await.expect("send");
    let first = receive_n(q, QueueName::Main, 1, SHORT_VISIBILITY).await;
    assert_eq!(first[0].receive_count, 1);
    assert_empty(
        q,
        QueueName::Main,
        "in flight during its visibility timeout",
    )
    .await;

    tokio::time::sleep(PAST_SHORT_VISIBILITY).await;
    let second = receive_n(q, QueueName::Main, 1, LONG_VISIBILITY).await;
    assert_eq!(second[0].message_id, id);
    assert_eq!(second[0].receive_count, 2);
    assert_ne!(
        second[0].receipt_handle, first[0].receipt_handle,
        "every receive issues a new receipt handle"
    );
    delete_ok(q, QueueName::Main, &second[0]).await;
}

/// change_visibility to 0 makes a message visible at once; a longer one
/// keeps it hidden.
pub async fn change_visibility_zero_makes_visible<Q: Queue + ?Sized>(q: &Q) {
    let id = q.send(message("cv")).await.expect("send");
    let first = receive_n(q, QueueName::Main, 1, SHORT_VISIBILITY).await;
    // Extend the timeout: it stays hidden.
    change_visibility_ok(q, &first[0], LONG_VISIBILITY).await;
    assert_empty(q, QueueName::Main, "hidden after change_visibility(60)").await;

    change_visibility_ok(q, &first[0], 0).await;
    let again = receive_n(q, QueueName::Main, 1, LONG_VISIBILITY).await;
    assert_eq!(again[0].message_id, id);
    assert_eq!(again[0].receive_count, 2);
    delete_ok(q, QueueName::Main, &again[0]).await;
}

/// A deleted message never comes back, not even after its visibility
/// timeout, and does not go to the dead-letter queue.
pub async fn delete_removes_for_good<Q: Queue + ?Sized>(q: &Q) {
    q.send(message("del")).await.expect("send");
    let got = receive_n(q, QueueName::Main, 1, SHORT_VISIBILITY).await;
    delete_ok(q, QueueName::Main, &got[0]).await;
    tokio::time::sleep(PAST_SHORT_VISIBILITY).await;
    assert_empty(q, QueueName::Main, "a deleted message never comes back").await;
    assert_empty(
        q,
        QueueName::DeadLetter,
        "a deleted message is not dead-lettered",
    )
    .await;
}

/// Batch partial failure, as a Lambda consumer reports it: of 3 received,
/// 2 are deleted; the 3rd comes back after its visibility timeout (count 2)
/// and the deleted ones never do.
pub async fn batch_partial_failure<Q: Queue + ?Sized>(q: &Q) {
    let batch: Vec<OutgoingMessage> = (0..3).map(|_| message("partial")).collect();
    let result = q.send_batch(batch).await.expect("send_batch");
    assert_eq!(result.sent.len(), 3);

    let got = receive_n(q, QueueName::Main, 3, SHORT_VISIBILITY).await;
    let (done, failed) = got.split_at(2);
    for m in done {
        delete_ok(q, QueueName::Main, m).await;
    }
    tokio::time::sleep(PAST_SHORT_VISIBILITY).await;

    let again = receive_n(q, QueueName::Main, 1, LONG_VISIBILITY).await;
    assert_eq!(
        again[0].message_id, failed[0].message_id,
        "the failed one comes back"
    );
    assert_eq!(again[0].body, failed[0].body);
    assert_eq!(again[0].receive_count, 2);
    assert_empty(q, QueueName::Main, "the deleted ones never come back").await;
    delete_ok(q, QueueName::Main, &again[0]).await;
}

/// After max_receive_count receives without delete, the message is in the
/// dead-letter queue (same id, body and attributes), not in the main queue.
pub async fn moves_to_dead_letter_after_max_receives<Q: Queue + ?Sized>(q: &Q) {
    let (out, id) = drive_to_dead_letter(q, "dlq").await;
    let dead = receive_n(q, QueueName::DeadLetter, 1, LONG_VISIBILITY).await;
    assert_eq!(dead[0].message_id, id, "moving keeps the message id");
    assert_eq!(dead[0].body, out.body);
    assert_eq!(dead[0].attributes, out.attributes);
    assert_empty(q, QueueName::Main, "the main queue no longer has it").await;
    delete_ok(q, QueueName::DeadLetter, &dead[0]).await;
    assert_empty(q, QueueName::DeadLetter, "deleted from the DLQ").await;
}

/// redrive moves dead-letter messages back to the main queue (at most
/// `max`, returning the count), where they are received again from count 1.
pub async fn redrive_moves_back<Q: Queue + ?Sized>(q: &Q) {
    assert_eq!(
        q.redrive(10).await.expect("redrive"),
        0,
        "nothing to redrive"
    );

    let (first, _) = drive_to_dead_letter(q, "redrive-a").await;
    let (second, _) = drive_to_dead_letter(q, "redrive-b").await;

    assert_eq!(
        q.redrive(1).await.expect("redrive"),
        1,
        "redrive honours max"
    );
    assert_eq!(q.redrive(10).await.expect("redrive"), 1, "the rest");
    assert_empty(q, QueueName::DeadLetter, "the DLQ is empty after redrive").await;

    let got = receive_n(q, QueueName::Main, 2, LONG_VISIBILITY).await;
    let by_body: BTreeMap<&str, &ReceivedMessage> =
        got.iter().map(|m| (m.body.as_str(), m)).collect();
    for sent in [&first, &second] {
        let m = by_body
            .get(sent.body.as_str())
            .unwrap_or_else(|| panic!("redriven message not received"));
        assert_eq!(
            m.attributes, sent.attributes,
            "redrive keeps the attributes"
        );
        assert_eq!(m.receive_count, 1, "a redriven message starts again");
    }
    for m in &got {
        delete_ok(q, QueueName::Main, m).await;
    }
}

/// A long poll returns as soon as a message arrives.
pub async fn long_poll_returns_when_a_message_arrives<Q: Queue + ?Sized>(q: &Q) {
    let out = message("poll");
    let started = Instant::now();
    let (got, sent) = tokio::join!(q.receive(QueueName::Main, 1, LONG_VISIBILITY, 3), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        q.send(out.clone()).await
    });
    sent.expect("send");
    let got = got.expect("receive");
    assert_eq!(got.len(), 1, "the long poll saw the message");
    assert_eq!(got[0].body, out.body);
    assert!(
        started.elapsed() < Duration::from_millis(2_900),
        "the long poll returned before its wait ran out ({:?})",
        started.elapsed()
    );
    delete_ok(q, QueueName::Main, &got[0]).await;
}

/// delete and change_visibility with a bogus receipt handle answer
/// InvalidReceipt, on both queues.
pub async fn bogus_receipt_is_rejected<Q: Queue + ?Sized>(q: &Q) {
    let bogus = "not-a-receipt-handle";
    for from in [QueueName::Main, QueueName::DeadLetter] {
        assert_eq!(q.delete(from, bogus).await, Err(QueueError::InvalidReceipt));
    }
    assert_eq!(
        q.change_visibility(QueueName::Main, bogus, 0).await,
        Err(QueueError::InvalidReceipt)
    );
}

/// EMBEDDED ENGINE ONLY. A receipt handle is valid for its receive only:
/// after the message was received again, the older handle answers
/// InvalidReceipt (and deletes nothing), as does a handle already used to
/// delete.
///
/// SQS does not give this guarantee: it accepts a stale handle (AWS documents
/// that the call then succeeds, whether or not it deletes the message; the
/// local AWS-compatible server, moto, deletes it) and accepts a second delete
/// with the same handle. So the SQS adapter does not run this one; callers
/// must not rely on stale handles being rejected.
pub async fn stale_receipt_is_rejected<Q: Queue + ?Sized>(q: &Q) {
    let id = q.send(message("stale")).await.expect("send");
    let first = receive_n(q, QueueName::Main, 1, LONG_VISIBILITY).await;
    change_visibility_ok(q, &first[0], 0).await;
    let second = receive_n(q, QueueName::Main, 1, LONG_VISIBILITY).await;
    assert_eq!(second[0].message_id, id);

    assert_eq!(
        q.delete(QueueName::Main, &first[0].receipt_handle).await,
        Err(QueueError::InvalidReceipt),
        "a stale handle is rejected"
    );
    assert_eq!(
        q.change_visibility(QueueName::Main, &first[0].receipt_handle, 0)
            .await,
        Err(QueueError::InvalidReceipt),
        "a stale handle is rejected"
    );
    delete_ok(q, QueueName::Main, &second[0]).await;
    assert_eq!(
        q.delete(QueueName::Main, &second[0].receipt_handle).await,
        Err(QueueError::InvalidReceipt),
        "a used handle is rejected"
    );
}
