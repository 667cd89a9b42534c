use super::*;
use crate::course_run::{CourseRunInput, SessionFields};
use crate::ids::{RunId, SessionId, TypedId};
use crate::types::{ModeOfTraining, Venue, VenueInput};
use crate::{course_run::CourseRun, course_run::Session};
use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use serde_json::json;

const RUN: &str = "0193a4e2-7c1b-7d3e-9a51-2b7f00c0ff01";

fn rid() -> RunId {
    RunId::parse(RUN).unwrap()
}

fn sid(i: usize) -> SessionId {
    SessionId::parse(&format!("0193a4e2-7c1b-7d3e-9a51-2b7f00c0{i:04x}")).unwrap()
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn hm(s: &str) -> NaiveTime {
    NaiveTime::parse_from_str(s, "%H:%M").unwrap()
}

fn provider() -> Provider {
    Provider {
        uen: "199900650G".into(),
        tp_code: "199900650G-01".into(),
    }
}

/// A run like API-NOTES §13's publish example.
fn run() -> CourseRun {
    let input = CourseRunInput {
        course_ref: Some("TGS-2020000697".into()),
        title: Some("Workplace Safety".into()),
        registration_opening: Some("2025-01-01".into()),
        registration_closing: Some("2025-01-10".into()),
        start_date: Some("2025-01-15".into()),
        end_date: Some("2025-01-16".into()),
        delivery_mode: Some("classroom".into()),
        venue: Some(VenueInput {
            floor: Some("03".into()),
            unit: Some("01".into()),
            postal_code: Some("408533".into()),
            room: Some("R1".into()),
            wheelchair_access: Some(true),
            ..Default::default()
        }),
        capacity: Some(20),
        schedule_info: Some("Wed-Thu 9am-6pm".into()),
        course_admin_email: Some("admin@example.com".into()),
        sessions: None,
    };
    let (fields, _) = input.parse().unwrap();
    CourseRun::create(rid(), fields, now())
}

fn session(i: usize, date: &str, start: &str, end: &str) -> Session {
    Session::create(
        sid(i),
        rid(),
        SessionFields {
            session_date: day(date),
            start_time: hm(start),
            end_time: hm(end),
            venue: None,
            mode_of_training: None,
            trainer_id: None,
        },
        now(),
    )
}

fn own_venue() -> Venue {
    Venue {
        block: Some("10".into()),
        street: Some("Paya Lebar Rd".into()),
        floor: "05".into(),
        unit: "12".into(),
        building: Some("Tower B".into()),
        postal_code: "409057".into(),
        room: "Lab 2".into(),
        wheelchair_access: None,
    }
}

fn run_venue() -> serde_json::Value {
    json!({"floor":"03","unit":"01","postalCode":"408533","room":"R1","wheelChairAccess":true})
}

fn run_venue_primary() -> serde_json::Value {
    json!({"floor":"03","unit":"01","postalCode":"408533","room":"R1","wheelChairAccess":true,
           "primaryVenue":true})
}

#[test]
fn publish_follows_the_notes_example() {
    let body = publish_run(
        &provider(),
        &run(),
        &[session(1, "2025-01-15", "09:00", "18:00")],
    );
    let course = &body["course"];
    assert_eq!(course["courseReferenceNumber"], json!("TGS-2020000697"));
    assert_eq!(course["trainingProvider"], json!({"uen": "199900650G"}));
    let runs = course["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let r = &runs[0];
    assert_eq!(r["sequenceNumber"], json!(1));
    assert_eq!(
        r["registrationDates"],
        json!({"opening": 20250101, "closing": 20250110})
    );
    assert!(r["registrationDates"]["opening"].is_u64());
    assert_eq!(
        r["courseDates"],
        json!({"start": 20250115, "end": 20250116})
    );
    assert!(r["courseDates"]["end"].is_u64());
    assert_eq!(
        r["scheduleInfoType"],
        json!({"code": "01", "description": "Description"})
    );
    assert_eq!(r["scheduleInfo"], json!("Wed-Thu 9am-6pm"));
    assert_eq!(r["venue"], run_venue());
    assert_eq!(r["intakeSize"], json!(20));
    assert_eq!(r["modeOfTraining"], json!("1"));
    assert_eq!(r["courseAdminEmail"], json!("admin@example.com"));
    assert_eq!(
        r["courseVacancy"],
        json!({"code": "A", "description": "Available"})
    );
    assert_eq!(r["linkCourseRunTrainer"], json!([]));
    for absent in [
        "threshold",
        "registeredUserCount",
        "file",
        "action",
        "title",
    ] {
        assert!(r.get(absent).is_none(), "{absent}");
    }
    assert_eq!(
        r["sessions"],
        json!([{"startDate":"20250115","endDate":"20250115","startTime":"09:00","endTime":"18:00",
                "modeOfTraining":"1","venue":run_venue_primary()}])
    );
    // The whole body, and its keys in the notes' order.
    assert_eq!(
        body,
        json!({"course":{"courseReferenceNumber":"TGS-2020000697","trainingProvider":{"uen":"199900650G"},
          "runs":[{"sequenceNumber":1,
            "registrationDates":{"opening":20250101,"closing":20250110},
            "courseDates":{"start":20250115,"end":20250116},
            "scheduleInfoType":{"code":"01","description":"Description"},"scheduleInfo":"Wed-Thu 9am-6pm",
            "venue":run_venue(),
            "intakeSize":20,"modeOfTraining":"1","courseAdminEmail":"admin@example.com",
            "courseVacancy":{"code":"A","description":"Available"},
            "sessions":[{"startDate":"20250115","endDate":"20250115","startTime":"09:00","endTime":"18:00",
              "modeOfTraining":"1","venue":run_venue_primary()}],
            "linkCourseRunTrainer":[]}]}})
    );
    let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "sequenceNumber",
            "registrationDates",
            "courseDates",
            "scheduleInfoType",
            "scheduleInfo",
            "venue",
            "intakeSize",
            "modeOfTraining",
            "courseAdminEmail",
            "courseVacancy",
            "sessions",
            "linkCourseRunTrainer"
        ]
    );
}

