//! Responses request JSON → [`ChatRequest`].
//!
//! `input` is a flat list of items; adjacent items of one side become one canonical turn
//! (an assistant's reasoning, text and function calls; a user's text and tool outputs).
//! `instructions` and `developer`/`system` messages become the system prompt: Codex sends no
//! `instructions` and carries its whole prompt in `developer` messages.
//!
//! Tolerant where clients evolve (unknown fields, item types and content parts are ignored),
//! strict where the input is simply wrong (a 400 naming the field, e.g. `input[2].call_id`).
//! The fields the response object must echo are kept in [`ChatRequest::echo`] (see
//! [`super::ECHO_RESPONSE`]).
//!
//! The body is parsed once, into a `dialect::lean` tree down to the fields of `input`'s content parts
//! (the bulk of a conversation is small objects there), and taken apart by value: types and
//! roles are compared where they lie in the body, texts are copied once, into the
//! `ChatRequest`. The echoed objects stay `Value`s, as the echo keeps them.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::tools::{Declarations, PendingTool, ToolSet};
use super::ECHO_RESPONSE;
use crate::chat::{
    Block, ChatRequest, Document, Image, Message, Role, SessionHints, ThinkingConfig, ToolChoice,
};
use crate::dialect::fields::{
    get, get_str, invalid, require, wrong_kind, wrong_type, Field as _, Obj, Path, Result, ROOT,
};
use crate::dialect::lean::{
    self, boolean, node, number, object, object_map, string, text_or_items, text_or_object,
    unsigned, Members, Node, TextOrItems, TextOrObject,
};
use crate::dialect::RequestHints;

/// Longest session key accepted for account stickiness; longer ones are ignored, so a client
/// cannot make the pool store arbitrary amounts of key material.
const MAX_SESSION_KEY_LEN: usize = 256;

/// What a message's `content` must be.
const CONTENT: &str = "a string or an array of content parts";

/// Decodes a `POST /v1/responses` body.
pub fn parse(body: &[u8], hints: &RequestHints) -> Result<ChatRequest> {
    let (mut root, raw_tools) = lean::root_object(body, "tools", lean_levels)?;
    let at = &ROOT;

    let model = require(&mut root, at, "model", string)?;
    if model.trim().is_empty() {
        return Err(invalid(&at.key("model"), "must not be empty"));
    }
    let stream = get(&mut root, at, "stream", boolean)?.unwrap_or(false);
    for (field, what) in [
        (
            "conversation",
            "conversations are not supported here; send the history in `input`",
        ),
        (
            "prompt",
            "stored prompt templates are not supported here; send the prompt in `input`",
        ),
    ] {
        if root.has(field) {
            return Err(invalid(&at.key(field), what));
        }
    }

    // The fields the response object echoes, type-checked; `output.rs` fills the defaults.
    let mut echo = Map::new();
    let max_output_tokens = get(&mut root, at, "max_output_tokens", unsigned)?;
    // Both are copied into the echo, and otherwise only looked at.
    let previous_response_id = get(&mut root, at, "previous_response_id", lean::str)?;
    let prompt_cache_key = get(&mut root, at, "prompt_cache_key", lean::str)?;
    echo_some(
        &mut echo,
        "max_output_tokens",
        max_output_tokens.map(Value::from),
    );
    echo_some(
        &mut echo,
        "previous_response_id",
        previous_response_id.as_deref().map(Value::from),
    );
    echo_some(
        &mut echo,
        "prompt_cache_key",
        prompt_cache_key.as_deref().map(Value::from),
    );
    for field in ["store", "parallel_tool_calls"] {
        let value = get(&mut root, at, field, boolean)?;
        echo_some(&mut echo, field, value.map(Value::from));
    }
    for field in ["temperature", "top_p"] {
        let value = get(&mut root, at, field, number)?;
        echo_some(&mut echo, field, value);
    }
    for field in ["truncation", "user", "safety_identifier", "service_tier"] {
        let value = get(&mut root, at, field, string)?;
        echo_some(&mut echo, field, value.map(Value::from));
    }
    let metadata = get(&mut root, at, "metadata", object_map)?;
    echo_some(&mut echo, "metadata", metadata.map(Value::Object));

    let mut system = Vec::new();
    let instructions = root
        .take("instructions")
        .map_or(Value::Null, Node::into_value);
    push_instructions(&instructions, &at.key("instructions"), &mut system)?;
    echo_some(
        &mut echo,
        "instructions",
        Some(instructions).filter(|v| !v.is_null()),
    );

    let reasoning = get(&mut root, at, "reasoning", object_map)?;
    let thinking = match &reasoning {
        Some(obj) => parse_reasoning(obj, &at.key("reasoning"))?,
        None => None,
    };
    echo_some(&mut echo, "reasoning", reasoning.map(Value::Object));

    let text = get(&mut root, at, "text", object_map)?;
    let response_schema = match &text {
        Some(obj) => parse_text_format(obj, &at.key("text"))?,
        None => None,
    };
    echo_some(&mut echo, "text", text.map(Value::Object));

    let declared = Declarations::shared(raw_tools, &at.key("tools"))?;
    let mut pending: Vec<PendingTool> = Vec::new();

    let input_at = at.key("input");
    let (input_text, mut input) = match root.take("input").filter(|v| !v.is_null()) {
        None if previous_response_id.is_some() => (None, Vec::new()),
        None => return Err(invalid(&input_at, "field required")),
        Some(input) => {
            match text_or_items(input, &input_at, "a string or an array of input items")? {
                TextOrItems::Text(text) => (Some(text), Vec::new()),
                TextOrItems::Items(items) => (None, items),
            }
        }
    };
    // Codex sends the tools of models it knows in an `additional_tools` input item. Items are
    // lean objects at the depth `input` is parsed to; the tools are taken out, as parsing the
    // item later ignores them.
    for (i, item) in input.iter_mut().enumerate() {
        let Node::Object(item) = item else { continue };
        if item.get("type").and_then(Node::as_str) == Some("additional_tools") {
            let item_at = input_at.index(i);
            if let Some(tools) = get(item, &item_at, "tools", lean::array)? {
                let tools: Vec<Value> = tools.into_iter().map(Node::into_value).collect();
                ToolSet::collect(&tools, &item_at.key("tools"), &mut pending)?;
            }
        }
    }
    let (tool_set, tools, shared_echo) = declared.with(pending);

    let mut conversation = Conversation::default();
    if let Some(text) = input_text {
        conversation.push(Role::User, Block::Text(text));
    }
    for (i, item) in input.into_iter().enumerate() {
        let item_at = input_at.index(i);
        let item = object(item, &item_at)?;
        parse_item(item, &item_at, &tool_set, &mut conversation, &mut system)?;
    }

    // With `previous_response_id` the stored conversation comes first; otherwise there must
    // be something to answer.
    if conversation.messages.is_empty() && previous_response_id.is_none() {
        return Err(invalid(
            &input_at,
            "must contain at least one user or assistant message",
        ));
    }

    let tool_choice = match root.take("tool_choice").filter(|v| !v.is_null()) {
        Some(value) => {
            let value = value.into_value();
            let choice = parse_tool_choice(&value, &at.key("tool_choice"), &tool_set)?;
            echo.insert("tool_choice".into(), value);
            choice
        }
        None => ToolChoice::Auto,
    };

    let session = session_hints(prompt_cache_key.as_deref(), hints.session_header.as_deref());
    let mut private = Map::new();
    private.insert(ECHO_RESPONSE.into(), Value::Object(echo));

    Ok(ChatRequest {
        model,
        system,
        messages: conversation.messages,
        tools,
        tool_choice,
        thinking,
        max_tokens: max_output_tokens.map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
        stream,
        response_schema,
        session,
        echo: Some(Value::Object(private)),
        shared_echo: Some(shared_echo),
    })
}

