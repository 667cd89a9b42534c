//! A session's attendance, on both engine sets: the whole session in one
//! change (all or nothing, one audit record, 413 over 97 rows), one row on
//! its own, If-Match on every write, sign-off (the session's trainer, Admin
//! or Ops Admin; afterwards only Admin and Ops Admin change rows), and the
//! upload to TPGateway through the worker and the fake over real HTTP, one
//! call per trainee, a partial refusal retried for the refused row only.

use serde_json::{json, Value};
use tms_domain::access::Role;
use tms_fake_tpgateway::{Fault, Route};
use tms_tests::{on_both_engines, TestSystem, JSON};

use crate::api::run_body;
use crate::auth::{admin, enrolment_body, fresh_nric, send, user_with};

on_both_engines! {
    systems;
    a_session_is_recorded_changed_and_signed_off => attendance_sqlite_lifecycle, attendance_aws_lifecycle;
    a_trainer_records_and_signs_off_their_own_session => attendance_sqlite_trainer, attendance_aws_trainer;
    the_largest_session_fits_one_change => attendance_sqlite_97_rows, attendance_aws_97_rows;
}

on_both_engines! {
    synced;
    signed_off_attendance_reaches_tpgateway => attendance_sqlite_synced, attendance_aws_synced;
    a_refused_row_is_retried_alone => attendance_sqlite_partial, attendance_aws_partial;
}

async fn trainee(sys: &TestSystem) -> String {
    let mut body = tms_http::routes::trainees::example_trainee();
    body["national_id"] = json!(fresh_nric());
    let r = sys.post("/trainees", &body, &[]).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["id"].as_str().unwrap_or_default().to_string()
}

async fn enrol(sys: &TestSystem, run: &str) -> String {
    let t = trainee(sys).await;
    let e = sys.post("/enrolments", &enrolment_body(run, &t), &[]).await;
    assert_eq!(e.status, 201, "{:?}", e.body);
    e.body["id"].as_str().unwrap_or_default().to_string()
}

/// A run with its first session and two enrolments: (run, session,
/// [enrolment; 2]).
async fn session_with_two(sys: &TestSystem, body: &Value) -> (String, String, [String; 2]) {
    let (run, created) = sys.create_run(body).await;
    let session = created.body["sessions"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let a = enrol(sys, &run).await;
    let b = enrol(sys, &run).await;
    (run, session, [a, b])
}

async fn put(sys: &TestSystem, uri: &str, tag: Option<&str>, body: &Value) -> tms_tests::Reply {
    let mut h = vec![JSON];
    if let Some(t) = tag {
        h.push(("if-match", t));
    }
    sys.call("PUT", uri, &h, Some(body.to_string().into_bytes()))
        .await
}

async fn sign_off(sys: &TestSystem, session: &str, tag: Option<&str>) -> tms_tests::Reply {
    let mut h = vec![JSON];
    if let Some(t) = tag {
        h.push(("if-match", t));
    }
    sys.call(
        "POST",
        &format!("/sessions/{session}/attendance/sign-off"),
        &h,
        Some(b"{}".to_vec()),
    )
    .await
}

fn rows(pairs: &[(&str, &str)]) -> Value {
    json!({"rows": pairs.iter().map(|(e, s)| json!({"enrolment_id": e, "status": s})).collect::<Vec<_>>()})
}

fn row<'a>(sheet: &'a Value, enrolment: &str) -> &'a Value {
    sheet["rows"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["enrolment_id"] == json!(enrolment)))
        .unwrap_or(&Value::Null)
}

