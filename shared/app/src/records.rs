//! How each entity becomes a table item and back: keys, indexes, data. Each
//! entity names its own type once ([`Record`]), so decoding is checked by
//! the type asked for, not by a string passed beside it.

use serde::de::DeserializeOwned;
use serde::Serialize;
use tms_domain::audit::AuditRecord;
use tms_domain::course_run::{CourseRun, Session};
use tms_domain::sync::{SyncJob, SyncLock};
use tms_domain::EntityType;
use tms_ports::{IndexKey, Item};

use crate::error::AppError;
use crate::keys;

/// An entity stored as an item of the table.
pub trait Record: Serialize + DeserializeOwned {
    const ENTITY: EntityType;
}

impl Record for CourseRun {
    const ENTITY: EntityType = EntityType::CourseRun;
}
impl Record for Session {
    const ENTITY: EntityType = EntityType::Session;
}
impl Record for AuditRecord {
    const ENTITY: EntityType = EntityType::AuditRecord;
}
impl Record for SyncJob {
    const ENTITY: EntityType = EntityType::SyncJob;
}
impl Record for tms_domain::user::User {
    const ENTITY: EntityType = EntityType::User;
}
impl Record for tms_domain::trainer::Trainer {
    const ENTITY: EntityType = EntityType::Trainer;
}
impl Record for tms_domain::enrolment::Enrolment {
    const ENTITY: EntityType = EntityType::Enrolment;
}
impl Record for StoredTrainee {
    const ENTITY: EntityType = EntityType::Trainee;
}
impl Record for tms_domain::attendance::Sheet {
    const ENTITY: EntityType = EntityType::SessionAttendance;
}
impl Record for tms_domain::attendance::AttendanceRecord {
    const ENTITY: EntityType = EntityType::AttendanceRecord;
}
impl Record for SyncLock {
    const ENTITY: EntityType = EntityType::SyncLock;
}
impl Record for tms_domain::assessment::Assessment {
    const ENTITY: EntityType = EntityType::Assessment;
}
/// A version item holds the assessment as it was, with its number.
impl Record for crate::assessments::AssessmentView {
    const ENTITY: EntityType = EntityType::AssessmentVersion;
}

fn data<T: Serialize>(v: &T) -> Result<serde_json::Value, AppError> {
    serde_json::to_value(v).map_err(|e| AppError::Internal(format!("serialize: {e}")))
}

/// A new item holding the record `v`.
fn item_of<T: Record>(pk: String, sk: String, v: &T, version: u64) -> Result<Item, AppError> {
    let mut item = Item::new(pk, sk, T::ENTITY.as_str(), data(v)?);
    item.version = version;
    Ok(item)
}

/// Whether an item holds a record of type `T`.
pub fn is<T: Record>(item: &Item) -> bool {
    item.entity_type == T::ENTITY.as_str()
}

/// Reads an item's entity, checking its type.
pub fn decode<T: Record>(item: &Item) -> Result<T, AppError> {
    if !is::<T>(item) {
        return Err(AppError::Internal(format!(
            "expected a {} item, found {}",
            T::ENTITY,
            item.entity_type
        )));
    }
    // From a reference: no copy of the whole document first.
    Ok(T::deserialize(&item.data)?)
}

pub fn run_item(run: &CourseRun, version: u64) -> Result<Item, AppError> {
    let listing = keys::run_listing_sk(run.fields.start_date, &run.id);
    let mut item = item_of(keys::run_pk(&run.id), keys::run_sk(&run.id), run, version)?;
    item.gsi1 = Some(IndexKey::new(keys::RUNS_ALL, listing.clone()));
    item.gsi2 = Some(IndexKey::new(
        keys::runs_by_status(run.status),
        listing.clone(),
    ));
    item.gsi3 = run
        .status
        .is_active()
        .then(|| IndexKey::new(keys::RUNS_ACTIVE, listing));
    Ok(item)
}

