//! What the fake-TPGateway tests share (each test file is its own crate
//! and uses part of it): a fake on loopback with the real client
//! configured for it, a published run, the API-NOTES §13 enrolment.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use serde_json::json;
use tms_adapters::local_secrets::LocalSecrets;
use tms_adapters::tpgateway_http::{HttpTpGateway, HttpTpGatewayConfig};
use tms_domain::tpg::enrolment::{
    create_enrolment, EnrolmentPayload, EnrolmentTrainee, Sponsorship,
};
use tms_domain::tpg::{parse_publish_response, Provider};
use tms_fake_tpgateway::{FakeConfig, FakeTpg};
use tms_ports::{Api, TpGateway, TpgError, TpgRequest, TpgResponse};

pub const CRN: &str = "TGS-2020000697";
pub const SECRET_ID: &str = "tms/tpgateway";
/// A valid NRIC (API-NOTES §13).
pub const NRIC: &str = "S7020587D";

/// A fake, the real client configured for it, and the provider.
pub struct Env {
    pub fake: FakeTpg,
    pub tpg: HttpTpGateway,
    pub provider: Provider,
}

impl Env {
    pub async fn start() -> Env {
        Env::with(FakeConfig::oauth(), Vec::new()).await
    }

    pub async fn with(cfg: FakeConfig, timeouts: Vec<(Api, Duration)>) -> Env {
        let fake = FakeTpg::start(cfg).await.unwrap();
        let secrets = LocalSecrets::new().with_value(SECRET_ID, fake.secret_json().to_string());
        let mut config = HttpTpGatewayConfig::new(SECRET_ID);
        config.trusted_ca_pem = fake.ca_pem();
        config.timeouts = timeouts;
        let tpg = HttpTpGateway::new(Arc::new(secrets), config);
        let id = tpg.provider().await.unwrap();
        let provider = Provider {
            uen: id.uen,
            tp_code: id.tp_code,
        };
        Env {
            fake,
            tpg,
            provider,
        }
    }

    /// Publishes a run of `crn` starting on 2025-01-`day` and gives its
    /// id.
    pub async fn publish(&self, crn: &str, day: u32) -> String {
        let date = |d: u32| format!("202501{d:02}").parse::<u64>().unwrap();
        let doc = json!({"course": {"courseReferenceNumber": crn,
            "trainingProvider": {"uen": self.provider.uen},
            "runs": [{"sequenceNumber": 1,
                "registrationDates": {"opening": 20250101, "closing": 20250110},
                "courseDates": {"start": date(day), "end": date(day + 1)},
                "scheduleInfoType": {"code": "01", "description": "Description"},
                "scheduleInfo": "Wed-Thu 9am-6pm",
                "venue": {"floor": "03", "unit": "01", "postalCode": "408533", "room": "R1"},
                "intakeSize": 20, "modeOfTraining": "1",
                "courseAdminEmail": "admin@example.com",
                "courseVacancy": {"code": "A", "description": "Available"},
                "sessions": []}]}});
        self.publish_doc(doc).await
    }

    /// Publishes the run document `doc`; its run id.
    pub async fn publish_doc(&self, doc: serde_json::Value) -> String {
        let req = TpgRequest::new(Api::PublishRun, "/courses/courseRuns/publish")
            .query("includeExpiredCourses", "true")
            .body(doc);
        let resp = self.tpg.call(req).await.unwrap();
        parse_publish_response(&resp.body).unwrap()
    }

    /// Creates the enrolment `p`.
    pub async fn create(&self, p: &EnrolmentPayload) -> Result<TpgResponse, TpgError> {
        let req = TpgRequest::new(Api::CreateEnrolment, "/tpg/enrolments")
            .body(create_enrolment(&self.provider, p));
        self.tpg.call(req).await
    }
}

pub fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// The API-NOTES §13 create example, in run `run_id`.
pub fn enrolment_payload(run_id: &str) -> EnrolmentPayload {
    EnrolmentPayload {
        course_ref: CRN.into(),
        tpg_run_id: run_id.into(),
        trainee: EnrolmentTrainee {
            id: NRIC.into(),
            id_type: "NRIC",
            full_name: "Aileen Chong".into(),
            date_of_birth: day("1969-03-08"),
            email: Some("t@example.com".into()),
            phone: Some(("65".into(), "98765432".into())),
        },
        enrolment_date: day("2025-01-05"),
        sponsorship: Sponsorship::Individual,
        discount_amount: "0.00".into(),
        collection_status: "Pending Payment",
    }
}

/// The fields of TPGateway's error details.
pub fn fields(e: &TpgError) -> Vec<&str> {
    e.details.iter().map(|d| d.field.as_str()).collect()
}
