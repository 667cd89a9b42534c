//! The store conformance suite. Every function is one test body, generic over
//! the engine; tests/integration runs each of them on every store adapter.
//! Each one writes under keys with a fresh random prefix, so that all can
//! share one table, and panics with a message naming the rule it checked.
//!
//! Numbers in item data are compared as JSON values; an integral float (2.0)
//! is not used because DynamoDB stores numbers without their formatting and
//! reads it back as the integer 2.

use serde_json::{json, Value};

use crate::cursor::Cursor;
use crate::store::{
    Condition, Index, IndexKey, Item, Query, SkCondition, Store, StoreError, WriteOp,
    MAX_ITEM_BYTES, MAX_PAGE_SIZE, MAX_TRANSACTION_ITEMS,
};

// ---------------------------------------------------------------------------
// helpers

/// A fresh key prefix for one test.
fn ns() -> String {
    format!("T{}", uuid::Uuid::new_v4().simple())
}

fn ok<T>(r: Result<T, StoreError>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("store conformance: {what}: unexpected error {e:?} ({e})"),
    }
}

fn fails<T: std::fmt::Debug>(r: Result<T, StoreError>, expected: &StoreError, what: &str) {
    match r {
        Err(e) if e == *expected => {}
        other => panic!("store conformance: {what}: expected Err({expected:?}), got {other:?}"),
    }
}

fn fails_with<T: std::fmt::Debug>(
    r: Result<T, StoreError>,
    pred: fn(&StoreError) -> bool,
    expected: &str,
    what: &str,
) {
    match r {
        Err(e) if pred(&e) => {}
        other => panic!("store conformance: {what}: expected {expected}, got {other:?}"),
    }
}

async fn get<S: Store + ?Sized>(store: &S, pk: &str, sk: &str, what: &str) -> Option<Item> {
    ok(store.get(pk, sk).await, what)
}

async fn must_get<S: Store + ?Sized>(store: &S, pk: &str, sk: &str, what: &str) -> Item {
    match get(store, pk, sk, what).await {
        Some(item) => item,
        None => panic!("store conformance: {what}: item ({pk}, {sk}) is missing"),
    }
}

async fn must_be_absent<S: Store + ?Sized>(store: &S, pk: &str, sk: &str, what: &str) {
    if let Some(item) = get(store, pk, sk, what).await {
        panic!(
            "store conformance: {what}: item ({pk}, {sk}) should not exist, found version {}",
            item.version
        );
    }
}

async fn put<S: Store + ?Sized>(store: &S, item: Item, what: &str) {
    ok(store.put(item, Condition::None).await, what);
}

fn query(index: Option<Index>, pk: &str, sk: SkCondition, forward: bool, limit: u32) -> Query {
    Query {
        index,
        pk: pk.to_owned(),
        sk,
        forward,
        limit,
        cursor: None,
    }
}

fn sks(items: &[Item]) -> Vec<String> {
    items.iter().map(|i| i.sk.clone()).collect()
}

fn table_keys(items: &[Item]) -> Vec<(String, String)> {
    items.iter().map(|i| (i.pk.clone(), i.sk.clone())).collect()
}

/// Reads every page of `q`, passing the cursor through its text form as the
/// HTTP API does. Returns the pages.
async fn all_pages<S: Store + ?Sized>(store: &S, q: &Query, what: &str) -> Vec<Vec<Item>> {
    let mut q = q.clone();
    let mut pages = Vec::new();
    loop {
        let page = ok(store.query(&q).await, what);
        let next = page.next.clone();
        pages.push(page.items);
        match next {
            None => return pages,
            Some(cursor) => {
                if pages.len() > 50 {
                    panic!("store conformance: {what}: more than 50 pages, the cursor does not advance");
                }
                let text = cursor.encode();
                q.cursor = Some(ok(
                    Cursor::decode(&text).map_err(StoreError::from),
                    &format!("{what}: decoding the engine's own cursor"),
                ));
            }
        }
    }
}

fn rich_data() -> Value {
    json!({
        "name": "Zoë Ñúñez 東京 🚀",
        "empty_string": "",
        "clé": "unicode key",
        "int": 42,
        "zero": 0,
        "negative": -17,
        "big": 9_007_199_254_740_993u64,
        "min": i64::MIN,
        "float": 1.5,
        "small_float": -0.000125,
        "true": true,
        "false": false,
        "null": null,
        "list": [1, "two", [3, [4]], {"five": 5}, null, true, 2.25],
        "empty_list": [],
        "empty_object": {},
        "nested": {"a": {"b": {"c": ["x", {"d": null}]}}},
        "spaces": "  padded  ",
        "newlines": "line 1\nline 2\ttab \"quoted\" \\ backslash",
    })
}

// ---------------------------------------------------------------------------
// the suite

/// Reading a key that was never written gives `None`.
pub async fn get_missing<S: Store + ?Sized>(store: &S) {
    let p = ns();
    let got = get(store, &format!("{p}#NOPE"), "NOPE", "get of a missing item").await;
    assert!(
        got.is_none(),
        "store conformance: get of a missing item returned {got:?}"
    );
}

