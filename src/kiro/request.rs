//! [`ChatRequest`] → the JSON body of Kiro's `generateAssistantResponse` (§2.1).
//!
//! [`build`] runs the rules of [`super::normalize`] in order and serialises once, borrowing the
//! client's strings all the way, so a 600 KB conversation is copied only into the output
//! buffer. The `profileArn` depends on the account an attempt uses, so it is appended per
//! attempt by [`into_body_with_profile_arn`] instead of rebuilding the body.

use std::borrow::Cow;
use std::collections::HashMap;

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::models::ModelInfo;
use super::normalize::{self, ToolSet, Turn, UserTurn};
use crate::chat::{ChatRequest, ErrorKind, GatewayError, ToolChoice};
use crate::json::{push_json_array, push_json_joined, push_json_str, push_json_value};

/// Kiro answers a cryptic 400 above about 615 KB (\[G\] `config.py`).
pub const DEFAULT_PAYLOAD_BUDGET: usize = 615_000;
/// Decoded bytes per image. \[Z\] found that a single ~700 KB base64 field trips
/// `CONTENT_LENGTH_EXCEEDS_THRESHOLD` and keeps images under 400 000 bytes; a larger image
/// would also eat the whole payload budget, so it is refused with a message about the image.
pub const DEFAULT_MAX_IMAGE_BYTES: usize = 400_000;
/// Room kept in the budget for the `profileArn` spliced in later.
const PROFILE_ARN_ALLOWANCE: usize = 256;

const ORIGIN: &str = "AI_EDITOR";
const AGENT_TASK_TYPE: &str = "vibe";
/// [H]: "AUTO may cause 400".
const CHAT_TRIGGER_TYPE: &str = "MANUAL";

/// How to build one request.
#[derive(Debug, Clone, Copy)]
pub struct BuildOptions<'a> {
    pub model: &'a ModelInfo,
    /// The client's conversation id (reused so the upstream sees one conversation); a fresh
    /// UUID v4 when absent. A non-UUID id is hashed into a stable UUID.
    pub conversation_id: Option<&'a str>,
    /// Largest body, in bytes, the upstream is known to accept.
    pub payload_budget: usize,
    /// Largest decoded image, in bytes.
    pub max_image_bytes: usize,
    /// Also ask for Kiro's native reasoning (`additionalModelRequestFields`, §3.6). Off by
    /// default: only one peer sends it, and its `reasoningContentEvent`s must be decoded.
    pub native_reasoning: bool,
}

impl<'a> BuildOptions<'a> {
    /// Options with the default limits.
    pub fn new(model: &'a ModelInfo) -> Self {
        BuildOptions {
            model,
            conversation_id: None,
            payload_budget: DEFAULT_PAYLOAD_BUDGET,
            max_image_bytes: DEFAULT_MAX_IMAGE_BYTES,
            native_reasoning: false,
        }
    }
}

/// A request ready to send (before the account's `profileArn` is added).
#[derive(Debug, Clone, PartialEq)]
pub struct KiroRequest {
    /// The JSON body.
    pub body: Vec<u8>,
    /// Kiro tool name → client tool name, for the declared tools whose names differ (a long
    /// name shortened); any other name comes back as it was sent.
    pub tool_names: HashMap<String, String>,
    pub model_id: String,
    pub conversation_id: String,
    /// Prompt-level thinking was requested, so the answer may open with a `<thinking>` block.
    pub thinking: bool,
}

/// Converts a request, applying every rule Kiro enforces.
///
/// Fails with a 400 on what cannot be sent (no user message, a bad image, a `tool_choice`
/// naming an unknown tool) and with a 400 starting "Prompt is too long:" when the result is
/// over `payload_budget`, which makes Claude Code compact the conversation.
pub fn build(req: &ChatRequest, opts: &BuildOptions<'_>) -> Result<KiroRequest, GatewayError> {
    let model_id = opts.model.kiro_id.as_str();
    let messages = normalize::drop_prefill(&req.messages);
    if messages.is_empty() {
        return Err(GatewayError::invalid(
            "The request has no user message to answer.",
        ));
    }

    let mut turns = normalize::to_turns(messages, opts.max_image_bytes)?;
    normalize::ensure_alternation(&mut turns);
    normalize::repair_tool_pairing(&mut turns);
    // Alternation ends with the last user message, which is the one to answer.
    let Some(Turn::User(mut current)) = turns.pop() else {
        return Err(GatewayError::new(
            ErrorKind::Internal,
            "The conversation does not end with a user turn after normalisation.",
        ));
    };
    let mut history = turns;
    normalize::dedupe_history_images(&mut history);

    let tools = normalize::build_tools(&req.tools, &history)?;
    normalize::rename_history_tool_calls(&mut history, &tools);
    normalize::fill_empty_content(&mut history);

    let current_content = current_content(req, &mut current, &tools)?;

    let thinking = normalize::effective_thinking(req.thinking.as_ref(), opts.model);
    let prefix = thinking.as_ref().map(normalize::thinking_prefix);
    let system = normalize::system_prompt(&req.system, prefix.as_deref());
    let additional_model_request_fields = if opts.native_reasoning {
        normalize::additional_model_request_fields(model_id, thinking.as_ref())
    } else {
        None
    };

    let mut entries = Vec::with_capacity(history.len() + 2);
    if !system.is_empty() {
        entries.push(HistoryMessage::UserInputMessage(UserInputMessage::text(
            Content::Lines(system),
            model_id,
        )));
        entries.push(HistoryMessage::AssistantResponseMessage(
            AssistantResponseMessage {
                content: Cow::Borrowed(normalize::SYSTEM_ACK),
                tool_uses: Vec::new(),
            },
        ));
    }
    for turn in history {
        entries.push(match turn {
            Turn::User(mut user) => HistoryMessage::UserInputMessage(UserInputMessage {
                content: Content::Text(user.content()),
                model_id,
                origin: ORIGIN,
                images: user.images,
                documents: user.documents,
                user_input_message_context: UserInputMessageContext {
                    tools: Vec::new(),
                    tool_results: user.tool_results,
                },
            }),
            Turn::Assistant(mut assistant) => {
                HistoryMessage::AssistantResponseMessage(AssistantResponseMessage {
                    content: assistant.content(),
                    tool_uses: assistant.tool_uses,
                })
            }
        });
    }

    let conversation_id = conversation_id(opts.conversation_id);
    let tool_names = tools.renamed();
    let body = Body {
        conversation_state: ConversationState {
            agent_continuation_id: uuid::Uuid::new_v4().to_string(),
            agent_task_type: AGENT_TASK_TYPE,
            chat_trigger_type: CHAT_TRIGGER_TYPE,
            conversation_id: &conversation_id,
            current_message: CurrentMessage {
                user_input_message: UserInputMessage {
                    content: Content::Text(current_content),
                    model_id,
                    origin: ORIGIN,
                    images: current.images,
                    documents: current.documents,
                    user_input_message_context: UserInputMessageContext {
                        tools: tools.specs,
                        tool_results: current.tool_results,
                    },
                },
            },
            history: entries,
        },
        additional_model_request_fields,
    };

    let mut out = crate::memory::buffer(estimated_size(req));
    body.write_json(&mut out);
    // The derives are the schema; every debug build (unit and end-to-end tests) holds the
    // hand-written bytes to theirs.
    debug_assert!(
        serde_json::to_vec(&body).is_ok_and(|serde| serde == out),
        "the hand-written Kiro body differs from serde's"
    );
    check_payload_budget(out.len(), opts.payload_budget)?;

    Ok(KiroRequest {
        body: out,
        tool_names,
        model_id: model_id.to_owned(),
        conversation_id,
        thinking: thinking.is_some(),
    })
}

