//! template.yaml against infra/resources.json: the table and the queues that
//! SAM deploys must be exactly the ones that `tms-infra` creates for the
//! tests and for LocalStack, so the two definitions cannot drift. Also pins
//! one function per Lambda crate (and back), the routes of each HTTP
//! function, the Rust/arm64 build of every function, the sync worker's event
//! source and its timings against the queue's, the sweeper's schedule, the
//! TPGateway secret (declared without a value), the signing-key secret
//! (generated, in a form the key parser accepts), who reads which secret,
//! the HTTP API's Lambda authorizer in front of every route but the public
//! ones, the alarms, every function's IAM grants (least privilege), that
//! every table write is limited by `dynamodb:LeadingKeys` to the keys the
//! code builds (tms_app::keys), and the append-only IAM guard on audit
//! records. No network.
//!
//! The template is parsed with serde_yaml; CloudFormation short tags (`!Ref`,
//! `!GetAtt`, `!Sub`, `!If`, ...) arrive as tagged values and are turned into
//! their long JSON form (`{"Ref": ..}`, `{"Fn::GetAtt": [..]}`) first, so the
//! assertions below compare plain `serde_json::Value`s.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// The HTTP functions of the template and the resources each one mounts
/// (their `main.rs` passes `Resource::X.mount_fn()` to
/// `tms_runtime::serve_http_lambda`). The routes
/// themselves come from the routers' declarations, not from a list here.
pub(crate) const HTTP_FUNCTIONS: &[(&str, tms_http::Resource)] = &[
    ("CourseRunsFunction", tms_http::Resource::CourseRuns),
    ("AuditLogsFunction", tms_http::Resource::AuditLogs),
    ("SyncJobsFunction", tms_http::Resource::SyncJobs),
    ("UsersFunction", tms_http::Resource::Users),
    ("AuthFunction", tms_http::Resource::Auth),
    ("TrainersFunction", tms_http::Resource::Trainers),
    ("TraineesFunction", tms_http::Resource::Trainees),
    ("EnrolmentsFunction", tms_http::Resource::Enrolments),
    ("AttendanceFunction", tms_http::Resource::Attendance),
    ("AssessmentsFunction", tms_http::Resource::Assessments),
];

/// The binaries of the Lambdas that are not HTTP functions.
const SYNC_WORKER_BINARY: &str = "sync-worker";
const SYNC_SWEEPER_BINARY: &str = "sync-sweeper";

/// The HTTP API's Lambda authorizer, and the function that signs tokens.
const AUTHORIZER_BINARY: &str = "authorizer";
const AUTH_BINARY: &str = "auth";
/// The functions that hash or verify passwords (argon2id, 19 MiB).
const PASSWORD_BINARIES: [&str; 2] = ["users", AUTH_BINARY];

/// The TPGateway connection, read by the sync worker alone.
const TPGATEWAY_SECRET: &str = "TpGatewaySecret";
/// The access-token signing key, read by the auth function (signs) and the
/// authorizer (checks) alone.
const AUTH_SECRET: &str = "AuthSecret";
/// The keys that protect national ids: sealed by the trainees function,
/// opened by the sync worker (for TPGateway payloads) alone.
const PII_SECRET: &str = "PiiSecret";
const TRAINEES_BINARY: &str = "trainees";

/// Every secret of the template, the variable that names it to a function,
/// and the binaries of the functions that may read it (no other may).
const SECRET_READERS: [(&str, &str, &[&str]); 3] = [
    (
        TPGATEWAY_SECRET,
        "TMS_TPGATEWAY_SECRET_ID",
        &[SYNC_WORKER_BINARY],
    ),
    (
        AUTH_SECRET,
        "TMS_AUTH_SECRET_ID",
        &[AUTH_BINARY, AUTHORIZER_BINARY],
    ),
    (
        PII_SECRET,
        "TMS_PII_SECRET_ID",
        &[TRAINEES_BINARY, SYNC_WORKER_BINARY],
    ),
];

/// The HTTP API: every route event is on it.
const HTTP_API: &str = "TmsHttpApi";

/// The (method, path) pairs a resource's router declares.
pub(crate) fn declared_routes(resource: tms_http::Resource) -> BTreeSet<(String, String)> {
    tms_http::route_docs(&[resource])
        .into_iter()
        .map(|d| (d.method.to_string(), d.path.to_string()))
        .collect()
}

/// The leading-key prefix of audit records, denied to UpdateItem/DeleteItem.
const AUDIT_LEADING_KEY_PATTERN: &str = "AUDIT#*";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The template, with short tags turned into long-form intrinsics.
fn template() -> Value {
    let path = repo_root().join("template.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()));
    to_json(&yaml)
}

fn resources() -> tms_infra::Resources {
    tms_infra::resources().expect("infra/resources.json parses")
}

/// Converts YAML to JSON, turning CloudFormation short tags into their long
/// form: `!Ref X` -> `{"Ref": "X"}`, `!GetAtt A.B` -> `{"Fn::GetAtt": ["A",
/// "B"]}`, `!Condition C` -> `{"Condition": "C"}`, `!Sub ..`, `!If ..`, ...
/// -> `{"Fn::Sub": ..}`, `{"Fn::If": ..}`.
fn to_json(v: &serde_yaml::Value) -> Value {
    use serde_yaml::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(*b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else if let Some(u) = n.as_u64() {
                json!(u)
            } else {
                json!(n.as_f64())
            }
        }
        Y::String(s) => Value::String(s.clone()),
        Y::Sequence(items) => Value::Array(items.iter().map(to_json).collect()),
        Y::Mapping(m) => {
            let mut out = serde_json::Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s.clone(),
                    other => serde_yaml::to_string(other)
                        .expect("a YAML key serializes")
                        .trim()
                        .to_string(),
                };
                out.insert(key, to_json(v));
            }
            Value::Object(out)
        }
        Y::Tagged(t) => {
            let tag = t.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = to_json(&t.value);
            match name {
                "Ref" | "Condition" => json!({ name: inner }),
                "GetAtt" => {
                    let parts = match inner {
                        Value::String(s) => match s.split_once('.') {
                            Some((res, attr)) => json!([res, attr]),
                            None => json!([s]),
                        },
                        other => other,
                    };
                    json!({ "Fn::GetAtt": parts })
                }
                other => json!({ format!("Fn::{other}"): inner }),
            }
        }
    }
}

/// Follows a path of object keys, panicking with the path on a miss.
fn at<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    let mut cur = v;
    for (i, key) in path.iter().enumerate() {
        cur = cur.get(key).unwrap_or_else(|| {
            panic!(
                "template.yaml: missing `{}` (looking for {})",
                path[..=i].join("."),
                path.join(".")
            )
        });
    }
    cur
}

/// A resource of the template, checking its type.
fn resource<'a>(t: &'a Value, logical_id: &str, expected_type: &str) -> &'a Value {
    let r = at(t, &["Resources", logical_id]);
    assert_eq!(
        at(r, &["Type"]),
        expected_type,
        "{logical_id} has the wrong type"
    );
    r
}

/// An integer that CloudFormation would accept: a number or a numeric string.
fn int(v: &Value, what: &str) -> u64 {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .unwrap_or_else(|| panic!("{what}: expected an integer, got {v}"))
}

/// A boolean that CloudFormation would accept: true/false or "true"/"false".
fn boolean(v: &Value, what: &str) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) if s.eq_ignore_ascii_case("true") => true,
        Value::String(s) if s.eq_ignore_ascii_case("false") => false,
        _ => panic!("{what}: expected a boolean, got {v}"),
    }
}

fn string<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str()
        .unwrap_or_else(|| panic!("{what}: expected a string, got {v}"))
}

fn array<'a>(v: &'a Value, what: &str) -> &'a Vec<Value> {
    v.as_array()
        .unwrap_or_else(|| panic!("{what}: expected a list, got {v}"))
}

/// A key schema as (attribute, key type) pairs, in order.
fn key_schema(v: &Value, what: &str) -> Vec<(String, String)> {
    array(v, what)
        .iter()
        .map(|k| {
            (
                string(at(k, &["AttributeName"]), what).to_string(),
                string(at(k, &["KeyType"]), what).to_string(),
            )
        })
        .collect()
}

fn hash_range(pk: &str, sk: &str) -> Vec<(String, String)> {
    vec![
        (pk.to_string(), "HASH".to_string()),
        (sk.to_string(), "RANGE".to_string()),
    ]
}

/// The serverless functions of the template, by logical id.
fn functions(t: &Value) -> BTreeMap<String, Value> {
    at(t, &["Resources"])
        .as_object()
        .expect("Resources is a map")
        .iter()
        .filter(|(_, r)| r.get("Type") == Some(&json!("AWS::Serverless::Function")))
        .map(|(id, r)| (id.clone(), r.clone()))
        .collect()
}

/// A function property, falling back to Globals.Function.
fn fn_prop<'a>(t: &'a Value, f: &'a Value, name: &str) -> Option<&'a Value> {
    f.get("Properties")
        .and_then(|p| p.get(name))
        .or_else(|| t.get("Globals")?.get("Function")?.get(name))
}

/// Strings, or a single string, as a list (IAM accepts both).
fn one_or_many(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    }
}

#[test]
fn template_parses_with_short_tags() {
    let t = template();
    assert_eq!(at(&t, &["Transform"]), "AWS::Serverless-2016-10-31");
    // The short tags came through as long-form intrinsics.
    assert_eq!(
        at(
            &t,
            &[
                "Globals",
                "Function",
                "Environment",
                "Variables",
                "TMS_TABLE_NAME"
            ]
        ),
        &json!({ "Ref": "TmsTable" })
    );
    let converted = to_json(&serde_yaml::from_str("a: !GetAtt Q.Arn\nb: !If [C, 1, 2]").unwrap());
    assert_eq!(
        converted,
        json!({ "a": { "Fn::GetAtt": ["Q", "Arn"] }, "b": { "Fn::If": ["C", 1, 2] } })
    );
}

