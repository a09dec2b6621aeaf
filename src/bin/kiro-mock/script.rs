//! What the mock answers to an accepted chat request: the directive language and the answer
//! plan (frames and pauses). Pure: the server only replays the plan.
//!
//! Directives, written anywhere in the current user message text:
//!
//! | directive | effect |
//! |---|---|
//! | `[[mock:text <words>]]` | answer with `<words>` instead of the default text |
//! | `[[mock:tool <name> <json args>]]` | call the declared tool `<name>` (≥3 `toolUseEvent` fragments, the JSON split mid-string, the last with `stop:true`); an undeclared tool becomes the text `MOCK_UNDECLARED_TOOL: <name>` |
//! | `[[mock:thinking]]` | start with `<thinking>\n…</thinking>\n\n`, split at awkward points |
//! | `[[mock:fault <name>]]` | inject a fault (see `Fault`) |
//! | `[[mock:slow <ms>]]` | wait before the first byte (≤ 120 s) |
//! | `[[mock:events <n> <gap_ms>]]` | answer with `n` text events `gap_ms` apart (n ≤ 10 000) |
//! | `[[mock:echo]]` | answer with a JSON summary of the request (history length, tools, images…) |
//!
//! Without directives the answer is `MOCK_OK: <first 60 chars of the prompt>` (directives
//! stripped), or `MOCK_TOOL_RESULT: <first 60 chars of the tool results>` for a tool-result turn.
//! Like an obedient model, a message carrying the gateway's structured-output instruction
//! ("Reply with only a JSON value that matches this JSON Schema…") is answered with a JSON value
//! that satisfies the schema, unless a directive says what to answer.
//! A directive that does not parse turns the answer into `MOCK_BAD_DIRECTIVE: <why>`.

use std::ops::Range;
use std::time::Duration;

use kiro_edge::kiro::eventstream::{encode_error, encode_event, encode_exception};
use serde_json::{json, Value};

use crate::faults::Fault;
use crate::validate::{context_window, ChatSummary};

/// At most this many directives are honoured per message.
const MAX_DIRECTIVES: usize = 32;
/// Bounds on what a directive may ask for, so every answer ends in bounded time and memory.
const MAX_SLOW_MS: u64 = 120_000;
const MAX_EVENTS: u32 = 10_000;
const MAX_EVENTS_TOTAL_MS: u64 = 600_000;
/// How many characters of the prompt the default answer quotes.
const QUOTE_CHARS: usize = 60;
/// Credits the mock charges per answer (`meteringEvent.usage`).
pub const CREDITS_PER_ANSWER: f64 = 0.01;
/// How the gateway's structured-output instruction begins; the JSON Schema follows on the next
/// line (see `kiro_edge::kiro::normalize::response_schema_instruction`).
const SCHEMA_INSTRUCTION: &str = "Reply with only a JSON value that matches this JSON Schema";
/// Schemas nested deeper than this (or `$ref` cycles) end in `null`.
const MAX_SCHEMA_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq)]
pub enum Directive {
    Text(String),
    Tool { name: String, args: Value },
    Thinking,
    Fault(Fault),
    Slow(u64),
    Events { count: u32, gap_ms: u64 },
    Echo,
}

/// A directive found in the text: where it is, and what it says (or why it does not parse).
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub span: Range<usize>,
    pub directive: Result<Directive, String>,
}

const OPEN: &str = "[[mock:";
const CLOSE: &str = "]]";

/// Find the directives in `text`, in order.
pub fn parse_directives(text: &str) -> Vec<Found> {
    let mut found = Vec::new();
    let mut pos = 0;
    while found.len() < MAX_DIRECTIVES {
        let Some(offset) = text.get(pos..).and_then(|t| t.find(OPEN)) else {
            break;
        };
        let start = pos + offset;
        let (end, directive) = parse_one(text, start + OPEN.len());
        found.push(Found {
            span: start..end,
            directive,
        });
        pos = end;
    }
    found
}

/// `text` with every directive removed.
pub fn strip_directives(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for f in parse_directives(text) {
        out.push_str(text.get(pos..f.span.start).unwrap_or(""));
        pos = f.span.end;
    }
    out.push_str(text.get(pos..).unwrap_or(""));
    out
}

/// Parses one directive whose verb starts at `at`; returns the end of its span.
fn parse_one(text: &str, at: usize) -> (usize, Result<Directive, String>) {
    let rest = text.get(at..).unwrap_or("");
    let verb_len = rest
        .find(|c: char| c.is_whitespace() || c == ']')
        .unwrap_or(rest.len());
    let verb = rest.get(..verb_len).unwrap_or("");
    let args_at = at + verb_len;
    if verb == "tool" {
        return parse_tool(text, args_at);
    }
    let Some(close) = text.get(args_at..).and_then(|t| t.find(CLOSE)) else {
        return (text.len(), Err(format!("unterminated [[mock:{verb}")));
    };
    let end = args_at + close + CLOSE.len();
    let args = text.get(args_at..args_at + close).unwrap_or("").trim();
    (end, parse_simple(verb, args))
}