/// Empty keys are refused as invalid requests, not engine errors.
pub async fn empty_keys_are_invalid<S: Store + ?Sized>(store: &S) {
    let p = ns();
    let invalid = |e: &StoreError| matches!(e, StoreError::InvalidRequest(_));
    fails_with(
        store.get("", "X").await,
        invalid,
        "InvalidRequest",
        "get with an empty pk",
    );
    fails_with(
        store.get(&p, "").await,
        invalid,
        "InvalidRequest",
        "get with an empty sk",
    );
    let item = Item::new(p.clone(), "", "thing", json!({}));
    fails_with(
        store.put(item, Condition::None).await,
        invalid,
        "InvalidRequest",
        "put with an empty sk",
    );
    let mut item = Item::new(p.clone(), "S", "thing", json!({}));
    item.gsi1 = Some(IndexKey::new("", "X"));
    fails_with(
        store.put(item, Condition::None).await,
        invalid,
        "InvalidRequest",
        "put with an empty index key",
    );
    let op = WriteOp::Delete {
        pk: p.clone(),
        sk: String::new(),
        condition: Condition::None,
    };
    fails_with(
        store.transact_write(vec![op]).await,
        invalid,
        "InvalidRequest",
        "delete with an empty sk",
    );
    let q = query(None, "", SkCondition::Any, true, 10);
    fails_with(
        store.query(&q).await,
        invalid,
        "InvalidRequest",
        "query of an empty pk",
    );
    let item = Item::new(p.clone(), "S", "thing", json!(["not", "an", "object"]));
    fails_with(
        store.put(item, Condition::None).await,
        invalid,
        "InvalidRequest",
        "put of non-object data",
    );
}

/// Every field of an item survives a put and a get, including a rich JSON
/// object; absent index keys and expiry stay absent.
pub async fn put_get_round_trip<S: Store + ?Sized>(store: &S) {
    let p = ns();
    let mut full = Item::new(format!("{p}#RUN#1"), "META", "course_run", rich_data());
    full.version = 3;
    full.gsi1 = Some(IndexKey::new(format!("{p}#RUNS"), "2025-03-01#RUN#1"));
    full.gsi2 = Some(IndexKey::new(format!("{p}#STATUS#open"), "RUN#1"));
    full.expires_at = Some(4_102_444_800); // 2100-01-01
    ok(
        store.put(full.clone(), Condition::NotExists).await,
        "put of a rich item",
    );
    let got = must_get(store, &full.pk, &full.sk, "get of a rich item").await;
    assert_eq!(
        got, full,
        "store conformance: the item read back differs from the item written"
    );
    assert!(
        got.gsi3.is_none(),
        "store conformance: an unset index key (GSI3) came back set"
    );

    let bare = Item::new(format!("{p}#RUN#2"), "META", "course_run", json!({}));
    put(store, bare.clone(), "put of a bare item").await;
    let got = must_get(store, &bare.pk, &bare.sk, "get of a bare item").await;
    assert_eq!(
        got, bare,
        "store conformance: a bare item did not round-trip"
    );
    assert!(
        got.gsi1.is_none() && got.gsi2.is_none() && got.gsi3.is_none() && got.expires_at.is_none(),
        "store conformance: absent index keys or expiry came back set: {got:?}"
    );

    // A put replaces the whole item: removed fields and keys are gone.
    let mut replaced = full.clone();
    replaced.version = 4;
    replaced.gsi1 = None;
    replaced.expires_at = None;
    replaced.data = json!({"only": "this"});
    put(store, replaced.clone(), "put replacing an item").await;
    let got = must_get(store, &full.pk, &full.sk, "get of a replaced item").await;
    assert_eq!(
        got, replaced,
        "store conformance: a put must replace the whole item"
    );
}

/// A conditional put of a key that exists fails with `ConditionFailed{0}` and
/// leaves the original unchanged; `Exists` and `None` behave as named.
pub async fn conditional_put<S: Store + ?Sized>(store: &S) {
    let p = ns();
    let pk = format!("{p}#TRAINEE#EMAIL");
    let original = Item::new(
        pk.clone(),
        "a@example.com",
        "email_guard",
        json!({"owner": "1"}),
    );
    ok(
        store.put(original.clone(), Condition::NotExists).await,
        "first put with NotExists",
    );
    let dup = Item::new(
        pk.clone(),
        "a@example.com",
        "email_guard",
        json!({"owner": "2"}),
    );
    fails(
        store.put(dup, Condition::NotExists).await,
        &StoreError::ConditionFailed { index: 0 },
        "put of a duplicate with NotExists",
    );
    let got = must_get(
        store,
        &pk,
        "a@example.com",
        "get after the refused duplicate",
    )
    .await;
    assert_eq!(
        got, original,
        "store conformance: a refused put must leave the original unchanged"
    );

    let missing = Item::new(pk.clone(), "b@example.com", "email_guard", json!({}));
    fails(
        store.put(missing, Condition::Exists).await,
        &StoreError::ConditionFailed { index: 0 },
        "put with Exists of a missing key",
    );
    must_be_absent(store, &pk, "b@example.com", "after a refused Exists put").await;

    let mut updated = original.clone();
    updated.data = json!({"owner": "1", "verified": true});
    ok(
        store.put(updated.clone(), Condition::Exists).await,
        "put with Exists of an existing key",
    );
    assert_eq!(
        must_get(store, &pk, "a@example.com", "get after Exists put").await,
        updated,
        "store conformance: put with Exists did not write"
    );
    let mut overwritten = original.clone();
    overwritten.data = json!({"owner": "3"});
    ok(
        store.put(overwritten.clone(), Condition::None).await,
        "unconditional overwrite",
    );
    assert_eq!(
        must_get(store, &pk, "a@example.com", "get after overwrite").await,
        overwritten,
        "store conformance: an unconditional put did not overwrite"
    );
}

