//! Canonical stream events → one `chat.completion` JSON (non-streaming responses).
//!
//! `message.content` is `null` when the answer is only tool calls, as OpenAI sends it; tool
//! call arguments are JSON strings; reasoning goes to `message.reasoning_content`, the field
//! OpenAI-compatible servers use for it.

use serde_json::{json, Map, Value};

use super::{error, finish_reason};
use crate::chat::estimate;
use crate::chat::{ResponseMeta, StopReason, StreamEvent, Usage};
use crate::dialect::transcript::{Part, Transcript};
use crate::dialect::ResponseWriter;
use crate::json::push_json_value;

/// Collects a whole response and renders it as one `chat.completion` at the end.
#[derive(Debug)]
pub struct CompletionWriter {
    meta: ResponseMeta,
    transcript: Transcript,
}

impl CompletionWriter {
    pub fn new(meta: ResponseMeta) -> Self {
        CompletionWriter {
            meta,
            transcript: Transcript::new(),
        }
    }

    fn completion(&mut self, stop_reason: StopReason, usage: &Usage) -> Value {
        // One message: all text is its content, all thinking its reasoning.
        let mut content = String::new();
        let mut reasoning = String::new();
        let mut tool_calls = Vec::new();
        for part in self.transcript.take_parts() {
            match part {
                Part::Text(text) => content.push_str(&text),
                Part::Thinking(text) => reasoning.push_str(&text),
                Part::ToolCall(call) => {
                    let arguments = call.arguments_json().to_owned();
                    tool_calls.push(json!({
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": arguments},
                    }));
                }
            }
        }
        let mut message = Map::new();
        message.insert("role".into(), "assistant".into());
        message.insert(
            "content".into(),
            if content.is_empty() && !tool_calls.is_empty() {
                Value::Null
            } else {
                Value::String(content)
            },
        );
        message.insert("refusal".into(), Value::Null);
        let reasoning_tokens = estimate::output_tokens(&reasoning).min(usage.output_tokens);
        if !reasoning.is_empty() {
            message.insert("reasoning_content".into(), Value::String(reasoning));
        }
        if !tool_calls.is_empty() {
            message.insert("tool_calls".into(), Value::Array(tool_calls));
        }
        json!({
            "id": format!("chatcmpl-{}", self.meta.id),
            "object": "chat.completion",
            "created": self.meta.created,
            "model": self.meta.model,
            "choices": [{
                "index": 0,
                "message": message,
                "logprobs": null,
                "finish_reason": finish_reason(stop_reason),
            }],
            "usage": {
                "prompt_tokens": usage.input_tokens,
                "completion_tokens": usage.output_tokens,
                "total_tokens": usage.input_tokens.saturating_add(usage.output_tokens),
                "prompt_tokens_details": {"cached_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": reasoning_tokens},
            },
            "system_fingerprint": null,
        })
    }
}