async fn a_session_is_recorded_changed_and_signed_off(sys: TestSystem) {
    let (run, session, [a, b]) =
        session_with_two(&sys, &tms_http::routes::course_runs::example_run()).await;
    let uri = format!("/sessions/{session}/attendance");
    let empty = sys.get(&uri).await;
    assert_eq!(empty.status, 200, "{:?}", empty.body);
    assert_eq!(empty.header("etag"), Some("\"0\""));
    assert_eq!(empty.body["rows"], json!([]));
    assert_eq!(empty.body["course_run_id"], json!(run));

    // Refused requests write nothing.
    let before = (sys.all_versions().await, sys.message_counts().await);
    let no_tag = put(&sys, &uri, None, &rows(&[(&a, "present")])).await;
    assert_eq!(no_tag.status, 428, "{:?}", no_tag.body);
    let stranger = "0193a4e2-7c1b-7d3e-9a51-2b7f00c0ff77";
    let mixed = put(
        &sys,
        &uri,
        Some("\"0\""),
        &rows(&[(&a, "present"), (&b, "absent"), (stranger, "present")]),
    )
    .await;
    assert_eq!(mixed.status, 422, "{:?}", mixed.body);
    assert_eq!(mixed.error_fields(), ["rows[2].enrolment_id"]);
    let too_many: Vec<(String, &str)> = (0..98)
        .map(|i| (format!("0193a4e2-7c1b-7d3e-9a51-2b7f00c{i:05}"), "present"))
        .collect();
    let too_many: Vec<(&str, &str)> = too_many.iter().map(|(e, s)| (e.as_str(), *s)).collect();
    let big = put(&sys, &uri, Some("\"0\""), &rows(&too_many)).await;
    assert_eq!(big.status, 413, "{:?}", big.body);
    assert_eq!(big.error_fields(), ["rows"]);
    assert!(
        big.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("97")),
        "the answer names the limit: {:?}",
        big.body
    );
    let bad_status = put(&sys, &uri, Some("\"0\""), &rows(&[(&a, "here")])).await;
    assert_eq!(bad_status.status, 422, "{:?}", bad_status.body);
    assert_eq!(bad_status.error_fields(), ["rows[0].status"]);
    assert_eq!(
        before,
        (sys.all_versions().await, sys.message_counts().await),
        "refused requests wrote nothing"
    );

    // The whole session: both rows, one audit record, no sync job yet.
    let recorded = put(
        &sys,
        &uri,
        Some("\"0\""),
        &rows(&[(&a, "present"), (&b, "absent")]),
    )
    .await;
    assert_eq!(recorded.status, 200, "{:?}", recorded.body);
    assert_eq!(recorded.header("etag"), Some("\"1\""));
    assert_eq!(row(&recorded.body, &a)["status"], "present");
    assert_eq!(row(&recorded.body, &b)["status"], "absent");
    assert_eq!(row(&recorded.body, &a)["sync_status"], "not_sent");
    assert_eq!(
        row(&recorded.body, &a)["recorded_by"],
        tms_tests::TEST_ACTOR
    );
    assert_eq!(
        before.1,
        sys.message_counts().await,
        "no upload before sign-off"
    );
    assert_eq!(
        sys.audit_actions("session_attendance", &session).await,
        ["attendance.recorded"]
    );
    // The same again changes nothing.
    let same = put(
        &sys,
        &uri,
        Some("\"1\""),
        &rows(&[(&a, "present"), (&b, "absent")]),
    )
    .await;
    assert_eq!(same.status, 200, "{:?}", same.body);
    assert_eq!(same.header("etag"), Some("\"1\""));
    // A stale sheet tag.
    let stale = put(&sys, &uri, Some("\"0\""), &rows(&[(&a, "late")])).await;
    assert_eq!(stale.status, 412, "{:?}", stale.body);

    // One row on its own: If-Match is the row's.
    let row_uri = format!("{uri}/{b}");
    let tag = format!("\"{}\"", row(&recorded.body, &b)["version"]);
    let late = put(
        &sys,
        &row_uri,
        Some(&tag),
        &json!({"status": "late", "reason": "arrived 10:15"}),
    )
    .await;
    assert_eq!(late.status, 200, "{:?}", late.body);
    assert_eq!(late.body["revision"], 2);
    assert_eq!(late.body["reason"], "arrived 10:15");
    let again = put(&sys, &row_uri, Some(&tag), &json!({"status": "present"})).await;
    assert_eq!(again.status, 412, "{:?}", again.body);
    let sheet = sys.get(&uri).await;
    assert_eq!(
        sheet.header("etag"),
        Some("\"2\""),
        "a row moves the sheet on"
    );

    // Sign-off: If-Match, then once only; the upload is queued.
    assert_eq!(sign_off(&sys, &session, None).await.status, 428);
    let counts = sys.message_counts().await;
    let signed = sign_off(&sys, &session, Some("\"2\"")).await;
    assert_eq!(signed.status, 200, "{:?}", signed.body);
    assert!(signed.body["signed_off_at"].is_string());
    assert_eq!(row(&signed.body, &a)["sync_status"], "pending");
    assert_eq!(sys.message_counts().await.0, counts.0 + 1, "one upload job");
    let twice = sign_off(&sys, &session, Some("\"3\"")).await;
    assert_eq!(twice.status, 409, "{:?}", twice.body);

    // An Admin's change after sign-off is audited and uploaded again.
    let tag = format!("\"{}\"", row(&signed.body, &a)["version"]);
    let fixed = put(
        &sys,
        &format!("{uri}/{a}"),
        Some(&tag),
        &json!({"status": "absent", "reason": "left at 10:00"}),
    )
    .await;
    assert_eq!(fixed.status, 200, "{:?}", fixed.body);
    assert_eq!(fixed.body["sync_status"], "pending");
    assert_eq!(sys.message_counts().await.0, counts.0 + 2);
    assert_eq!(
        sys.audit_actions("session_attendance", &session).await,
        [
            "attendance.row_changed",
            "attendance.signed_off",
            "attendance.row_changed",
            "attendance.recorded"
        ]
    );

    // A session with attendance is not removed.
    let run_now = sys.get(&format!("/course-runs/{run}")).await;
    let s_tag = format!("\"{}\"", run_now.body["sessions"][0]["version"]);
    let removed = sys
        .call(
            "DELETE",
            &format!("/course-runs/{run}/sessions/{session}"),
            &[("if-match", &s_tag)],
            None,
        )
        .await;
    assert_eq!(removed.status, 409, "{:?}", removed.body);
    // A cancelled enrolment can no longer be marked.
    let unknown = put(
        &sys,
        &format!(
            "/sessions/{}/attendance",
            "0193a4e2-7c1b-7d3e-9a51-2b7f00c0ff66"
        ),
        Some("\"0\""),
        &rows(&[(&a, "present")]),
    )
    .await;
    assert_eq!(unknown.status, 404, "{:?}", unknown.body);
}

