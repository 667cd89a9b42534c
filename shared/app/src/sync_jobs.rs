//! The ops side of sync: list and read jobs, retry one, and move the
//! dead-letter queue's messages back to the main queue.

use serde::{Deserialize, Serialize};
use serde_json::json;
use tms_domain::access::{Action, Area};
use tms_domain::ids::{is_canonical_uuid, JobId};
use tms_domain::sync::{SyncJob, SyncStatus};
use tms_domain::{AuditAction, EntityType, ValidationErrors};
use tms_ports::{Cursor, Index, Query, SkCondition};

use crate::context::{RequestContext, Written};
use crate::error::AppError;
use crate::records::{decode, sync_job_item};
use crate::write::{ChangeSet, OnConflict};
use crate::{keys, parse_paging, App, ListPage};

/// A job with its version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SyncJobView {
    #[serde(flatten)]
    pub job: SyncJob,
    pub version: u64,
}

impl SyncJobView {
    pub fn location(&self) -> String {
        format!("/sync-jobs/{}", self.job.id)
    }
}

/// The query string of `GET /sync-jobs`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncJobListParams {
    #[schemars(with = "Option<tms_domain::sync::SyncStatus>")]
    pub status: Option<String>,
    /// With `entity_id`: the jobs of one entity.
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

/// How many messages one redrive moves at most (so that a request ends).
pub const MAX_REDRIVE: u32 = 1000;

/// Entity types that have sync jobs today.
pub const SYNCED_ENTITY_TYPES: [EntityType; 4] = [
    EntityType::CourseRun,
    EntityType::Enrolment,
    EntityType::SessionAttendance,
    EntityType::Assessment,
];

/// Whether a cursor holds the keys a job listing makes: a job's table key
/// and its index key on the same job.
fn is_job_cursor(c: &Cursor) -> bool {
    let Some(id) = c.pk.strip_prefix("SYNCJOB#") else {
        return false;
    };
    is_canonical_uuid(id)
        && c.sk == c.pk
        && c.isk
            .as_deref()
            .and_then(|k| k.split_once('#'))
            .is_some_and(|(at, kid)| kid == id && chrono::DateTime::parse_from_rfc3339(at).is_ok())
}

impl App {
    /// Jobs of one status (most recently changed first), or of one entity
    /// (newest first): 1 Query on an index per page.
    pub async fn list_sync_jobs(
        &self,
        ctx: &RequestContext,
        params: &SyncJobListParams,
    ) -> Result<ListPage<SyncJobView>, AppError> {
        self.authorize(ctx, Area::SyncJobs, Action::Read, "sync job")?;
        let mut errors = ValidationErrors::default();
        let status = params.status.as_deref().and_then(|s| {
            SyncStatus::parse(s)
                .map_err(|r| errors.push("status", r))
                .ok()
        });
        let entity_type = params.entity_type.as_deref().and_then(|t| {
            match SYNCED_ENTITY_TYPES.iter().find(|e| e.as_str() == t) {
                Some(e) => Some(*e),
                None => {
                    let names: Vec<&str> = SYNCED_ENTITY_TYPES.iter().map(|e| e.as_str()).collect();
                    errors.push(
                        "entity_type",
                        format!("must be one of: {}", names.join(", ")),
                    );
                    None
                }
            }
        });
        let entity_id = match params.entity_id.as_deref() {
            Some(id) if !is_canonical_uuid(id) => {
                errors.push("entity_id", "must be an id: a UUID in lowercase");
                None
            }
            other => other,
        };
        let by_entity = params.entity_type.is_some() || params.entity_id.is_some();
        if by_entity {
            if params.entity_type.is_none() {
                errors.push("entity_type", "is required with entity_id");
            }
            if params.entity_id.is_none() {
                errors.push("entity_id", "is required with entity_type");
            }
            if params.status.is_some() {
                errors.push(
                    "status",
                    "cannot be combined with entity_type and entity_id",
                );
            }
        } else if params.status.is_none() {
            errors.push("status", "is required (or entity_type and entity_id)");
        }
        let paging = parse_paging(params.limit.as_deref(), params.cursor.as_deref());
        if let Err(AppError::InvalidQuery(v)) = &paging {
            errors.0.extend(v.0.iter().cloned());
        }
        if !errors.is_empty() {
            return Err(AppError::InvalidQuery(errors));
        }
        let (limit, cursor) = paging?;
        if cursor.as_ref().is_some_and(|c| !is_job_cursor(c)) {
            return Err(AppError::InvalidCursor);
        }
        let (index, pk) = match (status, entity_type, entity_id) {
            (Some(s), _, _) => (Index::Gsi2, keys::sync_jobs_by_status_pk(s)),
            (None, Some(t), Some(id)) => (Index::Gsi1, keys::sync_jobs_of_entity_pk(t, id)),
            _ => return Err(AppError::InvalidQuery(errors)),
        };
        let query = Query {
            index: Some(index),
            pk,
            sk: SkCondition::Any,
            forward: false,
            limit,
            cursor,
        };
        self.list_page(&query, |item| {
            Ok(SyncJobView {
                job: decode(item)?,
                version: item.version,
            })
        })
        .await
    }

