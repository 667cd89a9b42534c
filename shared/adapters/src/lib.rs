//! Adapters: the engines behind the ports.
//!
//! - `aws` feature: DynamoDB store, SQS queue.
//! - `sqlite` feature: the embedded engines (SQLite store and queue, on one
//!   shared database handle) used by the local run and the fast tests.
//!
//! Every adapter passes the conformance suites of `tms-ports`.

#[cfg(feature = "aws")]
pub mod dynamodb;
#[cfg(feature = "sqlite")]
pub mod sqlite_db;
#[cfg(feature = "sqlite")]
pub mod sqlite_queue;
#[cfg(feature = "sqlite")]
pub mod sqlite_store;
#[cfg(feature = "aws")]
pub mod sqs;
