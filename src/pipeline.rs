//! One request's translation, both ways, with no I/O and no Pingora types: client JSON → Kiro
//! request bytes ([`prepare`]), and Kiro event-stream bytes → client bytes
//! ([`ResponseTranslator`]). The proxy hooks only move bytes through these.

use crate::chat::{
    estimate, ErrorKind, GatewayError, ResponseMeta, StopReason, StreamEvent, Usage,
};
use crate::chat::{Block, ChatRequest, Message, Role};
use crate::dialect::openai_responses::{
    self,
    store::{self, ResponseStore, StoredResponse},
};
use crate::dialect::{Dialect, RequestHints, ResponseWriter};
use crate::kiro::events;
use crate::kiro::eventstream::{DecodeError, Decoder};
use crate::kiro::models::{self, ModelInfo, ModelSettings};
use crate::kiro::request::{self, BuildOptions, KiroRequest};
use crate::kiro::response::{AssemblerConfig, ResponseAssembler};
use bytes::Bytes;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Translation settings that come from the configuration.
#[derive(Debug, Clone, Default)]
pub struct TranslateSettings {
    pub models: ModelSettings,
    pub payload_budget: usize,
    pub max_image_bytes: usize,
}

/// A client request, converted and ready to send to any account.
#[derive(Debug)]
pub struct PreparedRequest {
    pub dialect: Dialect,
    pub stream: bool,
    pub model: ModelInfo,
    pub kiro: KiroRequest,
    pub meta: ResponseMeta,
    /// Key for account stickiness, when the client identified its session.
    pub session_key: Option<String>,
    /// The canonical conversation (system, messages) to store with the response, when the
    /// client asked for it to be stored (OpenAI Responses `store`).
    pub conversation: Option<(Vec<String>, Vec<Message>)>,
}

/// The key that pins a conversation to one account: what the client calls its session, else
/// a fingerprint of how the conversation began (its system prompt and first user turn), which
/// stays the same on every later turn of that conversation.
///
/// CRC-32 rather than a cryptographic hash: the key only spreads conversations over accounts,
/// a collision merely puts two on the same one, and clients that send no session id (Gemini
/// CLI, most Chat Completions clients) repeat a system prompt of tens of KB on every turn,
/// which SHA-256 took a quarter of `prepare` to hash.
fn session_key(req: &ChatRequest) -> Option<String> {
    if let Some(key) = req
        .session
        .session_key
        .as_ref()
        .or(req.session.conversation_id.as_ref())
    {
        return Some(key.clone());
    }
    let first_user = req.messages.iter().find(|m| m.role == Role::User)?;
    let mut system = crc32fast::Hasher::new();
    for s in &req.system {
        system.update(s.as_bytes());
        system.update(&[0]);
    }
    let mut turn = crc32fast::Hasher::new();
    for block in &first_user.content {
        if let Block::Text(t) = block {
            turn.update(t.as_bytes());
            turn.update(&[0]);
        }
    }
    Some(format!(
        "turns-{:08x}{:08x}",
        system.finalize(),
        turn.finalize()
    ))
}

/// Puts a stored conversation in front of a request that continues it. System prompts the
/// new request repeats are not duplicated.
fn continue_conversation(req: &mut ChatRequest, previous: &StoredResponse) {
    let mut system = previous.system.clone();
    for s in req.system.drain(..) {
        if !system.contains(&s) {
            system.push(s);
        }
    }
    req.system = system;
    let mut messages = previous.messages.clone();
    messages.append(&mut req.messages);
    req.messages = messages;
}

impl PreparedRequest {
    /// The conversation to store once the response is complete: the request's messages and
    /// the assistant turn of the finished `document`.
    pub fn stored_response(&self, document: serde_json::Value) -> Option<(String, StoredResponse)> {
        let (system, messages) = self.conversation.as_ref()?;
        let id = document.get("id")?.as_str()?.to_string();
        let mut messages = messages.clone();
        messages.extend(store::output_message(&document));
        Some((
            id,
            StoredResponse {
                document,
                system: system.clone(),
                messages,
            },
        ))
    }
}

