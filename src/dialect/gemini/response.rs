//! Canonical stream events → one `GenerateContentResponse` (non-streaming `generateContent`).
//!
//! When the client asked for JSON (`responseMimeType: application/json`, as in Gemini CLI's
//! model-routing and loop-detection calls), Kiro only got an instruction to answer in JSON,
//! and a model may still wrap the value in code fences or a sentence. The client parses the
//! text as JSON and retries on failure, so the JSON value is cut out of the answer
//! ([`extract_json`]).

use std::borrow::Cow;

use serde::de::IgnoredAny;

use super::request::Echo;
use super::ThoughtTokens;
use super::{error, push_chunk_head, push_chunk_tail, push_function_call_part, push_text_part};
use crate::chat::{ResponseMeta, StopReason, StreamEvent, Usage};
use crate::dialect::transcript::{Part, Transcript};

/// Collects a whole response and renders it at the end.
#[derive(Debug)]
pub struct DocumentWriter {
    meta: ResponseMeta,
    echo: Echo,
    /// Records thought parts only when the client asked for them (`includeThoughts`).
    transcript: Transcript,
    /// Thoughts are counted whether or not they are sent.
    thought_tokens: ThoughtTokens,
}

impl DocumentWriter {
    pub fn new(meta: ResponseMeta) -> Self {
        let echo = Echo::from_value(meta.echo.as_deref());
        DocumentWriter {
            transcript: if echo.thoughts {
                Transcript::new()
            } else {
                Transcript::without_thinking()
            },
            echo,
            meta,
            thought_tokens: ThoughtTokens::default(),
        }
    }

    fn render(&mut self, reason: StopReason, usage: &Usage, out: &mut Vec<u8>) {
        let parts = self.transcript.take_parts();
        push_chunk_head(out);
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            match part {
                Part::Thinking(text) => push_text_part(text, true, out),
                Part::Text(text) if self.echo.json => {
                    push_text_part(&extract_json(text), false, out)
                }
                Part::Text(text) => push_text_part(text, false, out),
                Part::ToolCall(call) => {
                    push_function_call_part(&call.id, &call.name, &call.arguments, out)
                }
            }
        }
        if parts.is_empty() {
            // The SDKs read `.text` off the first candidate: give them an empty one.
            push_text_part("", false, out);
        }
        let thoughts = self.thought_tokens.total();
        push_chunk_tail(&self.meta, Some((reason, usage, thoughts)), out);
    }
}

impl crate::dialect::ResponseWriter for DocumentWriter {
    fn content_type(&self) -> &'static str {
        "application/json"
    }

    fn write(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if let StreamEvent::ThinkingDelta(text) = event {
            // After the end nothing reads the count any more, so it need not stop there.
            self.thought_tokens.add(text);
        }
        if let Some(outcome) = self.transcript.push(event) {
            outcome.write(
                out,
                |reason, usage, out| self.render(reason, usage, out),
                error::body,
            );
        }
    }
}

/// The JSON value in a model's answer: the answer itself when it is JSON, else the first
/// complete JSON object or array in it (inside code fences or prose), else the answer unchanged.
pub fn extract_json(text: &str) -> Cow<'_, str> {
    let trimmed = text.trim();
    if is_json(trimmed) {
        return Cow::Borrowed(trimmed);
    }
    // The first `{` or `[` that starts a complete value; a `[` in prose ("[1]") must not hide
    // a later object, so both openers are tried.
    let mut starts: Vec<usize> = ['{', '[']
        .iter()
        .filter_map(|opener| text.find(*opener))
        .collect();
    starts.sort_unstable();
    for start in starts {
        if let Some(value) = text.get(start..).and_then(leading_value) {
            return Cow::Borrowed(value);
        }
    }
    Cow::Borrowed(text)
}

fn is_json(text: &str) -> bool {
    serde_json::from_str::<IgnoredAny>(text).is_ok()
}