/// A transaction of three puts whose second condition fails reports index 1
/// and writes none of them; the same transaction without the conflict writes
/// all three.
pub async fn transaction_failing_condition<S: Store + ?Sized>(store: &S) {
    let p = ns();
    let k = |n: u32| (format!("{p}#ENROL#{n}"), format!("TRAINEE#{n}"));
    let (pk2, sk2) = k(2);
    let existing = Item::new(
        pk2.clone(),
        sk2.clone(),
        "enrolment",
        json!({"v": "original"}),
    );
    put(store, existing.clone(), "seeding the conflicting item").await;

    let ops = (1..=3)
        .map(|n| {
            let (pk, sk) = k(n);
            WriteOp::Put {
                item: Item::new(pk, sk, "enrolment", json!({"v": format!("new {n}")})),
                condition: Condition::NotExists,
            }
        })
        .collect::<Vec<_>>();
    fails(
        store.transact_write(ops.clone()).await,
        &StoreError::ConditionFailed { index: 1 },
        "transaction whose 2nd condition fails",
    );
    let (pk1, sk1) = k(1);
    let (pk3, sk3) = k(3);
    must_be_absent(store, &pk1, &sk1, "1st put of a failed transaction").await;
    assert_eq!(
        must_get(store, &pk2, &sk2, "2nd item of a failed transaction").await,
        existing,
        "store conformance: a failed transaction changed the conflicting item"
    );
    must_be_absent(store, &pk3, &sk3, "3rd put of a failed transaction").await;

    // Two failing conditions: the first one is reported.
    let mut two_fail = ops.clone();
    two_fail[0] = WriteOp::Put {
        item: Item::new(pk1.clone(), sk1.clone(), "enrolment", json!({})),
        condition: Condition::Exists,
    };
    fails(
        store.transact_write(two_fail).await,
        &StoreError::ConditionFailed { index: 0 },
        "transaction whose 1st and 2nd conditions fail",
    );

    // Without the conflict, all three are written.
    ok(
        store
            .transact_write(vec![
                ops[0].clone(),
                WriteOp::Put {
                    item: Item::new(pk2.clone(), sk2.clone(), "enrolment", json!({"v": "new 2"})),
                    condition: Condition::VersionIs(1),
                },
                ops[2].clone(),
            ])
            .await,
        "transaction whose conditions all hold",
    );
    for n in 1..=3 {
        let (pk, sk) = k(n);
        let got = must_get(store, &pk, &sk, "item of a committed transaction").await;
        assert_eq!(
            got.data,
            json!({"v": format!("new {n}")}),
            "store conformance: a committed transaction did not write item {n}"
        );
    }
}

/// Optimistic locking: a put conditional on the current version succeeds, one
/// on a stale version fails and leaves the item unchanged.
pub async fn optimistic_lock<S: Store + ?Sized>(store: &S) {
    let p = ns();
    let pk = format!("{p}#RUN#1");
    let v1 = Item::new(pk.clone(), "META", "course_run", json!({"title": "v1"}));
    ok(
        store.put(v1.clone(), Condition::NotExists).await,
        "create v1",
    );

    let read = must_get(store, &pk, "META", "read v1").await;
    assert_eq!(
        read.version, 1,
        "store conformance: new items start at version 1"
    );
    let mut v2 = read.clone();
    v2.version = 2;
    v2.data = json!({"title": "v2"});
    ok(
        store.put(v2.clone(), Condition::VersionIs(1)).await,
        "update with the current version",
    );

    let mut stale = read.clone();
    stale.version = 2;
    stale.data = json!({"title": "stale writer"});
    fails(
        store.put(stale.clone(), Condition::VersionIs(1)).await,
        &StoreError::ConditionFailed { index: 0 },
        "update with a stale version",
    );
    assert_eq!(
        must_get(store, &pk, "META", "read after the stale update").await,
        v2,
        "store conformance: a stale update changed the item"
    );

    fails(
        store
            .put(
                Item::new(format!("{p}#RUN#MISSING"), "META", "course_run", json!({})),
                Condition::VersionIs(1),
            )
            .await,
        &StoreError::ConditionFailed { index: 0 },
        "update with a version of a missing item",
    );
    must_be_absent(
        store,
        &format!("{p}#RUN#MISSING"),
        "META",
        "after a refused versioned put",
    )
    .await;

    // The same in a transaction, with an audit record that must not be written.
    let audit = Item::new(
        format!("{p}#AUDIT"),
        "0001",
        "audit",
        json!({"action": "update"}),
    );
    fails(
        store
            .transact_write(vec![
                WriteOp::Put {
                    item: audit.clone(),
                    condition: Condition::NotExists,
                },
                WriteOp::Put {
                    item: stale,
                    condition: Condition::VersionIs(1),
                },
            ])
            .await,
        &StoreError::ConditionFailed { index: 1 },
        "transaction with a stale version",
    );
    must_be_absent(
        store,
        &audit.pk,
        &audit.sk,
        "audit of a refused transaction",
    )
    .await;
    assert_eq!(
        must_get(store, &pk, "META", "read after the stale transaction").await,
        v2,
        "store conformance: a stale transaction changed the item"
    );
}