pub fn session_item(s: &Session, version: u64) -> Result<Item, AppError> {
    let mut item = item_of(
        keys::run_pk(&s.course_run_id),
        keys::session_sk(&s.id),
        s,
        version,
    )?;
    item.gsi1 = s.fields.trainer_id.as_ref().map(|t| {
        IndexKey::new(
            keys::trainer_sessions_pk(t),
            keys::trainer_session_sk(s.fields.session_date, &s.id),
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
    let mut item = item_of(
        keys::audit_pk(a.entity_type, &a.entity_id),
        keys::audit_sk(a.created_at, &a.id),
        a,
        1,
    )?;
    item.gsi1 = Some(IndexKey::new(
        keys::audit_by_actor_pk(&a.actor_id),
        sk.clone(),
    ));
    item.gsi2 = Some(IndexKey::new(keys::audit_by_day_pk(a.created_at), sk));
    Ok(item)
}

pub fn sync_job_item(j: &SyncJob, version: u64) -> Result<Item, AppError> {
    let pk = keys::sync_job_pk(&j.id);
    let mut item = item_of(pk.clone(), pk, j, version)?;
    item.gsi1 = Some(IndexKey::new(
        keys::sync_jobs_of_entity_pk(j.entity_type, &j.entity_id),
        keys::timed_sk(j.created_at, &j.id),
    ));
    item.gsi2 = Some(IndexKey::new(
        keys::sync_jobs_by_status_pk(j.status),
        keys::timed_sk(j.updated_at, &j.id),
    ));
    item.gsi3 = j
        .status
        .is_due_candidate()
        .then(|| IndexKey::new(keys::SYNC_DUE, keys::timed_sk(j.next_retry_at, &j.id)));
    Ok(item)
}

pub fn user_item(u: &tms_domain::user::User, version: u64) -> Result<Item, AppError> {
    let pk = keys::user_pk(&u.id);
    let mut item = item_of(pk.clone(), pk, u, version)?;
    item.gsi1 = Some(IndexKey::new(
        keys::USERS,
        keys::user_listing_sk(&u.email, &u.id),
    ));
    Ok(item)
}

pub fn trainer_item(t: &tms_domain::trainer::Trainer, version: u64) -> Result<Item, AppError> {
    let pk = keys::trainer_pk(&t.id);
    let listing = keys::trainer_listing_sk(&t.fields.name, &t.id);
    let mut item = item_of(pk.clone(), pk, t, version)?;
    item.gsi1 = Some(IndexKey::new(keys::TRAINERS, listing.clone()));
    item.gsi2 = Some(IndexKey::new(
        keys::trainers_by_status(t.fields.status),
        listing,
    ));
    Ok(item)
}

pub fn trainer_user_guard_item(
    user_id: &tms_domain::ids::UserId,
    trainer_id: &tms_domain::ids::TrainerId,
) -> Item {
    let pk = keys::trainer_user_guard_pk(user_id);
    Item::new(
        pk.clone(),
        pk,
        EntityType::TrainerUserGuard.as_str(),
        serde_json::json!({ "trainer_id": trainer_id }),
    )
}

/// A trainee as stored: what is answered, and the national id sealed
/// (AES-256-GCM, the trainee id as associated data) with the keyed hash
/// that names its guard. The full id is in no other attribute.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct StoredTrainee {
    #[serde(flatten)]
    pub trainee: tms_domain::trainee::Trainee,
    pub national_id_sealed: tms_auth::pii::Sealed,
    pub national_id_hash: String,
}

pub fn trainee_item(t: &StoredTrainee, version: u64) -> Result<Item, AppError> {
    let pk = keys::trainee_pk(&t.trainee.id);
    let mut item = item_of(pk.clone(), pk, t, version)?;
    item.gsi1 = Some(IndexKey::new(
        keys::TRAINEES,
        keys::trainee_listing_sk(&t.trainee.fields.name, &t.trainee.id),
    ));
    Ok(item)
}

pub fn enrolment_item(
    e: &tms_domain::enrolment::Enrolment,
    version: u64,
) -> Result<Item, AppError> {
    let pk = keys::enrolment_pk(&e.id);
    let listing = keys::enrolment_listing_sk(e.created_at, &e.id);
    let mut item = item_of(pk.clone(), pk, e, version)?;
    item.gsi1 = Some(IndexKey::new(
        keys::run_enrolments_pk(&e.course_run_id),
        listing.clone(),
    ));
    item.gsi2 = Some(IndexKey::new(
        keys::trainee_enrolments_pk(&e.trainee_id),
        listing.clone(),
    ));
    item.gsi3 = e
        .status
        .is_active()
        .then(|| IndexKey::new(keys::run_active_enrolments_pk(&e.course_run_id), listing));
    Ok(item)
}

/// The current assessment: GSI1 lists an enrolment's by assessment day.
pub fn assessment_item(
    a: &tms_domain::assessment::Assessment,
    version: u64,
) -> Result<Item, AppError> {
    let pk = keys::assessment_pk(&a.id);
    let mut item = item_of(pk.clone(), pk, a, version)?;
    item.gsi1 = Some(IndexKey::new(
        keys::enrolment_assessments_pk(&a.enrolment_id),
        keys::assessment_listing_sk(a.fields.assessed_at, &a.id),
    ));
    Ok(item)
}

/// One immutable version of an assessment, in the assessment's partition
/// (never rewritten: it is put only where none exists).
pub fn assessment_version_item(
    view: &crate::assessments::AssessmentView,
) -> Result<Item, AppError> {
    item_of(
        keys::assessment_pk(&view.assessment.id),
        keys::assessment_version_sk(view.version),
        view,
        1,
    )
}

/// The guard of one enrolment per trainee and run: holds the enrolment's id.
pub fn enrolment_guard_item(
    run_id: &tms_domain::ids::RunId,
    trainee_id: &tms_domain::ids::TraineeId,
    enrolment_id: &tms_domain::ids::EnrolmentId,
) -> Item {
    let pk = keys::enrolment_guard_pk(run_id, trainee_id);
    Item::new(
        pk.clone(),
        pk,
        EntityType::EnrolmentGuard.as_str(),
        serde_json::json!({ "enrolment_id": enrolment_id }),
    )
}

pub fn attendance_sheet_item(
    s: &tms_domain::attendance::Sheet,
    version: u64,
) -> Result<Item, AppError> {
    item_of(
        keys::attendance_pk(&s.session_id),
        keys::ATTENDANCE_SHEET_SK.to_string(),
        s,
        version,
    )
}

pub fn attendance_item(
    r: &tms_domain::attendance::AttendanceRecord,
    version: u64,
) -> Result<Item, AppError> {
    let mut item = item_of(
        keys::attendance_pk(&r.session_id),
        keys::attendance_row_sk(&r.enrolment_id),
        r,
        version,
    )?;
    item.gsi1 = Some(IndexKey::new(
        keys::enrolment_attendance_pk(&r.enrolment_id),
        keys::enrolment_attendance_sk(r.session_date, &r.session_id),
    ));
    Ok(item)
}

/// The guard that keeps a national id unique: under its keyed hash, it
/// holds the trainee's id.
pub fn natid_guard_item(keyed_hash: &str, trainee_id: &tms_domain::ids::TraineeId) -> Item {
    let pk = keys::natid_guard_pk(keyed_hash);
    Item::new(
        pk.clone(),
        pk,
        EntityType::NatidGuard.as_str(),
        serde_json::json!({ "trainee_id": trainee_id }),
    )
}

pub fn email_guard_item(email: &str, user_id: &tms_domain::ids::UserId) -> Item {
    let pk = keys::email_guard_pk(email);
    Item::new(
        pk.clone(),
        pk,
        EntityType::EmailGuard.as_str(),
        serde_json::json!({ "user_id": user_id }),
    )
}

pub fn sync_lock_item(l: &SyncLock, version: u64) -> Result<Item, AppError> {
    let pk = keys::sync_lock_pk(l.entity_type, &l.entity_id);
    item_of(pk.clone(), pk, l, version)
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
            EntityType::CourseRun,
            "r",
            2,
            "c",
            t,
        );
        let item = sync_job_item(&j, 1).unwrap();
        assert_eq!(item.pk, keys::sync_job_pk("j"));
        assert_eq!(item.entity_type, "sync_job");
        assert_eq!(item.gsi3.as_ref().unwrap().pk, keys::SYNC_DUE);
        assert_eq!(
            item.gsi3.as_ref().unwrap().sk,
            keys::timed_sk(t + chrono::Duration::seconds(120), "j")
        );
        j.status = tms_domain::sync::SyncStatus::Succeeded;
        assert!(sync_job_item(&j, 2).unwrap().gsi3.is_none());
        let back: SyncJob = decode(&item).unwrap();
        assert_eq!(back.entity_version, 2);
        assert!(decode::<AuditRecord>(&item).is_err());
    }
}
