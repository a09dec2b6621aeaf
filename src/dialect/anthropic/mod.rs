//! The Anthropic Messages API (`/v1/messages`), as Claude Code and the `anthropic` SDKs speak it.
//!
//! - [`request::parse`]: Messages request JSON → [`ChatRequest`](crate::chat::ChatRequest).
//! - [`stream::SseWriter`]: canonical events → the exact SSE grammar the SDKs dispatch on.
//! - [`response::MessageWriter`]: canonical events → one `Message` JSON (non-streaming).
//! - [`error::body`]: the `{"type":"error",…}` shape, with the SDK's error types.
//! - [`count_tokens::count_tokens`] and [`models::models_list`]: the two direct answers.

pub mod count_tokens;
pub mod error;
pub mod models;
pub mod request;
pub mod response;
pub mod stream;

use super::ResponseWriter;
use crate::chat::{ResponseMeta, StopReason};

/// The SSE writer for streams, the `Message` aggregator otherwise.
pub fn response_writer(stream: bool, meta: ResponseMeta) -> Box<dyn ResponseWriter> {
    if stream {
        Box::new(stream::SseWriter::new(meta))
    } else {
        Box::new(response::MessageWriter::new(meta))
    }
}

/// Signature put on every thinking block we return.
///
/// Kiro's reasoning carries no Anthropic signature, but Claude Code refuses to replay unsigned
/// thinking blocks. The value is opaque to clients; [`request::parse`] drops signatures, so it
/// never travels upstream.
pub const THINKING_SIGNATURE: &str = "kiro-edge-thinking-signature";

/// The wire name of a stop reason.
pub(crate) fn stop_reason_name(reason: StopReason) -> &'static str {
    match reason {
        StopReason::EndTurn => "end_turn",
        StopReason::MaxTokens => "max_tokens",
        StopReason::ToolUse => "tool_use",
        StopReason::ContextWindowExceeded => "model_context_window_exceeded",
    }
}

/// Appends `s` as a JSON string literal, quoted and escaped.
///
/// The SSE writer builds its frames by hand (no intermediate `Value` or `String` per delta), and
/// unlike `serde_json::to_writer` this cannot fail, so there is no error to ignore.
pub(crate) fn push_json_str(out: &mut Vec<u8>, s: &str) {
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
pub(crate) fn push_u64(out: &mut Vec<u8>, mut n: u64) {
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

    #[test]
    fn stop_reasons() {
        assert_eq!(stop_reason_name(StopReason::EndTurn), "end_turn");
        assert_eq!(stop_reason_name(StopReason::MaxTokens), "max_tokens");
        assert_eq!(stop_reason_name(StopReason::ToolUse), "tool_use");
        assert_eq!(
            stop_reason_name(StopReason::ContextWindowExceeded),
            "model_context_window_exceeded"
        );
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
