//! The OpenAPI 3.1 document, generated from the code: the route
//! declarations (`routes::RouteDoc`: method, path, body, query, headers,
//! success response, public or not) and the JSON Schemas (2020-12, the
//! dialect of OpenAPI 3.1) that `schemars` derives from the very serde
//! attributes that decide the wire format. Request bodies and query strings
//! are described as they are decoded, responses as they are encoded.
//!
//! `GET /openapi.json` serves it; docs/openapi.json is the committed copy
//! (tests/integration/openapi.rs fails when the two differ, and checks
//! every operation's answer against it).

use std::collections::{BTreeMap, BTreeSet};

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{json, Map, Value};

use crate::problem::Problem;
use crate::routes::{RouteDoc, SchemaFn};
use crate::{route_docs, Resource};

const COMPONENTS: &str = "#/components/schemas/";

/// The document's own schema (for the route that serves it).
pub struct Document;

impl JsonSchema for Document {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "OpenApiDocument".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schemars::json_schema!({
            "type": "object",
            "description": "An OpenAPI 3.1 document (https://spec.openapis.org/oas/v3.1.0).",
            "required": ["openapi", "info", "paths"],
            "properties": {"openapi": {"type": "string", "pattern": "^3\\.1\\."}}
        })
    }
}

/// The document as served: the committed `docs/openapi.json`, compiled
/// in, so that no function builds JSON Schemas at run time (nor links the
/// code that does). A test keeps the file the one [`generated_json`]
/// writes.
pub fn document_json() -> &'static str {
    include_str!("../../../docs/openapi.json")
}

/// The document of every route as the code generates it (pretty JSON,
/// ending in a new line: the committed file's exact text).
pub fn generated_json() -> String {
    let mut text =
        serde_json::to_string_pretty(&document(&Resource::ALL)).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    text
}

fn generator(serialize: bool) -> SchemaGenerator {
    let settings = SchemaSettings::draft2020_12().with(|s| {
        s.definitions_path = "/components/schemas".into();
        s.meta_schema = None;
    });
    if serialize {
        settings.for_serialize().into_generator()
    } else {
        settings.for_deserialize().into_generator()
    }
}

/// The OpenAPI document of the given resources' routes.
pub fn document(resources: &[Resource]) -> Value {
    // Requests are described as decoded, responses as encoded; the two sets
    // of components are merged at the end.
    let mut requests = generator(false);
    let mut responses = generator(true);
    let problem = responses.subschema_for::<Problem>().to_value();
    let mut request_parts: Vec<(String, String, Value)> = Vec::new();
    let mut response_parts: Vec<Value> = Vec::new();
    let mut body_required: BTreeMap<String, Vec<String>> = BTreeMap::new();

    for doc in route_docs(resources) {
        let (params, body) = request_side(&doc, &mut requests, &mut body_required);
        request_parts.push((
            doc.path.to_string(),
            doc.method.as_str().to_ascii_lowercase(),
            json!({"parameters": params, "requestBody": body}),
        ));
        response_parts.push(response_side(&doc, &mut responses));
    }

    // Required members of create bodies: the component says which (and
    // those may not be null).
    let mut request_defs = requests.take_definitions(true);
    for (name, required) in &body_required {
        if let Some(Value::Object(def)) = request_defs.get_mut(name) {
            require(def, required);
        }
    }
    let response_defs = responses.take_definitions(true);

    // A name both sides use for different shapes: the request's is renamed.
    let mut renames: BTreeMap<String, String> = BTreeMap::new();
    for (name, def) in &request_defs {
        if response_defs.get(name).is_some_and(|r| r != def) {
            let new = if name.ends_with("Input") {
                format!("{name}Request")
            } else {
                format!("{name}Input")
            };
            renames.insert(name.clone(), new);
        }
    }
    let mut schemas = Map::new();
    for (name, def) in response_defs {
        schemas.insert(name, def);
    }
    for (name, mut def) in request_defs {
        rename_refs(&mut def, &renames);
        let name = renames.get(&name).cloned().unwrap_or(name);
        schemas.entry(name).or_insert(def);
    }
    let schemas = sorted(schemas);

    let docs = route_docs(resources);
    let mut paths = Map::new();
    for (((path, method, mut req), res), doc) in
        request_parts.into_iter().zip(response_parts).zip(&docs)
    {
        rename_refs(&mut req, &renames);
        let mut op = Map::new();
        op.insert("operationId".into(), json!(operation_id(doc)));
        op.insert("summary".into(), json!(doc.summary));
        op.insert("tags".into(), json!([tag(doc.path)]));
        if doc.public {
            op.insert("security".into(), json!([]));
        }
        if let Some(p) = req
            .get("parameters")
            .filter(|p| p.as_array().is_some_and(|a| !a.is_empty()))
        {
            op.insert("parameters".into(), p.clone());
        }
        if let Some(b) = req.get("requestBody").filter(|b| !b.is_null()) {
            op.insert("requestBody".into(), b.clone());
        }
        op.insert("responses".into(), res);
        let entry = paths
            .entry(path)
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = entry {
            m.insert(method, Value::Object(op));
        }
    }

    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Training Management System API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Course runs, sessions, trainers, users and the sync to SSG's \
                TPGateway. Every route but sign-in, refresh, sign-out and this document \
                needs `Authorization: Bearer <access token>` (from POST /auth/login). \
                Errors are application/problem+json (RFC 9457) naming the fields at \
                fault in `errors`. Writes to an existing resource need its ETag in \
                `If-Match`; creates honour `Idempotency-Key`."
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "parameters": parameters(),
            "headers": headers(),
            "responses": error_responses(&problem),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "An access token from POST /auth/login or /auth/refresh \
                        (HS256, at most 15 minutes)."
                }
            }
        },
        "security": [{"bearer": []}]
    })
}

