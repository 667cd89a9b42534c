use super::*;
use crate::course_run::{CourseRunInput, SessionFields};
use crate::ids::{RunId, SessionId, TrainerId, TypedId};
use crate::trainer::{Trainer, TrainerFields, TrainerStatus};
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
        &[],
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
    let body = publish_run(&provider(), &run(), &sessions, &[]);
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
        &[],
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
        publish_run(&provider(), &r, sessions, &[])["course"]["runs"][0]["scheduleInfo"]
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
    let body = publish_run(&provider(), &r, &[], &[]);
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
    let body = edit_run(&provider(), &run(), &[new, known], &published, &[]);
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
               "modeOfTraining":"1","venue":run_venue_primary()}]}}})
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

#[test]
fn publish_answer_gives_the_run_id() {
    let ok = |v| parse_publish_response(&v);
    assert_eq!(
        ok(json!({"status":200,"data":{"runs":[{"id":835457}]},"meta":{},"error":{}})),
        Ok("835457".into())
    );
    assert_eq!(
        ok(json!({"data":{"runs":[{"id":"223389"}]}})),
        Ok("223389".into())
    );
    assert_eq!(
        ok(json!({"status":200,"data":{}})),
        Err(ParseError::Missing("data.runs".into()))
    );
    assert_eq!(
        ok(json!({"status":200,"data":{"runs":[]}})),
        Err(ParseError::Missing("data.runs[0].id".into()))
    );
    assert_eq!(
        ok(json!({"data":{"runs":[{"id":null}]}})),
        Err(ParseError::Missing("data.runs[0].id".into()))
    );
    assert_eq!(
        ok(json!("text")),
        Err(ParseError::Missing("data.runs".into()))
    );
    assert_eq!(
        ok(json!({"data":{"runs":{"id":1}}})),
        Err(ParseError::Malformed {
            field: "data.runs".into(),
            expected: "must be a list"
        })
    );
    for bad in [json!(-1), json!(1.5), json!("12a"), json!(""), json!(true)] {
        let e = ok(json!({"data":{"runs":[{"id":bad}]}})).unwrap_err();
        assert!(
            matches!(&e, ParseError::Malformed { field, .. } if field == "data.runs[0].id"),
            "{e:?}"
        );
    }
    assert_eq!(
        ok(json!({"status":400,"data":{},"error":{"message":"bad"}})),
        Err(ParseError::Status(400))
    );
}

#[test]
fn sessions_answer_in_every_form() {
    let body = json!({"status":200,"data":{"sessions":[
        {"id":"TGS-2020000697-835457-S1","startDate":"20250115","endDate":"20250115",
         "startTime":"09:00","endTime":"18:00","modeOfTraining":"1","deleted":false},
        {"id":"TGS-2020000697-835457-S2","startDate":"2025-01-16","startTime":"09:00:00",
         "endTime":"12:30:00"},
        {"id":"TGS-2020000697-835457-S3","startDate":20250116,"startTime":"13:00",
         "endTime":"18:00","deleted":true}
    ]}});
    assert_eq!(
        parse_sessions_response(&body),
        Ok(vec![
            TpgSession {
                id: "TGS-2020000697-835457-S1".into(),
                date: day("2025-01-15"),
                start_time: hm("09:00"),
                end_time: hm("18:00"),
                deleted: false,
            },
            TpgSession {
                id: "TGS-2020000697-835457-S2".into(),
                date: day("2025-01-16"),
                start_time: hm("09:00"),
                end_time: hm("12:30"),
                deleted: false,
            },
            TpgSession {
                id: "TGS-2020000697-835457-S3".into(),
                date: day("2025-01-16"),
                start_time: hm("13:00"),
                end_time: hm("18:00"),
                deleted: true,
            },
        ])
    );
}

