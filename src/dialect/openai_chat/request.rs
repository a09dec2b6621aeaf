//! OpenAI Chat Completions request JSON → [`ChatRequest`].
//!
//! Tolerant of what the API grows (unknown top-level fields, sampling knobs Kiro has no use
//! for), strict where the input is simply wrong: a field of the wrong type, or content Kiro
//! cannot receive, is a 400 naming the field's path (`messages[2].tool_calls[0].function.arguments`).
//!
//! Choices where the API offers more than Kiro can take:
//! - `image_url` parts must be `data:` URLs: the gateway never fetches remote URLs for a client
//!   (that would make it an open fetcher, and Kiro only takes inline bytes).
//! - `input_audio` parts are refused with a 400 rather than dropped: Kiro's models take no
//!   audio, and a silently dropped clip would get a confident answer about audio nobody heard.
//! - `file` parts with inline `file_data` become documents (PDF or text, checked by the Kiro
//!   layer); `file_id` references are refused, since there is no Files API behind the gateway.
//! - `custom` tools (free-form text input with an optional grammar) are dropped: Kiro tools are
//!   JSON-Schema functions only, and answering a custom call would need a wire shape the
//!   function-call stream does not have. The model simply does not see them.
//! - `reasoning_effort` becomes a thinking budget (see [`thinking_for_effort`]).

use std::fmt;

use serde_json::{Map, Value};

use crate::chat::{
    Block, ChatRequest, Document, GatewayError, Image, Message, Role, SessionHints, ThinkingConfig,
    Tool, ToolChoice,
};
use crate::dialect::RequestHints;

type Obj = Map<String, Value>;
type Result<T> = std::result::Result<T, GatewayError>;

/// Longest session key accepted for account stickiness; longer ones are ignored, so a client
/// cannot make the pool store arbitrary amounts of key material.
const MAX_SESSION_KEY_LEN: usize = 256;

/// Thinking budgets for the reasoning efforts. Kiro derives its native effort back from the
/// budget (≤4000 low, ≤16000 medium, above: high), so these round-trip; `high` and `xhigh` get
/// the largest budget Kiro's prompt tags take.
const LOW_BUDGET: u32 = 4_000;
const MEDIUM_BUDGET: u32 = 16_000;
const HIGH_BUDGET: u32 = 24_576;

/// The key under which [`ChatRequest::echo`] tells the writers to send the usage chunk.
pub const ECHO_INCLUDE_USAGE: &str = "include_usage";