fn parse_simple(verb: &str, args: &str) -> Result<Directive, String> {
    let words: Vec<&str> = args.split_whitespace().collect();
    let no_args = |d: Directive| {
        if words.is_empty() {
            Ok(d)
        } else {
            Err(format!("{verb} takes no arguments"))
        }
    };
    match verb {
        "text" => Ok(Directive::Text(args.to_owned())),
        "thinking" => no_args(Directive::Thinking),
        "echo" => no_args(Directive::Echo),
        "fault" => match words.as_slice() {
            [name] => Fault::parse(name)
                .map(Directive::Fault)
                .ok_or_else(|| format!("unknown fault {name:?}")),
            _ => Err("fault takes one name".into()),
        },
        "slow" => match words.as_slice() {
            [ms] => parse_num(ms).map(|ms| Directive::Slow(ms.min(MAX_SLOW_MS))),
            _ => Err("slow takes <ms>".into()),
        },
        "events" => match words.as_slice() {
            [n, gap] => {
                let count = parse_num(n)?.min(u64::from(MAX_EVENTS)) as u32;
                let mut gap_ms = parse_num(gap)?;
                if count > 0 {
                    gap_ms = gap_ms.min(MAX_EVENTS_TOTAL_MS / u64::from(count));
                }
                Ok(Directive::Events { count, gap_ms })
            }
            _ => Err("events takes <n> <gap_ms>".into()),
        },
        other => Err(format!("unknown directive {other:?}")),
    }
}

fn parse_num(s: &str) -> Result<u64, String> {
    s.parse().map_err(|_| format!("{s:?} is not a number"))
}

/// `tool <name> <json>]]`: the JSON is read with a streaming parser so `]]` inside it is fine.
fn parse_tool(text: &str, at: usize) -> (usize, Result<Directive, String>) {
    let after = |i: usize| text.get(i..).unwrap_or("");
    let skip_ws = |i: usize| i + (after(i).len() - after(i).trim_start().len());
    let name_at = skip_ws(at);
    let name_len = after(name_at)
        .find(|c: char| c.is_whitespace() || c == ']')
        .unwrap_or(after(name_at).len());
    let name = after(name_at).get(..name_len).unwrap_or("").to_owned();
    let mut pos = skip_ws(name_at + name_len);
    let args = if after(pos).starts_with(CLOSE) {
        json!({})
    } else {
        let mut stream = serde_json::Deserializer::from_str(after(pos)).into_iter::<Value>();
        match stream.next() {
            Some(Ok(v)) => {
                pos += stream.byte_offset();
                v
            }
            Some(Err(e)) => return (close_after(text, pos), Err(format!("tool args: {e}"))),
            None => return (text.len(), Err("unterminated [[mock:tool".into())),
        }
    };
    pos = skip_ws(pos);
    if !after(pos).starts_with(CLOSE) {
        return (
            close_after(text, pos),
            Err("tool: expected ]] after the args".into()),
        );
    }
    let end = pos + CLOSE.len();
    if name.is_empty() {
        return (end, Err("tool needs a name".into()));
    }
    if !args.is_object() {
        return (end, Err("tool args must be a JSON object".into()));
    }
    (end, Ok(Directive::Tool { name, args }))
}

/// The end of the next `]]` at or after `pos` (or the end of the text).
fn close_after(text: &str, pos: usize) -> usize {
    text.get(pos..)
        .and_then(|t| t.find(CLOSE))
        .map_or(text.len(), |i| pos + i + CLOSE.len())
}

