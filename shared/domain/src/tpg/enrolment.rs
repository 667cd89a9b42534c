//! Enrolments on TPGateway: the create, update, cancel and search bodies
//! (API-NOTES §7, §13) and the answers read back (the create/update/view
//! answer, the search answer, the duplicate and already-cancelled errors,
//! §4, §7, §12). Pure: JSON in, JSON out; the adapter encrypts.
//!
//! The input is plain data ([`EnrolmentPayload`]), with the trainee's
//! national id opened: these values are personal data, and their `Debug`
//! shows none of it.
//!
//! # Choices made where the notes have no evidence (NOT FOUND)
//!
//! Each one is marked at its place with a `// NOT FOUND (API-NOTES §x)`
//! comment:
//!
//! - A trainee without an e-mail address or phone gets no `emailAddress` /
//!   `contactNumber` (create) or `email` / `contactNumber` (update): whether
//!   TPGateway requires them is not known (§7). `areaCode` is always `""`.
//! - `countryCode` is sent as we hold it (digits, e.g. `"65"`); `"+65"` is
//!   seen too (§7).
//! - `discountAmount` is the decimal text as a JSON number: a whole amount
//!   (`"0.00"`, `"12"`) as an integer (`0`, as §13 writes it), any other as
//!   a float (`12.5`). Text that is not a decimal number is sent as the
//!   string it is, for TPGateway to refuse with the field's name (our
//!   domain never gives such text).
//! - `fees.courseFee`/`fees.netFee` (sent by TS only) are not sent (§7).
//! - An individual's create body has no `employer` block (LT sends one of
//!   empty strings, §7).
//! - An update sends what we hold and leaves out what we do not: whether a
//!   missing field clears TPGateway's copy or keeps it is not known; an
//!   update cannot change the trainee's name, date of birth, id, the
//!   sponsorship type or the employer's UEN (no such fields in §7's update
//!   body); those need a cancel and a new create.
//! - The employer's contact on an update is `enrolment.employer.contact
//!   {fullName, email, contactNumber}` (§7's update body; `email`, not
//!   `emailAddress`, as for the trainee).
//! - The search body has no `meta` (last-update dates) and no `status`
//!   filter (we want cancelled records too), asks for page 0 of 20, newest
//!   update first (§7, §10).
//! - A reference in an answer is taken when it is 1 to 50 ASCII letters,
//!   digits and `-` (it goes into a URL path); it is not held to the
//!   `ENR-YYMM-NNNNNN` form seen (§5), which [`is_enrolment_ref`] checks.
//! - A search answer whose envelope status is 404 is no records (§4, one
//!   source); a 200 without `data` is an error, not "none" (taking it for
//!   none would have the caller create a second enrolment). `data` must be
//!   a list; its items may be `{"enrolment": {...}}` or flat (§7, TS).
//! - A duplicate is an error whose message (or a detail's) contains
//!   "duplicate", in any case (§12, one source).
//! - "Already cancelled" is the code `TGS-439`, or, when no code came, a
//!   message containing "cannot be updated" in any case (§4, §7, one
//!   source); a message with another code is not taken for it.

use chrono::NaiveDate;
use serde_json::{json, Map, Number, Value};

use super::{at, check_status, envelope_status, ParseError, Provider};

/// The code TPGateway gives when an already-cancelled enrolment is updated
/// or cancelled again (API-NOTES §4, §7).
pub const ALREADY_CANCELLED_CODE: &str = "TGS-439";

/// The longest reference taken from an answer.
const MAX_REFERENCE: usize = 50;

/// The trainee of an enrolment, as TPGateway is told of it. `Debug` shows
/// only the id type.
#[derive(Clone, PartialEq, Eq)]
pub struct EnrolmentTrainee {
    /// The national id, opened (NRIC, FIN or other id).
    pub id: String,
    /// `"NRIC"`, `"FIN"` or `"OTHERS"` (API-NOTES §10).
    pub id_type: &'static str,
    pub full_name: String,
    pub date_of_birth: NaiveDate,
    pub email: Option<String>,
    /// (country code, number), digits only, e.g. `("65", "98765432")`.
    pub phone: Option<(String, String)>,
}

