//! The store on one DynamoDB table (single-table design).
//!
//! Item attributes: `PK`, `SK`, `entity_type` (S), `version` (N), the index
//! keys `GSI1PK`/`GSI1SK`, `GSI2PK`/`GSI2SK`, `GSI3PK`/`GSI3SK` (S, only when
//! the item has that index key: the indexes are sparse), `expires_at` (N, the
//! TTL attribute, only when set) and `data` (M: the entity's JSON object).
//!
//! One call per port operation: GetItem (consistent), PutItem, Query (one per
//! page), TransactWriteItems. Nothing here scans the table, and nothing logs
//! item content (it can hold personal data): errors carry the service's error
//! code and message only.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use serde_dynamo::aws_sdk_dynamodb_1 as dynamo_serde;
use tms_ports::store::{validate_item, validate_transaction};
use tms_ports::{
    Condition, Cursor, Index, IndexKey, Item, Page, Query, SkCondition, Store, StoreError, WriteOp,
};

/// Table partition key attribute.
pub const PK: &str = "PK";
/// Table sort key attribute.
pub const SK: &str = "SK";
const ENTITY_TYPE: &str = "entity_type";
const VERSION: &str = "version";
/// The TTL attribute.
const EXPIRES_AT: &str = "expires_at";
const DATA: &str = "data";

type AttrMap = HashMap<String, AttributeValue>;

/// The store on one DynamoDB table.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table_name: impl Into<String>) -> Self {
        Self {
            client,
            table: table_name.into(),
        }
    }

    pub fn table_name(&self) -> &str {
        &self.table
    }
}

// ---------------------------------------------------------------------------
// Items <-> attribute maps

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn key_map(pk: &str, sk: &str) -> AttrMap {
    HashMap::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
}

/// The attribute map stored for an item.
pub(crate) fn item_to_attrs(item: &Item) -> Result<AttrMap, StoreError> {
    let data = dynamo_serde::to_attribute_value(&item.data)
        .map_err(|e| StoreError::InvalidRequest(format!("item data cannot be stored: {e}")))?;
    if !matches!(data, AttributeValue::M(_)) {
        return Err(StoreError::InvalidRequest(
            "item data must be an object".into(),
        ));
    }
    let mut m = key_map(&item.pk, &item.sk);
    m.insert(ENTITY_TYPE.to_owned(), s(&item.entity_type));
    m.insert(
        VERSION.to_owned(),
        AttributeValue::N(item.version.to_string()),
    );
    for index in Index::ALL {
        if let Some(k) = item.index_key(index) {
            m.insert(index.pk_attr().to_owned(), s(&k.pk));
            m.insert(index.sk_attr().to_owned(), s(&k.sk));
        }
    }
    if let Some(t) = item.expires_at {
        m.insert(EXPIRES_AT.to_owned(), AttributeValue::N(t.to_string()));
    }
    m.insert(DATA.to_owned(), data);
    Ok(m)
}

fn malformed(what: &str) -> StoreError {
    StoreError::Backend(format!("malformed item in the table: {what}"))
}

fn take_s(m: &mut AttrMap, name: &str) -> Result<Option<String>, StoreError> {
    match m.remove(name) {
        None => Ok(None),
        Some(AttributeValue::S(v)) => Ok(Some(v)),
        Some(_) => Err(malformed(&format!("{name} is not a string"))),
    }
}

fn take_n<T: std::str::FromStr>(m: &mut AttrMap, name: &str) -> Result<Option<T>, StoreError> {
    match m.remove(name) {
        None => Ok(None),
        Some(AttributeValue::N(v)) => v
            .parse()
            .map(Some)
            .map_err(|_| malformed(&format!("{name} is not an integer"))),
        Some(_) => Err(malformed(&format!("{name} is not a number"))),
    }
}

fn require<T>(v: Option<T>, name: &str) -> Result<T, StoreError> {
    v.ok_or_else(|| malformed(&format!("{name} is missing")))
}