/// Parameters and request body of one route.
fn request_side(
    doc: &RouteDoc,
    g: &mut SchemaGenerator,
    body_required: &mut BTreeMap<String, Vec<String>>,
) -> (Vec<Value>, Value) {
    let mut params = Vec::new();
    for name in doc.path_params() {
        let schema = match doc.path_schemas.iter().find(|(n, _)| *n == name) {
            Some((_, f)) => f(g).to_value(),
            None => json!({"type": "string", "format": "uuid"}),
        };
        params.push(json!({"name": name, "in": "path", "required": true, "schema": schema}));
    }
    if let Some(f) = doc.query_schema {
        let def = resolve(g, f);
        let required: BTreeSet<String> = def
            .get("required")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(Value::Object(props)) = def.get("properties") {
            for (name, schema) in props {
                let mut p = json!({
                    "name": name,
                    "in": "query",
                    "required": required.contains(name),
                    "schema": without_null(schema.clone()),
                });
                if let Some(d) = schema.get("description") {
                    p["description"] = d.clone();
                }
                params.push(p);
            }
        }
    }
    if doc.if_match {
        params.push(json!({"$ref": "#/components/parameters/IfMatch"}));
    }
    if doc.idempotent {
        params.push(json!({"$ref": "#/components/parameters/IdempotencyKey"}));
    }
    params.push(json!({"$ref": "#/components/parameters/CorrelationId"}));

    let body = match &doc.body {
        None => Value::Null,
        Some(b) => {
            let example = (b.example)();
            let (types, schema) = if b.merge_patch {
                let patched = b.patched.map(|f| resolve(g, f)).unwrap_or_default();
                let input = resolve(g, b.schema);
                (
                    vec!["application/merge-patch+json", "application/json"],
                    patch_schema(&input, &patched, b.required),
                )
            } else {
                let schema = (b.schema)(g).to_value();
                if let Some(name) = ref_name(&schema) {
                    body_required.insert(
                        name.to_string(),
                        b.required.iter().map(|s| s.to_string()).collect(),
                    );
                }
                (vec!["application/json"], schema)
            };
            let mut content = Map::new();
            for t in types {
                content.insert(t.into(), json!({"schema": schema, "example": example}));
            }
            json!({"required": !b.required.is_empty() || b.merge_patch, "content": content})
        }
    };
    (params, body)
}

