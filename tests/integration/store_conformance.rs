//! The store conformance suite (`tms_ports::conformance::store`) on both
//! engines: `store_sqlite_<name>` on a fresh SQLite file, `store_dynamodb_<name>`
//! on a fresh table on the local AWS-compatible server, created from the one
//! resource definition (infra/resources.json).

use tms_adapters::dynamodb::DynamoStore;
use tms_adapters::sqlite_store::SqliteStore;
use tms_ports::conformance::store as conformance;
use tms_tests::TempDb;

fn sqlite_store() -> (SqliteStore, TempDb) {
    let file = TempDb::new("tms-store");
    let store = SqliteStore::open(&file.0).expect("open the SQLite store");
    (store, file)
}

async fn dynamo_store() -> DynamoStore {
    let client = aws_sdk_dynamodb::Client::new(&tms_tests::aws_config().await);
    let res = tms_infra::resources().expect("resources.json");
    let table = tms_tests::unique_name("tms-table");
    tms_infra::ensure_table(&client, &table, &res.table)
        .await
        .expect("create the table");
    DynamoStore::new(client, table)
}

/// Runs each conformance fn on both engines, as `$sqlite` and `$dynamodb`.
macro_rules! run_sqlite {
    ($name:ident) => {{
        let (store, _file) = sqlite_store();
        conformance::$name(&store).await;
    }};
}
macro_rules! run_aws {
    ($name:ident) => {{
        let store = dynamo_store().await;
        conformance::$name(&store).await;
    }};
}

tms_tests::on_both_engines! {
    get_missing => store_sqlite_get_missing, store_dynamodb_get_missing;
    empty_keys_are_invalid => store_sqlite_empty_keys_are_invalid, store_dynamodb_empty_keys_are_invalid;
    put_get_round_trip => store_sqlite_put_get_round_trip, store_dynamodb_put_get_round_trip;
    conditional_put => store_sqlite_conditional_put, store_dynamodb_conditional_put;
    transaction_failing_condition => store_sqlite_transaction_failing_condition, store_dynamodb_transaction_failing_condition;
    optimistic_lock => store_sqlite_optimistic_lock, store_dynamodb_optimistic_lock;
    delete_and_check => store_sqlite_delete_and_check, store_dynamodb_delete_and_check;
    query_table_begins_with => store_sqlite_query_table_begins_with, store_dynamodb_query_table_begins_with;
    query_gsi_begins_with => store_sqlite_query_gsi_begins_with, store_dynamodb_query_gsi_begins_with;
    query_gsi_between => store_sqlite_query_gsi_between, store_dynamodb_query_gsi_between;
    pagination => store_sqlite_pagination, store_dynamodb_pagination;
    pagination_index => store_sqlite_pagination_index, store_dynamodb_pagination_index;
    tampered_cursor => store_sqlite_tampered_cursor, store_dynamodb_tampered_cursor;
    sparse_index => store_sqlite_sparse_index, store_dynamodb_sparse_index;
    sort_order_is_bytewise => store_sqlite_sort_order_is_bytewise, store_dynamodb_sort_order_is_bytewise;
    transaction_too_large => store_sqlite_transaction_too_large, store_dynamodb_transaction_too_large;
    item_too_large => store_sqlite_item_too_large, store_dynamodb_item_too_large;
    invalid_transactions => store_sqlite_invalid_transactions, store_dynamodb_invalid_transactions;
    invalid_page_size => store_sqlite_invalid_page_size, store_dynamodb_invalid_page_size;
}

/// The in-memory SQLite store passes the suite's core too.
#[tokio::test]
async fn store_sqlite_in_memory_round_trip_and_pagination() {
    let store = SqliteStore::open_in_memory().expect("open in memory");
    conformance::put_get_round_trip(&store).await;
    conformance::pagination(&store).await;
    conformance::transaction_failing_condition(&store).await;
}

/// Through a trait object, as the application holds it.
#[tokio::test]
async fn store_sqlite_as_trait_object() {
    let (store, _file) = sqlite_store();
    let store: std::sync::Arc<dyn tms_ports::Store> = std::sync::Arc::new(store);
    conformance::optimistic_lock(store.as_ref()).await;
}
