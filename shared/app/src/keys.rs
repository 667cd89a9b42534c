//! Every table key, built here and nowhere else. Unit tests pin the exact
//! strings; docs/access-patterns.md explains what serves which pattern.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use tms_domain::course_run::RunStatus;
use tms_domain::ids::{RunId, SessionId, TrainerId, TypedId};
use tms_domain::sync::SyncStatus;
use tms_domain::EntityType;
use tms_ports::Cursor;

/// A timestamp as it appears inside sort keys: RFC 3339, UTC, milliseconds,
/// so that byte order is time order.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Upper bound appended to a sort-key prefix to include every id after it.
pub const HIGH: &str = "~";

// --- course runs --------------------------------------------------------

pub fn run_pk(run_id: &RunId) -> String {
    format!("RUN#{run_id}")
}
pub fn run_sk(run_id: &RunId) -> String {
    format!("RUN#{run_id}")
}
/// GSI1: every run, by start date.
pub const RUNS_ALL: &str = "RUNS";
/// GSI2: runs of one status, by start date.
pub fn runs_by_status(status: RunStatus) -> String {
    format!("RUNS#STATUS#{}", status.as_str())
}
/// GSI3 (sparse): runs that are not cancelled, by start date.
pub const RUNS_ACTIVE: &str = "RUNS#ACTIVE";
/// Sort key of a run in every run listing.
pub fn run_listing_sk(start: NaiveDate, run_id: &RunId) -> String {
    format!("{start}#{run_id}")
}
/// Whether a cursor of a run listing holds keys that listing produces: the
/// table key of a run and the listing key of the same run. Anything else
/// was made up, and is refused before it reaches the store.
pub fn is_run_listing_cursor(c: &Cursor) -> bool {
    let Some((date, id)) = c.isk.as_deref().and_then(|k| k.split_once('#')) else {
        return false;
    };
    let (Ok(date), Ok(id)) = (tms_domain::types::strict_date(date), RunId::parse(id)) else {
        return false;
    };
    c.pk == run_pk(&id)
        && c.sk == run_sk(&id)
        && c.isk.as_deref() == Some(&run_listing_sk(date, &id))
}
/// Inclusive sort-key range of runs starting between two dates.
pub fn run_listing_range(from: Option<NaiveDate>, to: Option<NaiveDate>) -> (String, String) {
    let lo = from
        .map(|d| d.to_string())
        .unwrap_or_else(|| "0000-01-01".into());
    let hi = to
        .map(|d| d.to_string())
        .unwrap_or_else(|| "9999-12-31".into());
    (lo, format!("{hi}#{HIGH}"))
}

// --- sessions (in their run's partition) ---------------------------------

pub fn session_sk(session_id: &SessionId) -> String {
    format!("SESSION#{session_id}")
}
/// Sort-key range of a run partition that holds the run item and its
/// sessions, and nothing else stored there (enrolment guards sort before it).
pub fn run_and_sessions_range(run_id: &RunId) -> (String, String) {
    (run_sk(run_id), "SESSION$".into())
}
/// GSI1: a trainer's sessions by date.
pub fn trainer_sessions_pk(trainer_id: &TrainerId) -> String {
    format!("TRAINER#{trainer_id}")
}
pub fn trainer_session_sk(date: NaiveDate, session_id: &SessionId) -> String {
    format!("SESSION#{date}#{session_id}")
}
/// GSI2: a session's run, from the session id.
pub fn session_lookup_pk(session_id: &SessionId) -> String {
    format!("SESSION#{session_id}")
}

// --- audit ----------------------------------------------------------------