/// How the mock answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// Wait this long before the first byte.
    pub delay: Duration,
    pub kind: AnswerKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AnswerKind {
    /// A plain JSON error response.
    Error { status: u16, body: &'static str },
    /// Never answer.
    Hang,
    /// Send the 200 headers, then nothing.
    HangAfterHeaders,
    /// A 200 event-stream.
    Stream(StreamPlan),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamPlan {
    pub steps: Vec<Step>,
    /// Close the connection after the steps, without the chunked terminator.
    pub cut: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Send(Vec<u8>),
    Pause(Duration),
}

/// Knobs of the answer that come from the command line and the request log.
#[derive(Debug, Clone, Copy)]
pub struct Opts {
    /// Gap between events (zero with `--fast`).
    pub pace: Duration,
    /// The request's sequence number, which makes tool-use ids unique and reproducible.
    pub seq: u64,
}

/// The answer to a request: a queued fault wins over the message's directives.
pub fn answer(summary: &ChatSummary, queued: Option<Fault>, opts: &Opts) -> Answer {
    let found = parse_directives(&summary.content);
    let directives: Vec<&Directive> = found
        .iter()
        .filter_map(|f| f.directive.as_ref().ok())
        .collect();
    let delay = directives
        .iter()
        .find_map(|d| match d {
            Directive::Slow(ms) => Some(Duration::from_millis(*ms)),
            _ => None,
        })
        .unwrap_or_default();
    let fault = queued.or_else(|| {
        directives.iter().find_map(|d| match d {
            Directive::Fault(f) => Some(*f),
            _ => None,
        })
    });
    let fault = fault.unwrap_or(Fault::Ok);
    if let Some((status, body)) = fault.http_error() {
        return Answer {
            delay,
            kind: AnswerKind::Error { status, body },
        };
    }
    let kind = match fault {
        Fault::Hang => AnswerKind::Hang,
        Fault::HangAfterHeaders => AnswerKind::HangAfterHeaders,
        _ => AnswerKind::Stream(stream_plan(summary, &found, fault, opts)),
    };
    Answer { delay, kind }
}

/// One frame of the answer, and the pause that follows it.
struct Event {
    frame: Vec<u8>,
    gap: Duration,
}

fn stream_plan(summary: &ChatSummary, found: &[Found], fault: Fault, opts: &Opts) -> StreamPlan {
    let prompt = strip_directives(&summary.content);
    let prompt = prompt.trim();
    let mut text_events = Vec::new();
    let mut tool_events = Vec::new();

    if let Some(err) = found.iter().find_map(|f| f.directive.as_ref().err()) {
        push_text(
            &mut text_events,
            &format!("MOCK_BAD_DIRECTIVE: {err}"),
            opts.pace,
        );
    } else {
        let directives: Vec<&Directive> = found
            .iter()
            .filter_map(|f| f.directive.as_ref().ok())
            .collect();
        let has = |want: fn(&Directive) -> bool| directives.iter().any(|d| want(d));
        if has(|d| matches!(d, Directive::Thinking)) {
            for piece in thinking_pieces(prompt) {
                push_event(&mut text_events, text_frame(&piece), opts.pace);
            }
        }
        let words: Vec<&str> = directives
            .iter()
            .filter_map(|d| match d {
                Directive::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        let events = directives.iter().find_map(|d| match d {
            Directive::Events { count, gap_ms } => Some((*count, *gap_ms)),
            _ => None,
        });
        let has_tool = has(|d| matches!(d, Directive::Tool { .. }));
        if has(|d| matches!(d, Directive::Echo)) {
            push_text(&mut text_events, &echo(summary).to_string(), opts.pace);
        } else if let Some((count, gap_ms)) = events {
            let gap = Duration::from_millis(gap_ms);
            for i in 1..=count {
                push_event(&mut text_events, text_frame(&format!("tok{i} ")), gap);
            }
        } else if !words.is_empty() {
            push_text(&mut text_events, &words.join(" "), opts.pace);
        } else if !has_tool {
            let text =
                schema_answer(&summary.content).unwrap_or_else(|| default_text(summary, prompt));
            push_text(&mut text_events, &text, opts.pace);
        }
        let tools = directives.iter().filter_map(|d| match d {
            Directive::Tool { name, args } => Some((name, args)),
            _ => None,
        });
        for (index, (name, args)) in tools.enumerate() {
            let declared = summary.tools.iter().find(|t| t.eq_ignore_ascii_case(name));
            match declared {
                Some(declared) => {
                    let id = format!("tooluse_mock{:08}n{index}", opts.seq);
                    for frame in tool_frames(declared, &id, args) {
                        push_event(&mut tool_events, frame, opts.pace);
                    }
                }
                None => push_text(
                    &mut text_events,
                    &format!("MOCK_UNDECLARED_TOOL: {name}"),
                    opts.pace,
                ),
            }
        }
    }

    let mut events = text_events;
    events.append(&mut tool_events);
    let mut cut = false;
    match fault {
        Fault::Cut => {
            events.truncate(events.len().div_ceil(2));
            cut = true;
        }
        Fault::Garbage => {
            let at = events.len().min(1);
            events.insert(
                at,
                Event {
                    frame: corrupt(text_frame("GARBAGE")),
                    gap: opts.pace,
                },
            );
        }
        Fault::Exception => events.push(Event {
            frame: encode_exception(
                "ContentLengthExceededException",
                br#"{"message":"Response exceeded max length"}"#,
            ),
            gap: Duration::ZERO,
        }),
        Fault::ErrorFrame => events.push(Event {
            frame: encode_error(
                "InternalServerException",
                "Encountered an unexpected error when processing the request, please try again.",
            ),
            gap: Duration::ZERO,
        }),
        _ => {}
    }
    if matches!(fault, Fault::Ok | Fault::Garbage) {
        let usage = json!({"contextUsagePercentage": context_usage(summary)});
        push_event(
            &mut events,
            encode_event("contextUsageEvent", usage.to_string().as_bytes()),
            opts.pace,
        );
        let metering =
            json!({"unit": "credit", "unitPlural": "credits", "usage": CREDITS_PER_ANSWER});
        push_event(
            &mut events,
            encode_event("meteringEvent", metering.to_string().as_bytes()),
            Duration::ZERO,
        );
    }

    let mut steps = Vec::with_capacity(events.len() * 2);
    let last = events.len().saturating_sub(1);
    for (i, event) in events.into_iter().enumerate() {
        steps.push(Step::Send(event.frame));
        if i < last && !event.gap.is_zero() {
            steps.push(Step::Pause(event.gap));
        }
    }
    StreamPlan { steps, cut }
}

fn push_event(events: &mut Vec<Event>, frame: Vec<u8>, gap: Duration) {
    events.push(Event { frame, gap });
}

fn push_text(events: &mut Vec<Event>, text: &str, pace: Duration) {
    for chunk in split_text(text) {
        push_event(events, text_frame(chunk), pace);
    }
}

/// The first frame of a stream under `--stamp`: how long the mock took from the request's
/// head to its answer's, as text, so that a load generator can take the mock's own time out
/// of each request's time to first byte (`[[mock-service-ns:N]]`).
pub fn stamp_frame(service: Duration) -> Vec<u8> {
    text_frame(&format!("[[mock-service-ns:{}]]", service.as_nanos()))
}

fn text_frame(text: &str) -> Vec<u8> {
    encode_event(
        "assistantResponseEvent",
        json!({ "content": text }).to_string().as_bytes(),
    )
}

fn tool_frames(name: &str, id: &str, args: &Value) -> Vec<Vec<u8>> {
    let input = args.to_string();
    let pieces = split_json(&input);
    let last = pieces.len().saturating_sub(1);
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, piece)| {
            let mut payload = json!({"name": name, "toolUseId": id, "input": piece});
            if i == last {
                payload["stop"] = json!(true);
            }
            encode_event("toolUseEvent", payload.to_string().as_bytes())
        })
        .collect()
}

/// The default answer: quotes the prompt, or the tool results of a tool-result turn.
fn default_text(summary: &ChatSummary, prompt: &str) -> String {
    if summary.tool_result_texts.is_empty() {
        format!("MOCK_OK: {}", first_chars(prompt, QUOTE_CHARS))
    } else {
        let results = summary.tool_result_texts.join("\n");
        format!("MOCK_TOOL_RESULT: {}", first_chars(&results, QUOTE_CHARS))
    }
}

/// The answer to a structured-output request: a JSON value satisfying the schema that follows
/// the instruction, or `None` when the message has no such instruction.
pub fn schema_answer(content: &str) -> Option<String> {
    let after = content.get(content.rfind(SCHEMA_INSTRUCTION)?..)?;
    let schema_text = after.get(after.find('\n')? + 1..)?;
    let schema = serde_json::Deserializer::from_str(schema_text)
        .into_iter::<Value>()
        .next()?
        .ok()?;
    Some(schema_example(&schema, &schema, 0).to_string())
}

/// A value valid against `schema`: strings `"mock"`, integers 1, numbers 1.0, booleans true,
/// arrays of one item, objects with every property (required or not), the first `enum` value.
/// Type names are matched case-insensitively (Gemini's schemas say `OBJECT`); local `$ref`s
/// (`#/$defs/…`, `#/definitions/…`) are followed.
fn schema_example(schema: &Value, root: &Value, depth: usize) -> Value {
    let Value::Object(node) = schema else {
        return json!("mock");
    };
    if depth > MAX_SCHEMA_DEPTH {
        return Value::Null;
    }
    if let Some(value) = node.get("const") {
        return value.clone();
    }
    if let Some(first) = node
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    if let Some(target) = node
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#"))
        .and_then(|pointer| root.pointer(pointer))
    {
        return schema_example(target, root, depth + 1);
    }
    for combinator in ["anyOf", "oneOf", "allOf"] {
        if let Some(first) = node
            .get(combinator)
            .and_then(Value::as_array)
            .and_then(|s| s.first())
        {
            return schema_example(first, root, depth + 1);
        }
    }
    let type_name = match node.get("type") {
        Some(Value::String(name)) => Some(name.to_ascii_lowercase()),
        // `["string","null"]`: the first non-null type.
        Some(Value::Array(names)) => names
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_ascii_lowercase)
            .find(|name| name != "null"),
        _ => None,
    };
    let type_name = type_name.unwrap_or_else(|| {
        if node.contains_key("properties") {
            "object".into()
        } else if node.contains_key("items") {
            "array".into()
        } else {
            "string".into()
        }
    });
    match type_name.as_str() {
        "object" => {
            let mut object = serde_json::Map::new();
            if let Some(Value::Object(properties)) = node.get("properties") {
                for (name, property) in properties {
                    object.insert(name.clone(), schema_example(property, root, depth + 1));
                }
            }
            Value::Object(object)
        }
        "array" => {
            let item = match node.get("items").or_else(|| node.get("prefixItems")) {
                Some(Value::Array(items)) => items.first().cloned().unwrap_or(json!({})),
                Some(items) => items.clone(),
                None => json!({}),
            };
            json!([schema_example(&item, root, depth + 1)])
        }
        "integer" => json!(1),
        "number" => json!(1.0),
        "boolean" => json!(true),
        "null" => Value::Null,
        _ => json!("mock"),
    }
}

fn echo(summary: &ChatSummary) -> Value {
    json!({
        "history_len": summary.history_len,
        "tool_count": summary.tools.len(),
        "tools": summary.tools,
        "image_count": summary.image_count,
        "tool_result_count": summary.tool_result_texts.len(),
        "model_id": summary.model_id,
        "conversation_id": summary.conversation_id,
        "has_profile_arn": summary.has_profile_arn,
        "body_len": summary.body_len,
    })
}

/// A deterministic usage: about one token per four body bytes, as a percentage of the window.
fn context_usage(summary: &ChatSummary) -> f64 {
    let tokens = summary.body_len as f64 / 4.0;
    let pct = tokens * 100.0 / context_window(&summary.model_id) as f64;
    (pct * 10_000.0).round() / 10_000.0
}

fn first_chars(s: &str, n: usize) -> &str {
    s.char_indices().nth(n).map_or(s, |(i, _)| &s[..i])
}

/// Text split into several events of a few characters each (at most ~9 events, on char
/// boundaries).
pub fn split_text(text: &str) -> Vec<&str> {
    let chars = text.chars().count();
    let size = (chars / 8 + 1).max(6);
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let cut = rest.char_indices().nth(size).map_or(rest.len(), |(i, _)| i);
        let (head, tail) = rest.split_at(cut);
        out.push(head);
        rest = tail;
    }
    if out.is_empty() {
        out.push("");
    }
    out
}

