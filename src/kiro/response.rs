//! Kiro events → canonical [`StreamEvent`]s, with the grammar documented on `StreamEvent`
//! guaranteed whatever the upstream sends: `Start` first, exactly one terminal `Finish` or
//! `Error`, tool calls contiguous and with valid JSON, thinking never mixed into text.
//!
//! Tool arguments are buffered until the call's last fragment because the upstream truncates
//! long outputs mid-call (kiro-protocol §3.2, §7 item 2): a client handed half a JSON object
//! runs the tool with garbage, while a short notice and `max_tokens` let it retry sensibly.

use std::collections::{HashMap, HashSet};

use crate::chat::estimate::OutputCount;
use crate::chat::{ErrorKind, GatewayError, StopReason, StreamEvent, Usage};

use super::events::KiroEvent;
use super::thinking::{Segment, ThinkingSplitter};

/// The exception that means "the output hit the upstream's length limit".
const CONTENT_LENGTH_EXCEEDED: &str = "ContentLengthExceededException";

/// Largest tool-argument JSON buffered for one call; beyond it the call is treated as broken
/// rather than letting one response grow without bound.
const MAX_TOOL_INPUT_BYTES: usize = 8 * 1024 * 1024;

#[derive(Debug, Clone, Default)]
pub struct AssemblerConfig {
    /// The client asked for thinking: split `<thinking>` blocks out of the text.
    pub thinking: bool,
    /// Kiro tool name → the client's original name, where they differ (names are shortened
    /// on the way up).
    pub tool_names: HashMap<String, String>,
    /// The model's context window, to turn `contextUsagePercentage` into input tokens.
    pub context_window: u64,
    /// Local estimate of the prompt, used when the upstream reports no usage.
    pub input_tokens_estimate: u64,
}

/// Turns one upstream response into canonical stream events.
#[derive(Debug)]
pub struct ResponseAssembler {
    cfg: AssemblerConfig,
    splitter: Option<ThinkingSplitter>,
    started: bool,
    done: bool,
    /// Calls still receiving fragments, in order of their first fragment.
    open_tools: Vec<PendingTool>,
    /// Ids of calls already emitted (or dropped), so repeated fragments are ignored.
    closed_tool_ids: HashSet<String>,
    tool_calls: usize,
    broken_tool_calls: usize,
    wrote_text: bool,
    wrote_thinking: bool,
    /// Text was emitted since the last tool call, so thinking may not start again here.
    text_since_tool: bool,
    content_length_exceeded: bool,
    context_usage: Option<f64>,
    metadata_input: Option<u64>,
    metadata_output: Option<u64>,
    metadata_stop: Option<String>,
    credits: Option<f64>,
    /// Running output-token estimate over everything the model produced.
    output: OutputCount,
    unknown_events: u64,
}

#[derive(Debug)]
struct PendingTool {
    id: String,
    name: String,
    input: String,
    /// The arguments outgrew [`MAX_TOOL_INPUT_BYTES`]; the rest is discarded.
    overflowed: bool,
}

impl ResponseAssembler {
    pub fn new(cfg: AssemblerConfig) -> Self {
        let splitter = cfg.thinking.then(ThinkingSplitter::new);
        ResponseAssembler {
            cfg,
            splitter,
            started: false,
            done: false,
            open_tools: Vec::new(),
            closed_tool_ids: HashSet::new(),
            tool_calls: 0,
            broken_tool_calls: 0,
            wrote_text: false,
            wrote_thinking: false,
            text_since_tool: false,
            content_length_exceeded: false,
            context_usage: None,
            metadata_input: None,
            metadata_output: None,
            metadata_stop: None,
            credits: None,
            output: OutputCount::default(),
            unknown_events: 0,
        }
    }

