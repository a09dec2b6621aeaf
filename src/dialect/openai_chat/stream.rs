//! Canonical stream events → Chat Completions SSE: data-only frames, one
//! `chat.completion.chunk` JSON per `data:` line, ended by `data: [DONE]`.
//!
//! What clients rely on: the first chunk carries `delta.role`; a tool call's first fragment
//! alone has its `id`, `type` and `function.name`, later ones only `index` and
//! `function.arguments`, and clients join fragments by `index` (0, 1, 2… per call); the
//! `finish_reason` comes on a chunk with an empty delta; the usage chunk (when asked for) has
//! `choices: []`. The Python SDK ignores event names and comments, stops at `[DONE]`, and raises
//! on a chunk with a top-level `error` key.
//!
//! This is the hot path: frames are written straight into the caller's buffer.

use super::{error, finish_reason, include_usage};
use crate::chat::{ResponseMeta, StopReason, StreamEvent, Usage};
use crate::dialect::ResponseWriter;
use crate::json::{push_json_str, push_u64};

const DONE: &[u8] = b"data: [DONE]\n\n";

/// Renders one response as Chat Completions SSE.
#[derive(Debug)]
pub struct SseWriter {
    /// Everything up to and including `"choices":`, the same in every chunk.
    prefix: Vec<u8>,
    include_usage: bool,
    started: bool,
    /// Index the next tool call gets; also the number of calls started.
    next_tool: u64,
    /// A tool call is between `ToolCallStart` and `ToolCallEnd`.
    in_tool: bool,
    /// The open tool call has sent some of its arguments.
    tool_has_arguments: bool,
    /// `Finish` or `Error` was written; later events are ignored.
    done: bool,
}

impl SseWriter {
    pub fn new(meta: ResponseMeta) -> Self {
        let mut prefix = Vec::with_capacity(meta.model.len() + 120);
        prefix.extend_from_slice(b"data: {\"id\":");
        push_json_str(&mut prefix, &format!("chatcmpl-{}", meta.id));
        prefix.extend_from_slice(b",\"object\":\"chat.completion.chunk\",\"created\":");
        push_u64(&mut prefix, meta.created);
        prefix.extend_from_slice(b",\"model\":");
        push_json_str(&mut prefix, &meta.model);
        prefix.extend_from_slice(b",\"choices\":");
        SseWriter {
            prefix,
            include_usage: include_usage(&meta),
            started: false,
            next_tool: 0,
            in_tool: false,
            tool_has_arguments: false,
            done: false,
        }
    }

