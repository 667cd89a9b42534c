//! What the fake remembers: its configuration, the runs and enrolments it
//! accepted, the tokens it issued, the faults it was told to produce and
//! its counters.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;
use tms_tpgateway::EncryptionKey;

use crate::{
    FakeAttendance, FakeAuth, FakeConfig, FakeEnrolment, FakeRun, FakeSession, FakeTrainer, Fault,
    Route,
};

/// The first run id the fake issues (TPGateway's are numeric, API-NOTES §5).
pub(crate) const FIRST_RUN_ID: u64 = 100_001;

pub(crate) struct App {
    pub(crate) cfg: FakeConfig,
    pub(crate) key: EncryptionKey,
    state: Mutex<State>,
}

#[derive(Default)]
pub(crate) struct State {
    latency: Duration,
    faults: Vec<(Route, Fault, u32)>,
    calls: HashMap<Route, u32>,
    accepted: HashMap<Route, u32>,
    /// token -> when it expires
    tokens: HashMap<String, Instant>,
    tokens_issued: u32,
    pub(crate) runs: BTreeMap<u64, StoredRun>,
    next_run_id: u64,
    /// In the order they were created.
    pub(crate) enrolments: Vec<StoredEnrolment>,
    /// The `NNNNNN` of the next enrolment reference.
    next_enrolment: u32,
    /// One record per (session, trainee), in the order first uploaded.
    pub(crate) attendance: Vec<StoredAttendance>,
    /// In the order they were created.
    pub(crate) assessments: Vec<StoredAssessment>,
    /// The `NNNNNN` of the next assessment reference.
    next_assessment: u32,
}

/// A trainee's attendance of a session, as last uploaded (API-NOTES §8).
#[derive(Debug, Clone)]
pub(crate) struct StoredAttendance {
    pub(crate) run_id: String,
    pub(crate) session_id: String,
    /// Trimmed, in capitals.
    pub(crate) trainee_id: String,
    /// `status.code` as text.
    pub(crate) status_code: String,
    /// The trainee object as last uploaded.
    pub(crate) trainee: Value,
    pub(crate) upload_count: u32,
    pub(crate) created_on: String,
    pub(crate) updated_on: String,
}

/// An assessment the fake accepted (API-NOTES §9).
#[derive(Debug, Clone)]
pub(crate) struct StoredAssessment {
    /// `ASM-YYMM-NNNNNN` (the fake's form: TPGateway's is NOT FOUND).
    pub(crate) reference: String,
    pub(crate) crn: String,
    pub(crate) run_id: String,
    /// The trainee's confirmed enrolment in the run when it was created.
    pub(crate) enrolment_ref: String,
    /// Trimmed, in capitals.
    pub(crate) trainee_id: String,
    pub(crate) trainee_id_type: String,
    pub(crate) full_name: String,
    /// `Pass`, `Fail` or `Exempt`.
    pub(crate) result: String,
    pub(crate) grade: Option<String>,
    pub(crate) score: Option<u64>,
    /// `YYYY-MM-DD`.
    pub(crate) assessment_date: String,
    pub(crate) skill_code: Option<String>,
    pub(crate) void: bool,
    pub(crate) update_count: u32,
    pub(crate) created_on: String,
    pub(crate) updated_on: String,
}

impl StoredAssessment {
    fn public(&self) -> crate::FakeAssessment {
        crate::FakeAssessment {
            reference: self.reference.clone(),
            course_reference_number: self.crn.clone(),
            run_id: self.run_id.clone(),
            enrolment_reference: self.enrolment_ref.clone(),
            trainee_id: self.trainee_id.clone(),
            trainee_id_type: self.trainee_id_type.clone(),
            result: self.result.clone(),
            grade: self.grade.clone(),
            score: self.score,
            assessment_date: self.assessment_date.clone(),
            skill_code: self.skill_code.clone(),
            void: self.void,
            update_count: self.update_count,
        }
    }
}

/// An enrolment the fake accepted (API-NOTES §7).
#[derive(Debug, Clone)]
pub(crate) struct StoredEnrolment {
    /// `ENR-YYMM-NNNNNN`.
    pub(crate) reference: String,
    pub(crate) crn: String,
    pub(crate) run_id: String,
    /// The trainee's id as sent, trimmed and in capitals.
    pub(crate) trainee_id: String,
    /// `NRIC`, `FIN` or `OTHERS`.
    pub(crate) trainee_id_type: String,
    /// The trainee object as created, with later updates applied (its
    /// `fees` and `employer` included).
    pub(crate) trainee: Value,
    /// `Confirmed` or `Cancelled`.
    pub(crate) status: &'static str,
    pub(crate) sponsorship_type: String,
    pub(crate) created_on: String,
    pub(crate) updated_on: String,
    pub(crate) update_count: u32,
}