    /// Emits `Start` (once; the other methods call it implicitly if needed).
    pub fn start(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start);
        }
    }

    /// True once `Finish` or `Error` has been emitted; later calls emit nothing.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Events of types the gateway does not handle, seen so far.
    pub fn unknown_events(&self) -> u64 {
        self.unknown_events
    }

    pub fn push(&mut self, event: KiroEvent, out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        self.start(out);
        match event {
            KiroEvent::AssistantText(text) => self.on_text(text, out),
            KiroEvent::ToolUse {
                tool_use_id,
                name,
                input,
                stop,
            } => self.on_tool_fragment(tool_use_id, name, &input, stop, out),
            KiroEvent::Reasoning { text, .. } => {
                // Signatures and redacted reasoning have no canonical event yet; only the
                // readable reasoning is forwarded.
                if let Some(text) = text.filter(|t| !t.is_empty()) {
                    self.output.add(&text);
                    self.emit_thinking(text, out);
                }
            }
            KiroEvent::ContextUsage(percent) => self.context_usage = Some(percent),
            KiroEvent::Metering { usage, .. } => {
                // Each event reports the credits of its own work; sum them.
                self.credits = Some(self.credits.unwrap_or(0.0) + usage);
            }
            KiroEvent::Metadata {
                input_tokens,
                output_tokens,
                stop_reason,
            } => {
                // A snapshot: the latest value of each field wins.
                self.metadata_input = input_tokens.or(self.metadata_input);
                self.metadata_output = output_tokens.or(self.metadata_output);
                self.metadata_stop = stop_reason.or(self.metadata_stop.take());
            }
            KiroEvent::Exception { kind, .. } if kind == CONTENT_LENGTH_EXCEEDED => {
                self.content_length_exceeded = true;
            }
            KiroEvent::Exception { kind, message } => {
                let msg = format!("Kiro stopped the response with {kind}: {message}");
                self.fail(GatewayError::new(ErrorKind::BadGateway, msg), out);
            }
            KiroEvent::Error { code, message } => {
                let msg = format!("Kiro reported an error ({code}): {message}");
                self.fail(GatewayError::new(ErrorKind::BadGateway, msg), out);
            }
            KiroEvent::Unknown(_) => self.unknown_events += 1,
        }
    }

    /// The upstream ended normally: reports unfinished tool calls, closes everything, and
    /// emits `Finish` with the stop reason and usage.
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        self.start(out);
        self.flush_text(out, true);
        for tool in std::mem::take(&mut self.open_tools) {
            self.report_broken_tool(&tool, out);
        }
        let thinking_only =
            self.cfg.thinking && self.wrote_thinking && !self.wrote_text && self.tool_calls == 0;
        if thinking_only {
            // Clients expect an answer after reasoning; an empty one keeps them consistent.
            self.emit_text(" ".to_owned(), out);
        }
        let stop_reason = self.stop_reason(thinking_only);
        let usage = self.usage();
        out.push(StreamEvent::Finish { stop_reason, usage });
        self.done = true;
    }

    /// The stream broke (undecodable frames, a cut connection, an upstream error): emits
    /// `Error` once. Text already classified is flushed first; unfinished tool calls are not.
    pub fn fail(&mut self, err: GatewayError, out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        self.start(out);
        self.flush_text(out, true);
        self.open_tools.clear();
        out.push(StreamEvent::Error(err));
        self.done = true;
    }

    fn on_text(&mut self, text: String, out: &mut Vec<StreamEvent>) {
        if text.is_empty() {
            return;
        }
        self.output.add(&text);
        match self.splitter.as_mut() {
            Some(splitter) if !splitter.is_past_thinking() => {
                let mut segments = Vec::new();
                splitter.push(&text, &mut segments);
                self.emit_segments(segments, out);
            }
            // The splitter would only copy it.
            _ => self.emit_text(text, out),
        }
    }

    fn on_tool_fragment(
        &mut self,
        id: String,
        name: String,
        input: &str,
        stop: bool,
        out: &mut Vec<StreamEvent>,
    ) {
        if self.closed_tool_ids.contains(&id) {
            return; // a repeated fragment of a call already handled
        }
        self.output.add(input);
        let index = match self.open_tools.iter().position(|t| t.id == id) {
            Some(index) => index,
            None => {
                // A tool call ends any text or thinking before it.
                self.flush_text(out, false);
                self.open_tools.push(PendingTool {
                    id,
                    name,
                    input: String::new(),
                    overflowed: false,
                });
                self.open_tools.len() - 1
            }
        };
        let Some(tool) = self.open_tools.get_mut(index) else {
            return;
        };
        if tool.input.len() + input.len() > MAX_TOOL_INPUT_BYTES {
            tool.overflowed = true;
        }
        if !tool.overflowed {
            tool.input.push_str(input);
        }
        if stop {
            let tool = self.open_tools.remove(index);
            self.emit_tool(tool, out);
        }
    }

    fn emit_tool(&mut self, tool: PendingTool, out: &mut Vec<StreamEvent>) {
        self.closed_tool_ids.insert(tool.id.clone());
        let Some(arguments) = (!tool.overflowed)
            .then(|| tool_arguments(&tool.input))
            .flatten()
        else {
            self.report_broken_tool(&tool, out);
            return;
        };
        let name = self
            .cfg
            .tool_names
            .get(&tool.name)
            .cloned()
            .unwrap_or(tool.name);
        let id = if tool.id.is_empty() {
            format!("tooluse_unnamed_{}", self.tool_calls)
        } else {
            tool.id
        };
        out.push(StreamEvent::ToolCallStart { id, name });
        out.push(StreamEvent::ToolCallDelta(arguments));
        out.push(StreamEvent::ToolCallEnd);
        self.tool_calls += 1;
        self.text_since_tool = false;
    }

    /// Tells the client, in text, that a call was cut off instead of sending broken JSON.
    fn report_broken_tool(&mut self, tool: &PendingTool, out: &mut Vec<StreamEvent>) {
        self.closed_tool_ids.insert(tool.id.clone());
        self.broken_tool_calls += 1;
        let name = self.cfg.tool_names.get(&tool.name).unwrap_or(&tool.name);
        let notice = format!(
            "\n\n[The upstream cut off the call to tool `{name}` before its arguments were \
             complete, so it was not run. Retry with a smaller step, e.g. write the content \
             in several parts.]"
        );
        self.emit_text(notice, out);
    }

    /// Emits what the splitter holds back, before a tool call or at the end.
    fn flush_text(&mut self, out: &mut Vec<StreamEvent>, at_end: bool) {
        let Some(splitter) = self.splitter.as_mut() else {
            return;
        };
        let mut segments = Vec::new();
        if at_end {
            splitter.finish(&mut segments);
        } else {
            splitter.flush_before_tool(&mut segments);
        }
        self.emit_segments(segments, out);
    }

    fn emit_segments(&mut self, segments: Vec<Segment>, out: &mut Vec<StreamEvent>) {
        for segment in segments {
            match segment {
                Segment::Thinking(t) => self.emit_thinking(t, out),
                Segment::Text(t) => self.emit_text(t, out),
            }
        }
    }

    fn emit_text(&mut self, text: String, out: &mut Vec<StreamEvent>) {
        if !text.is_empty() {
            self.wrote_text = true;
            self.text_since_tool = true;
            out.push(StreamEvent::TextDelta(text));
        }
    }

    fn emit_thinking(&mut self, text: String, out: &mut Vec<StreamEvent>) {
        if self.text_since_tool {
            // Native reasoning after the answer began would split the text; it is counted
            // in the usage but not shown.
            log::debug!(
                "dropping {} bytes of reasoning that arrived after text",
                text.len()
            );
            return;
        }
        if !text.is_empty() {
            self.wrote_thinking = true;
            out.push(StreamEvent::ThinkingDelta(text));
        }
    }

    /// kiro-protocol §3.5: explicit overrides first, then tool use, then a normal end.
    fn stop_reason(&self, thinking_only: bool) -> StopReason {
        let metadata = self.metadata_stop.as_deref();
        if self.content_length_exceeded
            || self.broken_tool_calls > 0
            || metadata == Some("max_tokens")
        {
            StopReason::MaxTokens
        } else if self.context_usage.is_some_and(|p| p >= 100.0)
            || metadata == Some("model_context_window_exceeded")
        {
            StopReason::ContextWindowExceeded
        } else if thinking_only {
            StopReason::MaxTokens
        } else if self.tool_calls > 0 {
            StopReason::ToolUse
        } else {
            StopReason::EndTurn
        }
    }

    /// kiro-protocol §3.4: exact metadata first, then context usage × window, then estimates.
    fn usage(&self) -> Usage {
        let from_context = self.context_usage.and_then(|percent| {
            let tokens = percent * self.cfg.context_window as f64 / 100.0;
            // `as` saturates; NaN and negative values become 0, which means "unknown".
            Some(tokens as u64).filter(|&t| t > 0)
        });
        Usage {
            input_tokens: self
                .metadata_input
                .or(from_context)
                .unwrap_or(self.cfg.input_tokens_estimate),
            output_tokens: self.metadata_output.unwrap_or_else(|| self.output.tokens()),
            credits: self.credits,
        }
    }
}

