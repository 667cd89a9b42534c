//! Session attendance on TPGateway: the upload body (API-NOTES §8), one
//! trainee per call. Pure: data in, JSON out; the adapter encrypts the
//! request (the answer is plain, §3).
//!
//! # Choices made where the notes have no evidence (NOT FOUND)
//!
//! - **Status codes (§10 lists 1 Confirmed, 2 Unconfirmed, 3 Rejected, 4
//!   TP Voided, with no mapping from a training provider's own terms):**
//!   `present` and `late` are sent as `"1"` (Confirmed: the trainee
//!   attended); `absent` as `"2"` (Unconfirmed: the provider does not
//!   confirm attendance). `unknown` is never sent. The code is a string,
//!   as SC sends it (CI sends an integer; §8 says both are used).
//! - **`idType.code` (§10: SP pink IC, SB blue IC, SO FIN/work permit, FP
//!   foreign passport, OT others):** an NRIC is sent as `SP`; we do not
//!   hold whether the card is pink (citizen) or blue (permanent resident),
//!   so a permanent resident's NRIC goes as `SP` too. A FIN is `SO`;
//!   anything else `OT`.
//! - **`surveyLanguage.code`** is always `EL` (English): we do not record a
//!   trainee's survey language.
//! - **`numberOfHours`** is sent only when the session's mode of training
//!   is On-the-Job (code 4), the one mode for which §8 says it is
//!   mandatory: the session's length rounded down to the half hour, when
//!   it is 0.5 to 8.0; otherwise it is left out and TPGateway decides.
//! - **`contactNumber`** is sent when the trainee has a phone, with
//!   `areaCode: null` and `countryCode` as an integer (§8); `mobile` is
//!   the number. `email` is sent when the trainee has one. §8 says one of
//!   the two must be present; a trainee with neither is sent as is, and
//!   TPGateway's refusal is kept on the row.
//! - **`corppassId`** is left out: we hold no CorpPass id of the person
//!   who signed off, and whether TPGateway requires one is not known.
//! - **Re-sending:** an upload for a trainee and session TPGateway already
//!   has is taken to replace it (§8 has no separate update). A retry after
//!   an unknown outcome therefore sends the row again instead of reading
//!   TPGateway's attendance first.
//! - **The answer** (its shape is NOT FOUND): only the envelope status is
//!   read, as every client does (§8).

use serde_json::{json, Map, Value};

use super::Provider;

/// How a trainee attended, in TPGateway's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TpgAttendance {
    /// `"1"` Confirmed.
    Confirmed,
    /// `"2"` Unconfirmed.
    Unconfirmed,
}

impl TpgAttendance {
    pub fn code(self) -> &'static str {
        match self {
            TpgAttendance::Confirmed => "1",
            TpgAttendance::Unconfirmed => "2",
        }
    }

    /// The code for one of our statuses; `None` for a status not reported.
    pub fn of(status: crate::attendance::AttendanceStatus) -> Option<TpgAttendance> {
        use crate::attendance::AttendanceStatus as S;
        match status {
            S::Present | S::Late => Some(TpgAttendance::Confirmed),
            S::Absent => Some(TpgAttendance::Unconfirmed),
            S::Unknown => None,
        }
    }
}

/// TPGateway's `idType.code` of attendance for one of our id types.
pub fn id_type_code(t: crate::national_id::NationalIdType) -> &'static str {
    use crate::national_id::NationalIdType as T;
    match t {
        T::Nric => "SP",
        T::Fin => "SO",
        T::Others => "OT",
    }
}

/// One trainee's attendance of one session, as TPGateway is told of it.
/// `Debug` shows no personal data.
#[derive(Clone, PartialEq)]
pub struct AttendancePayload {
    pub course_ref: String,
    /// TPGateway's session id (`{CRN}-{runId}-S{n}`).
    pub session_id: String,
    pub status: TpgAttendance,
    /// The national id, opened.
    pub trainee_id: String,
    pub id_type: crate::national_id::NationalIdType,
    pub name: String,
    pub email: Option<String>,
    /// (country code, number), digits only.
    pub phone: Option<(String, String)>,
    /// Sent only for On-the-Job sessions.
    pub hours: Option<f64>,
}

impl std::fmt::Debug for AttendancePayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttendancePayload")
            .field("course_ref", &self.course_ref)
            .field("session_id", &self.session_id)
            .field("status", &self.status)
            .field("trainee", &"<redacted>")
            .finish()
    }
}

