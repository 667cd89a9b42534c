//! JSON documents in and out of the domain: decoding a JSON value into an
//! input type with the field at fault named, and JSON Merge Patch (RFC 7396)
//! over an entity's fields, so that every resource's PATCH is one mechanism
//! rather than a hand-written list of fields.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ValidationErrors;

/// A merge patch: a JSON object whose members replace, clear (null) or,
/// for objects, merge into the target's members.
pub type MergePatch = Map<String, Value>;

/// Applies `patch` to `target` as RFC 7396 says.
pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(members) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (name, value) in members {
            if value.is_null() {
                t.remove(name);
            } else {
                merge(t.entry(name.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// Merges `patch` into the document of `fields` and decodes the result as
/// the input type `I`, ready for the same validation a create gets.
/// Errors: an empty patch, a name that is not one of the fields, and any
/// type error of the merged document, each naming the field.
pub fn apply_merge_patch<F: Serialize, I: DeserializeOwned>(
    fields: &F,
    patch: &MergePatch,
) -> Result<I, ValidationErrors> {
    if patch.is_empty() {
        return Err(ValidationErrors::single("body", "names no field to change"));
    }
    let mut doc = serde_json::to_value(fields).unwrap_or_else(|_| Value::Object(Map::new()));
    if let Value::Object(known) = &doc {
        let mut errors = ValidationErrors::default();
        for name in patch.keys().filter(|n| !known.contains_key(n.as_str())) {
            errors.push(member_name(name), "is not a field that can be changed");
        }
        if !errors.is_empty() {
            return Err(errors);
        }
    }
    merge(&mut doc, &Value::Object(patch.clone()));
    decode_value(doc)
}

/// A member name as an error names it: an empty name still has to be
/// named somehow, as `""`.
fn member_name(name: &str) -> String {
    if name.is_empty() {
        "\"\"".to_string()
    } else {
        name.to_string()
    }
}

/// Decodes a JSON value as `T`, naming the field at fault.
pub fn decode_value<T: DeserializeOwned>(value: Value) -> Result<T, ValidationErrors> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let (field, reason) = describe_data_error(&path, &e.inner().to_string());
        ValidationErrors::single(field, reason)
    })
}

/// Turns serde's message into a field path and a reason without the
/// "at line x column y" suffix and without the offending value (it may be
/// personal data). Unknown and missing fields name the field itself rather
/// than its parent.
pub fn describe_data_error(path: &str, message: &str) -> (String, String) {
    let reason = message
        .split(" at line ")
        .next()
        .unwrap_or(message)
        .to_string();
    // serde_path_to_error's path ends with the field for an unknown field,
    // and at its parent for a missing one.
    let join = |name: &str| {
        if path.is_empty() || path == "." {
            name.to_string()
        } else if path == name || path.ends_with(&format!(".{name}")) {
            path.to_string()
        } else {
            format!("{path}.{name}")
        }
    };
    for (prefix, why) in [
        ("unknown field `", "is not a known field"),
        ("missing field `", "is required"),
        ("duplicate field `", "appears more than once"),
    ] {
        if let Some(rest) = reason.strip_prefix(prefix) {
            if let Some(name) = rest.split('`').next() {
                return (join(&member_name(name)), why.to_string());
            }
        }
    }
    let reason = match reason.split_once(", expected ") {
        Some((what, expected))
            if what.starts_with("invalid type") || what.starts_with("invalid value") =>
        {
            format!("has the wrong type or value: expected {expected}")
        }
        _ if reason.starts_with("invalid length") => "has the wrong number of elements".into(),
        // A custom message from a newtype's parser (e.g. an id's form).
        _ => reason,
    };
    let field = if path.is_empty() || path == "." {
        "body".to_string()
    } else {
        path.to_string()
    };
    (field, reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc7396_examples() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (mut target, patch, want) in cases {
            merge(&mut target, &patch);
            assert_eq!(target, want, "{patch}");
        }
    }

    #[derive(Debug, Serialize, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        name: Option<String>,
        size: Option<u32>,
    }

    #[test]
    fn patches_are_checked_and_named() {
        let doc = Doc {
            name: Some("a".into()),
            size: Some(3),
        };
        let p = |v: Value| v.as_object().cloned().unwrap();
        let out: Doc = apply_merge_patch(&doc, &p(json!({"name": null}))).unwrap();
        assert_eq!(
            out,
            Doc {
                name: None,
                size: Some(3)
            }
        );
        let err = apply_merge_patch::<_, Doc>(&doc, &p(json!({"size": "x"}))).unwrap_err();
        assert_eq!(err.0[0].field, "size");
        let err = apply_merge_patch::<_, Doc>(&doc, &p(json!({"zzz": null}))).unwrap_err();
        assert_eq!(err.0[0].field, "zzz");
        let err = apply_merge_patch::<_, Doc>(&doc, &MergePatch::new()).unwrap_err();
        assert_eq!(err.0[0].field, "body");
    }
}