/// The stated limit is real: a session of 97 enrolments is recorded in one
/// request (one transaction of 100 operations on DynamoDB: 97 rows, the
/// sheet, the audit record, and the job once signed off), and changed
/// again after sign-off in one request with its job.
async fn the_largest_session_fits_one_change(sys: TestSystem) {
    let mut body = tms_http::routes::course_runs::example_run();
    body["capacity"] = json!(120);
    let (run, created) = sys.create_run(&body).await;
    let session = created.body["sessions"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut ids = Vec::new();
    for _ in 0..tms_domain::attendance::MAX_ROWS_PER_REQUEST {
        ids.push(enrol(&sys, &run).await);
    }
    let uri = format!("/sessions/{session}/attendance");
    let pairs: Vec<(&str, &str)> = ids.iter().map(|e| (e.as_str(), "present")).collect();
    let r = put(&sys, &uri, Some("\"0\""), &rows(&pairs)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["rows"].as_array().map(Vec::len), Some(97));
    let signed = sign_off(&sys, &session, Some("\"1\"")).await;
    assert_eq!(signed.status, 200, "{:?}", signed.body);
    // After sign-off: 97 changed rows + sheet + audit + job = 100.
    let pairs: Vec<(&str, &str)> = ids.iter().map(|e| (e.as_str(), "late")).collect();
    let r = put(&sys, &uri, Some("\"2\""), &rows(&pairs)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body["rows"]
        .as_array()
        .is_some_and(|rows| rows.iter().all(|r| r["status"] == "late")));
    assert_eq!(
        sys.audit_actions("session_attendance", &session).await,
        [
            "attendance.recorded",
            "attendance.signed_off",
            "attendance.recorded"
        ]
    );
}

/// A Trainer records and signs off the session they teach, not another's
/// (404); after sign-off they may not change it (403), an Ops Admin may.
async fn a_trainer_records_and_signs_off_their_own_session(sys: TestSystem) {
    let (admin_token, _) = admin(&sys).await;
    let (user_id, trainer_token) = user_with(&sys, &admin_token, &[Role::Trainer], 1).await;
    let (_, ops_token) = user_with(&sys, &admin_token, &[Role::OpsAdmin], 2).await;
    let mut body = tms_http::routes::trainers::example_trainer();
    body["user_id"] = json!(user_id);
    let t = send(
        &sys,
        Some(&admin_token),
        "POST",
        "/trainers",
        &[],
        Some(&body),
    )
    .await;
    assert_eq!(t.status, 201, "{:?}", t.body);
    let trainer_id = t.body["id"].as_str().unwrap_or_default().to_string();
    let (run, session, [a, _]) =
        session_with_two(&sys, &tms_http::routes::course_runs::example_run()).await;
    let (_, other_session, [c, _]) =
        session_with_two(&sys, &tms_http::routes::course_runs::example_run()).await;
    let run_now = sys.get(&format!("/course-runs/{run}")).await;
    let s_tag = format!("\"{}\"", run_now.body["sessions"][0]["version"]);
    let assigned = send(
        &sys,
        Some(&admin_token),
        "PATCH",
        &format!("/course-runs/{run}/sessions/{session}"),
        &[("if-match", &s_tag)],
        Some(&json!({"trainer_id": trainer_id})),
    )
    .await;
    assert_eq!(assigned.status, 200, "{:?}", assigned.body);

    let uri = format!("/sessions/{session}/attendance");
    // Every active enrolment needs a row before sign-off.
    let one = send(
        &sys,
        Some(&trainer_token),
        "PUT",
        &uri,
        &[("if-match", "\"0\"")],
        Some(&rows(&[(&a, "present")])),
    )
    .await;
    assert_eq!(one.status, 200, "{:?}", one.body);
    let early = send(
        &sys,
        Some(&trainer_token),
        "POST",
        &format!("{uri}/sign-off"),
        &[("if-match", "\"1\"")],
        Some(&json!({})),
    )
    .await;
    assert_eq!(early.status, 409, "{:?}", early.body);
    let all: Vec<Value> = one.body["rows"].as_array().cloned().unwrap_or_default();
    assert_eq!(all.len(), 1);
    let enrolments = sys.get(&format!("/enrolments?course_run_id={run}")).await;
    let pairs: Vec<(String, &str)> = enrolments.body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|e| e["id"].as_str().map(|id| (id.to_string(), "present")))
                .collect()
        })
        .unwrap_or_default();
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(e, s)| (e.as_str(), *s)).collect();
    let full = send(
        &sys,
        Some(&trainer_token),
        "PUT",
        &uri,
        &[("if-match", "\"1\"")],
        Some(&rows(&pairs)),
    )
    .await;
    assert_eq!(full.status, 200, "{:?}", full.body);
    let signed = send(
        &sys,
        Some(&trainer_token),
        "POST",
        &format!("{uri}/sign-off"),
        &[("if-match", "\"2\"")],
        Some(&json!({})),
    )
    .await;
    assert_eq!(signed.status, 200, "{:?}", signed.body);
    assert_eq!(signed.body["signed_off_by"], json!(user_id));

    // Another trainer's session: not found, nothing written.
    let before = sys.all_versions().await;
    let other = send(
        &sys,
        Some(&trainer_token),
        "PUT",
        &format!("/sessions/{other_session}/attendance"),
        &[("if-match", "\"0\"")],
        Some(&rows(&[(&c, "present")])),
    )
    .await;
    assert_eq!(other.status, 404, "{:?}", other.body);
    let read_other = send(
        &sys,
        Some(&trainer_token),
        "GET",
        &format!("/sessions/{other_session}/attendance"),
        &[],
        None,
    )
    .await;
    assert_eq!(read_other.status, 404, "{:?}", read_other.body);
    assert_eq!(before, sys.all_versions().await);

    // Signed off: the trainer may no longer change it; Ops Admin may.
    let tag = format!("\"{}\"", row(&signed.body, &a)["version"]);
    let late = send(
        &sys,
        Some(&trainer_token),
        "PUT",
        &format!("{uri}/{a}"),
        &[("if-match", &tag)],
        Some(&json!({"status": "late"})),
    )
    .await;
    assert_eq!(late.status, 403, "{:?}", late.body);
    let ops = send(
        &sys,
        Some(&ops_token),
        "PUT",
        &format!("{uri}/{a}"),
        &[("if-match", &tag)],
        Some(&json!({"status": "late", "reason": "corrected from the register"})),
    )
    .await;
    assert_eq!(ops.status, 200, "{:?}", ops.body);
    let mine = send(&sys, Some(&trainer_token), "GET", &uri, &[], None).await;
    assert_eq!(mine.status, 200, "{:?}", mine.body);
    assert_eq!(row(&mine.body, &a)["status"], "late");
}

