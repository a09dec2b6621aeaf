//! The OpenAI Chat Completions API (`POST /v1/chat/completions`), as the `openai` SDKs and
//! most OpenAI-compatible tools speak it.
//!
//! - [`request::parse`]: Chat Completions request JSON → [`ChatRequest`](crate::chat::ChatRequest).
//! - [`stream::SseWriter`]: canonical events → data-only `chat.completion.chunk` SSE.
//! - [`response::CompletionWriter`]: canonical events → one `chat.completion` JSON.
//! - [`error::body`]: the `{"error":{…}}` shape, shared with the Responses API.
//! - [`models_list`]: the OpenAI model list, shared with the Responses API.

pub mod error;
pub mod models;
pub mod request;
pub mod response;
pub mod stream;

pub use models::models_list;

use super::{RequestHints, ResponseWriter};
use crate::chat::{ErrorKind, GatewayError, ResponseMeta, StopReason};

/// The SSE writer for streams, the `chat.completion` aggregator otherwise.
pub fn response_writer(stream: bool, meta: ResponseMeta) -> Box<dyn ResponseWriter> {
    if stream {
        Box::new(stream::SseWriter::new(meta))
    } else {
        Box::new(response::CompletionWriter::new(meta))
    }
}

/// Chat Completions has no token-counting endpoint.
pub fn count_tokens(_body: &[u8], _hints: &RequestHints) -> Result<Vec<u8>, GatewayError> {
    Err(GatewayError::new(
        ErrorKind::NotFound,
        "the Chat Completions API has no token-counting endpoint",
    ))
}

/// The wire name of a stop reason. A conversation that outgrew the context window is cut off
/// like a too-long answer: OpenAI has no separate reason for it.
pub(crate) fn finish_reason(reason: StopReason) -> &'static str {
    match reason {
        StopReason::EndTurn => "stop",
        StopReason::MaxTokens | StopReason::ContextWindowExceeded => "length",
        StopReason::ToolUse => "tool_calls",
    }
}

/// Whether the client asked for the usage chunk (`stream_options.include_usage`).
fn include_usage(meta: &ResponseMeta) -> bool {
    meta.echo
        .as_ref()
        .and_then(|echo| echo.get(request::ECHO_INCLUDE_USAGE))
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::testing::meta;
    use serde_json::json;

    #[test]
    fn finish_reasons() {
        assert_eq!(finish_reason(StopReason::EndTurn), "stop");
        assert_eq!(finish_reason(StopReason::MaxTokens), "length");
        assert_eq!(finish_reason(StopReason::ToolUse), "tool_calls");
        assert_eq!(finish_reason(StopReason::ContextWindowExceeded), "length");
    }

    #[test]
    fn include_usage_comes_from_the_echo() {
        let mut meta = meta();
        assert!(!include_usage(&meta));
        meta.echo = Some(json!({"include_usage": false}).into());
        assert!(!include_usage(&meta));
        meta.echo = Some(json!({"include_usage": true}).into());
        assert!(include_usage(&meta));
    }

    #[test]
    fn writers_by_mode() {
        let meta = meta();
        assert_eq!(
            response_writer(true, meta.clone()).content_type(),
            "text/event-stream"
        );
        assert_eq!(
            response_writer(false, meta).content_type(),
            "application/json"
        );
        let err = count_tokens(b"{}", &RequestHints::default()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotFound);
    }
}
