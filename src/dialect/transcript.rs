//! Canonical stream events → the whole answer, for the writers that send one JSON document at
//! the end (non-streaming responses).
//!
//! A [`Transcript`] assembles the deltas into parts in upstream order: a run of text is one
//! [`Part::Text`], a run of thinking one [`Part::Thinking`], each tool call one
//! [`Part::ToolCall`] with its argument fragments joined. Each dialect renders its own JSON
//! from the parts and the [`Outcome`].

use serde_json::{Map, Value};

use crate::chat::{GatewayError, StopReason, StreamEvent, Usage};

/// One assembled piece of the answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Part {
    Text(String),
    Thinking(String),
    ToolCall(ToolCall),
}

/// A complete tool call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ToolCall {
    pub id: String,
    pub name: String,
    /// The concatenated argument fragments, as the upstream sent them.
    pub arguments: String,
}

impl ToolCall {
    /// The arguments as a JSON object (see [`arguments_object`]).
    pub(crate) fn input(&self) -> Value {
        arguments_object(&self.id, &self.arguments)
    }

    /// The arguments as the JSON text of an object: the fragments as sent when they form one,
    /// else `{}` (see [`arguments_object`]).
    pub(crate) fn arguments_json(&self) -> &str {
        match parse_arguments(&self.id, &self.arguments) {
            Some(_) => &self.arguments,
            None => "{}",
        }
    }
}

/// A tool call's arguments as a JSON object. The response assembler promises an object; if it
/// is broken anyway (a truncated upstream stream), the client gets `{}` and a log line rather
/// than a response its JSON parser throws on. No arguments at all are `{}` too.
pub(crate) fn arguments_object(id: &str, arguments: &str) -> Value {
    parse_arguments(id, arguments).unwrap_or_else(|| Value::Object(Map::new()))
}

/// The arguments when they are a JSON object; `None` (logged unless blank) otherwise.
fn parse_arguments(id: &str, arguments: &str) -> Option<Value> {
    if arguments.trim().is_empty() {
        return None;
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(object @ Value::Object(_)) => Some(object),
        _ => {
            log::warn!(
                "tool call {id}: arguments are not a JSON object ({} bytes); sending {{}}",
                arguments.len()
            );
            None
        }
    }
}

/// How the response ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Finished {
        stop_reason: StopReason,
        usage: Usage,
    },
    /// The stream failed: the parts were dropped, the client gets this error instead.
    Failed(GatewayError),
}

impl Outcome {
    /// Writes the end of a non-streaming answer: the dialect's `document` when the answer
    /// finished, its `error_body` when it failed.
    pub(crate) fn write(
        self,
        out: &mut Vec<u8>,
        document: impl FnOnce(StopReason, &Usage, &mut Vec<u8>),
        error_body: impl FnOnce(&GatewayError) -> Vec<u8>,
    ) {
        match self {
            Outcome::Finished { stop_reason, usage } => document(stop_reason, &usage, out),
            Outcome::Failed(err) => out.extend_from_slice(&error_body(&err)),
        }
    }
}

/// The answer so far, fed with every event of one response.
#[derive(Debug)]
pub(crate) struct Transcript {
    parts: Vec<Part>,
    /// The last part is a tool call between `ToolCallStart` and `ToolCallEnd`.
    in_tool: bool,
    keep_thinking: bool,
    ended: bool,
}

impl Transcript {
    pub(crate) fn new() -> Self {
        Transcript {
            parts: Vec::new(),
            in_tool: false,
            keep_thinking: true,
            ended: false,
        }
    }

    /// A transcript that does not record thinking, for clients that did not ask to see it, so
    /// that text on either side of it stays one part.
    pub(crate) fn without_thinking() -> Self {
        Transcript {
            keep_thinking: false,
            ..Transcript::new()
        }
    }