/// A synced run (session ids fetched), two enrolments accepted, the
/// session recorded and signed off: (session, [enrolment; 2], NRICs).
async fn signed_off_session(sys: &TestSystem) -> (String, [String; 2]) {
    let (run, session, [a, b]) = session_with_two(sys, &run_body()).await;
    let uri = format!("/sessions/{session}/attendance");
    let recorded = put(
        sys,
        &uri,
        Some("\"0\""),
        &rows(&[(&a, "present"), (&b, "absent")]),
    )
    .await;
    assert_eq!(recorded.status, 200, "{:?}", recorded.body);
    let signed = sign_off(sys, &session, Some("\"1\"")).await;
    assert_eq!(signed.status, 200, "{:?}", signed.body);
    let _ = run;
    (session, [a, b])
}

async fn attendance_job(sys: &TestSystem, session: &str) -> Value {
    let r = sys
        .get(&format!(
            "/sync-jobs?entity_type=session_attendance&entity_id={session}&limit=100"
        ))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["items"][0].clone()
}

/// Sign-off sends one call per trainee once TPGateway has the run, the
/// session and each enrolment; a later change is uploaded again, and
/// TPGateway keeps one record per trainee and session.
async fn signed_off_attendance_reaches_tpgateway(sys: TestSystem) {
    let (session, [a, b]) = signed_off_session(&sys).await;
    sys.work().await;
    let uri = format!("/sessions/{session}/attendance");
    let sheet = sys.get(&uri).await;
    assert_eq!(
        row(&sheet.body, &a)["sync_status"],
        "accepted",
        "{:?}",
        sheet.body
    );
    assert_eq!(
        row(&sheet.body, &b)["sync_status"],
        "accepted",
        "{:?}",
        sheet.body
    );
    let fake = sys.fake().attendance();
    assert_eq!(fake.len(), 2, "one record per trainee");
    let mut codes: Vec<&str> = fake.iter().map(|f| f.status_code.as_str()).collect();
    codes.sort();
    assert_eq!(
        codes,
        ["1", "2"],
        "present is Confirmed, absent Unconfirmed"
    );
    let tpg_session = fake[0].session_id.clone();
    assert!(tpg_session.ends_with("-S1"), "{tpg_session}");
    assert_eq!(sys.fake().calls(Route::UploadAttendance), 2);
    assert!(sys
        .audit_actions("session_attendance", &session)
        .await
        .contains(&"attendance.synced".to_string()));

    // The absent trainee was there after all: one more upload.
    let tag = format!("\"{}\"", row(&sheet.body, &b)["version"]);
    let fixed = put(
        &sys,
        &format!("{uri}/{b}"),
        Some(&tag),
        &json!({"status": "present", "reason": "signed the paper register"}),
    )
    .await;
    assert_eq!(fixed.status, 200, "{:?}", fixed.body);
    sys.work().await;
    let fake = sys.fake().attendance();
    assert_eq!(fake.len(), 2, "still one record per trainee");
    assert!(fake.iter().all(|f| f.status_code == "1"));
    assert_eq!(
        sys.fake().calls(Route::UploadAttendance),
        3,
        "only the changed row"
    );
    let sheet = sys.get(&uri).await;
    assert_eq!(row(&sheet.body, &b)["sync_status"], "accepted");
}