/// Decodes a `POST /v1/chat/completions` body.
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
    if model.is_empty() {
        return Err(invalid(&at.key("model"), "must not be empty"));
    }
    // `max_tokens` is deprecated in favour of `max_completion_tokens`; either may come.
    let max_completion = get(&mut root, at, "max_completion_tokens", unsigned)?;
    let max_legacy = get(&mut root, at, "max_tokens", unsigned)?;
    let max_tokens = max_completion
        .or(max_legacy)
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    let stream = get(&mut root, at, "stream", boolean)?.unwrap_or(false);
    let include_usage = match get(&mut root, at, "stream_options", object)? {
        Some(mut options) => get(
            &mut options,
            &at.key("stream_options"),
            "include_usage",
            boolean,
        )?
        .unwrap_or(false),
        None => false,
    };
    if let Some(n) = get(&mut root, at, "n", unsigned)? {
        if n != 1 {
            return Err(invalid(
                &at.key("n"),
                "only one choice (n = 1) is supported",
            ));
        }
    }
    // Kiro decides by itself whether to call tools in parallel; the flag is only checked.
    get(&mut root, at, "parallel_tool_calls", boolean)?;

    let messages_at = at.key("messages");
    let raw_messages = require(&mut root, at, "messages", array)?;
    if raw_messages.is_empty() {
        return Err(invalid(&messages_at, "at least one message is required"));
    }
    let mut conversation = Conversation::default();
    for (i, raw) in raw_messages.into_iter().enumerate() {
        conversation.push(raw, &messages_at.index(i))?;
    }

    let mut tools = match get(&mut root, at, "tools", array)? {
        Some(raw) => parse_tools(raw, &at.key("tools"))?,
        None => Vec::new(),
    };
    if let Some(raw) = get(&mut root, at, "functions", array)? {
        let functions_at = at.key("functions");
        for (i, function) in raw.into_iter().enumerate() {
            tools.push(parse_function(function, &functions_at.index(i))?);
        }
    }
    let tool_choice = match root.remove("tool_choice") {
        None | Some(Value::Null) => match root.remove("function_call") {
            None | Some(Value::Null) => ToolChoice::Auto,
            Some(value) => parse_function_call_choice(value, &at.key("function_call"))?,
        },
        Some(value) => parse_tool_choice(value, &at.key("tool_choice"), &mut tools)?,
    };

    let thinking = match get(&mut root, at, "reasoning_effort", string)? {
        Some(effort) => thinking_for_effort(&effort, &at.key("reasoning_effort"))?,
        None => None,
    };
    let response_schema = match get(&mut root, at, "response_format", object)? {
        Some(format) => parse_response_format(format, &at.key("response_format"))?,
        None => None,
    };

    let mut keys = Vec::with_capacity(3);
    for key in ["prompt_cache_key", "safety_identifier", "user"] {
        keys.push(get(&mut root, at, key, string)?);
    }
    let session = session_hints(hints.session_header.as_deref(), keys.into_iter().flatten());

    Ok(ChatRequest {
        model,
        system: conversation.system,
        messages: conversation.messages,
        tools,
        tool_choice,
        thinking,
        max_tokens,
        stream,
        response_schema,
        session,
        echo: (stream && include_usage)
            .then(|| Value::Object(Map::from_iter([(ECHO_INCLUDE_USAGE.into(), true.into())]))),
    })
}

/// `reasoning_effort` → thinking. `none` and `minimal` mean no reasoning.
///
/// A budget rather than adaptive thinking, because Kiro's adaptive prompt tags rarely make the
/// model think visibly (hank9999 #86), while a client that names an effort wants reasoning.
fn thinking_for_effort(effort: &str, at: &Path) -> Result<Option<ThinkingConfig>> {
    let budget_tokens = match effort {
        "none" | "minimal" => return Ok(None),
        "low" => LOW_BUDGET,
        "medium" => MEDIUM_BUDGET,
        "high" | "xhigh" | "max" => HIGH_BUDGET,
        other => {
            return Err(invalid(
                at,
                format_args!(
                    "unknown effort {other:?} (expected none, minimal, low, medium, high or xhigh)"
                ),
            ))
        }
    };
    Ok(Some(ThinkingConfig::Enabled { budget_tokens }))
}

// ---------------------------------------------------------------------------------------------
// Messages

/// The conversation being assembled from `messages`.
#[derive(Default)]
struct Conversation {
    system: Vec<String>,
    messages: Vec<Message>,
    /// The last message holds only tool results, so the next tool message joins it: OpenAI
    /// sends one message per result, Kiro wants all results of a turn in one user message.
    open_tool_turn: bool,
    /// Legacy `function_call`s not yet answered by a `function` message: (name, id we made up).
    pending_functions: Vec<(String, String)>,
}

impl Conversation {
    fn push(&mut self, raw: Value, at: &Path) -> Result<()> {
        let mut obj = object(raw, at)?;
        let role = require(&mut obj, at, "role", string)?;
        match role.as_str() {
            "system" | "developer" => {
                let content = require(&mut obj, at, "content", any)?;
                let text = system_text(content, &at.key("content"))?;
                if !text.trim().is_empty() {
                    self.system.push(text);
                }
            }
            "user" => {
                let content = require(&mut obj, at, "content", any)?;
                let blocks = user_content(content, &at.key("content"))?;
                self.push_message(Message::user(blocks));
            }
            "assistant" => {
                let message = self.assistant(obj, at)?;
                if !message.content.is_empty() {
                    self.push_message(message);
                }
            }
            "tool" => {
                let tool_use_id = require(&mut obj, at, "tool_call_id", string)?;
                let content = get(&mut obj, at, "content", any)?;
                let result = tool_result(tool_use_id, content, &at.key("content"))?;
                self.push_tool_result(result);
            }
            "function" => {
                let name = require(&mut obj, at, "name", string)?;
                let content = get(&mut obj, at, "content", any)?;
                let id = self.answer_function(&name);
                let result = tool_result(id, content, &at.key("content"))?;
                self.push_tool_result(result);
            }
            other => {
                return Err(invalid(
                    &at.key("role"),
                    format_args!(
                        "unknown role {other:?} (expected system, developer, user, assistant, \
                         tool or function)"
                    ),
                ))
            }
        }
        Ok(())
    }

