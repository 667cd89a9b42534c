//! Reading the audit trail. Nothing here (or anywhere) updates or deletes an
//! audit record.

use serde::Deserialize;
use tms_domain::audit::AuditRecord;
use tms_domain::ids::is_canonical_uuid;
use tms_domain::{EntityType, ValidationErrors};
use tms_ports::{Index, Query, SkCondition};

use crate::error::AppError;
use crate::records::decode;
use crate::{keys, parse_paging, App, ListPage};

/// Entity types that have an audit trail today.
pub const AUDITED_ENTITY_TYPES: [EntityType; 8] = [
    EntityType::CourseRun,
    EntityType::SyncJob,
    EntityType::User,
    EntityType::Trainer,
    EntityType::Trainee,
    EntityType::Enrolment,
    EntityType::SessionAttendance,
    EntityType::Assessment,
];

/// The query string of `GET /audit-logs`: one entity's trail
/// (`entity_type` and `entity_id`), one actor's records (`actor_id`) or
/// one day's (`day`, UTC), newest first.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditListParams {
    #[schemars(with = "Option<tms_domain::kinds::EntityType>")]
    pub entity_type: Option<String>,
    #[schemars(extend("format" = "uuid"))]
    pub entity_id: Option<String>,
    /// The records of one actor: a user id, or a system actor such as
    /// `system:sync-worker`.
    #[schemars(length(min = 1, max = 64))]
    pub actor_id: Option<String>,
    /// The records of one day (UTC).
    #[schemars(extend("format" = "date"))]
    pub day: Option<String>,
    /// Items per page (default 20).
    #[schemars(with = "Option<u32>", range(min = 1, max = crate::MAX_PAGE_SIZE))]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Whether an actor id is one the system writes: a user's id (a UUID), or
/// a name such as `system:sync-worker` (lowercase letters, digits and `-`,
/// a letter first, an optional `:` part), at most 64 characters.
fn is_actor_id(v: &str) -> bool {
    if tms_domain::ids::is_canonical_uuid(v) {
        return true;
    }
    let word = |w: &str| {
        !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let first_ok = v.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
    v.len() <= 64
        && first_ok
        && match v.split_once(':') {
            Some((a, b)) => word(a) && word(b),
            None => word(v),
        }
}

/// Which audit listing a query asks for.
enum Listing<'a> {
    Entity(EntityType, &'a str),
    Actor(&'a str),
    Day(chrono::NaiveDate),
}

impl App {
    /// Audit records newest first, 1 Query per page: an entity's trail
    /// (the table), an actor's (GSI1) or a day's (GSI2).
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
        let entity_type = params.entity_type.as_deref().and_then(|t| {
            match AUDITED_ENTITY_TYPES.iter().find(|a| a.as_str() == t) {
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
            }
        });
        let entity_id = params.entity_id.as_deref().and_then(|id| {
            if is_canonical_uuid(id) {
                Some(id)
            } else {
                errors.push("entity_id", "must be an id: a UUID in lowercase");
                None
            }
        });
        let actor = params.actor_id.as_deref().and_then(|a| {
            if is_actor_id(a) {
                Some(a)
            } else {
                errors.push(
                    "actor_id",
                    "must be a user id or a system actor such as system:sync-worker",
                );
                None
            }
        });
        let day = params.day.as_deref().and_then(|d| {
            tms_domain::types::strict_date(d)
                .map_err(|why| errors.push("day", why))
                .ok()
        });
        let entity_asked = params.entity_type.is_some() || params.entity_id.is_some();
        let modes = [
            entity_asked,
            params.actor_id.is_some(),
            params.day.is_some(),
        ]
        .iter()
        .filter(|m| **m)
        .count();
        if modes == 0 {
            errors.push(
                "entity_type",
                "is required with entity_id (or ask by actor_id, or by day)",
            );
        } else if modes > 1 {
            let field = if params.day.is_some() {
                "day"
            } else {
                "actor_id"
            };
            errors.push(
                field,
                "ask for one listing: an entity's (entity_type and entity_id), an actor's or a day's",
            );
        } else if entity_asked {
            if params.entity_type.is_none() {
                errors.push("entity_type", "is required with entity_id");
            }
            if params.entity_id.is_none() {
                errors.push("entity_id", "is required with entity_type");
            }
        }
        let paging = parse_paging(params.limit.as_deref(), params.cursor.as_deref());
        if let Err(AppError::InvalidQuery(v)) = &paging {
            errors.0.extend(v.0.iter().cloned());
        }
        if !errors.is_empty() {
            return Err(AppError::InvalidQuery(errors));
        }
        let listing = match (entity_type, entity_id, actor, day) {
            (Some(t), Some(id), _, _) => Listing::Entity(t, id),
            (_, _, Some(a), _) => Listing::Actor(a),
            (_, _, _, Some(d)) => Listing::Day(d),
            _ => return Err(AppError::InvalidQuery(errors)),
        };
        let (limit, cursor) = paging?;
        let (index, pk) = match &listing {
            Listing::Entity(t, id) => (None, keys::audit_pk(*t, id)),
            Listing::Actor(a) => (Some(Index::Gsi1), keys::audit_by_actor_pk(a)),
            Listing::Day(d) => (Some(Index::Gsi2), keys::audit_by_day(*d)),
        };
        let cursor_ok = |c: &tms_ports::Cursor| match index {
            None => keys::is_audit_cursor(c),
            Some(_) => keys::is_audit_index_cursor(c, &pk),
        };
        if cursor.as_ref().is_some_and(|c| !cursor_ok(c)) {
            return Err(AppError::InvalidCursor);
        }
        let query = Query {
            index,
            pk,
            sk: SkCondition::Any,
            forward: false,
            limit,
            cursor,
        };
        self.list_page(&query, decode::<AuditRecord>).await
    }
}

#[cfg(test)]
mod tests {
    use super::is_actor_id;

    #[test]
    fn actor_ids() {
        for ok in [
            "system:sync-worker",
            "test-admin",
            "0193a4e2-7c1b-7d3e-9a51-2b7f00c0ffee",
        ] {
            assert!(is_actor_id(ok), "{ok}");
        }
        for bad in [
            "",
            "-1",
            "1e400",
            " true",
            "+025-01-15",
            "A",
            "a:",
            "a:b:c",
            &"a".repeat(65),
        ] {
            assert!(!is_actor_id(bad), "{bad}");
        }
    }
}