impl std::fmt::Debug for EnrolmentTrainee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrolmentTrainee")
            .field("id", &"<redacted>")
            .field("id_type", &self.id_type)
            .field("full_name", &"<redacted>")
            .field("date_of_birth", &"<redacted>")
            .field("email", &self.email.as_ref().map(|_| "<redacted>"))
            .field("phone", &self.phone.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Who pays (API-NOTES §7, §10 `sponsorshipType`). `Debug` shows the
/// employer's UEN, not its contact person.
#[derive(Clone, PartialEq, Eq)]
pub enum Sponsorship {
    /// `INDIVIDUAL`
    Individual,
    /// `EMPLOYER`, with the employer block TPGateway then requires.
    Employer {
        uen: String,
        contact_name: String,
        contact_email: String,
        /// (country code, number), digits only.
        contact_phone: Option<(String, String)>,
    },
}

impl std::fmt::Debug for Sponsorship {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sponsorship::Individual => f.write_str("Individual"),
            Sponsorship::Employer {
                uen, contact_phone, ..
            } => f
                .debug_struct("Employer")
                .field("uen", uen)
                .field("contact_name", &"<redacted>")
                .field("contact_email", &"<redacted>")
                .field(
                    "contact_phone",
                    &contact_phone.as_ref().map(|_| "<redacted>"),
                )
                .finish(),
        }
    }
}

impl Sponsorship {
    /// TPGateway's `sponsorshipType`.
    pub fn tpg_code(&self) -> &'static str {
        match self {
            Sponsorship::Individual => "INDIVIDUAL",
            Sponsorship::Employer { .. } => "EMPLOYER",
        }
    }
}

/// What an enrolment body is built from. `Debug` shows no personal data.
#[derive(Clone, PartialEq, Eq)]
pub struct EnrolmentPayload {
    /// The course reference number (CRN), e.g. `TGS-2020000697`.
    pub course_ref: String,
    /// TPGateway's run id (digits), sent as a string (API-NOTES §5).
    pub tpg_run_id: String,
    pub trainee: EnrolmentTrainee,
    pub enrolment_date: NaiveDate,
    pub sponsorship: Sponsorship,
    /// Decimal text, e.g. `"0.00"`.
    pub discount_amount: String,
    /// `"Pending Payment"`, `"Partial Payment"` or `"Full Payment"`.
    pub collection_status: &'static str,
}

impl std::fmt::Debug for EnrolmentPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrolmentPayload")
            .field("course_ref", &self.course_ref)
            .field("tpg_run_id", &self.tpg_run_id)
            .field("trainee", &self.trainee)
            .field("enrolment_date", &self.enrolment_date)
            .field("sponsorship", &self.sponsorship)
            .field("discount_amount", &self.discount_amount)
            .field("collection_status", &self.collection_status)
            .finish()
    }
}

