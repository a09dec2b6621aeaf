//! Event-stream frames → typed Kiro events (kiro-protocol §3.2).
//!
//! Only the fields the gateway uses are read; everything else in a payload is ignored, and an
//! event type nobody handles becomes [`KiroEvent::Unknown`] rather than an error, because the
//! upstream adds event types without notice.

use serde::Deserialize;
use serde_json::Value;

use super::eventstream::Frame;

/// Exception and error messages come from the upstream verbatim; keep logs and client-facing
/// notices short even when a payload is huge.
const MAX_MESSAGE_CHARS: usize = 512;

/// One upstream event.
#[derive(Debug, Clone, PartialEq)]
pub enum KiroEvent {
    /// `assistantResponseEvent`: a delta of the answer's text.
    AssistantText(String),
    /// `toolUseEvent`: a fragment of a tool call's JSON arguments. Fragments of one
    /// `tool_use_id` concatenate to the full JSON text; `stop` marks the last one.
    ToolUse {
        tool_use_id: String,
        name: String,
        input: String,
        stop: bool,
    },
    /// `reasoningContentEvent`: native reasoning (one of the three fields is set).
    Reasoning {
        text: Option<String>,
        signature: Option<String>,
        redacted: Option<String>,
    },
    /// `contextUsageEvent`: percent of the model's context window the conversation uses.
    ContextUsage(f64),
    /// `meteringEvent`: credits consumed.
    Metering { usage: f64, unit: Option<String> },
    /// `metadataEvent`: a final snapshot (keep the last one, do not sum). `input_tokens`
    /// already includes cache reads and writes.
    Metadata {
        input_tokens: Option<u64>,
        output_tokens: Option<u64>,
        stop_reason: Option<String>,
    },
    /// An exception frame, e.g. `ContentLengthExceededException`.
    Exception { kind: String, message: String },
    /// An error frame.
    Error { code: String, message: String },
    /// An event (or message) type the gateway does not handle; carries the type name.
    Unknown(String),
}

/// Why a frame could not be turned into an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventError {
    /// An event frame without an `:event-type` header.
    MissingEventType,
    /// The payload is not the JSON this event type needs.
    InvalidPayload { event_type: String, detail: String },
}

impl std::fmt::Display for EventError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EventError::MissingEventType => f.write_str("event frame without :event-type"),
            EventError::InvalidPayload { event_type, detail } => {
                write!(f, "unreadable {event_type} payload: {detail}")
            }
        }
    }
}

impl std::error::Error for EventError {}

/// Decodes one frame. `:message-type` is `event` (the default when absent), `exception` or
/// `error`.
pub fn decode(frame: &Frame) -> Result<KiroEvent, EventError> {
    decode_reusing(frame, &mut String::new())
}

/// [`decode`], writing the text of a plain text event into `spare`'s buffer (which it takes)
/// instead of a new `String`: a caller that hands each delta's `String` back once written
/// streams text without allocating for it.
pub fn decode_reusing(frame: &Frame, spare: &mut String) -> Result<KiroEvent, EventError> {
    match frame.header_str(":message-type").unwrap_or("event") {
        "event" => decode_event(frame, spare),
        "exception" => Ok(decode_exception(frame)),
        "error" => Ok(decode_error(frame)),
        other => Ok(KiroEvent::Unknown(format!(":message-type {other}"))),
    }
}

fn decode_event(frame: &Frame, spare: &mut String) -> Result<KiroEvent, EventError> {
    let event_type = frame
        .header_str(":event-type")
        .ok_or(EventError::MissingEventType)?;
    let payload = &frame.payload[..];
    let event = match event_type {
        "assistantResponseEvent" => match plain_content(payload) {
            Some(text) => {
                let mut owned = std::mem::take(spare);
                owned.clear();
                owned.push_str(text);
                KiroEvent::AssistantText(owned)
            }
            None => {
                let p: AssistantResponse = parse(event_type, payload)?;
                KiroEvent::AssistantText(p.content.unwrap_or_default())
            }
        },
        "toolUseEvent" => {
            let p: ToolUse = parse(event_type, payload)?;
            let input = match p.input {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s,
                // Some upstream versions send the arguments as an object already.
                Some(other) => other.to_string(),
            };
            KiroEvent::ToolUse {
                tool_use_id: p.tool_use_id,
                name: p.name,
                input,
                stop: p.stop.unwrap_or(false),
            }
        }
        "reasoningContentEvent" => {
            let p: Reasoning = parse(event_type, payload)?;
            KiroEvent::Reasoning {
                text: p.text,
                signature: p.signature,
                redacted: p.redacted_content,
            }
        }
        "contextUsageEvent" => {
            let p: ContextUsage = parse(event_type, payload)?;
            KiroEvent::ContextUsage(p.context_usage_percentage)
        }
        "meteringEvent" => {
            let p: Metering = parse(event_type, payload)?;
            KiroEvent::Metering {
                usage: p.usage,
                unit: p.unit,
            }
        }
        "metadataEvent" => {
            let p: Metadata = parse(event_type, payload)?;
            let usage = p.token_usage.unwrap_or_default();
            let parts = [
                usage.uncached_input_tokens,
                usage.cache_read_input_tokens,
                usage.cache_write_input_tokens,
            ];
            let input_tokens = parts.iter().any(Option::is_some).then(|| {
                parts
                    .iter()
                    .flatten()
                    .fold(0u64, |a, b| a.saturating_add(*b))
            });
            KiroEvent::Metadata {
                input_tokens,
                output_tokens: usage.output_tokens,
                stop_reason: p.stop_reason,
            }
        }
        other => KiroEvent::Unknown(other.to_owned()),
    };
    Ok(event)
}

