//! Canonical stream events → the Responses SSE event grammar.
//!
//! Every frame is `event: <type>\ndata: <one-line JSON with the same "type">\n\n`, and every
//! JSON ends with `"sequence_number"`, counting 0, 1, 2… over the whole stream. The order:
//!
//! ```text
//! response.created, response.in_progress,
//! per item: output_item.added
//!   reasoning: reasoning_summary_part.added, reasoning_summary_text.delta*,
//!              reasoning_summary_text.done, reasoning_summary_part.done
//!   message:   content_part.added, output_text.delta*, output_text.done, content_part.done
//!   function:  function_call_arguments.delta*, function_call_arguments.done
//!   custom:    custom_tool_call_input.delta, custom_tool_call_input.done
//! output_item.done (the complete item: Codex reads answers only from here),
//! response.completed | response.incomplete | response.failed
//! ```
//!
//! Keep-alives (`Ping`) are `response.in_progress` events rather than SSE comments: Codex's
//! 300 s idle timer restarts only when its SSE parser yields an event, and comments yield
//! none. The keep-alive carries only the response's identity, which the SDK's accumulator
//! accepts (it checks `response.id`, and treats a missing `output` as "no change").
//!
//! Deltas are the hot path: their frames are written straight into the output buffer.

use serde_json::Value;

use super::output::{
    failure, output_text, Document, ItemEvents, ItemKind, OpenItem, Output,
    CONTEXT_EXCEEDED_MESSAGE,
};
use super::store;
use crate::chat::{ResponseMeta, StopReason, StreamEvent, Usage};
use crate::dialect::ResponseWriter;
use crate::json::{push_json_str, push_json_value, push_u64};

/// Renders one response as Responses SSE.
#[derive(Debug)]
pub struct SseWriter {
    output: Output,
    /// The next `sequence_number`.
    seq: u64,
    started: bool,
    /// The terminal event was written; later events are ignored.
    done: bool,
    /// The request asked for its response to be stored (`store`, the default).
    keep: bool,
    /// The final response object, when it is to be stored.
    document: Option<Value>,
}

impl SseWriter {
    pub fn new(meta: ResponseMeta) -> Self {
        SseWriter {
            keep: store::wants_store(meta.echo.as_deref()),
            output: Output::new(meta),
            seq: 0,
            started: false,
            done: false,
            document: None,
        }
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        self.started = true;
        let doc = self.output.initial_document();
        let mut frames = Frames::new(&mut self.seq, out);
        frames.lifecycle("response.created", &doc);
        frames.lifecycle("response.in_progress", &doc);
    }

    fn finish(&mut self, stop_reason: StopReason, usage: &Usage, out: &mut Vec<u8>) {
        let item_status = match stop_reason {
            StopReason::MaxTokens => "incomplete",
            _ => "completed",
        };
        self.output
            .close(item_status, &mut Frames::new(&mut self.seq, out));
        let (event, doc) = match stop_reason {
            StopReason::EndTurn | StopReason::ToolUse => (
                "response.completed",
                self.output.document("completed", Some(usage), None, None),
            ),
            StopReason::MaxTokens => (
                "response.incomplete",
                self.output
                    .document("incomplete", Some(usage), None, Some("max_output_tokens")),
            ),
            // Codex reacts to this code by compacting its history.
            StopReason::ContextWindowExceeded => (
                "response.failed",
                self.output.document(
                    "failed",
                    Some(usage),
                    Some(failure("context_length_exceeded", CONTEXT_EXCEEDED_MESSAGE)),
                    None,
                ),
            ),
        };
        Frames::new(&mut self.seq, out).lifecycle(event, &doc);
        self.document = self.keep.then(|| doc.to_value());
    }
}

impl ResponseWriter for SseWriter {
    fn content_type(&self) -> &'static str {
        "text/event-stream"
    }

    fn write(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        if !self.started {
            self.start(out);
        }
        let mut frames = Frames::new(&mut self.seq, out);
        if self.output.content(event, &mut frames) {
            return;
        }
        match event {
            StreamEvent::Ping => {
                frames.lifecycle("response.in_progress", &self.output.progress_document())
            }
            StreamEvent::Finish { stop_reason, usage } => {
                self.finish(*stop_reason, usage, out);
                self.done = true;
            }
            StreamEvent::Error(err) => {
                let doc = self.output.failed_document(err);
                frames.lifecycle("response.failed", &doc);
                self.document = self.keep.then(|| doc.to_value());
                self.done = true;
            }
            // `Start` needs nothing more; content events went to the items above.
            _ => {}
        }
    }

    fn take_stored_document(&mut self) -> Option<Value> {
        self.document.take()
    }
}

