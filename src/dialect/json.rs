//! Hand-rolled JSON output for the streaming writers: SSE frames are built straight into the
//! output buffer, with no intermediate `Value` or `String` per delta.

/// Appends `s` as a JSON string literal, quoted and escaped.
///
/// The SSE writer builds its frames by hand (no intermediate `Value` or `String` per delta), and
/// unlike `serde_json::to_writer` this cannot fail, so there is no error to ignore.
pub fn push_json_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push(b'"');
    let bytes = s.as_bytes();
    // Copy unescaped runs in one go; only `"`, `\` and control bytes need escaping, and none of
    // them can occur inside a multi-byte UTF-8 sequence.
    let mut run_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[run_start..i]);
        if short.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0x0f)]);
        } else {
            out.extend_from_slice(short);
        }
        run_start = i + 1;
    }
    out.extend_from_slice(&bytes[run_start..]);
    out.push(b'"');
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

#[cfg(test)]
mod tests {
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

    proptest! {
        #[test]
        fn any_string_round_trips(s in any::<String>()) {
            let text = json_str(&s);
            let back: String = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(back, s);
        }
    }
}