#[test]
fn publish_sorts_sessions_and_takes_their_own_mode_and_venue() {
    let mut own = session(2, "2025-01-15", "14:00", "18:00");
    own.fields.venue = Some(own_venue());
    own.fields.mode_of_training = Some(ModeOfTraining::SynchronousElearning);
    let sessions = [
        session(3, "2025-01-16", "09:00", "12:00"),
        own,
        session(1, "2025-01-15", "09:00", "12:00"),
    ];
    let body = publish_run(&provider(), &run(), &sessions);
    let s = &body["course"]["runs"][0]["sessions"];
    assert_eq!(
        s,
        &json!([
            {"startDate":"20250115","endDate":"20250115","startTime":"09:00","endTime":"12:00",
             "modeOfTraining":"1","venue":run_venue_primary()},
            {"startDate":"20250115","endDate":"20250115","startTime":"14:00","endTime":"18:00",
             "modeOfTraining":"9",
             "venue":{"block":"10","street":"Paya Lebar Rd","floor":"05","unit":"12",
                      "building":"Tower B","postalCode":"409057","room":"Lab 2","primaryVenue":false}},
            {"startDate":"20250116","endDate":"20250116","startTime":"09:00","endTime":"12:00",
             "modeOfTraining":"1","venue":run_venue_primary()}
        ])
    );
    for one in s.as_array().unwrap() {
        assert!(one.get("sessionId").is_none() && one.get("action").is_none());
    }
}

#[test]
fn publish_leaves_out_what_the_run_lacks() {
    let mut r = run();
    r.fields.venue = None;
    r.fields.course_admin_email = None;
    r.fields.delivery_mode = ModeOfTraining::AsynchronousElearning;
    let body = publish_run(
        &provider(),
        &r,
        &[session(1, "2025-01-15", "09:00", "18:00")],
    );
    let run = &body["course"]["runs"][0];
    assert!(run.get("venue").is_none());
    assert!(run.get("courseAdminEmail").is_none());
    assert_eq!(run["modeOfTraining"], json!("2"));
    assert_eq!(
        run["sessions"],
        json!([{"startDate":"20250115","endDate":"20250115","startTime":"09:00","endTime":"18:00",
                "modeOfTraining":"2"}])
    );
}