#[test]
fn sessions_answer_problems() {
    let p = |v| parse_sessions_response(&v);
    assert_eq!(
        p(json!({"status":404,"data":{},"error":{"message":"No records"}})),
        Ok(vec![])
    );
    assert_eq!(p(json!({"status":200,"data":{"sessions":[]}})), Ok(vec![]));
    assert_eq!(
        p(json!({"status":200,"data":{}})),
        Err(ParseError::Missing("data.sessions".into()))
    );
    assert_eq!(p(json!({"status":500})), Err(ParseError::Status(500)));
    let one = |s| p(json!({"data":{"sessions":[s]}}));
    assert_eq!(
        one(json!({"startDate":"20250115","startTime":"09:00","endTime":"18:00"})),
        Err(ParseError::Missing("data.sessions[0].id".into()))
    );
    assert_eq!(
        one(json!({"id":"S1","startTime":"09:00","endTime":"18:00"})),
        Err(ParseError::Missing("data.sessions[0].startDate".into()))
    );
    assert_eq!(
        one(json!({"id":"S1","startDate":"20250115","endTime":"18:00"})),
        Err(ParseError::Missing("data.sessions[0].startTime".into()))
    );
    for (field, s) in [
        (
            "startDate",
            json!({"id":"S1","startDate":"15/01/2025","startTime":"09:00","endTime":"18:00"}),
        ),
        (
            "startDate",
            json!({"id":"S1","startDate":"20250230","startTime":"09:00","endTime":"18:00"}),
        ),
        (
            "startDate",
            json!({"id":"S1","startDate":2025115,"startTime":"09:00","endTime":"18:00"}),
        ),
        (
            "startTime",
            json!({"id":"S1","startDate":"20250115","startTime":"9:00","endTime":"18:00"}),
        ),
        (
            "endTime",
            json!({"id":"S1","startDate":"20250115","startTime":"09:00","endTime":"18:00:60"}),
        ),
        (
            "endTime",
            json!({"id":"S1","startDate":"20250115","startTime":"09:00","endTime":1800}),
        ),
        (
            "deleted",
            json!({"id":"S1","startDate":"20250115","startTime":"09:00","endTime":"18:00","deleted":"no"}),
        ),
        (
            "id",
            json!({"id":17,"startDate":"20250115","startTime":"09:00","endTime":"18:00"}),
        ),
    ] {
        let e = one(s).unwrap_err();
        let want = format!("data.sessions[0].{field}");
        assert!(
            matches!(&e, ParseError::Malformed { field, .. } if *field == want),
            "{e:?}"
        );
    }
    // The message names the place, never the value.
    let e = one(json!({"id":"S1","startDate":"S7020587D","startTime":"09:00","endTime":"18:00"}))
        .unwrap_err();
    assert!(!e.to_string().contains("S7020587D"), "{e}");
    assert!(e.to_string().contains("data.sessions[0].startDate"), "{e}");
}

#[test]
fn run_answer() {
    let body = json!({"status":200,"data":{"course":{"referenceNumber":"TGS-2020000697","run":{
        "id":835457,"courseDates":{"start":20250115,"end":"2025-01-16"},
        "registrationDates":{"opening":"20250101","closing":20250110},
        "qrCodeLink":"https://example.com/qr","linkCourseRunTrainer":[]}}}});
    assert_eq!(
        parse_run_response(&body),
        Ok(TpgRun {
            id: "835457".into(),
            course_start: Some(day("2025-01-15")),
            course_end: Some(day("2025-01-16")),
            opening: Some(day("2025-01-01")),
            closing: Some(day("2025-01-10")),
            deleted: false,
        })
    );
    // TS's courseStartDate, a string id, a deleted run, absent dates.
    let body = json!({"data":{"course":{"run":{"id":"835457","courseStartDate":"2025-01-15",
        "deleted":true}}}});
    assert_eq!(
        parse_run_response(&body),
        Ok(TpgRun {
            id: "835457".into(),
            course_start: Some(day("2025-01-15")),
            course_end: None,
            opening: None,
            closing: None,
            deleted: true,
        })
    );
    assert_eq!(
        parse_run_response(&json!({"status":200,"data":{}})),
        Err(ParseError::Missing("data.course.run".into()))
    );
    assert_eq!(
        parse_run_response(&json!({"status":404,"data":{},"error":{"message":"not found"}})),
        Err(ParseError::Status(404))
    );
    assert_eq!(
        parse_run_response(&json!({"data":{"course":{"run":{"courseStartDate":20250115}}}})),
        Err(ParseError::Missing("data.course.run.id".into()))
    );
    assert_eq!(
        parse_run_response(
            &json!({"data":{"course":{"run":{"id":1,"courseDates":{"start":"2025-1-15"}}}}})
        ),
        Err(ParseError::Malformed {
            field: "data.course.run.courseDates.start".into(),
            expected: DATE_EXPECTED,
        })
    );
}