    /// Takes in the next event. Returns the outcome when `event` ends the response; every
    /// event after that is ignored.
    ///
    /// Text or thinking ends a tool call that is still open, and a stray argument fragment
    /// outside a tool call is dropped: the upstream grammar allows neither, and a truncated
    /// call is better cut than merged with the wrong content.
    pub(crate) fn push(&mut self, event: &StreamEvent) -> Option<Outcome> {
        if self.ended {
            return None;
        }
        match event {
            StreamEvent::Start | StreamEvent::Ping => {}
            StreamEvent::TextDelta(text) => self.append(text, false),
            StreamEvent::ThinkingDelta(text) => self.append(text, true),
            StreamEvent::ToolCallStart { id, name } => {
                self.parts.push(Part::ToolCall(ToolCall {
                    id: id.clone(),
                    name: name.clone(),
                    arguments: String::new(),
                }));
                self.in_tool = true;
            }
            StreamEvent::ToolCallDelta(fragment) => {
                if let (true, Some(Part::ToolCall(call))) = (self.in_tool, self.parts.last_mut()) {
                    call.arguments.push_str(fragment);
                }
            }
            StreamEvent::ToolCallEnd => self.in_tool = false,
            StreamEvent::Finish { stop_reason, usage } => {
                self.ended = true;
                return Some(Outcome::Finished {
                    stop_reason: *stop_reason,
                    usage: *usage,
                });
            }
            StreamEvent::Error(err) => {
                self.ended = true;
                self.parts.clear();
                return Some(Outcome::Failed(err.clone()));
            }
        }
        None
    }

    /// Appends text or thinking to the last part if it is of the same kind, else starts one.
    fn append(&mut self, text: &str, thinking: bool) {
        if text.is_empty() {
            return;
        }
        self.in_tool = false;
        if thinking && !self.keep_thinking {
            return;
        }
        match (self.parts.last_mut(), thinking) {
            (Some(Part::Text(buf)), false) | (Some(Part::Thinking(buf)), true) => {
                buf.push_str(text)
            }
            (_, false) => self.parts.push(Part::Text(text.to_owned())),
            (_, true) => self.parts.push(Part::Thinking(text.to_owned())),
        }
    }

