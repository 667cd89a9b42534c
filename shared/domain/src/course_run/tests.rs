use super::*;
use chrono::TimeZone;
use serde_json::json;

const RUN: &str = "0193a4e2-7c1b-7d3e-9a51-2b7f00c0ff01";

fn rid() -> RunId {
    RunId::parse(RUN).unwrap()
}

fn sid(i: usize) -> SessionId {
    SessionId::parse(&format!("0193a4e2-7c1b-7d3e-9a51-2b7f00c0{i:04x}")).unwrap()
}

fn mp(v: serde_json::Value) -> MergePatch {
    v.as_object().cloned().unwrap()
}

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
    let run = CourseRun::create(rid(), f, now());
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
    CourseRun::create(rid(), f, now())
}

#[test]
fn patch_merges_and_revalidates() {
    let run = stored_run();
    let later = now() + chrono::Duration::hours(1);
    let updated = run
        .apply_patch(&mp(json!({"title": "New title"})), &[], later)
        .unwrap();
    assert_eq!(updated.fields.title, "New title");
    assert_eq!(updated.fields.course_ref, run.fields.course_ref);
    assert_eq!(updated.updated_at, later);
    assert_eq!(updated.created_at, run.created_at);

    let bad = mp(json!({"end_date": "2025-01-01"}));
    assert!(matches!(
        run.apply_patch(&bad, &[], later),
        Err(DomainError::Invalid(_))
    ));
    assert!(matches!(
        run.apply_patch(&MergePatch::new(), &[], later),
        Err(DomainError::Invalid(_))
    ));
}

#[test]
fn null_clears_optional_fields_and_is_refused_for_required_ones() {
    let run = stored_run();
    let cleared = run
        .apply_patch(
            &mp(json!({"schedule_info": null, "capacity": 23})),
            &[],
            now(),
        )
        .unwrap();
    assert_eq!(cleared.fields.schedule_info, None);
    assert_eq!(cleared.fields.capacity, 23);
    for required in [
        "title",
        "course_ref",
        "start_date",
        "capacity",
        "delivery_mode",
    ] {
        let e = run
            .apply_patch(
                &mp(json!({ required: null, "schedule_info": "x" })),
                &[],
                now(),
            )
            .unwrap_err();
        assert!(
            matches!(&e, DomainError::Invalid(v) if fields_of(v) == [required]),
            "{required}: {e:?}"
        );
    }
    // A nested merge: only the room changes.
    let moved = run
        .apply_patch(&mp(json!({"venue": {"room": "R2"}})), &[], now())
        .unwrap();
    let venue = moved.fields.venue.unwrap();
    assert_eq!((venue.room.as_str(), venue.floor.as_str()), ("R2", "03"));
    // A venue is required for classroom training: clearing it is refused.
    let e = run
        .apply_patch(&mp(json!({"venue": null})), &[], now())
        .unwrap_err();
    assert!(
        matches!(&e, DomainError::Invalid(v) if fields_of(v) == ["venue"]),
        "{e:?}"
    );
    for (patch, field) in [
        (json!({"sessions": []}), "sessions"),
        (json!({"status": "synced"}), "status"),
        (json!({"capacity": "20"}), "capacity"),
        (json!({"venue": {"zzz": 1}}), "venue.zzz"),
    ] {
        let e = run.apply_patch(&mp(patch.clone()), &[], now()).unwrap_err();
        assert!(
            matches!(&e, DomainError::Invalid(v) if fields_of(v) == [field]),
            "{patch}: {e:?}"
        );
    }
}

fn stored_sessions() -> Vec<Session> {
    let (_, sessions) = valid_input().parse().unwrap();
    sessions
        .into_iter()
        .enumerate()
        .map(|(i, f)| Session::create(sid(i), rid(), f, now()))
        .collect()
}

