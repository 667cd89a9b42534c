//! Reading the audit trail. Nothing here (or anywhere) updates or deletes an
//! audit record.

use serde::Deserialize;
use tms_domain::audit::AuditRecord;
use tms_domain::ids::is_canonical_uuid;
use tms_domain::{EntityType, ValidationErrors};
use tms_ports::{Query, SkCondition};

use crate::error::AppError;
use crate::records::decode;
use crate::{keys, parse_paging, App, ListPage};

/// Entity types that have an audit trail today.
pub const AUDITED_ENTITY_TYPES: [EntityType; 6] = [
    EntityType::CourseRun,
    EntityType::SyncJob,
    EntityType::User,
    EntityType::Trainer,
    EntityType::Trainee,
    EntityType::Enrolment,
];

/// The query string of `GET /audit-logs`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditListParams {
    #[schemars(with = "Option<tms_domain::kinds::EntityType>")]
    pub entity_type: Option<String>,
    #[schemars(extend("format" = "uuid"))]
    pub entity_id: Option<String>,
    /// Items per page (default 20).
    #[schemars(with = "Option<u32>", range(min = 1, max = crate::MAX_PAGE_SIZE))]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl App {
    /// An entity's audit trail, newest first: 1 Query per page.
    pub async fn list_audit(
        &self,
        ctx: &crate::context::RequestContext,
        params: &AuditListParams,
    ) -> Result<ListPage<AuditRecord>, AppError> {
        self.authorize(
            ctx,
            tms_domain::access::Area::AuditLogs,
            tms_domain::access::Action::Read,
            "audit trail",
        )?;
        let mut errors = ValidationErrors::default();
        let entity_type = match params.entity_type.as_deref() {
            None => {
                errors.push("entity_type", "is required");
                None
            }
            Some(t) => match AUDITED_ENTITY_TYPES.iter().find(|a| a.as_str() == t) {
                Some(a) => Some(*a),
                None => {
                    let names: Vec<&str> =
                        AUDITED_ENTITY_TYPES.iter().map(|a| a.as_str()).collect();
                    errors.push(
                        "entity_type",
                        format!("must be one of: {}", names.join(", ")),
                    );
                    None
                }
            },
        };
        let entity_id = match params.entity_id.as_deref() {
            None => {
                errors.push("entity_id", "is required");
                None
            }
            Some(id) if !is_canonical_uuid(id) => {
                errors.push("entity_id", "must be an id: a UUID in lowercase");
                None
            }
            Some(id) => Some(id),
        };
        let paging = parse_paging(params.limit.as_deref(), params.cursor.as_deref());
        if let Err(AppError::InvalidQuery(v)) = &paging {
            errors.0.extend(v.0.iter().cloned());
        }
        let (Some(entity_type), Some(entity_id), true) =
            (entity_type, entity_id, errors.is_empty())
        else {
            return Err(AppError::InvalidQuery(errors));
        };
        let (limit, cursor) = paging?;
        if cursor.as_ref().is_some_and(|c| !keys::is_audit_cursor(c)) {
            return Err(AppError::InvalidCursor);
        }
        let query = Query {
            index: None,
            pk: keys::audit_pk(entity_type, entity_id),
            sk: SkCondition::Any,
            forward: false,
            limit,
            cursor,
        };
        self.list_page(&query, decode::<AuditRecord>).await
    }
}