/// Delete and Check operations honour their conditions.
pub async fn delete_and_check<S: Store + ?Sized>(store: &S) {
    let p = ns();
    let pk = format!("{p}#SESSION#1");
    let mut item = Item::new(pk.clone(), "ATT#1", "attendance", json!({"present": true}));
    item.version = 2;
    put(store, item.clone(), "seed").await;
    let del = |condition| WriteOp::Delete {
        pk: pk.clone(),
        sk: "ATT#1".into(),
        condition,
    };
    let check = |sk: &str, condition| WriteOp::Check {
        pk: pk.clone(),
        sk: sk.to_owned(),
        condition,
    };

    fails(
        store
            .transact_write(vec![del(Condition::VersionIs(1))])
            .await,
        &StoreError::ConditionFailed { index: 0 },
        "delete with a stale version",
    );
    assert_eq!(
        must_get(store, &pk, "ATT#1", "after a refused delete").await,
        item,
        "store conformance: a refused delete changed the item"
    );
    fails(
        store.transact_write(vec![del(Condition::NotExists)]).await,
        &StoreError::ConditionFailed { index: 0 },
        "delete with NotExists of an existing item",
    );

    // Check + Put: the put is applied only when the check holds.
    let new = Item::new(pk.clone(), "ATT#2", "attendance", json!({"present": false}));
    let put_new = WriteOp::Put {
        item: new.clone(),
        condition: Condition::NotExists,
    };
    fails(
        store
            .transact_write(vec![put_new.clone(), check("ATT#1", Condition::NotExists)])
            .await,
        &StoreError::ConditionFailed { index: 1 },
        "check NotExists of an existing item",
    );
    must_be_absent(store, &pk, "ATT#2", "put guarded by a failed check").await;
    fails(
        store
            .transact_write(vec![check("ATT#9", Condition::Exists), put_new.clone()])
            .await,
        &StoreError::ConditionFailed { index: 0 },
        "check Exists of a missing item",
    );
    must_be_absent(store, &pk, "ATT#2", "put guarded by a failed check").await;
    ok(
        store
            .transact_write(vec![
                check("ATT#1", Condition::VersionIs(2)),
                check("ATT#8", Condition::NotExists),
                check("ATT#7", Condition::None),
                put_new,
            ])
            .await,
        "checks that hold",
    );
    assert_eq!(
        must_get(store, &pk, "ATT#2", "put guarded by checks that hold").await,
        new,
        "store conformance: the put guarded by passing checks was not written"
    );
    must_be_absent(store, &pk, "ATT#8", "a Check must not create an item").await;
    must_be_absent(store, &pk, "ATT#7", "a Check must not create an item").await;

    ok(
        store
            .transact_write(vec![del(Condition::VersionIs(2))])
            .await,
        "delete with the current version",
    );
    must_be_absent(store, &pk, "ATT#1", "after a delete").await;
    ok(
        store.transact_write(vec![del(Condition::None)]).await,
        "unconditional delete of a missing item",
    );
    fails(
        store.transact_write(vec![del(Condition::Exists)]).await,
        &StoreError::ConditionFailed { index: 0 },
        "delete with Exists of a missing item",
    );
}

/// A base-table query with begins_with, forward and reverse; other partitions
/// and non-matching sort keys are excluded.
pub async fn query_table_begins_with<S: Store + ?Sized>(store: &S) {
    let p = ns();
    let pk = format!("{p}#RUN#1");
    for sk in [
        "RUN#2",
        "AUDIT#1",
        "RUN#1",
        "SESSION#1",
        "RUN#3",
        "RUN",
        "RUN$",
        "RUN#\u{10FFFF}",
        "RUN#é",
    ] {
        put(
            store,
            Item::new(pk.clone(), sk, "thing", json!({"sk": sk})),
            "seed",
        )
        .await;
    }
    put(
        store,
        Item::new(format!("{p}#RUN#2"), "RUN#1", "thing", json!({})),
        "seed another partition",
    )
    .await;

    let expected = ["RUN#1", "RUN#2", "RUN#3", "RUN#é", "RUN#\u{10FFFF}"];
    let q = query(None, &pk, SkCondition::BeginsWith("RUN#".into()), true, 10);
    let page = ok(store.query(&q).await, "begins_with forward");
    assert_eq!(
        sks(&page.items),
        expected,
        "store conformance: begins_with, forward"
    );
    assert!(
        page.next.is_none(),
        "store conformance: a complete page must have no next"
    );
    assert!(
        page.items
            .iter()
            .all(|i| i.pk == pk && i.data == json!({"sk": i.sk})),
        "store conformance: query returned foreign or altered items"
    );

    let q = Query {
        forward: false,
        ..q
    };
    let page = ok(store.query(&q).await, "begins_with reverse");
    let mut reversed = expected.to_vec();
    reversed.reverse();
    assert_eq!(
        sks(&page.items),
        reversed,
        "store conformance: begins_with, reverse"
    );

    let q = query(None, &pk, SkCondition::Any, true, 20);
    let page = ok(store.query(&q).await, "whole partition");
    assert_eq!(
        sks(&page.items),
        [
            "AUDIT#1",
            "RUN",
            "RUN#1",
            "RUN#2",
            "RUN#3",
            "RUN#é",
            "RUN#\u{10FFFF}",
            "RUN$",
            "SESSION#1"
        ],
        "store conformance: whole partition, forward"
    );

    let q = query(
        None,
        &pk,
        SkCondition::Between("RUN#2".into(), "SESSION#1".into()),
        false,
        20,
    );
    let page = ok(store.query(&q).await, "between on the table");
    assert_eq!(
        sks(&page.items),
        [
            "SESSION#1",
            "RUN$",
            "RUN#\u{10FFFF}",
            "RUN#é",
            "RUN#3",
            "RUN#2"
        ],
        "store conformance: between (inclusive) on the table, reverse"
    );

    let q = query(None, &format!("{p}#NOTHING"), SkCondition::Any, true, 10);
    let page = ok(store.query(&q).await, "empty partition");
    assert!(
        page.items.is_empty() && page.next.is_none(),
        "store conformance: an empty partition must give an empty page without next"
    );
}

struct Run {
    id: &'static str,
    start: &'static str,
    status: &'static str,
}

const RUNS: [Run; 6] = [
    Run {
        id: "R1",
        start: "2025-01-15",
        status: "open",
    },
    Run {
        id: "R2",
        start: "2025-02-01",
        status: "closed",
    },
    Run {
        id: "R3",
        start: "2025-02-14",
        status: "open",
    },
    Run {
        id: "R4",
        start: "2025-03-31",
        status: "open",
    },
    Run {
        id: "R5",
        start: "2025-04-01",
        status: "cancelled",
    },
    Run {
        id: "R6",
        start: "2024-12-31",
        status: "open",
    },
];

