//! Canonical stream events → one response object (non-streaming responses).
//!
//! The same items as the stream, in one JSON document at the end. A failure after the start
//! cannot change the HTTP status any more, so it becomes what OpenAI itself returns for a
//! response that failed while running: `status:"failed"` with `error:{code, message}`.

use serde_json::Value;

use super::output::{failure, Document, NoEvents, Output, CONTEXT_EXCEEDED_MESSAGE};
use super::store;
use crate::chat::{ResponseMeta, StopReason, StreamEvent, Usage};
use crate::dialect::ResponseWriter;

/// Collects a whole response and renders it as one response object at the end.
#[derive(Debug)]
pub struct JsonWriter {
    output: Output,
    /// The request asked for its response to be stored (`store`, the default).
    keep: bool,
    /// The response object was written.
    done: bool,
    /// The response object, when it is to be stored.
    document: Option<Value>,
}

impl JsonWriter {
    pub fn new(meta: ResponseMeta) -> Self {
        JsonWriter {
            keep: store::wants_store(meta.echo.as_deref()),
            output: Output::new(meta),
            done: false,
            document: None,
        }
    }
}

impl JsonWriter {
    fn finish(&mut self, stop_reason: StopReason, usage: &Usage, out: &mut Vec<u8>) {
        let status = match stop_reason {
            StopReason::MaxTokens => "incomplete",
            _ => "completed",
        };
        self.output.close(status, &mut NoEvents);
        let doc = match stop_reason {
            StopReason::EndTurn | StopReason::ToolUse => {
                self.output.document("completed", Some(usage), None, None)
            }
            StopReason::MaxTokens => {
                self.output
                    .document("incomplete", Some(usage), None, Some("max_output_tokens"))
            }
            StopReason::ContextWindowExceeded => self.output.document(
                "failed",
                Some(usage),
                Some(failure("context_length_exceeded", CONTEXT_EXCEEDED_MESSAGE)),
                None,
            ),
        };
        end(doc, self.keep, &mut self.document, out);
        self.done = true;
    }
}

/// Writes the response object, and keeps a copy of it when it is to be stored.
fn end(doc: Document, keep: bool, kept: &mut Option<Value>, out: &mut Vec<u8>) {
    doc.write_json(out);
    if keep {
        *kept = Some(doc.to_value());
    }
}

impl ResponseWriter for JsonWriter {
    fn content_type(&self) -> &'static str {
        "application/json"
    }

    fn write(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        if self.output.content(event, &mut NoEvents) {
            return;
        }
        match event {
            StreamEvent::Finish { stop_reason, usage } => self.finish(*stop_reason, usage, out),
            StreamEvent::Error(err) => {
                let doc = self.output.failed_document(err);
                end(doc, self.keep, &mut self.document, out);
                self.done = true;
            }
            // `Start` and `Ping` need nothing; content events went to the items above.
            _ => {}
        }
    }

    fn take_stored_document(&mut self) -> Option<Value> {
        self.document.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{ErrorKind, GatewayError};
    use crate::dialect::openai_responses::testing::split_echo;
    use crate::dialect::openai_responses::{ECHO_RESPONSE, ECHO_TOOLS};
    use crate::dialect::testing::render_document;
    use serde_json::json;

    fn render(echo: Option<Value>, events: &[StreamEvent]) -> (Value, JsonWriter) {
        let (echo, shared_echo) = split_echo(echo);
        let mut writer = JsonWriter::new(ResponseMeta {
            id: "abc".into(),
            model: "claude-sonnet-4-5".into(),
            input_tokens: 10,
            created: 1_700_000_000,
            thinking: true,
            echo,
            shared_echo,
        });
        let out = render_document(&mut writer, events);
        (serde_json::from_slice(&out).unwrap(), writer)
    }

    fn finish(stop_reason: StopReason) -> StreamEvent {
        StreamEvent::Finish {
            stop_reason,
            usage: Usage {
                input_tokens: 30,
                output_tokens: 12,
                credits: Some(0.1),
            },
        }
    }

    #[test]
    fn full_document() {
        let echo = json!({
            ECHO_RESPONSE: {"store": false, "reasoning": {"effort": "high", "summary": "auto"},
                            "tools": [{"type": "function", "name": "exec_command"}]},
            ECHO_TOOLS: {},
        });
        let (doc, mut writer) = render(
            Some(echo),
            &[
                StreamEvent::Start,
                StreamEvent::Ping,
                StreamEvent::ThinkingDelta("Let me look.".into()),
                StreamEvent::TextDelta("Checking".into()),
                StreamEvent::ToolCallStart {
                    id: "tooluse_1".into(),
                    name: "exec_command".into(),
                },
                StreamEvent::ToolCallDelta("{\"cmd\":\"ls\"}".into()),
                StreamEvent::ToolCallEnd,
                finish(StopReason::ToolUse),
            ],
        );
        assert_eq!(
            doc["output"],
            json!([
                {"id": "rs_abc_0", "type": "reasoning",
                 "summary": [{"type": "summary_text", "text": "Let me look."}]},
                {"id": "msg_abc_1", "type": "message", "status": "completed", "role": "assistant",
                 "content": [{"type": "output_text", "text": "Checking", "annotations": [], "logprobs": []}]},
                {"id": "fc_tooluse_1", "type": "function_call", "status": "completed",
                 "call_id": "tooluse_1", "name": "exec_command", "arguments": "{\"cmd\":\"ls\"}"},
            ])
        );
        assert_eq!(doc["id"], "resp_abc");
        assert_eq!(doc["object"], "response");
        assert_eq!(doc["status"], "completed");
        assert_eq!(doc["model"], "claude-sonnet-4-5");
        assert_eq!(doc["store"], false);
        assert_eq!(doc["reasoning"]["effort"], "high");
        assert_eq!(doc["tools"][0]["name"], "exec_command");
        assert_eq!(doc["usage"]["total_tokens"], 42);
        assert_eq!(doc["usage"]["output_tokens_details"]["reasoning_tokens"], 3);
        // `store: false`: nothing is kept for a later `previous_response_id`.
        assert_eq!(writer.take_stored_document(), None);
    }

    #[test]
    fn max_tokens_and_context_window() {
        let (doc, mut writer) = render(
            None,
            &[
                StreamEvent::TextDelta("Partial".into()),
                finish(StopReason::MaxTokens),
            ],
        );
        // Stored by default: the very object the client got, handed over once.
        assert_eq!(writer.take_stored_document().as_ref(), Some(&doc));
        assert_eq!(writer.take_stored_document(), None);
        assert_eq!(doc["status"], "incomplete");
        assert_eq!(doc["incomplete_details"]["reason"], "max_output_tokens");
        assert_eq!(doc["output"][0]["status"], "incomplete");

        let (doc, _) = render(None, &[finish(StopReason::ContextWindowExceeded)]);
        assert_eq!(doc["status"], "failed");
        assert_eq!(doc["error"]["code"], "context_length_exceeded");
        assert_eq!(doc["output"], json!([]));
    }

    #[test]
    fn errors_fail_the_response() {
        let (doc, mut writer) = render(
            None,
            &[
                StreamEvent::TextDelta("Half".into()),
                StreamEvent::Error(GatewayError::new(ErrorKind::Timeout, "upstream timed out")),
                finish(StopReason::EndTurn),
            ],
        );
        assert_eq!(doc["status"], "failed");
        assert_eq!(
            doc["error"],
            json!({"code": "server_error", "message": "upstream timed out"})
        );
        assert_eq!(doc["usage"], Value::Null);
        assert_eq!(writer.take_stored_document().unwrap()["status"], "failed");
    }
}