    fn push_message(&mut self, message: Message) {
        self.open_tool_turn = false;
        self.messages.push(message);
    }

    fn push_tool_result(&mut self, result: Block) {
        match self.messages.last_mut() {
            Some(last) if self.open_tool_turn && last.role == Role::User => {
                last.content.push(result)
            }
            _ => {
                self.messages.push(Message::user(vec![result]));
                self.open_tool_turn = true;
            }
        }
    }

    /// An assistant message: reasoning first, then text, then tool calls.
    fn assistant(&mut self, mut obj: Obj, at: &Path) -> Result<Message> {
        let mut blocks = Vec::new();
        if let Some(reasoning) = get(&mut obj, at, "reasoning_content", string)? {
            if !reasoning.is_empty() {
                blocks.push(Block::Thinking(reasoning));
            }
        }
        if let Some(content) = get(&mut obj, at, "content", any)? {
            assistant_content(content, &at.key("content"), &mut blocks)?;
        }
        if let Some(calls) = get(&mut obj, at, "tool_calls", array)? {
            let calls_at = at.key("tool_calls");
            for (i, call) in calls.into_iter().enumerate() {
                blocks.push(tool_call(call, &calls_at.index(i))?);
            }
        }
        if let Some(call) = get(&mut obj, at, "function_call", object)? {
            let call_at = at.key("function_call");
            let (name, input) = function_body(call, &call_at)?;
            // Legacy calls have no id; the answering `function` message is matched by name.
            let id = format!("call_function_{}", self.messages.len());
            self.pending_functions.push((name.clone(), id.clone()));
            blocks.push(Block::ToolUse { id, name, input });
        }
        Ok(Message::assistant(blocks))
    }

    /// The id of the latest unanswered legacy call to `name`. A result nobody asked for gets a
    /// fresh id; the Kiro normaliser turns such orphans into plain text.
    fn answer_function(&mut self, name: &str) -> String {
        match self.pending_functions.iter().rposition(|(n, _)| n == name) {
            Some(i) => self.pending_functions.remove(i).1,
            None => format!("call_function_orphan_{}", self.messages.len()),
        }
    }
}

/// A system or developer message: a string or text parts, joined by newlines.
fn system_text(content: Value, at: &Path) -> Result<String> {
    match content {
        Value::String(text) => Ok(text),
        Value::Array(parts) => {
            let mut texts = Vec::with_capacity(parts.len());
            for (i, part) in parts.into_iter().enumerate() {
                let part_at = at.index(i);
                let mut part = object(part, &part_at)?;
                match require(&mut part, &part_at, "type", string)?.as_str() {
                    "text" => texts.push(require(&mut part, &part_at, "text", string)?),
                    other => {
                        return Err(invalid(
                            &part_at.key("type"),
                            format_args!("system messages take text parts only, not {other:?}"),
                        ))
                    }
                }
            }
            Ok(texts.join("\n"))
        }
        other => Err(wrong_type(at, "a string or an array of text parts", &other)),
    }
}

/// A user message's content: a string or an array of parts.
fn user_content(content: Value, at: &Path) -> Result<Vec<Block>> {
    match content {
        Value::String(text) => Ok(vec![Block::Text(text)]),
        Value::Array(parts) => {
            let mut blocks = Vec::with_capacity(parts.len());
            for (i, part) in parts.into_iter().enumerate() {
                if let Some(block) = user_part(part, &at.index(i))? {
                    blocks.push(block);
                }
            }
            Ok(blocks)
        }
        other => Err(wrong_type(
            at,
            "a string or an array of content parts",
            &other,
        )),
    }
}