#[test]
fn patch_may_not_leave_a_session_outside_the_dates() {
    let run = stored_run();
    let p = mp(json!({"end_date": "2025-01-15"}));
    let e = run.apply_patch(&p, &stored_sessions(), now()).unwrap_err();
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
    assert!(matches!(
        cancelled.apply_patch(&mp(json!({"title": "x"})), &[], now()),
        Err(DomainError::InvalidState(_))
    ));
    assert_eq!(RunStatus::Synced.after_edit().unwrap(), RunStatus::Pending);
    assert_eq!(RunStatus::parse("synced"), Ok(RunStatus::Synced));
    assert!(RunStatus::parse("bogus").is_err());
}

#[test]
fn session_patch() {
    let run = stored_run();
    let sessions = stored_sessions();
    let s = &sessions[0];
    let u = s
        .apply_patch(&mp(json!({"start_time": "10:00"})), &run, &sessions, now())
        .unwrap();
    assert_eq!(u.fields.start_time.format("%H:%M").to_string(), "10:00");
    let p = mp(json!({"start_time": "19:00"}));
    assert_eq!(
        fields_of(&s.apply_patch(&p, &run, &sessions, now()).unwrap_err()),
        ["end_time"]
    );
    let p = mp(json!({"session_date": "2026-01-01"}));
    assert_eq!(
        fields_of(&s.apply_patch(&p, &run, &sessions, now()).unwrap_err()),
        ["session_date"]
    );
    // Moving onto the other session's day and hours overlaps it.
    let p = mp(json!({"session_date": "2025-01-16"}));
    let e = s.apply_patch(&p, &run, &sessions, now()).unwrap_err();
    assert_eq!(fields_of(&e), ["start_time"]);
    assert!(e.0[0].reason.contains(sessions[1].id.as_str()), "{e:?}");
    // The trainer can be set and cleared; an uppercase id is refused.
    let t = "0193a4e2-7c1b-7d3e-9a51-2b7f00c0aaaa";
    let with = s
        .apply_patch(&mp(json!({"trainer_id": t})), &run, &sessions, now())
        .unwrap();
    assert_eq!(with.fields.trainer_id.as_ref().map(|t| t.as_str()), Some(t));
    let without = with
        .apply_patch(&mp(json!({"trainer_id": null})), &run, &sessions, now())
        .unwrap();
    assert_eq!(without.fields.trainer_id, None);
    let p = mp(json!({"trainer_id": t.to_uppercase()}));
    assert_eq!(
        fields_of(&s.apply_patch(&p, &run, &sessions, now()).unwrap_err()),
        ["trainer_id"]
    );
}

#[test]
fn overlapping_sessions_are_refused_on_create() {
    let mut i = valid_input();
    let mut late = session("2025-01-15");
    late.start_time = Some("17:00".into());
    late.end_time = Some("19:00".into());
    i.sessions = Some(vec![session("2025-01-15"), session("2025-01-16"), late]);
    let e = i.parse().unwrap_err();
    assert_eq!(fields_of(&e), ["sessions[2]"]);
    assert!(e.0[0].reason.contains("sessions[0]"), "{e:?}");
    // Back to back is fine.
    let mut next = session("2025-01-15");
    next.start_time = Some("18:00".into());
    next.end_time = Some("19:00".into());
    i.sessions = Some(vec![session("2025-01-15"), next]);
    assert!(i.parse().is_ok());
    assert!(check_session_cap(MAX_SESSIONS_PER_RUN - 1).is_ok());
    assert!(check_session_cap(MAX_SESSIONS_PER_RUN).is_err());
}

#[test]
fn serde_shape_of_a_run() {
    let run = stored_run();
    let v = serde_json::to_value(&run).unwrap();
    assert_eq!(v["course_ref"], "TGS-2020000697");
    assert_eq!(v["start_date"], "2025-01-15");
    assert_eq!(v["delivery_mode"], "classroom");
    assert_eq!(v["status"], "pending");
    assert!(v.get("fields").is_none());
    let back: CourseRun = serde_json::from_value(v).unwrap();
    assert_eq!(back, run);
}

#[test]
fn session_times_serialize_as_hh_mm() {
    let s = stored_sessions().remove(0);
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(v["start_time"], "09:00");
    assert_eq!(v["end_time"], "18:00");
    let back: Session = serde_json::from_value(v).unwrap();
    assert_eq!(back, s);
}