/// How many levels of each top-level member are parsed lean.
fn lean_levels(key: &str) -> u8 {
    match key {
        // The list (1), an item (2), its `content`, `output` or `summary` (3), a part (4) and
        // the part's fields (5), whose strings then stay in the body until taken.
        "input" => 5,
        // Echoed as sent, so `Value`s in the end anyway.
        "instructions" | "metadata" | "reasoning" | "text" | "tool_choice" => 0,
        // Strings only copied or compared (`model`…), and what is only type-checked or ignored
        // (`include`, `client_metadata`…), down to strings in a list or an object.
        _ => 2,
    }
}

/// Echoes `key` only when the client sent it: the response object shows defaults otherwise.
fn echo_some(echo: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(value) = value {
        echo.insert(key.to_owned(), value);
    }
}

/// Turns being built: adjacent blocks of one role share a message.
#[derive(Debug, Default)]
struct Conversation {
    messages: Vec<Message>,
}

impl Conversation {
    fn push(&mut self, role: Role, block: Block) {
        match self.messages.last_mut() {
            Some(last) if last.role == role => last.content.push(block),
            _ => self.messages.push(Message {
                role,
                content: vec![block],
            }),
        }
    }
}

/// One `input` item. Items of a type this code does not know, and the ones that mean nothing
/// to Kiro (`item_reference`, `compaction`, hosted tool calls…), are dropped.
fn parse_item(
    mut obj: Members,
    at: &Path,
    tools: &ToolSet,
    conversation: &mut Conversation,
    system: &mut Vec<String>,
) -> Result<()> {
    // `type` is optional on messages in the public API. A `role` of `null` still makes a
    // message, one whose role is then missing.
    let item_type = match get(&mut obj, at, "type", lean::str)? {
        Some(t) => t,
        None if obj.get("role").is_some() => Cow::Borrowed("message"),
        None => return Err(invalid(&at.key("type"), "field required")),
    };
    match item_type.as_ref() {
        "message" => parse_message(obj, at, conversation, system)?,
        "function_call" => {
            let call_id = require(&mut obj, at, "call_id", string)?;
            let name = require(&mut obj, at, "name", lean::str)?;
            let namespace = get(&mut obj, at, "namespace", lean::str)?;
            let arguments = |node, at: &Path| text_or_object(node, at, "a JSON string");
            let input = match get(&mut obj, at, "arguments", arguments)? {
                None => Value::Object(Map::new()),
                Some(TextOrObject::Text(args)) => arguments_object(&call_id, args),
                Some(TextOrObject::Object(args)) => Value::Object(args.into_obj()),
            };
            conversation.push(
                Role::Assistant,
                Block::ToolUse {
                    id: call_id,
                    name: tools.canonical(namespace.as_deref(), &name),
                    input,
                },
            );
        }
        "custom_tool_call" => {
            let call_id = require(&mut obj, at, "call_id", string)?;
            let name = require(&mut obj, at, "name", lean::str)?;
            let namespace = get(&mut obj, at, "namespace", lean::str)?;
            let text = get(&mut obj, at, "input", string)?.unwrap_or_default();
            let mut input = Map::new();
            input.insert("input".into(), Value::String(text));
            conversation.push(
                Role::Assistant,
                Block::ToolUse {
                    id: call_id,
                    name: tools.canonical(namespace.as_deref(), &name),
                    input: Value::Object(input),
                },
            );
        }
        "function_call_output" | "custom_tool_call_output" => {
            let tool_use_id = require(&mut obj, at, "call_id", string)?;
            let output = require(&mut obj, at, "output", node)?;
            let (content, images) = tool_output(output, &at.key("output"))?;
            conversation.push(
                Role::User,
                Block::ToolResult {
                    tool_use_id,
                    content,
                    is_error: false,
                    images,
                },
            );
        }
        "reasoning" => {
            // `encrypted_content` is OpenAI's own; only the readable text can travel.
            let text = reasoning_text(&mut obj, at)?;
            if !text.trim().is_empty() {
                conversation.push(Role::Assistant, Block::Thinking(text));
            }
        }
        _ => {}
    }
    Ok(())
}

/// A `message` item. `system` and `developer` messages join the system prompt.
fn parse_message(
    mut obj: Members,
    at: &Path,
    conversation: &mut Conversation,
    system: &mut Vec<String>,
) -> Result<()> {
    let role = require(&mut obj, at, "role", lean::str)?;
    let content = require(&mut obj, at, "content", node)?;
    let content_at = at.key("content");
    let role = match role.as_ref() {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "system" | "developer" => {
            return push_system(content, &content_at, system);
        }
        other => {
            return Err(invalid(
                &at.key("role"),
                format_args!(
                    "unknown role {other:?} (expected user, assistant, system or developer)"
                ),
            ))
        }
    };
    match text_or_items(content, &content_at, CONTENT)? {
        TextOrItems::Text(text) => {
            if !text.is_empty() {
                conversation.push(role, Block::Text(text));
            }
        }
        TextOrItems::Items(parts) => {
            for (i, part) in parts.into_iter().enumerate() {
                let part_at = content_at.index(i);
                if let Some(block) = content_part(object(part, &part_at)?, &part_at)? {
                    conversation.push(role, block);
                }
            }
        }
    }
    Ok(())
}

