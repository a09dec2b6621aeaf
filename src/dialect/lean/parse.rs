//! The request body's parse, written for what request bodies are: a few hundred small objects
//! around long strings (a system prompt, files, transcripts).
//!
//! serde_json looks for a string's end eight bytes at a time, and that scan alone was a third
//! of a request's conversion (BENCHMARKS.md, "The request parsed by hand"). This parse finds
//! it with [`escape_at`], 64 and 16 bytes at a time, and steps over the raw member (`tools`)
//! by its brackets without validating it: the tool cache only ever holds bytes that did parse,
//! and a list it does not hold is parsed by serde_json before use.
//!
//! Everything else it accepts is exactly what `serde_json::from_slice` accepts, and it builds
//! the same values (numbers are read by serde_json's own `Number` parser); the tests hold the
//! two parses side by side on generated and damaged bodies. When a body is refused, the caller
//! asks serde_json why, so error messages are serde_json's.

use std::borrow::Cow;

use serde_json::{Map, Number, Value};

use super::{Members, Node};
use crate::json::escape_at;

/// The body is not JSON (or not an object, or nests deeper than serde_json allows).
#[derive(Debug, PartialEq)]
pub(super) struct Refused;

type Parsed<T> = Result<T, Refused>;

/// serde_json's nesting limit: its 128th open container is refused.
const MAX_DEPTH: u8 = 128;

/// The root object: member `raw_key` is left as its bytes, any other as a node with
/// `levels(key)` lean levels.
pub(super) fn root_object<'b>(
    body: &'b [u8],
    raw_key: &str,
    levels: fn(&str) -> u8,
) -> Parsed<(Members<'b>, Option<&'b [u8]>)> {
    let mut parser = Parser {
        body,
        at: 0,
        depth_left: MAX_DEPTH,
        unescaped: Vec::new(),
    };
    if parser.peek()? != b'{' {
        return Err(Refused);
    }
    let mut members = Vec::new();
    let mut raw = None;
    parser.members(|parser, key| {
        if key == raw_key {
            // Only the last one is looked at later: an earlier one is checked here, so that a
            // body serde_json refuses is refused.
            if let Some(earlier) = raw.replace(parser.skip()?) {
                serde_json::from_slice::<Value>(earlier).map_err(|_| Refused)?;
            }
        } else {
            let levels = levels(&key);
            members.push((key, parser.node(levels)?));
        }
        Ok(())
    })?;
    parser.skip_whitespace();
    if parser.at != body.len() {
        return Err(Refused);
    }
    Ok((Members(members), raw))
}

struct Parser<'b> {
    body: &'b [u8],
    /// The next byte to read.
    at: usize,
    /// Containers that may still be opened.
    depth_left: u8,
    /// Where escaped strings are decoded before being copied out at their length: growing
    /// each string's own buffer instead copied it over and over, on cold memory.
    unescaped: Vec<u8>,
}