/// Seeds course runs in their own partitions, listed by start date (GSI1) and
/// by status (GSI2). Returns the index partition keys.
async fn seed_runs<S: Store + ?Sized>(store: &S, p: &str) -> (String, String) {
    let by_date = format!("{p}#RUNS");
    for r in &RUNS {
        let mut item = Item::new(
            format!("{p}#RUN#{}", r.id),
            "META",
            "course_run",
            json!({"id": r.id, "start": r.start, "status": r.status}),
        );
        item.gsi1 = Some(IndexKey::new(
            by_date.clone(),
            format!("{}#{}", r.start, r.id),
        ));
        item.gsi2 = Some(IndexKey::new(
            format!("{p}#RUNSTATUS#{}", r.status),
            format!("{}#{}", r.start, r.id),
        ));
        put(store, item, "seed runs").await;
    }
    // Something else under the same index partition of another index must
    // not leak into GSI1 queries.
    let mut other = Item::new(format!("{p}#X"), "X", "other", json!({}));
    other.gsi2 = Some(IndexKey::new(by_date.clone(), "2025-02-10#X"));
    put(store, other, "seed other").await;
    (by_date, format!("{p}#RUNSTATUS#open"))
}

fn ids(items: &[Item]) -> Vec<String> {
    items
        .iter()
        .map(|i| {
            i.data
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned()
        })
        .collect()
}

/// Index queries with begins_with on GSI1 and GSI2 return whole items in
/// index order.
pub async fn query_gsi_begins_with<S: Store + ?Sized>(store: &S) {
    let p = ns();
    let (by_date, open) = seed_runs(store, &p).await;

    let q = query(
        Some(Index::Gsi1),
        &by_date,
        SkCondition::BeginsWith("2025-02".into()),
        true,
        10,
    );
    let page = ok(store.query(&q).await, "GSI1 begins_with");
    assert_eq!(
        ids(&page.items),
        ["R2", "R3"],
        "store conformance: GSI1 begins_with, forward"
    );
    assert!(
        page.next.is_none(),
        "store conformance: a complete page must have no next"
    );
    let first = &page.items[0];
    assert_eq!(
        (
            first.pk.as_str(),
            first.sk.as_str(),
            first.entity_type.as_str(),
            first.version
        ),
        (format!("{p}#RUN#R2").as_str(), "META", "course_run", 1),
        "store conformance: index queries must return whole items"
    );
    assert_eq!(
        first.gsi2.as_ref().map(|k| k.pk.clone()),
        Some(format!("{p}#RUNSTATUS#closed")),
        "store conformance: index queries must return every index key"
    );

    let q = query(
        Some(Index::Gsi1),
        &by_date,
        SkCondition::BeginsWith("2025".into()),
        false,
        10,
    );
    let page = ok(store.query(&q).await, "GSI1 begins_with reverse");
    assert_eq!(
        ids(&page.items),
        ["R5", "R4", "R3", "R2", "R1"],
        "store conformance: GSI1 begins_with, reverse"
    );

    let q = query(
        Some(Index::Gsi2),
        &open,
        SkCondition::BeginsWith("2025-0".into()),
        true,
        10,
    );
    let page = ok(store.query(&q).await, "GSI2 begins_with");
    assert_eq!(
        ids(&page.items),
        ["R1", "R3", "R4"],
        "store conformance: GSI2 begins_with"
    );

    let q = query(Some(Index::Gsi2), &open, SkCondition::Any, false, 10);
    let page = ok(store.query(&q).await, "GSI2 whole partition");
    assert_eq!(
        ids(&page.items),
        ["R4", "R3", "R1", "R6"],
        "store conformance: GSI2 whole partition, reverse"
    );
}

/// Index queries with an inclusive range (dates) on GSI1 and GSI2.
pub async fn query_gsi_between<S: Store + ?Sized>(store: &S) {
    let p = ns();
    let (by_date, open) = seed_runs(store, &p).await;

    // Whole days: the upper bound ends with '~', after every "#id" suffix.
    let feb_to_mar = SkCondition::Between("2025-02-01".into(), "2025-03-31~".into());
    let q = query(Some(Index::Gsi1), &by_date, feb_to_mar.clone(), true, 10);
    let page = ok(store.query(&q).await, "GSI1 between");
    assert_eq!(
        ids(&page.items),
        ["R2", "R3", "R4"],
        "store conformance: GSI1 between, forward"
    );
    let q = Query {
        forward: false,
        ..q
    };
    let page = ok(store.query(&q).await, "GSI1 between reverse");
    assert_eq!(
        ids(&page.items),
        ["R4", "R3", "R2"],
        "store conformance: GSI1 between, reverse"
    );

    // Bounds are inclusive.
    let exact = SkCondition::Between("2025-01-15#R1".into(), "2025-02-14#R3".into());
    let q = query(Some(Index::Gsi1), &by_date, exact, true, 10);
    let page = ok(store.query(&q).await, "GSI1 between exact bounds");
    assert_eq!(
        ids(&page.items),
        ["R1", "R2", "R3"],
        "store conformance: between must include both bounds"
    );

    let q = query(Some(Index::Gsi2), &open, feb_to_mar, true, 10);
    let page = ok(store.query(&q).await, "GSI2 between");
    assert_eq!(
        ids(&page.items),
        ["R3", "R4"],
        "store conformance: GSI2 between"
    );

    let q = query(
        Some(Index::Gsi2),
        &open,
        SkCondition::Between("2026-01-01".into(), "2026-12-31~".into()),
        true,
        10,
    );
    let page = ok(store.query(&q).await, "GSI2 empty range");
    assert!(
        page.items.is_empty() && page.next.is_none(),
        "store conformance: an empty range must give an empty page without next"
    );

    let q = query(
        Some(Index::Gsi1),
        &by_date,
        SkCondition::Between("2025-03".into(), "2025-02".into()),
        true,
        10,
    );
    fails_with(
        store.query(&q).await,
        |e| matches!(e, StoreError::InvalidRequest(_)),
        "InvalidRequest",
        "between with start after end",
    );
}