#[test]
fn runs_by_crn_answer() {
    let body = json!({"status":200,"data":{"course":{"runs":[
        {"id":835457,"courseDates":{"start":20250115,"end":20250116},
         "registrationDates":{"opening":20250101,"closing":20250110}},
        {"id":"835458","courseStartDate":20250201,"deleted":true}
    ]}}});
    let runs = parse_runs_by_crn_response(&body).unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].id, "835457");
    assert_eq!(runs[0].closing, Some(day("2025-01-10")));
    assert_eq!(runs[1].id, "835458");
    assert_eq!(runs[1].course_start, Some(day("2025-02-01")));
    assert!(runs[1].deleted);

    let p = |v| parse_runs_by_crn_response(&v);
    assert_eq!(
        p(json!({"status":200,"data":{"course":{"runs":[]}}})),
        Ok(vec![])
    );
    assert_eq!(p(json!({"status":200,"data":{"course":{}}})), Ok(vec![]));
    assert_eq!(p(json!({"status":200,"data":{}})), Ok(vec![]));
    assert_eq!(p(json!({"status":404,"data":{}})), Ok(vec![]));
    assert_eq!(
        p(json!({"status":200})),
        Err(ParseError::Missing("data".into()))
    );
    assert_eq!(p(json!({"status":403})), Err(ParseError::Status(403)));
    assert_eq!(
        p(json!({"data":{"course":{"runs":[{"id":1},{"courseDates":{}}]}}})),
        Err(ParseError::Missing("data.course.runs[1].id".into()))
    );
}

#[test]
fn sessions_are_matched_by_slot() {
    let ours = [
        session(1, "2025-01-15", "09:00", "12:00"),
        session(2, "2025-01-15", "13:00", "18:00"),
        session(3, "2025-01-16", "09:00", "18:00"),
    ];
    let tpg = |id: &str, date: &str, start: &str, end: &str, deleted: bool| TpgSession {
        id: id.into(),
        date: day(date),
        start_time: hm(start),
        end_time: hm(end),
        deleted,
    };
    let theirs = [
        // a deleted session in our second slot is not ours
        tpg("X-S1", "2025-01-15", "13:00", "18:00", true),
        tpg("X-S2", "2025-01-16", "09:00", "18:00", false),
        tpg("X-S3", "2025-01-15", "09:00", "12:00", false),
        // same slot listed twice: the first is taken
        tpg("X-S4", "2025-01-15", "09:00", "12:00", false),
        // a slot we do not have
        tpg("X-S5", "2025-01-16", "09:00", "17:00", false),
    ];
    assert_eq!(
        match_sessions(&ours, &theirs),
        vec![(sid(1), "X-S3".to_string()), (sid(3), "X-S2".to_string())]
    );
    assert_eq!(match_sessions(&ours, &[]), vec![]);
}

#[test]
fn our_run_among_theirs() {
    let r = run();
    let candidate = |id: &str, deleted: bool| TpgRun {
        id: id.into(),
        course_start: Some(day("2025-01-15")),
        course_end: Some(day("2025-01-16")),
        opening: Some(day("2025-01-01")),
        closing: Some(day("2025-01-10")),
        deleted,
    };
    assert_eq!(find_our_run(&r, &[]), RunMatch::None);
    let other_end = TpgRun {
        course_end: Some(day("2025-01-17")),
        ..candidate("1", false)
    };
    let other_closing = TpgRun {
        closing: Some(day("2025-01-09")),
        ..candidate("2", false)
    };
    let no_dates = TpgRun {
        opening: None,
        ..candidate("3", false)
    };
    assert_eq!(
        find_our_run(
            &r,
            &[other_end.clone(), other_closing.clone(), no_dates.clone()]
        ),
        RunMatch::None
    );
    assert_eq!(find_our_run(&r, &[candidate("9", true)]), RunMatch::None);
    assert_eq!(
        find_our_run(
            &r,
            &[
                other_end,
                candidate("9", true),
                candidate("835457", false),
                candidate("835457", false),
                other_closing,
            ]
        ),
        RunMatch::One("835457".into())
    );
    assert_eq!(
        find_our_run(
            &r,
            &[
                candidate("835457", false),
                no_dates,
                candidate("835460", false)
            ]
        ),
        RunMatch::Many(vec!["835457".into(), "835460".into()])
    );
}