/// One content part. Unknown part types newer than this code are skipped.
fn user_part(raw: Value, at: &Path) -> Result<Option<Block>> {
    let mut part = object(raw, at)?;
    let block = match require(&mut part, at, "type", string)?.as_str() {
        "text" => Block::Text(require(&mut part, at, "text", string)?),
        "image_url" => {
            let image_at = at.key("image_url");
            // The object form is the API; a bare string is a common client shortcut.
            let url = match require(&mut part, at, "image_url", any)? {
                Value::String(url) => url,
                Value::Object(mut image) => require(&mut image, &image_at, "url", string)?,
                other => return Err(wrong_type(&image_at, "an object", &other)),
            };
            Block::Image(image_from_url(url, &image_at.key("url"))?)
        }
        "input_audio" => {
            return Err(invalid(
                at,
                "audio input is not supported by this gateway's models",
            ))
        }
        "file" => {
            let file_at = at.key("file");
            let mut file = require(&mut part, at, "file", object)?;
            let name = get(&mut file, &file_at, "filename", string)?;
            let Some(data_url) = get(&mut file, &file_at, "file_data", string)? else {
                return Err(invalid(
                    &file_at,
                    "uploaded files (file_id) are not supported; send the file inline as \
                     file_data (a base64 data URL)",
                ));
            };
            let (media_type, data) = data_url_parts(data_url, &file_at.key("file_data"))?;
            Block::Document(Document {
                media_type: media_type.unwrap_or_else(|| "application/pdf".to_owned()),
                data,
                name,
            })
        }
        _ => return Ok(None),
    };
    Ok(Some(block))
}

/// An assistant's `content`: a string, or text and refusal parts.
fn assistant_content(content: Value, at: &Path, blocks: &mut Vec<Block>) -> Result<()> {
    match content {
        Value::String(text) => {
            if !text.is_empty() {
                blocks.push(Block::Text(text));
            }
        }
        Value::Array(parts) => {
            for (i, part) in parts.into_iter().enumerate() {
                let part_at = at.index(i);
                let mut part = object(part, &part_at)?;
                match require(&mut part, &part_at, "type", string)?.as_str() {
                    "text" => {
                        blocks.push(Block::Text(require(&mut part, &part_at, "text", string)?))
                    }
                    "refusal" => blocks.push(Block::Text(require(
                        &mut part, &part_at, "refusal", string,
                    )?)),
                    _ => {}
                }
            }
        }
        other => {
            return Err(wrong_type(
                at,
                "a string or an array of content parts",
                &other,
            ))
        }
    }
    Ok(())
}

/// One entry of an assistant's `tool_calls`.
fn tool_call(raw: Value, at: &Path) -> Result<Block> {
    let mut call = object(raw, at)?;
    let id = require(&mut call, at, "id", string)?;
    match get(&mut call, at, "type", string)?.as_deref() {
        None | Some("function") => {
            let function = require(&mut call, at, "function", object)?;
            let (name, input) = function_body(function, &at.key("function"))?;
            Ok(Block::ToolUse { id, name, input })
        }
        // A call of a custom tool from an earlier turn: its free-form input is kept as text.
        Some("custom") => {
            let custom_at = at.key("custom");
            let mut custom = require(&mut call, at, "custom", object)?;
            let name = require(&mut custom, &custom_at, "name", string)?;
            let text = get(&mut custom, &custom_at, "input", string)?.unwrap_or_default();
            let input = Value::Object(Map::from_iter([("input".to_owned(), Value::String(text))]));
            Ok(Block::ToolUse { id, name, input })
        }
        Some(other) => Err(invalid(
            &at.key("type"),
            format_args!("unknown tool call type {other:?} (expected function)"),
        )),
    }
}