fn check_pages(pages: &[Vec<Item>], sizes: &[usize], what: &str) {
    let got: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(got, sizes, "store conformance: {what}: page sizes");
}

/// Seven items read three at a time: pages of 3, 3 and 1 in order, through
/// the opaque cursor, with no duplicates or gaps; the last page has no next.
pub async fn pagination<S: Store + ?Sized>(store: &S) {
    let p = ns();
    let pk = format!("{p}#SESSION#1");
    let all: Vec<String> = (1..=7).map(|n| format!("ATT#{n:02}")).collect();
    for sk in all.iter().rev() {
        put(
            store,
            Item::new(pk.clone(), sk.clone(), "attendance", json!({})),
            "seed",
        )
        .await;
    }
    put(
        store,
        Item::new(pk.clone(), "META", "session", json!({})),
        "seed other",
    )
    .await;

    let q = query(None, &pk, SkCondition::BeginsWith("ATT#".into()), true, 3);
    let pages = all_pages(store, &q, "table pages forward").await;
    check_pages(&pages, &[3, 3, 1], "table pages forward");
    assert_eq!(
        pages
            .concat()
            .iter()
            .map(|i| i.sk.clone())
            .collect::<Vec<_>>(),
        all,
        "store conformance: table pages forward must list every item once, in order"
    );

    let q = Query {
        forward: false,
        ..q
    };
    let pages = all_pages(store, &q, "table pages reverse").await;
    check_pages(&pages, &[3, 3, 1], "table pages reverse");
    let mut rev = all.clone();
    rev.reverse();
    assert_eq!(
        sks(&pages.concat()),
        rev,
        "store conformance: table pages reverse must list every item once, in order"
    );

    // Exactly two full pages: the second has no next.
    let q = query(None, &pk, SkCondition::BeginsWith("ATT#".into()), true, 6);
    let pages = all_pages(store, &q, "one full page and one short").await;
    check_pages(&pages, &[6, 1], "limit 6 of 7");
    let q = query(
        None,
        &pk,
        SkCondition::Between("ATT#02".into(), "ATT#07".into()),
        true,
        3,
    );
    let pages = all_pages(store, &q, "exact multiple").await;
    check_pages(
        &pages,
        &[3, 3],
        "6 items, limit 3 (the last full page has no next)",
    );

    // The item a cursor points at is deleted before the next page is read.
    let q = query(None, &pk, SkCondition::BeginsWith("ATT#".into()), true, 3);
    let first = ok(store.query(&q).await, "first page");
    let Some(cursor) = first.next.clone() else {
        panic!("store conformance: a first page of 3 of 7 must have a next cursor");
    };
    ok(
        store
            .transact_write(vec![WriteOp::Delete {
                pk: pk.clone(),
                sk: "ATT#03".into(),
                condition: Condition::Exists,
            }])
            .await,
        "delete the cursor's item",
    );
    let second = ok(
        store
            .query(&Query {
                cursor: Some(cursor),
                ..q
            })
            .await,
        "page after a deleted cursor item",
    );
    assert_eq!(
        sks(&second.items),
        ["ATT#04", "ATT#05", "ATT#06"],
        "store conformance: a cursor must stay valid when its item is deleted"
    );
}

/// Pagination over an index where several items share an index sort key
/// (ties across table partitions): every item exactly once, in index order.
pub async fn pagination_index<S: Store + ?Sized>(store: &S) {
    let p = ns();
    let ipk = format!("{p}#DUE");
    let isks = [
        "2025-05-01",
        "2025-05-01",
        "2025-05-02",
        "2025-05-02",
        "2025-05-02",
        "2025-05-03",
        "2025-05-04",
    ];
    let mut expected = Vec::new();
    for (n, isk) in isks.iter().enumerate() {
        let mut item = Item::new(
            format!("{p}#JOB#{n}"),
            format!("JOB#{n}"),
            "sync_job",
            json!({"n": n}),
        );
        item.gsi3 = Some(IndexKey::new(ipk.clone(), *isk));
        expected.push((item.pk.clone(), item.sk.clone()));
        put(store, item, "seed").await;
    }
    // Same index partition, another index: not listed.
    let mut other = Item::new(format!("{p}#JOB#X"), "JOB#X", "sync_job", json!({}));
    other.gsi1 = Some(IndexKey::new(ipk.clone(), "2025-05-01"));
    put(store, other, "seed other").await;
    expected.sort();

    for forward in [true, false] {
        let what = if forward {
            "GSI3 pages forward"
        } else {
            "GSI3 pages reverse"
        };
        let q = query(Some(Index::Gsi3), &ipk, SkCondition::Any, forward, 3);
        let pages = all_pages(store, &q, what).await;
        check_pages(&pages, &[3, 3, 1], what);
        let items = pages.concat();
        let order: Vec<&str> = items
            .iter()
            .map(|i| i.gsi3.as_ref().map(|k| k.sk.as_str()).unwrap_or(""))
            .collect();
        let mut sorted = order.clone();
        sorted.sort();
        if !forward {
            sorted.reverse();
        }
        assert_eq!(
            order, sorted,
            "store conformance: {what}: not in index order"
        );
        let mut got = table_keys(&items);
        got.sort();
        assert_eq!(
            got, expected,
            "store conformance: {what}: duplicates or gaps"
        );
    }

    // A range on the index, two at a time.
    let q = query(
        Some(Index::Gsi3),
        &ipk,
        SkCondition::Between("2025-05-02".into(), "2025-05-03".into()),
        true,
        2,
    );
    let pages = all_pages(store, &q, "GSI3 range pages").await;
    check_pages(&pages, &[2, 2], "GSI3 range pages");
    let mut got = table_keys(&pages.concat());
    got.sort();
    got.dedup();
    assert_eq!(
        got.len(),
        4,
        "store conformance: GSI3 range pages: duplicates or gaps"
    );
}

