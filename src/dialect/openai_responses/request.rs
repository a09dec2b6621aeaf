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

use serde_json::{Map, Value};

use super::fields::{
    any, array, boolean, get, get_str, invalid, kind, number, object, require, string, unsigned,
    wrong_type, Obj, Path, Result, ROOT,
};
use super::tools::{PendingTool, ToolSet};
use super::{ECHO_RESPONSE, ECHO_TOOLS};
use crate::chat::{
    Block, ChatRequest, Document, GatewayError, Image, Message, Role, SessionHints,
    ThinkingConfig, ToolChoice,
};
use crate::dialect::RequestHints;

/// Longest session key accepted for account stickiness; longer ones are ignored, so a client
/// cannot make the pool store arbitrary amounts of key material.
const MAX_SESSION_KEY_LEN: usize = 256;

/// Decodes a `POST /v1/responses` body.
pub fn parse(body: &[u8], hints: &RequestHints) -> Result<ChatRequest> {
    let mut root = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(root)) => root,
        Ok(other) => {
            return Err(GatewayError::invalid(format!(
                "the request body must be a JSON object, not {}",
                kind(&other)
            )))
        }
        Err(e) => {
            return Err(GatewayError::invalid(format!(
                "the request body is not valid JSON: {e}"
            )))
        }
    };
    let at = &ROOT;

    let model = require(&mut root, at, "model", string)?;
    if model.trim().is_empty() {
        return Err(invalid(&at.key("model"), "must not be empty"));
    }
    let stream = get(&mut root, at, "stream", boolean)?.unwrap_or(false);
    for (field, what) in [
        ("conversation", "conversations are not supported here; send the history in `input`"),
        ("prompt", "stored prompt templates are not supported here; send the prompt in `input`"),
    ] {
        if root.get(field).is_some_and(|v| !v.is_null()) {
            return Err(invalid(&at.key(field), what));
        }
    }

    // Everything the response object echoes, checked and with OpenAI's defaults.
    let mut echo = Map::new();
    let max_output_tokens = get(&mut root, at, "max_output_tokens", unsigned)?;
    echo.insert("max_output_tokens".into(), max_output_tokens.into());
    let previous_response_id = get(&mut root, at, "previous_response_id", string)?;
    echo.insert(
        "previous_response_id".into(),
        previous_response_id.clone().into(),
    );
    let store = get(&mut root, at, "store", boolean)?.unwrap_or(true);
    echo.insert("store".into(), store.into());
    let parallel = get(&mut root, at, "parallel_tool_calls", boolean)?.unwrap_or(true);
    echo.insert("parallel_tool_calls".into(), parallel.into());
    for (field, default) in [("temperature", 1.0), ("top_p", 1.0)] {
        let value = get(&mut root, at, field, number)?.unwrap_or_else(|| default.into());
        echo.insert(field.into(), value);
    }
    let truncation = get(&mut root, at, "truncation", string)?;
    echo.insert(
        "truncation".into(),
        truncation.unwrap_or_else(|| "disabled".into()).into(),
    );
    let metadata = get(&mut root, at, "metadata", object)?.unwrap_or_default();
    echo.insert("metadata".into(), Value::Object(metadata));
    let prompt_cache_key = get(&mut root, at, "prompt_cache_key", string)?;
    echo.insert("prompt_cache_key".into(), prompt_cache_key.clone().into());

    let mut system = Vec::new();
    let instructions = root.remove("instructions").unwrap_or(Value::Null);
    push_instructions(&instructions, &at.key("instructions"), &mut system)?;
    echo.insert("instructions".into(), instructions);

    let reasoning = get(&mut root, at, "reasoning", object)?;
    let thinking = match &reasoning {
        Some(obj) => parse_reasoning(obj, &at.key("reasoning"))?,
        None => None,
    };
    echo.insert(
        "reasoning".into(),
        Value::Object(reasoning.unwrap_or_else(|| {
            let mut r = Map::new();
            r.insert("effort".into(), Value::Null);
            r.insert("summary".into(), Value::Null);
            r
        })),
    );

    let text = get(&mut root, at, "text", object)?;
    let response_schema = match &text {
        Some(obj) => parse_text_format(obj, &at.key("text"))?,
        None => None,
    };
    echo.insert(
        "text".into(),
        Value::Object(text.unwrap_or_else(|| {
            let mut format = Map::new();
            format.insert("type".into(), "text".into());
            let mut t = Map::new();
            t.insert("format".into(), Value::Object(format));
            t
        })),
    );

    // Tools are read in place: the response object echoes them as sent.
    let raw_tools = get(&mut root, at, "tools", array)?.unwrap_or_default();
    let mut pending: Vec<PendingTool> = Vec::new();
    ToolSet::collect(&raw_tools, &at.key("tools"), &mut pending)?;

    let input_at = at.key("input");
    let (input_text, input) = match root.remove("input") {
        None | Some(Value::Null) if previous_response_id.is_some() => (None, Vec::new()),
        None | Some(Value::Null) => return Err(invalid(&input_at, "field required")),
        Some(Value::String(text)) => (Some(text), Vec::new()),
        Some(Value::Array(items)) => (None, items),
        Some(other) => {
            return Err(wrong_type(
                &input_at,
                "a string or an array of input items",
                &other,
            ))
        }
    };
    // Codex sends the tools of models it knows in an `additional_tools` input item.
    for (i, item) in input.iter().enumerate() {
        if item.get("type").and_then(Value::as_str) == Some("additional_tools") {
            let item_at = input_at.index(i);
            if let Some(tools) = item.get("tools").filter(|t| !t.is_null()) {
                let tools_at = item_at.key("tools");
                let tools = tools
                    .as_array()
                    .ok_or_else(|| wrong_type(&tools_at, "an array", tools))?;
                ToolSet::collect(tools, &tools_at, &mut pending)?;
            }
        }
    }
    let tool_set = ToolSet::finish(pending);

    let mut conversation = Conversation::default();
    if let Some(text) = input_text {
        conversation.push(Role::User, Block::Text(text));
    }
    for (i, item) in input.into_iter().enumerate() {
        let item_at = input_at.index(i);
        let item = object(item, &item_at)?;
        parse_item(item, &item_at, &tool_set, &mut conversation, &mut system)?;
    }

    let tool_choice_value = root
        .remove("tool_choice")
        .filter(|v| !v.is_null())
        .unwrap_or_else(|| "auto".into());
    let tool_choice = parse_tool_choice(&tool_choice_value, &at.key("tool_choice"), &tool_set)?;
    echo.insert("tool_choice".into(), tool_choice_value);
    echo.insert("tools".into(), Value::Array(raw_tools));

    let session = session_hints(prompt_cache_key.as_deref(), hints.session_header.as_deref());
    let tools = tool_set.tools();
    let mut private = Map::new();
    private.insert(ECHO_RESPONSE.into(), Value::Object(echo));
    private.insert(ECHO_TOOLS.into(), tool_set.wire_map());

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
    })
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
    mut obj: Obj,
    at: &Path,
    tools: &ToolSet,
    conversation: &mut Conversation,
    system: &mut Vec<String>,
) -> Result<()> {
    // `type` is optional on messages in the public API.
    let item_type = match get(&mut obj, at, "type", string)? {
        Some(t) => t,
        None if obj.contains_key("role") => "message".to_owned(),
        None => return Err(invalid(&at.key("type"), "field required")),
    };
    match item_type.as_str() {
        "message" => parse_message(obj, at, conversation, system)?,
        "function_call" => {
            let call_id = require(&mut obj, at, "call_id", string)?;
            let name = require(&mut obj, at, "name", string)?;
            let namespace = get(&mut obj, at, "namespace", string)?;
            let input = match get(&mut obj, at, "arguments", any)? {
                None => Value::Object(Map::new()),
                Some(Value::String(args)) => arguments_object(&call_id, args),
                Some(args @ Value::Object(_)) => args,
                Some(other) => {
                    return Err(wrong_type(&at.key("arguments"), "a JSON string", &other))
                }
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
            let name = require(&mut obj, at, "name", string)?;
            let namespace = get(&mut obj, at, "namespace", string)?;
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
            let output = require(&mut obj, at, "output", any)?;
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
            let text = reasoning_text(&obj, at)?;
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
    mut obj: Obj,
    at: &Path,
    conversation: &mut Conversation,
    system: &mut Vec<String>,
) -> Result<()> {
    let role = require(&mut obj, at, "role", string)?;
    let content = require(&mut obj, at, "content", any)?;
    let content_at = at.key("content");
    let role = match role.as_str() {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "system" | "developer" => {
            return push_system(&content, &content_at, system);
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
    match content {
        Value::String(text) => {
            if !text.is_empty() {
                conversation.push(role, Block::Text(text));
            }
        }
        Value::Array(parts) => {
            for (i, part) in parts.into_iter().enumerate() {
                let part_at = content_at.index(i);
                if let Some(block) = content_part(object(part, &part_at)?, &part_at)? {
                    conversation.push(role, block);
                }
            }
        }
        other => {
            return Err(wrong_type(
                &content_at,
                "a string or an array of content parts",
                &other,
            ))
        }
    }
    Ok(())
}

/// One content part of a user or assistant message.
fn content_part(mut part: Obj, at: &Path) -> Result<Option<Block>> {
    let part_type = require(&mut part, at, "type", string)?;
    Ok(match part_type.as_str() {
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
fn input_image(part: &mut Obj, at: &Path) -> Result<Image> {
    let url_at = at.key("image_url");
    match get(part, at, "image_url", string)? {
        Some(url) => {
            let (media_type, data) = data_url(url, &url_at, "image")?;
            Ok(Image { media_type, data })
        }
        None if part.get("file_id").is_some_and(|v| !v.is_null()) => Err(invalid(
            &at.key("file_id"),
            "uploaded files are not supported; send the image inline as a base64 data: URL",
        )),
        None => Err(invalid(&url_at, "field required")),
    }
}

/// An `input_file` part: inline `file_data` becomes a document (PDF) or text.
fn input_file(part: &mut Obj, at: &Path) -> Result<Block> {
    let data_at = at.key("file_data");
    let Some(file_data) = get(part, at, "file_data", string)? else {
        return Err(invalid(
            at,
            "only inline files are supported; send the file as `file_data` (a base64 data: URL)",
        ));
    };
    let name = get(part, at, "filename", string)?;
    let (media_type, data) = if file_data.starts_with("data:") {
        data_url(file_data, &data_at, "file")?
    } else {
        // Bare base64, which the API also accepts for PDFs.
        ("application/pdf".to_owned(), file_data)
    };
    Ok(Block::Document(Document {
        media_type,
        data,
        name,
    }))
}

/// Splits `data:<type>;base64,<payload>`.
fn data_url(url: String, at: &Path, what: &str) -> Result<(String, String)> {
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
fn tool_output(output: Value, at: &Path) -> Result<(String, Vec<Image>)> {
    let mut texts: Vec<String> = Vec::new();
    let mut images = Vec::new();
    match output {
        Value::String(text) => texts.push(text),
        Value::Array(parts) => {
            for (i, part) in parts.into_iter().enumerate() {
                let part_at = at.index(i);
                let mut part = object(part, &part_at)?;
                match require(&mut part, &part_at, "type", string)?.as_str() {
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
        }
        other => texts.push(other.to_string()),
    }
    Ok((texts.join("\n"), images))
}

/// The readable text of a replayed `reasoning` item: its summary, else its raw content.
fn reasoning_text(obj: &Obj, at: &Path) -> Result<String> {
    let mut texts = Vec::new();
    for field in ["summary", "content"] {
        let field_at = at.key(field);
        match obj.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::Array(parts)) => {
                for (i, part) in parts.iter().enumerate() {
                    let part_at = field_at.index(i);
                    let part = part
                        .as_object()
                        .ok_or_else(|| wrong_type(&part_at, "an object", part))?;
                    if let Some(text) = get_str(part, &part_at, "text")? {
                        texts.push(text);
                    }
                }
            }
            Some(other) => return Err(wrong_type(&field_at, "an array", other)),
        }
        if !texts.is_empty() {
            break;
        }
    }
    Ok(texts.join("\n\n"))
}

/// `instructions`: a string, or message items whose text becomes system text.
fn push_instructions(value: &Value, at: &Path, system: &mut Vec<String>) -> Result<()> {
    match value {
        Value::Null => Ok(()),
        Value::String(text) => {
            push_system_text(text, system);
            Ok(())
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let item_at = at.index(i);
                let obj = item
                    .as_object()
                    .ok_or_else(|| wrong_type(&item_at, "an object", item))?;
                if let Some(content) = obj.get("content") {
                    push_system(content, &item_at.key("content"), system)?;
                }
            }
            Ok(())
        }
        other => Err(wrong_type(at, "a string or an array of messages", other)),
    }
}

/// System text from a message `content`: a string or text parts (other parts are ignored).
fn push_system(content: &Value, at: &Path, system: &mut Vec<String>) -> Result<()> {
    match content {
        Value::Null => {}
        Value::String(text) => push_system_text(text, system),
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
                        push_system_text(text, system);
                    }
                }
            }
        }
        other => {
            return Err(wrong_type(
                at,
                "a string or an array of content parts",
                other,
            ))
        }
    }
    Ok(())
}

fn push_system_text(text: &str, system: &mut Vec<String>) {
    if !text.trim().is_empty() {
        system.push(text.to_owned());
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
                let name = super::fields::require_str(obj, at, "name")?;
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
fn arguments_object(call_id: &str, args: String) -> Value {
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
            input.insert("arguments".into(), Value::String(args));
            Value::Object(input)
        }
    }
}

/// Session identity from `prompt_cache_key` (Codex: its session UUID) or a session header.
///
/// The conversation id must be a UUID (Kiro uses it as `conversationId`); the session key,
/// used only for account stickiness, may be any short string.
fn session_hints(prompt_cache_key: Option<&str>, header: Option<&str>) -> SessionHints {
    let bounded = |s: Option<&str>| {
        s.map(str::trim)
            .filter(|s| !s.is_empty() && s.len() <= MAX_SESSION_KEY_LEN)
    };
    let key = bounded(prompt_cache_key);
    let header = bounded(header);
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

/// `s` as a lowercase hyphenated UUID, if it is one.
fn normalize_uuid(s: &str) -> Option<String> {
    uuid::Uuid::parse_str(s.trim())
        .ok()
        .map(|u| u.hyphenated().to_string())
}
