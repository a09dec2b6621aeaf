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
//! - `reasoning_effort` becomes a thinking budget (see `thinking_for_effort`).
//!
//! The body is parsed once, into a `dialect::lean` tree down to the messages' content parts and tool
//! calls (the bulk of a conversation is small objects there) and `Value`s below, and then
//! taken apart by value, so strings move into the `ChatRequest` without copies.

use serde_json::{Map, Value};

use crate::chat::{
    Block, ChatRequest, Document, Image, Message, Role, SessionHints, ThinkingConfig, Tool,
    ToolChoice, Tools,
};
use crate::dialect::fields::{self, get, invalid, kind, require, Field as _, Path, Result, ROOT};
use crate::dialect::lean::{
    self, array, boolean, object, object_map, string, text_or_items, text_or_object, unsigned,
    Members, Node, TextOrItems, TextOrObject,
};
use crate::dialect::tool_cache::shared_tools;
use crate::dialect::{Dialect, RequestHints};

/// What a user, assistant or tool message's `content` must be.
const CONTENT: &str = "a string or an array of content parts";

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
    let (mut root, raw_tools) = lean::root_object(body, "tools", lean_levels)?;
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

    let mut tools = shared_tools(
        Dialect::OpenAiChat,
        raw_tools,
        &at.key("tools"),
        parse_tools,
    )?;
    if let Some(raw) = get(&mut root, at, "functions", array)? {
        let functions_at = at.key("functions");
        for (i, function) in raw.into_iter().enumerate() {
            // One lean level: each declaration is already a `Value`, as `tools` entries are.
            let function = parse_function(function.into_value(), &functions_at.index(i))?;
            tools.make_mut().push(function);
        }
    }
    let tool_choice = match root.take("tool_choice").filter(|v| !v.is_null()) {
        None => match root.take("function_call").filter(|v| !v.is_null()) {
            None => ToolChoice::Auto,
            Some(value) => parse_function_call_choice(value, &at.key("function_call"))?,
        },
        Some(value) => parse_tool_choice(value, &at.key("tool_choice"), &mut tools)?,
    };

    let thinking = match get(&mut root, at, "reasoning_effort", lean::str)? {
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
        shared_echo: None,
    })
}