/// The item stored as an attribute map.
pub(crate) fn item_from_attrs(mut m: AttrMap) -> Result<Item, StoreError> {
    let pk = require(take_s(&mut m, PK)?, PK)?;
    let sk = require(take_s(&mut m, SK)?, SK)?;
    let entity_type = require(take_s(&mut m, ENTITY_TYPE)?, ENTITY_TYPE)?;
    let version = require(take_n::<u64>(&mut m, VERSION)?, VERSION)?;
    let expires_at = take_n::<i64>(&mut m, EXPIRES_AT)?;
    let mut index_key = |index: Index| -> Result<Option<IndexKey>, StoreError> {
        let p = take_s(&mut m, index.pk_attr())?;
        let s = take_s(&mut m, index.sk_attr())?;
        Ok(match (p, s) {
            (Some(pk), Some(sk)) => Some(IndexKey { pk, sk }),
            _ => None,
        })
    };
    let gsi1 = index_key(Index::Gsi1)?;
    let gsi2 = index_key(Index::Gsi2)?;
    let gsi3 = index_key(Index::Gsi3)?;
    let data = match m.remove(DATA) {
        Some(av @ AttributeValue::M(_)) => dynamo_serde::from_attribute_value(av)
            .map_err(|e| malformed(&format!("data cannot be read: {e}")))?,
        Some(_) => return Err(malformed("data is not a map")),
        None => return Err(malformed("data is missing")),
    };
    Ok(Item {
        pk,
        sk,
        entity_type,
        version,
        gsi1,
        gsi2,
        gsi3,
        expires_at,
        data,
    })
}

/// The ExclusiveStartKey that continues a query after `cursor`: the table key,
/// plus the index key for an index query.
pub(crate) fn start_key(cursor: &Cursor, index: Option<Index>) -> Result<AttrMap, StoreError> {
    let mut m = key_map(&cursor.pk, &cursor.sk);
    if let Some(index) = index {
        match (&cursor.ipk, &cursor.isk) {
            (Some(p), Some(k)) => {
                m.insert(index.pk_attr().to_owned(), s(p));
                m.insert(index.sk_attr().to_owned(), s(k));
            }
            _ => return Err(StoreError::InvalidCursor(tms_ports::CursorError)),
        }
    }
    Ok(m)
}

/// A cursor from a LastEvaluatedKey (used only when a page came back empty
/// but DynamoDB still says more may follow).
pub(crate) fn cursor_from_key(
    mut key: AttrMap,
    index: Option<Index>,
) -> Result<Cursor, StoreError> {
    let bad = || StoreError::Backend("malformed LastEvaluatedKey".into());
    let pk = take_s(&mut key, PK)?.ok_or_else(bad)?;
    let sk = take_s(&mut key, SK)?.ok_or_else(bad)?;
    let (ipk, isk) = match index {
        None => (None, None),
        Some(i) => (
            Some(take_s(&mut key, i.pk_attr())?.ok_or_else(bad)?),
            Some(take_s(&mut key, i.sk_attr())?.ok_or_else(bad)?),
        ),
    };
    Ok(Cursor { pk, sk, ipk, isk })
}

// ---------------------------------------------------------------------------
// Conditions

/// A condition expression with its names and values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CondExpr {
    pub expr: &'static str,
    pub names: Option<HashMap<String, String>>,
    pub values: Option<AttrMap>,
}

/// Always true; a ConditionCheck must carry an expression.
const ALWAYS: &str = "attribute_not_exists(PK) OR attribute_exists(PK)";

pub(crate) fn condition_expr(condition: Condition) -> Option<CondExpr> {
    let plain = |expr| CondExpr {
        expr,
        names: None,
        values: None,
    };
    match condition {
        Condition::None => None,
        Condition::NotExists => Some(plain("attribute_not_exists(PK)")),
        Condition::Exists => Some(plain("attribute_exists(PK)")),
        Condition::VersionIs(v) => Some(CondExpr {
            expr: "#version = :version",
            names: Some(HashMap::from([("#version".to_owned(), VERSION.to_owned())])),
            values: Some(HashMap::from([(
                ":version".to_owned(),
                AttributeValue::N(v.to_string()),
            )])),
        }),
    }
}

// ---------------------------------------------------------------------------
// Errors

/// Error codes that mean "try again later".
const RETRYABLE_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "LimitExceededException",
];

