//! A JSON tree for request parsing whose upper levels are lean.
//!
//! A `serde_json::Value` gives every object a B-tree node (about 630 bytes, however few its
//! members) and every key its own `String`. A conversation is hundreds of small objects
//! (messages, content blocks), so that is most of a parse's allocations and of the memory it
//! writes, which is what the parse costs on the cold caches a paced gateway converts on
//! (BENCHMARKS.md, "Where a request's first byte goes"). A [`Node`] keeps objects and arrays
//! down to a chosen depth as vectors, with keys borrowed from the body, and everything below
//! that depth as a `Value`; its fields are taken apart with the getters of [`super::fields`],
//! with the same error paths. The tree is built by a parser of its own ([`parse`]), which
//! accepts what serde_json accepts and scans strings sixteen bytes at a time.

mod parse;

use std::borrow::Cow;

use serde_json::Value;

use super::fields::{self, not_a_root_object, wrong_kind, Field, Fields, Obj, Path, Result};

/// A JSON value: lean containers above the depth its parse was given, `Value`s below.
#[derive(Debug, PartialEq)]
pub(crate) enum Node<'de> {
    Object(Members<'de>),
    Array(Vec<Node<'de>>),
    /// A string, borrowed from the body unless escaped: a `type` or `role` is only compared,
    /// and a text is copied once, when it is taken as a `String`.
    Str(Cow<'de, str>),
    /// A scalar other than a string, or a container below the lean depth.
    Value(Value),
}

/// An object's members in the order sent; keys borrow from the body unless escaped.
#[derive(Debug, PartialEq, Default)]
pub(crate) struct Members<'de>(Vec<(Cow<'de, str>, Node<'de>)>);

impl<'de> Node<'de> {
    /// The same value as a `Value`; free for a `Node::Value`.
    pub(crate) fn into_value(self) -> Value {
        match self {
            Node::Value(value) => value,
            Node::Str(s) => Value::String(s.into_owned()),
            Node::Array(items) => Value::Array(items.into_iter().map(Node::into_value).collect()),
            Node::Object(members) => Value::Object(members.into_obj()),
        }
    }

    /// What the value is, in the words of an error message ([`fields::kind`]).
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Node::Object(_) => "an object",
            Node::Array(_) => "an array",
            Node::Str(_) => "a string",
            Node::Value(value) => fields::kind(value),
        }
    }

    /// The string, borrowed from the body when it can be, if the node is one.
    pub(crate) fn into_str(self) -> std::result::Result<Cow<'de, str>, Node<'de>> {
        match self {
            Node::Str(s) => Ok(s),
            Node::Value(Value::String(s)) => Ok(Cow::Owned(s)),
            other => Err(other),
        }
    }

    /// The string, if the node is one.
    pub(crate) fn into_string(self) -> std::result::Result<String, Node<'de>> {
        self.into_str().map(Cow::into_owned)
    }

    /// The string, if the node is one, without taking it.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            Node::Value(Value::String(s)) => Some(s),
            _ => None,
        }
    }

    /// An array's items, whether the array is lean or a `Value`; anything else is given back.
    pub(crate) fn into_items(self) -> std::result::Result<Vec<Node<'de>>, Node<'de>> {
        match self {
            Node::Array(items) => Ok(items),
            Node::Value(Value::Array(items)) => Ok(items.into_iter().map(Node::Value).collect()),
            other => Err(other),
        }
    }
}

impl Field for Node<'_> {
    fn is_null(&self) -> bool {
        matches!(self, Node::Value(Value::Null))
    }
}

impl<'de> Fields for Members<'de> {
    type Item = Node<'de>;

    fn take(&mut self, key: &str) -> Option<Node<'de>> {
        Members::take(self, key)
    }
}

impl<'de> Members<'de> {
    /// The same members as a `Value`'s map, where a repeated key keeps its last value.
    pub(crate) fn into_obj(self) -> Obj {
        self.0
            .into_iter()
            .map(|(key, value)| (key.into_owned(), value.into_value()))
            .collect()
    }