/// The complete JSON value at the start of `text`, if there is one.
fn leading_value(text: &str) -> Option<&str> {
    let mut values = serde_json::Deserializer::from_str(text).into_iter::<IgnoredAny>();
    match values.next() {
        Some(Ok(_)) => text.get(..values.byte_offset()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{ErrorKind, GatewayError};
    use crate::dialect::testing::render_document;
    use serde_json::{json, Value};

    fn meta(thoughts: bool, json_mode: bool) -> ResponseMeta {
        ResponseMeta {
            id: "r1".into(),
            model: "gemini-3.5-flash-lite".into(),
            input_tokens: 10,
            created: 0,
            thinking: thoughts,
            echo: Some(json!({"sse": false, "thoughts": thoughts, "json": json_mode}).into()),
            shared_echo: None,
        }
    }

    fn render(meta: ResponseMeta, events: &[StreamEvent]) -> Value {
        let mut writer = DocumentWriter::new(meta);
        serde_json::from_slice(&render_document(&mut writer, events)).unwrap()
    }

    fn finish(stop_reason: StopReason) -> StreamEvent {
        StreamEvent::Finish {
            stop_reason,
            usage: Usage {
                input_tokens: 12,
                output_tokens: 30,
                credits: None,
            },
        }
    }

    #[test]
    fn one_document_with_every_part_kind() {
        let v = render(
            meta(true, false),
            &[
                StreamEvent::Start,
                StreamEvent::Ping,
                StreamEvent::ThinkingDelta("Hmm, ".into()),
                StreamEvent::ThinkingDelta("weather.".into()),
                StreamEvent::TextDelta("Let me ".into()),
                StreamEvent::TextDelta("check.".into()),
                StreamEvent::ToolCallStart {
                    id: "tooluse_1".into(),
                    name: "get_weather".into(),
                },
                StreamEvent::ToolCallDelta("{\"city\":".into()),
                StreamEvent::ToolCallDelta("\"Paris\"}".into()),
                StreamEvent::ToolCallEnd,
                finish(StopReason::ToolUse),
            ],
        );
        let thoughts = v["usageMetadata"]["thoughtsTokenCount"].as_u64().unwrap();
        assert_eq!(
            v,
            json!({
                "candidates": [{
                    "content": {"role": "model", "parts": [
                        {"text": "Hmm, weather.", "thought": true},
                        {"text": "Let me check."},
                        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}, "id": "tooluse_1"}}
                    ]},
                    "finishReason": "STOP",
                    "index": 0
                }],
                "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 30 - thoughts,
                                  "totalTokenCount": 42, "thoughtsTokenCount": thoughts},
                "modelVersion": "gemini-3.5-flash-lite",
                "responseId": "r1"
            })
        );
    }

    #[test]
    fn hidden_thoughts_and_empty_answers() {
        let v = render(
            meta(false, false),
            &[
                StreamEvent::ThinkingDelta("secret".into()),
                finish(StopReason::MaxTokens),
            ],
        );
        assert_eq!(
            v["candidates"][0]["content"]["parts"],
            json!([{"text": ""}])
        );
        assert_eq!(v["candidates"][0]["finishReason"], "MAX_TOKENS");
        assert!(v["usageMetadata"]["thoughtsTokenCount"].as_u64().unwrap() > 0);
    }

    #[test]
    fn json_mode_returns_the_json_value() {
        let v = render(
            meta(false, true),
            &[
                StreamEvent::TextDelta("Sure! ```json\n{\"complexity_score\": ".into()),
                StreamEvent::TextDelta("10, \"complexity_reasoning\": \"x\"}\n```".into()),
                finish(StopReason::EndTurn),
            ],
        );
        let text = v["candidates"][0]["content"]["parts"][0]["text"]
            .as_str()
            .unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(text).unwrap(),
            json!({"complexity_score": 10, "complexity_reasoning": "x"})
        );
        // Without JSON mode the text is left alone.
        let v = render(
            meta(false, false),
            &[
                StreamEvent::TextDelta("Sure! {\"a\":1}".into()),
                finish(StopReason::EndTurn),
            ],
        );
        assert_eq!(
            v["candidates"][0]["content"]["parts"][0]["text"],
            "Sure! {\"a\":1}"
        );
    }

    #[test]
    fn errors_are_error_bodies() {
        let v = render(
            meta(false, false),
            &[
                StreamEvent::TextDelta("partial".into()),
                StreamEvent::Error(GatewayError::new(ErrorKind::BadGateway, "broken")),
                finish(StopReason::EndTurn),
            ],
        );
        assert_eq!(
            v,
            json!({"error": {"code": 502, "message": "broken", "status": "UNAVAILABLE"}})
        );
    }

    #[test]
    fn extracts_json_from_wrapped_answers() {
        let cases = [
            ("{\"a\":1}", "{\"a\":1}"),
            ("  [1, 2]\n", "[1, 2]"),
            (
                "```json\n{\"a\": {\"b\": \"}\"}}\n```",
                "{\"a\": {\"b\": \"}\"}}",
            ),
            ("```\n[{\"a\":1}]\n```", "[{\"a\":1}]"),
            (
                "Here you go: {\"a\":1}. Anything else? {\"b\":2}",
                "{\"a\":1}",
            ),
            ("See [note] below: {\"a\":[1]}", "{\"a\":[1]}"),
            ("\"just a string\"", "\"just a string\""),
        ];
        for (text, expected) in cases {
            assert_eq!(extract_json(text), expected, "{text:?}");
        }
        // Nothing to extract: unchanged.
        for text in ["no json here", "broken {\"a\":", "", "{ [ {"] {
            assert_eq!(extract_json(text), text);
        }
    }
}