/// Maps a service error by its code, message and HTTP status.
pub(crate) fn classify(
    code: Option<&str>,
    message: Option<&str>,
    status: Option<u16>,
) -> StoreError {
    let text = format!(
        "{}: {}",
        code.unwrap_or("UnknownError"),
        message.unwrap_or("no message")
    );
    match code {
        Some("ConditionalCheckFailedException") => StoreError::ConditionFailed { index: 0 },
        Some("TransactionConflictException") => StoreError::TransactionConflict,
        Some(c) if RETRYABLE_CODES.contains(&c) => StoreError::Unavailable(text),
        _ if status.is_some_and(|s| s >= 500) => StoreError::Unavailable(text),
        _ => StoreError::Backend(text),
    }
}

/// Maps the cancellation reasons of a cancelled transaction (one per
/// operation, in order).
pub(crate) fn classify_cancellation(codes: &[Option<&str>], message: Option<&str>) -> StoreError {
    if let Some(index) = codes
        .iter()
        .position(|c| *c == Some("ConditionalCheckFailed"))
    {
        return StoreError::ConditionFailed { index };
    }
    if codes.contains(&Some("TransactionConflict")) {
        return StoreError::TransactionConflict;
    }
    let listed = codes
        .iter()
        .map(|c| c.unwrap_or("None"))
        .collect::<Vec<_>>()
        .join(", ");
    if codes.iter().flatten().any(|c| {
        matches!(
            *c,
            "ThrottlingError" | "ProvisionedThroughputExceeded" | "RequestLimitExceeded"
        )
    }) {
        return StoreError::Unavailable(format!("transaction cancelled: [{listed}]"));
    }
    StoreError::Backend(format!(
        "transaction cancelled: [{listed}]: {}",
        message.unwrap_or("no message")
    ))
}

/// Maps any SDK error. The error's display never includes the request (and so
/// never item content).
fn sdk_error<E>(op: &str, err: &SdkError<E>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(ctx) => classify(
            ctx.err().code(),
            ctx.err().message(),
            Some(ctx.raw().status().as_u16()),
        ),
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
            StoreError::Unavailable(format!("DynamoDB {op}: {}", DisplayErrorContext(err)))
        }
        SdkError::ResponseError(_) => {
            let status = err.raw_response().map(|r| r.status().as_u16());
            if status.is_some_and(|s| s >= 500) {
                StoreError::Unavailable(format!("DynamoDB {op}: {}", DisplayErrorContext(err)))
            } else {
                StoreError::Backend(format!("DynamoDB {op}: {}", DisplayErrorContext(err)))
            }
        }
        _ => StoreError::Backend(format!("DynamoDB {op}: {}", DisplayErrorContext(err))),
    }
}

fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Backend(format!("DynamoDB request: {e}"))
}

// ---------------------------------------------------------------------------
// Queries

/// The key condition of a query, or `None` when the range can hold nothing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KeyCondition {
    pub expr: String,
    pub names: HashMap<String, String>,
    pub values: AttrMap,
}

pub(crate) fn key_condition(query: &Query) -> Option<KeyCondition> {
    let (pk_attr, sk_attr) = match query.index {
        None => (PK, SK),
        Some(i) => (i.pk_attr(), i.sk_attr()),
    };
    let mut names = HashMap::from([("#pk".to_owned(), pk_attr.to_owned())]);
    let mut values = HashMap::from([(":pk".to_owned(), s(&query.pk))]);
    let mut expr = "#pk = :pk".to_owned();
    // DynamoDB refuses empty strings in key conditions: an empty prefix is
    // no condition, an empty lower bound is an upper bound only.
    match &query.sk {
        SkCondition::Any => {}
        SkCondition::BeginsWith(p) if p.is_empty() => {}
        SkCondition::BeginsWith(p) => {
            expr.push_str(" AND begins_with(#sk, :prefix)");
            values.insert(":prefix".to_owned(), s(p));
        }
        // Only "" is in range, and no key is empty.
        SkCondition::Between(_, hi) if hi.is_empty() => return None,
        SkCondition::Between(lo, hi) if lo.is_empty() => {
            expr.push_str(" AND #sk <= :hi");
            values.insert(":hi".to_owned(), s(hi));
        }
        SkCondition::Between(lo, hi) => {
            expr.push_str(" AND #sk BETWEEN :lo AND :hi");
            values.insert(":lo".to_owned(), s(lo));
            values.insert(":hi".to_owned(), s(hi));
        }
    }
    if expr.contains("#sk") {
        names.insert("#sk".to_owned(), sk_attr.to_owned());
    }
    Some(KeyCondition {
        expr,
        names,
        values,
    })
}