    /// Moves the parts out (to render them without copies), leaving none.
    pub(crate) fn take_parts(&mut self) -> Vec<Part> {
        std::mem::take(&mut self.parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::ErrorKind;
    use proptest::prelude::*;
    use serde_json::json;

    fn text(s: &str) -> StreamEvent {
        StreamEvent::TextDelta(s.into())
    }

    fn thinking(s: &str) -> StreamEvent {
        StreamEvent::ThinkingDelta(s.into())
    }

    fn start(id: &str) -> StreamEvent {
        StreamEvent::ToolCallStart {
            id: id.into(),
            name: "f".into(),
        }
    }

    fn delta(s: &str) -> StreamEvent {
        StreamEvent::ToolCallDelta(s.into())
    }

    fn call(id: &str, arguments: &str) -> Part {
        Part::ToolCall(ToolCall {
            id: id.into(),
            name: "f".into(),
            arguments: arguments.into(),
        })
    }

    const USAGE: Usage = Usage {
        input_tokens: 5,
        output_tokens: 9,
        credits: None,
    };

    fn finish() -> StreamEvent {
        StreamEvent::Finish {
            stop_reason: StopReason::ToolUse,
            usage: USAGE,
        }
    }

    fn feed(transcript: &mut Transcript, events: &[StreamEvent]) -> Vec<Option<Outcome>> {
        events.iter().map(|e| transcript.push(e)).collect()
    }

    #[test]
    fn runs_become_parts_in_order() {
        let mut t = Transcript::new();
        let outcomes = feed(
            &mut t,
            &[
                StreamEvent::Start,
                thinking("Let me "),
                StreamEvent::Ping,
                thinking("see."),
                text(""),
                text("I'll "),
                text("run it."),
                start("t1"),
                delta("{\"a\":"),
                delta("1}"),
                StreamEvent::ToolCallEnd,
                start("t2"),
                StreamEvent::ToolCallEnd,
                text("Done."),
                thinking("Hm."),
            ],
        );
        assert!(outcomes.iter().all(Option::is_none));
        assert_eq!(
            t.take_parts(),
            [
                Part::Thinking("Let me see.".into()),
                Part::Text("I'll run it.".into()),
                call("t1", "{\"a\":1}"),
                call("t2", ""),
                Part::Text("Done.".into()),
                Part::Thinking("Hm.".into()),
            ]
        );
        assert_eq!(
            t.push(&finish()),
            Some(Outcome::Finished {
                stop_reason: StopReason::ToolUse,
                usage: USAGE
            })
        );
        // The end is final.
        assert_eq!(t.push(&text("late")), None);
        assert_eq!(t.push(&finish()), None);
        assert!(t.take_parts().is_empty());
    }

    #[test]
    fn stray_fragments_are_dropped() {
        let mut t = Transcript::new();
        feed(
            &mut t,
            &[
                delta("before"),
                start("t1"),
                delta("{}"),
                StreamEvent::ToolCallEnd,
                delta("after end"),
                start("t2"),
                delta("{\"x\":"),
                text("text cuts the call"),
                delta("1}"),
            ],
        );
        assert_eq!(
            t.take_parts(),
            [
                call("t1", "{}"),
                call("t2", "{\"x\":"),
                Part::Text("text cuts the call".into()),
            ]
        );
    }

    #[test]
    fn hidden_thinking_leaves_text_whole() {
        let mut t = Transcript::without_thinking();
        feed(
            &mut t,
            &[text("a"), thinking("secret"), text("b"), start("t")],
        );
        feed(&mut t, &[thinking("ends the call"), delta("{}")]);
        assert_eq!(t.take_parts(), [Part::Text("ab".into()), call("t", "")]);
    }

    #[test]
    fn errors_drop_the_answer() {
        let mut t = Transcript::new();
        let err = GatewayError::new(ErrorKind::Timeout, "upstream timed out");
        feed(&mut t, &[text("partial"), start("t")]);
        assert_eq!(
            t.push(&StreamEvent::Error(err.clone())),
            Some(Outcome::Failed(err))
        );
        assert!(t.take_parts().is_empty());
        assert_eq!(t.push(&finish()), None);
    }

    #[test]
    fn tool_arguments_are_objects() {
        let call = |arguments: &str| ToolCall {
            id: "t".into(),
            name: "f".into(),
            arguments: arguments.into(),
        };
        for broken in ["", "  ", "[1]", "{\"a\":", "null"] {
            assert_eq!(call(broken).input(), json!({}), "{broken:?}");
            assert_eq!(call(broken).arguments_json(), "{}", "{broken:?}");
        }
        // Valid arguments keep the model's own text.
        let spaced = "{\"city\": \"Paris\"}";
        assert_eq!(call(spaced).input(), json!({"city": "Paris"}));
        assert_eq!(call(spaced).arguments_json(), spaced);
        assert_eq!(arguments_object("t", " {\"a\":1} "), json!({"a": 1}));
    }

    proptest! {
        /// Whatever the events, the parts never hold empty text nor two runs of one kind side
        /// by side, and the response ends exactly once.
        #[test]
        fn any_event_sequence_gives_well_formed_parts(
            events in proptest::collection::vec(crate::dialect::testing::any_event(), 0..40)
        ) {
            let mut t = Transcript::new();
            for event in &events {
                prop_assert_eq!(t.push(event), None);
            }
            prop_assert!(t.push(&finish()).is_some());
            prop_assert_eq!(t.push(&finish()), None);
            let parts = t.take_parts();
            for pair in parts.windows(2) {
                let same_run = matches!(
                    pair,
                    [Part::Text(_), Part::Text(_)] | [Part::Thinking(_), Part::Thinking(_)]
                );
                prop_assert!(!same_run, "{pair:?}");
            }
            for part in &parts {
                if let Part::Text(s) | Part::Thinking(s) = part {
                    prop_assert!(!s.is_empty());
                }
            }
        }
    }
}
