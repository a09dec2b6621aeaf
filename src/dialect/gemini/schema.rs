//! Gemini's OpenAPI-subset `Schema` → JSON Schema.
//!
//! `functionDeclarations[].parameters` and `generationConfig.responseSchema` use Google's
//! OpenAPI subset, whose types are upper case (`OBJECT`, `STRING`…). Their `…JsonSchema`
//! siblings take standard JSON Schema, yet Gemini CLI mixes upper-case types into those too.
//! Both go through [`to_json_schema`], which only lower-cases type names and drops
//! Gemini-only keywords: everything else already means the same in JSON Schema.

use serde_json::{Map, Value};

/// Nesting beyond this is left untouched. `serde_json` already refuses documents nested deeper
/// than 128, so this only bounds the work, never truncates a real schema.
const MAX_DEPTH: usize = 64;

/// Returns `schema` with upper-case `type` names lower-cased, recursively.
pub fn to_json_schema(mut schema: Value) -> Value {
    normalize(&mut schema, 0);
    schema
}

/// The schema used when the client asks for JSON without giving one.
pub fn any_object() -> Value {
    let mut schema = Map::new();
    schema.insert("type".into(), Value::String("object".into()));
    Value::Object(schema)
}

fn normalize(node: &mut Value, depth: usize) {
    let Value::Object(map) = node else {
        return;
    };
    if depth > MAX_DEPTH {
        return;
    }
    // Display hints for Google's decoder, meaningless in JSON Schema.
    map.remove("propertyOrdering");
    if let Some(kind) = map.get_mut("type") {
        match kind {
            Value::String(name) if name == "TYPE_UNSPECIFIED" => {
                map.remove("type");
            }
            Value::String(name) => name.make_ascii_lowercase(),
            Value::Array(names) => {
                for name in names.iter_mut() {
                    if let Value::String(name) = name {
                        name.make_ascii_lowercase();
                    }
                }
            }
            _ => {}
        }
    }
    for (key, value) in map.iter_mut() {
        match key.as_str() {
            // Maps from names to sub-schemas.
            "properties" | "patternProperties" | "$defs" | "definitions" => {
                if let Value::Object(children) = value {
                    for child in children.values_mut() {
                        normalize(child, depth + 1);
                    }
                }
            }
            // A sub-schema, or an array of them.
            "items"
            | "prefixItems"
            | "anyOf"
            | "oneOf"
            | "allOf"
            | "not"
            | "additionalProperties" => match value {
                Value::Array(children) => {
                    for child in children {
                        normalize(child, depth + 1);
                    }
                }
                child => normalize(child, depth + 1),
            },
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openapi_types_become_json_schema_types() {
        let schema = json!({
            "type": "OBJECT",
            "propertyOrdering": ["city", "days"],
            "properties": {
                "city": {"type": "STRING", "description": "A city", "enum": ["PARIS", "OSLO"]},
                "days": {"type": "INTEGER", "format": "int32", "nullable": true},
                "type": {"type": "BOOLEAN"},
                "tags": {"type": "ARRAY", "items": {"type": "STRING"}},
                "where": {"anyOf": [{"type": "NUMBER"}, {"type": "NULL"}]},
                "free": {"type": "TYPE_UNSPECIFIED"}
            },
            "required": ["city"]
        });
        assert_eq!(
            to_json_schema(schema),
            json!({
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "A city", "enum": ["PARIS", "OSLO"]},
                    "days": {"type": "integer", "format": "int32", "nullable": true},
                    "type": {"type": "boolean"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "where": {"anyOf": [{"type": "number"}, {"type": "null"}]},
                    "free": {}
                },
                "required": ["city"]
            })
        );
    }

    #[test]
    fn json_schema_passes_through() {
        let schema = json!({
            "type": ["string", "NULL"],
            "$defs": {"Node": {"type": "object", "additionalProperties": {"type": "STRING"}}},
            "prefixItems": [{"type": "INTEGER"}],
            "minimum": 1
        });
        assert_eq!(
            to_json_schema(schema),
            json!({
                "type": ["string", "null"],
                "$defs": {"Node": {"type": "object", "additionalProperties": {"type": "string"}}},
                "prefixItems": [{"type": "integer"}],
                "minimum": 1
            })
        );
        assert_eq!(to_json_schema(json!(true)), json!(true));
        assert_eq!(any_object(), json!({"type": "object"}));
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let mut schema = json!({"type": "STRING"});
        for _ in 0..100 {
            schema = json!({"type": "ARRAY", "items": schema});
        }
        let out = to_json_schema(schema);
        assert_eq!(out["type"], "array");
        assert_eq!(out["items"]["items"]["type"], "array");
    }
}
