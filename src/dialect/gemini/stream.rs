//! Canonical stream events → `GenerateContentResponse` chunks.
//!
//! With `alt=sse` every chunk is one `data: <single-line JSON>\n\n` frame and nothing else:
//! Gemini CLI's SDK consumes its buffer with `/^\s*data: (.*)(?:\n\n|\r\r|\r\n\r\n)/`, so
//! anything else at the head of the buffer never matches and the stream dies with "Incomplete
//! JSON segment at the end" (observed for an `event:` line and for multi-line JSON; an SSE
//! `:` comment cannot match either). There is no `[DONE]`. Without `alt=sse` the same chunks
//! form one JSON array streamed as it grows (`[`, chunks separated by `,\r\n`, `]`).
//!
//! Each chunk carries only its new parts. A function call goes out whole in one chunk once its
//! argument fragments are complete. The last chunk carries `finishReason` and `usageMetadata`:
//! without a finish reason Gemini CLI replays the whole turn. Its content is one empty text
//! part, as Google's streams end: the Python SDK's chat history drops a turn in which any chunk
//! lacks content, while Gemini CLI skips empty text parts. Pings write nothing: by the regex
//! above, the format has no keep-alive frame the JS SDK would skip.

use super::request::Echo;
use super::ThoughtTokens;
use super::{error, push_chunk_head, push_chunk_tail, push_function_call_part, push_text_part};
use crate::chat::{ResponseMeta, StopReason, StreamEvent, Usage};
use crate::dialect::ResponseWriter;

/// How chunks are framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// `data: …\n\n` frames (`alt=sse`).
    Sse,
    /// One JSON array.
    JsonArray,
}

/// A function call whose arguments are still arriving.
#[derive(Debug)]
struct PendingCall {
    id: String,
    name: String,
    args: String,
}

/// Renders one response as a stream of `GenerateContentResponse` chunks.
#[derive(Debug)]
pub struct StreamWriter {
    meta: ResponseMeta,
    framing: Framing,
    /// Thought parts are sent (`includeThoughts`); otherwise they are only counted.
    show_thoughts: bool,
    /// Chunks written so far (the JSON array needs `[` before the first, `,` between).
    chunks: u64,
    call: Option<PendingCall>,
    thought_tokens: ThoughtTokens,
    /// `Finish` or `Error` was written; later events are ignored.
    done: bool,
}

impl StreamWriter {
    pub fn new(meta: ResponseMeta) -> Self {
        let echo = Echo::from_value(meta.echo.as_deref());
        StreamWriter {
            framing: if echo.sse {
                Framing::Sse
            } else {
                Framing::JsonArray
            },
            show_thoughts: echo.thoughts,
            meta,
            chunks: 0,
            call: None,
            thought_tokens: ThoughtTokens::default(),
            done: false,
        }
    }

    fn frame_start(&mut self, out: &mut Vec<u8>) {
        match self.framing {
            Framing::Sse => out.extend_from_slice(b"data: "),
            Framing::JsonArray if self.chunks == 0 => out.push(b'['),
            Framing::JsonArray => out.extend_from_slice(b",\r\n"),
        }
        self.chunks += 1;
    }

    fn frame_end(&self, out: &mut Vec<u8>) {
        if self.framing == Framing::Sse {
            out.extend_from_slice(b"\n\n");
        }
    }

    /// Closes the whole response (the JSON array's `]`).
    fn close(&mut self, out: &mut Vec<u8>) {
        if self.framing == Framing::JsonArray {
            out.push(b']');
        }
        self.done = true;
    }

    fn text_chunk(&mut self, text: &str, thought: bool, out: &mut Vec<u8>) {
        self.frame_start(out);
        push_chunk_head(out);
        push_text_part(text, thought, out);
        push_chunk_tail(&self.meta, None, out);
        self.frame_end(out);
    }

    fn call_chunk(&mut self, call: &PendingCall, out: &mut Vec<u8>) {
        self.frame_start(out);
        push_chunk_head(out);
        push_function_call_part(&call.id, &call.name, &call.args, out);
        push_chunk_tail(&self.meta, None, out);
        self.frame_end(out);
    }