    /// The value of `key` (the last one, if the key was repeated), left in place.
    pub(crate) fn get(&self, key: &str) -> Option<&Node<'de>> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Whether `key` is present with a value other than `null`.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| !v.is_null())
    }

    /// Removes `key` and returns its value (the last one, if the key was repeated).
    pub(crate) fn take(&mut self, key: &str) -> Option<Node<'de>> {
        // A repeated key keeps its last value, and taking it takes them all, as from a
        // `Value`'s map; so members keep their order (no `swap_remove`, which would put a
        // later member before an earlier one of the same key). A parser takes each key it
        // knows once, so an object costs linear time even when a client sends thousands.
        let at = self.0.iter().rposition(|(k, _)| k == key)?;
        let (_, value) = self.0.remove(at);
        if self.0.iter().any(|(k, _)| k == key) {
            self.0.retain(|(k, _)| k != key);
        }
        Some(value)
    }
}

impl From<Obj> for Members<'_> {
    fn from(obj: Obj) -> Self {
        Members(
            obj.into_iter()
                .map(|(key, value)| (Cow::Owned(key), Node::Value(value)))
                .collect(),
        )
    }
}

/// The request body as a lean object: member `key` is parsed with `levels(key)` lean levels
/// (0: a plain `Value`), and member `raw_key` is left unparsed, as its bytes in `body`, for a
/// value looked up by its bytes ([`super::tool_cache`]), which parses them if it must. The
/// errors are [`fields::root_object`]'s.
pub(crate) fn root_object<'b>(
    body: &'b [u8],
    raw_key: &str,
    levels: fn(&str) -> u8,
) -> Result<(Members<'b>, Option<&'b [u8]>)> {
    parse::root_object(body, raw_key, levels).map_err(|parse::Refused| not_a_root_object(body))
}

/// A field that is either a text or a list (a message's `content`, a `system` prompt).
pub(crate) enum TextOrItems<'de> {
    Text(String),
    Items(Vec<Node<'de>>),
}

/// `node` as a text or a list; anything else is a 400 saying it should be `expected`.
pub(crate) fn text_or_items<'de>(
    node: Node<'de>,
    at: &Path,
    expected: &str,
) -> Result<TextOrItems<'de>> {
    match node.into_string() {
        Ok(text) => Ok(TextOrItems::Text(text)),
        Err(other) => other
            .into_items()
            .map(TextOrItems::Items)
            .map_err(|other| wrong_kind(at, expected, other.kind())),
    }
}

/// A field that is either a string or an object (a tool choice, a call's `arguments`).
pub(crate) enum TextOrObject<'de> {
    Text(Cow<'de, str>),
    Object(Members<'de>),
}

/// `node` as a string or an object; anything else is a 400 saying it should be `expected`.
pub(crate) fn text_or_object<'de>(
    node: Node<'de>,
    at: &Path,
    expected: &str,
) -> Result<TextOrObject<'de>> {
    match node.into_str() {
        Ok(text) => Ok(TextOrObject::Text(text)),
        Err(Node::Object(members)) => Ok(TextOrObject::Object(members)),
        Err(Node::Value(Value::Object(obj))) => Ok(TextOrObject::Object(obj.into())),
        Err(other) => Err(wrong_kind(at, expected, other.kind())),
    }
}

// Converters for the getters of [`super::fields`], taking `Node`s where those take `Value`s.

pub(crate) fn string(node: Node, at: &Path) -> Result<String> {
    node.into_string()
        .map_err(|other| wrong_kind(at, "a string", other.kind()))
}

/// A string only looked at (a `type`, a `role`): borrowed from the body when it can be.
pub(crate) fn str<'de>(node: Node<'de>, at: &Path) -> Result<Cow<'de, str>> {
    node.into_str()
        .map_err(|other| wrong_kind(at, "a string", other.kind()))
}

pub(crate) fn boolean(node: Node, at: &Path) -> Result<bool> {
    fields::boolean(node.into_value(), at)
}

/// Any JSON number, kept as it was sent.
pub(crate) fn number(node: Node, at: &Path) -> Result<Value> {
    fields::number(node.into_value(), at)
}

pub(crate) fn unsigned(node: Node, at: &Path) -> Result<u64> {
    fields::unsigned(node.into_value(), at)
}

/// The value as a `Value`, whatever it is.
pub(crate) fn any(node: Node, _: &Path) -> Result<Value> {
    Ok(node.into_value())
}

/// The node itself, whatever it is.
pub(crate) fn node<'de>(node: Node<'de>, _: &Path) -> Result<Node<'de>> {
    Ok(node)
}