/// `<thinking>…</thinking>\n\n` cut inside both tags and between the two closing newlines,
/// where a careless splitter breaks.
fn thinking_pieces(prompt: &str) -> Vec<String> {
    vec![
        "<thin".to_owned(),
        "king>\nThe user wrote: ".to_owned(),
        format!(
            "{}. Reasoning about it step by step.</thi",
            first_chars(prompt, QUOTE_CHARS)
        ),
        "nking>\n".to_owned(),
        "\n".to_owned(),
    ]
}

/// Tool input JSON in at least three fragments, the first cut inside the first string; long
/// inputs come in fragments of about 32 bytes, as Kiro streams a big `Write`.
pub fn split_json(input: &str) -> Vec<&str> {
    const PIECE: usize = 32;
    let boundary = |mut i: usize| {
        i = i.min(input.len());
        while !input.is_char_boundary(i) {
            i += 1;
        }
        i
    };
    let first = boundary(input.find('"').map_or(1, |q| q + 2));
    let rest = input.len() - first;
    let count = (rest / PIECE).max(2);
    let mut pieces = vec![&input[..first]];
    let mut start = first;
    for k in 1..count {
        let end = boundary(first + rest * k / count).max(start);
        pieces.push(&input[start..end]);
        start = end;
    }
    pieces.push(&input[start..]);
    pieces
}