    /// Sends a function call whose arguments are complete.
    fn flush_call(&mut self, out: &mut Vec<u8>) {
        if let Some(call) = self.call.take() {
            self.call_chunk(&call, out);
        }
    }

    fn finish(&mut self, reason: StopReason, usage: &Usage, out: &mut Vec<u8>) {
        self.flush_call(out);
        self.frame_start(out);
        push_chunk_head(out);
        push_text_part("", false, out);
        let thoughts = self.thought_tokens.total();
        push_chunk_tail(&self.meta, Some((reason, usage, thoughts)), out);
        self.frame_end(out);
        self.close(out);
    }
}

impl ResponseWriter for StreamWriter {
    fn content_type(&self) -> &'static str {
        match self.framing {
            Framing::Sse => "text/event-stream",
            Framing::JsonArray => "application/json",
        }
    }

    fn write(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        match event {
            StreamEvent::Start | StreamEvent::Ping => {}
            StreamEvent::TextDelta(text) => {
                if !text.is_empty() {
                    self.flush_call(out);
                    self.text_chunk(text, false, out);
                }
            }
            StreamEvent::ThinkingDelta(text) => {
                if !text.is_empty() {
                    self.flush_call(out);
                    self.thought_tokens.add(text);
                    if self.show_thoughts {
                        self.text_chunk(text, true, out);
                    }
                }
            }
            StreamEvent::ToolCallStart { id, name } => {
                self.flush_call(out);
                self.call = Some(PendingCall {
                    id: id.clone(),
                    name: name.clone(),
                    args: String::new(),
                });
            }
            StreamEvent::ToolCallDelta(fragment) => {
                if let Some(call) = self.call.as_mut() {
                    call.args.push_str(fragment);
                }
            }
            StreamEvent::ToolCallEnd => self.flush_call(out),
            StreamEvent::Finish { stop_reason, usage } => self.finish(*stop_reason, usage, out),
            StreamEvent::Error(err) => {
                // A half-received function call is dropped: its arguments are incomplete.
                self.call = None;
                self.frame_start(out);
                error::push_error(err, out);
                self.frame_end(out);
                self.close(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{ErrorKind, GatewayError};
    use serde_json::{json, Value};

    fn meta(sse: bool, thoughts: bool) -> ResponseMeta {
        ResponseMeta {
            id: "r1".into(),
            model: "gemini-2.5-flash".into(),
            input_tokens: 10,
            created: 1_700_000_000,
            thinking: thoughts,
            echo: Some(json!({"sse": sse, "thoughts": thoughts, "json": false}).into()),
            shared_echo: None,
        }
    }

    fn render(meta: ResponseMeta, events: &[StreamEvent]) -> (String, &'static str) {
        let mut writer = StreamWriter::new(meta);
        let mut out = Vec::new();
        for event in events {
            writer.write(event, &mut out);
        }
        (String::from_utf8(out).unwrap(), writer.content_type())
    }

    fn finish(stop_reason: StopReason) -> StreamEvent {
        StreamEvent::Finish {
            stop_reason,
            usage: Usage {
                input_tokens: 10,
                output_tokens: 3,
                credits: None,
            },
        }
    }

    /// The chunks of an SSE transcript, checking the framing the JS SDK's regex needs: every
    /// frame exactly `data: <one line of JSON>` followed by a blank line, nothing else.
    fn sse_chunks(sse: &str) -> Vec<Value> {
        assert!(sse.ends_with("\n\n"), "unterminated: {sse:?}");
        sse.trim_end_matches("\n\n")
            .split("\n\n")
            .map(|frame| {
                assert!(!frame.contains('\n'), "multi-line frame {frame:?}");
                let data = frame.strip_prefix("data: ").unwrap_or_else(|| {
                    panic!("frame is not a data line: {frame:?}");
                });
                serde_json::from_str(data).unwrap()
            })
            .collect()
    }

    fn parts(chunk: &Value) -> &Value {
        &chunk["candidates"][0]["content"]["parts"]
    }

    #[test]
    fn sse_text_transcript_exact_bytes() {
        let (sse, content_type) = render(
            meta(true, false),
            &[
                StreamEvent::Start,
                StreamEvent::Ping,
                StreamEvent::TextDelta("MOCK_OK ".into()),
                StreamEvent::Ping,
                StreamEvent::TextDelta("from \"gemini\"\n".into()),
                finish(StopReason::EndTurn),
            ],
        );
        assert_eq!(content_type, "text/event-stream");
        let expected = concat!(
            "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"MOCK_OK \"}]},\"index\":0}],\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"r1\"}\n\n",
            "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"from \\\"gemini\\\"\\n\"}]},\"index\":0}],\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"r1\"}\n\n",
            "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"\"}]},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":10,\"candidatesTokenCount\":3,\"totalTokenCount\":13},\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"r1\"}\n\n",
        );
        assert_eq!(sse, expected);
        assert!(!sse.contains("event:") && !sse.contains("[DONE]"));
        let chunks = sse_chunks(&sse);
        // Only the last chunk finishes, and it carries the usage.
        assert!(chunks[..2]
            .iter()
            .all(|c| c["candidates"][0].get("finishReason").is_none()
                && c.get("usageMetadata").is_none()));
        assert_eq!(chunks[2]["candidates"][0]["finishReason"], "STOP");
    }

    #[test]
    fn function_calls_go_out_whole() {
        let (sse, _) = render(
            meta(true, false),
            &[
                StreamEvent::Start,
                StreamEvent::TextDelta("Checking.".into()),
                StreamEvent::ToolCallStart {
                    id: "tooluse_1".into(),
                    name: "get_weather".into(),
                },
                StreamEvent::ToolCallDelta("{\"ci".into()),
                StreamEvent::Ping,
                StreamEvent::ToolCallDelta("ty\":\"Par".into()),
                StreamEvent::ToolCallDelta("is\"}".into()),
                StreamEvent::ToolCallEnd,
                StreamEvent::ToolCallStart {
                    id: "tooluse_2".into(),
                    name: "noop".into(),
                },
                StreamEvent::ToolCallEnd,
                finish(StopReason::ToolUse),
            ],
        );
        let chunks = sse_chunks(&sse);
        assert_eq!(chunks.len(), 4);
        assert_eq!(parts(&chunks[0]), &json!([{"text": "Checking."}]));
        assert_eq!(
            parts(&chunks[1]),
            &json!([{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}, "id": "tooluse_1"}}])
        );
        assert_eq!(
            parts(&chunks[2]),
            &json!([{"functionCall": {"name": "noop", "args": {}, "id": "tooluse_2"}}])
        );
        assert_eq!(chunks[3]["candidates"][0]["finishReason"], "STOP");
    }

    #[test]
    fn thoughts_are_shown_only_when_asked_and_counted_always() {
        let events = [
            StreamEvent::Start,
            StreamEvent::ThinkingDelta("Let me think about it.".into()),
            StreamEvent::TextDelta("Hi".into()),
            StreamEvent::Finish {
                stop_reason: StopReason::EndTurn,
                usage: Usage {
                    input_tokens: 10,
                    output_tokens: 20,
                    credits: None,
                },
            },
        ];
        let (shown, _) = render(meta(true, true), &events);
        let chunks = sse_chunks(&shown);
        assert_eq!(
            parts(&chunks[0]),
            &json!([{"text": "Let me think about it.", "thought": true}])
        );
        assert_eq!(parts(&chunks[1]), &json!([{"text": "Hi"}]));
        let usage = &chunks[2]["usageMetadata"];
        let thoughts = usage["thoughtsTokenCount"].as_u64().unwrap();
        assert!(thoughts > 0);
        assert_eq!(
            usage["candidatesTokenCount"].as_u64().unwrap() + thoughts,
            20
        );
        assert_eq!(usage["totalTokenCount"], 30);

        let (hidden, _) = render(meta(true, false), &events);
        let chunks = sse_chunks(&hidden);
        assert_eq!(chunks.len(), 2);
        assert_eq!(parts(&chunks[0]), &json!([{"text": "Hi"}]));
        assert_eq!(chunks[1]["usageMetadata"]["thoughtsTokenCount"], thoughts);
    }

    #[test]
    fn max_tokens_and_context_overflow() {
        for reason in [StopReason::MaxTokens, StopReason::ContextWindowExceeded] {
            let (sse, _) = render(
                meta(true, false),
                &[StreamEvent::TextDelta("x".into()), finish(reason)],
            );
            let chunks = sse_chunks(&sse);
            assert_eq!(chunks[1]["candidates"][0]["finishReason"], "MAX_TOKENS");
        }
    }

    #[test]
    fn an_empty_answer_still_finishes() {
        let (sse, _) = render(
            meta(true, false),
            &[
                StreamEvent::Start,
                StreamEvent::Ping,
                finish(StopReason::EndTurn),
            ],
        );
        let chunks = sse_chunks(&sse);
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0]["candidates"][0]["finishReason"], "STOP");
    }

    #[test]
    fn errors_after_start_are_one_error_chunk() {
        let err = GatewayError::new(ErrorKind::Unavailable, "Kiro went away");
        let (sse, _) = render(
            meta(true, false),
            &[
                StreamEvent::TextDelta("Hel".into()),
                StreamEvent::ToolCallStart {
                    id: "t".into(),
                    name: "f".into(),
                },
                StreamEvent::ToolCallDelta("{\"a\":".into()),
                StreamEvent::Error(err.clone()),
                StreamEvent::TextDelta("ignored".into()),
                finish(StopReason::EndTurn),
            ],
        );
        let chunks = sse_chunks(&sse);
        assert_eq!(chunks.len(), 2, "{sse}");
        assert_eq!(
            chunks[1],
            json!({"error": {"code": 503, "message": "Kiro went away", "status": "UNAVAILABLE"}})
        );
    }

    #[test]
    fn json_array_stream() {
        let events = [
            StreamEvent::Start,
            StreamEvent::Ping,
            StreamEvent::TextDelta("a".into()),
            StreamEvent::TextDelta("b".into()),
            finish(StopReason::EndTurn),
        ];
        let mut writer = StreamWriter::new(meta(false, false));
        assert_eq!(writer.content_type(), "application/json");
        // Streamed as it grows: the array opens with the first chunk.
        let mut out = Vec::new();
        writer.write(&events[0], &mut out);
        writer.write(&events[1], &mut out);
        assert!(out.is_empty());
        writer.write(&events[2], &mut out);
        assert!(out.starts_with(b"[{\"candidates\""));
        assert!(
            serde_json::from_slice::<Value>(&out).is_err(),
            "not closed yet"
        );
        for event in &events[3..] {
            writer.write(event, &mut out);
        }
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("},\r\n{"));
        assert!(text.ends_with("}]"));
        let chunks: Vec<Value> = serde_json::from_str(&text).unwrap();
        assert_eq!(chunks.len(), 3);
        assert_eq!(parts(&chunks[1]), &json!([{"text": "b"}]));
        assert_eq!(chunks[2]["candidates"][0]["finishReason"], "STOP");

        // An error is the last element, and the array still closes.
        let (text, _) = render(
            meta(false, false),
            &[
                StreamEvent::TextDelta("a".into()),
                StreamEvent::Error(GatewayError::new(ErrorKind::Timeout, "late")),
            ],
        );
        let chunks: Vec<Value> = serde_json::from_str(&text).unwrap();
        assert_eq!(chunks[1]["error"]["status"], "DEADLINE_EXCEEDED");
        let (text, _) = render(
            meta(false, false),
            &[StreamEvent::Error(GatewayError::new(
                ErrorKind::Internal,
                "x",
            ))],
        );
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap()[0]["error"]["code"],
            500
        );
    }
}
