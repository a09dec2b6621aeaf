//! JSON output written by hand: SSE frames are built straight into the output buffer, with
//! no intermediate `Value` or `String` per delta, and the Kiro body, whose strings (the whole
//! conversation) are escaped here sixteen bytes at a time instead of serde_json's one.
//!
//! `escape_at`, the sixteen-byte scan, also finds where a string ends for the request
//! parse (`dialect::lean`).

use serde_json::Value;
use std::io::Write as _;

/// Appends `s` as a JSON string literal, quoted and escaped exactly as `serde_json` does.
///
/// Cannot fail, unlike `serde_json::to_writer`, so there is no error to ignore.
pub fn push_json_str(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    push_str_escaped(out, s);
    out.push(b'"');
}

/// Appends `parts` joined by `separator` as one JSON string literal, as [`push_json_str`]
/// would write the joined string, without building it.
pub fn push_json_joined(out: &mut Vec<u8>, parts: &[&str], separator: &str) {
    let len = parts
        .iter()
        .map(|p| p.len() + separator.len())
        .sum::<usize>();
    out.reserve(len + 2);
    out.push(b'"');
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            push_str_escaped(out, separator);
        }
        push_str_escaped(out, part);
    }
    out.push(b'"');
}

/// Appends `s` escaped, without quotes.
fn push_str_escaped(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    // Copy unescaped runs in one go; only `"`, `\` and control bytes need escaping, and none of
    // them can occur inside a multi-byte UTF-8 sequence.
    let mut at = 0;
    loop {
        let rest = &bytes[at..];
        let offset = escape_at(rest);
        out.extend_from_slice(&rest[..offset]);
        let Some(&b) = rest.get(offset) else { break };
        push_escaped(out, b);
        at += offset + 1;
    }
}

/// Appends the escape of `b`, one of the bytes [`escape_at`] stops at, as serde_json writes it.
fn push_escaped(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match b {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        _ => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(b >> 4)],
            HEX[usize::from(b & 0x0f)],
        ]),
    }
}

/// The offset of the first byte of `bytes` that a JSON string cannot hold as it is: `"`, `\`
/// or a control byte (below 0x20). `bytes.len()` if there is none.
pub(crate) fn escape_at(bytes: &[u8]) -> usize {
    let mut at = 0;
    // Most strings are short (keys, types, names): their end is in the first block.
    if let Some(block) = bytes.first_chunk::<16>() {
        if let Some(offset) = first_escape(block) {
            return offset;
        }
        at = 16;
    }
    // Long texts (a file, a transcript): 64 bytes per test.
    while let Some(block) = bytes[at..].first_chunk::<64>() {
        if let Some(offset) = first_escape_64(block) {
            return at + offset;
        }
        at += 64;
    }
    while let Some(block) = bytes[at..].first_chunk::<16>() {
        if let Some(offset) = first_escape(block) {
            return at + offset;
        }
        at += 16;
    }
    // The last few bytes, padded with a byte that needs no escaping.
    let tail = &bytes[at..];
    if tail.is_empty() {
        return at;
    }
    let mut block = [b' '; 16];
    block[..tail.len()].copy_from_slice(tail);
    first_escape(&block).map_or(bytes.len(), |offset| at + offset)
}

/// The offset in `block` of its first byte that needs escaping.
#[cfg(target_arch = "x86_64")]
fn first_escape(block: &[u8; 16]) -> Option<usize> {
    let mask = escape_mask(block);
    (mask != 0).then(|| mask.trailing_zeros() as usize)
}

/// The offset in `block` of its first byte that needs escaping: the four blocks' masks joined
/// into one word, one test for the 64 bytes.
#[cfg(target_arch = "x86_64")]
fn first_escape_64(block: &[u8; 64]) -> Option<usize> {
    let mut flags = 0u64;
    for (i, block) in block.chunks_exact(16).enumerate() {
        if let Some(block) = block.first_chunk::<16>() {
            flags |= u64::from(escape_mask(block)) << (16 * i);
        }
    }
    (flags != 0).then(|| flags.trailing_zeros() as usize)
}

