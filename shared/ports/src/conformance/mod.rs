//! Conformance suites: one per port, run against every adapter of that port
//! (see tests/integration). Each function is a self-contained async test body
//! that panics on a violation; it uses keys (or queues) of its own so that
//! suites can share one table.

pub mod queue;
pub mod secrets;
pub mod store;