#[test]
fn existing_run_id_from_a_republish_error() {
    let err = |details: serde_json::Value, message: &str| {
        json!({"status":400,"data":{},"meta":{},
               "error":{"code":"400","message":message,"details":details}})
    };
    assert_eq!(
        existing_run_id(&err(
            json!([{"field":"runs[0]","message":"Course run already exists. Course Run ID is 835457."}]),
            "Bad request"
        )),
        Some("835457".into())
    );
    // only the first detail counts; then error.message
    assert_eq!(
        existing_run_id(&err(
            json!([{"field":"x","message":"Invalid"},{"message":"Course Run ID is 1"}]),
            "Duplicate: course run id is  223389"
        )),
        Some("223389".into())
    );
    assert_eq!(
        existing_run_id(&err(json!([]), "Course Run ID is 42")),
        Some("42".into())
    );
    assert_eq!(
        existing_run_id(&json!({"error":{"message":"Course Run ID is 42"}})),
        Some("42".into())
    );
    for no in [
        err(
            json!([{"message":"Course Run ID is unknown"}]),
            "Bad request",
        ),
        err(json!([{"message":"Invalid date"}]), "Bad request"),
        err(
            json!([{"message":"Course Run ID is 123456789012345678901"}]),
            "x",
        ),
        json!({"status":400}),
        json!("Course Run ID is 5"),
        json!({"error":{"details":"Course Run ID is 5"}}),
    ] {
        assert_eq!(existing_run_id(&no), None, "{no}");
    }
    // a later occurrence with digits, after one without
    assert_eq!(
        existing_run_id(&err(
            json!([{"message":"Course Run ID is: n/a; Course Run ID is 77"}]),
            ""
        )),
        Some("77".into())
    );
}

#[test]
fn dates_and_times_in_answers() {
    let d = |v: serde_json::Value| date_at(Some(&v), "f");
    assert_eq!(d(json!(20240229)), Ok(Some(day("2024-02-29"))));
    assert_eq!(d(json!("20240229")), Ok(Some(day("2024-02-29"))));
    assert_eq!(d(json!("2024-02-29")), Ok(Some(day("2024-02-29"))));
    assert_eq!(date_at(None, "f"), Ok(None));
    for bad in [
        json!(20230229),
        json!(99991232),
        json!(1011),
        json!(-20250115),
        json!(20250115.0),
        json!("2025011"),
        json!("+2025011"),
        json!("2025-01-15T00:00:00Z"),
        json!(""),
        json!({}),
    ] {
        assert!(d(bad.clone()).is_err(), "{bad}");
    }
    let t = |v: &str| time_at(Some(&json!(v)), "f");
    assert_eq!(t("09:05"), Ok(hm("09:05")));
    assert_eq!(
        t("23:59:59"),
        Ok(NaiveTime::from_hms_opt(23, 59, 59).unwrap())
    );
    for bad in [
        "9:05",
        "09:05:",
        "09:05:0",
        "09:05:000",
        "24:00",
        "09.05",
        "é9:05",
        "",
    ] {
        assert!(t(bad).is_err(), "{bad:?}");
    }
    assert_eq!(date_number(day("2025-01-15")), 20250115);
    assert_eq!(date_compact(day("2025-01-05")), "20250105");
}

#[test]
fn reconcile_keeps_listed_ids_drops_gone_ones_and_pairs_the_rest() {
    let theirs = |id: &str, date: &str, start: &str, end: &str, deleted: bool| TpgSession {
        id: id.into(),
        date: day(date),
        start_time: hm(start),
        end_time: hm(end),
        deleted,
    };
    let mut kept = session(1, "2025-01-15", "10:00", "18:00");
    kept.external_id = Some("TGS-2020000697-835457-S1".into());
    let mut gone = session(2, "2025-01-16", "09:00", "12:00");
    gone.external_id = Some("TGS-2020000697-835457-S9".into());
    let new = session(3, "2025-01-16", "13:00", "18:00");
    let listed = vec![
        theirs(
            "TGS-2020000697-835457-S1",
            "2025-01-15",
            "09:00",
            "18:00",
            false,
        ),
        theirs(
            "TGS-2020000697-835457-S2",
            "2025-01-16",
            "13:00",
            "18:00",
            false,
        ),
        theirs(
            "TGS-2020000697-835457-S3",
            "2025-01-16",
            "09:00",
            "12:00",
            true,
        ),
        theirs(
            "TGS-2020000697-835457-S4",
            "2025-01-16",
            "09:00",
            "12:00",
            false,
        ),
    ];
    let plan = reconcile_sessions(&[kept.clone(), gone.clone(), new.clone()], &listed);
    let ids: Vec<Option<&str>> = plan
        .sessions
        .iter()
        .map(|s| s.external_id.as_deref())
        .collect();
    // S1 is kept although its slot changed (it is ours by id); S9 is gone
    // and the session takes the live S4 in its slot; the new one takes S2.
    assert_eq!(
        ids,
        vec![
            Some("TGS-2020000697-835457-S1"),
            Some("TGS-2020000697-835457-S4"),
            Some("TGS-2020000697-835457-S2")
        ]
    );
    assert_eq!(
        plan.live_ids,
        vec![
            "TGS-2020000697-835457-S1",
            "TGS-2020000697-835457-S2",
            "TGS-2020000697-835457-S4"
        ]
    );
    assert_eq!(
        plan.changed,
        vec![
            (gone.id.clone(), Some("TGS-2020000697-835457-S4".into())),
            (new.id.clone(), Some("TGS-2020000697-835457-S2".into()))
        ]
    );
    // Nothing listed: every stored id is dropped.
    let empty = reconcile_sessions(&[kept.clone()], &[]);
    assert_eq!(empty.sessions[0].external_id, None);
    assert_eq!(empty.changed, vec![(kept.id, None)]);
}