#[test]
fn table_matches_resources_json() {
    let t = template();
    let def = resources().table;
    let table = resource(&t, "TmsTable", "AWS::DynamoDB::Table");
    let p = at(table, &["Properties"]);

    assert_eq!(at(table, &["DeletionPolicy"]), "Retain");
    assert_eq!(at(table, &["UpdateReplacePolicy"]), "Retain");
    // tms-infra creates the table on demand (BillingMode::PayPerRequest).
    assert_eq!(at(p, &["BillingMode"]), "PAY_PER_REQUEST");
    assert!(
        p.get("ProvisionedThroughput").is_none(),
        "an on-demand table has no ProvisionedThroughput"
    );

    assert_eq!(
        key_schema(at(p, &["KeySchema"]), "TmsTable.KeySchema"),
        hash_range(&def.partition_key, &def.sort_key),
        "table key schema"
    );

    // Exactly the key attributes, all strings (tms-infra uses S for all).
    let mut expected_attrs: BTreeMap<String, String> = BTreeMap::new();
    expected_attrs.insert(def.partition_key.clone(), "S".into());
    expected_attrs.insert(def.sort_key.clone(), "S".into());
    for g in &def.global_secondary_indexes {
        expected_attrs.insert(g.partition_key.clone(), "S".into());
        expected_attrs.insert(g.sort_key.clone(), "S".into());
    }
    let attr_list = array(at(p, &["AttributeDefinitions"]), "AttributeDefinitions");
    let attrs: BTreeMap<String, String> = attr_list
        .iter()
        .map(|a| {
            (
                string(at(a, &["AttributeName"]), "AttributeName").to_string(),
                string(at(a, &["AttributeType"]), "AttributeType").to_string(),
            )
        })
        .collect();
    assert_eq!(
        attr_list.len(),
        attrs.len(),
        "duplicate attribute definitions"
    );
    assert_eq!(attrs, expected_attrs, "attribute definitions");

    // The GSIs: same names in the same order, same keys, projection ALL.
    let gsis = array(at(p, &["GlobalSecondaryIndexes"]), "GlobalSecondaryIndexes");
    let names: Vec<&str> = gsis
        .iter()
        .map(|g| string(at(g, &["IndexName"]), "IndexName"))
        .collect();
    let expected_names: Vec<&str> = def
        .global_secondary_indexes
        .iter()
        .map(|g| g.name.as_str())
        .collect();
    assert_eq!(names, expected_names, "GSI names");
    for (g, d) in gsis.iter().zip(&def.global_secondary_indexes) {
        assert_eq!(
            key_schema(at(g, &["KeySchema"]), &d.name),
            hash_range(&d.partition_key, &d.sort_key),
            "{} key schema",
            d.name
        );
        assert_eq!(
            at(g, &["Projection", "ProjectionType"]),
            &json!(d.projection),
            "{} projection",
            d.name
        );
        assert!(
            g["Projection"].get("NonKeyAttributes").is_none(),
            "{}: projection ALL takes no NonKeyAttributes",
            d.name
        );
        assert!(
            g.get("ProvisionedThroughput").is_none(),
            "{}: on-demand",
            d.name
        );
    }
    assert!(
        p.get("LocalSecondaryIndexes").is_none(),
        "resources.json declares no LSI"
    );

    let ttl = at(p, &["TimeToLiveSpecification"]);
    assert_eq!(at(ttl, &["AttributeName"]), &json!(def.ttl_attribute));
    assert!(boolean(at(ttl, &["Enabled"]), "TTL Enabled"));

    assert!(boolean(
        at(
            p,
            &[
                "PointInTimeRecoverySpecification",
                "PointInTimeRecoveryEnabled"
            ]
        ),
        "PITR"
    ));
    assert!(boolean(at(p, &["SSESpecification", "SSEEnabled"]), "SSE"));
}

#[test]
fn queues_match_resources_json() {
    let t = template();
    let res = resources();
    let q = &res.sync_queue;

    let main = resource(&t, "SyncQueue", "AWS::SQS::Queue");
    let mp = at(main, &["Properties"]);
    assert_eq!(
        int(at(mp, &["VisibilityTimeout"]), "VisibilityTimeout"),
        u64::from(q.visibility_timeout_seconds)
    );
    assert_eq!(
        int(
            at(mp, &["MessageRetentionPeriod"]),
            "MessageRetentionPeriod"
        ),
        u64::from(q.message_retention_seconds)
    );
    assert_eq!(
        int(
            at(mp, &["ReceiveMessageWaitTimeSeconds"]),
            "ReceiveMessageWaitTimeSeconds"
        ),
        u64::from(q.receive_message_wait_time_seconds)
    );
    assert!(boolean(at(mp, &["SqsManagedSseEnabled"]), "SyncQueue SSE"));
    let redrive = at(mp, &["RedrivePolicy"]);
    assert_eq!(
        int(at(redrive, &["maxReceiveCount"]), "maxReceiveCount"),
        u64::from(q.max_receive_count)
    );
    assert_eq!(
        at(redrive, &["deadLetterTargetArn"]),
        &json!({ "Fn::GetAtt": ["SyncDeadLetterQueue", "Arn"] })
    );

    let dlq = resource(&t, "SyncDeadLetterQueue", "AWS::SQS::Queue");
    let dp = at(dlq, &["Properties"]);
    assert_eq!(
        int(
            at(dp, &["MessageRetentionPeriod"]),
            "DLQ MessageRetentionPeriod"
        ),
        u64::from(res.sync_dlq.message_retention_seconds)
    );
    assert!(boolean(
        at(dp, &["SqsManagedSseEnabled"]),
        "SyncDeadLetterQueue SSE"
    ));
    assert!(
        dp.get("RedrivePolicy").is_none(),
        "the DLQ itself has no redrive policy"
    );
    // A message keeps its first enqueue time in a standard DLQ, so the DLQ
    // must keep messages longer than the source queue.
    assert!(res.sync_dlq.message_retention_seconds > q.message_retention_seconds);

    // Redrive allow policy: byQueue, only the sync queue (named through its
    // fixed QueueName to avoid a circular reference).
    let allow = at(dp, &["RedriveAllowPolicy"]);
    assert_eq!(at(allow, &["redrivePermission"]), "byQueue");
    let sources = array(at(allow, &["sourceQueueArns"]), "sourceQueueArns");
    assert_eq!(sources.len(), 1, "only the sync queue may use the DLQ");
    let source = &sources[0];
    if source != &json!({ "Fn::GetAtt": ["SyncQueue", "Arn"] }) {
        let main_name = string(
            at(mp, &["QueueName", "Fn::Sub"]),
            "SyncQueue.QueueName (a !Sub)",
        );
        let arn = string(at(source, &["Fn::Sub"]), "sourceQueueArns[0] (a !Sub)");
        assert_eq!(
            arn,
            format!("arn:${{AWS::Partition}}:sqs:${{AWS::Region}}:${{AWS::AccountId}}:{main_name}"),
            "the DLQ's redrive allow policy must name SyncQueue"
        );
    }
}

/// Each HTTP function's API events are exactly the routes its router
/// declares, and every declared route belongs to one function.
#[test]
fn http_function_events_are_their_routers_routes() {
    let t = template();
    let mut all_declared = BTreeSet::new();
    for (function, resource) in HTTP_FUNCTIONS {
        let f = resource_of(&t, function);
        let events = at(f, &["Properties", "Events"])
            .as_object()
            .expect("Events is a map");
        let mut in_template = BTreeSet::new();
        for (name, e) in events {
            assert_eq!(at(e, &["Type"]), "HttpApi", "{function} event {name}");
            let p = at(e, &["Properties"]);
            assert_eq!(
                at(p, &["ApiId"]),
                &json!({ "Ref": "TmsHttpApi" }),
                "event {name} must be on the TMS HTTP API"
            );
            let route = (
                string(at(p, &["Method"]), "Method").to_ascii_uppercase(),
                string(at(p, &["Path"]), "Path").to_string(),
            );
            assert!(
                in_template.insert(route.clone()),
                "{function}: route {route:?} declared twice"
            );
        }
        let declared = declared_routes(*resource);
        assert_eq!(
            in_template, declared,
            "{function}: template events vs router"
        );
        for r in declared {
            assert!(
                all_declared.insert(r.clone()),
                "{r:?} is served by two functions"
            );
        }
    }
    let every: BTreeSet<_> = tms_http::route_docs(&tms_http::Resource::ALL)
        .into_iter()
        .map(|d| (d.method.to_string(), d.path.to_string()))
        .collect();
    assert_eq!(all_declared, every, "every route has a function");
}

fn resource_of<'a>(t: &'a Value, function: &str) -> &'a Value {
    resource(t, function, "AWS::Serverless::Function")
}

#[test]
fn every_function_is_rust_on_arm64_with_its_own_log_group() {
    let t = template();
    let fns = functions(&t);
    assert!(fns.contains_key("CourseRunsFunction"));
    let crate_manifests: Vec<String> = std::fs::read_dir(repo_root().join("functions"))
        .expect("functions/ exists")
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("Cargo.toml")).ok())
        .collect();
    let resources = at(&t, &["Resources"]).as_object().unwrap();

    for (id, f) in &fns {
        let prop = |name: &str| {
            fn_prop(&t, f, name).unwrap_or_else(|| panic!("{id}: no {name} (nor in Globals)"))
        };
        assert_eq!(prop("Runtime"), "provided.al2023", "{id} runtime");
        assert_eq!(
            prop("Architectures"),
            &json!(["arm64"]),
            "{id} architecture"
        );
        assert_eq!(prop("Handler"), "bootstrap", "{id} handler");
        assert_eq!(prop("Tracing"), "Active", "{id} tracing");
        // DESIGN §9: the workspace root, not the crate (aws-sam-cli #6877).
        assert_eq!(prop("CodeUri"), ".", "{id} CodeUri");
        assert_eq!(
            at(f, &["Metadata", "BuildMethod"]),
            "rust-cargolambda",
            "{id} build method"
        );
        let binary = string(
            at(f, &["Metadata", "BuildProperties", "Binary"]),
            "BuildProperties.Binary",
        );
        let bin_decl = format!("name = \"{binary}\"");
        assert!(
            crate_manifests.iter().any(|m| m.contains(&bin_decl)),
            "{id}: no crate under functions/ declares the binary `{binary}`"
        );

        // An explicit log group with the retention parameter.
        let log_group = resources
            .values()
            .find(|r| {
                r.get("Type") == Some(&json!("AWS::Logs::LogGroup"))
                    && r["Properties"].get("LogGroupName")
                        == Some(&json!({ "Fn::Sub": format!("/aws/lambda/${{{id}}}") }))
            })
            .unwrap_or_else(|| panic!("{id}: no AWS::Logs::LogGroup /aws/lambda/${{{id}}}"));
        assert_eq!(
            at(log_group, &["Properties", "RetentionInDays"]),
            &json!({ "Ref": "LogRetentionDays" }),
            "{id}: log retention"
        );
    }
}

#[test]
fn functions_point_at_the_declared_resources() {
    let t = template();
    let env = at(&t, &["Globals", "Function", "Environment", "Variables"]);
    assert_eq!(at(env, &["TMS_ENGINE"]), "aws");
    assert_eq!(at(env, &["TMS_TABLE_NAME"]), &json!({ "Ref": "TmsTable" }));
    assert_eq!(
        at(env, &["TMS_SYNC_QUEUE_URL"]),
        &json!({ "Ref": "SyncQueue" })
    );
    assert_eq!(
        at(env, &["TMS_SYNC_DLQ_URL"]),
        &json!({ "Ref": "SyncDeadLetterQueue" })
    );
    assert!(env.get("RUST_LOG").is_some());
    for output in [
        "ApiUrl",
        "TableName",
        "TableArn",
        "SyncQueueUrl",
        "SyncQueueArn",
        "SyncDeadLetterQueueUrl",
        "SyncDeadLetterQueueArn",
        "TpGatewaySecretArn",
        "AuthSecretArn",
        "PiiSecretArn",
    ] {
        at(&t, &["Outputs", output, "Value"]);
    }
}