/// Bit `i` set when byte `i` of `block` needs escaping, with SSE2, which every x86-64 CPU has:
/// one comparison per kind of byte for the sixteen.
#[cfg(target_arch = "x86_64")]
fn escape_mask(block: &[u8; 16]) -> u16 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    // SAFETY: SSE2 is part of the x86-64 baseline, and the unaligned load reads exactly the
    // sixteen bytes of `block`.
    let mask = unsafe {
        let bytes = _mm_loadu_si128(block.as_ptr().cast());
        let quote = _mm_cmpeq_epi8(bytes, _mm_set1_epi8(b'"' as i8));
        let backslash = _mm_cmpeq_epi8(bytes, _mm_set1_epi8(b'\\' as i8));
        // Unsigned: a byte is below 0x20 exactly when min(byte, 0x1f) is the byte itself.
        let control = _mm_cmpeq_epi8(_mm_min_epu8(bytes, _mm_set1_epi8(0x1f)), bytes);
        _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control))
    };
    // Sixteen bits, one per byte.
    mask as u16
}

#[cfg(not(target_arch = "x86_64"))]
fn first_escape_64(block: &[u8; 64]) -> Option<usize> {
    (0..64)
        .step_by(16)
        .find_map(|at| Some(at + first_escape(block[at..].first_chunk::<16>()?)?))
}

#[cfg(not(target_arch = "x86_64"))]
fn first_escape(block: &[u8; 16]) -> Option<usize> {
    first_escape_by_words(block)
}

/// The offset in `block` of its first byte that needs escaping, two words at a time: their
/// checks are independent, so the CPU runs them side by side.
#[cfg(any(not(target_arch = "x86_64"), test))]
fn first_escape_by_words(block: &[u8; 16]) -> Option<usize> {
    let lo = escape_flags(word_at(block, 0));
    let hi = escape_flags(word_at(block, 8));
    if lo != 0 {
        Some(first_flagged(lo))
    } else if hi != 0 {
        Some(8 + first_flagged(hi))
    } else {
        None
    }
}

/// The bytes of `word` (little-endian) that may need escaping, as their high bits: below
/// 0x20, `"` or `\`. Exact for the first such byte; bytes after it may be flagged falsely
/// (borrows), which is harmless since only the first is used.
#[cfg(any(not(target_arch = "x86_64"), test))]
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
#[cfg(any(not(target_arch = "x86_64"), test))]
fn word_at(block: &[u8; 16], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&block[at..at + 8]);
    u64::from_le_bytes(word)
}

/// The offset in its word of the first byte [`escape_flags`] flags.
#[cfg(any(not(target_arch = "x86_64"), test))]
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
    fn escape_at_finds_the_first_byte_to_escape_at_every_offset() {
        let naive = |bytes: &[u8]| {
            bytes
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .unwrap_or(bytes.len())
        };
        for b in 0..=u8::MAX {
            // In the first block, in and after 64-byte blocks, and in the padded last bytes.
            for offset in 0..160 {
                let mut bytes = vec![b'x'; offset];
                bytes.push(b);
                bytes.extend_from_slice(b"y\\z");
                assert_eq!(escape_at(&bytes), naive(&bytes), "byte {b:#x} at {offset}");
                assert_eq!(escape_at(&bytes[..offset + 1]), naive(&bytes[..offset + 1]));
            }
        }
        assert_eq!(escape_at(b""), 0);
        assert_eq!(escape_at("é".repeat(20).as_bytes()), 40);
    }

    #[test]
    fn both_block_scans_agree() {
        for b in 0..=u8::MAX {
            for at in 0..16 {
                let mut block = [b'a'; 16];
                block[at] = b;
                assert_eq!(
                    first_escape(&block),
                    first_escape_by_words(&block),
                    "{b:#x}"
                );
                block[15] = b'"';
                assert_eq!(
                    first_escape(&block),
                    first_escape_by_words(&block),
                    "{b:#x}"
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
        fn joined_parts_are_written_as_their_join_is(
            parts in proptest::collection::vec("[a-z\"\\\n\u{1}é ]{0,12}", 0..5),
            separator in "[\n ,\"]{0,2}",
        ) {
            let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
            let mut out = Vec::new();
            push_json_joined(&mut out, &parts, &separator);
            prop_assert_eq!(out, serde_json::to_vec(&parts.join(&separator)).unwrap());
        }

        #[test]
        fn any_value_is_written_as_serde_json_writes_it(v in json_values()) {
            let mut out = Vec::new();
            push_json_value(&mut out, &v);
            prop_assert_eq!(out, serde_json::to_vec(&v).unwrap());
        }
    }
}