/// TPGateway refuses one trainee: that row keeps the refusal, the other is
/// accepted, the job fails; a retry sends the refused row alone.
async fn a_refused_row_is_retried_alone(sys: TestSystem) {
    sys.fake().inject(
        Route::UploadAttendance,
        Fault::Validation {
            field: "course.attendance.trainee.email".into(),
            message: "is not accepted".into(),
        },
        1,
    );
    let (session, _) = signed_off_session(&sys).await;
    sys.work().await;
    let uri = format!("/sessions/{session}/attendance");
    let sheet = sys.get(&uri).await;
    let statuses: Vec<&str> = sheet.body["rows"]
        .as_array()
        .map(|r| r.iter().filter_map(|r| r["sync_status"].as_str()).collect())
        .unwrap_or_default();
    let mut sorted = statuses.clone();
    sorted.sort();
    assert_eq!(sorted, ["accepted", "failed"], "{:?}", sheet.body);
    let refused = sheet.body["rows"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["sync_status"] == "failed"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        refused["sync"]["error"]["details"][0]["field"],
        "course.attendance.trainee.email"
    );
    assert_eq!(sys.fake().attendance().len(), 1);
    let job = attendance_job(&sys, &session).await;
    assert_eq!(job["status"], "failed", "{job}");
    let calls = sys.fake().calls(Route::UploadAttendance);
    let retried = sys
        .call(
            "POST",
            &format!(
                "/sync-jobs/{}/retry",
                job["id"].as_str().unwrap_or_default()
            ),
            &[],
            None,
        )
        .await;
    assert_eq!(retried.status, 200, "{:?}", retried.body);
    sys.work().await;
    assert_eq!(
        sys.fake().calls(Route::UploadAttendance),
        calls + 1,
        "only the refused row is sent again"
    );
    let fake = sys.fake().attendance();
    assert_eq!(fake.len(), 2);
    assert!(fake.iter().all(|f| f.upload_count == 1), "{fake:?}");
    let sheet = sys.get(&uri).await;
    assert!(sheet.body["rows"]
        .as_array()
        .is_some_and(|r| r.iter().all(|r| r["sync_status"] == "accepted")));
}
