//! How each entity becomes a table item and back: keys, indexes, data.

use serde::de::DeserializeOwned;
use serde::Serialize;
use tms_domain::audit::{AuditRecord, ENTITY_AUDIT};
use tms_domain::course_run::{CourseRun, Session, ENTITY_COURSE_RUN, ENTITY_SESSION};
use tms_domain::sync::{SyncJob, ENTITY_SYNC_JOB};
use tms_ports::{IndexKey, Item};

use crate::error::AppError;
use crate::keys;

pub const ENTITY_IDEMPOTENCY: &str = "idempotency_record";

fn data<T: Serialize>(v: &T) -> Result<serde_json::Value, AppError> {
    serde_json::to_value(v).map_err(|e| AppError::Internal(format!("serialize: {e}")))
}

/// Reads an item's entity, checking its type.
pub fn decode<T: DeserializeOwned>(item: &Item, entity_type: &str) -> Result<T, AppError> {
    if item.entity_type != entity_type {
        return Err(AppError::Internal(format!(
            "expected a {entity_type} item, found {}",
            item.entity_type
        )));
    }
    Ok(serde_json::from_value(item.data.clone())?)
}

pub fn run_item(run: &CourseRun, version: u64) -> Result<Item, AppError> {
    let listing = keys::run_listing_sk(run.start_date, &run.id);
    let mut item = Item::new(
        keys::run_pk(&run.id),
        keys::run_sk(&run.id),
        ENTITY_COURSE_RUN,
        data(run)?,
    );
    item.version = version;
    item.gsi1 = Some(IndexKey::new(keys::RUNS_ALL, listing.clone()));
    item.gsi2 = Some(IndexKey::new(
        keys::runs_by_status(run.status.as_str()),
        listing.clone(),
    ));
    item.gsi3 = run
        .status
        .is_active()
        .then(|| IndexKey::new(keys::RUNS_ACTIVE, listing));
    Ok(item)
}

pub fn session_item(s: &Session, version: u64) -> Result<Item, AppError> {
    let mut item = Item::new(
        keys::run_pk(&s.course_run_id),
        keys::session_sk(&s.id),
        ENTITY_SESSION,
        data(s)?,
    );
    item.version = version;
    item.gsi1 = s.trainer_id.as_ref().map(|t| {
        IndexKey::new(
            keys::trainer_sessions_pk(t),
            keys::trainer_session_sk(s.session_date, &s.id),
        )
    });
    item.gsi2 = Some(IndexKey::new(
        keys::session_lookup_pk(&s.id),
        keys::run_pk(&s.course_run_id),
    ));
    Ok(item)
}

pub fn audit_item(a: &AuditRecord) -> Result<Item, AppError> {
    let sk = keys::timed_sk(a.created_at, &a.id);
    let mut item = Item::new(
        keys::audit_pk(&a.entity_type, &a.entity_id),
        keys::audit_sk(a.created_at, &a.id),
        ENTITY_AUDIT,
        data(a)?,
    );
    item.gsi1 = Some(IndexKey::new(
        keys::audit_by_actor_pk(&a.actor_id),
        sk.clone(),
    ));
    item.gsi2 = Some(IndexKey::new(keys::audit_by_day_pk(a.created_at), sk));
    Ok(item)
}

pub fn sync_job_item(j: &SyncJob, version: u64) -> Result<Item, AppError> {
    let pk = keys::sync_job_pk(&j.id);
    let mut item = Item::new(pk.clone(), pk, ENTITY_SYNC_JOB, data(j)?);
    item.version = version;
    item.gsi1 = Some(IndexKey::new(
        keys::sync_jobs_of_entity_pk(&j.entity_type, &j.entity_id),
        keys::timed_sk(j.created_at, &j.id),
    ));
    item.gsi2 = Some(IndexKey::new(
        keys::sync_jobs_by_status_pk(j.status.as_str()),
        keys::timed_sk(j.updated_at, &j.id),
    ));
    item.gsi3 = j
        .status
        .is_due_candidate()
        .then(|| IndexKey::new(keys::SYNC_DUE, keys::timed_sk(j.next_retry_at, &j.id)));
    Ok(item)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use tms_domain::sync::JobType;

    #[test]
    fn sync_job_leaves_the_due_index_when_done() {
        let t = Utc.with_ymd_and_hms(2025, 1, 5, 0, 0, 0).unwrap();
        let mut j = SyncJob::queued(
            "j".into(),
            JobType::CourseRunUpsert,
            "course_run",
            "r",
            2,
            "c",
            t,
        );
        let item = sync_job_item(&j, 1).unwrap();
        assert_eq!(item.pk, "SYNCJOB#j");
        assert_eq!(item.gsi3.as_ref().unwrap().pk, "SYNC#DUE");
        assert_eq!(item.gsi3.as_ref().unwrap().sk, "2025-01-05T00:02:00.000Z#j");
        j.status = tms_domain::sync::SyncStatus::Succeeded;
        assert!(sync_job_item(&j, 2).unwrap().gsi3.is_none());
        let back: SyncJob = decode(&item, ENTITY_SYNC_JOB).unwrap();
        assert_eq!(back.entity_version, 2);
        assert!(decode::<SyncJob>(&item, ENTITY_AUDIT).is_err());
    }
}