pub(crate) fn object<'de>(node: Node<'de>, at: &Path) -> Result<Members<'de>> {
    match node {
        Node::Object(members) => Ok(members),
        Node::Value(Value::Object(obj)) => Ok(obj.into()),
        other => Err(wrong_kind(at, "an object", other.kind())),
    }
}

/// An object as a `Value`'s map (a tool call's `input`, kept as JSON).
pub(crate) fn object_map(node: Node, at: &Path) -> Result<Obj> {
    match node.into_value() {
        Value::Object(obj) => Ok(obj),
        other => Err(fields::wrong_type(at, "an object", &other)),
    }
}

pub(crate) fn array<'de>(node: Node<'de>, at: &Path) -> Result<Vec<Node<'de>>> {
    node.into_items()
        .map_err(|other| wrong_kind(at, "an array", other.kind()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::fields::{get, require, ROOT};
    use crate::json::testing::json_values;
    use proptest::prelude::*;
    use serde_json::json;

    fn levels_for_messages(key: &str) -> u8 {
        if key == "messages" {
            3
        } else {
            0
        }
    }

    fn parse(body: &str) -> Result<(Members<'_>, Option<&[u8]>)> {
        root_object(body.as_bytes(), "tools", levels_for_messages)
    }

    #[test]
    fn levels_are_lean_down_to_the_depth_given() {
        let body = r#"{"messages": [{"role": "user", "content": [{"type": "text"}]}],
                       "meta": {"a": [1]}, "tools": [ {"name": "x"} ]}"#;
        let (mut root, raw) = parse(body).expect("object");
        assert_eq!(raw, Some(&br#"[ {"name": "x"} ]"#[..]));
        // Not listed: a `Value`.
        assert_eq!(root.take("meta"), Some(Node::Value(json!({"a": [1]}))));
        // messages (1) → a message (2) → its content (3) → a block: a `Value`.
        let Some(Node::Array(mut messages)) = root.take("messages") else {
            panic!("a lean array");
        };
        let Node::Object(mut message) = messages.remove(0) else {
            panic!("a lean object");
        };
        assert_eq!(message.take("role"), Some(Node::Str(Cow::Borrowed("user"))));
        let Some(Node::Array(content)) = message.take("content") else {
            panic!("a lean array");
        };
        assert_eq!(content, [Node::Value(json!({"type": "text"}))]);
        // Keys without escapes borrow from the body.
        let (root, _) = parse(r#"{"a\u0062": 1, "cd": 2}"#).expect("object");
        assert!(matches!(root.0[0].0, Cow::Owned(ref k) if k == "ab"));
        assert!(matches!(root.0[1].0, Cow::Borrowed("cd")));
    }

    #[test]
    fn getters_and_errors_are_those_of_values() {
        let body = r#"{"messages": [{"role": 1, "n": null, "role": "user", "x": 2.5, "b": true}]}"#;
        let (mut root, _) = parse(body).expect("object");
        let at = ROOT.key("messages");
        let mut messages = require(&mut root, &ROOT, "messages", array).expect("array");
        let item = at.index(0);
        let mut message = object(messages.remove(0), &item).expect("object");
        // A repeated key keeps its last value; null is absent.
        assert_eq!(message.get("role").and_then(Node::as_str), Some("user"));
        assert!(message.has("role") && !message.has("n") && !message.has("absent"));
        assert_eq!(number(Node::Value(json!(2.5)), &item).unwrap(), json!(2.5));
        assert_eq!(
            number(Node::Str(Cow::Borrowed("1")), &item)
                .unwrap_err()
                .message,
            "messages[0]: expected a number, got a string"
        );
        assert_eq!(
            require(&mut message, &item, "role", string).unwrap(),
            "user"
        );
        assert_eq!(get(&mut message, &item, "n", string).unwrap(), None);
        assert_eq!(get(&mut message, &item, "role", string).unwrap(), None);
        assert!(require(&mut message, &item, "b", boolean).unwrap());
        assert_eq!(
            require(&mut message, &item, "x", unsigned)
                .unwrap_err()
                .message,
            "messages[0].x: expected a non-negative integer, got a number"
        );
        assert_eq!(
            require(&mut message, &item, "absent", super::any)
                .unwrap_err()
                .message,
            "messages[0].absent: field required"
        );
        let lean_object = Node::Object(Members::default());
        assert_eq!(
            string(lean_object, &item).unwrap_err().message,
            "messages[0]: expected a string, got an object"
        );
        assert_eq!(
            array(Node::Value(json!("s")), &item).unwrap_err().message,
            "messages[0]: expected an array, got a string"
        );
        assert_eq!(
            object(Node::Array(Vec::new()), &item).unwrap_err().message,
            "messages[0]: expected an object, got an array"
        );
        // `Value` containers below the lean depth open the same way.
        let mut below = object(Node::Value(json!({"k": "v"})), &item).expect("object");
        assert_eq!(require(&mut below, &item, "k", string).unwrap(), "v");
        assert_eq!(
            array(Node::Value(json!([1, "a"])), &item).unwrap(),
            [Node::Value(json!(1)), Node::Value(json!("a"))]
        );
    }

    #[test]
    fn a_text_or_an_object() {
        let at = ROOT.key("x");
        let text = text_or_object(Node::Str(Cow::Borrowed("a")), &at, "a string or an object");
        assert!(matches!(text, Ok(TextOrObject::Text(Cow::Borrowed("a")))));
        for node in [Node::Object(Members::default()), Node::Value(json!({}))] {
            let object = text_or_object(node, &at, "a string or an object");
            assert!(matches!(object, Ok(TextOrObject::Object(m)) if m == Members::default()));
        }
        let err = text_or_object(Node::Value(json!(1)), &at, "a string or an object");
        assert_eq!(
            err.map(drop).unwrap_err().message,
            "x: expected a string or an object, got a number"
        );
    }

    #[test]
    fn the_raw_key_is_left_as_bytes() {
        fn plain(body: &[u8]) -> (Value, Option<&str>) {
            let (members, raw) = root_object(body, "tools", |_| 0).expect("object");
            let raw = raw.map(|raw| std::str::from_utf8(raw).expect("UTF-8"));
            (Value::Object(members.into_obj()), raw)
        }
        let body = br#"{"a": 1, "tools": [ {"name": "x"} ], "b": {"c": [true]}}"#;
        let expected = (
            json!({"a": 1, "b": {"c": [true]}}),
            Some(r#"[ {"name": "x"} ]"#),
        );
        assert_eq!(plain(body), expected);
        assert_eq!(plain(br#"{"a": null}"#), (json!({"a": null}), None));
        // A repeated key keeps its last value, as in a `Value`; escaped keys are matched
        // decoded.
        let body = br#"{"tools": [1], "a": 1, "to\u006fls": [2], "a": 2}"#;
        assert_eq!(plain(body), (json!({"a": 2}), Some("[2]")));
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value_after_other_takes() {
        let body = r#"{"model": "m", "messages": [1], "x": 0, "messages": [2]}"#;
        let (mut root, _) = parse(body).expect("object");
        let plain = fields::root_object(body.as_bytes()).expect("object");
        for key in ["model", "x", "messages"] {
            assert_eq!(
                root.take(key).map(Node::into_value).as_ref(),
                plain.get(key)
            );
        }
        assert_eq!(root, Members::default());
    }

    #[test]
    fn errors_are_the_usual_ones() {
        for body in [
            "[1]",
            "{\"a\": ",
            "{\"messages\": [1,]}",
            "{} {}",
            "",
            "\"x\"",
            "{\"a\": 1e999}",
        ] {
            assert_eq!(
                parse(body).map(drop).unwrap_err().message,
                fields::root_object(body.as_bytes())
                    .map(drop)
                    .unwrap_err()
                    .message,
                "{body}"
            );
        }
    }

    proptest! {
        /// At any depth, a lean parse holds what a `Value` parse holds.
        #[test]
        fn a_lean_parse_holds_the_same_value(value in json_values(), levels in 0u8..6) {
            const LEVELS: [fn(&str) -> u8; 6] = [|_| 0, |_| 1, |_| 2, |_| 3, |_| 4, |_| 5];
            let body = serde_json::to_string(&json!({"v": value})).expect("json");
            let (mut root, _) = root_object(body.as_bytes(), "tools", LEVELS[usize::from(levels)])
                .map_err(|e| e.message)
                .expect("valid JSON");
            let lean = root.take("v").expect("member");
            // serde_json's parse, not `value`: floats do not round-trip exactly.
            let plain: Value = serde_json::from_str(&body).expect("valid JSON");
            prop_assert_eq!(lean.into_value(), plain["v"].clone());
        }
    }
}