pub fn audit_pk(entity_type: EntityType, entity_id: &str) -> String {
    format!("AUDIT#{entity_type}#{entity_id}")
}
/// Whether a cursor of an audit trail holds a key the trail produces: a
/// timestamp and an id.
pub fn is_audit_cursor(c: &Cursor) -> bool {
    c.ipk.is_none()
        && c.sk.split_once('#').is_some_and(|(at, id)| {
            DateTime::parse_from_rfc3339(at).is_ok() && tms_domain::ids::is_canonical_uuid(id)
        })
}
pub fn audit_sk(at: DateTime<Utc>, audit_id: &str) -> String {
    format!("{}#{audit_id}", ts(at))
}
/// GSI1: an actor's audit records.
pub fn audit_by_actor_pk(actor_id: &str) -> String {
    format!("AUDIT#ACTOR#{actor_id}")
}
/// GSI2: one day's audit records.
pub fn audit_by_day_pk(at: DateTime<Utc>) -> String {
    audit_by_day(at.date_naive())
}
/// GSI2: the audit records of `day` (UTC).
pub fn audit_by_day(day: NaiveDate) -> String {
    format!("AUDIT#DAY#{day}")
}
/// Whether a cursor of an actor's or a day's audit listing holds keys that
/// listing produces: the index key asked for, an audit record's table key,
/// a timestamp and an id.
pub fn is_audit_index_cursor(c: &Cursor, index_pk: &str) -> bool {
    c.ipk.as_deref() == Some(index_pk)
        && c.pk.starts_with("AUDIT#")
        && c.isk.as_deref() == Some(c.sk.as_str())
        && c.sk.split_once('#').is_some_and(|(at, id)| {
            DateTime::parse_from_rfc3339(at).is_ok() && tms_domain::ids::is_canonical_uuid(id)
        })
}

// --- sync jobs --------------------------------------------------------------

pub fn sync_job_pk(job_id: &str) -> String {
    format!("SYNCJOB#{job_id}")
}
/// GSI1: the jobs of one entity.
pub fn sync_jobs_of_entity_pk(entity_type: EntityType, entity_id: &str) -> String {
    format!("SYNCJOBS#{entity_type}#{entity_id}")
}
/// GSI2: jobs of one status.
pub fn sync_jobs_by_status_pk(status: SyncStatus) -> String {
    format!("SYNCJOBS#STATUS#{}", status.as_str())
}
/// GSI3 (sparse): jobs the sweeper must look at, by next_retry_at.
pub const SYNC_DUE: &str = "SYNC#DUE";
/// Sort-key range of the due index: every job due at or before `now`.
pub fn sync_due_range(now: DateTime<Utc>) -> (String, String) {
    ("0".into(), format!("{}#{HIGH}", ts(now)))
}
/// The lock that lets one sync job at a time act for an entity (its own
/// partition, so that no entity's reads ever see it).
pub fn sync_lock_pk(entity_type: EntityType, entity_id: &str) -> String {
    format!("SYNCLOCK#{entity_type}#{entity_id}")
}
pub fn timed_sk(at: DateTime<Utc>, id: &str) -> String {
    format!("{}#{id}", ts(at))
}

/// Whether a cursor of an index listing of one kind of item holds keys
/// that listing makes: the item's own key (`<prefix><uuid>` as both table
/// keys) and an index sort key ending in the same id.
fn is_item_listing_cursor(c: &Cursor, prefix: &str) -> bool {
    let Some(id) = c.pk.strip_prefix(prefix) else {
        return false;
    };
    tms_domain::ids::is_canonical_uuid(id)
        && c.sk == c.pk
        && c.isk
            .as_deref()
            .and_then(|k| k.rsplit_once('#'))
            .is_some_and(|(_, kid)| kid == id)
}

// --- trainers -----------------------------------------------------------------

pub fn trainer_pk(id: &TrainerId) -> String {
    format!("TRAINER#{id}")
}
/// GSI1: every trainer, by name.
pub const TRAINERS: &str = "TRAINERS";
/// GSI2: trainers of one status, by name.
pub fn trainers_by_status(status: tms_domain::trainer::TrainerStatus) -> String {
    format!("TRAINERS#STATUS#{}", status.as_str())
}
/// Sort key of a trainer in the listings: the name lowercased, then the id.
pub fn trainer_listing_sk(name: &str, id: &TrainerId) -> String {
    format!("{}#{id}", name.to_lowercase())
}
/// Whether a cursor of a trainer listing holds keys the listing makes.
pub fn is_trainer_cursor(c: &Cursor) -> bool {
    is_item_listing_cursor(c, "TRAINER#")
}
/// The guard that lets a user be linked to one trainer only.
pub fn trainer_user_guard_pk(user_id: &tms_domain::ids::UserId) -> String {
    format!("TRAINERUSER#{user_id}")
}

// --- trainees -----------------------------------------------------------------