/// A date as `YYYY-MM-DD` (API-NOTES §7).
fn date_iso(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// `contactNumber{countryCode, areaCode, phoneNumber}` (API-NOTES §7).
fn contact_number((country_code, number): &(String, String)) -> Value {
    // NOT FOUND (API-NOTES §7): "65" and "+65" are both seen; we send the
    // country code as we hold it (digits). areaCode is always empty.
    json!({ "countryCode": country_code, "areaCode": "", "phoneNumber": number })
}

/// The decimal text as a JSON number: an integer when the amount is whole,
/// else a float.
fn discount_number(text: &str) -> Value {
    let t = text.trim();
    let (whole, fraction) = t.split_once('.').unwrap_or((t, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let well_formed = !whole.is_empty() && digits(whole) && digits(fraction);
    if well_formed && fraction.bytes().all(|b| b == b'0') {
        if let Ok(n) = whole.parse::<u64>() {
            return Value::Number(n.into());
        }
    }
    if well_formed && !fraction.is_empty() {
        if let Some(n) = t.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    // NOT FOUND (API-NOTES §7): text that is not a decimal amount (our
    // domain never gives one) is sent as the string it is, for TPGateway
    // to refuse with the field's name, rather than as an invented number.
    Value::String(text.to_string())
}

/// `fees{discountAmount, collectionStatus}`.
fn fees(e: &EnrolmentPayload) -> Value {
    json!({
        "discountAmount": discount_number(&e.discount_amount),
        "collectionStatus": e.collection_status,
    })
}

/// `POST /tpg/enrolments` body (API-NOTES §7, §13): `enrolment` with
/// `trainingPartner{uen, code}`, `course{referenceNumber, run{id}}` and
/// `trainee{id, idType{type}, fullName, dateOfBirth, emailAddress?,
/// contactNumber?, sponsorshipType, enrolmentDate, employer? (EMPLOYER
/// only), fees{discountAmount, collectionStatus}}`.
pub fn create_enrolment(p: &Provider, e: &EnrolmentPayload) -> Value {
    let t = &e.trainee;
    let mut trainee = Map::new();
    trainee.insert("id".into(), json!(t.id));
    trainee.insert("idType".into(), json!({ "type": t.id_type }));
    trainee.insert("fullName".into(), json!(t.full_name));
    trainee.insert("dateOfBirth".into(), json!(date_iso(t.date_of_birth)));
    // NOT FOUND (API-NOTES §7): whether TPGateway requires the trainee's
    // e-mail and phone; without them the fields are left out.
    if let Some(email) = &t.email {
        trainee.insert("emailAddress".into(), json!(email));
    }
    if let Some(phone) = &t.phone {
        trainee.insert("contactNumber".into(), contact_number(phone));
    }
    trainee.insert("sponsorshipType".into(), json!(e.sponsorship.tpg_code()));
    trainee.insert("enrolmentDate".into(), json!(date_iso(e.enrolment_date)));
    // NOT FOUND (API-NOTES §7): LT sends an employer block of empty strings
    // for an individual; we send none.
    if let Sponsorship::Employer {
        uen,
        contact_name,
        contact_email,
        contact_phone,
    } = &e.sponsorship
    {
        let mut contact = Map::new();
        contact.insert("fullName".into(), json!(contact_name));
        contact.insert("emailAddress".into(), json!(contact_email));
        if let Some(phone) = contact_phone {
            contact.insert("contactNumber".into(), contact_number(phone));
        }
        trainee.insert(
            "employer".into(),
            json!({ "uen": uen, "contact": Value::Object(contact) }),
        );
    }
    // NOT FOUND (API-NOTES §7): TS also sends fees.courseFee and
    // fees.netFee; whether a version requires them is not known.
    trainee.insert("fees".into(), fees(e));
    json!({
        "enrolment": {
            "trainingPartner": { "uen": p.uen, "code": p.tp_code },
            "course": {
                "referenceNumber": e.course_ref,
                "run": { "id": e.tpg_run_id },
            },
            "trainee": Value::Object(trainee),
        }
    })
}

/// `POST /tpg/enrolments/details/{enrolmentRef}` body that updates
/// (API-NOTES §7): `enrolment{action: "Update", course{run{id}},
/// trainee{email?, contactNumber?}?, employer{contact{fullName, email,
/// contactNumber?}}? (EMPLOYER only), fees{discountAmount,
/// collectionStatus}}`. A different run id moves the enrolment to that run
/// (same reference, TS).
pub fn update_enrolment(e: &EnrolmentPayload) -> Value {
    // NOT FOUND (API-NOTES §7): whether a field left out of an update
    // clears TPGateway's copy or keeps it; we send what we hold and leave
    // out what we do not.
    let mut enrolment = Map::new();
    enrolment.insert("action".into(), json!("Update"));
    enrolment.insert("course".into(), json!({ "run": { "id": e.tpg_run_id } }));
    let t = &e.trainee;
    let mut trainee = Map::new();
    if let Some(email) = &t.email {
        trainee.insert("email".into(), json!(email));
    }
    if let Some(phone) = &t.phone {
        trainee.insert("contactNumber".into(), contact_number(phone));
    }
    if !trainee.is_empty() {
        enrolment.insert("trainee".into(), Value::Object(trainee));
    }
    // NOT FOUND (API-NOTES §7): the update's employer block is
    // `enrolment.employer.contact{fullName, email, contactNumber}` (one
    // description); the employer's UEN and the sponsorship type cannot be
    // changed by an update.
    if let Sponsorship::Employer {
        contact_name,
        contact_email,
        contact_phone,
        ..
    } = &e.sponsorship
    {
        let mut contact = Map::new();
        contact.insert("fullName".into(), json!(contact_name));
        contact.insert("email".into(), json!(contact_email));
        if let Some(phone) = contact_phone {
            contact.insert("contactNumber".into(), contact_number(phone));
        }
        enrolment.insert(
            "employer".into(),
            json!({ "contact": Value::Object(contact) }),
        );
    }
    enrolment.insert("fees".into(), fees(e));
    json!({ "enrolment": Value::Object(enrolment) })
}

/// `POST /tpg/enrolments/details/{enrolmentRef}` body that cancels
/// (API-NOTES §7).
pub fn cancel_enrolment(tpg_run_id: &str) -> Value {
    json!({ "enrolment": { "action": "Cancel", "course": { "run": { "id": tpg_run_id } } } })
}

/// `POST /tpg/enrolments/search` body (API-NOTES §7): the enrolments of
/// this trainee in this run, cancelled ones included, newest update first,
/// page 0 of 20.
pub fn search_enrolments(
    p: &Provider,
    course_ref: &str,
    tpg_run_id: &str,
    trainee_id: &str,
    trainee_id_type: &str,
) -> Value {
    // NOT FOUND (API-NOTES §7): whether `meta{lastUpdateDateFrom,
    // lastUpdateDateTo}` is required; it is left out, as is a `status`
    // filter (cancelled records are wanted too).
    json!({
        "sortBy": { "field": "updatedOn", "order": "desc" },
        "enrolment": {
            "course": {
                "run": { "id": tpg_run_id },
                "referenceNumber": course_ref,
            },
            "trainee": {
                "id": trainee_id,
                "idType": { "type": trainee_id_type },
            },
            "trainingPartner": { "uen": p.uen, "code": p.tp_code },
        },
        "parameters": { "page": 0, "pageSize": 20 },
    })
}

/// True for a reference of the form TPGateway issues, `ENR-YYMM-NNNNNN`
/// (e.g. `ENR-2108-069510`, API-NOTES §5), with a month from 01 to 12.
pub fn is_enrolment_ref(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r)
            .is_some_and(|d| !d.is_empty() && d.iter().all(u8::is_ascii_digit))
    };
    let month_ok = matches!(b.get(6..8), Some([m1, m0])
        if (*m1 == b'0' && (b'1'..=b'9').contains(m0)) || (*m1 == b'1' && (b'0'..=b'2').contains(m0)));
    b.len() == 15
        && b.starts_with(b"ENR-")
        && digits(4..8)
        && month_ok
        && b.get(8) == Some(&b'-')
        && digits(9..15)
}

/// A reference as we take it from an answer: 1 to 50 ASCII letters,
/// digits and `-` (it goes into a URL path).
fn reference_at(v: Option<&Value>, field: &str) -> Result<String, ParseError> {
    // NOT FOUND (API-NOTES §5): only the ENR-YYMM-NNNNNN form is seen; any
    // reference safe in a path is taken, so that another form (a test
    // environment's) does not make a created enrolment look failed.
    const EXPECTED: &str = "must be an enrolment reference: 1 to 50 letters, digits and '-'";
    match v {
        None => Err(ParseError::missing(field)),
        Some(Value::String(s))
            if !s.is_empty()
                && s.len() <= MAX_REFERENCE
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
        {
            Ok(s.clone())
        }
        Some(_) => Err(ParseError::malformed(field, EXPECTED)),
    }
}

/// An optional status text (`Confirmed`, `Cancelled`, §10).
fn status_at(v: Option<&Value>, field: &str) -> Result<Option<String>, ParseError> {
    match v {
        None => Ok(None),
        Some(Value::String(s)) if crate::types::text_problem(s).is_none() => Ok(Some(s.clone())),
        Some(_) => Err(ParseError::malformed(
            field,
            "must be a status: text without control characters",
        )),
    }
}

/// The reference and status from a create, update or view answer
/// (`data.enrolment.referenceNumber`, `data.enrolment.status`, API-NOTES
/// §7).
pub fn parse_enrolment_reference(body: &Value) -> Result<(String, Option<String>), ParseError> {
    check_status(body)?;
    let reference = reference_at(
        at(body, &["data", "enrolment", "referenceNumber"]),
        "data.enrolment.referenceNumber",
    )?;
    let status = status_at(
        at(body, &["data", "enrolment", "status"]),
        "data.enrolment.status",
    )?;
    Ok((reference, status))
}

/// An enrolment a search found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundEnrolment {
    pub reference: String,
    /// `Confirmed`, `Cancelled`, ... as TPGateway writes it.
    pub status: Option<String>,
}

/// Reads a search answer (`data[]`, API-NOTES §7): each item either
/// `{"enrolment": {referenceNumber, status, ...}}` or flat `{referenceNumber,
/// status, ...}`, in the order listed. An envelope status 404 is no records
/// (§4).
pub fn parse_search(body: &Value) -> Result<Vec<FoundEnrolment>, ParseError> {
    // NOT FOUND (API-NOTES §4, §7): "no records" is a 404 (one source); a
    // 200 without `data` is an error rather than "none", since "none" would
    // have the caller create the enrolment a second time.
    if envelope_status(body) == Some(404) {
        return Ok(Vec::new());
    }
    check_status(body)?;
    let items = match at(body, &["data"]) {
        None => return Err(ParseError::missing("data")),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(ParseError::malformed("data", "must be a list")),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let (record, prefix) = match at(item, &["enrolment"]) {
                Some(inner) => (inner, format!("data[{i}].enrolment")),
                None => (item, format!("data[{i}]")),
            };
            if !record.is_object() {
                return Err(ParseError::malformed(prefix, "must be an object"));
            }
            Ok(FoundEnrolment {
                reference: reference_at(
                    at(record, &["referenceNumber"]),
                    &format!("{prefix}.referenceNumber"),
                )?,
                status: status_at(at(record, &["status"]), &format!("{prefix}.status"))?,
            })
        })
        .collect()
}

