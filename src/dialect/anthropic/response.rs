//! Canonical stream events → one Anthropic `Message` JSON (non-streaming responses).
//!
//! Claude Code falls back to this form whenever a stream fails, so it must carry the same
//! content as the stream would have: signed thinking, text, and tool calls with their input
//! parsed into an object.

use serde_json::{json, Map, Value};

use super::{error, stop_reason_name, THINKING_SIGNATURE};
use crate::chat::{ResponseMeta, StopReason, StreamEvent, Usage};
use crate::dialect::ResponseWriter;

/// One content block being aggregated.
#[derive(Debug)]
enum Part {
    Thinking(String),
    Text(String),
    ToolUse {
        id: String,
        name: String,
        /// The concatenated argument fragments.
        json: String,
    },
}

/// Collects a whole response and renders it as one `Message` at the end.
#[derive(Debug)]
pub struct MessageWriter {
    meta: ResponseMeta,
    parts: Vec<Part>,
    /// A tool call is between `ToolCallStart` and `ToolCallEnd`.
    in_tool: bool,
    done: bool,
}

impl MessageWriter {
    pub fn new(meta: ResponseMeta) -> Self {
        MessageWriter {
            meta,
            parts: Vec::new(),
            in_tool: false,
            done: false,
        }
    }

    fn push_text(&mut self, text: &str) {
        match self.parts.last_mut() {
            Some(Part::Text(buf)) => buf.push_str(text),
            _ => self.parts.push(Part::Text(text.to_owned())),
        }
    }

    fn push_thinking(&mut self, text: &str) {
        match self.parts.last_mut() {
            Some(Part::Thinking(buf)) => buf.push_str(text),
            _ => self.parts.push(Part::Thinking(text.to_owned())),
        }
    }

    fn message(&mut self, stop_reason: StopReason, usage: &Usage) -> Value {
        let mut content: Vec<Value> = std::mem::take(&mut self.parts)
            .into_iter()
            .map(|part| match part {
                Part::Thinking(thinking) => json!({
                    "type": "thinking",
                    "thinking": thinking,
                    "signature": THINKING_SIGNATURE,
                }),
                Part::Text(text) => json!({"type": "text", "text": text}),
                Part::ToolUse { id, name, json } => {
                    let input = tool_input(&id, &json);
                    json!({"type": "tool_use", "id": id, "name": name, "input": input})
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

/// The tool call's arguments as an object. The response assembler promises a JSON object; if
/// it is broken anyway (a truncated upstream stream), the client gets `{}` and a log line
/// rather than an unparsable message.
fn tool_input(id: &str, json: &str) -> Value {
    if json.trim().is_empty() {
        return Value::Object(Map::new());
    }
    match serde_json::from_str::<Value>(json) {
        Ok(input @ Value::Object(_)) => input,
        _ => {
            log::warn!(
                "tool call {id}: arguments are not a JSON object ({} bytes); sending {{}}",
                json.len()
            );
            Value::Object(Map::new())
        }
    }
}

impl ResponseWriter for MessageWriter {
    fn content_type(&self) -> &'static str {
        "application/json"
    }

    fn write(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        match event {
            StreamEvent::Start | StreamEvent::Ping => {}
            StreamEvent::TextDelta(text) => {
                if !text.is_empty() {
                    self.in_tool = false;
                    self.push_text(text);
                }
            }
            StreamEvent::ThinkingDelta(text) => {
                if !text.is_empty() {
                    self.in_tool = false;
                    self.push_thinking(text);
                }
            }
            StreamEvent::ToolCallStart { id, name } => {
                self.parts.push(Part::ToolUse {
                    id: id.clone(),
                    name: name.clone(),
                    json: String::new(),
                });
                self.in_tool = true;
            }
            StreamEvent::ToolCallDelta(fragment) => {
                if let (true, Some(Part::ToolUse { json, .. })) =
                    (self.in_tool, self.parts.last_mut())
                {
                    json.push_str(fragment);
                }
            }
            StreamEvent::ToolCallEnd => self.in_tool = false,
            StreamEvent::Finish { stop_reason, usage } => {
                let message = self.message(*stop_reason, usage);
                // `Value`'s `Display` is its compact JSON and cannot fail.
                out.extend_from_slice(message.to_string().as_bytes());
                self.done = true;
            }
            StreamEvent::Error(err) => {
                self.parts.clear();
                out.extend_from_slice(&error::body(err));
                self.done = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{ErrorKind, GatewayError};

    fn render(events: &[StreamEvent]) -> Value {
        let mut writer = MessageWriter::new(ResponseMeta {
            id: "abc".into(),
            model: "claude-opus-4-8".into(),
            input_tokens: 10,
            created: 0,
            thinking: false,
            echo: None,
        });
        let mut out = Vec::new();
        for event in events {
            // Nothing is written before the end.
            let before = out.len();
            writer.write(event, &mut out);
            if !matches!(event, StreamEvent::Finish { .. } | StreamEvent::Error(_)) {
                assert_eq!(out.len(), before);
            }
        }
        serde_json::from_slice(&out).unwrap()
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