/// A cursor that is garbage, or well formed but for another list, is an
/// `InvalidCursor` error (a 400 at the edge), never a backend error.
pub async fn tampered_cursor<S: Store + ?Sized>(store: &S) {
    let p = ns();
    let is_invalid = |e: &StoreError| matches!(e, StoreError::InvalidCursor(_));
    for text in ["garbage!!", "", "eyJwayI6MX0", "e30", "bm90IGpzb24"] {
        fails_with(
            Cursor::decode(text).map_err(StoreError::from),
            is_invalid,
            "InvalidCursor",
            &format!("decoding the tampered cursor {text:?}"),
        );
    }

    let a = format!("{p}#A");
    let b = format!("{p}#B");
    for pk in [&a, &b] {
        for n in 0..3 {
            let mut item = Item::new(pk.clone(), format!("ITEM#{n}"), "thing", json!({}));
            item.gsi1 = Some(IndexKey::new(format!("{pk}#IDX"), format!("2025-01-0{n}")));
            put(store, item, "seed").await;
        }
    }
    let qa = query(None, &a, SkCondition::BeginsWith("ITEM#".into()), true, 1);
    let page = ok(store.query(&qa).await, "first page of A");
    let Some(cursor_a) = page.next else {
        panic!("store conformance: a page of 1 of 3 must have a next cursor");
    };
    let cursor_a = ok(
        Cursor::decode(&cursor_a.encode()).map_err(StoreError::from),
        "round trip of a cursor",
    );

    let qb = Query {
        cursor: Some(cursor_a.clone()),
        ..query(None, &b, SkCondition::BeginsWith("ITEM#".into()), true, 1)
    };
    fails_with(
        store.query(&qb).await,
        is_invalid,
        "InvalidCursor",
        "a cursor of another partition",
    );
    let out_of_range = Query {
        cursor: Some(cursor_a.clone()),
        ..query(None, &a, SkCondition::BeginsWith("OTHER#".into()), true, 1)
    };
    fails_with(
        store.query(&out_of_range).await,
        is_invalid,
        "InvalidCursor",
        "a cursor outside the query's range",
    );
    let on_index = Query {
        cursor: Some(cursor_a),
        ..query(
            Some(Index::Gsi1),
            &format!("{a}#IDX"),
            SkCondition::Any,
            true,
            1,
        )
    };
    fails_with(
        store.query(&on_index).await,
        is_invalid,
        "InvalidCursor",
        "a table cursor on an index query",
    );

    let qi = query(
        Some(Index::Gsi1),
        &format!("{a}#IDX"),
        SkCondition::Any,
        true,
        1,
    );
    let page = ok(store.query(&qi).await, "first page of A's index");
    let Some(cursor_i) = page.next else {
        panic!("store conformance: an index page of 1 of 3 must have a next cursor");
    };
    let on_other_index = Query {
        cursor: Some(cursor_i.clone()),
        ..query(
            Some(Index::Gsi1),
            &format!("{b}#IDX"),
            SkCondition::Any,
            true,
            1,
        )
    };
    fails_with(
        store.query(&on_other_index).await,
        is_invalid,
        "InvalidCursor",
        "an index cursor of another index partition",
    );
    let on_table = Query {
        cursor: Some(cursor_i),
        ..query(None, &a, SkCondition::Any, true, 1)
    };
    fails_with(
        store.query(&on_table).await,
        is_invalid,
        "InvalidCursor",
        "an index cursor on a table query",
    );
}

/// Items without a GSI3 key are absent from GSI3; removing the key or the
/// item removes it from the index.
pub async fn sparse_index<S: Store + ?Sized>(store: &S) {
    let p = ns();
    let work = format!("{p}#ACTIVE");
    let mut with_key = Vec::new();
    for n in 0..5 {
        let mut item = Item::new(
            format!("{p}#RUN#{n}"),
            "META",
            "course_run",
            json!({"n": n}),
        );
        item.gsi1 = Some(IndexKey::new(format!("{p}#RUNS"), format!("2025-01-0{n}")));
        if n % 2 == 1 {
            item.gsi3 = Some(IndexKey::new(work.clone(), format!("RUN#{n}")));
            with_key.push(item.clone());
        }
        put(store, item, "seed").await;
    }
    let q = query(Some(Index::Gsi3), &work, SkCondition::Any, true, 10);
    let page = ok(store.query(&q).await, "sparse GSI3");
    assert_eq!(
        page.items, with_key,
        "store conformance: GSI3 must list exactly the items with a GSI3 key"
    );
    let q1 = query(
        Some(Index::Gsi1),
        &format!("{p}#RUNS"),
        SkCondition::Any,
        true,
        10,
    );
    let page = ok(store.query(&q1).await, "GSI1 of the same items");
    assert_eq!(
        page.items.len(),
        5,
        "store conformance: GSI1 must list all five items"
    );

    // Dropping the key (a put without it) removes the item from the index.
    let mut inactive = with_key[0].clone();
    inactive.gsi3 = None;
    inactive.version = 2;
    put(store, inactive, "deactivate").await;
    ok(
        store
            .transact_write(vec![WriteOp::Delete {
                pk: with_key[1].pk.clone(),
                sk: with_key[1].sk.clone(),
                condition: Condition::Exists,
            }])
            .await,
        "delete",
    );
    let page = ok(store.query(&q).await, "sparse GSI3 after changes");
    assert!(
        page.items.is_empty() && page.next.is_none(),
        "store conformance: GSI3 must drop items whose key was removed or that were deleted, got {:?}",
        table_keys(&page.items)
    );
}

