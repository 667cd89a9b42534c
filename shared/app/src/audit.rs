//! Reading the audit trail. Nothing here (or anywhere) updates or deletes an
//! audit record.

use serde::Deserialize;
use tms_domain::audit::{AuditRecord, ENTITY_AUDIT};
use tms_domain::course_run::{is_valid_id, ENTITY_COURSE_RUN};
use tms_domain::ValidationErrors;
use tms_ports::{Query, SkCondition};

use crate::error::AppError;
use crate::records::decode;
use crate::{keys, parse_paging, App, ListPage};

/// Entity types that have an audit trail today.
pub const AUDITED_ENTITY_TYPES: [&str; 1] = [ENTITY_COURSE_RUN];

/// The query string of `GET /audit-logs`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditListParams {
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

impl App {
    /// An entity's audit trail, newest first: 1 Query per page.
    pub async fn list_audit(
        &self,
        params: &AuditListParams,
    ) -> Result<ListPage<AuditRecord>, AppError> {
        let mut errors = ValidationErrors::default();
        let entity_type = match params.entity_type.as_deref() {
            None => {
                errors.push("entity_type", "is required");
                None
            }
            Some(t) if !AUDITED_ENTITY_TYPES.contains(&t) => {
                errors.push(
                    "entity_type",
                    format!("must be one of: {}", AUDITED_ENTITY_TYPES.join(", ")),
                );
                None
            }
            Some(t) => Some(t),
        };
        let entity_id = match params.entity_id.as_deref() {
            None => {
                errors.push("entity_id", "is required");
                None
            }
            Some(id) if !is_valid_id(id) => {
                errors.push("entity_id", "must be an id (a UUID)");
                None
            }
            Some(id) => Some(id),
        };
        let (Some(entity_type), Some(entity_id)) = (entity_type, entity_id) else {
            return Err(errors.into());
        };
        let (limit, cursor) = parse_paging(params.limit.as_deref(), params.cursor.as_deref())?;
        let query = Query {
            index: None,
            pk: keys::audit_pk(entity_type, entity_id),
            sk: SkCondition::Any,
            forward: false,
            limit,
            cursor,
        };
        self.list_page(&query, |i| decode(i, ENTITY_AUDIT)).await
    }
}