impl ResponseWriter for CompletionWriter {
    fn content_type(&self) -> &'static str {
        "application/json"
    }

    fn write(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if let Some(outcome) = self.transcript.push(event) {
            let document = |reason, usage: &Usage, out: &mut Vec<u8>| {
                push_json_value(out, &self.completion(reason, usage))
            };
            outcome.write(out, document, error::body);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{ErrorKind, GatewayError};
    use crate::dialect::testing::{meta, render_document};

    fn render(events: &[StreamEvent]) -> Value {
        let mut writer = CompletionWriter::new(meta());
        serde_json::from_slice(&render_document(&mut writer, events)).unwrap()
    }

    fn finish(stop_reason: StopReason) -> StreamEvent {
        StreamEvent::Finish {
            stop_reason,
            usage: Usage {
                input_tokens: 100,
                output_tokens: 30,
                credits: Some(0.5),
            },
        }
    }

    #[test]
    fn text_completion_shape() {
        let completion = render(&[
            StreamEvent::Start,
            StreamEvent::TextDelta("Hello ".into()),
            StreamEvent::Ping,
            StreamEvent::TextDelta("world.".into()),
            finish(StopReason::EndTurn),
            StreamEvent::TextDelta("ignored".into()),
        ]);
        assert_eq!(
            completion,
            json!({
                "id": "chatcmpl-abc",
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": "claude-opus-4-8",
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": "Hello world.", "refusal": null},
                    "logprobs": null,
                    "finish_reason": "stop",
                }],
                "usage": {
                    "prompt_tokens": 100,
                    "completion_tokens": 30,
                    "total_tokens": 130,
                    "prompt_tokens_details": {"cached_tokens": 0},
                    "completion_tokens_details": {"reasoning_tokens": 0},
                },
                "system_fingerprint": null,
            })
        );
    }

    #[test]
    fn tool_calls_only_have_null_content() {
        let completion = render(&[
            StreamEvent::Start,
            StreamEvent::ToolCallStart {
                id: "tooluse_1".into(),
                name: "get_weather".into(),
            },
            StreamEvent::ToolCallDelta("{\"city\":".into()),
            StreamEvent::ToolCallDelta(" \"Paris\"}".into()),
            StreamEvent::ToolCallEnd,
            StreamEvent::ToolCallDelta("stray".into()),
            StreamEvent::ToolCallStart {
                id: "tooluse_2".into(),
                name: "noop".into(),
            },
            StreamEvent::ToolCallEnd,
            StreamEvent::ToolCallStart {
                id: "tooluse_3".into(),
                name: "write".into(),
            },
            StreamEvent::ToolCallDelta("{\"content\": \"trunc".into()),
            finish(StopReason::ToolUse),
        ]);
        let choice = &completion["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls");
        assert_eq!(choice["message"]["content"], Value::Null);
        assert_eq!(
            choice["message"]["tool_calls"],
            json!([
                {"id": "tooluse_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}},
                {"id": "tooluse_2", "type": "function",
                 "function": {"name": "noop", "arguments": "{}"}},
                {"id": "tooluse_3", "type": "function",
                 "function": {"name": "write", "arguments": "{}"}},
            ])
        );
    }

    #[test]
    fn reasoning_is_returned_and_counted() {
        let completion = render(&[
            StreamEvent::Start,
            StreamEvent::ThinkingDelta("Let me think about this.".into()),
            StreamEvent::TextDelta("Sure: ".into()),
            StreamEvent::ToolCallStart {
                id: "t".into(),
                name: "x".into(),
            },
            StreamEvent::ToolCallDelta("{}".into()),
            StreamEvent::ToolCallEnd,
            finish(StopReason::ToolUse),
        ]);
        let message = &completion["choices"][0]["message"];
        assert_eq!(message["reasoning_content"], "Let me think about this.");
        assert_eq!(message["content"], "Sure: ");
        assert_eq!(message["tool_calls"][0]["function"]["arguments"], "{}");
        assert_eq!(
            completion["usage"]["completion_tokens_details"]["reasoning_tokens"],
            estimate::output_tokens("Let me think about this.")
        );
    }

    #[test]
    fn empty_answer_and_length() {
        let completion = render(&[
            StreamEvent::Start,
            finish(StopReason::ContextWindowExceeded),
        ]);
        assert_eq!(completion["choices"][0]["message"]["content"], "");
        assert_eq!(completion["choices"][0]["finish_reason"], "length");
        let completion = render(&[finish(StopReason::MaxTokens)]);
        assert_eq!(completion["choices"][0]["finish_reason"], "length");
    }

    #[test]
    fn error_replaces_the_completion() {
        let body = render(&[
            StreamEvent::Start,
            StreamEvent::TextDelta("partial".into()),
            StreamEvent::Error(GatewayError::new(ErrorKind::Timeout, "upstream timed out")),
            finish(StopReason::EndTurn),
        ]);
        assert_eq!(
            body,
            json!({"error": {"message": "upstream timed out", "type": "server_error",
                             "param": null, "code": "timeout"}})
        );
    }
}