/// Parses the client's body and builds the Kiro request. `responses` is where OpenAI
/// Responses conversations are kept: a `previous_response_id` continues one.
pub fn prepare(
    dialect: Dialect,
    body: &[u8],
    hints: &RequestHints,
    settings: &TranslateSettings,
    responses: &ResponseStore,
) -> Result<PreparedRequest, GatewayError> {
    let mut req = dialect.parse_request(body, hints)?;
    let mut keep_conversation = false;
    if dialect == Dialect::OpenAiResponses {
        if let Some(id) = store::previous_response_id(req.echo.as_ref()) {
            let previous = responses
                .get(id)
                .ok_or_else(|| openai_responses::error::response_not_found(id))?;
            continue_conversation(&mut req, &previous);
        }
        keep_conversation = store::wants_store(req.echo.as_ref());
    }
    let model = models::resolve(&req.model, &settings.models)?;
    let mut options = BuildOptions::new(&model);
    let session_key = session_key(&req);
    // One conversation upstream per client session, so Kiro sees a stable conversationId
    // (non-UUID keys are hashed into one by the builder).
    options.conversation_id = req
        .session
        .conversation_id
        .as_deref()
        .or(session_key.as_deref());
    options.payload_budget = settings.payload_budget;
    options.max_image_bytes = settings.max_image_bytes;
    let input_tokens = estimate::request_tokens(&req);
    let kiro = request::build(&req, &options)?;
    let meta = ResponseMeta {
        id: uuid::Uuid::new_v4().simple().to_string(),
        model: req.model.clone(),
        input_tokens,
        created: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        thinking: kiro.thinking,
        echo: req.echo.take().map(Arc::new),
        shared_echo: req.shared_echo.take(),
    };
    let conversation = keep_conversation.then(|| (req.system.clone(), req.messages.clone()));
    Ok(PreparedRequest {
        dialect,
        stream: req.stream,
        conversation,
        session_key,
        model,
        kiro,
        meta,
    })
}

impl PreparedRequest {
    /// A fresh translator for this request's response.
    pub fn translator(&self) -> ResponseTranslator {
        let assembler = ResponseAssembler::new(AssemblerConfig {
            thinking: self.meta.thinking,
            tool_names: self.kiro.tool_names.clone(),
            context_window: self.model.context_window,
            input_tokens_estimate: self.meta.input_tokens,
        });
        let writer = self.dialect.response_writer(self.stream, self.meta.clone());
        ResponseTranslator::new(assembler, writer, self.stream)
    }
}

/// Output buffers up to this size are kept for the stream's next chunk; a larger one (a big
/// tool call's arguments) is let go.
const MAX_KEPT_OUTPUT: usize = 16 * 1024;

/// A written text delta's buffer up to this size is kept for the next one.
const MAX_KEPT_TEXT: usize = 4 * 1024;

/// Kiro event-stream bytes in, client bytes out, chunk by chunk.
pub struct ResponseTranslator {
    decoder: Decoder,
    assembler: ResponseAssembler,
    writer: Box<dyn ResponseWriter>,
    stream: bool,
    events: Vec<StreamEvent>,
    /// The client bytes being written for the current chunk; kept between chunks.
    out: Vec<u8>,
    /// The last text delta's buffer, once written: the next text event is decoded into it.
    spare_text: String,
    started: bool,
    skipped_frames: u32,
    outcome: Option<Outcome>,
}

/// How a translated response ended, for logs and metrics.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Finished {
        stop_reason: StopReason,
        usage: Usage,
    },
    Failed(ErrorKind),
}

impl ResponseTranslator {
    fn new(assembler: ResponseAssembler, writer: Box<dyn ResponseWriter>, stream: bool) -> Self {
        ResponseTranslator {
            decoder: Decoder::new(),
            assembler,
            writer,
            stream,
            events: Vec::with_capacity(16),
            out: Vec::new(),
            spare_text: String::new(),
            started: false,
            skipped_frames: 0,
            outcome: None,
        }
    }