/// `{name, arguments}` of a tool or legacy function call; `arguments` is a JSON string.
fn function_body(mut function: Obj, at: &Path) -> Result<(String, Value)> {
    let name = require(&mut function, at, "name", string)?;
    let arguments_at = at.key("arguments");
    let input = match get(&mut function, at, "arguments", any)? {
        None => Value::Object(Map::new()),
        Some(Value::String(json)) if json.trim().is_empty() => Value::Object(Map::new()),
        Some(Value::String(json)) => match serde_json::from_str::<Value>(&json) {
            Ok(input @ Value::Object(_)) => input,
            Ok(other) => {
                return Err(invalid(
                    &arguments_at,
                    format_args!("must encode a JSON object, not {}", kind(&other)),
                ))
            }
            Err(e) => {
                return Err(invalid(
                    &arguments_at,
                    format_args!("is not valid JSON: {e}"),
                ))
            }
        },
        // Not the API, but some clients send the object itself.
        Some(Value::Object(input)) => Value::Object(input),
        Some(other) => return Err(wrong_type(&arguments_at, "a JSON string", &other)),
    };
    Ok((name, input))
}

/// A `tool` (or legacy `function`) message's content → a tool result.
fn tool_result(tool_use_id: String, content: Option<Value>, at: &Path) -> Result<Block> {
    let mut texts = Vec::new();
    let mut images = Vec::new();
    match content {
        None => {}
        Some(Value::String(text)) => texts.push(text),
        Some(Value::Array(parts)) => {
            for (i, part) in parts.into_iter().enumerate() {
                let part_at = at.index(i);
                match user_part(part, &part_at)? {
                    Some(Block::Text(text)) => texts.push(text),
                    Some(Block::Image(image)) => images.push(image),
                    Some(_) => {
                        return Err(invalid(
                            &part_at,
                            "tool results can carry text and images only",
                        ))
                    }
                    None => {}
                }
            }
        }
        Some(other) => {
            return Err(wrong_type(
                at,
                "a string or an array of content parts",
                &other,
            ))
        }
    }
    Ok(Block::ToolResult {
        tool_use_id,
        content: texts.join("\n"),
        is_error: false,
        images,
    })
}

/// An `image_url`: only inline `data:` URLs can be forwarded.
fn image_from_url(url: String, at: &Path) -> Result<Image> {
    let scheme = url.get(..8).unwrap_or(&url).to_ascii_lowercase();
    if scheme.starts_with("http://") || scheme.starts_with("https://") {
        return Err(invalid(
            at,
            "remote image URLs are not supported; send the image inline as a base64 data URL \
             (data:image/png;base64,…)",
        ));
    }
    let (media_type, data) = data_url_parts(url, at)?;
    let media_type = media_type.ok_or_else(|| {
        invalid(
            at,
            "the data URL names no media type (expected data:image/png;base64,…)",
        )
    })?;
    Ok(Image { media_type, data })
}

/// Splits `data:<media type>[;params];base64,<data>` into its lowercase media type (if any)
/// and the base64 payload. Percent-encoded (non-base64) data URLs are refused.
fn data_url_parts(url: String, at: &Path) -> Result<(Option<String>, String)> {
    let expected = "expected a base64 data URL (data:<media type>;base64,…)";
    let is_data = url
        .get(..5)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("data:"));
    let Some((header, payload)) = url.split_once(',').filter(|_| is_data) else {
        return Err(invalid(at, expected));
    };
    let mut params = header.get(5..).unwrap_or_default().split(';');
    let media_type = params
        .next()
        .map(|m| m.trim().to_ascii_lowercase())
        .filter(|m| !m.is_empty());
    if !params.any(|p| p.trim().eq_ignore_ascii_case("base64")) {
        return Err(invalid(at, expected));
    }
    Ok((media_type, payload.to_owned()))
}

// ---------------------------------------------------------------------------------------------
// Tools

/// `tools`: function tools; custom tools are dropped (see the module docs).
fn parse_tools(raw: Vec<Value>, at: &Path) -> Result<Vec<Tool>> {
    let mut tools = Vec::with_capacity(raw.len());
    for (i, tool) in raw.into_iter().enumerate() {
        let tool_at = at.index(i);
        let mut obj = object(tool, &tool_at)?;
        match get(&mut obj, &tool_at, "type", string)?.as_deref() {
            None | Some("function") => {
                let function = require(&mut obj, &tool_at, "function", any)?;
                tools.push(parse_function(function, &tool_at.key("function"))?);
            }
            _ => {}
        }
    }
    Ok(tools)
}