/// Writes frames, numbering them.
struct Frames<'a> {
    seq: &'a mut u64,
    out: &'a mut Vec<u8>,
}

impl<'a> Frames<'a> {
    fn new(seq: &'a mut u64, out: &'a mut Vec<u8>) -> Self {
        Frames { seq, out }
    }

    /// `event: <kind>\ndata: {"type":"<kind>"`; the caller appends `,"field":value` pairs and
    /// then calls [`Frames::end`].
    fn begin(&mut self, kind: &str) {
        self.out.extend_from_slice(b"event: ");
        self.out.extend_from_slice(kind.as_bytes());
        self.out.extend_from_slice(b"\ndata: {\"type\":\"");
        self.out.extend_from_slice(kind.as_bytes());
        self.out.push(b'"');
    }

    fn end(&mut self) {
        self.out.extend_from_slice(b",\"sequence_number\":");
        push_u64(self.out, *self.seq);
        self.out.extend_from_slice(b"}\n\n");
        *self.seq += 1;
    }

    /// `,"<key>":<value>` for a pre-built JSON value.
    fn value(&mut self, key: &str, value: &Value) {
        self.out.push(b',');
        push_json_str(self.out, key);
        self.out.push(b':');
        push_json_value(self.out, value);
    }

    fn string(&mut self, key: &str, value: &str) {
        self.out.push(b',');
        push_json_str(self.out, key);
        self.out.push(b':');
        push_json_str(self.out, value);
    }

    fn number(&mut self, key: &str, value: u64) {
        self.out.push(b',');
        push_json_str(self.out, key);
        self.out.push(b':');
        push_u64(self.out, value);
    }

    /// A `response.*` lifecycle event carrying a response object.
    fn lifecycle(&mut self, kind: &str, response: &Document) {
        self.begin(kind);
        self.out.extend_from_slice(b",\"response\":");
        response.write_json(self.out);
        self.end();
    }

    /// The start of an event about `item`: type, `item_id` and `output_index`.
    fn item_event(&mut self, kind: &str, item: &OpenItem) {
        self.begin(kind);
        self.string("item_id", &item.id);
        self.number("output_index", item.output_index);
    }

    /// `,"summary_index":0` or `,"content_index":0`: each item has a single part.
    fn part_index(&mut self, item: &OpenItem) {
        let key = match item.kind {
            ItemKind::Reasoning => "summary_index",
            _ => "content_index",
        };
        self.number(key, 0);
    }

    /// The `part` of the reasoning summary or of the message, with `text`.
    fn part(&mut self, item: &OpenItem, text: &str) {
        let part = match item.kind {
            ItemKind::Reasoning => serde_json::json!({"type": "summary_text", "text": text}),
            _ => output_text(text),
        };
        self.value("part", &part);
    }
}