fn decode_exception(frame: &Frame) -> KiroEvent {
    let body = PayloadMessage::read(&frame.payload);
    let kind = frame
        .header_str(":exception-type")
        .map(str::to_owned)
        .or(body.type_name)
        .unwrap_or_else(|| "UnknownException".to_owned());
    KiroEvent::Exception {
        kind,
        message: body.message,
    }
}

fn decode_error(frame: &Frame) -> KiroEvent {
    let code = frame
        .header_str(":error-code")
        .unwrap_or("UnknownError")
        .to_owned();
    let message = match frame.header_str(":error-message") {
        Some(m) if !m.is_empty() => clip(m),
        _ => PayloadMessage::read(&frame.payload).message,
    };
    KiroEvent::Error { code, message }
}

/// The text of a `{"content":"…"}` payload with nothing to unescape, read without the JSON
/// parser: most events of an answer are exactly that, and the parser costs several times the
/// event's other work. `None` for any other payload, which then takes the parser's path.
fn plain_content(payload: &[u8]) -> Option<&str> {
    let text = payload
        .strip_prefix(br#"{"content":""#)?
        .strip_suffix(br#""}"#)?;
    // Without quotes, backslashes and control characters the JSON string is the text itself.
    if text.iter().any(|&b| b == b'"' || b == b'\\' || b < 0x20) {
        return None;
    }
    std::str::from_utf8(text).ok()
}

fn parse<'a, T: Deserialize<'a>>(event_type: &str, payload: &'a [u8]) -> Result<T, EventError> {
    serde_json::from_slice(payload).map_err(|e| EventError::InvalidPayload {
        event_type: event_type.to_owned(),
        detail: e.to_string(),
    })
}

/// The text of an exception or error payload: JSON `{"message":…}` (or `Message`), `__type`
/// as a fallback kind, or the raw text.
struct PayloadMessage {
    message: String,
    type_name: Option<String>,
}

impl PayloadMessage {
    fn read(payload: &[u8]) -> Self {
        #[derive(Deserialize)]
        struct Body {
            #[serde(alias = "Message")]
            message: Option<String>,
            #[serde(rename = "__type")]
            type_name: Option<String>,
        }
        match serde_json::from_slice::<Body>(payload) {
            Ok(b) => PayloadMessage {
                message: clip(b.message.as_deref().unwrap_or("")),
                type_name: b.type_name,
            },
            Err(_) => PayloadMessage {
                message: clip(String::from_utf8_lossy(payload).trim()),
                type_name: None,
            },
        }
    }
}

fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_owned(),
    }
}

