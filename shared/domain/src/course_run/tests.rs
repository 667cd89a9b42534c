use super::*;
use chrono::TimeZone;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()
}

fn venue() -> VenueInput {
    VenueInput {
        floor: Some("03".into()),
        unit: Some("01".into()),
        postal_code: Some("408533".into()),
        room: Some("R1".into()),
        ..Default::default()
    }
}

fn session(date: &str) -> SessionInput {
    SessionInput {
        session_date: Some(date.into()),
        start_time: Some("09:00".into()),
        end_time: Some("18:00".into()),
        ..Default::default()
    }
}

pub(crate) fn valid_input() -> CourseRunInput {
    CourseRunInput {
        course_ref: Some("TGS-2020000697".into()),
        title: Some("Workplace Safety".into()),
        registration_opening: Some("2025-01-01".into()),
        registration_closing: Some("2025-01-10".into()),
        start_date: Some("2025-01-15".into()),
        end_date: Some("2025-01-16".into()),
        delivery_mode: Some("classroom".into()),
        venue: Some(venue()),
        capacity: Some(20),
        schedule_info: Some("Wed-Thu 9am-6pm".into()),
        course_admin_email: Some("admin@example.com".into()),
        sessions: Some(vec![session("2025-01-15"), session("2025-01-16")]),
    }
}

fn fields_of(e: &ValidationErrors) -> Vec<&str> {
    e.0.iter().map(|f| f.field.as_str()).collect()
}

#[test]
fn parses_a_valid_run_with_sessions() {
    let (f, s) = valid_input().parse().unwrap();
    assert_eq!(f.course_ref.as_str(), "TGS-2020000697");
    assert_eq!(f.delivery_mode, ModeOfTraining::Classroom);
    assert_eq!(s.len(), 2);
    let run = CourseRun::create("id".into(), f, now());
    assert_eq!(run.status, RunStatus::Pending);
}

#[test]
fn reports_every_missing_field_at_once() {
    let e = CourseRunInput::default().parse().unwrap_err();
    assert_eq!(
        fields_of(&e),
        [
            "course_ref",
            "title",
            "registration_opening",
            "registration_closing",
            "start_date",
            "end_date",
            "delivery_mode",
            "capacity"
        ]
    );
}

#[test]
fn end_before_start_is_an_error() {
    let mut i = valid_input();
    i.end_date = Some("2025-01-14".into());
    i.sessions = None;
    let e = i.parse().unwrap_err();
    assert_eq!(fields_of(&e), ["end_date"]);
}

#[test]
fn registration_dates_rules() {
    let mut i = valid_input();
    i.registration_closing = Some("2024-12-31".into());
    assert_eq!(fields_of(&i.parse().unwrap_err()), ["registration_closing"]);
    let mut i = valid_input();
    i.registration_opening = Some("2025-01-20".into());
    i.registration_closing = Some("2025-01-20".into());
    let e = i.parse().unwrap_err();
    assert!(fields_of(&e).contains(&"start_date"));
}

#[test]
fn venue_needed_for_classroom_not_for_elearning() {
    let mut i = valid_input();
    i.venue = None;
    assert_eq!(fields_of(&i.parse().unwrap_err()), ["venue"]);
    i.delivery_mode = Some("asynchronous_elearning".into());
    assert!(i.parse().is_ok());
}

#[test]
fn capacity_and_lengths() {
    let mut i = valid_input();
    i.capacity = Some(0);
    i.title = Some("x".repeat(MAX_TITLE + 1));
    i.schedule_info = Some("y".repeat(MAX_SCHEDULE_INFO + 1));
    i.course_admin_email = Some("nope".into());
    assert_eq!(
        fields_of(&i.parse().unwrap_err()),
        ["title", "capacity", "schedule_info", "course_admin_email"]
    );
}

#[test]
fn session_errors_name_the_session() {
    let mut i = valid_input();
    let mut bad = session("2025-02-01");
    bad.end_time = Some("08:00".into());
    i.sessions = Some(vec![session("2025-01-15"), bad]);
    let e = i.parse().unwrap_err();
    assert_eq!(fields_of(&e), ["sessions[1].end_time"]);
    let mut i = valid_input();
    i.sessions = Some(vec![session("2025-02-01")]);
    assert_eq!(
        fields_of(&i.parse().unwrap_err()),
        ["sessions[0].session_date"]
    );
    let mut i = valid_input();
    let mut s = session("2025-01-15");
    s.trainer_id = Some("not-a-uuid".into());
    i.sessions = Some(vec![s]);
    assert_eq!(
        fields_of(&i.parse().unwrap_err()),
        ["sessions[0].trainer_id"]
    );
}

#[test]
fn too_many_sessions_is_refused() {
    let mut i = valid_input();
    i.sessions = Some(vec![session("2025-01-15"); MAX_SESSIONS_PER_CREATE + 1]);
    assert_eq!(fields_of(&i.parse().unwrap_err()), ["sessions"]);
}