// ------------------------------------------------------------- trainers

fn tid(i: usize) -> TrainerId {
    TrainerId::parse(&format!("0193a4e2-7c1b-7d3e-9a51-2b7f00c1{i:04x}")).unwrap()
}

/// An active trainer `i`, with TPGateway's id `tpg` when given.
fn trainer(i: usize, tpg: Option<&str>) -> Trainer {
    Trainer::create(
        tid(i),
        TrainerFields {
            name: format!("Trainer {i}"),
            email: Some(format!("trainer{i}@example.sg")),
            phone: None,
            credentials: None,
            status: TrainerStatus::Active,
            user_id: None,
            tpg_trainer_id: tpg.map(str::to_string),
        },
        now(),
    )
}

fn taught(mut s: Session, by: usize) -> Session {
    s.fields.trainer_id = Some(tid(by));
    s
}

/// The entry publish and edit send for trainer `i` at `index`.
fn link_json(i: usize, index: u32, tpg: &str) -> serde_json::Value {
    json!({"trainer": {
        "indexNumber": index,
        "id": tpg,
        "name": format!("Trainer {i}"),
        "email": format!("trainer{i}@example.sg"),
        "inTrainingProviderProfile": true,
        "trainerType": {"code": "1", "description": "Existing"},
        "roles": [{"role": {"id": 1, "description": "Trainer"}}]
    }})
}

fn publish_links(sessions: &[Session], trainers: &[Trainer]) -> serde_json::Value {
    publish_run(&provider(), &run(), sessions, trainers)["course"]["runs"][0]
        ["linkCourseRunTrainer"]
        .clone()
}

#[test]
fn publish_without_trainers_links_none() {
    let sessions = [session(1, "2025-01-15", "09:00", "18:00")];
    assert_eq!(publish_links(&sessions, &[]), json!([]));
    // Trainers no session names are not the run's.
    assert_eq!(
        publish_links(&sessions, &[trainer(1, Some("T-1"))]),
        json!([])
    );
    let links = link_trainers(&sessions, &[]);
    assert!(links.linked.is_empty() && links.skipped.is_empty());
}

#[test]
fn publish_links_one_existing_trainer_by_tpgateway_id() {
    let guid = "3F2504E0-4F89-11D3-9A0C-0305E82C3301";
    let sessions = [taught(session(1, "2025-01-15", "09:00", "18:00"), 1)];
    let body = publish_run(&provider(), &run(), &sessions, &[trainer(1, Some(guid))]);
    let r = &body["course"]["runs"][0];
    assert_eq!(r["linkCourseRunTrainer"], json!([link_json(1, 1, guid)]));
    // Still the last member, after the sessions, and no session carries a
    // trainer.
    let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.last(), Some(&"linkCourseRunTrainer"));
    assert!(r["sessions"][0].get("trainer").is_none());
    // No national id, and no email when the trainer has none.
    let mut no_email = trainer(1, Some(guid));
    no_email.fields.email = None;
    let links = publish_links(&sessions, &[no_email]);
    let t = &links[0]["trainer"];
    assert!(t.get("email").is_none(), "{t}");
    for absent in ["idNumber", "idType", "photo", "salutationId"] {
        assert!(t.get(absent).is_none(), "{absent}");
    }
    assert!(t["indexNumber"].is_u64());
}

