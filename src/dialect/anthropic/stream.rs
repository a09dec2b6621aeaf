//! Canonical stream events → Anthropic SSE, byte for byte the grammar the SDKs dispatch on.
//!
//! Every frame is `event: <name>\ndata: <one-line JSON whose "type" is <name>>\n\n`. The SDKs
//! dispatch on the event name (a data-only stream yields nothing in Python, and Claude Code
//! silently re-sends the request without streaming), require `message_start` first, and apply
//! each delta to `content[index]` without checking it, so block indices count 0, 1, 2… in start
//! order and at most one block is open at a time.
//!
//! This is the hot path: frames are written straight into the caller's buffer.

use super::{error, stop_reason_name, THINKING_SIGNATURE};
use crate::chat::{ResponseMeta, StopReason, StreamEvent, Usage};
use crate::dialect::ResponseWriter;
use crate::json::{push_json_str, push_u64};

/// The kind of the content block currently open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    Thinking,
    Text,
    ToolUse,
}

/// Renders one response as Anthropic SSE.
#[derive(Debug)]
pub struct SseWriter {
    meta: ResponseMeta,
    started: bool,
    /// Index the next `content_block_start` gets; also the number of blocks started.
    next_index: u64,
    open: Option<BlockKind>,
    /// `Finish` or `Error` was written; later events are ignored.
    done: bool,
}

impl SseWriter {
    pub fn new(meta: ResponseMeta) -> Self {
        SseWriter {
            meta,
            started: false,
            next_index: 0,
            open: None,
            done: false,
        }
    }