    /// One job with its attempts, last error and receipts: 1 GetItem.
    pub async fn get_sync_job(
        &self,
        ctx: &RequestContext,
        id: &JobId,
    ) -> Result<SyncJobView, AppError> {
        self.authorize(ctx, Area::SyncJobs, Action::Read, "sync job")?;
        self.read_sync_job(id).await
    }

    async fn read_sync_job(&self, id: &JobId) -> Result<SyncJobView, AppError> {
        let pk = keys::sync_job_pk(id.as_str());
        let item = self
            .store
            .get(&pk, &pk)
            .await?
            .ok_or(AppError::NotFound("sync job"))?;
        Ok(SyncJobView {
            job: decode(&item)?,
            version: item.version,
        })
    }

    /// A person's retry of a failed or dead-lettered job: queued again with
    /// an audit record, then sent to the queue. 1 GetItem + 1
    /// TransactWriteItems + 1 SendMessage.
    pub async fn retry_sync_job(
        &self,
        ctx: &RequestContext,
        id: &JobId,
    ) -> Result<Written, AppError> {
        self.authorize(ctx, Area::SyncJobs, Action::Write, "sync job")?;
        let current = self.read_sync_job(id).await?;
        let now = self.now();
        let next = current.job.retried(now)?;
        let view = SyncJobView {
            job: next,
            version: current.version + 1,
        };
        let response = Written::of(&view, view.version, None)?;
        let mut change = ChangeSet::default();
        change.put_versioned(
            sync_job_item(&view.job, view.version)?,
            current.version,
            OnConflict::Moved("sync job"),
        );
        change.audit(&self.audit_record(
            ctx,
            EntityType::SyncJob,
            id.as_str(),
            AuditAction::SyncJobRetried,
            json!({ "from_status": current.job.status, "attempts": current.job.attempts }),
            now,
        ))?;
        self.commit(ctx, change, None).await?;
        self.enqueue(&view.job).await;
        Ok(response)
    }

    /// Moves the dead-letter queue's messages back to the main queue, up to
    /// [`MAX_REDRIVE`]; returns how many moved. Safe to call twice (a
    /// second call finds fewer or none) and beside a console redrive (each
    /// message is moved once, by whoever receives it; a job run twice is
    /// acknowledged the second time without a submission).
    pub async fn redrive_dead_letters(&self, ctx: &RequestContext) -> Result<u32, AppError> {
        self.authorize(ctx, Area::SyncJobs, Action::Write, "sync job")?;
        let mut moved = 0;
        while moved < MAX_REDRIVE {
            let n = self
                .queue
                .redrive((MAX_REDRIVE - moved).min(tms_ports::queue::MAX_BATCH as u32))
                .await?;
            if n == 0 {
                break;
            }
            moved += n;
        }
        tracing::info!(moved, "dead-letter queue redriven");
        Ok(moved)
    }
}