pub(crate) const CONFIRMED: &str = "Confirmed";
pub(crate) const CANCELLED: &str = "Cancelled";

impl StoredEnrolment {
    fn fee(&self, name: &str) -> Option<&Value> {
        self.trainee.get("fees").and_then(|f| f.get(name))
    }

    pub(crate) fn collection_status(&self) -> Option<&str> {
        self.fee("collectionStatus").and_then(Value::as_str)
    }

    pub(crate) fn employer_uen(&self) -> Option<&str> {
        self.trainee
            .get("employer")
            .and_then(|e| e.get("uen"))
            .and_then(Value::as_str)
    }

    pub(crate) fn enrolment_date(&self) -> Option<&str> {
        self.trainee.get("enrolmentDate").and_then(Value::as_str)
    }

    fn public(&self) -> FakeEnrolment {
        let text = |v: Option<&str>| v.map(str::to_string);
        FakeEnrolment {
            reference: self.reference.clone(),
            course_reference_number: self.crn.clone(),
            run_id: self.run_id.clone(),
            trainee_id: self.trainee_id.clone(),
            trainee_id_type: self.trainee_id_type.clone(),
            status: self.status.to_string(),
            sponsorship_type: self.sponsorship_type.clone(),
            employer_uen: text(self.employer_uen()),
            enrolment_date: text(self.enrolment_date()).unwrap_or_default(),
            discount_amount: self.fee("discountAmount").and_then(Value::as_f64),
            collection_status: text(self.collection_status()).unwrap_or_default(),
            trainee: self.trainee.clone(),
            update_count: self.update_count,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct StoredRun {
    pub(crate) id: u64,
    pub(crate) crn: String,
    /// The run object without `sessions` and `action`.
    pub(crate) body: Value,
    pub(crate) sessions: Vec<StoredSession>,
    pub(crate) next_session: u32,
    pub(crate) deleted: bool,
    pub(crate) publish_count: u32,
    pub(crate) edit_count: u32,
    pub(crate) created_on: String,
    pub(crate) updated_on: String,
}

#[derive(Debug, Clone)]
pub(crate) struct StoredSession {
    pub(crate) id: String,
    pub(crate) body: Value,
    pub(crate) deleted: bool,
}

impl StoredRun {
    pub(crate) fn session_id(&self, n: u32) -> String {
        format!("{}-{}-S{n}", self.crn, self.id)
    }

    /// The linked trainers, from the run object as last accepted (its
    /// `linkCourseRunTrainer`, validated on the way in).
    fn trainers(&self) -> Vec<FakeTrainer> {
        let text = |t: &Value, k: &str| t.get(k).and_then(Value::as_str).map(str::to_string);
        self.body
            .get("linkCourseRunTrainer")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|entry| entry.get("trainer"))
                    .map(|t| FakeTrainer {
                        index_number: t.get("indexNumber").and_then(Value::as_i64),
                        id: text(t, "id"),
                        name: text(t, "name"),
                        email: text(t, "email"),
                        trainer_type: t
                            .get("trainerType")
                            .and_then(|ty| text(ty, "code"))
                            .unwrap_or_default(),
                        body: t.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl App {
    pub(crate) fn new(cfg: FakeConfig, key: EncryptionKey) -> App {
        let latency = cfg.latency;
        App {
            cfg,
            key,
            state: Mutex::new(State {
                latency,
                next_run_id: FIRST_RUN_ID,
                next_enrolment: 1,
                next_assessment: 1,
                ..State::default()
            }),
        }
    }

    /// The state, even after a panic elsewhere while it was held (a test
    /// double keeps answering rather than poisoning every later request).
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn inject(&self, route: Route, fault: Fault, times: u32) {
        if times > 0 {
            self.lock().faults.push((route, fault, times));
        }
    }

    pub(crate) fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Counts a request and takes the first fault queued for it, if any.
    pub(crate) fn arrive(&self, route: Option<Route>) -> (Option<Fault>, Duration) {
        let mut s = self.lock();
        if let Some(route) = route {
            *s.calls.entry(route).or_default() += 1;
        }
        *s.calls.entry(Route::Any).or_default() += 1;
        let latency = s.latency;
        let found = s
            .faults
            .iter()
            .position(|(r, _, _)| *r == Route::Any || Some(*r) == route);
        let fault = found.and_then(|i| {
            let entry = s.faults.get_mut(i)?;
            entry.2 -= 1;
            let fault = entry.1.clone();
            if entry.2 == 0 {
                s.faults.remove(i);
            }
            Some(fault)
        });
        (fault, latency)
    }

    pub(crate) fn count_accepted(&self, route: Option<Route>) {
        let mut s = self.lock();
        if let Some(route) = route {
            *s.accepted.entry(route).or_default() += 1;
        }
        *s.accepted.entry(Route::Any).or_default() += 1;
    }

    pub(crate) fn calls(&self, route: Route) -> u32 {
        self.lock().calls.get(&route).copied().unwrap_or(0)
    }

    pub(crate) fn accepted(&self, route: Route) -> u32 {
        self.lock().accepted.get(&route).copied().unwrap_or(0)
    }

    pub(crate) fn set_latency(&self, d: Duration) {
        self.lock().latency = d;
    }

    pub(crate) fn token_lifetime(&self) -> Option<Duration> {
        match &self.cfg.auth {
            FakeAuth::OAuth { token_lifetime, .. } => Some(*token_lifetime),
            FakeAuth::Certificate => None,
        }
    }

    /// A new bearer token, valid for the configured lifetime.
    pub(crate) fn issue_token(&self, lifetime: Duration) -> String {
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let now = Instant::now();
        let expires = now.checked_add(lifetime).unwrap_or(now);
        let mut s = self.lock();
        s.tokens.retain(|_, until| *until > now);
        s.tokens.insert(token.clone(), expires);
        s.tokens_issued += 1;
        token
    }

    pub(crate) fn token_valid(&self, token: &str) -> bool {
        self.lock()
            .tokens
            .get(token)
            .is_some_and(|until| *until > Instant::now())
    }

    pub(crate) fn expire_tokens(&self) {
        self.lock().tokens.clear();
    }

    pub(crate) fn tokens_issued(&self) -> u32 {
        self.lock().tokens_issued
    }

    pub(crate) fn runs(&self) -> Vec<FakeRun> {
        self.lock()
            .runs
            .values()
            .map(|r| FakeRun {
                id: r.id.to_string(),
                course_reference_number: r.crn.clone(),
                body: r.body.clone(),
                sessions: r
                    .sessions
                    .iter()
                    .map(|s| FakeSession {
                        id: s.id.clone(),
                        body: s.body.clone(),
                        deleted: s.deleted,
                    })
                    .collect(),
                trainers: r.trainers(),
                deleted: r.deleted,
                publish_count: r.publish_count,
                edit_count: r.edit_count,
            })
            .collect()
    }

    pub(crate) fn attendance(&self) -> Vec<FakeAttendance> {
        self.lock()
            .attendance
            .iter()
            .map(|a| FakeAttendance {
                run_id: a.run_id.clone(),
                session_id: a.session_id.clone(),
                trainee_id: a.trainee_id.clone(),
                status_code: a.status_code.clone(),
                trainee: a.trainee.clone(),
                upload_count: a.upload_count,
                created_on: a.created_on.clone(),
                updated_on: a.updated_on.clone(),
            })
            .collect()
    }

    pub(crate) fn enrolments(&self) -> Vec<FakeEnrolment> {
        self.lock()
            .enrolments
            .iter()
            .map(StoredEnrolment::public)
            .collect()
    }

    pub(crate) fn assessments(&self) -> Vec<crate::FakeAssessment> {
        self.lock()
            .assessments
            .iter()
            .map(StoredAssessment::public)
            .collect()
    }
}

impl State {
    pub(crate) fn take_run_id(&mut self) -> u64 {
        let id = self.next_run_id;
        self.next_run_id += 1;
        id
    }

    /// The next enrolment reference, `ENR-{yymm}-NNNNNN` (API-NOTES §5);
    /// the number runs on across months and wraps after 999999.
    pub(crate) fn take_enrolment_ref(&mut self, yymm: &str) -> String {
        let n = self.next_enrolment;
        self.next_enrolment = if n >= 999_999 { 1 } else { n + 1 };
        format!("ENR-{yymm}-{n:06}")
    }

    /// The next assessment reference, `ASM-{yymm}-NNNNNN`.
    pub(crate) fn take_assessment_ref(&mut self, yymm: &str) -> String {
        let n = self.next_assessment;
        self.next_assessment = if n >= 999_999 { 1 } else { n + 1 };
        format!("ASM-{yymm}-{n:06}")
    }
}