#[test]
fn publish_links_two_trainers_in_first_session_order_each_once() {
    // Trainer 2 teaches the first session and the last; trainer 1 the
    // middle one. Given in any order, they are sent by first session.
    let sessions = [
        taught(session(3, "2025-01-16", "09:00", "12:00"), 2),
        taught(session(2, "2025-01-15", "14:00", "18:00"), 1),
        taught(session(1, "2025-01-15", "09:00", "12:00"), 2),
    ];
    let trainers = [trainer(1, Some("T-1")), trainer(2, Some("T-2"))];
    let expected = json!([link_json(2, 1, "T-2"), link_json(1, 2, "T-1")]);
    assert_eq!(publish_links(&sessions, &trainers), expected);
    let reversed = [trainer(2, Some("T-2")), trainer(1, Some("T-1"))];
    assert_eq!(publish_links(&sessions, &reversed), expected);
    let mut shuffled = sessions.clone();
    shuffled.reverse();
    assert_eq!(publish_links(&shuffled, &trainers), expected);
}

#[test]
fn trainers_that_cannot_be_linked_are_skipped_with_the_reason() {
    let mut inactive = trainer(2, Some("T-2"));
    inactive.fields.status = TrainerStatus::Inactive;
    let sessions = [
        taught(session(1, "2025-01-15", "08:00", "09:00"), 1),
        taught(session(2, "2025-01-15", "09:00", "10:00"), 2),
        taught(session(3, "2025-01-15", "10:00", "11:00"), 3),
        taught(session(4, "2025-01-15", "11:00", "12:00"), 4),
        session(5, "2025-01-15", "12:00", "13:00"),
    ];
    // Trainer 3 is missing from the store.
    let trainers = [trainer(1, None), inactive, trainer(4, Some("T-4"))];
    let links = link_trainers(&sessions, &trainers);
    assert_eq!(
        links
            .linked
            .iter()
            .map(|t| t.id.clone())
            .collect::<Vec<_>>(),
        vec![tid(4)]
    );
    assert_eq!(
        links.skipped,
        vec![
            (tid(1), TrainerSkip::NoTpgTrainerId),
            (tid(2), TrainerSkip::Inactive),
            (tid(3), TrainerSkip::NotFound),
        ]
    );
    assert_eq!(TrainerSkip::NoTpgTrainerId.reason(), "no tpg_trainer_id");
    // Two records with one TPGateway id: the first linked, the second not.
    let twins = [trainer(1, Some("T-1")), trainer(2, Some("T-1"))];
    let links = link_trainers(&sessions[..2], &twins);
    assert_eq!(links.linked.len(), 1);
    assert_eq!(links.linked[0].id, tid(1));
    assert_eq!(links.skipped, vec![(tid(2), TrainerSkip::SameTpgTrainerId)]);
    // The one linked is number 1: the skipped leave no gap.
    assert_eq!(
        publish_links(&sessions, &trainers),
        json!([link_json(4, 1, "T-4")])
    );
    // None linkable: publish still sends the (empty) list.
    assert_eq!(publish_links(&sessions[..3], &trainers), json!([]));
}

#[test]
fn edit_sends_trainers_only_when_some_can_be_linked() {
    let mut known = taught(session(1, "2025-01-15", "09:00", "18:00"), 1);
    known.external_id = Some("TGS-2020000697-835457-S1".into());
    let published = ["TGS-2020000697-835457-S1".to_string()];
    let edit = |trainers: &[Trainer]| {
        edit_run(
            &provider(),
            &run(),
            std::slice::from_ref(&known),
            &published,
            trainers,
        )["course"]["run"]
            .clone()
    };
    // No trainer record, or one without TPGateway's id: no list at all.
    assert!(edit(&[]).get("linkCourseRunTrainer").is_none());
    assert!(edit(&[trainer(1, None)])
        .get("linkCourseRunTrainer")
        .is_none());
    let with = edit(&[trainer(1, Some("T-1"))]);
    assert_eq!(
        with["linkCourseRunTrainer"],
        json!([link_json(1, 1, "T-1")])
    );
    assert!(with["sessions"][0].get("trainer").is_none());
    let keys: Vec<&str> = with
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.last(), Some(&"linkCourseRunTrainer"));
}