pub fn trainee_pk(id: &tms_domain::ids::TraineeId) -> String {
    format!("TRAINEE#{id}")
}
/// GSI1: every trainee, by name.
pub const TRAINEES: &str = "TRAINEES";
/// Sort key of a trainee in the listing: the name lowercased, then the id.
pub fn trainee_listing_sk(name: &str, id: &tms_domain::ids::TraineeId) -> String {
    format!("{}#{id}", name.to_lowercase())
}
/// The listing's sort-key prefix of names starting with `prefix`.
pub fn trainee_name_prefix(prefix: &str) -> String {
    prefix.to_lowercase()
}
/// Whether a cursor of the trainee listing holds keys the listing makes.
pub fn is_trainee_cursor(c: &Cursor) -> bool {
    is_item_listing_cursor(c, "TRAINEE#")
}
/// The guard of a national id, under its keyed hash (never the id).
pub fn natid_guard_pk(keyed_hash: &str) -> String {
    format!("NATID#{keyed_hash}")
}

// --- enrolments ---------------------------------------------------------------

pub fn enrolment_pk(id: &tms_domain::ids::EnrolmentId) -> String {
    format!("ENROLMENT#{id}")
}
/// The guard of one enrolment per trainee and run: its own partition (so
/// that the enrolments function's writes can be limited to it, not to the
/// run's partition).
pub fn enrolment_guard_pk(run_id: &RunId, trainee_id: &tms_domain::ids::TraineeId) -> String {
    format!("ENROLLED#{run_id}#{trainee_id}")
}
/// GSI3 (sparse): a run's active enrolments (not cancelled, not failed).
pub fn run_active_enrolments_pk(run_id: &RunId) -> String {
    format!("ENROLMENTS#ACTIVE#{run_id}")
}
/// Sort key of an enrolment in its listings: created time, then id.
pub fn enrolment_listing_sk(at: DateTime<Utc>, id: &tms_domain::ids::EnrolmentId) -> String {
    timed_sk(at, id.as_str())
}
/// Whether a cursor of an enrolment listing holds keys the listings make.
pub fn is_enrolment_cursor(c: &Cursor) -> bool {
    is_item_listing_cursor(c, "ENROLMENT#")
}

/// GSI1: a run's enrolments, by creation.
pub fn run_enrolments_pk(run_id: &RunId) -> String {
    format!("RUN#{run_id}#ENROLMENTS")
}
/// GSI2: a trainee's enrolments, by creation.
pub fn trainee_enrolments_pk(trainee_id: &tms_domain::ids::TraineeId) -> String {
    format!("TRAINEE#{trainee_id}#ENROLMENTS")
}

// --- attendance (in the session's own partition) -----------------------------

/// A session's attendance: its sheet and one row per enrolment.
pub fn attendance_pk(session_id: &SessionId) -> String {
    format!("SESSION#{session_id}")
}
/// The sheet: sign-off, and the version that is the session's attendance
/// ETag. It sorts before the rows.
pub const ATTENDANCE_SHEET_SK: &str = "ATTENDANCE";
/// Sort-key prefix of the sheet and every row.
pub const ATTENDANCE_PREFIX: &str = "ATTENDANCE";
pub fn attendance_row_sk(enrolment_id: &tms_domain::ids::EnrolmentId) -> String {
    format!("ATTENDANCE#{enrolment_id}")
}
/// GSI1: an enrolment's attendance across sessions.
pub fn enrolment_attendance_pk(enrolment_id: &tms_domain::ids::EnrolmentId) -> String {
    format!("ENROLMENT#{enrolment_id}#ATTENDANCE")
}
pub fn enrolment_attendance_sk(date: NaiveDate, session_id: &SessionId) -> String {
    format!("{date}#{session_id}")
}

// --- assessments --------------------------------------------------------------

