//! Typed field access on request JSON with precise error paths (`input[3].content[0].text`).
//!
//! A [`Path`] is a chain of borrowed segments on the stack, rendered only when an error needs
//! it. Getters take values out of their object, so strings move into the canonical request
//! without copies; absent and `null` are the same thing, as in OpenAI's API.

use std::fmt;

use serde_json::{Map, Value};

use crate::chat::GatewayError;

pub(super) type Obj = Map<String, Value>;
pub(super) type Result<T> = std::result::Result<T, GatewayError>;

#[derive(Debug, Clone, Copy)]
pub(super) enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

pub(super) static ROOT: Path<'static> = Path::Root;

impl<'a> Path<'a> {
    pub(super) fn key(&'a self, key: &'a str) -> Path<'a> {
        Path::Key(self, key)
    }

    pub(super) fn index(&'a self, index: usize) -> Path<'a> {
        Path::Index(self, index)
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Key(Path::Root, key) => f.write_str(key),
            Path::Key(parent, key) => write!(f, "{parent}.{key}"),
            Path::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

/// A 400 whose message starts with the field's path; [`super::error`] turns that prefix back
/// into OpenAI's `param`.
pub(super) fn invalid(at: &Path, message: impl fmt::Display) -> GatewayError {
    GatewayError::invalid(format!("{at}: {message}"))
}

pub(super) fn wrong_type(at: &Path, expected: &str, got: &Value) -> GatewayError {
    invalid(at, format_args!("expected {expected}, got {}", kind(got)))
}

pub(super) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Takes `key` out of `obj` and converts it; absent and `null` are both `None`.
pub(super) fn get<T>(
    obj: &mut Obj,
    at: &Path,
    key: &str,
    convert: impl FnOnce(Value, &Path) -> Result<T>,
) -> Result<Option<T>> {
    match obj.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => convert(value, &at.key(key)).map(Some),
    }
}

/// Like [`get`], for a field that must be present.
pub(super) fn require<T>(
    obj: &mut Obj,
    at: &Path,
    key: &str,
    convert: impl FnOnce(Value, &Path) -> Result<T>,
) -> Result<T> {
    get(obj, at, key, convert)?.ok_or_else(|| invalid(&at.key(key), "field required"))
}

pub(super) fn string(value: Value, at: &Path) -> Result<String> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(wrong_type(at, "a string", &other)),
    }
}

pub(super) fn any(value: Value, _: &Path) -> Result<Value> {
    Ok(value)
}

pub(super) fn boolean(value: Value, at: &Path) -> Result<bool> {
    match value {
        Value::Bool(b) => Ok(b),
        other => Err(wrong_type(at, "a boolean", &other)),
    }
}

pub(super) fn number(value: Value, at: &Path) -> Result<Value> {
    match value {
        Value::Number(_) => Ok(value),
        other => Err(wrong_type(at, "a number", &other)),
    }
}

pub(super) fn unsigned(value: Value, at: &Path) -> Result<u64> {
    value
        .as_u64()
        .ok_or_else(|| wrong_type(at, "a non-negative integer", &value))
}

pub(super) fn object(value: Value, at: &Path) -> Result<Obj> {
    match value {
        Value::Object(obj) => Ok(obj),
        other => Err(wrong_type(at, "an object", &other)),
    }
}

pub(super) fn array(value: Value, at: &Path) -> Result<Vec<Value>> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(wrong_type(at, "an array", &other)),
    }
}

/// The string at `key` of a borrowed object, with the same error rules as [`get`].
pub(super) fn get_str<'v>(obj: &'v Obj, at: &Path, key: &str) -> Result<Option<&'v str>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(wrong_type(&at.key(key), "a string", other)),
    }
}

/// Like [`get_str`], for a field that must be present.
pub(super) fn require_str<'v>(obj: &'v Obj, at: &Path, key: &str) -> Result<&'v str> {
    get_str(obj, at, key)?.ok_or_else(|| invalid(&at.key(key), "field required"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_render_like_openai_params() {
        let input = ROOT.key("input");
        let item = input.index(3);
        let content = item.key("content");
        assert_eq!(content.index(0).to_string(), "input[3].content[0]");
        assert_eq!(ROOT.to_string(), "");
    }

    #[test]
    fn getters() {
        let mut obj = json!({"a": "x", "b": null, "c": 3, "d": [1]})
            .as_object()
            .cloned()
            .unwrap();
        assert_eq!(get_str(&obj, &ROOT, "a").unwrap(), Some("x"));
        assert_eq!(get_str(&obj, &ROOT, "b").unwrap(), None);
        assert_eq!(
            get_str(&obj, &ROOT, "c").unwrap_err().message,
            "c: expected a string, got a number"
        );
        assert_eq!(
            require_str(&obj, &ROOT, "zz").unwrap_err().message,
            "zz: field required"
        );
        assert_eq!(get(&mut obj, &ROOT, "b", string).unwrap(), None);
        assert_eq!(get(&mut obj, &ROOT, "c", unsigned).unwrap(), Some(3));
        assert_eq!(
            require(&mut obj, &ROOT, "d", object).unwrap_err().message,
            "d: expected an object, got an array"
        );
        // Taken fields are gone.
        assert!(obj.get("c").is_none());
    }
}