/// The path of the upload: the run's TPGateway id.
pub fn upload_path(tpg_run_id: &str) -> String {
    format!("/courses/runs/{tpg_run_id}/sessions/attendance")
}

/// The upload body (§8).
pub fn upload_attendance(provider: &Provider, p: &AttendancePayload) -> Value {
    let mut trainee = Map::new();
    trainee.insert("id".into(), json!(p.trainee_id));
    trainee.insert("name".into(), json!(p.name));
    if let Some(email) = &p.email {
        trainee.insert("email".into(), json!(email));
    }
    trainee.insert("idType".into(), json!({ "code": id_type_code(p.id_type) }));
    if let Some((country, number)) = &p.phone {
        // NOT FOUND (API-NOTES §8): a country code we cannot read as a
        // number is sent as the text it is, for TPGateway to refuse.
        let country = country
            .parse::<u32>()
            .map(Value::from)
            .unwrap_or_else(|_| json!(country));
        trainee.insert(
            "contactNumber".into(),
            json!({ "mobile": number, "areaCode": null, "countryCode": country }),
        );
    }
    if let Some(h) = p.hours {
        trainee.insert("numberOfHours".into(), json!(h));
    }
    // NOT FOUND (API-NOTES §8): we do not record a survey language.
    trainee.insert("surveyLanguage".into(), json!({ "code": "EL" }));
    json!({
        "uen": provider.uen,
        "course": {
            "sessionID": p.session_id,
            "attendance": {
                "status": { "code": p.status.code() },
                "trainee": trainee,
            },
            "referenceNumber": p.course_ref,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::national_id::NationalIdType;

    fn payload() -> AttendancePayload {
        AttendancePayload {
            course_ref: "TGS-2020002096".into(),
            session_id: "TGS-2020002096-835457-S1".into(),
            status: TpgAttendance::Confirmed,
            trainee_id: "S7020587D".into(),
            id_type: NationalIdType::Nric,
            name: "Aileen Chong".into(),
            email: Some("aileen@example.com".into()),
            phone: Some(("65".into(), "98765432".into())),
            hours: None,
        }
    }

    fn provider() -> Provider {
        Provider {
            uen: "199900650G".into(),
            tp_code: "199900650G-01".into(),
        }
    }

    #[test]
    fn the_body_carries_notes_field_names() {
        let body = upload_attendance(&provider(), &payload());
        assert_eq!(
            body,
            json!({
                "uen": "199900650G",
                "course": {
                    "sessionID": "TGS-2020002096-835457-S1",
                    "attendance": {
                        "status": {"code": "1"},
                        "trainee": {
                            "id": "S7020587D",
                            "name": "Aileen Chong",
                            "email": "aileen@example.com",
                            "idType": {"code": "SP"},
                            "contactNumber": {"mobile": "98765432", "areaCode": null, "countryCode": 65},
                            "surveyLanguage": {"code": "EL"}
                        }
                    },
                    "referenceNumber": "TGS-2020002096"
                }
            })
        );
        assert_eq!(
            upload_path("835457"),
            "/courses/runs/835457/sessions/attendance"
        );
    }

    #[test]
    fn optional_parts_are_left_out_and_hours_sent_when_given() {
        let mut p = payload();
        p.email = None;
        p.phone = None;
        p.hours = Some(3.5);
        p.status = TpgAttendance::Unconfirmed;
        p.id_type = NationalIdType::Fin;
        let body = upload_attendance(&provider(), &p);
        let t = &body["course"]["attendance"]["trainee"];
        assert!(t.get("email").is_none());
        assert!(t.get("contactNumber").is_none());
        assert_eq!(t["numberOfHours"], json!(3.5));
        assert_eq!(t["idType"]["code"], "SO");
        assert_eq!(body["course"]["attendance"]["status"]["code"], "2");
    }

    #[test]
    fn statuses_map_to_codes_and_unknown_is_not_sent() {
        use crate::attendance::AttendanceStatus as S;
        assert_eq!(
            TpgAttendance::of(S::Present),
            Some(TpgAttendance::Confirmed)
        );
        assert_eq!(TpgAttendance::of(S::Late), Some(TpgAttendance::Confirmed));
        assert_eq!(
            TpgAttendance::of(S::Absent),
            Some(TpgAttendance::Unconfirmed)
        );
        assert_eq!(TpgAttendance::of(S::Unknown), None);
        assert_eq!(id_type_code(NationalIdType::Others), "OT");
    }

    #[test]
    fn debug_shows_no_personal_data() {
        let shown = format!("{:?}", payload());
        for secret in ["S7020587D", "Aileen", "aileen@", "98765432"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