pub fn assessment_pk(id: &tms_domain::ids::AssessmentId) -> String {
    format!("ASSESSMENT#{id}")
}
/// The sort-key prefix of an assessment's versions (its history), under
/// the assessment's own partition.
pub const ASSESSMENT_VERSION_PREFIX: &str = "VERSION#";
/// Sort key of one version: zero-padded, so the text order is the number's.
pub fn assessment_version_sk(version: u64) -> String {
    format!("{ASSESSMENT_VERSION_PREFIX}{version:020}")
}
/// GSI1: an enrolment's assessments, by assessment day.
pub fn enrolment_assessments_pk(enrolment_id: &tms_domain::ids::EnrolmentId) -> String {
    format!("ENROLMENT#{enrolment_id}#ASSESSMENTS")
}
/// Sort key of an assessment in its enrolment's listing: the day, then the id.
pub fn assessment_listing_sk(assessed_at: NaiveDate, id: &tms_domain::ids::AssessmentId) -> String {
    format!("{assessed_at}#{id}")
}
/// Whether a cursor of an enrolment's assessment listing holds keys the
/// listing makes.
pub fn is_assessment_cursor(c: &Cursor) -> bool {
    is_item_listing_cursor(c, "ASSESSMENT#")
}
/// Whether a cursor of one assessment's history holds keys that history
/// makes: the assessment's partition and a version sort key, no index.
pub fn is_assessment_version_cursor(c: &Cursor, id: &tms_domain::ids::AssessmentId) -> bool {
    c.pk == assessment_pk(id)
        && c.ipk.is_none()
        && c.isk.is_none()
        && c.sk
            .strip_prefix(ASSESSMENT_VERSION_PREFIX)
            .is_some_and(|n| n.len() == 20 && n.bytes().all(|b| b.is_ascii_digit()))
}

// --- users and sign-in --------------------------------------------------------

pub fn user_pk(id: &tms_domain::ids::UserId) -> String {
    format!("USER#{id}")
}
/// GSI1: every user, by e-mail.
pub const USERS: &str = "USERS";
pub fn user_listing_sk(email: &str, id: &tms_domain::ids::UserId) -> String {
    format!("{email}#{id}")
}
/// Whether a cursor of the user list holds keys the list makes.
pub fn is_user_cursor(c: &Cursor) -> bool {
    is_item_listing_cursor(c, "USER#")
}
/// The guard of a (lowercased) e-mail address.
pub fn email_guard_pk(email: &str) -> String {
    format!("EMAIL#{email}")
}
pub fn refresh_token_pk(token_hash: &str) -> String {
    format!("REFRESH#{token_hash}")
}
pub fn refresh_chain_pk(chain_id: &str) -> String {
    format!("REFRESHCHAIN#{chain_id}")
}
/// Failed sign-ins of a (lowercased) e-mail address.
pub fn login_failures_pk(email: &str) -> String {
    format!("LOGINFAIL#{email}")
}

// --- idempotency ------------------------------------------------------------