/// How many levels of each top-level member are parsed lean. `messages`: the list (1), a
/// message (2), its `content` and `tool_calls` (3), a part or a call (4), a part's `image_url`
/// or `file` and a call's `function` (5), and the strings in those (6), so a call's `name` and
/// `arguments` are borrowed from the body until taken. `response_format` and `tool_choice` down
/// to their inner object (a schema stays a `Value`); other objects one level.
fn lean_levels(key: &str) -> u8 {
    match key {
        "messages" => 6,
        "response_format" | "tool_choice" => 2,
        _ => 1,
    }
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
    fn push(&mut self, raw: Node, at: &Path) -> Result<()> {
        let mut obj = object(raw, at)?;
        let role = require(&mut obj, at, "role", lean::str)?;
        match role.as_ref() {
            "system" | "developer" => {
                let content = require(&mut obj, at, "content", lean::node)?;
                let text = system_text(content, &at.key("content"))?;
                if !text.trim().is_empty() {
                    self.system.push(text);
                }
            }
            "user" => {
                let content = require(&mut obj, at, "content", lean::node)?;
                let blocks = user_content(content, &at.key("content"))?;
                if !blocks.is_empty() {
                    self.push_message(Message::user(blocks));
                }
            }
            "assistant" => {
                let message = self.assistant(obj, at)?;
                if !message.content.is_empty() {
                    self.push_message(message);
                }
            }
            "tool" => {
                let tool_use_id = require(&mut obj, at, "tool_call_id", string)?;
                let content = get(&mut obj, at, "content", lean::node)?;
                let result = tool_result(tool_use_id, content, &at.key("content"))?;
                self.push_tool_result(result);
            }
            "function" => {
                let name = require(&mut obj, at, "name", lean::str)?;
                let content = get(&mut obj, at, "content", lean::node)?;
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
    fn assistant(&mut self, mut obj: Members, at: &Path) -> Result<Message> {
        let mut blocks = Vec::new();
        if let Some(reasoning) = get(&mut obj, at, "reasoning_content", string)? {
            if !reasoning.is_empty() {
                blocks.push(Block::Thinking(reasoning));
            }
        }
        if let Some(content) = get(&mut obj, at, "content", lean::node)? {
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
fn system_text(content: Node, at: &Path) -> Result<String> {
    let parts = match text_or_items(content, at, "a string or an array of text parts")? {
        TextOrItems::Text(text) => return Ok(text),
        TextOrItems::Items(parts) => parts,
    };
    let mut texts = Vec::with_capacity(parts.len());
    for (i, part) in parts.into_iter().enumerate() {
        let part_at = at.index(i);
        let mut part = object(part, &part_at)?;
        match require(&mut part, &part_at, "type", lean::str)?.as_ref() {
            "text" => texts.push(require(&mut part, &part_at, "text", string)?),
            other => {
                return Err(invalid(
                    &part_at.key("type"),
                    format_args!("system messages take text parts only, not {other:?}"),
                ))
            }
        }
    }
    Ok(join_lines(texts))
}

/// A user message's content: a string or an array of parts.
fn user_content(content: Node, at: &Path) -> Result<Vec<Block>> {
    match text_or_items(content, at, CONTENT)? {
        TextOrItems::Text(text) => Ok(vec![Block::Text(text)]),
        TextOrItems::Items(parts) => {
            let mut blocks = Vec::with_capacity(parts.len());
            for (i, part) in parts.into_iter().enumerate() {
                if let Some(block) = user_part(part, &at.index(i))? {
                    blocks.push(block);
                }
            }
            Ok(blocks)
        }
    }
}

/// One content part. Unknown part types newer than this code are skipped.
fn user_part(raw: Node, at: &Path) -> Result<Option<Block>> {
    let mut part = object(raw, at)?;
    let block = match require(&mut part, at, "type", lean::str)?.as_ref() {
        "text" => Block::Text(require(&mut part, at, "text", string)?),
        "image_url" => {
            let image_at = at.key("image_url");
            // The object form is the API; a bare string is a common client shortcut.
            let url = match require(&mut part, at, "image_url", lean::node)?.into_string() {
                Ok(url) => url,
                Err(image) => {
                    let mut image = object(image, &image_at)?;
                    require(&mut image, &image_at, "url", string)?
                }
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
fn assistant_content(content: Node, at: &Path, blocks: &mut Vec<Block>) -> Result<()> {
    let parts = match text_or_items(content, at, CONTENT)? {
        TextOrItems::Text(text) => {
            if !text.is_empty() {
                blocks.push(Block::Text(text));
            }
            return Ok(());
        }
        TextOrItems::Items(parts) => parts,
    };
    for (i, part) in parts.into_iter().enumerate() {
        let part_at = at.index(i);
        let mut part = object(part, &part_at)?;
        match require(&mut part, &part_at, "type", lean::str)?.as_ref() {
            "text" => blocks.push(Block::Text(require(&mut part, &part_at, "text", string)?)),
            "refusal" => blocks.push(Block::Text(require(
                &mut part, &part_at, "refusal", string,
            )?)),
            _ => {}
        }
    }
    Ok(())
}

/// One entry of an assistant's `tool_calls`.
fn tool_call(raw: Node, at: &Path) -> Result<Block> {
    let mut call = object(raw, at)?;
    let id = require(&mut call, at, "id", string)?;
    match get(&mut call, at, "type", lean::str)?.as_deref() {
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

/// `{name, arguments}` of a tool or legacy function call; `arguments` is a JSON string, parsed
/// straight from the body's text when it has no escapes.
fn function_body(mut function: Members, at: &Path) -> Result<(String, Value)> {
    let name = require(&mut function, at, "name", string)?;
    let arguments_at = at.key("arguments");
    let arguments = |node, at: &Path| text_or_object(node, at, "a JSON string");
    let input = match get(&mut function, at, "arguments", arguments)? {
        None => Value::Object(Map::new()),
        Some(TextOrObject::Text(json)) if json.trim().is_empty() => Value::Object(Map::new()),
        Some(TextOrObject::Text(json)) => match serde_json::from_str::<Value>(&json) {
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
        Some(TextOrObject::Object(input)) => Value::Object(input.into_obj()),
    };
    Ok((name, input))
}

/// A `tool` (or legacy `function`) message's content → a tool result.
fn tool_result(tool_use_id: String, content: Option<Node>, at: &Path) -> Result<Block> {
    let mut images = Vec::new();
    let content = match content
        .map(|content| text_or_items(content, at, CONTENT))
        .transpose()?
    {
        None => String::new(),
        Some(TextOrItems::Text(text)) => text,
        Some(TextOrItems::Items(parts)) => {
            let mut texts = Vec::with_capacity(parts.len());
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
            join_lines(texts)
        }
    };
    Ok(Block::ToolResult {
        tool_use_id,
        content,
        is_error: false,
        images,
    })
}

/// `texts` joined by newlines; a single text is moved, not copied.
fn join_lines(texts: Vec<String>) -> String {
    match <[String; 1]>::try_from(texts) {
        Ok([text]) => text,
        Err(texts) => texts.join("\n"),
    }
}

/// An `image_url`: only inline `data:` URLs can be forwarded.
fn image_from_url(url: String, at: &Path) -> Result<Image> {
    if starts_with_ci(&url, "http://") || starts_with_ci(&url, "https://") {
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
/// and the base64 payload. Percent-encoded (non-base64) data URLs are refused. The payload
/// (often megabytes) keeps the URL's allocation.
fn data_url_parts(mut url: String, at: &Path) -> Result<(Option<String>, String)> {
    let expected = "expected a base64 data URL (data:<media type>;base64,…)";
    let comma = match url.find(',') {
        Some(comma) if starts_with_ci(&url, "data:") => comma,
        _ => return Err(invalid(at, expected)),
    };
    let mut params = url.get(5..comma).unwrap_or_default().split(';');
    let media_type = params
        .next()
        .map(|m| m.trim().to_ascii_lowercase())
        .filter(|m| !m.is_empty());
    if !params.any(|p| p.trim().eq_ignore_ascii_case("base64")) {
        return Err(invalid(at, expected));
    }
    url.drain(..=comma);
    Ok((media_type, url))
}

fn starts_with_ci(text: &str, prefix: &str) -> bool {
    text.as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

// ---------------------------------------------------------------------------------------------
// Tools

/// `tools`: function tools; custom tools are dropped (see the module docs). Parsed from
/// `Value`s, as [`shared_tools`] hands them over.
fn parse_tools(raw: Vec<Value>, at: &Path) -> Result<Vec<Tool>> {
    let mut tools = Vec::with_capacity(raw.len());
    for (i, tool) in raw.into_iter().enumerate() {
        let tool_at = at.index(i);
        let mut obj = fields::object(tool, &tool_at)?;
        match get(&mut obj, &tool_at, "type", fields::string)?.as_deref() {
            None | Some("function") => {
                let function = require(&mut obj, &tool_at, "function", fields::any)?;
                tools.push(parse_function(function, &tool_at.key("function"))?);
            }
            _ => {}
        }
    }
    Ok(tools)
}

/// A function declaration `{name, description, parameters}` (also the legacy `functions[]`).
fn parse_function(raw: Value, at: &Path) -> Result<Tool> {
    let mut function = fields::object(raw, at)?;
    let name = require(&mut function, at, "name", fields::string)?;
    if name.is_empty() {
        return Err(invalid(&at.key("name"), "must not be empty"));
    }
    Ok(Tool {
        name,
        description: get(&mut function, at, "description", fields::string)?.unwrap_or_default(),
        input_schema: get(&mut function, at, "parameters", fields::object)?
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
fn parse_tool_choice(value: Node, at: &Path, tools: &mut Tools) -> Result<ToolChoice> {
    let mut obj = match text_or_object(value, at, "a string or an object")? {
        TextOrObject::Text(mode) => return choice_mode(&mode, at),
        TextOrObject::Object(obj) => obj,
    };
    match require(&mut obj, at, "type", lean::str)?.as_ref() {
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
            let mode = get(&mut allowed, &allowed_at, "mode", lean::str)?;
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
            if !tools.iter().all(|tool| names.contains(&tool.name)) {
                tools.make_mut().retain(|tool| names.contains(&tool.name));
            }
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
fn parse_function_call_choice(value: Node, at: &Path) -> Result<ToolChoice> {
    match text_or_object(value, at, "a string or an object")? {
        TextOrObject::Text(mode) if mode == "auto" || mode == "none" => choice_mode(&mode, at),
        TextOrObject::Text(other) => Err(invalid(
            at,
            format_args!("unknown mode {other:?} (expected auto or none)"),
        )),
        TextOrObject::Object(mut obj) => {
            Ok(ToolChoice::Tool(require(&mut obj, at, "name", string)?))
        }
    }
}

/// `response_format`: `json_schema` gives its schema, `json_object` any JSON object.
fn parse_response_format(mut format: Members, at: &Path) -> Result<Option<Value>> {
    match require(&mut format, at, "type", lean::str)?.as_ref() {
        "text" => Ok(None),
        "json_object" => Ok(Some(Value::Object(Map::from_iter([(
            "type".to_owned(),
            Value::String("object".into()),
        )])))),
        "json_schema" => {
            let schema_at = at.key("json_schema");
            let mut json_schema = require(&mut format, at, "json_schema", object)?;
            Ok(Some(
                get(&mut json_schema, &schema_at, "schema", object_map)?
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::ErrorKind;
    use serde_json::json;

    const PNG: &str = "iVBORw0KGgo=";

    fn parse_json(body: &Value) -> Result<ChatRequest> {
        parse(body.to_string().as_bytes(), &RequestHints::default())
    }

    /// A minimal valid body with `messages` replaced.
    fn with_messages(messages: Value) -> Value {
        json!({"model": "claude-sonnet-4-5", "messages": messages})
    }

    fn error_of(body: &Value) -> String {
        let err = parse_json(body).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidRequest);
        err.message
    }

    fn text(s: &str) -> Block {
        Block::Text(s.into())
    }

    #[test]
    fn minimal_request() {
        let req = parse_json(&with_messages(json!([{"role": "user", "content": "hi"}]))).unwrap();
        assert_eq!(
            req,
            ChatRequest {
                model: "claude-sonnet-4-5".into(),
                messages: vec![Message::user(vec![text("hi")])],
                ..Default::default()
            }
        );
    }

    #[test]
    fn system_and_developer_messages() {
        let req = parse_json(&with_messages(json!([
            {"role": "developer", "content": "You are terse."},
            {"role": "system", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            {"role": "system", "content": "  "},
            {"role": "user", "content": "hi", "name": "alice"},
            {"role": "system", "content": "mid-conversation"},
        ])))
        .unwrap();
        assert_eq!(req.system, ["You are terse.", "a\nb", "mid-conversation"]);
        assert_eq!(req.messages, [Message::user(vec![text("hi")])]);
    }

    #[test]
    fn user_parts() {
        let req = parse_json(&with_messages(json!([{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": format!("data:image/PNG;base64,{PNG}"), "detail": "auto"}},
            {"type": "image_url", "image_url": format!("data:image/jpeg;name=x.jpg;base64,{PNG}")},
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}},
            {"type": "some_future_part", "x": 1},
        ]}])))
        .unwrap();
        assert_eq!(
            req.messages[0].content,
            [
                text("What is this?"),
                Block::Image(Image {
                    media_type: "image/png".into(),
                    data: PNG.into()
                }),
                Block::Image(Image {
                    media_type: "image/jpeg".into(),
                    data: PNG.into()
                }),
                Block::Document(Document {
                    media_type: "application/pdf".into(),
                    data: "JVBERi0=".into(),
                    name: Some("a.pdf".into())
                }),
            ]
        );
        assert_eq!(req.messages.len(), 1);

        // A message with nothing usable left is dropped.
        let req = parse_json(&with_messages(json!([
            {"role": "user", "content": "hi"},
            {"role": "user", "content": [{"type": "some_future_part"}]},
        ])))
        .unwrap();
        assert_eq!(req.messages, [Message::user(vec![text("hi")])]);
    }

    #[test]
    fn tool_round_trip() {
        let req = parse_json(&json!({
            "model": "m",
            "messages": [
                {"role": "user", "content": "weather in Paris and Rome?"},
                {"role": "assistant", "content": null, "reasoning_content": "Two cities.",
                 "tool_calls": [
                    {"id": "call_1", "type": "function",
                     "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_2", "type": "function",
                     "function": {"name": "get_weather", "arguments": ""}},
                 ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
                {"role": "tool", "tool_call_id": "call_2",
                 "content": [{"type": "text", "text": "20C"}, {"type": "text", "text": "sunny"}]},
                {"role": "user", "content": "thanks"},
                {"role": "tool", "tool_call_id": "late", "content": [
                    {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG}")}}]},
            ],
            "tools": [
                {"type": "function", "function": {"name": "get_weather", "description": "Weather",
                 "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                 "strict": true}},
                {"type": "function", "function": {"name": "no_params"}},
                {"type": "custom", "custom": {"name": "grammar_tool", "format": {"type": "text"}}},
            ],
            "tool_choice": "required",
            "parallel_tool_calls": false,
        }))
        .unwrap();
        let result = |id: &str, content: &str| Block::ToolResult {
            tool_use_id: id.into(),
            content: content.into(),
            is_error: false,
            images: vec![],
        };
        assert_eq!(
            req.messages,
            [
                Message::user(vec![text("weather in Paris and Rome?")]),
                Message::assistant(vec![
                    Block::Thinking("Two cities.".into()),
                    Block::ToolUse {
                        id: "call_1".into(),
                        name: "get_weather".into(),
                        input: json!({"city": "Paris"})
                    },
                    Block::ToolUse {
                        id: "call_2".into(),
                        name: "get_weather".into(),
                        input: json!({})
                    },
                ]),
                // Consecutive tool messages make one user turn.
                Message::user(vec![
                    result("call_1", "18C"),
                    result("call_2", "20C\nsunny")
                ]),
                Message::user(vec![text("thanks")]),
                Message::user(vec![Block::ToolResult {
                    tool_use_id: "late".into(),
                    content: String::new(),
                    is_error: false,
                    images: vec![Image {
                        media_type: "image/png".into(),
                        data: PNG.into()
                    }],
                }]),
            ]
        );
        assert_eq!(req.tool_choice, ToolChoice::Any);
        let names: Vec<&str> = req.tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            ["get_weather", "no_params"],
            "custom tools are dropped"
        );
        assert_eq!(req.tools[0].description, "Weather");
        assert_eq!(req.tools[1].input_schema, empty_object_schema());
    }

    #[test]
    fn assistant_content_forms() {
        let req = parse_json(&with_messages(json!([
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "refusal", "refusal": "no"}]},
            {"role": "assistant", "content": ""},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c", "type": "custom", "custom": {"name": "patch", "input": "*** Begin"}},
                {"id": "d", "function": {"name": "f", "arguments": {"k": 1}}},
            ]},
        ])))
        .unwrap();
        assert_eq!(
            req.messages.len(),
            3,
            "the empty assistant message is dropped"
        );
        assert_eq!(req.messages[1].content, [text("a"), text("no")]);
        assert_eq!(
            req.messages[2].content,
            [
                Block::ToolUse {
                    id: "c".into(),
                    name: "patch".into(),
                    input: json!({"input": "*** Begin"})
                },
                Block::ToolUse {
                    id: "d".into(),
                    name: "f".into(),
                    input: json!({"k": 1})
                },
            ]
        );
    }

    #[test]
    fn legacy_functions() {
        let mut body = with_messages(json!([
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": null,
             "function_call": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"role": "function", "name": "get_weather", "content": "18C"},
            {"role": "function", "name": "unasked", "content": "?"},
        ]));
        body["functions"] = json!([{"name": "get_weather", "parameters": {"type": "object"}}]);
        body["function_call"] = json!({"name": "get_weather"});
        let req = parse_json(&body).unwrap();
        let Block::ToolUse { id, .. } = &req.messages[1].content[0] else {
            panic!("{:?}", req.messages[1]);
        };
        match &req.messages[2].content[..] {
            [Block::ToolResult {
                tool_use_id,
                content,
                ..
            }, Block::ToolResult {
                tool_use_id: orphan,
                ..
            }] => {
                assert_eq!(tool_use_id, id);
                assert_eq!(content, "18C");
                assert_ne!(orphan, id);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(req.tools[0].name, "get_weather");
        assert_eq!(req.tool_choice, ToolChoice::Tool("get_weather".into()));
        body["function_call"] = json!("none");
        assert_eq!(parse_json(&body).unwrap().tool_choice, ToolChoice::None);
    }

    #[test]
    fn tool_choices() {
        let mut body = with_messages(json!([{"role": "user", "content": "hi"}]));
        body["tools"] = json!([
            {"type": "function", "function": {"name": "a"}},
            {"type": "function", "function": {"name": "b"}},
        ]);
        for (choice, expected) in [
            (json!("auto"), ToolChoice::Auto),
            (json!("none"), ToolChoice::None),
            (json!("required"), ToolChoice::Any),
            (
                json!({"type": "function", "function": {"name": "b"}}),
                ToolChoice::Tool("b".into()),
            ),
            (
                json!({"type": "custom", "custom": {"name": "c"}}),
                ToolChoice::Auto,
            ),
        ] {
            body["tool_choice"] = choice;
            assert_eq!(parse_json(&body).unwrap().tool_choice, expected);
        }
        body["tool_choice"] = json!({"type": "allowed_tools", "allowed_tools": {
            "mode": "required", "tools": [{"type": "function", "function": {"name": "b"}}]}});
        let req = parse_json(&body).unwrap();
        assert_eq!(req.tool_choice, ToolChoice::Any);
        assert_eq!(req.tools.len(), 1);
        assert_eq!(req.tools[0].name, "b");
    }

    #[test]
    fn reasoning_effort_becomes_a_budget() {
        let mut body = with_messages(json!([{"role": "user", "content": "hi"}]));
        for (effort, expected) in [
            ("none", None),
            ("minimal", None),
            ("low", Some(LOW_BUDGET)),
            ("medium", Some(MEDIUM_BUDGET)),
            ("high", Some(HIGH_BUDGET)),
            ("xhigh", Some(HIGH_BUDGET)),
        ] {
            body["reasoning_effort"] = json!(effort);
            assert_eq!(
                parse_json(&body).unwrap().thinking,
                expected.map(|budget_tokens| ThinkingConfig::Enabled { budget_tokens }),
                "{effort}"
            );
        }
    }

    #[test]
    fn limits_stream_format_and_echo() {
        let mut body = with_messages(json!([{"role": "user", "content": "hi"}]));
        body["max_tokens"] = json!(100);
        assert_eq!(parse_json(&body).unwrap().max_tokens, Some(100));
        body["max_completion_tokens"] = json!(5_000_000_000u64);
        assert_eq!(parse_json(&body).unwrap().max_tokens, Some(u32::MAX));

        body["stream"] = json!(true);
        let req = parse_json(&body).unwrap();
        assert!(req.stream);
        assert_eq!(req.echo, None);
        body["stream_options"] = json!({"include_usage": true});
        assert_eq!(
            parse_json(&body).unwrap().echo,
            Some(json!({"include_usage": true}))
        );
        // Usage options mean nothing without a stream.
        body["stream"] = json!(false);
        assert_eq!(parse_json(&body).unwrap().echo, None);

        body["response_format"] = json!({"type": "text"});
        assert_eq!(parse_json(&body).unwrap().response_schema, None);
        body["response_format"] = json!({"type": "json_object"});
        assert_eq!(
            parse_json(&body).unwrap().response_schema,
            Some(json!({"type": "object"}))
        );
        let schema = json!({"type": "object", "properties": {"x": {"type": "integer"}}});
        body["response_format"] = json!({"type": "json_schema", "json_schema": {"name": "x", "schema": schema, "strict": true}});
        assert_eq!(parse_json(&body).unwrap().response_schema, Some(schema));
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let mut body = with_messages(json!([{"role": "user", "content": "hi"}]));
        for (key, value) in [
            ("temperature", json!(0.2)),
            ("top_p", json!(1)),
            ("n", json!(1)),
            ("stop", json!(["x"])),
            ("seed", json!(7)),
            ("logit_bias", json!({"1": 2})),
            ("store", json!(false)),
            ("metadata", json!({"a": "b"})),
            ("modalities", json!(["text"])),
            ("service_tier", json!("auto")),
            ("verbosity", json!("low")),
            ("web_search_options", json!({})),
            ("some_future_field", json!({"a": [1, 2]})),
        ] {
            body[key] = value;
        }
        assert!(parse_json(&body).is_ok());
    }

    #[test]
    fn session_keys() {
        let uuid = "450ddb32-4144-4e3d-b42f-d371157ee073";
        let mut body = with_messages(json!([{"role": "user", "content": "hi"}]));
        body["user"] = json!("user-1");
        assert_eq!(
            parse_json(&body).unwrap().session,
            SessionHints {
                conversation_id: None,
                session_key: Some("user-1".into())
            }
        );
        body["safety_identifier"] = json!("safe-1");
        body["prompt_cache_key"] = json!("k".repeat(MAX_SESSION_KEY_LEN + 1));
        assert_eq!(
            parse_json(&body).unwrap().session.session_key.as_deref(),
            Some("safe-1"),
            "an overlong key is skipped"
        );
        body["prompt_cache_key"] = json!("cache-1");
        assert_eq!(
            parse_json(&body).unwrap().session.session_key.as_deref(),
            Some("cache-1")
        );
        let hints = RequestHints {
            session_header: Some(uuid.to_uppercase()),
            ..Default::default()
        };
        let req = parse(body.to_string().as_bytes(), &hints).unwrap();
        assert_eq!(req.session.conversation_id.as_deref(), Some(uuid));
        assert_eq!(req.session.session_key, Some(uuid.to_uppercase()));
    }

    #[test]
    fn errors_name_the_field() {
        let user = |content: Value| with_messages(json!([{"role": "user", "content": content}]));
        let call = |arguments: Value| {
            with_messages(json!([
                {"role": "user", "content": "hi"},
                {"role": "assistant", "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "f", "arguments": arguments}}]},
            ]))
        };
        let cases: Vec<(Value, &str)> = vec![
            (json!([1]), "the request body must be a JSON object, not an array"),
            (json!({"messages": []}), "model: field required"),
            (json!({"model": 3}), "model: expected a string, got a number"),
            (json!({"model": ""}), "model: must not be empty"),
            (json!({"model": "m"}), "messages: field required"),
            (json!({"model": "m", "messages": []}), "messages: at least one message is required"),
            (json!({"model": "m", "messages": "hi"}), "messages: expected an array, got a string"),
            (with_messages(json!(["hi"])), "messages[0]: expected an object, got a string"),
            (with_messages(json!([{"content": "x"}])), "messages[0].role: field required"),
            (with_messages(json!([{"role": "bot", "content": "x"}])),
                "messages[0].role: unknown role \"bot\" (expected system, developer, user, assistant, tool or function)"),
            (with_messages(json!([{"role": "user"}])), "messages[0].content: field required"),
            (user(json!(5)), "messages[0].content: expected a string or an array of content parts, got a number"),
            (user(json!([{"text": "x"}])), "messages[0].content[0].type: field required"),
            (user(json!([{"type": "text", "text": 1}])), "messages[0].content[0].text: expected a string, got a number"),
            (user(json!([{"type": "text", "text": "ok"},
                         {"type": "image_url", "image_url": {"url": "https://x/y.png"}}])),
                "messages[0].content[1].image_url.url: remote image URLs are not supported; send the image inline as a base64 data URL (data:image/png;base64,…)"),
            (user(json!([{"type": "image_url", "image_url": {"url": "data:image/svg+xml,<svg/>"}}])),
                "messages[0].content[0].image_url.url: expected a base64 data URL (data:<media type>;base64,…)"),
            (user(json!([{"type": "image_url", "image_url": {"url": "HTTPS://x/y.png"}}])),
                "messages[0].content[0].image_url.url: remote image URLs are not supported; send the image inline as a base64 data URL (data:image/png;base64,…)"),
            (user(json!([{"type": "image_url", "image_url": {"url": "ftp://x"}}])),
                "messages[0].content[0].image_url.url: expected a base64 data URL (data:<media type>;base64,…)"),
            (user(json!([{"type": "image_url", "image_url": {"url": "data:;base64,AAAA"}}])),
                "messages[0].content[0].image_url.url: the data URL names no media type (expected data:image/png;base64,…)"),
            (user(json!([{"type": "image_url", "image_url": 3}])),
                "messages[0].content[0].image_url: expected an object, got a number"),
            (user(json!([{"type": "image_url", "image_url": {}}])),
                "messages[0].content[0].image_url.url: field required"),
            (user(json!([{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}])),
                "messages[0].content[0]: audio input is not supported by this gateway's models"),
            (user(json!([{"type": "file", "file": {"file_id": "file-1"}}])),
                "messages[0].content[0].file: uploaded files (file_id) are not supported; send the file inline as file_data (a base64 data URL)"),
            (with_messages(json!([{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}])),
                "messages[0].content[0].type: system messages take text parts only, not \"image_url\""),
            (call(json!("{\"city\": ")),
                "messages[1].tool_calls[0].function.arguments: is not valid JSON: EOF while parsing a value at line 1 column 9"),
            (call(json!("[1]")),
                "messages[1].tool_calls[0].function.arguments: must encode a JSON object, not an array"),
            (call(json!(5)),
                "messages[1].tool_calls[0].function.arguments: expected a JSON string, got a number"),
            (with_messages(json!([{"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f"}}]}])),
                "messages[0].tool_calls[0].id: field required"),
            (with_messages(json!([{"role": "assistant", "tool_calls": [{"id": "c", "type": "web"}]}])),
                "messages[0].tool_calls[0].type: unknown tool call type \"web\" (expected function)"),
            (with_messages(json!([{"role": "assistant", "tool_calls": {}}])),
                "messages[0].tool_calls: expected an array, got an object"),
            (with_messages(json!([{"role": "assistant", "reasoning_content": 1}])),
                "messages[0].reasoning_content: expected a string, got a number"),
            (with_messages(json!([{"role": "tool", "content": "x"}])),
                "messages[0].tool_call_id: field required"),
            (with_messages(json!([{"role": "tool", "tool_call_id": "c", "content": [
                {"type": "file", "file": {"file_data": "data:application/pdf;base64,AA=="}}]}])),
                "messages[0].content[0]: tool results can carry text and images only"),
            (with_messages(json!([{"role": "function", "content": "x"}])),
                "messages[0].name: field required"),
        ];
        for (body, expected) in cases {
            assert_eq!(error_of(&body), expected, "body {body}");
        }

        let mut body = with_messages(json!([{"role": "user", "content": "hi"}]));
        let top_level: Vec<(&str, Value, &str)> = vec![
            ("max_tokens", json!(-1), "max_tokens: expected a non-negative integer, got a number"),
            ("max_completion_tokens", json!("1"), "max_completion_tokens: expected a non-negative integer, got a string"),
            ("stream", json!("yes"), "stream: expected a boolean, got a string"),
            ("stream_options", json!({"include_usage": 1}), "stream_options.include_usage: expected a boolean, got a number"),
            ("n", json!(2), "n: only one choice (n = 1) is supported"),
            ("parallel_tool_calls", json!("yes"), "parallel_tool_calls: expected a boolean, got a string"),
            ("tools", json!([{"type": "function"}]), "tools[0].function: field required"),
            ("tools", json!([{"type": "function", "function": {"name": "a", "parameters": []}}]),
                "tools[0].function.parameters: expected an object, got an array"),
            ("tools", json!([{"type": "function", "function": {"description": "x"}}]), "tools[0].function.name: field required"),
            ("tools", json!([{"type": "function", "function": {"name": ""}}]), "tools[0].function.name: must not be empty"),
            ("tool_choice", json!("sometimes"), "tool_choice: unknown mode \"sometimes\" (expected auto, none or required)"),
            ("tool_choice", json!(1), "tool_choice: expected a string or an object, got a number"),
            ("tool_choice", json!({"type": "function"}), "tool_choice.function: field required"),
            ("tool_choice", json!({"type": "function", "function": {}}), "tool_choice.function.name: field required"),
            ("tool_choice", json!({"type": "mcp"}), "tool_choice.type: unknown tool_choice type \"mcp\" (expected function or allowed_tools)"),
            ("reasoning_effort", json!("extreme"), "reasoning_effort: unknown effort \"extreme\" (expected none, minimal, low, medium, high or xhigh)"),
            ("reasoning_effort", json!(3), "reasoning_effort: expected a string, got a number"),
            ("response_format", json!({"type": "yaml"}), "response_format.type: unknown format \"yaml\" (expected text, json_object or json_schema)"),
            ("response_format", json!({"type": "json_schema"}), "response_format.json_schema: field required"),
            ("response_format", json!("json"), "response_format: expected an object, got a string"),
            ("user", json!(5), "user: expected a string, got a number"),
            ("prompt_cache_key", json!([]), "prompt_cache_key: expected a string, got an array"),
        ];
        for (key, value, expected) in top_level {
            let saved = body[key].take();
            body[key] = value;
            assert_eq!(error_of(&body), expected);
            body[key] = saved;
        }

        let err = parse(b"{\"model\": ", &RequestHints::default()).unwrap_err();
        assert!(
            err.message
                .starts_with("the request body is not valid JSON: "),
            "{}",
            err.message
        );
        assert!(parse(b"", &RequestHints::default()).is_err());
    }

    #[test]
    fn escapes_and_repeated_keys_read_as_from_a_value() {
        // Escaped keys and strings are unescaped; a repeated key keeps its last value.
        let body = br#"{"model": "m", "messages": [
            {"role": "system", "role": "us\u0065r",
             "content": [{"typ\u0065": "t\u0065xt", "text": "a\"b"}]},
            {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f",
             "name": "g", "arguments": "{\"q\": \"x\\ny\"}"}}]},
            {"role": "tool", "tool_call_id": "c", "content": [{"type": "text", "text": "one"}]}],
            "tool_choice": null, "function_call": {"name": "g"},
            "response_format": {"type": "json_schema",
             "json_schema": {"schema": {"type": "object", "required": ["q"]}}}}"#;
        let req = parse(body, &RequestHints::default()).unwrap();
        assert_eq!(
            req.messages,
            [
                Message::user(vec![text("a\"b")]),
                Message::assistant(vec![Block::ToolUse {
                    id: "c".into(),
                    name: "g".into(),
                    input: json!({"q": "x\ny"})
                }]),
                Message::user(vec![Block::ToolResult {
                    tool_use_id: "c".into(),
                    content: "one".into(),
                    is_error: false,
                    images: vec![],
                }]),
            ]
        );
        assert_eq!(req.tool_choice, ToolChoice::Tool("g".into()));
        assert_eq!(
            req.response_schema,
            Some(json!({"type": "object", "required": ["q"]}))
        );
    }

    #[test]
    fn hostile_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(deep.as_bytes(), &RequestHints::default()).is_err());
        let args = format!("{}{}", "[".repeat(50_000), "]".repeat(50_000));
        let body = json!({"model": "m", "messages": [{"role": "assistant", "tool_calls": [
            {"id": "c", "function": {"name": "f", "arguments": args}}]}]});
        assert!(parse_json(&body).is_err());
    }
}