impl ItemEvents for Frames<'_> {
    fn added(&mut self, item: &OpenItem) {
        self.begin("response.output_item.added");
        self.number("output_index", item.output_index);
        self.value("item", &item.added());
        self.end();
        let part_added = match item.kind {
            ItemKind::Reasoning => "response.reasoning_summary_part.added",
            ItemKind::Message => "response.content_part.added",
            ItemKind::FunctionCall | ItemKind::CustomToolCall => return,
        };
        self.item_event(part_added, item);
        self.part_index(item);
        self.part(item, "");
        self.end();
    }

    fn delta(&mut self, item: &OpenItem, delta: &str) {
        let kind = match item.kind {
            ItemKind::Reasoning => "response.reasoning_summary_text.delta",
            ItemKind::Message => "response.output_text.delta",
            ItemKind::FunctionCall => "response.function_call_arguments.delta",
            ItemKind::CustomToolCall => "response.custom_tool_call_input.delta",
        };
        self.item_event(kind, item);
        if matches!(item.kind, ItemKind::Reasoning | ItemKind::Message) {
            self.part_index(item);
        }
        self.string("delta", delta);
        if item.kind == ItemKind::Message {
            self.out.extend_from_slice(b",\"logprobs\":[]");
        }
        self.end();
    }

    fn done(&mut self, item: &OpenItem, finished: &Value) {
        match item.kind {
            ItemKind::Reasoning | ItemKind::Message => {
                let (text_done, part_done) = if item.kind == ItemKind::Reasoning {
                    (
                        "response.reasoning_summary_text.done",
                        "response.reasoning_summary_part.done",
                    )
                } else {
                    ("response.output_text.done", "response.content_part.done")
                };
                self.item_event(text_done, item);
                self.part_index(item);
                self.string("text", &item.text);
                if item.kind == ItemKind::Message {
                    self.out.extend_from_slice(b",\"logprobs\":[]");
                }
                self.end();
                self.item_event(part_done, item);
                self.part_index(item);
                self.part(item, &item.text);
                self.end();
            }
            ItemKind::FunctionCall => {
                self.item_event("response.function_call_arguments.done", item);
                self.string("name", &item.tool.name);
                self.string("arguments", &item.arguments());
                self.end();
            }
            ItemKind::CustomToolCall => {
                // The input is only known once the whole `{"input": …}` arrived.
                let input = item.custom_input();
                if !input.is_empty() {
                    self.delta(item, &input);
                }
                self.item_event("response.custom_tool_call_input.done", item);
                self.string("input", &input);
                self.end();
            }
        }
        self.begin("response.output_item.done");
        self.number("output_index", item.output_index);
        self.value("item", finished);
        self.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{ErrorKind, GatewayError};
    use crate::dialect::openai_responses::testing::split_echo;
    use crate::dialect::openai_responses::{ECHO_RESPONSE, ECHO_TOOLS};
    use serde_json::json;

    fn meta(echo: Option<Value>) -> ResponseMeta {
        let (echo, shared_echo) = split_echo(echo);
        ResponseMeta {
            id: "r1".into(),
            model: "gpt-5.1-codex".into(),
            input_tokens: 42,
            created: 1_700_000_000,
            thinking: false,
            echo,
            shared_echo,
        }
    }

    fn render_with(echo: Option<Value>, events: &[StreamEvent]) -> (String, SseWriter) {
        let mut writer = SseWriter::new(meta(echo));
        let mut out = Vec::new();
        for event in events {
            writer.write(event, &mut out);
        }
        (String::from_utf8(out).unwrap(), writer)
    }

    fn render(events: &[StreamEvent]) -> String {
        render_with(None, events).0
    }

    fn finish(stop_reason: StopReason) -> StreamEvent {
        StreamEvent::Finish {
            stop_reason,
            usage: Usage {
                input_tokens: 50,
                output_tokens: 5,
                credits: None,
            },
        }
    }

    /// Splits a transcript into (event name, data JSON), checking the framing: one `event:`
    /// and one single-line `data:` per frame, `type` equal to the name, and contiguous
    /// sequence numbers from 0.
    fn frames(sse: &str) -> Vec<(String, Value)> {
        assert!(sse.ends_with("\n\n"), "unterminated: {sse:?}");
        let frames: Vec<(String, Value)> = sse
            .trim_end_matches("\n\n")
            .split("\n\n")
            .map(|frame| {
                let lines: Vec<&str> = frame.split('\n').collect();
                assert_eq!(lines.len(), 2, "frame {frame:?}");
                let name = lines[0].strip_prefix("event: ").unwrap();
                let data: Value =
                    serde_json::from_str(lines[1].strip_prefix("data: ").unwrap()).unwrap();
                assert_eq!(data["type"], name, "frame {frame:?}");
                assert!(
                    data.get("error").is_none(),
                    "top-level error makes the SDK raise"
                );
                (name.to_string(), data)
            })
            .collect();
        for (n, (_, data)) in frames.iter().enumerate() {
            assert_eq!(data["sequence_number"], n as u64, "{data}");
        }
        frames
    }

    fn names(frames: &[(String, Value)]) -> Vec<&str> {
        frames
            .iter()
            .map(|(name, _)| name.strip_prefix("response.").unwrap_or(name))
            .collect()
    }

    #[test]
    fn text_transcript_exact_bytes() {
        let sse = render(&[
            StreamEvent::Start,
            StreamEvent::TextDelta("Hel".into()),
            StreamEvent::TextDelta("lo \"x\"".into()),
            finish(StopReason::EndTurn),
        ]);
        let f = frames(&sse);
        assert_eq!(
            names(&f),
            [
                "created",
                "in_progress",
                "output_item.added",
                "content_part.added",
                "output_text.delta",
                "output_text.delta",
                "output_text.done",
                "content_part.done",
                "output_item.done",
                "completed",
            ]
        );
        // The hand-built frames, byte for byte.
        let expected_tail = concat!(
            "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"output_index\":0,\"item\":{\"content\":[],\"id\":\"msg_r1_0\",\"role\":\"assistant\",\"status\":\"in_progress\",\"type\":\"message\"},\"sequence_number\":2}\n\n",
            "event: response.content_part.added\ndata: {\"type\":\"response.content_part.added\",\"item_id\":\"msg_r1_0\",\"output_index\":0,\"content_index\":0,\"part\":{\"annotations\":[],\"logprobs\":[],\"text\":\"\",\"type\":\"output_text\"},\"sequence_number\":3}\n\n",
            "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"item_id\":\"msg_r1_0\",\"output_index\":0,\"content_index\":0,\"delta\":\"Hel\",\"logprobs\":[],\"sequence_number\":4}\n\n",
            "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"item_id\":\"msg_r1_0\",\"output_index\":0,\"content_index\":0,\"delta\":\"lo \\\"x\\\"\",\"logprobs\":[],\"sequence_number\":5}\n\n",
            "event: response.output_text.done\ndata: {\"type\":\"response.output_text.done\",\"item_id\":\"msg_r1_0\",\"output_index\":0,\"content_index\":0,\"text\":\"Hello \\\"x\\\"\",\"logprobs\":[],\"sequence_number\":6}\n\n",
            "event: response.content_part.done\ndata: {\"type\":\"response.content_part.done\",\"item_id\":\"msg_r1_0\",\"output_index\":0,\"content_index\":0,\"part\":{\"annotations\":[],\"logprobs\":[],\"text\":\"Hello \\\"x\\\"\",\"type\":\"output_text\"},\"sequence_number\":7}\n\n",
            "event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"output_index\":0,\"item\":{\"content\":[{\"annotations\":[],\"logprobs\":[],\"text\":\"Hello \\\"x\\\"\",\"type\":\"output_text\"}],\"id\":\"msg_r1_0\",\"role\":\"assistant\",\"status\":\"completed\",\"type\":\"message\"},\"sequence_number\":8}\n\n",
        );
        assert!(sse.contains(expected_tail), "{sse}");

        let created = &f[0].1["response"];
        assert_eq!(created["id"], "resp_r1");
        assert_eq!(created["status"], "in_progress");
        assert_eq!(created["output"], json!([]));
        assert_eq!(f[1].1["response"], *created);
        let completed = &f[9].1["response"];
        assert_eq!(completed["id"], "resp_r1");
        assert_eq!(completed["status"], "completed");
        assert_eq!(completed["output"], json!([f[8].1["item"]]));
        assert_eq!(completed["usage"]["input_tokens"], 50);
        assert_eq!(completed["usage"]["total_tokens"], 55);
    }

    #[test]
    fn reasoning_then_text() {
        let (sse, mut writer) = render_with(
            None,
            &[
                StreamEvent::Start,
                StreamEvent::ThinkingDelta("**Plan**".into()),
                StreamEvent::ThinkingDelta(" go".into()),
                StreamEvent::TextDelta("Done".into()),
                finish(StopReason::EndTurn),
            ],
        );
        let f = frames(&sse);
        assert_eq!(
            names(&f),
            [
                "created",
                "in_progress",
                "output_item.added",
                "reasoning_summary_part.added",
                "reasoning_summary_text.delta",
                "reasoning_summary_text.delta",
                "reasoning_summary_text.done",
                "reasoning_summary_part.done",
                "output_item.done",
                "output_item.added",
                "content_part.added",
                "output_text.delta",
                "output_text.done",
                "content_part.done",
                "output_item.done",
                "completed",
            ]
        );
        assert_eq!(
            f[2].1["item"],
            json!({"id": "rs_r1_0", "type": "reasoning", "summary": []})
        );
        assert_eq!(
            f[3].1,
            json!({"type": "response.reasoning_summary_part.added", "item_id": "rs_r1_0",
                   "output_index": 0, "summary_index": 0,
                   "part": {"type": "summary_text", "text": ""}, "sequence_number": 3})
        );
        assert_eq!(f[4].1["delta"], "**Plan**");
        assert_eq!(f[4].1["summary_index"], 0);
        assert_eq!(f[6].1["text"], "**Plan** go");
        assert_eq!(
            f[7].1["part"],
            json!({"type": "summary_text", "text": "**Plan** go"})
        );
        assert_eq!(
            f[8].1["item"],
            json!({"id": "rs_r1_0", "type": "reasoning",
                   "summary": [{"type": "summary_text", "text": "**Plan** go"}]})
        );
        assert_eq!(f[9].1["output_index"], 1);
        assert_eq!(f[11].1["item_id"], "msg_r1_1");
        let doc = writer.take_stored_document().unwrap();
        assert_eq!(doc, f[15].1["response"]);
        assert_eq!(doc["output"].as_array().unwrap().len(), 2);
        assert_eq!(doc["usage"]["output_tokens_details"]["reasoning_tokens"], 3);
    }

    #[test]
    fn function_call_transcript() {
        let echo = json!({ECHO_TOOLS: {"ns__spawn": {"name": "spawn", "namespace": "ns"}}});
        let (sse, _) = render_with(
            Some(echo),
            &[
                StreamEvent::Start,
                StreamEvent::Ping,
                StreamEvent::TextDelta("Running.".into()),
                StreamEvent::ToolCallStart {
                    id: "tooluse_A".into(),
                    name: "exec_command".into(),
                },
                StreamEvent::ToolCallDelta("{\"cmd\":".into()),
                StreamEvent::ToolCallDelta("\"ls\"}".into()),
                StreamEvent::ToolCallEnd,
                StreamEvent::ToolCallStart {
                    id: "tooluse_B".into(),
                    name: "ns__spawn".into(),
                },
                StreamEvent::ToolCallEnd,
                finish(StopReason::ToolUse),
            ],
        );
        let f = frames(&sse);
        assert_eq!(
            names(&f),
            [
                "created",
                "in_progress",
                "in_progress",
                "output_item.added",
                "content_part.added",
                "output_text.delta",
                "output_text.done",
                "content_part.done",
                "output_item.done",
                "output_item.added",
                "function_call_arguments.delta",
                "function_call_arguments.delta",
                "function_call_arguments.done",
                "output_item.done",
                "output_item.added",
                "function_call_arguments.done",
                "output_item.done",
                "completed",
            ]
        );
        // The keep-alive names the response and nothing more.
        assert_eq!(
            f[2].1["response"],
            json!({"id": "resp_r1", "object": "response", "created_at": 1_700_000_000,
                   "status": "in_progress", "model": "gpt-5.1-codex"})
        );
        assert_eq!(
            f[9].1["item"],
            json!({"id": "fc_tooluse_A", "type": "function_call", "status": "in_progress",
                   "call_id": "tooluse_A", "name": "exec_command", "arguments": ""})
        );
        assert_eq!(
            f[10].1,
            json!({"type": "response.function_call_arguments.delta", "item_id": "fc_tooluse_A",
                   "output_index": 1, "delta": "{\"cmd\":", "sequence_number": 10})
        );
        assert_eq!(f[12].1["arguments"], "{\"cmd\":\"ls\"}");
        assert_eq!(f[12].1["name"], "exec_command");
        assert_eq!(
            f[13].1["item"],
            json!({"id": "fc_tooluse_A", "type": "function_call", "status": "completed",
                   "call_id": "tooluse_A", "name": "exec_command", "arguments": "{\"cmd\":\"ls\"}"})
        );
        assert_eq!(
            f[16].1["item"],
            json!({"id": "fc_tooluse_B", "type": "function_call", "status": "completed",
                   "call_id": "tooluse_B", "name": "spawn", "namespace": "ns", "arguments": "{}"})
        );
        assert_eq!(f[17].1["response"]["output"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn custom_tool_call_transcript() {
        let echo = json!({
            ECHO_TOOLS: {"apply_patch": {"name": "apply_patch", "custom": true}},
            ECHO_RESPONSE: {"tools": [{"type": "custom", "name": "apply_patch"}]},
        });
        let (sse, _) = render_with(
            Some(echo),
            &[
                StreamEvent::Start,
                StreamEvent::ToolCallStart {
                    id: "tooluse_P".into(),
                    name: "apply_patch".into(),
                },
                StreamEvent::ToolCallDelta("{\"input\":\"*** Begin Patch\\n".into()),
                StreamEvent::ToolCallDelta("*** End Patch\"}".into()),
                StreamEvent::ToolCallEnd,
                finish(StopReason::ToolUse),
            ],
        );
        let f = frames(&sse);
        assert_eq!(
            names(&f),
            [
                "created",
                "in_progress",
                "output_item.added",
                "custom_tool_call_input.delta",
                "custom_tool_call_input.done",
                "output_item.done",
                "completed",
            ]
        );
        assert_eq!(
            f[2].1["item"],
            json!({"id": "ctc_tooluse_P", "type": "custom_tool_call", "status": "in_progress",
                   "call_id": "tooluse_P", "name": "apply_patch", "input": ""})
        );
        let input = "*** Begin Patch\n*** End Patch";
        assert_eq!(f[3].1["delta"], input);
        assert_eq!(f[4].1["input"], input);
        assert_eq!(
            f[5].1["item"],
            json!({"id": "ctc_tooluse_P", "type": "custom_tool_call", "status": "completed",
                   "call_id": "tooluse_P", "name": "apply_patch", "input": input})
        );
        assert_eq!(f[6].1["response"]["tools"][0]["type"], "custom");
    }

    #[test]
    fn max_tokens_is_incomplete() {
        let f = frames(&render(&[
            StreamEvent::Start,
            StreamEvent::TextDelta("Cut".into()),
            finish(StopReason::MaxTokens),
        ]));
        let (name, last) = f.last().unwrap();
        assert_eq!(name, "response.incomplete");
        assert_eq!(last["response"]["status"], "incomplete");
        assert_eq!(
            last["response"]["incomplete_details"],
            json!({"reason": "max_output_tokens"})
        );
        assert_eq!(last["response"]["output"][0]["status"], "incomplete");
        assert_eq!(f[f.len() - 2].1["item"]["status"], "incomplete");
    }

    #[test]
    fn context_window_exceeded_fails_with_openais_code() {
        let f = frames(&render(&[
            StreamEvent::Start,
            finish(StopReason::ContextWindowExceeded),
        ]));
        assert_eq!(names(&f), ["created", "in_progress", "failed"]);
        let response = &f[2].1["response"];
        assert_eq!(response["status"], "failed");
        assert_eq!(response["error"]["code"], "context_length_exceeded");
        assert_eq!(response["error"]["message"], CONTEXT_EXCEEDED_MESSAGE);
    }

    #[test]
    fn errors_after_start_fail_the_response_and_end_it() {
        let (sse, mut writer) = render_with(
            None,
            &[
                StreamEvent::Start,
                StreamEvent::TextDelta("Part".into()),
                StreamEvent::Error(GatewayError::new(ErrorKind::RateLimited, "slow down")),
                StreamEvent::TextDelta("ignored".into()),
                finish(StopReason::EndTurn),
            ],
        );
        let f = frames(&sse);
        assert_eq!(
            names(&f),
            [
                "created",
                "in_progress",
                "output_item.added",
                "content_part.added",
                "output_text.delta",
                "failed",
            ]
        );
        let response = &f[5].1["response"];
        assert_eq!(
            response["error"],
            json!({"code": "rate_limit_exceeded", "message": "slow down"})
        );
        assert_eq!(response["output"], json!([]));
        assert_eq!(writer.take_stored_document().unwrap()["status"], "failed");
    }

    #[test]
    fn an_error_first_still_opens_the_response() {
        let f = frames(&render(&[StreamEvent::Error(GatewayError::new(
            ErrorKind::BadGateway,
            "bad",
        ))]));
        assert_eq!(names(&f), ["created", "in_progress", "failed"]);
        assert_eq!(f[2].1["response"]["error"]["code"], "server_error");
    }

    #[test]
    fn empty_answer_still_completes() {
        let (sse, mut writer) =
            render_with(None, &[StreamEvent::Start, finish(StopReason::EndTurn)]);
        let f = frames(&sse);
        assert_eq!(names(&f), ["created", "in_progress", "completed"]);
        assert!(writer.take_stored_document().is_some());
        assert!(SseWriter::new(meta(None)).take_stored_document().is_none());
    }

    #[test]
    fn the_echoed_tools_are_written_as_sent_and_not_kept_without_store() {
        let tools = json!([{"type": "function", "name": "exec", "parameters": {"type": "object",
            "properties": {"cmd": {"type": "string", "description": "a \"quoted\" line\n"}}}}]);
        let echo = json!({ECHO_RESPONSE: {"store": false, "tools": tools}, ECHO_TOOLS: {}});
        let (sse, mut writer) = render_with(
            Some(echo),
            &[StreamEvent::Start, finish(StopReason::EndTurn)],
        );
        let f = frames(&sse);
        for frame in [0, 1, 2] {
            assert_eq!(f[frame].1["response"]["tools"], tools);
            assert_eq!(f[frame].1["response"]["store"], false);
        }
        assert_eq!(writer.take_stored_document(), None);
    }
}