/// The current turn's `content`: the user's text, then the instructions that stand in for
/// `tool_choice` and `response_schema`, which Kiro lacks.
fn current_content<'a>(
    req: &'a ChatRequest,
    current: &mut UserTurn<'a>,
    tools: &ToolSet<'_>,
) -> Result<Cow<'a, str>, GatewayError> {
    let has_tools = !tools.specs.is_empty();
    let kiro_tool_name = match &req.tool_choice {
        ToolChoice::Tool(name) => Some(tools.kiro_name(name).ok_or_else(|| {
            GatewayError::invalid(format!(
                "`tool_choice` names the tool `{}`, which is not among the request's tools.",
                name.chars().take(100).collect::<String>()
            ))
        })?),
        _ => None,
    };
    let instructions: Vec<String> = [
        normalize::tool_choice_instruction(&req.tool_choice, has_tools, kiro_tool_name),
        req.response_schema
            .as_ref()
            .map(normalize::response_schema_instruction),
    ]
    .into_iter()
    .flatten()
    .collect();

    let empty = current.is_empty();
    let content = current.content();
    if instructions.is_empty() {
        // A turn with tool results may have empty content; a turn with nothing may not.
        return Ok(if empty {
            Cow::Borrowed(normalize::EMPTY_USER_CONTENT)
        } else {
            content
        });
    }
    let mut text = content.into_owned();
    for instruction in instructions {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(&instruction);
    }
    Ok(Cow::Owned(text))
}

fn check_payload_budget(size: usize, budget: usize) -> Result<(), GatewayError> {
    if size + PROFILE_ARN_ALLOWANCE <= budget {
        return Ok(());
    }
    Err(GatewayError::invalid(format!(
        "Prompt is too long: this conversation converts to {size} bytes for the upstream, which \
         accepts at most about {budget} bytes per request. Compact the conversation (/compact) \
         or start a new one."
    )))
}

/// The client's id when it is a UUID; a UUID derived from it otherwise (Kiro expects UUIDs,
/// and the same session must keep the same id); a fresh one when there is none.
fn conversation_id(requested: Option<&str>) -> String {
    let Some(id) = requested.map(str::trim).filter(|id| !id.is_empty()) else {
        return uuid::Uuid::new_v4().to_string();
    };
    if let Ok(uuid) = uuid::Uuid::try_parse(id) {
        return uuid.hyphenated().to_string();
    }
    let digest = Sha256::digest(id.as_bytes());
    let mut bytes = [0u8; 16];
    for (slot, byte) in bytes.iter_mut().zip(digest.iter()) {
        *slot = *byte;
    }
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// A close upper estimate of the body size, so the output buffer is allocated once.
fn estimated_size(req: &ChatRequest) -> usize {
    use crate::chat::Block;
    let blocks: usize = req
        .messages
        .iter()
        .flat_map(|m| &m.content)
        .map(|block| match block {
            Block::Text(t) | Block::Thinking(t) => t.len(),
            Block::Image(image) => image.data.len(),
            Block::Document(doc) => doc.data.len(),
            Block::ToolUse { input, .. } => 64 + input.as_object().map_or(0, |o| o.len() * 64),
            Block::ToolResult {
                content, images, ..
            } => content.len() + images.iter().map(|i| i.data.len()).sum::<usize>(),
        })
        .sum();
    let system: usize = req.system.iter().map(String::len).sum();
    let tools: usize = req.tools.iter().map(|t| t.description.len() + 512).sum();
    // JSON escaping and per-message framing.
    (blocks + system + tools) * 11 / 10 + 200 * req.messages.len() + 4096
}

/// Adds `"profileArn":"<arn>"` as the last member of the root object of a body made by
/// [`build`] (which never contains one), without parsing it again. `None`, or a body that is
/// not a JSON object, is returned unchanged.
pub fn with_profile_arn(body: &[u8], arn: Option<&str>) -> Bytes {
    let mut copy = crate::memory::buffer(body.len() + arn.map_or(0, |a| a.len() + 32));
    copy.extend_from_slice(body);
    into_body_with_profile_arn(copy, arn)
}

/// [`with_profile_arn`] on a body the caller owns: the member is appended in place, into the
/// spare capacity [`build`] leaves, so the conversation is not copied.
pub fn into_body_with_profile_arn(mut body: Vec<u8>, arn: Option<&str>) -> Bytes {
    if let Some(arn) = arn {
        append_profile_arn(&mut body, arn);
    }
    crate::memory::into_bytes(body)
}

fn append_profile_arn(body: &mut Vec<u8>, arn: &str) {
    let Some((open, close)) = root_object_bounds(body) else {
        return;
    };
    let Ok(value) = serde_json::to_string(arn) else {
        return;
    };
    let empty = body[..close].iter().rposition(|b| !b.is_ascii_whitespace()) == Some(open);
    body.truncate(close);
    if !empty {
        body.push(b',');
    }
    body.extend_from_slice(b"\"profileArn\":");
    body.extend_from_slice(value.as_bytes());
    body.push(b'}');
}

/// Where the root object of `body` opens and closes, if `body` is one.
fn root_object_bounds(body: &[u8]) -> Option<(usize, usize)> {
    let open = body.iter().position(|b| !b.is_ascii_whitespace())?;
    let close = body.iter().rposition(|b| !b.is_ascii_whitespace())?;
    (open < close && body[open] == b'{' && body[close] == b'}').then_some((open, close))
}

/// The same body for another account: `old` (the profileArn [`with_profile_arn`] put in, if
/// any) taken out and `new` put in. A body that does not end with the expected member is
/// returned unchanged, with `new` not added: it was not made by [`with_profile_arn`].
pub fn replace_profile_arn(body: &Bytes, old: Option<&str>, new: Option<&str>) -> Bytes {
    if old == new {
        return body.clone();
    }
    let Some(old) = old else {
        return with_profile_arn(body, new);
    };
    let (Some((open, close)), Ok(value)) = (root_object_bounds(body), serde_json::to_string(old))
    else {
        return body.clone();
    };
    let member = format!("\"profileArn\":{value}");
    let Some(start) = body[..close]
        .strip_suffix(member.as_bytes())
        .map(<[u8]>::len)
    else {
        return body.clone();
    };
    // `{REST,"profileArn":"…"}` or `{"profileArn":"…"}`: back to `{REST}` / `{}`.
    let kept = match body[..start].iter().rposition(|b| !b.is_ascii_whitespace()) {
        Some(i) if i > open && body[i] == b',' => i,
        Some(i) if i == open => start,
        _ => return body.clone(),
    };
    let mut base = crate::memory::buffer(kept + 1 + new.map_or(0, |a| a.len() + 32));
    base.extend_from_slice(&body[..kept]);
    base.push(b'}');
    into_body_with_profile_arn(base, new)
}

// ---------------------------------------------------------------------------------------------
// The wire schema (§2.1). Keys are camelCase; strings borrow from the client's request.

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    conversation_state: ConversationState<'a>,
    /// Root level; its inner keys are snake_case (§2.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    additional_model_request_fields: Option<Value>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ConversationState<'a> {
    agent_continuation_id: String,
    agent_task_type: &'static str,
    chat_trigger_type: &'static str,
    conversation_id: &'a str,
    current_message: CurrentMessage<'a>,
    history: Vec<HistoryMessage<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CurrentMessage<'a> {
    user_input_message: UserInputMessage<'a>,
}

