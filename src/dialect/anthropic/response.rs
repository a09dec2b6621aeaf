//! Canonical stream events → one Anthropic `Message` JSON (non-streaming responses).
//!
//! Claude Code falls back to this form whenever a stream fails, so it must carry the same
//! content as the stream would have: signed thinking, text, and tool calls with their input
//! parsed into an object.

use serde_json::{json, Value};

use super::{error, stop_reason_name, THINKING_SIGNATURE};
use crate::chat::{ResponseMeta, StopReason, StreamEvent, Usage};
use crate::dialect::transcript::{Part, Transcript};
use crate::dialect::ResponseWriter;
use crate::json::push_json_value;

/// Collects a whole response and renders it as one `Message` at the end.
#[derive(Debug)]
pub struct MessageWriter {
    meta: ResponseMeta,
    transcript: Transcript,
}

impl MessageWriter {
    pub fn new(meta: ResponseMeta) -> Self {
        MessageWriter {
            meta,
            transcript: Transcript::new(),
        }
    }

    fn message(&mut self, stop_reason: StopReason, usage: &Usage) -> Value {
        let mut content: Vec<Value> = self
            .transcript
            .take_parts()
            .into_iter()
            .map(|part| match part {
                Part::Thinking(thinking) => json!({
                    "type": "thinking",
                    "thinking": thinking,
                    "signature": THINKING_SIGNATURE,
                }),
                Part::Text(text) => json!({"type": "text", "text": text}),
                Part::ToolCall(call) => {
                    let input = call.input();
                    json!({"type": "tool_use", "id": call.id, "name": call.name, "input": input})
                }
            })
            .collect();
        if content.is_empty() {
            // Some clients assume at least one content block.
            content.push(json!({"type": "text", "text": ""}));
        }
        json!({
            "id": format!("msg_{}", self.meta.id),
            "type": "message",
            "role": "assistant",
            "model": self.meta.model,
            "content": content,
            "stop_reason": stop_reason_name(stop_reason),
            "stop_sequence": null,
            "usage": {
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        })
    }
}

impl ResponseWriter for MessageWriter {
    fn content_type(&self) -> &'static str {
        "application/json"
    }

    fn write(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if let Some(outcome) = self.transcript.push(event) {
            let document = |reason, usage: &Usage, out: &mut Vec<u8>| {
                push_json_value(out, &self.message(reason, usage))
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
        let mut writer = MessageWriter::new(meta());
        serde_json::from_slice(&render_document(&mut writer, events)).unwrap()
    }

    fn finish(stop_reason: StopReason) -> StreamEvent {
        StreamEvent::Finish {
            stop_reason,
            usage: Usage {
                input_tokens: 100,
                output_tokens: 7,
                credits: Some(0.5),
            },
        }
    }

    #[test]
    fn full_message_shape() {
        let message = render(&[
            StreamEvent::Start,
            StreamEvent::ThinkingDelta("Let me ".into()),
            StreamEvent::ThinkingDelta("see.".into()),
            StreamEvent::TextDelta("I'll ".into()),
            StreamEvent::Ping,
            StreamEvent::TextDelta("run it.".into()),
            StreamEvent::ToolCallStart {
                id: "toolu_1".into(),
                name: "Bash".into(),
            },
            StreamEvent::ToolCallDelta("{\"command\":".into()),
            StreamEvent::ToolCallDelta(" \"ls\"}".into()),
            StreamEvent::ToolCallEnd,
            StreamEvent::ToolCallStart {
                id: "toolu_2".into(),
                name: "Noop".into(),
            },
            StreamEvent::ToolCallEnd,
            finish(StopReason::ToolUse),
            StreamEvent::TextDelta("ignored".into()),
        ]);
        assert_eq!(
            message,
            json!({
                "id": "msg_abc",
                "type": "message",
                "role": "assistant",
                "model": "claude-opus-4-8",
                "content": [
                    {"type": "thinking", "thinking": "Let me see.", "signature": THINKING_SIGNATURE},
                    {"type": "text", "text": "I'll run it."},
                    {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}},
                    {"type": "tool_use", "id": "toolu_2", "name": "Noop", "input": {}},
                ],
                "stop_reason": "tool_use",
                "stop_sequence": null,
                "usage": {
                    "input_tokens": 100,
                    "output_tokens": 7,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                },
            })
        );
    }

    #[test]
    fn empty_answer_has_one_text_block() {
        let message = render(&[StreamEvent::Start, finish(StopReason::MaxTokens)]);
        assert_eq!(message["content"], json!([{"type": "text", "text": ""}]));
        assert_eq!(message["stop_reason"], "max_tokens");
    }

    #[test]
    fn broken_tool_json_becomes_an_empty_object() {
        let message = render(&[
            StreamEvent::ToolCallStart {
                id: "t".into(),
                name: "Write".into(),
            },
            StreamEvent::ToolCallDelta("{\"content\": \"trunc".into()),
            StreamEvent::ToolCallEnd,
            finish(StopReason::ToolUse),
        ]);
        assert_eq!(message["content"][0]["input"], json!({}));
    }

    #[test]
    fn text_after_a_tool_starts_a_new_block() {
        let message = render(&[
            StreamEvent::TextDelta("a".into()),
            StreamEvent::ToolCallStart {
                id: "t".into(),
                name: "X".into(),
            },
            StreamEvent::ToolCallEnd,
            StreamEvent::ToolCallDelta("stray".into()),
            StreamEvent::TextDelta("b".into()),
            finish(StopReason::EndTurn),
        ]);
        let types: Vec<&str> = message["content"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["text", "tool_use", "text"]);
        assert_eq!(message["content"][1]["input"], json!({}));
        assert_eq!(message["content"][2]["text"], "b");
    }

    #[test]
    fn error_replaces_the_message() {
        let body = render(&[
            StreamEvent::Start,
            StreamEvent::TextDelta("partial".into()),
            StreamEvent::Error(GatewayError::new(ErrorKind::Timeout, "upstream timed out")),
            finish(StopReason::EndTurn),
        ]);
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], "timeout_error");
        assert_eq!(body["error"]["message"], "upstream timed out");
    }
}