    /// The client response's `content-type`.
    pub fn content_type(&self) -> &'static str {
        self.writer.content_type()
    }

    /// Frames the upstream sent that could not be read and were skipped.
    pub fn skipped_frames(&self) -> u32 {
        self.skipped_frames
    }

    /// Translates one upstream chunk.
    pub fn push(&mut self, chunk: Bytes) -> Bytes {
        self.emit(|t, out| {
            t.ensure_started(out);
            if let Err(e) = t.decoder.feed_bytes(chunk) {
                t.fail_undecodable(&e);
            }
            while !t.assembler.is_done() {
                match t.decoder.next_frame() {
                    Ok(Some(frame)) => {
                        match events::decode_reusing(&frame, &mut t.spare_text) {
                            Ok(event) => t.assembler.push(event, &mut t.events),
                            Err(e) => {
                                t.skipped_frames += 1;
                                log::warn!("skipping an unreadable Kiro event: {e}");
                            }
                        }
                        t.decoder.recycle(frame);
                    }
                    Ok(None) => break,
                    Err(e) if e.is_terminal() => t.fail_undecodable(&e),
                    Err(e) => {
                        t.skipped_frames += 1;
                        log::warn!("skipping a corrupt Kiro frame: {e}");
                    }
                }
            }
            t.drain(out);
        })
    }

    /// Runs `write` on the reused output buffer and returns what it wrote. One exact-size
    /// allocation per chunk: a fresh `Vec` per chunk would cost two (the `Vec`, then the
    /// shared header `Bytes` needs for a `Vec` with spare capacity), and a few hundred
    /// bytes are quicker copied than allocated.
    fn emit(&mut self, write: impl FnOnce(&mut Self, &mut Vec<u8>)) -> Bytes {
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        write(self, &mut out);
        let bytes = Bytes::copy_from_slice(&out);
        if out.capacity() <= MAX_KEPT_OUTPUT {
            self.out = out;
        }
        bytes
    }

    fn fail_undecodable(&mut self, e: &DecodeError) {
        log::warn!("giving up on the Kiro stream: {e}");
        self.assembler.fail(
            GatewayError::new(
                ErrorKind::BadGateway,
                "Kiro sent a stream that cannot be decoded; the answer is incomplete",
            ),
            &mut self.events,
        );
    }

    /// The upstream ended normally.
    pub fn finish(&mut self) -> Bytes {
        self.emit(|t, out| {
            t.ensure_started(out);
            if let Err(e) = t.decoder.finish() {
                log::warn!("Kiro stream ended badly: {e}");
            }
            t.assembler.finish(&mut t.events);
            t.drain(out);
        })
    }

    /// Something for a streaming client to hear while the upstream is silent: the dialect's
    /// keep-alive (starting the stream first if need be). Nothing for a non-streaming client or
    /// a finished stream.
    pub fn keepalive(&mut self) -> Bytes {
        if !self.stream || self.assembler.is_done() {
            return Bytes::new();
        }
        self.emit(|t, out| {
            if t.started {
                t.events.push(StreamEvent::Ping);
                t.drain(out);
            } else {
                // The start carries its own ping.
                t.ensure_started(out);
            }
        })
    }

    /// The upstream failed after the response started.
    pub fn fail(&mut self, err: GatewayError) -> Bytes {
        self.emit(|t, out| {
            t.ensure_started(out);
            t.assembler.fail(err, &mut t.events);
            t.drain(out);
        })
    }

    pub fn is_done(&self) -> bool {
        self.assembler.is_done()
    }

    fn ensure_started(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.started = true;
            self.assembler.start(&mut self.events);
            if self.stream {
                // Like the real API: a ping right after the start tells clients the stream lives.
                self.events.push(StreamEvent::Ping);
            }
            self.drain(out);
        }
    }

    /// How the response ended, once it has.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// The finished response document, for dialects that store responses.
    pub fn take_stored_document(&mut self) -> Option<serde_json::Value> {
        self.writer.take_stored_document()
    }

    fn drain(&mut self, out: &mut Vec<u8>) {
        for event in self.events.drain(..) {
            match &event {
                StreamEvent::Finish { stop_reason, usage } => {
                    self.outcome = Some(Outcome::Finished {
                        stop_reason: *stop_reason,
                        usage: *usage,
                    })
                }
                StreamEvent::Error(err) => self.outcome = Some(Outcome::Failed(err.kind)),
                _ => {}
            }
            self.writer.write(&event, out);
            if let StreamEvent::TextDelta(text) = event {
                if text.capacity() <= MAX_KEPT_TEXT {
                    self.spare_text = text;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kiro::eventstream::encode_event;
    use std::time::Duration;

    fn translator(stream: bool) -> ResponseTranslator {
        let settings = TranslateSettings {
            payload_budget: 600_000,
            max_image_bytes: 3_000_000,
            ..TranslateSettings::default()
        };
        let body = serde_json::json!({
            "model": "claude-sonnet-4.5",
            "max_tokens": 100,
            "stream": stream,
            "messages": [{"role": "user", "content": "hi"}],
        });
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let store = ResponseStore::new(1, Duration::from_secs(1));
        match prepare(
            Dialect::Anthropic,
            &body,
            &RequestHints::default(),
            &settings,
            &store,
        ) {
            Ok(prepared) => prepared.translator(),
            Err(e) => panic!("a plain request prepares: {e:?}"),
        }
    }

    fn text(bytes: &Bytes) -> &str {
        std::str::from_utf8(bytes).unwrap_or("<not utf-8>")
    }

    const PING: &str = "event: ping\ndata: {\"type\":\"ping\"}\n\n";

    /// Requests that repeat a `tools` array share one parsed list (`dialect::tool_cache`);
    /// what each converts to must not depend on that, nor on another request's edits.
    #[test]
    fn repeated_tools_convert_alike_and_edits_stay_with_their_request() {
        let settings = TranslateSettings {
            payload_budget: 600_000,
            ..TranslateSettings::default()
        };
        let store = ResponseStore::new(1, Duration::from_secs(1));
        let tools = serde_json::json!([
            {"type": "function", "function": {"name": "repeated_tools_a", "parameters": {
                "$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                "properties": {"n": {"type": "integer", "exclusiveMinimum": 0}},
                "required": ["n"], "additionalProperties": false}}},
            {"type": "function", "function": {"name": "repeated_tools_b"}}
        ]);
        let convert = |tool_choice: serde_json::Value| {
            let mut body = serde_json::json!({
                "model": "claude-sonnet-4.5",
                "messages": [{"role": "user", "content": "hi"}],
                "tools": tools,
            });
            if !tool_choice.is_null() {
                body["tool_choice"] = tool_choice;
            }
            let body = serde_json::to_vec(&body).unwrap_or_default();
            let hints = RequestHints::default();
            let prepared = prepare(Dialect::OpenAiChat, &body, &hints, &settings, &store)
                .unwrap_or_else(|e| panic!("prepares: {e:?}"));
            let kiro: serde_json::Value =
                serde_json::from_slice(&prepared.kiro.body).unwrap_or_default();
            let declared = kiro["conversationState"]["currentMessage"]["userInputMessage"]
                ["userInputMessageContext"]["tools"]
                .clone();
            (declared, prepared.meta.input_tokens)
        };
        let (first, first_tokens) = convert(serde_json::Value::Null);
        let allowed = serde_json::json!({"type": "allowed_tools", "allowed_tools": {
            "mode": "auto", "tools": [{"type": "function", "function": {"name": "repeated_tools_b"}}]}});
        let (narrowed, narrowed_tokens) = convert(allowed);
        let (again, again_tokens) = convert(serde_json::Value::Null);

        let names = |declared: &serde_json::Value| -> Vec<String> {
            declared
                .as_array()
                .map(|tools| {
                    tools
                        .iter()
                        .map(|t| t["toolSpecification"]["name"].as_str().unwrap_or("").into())
                        .collect()
                })
                .unwrap_or_default()
        };
        assert_eq!(names(&first), ["repeated_tools_a", "repeated_tools_b"]);
        assert_eq!(names(&narrowed), ["repeated_tools_b"]);
        assert_eq!(again, first, "the narrowing stayed with its request");
        assert_eq!(again_tokens, first_tokens);
        assert!(narrowed_tokens < first_tokens);
        assert_eq!(
            first[0]["toolSpecification"]["inputSchema"]["json"],
            serde_json::json!({"type": "object", "properties": {"n": {"type": "integer"}},
                "required": ["n"], "additionalProperties": false}),
            "reshaped for Kiro"
        );
    }

    #[test]
    fn a_conversation_without_a_session_id_keeps_its_key_turn_after_turn() {
        let request = |system: &str, turns: &[&str]| ChatRequest {
            system: vec![system.to_owned()],
            messages: turns
                .iter()
                .enumerate()
                .map(|(i, text)| Message {
                    role: if i % 2 == 0 {
                        Role::User
                    } else {
                        Role::Assistant
                    },
                    content: vec![Block::Text((*text).to_owned())],
                })
                .collect(),
            ..ChatRequest::default()
        };
        let first = session_key(&request("Be brief.", &["Fix the test."]));
        let later = session_key(&request(
            "Be brief.",
            &["Fix the test.", "Done.", "Thanks."],
        ));
        assert!(first.as_deref().is_some_and(|k| k.starts_with("turns-")));
        assert_eq!(first, later);
        assert_ne!(
            first,
            session_key(&request("Be brief.", &["Fix the build."]))
        );
        assert_ne!(
            first,
            session_key(&request("Be terse.", &["Fix the test."]))
        );
        // Parts are told apart, not run together.
        assert_ne!(
            session_key(&request("ab", &["c"])),
            session_key(&request("a", &["bc"]))
        );
        // A session the client names wins.
        let mut named = request("Be brief.", &["Fix the test."]);
        named.session.session_key = Some("s-1".into());
        assert_eq!(session_key(&named).as_deref(), Some("s-1"));
    }

    #[test]
    fn a_keepalive_before_any_byte_starts_the_stream() {
        let mut t = translator(true);
        let first = t.keepalive();
        assert!(text(&first).starts_with("event: message_start\n"));
        assert!(text(&first).ends_with(PING));
        // The start is not repeated when Kiro's first event arrives.
        let event = encode_event("assistantResponseEvent", br#"{"content":"Hello"}"#);
        let out = t.push(Bytes::from(event));
        assert!(!text(&out).contains("message_start"));
        assert!(text(&out).contains("Hello"));
    }

    #[test]
    fn keepalives_are_pings_mid_stream_and_nothing_after_the_end() {
        let mut t = translator(true);
        let event = encode_event("assistantResponseEvent", br#"{"content":"Hello"}"#);
        let _ = t.push(Bytes::from(event));
        assert_eq!(text(&t.keepalive()), PING);
        assert_eq!(text(&t.keepalive()), PING);
        let end = t.finish();
        assert!(text(&end).ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
        assert!(t.keepalive().is_empty());
    }

    #[test]
    fn a_non_streaming_answer_gets_no_keepalive() {
        let mut t = translator(false);
        assert!(t.keepalive().is_empty());
        let event = encode_event("assistantResponseEvent", br#"{"content":"Hello"}"#);
        let _ = t.push(Bytes::from(event));
        assert!(t.keepalive().is_empty());
        let message: serde_json::Value = serde_json::from_slice(&t.finish()).unwrap_or_default();
        assert_eq!(message["content"][0]["text"], "Hello");
    }
}