fn stored_run() -> CourseRun {
    let (f, _) = valid_input().parse().unwrap();
    CourseRun::create("r".into(), f, now())
}

#[test]
fn patch_merges_and_revalidates() {
    let run = stored_run();
    let p = CourseRunPatch {
        title: Some("New title".into()),
        ..Default::default()
    };
    let later = now() + chrono::Duration::hours(1);
    let updated = run.apply_patch(&p, &[], later).unwrap();
    assert_eq!(updated.title, "New title");
    assert_eq!(updated.course_ref, run.course_ref);
    assert_eq!(updated.updated_at, later);
    assert_eq!(updated.created_at, run.created_at);

    let bad = CourseRunPatch {
        end_date: Some("2025-01-01".into()),
        ..Default::default()
    };
    assert!(matches!(
        run.apply_patch(&bad, &[], later),
        Err(DomainError::Invalid(_))
    ));
    assert!(matches!(
        run.apply_patch(&CourseRunPatch::default(), &[], later),
        Err(DomainError::Invalid(_))
    ));
}

#[test]
fn patch_may_not_leave_a_session_outside_the_dates() {
    let run = stored_run();
    let (_, sessions) = valid_input().parse().unwrap();
    let sessions: Vec<Session> = sessions
        .into_iter()
        .enumerate()
        .map(|(i, f)| Session::create(format!("s{i}"), "r".into(), f, now()))
        .collect();
    let p = CourseRunPatch {
        end_date: Some("2025-01-15".into()),
        ..Default::default()
    };
    let e = run.apply_patch(&p, &sessions, now()).unwrap_err();
    assert!(matches!(e, DomainError::Invalid(v) if v.0[0].field == "start_date"));
}

#[test]
fn status_machine() {
    let run = stored_run();
    let cancelled = run.cancel(Some("low enrolment".into()), now()).unwrap();
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    assert!(matches!(
        cancelled.cancel(None, now()),
        Err(DomainError::InvalidState(_))
    ));
    assert!(matches!(
        cancelled.touched(now()),
        Err(DomainError::InvalidState(_))
    ));
    let p = CourseRunPatch {
        title: Some("x".into()),
        ..Default::default()
    };
    assert!(matches!(
        cancelled.apply_patch(&p, &[], now()),
        Err(DomainError::InvalidState(_))
    ));
    assert_eq!(RunStatus::Synced.after_edit().unwrap(), RunStatus::Pending);
    assert_eq!(RunStatus::parse("synced"), Ok(RunStatus::Synced));
    assert!(RunStatus::parse("bogus").is_err());
}

#[test]
fn session_patch() {
    let run = stored_run();
    let (_, sessions) = valid_input().parse().unwrap();
    let s = Session::create("s".into(), "r".into(), sessions[0].clone(), now());
    let p = SessionPatch {
        start_time: Some("10:00".into()),
        ..Default::default()
    };
    let u = s.apply_patch(&p, &run, now()).unwrap();
    assert_eq!(u.start_time.format("%H:%M").to_string(), "10:00");
    let p = SessionPatch {
        start_time: Some("19:00".into()),
        ..Default::default()
    };
    assert_eq!(
        fields_of(&s.apply_patch(&p, &run, now()).unwrap_err()),
        ["end_time"]
    );
    let p = SessionPatch {
        session_date: Some("2026-01-01".into()),
        ..Default::default()
    };
    assert_eq!(
        fields_of(&s.apply_patch(&p, &run, now()).unwrap_err()),
        ["session_date"]
    );
}

#[test]
fn ids() {
    assert!(is_valid_id("0193a4e2-7c1b-7d3e-9a51-2b7f00c0ffee"));
    assert!(!is_valid_id("0193a4e2-7c1b-7d3e-9a51-2b7f00c0ffe"));
    assert!(!is_valid_id("0193a4e2x7c1b-7d3e-9a51-2b7f00c0ffee"));
    assert!(!is_valid_id("../etc/passwd"));
}

#[test]
fn serde_shape_of_a_run() {
    let run = stored_run();
    let v = serde_json::to_value(&run).unwrap();
    assert_eq!(v["course_ref"], "TGS-2020000697");
    assert_eq!(v["start_date"], "2025-01-15");
    assert_eq!(v["delivery_mode"], "classroom");
    assert_eq!(v["status"], "pending");
    let back: CourseRun = serde_json::from_value(v).unwrap();
    assert_eq!(back, run);
}

#[test]
fn session_times_serialize_as_hh_mm() {
    let (_, sessions) = valid_input().parse().unwrap();
    let s = Session::create("s".into(), "r".into(), sessions[0].clone(), now());
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(v["start_time"], "09:00");
    assert_eq!(v["end_time"], "18:00");
    let back: Session = serde_json::from_value(v).unwrap();
    assert_eq!(back, s);
}