/// The responses of one route: its success, then the errors it can answer.
fn response_side(doc: &RouteDoc, g: &mut SchemaGenerator) -> Value {
    let mut out = Map::new();
    let r = doc.response;
    let mut success = Map::new();
    success.insert(
        "description".into(),
        json!(match r.status {
            201 => "Created",
            204 => "Done; no body",
            _ => "OK",
        }),
    );
    let mut headers = Map::new();
    headers.insert(
        "X-Correlation-Id".into(),
        json!({"$ref": "#/components/headers/CorrelationId"}),
    );
    if r.etag {
        headers.insert("ETag".into(), json!({"$ref": "#/components/headers/ETag"}));
    }
    if r.status == 201 {
        headers.insert(
            "Location".into(),
            json!({"$ref": "#/components/headers/Location"}),
        );
    }
    if doc.idempotent {
        headers.insert(
            "Idempotent-Replayed".into(),
            json!({"$ref": "#/components/headers/IdempotentReplayed"}),
        );
    }
    success.insert("headers".into(), Value::Object(headers));
    if let Some(f) = r.schema {
        success.insert(
            "content".into(),
            json!({"application/json": {"schema": f(g).to_value()}}),
        );
    }
    out.insert(r.status.to_string(), Value::Object(success));
    for status in error_statuses(doc) {
        out.insert(
            status.to_string(),
            json!({"$ref": format!("#/components/responses/Problem{status}")}),
        );
    }
    Value::Object(out)
}

/// The errors a route can answer, from what it reads.
pub fn error_statuses(doc: &RouteDoc) -> Vec<u16> {
    let has_path = !doc.path_params().is_empty();
    let writes = doc.method != http::Method::GET;
    let mut s = Vec::new();
    if doc.body.is_some() || !doc.query.is_empty() || has_path || doc.idempotent {
        s.push(400);
    }
    if !doc.public || doc.path.starts_with("/auth/") {
        s.push(401);
    }
    if !doc.public {
        s.push(403);
    }
    if has_path {
        s.push(404);
    }
    if writes {
        s.push(409);
    }
    if doc.if_match {
        s.extend([412, 428]);
    }
    if doc.body.is_some() {
        s.extend([413, 415]);
    }
    if doc.body.is_some() || doc.idempotent {
        s.push(422);
    }
    if doc.path == "/auth/login" {
        s.push(429);
    }
    s.extend([500, 503]);
    s
}

fn error_responses(problem: &Value) -> Value {
    let described: [(u16, &str); 14] = [
        (400, "The request is malformed: bad JSON, query string, cursor or path id"),
        (401, "No valid access token (or, for sign-in, wrong e-mail or password)"),
        (403, "The role matrix does not allow this"),
        (404, "No such resource (or one the caller may not see)"),
        (409, "Conflict: a duplicate, an illegal change of state, or a concurrent request (Retry-After)"),
        (412, "If-Match is not the current ETag"),
        (413, "The body (or a batch) is too large"),
        (415, "The body is not application/json"),
        (422, "Invalid fields, each named in `errors`; or an Idempotency-Key reused with another request"),
        (428, "If-Match is required"),
        (429, "Too many failed sign-ins for this e-mail (Retry-After)"),
        (500, "Internal error"),
        (503, "A backing service is unavailable; retry later"),
        (405, "Method not allowed"),
    ];
    let mut m = Map::new();
    for (status, what) in described {
        let mut headers =
            json!({"X-Correlation-Id": {"$ref": "#/components/headers/CorrelationId"}});
        if matches!(status, 409 | 429 | 503) {
            headers["Retry-After"] = json!({"$ref": "#/components/headers/RetryAfter"});
        }
        m.insert(
            format!("Problem{status}"),
            json!({
                "description": what,
                "headers": headers,
                "content": {"application/problem+json": {"schema": problem}}
            }),
        );
    }
    Value::Object(m)
}