/// True when an error message says the enrolment is a duplicate
/// (API-NOTES §12); then search for it rather than create it again.
pub fn is_duplicate(message: &str) -> bool {
    // NOT FOUND (API-NOTES §12): only the word is known (one source), not
    // the message's case or wording.
    message.to_ascii_lowercase().contains("duplicate")
}

/// [`is_duplicate`] over an error envelope: its `error.message` or any
/// `error.details[].message`.
pub fn is_duplicate_error(error_body: &Value) -> bool {
    let says = |v: Option<&Value>| v.and_then(Value::as_str).is_some_and(is_duplicate);
    says(at(error_body, &["error", "message"]))
        || at(error_body, &["error", "details"])
            .and_then(Value::as_array)
            .is_some_and(|ds| ds.iter().any(|d| says(at(d, &["message"]))))
}

/// True when an update or cancel was refused because the enrolment is
/// already cancelled (API-NOTES §4, §7): the code `TGS-439`, or, without a
/// code, a message saying it "cannot be updated".
pub fn is_already_cancelled(code: Option<&str>, message: &str) -> bool {
    // NOT FOUND (API-NOTES §4, §7): one source gives the code and the
    // phrase; a "cannot be updated" message under another code is taken for
    // some other refusal (it stays an error for a person to read).
    match code.map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => c.eq_ignore_ascii_case(ALREADY_CANCELLED_CODE),
        None => message.to_ascii_lowercase().contains("cannot be updated"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> Provider {
        Provider {
            uen: "199900650G".into(),
            tp_code: "199900650G-01".into(),
        }
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// The API-NOTES §13 create example's data.
    fn payload() -> EnrolmentPayload {
        EnrolmentPayload {
            course_ref: "TGS-2020000697".into(),
            tpg_run_id: "835457".into(),
            trainee: EnrolmentTrainee {
                id: "S7020587D".into(),
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

    fn employer() -> Sponsorship {
        Sponsorship::Employer {
            uen: "201234567K".into(),
            contact_name: "Tan Mei Ling".into(),
            contact_email: "hr@example.sg".into(),
            contact_phone: Some(("65".into(), "61234567".into())),
        }
    }

    #[test]
    fn create_is_the_notes_example_field_by_field() {
        let b = create_enrolment(&provider(), &payload());
        let e = &b["enrolment"];
        assert_eq!(e["trainingPartner"]["uen"], "199900650G");
        assert_eq!(e["trainingPartner"]["code"], "199900650G-01");
        assert_eq!(e["course"]["referenceNumber"], "TGS-2020000697");
        // The run id is a string in enrolment bodies (§5).
        assert_eq!(e["course"]["run"]["id"], json!("835457"));
        let t = &e["trainee"];
        assert_eq!(t["id"], "S7020587D");
        assert_eq!(t["idType"], json!({"type": "NRIC"}));
        assert_eq!(t["fullName"], "Aileen Chong");
        assert_eq!(t["dateOfBirth"], "1969-03-08");
        assert_eq!(t["emailAddress"], "t@example.com");
        assert_eq!(
            t["contactNumber"],
            json!({"countryCode": "65", "areaCode": "", "phoneNumber": "98765432"})
        );
        assert_eq!(t["sponsorshipType"], "INDIVIDUAL");
        assert_eq!(t["enrolmentDate"], "2025-01-05");
        assert_eq!(t["fees"]["discountAmount"], json!(0));
        assert!(t["fees"]["discountAmount"].is_u64());
        assert_eq!(t["fees"]["collectionStatus"], "Pending Payment");
        assert!(t.get("employer").is_none());
        assert!(t.get("email").is_none());
        // And the whole document, as §13 writes it.
        let example = json!({"enrolment":{"trainingPartner":{"uen":"199900650G","code":"199900650G-01"},
         "course":{"referenceNumber":"TGS-2020000697","run":{"id":"835457"}},
         "trainee":{"id":"S7020587D","idType":{"type":"NRIC"},"fullName":"Aileen Chong",
          "dateOfBirth":"1969-03-08","emailAddress":"t@example.com",
          "contactNumber":{"countryCode":"65","areaCode":"","phoneNumber":"98765432"},
          "sponsorshipType":"INDIVIDUAL","enrolmentDate":"2025-01-05",
          "fees":{"discountAmount":0,"collectionStatus":"Pending Payment"}}}});
        assert_eq!(b, example);
    }

    #[test]
    fn create_for_an_employer_carries_the_employer_block() {
        let mut p = payload();
        p.sponsorship = employer();
        p.discount_amount = "12.50".into();
        p.collection_status = "Full Payment";
        let b = create_enrolment(&provider(), &p);
        let t = &b["enrolment"]["trainee"];
        assert_eq!(t["sponsorshipType"], "EMPLOYER");
        assert_eq!(
            t["employer"],
            json!({"uen": "201234567K", "contact": {"fullName": "Tan Mei Ling",
                "emailAddress": "hr@example.sg",
                "contactNumber": {"countryCode": "65", "areaCode": "", "phoneNumber": "61234567"}}})
        );
        assert_eq!(t["fees"]["discountAmount"], json!(12.5));
        assert_eq!(t["fees"]["collectionStatus"], "Full Payment");
    }

    #[test]
    fn create_without_email_or_phone_leaves_them_out() {
        let mut p = payload();
        p.trainee.email = None;
        p.trainee.phone = None;
        p.trainee.id_type = "OTHERS";
        p.trainee.id = "K1234567".into();
        let t = create_enrolment(&provider(), &p)["enrolment"]["trainee"].clone();
        assert!(t.get("emailAddress").is_none());
        assert!(t.get("contactNumber").is_none());
        assert_eq!(t["idType"]["type"], "OTHERS");
    }

    #[test]
    fn discount_amounts_become_numbers() {
        assert_eq!(discount_number("0.00"), json!(0));
        assert_eq!(discount_number("0"), json!(0));
        assert_eq!(discount_number("1200.00"), json!(1200));
        assert_eq!(discount_number("12.50"), json!(12.5));
        assert_eq!(discount_number("0.05"), json!(0.05));
        assert_eq!(discount_number(" 3.10 "), json!(3.1));
        for bad in ["", "-1", "1.2.3", "abc", "1e3", ".5", "NaN"] {
            assert_eq!(discount_number(bad), json!(bad), "{bad}");
        }
    }

    #[test]
    fn update_uses_email_and_sends_fees_and_the_run() {
        let b = update_enrolment(&payload());
        assert_eq!(
            b,
            json!({"enrolment": {"action": "Update", "course": {"run": {"id": "835457"}},
                "trainee": {"email": "t@example.com",
                    "contactNumber": {"countryCode": "65", "areaCode": "", "phoneNumber": "98765432"}},
                "fees": {"discountAmount": 0, "collectionStatus": "Pending Payment"}}})
        );
        assert!(b["enrolment"]["trainee"].get("emailAddress").is_none());
        assert!(b["enrolment"].get("employer").is_none());
        assert!(b["enrolment"].get("trainingPartner").is_none());
    }

    #[test]
    fn update_for_an_employer_carries_its_contact() {
        let mut p = payload();
        p.sponsorship = employer();
        p.trainee.email = None;
        p.trainee.phone = None;
        let b = update_enrolment(&p);
        let e = &b["enrolment"];
        assert!(e.get("trainee").is_none());
        assert_eq!(
            e["employer"],
            json!({"contact": {"fullName": "Tan Mei Ling", "email": "hr@example.sg",
                "contactNumber": {"countryCode": "65", "areaCode": "", "phoneNumber": "61234567"}}})
        );
    }

    #[test]
    fn cancel_names_the_run_only() {
        assert_eq!(
            cancel_enrolment("835457"),
            json!({"enrolment": {"action": "Cancel", "course": {"run": {"id": "835457"}}}})
        );
    }

    #[test]
    fn search_asks_for_the_trainee_in_the_run() {
        let b = search_enrolments(&provider(), "TGS-2020000697", "835457", "S7020587D", "NRIC");
        assert_eq!(
            b,
            json!({
                "sortBy": {"field": "updatedOn", "order": "desc"},
                "enrolment": {
                    "course": {"run": {"id": "835457"}, "referenceNumber": "TGS-2020000697"},
                    "trainee": {"id": "S7020587D", "idType": {"type": "NRIC"}},
                    "trainingPartner": {"uen": "199900650G", "code": "199900650G-01"}
                },
                "parameters": {"page": 0, "pageSize": 20}
            })
        );
    }

    #[test]
    fn references_have_the_seen_form() {
        for good in ["ENR-2108-069510", "ENR-2501-000004", "ENR-9912-999999"] {
            assert!(is_enrolment_ref(good), "{good}");
        }
        for bad in [
            "",
            "ENR-2108-06951",
            "ENR-2108-0695100",
            "enr-2108-069510",
            "ENR-2113-069510",
            "ENR-2100-069510",
            "ENR-21O8-069510",
            "ENR_2108-069510",
            "ENR-2108_069510",
            "ASM-2009-161334",
            "ENR-2108-06951a",
        ] {
            assert!(!is_enrolment_ref(bad), "{bad}");
        }
    }

    #[test]
    fn create_and_update_answers_give_the_reference_and_status() {
        let answer = json!({"status":200,"data":{"enrolment":{"referenceNumber":"ENR-2501-000004","status":"Confirmed"}},"meta":{"createdOn":"2025-01-05T02:00:00Z","updatedOn":"2025-01-05T02:00:00Z"},"error":{}});
        assert_eq!(
            parse_enrolment_reference(&answer),
            Ok(("ENR-2501-000004".to_string(), Some("Confirmed".to_string())))
        );
        let no_status =
            json!({"status": 200, "data": {"enrolment": {"referenceNumber": "ENR-2501-000004"}}});
        assert_eq!(
            parse_enrolment_reference(&no_status),
            Ok(("ENR-2501-000004".to_string(), None))
        );
        assert_eq!(
            parse_enrolment_reference(&json!({"status": 200, "data": {}})),
            Err(ParseError::Missing("data.enrolment.referenceNumber".into()))
        );
        assert!(matches!(
            parse_enrolment_reference(
                &json!({"data": {"enrolment": {"referenceNumber": "ENR/../x"}}})
            ),
            Err(ParseError::Malformed { .. })
        ));
        assert!(matches!(
            parse_enrolment_reference(&json!({"data": {"enrolment": {"referenceNumber": 7}}})),
            Err(ParseError::Malformed { .. })
        ));
        assert_eq!(
            parse_enrolment_reference(&json!({"status": 400, "error": {"code": "X"}})),
            Err(ParseError::Status(400))
        );
    }

    #[test]
    fn search_items_may_be_wrapped_or_flat() {
        let wrapped = json!({"status": 200, "data": [
            {"enrolment": {"referenceNumber": "ENR-2501-000005", "status": "Confirmed",
                "trainee": {"fullName": "Aileen Chong"}}},
            {"enrolment": {"referenceNumber": "ENR-2501-000004", "status": "Cancelled"}}
        ]});
        let flat = json!({"status": 200, "data": [
            {"referenceNumber": "ENR-2501-000005", "status": "Confirmed",
             "trainee": {"fullName": "Aileen Chong", "sponsorshipType": "INDIVIDUAL",
                         "email": {"full": "t@example.com"}}},
            {"referenceNumber": "ENR-2501-000004", "status": "Cancelled"}
        ]});
        let expected = vec![
            FoundEnrolment {
                reference: "ENR-2501-000005".into(),
                status: Some("Confirmed".into()),
            },
            FoundEnrolment {
                reference: "ENR-2501-000004".into(),
                status: Some("Cancelled".into()),
            },
        ];
        assert_eq!(parse_search(&wrapped), Ok(expected.clone()));
        assert_eq!(parse_search(&flat), Ok(expected));
        let mixed = json!({"data": [{"referenceNumber": "ENR-2501-000001"},
            {"enrolment": {"referenceNumber": "ENR-2501-000002", "status": null}}]});
        assert_eq!(
            parse_search(&mixed),
            Ok(vec![
                FoundEnrolment {
                    reference: "ENR-2501-000001".into(),
                    status: None
                },
                FoundEnrolment {
                    reference: "ENR-2501-000002".into(),
                    status: None
                },
            ])
        );
    }

    #[test]
    fn no_records_is_an_empty_search() {
        let not_found = json!({"status": 404, "data": {}, "meta": {},
            "error": {"code": "TGS-404", "message": "No records found"}});
        assert_eq!(parse_search(&not_found), Ok(Vec::new()));
        assert_eq!(parse_search(&json!({"status": "404"})), Ok(Vec::new()));
        assert_eq!(
            parse_search(&json!({"status": 200, "data": []})),
            Ok(Vec::new())
        );
        assert_eq!(
            parse_search(&json!({"status": 200})),
            Err(ParseError::Missing("data".into()))
        );
        assert_eq!(
            parse_search(&json!({"status": 500, "data": []})),
            Err(ParseError::Status(500))
        );
        assert!(matches!(
            parse_search(&json!({"status": 200, "data": {"enrolment": {}}})),
            Err(ParseError::Malformed { .. })
        ));
        assert_eq!(
            parse_search(&json!({"data": [{"status": "Confirmed"}]})),
            Err(ParseError::Missing("data[0].referenceNumber".into()))
        );
        assert!(matches!(
            parse_search(&json!({"data": ["ENR-2501-000001"]})),
            Err(ParseError::Malformed { field, .. }) if field == "data[0]"
        ));
    }

    #[test]
    fn duplicates_are_recognised_by_their_message() {
        assert!(is_duplicate("Duplicate enrolment found"));
        assert!(is_duplicate(
            "The enrolment is a DUPLICATE of ENR-2501-000004"
        ));
        assert!(!is_duplicate("Invalid request"));
        assert!(!is_duplicate(""));
        let body = json!({"status": 400, "error": {"code": "TGS-400", "message": "Invalid request",
            "details": [{"field": "enrolment.trainee.id", "message": "duplicate enrolment for this course run"}]}});
        assert!(is_duplicate_error(&body));
        assert!(is_duplicate_error(
            &json!({"error": {"message": "Duplicate record"}})
        ));
        assert!(!is_duplicate_error(
            &json!({"error": {"message": "Invalid", "details": [{"field": "x", "message": "is required"}]}})
        ));
        assert!(!is_duplicate_error(&json!({})));
    }

    #[test]
    fn already_cancelled_is_tgs_439_or_cannot_be_updated() {
        assert!(is_already_cancelled(Some("TGS-439"), "anything"));
        assert!(is_already_cancelled(Some(" tgs-439 "), ""));
        assert!(is_already_cancelled(
            None,
            "Enrolment record has been cancelled and cannot be updated"
        ));
        assert!(is_already_cancelled(Some(""), "Cannot Be Updated"));
        assert!(!is_already_cancelled(Some("TGS-400"), "cannot be updated"));
        assert!(!is_already_cancelled(None, "Invalid request"));
        assert!(!is_already_cancelled(Some("TGS-4390"), "x"));
    }

    #[test]
    fn debug_shows_no_personal_data() {
        let mut p = payload();
        p.sponsorship = employer();
        let text = format!("{p:?}");
        for secret in [
            "S7020587D",
            "Aileen",
            "1969",
            "t@example.com",
            "98765432",
            "Tan Mei Ling",
            "hr@example.sg",
            "61234567",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(
            text.contains("NRIC") && text.contains("201234567K"),
            "{text}"
        );
    }
}