#[derive(Deserialize)]
struct AssistantResponse {
    content: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToolUse {
    #[serde(default)]
    name: String,
    #[serde(default)]
    tool_use_id: String,
    input: Option<Value>,
    stop: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reasoning {
    text: Option<String>,
    signature: Option<String>,
    redacted_content: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContextUsage {
    context_usage_percentage: f64,
}

#[derive(Deserialize)]
struct Metering {
    usage: f64,
    unit: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    token_usage: Option<TokenUsage>,
    stop_reason: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct TokenUsage {
    uncached_input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    cache_write_input_tokens: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kiro::eventstream::{
        encode_error, encode_event, encode_exception, Decoder, Header, HeaderValue,
    };
    use bytes::Bytes;

    fn frame_of(wire: Vec<u8>) -> Frame {
        let mut d = Decoder::new();
        d.feed(&wire).unwrap();
        d.next_frame().unwrap().unwrap()
    }

    fn event(event_type: &str, payload: &str) -> Result<KiroEvent, EventError> {
        decode(&frame_of(encode_event(event_type, payload.as_bytes())))
    }

    #[test]
    fn assistant_text() {
        assert_eq!(
            event("assistantResponseEvent", r#"{"content":"Hi"}"#),
            Ok(KiroEvent::AssistantText("Hi".into()))
        );
        let extra =
            r#"{"content":"x","messageStatus":"COMPLETED","followupPrompt":{"content":"?"}}"#;
        assert_eq!(
            event("assistantResponseEvent", extra),
            Ok(KiroEvent::AssistantText("x".into()))
        );
    }

    fn parsed_content(payload: &[u8]) -> Option<String> {
        serde_json::from_slice::<AssistantResponse>(payload)
            .ok()
            .and_then(|p| p.content)
    }

    #[test]
    fn plain_content_is_read_only_when_nothing_needs_unescaping() {
        assert_eq!(plain_content(br#"{"content":"tok1 "}"#), Some("tok1 "));
        assert_eq!(plain_content(br#"{"content":""}"#), Some(""));
        for other in [
            &br#"{"content":"a\nb"}"#[..],
            br#"{"content":"x","messageStatus":"COMPLETED"}"#,
            br#"{"content":"x"} "#,
            b"{\"content\":\"tab\there\"}",
            b"{\"content\":\"\xff\"}",
        ] {
            assert_eq!(
                plain_content(other),
                None,
                "{}",
                String::from_utf8_lossy(other)
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn any_text_arrives_as_sent(text in "\\PC{0,40}|[\\x00-\\x7f]{0,40}") {
            let payload = serde_json::to_string(&serde_json::json!({"content": text})).unwrap();
            proptest::prop_assert_eq!(
                event("assistantResponseEvent", &payload),
                Ok(KiroEvent::AssistantText(text))
            );
        }

        #[test]
        fn the_plain_path_agrees_with_the_parser(
            payload in proptest::collection::vec(proptest::sample::select(
                b"{}\":\\cntoe a\n\x01\xc3\xa9".to_vec()), 0..40),
        ) {
            let mut framed = br#"{"content":""#.to_vec();
            framed.extend_from_slice(&payload);
            framed.extend_from_slice(br#""}"#);
            if let Some(text) = plain_content(&framed) {
                proptest::prop_assert_eq!(Some(text.to_owned()), parsed_content(&framed));
            }
        }
    }

    #[test]
    fn tool_use_fragments_from_the_vectors() {
        let first = r#"{"name":"get_weather","toolUseId":"tooluse_abc","input":"{\"city\":"}"#;
        let last =
            r#"{"name":"get_weather","toolUseId":"tooluse_abc","input":"\"Paris\"}","stop":true}"#;
        let (
            Ok(KiroEvent::ToolUse {
                input: a,
                stop: false,
                ..
            }),
            Ok(KiroEvent::ToolUse {
                input: b,
                stop: true,
                tool_use_id,
                name,
            }),
        ) = (event("toolUseEvent", first), event("toolUseEvent", last))
        else {
            panic!("expected two tool fragments");
        };
        assert_eq!(format!("{a}{b}"), r#"{"city":"Paris"}"#);
        assert_eq!(
            (tool_use_id.as_str(), name.as_str()),
            ("tooluse_abc", "get_weather")
        );
    }

    #[test]
    fn tool_use_input_may_be_an_object_or_missing() {
        assert_eq!(
            event(
                "toolUseEvent",
                r#"{"name":"n","toolUseId":"t","input":{"a":1},"stop":true}"#
            ),
            Ok(KiroEvent::ToolUse {
                tool_use_id: "t".into(),
                name: "n".into(),
                input: r#"{"a":1}"#.into(),
                stop: true
            })
        );
        assert_eq!(
            event(
                "toolUseEvent",
                r#"{"name":"n","toolUseId":"t","stop":true}"#
            ),
            Ok(KiroEvent::ToolUse {
                tool_use_id: "t".into(),
                name: "n".into(),
                input: String::new(),
                stop: true
            })
        );
        assert!(matches!(
            event("toolUseEvent", r#"{"name":"n","toolUseId":"t","input":""}"#),
            Ok(KiroEvent::ToolUse { stop: false, .. })
        ));
    }

    #[test]
    fn usage_events() {
        assert_eq!(
            event("contextUsageEvent", r#"{"contextUsagePercentage":1.5}"#),
            Ok(KiroEvent::ContextUsage(1.5))
        );
        assert_eq!(
            event(
                "meteringEvent",
                r#"{"unit":"credit","unitPlural":"credits","usage":0.0169543708291874}"#
            ),
            Ok(KiroEvent::Metering {
                usage: 0.0169543708291874,
                unit: Some("credit".into())
            })
        );
        assert_eq!(
            event(
                "metadataEvent",
                r#"{"tokenUsage":{"uncachedInputTokens":101,"outputTokens":23,"cacheReadInputTokens":300,"cacheWriteInputTokens":40},"stopReason":"end_turn"}"#
            ),
            Ok(KiroEvent::Metadata {
                input_tokens: Some(441),
                output_tokens: Some(23),
                stop_reason: Some("end_turn".into())
            })
        );
        assert_eq!(
            event("metadataEvent", r#"{"stopReason":"tool_use"}"#),
            Ok(KiroEvent::Metadata {
                input_tokens: None,
                output_tokens: None,
                stop_reason: Some("tool_use".into())
            })
        );
    }

    #[test]
    fn reasoning_events() {
        assert_eq!(
            event("reasoningContentEvent", r#"{"text":"hmm"}"#),
            Ok(KiroEvent::Reasoning {
                text: Some("hmm".into()),
                signature: None,
                redacted: None
            })
        );
        assert_eq!(
            event("reasoningContentEvent", r#"{"redactedContent":"xx"}"#),
            Ok(KiroEvent::Reasoning {
                text: None,
                signature: None,
                redacted: Some("xx".into())
            })
        );
    }

    #[test]
    fn exception_and_error_frames() {
        let ex = encode_exception(
            "ContentLengthExceededException",
            br#"{"message":"Response exceeded max length"}"#,
        );
        assert_eq!(
            decode(&frame_of(ex)),
            Ok(KiroEvent::Exception {
                kind: "ContentLengthExceededException".into(),
                message: "Response exceeded max length".into()
            })
        );
        assert_eq!(
            decode(&frame_of(encode_error("InternalServerException", "boom"))),
            Ok(KiroEvent::Error {
                code: "InternalServerException".into(),
                message: "boom".into()
            })
        );
        // Kind from `__type` when the header is missing; plain-text payloads are kept as text.
        let frame = Frame {
            headers: vec![Header {
                name: ":message-type".into(),
                value: HeaderValue::String("exception".into()),
            }],
            payload: Bytes::from_static(br#"{"__type":"ThrottlingException","message":"slow"}"#),
        };
        assert_eq!(
            decode(&frame),
            Ok(KiroEvent::Exception {
                kind: "ThrottlingException".into(),
                message: "slow".into()
            })
        );
        let frame = Frame {
            headers: vec![Header {
                name: ":message-type".into(),
                value: HeaderValue::String("error".into()),
            }],
            payload: Bytes::from("x".repeat(2000)),
        };
        let Ok(KiroEvent::Error { code, message }) = decode(&frame) else {
            panic!("expected an error event");
        };
        assert_eq!(code, "UnknownError");
        assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn plain_text_is_decoded_into_the_spare_buffer() {
        let frame =
            |payload: &str| frame_of(encode_event("assistantResponseEvent", payload.as_bytes()));
        let mut spare = String::with_capacity(64);
        spare.push_str("left over");
        let buffer = spare.as_ptr();
        let Ok(KiroEvent::AssistantText(text)) =
            decode_reusing(&frame(r#"{"content":"Hi"}"#), &mut spare)
        else {
            panic!("a text event");
        };
        assert_eq!((text.as_str(), text.as_ptr()), ("Hi", buffer));
        assert!(spare.is_empty(), "taken");
        // Text that needs unescaping goes through the parser, as with `decode`.
        let mut spare = text;
        assert_eq!(
            decode_reusing(&frame(r#"{"content":"a\nb"}"#), &mut spare),
            Ok(KiroEvent::AssistantText("a\nb".into()))
        );
    }

    #[test]
    fn unknown_and_malformed() {
        assert_eq!(
            event("followupPromptEvent", r#"{"whatever":1}"#),
            Ok(KiroEvent::Unknown("followupPromptEvent".into()))
        );
        assert!(matches!(
            event("contextUsageEvent", "not json"),
            Err(EventError::InvalidPayload { .. })
        ));
        assert!(matches!(
            event("contextUsageEvent", "{}"),
            Err(EventError::InvalidPayload { .. })
        ));
        // No :message-type means event; no :event-type is an error.
        let frame = Frame {
            headers: vec![Header {
                name: ":event-type".into(),
                value: HeaderValue::String("assistantResponseEvent".into()),
            }],
            payload: Bytes::from_static(br#"{"content":"a"}"#),
        };
        assert_eq!(decode(&frame), Ok(KiroEvent::AssistantText("a".into())));
        assert_eq!(decode(&Frame::default()), Err(EventError::MissingEventType));
    }
}