fn parameters() -> Value {
    json!({
        "IfMatch": {
            "name": "If-Match", "in": "header", "required": true,
            "description": "The ETag of the version being changed (from GET or the last write); 412 when it is not the current one.",
            "schema": {"type": "string", "pattern": "^\"[0-9]+\"$"}
        },
        "IdempotencyKey": {
            "name": "Idempotency-Key", "in": "header", "required": false,
            "description": "1 to 255 printable ASCII characters. The same key with the same request within 24 hours answers the first response again (Idempotent-Replayed: true); with another request, 422.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255}
        },
        "CorrelationId": {
            "name": "X-Correlation-Id", "in": "header", "required": false,
            "description": "Kept when 1 to 128 characters of [A-Za-z0-9._:-], otherwise replaced; echoed on the response and carried in every log line and audit record.",
            "schema": {"type": "string", "maxLength": 128}
        }
    })
}

fn headers() -> Value {
    json!({
        "ETag": {"description": "The representation's version, for If-Match.", "schema": {"type": "string"}},
        "Location": {"description": "Where the created resource is.", "schema": {"type": "string"}},
        "IdempotentReplayed": {"description": "`true` when this is the stored answer to an earlier request with the same Idempotency-Key.", "schema": {"type": "string", "enum": ["true"]}},
        "CorrelationId": {"description": "The request's correlation id.", "schema": {"type": "string"}},
        "RetryAfter": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer", "minimum": 0}}
    })
}

/// The definition behind a schema (following a reference to a component).
fn resolve(g: &mut SchemaGenerator, f: SchemaFn) -> Value {
    let schema = f(g).to_value();
    match ref_name(&schema) {
        Some(name) => g.definitions().get(name).cloned().unwrap_or(schema),
        None => schema,
    }
}

fn ref_name(schema: &Value) -> Option<&str> {
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix(COMPONENTS))
}

/// A merge patch of `patched`'s members, each as `input` takes it; the
/// `required` ones may not be null, the others may (null clears them).
fn patch_schema(input: &Value, patched: &Value, required: &[&str]) -> Value {
    let mut props = Map::new();
    let names = patched
        .get("properties")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    for name in names {
        if let Some(s) = input.get("properties").and_then(|p| p.get(&name)) {
            let s = if required.contains(&name.as_str()) {
                without_null(s.clone())
            } else {
                s.clone()
            };
            props.insert(name, s);
        }
    }
    json!({
        "type": "object",
        "description": "A JSON merge patch (RFC 7396): the members to change; null clears an optional one. At least one member.",
        "minProperties": 1,
        "additionalProperties": false,
        "properties": props
    })
}

/// Marks `required` members required and not null.
fn require(def: &mut Map<String, Value>, required: &[String]) {
    if required.is_empty() {
        return;
    }
    if let Some(Value::Object(props)) = def.get_mut("properties") {
        for name in required {
            if let Some(p) = props.get_mut(name) {
                *p = without_null(p.clone());
            }
        }
    }
    def.insert("required".into(), json!(required));
}

/// The schema without its `null` alternative (an `Option`'s).
fn without_null(mut schema: Value) -> Value {
    if let Some(Value::Array(types)) = schema.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types[0].clone();
            schema["type"] = only;
        }
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(alts)) = schema.get(key).cloned() {
            let kept: Vec<Value> = alts
                .into_iter()
                .filter(|a| a.get("type").and_then(Value::as_str) != Some("null"))
                .collect();
            if kept.len() == 1 {
                let mut only = kept[0].clone();
                if let (Value::Object(o), Value::Object(s)) = (&mut only, &schema) {
                    for (k, v) in s {
                        if k != key {
                            o.entry(k.clone()).or_insert(v.clone());
                        }
                    }
                }
                return only;
            }
            schema[key] = Value::Array(kept);
        }
    }
    if let Some(Value::Array(e)) = schema.get_mut("enum") {
        e.retain(|v| !v.is_null());
    }
    schema
}