// ---------------------------------------------------------------------------
// Transactions

fn transact_item(table: &str, op: WriteOp) -> Result<TransactWriteItem, StoreError> {
    let b = TransactWriteItem::builder();
    Ok(match op {
        WriteOp::Put { item, condition } => {
            let cond = condition_expr(condition);
            let put = Put::builder()
                .table_name(table)
                .set_item(Some(item_to_attrs(&item)?))
                .set_condition_expression(cond.as_ref().map(|c| c.expr.to_owned()))
                .set_expression_attribute_names(cond.as_ref().and_then(|c| c.names.clone()))
                .set_expression_attribute_values(cond.and_then(|c| c.values))
                .build()
                .map_err(build_err)?;
            b.put(put).build()
        }
        WriteOp::Delete { pk, sk, condition } => {
            let cond = condition_expr(condition);
            let delete = Delete::builder()
                .table_name(table)
                .set_key(Some(key_map(&pk, &sk)))
                .set_condition_expression(cond.as_ref().map(|c| c.expr.to_owned()))
                .set_expression_attribute_names(cond.as_ref().and_then(|c| c.names.clone()))
                .set_expression_attribute_values(cond.and_then(|c| c.values))
                .build()
                .map_err(build_err)?;
            b.delete(delete).build()
        }
        WriteOp::Check { pk, sk, condition } => {
            let cond = condition_expr(condition).unwrap_or(CondExpr {
                expr: ALWAYS,
                names: None,
                values: None,
            });
            let check = ConditionCheck::builder()
                .table_name(table)
                .set_key(Some(key_map(&pk, &sk)))
                .condition_expression(cond.expr)
                .set_expression_attribute_names(cond.names)
                .set_expression_attribute_values(cond.values)
                .build()
                .map_err(build_err)?;
            b.condition_check(check).build()
        }
    })
}

fn check_keys(pk: &str, sk: &str) -> Result<(), StoreError> {
    if pk.is_empty() || sk.is_empty() {
        return Err(StoreError::InvalidRequest("empty key".into()));
    }
    Ok(())
}