/// Serialises as `{"userInputMessage":{…}}` or `{"assistantResponseMessage":{…}}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
enum HistoryMessage<'a> {
    UserInputMessage(UserInputMessage<'a>),
    AssistantResponseMessage(AssistantResponseMessage<'a>),
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct UserInputMessage<'a> {
    content: Content<'a>,
    model_id: &'a str,
    origin: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    images: Vec<KiroImage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    documents: Vec<KiroDocument<'a>>,
    #[serde(skip_serializing_if = "UserInputMessageContext::is_empty")]
    user_input_message_context: UserInputMessageContext<'a>,
}

impl<'a> UserInputMessage<'a> {
    fn text(content: Content<'a>, model_id: &'a str) -> Self {
        UserInputMessage {
            content,
            model_id,
            origin: ORIGIN,
            images: Vec::new(),
            documents: Vec::new(),
            user_input_message_context: UserInputMessageContext::default(),
        }
    }
}

/// A user message's `content`. The system prompt goes out as the lines it is made of: it is
/// tens of KB, and joining them into one `String` first copied all of it once more.
#[derive(Debug)]
enum Content<'a> {
    Text(Cow<'a, str>),
    /// Joined with [`LINE_BREAK`].
    Lines(Vec<&'a str>),
}

/// What joins the lines of [`Content::Lines`] (the serde schema and the hand writer alike).
const LINE_BREAK: &str = "\n";

impl Serialize for Content<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Content::Text(text) => serializer.serialize_str(text),
            Content::Lines(lines) => serializer.serialize_str(&lines.join(LINE_BREAK)),
        }
    }
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct UserInputMessageContext<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<DeclaredTool<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_results: Vec<KiroToolResult<'a>>,
}

impl UserInputMessageContext<'_> {
    fn is_empty(&self) -> bool {
        self.tools.is_empty() && self.tool_results.is_empty()
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AssistantResponseMessage<'a> {
    content: Cow<'a, str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_uses: Vec<KiroToolUse<'a>>,
}

/// `{"format":"png","source":{"bytes":"<base64>"}}`, directly on `userInputMessage`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KiroImage<'a> {
    pub format: &'static str,
    pub source: Source<'a>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Source<'a> {
    /// Base64, no `data:` prefix.
    pub bytes: &'a str,
}