fn rename_refs(v: &mut Value, renames: &BTreeMap<String, String>) {
    if renames.is_empty() {
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if k == "$ref" {
                    if let Some(name) = x.as_str().and_then(|r| r.strip_prefix(COMPONENTS)) {
                        if let Some(new) = renames.get(name) {
                            *x = json!(format!("{COMPONENTS}{new}"));
                        }
                    }
                } else {
                    rename_refs(x, renames);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| rename_refs(x, renames)),
        _ => {}
    }
}

fn sorted(m: Map<String, Value>) -> Map<String, Value> {
    let mut entries: Vec<(String, Value)> = m.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.into_iter().collect()
}

/// `post /course-runs/{id}/cancel` -> `post_course_runs_id_cancel`.
pub fn operation_id(doc: &RouteDoc) -> String {
    let mut id = doc.method.as_str().to_ascii_lowercase();
    for seg in doc.path.split('/').filter(|s| !s.is_empty()) {
        id.push('_');
        id.extend(seg.chars().filter(|c| !matches!(c, '{' | '}')).map(|c| {
            if c.is_ascii_alphanumeric() {
                c
            } else {
                '_'
            }
        }));
    }
    id
}

/// The first segment of the path, as the operation's tag.
fn tag(path: &str) -> &str {
    match path.split('/').find(|s| !s.is_empty()) {
        Some("openapi.json") | None => "auth",
        Some(s) => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_an_operation_with_a_unique_id() {
        let doc = document(&Resource::ALL);
        let docs = route_docs(&Resource::ALL);
        let mut ids = BTreeSet::new();
        for d in &docs {
            let op = &doc["paths"][d.path][d.method.as_str().to_ascii_lowercase()];
            assert!(op.is_object(), "{} {} missing", d.method, d.path);
            assert!(ids.insert(op["operationId"].as_str().unwrap_or_default().to_string()));
        }
        let count: usize = doc["paths"]
            .as_object()
            .map(|p| p.values().filter_map(Value::as_object).map(Map::len).sum())
            .unwrap_or(0);
        assert_eq!(count, docs.len());
    }

    #[test]
    fn query_parameters_are_the_declared_ones() {
        let doc = document(&Resource::ALL);
        for d in route_docs(&Resource::ALL) {
            let op = &doc["paths"][d.path][d.method.as_str().to_ascii_lowercase()];
            let documented: Vec<&str> = op["parameters"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter(|p| p["in"] == "query")
                        .filter_map(|p| p["name"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(documented, d.query, "{} {}", d.method, d.path);
        }
    }

    #[test]
    fn create_bodies_require_what_the_route_requires() {
        let doc = document(&Resource::ALL);
        for d in route_docs(&Resource::ALL) {
            let Some(b) = d.body else { continue };
            let op = &doc["paths"][d.path][d.method.as_str().to_ascii_lowercase()];
            let schema = &op["requestBody"]["content"]["application/json"]["schema"];
            if b.merge_patch {
                assert_eq!(schema["minProperties"], 1);
                continue;
            }
            let Some(name) = ref_name(schema) else {
                panic!("{} {}: body is not a component", d.method, d.path)
            };
            let def = &doc["components"]["schemas"][name];
            let required: Vec<&str> = def["required"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            assert_eq!(required, b.required, "{} {}", d.method, d.path);
        }
    }

    #[test]
    fn without_null_drops_the_null_alternative() {
        assert_eq!(
            without_null(json!({"type": ["string", "null"], "format": "date"})),
            json!({"type": "string", "format": "date"})
        );
        assert_eq!(
            without_null(
                json!({"anyOf": [{"$ref": "#/components/schemas/X"}, {"type": "null"}], "description": "d"})
            ),
            json!({"$ref": "#/components/schemas/X", "description": "d"})
        );
    }

    #[test]
    fn every_reference_resolves() {
        let doc = document(&Resource::ALL);
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            let pointer = r.trim_start_matches('#');
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
    }

    fn collect_refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if k == "$ref" {
                        if let Some(s) = x.as_str() {
                            out.push(s.to_string());
                        }
                    } else {
                        collect_refs(x, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
            _ => {}
        }
    }
}