impl<'b> Parser<'b> {
    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.body.get(self.at) {
            self.at += 1;
        }
    }

    /// The next byte that is not whitespace, left unread.
    fn peek(&mut self) -> Parsed<u8> {
        self.skip_whitespace();
        self.body.get(self.at).copied().ok_or(Refused)
    }

    /// Past a container's opening bracket, counted against the nesting limit.
    fn enter(&mut self) -> Parsed<()> {
        self.at += 1;
        self.depth_left -= 1;
        if self.depth_left == 0 {
            return Err(Refused);
        }
        Ok(())
    }

    /// Past a container's closing bracket.
    fn leave(&mut self) {
        self.at += 1;
        self.depth_left += 1;
    }

    /// Past `byte`, the next byte that is not whitespace, or refused.
    fn expect(&mut self, byte: u8) -> Parsed<()> {
        if self.peek()? != byte {
            return Err(Refused);
        }
        self.at += 1;
        Ok(())
    }

    /// At an object's `{`: each member's key, given to `member` to read its value, then the
    /// closing `}`.
    fn members(
        &mut self,
        mut member: impl FnMut(&mut Self, Cow<'b, str>) -> Parsed<()>,
    ) -> Parsed<()> {
        self.delimited(b'}', |parser| {
            parser.expect(b'"')?;
            let key = parser.string()?;
            parser.expect(b':')?;
            member(parser, key)
        })
    }

    /// At an array's `[`: each item, read by `item`, then the closing `]`.
    fn items(&mut self, item: impl FnMut(&mut Self) -> Parsed<()>) -> Parsed<()> {
        self.delimited(b']', item)
    }

    /// At a container's opening bracket: its entries, each read by `entry`, separated by
    /// commas, up to `close`.
    fn delimited(
        &mut self,
        close: u8,
        mut entry: impl FnMut(&mut Self) -> Parsed<()>,
    ) -> Parsed<()> {
        self.enter()?;
        if self.peek()? != close {
            loop {
                entry(self)?;
                match self.peek()? {
                    b',' => self.at += 1,
                    byte if byte == close => break,
                    _ => return Err(Refused),
                }
            }
        }
        self.leave();
        Ok(())
    }

    /// A value with `levels` lean levels.
    fn node(&mut self, levels: u8) -> Parsed<Node<'b>> {
        if levels == 0 {
            return self.value().map(Node::Value);
        }
        match self.peek()? {
            b'{' => {
                let mut members = Vec::new();
                self.members(|parser, key| {
                    members.push((key, parser.node(levels - 1)?));
                    Ok(())
                })?;
                Ok(Node::Object(Members(members)))
            }
            b'[' => {
                let mut items = Vec::new();
                self.items(|parser| {
                    items.push(parser.node(levels - 1)?);
                    Ok(())
                })?;
                Ok(Node::Array(items))
            }
            b'"' => {
                self.at += 1;
                self.string().map(Node::Str)
            }
            _ => self.scalar().map(Node::Value),
        }
    }

    /// A value as a `Value`, as serde_json builds it (a repeated key keeps its last value).
    fn value(&mut self) -> Parsed<Value> {
        match self.peek()? {
            b'{' => {
                let mut map = Map::new();
                self.members(|parser, key| {
                    let value = parser.value()?;
                    map.insert(key.into_owned(), value);
                    Ok(())
                })?;
                Ok(Value::Object(map))
            }
            b'[' => {
                let mut items = Vec::new();
                self.items(|parser| {
                    items.push(parser.value()?);
                    Ok(())
                })?;
                Ok(Value::Array(items))
            }
            b'"' => {
                self.at += 1;
                self.string().map(|s| Value::String(s.into_owned()))
            }
            _ => self.scalar(),
        }
    }

    /// `true`, `false`, `null` or a number.
    fn scalar(&mut self) -> Parsed<Value> {
        let rest = &self.body[self.at..];
        let (len, value) = if rest.starts_with(b"true") {
            (4, Value::Bool(true))
        } else if rest.starts_with(b"false") {
            (5, Value::Bool(false))
        } else if rest.starts_with(b"null") {
            (4, Value::Null)
        } else if let Some(b'-' | b'0'..=b'9') = rest.first() {
            // The number's bytes, then serde_json's grammar and conversion on them: a byte
            // after a number that is none of these is refused by the caller.
            let len = rest
                .iter()
                .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                .unwrap_or(rest.len());
            let text = std::str::from_utf8(&rest[..len]).map_err(|_| Refused)?;
            let number: Number = text.parse().map_err(|_| Refused)?;
            (len, Value::Number(number))
        } else {
            return Err(Refused);
        };
        self.at += len;
        Ok(value)
    }

    /// After a string's opening quote: the string, borrowed from the body unless it has
    /// escapes.
    fn string(&mut self) -> Parsed<Cow<'b, str>> {
        let start = self.at;
        let end = start + escape_at(&self.body[start..]);
        match self.body.get(end) {
            Some(b'"') => {
                self.at = end + 1;
                std::str::from_utf8(&self.body[start..end])
                    .map(Cow::Borrowed)
                    .map_err(|_| Refused)
            }
            Some(b'\\') => self.unescape(start, end).map(Cow::Owned),
            // A control byte, or the end of the body.
            _ => Err(Refused),
        }
    }

    /// The string from `start`, whose first escape is at `at`. (A refusal ends the parse, so
    /// the scratch buffer is only put back on success.)
    fn unescape(&mut self, start: usize, mut at: usize) -> Parsed<String> {
        let mut text = std::mem::take(&mut self.unescaped);
        text.clear();
        let mut run = start;
        loop {
            text.extend_from_slice(&self.body[run..at]);
            match self.body.get(at) {
                Some(b'"') => break,
                Some(b'\\') => {}
                _ => return Err(Refused),
            }
            let escape = *self.body.get(at + 1).ok_or(Refused)?;
            at += 2;
            match escape {
                b'"' | b'\\' | b'/' => text.push(escape),
                b'b' => text.push(0x08),
                b'f' => text.push(0x0c),
                b'n' => text.push(b'\n'),
                b'r' => text.push(b'\r'),
                b't' => text.push(b'\t'),
                b'u' => at = self.unicode_escape(at, &mut text)?,
                _ => return Err(Refused),
            }
            run = at;
            at += escape_at(&self.body[at..]);
        }
        self.at = at + 1;
        let string = std::str::from_utf8(&text).map_err(|_| Refused)?.to_owned();
        self.unescaped = text;
        Ok(string)
    }

    /// After `\u`: the character, appended to `text`, and where its escape ends. As serde_json,
    /// a surrogate must be a leading one followed by the escape of a trailing one.
    fn unicode_escape(&self, at: usize, text: &mut Vec<u8>) -> Parsed<usize> {
        let unit = self.hex4(at)?;
        let (code, end) = match unit {
            0xDC00..=0xDFFF => return Err(Refused),
            0xD800..=0xDBFF => {
                if self.body.get(at + 4..at + 6) != Some(b"\\u") {
                    return Err(Refused);
                }
                let trailing = self.hex4(at + 6)?;
                if !(0xDC00..=0xDFFF).contains(&trailing) {
                    return Err(Refused);
                }
                let code = 0x1_0000 + ((unit - 0xD800) << 10) + (trailing - 0xDC00);
                (code, at + 10)
            }
            _ => (unit, at + 4),
        };
        let c = char::from_u32(code).ok_or(Refused)?;
        text.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        Ok(end)
    }

    /// The four hex digits at `at`.
    fn hex4(&self, at: usize) -> Parsed<u32> {
        let digits = self.body.get(at..at + 4).ok_or(Refused)?;
        digits.iter().try_fold(0, |unit, &digit| {
            let value = char::from(digit).to_digit(16).ok_or(Refused)?;
            Ok(unit << 4 | value)
        })
    }

    /// The next value's bytes, found by its brackets and strings alone: not validated.
    fn skip(&mut self) -> Parsed<&'b [u8]> {
        let first = self.peek()?;
        let start = self.at;
        if !matches!(first, b'[' | b'{' | b'"') {
            // A scalar: up to whatever may follow a value.
            let len = self.body[start..]
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t'))
                .unwrap_or(self.body.len() - start);
            if len == 0 {
                return Err(Refused);
            }
            self.at += len;
            return Ok(&self.body[start..self.at]);
        }
        let mut depth = 0usize;
        loop {
            let b = *self.body.get(self.at).ok_or(Refused)?;
            self.at += 1;
            match b {
                b'"' => self.skip_string()?,
                b'[' | b'{' => depth += 1,
                b']' | b'}' => depth = depth.checked_sub(1).ok_or(Refused)?,
                _ => {}
            }
            if depth == 0 {
                return Ok(&self.body[start..self.at]);
            }
        }
    }

    /// After a string's opening quote: past its closing one.
    fn skip_string(&mut self) -> Parsed<()> {
        loop {
            self.at += escape_at(self.body.get(self.at..).ok_or(Refused)?);
            match self.body.get(self.at) {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(());
                }
                // The escaped byte cannot end the string.
                Some(b'\\') => self.at += 2,
                // A control byte: not this parse's to judge.
                Some(_) => self.at += 1,
                None => return Err(Refused),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::testing::json_values;
    use proptest::prelude::*;
    use proptest::test_runner::TestCaseError;

    const LEVELS: [fn(&str) -> u8; 4] = [|_| 0, |_| 1, |_| 2, |_| 3];

    /// Holds this parse against `serde_json::from_slice` on `body`: the same verdict, and the
    /// same value once the raw `tools` is parsed back in.
    fn agrees_with_serde(body: &[u8], levels: usize) -> std::result::Result<(), TestCaseError> {
        let serde = serde_json::from_slice::<Value>(body).ok();
        match root_object(body, "tools", LEVELS[levels]) {
            Ok((members, raw)) => {
                let mut obj = members.into_obj();
                if let Some(raw) = raw {
                    let Ok(tools) = serde_json::from_slice::<Value>(raw) else {
                        // Left for the tool cache to refuse; serde_json refuses the body.
                        prop_assert_eq!(serde, None, "{}", String::from_utf8_lossy(body));
                        return Ok(());
                    };
                    obj.insert("tools".into(), tools);
                }
                let body = String::from_utf8_lossy(body);
                prop_assert_eq!(serde, Some(Value::Object(obj)), "{}", body);
            }
            Err(Refused) => prop_assert!(
                !matches!(serde, Some(Value::Object(_))),
                "refused {}",
                String::from_utf8_lossy(body)
            ),
        }
        Ok(())
    }

    /// `text` with every non-ASCII character and `/` written as `\u` escapes (surrogate pairs
    /// above the BMP) and `\/`: both only ever occur inside strings.
    fn escape_unicode(text: &str) -> String {
        let mut out = String::new();
        for c in text.chars() {
            if c == '/' {
                out.push_str("\\/");
            } else if c.is_ascii() {
                out.push(c);
            } else {
                for unit in c.encode_utf16(&mut [0; 2]) {
                    out.push_str(&format!("\\u{unit:04X}"));
                }
            }
        }
        out
    }

    fn bodies() -> impl Strategy<Value = String> {
        let key = prop::sample::select(vec!["tools", "messages", "a", "ü😀/", "x\ny", ""]);
        let members = prop::collection::vec((key, json_values()), 0..6);
        (members, any::<bool>(), any::<bool>()).prop_map(|(members, pretty, escaped)| {
            let members: Vec<String> = members
                .iter()
                .map(|(key, value)| {
                    let value = if pretty {
                        serde_json::to_string_pretty(value)
                    } else {
                        serde_json::to_string(value)
                    };
                    format!("{}: {}", serde_json::json!(key), value.unwrap_or_default())
                })
                .collect();
            let body = format!(
                " {{{}}}\n",
                members.join(if pretty { ",\n  " } else { "," })
            );
            if escaped {
                escape_unicode(&body)
            } else {
                body
            }
        })
    }

    #[test]
    fn edge_cases_agree_with_serde_json() {
        let nested = |n: usize| format!("{{\"a\": {}1{}}}", "[".repeat(n), "]".repeat(n));
        let mut bodies: Vec<String> = (120..136).map(nested).collect();
        bodies.extend(
            [
                "{}",
                " { } ",
                "{\"a\":1,}",
                "{\"a\":[1,]}",
                "{\"a\":[,1]}",
                "{,}",
                "{\"a\" 1}",
                "{\"a\":1 \"b\":2}",
                "{\"a\":1}x",
                "{\"a\":1}}",
                "\u{feff}{}",
                "[]",
                "\"x\"",
                "",
                "{\"a\":truex}",
                "{\"a\":tru}",
                "{\"a\":nul}",
                "{\"a\":-}",
                "{\"a\":-0}",
                "{\"a\":-0.0}",
                "{\"a\":01}",
                "{\"a\":1.}",
                "{\"a\":.5}",
                "{\"a\":+1}",
                "{\"a\":1e}",
                "{\"a\":1e+5}",
                "{\"a\":1E-5}",
                "{\"a\":1e400}",
                "{\"a\":-1e400}",
                "{\"a\":18446744073709551615}",
                "{\"a\":18446744073709551616}",
                "{\"a\":-9223372036854775808}",
                "{\"a\":-9223372036854775809}",
                "{\"a\":123456789012345678901234567890}",
                "{\"a\":0.1e-400}",
                "{\"a\":\"\\u00e9\\uD83D\\uDE00\\/\\b\\f\\n\\r\\t\\\"\\\\\"}",
                "{\"a\":\"\\uD83D\"}",
                "{\"a\":\"\\uD83Dx\"}",
                "{\"a\":\"\\uD83D\\n\"}",
                "{\"a\":\"\\uD83D\\u0041\"}",
                "{\"a\":\"\\uDE00\"}",
                "{\"a\":\"\\u12\"}",
                "{\"a\":\"\\u12G4\"}",
                "{\"a\":\"\\x\"}",
                "{\"a\":\"\\",
                "{\"a\":\"\\\"",
                "{\"a\":\"tab\there\"}",
                "{\"a\":\"nul\u{0}\"}",
                "{\"a\":\"del\u{7f}\"}",
                "{\"a\":\"unterminated",
                "{\"a\\u0062\":1,\"ab\":2}",
                "{\"tools\":}",
                "{\"tools\":null}",
                "{\"tools\":5 }",
                "{\"tools\":[1]]}",
                "{\"tools\":[1}",
                "{\"tools\":[\"]\\\"]\"], \"a\":\"[\"}",
                "{\"tools\":\"x\",\"tools\":[{\"n\":1}]}",
                "{\"tools\":[{\"a\":\"\\\\\"}]}",
                "{\"tools\":[",
                "{\"tools\":\"\\",
            ]
            .map(str::to_owned),
        );
        for body in &bodies {
            for levels in 0..LEVELS.len() {
                agrees_with_serde(body.as_bytes(), levels).unwrap();
            }
        }
        // Bytes that are not UTF-8, in a string and outside one.
        for body in [
            &b"{\"a\":\"\xc3\"}"[..],
            b"{\"a\":\"\xff\xfe\"}",
            b"{\"a\":\xc3\xa9}",
        ] {
            for levels in 0..LEVELS.len() {
                agrees_with_serde(body, levels).unwrap();
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn generated_bodies_agree_with_serde_json(body in bodies(), levels in 0..LEVELS.len()) {
            prop_assert!(serde_json::from_str::<Value>(&body).is_ok());
            agrees_with_serde(body.as_bytes(), levels)?;
        }

        /// A byte removed, inserted, replaced or the body cut short, anywhere.
        #[test]
        fn damaged_bodies_agree_with_serde_json(
            body in bodies(),
            levels in 0..LEVELS.len(),
            damage in 0..4u8,
            at in any::<prop::sample::Index>(),
            byte in prop::sample::select(b"\"\\{}[],: 0-e.tnu\x01\xc3\xff/".to_vec()),
        ) {
            let mut body = body.into_bytes();
            let at = at.index(body.len() + 1);
            match damage {
                0 if at < body.len() => drop(body.remove(at)),
                1 => body.insert(at, byte),
                2 if at < body.len() => body[at] = byte,
                _ => body.truncate(at),
            }
            agrees_with_serde(&body, levels)?;
        }
    }
}
