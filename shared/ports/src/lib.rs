//! Ports: the traits the application needs from the outside world, and the
//! small value types they exchange. Adapters (DynamoDB, SQLite, SQS, ...)
//! implement these; the application depends only on them.
//!
//! With the `conformance` feature this crate also carries the conformance
//! suites: async test bodies, generic over the port, that every adapter's
//! tests run, so that all engines share one set of semantics.

pub mod clock;
pub mod cursor;
pub mod queue;
pub mod secrets;
pub mod store;
pub mod tpgateway;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use clock::{Clock, IdGen};
pub use cursor::{Cursor, CursorError};
pub use queue::{OutgoingMessage, Queue, QueueError, QueueName, ReceivedMessage, SendBatchResult};
pub use secrets::{SecretValue, Secrets, SecretsError};
pub use store::{
    Condition, Index, IndexKey, Item, Page, Query, SkCondition, Store, StoreError, WriteOp,
};
pub use tpgateway::{
    Api, ErrorKind, FieldDetail, ProviderIdentity, TpGateway, TpgError, TpgRequest, TpgResponse,
};
