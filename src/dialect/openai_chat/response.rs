//! Canonical stream events → one `chat.completion` JSON (non-streaming responses).
//!
//! `message.content` is `null` when the answer is only tool calls, as OpenAI sends it; tool
//! call arguments are JSON strings; reasoning goes to `message.reasoning_content`, the field
//! OpenAI-compatible servers use for it.

use serde_json::{json, Map, Value};

use super::{error, finish_reason};
use crate::chat::estimate;
use crate::chat::{ResponseMeta, StopReason, StreamEvent, Usage};
use crate::dialect::ResponseWriter;

/// A tool call being aggregated.
#[derive(Debug)]
struct ToolCall {
    id: String,
    name: String,
    /// The concatenated argument fragments.
    arguments: String,
}

/// Collects a whole response and renders it as one `chat.completion` at the end.
#[derive(Debug)]
pub struct CompletionWriter {
    meta: ResponseMeta,
    content: String,
    reasoning: String,
    tool_calls: Vec<ToolCall>,
    /// A tool call is between `ToolCallStart` and `ToolCallEnd`.
    in_tool: bool,
    done: bool,
}

impl CompletionWriter {
    pub fn new(meta: ResponseMeta) -> Self {
        CompletionWriter {
            meta,
            content: String::new(),
            reasoning: String::new(),
            tool_calls: Vec::new(),
            in_tool: false,
            done: false,
        }
    }

    fn completion(&mut self, stop_reason: StopReason, usage: &Usage) -> Value {
        let tool_calls: Vec<Value> = std::mem::take(&mut self.tool_calls)
            .into_iter()
            .map(|call| {
                let arguments = tool_arguments(&call.id, call.arguments);
                json!({
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": arguments},
                })
            })
            .collect();
        let mut message = Map::new();
        message.insert("role".into(), "assistant".into());
        let content = std::mem::take(&mut self.content);
        message.insert(
            "content".into(),
            if content.is_empty() && !tool_calls.is_empty() {
                Value::Null
            } else {
                Value::String(content)
            },
        );
        message.insert("refusal".into(), Value::Null);
        let reasoning_tokens = estimate::output_tokens(&self.reasoning).min(usage.output_tokens);
        if !self.reasoning.is_empty() {
            let reasoning = std::mem::take(&mut self.reasoning);
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

/// The call's arguments, as the JSON object text clients parse. The response assembler
/// promises an object; if it is broken anyway (a truncated upstream stream), the client gets
/// `{}` and a log line rather than text its JSON parser throws on.
fn tool_arguments(id: &str, arguments: String) -> String {
    if arguments.trim().is_empty() {
        return "{}".to_owned();
    }
    match serde_json::from_str::<Value>(&arguments) {
        Ok(Value::Object(_)) => arguments,
        _ => {
            log::warn!(
                "tool call {id}: arguments are not a JSON object ({} bytes); sending {{}}",
                arguments.len()
            );
            "{}".to_owned()
        }
    }
}

impl ResponseWriter for CompletionWriter {
    fn content_type(&self) -> &'static str {
        "application/json"
    }

    fn write(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        match event {
            StreamEvent::Start | StreamEvent::Ping => {}
            StreamEvent::TextDelta(text) => self.content.push_str(text),
            StreamEvent::ThinkingDelta(text) => self.reasoning.push_str(text),
            StreamEvent::ToolCallStart { id, name } => {
                self.tool_calls.push(ToolCall {
                    id: id.clone(),
                    name: name.clone(),
                    arguments: String::new(),
                });
                self.in_tool = true;
            }
            StreamEvent::ToolCallDelta(fragment) => {
                if let (true, Some(call)) = (self.in_tool, self.tool_calls.last_mut()) {
                    call.arguments.push_str(fragment);
                }
            }
            StreamEvent::ToolCallEnd => self.in_tool = false,
            StreamEvent::Finish { stop_reason, usage } => {
                let completion = self.completion(*stop_reason, usage);
                // `Value`'s `Display` is its compact JSON and cannot fail.
                out.extend_from_slice(completion.to_string().as_bytes());
                self.done = true;
            }
            StreamEvent::Error(err) => {
                self.content.clear();
                self.reasoning.clear();
                self.tool_calls.clear();
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
        let mut writer = CompletionWriter::new(ResponseMeta {
            id: "abc".into(),
            model: "claude-opus-4-8".into(),
            input_tokens: 10,
            created: 1_700_000_000,
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
