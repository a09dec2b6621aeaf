//! Typed field access on request JSON with precise error paths (`messages[3].content[0].text`),
//! shared by every dialect's request parser.
//!
//! A [`Path`] is a chain of borrowed segments on the stack, rendered only when an error needs
//! it. Getters take values out of their object, so strings move into the canonical request
//! without copies; absent and `null` are the same thing. Every error is a 400 whose message
//! starts with the field's path (OpenAI Responses turns that prefix back into `param`).

use std::fmt;

use serde_json::{Map, Value};

use crate::chat::GatewayError;

pub(crate) type Obj = Map<String, Value>;
pub(crate) type Result<T> = std::result::Result<T, GatewayError>;

/// The request body as a JSON object, or a 400 saying why it is not one.
pub(crate) fn root_object(body: &[u8]) -> Result<Obj> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(root)) => Ok(root),
        Ok(other) => Err(GatewayError::invalid(format!(
            "the request body must be a JSON object, not {}",
            kind(&other)
        ))),
        Err(e) => Err(GatewayError::invalid(format!(
            "the request body is not valid JSON: {e}"
        ))),
    }
}

/// Why `body`, which a faster parse refused, is not a JSON object: the messages of
/// [`root_object`], from its parse.
pub(crate) fn not_a_root_object(body: &[u8]) -> GatewayError {
    root_object(body).err().unwrap_or_else(|| {
        // Unreachable while the two parses agree, which `dialect::lean`'s tests check.
        GatewayError::invalid("the request body is not valid JSON")
    })
}

/// Where a value sits in the request body.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

pub(crate) static ROOT: Path<'static> = Path::Root;

impl<'a> Path<'a> {
    pub(crate) fn key(&'a self, key: &'a str) -> Path<'a> {
        Path::Key(self, key)
    }

    pub(crate) fn index(&'a self, index: usize) -> Path<'a> {
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

/// A 400 about the field at `at`: `"<path>: <message>"`.
pub(crate) fn invalid(at: &Path, message: impl fmt::Display) -> GatewayError {
    GatewayError::invalid(format!("{at}: {message}"))
}

pub(crate) fn wrong_type(at: &Path, expected: &str, got: &Value) -> GatewayError {
    wrong_kind(at, expected, kind(got))
}

/// [`wrong_type`], given what the value is ([`kind`]).
pub(crate) fn wrong_kind(at: &Path, expected: &str, got: &str) -> GatewayError {
    invalid(at, format_args!("expected {expected}, got {got}"))
}

/// The error for a required field that is absent (or `null`).
pub(crate) fn missing(at: &Path) -> GatewayError {
    invalid(at, "field required")
}

/// What a value is, in the words of an error message.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON object whose members can be taken out by key: a `Value`'s map, or the leaner
/// [`super::lean::Members`].
pub(crate) trait Fields {
    type Item: Field;
    /// Removes `key` and returns its value (the last one, if the key was repeated).
    fn take(&mut self, key: &str) -> Option<Self::Item>;
}

/// A JSON value as the getters see it.
pub(crate) trait Field {
    fn is_null(&self) -> bool;
}

impl Fields for Obj {
    type Item = Value;

    fn take(&mut self, key: &str) -> Option<Value> {
        self.remove(key)
    }
}

impl Field for Value {
    fn is_null(&self) -> bool {
        Value::is_null(self)
    }
}

/// Converts a value already taken out of field `key` of the object at `at`; absent and `null`
/// are both `None`. For parsers that look a field up in more than one way.
pub(crate) fn convert<V: Field, T>(
    taken: Option<V>,
    at: &Path,
    key: &str,
    convert: impl FnOnce(V, &Path) -> Result<T>,
) -> Result<Option<T>> {
    match taken {
        Some(value) if !value.is_null() => convert(value, &at.key(key)).map(Some),
        _ => Ok(None),
    }
}

/// Takes `key` out of `obj` and converts it; absent and `null` are both `None`.
pub(crate) fn get<F: Fields, T>(
    obj: &mut F,
    at: &Path,
    key: &str,
    convert: impl FnOnce(F::Item, &Path) -> Result<T>,
) -> Result<Option<T>> {
    self::convert(obj.take(key), at, key, convert)
}

/// Like [`get`], for a field that must be present.
pub(crate) fn require<F: Fields, T>(
    obj: &mut F,
    at: &Path,
    key: &str,
    convert: impl FnOnce(F::Item, &Path) -> Result<T>,
) -> Result<T> {
    get(obj, at, key, convert)?.ok_or_else(|| missing(&at.key(key)))
}

pub(crate) fn string(value: Value, at: &Path) -> Result<String> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(wrong_type(at, "a string", &other)),
    }
}

pub(crate) fn any(value: Value, _: &Path) -> Result<Value> {
    Ok(value)
}

pub(crate) fn boolean(value: Value, at: &Path) -> Result<bool> {
    match value {
        Value::Bool(b) => Ok(b),
        other => Err(wrong_type(at, "a boolean", &other)),
    }
}

/// Any JSON number, kept as it was sent.
pub(crate) fn number(value: Value, at: &Path) -> Result<Value> {
    match value {
        Value::Number(_) => Ok(value),
        other => Err(wrong_type(at, "a number", &other)),
    }
}