/// One content part of a user or assistant message.
fn content_part(mut part: Members, at: &Path) -> Result<Option<Block>> {
    let part_type = require(&mut part, at, "type", lean::str)?;
    Ok(match part_type.as_ref() {
        "input_text" | "output_text" | "text" => {
            let text = require(&mut part, at, "text", string)?;
            (!text.is_empty()).then_some(Block::Text(text))
        }
        "refusal" => Some(Block::Text(require(&mut part, at, "refusal", string)?)),
        "input_image" => Some(Block::Image(input_image(&mut part, at)?)),
        "input_file" => Some(input_file(&mut part, at)?),
        "input_audio" => return Err(invalid(at, "audio input is not supported")),
        // A part type newer than this code.
        _ => None,
    })
}

/// An `input_image` part: only inline `data:` URLs can be forwarded.
fn input_image(part: &mut Members, at: &Path) -> Result<Image> {
    let url_at = at.key("image_url");
    // Only its pieces are kept, so the URL itself stays in the body.
    match get(part, at, "image_url", lean::str)? {
        Some(url) => {
            let (media_type, data) = data_url(&url, &url_at, "image")?;
            Ok(Image { media_type, data })
        }
        None if part.has("file_id") => Err(invalid(
            &at.key("file_id"),
            "uploaded files are not supported; send the image inline as a base64 data: URL",
        )),
        None => Err(invalid(&url_at, "field required")),
    }
}

/// An `input_file` part: inline `file_data` becomes a document (PDF) or text.
fn input_file(part: &mut Members, at: &Path) -> Result<Block> {
    let data_at = at.key("file_data");
    let Some(file_data) = get(part, at, "file_data", lean::str)? else {
        return Err(invalid(
            at,
            "only inline files are supported; send the file as `file_data` (a base64 data: URL)",
        ));
    };
    let name = get(part, at, "filename", string)?;
    let (media_type, data) = if file_data.starts_with("data:") {
        data_url(&file_data, &data_at, "file")?
    } else {
        // Bare base64, which the API also accepts for PDFs.
        ("application/pdf".to_owned(), file_data.into_owned())
    };
    Ok(Block::Document(Document {
        media_type,
        data,
        name,
    }))
}

/// Splits `data:<type>;base64,<payload>`.
fn data_url(url: &str, at: &Path, what: &str) -> Result<(String, String)> {
    let unsupported = || {
        invalid(
            at,
            format_args!(
                "only base64 data: URLs are supported; send the {what} inline as \
                 data:<type>;base64,<data>"
            ),
        )
    };
    let Some(rest) = url.strip_prefix("data:") else {
        return Err(unsupported());
    };
    let Some((header, payload)) = rest.split_once(',') else {
        return Err(unsupported());
    };
    let Some(media_type) = header.strip_suffix(";base64") else {
        return Err(unsupported());
    };
    let media_type = if media_type.is_empty() {
        "application/octet-stream"
    } else {
        media_type
    };
    Ok((media_type.to_owned(), payload.to_owned()))
}

/// A tool call's `output`: a string, or text and image parts. Other JSON is kept as text.
fn tool_output(output: Node, at: &Path) -> Result<(String, Vec<Image>)> {
    let parts = match output.into_string() {
        // The common case, moved as it is.
        Ok(text) => return Ok((text, Vec::new())),
        Err(other) => match other.into_items() {
            Ok(parts) => parts,
            Err(other) => return Ok((other.into_value().to_string(), Vec::new())),
        },
    };
    let mut texts: Vec<String> = Vec::new();
    let mut images = Vec::new();
    for (i, part) in parts.into_iter().enumerate() {
        let part_at = at.index(i);
        let mut part = object(part, &part_at)?;
        match require(&mut part, &part_at, "type", lean::str)?.as_ref() {
            "input_text" | "output_text" | "text" => {
                texts.push(require(&mut part, &part_at, "text", string)?)
            }
            "input_image" => images.push(input_image(&mut part, &part_at)?),
            // Kiro tool results carry text and images only. Say so rather than let the
            // model believe the tool returned nothing.
            "input_file" => texts.push("[file omitted: not supported in tool output]".into()),
            _ => {}
        }
    }
    Ok((texts.join("\n"), images))
}

/// The readable text of a replayed `reasoning` item: its summary, else its raw content.
fn reasoning_text(obj: &mut Members, at: &Path) -> Result<String> {
    let mut texts: Vec<Cow<str>> = Vec::new();
    for field in ["summary", "content"] {
        let field_at = at.key(field);
        for (i, part) in get(obj, at, field, lean::array)?
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let part_at = field_at.index(i);
            let mut part = object(part, &part_at)?;
            if let Some(text) = get(&mut part, &part_at, "text", lean::str)? {
                texts.push(text);
            }
        }
        if !texts.is_empty() {
            break;
        }
    }
    Ok(texts.join("\n\n"))
}

/// `instructions`: a string, or message items whose text becomes system text. Read in place,
/// as the response object echoes them.
fn push_instructions(value: &Value, at: &Path, system: &mut Vec<String>) -> Result<()> {
    match value {
        Value::Null => Ok(()),
        Value::String(text) => {
            push_system_text(text.into(), system);
            Ok(())
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let item_at = at.index(i);
                let obj = item
                    .as_object()
                    .ok_or_else(|| wrong_type(&item_at, "an object", item))?;
                if let Some(content) = obj.get("content") {
                    push_instructions_content(content, &item_at.key("content"), system)?;
                }
            }
            Ok(())
        }
        other => Err(wrong_type(at, "a string or an array of messages", other)),
    }
}

/// System text from an `instructions` message's `content`: what [`push_system`] takes from a
/// message item, read in place.
fn push_instructions_content(content: &Value, at: &Path, system: &mut Vec<String>) -> Result<()> {
    match content {
        Value::Null => {}
        Value::String(text) => push_system_text(text.into(), system),
        Value::Array(parts) => {
            for (i, part) in parts.iter().enumerate() {
                let part_at = at.index(i);
                let part = part
                    .as_object()
                    .ok_or_else(|| wrong_type(&part_at, "an object", part))?;
                if matches!(
                    get_str(part, &part_at, "type")?,
                    Some("input_text" | "output_text" | "text")
                ) {
                    if let Some(text) = get_str(part, &part_at, "text")? {
                        push_system_text(text.into(), system);
                    }
                }
            }
        }
        other => return Err(wrong_type(at, CONTENT, other)),
    }
    Ok(())
}

