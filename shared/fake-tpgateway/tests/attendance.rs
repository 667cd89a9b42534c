//! The fake TPGateway's attendance upload over real HTTP on loopback,
//! called with the real client (which encrypts the request, API-NOTES §3)
//! and the domain's builder: accepted and replaced per trainee and session;
//! refused for a bad check letter, an unknown session, a trainee without an
//! enrolment, missing hours on an On-the-Job session, a plain (unencrypted)
//! body, and missing contact details.

mod common;

use chrono::NaiveDate;
use serde_json::{json, Value};
use tms_domain::national_id::NationalIdType;
use tms_domain::tpg::attendance::{
    upload_attendance, upload_path, AttendancePayload, TpgAttendance,
};
use tms_domain::tpg::enrolment::{EnrolmentPayload, EnrolmentTrainee, Sponsorship};
use tms_fake_tpgateway::Route;
use tms_ports::{Api, ErrorKind, TpGateway, TpgError, TpgRequest, TpgResponse};

use common::{fields, Env, CRN, NRIC};

const OTHER_NRIC: &str = "S0808315J";

impl Env {
    /// Publishes a run whose first session is of `mode`; its run id.
    async fn publish_with_session(&self, mode: &str) -> String {
        let doc = json!({"course": {"courseReferenceNumber": CRN,
            "trainingProvider": {"uen": self.provider.uen},
            "runs": [{"sequenceNumber": 1,
                "registrationDates": {"opening": 20250101, "closing": 20250110},
                "courseDates": {"start": 20250115, "end": 20250116},
                "scheduleInfoType": {"code": "01", "description": "Description"},
                "scheduleInfo": "Wed-Thu 9am-6pm",
                "venue": {"floor": "03", "unit": "01", "postalCode": "408533", "room": "R1"},
                "intakeSize": 20, "modeOfTraining": mode,
                "courseAdminEmail": "admin@example.com",
                "courseVacancy": {"code": "A", "description": "Available"},
                "sessions": [{"startDate": "20250115", "endDate": "20250115",
                    "startTime": "09:00", "endTime": "12:30", "modeOfTraining": mode,
                    "venue": {"primaryVenue": true}}]}]}});
        self.publish_doc(doc).await
    }

    async fn enrol(&self, run_id: &str, nric: &str) {
        let p = EnrolmentPayload {
            course_ref: CRN.into(),
            tpg_run_id: run_id.into(),
            trainee: EnrolmentTrainee {
                id: nric.into(),
                id_type: "NRIC",
                full_name: "Aileen Chong".into(),
                date_of_birth: NaiveDate::from_ymd_opt(1969, 3, 8).unwrap(),
                email: Some("t@example.com".into()),
                phone: None,
            },
            enrolment_date: NaiveDate::from_ymd_opt(2025, 1, 5).unwrap(),
            sponsorship: Sponsorship::Individual,
            discount_amount: "0.00".into(),
            collection_status: "Pending Payment",
        };
        self.create(&p).await.unwrap();
    }

    fn session(&self, run_id: &str) -> String {
        let runs = self.fake.runs();
        let run = runs.iter().find(|r| r.id == run_id).unwrap();
        run.sessions[0].id.clone()
    }

    async fn upload(&self, run_id: &str, body: Value) -> Result<TpgResponse, TpgError> {
        let req = TpgRequest::new(Api::UploadAttendance, upload_path(run_id)).body(body);
        self.tpg.call(req).await
    }
}

fn payload(session: &str, nric: &str) -> AttendancePayload {
    AttendancePayload {
        course_ref: CRN.into(),
        session_id: session.into(),
        status: TpgAttendance::Confirmed,
        trainee_id: nric.into(),
        id_type: NationalIdType::Nric,
        name: "Aileen Chong".into(),
        email: Some("t@example.com".into()),
        phone: Some(("65".into(), "98765432".into())),
        hours: None,
    }
}