/// A frame whose message CRC no longer matches: one payload byte flipped.
fn corrupt(mut frame: Vec<u8>) -> Vec<u8> {
    // The last four bytes are the CRC; the byte before them is payload.
    if let Some(i) = frame.len().checked_sub(5) {
        if let Some(b) = frame.get_mut(i) {
            *b ^= 0x20;
        }
    }
    frame
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiro_edge::kiro::eventstream::Decoder;

    fn summary(content: &str) -> ChatSummary {
        ChatSummary {
            model_id: "claude-sonnet-4.5".into(),
            conversation_id: "conv-1".into(),
            content: content.into(),
            tools: vec!["get_weather".into()],
            body_len: 4000,
            has_profile_arn: true,
            ..ChatSummary::default()
        }
    }

    const OPTS: Opts = Opts {
        pace: Duration::from_millis(20),
        seq: 7,
    };

    /// Decodes a plan's frames into (message type, event type, payload JSON) and counts errors.
    fn decode(plan: &StreamPlan) -> (Vec<(String, String, Value)>, usize) {
        let mut decoder = Decoder::new();
        for step in &plan.steps {
            if let Step::Send(bytes) = step {
                decoder.feed(bytes).unwrap();
            }
        }
        let mut frames = Vec::new();
        let mut errors = 0;
        loop {
            match decoder.next_frame() {
                Ok(Some(f)) => {
                    let kind = f.header_str(":message-type").unwrap_or("event").to_owned();
                    let event = f
                        .header_str(":event-type")
                        .or_else(|| f.header_str(":exception-type"))
                        .or_else(|| f.header_str(":error-code"))
                        .unwrap_or("")
                        .to_owned();
                    let payload = serde_json::from_slice(&f.payload).unwrap_or(Value::Null);
                    frames.push((kind, event, payload));
                }
                Ok(None) => break,
                Err(e) if !e.is_terminal() => errors += 1,
                Err(e) => panic!("terminal decode error {e}"),
            }
        }
        (frames, errors)
    }

    fn stream(content: &str) -> StreamPlan {
        match answer(&summary(content), None, &OPTS).kind {
            AnswerKind::Stream(plan) => plan,
            other => panic!("expected a stream, got {other:?}"),
        }
    }

    fn text_of(frames: &[(String, String, Value)]) -> String {
        frames
            .iter()
            .filter(|(_, e, _)| e == "assistantResponseEvent")
            .map(|(_, _, p)| p["content"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn the_stamp_is_a_text_event_with_the_nanoseconds() {
        let frame = stamp_frame(Duration::from_micros(1500));
        let mut decoder = kiro_edge::kiro::eventstream::Decoder::new();
        decoder.feed(&frame).unwrap();
        let frame = decoder.next_frame().unwrap().unwrap();
        assert_eq!(
            frame.header_str(":event-type"),
            Some("assistantResponseEvent")
        );
        let payload: Value = serde_json::from_slice(&frame.payload).unwrap();
        assert_eq!(payload["content"], "[[mock-service-ns:1500000]]");
    }

    #[test]
    fn parses_each_directive() {
        let text = "hi [[mock:text hello there]] [[mock:thinking]] [[mock:fault 429]] \
                    [[mock:slow 250]] [[mock:events 5 10]] [[mock:echo]] \
                    [[mock:tool get_weather {\"city\": \"Paris ]] x\"}]] bye";
        let got: Vec<Directive> = parse_directives(text)
            .into_iter()
            .map(|f| f.directive.unwrap())
            .collect();
        assert_eq!(
            got,
            vec![
                Directive::Text("hello there".into()),
                Directive::Thinking,
                Directive::Fault(Fault::Throttled),
                Directive::Slow(250),
                Directive::Events {
                    count: 5,
                    gap_ms: 10
                },
                Directive::Echo,
                Directive::Tool {
                    name: "get_weather".into(),
                    args: json!({"city": "Paris ]] x"})
                },
            ]
        );
        assert_eq!(
            strip_directives(text)
                .split_whitespace()
                .collect::<Vec<_>>(),
            ["hi", "bye"]
        );
    }

    #[test]
    fn bad_directives_are_reported_not_panicked_on() {
        for (text, needle) in [
            ("[[mock:fault nope]]", "unknown fault"),
            ("[[mock:slow soon]]", "not a number"),
            ("[[mock:bogus]]", "unknown directive"),
            ("[[mock:text never closed", "unterminated"),
            ("[[mock:tool t {\"a\":]]", "tool args"),
            ("[[mock:tool t [1]]]", "object"),
            ("[[mock:tool t {} extra]]", "expected ]]"),
            ("[[mock:echo please]]", "no arguments"),
        ] {
            let found = parse_directives(text);
            let err = found[0].directive.clone().unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
        let plan = stream("[[mock:fault nope]]");
        assert!(text_of(&decode(&plan).0).starts_with("MOCK_BAD_DIRECTIVE: unknown fault"));
    }

    #[test]
    fn directive_bounds_are_clamped() {
        let found = parse_directives("[[mock:slow 999999999]] [[mock:events 99999999 1000]]");
        assert_eq!(found[0].directive, Ok(Directive::Slow(MAX_SLOW_MS)));
        assert_eq!(
            found[1].directive,
            Ok(Directive::Events {
                count: MAX_EVENTS,
                gap_ms: MAX_EVENTS_TOTAL_MS / u64::from(MAX_EVENTS)
            })
        );
        let many = "[[mock:thinking]]".repeat(100);
        assert_eq!(parse_directives(&many).len(), MAX_DIRECTIVES);
    }

    #[test]
    fn default_answer_quotes_the_prompt_and_ends_with_usage() {
        let prompt = "Tell me a story about a lighthouse keeper who collects seashells and sings";
        let plan = stream(prompt);
        assert!(!plan.cut);
        let (frames, errors) = decode(&plan);
        assert_eq!(errors, 0);
        assert_eq!(text_of(&frames), format!("MOCK_OK: {}", &prompt[..60]));
        assert!(
            frames.len() >= 5,
            "text should be split into several events"
        );
        let n = frames.len();
        assert_eq!(frames[n - 2].1, "contextUsageEvent");
        // 4000 bytes / 4 = 1000 tokens of a 200k window.
        assert_eq!(frames[n - 2].2["contextUsagePercentage"], json!(0.5));
        assert_eq!(frames[n - 1].1, "meteringEvent");
        assert!(plan.steps.contains(&Step::Pause(OPTS.pace)));
    }

    #[test]
    fn tool_result_turns_quote_the_results() {
        let mut s = summary("");
        s.tool_result_texts = vec!["18°C, cloudy".into()];
        let AnswerKind::Stream(plan) = answer(&s, None, &OPTS).kind else {
            panic!()
        };
        assert_eq!(text_of(&decode(&plan).0), "MOCK_TOOL_RESULT: 18°C, cloudy");
    }

    #[test]
    fn tool_directive_streams_fragments_of_the_declared_tool() {
        let plan = stream(r#"weather? [[mock:tool GET_WEATHER {"city":"Paris","days":3}]]"#);
        let (frames, errors) = decode(&plan);
        assert_eq!(errors, 0);
        let tools: Vec<&Value> = frames
            .iter()
            .filter(|(_, e, _)| e == "toolUseEvent")
            .map(|(_, _, p)| p)
            .collect();
        assert!(tools.len() >= 3);
        let input: String = tools.iter().map(|p| p["input"].as_str().unwrap()).collect();
        assert_eq!(
            serde_json::from_str::<Value>(&input).unwrap(),
            json!({"city": "Paris", "days": 3})
        );
        assert!(tools.iter().all(|p| p["name"] == "get_weather"));
        assert!(tools
            .iter()
            .all(|p| p["toolUseId"] == "tooluse_mock00000007n0"));
        assert_eq!(tools.last().unwrap()["stop"], json!(true));
        assert!(tools[..tools.len() - 1]
            .iter()
            .all(|p| p.get("stop").is_none()));
        // No default text with a tool call.
        assert_eq!(text_of(&frames), "");
    }

    #[test]
    fn undeclared_tools_are_not_called() {
        let (frames, _) = decode(&stream("[[mock:tool rm_rf {}]]"));
        assert!(frames.iter().all(|(_, e, _)| e != "toolUseEvent"));
        assert_eq!(text_of(&frames), "MOCK_UNDECLARED_TOOL: rm_rf");
    }

    #[test]
    fn thinking_is_split_at_awkward_points() {
        let plan = stream("why? [[mock:thinking]] [[mock:text Because.]]");
        let (frames, _) = decode(&plan);
        let pieces: Vec<String> = frames
            .iter()
            .filter(|(_, e, _)| e == "assistantResponseEvent")
            .map(|(_, _, p)| p["content"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(pieces[0], "<thin");
        assert!(pieces.iter().any(|p| p.ends_with("</thi")));
        assert!(pieces.contains(&"nking>\n".to_owned()));
        let text = pieces.concat();
        assert!(text.starts_with("<thinking>\nThe user wrote: why?"));
        assert!(text.ends_with("</thinking>\n\nBecause."));
    }

    #[test]
    fn echo_answers_with_the_request_summary() {
        let (frames, _) = decode(&stream("[[mock:echo]]"));
        let echoed: Value = serde_json::from_str(&text_of(&frames)).unwrap();
        assert_eq!(echoed["tool_count"], json!(1));
        assert_eq!(echoed["history_len"], json!(0));
        assert_eq!(echoed["model_id"], json!("claude-sonnet-4.5"));
    }

    #[test]
    fn events_directive_paces_n_events() {
        let plan = stream("[[mock:events 4 15]]");
        let (frames, _) = decode(&plan);
        assert_eq!(text_of(&frames), "tok1 tok2 tok3 tok4 ");
        let pauses = plan
            .steps
            .iter()
            .filter(|s| **s == Step::Pause(Duration::from_millis(15)))
            .count();
        assert_eq!(
            pauses, 4,
            "three between the events, one before the usage event"
        );
    }

    #[test]
    fn faults_shape_the_answer() {
        let s = summary("hello [[mock:slow 30]]");
        let a = answer(&s, Some(Fault::Quota), &OPTS);
        assert_eq!(a.delay, Duration::from_millis(30));
        assert!(matches!(a.kind, AnswerKind::Error { status: 402, .. }));
        // A queued fault (even `ok`) wins over the directive.
        let s = summary("[[mock:fault 500]]");
        assert!(matches!(
            answer(&s, Some(Fault::Ok), &OPTS).kind,
            AnswerKind::Stream(_)
        ));
        assert!(matches!(
            answer(&s, None, &OPTS).kind,
            AnswerKind::Error { status: 500, .. }
        ));
        assert_eq!(
            answer(&summary("x"), Some(Fault::Hang), &OPTS).kind,
            AnswerKind::Hang
        );

        let plan = stream("a longer prompt for the cut [[mock:fault cut]]");
        assert!(plan.cut);
        let (frames, _) = decode(&plan);
        assert!(frames.iter().all(|(_, e, _)| e == "assistantResponseEvent"));

        let (frames, errors) = decode(&stream("hello [[mock:fault garbage]]"));
        assert_eq!(errors, 1, "one corrupted frame");
        assert_eq!(text_of(&frames), "MOCK_OK: hello");
        assert_eq!(frames.last().unwrap().1, "meteringEvent");

        let (frames, _) = decode(&stream("[[mock:fault exception]]"));
        let last = frames.last().unwrap();
        assert_eq!(
            (last.0.as_str(), last.1.as_str()),
            ("exception", "ContentLengthExceededException")
        );

        let (frames, _) = decode(&stream("[[mock:fault error-frame]]"));
        let last = frames.last().unwrap();
        assert_eq!(
            (last.0.as_str(), last.1.as_str()),
            ("error", "InternalServerException")
        );
    }

    #[test]
    fn structured_output_instructions_get_matching_json() {
        use kiro_edge::kiro::normalize::response_schema_instruction;
        // Gemini CLI's routing call, upper-case types and all.
        let routing = json!({
            "type": "OBJECT",
            "properties": {
                "complexity_reasoning": {"type": "STRING"},
                "complexity_score": {"type": "INTEGER"}
            },
            "required": ["complexity_reasoning", "complexity_score"]
        });
        let content = format!(
            "<session_context>x</session_context>\n\nDecide.\n\n{}",
            response_schema_instruction(&routing)
        );
        let answer = text_of(&decode(&stream(&content)).0);
        assert_eq!(
            serde_json::from_str::<Value>(&answer).unwrap(),
            json!({"complexity_reasoning": "mock", "complexity_score": 1})
        );

        let every_kind = json!({
            "type": "object",
            "properties": {
                "s": {"type": "string"},
                "n": {"type": "number"},
                "b": {"type": "boolean"},
                "e": {"type": "string", "enum": ["first", "second"]},
                "maybe": {"type": ["null", "integer"]},
                "list": {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "integer"}}}},
                "nested": {"properties": {"deep": {"anyOf": [{"type": "boolean"}, {"type": "string"}]}}},
                "node": {"$ref": "#/$defs/Node"},
                "fixed": {"const": 42},
                "free": {}
            },
            "required": ["s"],
            "$defs": {"Node": {"type": "object", "properties": {"name": {"type": "string"}}}}
        });
        let answer = schema_answer(&response_schema_instruction(&every_kind)).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&answer).unwrap(),
            json!({
                "s": "mock", "n": 1.0, "b": true, "e": "first", "maybe": 1,
                "list": [{"k": 1}], "nested": {"deep": true}, "node": {"name": "mock"},
                "fixed": 42, "free": "mock"
            })
        );

        // A self-referencing schema ends instead of recursing forever.
        let cyclic = json!({"type": "object", "properties": {"next": {"$ref": "#"}}});
        assert!(schema_answer(&response_schema_instruction(&cyclic)).is_some());
        // No instruction, or an unreadable schema: the usual answers.
        assert_eq!(schema_answer("plain prompt"), None);
        assert_eq!(
            schema_answer(&format!("{SCHEMA_INSTRUCTION}: no fences.\n{{broken")),
            None
        );
        // A text directive overrides the instruction.
        let content = format!(
            "[[mock:text not json]] {}",
            response_schema_instruction(&routing)
        );
        assert_eq!(text_of(&decode(&stream(&content)).0), "not json");
    }

    #[test]
    fn splitting_helpers_respect_char_boundaries() {
        let text = "héllo wörld, ünïcödé everywhere ✓✓✓";
        let pieces = split_text(text);
        assert!(pieces.len() > 1);
        assert_eq!(pieces.concat(), text);
        for input in [r#"{"city":"Paris"}"#, "{}", r#"{"é":"ü"}"#] {
            let parts = split_json(input);
            assert_eq!(parts.len(), 3);
            assert_eq!(parts.concat(), input);
        }
        assert_eq!(split_json(r#"{"city":"Paris"}"#)[0], r#"{"c"#);
        let long = json!({"path": "a".repeat(300)}).to_string();
        let parts = split_json(&long);
        assert!(parts.len() >= 9, "{}", parts.len());
        assert_eq!(parts.concat(), long);
        assert_eq!(first_chars("ab✓d", 3), "ab✓");
    }
}