/// System text from a `system` or `developer` message's `content`: a string or text parts
/// (other parts are ignored).
fn push_system(content: Node, at: &Path, system: &mut Vec<String>) -> Result<()> {
    // Taken as borrowed, so blank texts cost nothing.
    let parts = match content.into_str() {
        Ok(text) => {
            push_system_text(text, system);
            return Ok(());
        }
        Err(other) => other
            .into_items()
            .map_err(|other| wrong_kind(at, CONTENT, other.kind()))?,
    };
    for (i, part) in parts.into_iter().enumerate() {
        let part_at = at.index(i);
        let mut part = object(part, &part_at)?;
        if matches!(
            get(&mut part, &part_at, "type", lean::str)?.as_deref(),
            Some("input_text" | "output_text" | "text")
        ) {
            if let Some(text) = get(&mut part, &part_at, "text", lean::str)? {
                push_system_text(text, system);
            }
        }
    }
    Ok(())
}

fn push_system_text(text: Cow<str>, system: &mut Vec<String>) {
    if !text.trim().is_empty() {
        system.push(text.into_owned());
    }
}

/// `reasoning`: `effort:"none"` turns thinking off; any other effort (or none given, the
/// model's default, `medium`) turns it on. `minimal` is below Kiro's lowest level.
fn parse_reasoning(obj: &Obj, at: &Path) -> Result<Option<ThinkingConfig>> {
    Ok(match get_str(obj, at, "effort")? {
        Some("none") => None,
        Some("minimal") => Some(adaptive("low")),
        Some(effort) => Some(adaptive(effort)),
        None => Some(adaptive("medium")),
    })
}

fn adaptive(effort: &str) -> ThinkingConfig {
    ThinkingConfig::Adaptive {
        effort: effort.to_owned(),
    }
}

/// `text.format`: a JSON Schema for `json_schema`, any object for `json_object`.
fn parse_text_format(obj: &Obj, at: &Path) -> Result<Option<Value>> {
    let format_at = at.key("format");
    let format = match obj.get("format") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(format)) => format,
        Some(other) => return Err(wrong_type(&format_at, "an object", other)),
    };
    Ok(match get_str(format, &format_at, "type")? {
        Some("json_schema") => match format.get("schema") {
            Some(schema @ Value::Object(_)) => Some(schema.clone()),
            Some(other) => return Err(wrong_type(&format_at.key("schema"), "an object", other)),
            None => return Err(invalid(&format_at.key("schema"), "field required")),
        },
        Some("json_object") => {
            let mut schema = Map::new();
            schema.insert("type".into(), "object".into());
            Some(Value::Object(schema))
        }
        _ => None,
    })
}

/// `tool_choice`: a mode string or an object naming a tool. Forcing a hosted tool (dropped)
/// or an unknown object type leaves the choice to the model.
fn parse_tool_choice(value: &Value, at: &Path, tools: &ToolSet) -> Result<ToolChoice> {
    match value {
        Value::String(mode) => match mode.as_str() {
            "auto" => Ok(ToolChoice::Auto),
            "none" => Ok(ToolChoice::None),
            "required" => Ok(ToolChoice::Any),
            other => Err(invalid(
                at,
                format_args!("unknown value {other:?} (expected auto, none or required)"),
            )),
        },
        Value::Object(obj) => Ok(match get_str(obj, at, "type")? {
            Some("function" | "custom") => {
                let name = crate::dialect::fields::require_str(obj, at, "name")?;
                let namespace = get_str(obj, at, "namespace")?;
                ToolChoice::Tool(tools.canonical(namespace, name))
            }
            Some("allowed_tools") => match get_str(obj, at, "mode")? {
                Some("required") => ToolChoice::Any,
                _ => ToolChoice::Auto,
            },
            _ => ToolChoice::Auto,
        }),
        other => Err(wrong_type(at, "a string or an object", other)),
    }
}

/// A function call's `arguments` as an object. OpenAI does not validate replayed arguments, so
/// neither do we: text that is not a JSON object is kept under `arguments` rather than lost.
/// Parsed where it lies in the body; copied only when kept as text.
fn arguments_object(call_id: &str, args: Cow<str>) -> Value {
    if args.trim().is_empty() {
        return Value::Object(Map::new());
    }
    match serde_json::from_str::<Value>(&args) {
        Ok(input @ Value::Object(_)) => input,
        _ => {
            log::warn!(
                "function_call {call_id}: arguments are not a JSON object ({} bytes)",
                args.len()
            );
            let mut input = Map::new();
            input.insert("arguments".into(), Value::String(args.into_owned()));
            Value::Object(input)
        }
    }
}

/// Session identity from `prompt_cache_key` (Codex: its session UUID) or a session header.
///
/// The conversation id must be a UUID (Kiro uses it as `conversationId`); the session key,
/// used only for account stickiness, may be any short string.
fn session_hints(prompt_cache_key: Option<&str>, header: Option<&str>) -> SessionHints {
    let key = bounded_key(prompt_cache_key);
    let header = bounded_key(header);
    let conversation_id = key
        .and_then(normalize_uuid)
        .or_else(|| header.and_then(normalize_uuid));
    let session_key = key
        .or(header)
        .map(str::to_owned)
        .or_else(|| conversation_id.clone());
    SessionHints {
        conversation_id,
        session_key,
    }
}

/// A usable session key: not blank, not too long.
fn bounded_key(key: Option<&str>) -> Option<&str> {
    key.map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= MAX_SESSION_KEY_LEN)
}

