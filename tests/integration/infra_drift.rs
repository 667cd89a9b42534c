//! template.yaml against infra/resources.json: the table and the queues that
//! SAM deploys must be exactly the ones that `tms-infra` creates for the
//! tests and for LocalStack, so the two definitions cannot drift. Also pins
//! the routes of each function, the Rust/arm64 build of every function, and
//! the append-only IAM guard on audit records. No network.
//!
//! The template is parsed with serde_yaml; CloudFormation short tags (`!Ref`,
//! `!GetAtt`, `!Sub`, `!If`, ...) arrive as tagged values and are turned into
//! their long JSON form (`{"Ref": ..}`, `{"Fn::GetAtt": [..]}`) first, so the
//! assertions below compare plain `serde_json::Value`s.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// The HTTP functions of the template and the resources each one mounts
/// (their `main.rs` passes the same list to `tms_http::router`). The routes
/// themselves come from the routers' declarations, not from a list here.
pub(crate) const HTTP_FUNCTIONS: &[(&str, tms_http::Resource)] = &[
    ("CourseRunsFunction", tms_http::Resource::CourseRuns),
    ("AuditLogsFunction", tms_http::Resource::AuditLogs),
];

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
        "SyncQueueUrl",
        "SyncDeadLetterQueueUrl",
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

        // No wildcard grants.
        for s in &statements {
            if s.get("Effect") == Some(&json!("Allow")) {
                for a in one_or_many(at(s, &["Action"])) {
                    let a = string(&a, "Action");
                    assert!(!a.ends_with(":*") && a != "*", "{id}: wildcard action {a}");
                }
                for r in one_or_many(at(s, &["Resource"])) {
                    assert_ne!(r, json!("*"), "{id}: wildcard resource");
                }
            }
        }
    }
}