#[test]
fn every_function_denies_changing_audit_records() {
    let t = template();
    let table_arn = json!({ "Fn::GetAtt": ["TmsTable", "Arn"] });
    for (id, f) in functions(&t) {
        let policies = array(at(&f, &["Properties", "Policies"]), "Policies");
        let statements: Vec<Value> = policies
            .iter()
            .filter_map(|p| p.get("Statement"))
            .flat_map(one_or_many)
            .collect();
        let deny = statements
            .iter()
            .find(|s| {
                s.get("Effect") == Some(&json!("Deny"))
                    && s.get("Condition")
                        .and_then(|c| c.get("ForAnyValue:StringLike"))
                        .and_then(|c| c.get("dynamodb:LeadingKeys"))
                        .map(one_or_many)
                        .is_some_and(|keys| keys.contains(&json!(AUDIT_LEADING_KEY_PATTERN)))
            })
            .unwrap_or_else(|| {
                panic!("{id}: no Deny on dynamodb:LeadingKeys {AUDIT_LEADING_KEY_PATTERN}")
            });
        let actions = one_or_many(at(deny, &["Action"]));
        for action in [
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:BatchWriteItem",
        ] {
            assert!(
                actions.contains(&json!(action)),
                "{id}: the audit Deny must cover {action}"
            );
        }
        // Audit records are written with PutItem inside the transaction.
        assert!(
            !actions.contains(&json!("dynamodb:PutItem")),
            "{id}: denying PutItem on audit keys would forbid writing audit records"
        );
        assert!(
            one_or_many(at(deny, &["Resource"])).contains(&table_arn),
            "{id}: the audit Deny must apply to the table"
        );

        // No wildcard grants: no action pattern, and no resource pattern
        // but the table's indexes.
        for s in &statements {
            if s.get("Effect") == Some(&json!("Allow")) {
                for a in one_or_many(at(s, &["Action"])) {
                    let a = string(&a, "Action");
                    assert!(!a.contains('*'), "{id}: wildcard action {a}");
                }
                for r in one_or_many(at(s, &["Resource"])) {
                    assert!(
                        !r.to_string().contains('*') || r == table_indexes_arn(),
                        "{id}: wildcard resource {r}"
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Functions and the crates under functions/.

/// A crate under functions/ that builds a Lambda (it depends on
/// `lambda_http` or `lambda_runtime`; `tms-local` does neither).
#[derive(Debug)]
struct LambdaCrate {
    dir: String,
    binary: String,
    http: bool,
    main_rs: String,
}

/// The `[[bin]]` name of a manifest.
fn bin_name(manifest: &str) -> Option<String> {
    let mut in_bin = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin {
            if let Some(v) = line.strip_prefix("name") {
                let v = v.trim_start().strip_prefix('=')?.trim();
                return Some(v.trim_matches('"').to_string());
            }
        }
    }
    None
}

fn depends_on(manifest: &str, dep: &str) -> bool {
    manifest.lines().any(|l| {
        let l = l.trim_start();
        l.strip_prefix(dep)
            .is_some_and(|rest| rest.starts_with('.') || rest.trim_start().starts_with('='))
    })
}

fn lambda_crates() -> Vec<LambdaCrate> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(repo_root().join("functions")).expect("functions/ exists") {
        let dir = entry.expect("a functions/ entry").path();
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        let http = depends_on(&manifest, "lambda_http");
        if !http && !depends_on(&manifest, "lambda_runtime") {
            continue;
        }
        let binary =
            bin_name(&manifest).unwrap_or_else(|| panic!("{}: no [[bin]] name", dir.display()));
        let main_rs = std::fs::read_to_string(dir.join("src/main.rs"))
            .unwrap_or_else(|e| panic!("{}/src/main.rs: {e}", dir.display()));
        out.push(LambdaCrate {
            dir: dir.display().to_string(),
            binary,
            http,
            main_rs,
        });
    }
    out
}

fn binary_of<'a>(id: &str, f: &'a Value) -> &'a str {
    string(
        at(f, &["Metadata", "BuildProperties", "Binary"]),
        &format!("{id}: BuildProperties.Binary"),
    )
}

/// The template's function building `binary`: (logical id, resource).
fn function_by_binary(t: &Value, binary: &str) -> (String, Value) {
    let mut found: Vec<(String, Value)> = functions(t)
        .into_iter()
        .filter(|(id, f)| binary_of(id, f) == binary)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "exactly one function must build the binary `{binary}`"
    );
    found.remove(0)
}

/// The function's environment: Globals' variables, then its own (SAM merges
/// the two maps, the function's winning).
fn function_env(t: &Value, f: &Value) -> serde_json::Map<String, Value> {
    let mut env = t
        .pointer("/Globals/Function/Environment/Variables")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(own) = f
        .pointer("/Properties/Environment/Variables")
        .and_then(Value::as_object)
    {
        env.extend(own.clone());
    }
    env
}

/// The `Resource::X` names a main.rs mentions.
fn mounted_resources(main_rs: &str) -> BTreeSet<String> {
    main_rs
        .split("Resource::")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

/// One template function per Lambda crate and back; the HTTP functions are
/// exactly the `lambda_http` crates, each mounting the resource
/// HTTP_FUNCTIONS says; the others have no API events.
#[test]
fn every_lambda_crate_has_one_function_and_back() {
    let t = template();
    let fns = functions(&t);
    let crates = lambda_crates();
    assert!(
        crates.len() >= 9,
        "expected the nine Lambda crates, found {crates:?}"
    );

    let template_binaries: BTreeMap<String, String> = fns
        .iter()
        .map(|(id, f)| (binary_of(id, f).to_string(), id.clone()))
        .collect();
    assert_eq!(
        template_binaries.len(),
        fns.len(),
        "two functions build the same binary"
    );
    let crate_binaries: BTreeSet<String> = crates.iter().map(|c| c.binary.clone()).collect();
    assert_eq!(
        template_binaries.keys().cloned().collect::<BTreeSet<_>>(),
        crate_binaries,
        "template functions vs Lambda crates under functions/ (by binary)"
    );

    let http_ids: BTreeSet<&str> = HTTP_FUNCTIONS.iter().map(|(id, _)| *id).collect();
    for c in &crates {
        let id = &template_binaries[&c.binary];
        assert_eq!(
            c.http,
            http_ids.contains(id.as_str()),
            "{id} ({}): a lambda_http crate is an HTTP function in HTTP_FUNCTIONS, and only it",
            c.dir
        );
        if let Some((_, resource)) = HTTP_FUNCTIONS.iter().find(|(f, _)| f == id) {
            assert_eq!(
                mounted_resources(&c.main_rs),
                BTreeSet::from([format!("{resource:?}")]),
                "{id}: its main.rs must mount exactly Resource::{resource:?}"
            );
        } else {
            let events = fns[id]
                .pointer("/Properties/Events")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            for (name, e) in events {
                let ty = string(at(&e, &["Type"]), "event Type");
                assert!(
                    ty != "HttpApi" && ty != "Api",
                    "{id} is not an HTTP function but has the API event {name}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The sync worker, the sweeper, the secret, the alarms.

/// A resource list entry as a short name: `X` for `!GetAtt X.Arn` and `!Ref
/// X`, `TmsTable/index/..` for `!Sub ${TmsTable.Arn}/index/..`.
fn resource_name(r: &Value) -> String {
    if let Some([res, attr]) = r
        .get("Fn::GetAtt")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        if attr == "Arn" {
            return string(res, "GetAtt resource").to_string();
        }
    }
    if let Some(name) = r.get("Ref").and_then(Value::as_str) {
        return name.to_string();
    }
    if let Some(index) = r
        .get("Fn::Sub")
        .and_then(Value::as_str)
        .and_then(|s| s.strip_prefix("${TmsTable.Arn}/index/"))
    {
        return format!("TmsTable/index/{index}");
    }
    panic!("unexpected IAM resource {r}")
}

fn table_indexes_arn() -> Value {
    json!({ "Fn::Sub": "${TmsTable.Arn}/index/*" })
}

fn statements_of(id: &str, f: &Value) -> Vec<Value> {
    let policies = array(at(f, &["Properties", "Policies"]), "Policies");
    for p in policies {
        // SAM policy templates and managed policy names grant what their
        // definition says, often on more than one resource: only inline
        // documents, whose every grant is checked here.
        assert!(
            p.get("Statement").is_some() && p.get("Version").is_some(),
            "{id}: every policy must be an inline document, not {p}"
        );
    }
    policies
        .iter()
        .filter_map(|p| p.get("Statement"))
        .flat_map(one_or_many)
        .collect()
}

/// A function's Allow grants as (action, resource) pairs; a resource under
/// a `dynamodb:LeadingKeys` condition is written `Resource[pattern,..]`.
fn grants(id: &str, f: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for s in statements_of(id, f) {
        if s.get("Effect") != Some(&json!("Allow")) {
            continue;
        }
        let suffix = match s.get("Condition") {
            None => String::new(),
            Some(c) => {
                let keys = c
                    .pointer("/ForAllValues:StringLike/dynamodb:LeadingKeys")
                    .unwrap_or_else(|| panic!("{id}: unexpected Allow condition {c}"));
                assert_eq!(
                    c.as_object().map(|o| o.len()),
                    Some(1),
                    "{id}: one condition operator"
                );
                let keys: Vec<String> = one_or_many(keys)
                    .iter()
                    .map(|k| string(k, "LeadingKeys").to_string())
                    .collect();
                format!("[{}]", keys.join(","))
            }
        };
        for a in one_or_many(at(&s, &["Action"])) {
            for r in one_or_many(at(&s, &["Resource"])) {
                out.insert((
                    string(&a, "Action").to_string(),
                    format!("{}{suffix}", resource_name(&r)),
                ));
            }
        }
    }
    out
}

/// Every function's grants, exactly: least privilege is pinned here, so a
/// grant added to the template must be added here too, on purpose.
#[test]
fn function_grants_are_exactly_what_the_code_calls() {
    type Spec = &'static [(&'static [&'static str], &'static [&'static str])];
    let expected: &[(&str, Spec)] = &[
        (
            // Reads runs, sessions, listings and idempotency records; puts
            // runs and sessions (the run's partition), audit records, sync
            // jobs and idempotency records (in transactions); deletes
            // sessions (the run's partition); checks nothing else.
            "CourseRunsFunction",
            &[
                (
                    &["dynamodb:GetItem", "dynamodb:Query"],
                    &["TmsTable", "TmsTable/index/*"],
                ),
                (
                    &["dynamodb:PutItem"],
                    &["TmsTable[RUN#*,AUDIT#*,SYNCJOB#*,IDEMPOTENCY#*]"],
                ),
                (&["dynamodb:DeleteItem"], &["TmsTable[RUN#*]"]),
                (&["sqs:SendMessage"], &["SyncQueue"]),
            ],
        ),
        // Reads only: no write action at all.
        (
            "AuditLogsFunction",
            &[(
                &["dynamodb:Query"],
                &["TmsTable", "TmsTable/index/GSI1", "TmsTable/index/GSI2"],
            )],
        ),
        (
            // Reads, a retry (job + audit record in one transaction, then
            // SendMessage), a redrive (ReceiveMessage on the DLQ,
            // SendMessageBatch to the queue, DeleteMessageBatch on the DLQ).
            "SyncJobsFunction",
            &[
                (
                    &["dynamodb:GetItem", "dynamodb:Query"],
                    &["TmsTable", "TmsTable/index/*"],
                ),
                (&["dynamodb:PutItem"], &["TmsTable[SYNCJOB#*,AUDIT#*]"]),
                (&["sqs:SendMessage"], &["SyncQueue"]),
                (
                    &["sqs:ReceiveMessage", "sqs:DeleteMessage"],
                    &["SyncDeadLetterQueue"],
                ),
            ],
        ),
        (
            // Reads jobs, locks, run partitions and an entity's jobs; puts
            // the job and its lock (the claim), runs and sessions, audit
            // records and follow-up jobs (the outcome); deletes the lock
            // only.
            "SyncWorkerFunction",
            &[
                (
                    &["dynamodb:GetItem", "dynamodb:Query"],
                    &["TmsTable", "TmsTable/index/*"],
                ),
                (
                    &["dynamodb:PutItem"],
                    &["TmsTable[RUN#*,ENROLMENT#*,SESSION#*,ASSESSMENT#*,SYNCJOB#*,SYNCLOCK#*,AUDIT#*]"],
                ),
                (&["dynamodb:DeleteItem"], &["TmsTable[SYNCLOCK#*]"]),
                (
                    &[
                        "sqs:ReceiveMessage",
                        "sqs:DeleteMessage",
                        "sqs:ChangeMessageVisibility",
                        "sqs:GetQueueAttributes",
                        "sqs:SendMessage",
                    ],
                    &["SyncQueue"],
                ),
                (
                    &["secretsmanager:GetSecretValue"],
                    &[TPGATEWAY_SECRET, PII_SECRET],
                ),
            ],
        ),
        (
            "SyncSweeperFunction",
            &[
                (&["dynamodb:Query"], &["TmsTable/index/GSI3"]),
                (&["dynamodb:PutItem"], &["TmsTable[SYNCJOB#*]"]),
                (&["sqs:SendMessage"], &["SyncQueue"]),
            ],
        ),
        (
            // Reads a user, an e-mail guard, an idempotency record; lists
            // users on GSI1; puts users, e-mail guards, audit and
            // idempotency records (in transactions), nothing else.
            "UsersFunction",
            &[
                (&["dynamodb:GetItem"], &["TmsTable"]),
                (&["dynamodb:Query"], &["TmsTable/index/GSI1"]),
                (
                    &["dynamodb:PutItem"],
                    &["TmsTable[USER#*,EMAIL#*,AUDIT#*,IDEMPOTENCY#*]"],
                ),
            ],
        ),
        (
            // Reads a trainer, an idempotency record; lists trainers on
            // GSI1 (all) and GSI2 (by status); puts trainers, user link
            // guards, audit and idempotency records (in transactions);
            // deletes a link guard when relinked; checks that a linked
            // user exists; no queue, no secret.
            // Reads a trainee, an idempotency record, the actor's trainer
            // link; lists trainees (GSI1) and, for a Trainer, their
            // sessions and runs' enrolments (GSI1) and a trainee's
            // enrolments (GSI2); puts trainees, national-id guards, audit
            // and idempotency records; deletes a moved guard; reads the
            // national-id keys.
            "EnrolmentsFunction",
            &[
                (&["dynamodb:GetItem"], &["TmsTable"]),
                (
                    &["dynamodb:Query"],
                    &[
                        "TmsTable/index/GSI1",
                        "TmsTable/index/GSI2",
                        "TmsTable/index/GSI3",
                    ],
                ),
                (
                    &["dynamodb:PutItem"],
                    &["TmsTable[ENROLMENT#*,ENROLLED#*,AUDIT#*,SYNCJOB#*,IDEMPOTENCY#*]"],
                ),
                (&["dynamodb:DeleteItem"], &["TmsTable[ENROLLED#*]"]),
                (
                    &["dynamodb:ConditionCheckItem"],
                    &["TmsTable[RUN#*,TRAINEE#*]"],
                ),
                (&["sqs:SendMessage"], &["SyncQueue"]),
            ],
        ),
        (
            // Reads a session (GSI2), its sheet and rows (the table), a
            // run, an enrolment, an idempotency record, the actor's trainer
            // link, a run's active enrolments (GSI3); puts rows, the
            // sheet, audit records, sync jobs and idempotency records.
            "AttendanceFunction",
            &[
                (&["dynamodb:GetItem", "dynamodb:Query"], &["TmsTable"]),
                (
                    &["dynamodb:Query"],
                    &["TmsTable/index/GSI2", "TmsTable/index/GSI3"],
                ),
                (
                    &["dynamodb:PutItem"],
                    &["TmsTable[SESSION#*,AUDIT#*,SYNCJOB#*,IDEMPOTENCY#*]"],
                ),
                (&["sqs:SendMessage"], &["SyncQueue"]),
            ],
        ),
        (
            // Reads assessments, enrolments, idempotency records, a
            // Trainer's link; queries an assessment's versions (its
            // partition) and an enrolment's assessments (GSI1); puts
            // assessments and their versions, audit, sync jobs and
            // idempotency records; checks enrolments and trainers.
            "AssessmentsFunction",
            &[
                (&["dynamodb:GetItem"], &["TmsTable"]),
                (&["dynamodb:Query"], &["TmsTable", "TmsTable/index/GSI1"]),
                (
                    &["dynamodb:PutItem"],
                    &["TmsTable[ASSESSMENT#*,AUDIT#*,SYNCJOB#*,IDEMPOTENCY#*]"],
                ),
                (
                    &["dynamodb:ConditionCheckItem"],
                    &["TmsTable[ENROLMENT#*,TRAINER#*]"],
                ),
                (&["sqs:SendMessage"], &["SyncQueue"]),
            ],
        ),
        (
            "TraineesFunction",
            &[
                (&["dynamodb:GetItem"], &["TmsTable"]),
                (
                    &["dynamodb:Query"],
                    &["TmsTable/index/GSI1", "TmsTable/index/GSI2"],
                ),
                (
                    &["dynamodb:PutItem"],
                    &["TmsTable[TRAINEE#*,NATID#*,AUDIT#*,IDEMPOTENCY#*]"],
                ),
                (&["dynamodb:DeleteItem"], &["TmsTable[NATID#*]"]),
                (&["secretsmanager:GetSecretValue"], &[PII_SECRET]),
            ],
        ),
        (
            "TrainersFunction",
            &[
                (&["dynamodb:GetItem"], &["TmsTable"]),
                (
                    &["dynamodb:Query"],
                    &["TmsTable/index/GSI1", "TmsTable/index/GSI2"],
                ),
                (
                    &["dynamodb:PutItem"],
                    &["TmsTable[TRAINER#*,TRAINERUSER#*,AUDIT#*,IDEMPOTENCY#*]"],
                ),
                (&["dynamodb:DeleteItem"], &["TmsTable[TRAINERUSER#*]"]),
                (&["dynamodb:ConditionCheckItem"], &["TmsTable[USER#*]"]),
            ],
        ),
        (
            // Sign-in: reads users, e-mail guards, counters, refresh
            // tokens and chains; writes only counters, refresh tokens and
            // chains; deletes only counters; reads the signing key.
            "AuthFunction",
            &[
                (&["dynamodb:GetItem"], &["TmsTable"]),
                (
                    &["dynamodb:PutItem"],
                    &["TmsTable[LOGINFAIL#*,REFRESH#*,REFRESHCHAIN#*]"],
                ),
                (&["dynamodb:DeleteItem"], &["TmsTable[LOGINFAIL#*]"]),
                (&["secretsmanager:GetSecretValue"], &[AUTH_SECRET]),
            ],
        ),
        (
            // The signing key, nothing else.
            "AuthorizerFunction",
            &[(&["secretsmanager:GetSecretValue"], &[AUTH_SECRET])],
        ),
    ];
    let t = template();
    let fns = functions(&t);
    assert_eq!(
        fns.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        expected.iter().map(|(id, _)| *id).collect::<BTreeSet<_>>(),
        "every function's grants are listed here"
    );
    for (id, spec) in expected {
        let want: BTreeSet<(String, String)> = spec
            .iter()
            .flat_map(|(actions, resources)| {
                actions.iter().flat_map(move |a| {
                    resources
                        .iter()
                        .map(move |r| (a.to_string(), r.to_string()))
                })
            })
            .collect();
        assert_eq!(grants(id, &fns[*id]), want, "{id}: IAM grants");
    }

    // The sweeper's narrow grants hold what the code uses: the due index
    // is GSI3 of resources.json. (The keys behind every LeadingKeys pattern
    // are checked by `write_leading_keys_are_the_keys_the_code_writes`.)
    assert_eq!(tms_ports::Index::Gsi3.name(), "GSI3");
    assert!(resources()
        .table
        .global_secondary_indexes
        .iter()
        .any(|g| g.name == "GSI3"));
    for entity in [
        tms_domain::EntityType::CourseRun,
        tms_domain::EntityType::SyncJob,
        tms_domain::EntityType::User,
        tms_domain::EntityType::Trainer,
    ] {
        let audit_pk = tms_app::keys::audit_pk(entity, "x");
        assert!(
            string_like(AUDIT_LEADING_KEY_PATTERN, &audit_pk),
            "audit keys are {audit_pk}: fix the audit Deny's pattern"
        );
    }

    // The trainers' listings are the indexes it may query.
    assert_eq!(tms_ports::Index::Gsi1.name(), "GSI1");
    assert_eq!(tms_ports::Index::Gsi2.name(), "GSI2");
}

// ---------------------------------------------------------------------------
// Writes: every writer is limited to the partition keys it writes.

/// The item-level write actions of DynamoDB. Each one is authorized per
/// item (also inside TransactWriteItems), so each one can be limited with
/// `dynamodb:LeadingKeys`; a grant of one of them without that condition
/// could write any key of the table.
const WRITE_ACTIONS: [&str; 8] = [
    "dynamodb:PutItem",
    "dynamodb:DeleteItem",
    "dynamodb:UpdateItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLInsert",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
];

/// IAM's `StringLike`: `*` matches any run of characters, `?` any one.
fn string_like(pattern: &str, s: &str) -> bool {
    fn go(p: &[char], s: &[char]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some(('*', rest)) => (0..=s.len()).any(|i| go(rest, &s[i..])),
            Some(('?', rest)) => !s.is_empty() && go(rest, &s[1..]),
            Some((c, rest)) => s.first() == Some(c) && go(rest, &s[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = s.chars().collect();
    go(&p, &s)
}

/// What is wrong with a function's Allow statements that grant a write
/// action: each must carry exactly one condition, `ForAllValues:StringLike`
/// on `dynamodb:LeadingKeys`, with at least one pattern, each a fixed key
/// prefix ending in `#*` (no pattern that matches every key), and apply to
/// the table alone (not its indexes, which are never written). Empty when
/// every writer is limited.
fn unlimited_writes(id: &str, f: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for s in statements_of(id, f) {
        if s.get("Effect") != Some(&json!("Allow")) {
            continue;
        }
        let actions = one_or_many(at(&s, &["Action"]));
        let writes: Vec<&str> = actions
            .iter()
            .map(|a| string(a, "Action"))
            .filter(|a| {
                // An action pattern (`dynamodb:*Item`) counts as every
                // write it matches.
                let a = a.to_lowercase();
                WRITE_ACTIONS
                    .iter()
                    .any(|w| string_like(&a, &w.to_lowercase()))
            })
            .collect();
        if writes.is_empty() {
            continue;
        }
        let sid = s.get("Sid").and_then(Value::as_str).unwrap_or("(no Sid)");
        let keys = s
            .get("Condition")
            .filter(|c| c.as_object().map(|o| o.len()) == Some(1))
            .and_then(|c| c.get("ForAllValues:StringLike"))
            .filter(|c| c.as_object().map(|o| o.len()) == Some(1))
            .and_then(|c| c.get("dynamodb:LeadingKeys"))
            .map(one_or_many);
        match keys {
            None => problems.push(format!(
                "{id} {sid}: {writes:?} without a ForAllValues:StringLike dynamodb:LeadingKeys condition (it could write any key)"
            )),
            Some(keys) if keys.is_empty() => {
                problems.push(format!("{id} {sid}: {writes:?} with no LeadingKeys pattern"))
            }
            Some(keys) => {
                for k in keys {
                    let ok = k.as_str().is_some_and(|k| {
                        k.strip_suffix("#*").is_some_and(|prefix| {
                            !prefix.is_empty()
                                && prefix
                                    .chars()
                                    .all(|c| c.is_ascii_uppercase() || c == '#')
                        })
                    });
                    if !ok {
                        problems.push(format!(
                            "{id} {sid}: LeadingKeys pattern {k} is not a key prefix `PREFIX#*`"
                        ));
                    }
                }
            }
        }
        let table = json!({ "Fn::GetAtt": ["TmsTable", "Arn"] });
        if one_or_many(at(&s, &["Resource"])) != vec![table] {
            problems.push(format!(
                "{id} {sid}: {writes:?} must apply to the table alone, not {}",
                at(&s, &["Resource"])
            ));
        }
    }
    problems
}

/// Every Allow statement that grants a write action carries a
/// `ForAllValues:StringLike` `dynamodb:LeadingKeys` condition: no function
/// may write any key of the table. The read-only functions have no write
/// action at all.
#[test]
fn every_table_writer_is_limited_to_leading_keys() {
    let t = template();
    let fns = functions(&t);
    let problems: Vec<String> = fns
        .iter()
        .flat_map(|(id, f)| unlimited_writes(id, f))
        .collect();
    assert!(
        problems.is_empty(),
        "unlimited writers:\n{}",
        problems.join("\n")
    );

    for id in ["AuditLogsFunction", "AuthorizerFunction"] {
        let writes: Vec<(String, String)> = grants(id, &fns[id])
            .into_iter()
            .filter(|(a, _)| WRITE_ACTIONS.contains(&a.as_str()))
            .collect();
        assert!(
            writes.is_empty(),
            "{id} is read-only, yet grants {writes:?}"
        );
    }

    // The check itself: a writer without the condition, with a pattern
    // that matches every key, or on the indexes, is caught.
    let table = json!({ "Fn::GetAtt": ["TmsTable", "Arn"] });
    let with = |statement: Value| {
        json!({ "Properties": { "Policies": [
            { "Version": "2012-10-17", "Statement": [statement] }
        ] } })
    };
    let leading =
        |keys: Value| json!({ "ForAllValues:StringLike": { "dynamodb:LeadingKeys": keys } });
    for (what, statement) in [
        (
            "no condition",
            json!({ "Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"], "Resource": [table] }),
        ),
        (
            "another condition",
            json!({ "Effect": "Allow", "Action": "dynamodb:DeleteItem", "Resource": table,
                    "Condition": { "StringEquals": { "aws:RequestedRegion": "ap-southeast-1" } } }),
        ),
        (
            "ForAnyValue",
            json!({ "Effect": "Allow", "Action": ["dynamodb:UpdateItem"], "Resource": [table],
                    "Condition": { "ForAnyValue:StringLike": { "dynamodb:LeadingKeys": ["RUN#*"] } } }),
        ),
        (
            "every key",
            json!({ "Effect": "Allow", "Action": ["dynamodb:ConditionCheckItem"], "Resource": [table],
                    "Condition": leading(json!(["RUN#*", "*"])) }),
        ),
        (
            "the indexes",
            json!({ "Effect": "Allow", "Action": ["dynamodb:PutItem"],
                    "Resource": [table, table_indexes_arn()],
                    "Condition": leading(json!(["RUN#*"])) }),
        ),
        (
            "an action pattern",
            json!({ "Effect": "Allow", "Action": ["dynamodb:*Item"], "Resource": [table] }),
        ),
    ] {
        assert!(
            !unlimited_writes("Probe", &with(statement)).is_empty(),
            "a writer with {what} must be refused"
        );
    }
    for ok in [
        json!({ "Effect": "Allow", "Action": ["dynamodb:PutItem"], "Resource": [table],
                "Condition": leading(json!(["RUN#*", "AUDIT#*"])) }),
        json!({ "Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:Query"],
                "Resource": [table, table_indexes_arn()] }),
        json!({ "Effect": "Deny", "Action": ["dynamodb:UpdateItem"], "Resource": [table],
                "Condition": { "ForAnyValue:StringLike": { "dynamodb:LeadingKeys": ["AUDIT#*"] } } }),
    ] {
        assert_eq!(unlimited_writes("Probe", &with(ok)), Vec::<String>::new());
    }
}

/// The partition keys of the table's items, built by `tms_app::keys`, by
/// the name the writers below use. GSI keys are not here: they are never
/// the partition key of a written item.
fn table_partition_keys() -> BTreeMap<&'static str, Vec<String>> {
    use tms_app::keys;
    use tms_domain::{EntityType, TypedId};
    let id = "00000000-0000-4000-8000-000000000001";
    let run = tms_domain::ids::RunId::parse(id).expect("a run id");
    let user = tms_domain::ids::UserId::parse(id).expect("a user id");
    let trainer = tms_domain::ids::TrainerId::parse(id).expect("a trainer id");
    let audit: Vec<String> = [
        EntityType::CourseRun,
        EntityType::Session,
        EntityType::SyncJob,
        EntityType::User,
        EntityType::Trainer,
        EntityType::Trainee,
        EntityType::Enrolment,
        EntityType::SessionAttendance,
        EntityType::Assessment,
    ]
    .into_iter()
    .map(|e| keys::audit_pk(e, id))
    .collect();
    BTreeMap::from([
        // A run and its sessions: sessions live in the run's partition
        // (records::session_item keys a session by keys::run_pk).
        ("run", vec![keys::run_pk(&run)]),
        ("audit", audit),
        ("sync_job", vec![keys::sync_job_pk(id)]),
        (
            "sync_lock",
            vec![keys::sync_lock_pk(EntityType::CourseRun, id)],
        ),
        ("idempotency", vec![keys::idempotency_pk(id, "key")]),
        ("user", vec![keys::user_pk(&user)]),
        ("email_guard", vec![keys::email_guard_pk("a@example.sg")]),
        ("trainer", vec![keys::trainer_pk(&trainer)]),
        (
            "trainee",
            vec![keys::trainee_pk(
                &tms_domain::ids::TraineeId::parse(id).expect("a trainee id"),
            )],
        ),
        ("natid_guard", vec![keys::natid_guard_pk("ab12")]),
        // A session's attendance sheet and rows: the session's own
        // partition (records::attendance_item, attendance_sheet_item).
        (
            "attendance",
            vec![keys::attendance_pk(
                &tms_domain::ids::SessionId::parse(id).expect("a session id"),
            )],
        ),
        (
            "enrolment",
            vec![keys::enrolment_pk(
                &tms_domain::ids::EnrolmentId::parse(id).expect("an enrolment id"),
            )],
        ),
        (
            "assessment",
            vec![keys::assessment_pk(
                &tms_domain::ids::AssessmentId::parse(id).expect("an assessment id"),
            )],
        ),
        (
            "enrolment_guard",
            vec![keys::enrolment_guard_pk(
                &run,
                &tms_domain::ids::TraineeId::parse(id).expect("a trainee id"),
            )],
        ),
        (
            "trainer_user_guard",
            vec![keys::trainer_user_guard_pk(&user)],
        ),
        ("refresh_token", vec![keys::refresh_token_pk("ab12")]),
        ("refresh_chain", vec![keys::refresh_chain_pk("c1")]),
        (
            "login_failures",
            vec![keys::login_failures_pk("a@example.sg")],
        ),
    ])
}

/// The `dynamodb:LeadingKeys` patterns under which a function may use a
/// write action on the table; `*` for a grant without the condition.
fn write_patterns(id: &str, f: &Value, action: &str) -> BTreeSet<String> {
    let table = json!({ "Fn::GetAtt": ["TmsTable", "Arn"] });
    let mut out = BTreeSet::new();
    for s in statements_of(id, f) {
        if s.get("Effect") != Some(&json!("Allow"))
            || !one_or_many(at(&s, &["Action"])).contains(&json!(action))
            || !one_or_many(at(&s, &["Resource"])).contains(&table)
        {
            continue;
        }
        match s
            .get("Condition")
            .and_then(|c| c.pointer("/ForAllValues:StringLike/dynamodb:LeadingKeys"))
        {
            Some(keys) => out.extend(
                one_or_many(keys)
                    .iter()
                    .map(|k| string(k, "LeadingKeys").to_string()),
            ),
            None => {
                out.insert("*".to_string());
            }
        }
    }
    out
}

/// Each writer's LeadingKeys patterns match exactly the keys its code
/// writes (or checks), as `tms_app::keys` builds them: a key the code
/// writes that no pattern matches would be refused in AWS; a key of
/// another kind that a pattern matches is a write the function does not
/// need; a pattern that matches no key is dead.
#[test]
fn write_leading_keys_are_the_keys_the_code_writes() {
    type Writes = &'static [(&'static str, &'static [&'static str])];
    let expected: &[(&str, Writes)] = &[
        (
            // create/update/cancel a run, add/update a session: the run and
            // session items, the audit record, the sync job, the
            // Idempotency-Key record; remove a session: a delete in the
            // run's partition (shared/app/src/course_runs.rs, write.rs).
            "CourseRunsFunction",
            &[
                (
                    "dynamodb:PutItem",
                    &["run", "audit", "sync_job", "idempotency"],
                ),
                ("dynamodb:DeleteItem", &["run"]),
            ],
        ),
        ("AuditLogsFunction", &[]),
        (
            // retry: the job and its audit record, no Idempotency-Key
            // (shared/app/src/sync_jobs.rs).
            "SyncJobsFunction",
            &[("dynamodb:PutItem", &["sync_job", "audit"])],
        ),
        (
            // claim: the job and the lock; outcome: the run and its
            // sessions, the job, the audit record, a follow-up job; the
            // lock's release (shared/app/src/sync.rs, sync_course_run.rs).
            "SyncWorkerFunction",
            &[
                (
                    "dynamodb:PutItem",
                    &[
                        "run",
                        "enrolment",
                        "attendance",
                        "assessment",
                        "sync_job",
                        "sync_lock",
                        "audit",
                    ],
                ),
                ("dynamodb:DeleteItem", &["sync_lock"]),
            ],
        ),
        (
            "SyncSweeperFunction",
            &[("dynamodb:PutItem", &["sync_job"])],
        ),
        (
            "UsersFunction",
            &[(
                "dynamodb:PutItem",
                &["user", "email_guard", "audit", "idempotency"],
            )],
        ),
        (
            "TrainersFunction",
            &[
                (
                    "dynamodb:PutItem",
                    &["trainer", "trainer_user_guard", "audit", "idempotency"],
                ),
                ("dynamodb:DeleteItem", &["trainer_user_guard"]),
                ("dynamodb:ConditionCheckItem", &["user"]),
            ],
        ),
        (
            "EnrolmentsFunction",
            &[
                (
                    "dynamodb:PutItem",
                    &[
                        "enrolment",
                        "enrolment_guard",
                        "audit",
                        "sync_job",
                        "idempotency",
                    ],
                ),
                ("dynamodb:DeleteItem", &["enrolment_guard"]),
                ("dynamodb:ConditionCheckItem", &["run", "trainee"]),
            ],
        ),
        (
            "AttendanceFunction",
            &[(
                "dynamodb:PutItem",
                &["attendance", "audit", "sync_job", "idempotency"],
            )],
        ),
        (
            // create/update/void: the assessment and its version item (the
            // assessment's partition), the audit record, the sync job, the
            // Idempotency-Key record; checks of the enrolment and the
            // assessor (shared/app/src/assessments.rs).
            "AssessmentsFunction",
            &[
                (
                    "dynamodb:PutItem",
                    &["assessment", "audit", "sync_job", "idempotency"],
                ),
                ("dynamodb:ConditionCheckItem", &["enrolment", "trainer"]),
            ],
        ),
        (
            "TraineesFunction",
            &[
                (
                    "dynamodb:PutItem",
                    &["trainee", "natid_guard", "audit", "idempotency"],
                ),
                ("dynamodb:DeleteItem", &["natid_guard"]),
            ],
        ),
        (
            "AuthFunction",
            &[
                (
                    "dynamodb:PutItem",
                    &["login_failures", "refresh_token", "refresh_chain"],
                ),
                ("dynamodb:DeleteItem", &["login_failures"]),
            ],
        ),
        ("AuthorizerFunction", &[]),
    ];
    let t = template();
    let fns = functions(&t);
    assert_eq!(
        fns.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        expected.iter().map(|(id, _)| *id).collect::<BTreeSet<_>>(),
        "every function's writes are listed here"
    );
    let catalog = table_partition_keys();
    for (id, writes) in expected {
        for (action, kinds) in *writes {
            for kind in *kinds {
                assert!(catalog.contains_key(kind), "unknown key kind {kind}");
            }
            assert!(
                WRITE_ACTIONS.contains(action),
                "{action} is not a write action"
            );
        }
        for action in WRITE_ACTIONS {
            let patterns = write_patterns(id, &fns[*id], action);
            let want: BTreeSet<&str> = writes
                .iter()
                .filter(|(a, _)| *a == action)
                .flat_map(|(_, kinds)| kinds.iter().copied())
                .collect();
            for (kind, keys) in &catalog {
                for key in keys {
                    let matched = patterns.iter().any(|p| string_like(p, key));
                    if want.contains(kind) {
                        assert!(
                            matched,
                            "{id} writes {kind} keys ({key}) with {action}, but none of its LeadingKeys patterns {patterns:?} matches"
                        );
                    } else {
                        assert!(
                            !matched,
                            "{id} may {action} {kind} keys ({key}) through {patterns:?}, which its code never does"
                        );
                    }
                }
            }
            for p in &patterns {
                assert!(
                    catalog.values().flatten().any(|key| string_like(p, key)),
                    "{id}: {action} pattern {p} matches no key the code builds"
                );
            }
        }
    }
}

/// The worker is fed by one event source mapping on SyncQueue, with
/// partial batch responses; the queue's visibility, the claim lease and
/// maxReceiveCount agree with the worker's timeout and settings.
#[test]
fn sync_worker_consumes_the_sync_queue() {
    let t = template();
    let res = resources();
    let (worker_id, worker) = function_by_binary(&t, SYNC_WORKER_BINARY);

    // No SAM SQS event: it would attach AWSLambdaSQSQueueExecutionRole,
    // whose grants are on every queue of the account.
    for (id, f) in functions(&t) {
        if let Some(events) = f.pointer("/Properties/Events").and_then(Value::as_object) {
            for (name, e) in events {
                assert_ne!(
                    at(e, &["Type"]),
                    "SQS",
                    "{id}.{name}: use an AWS::Lambda::EventSourceMapping"
                );
            }
        }
    }

    let mappings: Vec<&Value> = at(&t, &["Resources"])
        .as_object()
        .expect("Resources is a map")
        .values()
        .filter(|r| r.get("Type") == Some(&json!("AWS::Lambda::EventSourceMapping")))
        .collect();
    assert_eq!(
        mappings.len(),
        1,
        "one event source mapping: the worker on SyncQueue (nothing consumes the DLQ)"
    );
    let m = at(mappings[0], &["Properties"]);
    assert_eq!(
        at(m, &["EventSourceArn"]),
        &json!({ "Fn::GetAtt": ["SyncQueue", "Arn"] })
    );
    assert_eq!(at(m, &["FunctionName"]), &json!({ "Ref": worker_id }));
    assert!(
        m.get("Enabled").is_none_or(|e| boolean(e, "Enabled")),
        "the worker's event source is enabled"
    );
    assert_eq!(
        at(m, &["FunctionResponseTypes"]),
        &json!(["ReportBatchItemFailures"]),
        "without partial batch responses one failure redelivers the whole batch"
    );
    let batch = int(at(m, &["BatchSize"]), "BatchSize");
    assert!((1..=10).contains(&batch), "BatchSize {batch}");
    let window = m
        .get("MaximumBatchingWindowInSeconds")
        .map_or(0, |w| int(w, "MaximumBatchingWindowInSeconds"));
    assert!(window <= 300, "MaximumBatchingWindowInSeconds {window}");
    let concurrency = int(
        at(m, &["ScalingConfig", "MaximumConcurrency"]),
        "MaximumConcurrency",
    );
    assert!(
        (2..=1000).contains(&concurrency),
        "MaximumConcurrency {concurrency} (SQS allows 2..=1000)"
    );

    // Visibility: at least 6 x the function's timeout plus the batching
    // window (AWS's advice), on the template and in resources.json.
    let timeout = int(
        fn_prop(&t, &worker, "Timeout").expect("a Timeout"),
        "worker Timeout",
    );
    let visibility = int(
        at(
            &t,
            &["Resources", "SyncQueue", "Properties", "VisibilityTimeout"],
        ),
        "VisibilityTimeout",
    );
    assert_eq!(
        visibility,
        u64::from(res.sync_queue.visibility_timeout_seconds)
    );
    assert!(
        visibility >= 6 * timeout + window,
        "SyncQueue VisibilityTimeout {visibility} < 6 x worker Timeout {timeout} + window {window}"
    );

    let env = function_env(&t, &worker);
    // The receive that reaches maxReceiveCount dead-letters the job: the
    // worker must know the queue's number.
    let worker_max = int(
        env.get("TMS_SYNC_MAX_RECEIVE_COUNT")
            .expect("the worker's TMS_SYNC_MAX_RECEIVE_COUNT"),
        "TMS_SYNC_MAX_RECEIVE_COUNT",
    );
    let queue_max = int(
        at(
            &t,
            &[
                "Resources",
                "SyncQueue",
                "Properties",
                "RedrivePolicy",
                "maxReceiveCount",
            ],
        ),
        "maxReceiveCount",
    );
    assert_eq!(worker_max, queue_max, "worker vs RedrivePolicy");
    assert_eq!(worker_max, u64::from(res.sync_queue.max_receive_count));

    // A claim is held at least as long as the invocation that holds it.
    let lease = env.get("TMS_SYNC_LEASE_SECS").map_or_else(
        || tms_app::SyncSettings::default().lease.as_secs(),
        |v| int(v, "TMS_SYNC_LEASE_SECS"),
    );
    assert!(
        lease >= timeout,
        "lease {lease} s < worker Timeout {timeout} s"
    );

    assert_eq!(
        env.get("TMS_TPGATEWAY_SECRET_ID"),
        Some(&json!({ "Ref": TPGATEWAY_SECRET })),
        "the worker reads the template's secret"
    );
    assert!(
        worker.pointer("/Properties/Events").is_none(),
        "{worker_id}: fed by the event source mapping only"
    );
}

/// The sweeper runs on a schedule, and pushes a job forward by at least the
/// worker's timeout.
#[test]
fn sync_sweeper_runs_on_a_schedule() {
    let t = template();
    let (id, sweeper) = function_by_binary(&t, SYNC_SWEEPER_BINARY);
    let events = at(&sweeper, &["Properties", "Events"])
        .as_object()
        .expect("Events is a map");
    assert_eq!(events.len(), 1, "{id}: one event, its schedule");
    let e = events.values().next().expect("one event");
    let p = at(e, &["Properties"]);
    let expression = match string(at(e, &["Type"]), "event Type") {
        "Schedule" => at(p, &["Schedule"]),
        "ScheduleV2" => at(p, &["ScheduleExpression"]),
        other => panic!("{id}: a Schedule or ScheduleV2 event, not {other}"),
    };
    let expression = string(expression, "schedule expression");
    assert!(
        expression.starts_with("rate(") || expression.starts_with("cron("),
        "{id}: schedule {expression}"
    );
    assert!(
        p.get("Enabled").is_none_or(|v| boolean(v, "Enabled")),
        "{id}: the schedule is enabled"
    );
    assert!(
        p.get("State").is_none_or(|v| v == "ENABLED"),
        "{id}: the schedule is enabled"
    );

    let env = function_env(&t, &sweeper);
    let requeue = int(
        env.get("TMS_REQUEUE_AFTER_SECS")
            .expect("the sweeper's TMS_REQUEUE_AFTER_SECS"),
        "TMS_REQUEUE_AFTER_SECS",
    );
    let (_, worker) = function_by_binary(&t, SYNC_WORKER_BINARY);
    let worker_timeout = int(
        fn_prop(&t, &worker, "Timeout").expect("a Timeout"),
        "worker Timeout",
    );
    assert!(
        requeue >= worker_timeout,
        "a job re-enqueued is not offered again while its message may be in flight"
    );
}

/// The TPGateway secret is declared without a value (the value is put
/// after the deploy), and only the worker may read it.
#[test]
fn tpgateway_secret_has_no_value_and_only_the_worker_reads_it() {
    let t = template();
    let secret = resource(&t, TPGATEWAY_SECRET, "AWS::SecretsManager::Secret");
    assert_eq!(at(secret, &["DeletionPolicy"]), "Retain");
    assert_eq!(at(secret, &["UpdateReplacePolicy"]), "Retain");
    let p = at(secret, &["Properties"]);
    for key in ["SecretString", "GenerateSecretString"] {
        assert!(
            p.get(key).is_none(),
            "{TPGATEWAY_SECRET} must not have {key}: credentials never go in the template"
        );
    }
    let description = string(at(p, &["Description"]), "secret Description");
    assert!(
        description.contains("README") && description.contains("put-secret-value"),
        "the secret's description says what to put there: {description}"
    );
    let readers = secret_readers(&t, TPGATEWAY_SECRET);
    let (worker_id, _) = function_by_binary(&t, SYNC_WORKER_BINARY);
    assert_eq!(readers, BTreeSet::from([worker_id]));
}

/// The functions allowed to read `secret`, by logical id.
fn secret_readers(t: &Value, secret: &str) -> BTreeSet<String> {
    functions(t)
        .into_iter()
        .filter(|(id, f)| {
            grants(id, f)
                .iter()
                .any(|(a, r)| a.starts_with("secretsmanager:") && r == secret)
        })
        .map(|(id, _)| id)
        .collect()
}

/// Each secret is read by its functions alone, with GetSecretValue alone,
/// and named (by its `!Ref`, the ARN) in their environment only.
#[test]
fn each_secret_is_read_by_its_functions_only() {
    let t = template();
    let secrets: BTreeSet<String> = at(&t, &["Resources"])
        .as_object()
        .expect("Resources is a map")
        .iter()
        .filter(|(_, r)| r.get("Type") == Some(&json!("AWS::SecretsManager::Secret")))
        .map(|(id, _)| id.clone())
        .collect();
    assert_eq!(
        secrets,
        SECRET_READERS
            .iter()
            .map(|(s, _, _)| s.to_string())
            .collect::<BTreeSet<_>>(),
        "every secret's readers are listed in SECRET_READERS"
    );
    for (id, f) in functions(&t) {
        let binary = binary_of(&id, &f).to_string();
        let env = function_env(&t, &f);
        let want: BTreeSet<(String, String)> = SECRET_READERS
            .iter()
            .filter(|(_, _, readers)| readers.contains(&binary.as_str()))
            .map(|(secret, _, _)| {
                (
                    "secretsmanager:GetSecretValue".to_string(),
                    secret.to_string(),
                )
            })
            .collect();
        let got: BTreeSet<(String, String)> = grants(&id, &f)
            .into_iter()
            .filter(|(a, r)| a.starts_with("secretsmanager:") || secrets.contains(r))
            .collect();
        assert_eq!(got, want, "{id}: secret grants");
        for (secret, var, readers) in SECRET_READERS {
            if readers.contains(&binary.as_str()) {
                assert_eq!(
                    env.get(var),
                    Some(&json!({ "Ref": secret })),
                    "{id}: {var} names {secret}"
                );
            } else {
                assert!(
                    !env.contains_key(var),
                    "{id} has no business with {secret} ({var})"
                );
            }
        }
    }
}

/// The signing key is generated by CloudFormation (never in the template),
/// retained with the stack, and in a form the key parser accepts: the
/// template's JSON with the generated string under the key the code reads,
/// characters from A-Z, a-z and 0-9 only (standard base64 text), a length
/// that is a multiple of 4 (no padding needed) decoding to at least 32
/// bytes. A document of that form, with every possible character, is read
/// by the app's key source.
#[tokio::test]
async fn auth_secret_is_generated_as_a_signing_key_the_code_reads() {
    let t = template();
    let secret = resource(&t, AUTH_SECRET, "AWS::SecretsManager::Secret");
    assert_eq!(at(secret, &["DeletionPolicy"]), "Retain");
    assert_eq!(at(secret, &["UpdateReplacePolicy"]), "Retain");
    let p = at(secret, &["Properties"]);
    assert!(
        p.get("SecretString").is_none(),
        "{AUTH_SECRET}: the key is generated, never written in the template"
    );
    let g = at(p, &["GenerateSecretString"]);
    assert!(
        boolean(at(g, &["ExcludePunctuation"]), "ExcludePunctuation"),
        "punctuation (+, /, =, ...) would not be base64 text"
    );
    assert!(
        !g.get("IncludeSpace")
            .is_some_and(|v| boolean(v, "IncludeSpace")),
        "no spaces"
    );
    for key in ["ExcludeNumbers", "ExcludeLowercase", "ExcludeUppercase"] {
        assert!(
            !g.get(key).is_some_and(|v| boolean(v, key)),
            "{key}: fewer characters make a weaker key for the same length"
        );
    }
    assert!(
        g.get("ExcludeCharacters").is_none(),
        "every base64 letter and digit may appear"
    );
    let len = int(at(g, &["PasswordLength"]), "PasswordLength");
    assert_eq!(len % 4, 0, "PasswordLength {len}: base64 without padding");
    assert!(
        len / 4 * 3 >= tms_auth::key::MIN_KEY_BYTES as u64,
        "PasswordLength {len} decodes to fewer than {} bytes",
        tms_auth::key::MIN_KEY_BYTES
    );

    // The document CloudFormation makes: the template's JSON, plus the
    // generated string under GenerateStringKey.
    let mut doc: Value = serde_json::from_str(string(
        at(g, &["SecretStringTemplate"]),
        "SecretStringTemplate",
    ))
    .expect("SecretStringTemplate is JSON");
    let alphabet: Vec<char> = ('A'..='Z').chain('a'..='z').chain('0'..='9').collect();
    let generated: String = alphabet.iter().cycle().take(len as usize).collect();
    doc.as_object_mut()
        .expect("SecretStringTemplate is a JSON object")
        .insert(
            string(at(g, &["GenerateStringKey"]), "GenerateStringKey").to_string(),
            json!(generated),
        );
    let cfg = tms_runtime::Config {
        auth: tms_runtime::config::AuthConfig {
            inline_secret: Some(doc.to_string()),
            ..tms_tests::test_auth_config()
        },
        ..tms_tests::test_config()
    };
    tms_runtime::auth_keys(&cfg, None)
        .key()
        .await
        .expect("the generated secret's form is a signing key the code reads");
}

/// The HTTP API's default authorizer is the Lambda authorizer: payload 2.0,
/// simple responses, the Authorization header as identity source, results
/// cached for at most 5 minutes; API Gateway may invoke it, from this
/// API's authorizers only.
#[test]
fn api_default_authorizer_is_the_lambda_authorizer() {
    let t = template();
    let (authorizer_id, _) = function_by_binary(&t, AUTHORIZER_BINARY);
    let api = at(
        resource(&t, HTTP_API, "AWS::Serverless::HttpApi"),
        &["Properties"],
    );
    let auth = at(api, &["Auth"]);
    let name = string(at(auth, &["DefaultAuthorizer"]), "DefaultAuthorizer");
    let authorizers = at(auth, &["Authorizers"])
        .as_object()
        .expect("Authorizers is a map");
    assert_eq!(
        authorizers.keys().collect::<Vec<_>>(),
        [name],
        "one authorizer, the default"
    );
    let a = &authorizers[name];
    assert_eq!(
        at(a, &["FunctionArn"]),
        &json!({ "Fn::GetAtt": [authorizer_id, "Arn"] }),
        "{name} runs the `{AUTHORIZER_BINARY}` function"
    );
    assert_eq!(
        string(
            at(a, &["AuthorizerPayloadFormatVersion"]),
            "AuthorizerPayloadFormatVersion"
        ),
        "2.0",
        "the handler takes ApiGatewayV2CustomAuthorizerV2Request"
    );
    assert!(
        boolean(at(a, &["EnableSimpleResponses"]), "EnableSimpleResponses"),
        "the handler answers ApiGatewayV2CustomAuthorizerSimpleResponse"
    );
    assert_eq!(
        at(a, &["Identity", "Headers"]),
        &json!(["Authorization"]),
        "identity source: $request.header.Authorization alone"
    );
    for other in ["QueryStrings", "StageVariables", "Context"] {
        assert!(
            a["Identity"].get(other).is_none(),
            "identity source: the Authorization header alone, not {other}"
        );
    }
    let ttl = int(at(a, &["Identity", "ReauthorizeEvery"]), "ReauthorizeEvery");
    assert!(
        ttl <= 300,
        "ReauthorizeEvery {ttl}: a cached answer outlives a token's expiry by up to this"
    );
    assert!(
        a.get("AuthorizationScopes").is_none() && a.get("JwtConfiguration").is_none(),
        "a Lambda authorizer, not a JWT one"
    );

    // Nothing in the OpenAPI body bypasses the events' auth.
    let body = at(api, &["DefinitionBody"]);
    assert_eq!(
        at(body, &["paths"]),
        &json!({}),
        "routes come from the function events (and their auth)"
    );
    assert!(
        body.get("security").is_none(),
        "no API-wide security override"
    );

    // API Gateway may invoke the authorizer: SAM's default permission, or
    // an explicit one limited to this API's authorizers.
    let default_permission = a
        .get("EnableFunctionDefaultPermissions")
        .is_some_and(|v| boolean(v, "EnableFunctionDefaultPermissions"));
    let targets_authorizer = |fname: &Value| {
        fname == &json!({ "Fn::GetAtt": [authorizer_id, "Arn"] })
            || fname == &json!({ "Ref": authorizer_id })
    };
    let permissions: Vec<&Value> = at(&t, &["Resources"])
        .as_object()
        .expect("Resources is a map")
        .values()
        .filter(|r| r.get("Type") == Some(&json!("AWS::Lambda::Permission")))
        .map(|r| at(r, &["Properties"]))
        .filter(|p| p.get("FunctionName").is_some_and(targets_authorizer))
        .collect();
    for p in &permissions {
        assert_eq!(at(p, &["Action"]), "lambda:InvokeFunction");
        assert_eq!(at(p, &["Principal"]), "apigateway.amazonaws.com");
        let source = string(
            at(p, &["SourceArn", "Fn::Sub"]),
            "the authorizer permission's SourceArn (a !Sub)",
        );
        assert_eq!(
            source,
            format!(
                "arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{{HTTP_API}}}/authorizers/*"
            ),
            "only this API's authorizers may invoke it"
        );
    }
    assert!(
        default_permission || permissions.len() == 1,
        "API Gateway needs a permission to invoke the authorizer \
         (an AWS::Lambda::Permission, or EnableFunctionDefaultPermissions)"
    );
}

/// Every route event goes through the default authorizer, except exactly
/// the routes the code declares public (sign-in, refresh, sign-out), which
/// opt out with `Authorizer: NONE`.
#[test]
fn every_route_but_the_public_ones_goes_through_the_authorizer() {
    let t = template();
    let default = string(
        at(
            &t,
            &[
                "Resources",
                HTTP_API,
                "Properties",
                "Auth",
                "DefaultAuthorizer",
            ],
        ),
        "DefaultAuthorizer",
    );
    let public: BTreeMap<(String, String), bool> = tms_http::route_docs(&tms_http::Resource::ALL)
        .into_iter()
        .map(|d| ((d.method.to_string(), d.path.to_string()), d.public))
        .collect();
    let public_routes: BTreeSet<&(String, String)> =
        public.iter().filter(|(_, p)| **p).map(|(r, _)| r).collect();
    assert!(
        !public_routes.is_empty()
            && public_routes
                .iter()
                .all(|(_, p)| p.starts_with("/auth/") || p == "/openapi.json"),
        "the public routes are sign-in's and the API's description: {public_routes:?}"
    );
    let mut opted_out = BTreeSet::new();
    for (id, f) in functions(&t) {
        let Some(events) = f.pointer("/Properties/Events").and_then(Value::as_object) else {
            continue;
        };
        for (name, e) in events {
            if e.get("Type") != Some(&json!("HttpApi")) {
                continue;
            }
            let p = at(e, &["Properties"]);
            let route = (
                string(at(p, &["Method"]), "Method").to_ascii_uppercase(),
                string(at(p, &["Path"]), "Path").to_string(),
            );
            let authorizer = p
                .pointer("/Auth/Authorizer")
                .map(|a| string(a, "Authorizer"));
            assert!(
                p.get("Auth")
                    .is_none_or(|a| a.as_object().is_some_and(|o| o.len() == 1)),
                "{id}.{name}: Auth holds Authorizer alone (no scopes)"
            );
            if public.get(&route) == Some(&true) {
                assert_eq!(
                    authorizer,
                    Some("NONE"),
                    "{id}.{name}: {route:?} is public: `Auth: {{Authorizer: NONE}}`"
                );
                opted_out.insert(route);
            } else {
                assert!(
                    authorizer.is_none() || authorizer == Some(default),
                    "{id}.{name}: {route:?} needs a token: the default authorizer, not {authorizer:?}"
                );
            }
        }
    }
    assert_eq!(
        opted_out.iter().collect::<BTreeSet<_>>(),
        public_routes,
        "every public route has its event"
    );
}

/// The authorizer checks tokens with the signing key and does nothing
/// else: no API route, no table or queue (grants or variables), a
/// timeout within API Gateway's 10 s for an authorizer.
#[test]
fn authorizer_reads_the_signing_key_and_nothing_else() {
    let t = template();
    let (id, f) = function_by_binary(&t, AUTHORIZER_BINARY);
    assert!(
        f.pointer("/Properties/Events").is_none(),
        "{id}: invoked by API Gateway as the authorizer, no events"
    );
    assert_eq!(
        grants(&id, &f),
        BTreeSet::from([(
            "secretsmanager:GetSecretValue".to_string(),
            AUTH_SECRET.to_string()
        )]),
        "{id}: the signing key alone"
    );
    let resources = at(&t, &["Resources"])
        .as_object()
        .expect("Resources is a map");
    for (var, value) in function_env(&t, &f) {
        let named: BTreeSet<String> = references(&value)
            .into_iter()
            .filter(|r| resources.contains_key(r))
            .collect();
        assert!(
            named.is_empty() || named == BTreeSet::from([AUTH_SECRET.to_string()]),
            "{id}: {var} names {named:?}; the authorizer knows no table or queue"
        );
        if ["TMS_TABLE_NAME", "TMS_SYNC_QUEUE_URL", "TMS_SYNC_DLQ_URL"].contains(&var.as_str()) {
            assert_eq!(value, json!(""), "{id}: {var} emptied");
        }
    }
    let timeout = int(fn_prop(&t, &f, "Timeout").expect("a Timeout"), "Timeout");
    assert!(
        timeout <= 10,
        "{id}: Timeout {timeout} s; API Gateway waits 10 s at most for an authorizer"
    );
}

/// The template resources an intrinsic names: `Ref`, `Fn::GetAtt`, and
/// `${X}` / `${X.Attr}` in `Fn::Sub`.
fn references(v: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    match v {
        Value::Object(o) => {
            if let Some(Value::String(r)) = o.get("Ref") {
                out.insert(r.clone());
            }
            if let Some(Value::String(r)) = o.get("Fn::GetAtt").and_then(|g| g.get(0)) {
                out.insert(r.clone());
            }
            if let Some(sub) = o.get("Fn::Sub") {
                let text = match sub {
                    Value::String(s) => s.as_str(),
                    Value::Array(a) => a.first().and_then(Value::as_str).unwrap_or(""),
                    _ => "",
                };
                for part in text.split("${").skip(1) {
                    if let Some(name) = part.split('}').next() {
                        out.insert(name.split('.').next().unwrap_or(name).to_string());
                    }
                }
            }
            for inner in o.values() {
                out.extend(references(inner));
            }
        }
        Value::Array(a) => a.iter().for_each(|x| out.extend(references(x))),
        _ => {}
    }
    out
}

/// argon2id with 19 MiB per hash, run on Lambda's CPU share (which grows
/// with memory): the functions that hash or verify passwords have room.
#[test]
fn password_functions_have_memory_for_argon2() {
    let t = template();
    for binary in PASSWORD_BINARIES {
        let (id, f) = function_by_binary(&t, binary);
        let memory = int(
            fn_prop(&t, &f, "MemorySize").expect("a MemorySize"),
            "MemorySize",
        );
        assert!(memory >= 256, "{id}: MemorySize {memory} < 256");
    }
}

/// Alarms: a message in the DLQ, an old message in the sync queue, the
/// worker failing, and the API's 5xx rate; each notifies the topic.
#[test]
fn alarms_watch_the_dead_letter_queue_and_the_oldest_message() {
    let t = template();
    let alarms: Vec<&Value> = at(&t, &["Resources"])
        .as_object()
        .expect("Resources is a map")
        .values()
        .filter(|r| r.get("Type") == Some(&json!("AWS::CloudWatch::Alarm")))
        .map(|r| at(r, &["Properties"]))
        .collect();
    let find = |metric: &str, queue: &str| -> &Value {
        let dims =
            json!([{ "Name": "QueueName", "Value": { "Fn::GetAtt": [queue, "QueueName"] } }]);
        alarms
            .iter()
            .copied()
            .find(|a| {
                a.get("MetricName") == Some(&json!(metric)) && a.get("Dimensions") == Some(&dims)
            })
            .unwrap_or_else(|| panic!("no alarm on {metric} of {queue}"))
    };

    let depth = find("ApproximateNumberOfMessagesVisible", "SyncDeadLetterQueue");
    assert_eq!(at(depth, &["Namespace"]), "AWS/SQS");
    assert_eq!(at(depth, &["ComparisonOperator"]), "GreaterThanThreshold");
    assert_eq!(
        int(at(depth, &["Threshold"]), "Threshold"),
        0,
        "the first dead letter raises the alarm"
    );

    let age = find("ApproximateAgeOfOldestMessage", "SyncQueue");
    assert_eq!(at(age, &["Namespace"]), "AWS/SQS");
    assert_eq!(at(age, &["ComparisonOperator"]), "GreaterThanThreshold");
    let threshold = int(at(age, &["Threshold"]), "Threshold");
    assert!(
        threshold > 0 && threshold < u64::from(resources().sync_queue.message_retention_seconds),
        "oldest-message threshold {threshold}"
    );

    // The worker itself failing (crash, time-out, memory), not a job.
    let worker = alarms
        .iter()
        .copied()
        .find(|a| {
            a.get("MetricName") == Some(&json!("Errors"))
                && a.get("Dimensions")
                    == Some(&json!([{ "Name": "FunctionName", "Value": { "Ref": "SyncWorkerFunction" } }]))
        })
        .expect("an alarm on the sync worker's errors");
    assert_eq!(at(worker, &["Namespace"]), "AWS/Lambda");
    assert_eq!(int(at(worker, &["Threshold"]), "Threshold"), 0);

    // The API's 5xx rate: 5xx over requests of the HTTP API, as a percentage.
    let api = alarms
        .iter()
        .copied()
        .find(|a| a.get("Metrics").is_some())
        .expect("an alarm on the API's 5xx rate");
    let metrics = array(at(api, &["Metrics"]), "Metrics");
    let stat = |name: &str| {
        metrics
            .iter()
            .find(|m| m.pointer("/MetricStat/Metric/MetricName") == Some(&json!(name)))
            .unwrap_or_else(|| panic!("the rate reads the API's {name}"))
    };
    for name in ["5xx", "Count"] {
        let m = stat(name);
        assert_eq!(
            m.pointer("/MetricStat/Metric/Namespace"),
            Some(&json!("AWS/ApiGateway"))
        );
        assert_eq!(
            m.pointer("/MetricStat/Metric/Dimensions"),
            Some(&json!([{ "Name": "ApiId", "Value": { "Ref": HTTP_API } }]))
        );
    }
    let returned: Vec<&Value> = metrics
        .iter()
        .filter(|m| m.get("ReturnData") == Some(&json!(true)))
        .collect();
    assert_eq!(returned.len(), 1, "one expression is the alarm's value");
    assert!(returned[0].get("Expression").is_some());

    for a in [depth, age, worker, api] {
        for key in ["AlarmActions", "OKActions"] {
            assert!(a.get(key).is_some(), "the alarm notifies ({key})");
        }
        assert_eq!(at(a, &["TreatMissingData"]), "notBreaching");
    }
}

/// The workspace's `default-members` are exactly the Lambda crates: what
/// `sam build` selects at the root (`cargo lambda build --bin <fn>`), so a
/// function missing from it cannot be built, and any other member there
/// would add its features (SQLite) to every Lambda.
#[test]
fn default_members_are_the_lambda_crates() {
    let manifest =
        std::fs::read_to_string(repo_root().join("Cargo.toml")).expect("the workspace manifest");
    let start = manifest
        .find("default-members = [")
        .expect("a default-members list");
    let list = &manifest[start..];
    let end = list.find(']').expect("the list ends");
    let members: BTreeSet<String> = list[..end]
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    let root = repo_root();
    let crates: BTreeSet<String> = lambda_crates()
        .into_iter()
        .map(|c| {
            Path::new(&c.dir)
                .strip_prefix(&root)
                .map(|p| p.display().to_string())
                .unwrap_or(c.dir)
        })
        .collect();
    assert_eq!(members, crates);
}
