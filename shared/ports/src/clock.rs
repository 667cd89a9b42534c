//! Time and identifiers are ports so that domain and application code stays
//! deterministic in tests.

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub trait IdGen: Send + Sync {
    /// A new unique identifier (a UUID in text form).
    fn new_id(&self) -> String;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