/// `{"format":"pdf","name":"document-1","source":{"bytes":…}}` (\[G\]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KiroDocument<'a> {
    pub format: &'static str,
    pub name: String,
    pub source: Source<'a>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KiroToolUse<'a> {
    pub tool_use_id: &'a str,
    pub name: Cow<'a, str>,
    /// Always a JSON object.
    pub input: Cow<'a, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KiroToolResult<'a> {
    pub tool_use_id: &'a str,
    /// One `{"text":…}` item: the only shape any client of Kiro is known to send.
    pub content: Vec<ToolResultText<'a>>,
    /// `success` or `error`.
    pub status: &'static str,
    /// \[H\] sends `isError: true` on errors and omits it otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolResultText<'a> {
    pub text: Cow<'a, str>,
}

/// An entry of `userInputMessageContext.tools`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum DeclaredTool<'a> {
    /// One of the request's own tools: its [`KiroTool`] as JSON, rendered once per shared
    /// tool list ([`crate::chat::tools::Tools::upstream_specs`]) and copied from there.
    Rendered(#[serde(serialize_with = "verbatim_json")] &'a [u8]),
    /// A tool declared for this request alone (one that only its history calls).
    Spec(KiroTool<'a>),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KiroTool<'a> {
    pub tool_specification: ToolSpecification<'a>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolSpecification<'a> {
    pub name: Cow<'a, str>,
    pub description: Cow<'a, str>,
    pub input_schema: InputSchema<'a>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputSchema<'a> {
    /// JSON, already in Kiro's shape (`normalize::kiro_schema_json`), written verbatim.
    #[serde(serialize_with = "verbatim_json")]
    pub json: &'a [u8],
}

fn verbatim_json<S: serde::Serializer>(json: &&[u8], serializer: S) -> Result<S::Ok, S::Error> {
    let raw: &serde_json::value::RawValue =
        serde_json::from_slice(json).map_err(serde::ser::Error::custom)?;
    raw.serialize(serializer)
}

// ---------------------------------------------------------------------------------------------
// The wire schema written by hand. serde_json escapes strings a byte at a time, and the
// conversation's strings are most of the body: 73 % of `build` at 600 KB went to
// `format_escaped_str`. `crate::json` escapes sixteen bytes at a time; the derives above stay
// the schema's definition, and debug builds check the two agree byte for byte (`build`).

/// A JSON object being written: members are separated as they are added.
struct JsonObject<'o> {
    out: &'o mut Vec<u8>,
    empty: bool,
}

impl<'o> JsonObject<'o> {
    fn new(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        JsonObject { out, empty: true }
    }

    /// Starts the member `key` (a plain ASCII name) and returns the buffer for its value.
    fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    fn str(&mut self, key: &str, value: &str) {
        push_json_str(self.key(key), value);
    }

    fn end(self) {
        self.out.push(b'}');
    }
}

impl Body<'_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = JsonObject::new(out);
        self.conversation_state
            .write_json(o.key("conversationState"));
        if let Some(fields) = &self.additional_model_request_fields {
            push_json_value(o.key("additionalModelRequestFields"), fields);
        }
        o.end();
    }
}

impl ConversationState<'_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = JsonObject::new(out);
        o.str("agentContinuationId", &self.agent_continuation_id);
        o.str("agentTaskType", self.agent_task_type);
        o.str("chatTriggerType", self.chat_trigger_type);
        o.str("conversationId", self.conversation_id);
        let mut current = JsonObject::new(o.key("currentMessage"));
        self.current_message
            .user_input_message
            .write_json(current.key("userInputMessage"));
        current.end();
        push_json_array(o.key("history"), &self.history, HistoryMessage::write_json);
        o.end();
    }
}

impl HistoryMessage<'_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = JsonObject::new(out);
        match self {
            HistoryMessage::UserInputMessage(m) => m.write_json(o.key("userInputMessage")),
            HistoryMessage::AssistantResponseMessage(m) => {
                m.write_json(o.key("assistantResponseMessage"))
            }
        }
        o.end();
    }
}

impl UserInputMessage<'_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = JsonObject::new(out);
        match &self.content {
            Content::Text(text) => o.str("content", text),
            Content::Lines(lines) => push_json_joined(o.key("content"), lines, LINE_BREAK),
        }
        o.str("modelId", self.model_id);
        o.str("origin", self.origin);
        if !self.images.is_empty() {
            push_json_array(o.key("images"), &self.images, KiroImage::write_json);
        }
        if !self.documents.is_empty() {
            push_json_array(
                o.key("documents"),
                &self.documents,
                KiroDocument::write_json,
            );
        }
        let context = &self.user_input_message_context;
        if !context.is_empty() {
            let mut c = JsonObject::new(o.key("userInputMessageContext"));
            if !context.tools.is_empty() {
                push_json_array(c.key("tools"), &context.tools, DeclaredTool::write_json);
            }
            if !context.tool_results.is_empty() {
                push_json_array(
                    c.key("toolResults"),
                    &context.tool_results,
                    KiroToolResult::write_json,
                );
            }
            c.end();
        }
        o.end();
    }
}

impl AssistantResponseMessage<'_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = JsonObject::new(out);
        o.str("content", &self.content);
        if !self.tool_uses.is_empty() {
            push_json_array(o.key("toolUses"), &self.tool_uses, KiroToolUse::write_json);
        }
        o.end();
    }
}

impl Source<'_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = JsonObject::new(out);
        o.str("bytes", self.bytes);
        o.end();
    }
}

impl KiroImage<'_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = JsonObject::new(out);
        o.str("format", self.format);
        self.source.write_json(o.key("source"));
        o.end();
    }
}

impl KiroDocument<'_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = JsonObject::new(out);
        o.str("format", self.format);
        o.str("name", &self.name);
        self.source.write_json(o.key("source"));
        o.end();
    }
}

impl KiroToolUse<'_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = JsonObject::new(out);
        o.str("toolUseId", self.tool_use_id);
        o.str("name", &self.name);
        push_json_value(o.key("input"), &self.input);
        o.end();
    }
}

impl KiroToolResult<'_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = JsonObject::new(out);
        o.str("toolUseId", self.tool_use_id);
        push_json_array(o.key("content"), &self.content, |item, out| {
            let mut text = JsonObject::new(out);
            text.str("text", &item.text);
            text.end();
        });
        o.str("status", self.status);
        if let Some(is_error) = self.is_error {
            push_json_value(o.key("isError"), &Value::Bool(is_error));
        }
        o.end();
    }
}

impl DeclaredTool<'_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            DeclaredTool::Rendered(json) => out.extend_from_slice(json),
            DeclaredTool::Spec(tool) => tool.write_json(out),
        }
    }
}

