//! JSON output written by hand: SSE frames are built straight into the output buffer, with
//! no intermediate `Value` or `String` per delta, and the Kiro body, whose strings (the whole
//! conversation) are escaped here sixteen bytes (two words) at a time instead of serde_json's one.

use serde_json::Value;
use std::io::Write as _;

/// Appends `s` as a JSON string literal, quoted and escaped exactly as `serde_json` does.
///
/// Cannot fail, unlike `serde_json::to_writer`, so there is no error to ignore.
pub fn push_json_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push(b'"');
    let bytes = s.as_bytes();
    // Copy unescaped runs in one go; only `"`, `\` and control bytes need escaping, and none of
    // them can occur inside a multi-byte UTF-8 sequence.
    let mut run_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Two words per step: their checks are independent, so the CPU runs them side by side
        // (a `u128` would chain them through its borrows, and is no faster than one word).
        if let Some(block) = bytes[i..].first_chunk::<16>() {
            let lo = escape_flags(word_at(block, 0));
            let hi = escape_flags(word_at(block, 8));
            if lo | hi == 0 {
                i += 16;
                continue;
            }
            i += if lo != 0 {
                first_flagged(lo)
            } else {
                8 + first_flagged(hi)
            };
        } else if let Some(word) = bytes[i..].first_chunk::<8>() {
            let flags = escape_flags(u64::from_le_bytes(*word));
            if flags == 0 {
                i += 8;
                continue;
            }
            i += first_flagged(flags);
        }
        let b = bytes[i];
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => {
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(&bytes[run_start..i]);
        if short.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0x0f)]);
        } else {
            out.extend_from_slice(short);
        }
        i += 1;
        run_start = i;
    }
    out.extend_from_slice(&bytes[run_start..]);
    out.push(b'"');
}

/// The bytes of `word` (little-endian) that may need escaping, as their high bits: below
/// 0x20, `"` or `\`. Exact for the first such byte; bytes after it may be flagged falsely
/// (borrows), which is harmless since the caller looks at the flagged byte itself.
fn escape_flags(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    let quote = zero_byte(word ^ (ONES * u64::from(b'"')));
    let backslash = zero_byte(word ^ (ONES * u64::from(b'\\')));
    control | quote | backslash
}

/// The little-endian word at `at` of a 16-byte block.
fn word_at(block: &[u8; 16], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&block[at..at + 8]);
    u64::from_le_bytes(word)
}

/// The offset in its word of the first byte [`escape_flags`] flags.
fn first_flagged(flags: u64) -> usize {
    (flags.trailing_zeros() / 8) as usize
}

/// Appends `value` as `serde_json::to_writer` would (objects in the map's key order).
pub fn push_json_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        // `Number`'s Display is its JSON form (itoa / ryu, as serde_json writes it); writing
        // into a `Vec` cannot fail.
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => push_json_str(out, s),
        Value::Array(items) => push_json_array(out, items, |item, out| push_json_value(out, item)),
        Value::Object(map) => push_json_object(out, map, |_, item, out| push_json_value(out, item)),
    }
}

/// Appends `members` as a JSON object, each value written by `write`, which is given its key.
pub fn push_json_object<'v, K: AsRef<str> + 'v, V: 'v>(
    out: &mut Vec<u8>,
    members: impl IntoIterator<Item = (&'v K, &'v V)>,
    mut write: impl FnMut(&str, &'v V, &mut Vec<u8>),
) {
    out.push(b'{');
    for (i, (key, value)) in members.into_iter().enumerate() {
        let key = key.as_ref();
        if i > 0 {
            out.push(b',');
        }
        push_json_str(out, key);
        out.push(b':');
        write(key, value, out);
    }
    out.push(b'}');
}

/// Appends `items` as a JSON array, each written by `write`.
pub fn push_json_array<T>(out: &mut Vec<u8>, items: &[T], write: impl Fn(&T, &mut Vec<u8>)) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write(item, out);
    }
    out.push(b']');
}

/// Appends `n` in decimal.
pub fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// A JSON value many requests send byte for byte, with its compact form written once: the
/// Responses echo of Codex's tool list (18 KB, every turn) is then neither copied per request
/// nor serialised again for each of the three response objects a stream writes.
#[derive(Debug, PartialEq)]
pub struct SharedJson {
    value: Value,
    compact: Box<[u8]>,
}

impl SharedJson {
    pub fn new(value: Value) -> Self {
        let mut compact = Vec::new();
        push_json_value(&mut compact, &value);
        SharedJson {
            value,
            compact: compact.into_boxed_slice(),
        }
    }

    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The bytes [`push_json_value`] writes for [`Self::value`].
    pub fn compact(&self) -> &[u8] {
        &self.compact
    }
}

/// Strategies for property tests over JSON.
#[cfg(test)]
pub(crate) mod testing {
    use proptest::prelude::*;
    use serde_json::Value;

    /// Any JSON value, nested up to four levels.
    pub(crate) fn json_values() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from), // non-finite becomes null, as in serde_json
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::btree_map(any::<String>(), inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::testing::json_values;
    use super::*;
    use proptest::prelude::*;

    fn json_str(s: &str) -> String {
        let mut out = Vec::new();
        push_json_str(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_like_json() {
        assert_eq!(json_str(""), r#""""#);
        assert_eq!(json_str("héllo 你好"), "\"héllo 你好\"");
        assert_eq!(json_str("a\"b\\c\nd\te\r"), r#""a\"b\\c\nd\te\r""#);
        assert_eq!(json_str("\u{0}\u{1f}\u{8}\u{c}"), r#""\u0000\u001f\b\f""#);
    }

    #[test]
    fn numbers() {
        for n in [0, 7, 10, 1_234_567, u64::MAX] {
            let mut out = Vec::new();
            push_u64(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
    }

    #[test]
    fn every_ascii_byte_at_every_word_offset_is_escaped_as_serde_json_does() {
        for b in 0u8..0x80 {
            // Through both words of a 16-byte step, a lone word and the last bytes.
            for offset in 0..24 {
                let mut s = "x".repeat(offset);
                s.push(char::from(b));
                s.push_str("yz");
                assert_eq!(
                    json_str(&s),
                    serde_json::to_string(&s).unwrap(),
                    "byte {b:#x}"
                );
            }
        }
    }

    #[test]
    fn shared_json_keeps_the_value_and_its_compact_bytes() {
        let value = serde_json::json!([{"type": "function", "name": "f", "parameters": {"b": 1, "a": "\n"}}]);
        let shared = SharedJson::new(value.clone());
        assert_eq!(shared.value(), &value);
        assert_eq!(
            shared.compact(),
            serde_json::to_vec(&value).unwrap().as_slice()
        );
    }

    proptest! {
        #[test]
        fn any_string_is_written_as_serde_json_writes_it(s in any::<String>()) {
            prop_assert_eq!(json_str(&s), serde_json::to_string(&s).unwrap());
        }

        #[test]
        fn text_with_escapes_is_written_as_serde_json_writes_it(
            s in "[a-z\"\\\n\t\u{1}\u{7f}é你 ]{0,80}"
        ) {
            prop_assert_eq!(json_str(&s), serde_json::to_string(&s).unwrap());
        }

        #[test]
        fn any_value_is_written_as_serde_json_writes_it(v in json_values()) {
            let mut out = Vec::new();
            push_json_value(&mut out, &v);
            prop_assert_eq!(out, serde_json::to_vec(&v).unwrap());
        }
    }
}