pub(crate) fn unsigned(value: Value, at: &Path) -> Result<u64> {
    value
        .as_u64()
        .ok_or_else(|| wrong_type(at, "a non-negative integer", &value))
}

pub(crate) fn object(value: Value, at: &Path) -> Result<Obj> {
    match value {
        Value::Object(obj) => Ok(obj),
        other => Err(wrong_type(at, "an object", &other)),
    }
}

pub(crate) fn array(value: Value, at: &Path) -> Result<Vec<Value>> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(wrong_type(at, "an array", &other)),
    }
}

/// The string at `key` of a borrowed object, with the same error rules as [`get`].
pub(crate) fn get_str<'v>(obj: &'v Obj, at: &Path, key: &str) -> Result<Option<&'v str>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(wrong_type(&at.key(key), "a string", other)),
    }
}

/// Like [`get_str`], for a field that must be present.
pub(crate) fn require_str<'v>(obj: &'v Obj, at: &Path, key: &str) -> Result<&'v str> {
    get_str(obj, at, key)?.ok_or_else(|| missing(&at.key(key)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::ErrorKind;
    use serde_json::json;

    fn obj(value: Value) -> Obj {
        match value {
            Value::Object(obj) => obj,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn paths_render_as_field_paths() {
        let input = ROOT.key("input");
        let item = input.index(3);
        let content = item.key("content");
        assert_eq!(content.index(0).to_string(), "input[3].content[0]");
        assert_eq!(content.key("text").to_string(), "input[3].content.text");
        assert_eq!(ROOT.to_string(), "");
    }

    #[test]
    fn root_must_be_a_json_object() {
        assert_eq!(root_object(b"{\"a\": 1}").unwrap(), obj(json!({"a": 1})));
        let err = root_object(b"[1]").unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidRequest);
        assert_eq!(
            err.message,
            "the request body must be a JSON object, not an array"
        );
        assert!(root_object(b"{\"a\": ")
            .unwrap_err()
            .message
            .starts_with("the request body is not valid JSON: "));
    }

    #[test]
    fn getters_take_and_convert() {
        let mut o = obj(json!({"a": "x", "b": null, "c": 3, "d": [1], "e": true, "f": -1.5}));
        let at = ROOT.key("body");
        assert_eq!(get(&mut o, &at, "b", string).unwrap(), None);
        assert_eq!(get(&mut o, &at, "absent", string).unwrap(), None);
        assert_eq!(get(&mut o, &at, "c", unsigned).unwrap(), Some(3));
        assert_eq!(require(&mut o, &at, "a", string).unwrap(), "x");
        assert!(require(&mut o, &at, "e", boolean).unwrap());
        assert_eq!(require(&mut o, &at, "f", number).unwrap(), json!(-1.5));
        assert_eq!(
            require(&mut o, &at, "d", object).unwrap_err().message,
            "body.d: expected an object, got an array"
        );
        // Taken fields are gone, so a second look finds nothing.
        assert!(o.is_empty());
        assert_eq!(
            require(&mut o, &at, "a", any).unwrap_err().message,
            "body.a: field required"
        );
    }

    #[test]
    fn converters_name_what_they_got() {
        let cases: [(Result<()>, &str); 6] = [
            (
                string(json!(1), &ROOT.key("s")).map(drop),
                "s: expected a string, got a number",
            ),
            (
                boolean(json!("y"), &ROOT.key("b")).map(drop),
                "b: expected a boolean, got a string",
            ),
            (
                unsigned(json!(-1), &ROOT.key("u")).map(drop),
                "u: expected a non-negative integer, got a number",
            ),
            (
                number(json!(null), &ROOT.key("n")).map(drop),
                "n: expected a number, got null",
            ),
            (
                array(json!({}), &ROOT.key("a")).map(drop),
                "a: expected an array, got an object",
            ),
            (
                object(json!([]), &ROOT.key("o")).map(drop),
                "o: expected an object, got an array",
            ),
        ];
        for (result, message) in cases {
            assert_eq!(result.unwrap_err().message, message);
        }
    }

    #[test]
    fn convert_serves_other_lookups() {
        let at = ROOT.key("part");
        assert_eq!(convert(None, &at, "k", string).unwrap(), None);
        assert_eq!(convert(Some(Value::Null), &at, "k", string).unwrap(), None);
        assert_eq!(
            convert(Some(json!(2)), &at, "k", string)
                .unwrap_err()
                .message,
            "part.k: expected a string, got a number"
        );
    }

    #[test]
    fn borrowed_string_getters() {
        let o = obj(json!({"a": "x", "b": null, "c": 3}));
        assert_eq!(get_str(&o, &ROOT, "a").unwrap(), Some("x"));
        assert_eq!(get_str(&o, &ROOT, "b").unwrap(), None);
        assert_eq!(
            get_str(&o, &ROOT, "c").unwrap_err().message,
            "c: expected a string, got a number"
        );
        assert_eq!(
            require_str(&o, &ROOT, "zz").unwrap_err().message,
            "zz: field required"
        );
        // Borrowing leaves the object as it was.
        assert_eq!(o.len(), 3);
    }
}