/// A function declaration `{name, description, parameters}` (also the legacy `functions[]`).
fn parse_function(raw: Value, at: &Path) -> Result<Tool> {
    let mut function = object(raw, at)?;
    let name = require(&mut function, at, "name", string)?;
    if name.is_empty() {
        return Err(invalid(&at.key("name"), "must not be empty"));
    }
    Ok(Tool {
        name,
        description: get(&mut function, at, "description", string)?.unwrap_or_default(),
        input_schema: get(&mut function, at, "parameters", object)?
            .map(Value::Object)
            .unwrap_or_else(empty_object_schema),
    })
}

fn empty_object_schema() -> Value {
    Value::Object(Map::from_iter([
        ("type".to_owned(), Value::String("object".into())),
        ("properties".to_owned(), Value::Object(Map::new())),
    ]))
}

/// `tool_choice`: `"auto" | "none" | "required"`, a named function, or `allowed_tools`, which
/// narrows `tools` to the allowed ones.
fn parse_tool_choice(value: Value, at: &Path, tools: &mut Vec<Tool>) -> Result<ToolChoice> {
    let mut obj = match value {
        Value::String(mode) => return choice_mode(&mode, at),
        Value::Object(obj) => obj,
        other => return Err(wrong_type(at, "a string or an object", &other)),
    };
    match require(&mut obj, at, "type", string)?.as_str() {
        "function" => {
            let function_at = at.key("function");
            let mut function = require(&mut obj, at, "function", object)?;
            Ok(ToolChoice::Tool(require(
                &mut function,
                &function_at,
                "name",
                string,
            )?))
        }
        "allowed_tools" => {
            let allowed_at = at.key("allowed_tools");
            let mut allowed = require(&mut obj, at, "allowed_tools", object)?;
            let mode = get(&mut allowed, &allowed_at, "mode", string)?;
            let list_at = allowed_at.key("tools");
            let mut names = Vec::new();
            for (i, entry) in require(&mut allowed, &allowed_at, "tools", array)?
                .into_iter()
                .enumerate()
            {
                let entry_at = list_at.index(i);
                let mut entry = object(entry, &entry_at)?;
                if let Some(mut function) = get(&mut entry, &entry_at, "function", object)? {
                    names.push(require(
                        &mut function,
                        &entry_at.key("function"),
                        "name",
                        string,
                    )?);
                }
            }
            tools.retain(|tool| names.contains(&tool.name));
            choice_mode(mode.as_deref().unwrap_or("auto"), &allowed_at.key("mode"))
        }
        // A custom tool was dropped, so it cannot be forced: let the model choose.
        "custom" => Ok(ToolChoice::Auto),
        other => Err(invalid(
            &at.key("type"),
            format_args!("unknown tool_choice type {other:?} (expected function or allowed_tools)"),
        )),
    }
}

fn choice_mode(mode: &str, at: &Path) -> Result<ToolChoice> {
    match mode {
        "auto" => Ok(ToolChoice::Auto),
        "none" => Ok(ToolChoice::None),
        "required" => Ok(ToolChoice::Any),
        other => Err(invalid(
            at,
            format_args!("unknown mode {other:?} (expected auto, none or required)"),
        )),
    }
}

/// The legacy `function_call`: `"auto" | "none"` or `{"name": …}`.
fn parse_function_call_choice(value: Value, at: &Path) -> Result<ToolChoice> {
    match value {
        Value::String(mode) if mode == "auto" || mode == "none" => choice_mode(&mode, at),
        Value::String(other) => Err(invalid(
            at,
            format_args!("unknown mode {other:?} (expected auto or none)"),
        )),
        Value::Object(mut obj) => Ok(ToolChoice::Tool(require(&mut obj, at, "name", string)?)),
        other => Err(wrong_type(at, "a string or an object", &other)),
    }
}

