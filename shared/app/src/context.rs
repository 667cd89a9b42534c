//! Who is acting, and the correlation id of the request or message.

/// The acting user. Until login arrives (a later issue) one middleware
/// provides it; use cases only read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    pub actor: Actor,
    pub correlation_id: String,
}

/// An `Idempotency-Key` with the fingerprint of the request it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRequest {
    pub key: String,
    /// A hash of method, path and body: same key + other body is refused.
    pub fingerprint: String,
}

/// Most characters an Idempotency-Key may have.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The result of a POST that honours an Idempotency-Key.
#[derive(Debug, Clone, PartialEq)]
pub enum Idempotent<T> {
    /// Done now.
    New(T),
    /// The same request was made before: its first response body.
    Replayed(serde_json::Value),
}