impl KiroTool<'_> {
    /// The declaration as JSON, to be kept and sent as a [`DeclaredTool::Rendered`].
    pub fn to_json(&self) -> Box<[u8]> {
        let mut out = Vec::new();
        self.write_json(&mut out);
        out.into_boxed_slice()
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        let spec = &self.tool_specification;
        let mut o = JsonObject::new(out);
        let mut s = JsonObject::new(o.key("toolSpecification"));
        s.str("name", &spec.name);
        s.str("description", &spec.description);
        let mut schema = JsonObject::new(s.key("inputSchema"));
        schema.key("json").extend_from_slice(spec.input_schema.json);
        schema.end();
        s.end();
        o.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{Block, Image, Message, ThinkingConfig, Tool};
    use serde_json::json;
    use std::collections::HashSet;

    fn model(id: &str) -> ModelInfo {
        ModelInfo {
            kiro_id: id.into(),
            context_window: 200_000,
            max_output_tokens: 64_000,
            force_thinking: false,
        }
    }

    fn text(t: &str) -> Block {
        Block::Text(t.into())
    }

    fn call(id: &str, name: &str) -> Block {
        Block::ToolUse {
            id: id.into(),
            name: name.into(),
            input: json!({"command": "ls"}),
        }
    }

    fn result(id: &str, content: &str) -> Block {
        Block::ToolResult {
            tool_use_id: id.into(),
            content: content.into(),
            is_error: false,
            images: Vec::new(),
        }
    }

    fn tool(name: &str) -> Tool {
        Tool {
            name: name.into(),
            description: format!("The {name} tool."),
            input_schema: json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "properties": {"command": {"type": "string"}},
                "required": ["command"]
            }),
        }
    }

    fn build_json(req: &ChatRequest, opts: &BuildOptions<'_>) -> (KiroRequest, Value) {
        let built = build(req, opts).unwrap();
        let json: Value = serde_json::from_slice(&built.body).unwrap();
        if let Err(problem) = check_strict(&json) {
            panic!(
                "{problem}\n{}",
                serde_json::to_string_pretty(&json).unwrap()
            );
        }
        (built, json)
    }

    /// The §2 rules a strict upstream enforces, checked on the JSON we emit.
    fn check_strict(body: &Value) -> Result<(), String> {
        let state = &body["conversationState"];
        for (key, expected) in [("agentTaskType", "vibe"), ("chatTriggerType", "MANUAL")] {
            if state[key] != expected {
                return Err(format!("{key} is {}", state[key]));
            }
        }
        for key in ["agentContinuationId", "conversationId"] {
            let id = state[key].as_str().ok_or(format!("{key} missing"))?;
            uuid::Uuid::try_parse(id).map_err(|_| format!("{key} is not a UUID"))?;
        }
        let current = &state["currentMessage"]["userInputMessage"];
        let history = state["history"].as_array().ok_or("history missing")?;

        let user_ok = |m: &Value| -> Result<(), String> {
            if m["origin"] != "AI_EDITOR" || !m["modelId"].is_string() {
                return Err("user message without origin/modelId".into());
            }
            let content = m["content"].as_str().ok_or("user content not a string")?;
            let results = m["userInputMessageContext"]["toolResults"].as_array();
            let images = m["images"].as_array();
            if content.is_empty() && results.is_none() && images.is_none() {
                return Err("empty user message".into());
            }
            for image in images.into_iter().flatten() {
                let format = image["format"].as_str().unwrap_or("");
                if !["jpeg", "png", "gif", "webp"].contains(&format) {
                    return Err(format!("bad image format {format}"));
                }
            }
            for r in results.into_iter().flatten() {
                let text = r["content"][0]["text"].as_str().unwrap_or("");
                if text.is_empty()
                    || !["success", "error"].contains(&r["status"].as_str().unwrap_or(""))
                {
                    return Err("bad tool result".into());
                }
            }
            Ok(())
        };

        let mut expect_user = true;
        let mut open_calls: HashSet<String> = HashSet::new();
        let mut used_names: HashSet<String> = HashSet::new();
        let mut all_ids: HashSet<String> = HashSet::new();
        for entry in history {
            let obj = entry.as_object().ok_or("history entry not an object")?;
            if obj.len() != 1 {
                return Err("history entry must have exactly one key".into());
            }
            if expect_user {
                let m = entry
                    .get("userInputMessage")
                    .ok_or("expected a user turn")?;
                user_ok(m)?;
                let answered: HashSet<String> = m["userInputMessageContext"]["toolResults"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| r["toolUseId"].as_str().unwrap_or("").to_owned())
                    .collect();
                if answered != open_calls {
                    return Err(format!(
                        "results {answered:?} do not answer calls {open_calls:?}"
                    ));
                }
                if m["userInputMessageContext"].get("tools").is_some() {
                    return Err("tools in a history message".into());
                }
            } else {
                let m = entry
                    .get("assistantResponseMessage")
                    .ok_or("expected an assistant turn")?;
                if m["content"].as_str().unwrap_or("").is_empty() {
                    return Err("empty assistant content".into());
                }
                open_calls.clear();
                for u in m["toolUses"].as_array().into_iter().flatten() {
                    let id = u["toolUseId"].as_str().ok_or("call without id")?.to_owned();
                    if !u["input"].is_object() {
                        return Err("tool input not an object".into());
                    }
                    if !all_ids.insert(id.clone()) {
                        return Err(format!("duplicate tool use id {id}"));
                    }
                    used_names.insert(u["name"].as_str().unwrap_or("").to_lowercase());
                    open_calls.insert(id);
                }
            }
            expect_user = !expect_user;
        }
        if !expect_user {
            return Err("history ends with a user turn".into());
        }
        user_ok(current)?;
        let answered: HashSet<String> = current["userInputMessageContext"]["toolResults"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| r["toolUseId"].as_str().unwrap_or("").to_owned())
            .collect();
        if answered != open_calls {
            return Err(format!(
                "current results {answered:?} do not answer {open_calls:?}"
            ));
        }
        let mut declared = HashSet::new();
        for t in current["userInputMessageContext"]["tools"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let spec = &t["toolSpecification"];
            let name = spec["name"].as_str().ok_or("tool without name")?;
            if name.is_empty() || name.len() > 63 {
                return Err(format!("bad tool name {name}"));
            }
            let description = spec["description"].as_str().unwrap_or("");
            if description.trim().is_empty() || description.len() > 10_000 {
                return Err(format!("bad description for {name}"));
            }
            let schema = &spec["inputSchema"]["json"];
            if schema["type"] != "object"
                || !schema["properties"].is_object()
                || !schema["required"].is_array()
                || schema.get("$schema").is_some()
                || schema.get("anyOf").is_some()
            {
                return Err(format!("bad schema for {name}: {schema}"));
            }
            if !declared.insert(name.to_lowercase()) {
                return Err(format!("duplicate tool {name}"));
            }
        }
        if let Some(undeclared) = used_names.difference(&declared).next() {
            return Err(format!("history calls undeclared tool {undeclared}"));
        }
        Ok(())
    }

    #[test]
    fn minimal_request_has_the_documented_shape() {
        let req = ChatRequest {
            model: "claude-sonnet-4-5".into(),
            messages: vec![Message::user(vec![text("Hello")])],
            ..Default::default()
        };
        let m = model("claude-sonnet-4.5");
        let mut opts = BuildOptions::new(&m);
        opts.conversation_id = Some("0B4445E1-F5BE-49E1-87CE-62BBC28AD705");
        let (built, json) = build_json(&req, &opts);
        assert_eq!(
            built.conversation_id,
            "0b4445e1-f5be-49e1-87ce-62bbc28ad705"
        );
        assert_eq!(built.model_id, "claude-sonnet-4.5");
        assert!(!built.thinking);
        let state = &json["conversationState"];
        assert_eq!(
            state["conversationId"],
            "0b4445e1-f5be-49e1-87ce-62bbc28ad705"
        );
        assert_eq!(state["history"], json!([]));
        assert_eq!(
            state["currentMessage"],
            json!({"userInputMessage": {"content": "Hello", "modelId": "claude-sonnet-4.5", "origin": "AI_EDITOR"}})
        );
        assert!(json.get("profileArn").is_none());
        assert!(json.get("additionalModelRequestFields").is_none());
    }

    #[test]
    fn conversation_ids_are_uuids() {
        let derived = conversation_id(Some("not-a-uuid-session"));
        assert!(uuid::Uuid::try_parse(&derived).is_ok());
        assert_eq!(derived, conversation_id(Some("not-a-uuid-session")));
        assert_ne!(conversation_id(None), conversation_id(None));
        assert!(uuid::Uuid::try_parse(&conversation_id(Some("  "))).is_ok());
    }

    #[test]
    fn tool_conversation_follows_every_rule() {
        let long_name = format!(
            "mcp__github__{}",
            "create_pull_request_review_comment_".repeat(3)
        );
        let req = ChatRequest {
            model: "claude-sonnet-4-5".into(),
            system: vec!["You are Claude Code.".into()],
            messages: vec![
                Message::user(vec![text("List files")]),
                Message::assistant(vec![text("Sure."), call("t1", "Bash"), call("t2", "Glob")]),
                Message::user(vec![result("t1", "a.txt"), result("t2", "")]),
                // A reconnect: two assistants in a row, the second calling a long-named tool.
                Message::assistant(vec![Block::Thinking("hmm".into()), text(" ")]),
                Message::assistant(vec![call("t3", &long_name), call("t4", "Read")]),
                Message::user(vec![result("t3", "done")]),
                Message::user(vec![text("thanks"), result("t9", "stray")]),
            ],
            tools: vec![tool("Bash"), tool(&long_name), tool("Write")].into(),
            thinking: Some(ThinkingConfig::Enabled {
                budget_tokens: 31_999,
            }),
            ..Default::default()
        };
        let m = model("claude-sonnet-4.5");
        let (built, json) = build_json(&req, &BuildOptions::new(&m));
        assert!(built.thinking);
        let history = json["conversationState"]["history"].as_array().unwrap();
        let system = history[0]["userInputMessage"]["content"].as_str().unwrap();
        assert!(system.starts_with(
            "<thinking_mode>enabled</thinking_mode><max_thinking_length>24576</max_thinking_length>\nYou are Claude Code.\n"
        ));
        assert!(system.ends_with(normalize::CHUNKED_WRITE_POLICY));
        assert_eq!(
            history[1]["assistantResponseMessage"]["content"],
            normalize::SYSTEM_ACK
        );
        // Glob is declared because history calls it; the long name is shortened everywhere.
        let short = normalize::shorten_tool_name(&long_name).into_owned();
        let tools = &json["conversationState"]["currentMessage"]["userInputMessage"]
            ["userInputMessageContext"]["tools"];
        let names: Vec<&str> = tools
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["toolSpecification"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Bash", short.as_str(), "Write", "Glob"]);
        // Only the names that differ map back; the others come back as they are.
        assert_eq!(
            built.tool_names,
            HashMap::from([(short.clone(), long_name)])
        );
        let merged = &history[5]["assistantResponseMessage"];
        assert_eq!(merged["content"], "<thinking>hmm</thinking>");
        assert_eq!(merged["toolUses"][0]["name"], short.as_str());
        // Read was never answered, the stray result is text now.
        assert_eq!(merged["toolUses"].as_array().unwrap().len(), 1);
        let current = &json["conversationState"]["currentMessage"]["userInputMessage"];
        assert_eq!(
            current["userInputMessageContext"]["toolResults"][0]["toolUseId"],
            "t3"
        );
        let content = current["content"].as_str().unwrap();
        assert!(
            content.contains("thanks") && content.contains("stray"),
            "{content}"
        );
        let write = tools[2]["toolSpecification"]["description"]
            .as_str()
            .unwrap();
        assert!(write.ends_with(normalize::WRITE_TOOL_SUFFIX));
    }

    #[test]
    fn images_go_on_the_user_message() {
        let req = ChatRequest {
            messages: vec![Message::user(vec![
                Block::Image(Image {
                    media_type: "image/webp".into(),
                    data: "UklGRg==".into(),
                }),
                text("What is this?"),
            ])],
            ..Default::default()
        };
        let m = model("claude-sonnet-4.5");
        let (_, json) = build_json(&req, &BuildOptions::new(&m));
        let current = &json["conversationState"]["currentMessage"]["userInputMessage"];
        assert_eq!(
            current["images"],
            json!([{"format": "webp", "source": {"bytes": "UklGRg=="}}])
        );
        assert!(current.get("userInputMessageContext").is_none());
    }

    #[test]
    fn tool_choice_and_response_schema_are_instructions() {
        let mut req = ChatRequest {
            messages: vec![Message::user(vec![text("Weather?")])],
            tools: vec![tool("get_weather")].into(),
            tool_choice: ToolChoice::Tool("GET_WEATHER".into()),
            response_schema: Some(json!({"type": "object"})),
            ..Default::default()
        };
        let m = model("claude-sonnet-4.5");
        let (_, json) = build_json(&req, &BuildOptions::new(&m));
        let content = json["conversationState"]["currentMessage"]["userInputMessage"]["content"]
            .as_str()
            .unwrap();
        assert!(content.starts_with("Weather?\n\nYou must call the tool `get_weather`"));
        assert!(content.contains("JSON Schema"));

        req.tool_choice = ToolChoice::Tool("nope".into());
        let err = build(&req, &BuildOptions::new(&m)).unwrap_err();
        assert_eq!(err.status(), 400);
    }

    #[test]
    fn requests_without_a_user_message_are_refused() {
        let m = model("claude-sonnet-4.5");
        let req = ChatRequest {
            messages: vec![Message::assistant(vec![text("hi")])],
            ..Default::default()
        };
        assert_eq!(
            build(&req, &BuildOptions::new(&m)).unwrap_err().status(),
            400
        );
        let empty = ChatRequest::default();
        assert_eq!(
            build(&empty, &BuildOptions::new(&m)).unwrap_err().status(),
            400
        );
        // An empty user turn is filled instead.
        let blank = ChatRequest {
            messages: vec![Message::user(vec![text("")])],
            ..Default::default()
        };
        build_json(&blank, &BuildOptions::new(&m));
    }

    #[test]
    fn over_budget_is_a_prompt_too_long_error() {
        let req = ChatRequest {
            messages: vec![Message::user(vec![text(&"x".repeat(10_000))])],
            ..Default::default()
        };
        let m = model("claude-sonnet-4.5");
        let mut opts = BuildOptions::new(&m);
        opts.payload_budget = 5_000;
        let err = build(&req, &opts).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidRequest);
        assert!(
            err.message.starts_with("Prompt is too long:"),
            "{}",
            err.message
        );
        assert!(err.message.contains("5000") && err.message.contains("compact"));
        opts.payload_budget = DEFAULT_PAYLOAD_BUDGET;
        assert!(build(&req, &opts).is_ok());
    }

    #[test]
    fn native_reasoning_is_opt_in() {
        let req = ChatRequest {
            messages: vec![Message::user(vec![text("think")])],
            thinking: Some(ThinkingConfig::Adaptive {
                effort: "max".into(),
            }),
            ..Default::default()
        };
        let m = model("claude-opus-4.6");
        let mut opts = BuildOptions::new(&m);
        let (_, json) = build_json(&req, &opts);
        assert!(json.get("additionalModelRequestFields").is_none());
        opts.native_reasoning = true;
        let (_, json) = build_json(&req, &opts);
        assert_eq!(
            json["additionalModelRequestFields"],
            json!({"output_config": {"effort": "max"}})
        );
    }

    #[test]
    fn profile_arn_is_spliced_into_the_root() {
        let arn = "arn:aws:codewhisperer:us-east-1:699475941385:profile/EHGA3GRVQMUK";
        let body = br#"{"conversationState":{"a":1}}"#;
        let with: Value = serde_json::from_slice(&with_profile_arn(body, Some(arn))).unwrap();
        assert_eq!(with["profileArn"], arn);
        assert_eq!(with["conversationState"]["a"], 1);
        assert_eq!(&with_profile_arn(body, None)[..], body);
        let empty: Value = serde_json::from_slice(&with_profile_arn(b" {}", Some("a\"b"))).unwrap();
        assert_eq!(empty["profileArn"], "a\"b");
        assert_eq!(&with_profile_arn(b"[1]", Some(arn))[..], b"[1]");
        assert_eq!(&with_profile_arn(b"", Some(arn))[..], b"");
        assert_eq!(&with_profile_arn(b"{", Some(arn))[..], b"{");
        // Appended as the last member, as Kiro's own clients send it.
        assert_eq!(
            &with_profile_arn(br#"{"a":{}} "#, Some("p"))[..],
            br#"{"a":{},"profileArn":"p"}"#
        );
    }

    #[test]
    fn the_built_body_takes_the_profile_arn_in_place() {
        let mut body = Vec::with_capacity(256);
        body.extend_from_slice(br#"{"conversationState":{"a":1}}"#);
        let at = body.as_ptr();
        let with = into_body_with_profile_arn(body, Some("arn:x"));
        assert_eq!(with.as_ptr(), at, "the conversation was copied");
        assert_eq!(
            &with[..],
            br#"{"conversationState":{"a":1},"profileArn":"arn:x"}"#
        );
    }

    #[test]
    fn profile_arn_is_swapped_for_another_accounts() {
        let (a, b) = (
            "arn:aws:codewhisperer:us-east-1:1:profile/A",
            "arn:b\"quoted",
        );
        for body in [&br#"{"conversationState":{"a":1}}"#[..], b"{}", b" \n{ }"] {
            let plain = Bytes::copy_from_slice(body);
            let with_a = with_profile_arn(body, Some(a));
            let with_b = replace_profile_arn(&with_a, Some(a), Some(b));
            assert_eq!(with_b, with_profile_arn(body, Some(b)));
            let without = replace_profile_arn(&with_a, Some(a), None);
            let reparsed: Value = serde_json::from_slice(&without).unwrap();
            assert_eq!(reparsed, serde_json::from_slice::<Value>(body).unwrap());
            assert_eq!(replace_profile_arn(&plain, None, Some(a)), with_a);
            // Same account, or same profile: the very same bytes, not a copy.
            let same = replace_profile_arn(&with_a, Some(a), Some(a));
            assert_eq!(same.as_ptr(), with_a.as_ptr());
        }
        // Not a body it made: left alone.
        let other = Bytes::from_static(br#"{"x":1}"#);
        assert_eq!(replace_profile_arn(&other, Some(a), Some(b)), other);
        let inner = Bytes::from_static(br#"{"x":{"profileArn":"p"}}"#);
        assert_eq!(replace_profile_arn(&inner, Some("p"), Some(b)), inner);
    }

    /// Test-only: the text/tool_use/tool_result subset of an Anthropic request.
    fn from_anthropic(body: &Value) -> ChatRequest {
        let blocks = |content: &Value| -> Vec<Block> {
            match content {
                Value::String(s) => vec![Block::Text(s.clone())],
                Value::Array(items) => items
                    .iter()
                    .filter_map(|b| match b["type"].as_str()? {
                        "text" => Some(Block::Text(b["text"].as_str()?.to_owned())),
                        "thinking" => Some(Block::Thinking(b["thinking"].as_str()?.to_owned())),
                        "tool_use" => Some(Block::ToolUse {
                            id: b["id"].as_str()?.to_owned(),
                            name: b["name"].as_str()?.to_owned(),
                            input: b["input"].clone(),
                        }),
                        "tool_result" => Some(Block::ToolResult {
                            tool_use_id: b["tool_use_id"].as_str()?.to_owned(),
                            content: match &b["content"] {
                                Value::String(s) => s.clone(),
                                Value::Array(parts) => parts
                                    .iter()
                                    .filter_map(|p| p["text"].as_str())
                                    .collect::<Vec<_>>()
                                    .join("\n"),
                                _ => String::new(),
                            },
                            is_error: b["is_error"].as_bool().unwrap_or(false),
                            images: Vec::new(),
                        }),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            }
        };
        ChatRequest {
            model: body["model"].as_str().unwrap_or("").to_owned(),
            system: match &body["system"] {
                Value::String(s) => vec![s.clone()],
                Value::Array(parts) => parts
                    .iter()
                    .filter_map(|p| p["text"].as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            },
            messages: body["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| Message {
                    role: if m["role"] == "assistant" {
                        crate::chat::Role::Assistant
                    } else {
                        crate::chat::Role::User
                    },
                    content: blocks(&m["content"]),
                })
                .collect(),
            tools: body["tools"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| Tool {
                    name: t["name"].as_str().unwrap_or("").to_owned(),
                    description: t["description"].as_str().unwrap_or("").to_owned(),
                    input_schema: t["input_schema"].clone(),
                })
                .collect(),
            thinking: body["thinking"]["budget_tokens"]
                .as_u64()
                .map(|b| ThinkingConfig::Enabled {
                    budget_tokens: b as u32,
                }),
            stream: true,
            ..Default::default()
        }
    }

    /// The `body` of a captured request in tests/fixtures.
    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let file: Value = serde_json::from_slice(&raw).unwrap_or_else(|e| panic!("{path}: {e}"));
        file["body"].clone()
    }

    #[test]
    fn claude_code_fixtures_convert_to_strict_requests() {
        for name in [
            "claude-code.plain.messages-stream.json",
            "claude-code.tool.messages-stream.json",
            "claude-code.tool.messages-tool-result.json",
        ] {
            let body = fixture(name);
            let req = from_anthropic(&body);
            let m = model("claude-sonnet-4.5");
            let (built, json) = build_json(&req, &BuildOptions::new(&m));
            assert!(built.thinking, "{name}");
            assert!(built.body.len() < DEFAULT_PAYLOAD_BUDGET);
            let tools = json["conversationState"]["currentMessage"]["userInputMessage"]
                ["userInputMessageContext"]["tools"]
                .as_array()
                .unwrap();
            assert_eq!(tools.len(), req.tools.len(), "{name}");
        }
    }

    /// A Claude-Code-like conversation of about 600 KB: the fixture's system prompt and tools
    /// and 150 tool round trips.
    fn large_request() -> ChatRequest {
        let mut req = from_anthropic(&fixture("claude-code.tool.messages-tool-result.json"));
        let tool_name = req
            .tools
            .first()
            .map_or("Bash".to_owned(), |t| t.name.clone());
        req.messages = vec![Message::user(vec![text("Refactor the project.")])];
        for i in 0..150 {
            let id = format!("toolu_{i:04}");
            req.messages.push(Message::assistant(vec![
                text("Let me look at the next file."),
                call(&id, &tool_name),
            ]));
            req.messages.push(Message::user(vec![result(
                &id,
                &"fn main() { println!(\"hello \\\"world\\\"\"); }\n".repeat(62),
            )]));
        }
        req.messages.push(Message::user(vec![text("Continue.")]));
        req
    }

    #[test]
    fn large_conversation_converts_within_budget() {
        let req = large_request();
        let m = model("claude-sonnet-4.5");
        let (built, _) = build_json(&req, &BuildOptions::new(&m));
        assert!(built.body.len() > 450_000, "{}", built.body.len());
        assert!(built.body.len() < DEFAULT_PAYLOAD_BUDGET);
    }

    fn arbitrary_block() -> impl proptest::strategy::Strategy<Value = Block> {
        use proptest::prelude::*;
        let id = (0u8..5).prop_map(|i| format!("id{i}"));
        let name = prop::sample::select(vec!["Bash", "read", "Read", "Grep", "Gone"]);
        prop_oneof![
            prop::sample::select(vec!["", " ", "hi", "<thinking>"]).prop_map(text),
            "[a-z ]{0,8}".prop_map(Block::Thinking),
            (id.clone(), name).prop_map(|(id, name)| call(&id, name)),
            (id, prop::sample::select(vec!["", "out"])).prop_map(|(id, c)| result(&id, c)),
        ]
    }

    proptest::proptest! {
        /// Whatever the client sends, the result is a request a strict Kiro accepts, or a 400
        /// because there is no user message.
        #[test]
        fn any_conversation_becomes_a_strict_request(
            messages in proptest::collection::vec(
                (proptest::bool::ANY, proptest::collection::vec(arbitrary_block(), 0..4)),
                0..10,
            ),
            system in proptest::option::of("[a-z]{1,5}"),
        ) {
            let req = ChatRequest {
                system: system.into_iter().collect(),
                messages: messages
                    .into_iter()
                    .map(|(user, content)| if user { Message::user(content) } else { Message::assistant(content) })
                    .collect(),
                tools: vec![tool("Bash"), tool("Read")].into(),
                ..Default::default()
            };
            let m = model("claude-sonnet-4.5");
            match build(&req, &BuildOptions::new(&m)) {
                Ok(built) => {
                    let json: Value = serde_json::from_slice(&built.body).unwrap();
                    if let Err(problem) = check_strict(&json) {
                        panic!("{problem}\n{req:#?}\n{}", serde_json::to_string_pretty(&json).unwrap());
                    }
                }
                Err(err) => {
                    proptest::prop_assert_eq!(err.status(), 400);
                    proptest::prop_assert!(req.messages.iter().all(|m| m.role == crate::chat::Role::Assistant));
                }
            }
        }
    }
}