/// `response_format`: `json_schema` gives its schema, `json_object` any JSON object.
fn parse_response_format(mut format: Obj, at: &Path) -> Result<Option<Value>> {
    match require(&mut format, at, "type", string)?.as_str() {
        "text" => Ok(None),
        "json_object" => Ok(Some(Value::Object(Map::from_iter([(
            "type".to_owned(),
            Value::String("object".into()),
        )])))),
        "json_schema" => {
            let schema_at = at.key("json_schema");
            let mut json_schema = require(&mut format, at, "json_schema", object)?;
            Ok(Some(
                get(&mut json_schema, &schema_at, "schema", object)?
                    .map(Value::Object)
                    .unwrap_or_else(empty_object_schema),
            ))
        }
        other => Err(invalid(
            &at.key("type"),
            format_args!("unknown format {other:?} (expected text, json_object or json_schema)"),
        )),
    }
}

/// Stickiness from the session header, else the first of `prompt_cache_key`,
/// `safety_identifier` and `user`. Only a UUID header becomes Kiro's conversation id: the body
/// keys may be shared by many conversations (one user, one cached prefix).
fn session_hints(
    header: Option<&str>,
    mut body_keys: impl Iterator<Item = String>,
) -> SessionHints {
    let usable = |key: &str| !key.trim().is_empty() && key.len() <= MAX_SESSION_KEY_LEN;
    let header = header.map(str::trim).filter(|h| usable(h));
    let conversation_id = header.and_then(|h| {
        uuid::Uuid::parse_str(h)
            .ok()
            .map(|u| u.hyphenated().to_string())
    });
    let session_key = match header {
        Some(header) => Some(header.to_owned()),
        None => body_keys.find(|k| usable(k)),
    };
    SessionHints {
        conversation_id,
        session_key,
    }
}

// ---------------------------------------------------------------------------------------------
// Field access with precise error paths. A `Path` is a chain of borrowed segments on the stack,
// rendered only when an error needs it.

#[derive(Debug, Clone, Copy)]
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

static ROOT: Path<'static> = Path::Root;

impl<'a> Path<'a> {
    fn key(&'a self, key: &'a str) -> Path<'a> {
        Path::Key(self, key)
    }

    fn index(&'a self, index: usize) -> Path<'a> {
        Path::Index(self, index)
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Key(Path::Root, key) => f.write_str(key),
            Path::Key(parent, key) => write!(f, "{parent}.{key}"),
            Path::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

fn invalid(at: &Path, message: impl fmt::Display) -> GatewayError {
    GatewayError::invalid(format!("{at}: {message}"))
}

fn wrong_type(at: &Path, expected: &str, got: &Value) -> GatewayError {
    invalid(at, format_args!("expected {expected}, got {}", kind(got)))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Takes `key` out of `obj` and converts it; absent and `null` are both `None`.
fn get<T>(
    obj: &mut Obj,
    at: &Path,
    key: &str,
    convert: impl FnOnce(Value, &Path) -> Result<T>,
) -> Result<Option<T>> {
    match obj.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => convert(value, &at.key(key)).map(Some),
    }
}

/// Like [`get`], for a field that must be present.
fn require<T>(
    obj: &mut Obj,
    at: &Path,
    key: &str,
    convert: impl FnOnce(Value, &Path) -> Result<T>,
) -> Result<T> {
    get(obj, at, key, convert)?.ok_or_else(|| invalid(&at.key(key), "field required"))
}

fn string(value: Value, at: &Path) -> Result<String> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(wrong_type(at, "a string", &other)),
    }
}

fn any(value: Value, _: &Path) -> Result<Value> {
    Ok(value)
}

fn boolean(value: Value, at: &Path) -> Result<bool> {
    match value {
        Value::Bool(b) => Ok(b),
        other => Err(wrong_type(at, "a boolean", &other)),
    }
}

fn unsigned(value: Value, at: &Path) -> Result<u64> {
    value
        .as_u64()
        .ok_or_else(|| wrong_type(at, "a non-negative integer", &value))
}

fn object(value: Value, at: &Path) -> Result<Obj> {
    match value {
        Value::Object(obj) => Ok(obj),
        other => Err(wrong_type(at, "an object", &other)),
    }
}

fn array(value: Value, at: &Path) -> Result<Vec<Value>> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(wrong_type(at, "an array", &other)),
    }
}