    /// Opens a chunk with one choice, up to and including `"delta":`.
    fn open_choice(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.prefix);
        out.extend_from_slice(b"[{\"index\":0,\"delta\":");
    }

    /// Closes a chunk opened by [`Self::open_choice`] whose delta was written.
    fn close_choice(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b",\"logprobs\":null,\"finish_reason\":null}]}\n\n");
    }

    /// A chunk whose delta is `{"<field>":<text>}`.
    fn text_chunk(&self, field: &[u8], text: &str, out: &mut Vec<u8>) {
        self.open_choice(out);
        out.extend_from_slice(b"{\"");
        out.extend_from_slice(field);
        out.extend_from_slice(b"\":");
        push_json_str(out, text);
        out.push(b'}');
        self.close_choice(out);
    }

    fn role_chunk(&mut self, out: &mut Vec<u8>) {
        self.started = true;
        self.open_choice(out);
        out.extend_from_slice(b"{\"role\":\"assistant\",\"content\":\"\"}");
        self.close_choice(out);
    }

    fn tool_start(&mut self, id: &str, name: &str, out: &mut Vec<u8>) {
        self.open_choice(out);
        out.extend_from_slice(b"{\"tool_calls\":[{\"index\":");
        push_u64(out, self.next_tool);
        out.extend_from_slice(b",\"id\":");
        push_json_str(out, id);
        out.extend_from_slice(b",\"type\":\"function\",\"function\":{\"name\":");
        push_json_str(out, name);
        out.extend_from_slice(b",\"arguments\":\"\"}}]}");
        self.close_choice(out);
        self.next_tool += 1;
        self.in_tool = true;
        self.tool_has_arguments = false;
    }

    /// Ends the open tool call, if any. A call without arguments gets `{}`: clients parse the
    /// joined fragments as JSON, and an empty string is not JSON.
    fn close_tool(&mut self, out: &mut Vec<u8>) {
        if self.in_tool && !self.tool_has_arguments {
            self.tool_arguments("{}", out);
        }
        self.in_tool = false;
    }

    fn tool_arguments(&self, fragment: &str, out: &mut Vec<u8>) {
        self.open_choice(out);
        out.extend_from_slice(b"{\"tool_calls\":[{\"index\":");
        push_u64(out, self.next_tool.saturating_sub(1));
        out.extend_from_slice(b",\"function\":{\"arguments\":");
        push_json_str(out, fragment);
        out.extend_from_slice(b"}}]}");
        self.close_choice(out);
    }

    fn finish(&mut self, stop_reason: StopReason, usage: &Usage, out: &mut Vec<u8>) {
        self.close_tool(out);
        self.open_choice(out);
        out.extend_from_slice(b"{},\"logprobs\":null,\"finish_reason\":\"");
        out.extend_from_slice(finish_reason(stop_reason).as_bytes());
        out.extend_from_slice(b"\"}]}\n\n");
        if self.include_usage {
            out.extend_from_slice(&self.prefix);
            out.extend_from_slice(b"[],\"usage\":{\"prompt_tokens\":");
            push_u64(out, usage.input_tokens);
            out.extend_from_slice(b",\"completion_tokens\":");
            push_u64(out, usage.output_tokens);
            out.extend_from_slice(b",\"total_tokens\":");
            push_u64(out, usage.input_tokens.saturating_add(usage.output_tokens));
            out.extend_from_slice(b"}}\n\n");
        }
        out.extend_from_slice(DONE);
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
        // An error before anything was sent needs no role chunk around it.
        if !self.started && !matches!(event, StreamEvent::Error(_)) {
            self.role_chunk(out);
        }
        match event {
            StreamEvent::Start => {}
            StreamEvent::TextDelta(text) => {
                if !text.is_empty() {
                    self.close_tool(out);
                    self.text_chunk(b"content", text, out);
                }
            }
            StreamEvent::ThinkingDelta(text) => {
                if !text.is_empty() {
                    self.close_tool(out);
                    self.text_chunk(b"reasoning_content", text, out);
                }
            }
            StreamEvent::ToolCallStart { id, name } => {
                self.close_tool(out);
                self.tool_start(id, name, out);
            }
            StreamEvent::ToolCallDelta(fragment) => {
                // Fragments outside a tool call would corrupt another call's arguments.
                if self.in_tool && !fragment.is_empty() {
                    self.tool_arguments(fragment, out);
                    self.tool_has_arguments = true;
                }
            }
            StreamEvent::ToolCallEnd => self.close_tool(out),
            // An SSE comment: keeps proxies and idle timers awake, ignored by every client.
            StreamEvent::Ping => out.extend_from_slice(b": ping\n\n"),
            StreamEvent::Finish { stop_reason, usage } => {
                self.finish(*stop_reason, usage, out);
                self.done = true;
            }
            StreamEvent::Error(err) => {
                out.extend_from_slice(b"data: ");
                error::push_error_body(err, out);
                out.extend_from_slice(b"\n\n");
                out.extend_from_slice(DONE);
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
    use serde_json::{json, Value};

    fn meta(include_usage: bool) -> ResponseMeta {
        ResponseMeta {
            id: "0123abcd".into(),
            model: "claude-sonnet-4-5".into(),
            input_tokens: 42,
            created: 1_700_000_000,
            thinking: false,
            echo: include_usage.then(|| json!({"include_usage": true}).into()),
            shared_echo: None,
        }
    }

    fn render_with(meta: ResponseMeta, events: &[StreamEvent]) -> String {
        let mut writer = SseWriter::new(meta);
        let mut out = Vec::new();
        for event in events {
            writer.write(event, &mut out);
        }
        String::from_utf8(out).unwrap()
    }

    fn render(events: &[StreamEvent]) -> String {
        render_with(meta(false), events)
    }

    fn finish(stop_reason: StopReason) -> StreamEvent {
        StreamEvent::Finish {
            stop_reason,
            usage: Usage {
                input_tokens: 50,
                output_tokens: 7,
                credits: None,
            },
        }
    }

    /// The data payloads, checking the framing: every frame is one `data:` line or one comment,
    /// every JSON chunk has the fixed fields, and the stream ends with `[DONE]`.
    fn chunks(sse: &str) -> Vec<Value> {
        assert!(sse.ends_with("data: [DONE]\n\n"), "unterminated: {sse:?}");
        let frames: Vec<&str> = sse.trim_end_matches("\n\n").split("\n\n").collect();
        assert_eq!(frames.iter().filter(|f| **f == "data: [DONE]").count(), 1);
        frames
            .iter()
            .filter(|f| !f.starts_with(':') && **f != "data: [DONE]")
            .map(|frame| {
                assert!(!frame.contains('\n'), "one line per frame: {frame:?}");
                let chunk: Value =
                    serde_json::from_str(frame.strip_prefix("data: ").unwrap()).unwrap();
                if chunk.get("error").is_none() {
                    assert_eq!(chunk["id"], "chatcmpl-0123abcd");
                    assert_eq!(chunk["object"], "chat.completion.chunk");
                    assert_eq!(chunk["created"], 1_700_000_000);
                    assert_eq!(chunk["model"], "claude-sonnet-4-5");
                }
                chunk
            })
            .collect()
    }

    const PREFIX: &str = "data: {\"id\":\"chatcmpl-0123abcd\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"claude-sonnet-4-5\",\"choices\":";

    #[test]
    fn text_transcript_exact_bytes() {
        let sse = render(&[
            StreamEvent::Start,
            StreamEvent::Ping,
            StreamEvent::TextDelta("Hi".into()),
            StreamEvent::TextDelta(String::new()),
            StreamEvent::TextDelta(" \"there\"\n".into()),
            finish(StopReason::EndTurn),
        ]);
        let expected = [
            PREFIX, "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
            ": ping\n\n",
            PREFIX, "[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
            PREFIX, "[{\"index\":0,\"delta\":{\"content\":\" \\\"there\\\"\\n\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
            PREFIX, "[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}]}\n\n",
            "data: [DONE]\n\n",
        ]
        .concat();
        assert_eq!(sse, expected);
        let chunks = chunks(&sse);
        assert_eq!(chunks[2]["choices"][0]["delta"]["content"], " \"there\"\n");
    }

    #[test]
    fn include_usage_adds_a_choiceless_chunk() {
        let sse = render_with(
            meta(true),
            &[
                StreamEvent::Start,
                StreamEvent::TextDelta("ok".into()),
                finish(StopReason::MaxTokens),
            ],
        );
        let tail = [
            PREFIX,
            "[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"length\"}]}\n\n",
            PREFIX,
            "[],\"usage\":{\"prompt_tokens\":50,\"completion_tokens\":7,\"total_tokens\":57}}\n\n",
            "data: [DONE]\n\n",
        ]
        .concat();
        assert!(sse.ends_with(&tail), "{sse}");
        let chunks = chunks(&sse);
        assert_eq!(chunks.len(), 4);
        assert!(chunks[..3].iter().all(|c| c.get("usage").is_none()));
    }

    #[test]
    fn tool_calls_transcript_exact_bytes() {
        let sse = render(&[
            StreamEvent::Start,
            StreamEvent::TextDelta("Checking.".into()),
            StreamEvent::ToolCallStart {
                id: "tooluse_1".into(),
                name: "get_weather".into(),
            },
            StreamEvent::ToolCallDelta("{\"city\":".into()),
            StreamEvent::ToolCallDelta(String::new()),
            StreamEvent::ToolCallDelta("\"Paris\"}".into()),
            StreamEvent::ToolCallEnd,
            StreamEvent::ToolCallStart {
                id: "tooluse_2".into(),
                name: "noop".into(),
            },
            StreamEvent::ToolCallEnd,
            // A stray fragment outside a call is dropped.
            StreamEvent::ToolCallDelta("junk".into()),
            finish(StopReason::ToolUse),
        ]);
        let expected = [
            PREFIX, "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
            PREFIX, "[{\"index\":0,\"delta\":{\"content\":\"Checking.\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
            PREFIX, "[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"tooluse_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
            PREFIX, "[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\":\"}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
            PREFIX, "[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
            PREFIX, "[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"tooluse_2\",\"type\":\"function\",\"function\":{\"name\":\"noop\",\"arguments\":\"\"}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
            PREFIX, "[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\"{}\"}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
            PREFIX, "[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"tool_calls\"}]}\n\n",
            "data: [DONE]\n\n",
        ]
        .concat();
        assert_eq!(sse, expected);
        // Joined by index, the arguments are JSON.
        let args: String = chunks(&sse)
            .iter()
            .filter_map(|c| {
                c["choices"][0]["delta"]["tool_calls"][0]
                    .as_object()
                    .cloned()
            })
            .filter(|call| call["index"] == 0)
            .map(|call| call["function"]["arguments"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            serde_json::from_str::<Value>(&args).unwrap(),
            json!({"city": "Paris"})
        );
    }

    #[test]
    fn reasoning_goes_to_reasoning_content() {
        let sse = render(&[
            StreamEvent::Start,
            StreamEvent::ThinkingDelta("Let me think.".into()),
            StreamEvent::TextDelta("Answer.".into()),
            finish(StopReason::EndTurn),
        ]);
        let expected = [
            PREFIX, "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
            PREFIX, "[{\"index\":0,\"delta\":{\"reasoning_content\":\"Let me think.\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
            PREFIX, "[{\"index\":0,\"delta\":{\"content\":\"Answer.\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
            PREFIX, "[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}]}\n\n",
            "data: [DONE]\n\n",
        ]
        .concat();
        assert_eq!(sse, expected);
    }

    #[test]
    fn error_mid_stream_then_done() {
        let sse = render_with(
            meta(true),
            &[
                StreamEvent::Start,
                StreamEvent::TextDelta("partial".into()),
                StreamEvent::Error(GatewayError::new(ErrorKind::BadGateway, "upstream cut")),
                StreamEvent::TextDelta("ignored".into()),
                finish(StopReason::EndTurn),
            ],
        );
        let tail = concat!(
            "data: {\"error\":{\"message\":\"upstream cut\",\"type\":\"server_error\",\"param\":null,\"code\":\"bad_gateway\"}}\n\n",
            "data: [DONE]\n\n",
        );
        assert!(sse.ends_with(tail), "{sse}");
        let chunks = chunks(&sse);
        assert_eq!(chunks.len(), 3);
        assert!(!sse.contains("ignored") && !sse.contains("usage"));
    }

    #[test]
    fn error_before_anything_is_alone() {
        let err = GatewayError::new(ErrorKind::RateLimited, "all accounts are busy");
        let sse = render(&[StreamEvent::Error(err.clone())]);
        let mut expected = b"data: ".to_vec();
        expected.extend_from_slice(&error::body(&err));
        expected.extend_from_slice(b"\n\ndata: [DONE]\n\n");
        assert_eq!(sse.as_bytes(), expected);
    }

    #[test]
    fn context_window_exceeded_is_length_and_model_is_escaped() {
        let mut m = meta(false);
        m.model = "we\"ird\nmodel".into();
        let mut writer = SseWriter::new(m);
        let mut out = Vec::new();
        writer.write(&finish(StopReason::ContextWindowExceeded), &mut out);
        let text = String::from_utf8(out).unwrap();
        let first = text.split("\n\n").next().unwrap();
        let chunk: Value = serde_json::from_str(first.strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(chunk["model"], "we\"ird\nmodel");
        assert!(text.contains("\"finish_reason\":\"length\""));
    }

    proptest::proptest! {
        /// Whatever order the events come in, every chunk is one valid JSON line, the role
        /// chunk is first, tool indices are contiguous from 0, and exactly one finish chunk
        /// precedes `[DONE]`.
        #[test]
        fn any_event_sequence_is_well_formed(events in proptest::collection::vec(any_event(), 0..40)) {
            let mut events = events;
            events.push(finish(StopReason::EndTurn));
            let chunks = chunks(&render_with(meta(true), &events));
            proptest::prop_assert_eq!(&chunks[0]["choices"][0]["delta"]["role"], "assistant");
            let mut next_tool = 0;
            let mut finishes = 0;
            // Per call, whether some arguments were sent: an empty string is not JSON.
            let mut has_arguments: Vec<bool> = Vec::new();
            for chunk in &chunks {
                if let Some(call) = chunk["choices"][0]["delta"]["tool_calls"].get(0) {
                    if call.get("id").is_some() {
                        proptest::prop_assert_eq!(&call["index"], next_tool);
                        proptest::prop_assert_eq!(&call["function"]["arguments"], "");
                        next_tool += 1;
                        has_arguments.push(false);
                    } else {
                        proptest::prop_assert_eq!(&call["index"], next_tool - 1);
                        proptest::prop_assert_ne!(&call["function"]["arguments"], "");
                        if let Some(last) = has_arguments.last_mut() {
                            *last = true;
                        }
                    }
                }
                if chunk["choices"][0]["finish_reason"].is_string() {
                    finishes += 1;
                }
            }
            proptest::prop_assert_eq!(finishes, 1);
            proptest::prop_assert!(has_arguments.iter().all(|sent| *sent));
            proptest::prop_assert_eq!(&chunks[chunks.len() - 1]["choices"], &json!([]));
        }
    }
}