#[tokio::test]
async fn an_upload_is_kept_once_per_trainee_and_session() {
    let env = Env::start().await;
    let run = env.publish_with_session("1").await;
    env.enrol(&run, NRIC).await;
    let session = env.session(&run);
    let p = payload(&session, NRIC);
    let resp = env
        .upload(&run, upload_attendance(&env.provider, &p))
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    let stored = env.fake.attendance();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].session_id, session);
    assert_eq!(stored[0].trainee_id, NRIC);
    assert_eq!(stored[0].status_code, "1");
    assert!(!format!("{:?}", stored[0]).contains(NRIC));
    // Again, as Unconfirmed: the record is replaced, not added.
    let mut again = p.clone();
    again.status = TpgAttendance::Unconfirmed;
    env.upload(&run, upload_attendance(&env.provider, &again))
        .await
        .unwrap();
    let stored = env.fake.attendance();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].status_code, "2");
    assert_eq!(stored[0].upload_count, 2);
    assert_eq!(env.fake.accepted(Route::UploadAttendance), 2);
}

#[tokio::test]
async fn bad_uploads_are_refused_naming_the_field() {
    let env = Env::start().await;
    let run = env.publish_with_session("1").await;
    env.enrol(&run, NRIC).await;
    let session = env.session(&run);

    // A wrong check letter: named, never echoed.
    let mut p = payload(&session, NRIC);
    p.trainee_id = "S7020587A".into();
    let err = env
        .upload(&run, upload_attendance(&env.provider, &p))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent);
    assert_eq!(fields(&err), ["course.attendance.trainee.id"]);
    assert!(!err.details[0].message.contains("S7020587"));

    // No enrolment of this trainee in the run.
    let err = env
        .upload(
            &run,
            upload_attendance(&env.provider, &payload(&session, OTHER_NRIC)),
        )
        .await
        .unwrap_err();
    assert_eq!(fields(&err), ["course.attendance.trainee.id"]);

    // A session the run does not have.
    let err = env
        .upload(
            &run,
            upload_attendance(&env.provider, &payload(&format!("{session}9"), NRIC)),
        )
        .await
        .unwrap_err();
    assert_eq!(fields(&err), ["course.sessionID"]);

    // Neither e-mail nor phone; a bad status code; a bad survey language.
    let mut body = upload_attendance(&env.provider, &payload(&session, NRIC));
    let t = &mut body["course"]["attendance"]["trainee"];
    t.as_object_mut().unwrap().remove("email");
    t.as_object_mut().unwrap().remove("contactNumber");
    t["surveyLanguage"]["code"] = json!("XX");
    body["course"]["attendance"]["status"]["code"] = json!("7");
    let err = env.upload(&run, body).await.unwrap_err();
    let mut got = fields(&err);
    got.sort();
    assert_eq!(
        got,
        [
            "course.attendance.status.code",
            "course.attendance.trainee.email",
            "course.attendance.trainee.surveyLanguage.code"
        ]
    );
    assert!(env.fake.attendance().is_empty(), "nothing stored");
}

#[tokio::test]
async fn on_the_job_sessions_need_hours() {
    let env = Env::start().await;
    let run = env.publish_with_session("4").await;
    env.enrol(&run, NRIC).await;
    let session = env.session(&run);
    let mut p = payload(&session, NRIC);
    let err = env
        .upload(&run, upload_attendance(&env.provider, &p))
        .await
        .unwrap_err();
    assert_eq!(fields(&err), ["course.attendance.trainee.numberOfHours"]);
    p.hours = Some(9.5);
    let err = env
        .upload(&run, upload_attendance(&env.provider, &p))
        .await
        .unwrap_err();
    assert_eq!(fields(&err), ["course.attendance.trainee.numberOfHours"]);
    p.hours = Some(3.5);
    env.upload(&run, upload_attendance(&env.provider, &p))
        .await
        .unwrap();
    assert_eq!(env.fake.attendance().len(), 1);
}

#[tokio::test]
async fn a_plain_body_is_refused() {
    let env = Env::start().await;
    let run = env.publish_with_session("1").await;
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{}/dp-oauth/oauth/token", env.fake.base_url()))
        .basic_auth("tms-local", Some("tms-local-secret"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = http
        .post(format!("{}{}", env.fake.base_url(), upload_path(&run)))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .header("content-type", "application/json")
        .body(upload_attendance(&env.provider, &payload("S1", NRIC)).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["details"][0]["field"], "body");
}