#[test]
fn schedule_info_without_the_runs_own_text() {
    let mut r = run();
    r.fields.schedule_info = None;
    let info = |sessions: &[Session]| {
        publish_run(&provider(), &r, sessions)["course"]["runs"][0]["scheduleInfo"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(info(&[]), "See sessions");
    assert_eq!(
        info(&[
            session(2, "2025-01-16", "09:00", "18:00"),
            session(1, "2025-01-15", "09:00", "18:00"),
        ]),
        "Wed 15 Jan 2025 09:00-18:00; Thu 16 Jan 2025 09:00-18:00"
    );
    // 20 sessions do not fit: whole entries, then "; ...".
    let many: Vec<Session> = (0..20)
        .map(|i| {
            session(
                i,
                "2025-01-15",
                &format!("{:02}:00", i + 1),
                &format!("{:02}:30", i + 1),
            )
        })
        .collect();
    let text = info(&many);
    assert!(text.chars().count() <= 300, "{}", text.len());
    assert!(text.starts_with("Wed 15 Jan 2025 01:00-01:30; Wed 15 Jan 2025 02:00-02:30; "));
    assert!(text.ends_with("-10:30; ..."), "{text}");
}

#[test]
fn schedule_info_is_cut_to_300_characters() {
    let mut r = run();
    r.fields.schedule_info = Some("é".repeat(310));
    let body = publish_run(&provider(), &r, &[]);
    let info = body["course"]["runs"][0]["scheduleInfo"].as_str().unwrap();
    assert_eq!(info, "é".repeat(300));
}

#[test]
fn edit_updates_adds_and_deletes_sessions() {
    let mut known = session(1, "2025-01-15", "10:00", "18:00");
    known.external_id = Some("TGS-2020000697-835457-S1".into());
    let new = session(2, "2025-01-16", "09:00", "18:00");
    let published = [
        "TGS-2020000697-835457-S1".to_string(),
        "TGS-2020000697-835457-S2".to_string(),
        "TGS-2020000697-835457-S2".to_string(),
    ];
    let body = edit_run(&provider(), &run(), &[new, known], &published);
    assert_eq!(
        body,
        json!({"course":{"courseReferenceNumber":"TGS-2020000697","trainingProvider":{"uen":"199900650G"},
          "run":{"action":"update",
            "registrationDates":{"opening":20250101,"closing":20250110},
            "courseDates":{"start":20250115,"end":20250116},
            "scheduleInfoType":{"code":"01","description":"Description"},"scheduleInfo":"Wed-Thu 9am-6pm",
            "venue":run_venue(),
            "intakeSize":20,"modeOfTraining":"1","courseAdminEmail":"admin@example.com",
            "courseVacancy":{"code":"A","description":"Available"},
            "sessions":[
              {"action":"delete","sessionId":"TGS-2020000697-835457-S2"},
              {"action":"update","sessionId":"TGS-2020000697-835457-S1",
               "startDate":"20250115","endDate":"20250115","startTime":"10:00","endTime":"18:00",
               "modeOfTraining":"1","venue":run_venue_primary()},
              {"action":"add",
               "startDate":"20250116","endDate":"20250116","startTime":"09:00","endTime":"18:00",
               "modeOfTraining":"1","venue":run_venue_primary()}],
            "linkCourseRunTrainer":[]}}})
    );
    let run_obj = &body["course"]["run"];
    assert!(run_obj.get("sequenceNumber").is_none());
    assert!(body["course"].get("runs").is_none());
    // The notes' edit example, field by field, for the updated session.
    let updated = &run_obj["sessions"][1];
    assert_eq!(updated["action"], json!("update"));
    assert_eq!(updated["sessionId"], json!("TGS-2020000697-835457-S1"));
    assert_eq!(updated["startTime"], json!("10:00"));
}

#[test]
fn edit_with_nothing_published_adds_every_session() {
    let body = edit_run(
        &provider(),
        &run(),
        &[session(1, "2025-01-15", "09:00", "18:00")],
        &[],
    );
    let sessions = body["course"]["run"]["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["action"], json!("add"));
    assert!(sessions[0].get("sessionId").is_none());
}

#[test]
fn delete_is_exactly_the_notes_body() {
    let mut r = run();
    r.external_id = Some("835457".into());
    assert_eq!(
        delete_run(&provider(), &r),
        json!({"course":{"courseReferenceNumber":"TGS-2020000697",
                         "trainingProvider":{"uen":"199900650G"},"run":{"action":"delete"}}})
    );
}