    fn message_start(&mut self, out: &mut Vec<u8>) {
        self.started = true;
        out.extend_from_slice(
            b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":",
        );
        push_json_str(out, &format!("msg_{}", self.meta.id));
        out.extend_from_slice(b",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
        push_json_str(out, &self.meta.model);
        out.extend_from_slice(
            b",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":",
        );
        push_u64(out, self.meta.input_tokens);
        out.extend_from_slice(
            b",\"output_tokens\":1,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0}}}\n\n",
        );
    }

    /// Makes sure a thinking or text block is open, closing any other block first.
    fn ensure_open(&mut self, kind: BlockKind, out: &mut Vec<u8>) {
        if self.open == Some(kind) {
            return;
        }
        let content_block: &[u8] = match kind {
            BlockKind::Thinking => {
                b"{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n"
            }
            BlockKind::Text => b"{\"type\":\"text\",\"text\":\"\"}}\n\n",
            // Tool blocks need an id and a name: only `ToolCallStart` opens them.
            BlockKind::ToolUse => return,
        };
        self.close_block(out);
        self.block_start_prefix(out);
        out.extend_from_slice(content_block);
        self.open = Some(kind);
    }

    /// Writes a `content_block_start` frame up to and including `"content_block":`, and takes
    /// the next index.
    fn block_start_prefix(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(
            b"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":",
        );
        push_u64(out, self.next_index);
        out.extend_from_slice(b",\"content_block\":");
        self.next_index += 1;
    }

    /// The index of the open block (the last one started).
    fn open_index(&self) -> u64 {
        self.next_index.saturating_sub(1)
    }

    /// One `content_block_delta` frame for the open block, whose delta is
    /// `{"type":"<kind>","<field>":<text>}`.
    fn delta(&self, kind: &[u8], field: &[u8], text: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(
            b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":",
        );
        push_u64(out, self.open_index());
        out.extend_from_slice(b",\"delta\":{\"type\":\"");
        out.extend_from_slice(kind);
        out.extend_from_slice(b"\",\"");
        out.extend_from_slice(field);
        out.extend_from_slice(b"\":");
        push_json_str(out, text);
        out.extend_from_slice(b"}}\n\n");
    }

    /// Closes the open block, if any. Thinking blocks get their signature first.
    fn close_block(&mut self, out: &mut Vec<u8>) {
        let Some(kind) = self.open.take() else {
            return;
        };
        if kind == BlockKind::Thinking {
            self.delta(b"signature_delta", b"signature", THINKING_SIGNATURE, out);
        }
        out.extend_from_slice(
            b"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":",
        );
        push_u64(out, self.open_index());
        out.extend_from_slice(b"}\n\n");
    }

    fn finish(&mut self, stop_reason: StopReason, usage: &Usage, out: &mut Vec<u8>) {
        self.close_block(out);
        if self.next_index == 0 {
            // Some clients assume at least one content block.
            self.ensure_open(BlockKind::Text, out);
            self.close_block(out);
        }
        out.extend_from_slice(
            b"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"",
        );
        out.extend_from_slice(stop_reason_name(stop_reason).as_bytes());
        out.extend_from_slice(b"\",\"stop_sequence\":null},\"usage\":{\"input_tokens\":");
        push_u64(out, usage.input_tokens);
        out.extend_from_slice(b",\"output_tokens\":");
        push_u64(out, usage.output_tokens);
        out.extend_from_slice(b"}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
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
        // An error before anything was sent needs no message around it: the SDKs raise on an
        // `error` event wherever it appears.
        if !self.started && !matches!(event, StreamEvent::Error(_)) {
            self.message_start(out);
        }
        match event {
            StreamEvent::Start => {}
            StreamEvent::TextDelta(text) => {
                if !text.is_empty() {
                    self.ensure_open(BlockKind::Text, out);
                    self.delta(b"text_delta", b"text", text, out);
                }
            }
            StreamEvent::ThinkingDelta(text) => {
                if !text.is_empty() {
                    self.ensure_open(BlockKind::Thinking, out);
                    self.delta(b"thinking_delta", b"thinking", text, out);
                }
            }
            StreamEvent::ToolCallStart { id, name } => {
                self.close_block(out);
                self.block_start_prefix(out);
                out.extend_from_slice(b"{\"type\":\"tool_use\",\"id\":");
                push_json_str(out, id);
                out.extend_from_slice(b",\"name\":");
                push_json_str(out, name);
                out.extend_from_slice(b",\"input\":{}}}\n\n");
                self.open = Some(BlockKind::ToolUse);
            }
            StreamEvent::ToolCallDelta(fragment) => {
                // Fragments outside a tool call would corrupt another block: drop them.
                if self.open == Some(BlockKind::ToolUse) && !fragment.is_empty() {
                    self.delta(b"input_json_delta", b"partial_json", fragment, out);
                }
            }
            StreamEvent::ToolCallEnd => {
                if self.open == Some(BlockKind::ToolUse) {
                    self.close_block(out);
                }
            }
            StreamEvent::Ping => {
                out.extend_from_slice(b"event: ping\ndata: {\"type\":\"ping\"}\n\n")
            }
            StreamEvent::Finish { stop_reason, usage } => {
                self.finish(*stop_reason, usage, out);
                self.done = true;
            }
            StreamEvent::Error(err) => {
                // Nothing may follow an error event: the open block stays unterminated, as
                // Anthropic's own streams do.
                error::write_sse_error_event(err, out);
                self.done = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{ErrorKind, GatewayError};
    use crate::dialect::testing::any_event;
    use serde_json::Value;

    fn meta() -> ResponseMeta {
        ResponseMeta {
            id: "0123abcd".into(),
            model: "claude-sonnet-4-5".into(),
            input_tokens: 42,
            created: 1_700_000_000,
            thinking: true,
            echo: None,
            shared_echo: None,
        }
    }

    fn render(events: &[StreamEvent]) -> String {
        let mut writer = SseWriter::new(meta());
        let mut out = Vec::new();
        for event in events {
            writer.write(event, &mut out);
        }
        String::from_utf8(out).unwrap()
    }

    fn finish(stop_reason: StopReason, output_tokens: u64) -> StreamEvent {
        StreamEvent::Finish {
            stop_reason,
            usage: Usage {
                input_tokens: 50,
                output_tokens,
                credits: None,
            },
        }
    }

    /// Splits a transcript into (event name, data JSON), checking the framing on the way:
    /// exactly one `event:` and one single-line `data:` per frame, `type` equal to the name.
    fn frames(sse: &str) -> Vec<(String, Value)> {
        assert!(sse.ends_with("\n\n"), "unterminated: {sse:?}");
        sse.trim_end_matches("\n\n")
            .split("\n\n")
            .map(|frame| {
                let lines: Vec<&str> = frame.split('\n').collect();
                assert_eq!(lines.len(), 2, "frame {frame:?}");
                let name = lines[0].strip_prefix("event: ").unwrap();
                let data: Value =
                    serde_json::from_str(lines[1].strip_prefix("data: ").unwrap()).unwrap();
                assert_eq!(data["type"], name, "frame {frame:?}");
                (name.to_string(), data)
            })
            .collect()
    }

    /// Checks block discipline: indices 0,1,2… in start order, deltas and stops only for the
    /// one open block, and returns the started block types.
    fn check_blocks(frames: &[(String, Value)]) -> Vec<String> {
        let mut started = Vec::new();
        let mut open: Option<u64> = None;
        for (name, data) in frames {
            match name.as_str() {
                "content_block_start" => {
                    assert_eq!(open, None, "two open blocks");
                    assert_eq!(data["index"], started.len() as u64);
                    open = data["index"].as_u64();
                    started.push(data["content_block"]["type"].as_str().unwrap().to_string());
                }
                "content_block_delta" => assert_eq!(data["index"].as_u64(), open),
                "content_block_stop" => {
                    assert_eq!(data["index"].as_u64(), open);
                    open = None;
                }
                "message_delta" | "message_stop" => assert_eq!(open, None),
                _ => {}
            }
        }
        started
    }

    #[test]
    fn text_transcript_exact_bytes() {
        let sse = render(&[
            StreamEvent::Start,
            StreamEvent::TextDelta("Hi".into()),
            StreamEvent::Ping,
            StreamEvent::TextDelta(" \"there\"\n".into()),
            finish(StopReason::EndTurn, 7),
        ]);
        let expected = concat!(
            "event: message_start\n",
            "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_0123abcd\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":42,\"output_tokens\":1,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0}}}\n\n",
            "event: content_block_start\n",
            "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
            "event: content_block_delta\n",
            "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
            "event: ping\n",
            "data: {\"type\":\"ping\"}\n\n",
            "event: content_block_delta\n",
            "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" \\\"there\\\"\\n\"}}\n\n",
            "event: content_block_stop\n",
            "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
            "event: message_delta\n",
            "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"input_tokens\":50,\"output_tokens\":7}}\n\n",
            "event: message_stop\n",
            "data: {\"type\":\"message_stop\"}\n\n",
        );
        assert_eq!(sse, expected);
        let frames = frames(&sse);
        assert_eq!(check_blocks(&frames), ["text"]);
        assert_eq!(frames[4].1["delta"]["text"], " \"there\"\n");
    }

    #[test]
    fn thinking_then_text_is_signed() {
        let sse = render(&[
            StreamEvent::Start,
            StreamEvent::ThinkingDelta("Let me".into()),
            StreamEvent::ThinkingDelta(" think.".into()),
            StreamEvent::TextDelta("Answer.".into()),
            finish(StopReason::EndTurn, 5),
        ]);
        let frames = frames(&sse);
        assert_eq!(check_blocks(&frames), ["thinking", "text"]);
        let names: Vec<&str> = frames.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop",
            ]
        );
        assert_eq!(
            frames[1].1["content_block"],
            serde_json::json!({"type":"thinking","thinking":"","signature":""})
        );
        assert_eq!(frames[2].1["delta"]["type"], "thinking_delta");
        assert_eq!(frames[3].1["delta"]["thinking"], " think.");
        // The signature comes last, right before the stop.
        assert_eq!(
            frames[4].1["delta"],
            serde_json::json!({"type":"signature_delta","signature":THINKING_SIGNATURE})
        );
        assert_eq!(frames[7].1["delta"]["text"], "Answer.");
    }

    #[test]
    fn text_then_tool_use() {
        let sse = render(&[
            StreamEvent::Start,
            StreamEvent::TextDelta("I'll run it.".into()),
            StreamEvent::ToolCallStart {
                id: "tooluse_1".into(),
                name: "Bash".into(),
            },
            StreamEvent::ToolCallDelta("{\"command\": \"ec".into()),
            StreamEvent::ToolCallDelta(String::new()),
            StreamEvent::ToolCallDelta("ho hi\"}".into()),
            StreamEvent::ToolCallEnd,
            StreamEvent::ToolCallStart {
                id: "tooluse_2".into(),
                name: "Read".into(),
            },
            StreamEvent::ToolCallEnd,
            finish(StopReason::ToolUse, 57),
        ]);
        let frames = frames(&sse);
        assert_eq!(check_blocks(&frames), ["text", "tool_use", "tool_use"]);
        let tool_start = &frames[4].1;
        assert_eq!(
            tool_start["content_block"],
            serde_json::json!({"type":"tool_use","id":"tooluse_1","name":"Bash","input":{}})
        );
        let json: String = frames
            .iter()
            .filter(|(_, d)| d["delta"]["type"] == "input_json_delta")
            .map(|(_, d)| d["delta"]["partial_json"].as_str().unwrap())
            .collect();
        assert_eq!(json, "{\"command\": \"echo hi\"}");
        // The empty fragment is not sent; the argument-less tool gets no delta at all.
        assert_eq!(
            frames
                .iter()
                .filter(|(_, d)| d["delta"]["type"] == "input_json_delta")
                .count(),
            2
        );
        let (name, delta) = &frames[frames.len() - 2];
        assert_eq!(name, "message_delta");
        assert_eq!(
            delta["delta"],
            serde_json::json!({"stop_reason":"tool_use","stop_sequence":null})
        );
        assert_eq!(
            delta["usage"],
            serde_json::json!({"input_tokens":50,"output_tokens":57})
        );
    }

    #[test]
    fn error_mid_stream_ends_the_stream() {
        let sse = render(&[
            StreamEvent::Start,
            StreamEvent::TextDelta("partial".into()),
            StreamEvent::Error(GatewayError::new(ErrorKind::Overloaded, "Overloaded")),
            StreamEvent::TextDelta("ignored".into()),
            finish(StopReason::EndTurn, 1),
        ]);
        assert!(sse.ends_with(
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"
        ));
        let names: Vec<String> = frames(&sse).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "error"
            ]
        );
    }

    #[test]
    fn error_before_anything_is_alone() {
        let err = GatewayError::new(ErrorKind::RateLimited, "all accounts are busy");
        let sse = render(&[StreamEvent::Error(err.clone())]);
        assert_eq!(sse.as_bytes(), error::sse_error_event(&err));
    }

    #[test]
    fn empty_answer_still_has_one_block() {
        let sse = render(&[StreamEvent::Start, finish(StopReason::MaxTokens, 0)]);
        let frames = frames(&sse);
        assert_eq!(check_blocks(&frames), ["text"]);
        assert_eq!(frames.len(), 5);
        assert_eq!(frames[3].1["delta"]["stop_reason"], "max_tokens");
    }

    #[test]
    fn message_start_is_first_even_without_start() {
        let sse = render(&[
            StreamEvent::TextDelta("x".into()),
            finish(StopReason::ContextWindowExceeded, 1),
        ]);
        let frames = frames(&sse);
        assert_eq!(frames[0].0, "message_start");
        assert_eq!(frames[0].1["message"]["id"], "msg_0123abcd");
        assert_eq!(frames[0].1["message"]["usage"]["input_tokens"], 42);
        assert_eq!(
            frames[frames.len() - 2].1["delta"]["stop_reason"],
            "model_context_window_exceeded"
        );
    }

    #[test]
    fn interleaved_kinds_get_fresh_contiguous_blocks() {
        let sse = render(&[
            StreamEvent::Start,
            StreamEvent::ThinkingDelta("a".into()),
            StreamEvent::TextDelta("b".into()),
            StreamEvent::ToolCallStart {
                id: "t".into(),
                name: "X".into(),
            },
            StreamEvent::ToolCallDelta("{}".into()),
            StreamEvent::ToolCallEnd,
            // A stray fragment outside a tool call is dropped.
            StreamEvent::ToolCallDelta("junk".into()),
            StreamEvent::TextDelta("c".into()),
            StreamEvent::ThinkingDelta("d".into()),
            StreamEvent::TextDelta(String::new()),
            finish(StopReason::EndTurn, 3),
            StreamEvent::Ping,
        ]);
        let frames = frames(&sse);
        assert_eq!(
            check_blocks(&frames),
            ["thinking", "text", "tool_use", "text", "thinking"]
        );
        assert!(!sse.contains("junk"));
        assert_eq!(frames.last().unwrap().0, "message_stop");
        // Both thinking blocks are signed.
        assert_eq!(sse.matches("signature_delta").count(), 2);
    }

    proptest::proptest! {
        /// Whatever order the events come in, the output is well-framed SSE with
        /// `message_start` first, contiguous indices, one open block at most, and a proper end.
        #[test]
        fn any_event_sequence_is_well_formed(events in proptest::collection::vec(any_event(), 0..40)) {
            let mut events = events;
            events.push(finish(StopReason::EndTurn, 1));
            let sse = render(&events);
            let frames = frames(&sse);
            proptest::prop_assert_eq!(&frames[0].0, "message_start");
            let blocks = check_blocks(&frames);
            proptest::prop_assert!(!blocks.is_empty());
            proptest::prop_assert_eq!(&frames[frames.len() - 1].0, "message_stop");
        }
    }
}