/// `s` as a lowercase hyphenated UUID, if it is one.
fn normalize_uuid(s: &str) -> Option<String> {
    uuid::Uuid::parse_str(s.trim())
        .ok()
        .map(|u| u.hyphenated().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{ErrorKind, Tool};
    use crate::dialect::openai_responses::store;
    use crate::dialect::testing::captures;
    use serde_json::json;
    use std::sync::Arc;

    fn parse_json(body: &Value) -> Result<ChatRequest> {
        parse(body.to_string().as_bytes(), &RequestHints::default())
    }

    fn with_input(input: Value) -> Value {
        json!({"model": "gpt-5.1-codex", "input": input})
    }

    fn error_of(body: &Value) -> String {
        let err = parse_json(body).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidRequest);
        err.message
    }

    fn echo_response(req: &ChatRequest) -> &Value {
        &req.echo.as_ref().unwrap()[ECHO_RESPONSE]
    }

    #[test]
    fn minimal_string_input() {
        let req = parse_json(&with_input(json!("hi"))).unwrap();
        assert_eq!(req.model, "gpt-5.1-codex");
        assert_eq!(
            req.messages,
            [Message::user(vec![Block::Text("hi".into())])]
        );
        assert!(!req.stream);
        assert_eq!(req.thinking, None);
        assert_eq!(req.tool_choice, ToolChoice::Auto);
        assert_eq!(req.echo, Some(json!({ECHO_RESPONSE: {}})));
        let shared = req.shared_echo.as_deref().unwrap();
        assert_eq!((&shared.tools, &shared.tool_names), (&None, &json!({})));
        assert!(store::wants_store(req.echo.as_ref()));
    }

    #[test]
    fn every_item_kind() {
        let png = "data:image/png;base64,iVBORw0KGgo=";
        let body = json!({
            "model": "m",
            "instructions": "Be terse.",
            "tools": [
                {"type": "function", "name": "exec_command", "parameters": {"type": "object"}},
                {"type": "custom", "name": "apply_patch", "format": {"type": "grammar", "syntax": "lark", "definition": "start: x"}},
            ],
            "input": [
                {"type": "message", "id": "msg_1", "role": "developer", "content": [{"type": "input_text", "text": "Dev rules."}]},
                {"role": "system", "content": "Sys rules."},
                {"type": "message", "role": "user", "content": [
                    {"type": "input_text", "text": "Look:"},
                    {"type": "input_image", "image_url": png, "detail": "auto"},
                    {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="},
                    {"type": "some_future_part", "x": 1},
                ]},
                {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Plan A"}],
                 "content": null, "encrypted_content": "gAAAA…"},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Running.", "annotations": []}]},
                {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "exec_command",
                 "arguments": "{\"cmd\":\"ls\"}", "status": "completed"},
                {"type": "custom_tool_call", "id": "ctc_1", "call_id": "call_2", "name": "apply_patch", "input": "*** Begin Patch"},
                {"type": "function_call_output", "id": "fco_1", "call_id": "call_1", "output": "a.txt\n"},
                {"type": "custom_tool_call_output", "call_id": "call_2", "output": [
                    {"type": "input_text", "text": "Done"},
                    {"type": "input_image", "image_url": png},
                ]},
                {"type": "item_reference", "id": "msg_0"},
                {"type": "compaction", "encrypted_content": "x"},
                {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search"}},
                {"type": "message", "role": "user", "content": "Thanks"},
            ],
        });
        let req = parse_json(&body).unwrap();
        assert_eq!(req.system, ["Be terse.", "Dev rules.", "Sys rules."]);
        let image = Image {
            media_type: "image/png".into(),
            data: "iVBORw0KGgo=".into(),
        };
        assert_eq!(
            req.messages,
            [
                Message::user(vec![
                    Block::Text("Look:".into()),
                    Block::Image(image.clone()),
                    Block::Document(Document {
                        media_type: "application/pdf".into(),
                        data: "JVBERi0=".into(),
                        name: Some("a.pdf".into()),
                    }),
                ]),
                Message::assistant(vec![
                    Block::Thinking("Plan A".into()),
                    Block::Text("Running.".into()),
                    Block::ToolUse {
                        id: "call_1".into(),
                        name: "exec_command".into(),
                        input: json!({"cmd": "ls"}),
                    },
                    Block::ToolUse {
                        id: "call_2".into(),
                        name: "apply_patch".into(),
                        input: json!({"input": "*** Begin Patch"}),
                    },
                ]),
                Message::user(vec![
                    Block::ToolResult {
                        tool_use_id: "call_1".into(),
                        content: "a.txt\n".into(),
                        is_error: false,
                        images: vec![],
                    },
                    Block::ToolResult {
                        tool_use_id: "call_2".into(),
                        content: "Done".into(),
                        is_error: false,
                        images: vec![image],
                    },
                    Block::Text("Thanks".into()),
                ]),
            ]
        );
        assert_eq!(req.tools.len(), 2);
        assert_eq!(req.tools[1].input_schema["required"], json!(["input"]));
        let echo = req.echo.unwrap();
        assert_eq!(echo[ECHO_RESPONSE]["instructions"], "Be terse.");
        assert_eq!(echo[ECHO_RESPONSE].get("tools"), None);
        let shared = req.shared_echo.unwrap();
        assert_eq!(shared.tools.as_ref().unwrap().value(), &body["tools"]);
        assert_eq!(
            shared.tool_names,
            json!({"apply_patch": {"name": "apply_patch", "custom": true}})
        );
    }

    #[test]
    fn replayed_calls_map_back_to_canonical_tool_names() {
        let body = json!({
            "model": "m",
            "tools": [
                {"type": "function", "name": "send_input"},
                {"type": "namespace", "name": "multi_agent_v1", "description": "Agents.", "tools": [
                    {"type": "function", "name": "send_input"},
                    {"type": "function", "name": "spawn_agent"},
                ]},
            ],
            "input": [
                {"role": "user", "content": "go"},
                {"type": "function_call", "call_id": "c1", "name": "send_input", "namespace": "multi_agent_v1", "arguments": ""},
                {"type": "function_call", "call_id": "c2", "name": "spawn_agent", "arguments": "not json"},
                {"type": "function_call", "call_id": "c3", "name": "send_input", "arguments": {"x": 1}},
            ],
            "tool_choice": {"type": "function", "name": "spawn_agent"},
        });
        let req = parse_json(&body).unwrap();
        let names: Vec<&str> = req.tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            ["send_input", "multi_agent_v1__send_input", "spawn_agent"]
        );
        let calls: Vec<(&str, &Value)> = req.messages[1]
            .content
            .iter()
            .map(|b| match b {
                Block::ToolUse { name, input, .. } => (name.as_str(), input),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            calls,
            [
                ("multi_agent_v1__send_input", &json!({})),
                ("spawn_agent", &json!({"arguments": "not json"})),
                ("send_input", &json!({"x": 1})),
            ]
        );
        assert_eq!(req.tool_choice, ToolChoice::Tool("spawn_agent".into()));
    }

    #[test]
    fn additional_tools_items_declare_tools() {
        let body = json!({"model": "m", "input": [
            {"type": "additional_tools", "id": "at_1", "role": "developer", "tools": [
                {"type": "namespace", "name": "functions", "tools": [
                    {"type": "custom", "name": "exec", "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}},
                ]},
            ]},
            {"role": "user", "content": "hi"},
        ]});
        let req = parse_json(&body).unwrap();
        assert_eq!(req.tools.len(), 1);
        assert_eq!(req.tools[0].name, "exec");
        assert_eq!(
            req.shared_echo.unwrap().tool_names,
            json!({"exec": {"name": "exec", "namespace": "functions", "custom": true}})
        );
        assert_eq!(req.messages.len(), 1);
    }

    #[test]
    fn a_tool_list_sent_again_is_parsed_once_and_named_with_additional_tools() {
        let tools = json!([
            {"type": "function", "name": "exec", "description": "shared list test"},
            {"type": "custom", "name": "apply_patch"},
        ]);
        let body = json!({"model": "m", "tools": tools, "input": "hi"});
        let first = parse_json(&body).unwrap();
        let second = parse_json(&body).unwrap();
        // Kept from its second sighting, so the third request gets the second's list.
        let third = parse_json(&body).unwrap();
        assert!(third.tools.is_shared_with(&second.tools));
        assert!(!second.tools.is_shared_with(&first.tools));
        // So is the echo of the list, with its compact bytes.
        let shared_echo = |req: &ChatRequest| req.shared_echo.clone().unwrap();
        assert!(Arc::ptr_eq(&shared_echo(&third), &shared_echo(&second)));
        for req in [&first, &third] {
            assert_eq!(shared_echo(req).tools.as_ref().unwrap().value(), &tools);
            assert_eq!(
                shared_echo(req).tool_names,
                json!({"apply_patch": {"name": "apply_patch", "custom": true}})
            );
        }

        // An `additional_tools` item names its tools together with the shared list: its
        // `exec` clashes with the top-level one and gets the namespaced name.
        let mut with_more = body.clone();
        with_more["input"] = json!([
            {"type": "additional_tools", "tools": [
                {"type": "namespace", "name": "ns", "tools": [{"type": "function", "name": "exec"}]},
            ]},
            {"role": "user", "content": "hi"},
        ]);
        let req = parse_json(&with_more).unwrap();
        let names: Vec<&str> = req.tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["exec", "apply_patch", "ns__exec"]);
        assert!(!req.tools.is_shared_with(&third.tools));
        // Its echo shares the list as sent, with the names of both lists.
        let (more, shared) = (shared_echo(&req), shared_echo(&third));
        assert!(Arc::ptr_eq(
            more.tools.as_ref().unwrap(),
            shared.tools.as_ref().unwrap()
        ));
        assert_eq!(more.tool_names["ns__exec"]["namespace"], "ns");
        // The shared list is as it was.
        let again = parse_json(&body).unwrap();
        assert!(again.tools.is_shared_with(&third.tools));
        assert_eq!(again.tools.len(), 2);
    }

    #[test]
    fn options() {
        let mut body = with_input(json!("hi"));
        body["stream"] = json!(true);
        body["max_output_tokens"] = json!(4096);
        body["reasoning"] = json!({"effort": "high", "summary": "auto"});
        body["text"] = json!({"verbosity": "low", "format": {"type": "json_schema", "name": "x",
            "schema": {"type": "object", "properties": {"a": {"type": "string"}}}, "strict": true}});
        body["tool_choice"] = json!("required");
        body["store"] = json!(false);
        body["previous_response_id"] = json!("resp_prev");
        body["temperature"] = json!(0.2);
        body["metadata"] = json!({"k": "v"});
        body["parallel_tool_calls"] = json!(false);
        for (key, value) in [
            ("include", json!(["reasoning.encrypted_content"])),
            ("client_metadata", json!({"x": 1})),
            ("stream_options", json!({"include_obfuscation": false})),
            ("context_management", json!([{"type": "compaction"}])),
            ("some_future_field", json!([1, {"a": 2}])),
        ] {
            body[key] = value;
        }
        let req = parse_json(&body).unwrap();
        assert!(req.stream);
        assert_eq!(req.max_tokens, Some(4096));
        assert_eq!(
            req.thinking,
            Some(ThinkingConfig::Adaptive {
                effort: "high".into()
            })
        );
        assert_eq!(
            req.response_schema.as_ref().unwrap()["properties"]["a"]["type"],
            "string"
        );
        assert_eq!(req.tool_choice, ToolChoice::Any);
        let echo = echo_response(&req);
        assert_eq!(echo["store"], false);
        assert_eq!(echo["previous_response_id"], "resp_prev");
        assert_eq!(echo["temperature"], 0.2);
        assert_eq!(echo["metadata"], json!({"k": "v"}));
        assert_eq!(echo["parallel_tool_calls"], false);
        assert_eq!(
            echo["reasoning"],
            json!({"effort": "high", "summary": "auto"})
        );
        assert_eq!(echo["tool_choice"], "required");
        assert_eq!(echo["max_output_tokens"], 4096);
        assert_eq!(
            store::previous_response_id(req.echo.as_ref()),
            Some("resp_prev")
        );
        assert!(!store::wants_store(req.echo.as_ref()));

        let effort = |reasoning: Value| {
            let mut body = with_input(json!("hi"));
            body["reasoning"] = reasoning;
            parse_json(&body).unwrap().thinking
        };
        assert_eq!(effort(json!({"effort": "none"})), None);
        assert_eq!(effort(json!({"effort": "minimal"})), Some(adaptive("low")));
        assert_eq!(effort(json!({"effort": "xhigh"})), Some(adaptive("xhigh")));
        // Codex sends only `summary`: the model's default effort.
        assert_eq!(effort(json!({"summary": "auto"})), Some(adaptive("medium")));
        assert_eq!(effort(Value::Null), None);

        let mut body = with_input(json!("hi"));
        body["text"] = json!({"format": {"type": "json_object"}});
        assert_eq!(
            parse_json(&body).unwrap().response_schema,
            Some(json!({"type": "object"}))
        );
        body["text"] = json!({"format": {"type": "text"}});
        assert_eq!(parse_json(&body).unwrap().response_schema, None);

        let choice = |choice: Value| {
            let mut body = with_input(json!("hi"));
            body["tools"] = json!([{"type": "custom", "name": "apply_patch"}]);
            body["tool_choice"] = choice;
            parse_json(&body).unwrap().tool_choice
        };
        assert_eq!(choice(json!("none")), ToolChoice::None);
        assert_eq!(choice(json!("auto")), ToolChoice::Auto);
        assert_eq!(
            choice(json!({"type": "custom", "name": "apply_patch"})),
            ToolChoice::Tool("apply_patch".into())
        );
        assert_eq!(
            choice(json!({"type": "allowed_tools", "mode": "required", "tools": []})),
            ToolChoice::Any
        );
        assert_eq!(choice(json!({"type": "web_search"})), ToolChoice::Auto);
    }

    #[test]
    fn escaped_keys_and_rarer_shapes_read_as_sent() {
        // Escaped keys and values cannot be borrowed from the body; they read the same.
        let body = r#"{"model": "m", "instructions": [{"content": [{"type": "input_text", "text": "Inst."}]}],
            "input": [
            {"ty\u0070e": "m\u0065ssage", "role": "developer", "content": [
                {"type": "input_text", "text": "  "}, {"type": "input_text", "text": "Dev \"rules\"."}]},
            {"role": "us\u0065r", "cont\u0065nt": [{"type": "input_text", "text": "a\nb"}]},
            {"type": "reasoning", "summary": [], "content": [{"type": "reasoning_text", "text": "x"},
                {"text": "y"}]},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{\"p\": \"\\u00e9\"}"},
            {"type": "function_call", "call_id": "c2", "name": "f", "arguments": {"q": [1, {"r": null}]}},
            {"type": "function_call_output", "call_id": "c1", "output": {"b": 1, "a": [true]}},
            {"type": "function_call_output", "call_id": "c2", "output": [
                {"type": "input_file"}, {"type": "output_text", "text": "t"}, {"type": "future"}]}
        ]}"#;
        let req = parse(body.as_bytes(), &RequestHints::default()).unwrap();
        assert_eq!(req.system, ["Inst.", "Dev \"rules\"."]);
        assert_eq!(
            req.messages,
            [
                Message::user(vec![Block::Text("a\nb".into())]),
                Message::assistant(vec![
                    Block::Thinking("x\n\ny".into()),
                    Block::ToolUse {
                        id: "c1".into(),
                        name: "f".into(),
                        input: json!({"p": "é"}),
                    },
                    Block::ToolUse {
                        id: "c2".into(),
                        name: "f".into(),
                        input: json!({"q": [1, {"r": null}]}),
                    },
                ]),
                Message::user(vec![
                    Block::ToolResult {
                        tool_use_id: "c1".into(),
                        content: r#"{"a":[true],"b":1}"#.into(),
                        is_error: false,
                        images: vec![],
                    },
                    Block::ToolResult {
                        tool_use_id: "c2".into(),
                        content: "[file omitted: not supported in tool output]\nt".into(),
                        is_error: false,
                        images: vec![],
                    },
                ]),
            ]
        );
        assert_eq!(
            echo_response(&req)["instructions"],
            json!([{"content": [{"type": "input_text", "text": "Inst."}]}])
        );

        // A `role` of `null` still makes a message, one whose role is missing.
        assert_eq!(
            error_of(&with_input(json!([{"role": null, "content": "x"}]))),
            "input[0].role: field required"
        );
        assert_eq!(
            error_of(&with_input(
                json!([{"type": "reasoning", "summary": [{"text": 1}]}])
            )),
            "input[0].summary[0].text: expected a string, got a number"
        );
        assert_eq!(
            error_of(&with_input(
                json!([{"role": "system", "content": [{"type": 1}]}])
            )),
            "input[0].content[0].type: expected a string, got a number"
        );
    }

    #[test]
    fn input_may_be_omitted_when_continuing() {
        let body = json!({"model": "m", "previous_response_id": "resp_1"});
        assert!(parse_json(&body).unwrap().messages.is_empty());
        assert_eq!(error_of(&json!({"model": "m"})), "input: field required");
        assert_eq!(
            error_of(&with_input(
                json!([{"role": "developer", "content": "rules"}])
            )),
            "input: must contain at least one user or assistant message"
        );
        assert_eq!(
            error_of(&with_input(json!([]))),
            "input: must contain at least one user or assistant message"
        );
    }

    #[test]
    fn session_from_prompt_cache_key_or_header() {
        let uuid = "01a1fca7-acbf-7b12-9ed0-1582daf6435e";
        let mut body = with_input(json!("hi"));
        body["prompt_cache_key"] = json!(uuid);
        let req = parse_json(&body).unwrap();
        assert_eq!(
            req.session,
            SessionHints {
                conversation_id: Some(uuid.into()),
                session_key: Some(uuid.into())
            }
        );
        assert_eq!(
            session_hints(Some("user-42"), None),
            SessionHints {
                conversation_id: None,
                session_key: Some("user-42".into())
            }
        );
        assert_eq!(
            session_hints(None, Some(uuid)),
            SessionHints {
                conversation_id: Some(uuid.into()),
                session_key: Some(uuid.into())
            }
        );
        let huge = "k".repeat(MAX_SESSION_KEY_LEN + 1);
        assert_eq!(session_hints(Some(&huge), None), SessionHints::default());
        assert_eq!(session_hints(Some("  "), None), SessionHints::default());
    }

    #[test]
    fn errors_name_the_field() {
        let cases: Vec<(Value, &str)> = vec![
            (json!([1]), "the request body must be a JSON object, not an array"),
            (json!({"input": "x"}), "model: field required"),
            (json!({"model": " ", "input": "x"}), "model: must not be empty"),
            (json!({"model": "m", "input": 3}), "input: expected a string or an array of input items, got a number"),
            (with_input(json!([1])), "input[0]: expected an object, got a number"),
            (with_input(json!([{"content": "x"}])), "input[0].type: field required"),
            (with_input(json!([{"role": "tool", "content": "x"}])),
                "input[0].role: unknown role \"tool\" (expected user, assistant, system or developer)"),
            (with_input(json!([{"role": "user"}])), "input[0].content: field required"),
            (with_input(json!([{"role": "user", "content": 1}])),
                "input[0].content: expected a string or an array of content parts, got a number"),
            (with_input(json!([{"role": "user", "content": [{"type": "input_text"}]}])),
                "input[0].content[0].text: field required"),
            (with_input(json!([{"role": "user", "content": [{"type": "input_image", "image_url": "https://x/y.png"}]}])),
                "input[0].content[0].image_url: only base64 data: URLs are supported; send the image inline as data:<type>;base64,<data>"),
            (with_input(json!([{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}])),
                "input[0].content[0].file_id: uploaded files are not supported; send the image inline as a base64 data: URL"),
            (with_input(json!([{"role": "user", "content": [{"type": "input_image", "image_url": "data:image/png,abc"}]}])),
                "input[0].content[0].image_url: only base64 data: URLs are supported; send the image inline as data:<type>;base64,<data>"),
            (with_input(json!([{"role": "user", "content": [{"type": "input_file", "file_id": "file-1"}]}])),
                "input[0].content[0]: only inline files are supported; send the file as `file_data` (a base64 data: URL)"),
            (with_input(json!([{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}])),
                "input[0].content[0]: audio input is not supported"),
            (with_input(json!([{"type": "function_call", "name": "f", "arguments": "{}"}])),
                "input[0].call_id: field required"),
            (with_input(json!([{"type": "function_call", "call_id": "c", "name": "f", "arguments": 5}])),
                "input[0].arguments: expected a JSON string, got a number"),
            (with_input(json!([{"type": "function_call_output", "call_id": "c"}])),
                "input[0].output: field required"),
            (with_input(json!([{"type": "function_call_output", "call_id": "c", "output": [{"type": "input_image", "image_url": "http://x"}]}])),
                "input[0].output[0].image_url: only base64 data: URLs are supported; send the image inline as data:<type>;base64,<data>"),
            (with_input(json!([{"type": "reasoning", "summary": "x"}])),
                "input[0].summary: expected an array, got a string"),
            (with_input(json!([{"type": "additional_tools", "tools": {}}])),
                "input[0].tools: expected an array, got an object"),
        ];
        for (body, expected) in cases {
            assert_eq!(error_of(&body), expected, "body {body}");
        }

        let field_cases: Vec<(&str, Value, &str)> = vec![
            ("stream", json!("yes"), "stream: expected a boolean, got a string"),
            ("max_output_tokens", json!(-1), "max_output_tokens: expected a non-negative integer, got a number"),
            ("instructions", json!(5), "instructions: expected a string or an array of messages, got a number"),
            ("tools", json!({}), "tools: expected an array, got an object"),
            ("tools", json!([{"type": "function"}]), "tools[0].name: field required"),
            ("tool_choice", json!("sometimes"), "tool_choice: unknown value \"sometimes\" (expected auto, none or required)"),
            ("tool_choice", json!({"type": "function"}), "tool_choice.name: field required"),
            ("reasoning", json!({"effort": 1}), "reasoning.effort: expected a string, got a number"),
            ("text", json!({"format": {"type": "json_schema"}}), "text.format.schema: field required"),
            ("text", json!({"format": "json"}), "text.format: expected an object, got a string"),
            ("temperature", json!("hot"), "temperature: expected a number, got a string"),
            ("metadata", json!([]), "metadata: expected an object, got an array"),
            ("store", json!(1), "store: expected a boolean, got a number"),
            ("previous_response_id", json!(1), "previous_response_id: expected a string, got a number"),
            ("conversation", json!("conv_1"), "conversation: conversations are not supported here; send the history in `input`"),
            ("prompt", json!({"id": "pmpt_1"}), "prompt: stored prompt templates are not supported here; send the prompt in `input`"),
        ];
        for (field, value, expected) in field_cases {
            let mut body = with_input(json!("hi"));
            body[field] = value;
            assert_eq!(error_of(&body), expected, "{field}");
        }

        let err = parse(b"{\"model\": ", &RequestHints::default()).unwrap_err();
        assert!(err
            .message
            .starts_with("the request body is not valid JSON: "));
    }

    #[test]
    fn hostile_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(deep.as_bytes(), &RequestHints::default()).is_err());
        let body = format!(
            r#"{{"model":"m","input":[{{"type":"function_call_output","call_id":"c","output":{}}}]}}"#,
            "[".repeat(50_000)
        );
        assert!(parse(body.as_bytes(), &RequestHints::default()).is_err());
    }

    /// The captured Codex requests (`tests/fixtures/codex.*.json`, or the directory in
    /// `KIRO_EDGE_FIXTURES`).
    fn codex_fixtures() -> Vec<(String, Value)> {
        let fixtures: Vec<_> = captures("codex.")
            .into_iter()
            .map(|(name, capture)| (name, capture["body"].clone()))
            .collect();
        assert_eq!(fixtures.len(), 3, "expected the Codex captures");
        fixtures
    }

    #[test]
    fn codex_captures_parse() {
        for (name, body) in codex_fixtures() {
            let req = parse_json(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(req.model, "kiro-gw-model", "{name}");
            assert!(req.stream, "{name}");
            // 7 functions + 5 namespace members; web_search dropped.
            assert_eq!(req.tools.len(), 12, "{name}");
            let tool = |n: &str| req.tools.iter().find(|t| t.name == n);
            assert!(tool("exec_command").is_some(), "{name}");
            let spawn: &Tool = tool("spawn_agent").unwrap();
            assert!(
                spawn.description.contains("(Tool group `multi_agent_v1`"),
                "{name}"
            );
            // The developer messages (three text parts in two messages) are the system prompt.
            assert_eq!(req.system.len(), 3, "{name}");
            assert!(req.system[0].starts_with("You are a coding agent running in the Codex CLI"));
            assert!(req.system[1].starts_with("<skills_instructions>"));
            assert!(req.system[2].starts_with("<permissions instructions>"));
            assert_eq!(
                req.thinking,
                Some(ThinkingConfig::Adaptive {
                    effort: "medium".into()
                })
            );
            assert_eq!(
                req.session.conversation_id.as_deref(),
                body["prompt_cache_key"].as_str()
            );
            let echo = req.echo.as_ref().unwrap();
            assert_eq!(echo[ECHO_RESPONSE]["store"], false);
            let shared = req.shared_echo.as_deref().unwrap();
            assert_eq!(shared.tools.as_ref().unwrap().value(), &body["tools"]);
            // Namespace members keep their plain names, but go back out with the namespace.
            assert_eq!(
                shared.tool_names["spawn_agent"]["namespace"],
                "multi_agent_v1"
            );

            let first = &req.messages[0];
            assert_eq!(first.role, Role::User);
            assert_eq!(first.content.len(), 2, "{name}");
            if name.contains("tool-result") {
                assert_eq!(req.messages.len(), 3, "{name}");
                let (call_id, input) = match &req.messages[1].content[..] {
                    [Block::ToolUse { id, name, input }] if name == "exec_command" => (id, input),
                    other => panic!("{name}: {other:?}"),
                };
                assert_eq!(input, &json!({"cmd": "echo capture-ok"}));
                match &req.messages[2].content[..] {
                    [Block::ToolResult {
                        tool_use_id,
                        content,
                        is_error: false,
                        ..
                    }] => {
                        assert_eq!(tool_use_id, call_id);
                        assert!(content.contains("capture-ok"), "{content}");
                    }
                    other => panic!("{name}: {other:?}"),
                }
            } else {
                assert_eq!(req.messages.len(), 1, "{name}");
            }
        }
    }
}
