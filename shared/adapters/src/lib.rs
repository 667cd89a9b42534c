//! Adapters: the engines behind the ports.
//!
//! - `aws` feature: DynamoDB store, SQS queue, Secrets Manager.
//! - `tpgateway` feature: the TPGateway HTTP client (reqwest, rustls).
//! - always: the local secrets adapter (files, in-memory values).
//! - `sqlite` feature: the embedded engines (SQLite store and queue, on one
//!   shared database handle) used by the local run and the fast tests.
//!
//! Every adapter passes the conformance suites of `tms-ports`.

#[cfg(feature = "aws")]
pub mod dynamodb;
pub mod local_secrets;
#[cfg(feature = "aws")]
pub mod secretsmanager;
#[cfg(feature = "sqlite")]
pub mod sqlite_db;
#[cfg(feature = "sqlite")]
pub mod sqlite_queue;
#[cfg(feature = "sqlite")]
pub mod sqlite_store;
#[cfg(feature = "aws")]
pub mod sqs;
#[cfg(feature = "tpgateway")]
pub mod tpgateway_http;