pub fn idempotency_pk(actor_id: &str, key: &str) -> String {
    format!("IDEMPOTENCY#{actor_id}#{key}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const R1: &str = "0193a4e2-7c1b-7d3e-9a51-2b7f00c0ff01";
    const S1: &str = "0193a4e2-7c1b-7d3e-9a51-2b7f00c0ff02";
    const T1: &str = "0193a4e2-7c1b-7d3e-9a51-2b7f00c0ff03";

    fn r1() -> RunId {
        RunId::parse(R1).unwrap()
    }

    #[test]
    fn pinned_key_strings() {
        let d = NaiveDate::from_ymd_opt(2025, 1, 15).unwrap();
        let t = Utc.with_ymd_and_hms(2025, 1, 5, 2, 3, 4).unwrap();
        let s1 = SessionId::parse(S1).unwrap();
        assert_eq!(run_pk(&r1()), format!("RUN#{R1}"));
        assert_eq!(run_sk(&r1()), format!("RUN#{R1}"));
        assert_eq!(runs_by_status(RunStatus::Pending), "RUNS#STATUS#pending");
        assert_eq!(run_listing_sk(d, &r1()), format!("2025-01-15#{R1}"));
        assert_eq!(session_sk(&s1), format!("SESSION#{S1}"));
        assert_eq!(
            trainer_sessions_pk(&TrainerId::parse(T1).unwrap()),
            format!("TRAINER#{T1}")
        );
        assert_eq!(
            trainer_session_sk(d, &s1),
            format!("SESSION#2025-01-15#{S1}")
        );
        assert_eq!(session_lookup_pk(&s1), format!("SESSION#{S1}"));
        assert_eq!(audit_pk(EntityType::CourseRun, "r1"), "AUDIT#course_run#r1");
        assert_eq!(audit_sk(t, "a1"), "2025-01-05T02:03:04.000Z#a1");
        assert_eq!(audit_by_actor_pk("u1"), "AUDIT#ACTOR#u1");
        assert_eq!(audit_by_day_pk(t), "AUDIT#DAY#2025-01-05");
        assert_eq!(sync_job_pk("j1"), "SYNCJOB#j1");
        assert_eq!(
            sync_jobs_of_entity_pk(EntityType::CourseRun, "r1"),
            "SYNCJOBS#course_run#r1"
        );
        assert_eq!(
            sync_jobs_by_status_pk(SyncStatus::Queued),
            "SYNCJOBS#STATUS#queued"
        );
        assert_eq!(
            sync_due_range(t),
            ("0".to_string(), "2025-01-05T02:03:04.000Z#~".to_string())
        );
        assert_eq!(
            sync_lock_pk(EntityType::CourseRun, "r1"),
            "SYNCLOCK#course_run#r1"
        );
        assert_eq!(timed_sk(t, "j1"), "2025-01-05T02:03:04.000Z#j1");
        assert_eq!(idempotency_pk("u1", "k"), "IDEMPOTENCY#u1#k");
        let u = tms_domain::ids::UserId::parse(R1).unwrap();
        assert_eq!(user_pk(&u), format!("USER#{R1}"));
        assert_eq!(user_listing_sk("a@b.sg", &u), format!("a@b.sg#{R1}"));
        assert_eq!(email_guard_pk("a@b.sg"), "EMAIL#a@b.sg");
        assert_eq!(refresh_token_pk("ab12"), "REFRESH#ab12");
        assert_eq!(refresh_chain_pk("c1"), "REFRESHCHAIN#c1");
        assert_eq!(login_failures_pk("a@b.sg"), "LOGINFAIL#a@b.sg");
        let t = TrainerId::parse(T1).unwrap();
        assert_eq!(trainer_pk(&t), format!("TRAINER#{T1}"));
        assert_eq!(
            trainers_by_status(tms_domain::trainer::TrainerStatus::Active),
            "TRAINERS#STATUS#active"
        );
        assert_eq!(
            trainer_listing_sk("Tan Ah Kow", &t),
            format!("tan ah kow#{T1}")
        );
        assert_eq!(trainer_user_guard_pk(&u), format!("TRAINERUSER#{R1}"));
        let e = tms_domain::ids::TraineeId::parse(T1).unwrap();
        assert_eq!(trainee_pk(&e), format!("TRAINEE#{T1}"));
        assert_eq!(TRAINEES, "TRAINEES");
        assert_eq!(
            trainee_listing_sk("Aileen Chong", &e),
            format!("aileen chong#{T1}")
        );
        assert_eq!(trainee_name_prefix("AiL"), "ail");
        assert_eq!(natid_guard_pk("ab12"), "NATID#ab12");
        assert_eq!(
            trainee_enrolments_pk(&e),
            format!("TRAINEE#{T1}#ENROLMENTS")
        );
        let en = tms_domain::ids::EnrolmentId::parse(T1).unwrap();
        let r = RunId::parse(R1).unwrap();
        assert_eq!(enrolment_pk(&en), format!("ENROLMENT#{T1}"));
        assert_eq!(enrolment_guard_pk(&r, &e), format!("ENROLLED#{R1}#{T1}"));
        assert_eq!(
            run_active_enrolments_pk(&r),
            format!("ENROLMENTS#ACTIVE#{R1}")
        );
        assert_eq!(
            run_enrolments_pk(&RunId::parse(R1).unwrap()),
            format!("RUN#{R1}#ENROLMENTS")
        );
        assert_eq!(attendance_pk(&s1), format!("SESSION#{S1}"));
        assert_eq!(ATTENDANCE_SHEET_SK, "ATTENDANCE");
        assert_eq!(attendance_row_sk(&en), format!("ATTENDANCE#{T1}"));
        assert!(ATTENDANCE_SHEET_SK < attendance_row_sk(&en).as_str());
        assert_eq!(
            enrolment_attendance_pk(&en),
            format!("ENROLMENT#{T1}#ATTENDANCE")
        );
        assert_eq!(enrolment_attendance_sk(d, &s1), format!("2025-01-15#{S1}"));
    }

    #[test]
    fn ranges_cover_their_items() {
        let d = NaiveDate::from_ymd_opt(2025, 1, 15).unwrap();
        let (lo, hi) = run_listing_range(Some(d), Some(d));
        let sk = run_listing_sk(d, &r1());
        assert!(lo.as_str() <= sk.as_str() && sk.as_str() <= hi.as_str());
        let next = run_listing_sk(d.succ_opt().unwrap(), &r1());
        assert!(next.as_str() > hi.as_str());
        let (lo, hi) = run_and_sessions_range(&r1());
        for inside in [run_sk(&r1()), session_sk(&SessionId::parse(S1).unwrap())] {
            assert!(lo <= inside && inside.as_str() <= hi.as_str(), "{inside}");
        }
        for outside in ["ENROLLED#t1", "ATTENDANCE#x"] {
            assert!(
                !(lo.as_str() <= outside && outside <= hi.as_str()),
                "{outside}"
            );
        }
    }

    #[test]
    fn cursors_must_hold_keys_their_listing_makes() {
        let d = NaiveDate::from_ymd_opt(2025, 1, 15).unwrap();
        let good = Cursor {
            pk: run_pk(&r1()),
            sk: run_sk(&r1()),
            ipk: Some(RUNS_ALL.into()),
            isk: Some(run_listing_sk(d, &r1())),
        };
        assert!(is_run_listing_cursor(&good));
        for bad in [
            Cursor {
                pk: "".into(),
                ..good.clone()
            },
            Cursor {
                sk: "RUN#x".into(),
                ..good.clone()
            },
            Cursor {
                isk: Some(format!("2025-1-15#{R1}")),
                ..good.clone()
            },
            Cursor {
                isk: Some(format!("2025-01-15#{S1}")),
                ..good.clone()
            },
            Cursor {
                isk: None,
                ..good.clone()
            },
        ] {
            assert!(!is_run_listing_cursor(&bad), "{bad:?}");
        }
        let audit = Cursor {
            pk: audit_pk(EntityType::CourseRun, R1),
            sk: audit_sk(Utc.with_ymd_and_hms(2025, 1, 5, 2, 3, 4).unwrap(), S1),
            ipk: None,
            isk: None,
        };
        assert!(is_audit_cursor(&audit));
        assert!(!is_audit_cursor(&Cursor {
            sk: "x#y".into(),
            ..audit
        }));
    }

    #[test]
    fn assessment_keys() {
        let a = tms_domain::ids::AssessmentId::parse(T1).unwrap();
        let e = tms_domain::ids::EnrolmentId::parse(R1).unwrap();
        let d = NaiveDate::from_ymd_opt(2025, 1, 16).unwrap();
        assert_eq!(assessment_pk(&a), format!("ASSESSMENT#{T1}"));
        assert_eq!(assessment_version_sk(7), "VERSION#00000000000000000007");
        assert!(assessment_version_sk(10) > assessment_version_sk(9));
        assert_eq!(
            enrolment_assessments_pk(&e),
            format!("ENROLMENT#{R1}#ASSESSMENTS")
        );
        assert_eq!(assessment_listing_sk(d, &a), format!("2025-01-16#{T1}"));
        let listing = Cursor {
            pk: assessment_pk(&a),
            sk: assessment_pk(&a),
            ipk: Some(enrolment_assessments_pk(&e)),
            isk: Some(assessment_listing_sk(d, &a)),
        };
        assert!(is_assessment_cursor(&listing));
        assert!(!is_assessment_version_cursor(&listing, &a));
        let history = Cursor {
            pk: assessment_pk(&a),
            sk: assessment_version_sk(3),
            ipk: None,
            isk: None,
        };
        assert!(is_assessment_version_cursor(&history, &a));
        assert!(!is_assessment_cursor(&history));
        let other = tms_domain::ids::AssessmentId::parse(R1).unwrap();
        assert!(!is_assessment_version_cursor(&history, &other));
        let forged = Cursor {
            sk: "VERSION#1".into(),
            ..history
        };
        assert!(!is_assessment_version_cursor(&forged, &a));
    }
}