/// Keys sort as UTF-8 bytes (code points), in the table and in indexes.
pub async fn sort_order_is_bytewise<S: Store + ?Sized>(store: &S) {
    let p = ns();
    let pk = format!("{p}#ORDER");
    let keys = [
        "a", "B", "z", "~", "0", "é", "\u{FFFD}", "😀", "a#", "a~", " ",
    ];
    for (n, k) in keys.iter().enumerate() {
        let mut item = Item::new(pk.clone(), *k, "thing", json!({"n": n}));
        item.gsi2 = Some(IndexKey::new(format!("{p}#IDX"), *k));
        put(store, item, "seed").await;
    }
    let mut expected: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    expected.sort(); // Rust compares str as bytes
    let page = ok(
        store
            .query(&query(None, &pk, SkCondition::Any, true, 20))
            .await,
        "table order",
    );
    assert_eq!(
        sks(&page.items),
        expected,
        "store conformance: table sort keys must sort as UTF-8 bytes"
    );
    let page = ok(
        store
            .query(&query(
                Some(Index::Gsi2),
                &format!("{p}#IDX"),
                SkCondition::Any,
                true,
                20,
            ))
            .await,
        "index order",
    );
    assert_eq!(
        sks(&page.items),
        expected,
        "store conformance: index sort keys must sort as UTF-8 bytes"
    );
}

/// A transaction over the item limit is refused as `TooLarge` and writes
/// nothing; one at the limit is applied.
pub async fn transaction_too_large<S: Store + ?Sized>(store: &S) {
    let p = ns();
    let ops = |n: usize, tag: &str| {
        (0..n)
            .map(|i| WriteOp::Put {
                item: Item::new(
                    format!("{p}#{tag}"),
                    format!("ROW#{i:03}"),
                    "attendance",
                    json!({"i": i}),
                ),
                condition: Condition::NotExists,
            })
            .collect::<Vec<_>>()
    };
    fails_with(
        store
            .transact_write(ops(MAX_TRANSACTION_ITEMS + 1, "BIG"))
            .await,
        |e| matches!(e, StoreError::TooLarge(_)),
        "TooLarge",
        "a transaction of 101 operations",
    );
    must_be_absent(
        store,
        &format!("{p}#BIG"),
        "ROW#000",
        "first op of a refused transaction",
    )
    .await;
    must_be_absent(
        store,
        &format!("{p}#BIG"),
        "ROW#100",
        "last op of a refused transaction",
    )
    .await;

    ok(
        store
            .transact_write(ops(MAX_TRANSACTION_ITEMS, "MAX"))
            .await,
        "a transaction of 100 operations",
    );
    let q = query(
        None,
        &format!("{p}#MAX"),
        SkCondition::Any,
        true,
        MAX_PAGE_SIZE,
    );
    let page = ok(store.query(&q).await, "reading the 100 items");
    assert_eq!(
        page.items.len(),
        100,
        "store conformance: a 100-operation transaction must write 100 items"
    );
    assert!(
        page.next.is_none(),
        "store conformance: a page of all 100 items has no next"
    );
}

/// An item over the size limit is refused as `TooLarge`.
pub async fn item_too_large<S: Store + ?Sized>(store: &S) {
    let p = ns();
    let item = Item::new(
        format!("{p}#BIG"),
        "BIG",
        "thing",
        json!({"blob": "x".repeat(MAX_ITEM_BYTES + 1)}),
    );
    fails_with(
        store.put(item.clone(), Condition::None).await,
        |e| matches!(e, StoreError::TooLarge(_)),
        "TooLarge",
        "put of an oversized item",
    );
    fails_with(
        store
            .transact_write(vec![WriteOp::Put {
                item,
                condition: Condition::None,
            }])
            .await,
        |e| matches!(e, StoreError::TooLarge(_)),
        "TooLarge",
        "transaction with an oversized item",
    );
    must_be_absent(store, &format!("{p}#BIG"), "BIG", "oversized item").await;
}

/// Empty transactions and transactions touching one key twice are invalid.
pub async fn invalid_transactions<S: Store + ?Sized>(store: &S) {
    let p = ns();
    let invalid = |e: &StoreError| matches!(e, StoreError::InvalidRequest(_));
    fails_with(
        store.transact_write(Vec::new()).await,
        invalid,
        "InvalidRequest",
        "an empty transaction",
    );
    let item = Item::new(format!("{p}#K"), "K", "thing", json!({}));
    fails_with(
        store
            .transact_write(vec![
                WriteOp::Put {
                    item: item.clone(),
                    condition: Condition::None,
                },
                WriteOp::Check {
                    pk: item.pk.clone(),
                    sk: item.sk.clone(),
                    condition: Condition::NotExists,
                },
            ])
            .await,
        invalid,
        "InvalidRequest",
        "a transaction touching one key twice",
    );
    must_be_absent(store, &item.pk, &item.sk, "item of an invalid transaction").await;
}

/// A page size of 0 or over the maximum is an invalid request; the maximum
/// itself is accepted.
pub async fn invalid_page_size<S: Store + ?Sized>(store: &S) {
    let p = ns();
    let pk = format!("{p}#P");
    for limit in [0, MAX_PAGE_SIZE + 1] {
        fails_with(
            store
                .query(&query(None, &pk, SkCondition::Any, true, limit))
                .await,
            |e| matches!(e, StoreError::InvalidRequest(_)),
            "InvalidRequest",
            &format!("a query with limit {limit}"),
        );
        fails_with(
            store
                .query(&query(
                    Some(Index::Gsi1),
                    &pk,
                    SkCondition::Any,
                    true,
                    limit,
                ))
                .await,
            |e| matches!(e, StoreError::InvalidRequest(_)),
            "InvalidRequest",
            &format!("an index query with limit {limit}"),
        );
    }
    let page = ok(
        store
            .query(&query(None, &pk, SkCondition::Any, true, MAX_PAGE_SIZE))
            .await,
        "a query with the maximum limit",
    );
    assert!(
        page.items.is_empty() && page.next.is_none(),
        "store conformance: a query of an empty partition with the maximum limit"
    );
}
