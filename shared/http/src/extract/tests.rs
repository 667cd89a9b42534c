use super::*;

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct T {
    a: Option<String>,
    n: Option<u32>,
    inner: Option<Vec<Inner>>,
}
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Inner {
    x: Option<String>,
}

fn field_of(body: &str) -> (u16, String) {
    field_of_bytes(body.as_bytes())
}

fn field_of_bytes(body: &[u8]) -> (u16, String) {
    match parse_json::<T>(body) {
        Ok(_) => (200, String::new()),
        Err(ApiError(p)) => (
            p.status,
            p.errors
                .first()
                .map(|e| e.field.clone())
                .unwrap_or_default(),
        ),
    }
}

#[test]
fn names_the_field() {
    assert_eq!(field_of("{\"a\": 5}"), (422, "a".into()));
    assert_eq!(field_of("{\"n\": -1}"), (422, "n".into()));
    assert_eq!(field_of("{\"n\": 1e400}"), (422, "n".into()));
    assert_eq!(field_of("{\"n\": 4294967296}"), (422, "n".into()));
    assert_eq!(field_of("{\"n\": 1.5}"), (422, "n".into()));
    assert_eq!(field_of("{\"zzz\": 1}"), (422, "zzz".into()));
    assert_eq!(field_of("{\"a\": \"x\", \"a\": \"y\"}"), (422, "a".into()));
    assert_eq!(
        field_of("{\"inner\": [{\"x\": \"1\", \"x\": \"2\"}]}"),
        (422, "inner[0].x".into())
    );
    assert_eq!(
        field_of("{\"inner\": [{\"x\": \"ok\"}, {\"y\": 1}]}"),
        (422, "inner[1].y".into())
    );
    assert_eq!(
        field_of("{\"inner\": [{\"x\": 1}]}"),
        (422, "inner[0].x".into())
    );
    assert_eq!(field_of("{\"a\": "), (400, "body".into()));
    assert_eq!(field_of("{} {}"), (400, "body".into()));
    assert_eq!(field_of_bytes(b"{\"a\": \"\xff\"}"), (400, "body".into()));
    assert_eq!(field_of("[]"), (422, "body".into()));
    assert_eq!(field_of("{}"), (200, String::new()));
}

#[test]
fn never_echoes_the_value() {
    let err = parse_json::<T>(b"{\"a\": 123456789}").err().map(|e| e.0);
    let p = err.expect("an error");
    let reason = &p.errors[0].reason;
    assert!(!reason.contains("123456789"), "{reason}");
    assert!(reason.contains("expected"), "{reason}");
}

#[test]
fn fingerprints_differ_by_body_and_path() {
    let a = fingerprint("POST", "/x", b"{}");
    assert_eq!(a, fingerprint("POST", "/x", b"{}"));
    assert_ne!(a, fingerprint("POST", "/y", b"{}"));
    assert_ne!(a, fingerprint("POST", "/x", b"{\"a\":1}"));
}

#[test]
fn if_match_forms() {
    let tags = |t: &[&str]| {
        Some(Precondition::Tags(
            t.iter().map(|s| s.to_string()).collect(),
        ))
    };
    assert_eq!(parse_if_match("*"), Some(Precondition::Any));
    assert_eq!(parse_if_match("\"1\""), tags(&["1"]));
    assert_eq!(parse_if_match(" \"1\" , \"2\" "), tags(&["1", "2"]));
    assert_eq!(parse_if_match("W/\"1\""), tags(&[]));
    assert_eq!(parse_if_match("W/\"1\", \"01\""), tags(&["01"]));
    for bad in [
        "1", "\"1", "1\"", "\"1\" x", "*, \"1\"", "\"a b\"", "", "w/\"1\"", "\"\"\"",
    ] {
        assert_eq!(parse_if_match(bad), None, "{bad:?}");
    }
    // `""` is a valid (empty) entity-tag; it matches no version.
    assert_eq!(parse_if_match("\"\""), tags(&[""]));
}

/// A fixed-budget fuzz of the body parser: random bytes and mutations of
/// valid bodies never panic, and every refusal is a 400 or 422 that names
/// a field. Deterministic (a fixed seed), so a failure reproduces.
#[test]
fn body_parser_fuzz_fixed_budget() {
    use tms_domain::course_run::{CourseRunInput, SessionInput};
    use tms_domain::patch::MergePatch;
    let seeds: [&[u8]; 4] = [
        br#"{"course_ref":"TGS-2020000697","title":"T","registration_opening":"2025-01-01","capacity":20,"venue":{"floor":"03"},"sessions":[{"session_date":"2025-01-15","start_time":"09:00"}]}"#,
        br#"{"a":[1,2.5,-3e10,true,null,{"b":"\u00e9\ud83d\ude00"}]}"#,
        b"{}",
        br#"{"title":"x","title":"y"}"#,
    ];
    let alphabet: &[u8] = b"{}[]\",:\\ 0123456789.eE+-truefalsn\x00\xff\xc3\xa9u";
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let budget = 20_000;
    let (mut ok, mut refused) = (0, 0);
    for i in 0..budget {
        let seed = seeds[i % seeds.len()];
        let mut body = seed.to_vec();
        let edits = 1 + (next() % 4) as usize;
        for _ in 0..edits {
            let r = next();
            let at = if body.is_empty() {
                0
            } else {
                (r as usize >> 8) % body.len()
            };
            let byte = alphabet[(r as usize >> 20) % alphabet.len()];
            match r % 4 {
                0 if !body.is_empty() => {
                    body.remove(at);
                }
                1 => body.insert(at, byte),
                2 if !body.is_empty() => body[at] = byte,
                _ => body.truncate(at),
            }
        }
        let check = |r: Result<(), ApiError>| match r {
            Ok(()) => true,
            Err(ApiError(p)) => {
                assert!(p.status == 400 || p.status == 422, "{p:?}");
                assert!(
                    !p.errors.is_empty(),
                    "no field named for {:?}",
                    String::from_utf8_lossy(&body)
                );
                assert!(
                    p.errors
                        .iter()
                        .all(|e| !e.field.is_empty() && !e.reason.is_empty()),
                    "{p:?}"
                );
                false
            }
        };
        if check(parse_json::<CourseRunInput>(&body).map(|_| ())) {
            ok += 1;
        } else {
            refused += 1;
        }
        check(parse_json::<SessionInput>(&body).map(|_| ()));
        check(parse_json::<MergePatch>(&body).map(|_| ()));
        check(parse_json::<Value>(&body).map(|_| ()));
    }
    assert_eq!(ok + refused, budget);
    assert!(
        refused > budget / 2,
        "the mutations should mostly break the body"
    );
}
