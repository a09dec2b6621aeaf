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

#[cfg(test)]
mod tests {
    use super::*;

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
}
