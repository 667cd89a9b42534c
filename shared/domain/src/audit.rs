//! Audit records: append-only, one per change, written in the same
//! transaction as the change.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::kinds::{AuditAction, EntityType};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditRecord {
    pub id: String,
    pub entity_type: EntityType,
    pub entity_id: String,
    /// What happened, e.g. `course_run.created`, `session.removed`.
    pub action: AuditAction,
    pub actor_id: String,
    pub correlation_id: String,
    /// The entity after the change (before it, for a removal), with personal
    /// data masked by the entity's own snapshot function.
    pub payload_snapshot: Value,
    pub created_at: DateTime<Utc>,
}