/// The JSON object text of a finished call, or `None` when it is not one. An empty input
/// means no arguments; a JSON string holding an object (double encoding) is unwrapped.
fn tool_arguments(input: &str) -> Option<String> {
    let input = input.trim();
    if input.is_empty() {
        return Some("{}".to_owned());
    }
    match serde_json::from_str::<serde_json::Value>(input).ok()? {
        // The original text is kept: re-serialising would reorder the keys.
        serde_json::Value::Object(_) => Some(input.to_owned()),
        serde_json::Value::String(inner) => {
            let inner = inner.trim();
            matches!(
                serde_json::from_str::<serde_json::Value>(inner),
                Ok(serde_json::Value::Object(_))
            )
            .then(|| inner.to_owned())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::estimate::output_tokens;
    use crate::kiro::events::decode;
    use crate::kiro::eventstream::{encode_event, encode_exception, Decoder};

    fn config(thinking: bool) -> AssemblerConfig {
        AssemblerConfig {
            thinking,
            tool_names: HashMap::from([("get_wthr".to_owned(), "get_weather_now".to_owned())]),
            context_window: 200_000,
            input_tokens_estimate: 1234,
        }
    }

    fn run(cfg: AssemblerConfig, events: Vec<KiroEvent>) -> Vec<StreamEvent> {
        let mut a = ResponseAssembler::new(cfg);
        let mut out = Vec::new();
        a.start(&mut out);
        for e in events {
            a.push(e, &mut out);
        }
        a.finish(&mut out);
        assert_grammar(&out);
        out
    }

    fn text(s: &str) -> KiroEvent {
        KiroEvent::AssistantText(s.into())
    }

    fn tool(id: &str, name: &str, input: &str, stop: bool) -> KiroEvent {
        KiroEvent::ToolUse {
            tool_use_id: id.into(),
            name: name.into(),
            input: input.into(),
            stop,
        }
    }

    /// Start first, one terminal last, tool calls contiguous and well-formed.
    fn assert_grammar(out: &[StreamEvent]) {
        assert_eq!(out.first(), Some(&StreamEvent::Start));
        let terminals = out
            .iter()
            .filter(|e| matches!(e, StreamEvent::Finish { .. } | StreamEvent::Error(_)))
            .count();
        assert_eq!(terminals, 1);
        assert!(matches!(
            out.last(),
            Some(StreamEvent::Finish { .. } | StreamEvent::Error(_))
        ));
        let mut in_tool = false;
        for e in &out[1..] {
            match e {
                StreamEvent::ToolCallStart { .. } => {
                    assert!(!in_tool);
                    in_tool = true;
                }
                StreamEvent::ToolCallDelta(json) => {
                    assert!(in_tool);
                    assert!(serde_json::from_str::<serde_json::Value>(json)
                        .unwrap()
                        .is_object());
                }
                StreamEvent::ToolCallEnd => {
                    assert!(in_tool);
                    in_tool = false;
                }
                StreamEvent::Start => panic!("second Start"),
                _ => assert!(!in_tool, "{e:?} inside a tool call"),
            }
        }
    }

    fn finish_of(out: &[StreamEvent]) -> (StopReason, Usage) {
        match out.last() {
            Some(StreamEvent::Finish { stop_reason, usage }) => (*stop_reason, *usage),
            other => panic!("expected Finish, got {other:?}"),
        }
    }

    fn texts(out: &[StreamEvent]) -> (String, String) {
        let (mut t, mut th) = (String::new(), String::new());
        for e in out {
            match e {
                StreamEvent::TextDelta(s) => t.push_str(s),
                StreamEvent::ThinkingDelta(s) => th.push_str(s),
                _ => {}
            }
        }
        (t, th)
    }

    #[test]
    fn text_only() {
        let out = run(config(false), vec![text("Hel"), text(""), text("lo")]);
        assert_eq!(
            out[..3],
            [
                StreamEvent::Start,
                StreamEvent::TextDelta("Hel".into()),
                StreamEvent::TextDelta("lo".into())
            ]
        );
        let (stop, usage) = finish_of(&out);
        assert_eq!(stop, StopReason::EndTurn);
        assert_eq!(usage.input_tokens, 1234, "falls back to the estimate");
        assert_eq!(usage.output_tokens, output_tokens("Hello"));
        assert_eq!(usage.credits, None);
    }

    #[test]
    fn thinking_tags_split_across_events() {
        let out = run(
            config(true),
            vec![
                text("<thin"),
                text("king>\nfirst "),
                text("step</thinking>\n"),
                text("\nAnswer"),
            ],
        );
        let (t, th) = texts(&out);
        assert_eq!((t.as_str(), th.as_str()), ("Answer", "first step"));
        // All thinking precedes all text.
        let first_text = out
            .iter()
            .position(|e| matches!(e, StreamEvent::TextDelta(_)));
        let last_thinking = out
            .iter()
            .rposition(|e| matches!(e, StreamEvent::ThinkingDelta(_)));
        assert!(last_thinking < first_text);
        assert_eq!(finish_of(&out).0, StopReason::EndTurn);
    }

    #[test]
    fn tags_are_plain_text_when_thinking_is_off() {
        let out = run(config(false), vec![text("<thinking>x</thinking>\n\ny")]);
        assert_eq!(texts(&out).0, "<thinking>x</thinking>\n\ny");
    }

    #[test]
    fn thinking_only_output_gets_a_blank_answer_and_max_tokens() {
        let out = run(config(true), vec![text("<thinking>x</thinking>")]);
        assert_eq!(texts(&out), (" ".into(), "x".into()));
        assert_eq!(finish_of(&out).0, StopReason::MaxTokens);
    }

    #[test]
    fn native_reasoning_becomes_thinking() {
        let out = run(
            config(false),
            vec![
                KiroEvent::Reasoning {
                    text: Some("hmm".into()),
                    signature: None,
                    redacted: None,
                },
                KiroEvent::Reasoning {
                    text: None,
                    signature: Some("sig".into()),
                    redacted: None,
                },
                text("ok"),
            ],
        );
        assert_eq!(
            out[1..3],
            [
                StreamEvent::ThinkingDelta("hmm".into()),
                StreamEvent::TextDelta("ok".into())
            ]
        );
    }

    #[test]
    fn reasoning_after_text_is_not_interleaved() {
        let reasoning = |t: &str| KiroEvent::Reasoning {
            text: Some(t.into()),
            signature: None,
            redacted: None,
        };
        let out = run(
            config(true),
            vec![
                reasoning("a"),
                text("answer"),
                reasoning("late"),
                tool("t", "n", "{}", true),
                reasoning("after tool"),
                text("more"),
            ],
        );
        let kinds: Vec<_> = out[1..out.len() - 1]
            .iter()
            .map(|e| match e {
                StreamEvent::ThinkingDelta(t) | StreamEvent::TextDelta(t) => t.as_str(),
                StreamEvent::ToolCallStart { .. } => "<tool>",
                _ => "",
            })
            .filter(|k| !k.is_empty())
            .collect();
        assert_eq!(kinds, ["a", "answer", "<tool>", "after tool", "more"]);
    }

    #[test]
    fn thinking_only_rule_needs_thinking_enabled() {
        let reasoning = KiroEvent::Reasoning {
            text: Some("r".into()),
            signature: None,
            redacted: None,
        };
        let out = run(config(false), vec![reasoning]);
        assert_eq!(texts(&out).0, "");
        assert_eq!(finish_of(&out).0, StopReason::EndTurn);
    }

    /// The §6.2 tool vectors, through the real decoder and event parser.
    #[test]
    fn tool_call_from_the_vector_fragments() {
        let wire = [
            encode_event("assistantResponseEvent", br#"{"content":"Checking."}"#),
            encode_event(
                "toolUseEvent",
                br#"{"name":"get_wthr","toolUseId":"tooluse_abc","input":"{\"city\":"}"#,
            ),
            encode_event(
                "toolUseEvent",
                br#"{"name":"get_wthr","toolUseId":"tooluse_abc","input":"\"Paris\"}","stop":true}"#,
            ),
            encode_event("contextUsageEvent", br#"{"contextUsagePercentage":1.5}"#),
            encode_event(
                "meteringEvent",
                br#"{"unit":"credit","unitPlural":"credits","usage":0.0169543708291874}"#,
            ),
        ]
        .concat();
        let mut decoder = Decoder::new();
        decoder.feed(&wire).unwrap();
        let mut events = Vec::new();
        while let Some(frame) = decoder.next_frame().unwrap() {
            events.push(decode(&frame).unwrap());
        }
        let out = run(config(true), events);
        assert_eq!(
            out[..5],
            [
                StreamEvent::Start,
                StreamEvent::TextDelta("Checking.".into()),
                StreamEvent::ToolCallStart {
                    id: "tooluse_abc".into(),
                    name: "get_weather_now".into()
                },
                StreamEvent::ToolCallDelta(r#"{"city":"Paris"}"#.into()),
                StreamEvent::ToolCallEnd,
            ]
        );
        let (stop, usage) = finish_of(&out);
        assert_eq!(stop, StopReason::ToolUse);
        assert_eq!(usage.input_tokens, 3000, "1.5% of 200k");
        assert_eq!(usage.credits, Some(0.0169543708291874));
        assert_eq!(
            usage.output_tokens,
            output_tokens(r#"Checking.{"city":"Paris"}"#)
        );
    }

    #[test]
    fn tool_calls_with_empty_object_and_interleaved_ids() {
        let out = run(
            config(false),
            vec![
                tool("a", "first", "", false),
                tool("b", "second", "{\"x\":", false),
                tool("a", "first", "", true),
                tool("b", "second", "1}", false),
                tool("b", "second", "", true),
                tool("b", "second", "1}", true), // a duplicate after stop is ignored
                tool("c", "third", "{\"q\":2}", true),
            ],
        );
        let calls: Vec<_> = out
            .iter()
            .filter_map(|e| match e {
                StreamEvent::ToolCallStart { id, .. } => Some(id.as_str()),
                StreamEvent::ToolCallDelta(json) => Some(json.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(calls, ["a", "{}", "b", "{\"x\":1}", "c", "{\"q\":2}"]);
        assert_eq!(finish_of(&out).0, StopReason::ToolUse);
    }

    #[test]
    fn truncated_tool_becomes_a_notice_and_max_tokens() {
        // Never stopped.
        let out = run(
            config(false),
            vec![
                text("Writing."),
                tool("w", "Write", "{\"content\":\"line 1\\nli", false),
            ],
        );
        assert!(!out
            .iter()
            .any(|e| matches!(e, StreamEvent::ToolCallStart { .. })));
        assert!(texts(&out).0.contains("cut off the call to tool `Write`"));
        assert_eq!(finish_of(&out).0, StopReason::MaxTokens);

        // Stopped, but the JSON is broken; the next call still goes through.
        let out = run(
            config(true),
            vec![
                tool("w", "get_wthr", "{\"content\":", true),
                tool("v", "get_wthr", "{}", true),
            ],
        );
        assert!(texts(&out).0.contains("`get_weather_now`"));
        assert_eq!(
            out.iter()
                .filter(|e| matches!(e, StreamEvent::ToolCallStart { .. }))
                .count(),
            1
        );
        assert_eq!(finish_of(&out).0, StopReason::MaxTokens);
    }

    #[test]
    fn tool_arguments_are_validated() {
        assert_eq!(tool_arguments("  "), Some("{}".into()));
        assert_eq!(
            tool_arguments(r#" {"b":1,"a":2} "#),
            Some(r#"{"b":1,"a":2}"#.into())
        );
        assert_eq!(tool_arguments(r#""{\"a\":1}""#), Some(r#"{"a":1}"#.into()));
        assert_eq!(tool_arguments("[1]"), None);
        assert_eq!(tool_arguments(r#""text""#), None);
        assert_eq!(tool_arguments(r#"{"a":"#), None);
    }

    #[test]
    fn thinking_closed_right_before_a_tool_call() {
        let out = run(
            config(true),
            vec![
                text("<thinking>\nneed weather</thinking>"),
                tool("t", "get_wthr", "{}", true),
            ],
        );
        assert_eq!(
            out[1..5],
            [
                StreamEvent::ThinkingDelta("need weather".into()),
                StreamEvent::ToolCallStart {
                    id: "t".into(),
                    name: "get_weather_now".into()
                },
                StreamEvent::ToolCallDelta("{}".into()),
                StreamEvent::ToolCallEnd,
            ]
        );
        assert_eq!(finish_of(&out).0, StopReason::ToolUse);
    }

    #[test]
    fn content_length_exception_means_max_tokens() {
        let frame = {
            let mut d = Decoder::new();
            d.feed(&encode_exception(
                CONTENT_LENGTH_EXCEEDED,
                br#"{"message":"too long"}"#,
            ))
            .unwrap();
            d.next_frame().unwrap().unwrap()
        };
        let out = run(
            config(false),
            vec![text("partial"), decode(&frame).unwrap()],
        );
        assert_eq!(finish_of(&out).0, StopReason::MaxTokens);
    }

    #[test]
    fn other_exceptions_and_errors_fail_once() {
        for event in [
            KiroEvent::Exception {
                kind: "ThrottlingException".into(),
                message: "slow down".into(),
            },
            KiroEvent::Error {
                code: "InternalServerException".into(),
                message: "boom".into(),
            },
        ] {
            let mut a = ResponseAssembler::new(config(false));
            let mut out = Vec::new();
            a.push(text("a"), &mut out);
            a.push(event, &mut out);
            assert!(a.is_done());
            a.push(text("ignored"), &mut out);
            a.finish(&mut out);
            a.fail(GatewayError::new(ErrorKind::Internal, "again"), &mut out);
            assert_grammar(&out);
            let Some(StreamEvent::Error(err)) = out.last() else {
                panic!("expected Error");
            };
            assert_eq!(err.kind, ErrorKind::BadGateway);
            assert!(err.message.contains("slow down") || err.message.contains("boom"));
        }
    }

    #[test]
    fn fail_flushes_held_text_but_not_partial_tools() {
        let mut a = ResponseAssembler::new(config(true));
        let mut out = Vec::new();
        a.push(text("<thinking>\nabc</thin"), &mut out);
        a.push(tool("x", "n", "{\"a\"", false), &mut out);
        a.fail(GatewayError::new(ErrorKind::BadGateway, "cut"), &mut out);
        assert_grammar(&out);
        a.finish(&mut out);
        assert_eq!(
            out,
            [
                StreamEvent::Start,
                StreamEvent::ThinkingDelta("abc".into()),
                // Held back as a possible tag, then flushed at the tool boundary.
                StreamEvent::ThinkingDelta("</thin".into()),
                StreamEvent::Error(GatewayError::new(ErrorKind::BadGateway, "cut")),
            ]
        );
    }

    #[test]
    fn usage_precedence() {
        let ctx = |p| KiroEvent::ContextUsage(p);
        let meta = KiroEvent::Metadata {
            input_tokens: Some(441),
            output_tokens: Some(23),
            stop_reason: None,
        };
        let (_, usage) = finish_of(&run(config(false), vec![ctx(1.5), meta.clone()]));
        assert_eq!((usage.input_tokens, usage.output_tokens), (441, 23));

        let mut big = config(false);
        big.context_window = 1_000_000;
        let (_, usage) = finish_of(&run(big, vec![ctx(1.5)]));
        assert_eq!(usage.input_tokens, 15_000);

        let (_, usage) = finish_of(&run(config(false), vec![ctx(f64::NAN)]));
        assert_eq!(usage.input_tokens, 1234);

        let (stop, _) = finish_of(&run(config(false), vec![text("x"), ctx(100.0)]));
        assert_eq!(stop, StopReason::ContextWindowExceeded);

        let metering = |u| KiroEvent::Metering {
            usage: u,
            unit: None,
        };
        let (_, usage) = finish_of(&run(config(false), vec![metering(0.25), metering(0.5)]));
        assert_eq!(usage.credits, Some(0.75));
    }

    #[test]
    fn the_output_estimate_is_that_of_the_whole_text() {
        let cfg = config(false);
        let pieces = ["a", "bc", "你好", "d", "世界e"];
        let events = pieces.iter().map(|p| text(p)).collect();
        let (_, usage) = finish_of(&run(cfg, events));
        assert_eq!(usage.output_tokens, output_tokens(&pieces.concat()));
    }

    #[test]
    fn unknown_events_are_counted() {
        let mut a = ResponseAssembler::new(config(false));
        let mut out = Vec::new();
        a.push(KiroEvent::Unknown("followupPromptEvent".into()), &mut out);
        a.push(KiroEvent::Unknown("codeReferenceEvent".into()), &mut out);
        a.finish(&mut out);
        assert_eq!(a.unknown_events(), 2);
        assert_grammar(&out);
        assert_eq!(finish_of(&out).0, StopReason::EndTurn);
    }

    #[test]
    fn start_is_emitted_once_even_if_forgotten() {
        let mut a = ResponseAssembler::new(config(false));
        let mut out = Vec::new();
        a.push(text("hi"), &mut out);
        a.start(&mut out);
        a.finish(&mut out);
        assert_grammar(&out);
    }
}