#[async_trait]
impl Store for DynamoStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        check_keys(pk, sk)?;
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_map(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", &e))?;
        out.item.map(item_from_attrs).transpose()
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        validate_item(&item)?;
        let attrs = item_to_attrs(&item)?;
        let cond = condition_expr(condition);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(attrs))
            .set_condition_expression(cond.as_ref().map(|c| c.expr.to_owned()))
            .set_expression_attribute_names(cond.as_ref().and_then(|c| c.names.clone()))
            .set_expression_attribute_values(cond.and_then(|c| c.values))
            .send()
            .await
            .map_err(|e| sdk_error("PutItem", &e))?;
        Ok(())
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        query.validate()?;
        let Some(kc) = key_condition(query) else {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        };
        let start = query
            .cursor
            .as_ref()
            .map(|c| start_key(c, query.index))
            .transpose()?;
        let limit = usize::try_from(query.limit).unwrap_or(usize::MAX);
        // One more than asked, so that `next` is set only when an item follows.
        let ask = i32::try_from(query.limit.saturating_add(1)).unwrap_or(i32::MAX);
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(query.index.map(|i| i.name().to_owned()))
            .key_condition_expression(kc.expr)
            .set_expression_attribute_names(Some(kc.names))
            .set_expression_attribute_values(Some(kc.values))
            .scan_index_forward(query.forward)
            .limit(ask)
            .set_exclusive_start_key(start)
            // Strong reads on the table, as the embedded engine; GSIs cannot.
            .set_consistent_read(query.index.is_none().then_some(true))
            .send()
            .await
            .map_err(|e| sdk_error("Query", &e))?;
        let raw = out.items.unwrap_or_default();
        let more_items = raw.len() > limit;
        let items = raw
            .into_iter()
            .take(limit)
            .map(item_from_attrs)
            .collect::<Result<Vec<_>, _>>()?;
        let next = match (items.last(), out.last_evaluated_key) {
            (Some(last), _) if more_items => Some(Cursor::after(last, query)),
            // DynamoDB stopped early (page size in bytes): more may follow.
            (Some(last), Some(_)) => Some(Cursor::after(last, query)),
            (None, Some(key)) => Some(cursor_from_key(key, query.index)?),
            _ => None,
        };
        Ok(Page { items, next })
    }

    async fn transact_write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        validate_transaction(&ops)?;
        for op in &ops {
            let (pk, sk) = op.key();
            check_keys(pk, sk)?;
        }
        let items = ops
            .into_iter()
            .map(|op| transact_item(&self.table, op))
            .collect::<Result<Vec<_>, _>>()?;
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => {
                use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
                if let Some(TransactWriteItemsError::TransactionCanceledException(e)) =
                    err.as_service_error()
                {
                    let codes = e
                        .cancellation_reasons()
                        .iter()
                        .map(|r| r.code())
                        .collect::<Vec<_>>();
                    return Err(classify_cancellation(&codes, e.message()));
                }
                Err(sdk_error("TransactWriteItems", &err))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rich() -> serde_json::Value {
        json!({
            "name": "Zoë 東京 🚀",
            "empty": "",
            "int": 42,
            "neg": -7,
            "big": 9_007_199_254_740_993u64,
            "float": 1.5,
            "small": -0.000125,
            "yes": true,
            "no": false,
            "nothing": null,
            "list": [1, "two", [3], {"four": 4}, null],
            "empty_list": [],
            "empty_obj": {},
            "nested": {"a": {"b": {"c": [true, false]}}},
        })
    }

    fn client(endpoint: &str) -> Client {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version_latest()
            .endpoint_url(endpoint)
            .region(aws_sdk_dynamodb::config::Region::new("ap-southeast-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
            .build();
        Client::from_conf(config)
    }

    /// A one-thread HTTP server that answers every request with `status` and
    /// a JSON `body` (an error of the DynamoDB JSON protocol).
    fn canned(status: u16, body: &'static str) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Read the headers, then the body they announce.
                while let Ok(n) = stream.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text[..end]
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                let response = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/x-amz-json-1.0\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes());
            }
        });
        format!("http://{addr}")
    }

    fn some_ops() -> Vec<WriteOp> {
        vec![
            WriteOp::Put {
                item: Item::new("A", "1", "t", json!({})),
                condition: Condition::NotExists,
            },
            WriteOp::Check {
                pk: "A".into(),
                sk: "2".into(),
                condition: Condition::Exists,
            },
        ]
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_is_unavailable() {
        let store = DynamoStore::new(client("http://127.0.0.1:9"), "t");
        let err = store.get("A", "B").await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    }

    #[tokio::test]
    async fn service_errors_are_mapped() {
        let throttled = canned(
            400,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"slow down"}"#,
        );
        let err = DynamoStore::new(client(&throttled), "t")
            .get("A", "B")
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");

        let internal = canned(500, r#"{"__type":"InternalServerError","message":"boom"}"#);
        let err = DynamoStore::new(client(&internal), "t")
            .put(Item::new("A", "B", "t", json!({})), Condition::None)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");

        let conditional = canned(
            400,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed"}"#,
        );
        let err = DynamoStore::new(client(&conditional), "t")
            .put(Item::new("A", "B", "t", json!({})), Condition::NotExists)
            .await
            .unwrap_err();
        assert_eq!(err, StoreError::ConditionFailed { index: 0 });

        let validation = canned(
            400,
            r#"{"__type":"com.amazon.coral.validate#ValidationException","message":"bad request"}"#,
        );
        let err = DynamoStore::new(client(&validation), "t")
            .get("A", "B")
            .await
            .unwrap_err();
        assert_eq!(
            err,
            StoreError::Backend("ValidationException: bad request".into())
        );
    }

    #[tokio::test]
    async fn cancelled_transactions_are_mapped() {
        let cancelled = canned(
            400,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","Message":"Transaction cancelled","CancellationReasons":[{"Code":"None"},{"Code":"ConditionalCheckFailed","Message":"The conditional request failed"}]}"#,
        );
        let err = DynamoStore::new(client(&cancelled), "t")
            .transact_write(some_ops())
            .await
            .unwrap_err();
        assert_eq!(err, StoreError::ConditionFailed { index: 1 });

        let conflict = canned(
            400,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","Message":"Transaction cancelled","CancellationReasons":[{"Code":"TransactionConflict"},{"Code":"None"}]}"#,
        );
        let err = DynamoStore::new(client(&conflict), "t")
            .transact_write(some_ops())
            .await
            .unwrap_err();
        assert_eq!(err, StoreError::TransactionConflict);
    }

    #[tokio::test]
    async fn limits_are_checked_before_any_call() {
        // No endpoint is reachable: any call would fail as Unavailable.
        let store = DynamoStore::new(client("http://127.0.0.1:9"), "t");
        let q = Query {
            index: None,
            pk: "A".into(),
            sk: SkCondition::Any,
            forward: true,
            limit: 0,
            cursor: None,
        };
        assert!(matches!(
            store.query(&q).await,
            Err(StoreError::InvalidRequest(_))
        ));
        let ops = (0..101)
            .map(|i| WriteOp::Check {
                pk: "A".into(),
                sk: i.to_string(),
                condition: Condition::Exists,
            })
            .collect();
        assert!(matches!(
            store.transact_write(ops).await,
            Err(StoreError::TooLarge(_))
        ));
        let big = Item::new("A", "B", "t", json!({"x": "y".repeat(400 * 1024)}));
        assert!(matches!(
            store.put(big, Condition::None).await,
            Err(StoreError::TooLarge(_))
        ));
    }

    #[test]
    fn item_round_trips_through_attributes() {
        let mut item = Item::new("RUN#1", "RUN#1", "course_run", rich());
        item.version = 7;
        item.gsi1 = Some(IndexKey::new("RUNS", "2025-01-01#1"));
        item.gsi3 = Some(IndexKey::new("ACTIVE", "RUN#1"));
        item.expires_at = Some(1_900_000_000);
        let attrs = item_to_attrs(&item).unwrap();
        assert_eq!(attrs.get("PK"), Some(&s("RUN#1")));
        assert_eq!(attrs.get("version"), Some(&AttributeValue::N("7".into())));
        assert_eq!(attrs.get("GSI1SK"), Some(&s("2025-01-01#1")));
        assert!(!attrs.contains_key("GSI2PK") && !attrs.contains_key("GSI2SK"));
        assert!(matches!(attrs.get("data"), Some(AttributeValue::M(_))));
        assert_eq!(item_from_attrs(attrs).unwrap(), item);
    }

    #[test]
    fn sparse_and_ttl_absent_when_unset() {
        let item = Item::new("A", "B", "t", json!({}));
        let attrs = item_to_attrs(&item).unwrap();
        let mut names: Vec<_> = attrs.keys().cloned().collect();
        names.sort();
        assert_eq!(names, ["PK", "SK", "data", "entity_type", "version"]);
        assert_eq!(item_from_attrs(attrs).unwrap(), item);
    }

    #[test]
    fn malformed_items_are_backend_errors() {
        let item = Item::new("A", "B", "t", json!({}));
        let mut attrs = item_to_attrs(&item).unwrap();
        attrs.insert("version".into(), AttributeValue::S("1".into()));
        assert!(matches!(
            item_from_attrs(attrs),
            Err(StoreError::Backend(_))
        ));
        let mut attrs = item_to_attrs(&item).unwrap();
        attrs.remove("data");
        assert!(matches!(
            item_from_attrs(attrs),
            Err(StoreError::Backend(_))
        ));
    }

    #[test]
    fn non_object_data_is_refused() {
        let item = Item::new("A", "B", "t", json!([1, 2]));
        assert!(matches!(
            item_to_attrs(&item),
            Err(StoreError::InvalidRequest(_))
        ));
    }

    #[test]
    fn start_keys_and_cursors() {
        let c = Cursor {
            pk: "P".into(),
            sk: "S".into(),
            ipk: Some("IP".into()),
            isk: Some("IS".into()),
        };
        let k = start_key(&c, Some(Index::Gsi2)).unwrap();
        assert_eq!(k.len(), 4);
        assert_eq!(k.get("GSI2SK"), Some(&s("IS")));
        assert_eq!(cursor_from_key(k, Some(Index::Gsi2)).unwrap(), c);
        let table = Cursor {
            ipk: None,
            isk: None,
            ..c
        };
        let k = start_key(&table, None).unwrap();
        assert_eq!(k.len(), 2);
        assert_eq!(cursor_from_key(k, None).unwrap(), table);
        assert!(matches!(
            start_key(&table, Some(Index::Gsi1)),
            Err(StoreError::InvalidCursor(_))
        ));
    }

    #[test]
    fn key_conditions() {
        let mut q = Query {
            index: Some(Index::Gsi1),
            pk: "RUNS".into(),
            sk: SkCondition::Any,
            forward: true,
            limit: 10,
            cursor: None,
        };
        let kc = key_condition(&q).unwrap();
        assert_eq!(kc.expr, "#pk = :pk");
        assert_eq!(kc.names.len(), 1);
        assert_eq!(kc.names["#pk"], "GSI1PK");
        q.sk = SkCondition::BeginsWith("2025".into());
        let kc = key_condition(&q).unwrap();
        assert_eq!(kc.expr, "#pk = :pk AND begins_with(#sk, :prefix)");
        assert_eq!(kc.names["#sk"], "GSI1SK");
        q.sk = SkCondition::BeginsWith(String::new());
        assert_eq!(key_condition(&q).unwrap().expr, "#pk = :pk");
        q.sk = SkCondition::Between("a".into(), "b".into());
        assert_eq!(
            key_condition(&q).unwrap().expr,
            "#pk = :pk AND #sk BETWEEN :lo AND :hi"
        );
        q.sk = SkCondition::Between(String::new(), "b".into());
        assert_eq!(key_condition(&q).unwrap().expr, "#pk = :pk AND #sk <= :hi");
        q.sk = SkCondition::Between(String::new(), String::new());
        assert_eq!(key_condition(&q), None);
        q.index = None;
        q.sk = SkCondition::BeginsWith("x".into());
        assert_eq!(key_condition(&q).unwrap().names["#sk"], "SK");
    }

    #[test]
    fn condition_expressions() {
        assert_eq!(condition_expr(Condition::None), None);
        assert_eq!(
            condition_expr(Condition::NotExists).unwrap().expr,
            "attribute_not_exists(PK)"
        );
        assert_eq!(
            condition_expr(Condition::Exists).unwrap().expr,
            "attribute_exists(PK)"
        );
        let v = condition_expr(Condition::VersionIs(3)).unwrap();
        assert_eq!(v.expr, "#version = :version");
        assert_eq!(v.names.unwrap()["#version"], "version");
        assert_eq!(v.values.unwrap()[":version"], AttributeValue::N("3".into()));
    }

    #[test]
    fn error_classification() {
        assert_eq!(
            classify(Some("ConditionalCheckFailedException"), None, Some(400)),
            StoreError::ConditionFailed { index: 0 }
        );
        assert_eq!(
            classify(Some("TransactionConflictException"), None, Some(400)),
            StoreError::TransactionConflict
        );
        for code in [
            "ThrottlingException",
            "ProvisionedThroughputExceededException",
            "RequestLimitExceeded",
        ] {
            assert!(matches!(
                classify(Some(code), Some("slow down"), Some(400)),
                StoreError::Unavailable(_)
            ));
        }
        assert!(matches!(
            classify(Some("Whatever"), None, Some(503)),
            StoreError::Unavailable(_)
        ));
        match classify(Some("ValidationException"), Some("bad"), Some(400)) {
            StoreError::Backend(m) => assert_eq!(m, "ValidationException: bad"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cancellation_classification() {
        assert_eq!(
            classify_cancellation(
                &[
                    Some("None"),
                    Some("ConditionalCheckFailed"),
                    Some("ConditionalCheckFailed")
                ],
                None
            ),
            StoreError::ConditionFailed { index: 1 }
        );
        assert_eq!(
            classify_cancellation(&[Some("None"), Some("TransactionConflict")], None),
            StoreError::TransactionConflict
        );
        assert!(matches!(
            classify_cancellation(&[Some("ThrottlingError")], None),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            classify_cancellation(&[Some("ValidationError"), None], Some("m")),
            StoreError::Backend(_)
        ));
    }
}
