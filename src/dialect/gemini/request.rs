//! Gemini `GenerateContentRequest` JSON → [`ChatRequest`].
//!
//! Tolerant where clients differ (unknown fields and part kinds are ignored, proto-JSON
//! `snake_case` spellings such as `inline_data` are accepted beside `inlineData`, numbers may
//! come as strings), strict where the input is simply wrong: a field of the wrong type, or a
//! part the upstream cannot carry (audio, file URIs), is a 400 naming its path, e.g.
//! `contents[2].parts[0].inlineData.mimeType`.
//!
//! The model comes from the URL (`/v1beta/models/{model}:generateContent`) and streaming from
//! the method; `alt=sse` (SSE rather than a JSON array) travels to the writer in `echo`.

use std::fmt;

use serde_json::{json, Map, Value};

use super::schema;
use crate::chat::{
    Block, ChatRequest, Document, GatewayError, Image, Message, Role, SessionHints,
    ThinkingConfig, Tool, ToolChoice,
};
use crate::dialect::RequestHints;

type Obj = Map<String, Value>;
type Result<T> = std::result::Result<T, GatewayError>;

/// Longest session key accepted for account stickiness.
const MAX_SESSION_KEY_LEN: usize = 256;
/// Characters of a tool name kept in a synthesized call id.
const MAX_ID_NAME_CHARS: usize = 64;

/// What the response writer needs from the request, carried in [`ChatRequest::echo`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Echo {
    /// `?alt=sse`: the stream is SSE, not a JSON array.
    pub sse: bool,
    /// `thinkingConfig.includeThoughts`: thought parts are shown.
    pub thoughts: bool,
    /// The client asked for JSON (`responseMimeType: application/json`).
    pub json: bool,
}

impl Echo {
    fn to_value(self) -> Value {
        json!({"sse": self.sse, "thoughts": self.thoughts, "json": self.json})
    }

    /// Reads back what [`parse`] stored; absent fields are `false`.
    pub fn from_value(value: Option<&Value>) -> Echo {
        let flag = |name: &str| {
            value
                .and_then(|v| v.get(name))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        Echo {
            sse: flag("sse"),
            thoughts: flag("thoughts"),
            json: flag("json"),
        }
    }
}

/// Decodes a `generateContent` / `streamGenerateContent` body.
pub fn parse(body: &[u8], hints: &RequestHints) -> Result<ChatRequest> {
    parse_root(root_object(body)?, hints, true)
}

/// Decodes a `countTokens` body: `{"contents":[…]}`, or a whole request under
/// `generateContentRequest`. Empty contents are allowed (they count as one token).
pub(crate) fn parse_count_tokens(body: &[u8], hints: &RequestHints) -> Result<ChatRequest> {
    let mut root = root_object(body)?;
    match get(&mut root, &ROOT, "generateContentRequest", object)? {
        Some(inner) => parse_root(inner, hints, false),
        None => parse_root(root, hints, false),
    }
}

fn root_object(body: &[u8]) -> Result<Obj> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(root)) => Ok(root),
        Ok(other) => Err(GatewayError::invalid(format!(
            "the request body must be a JSON object, not {}",
            kind(&other)
        ))),
        Err(e) => Err(GatewayError::invalid(format!(
            "the request body is not valid JSON: {e}"
        ))),
    }
}

fn parse_root(mut root: Obj, hints: &RequestHints, need_contents: bool) -> Result<ChatRequest> {
    let at = &ROOT;
    let body_model = get(&mut root, at, "model", string)?;
    let model = hints
        .path_model
        .clone()
        .or(body_model)
        .map(|m| m.strip_prefix("models/").map(str::to_owned).unwrap_or(m))
        .filter(|m| !m.is_empty())
        .ok_or_else(|| {
            GatewayError::invalid(
                "the model must be named in the URL: /v1beta/models/{model}:generateContent",
            )
        })?;

    let mut system = Vec::new();
    if let Some(instruction) = get(&mut root, at, "systemInstruction", any)? {
        push_system(instruction, &at.key("systemInstruction"), &mut system)?;
    }

    let contents_at = at.key("contents");
    let raw_contents = get(&mut root, at, "contents", array)?.unwrap_or_default();
    let mut calls = Calls::default();
    let mut messages = Vec::with_capacity(raw_contents.len());
    for (i, raw) in raw_contents.into_iter().enumerate() {
        if let Some(message) = parse_content(raw, &contents_at.index(i), i, &mut calls)? {
            messages.push(message);
        }
    }
    if need_contents && messages.is_empty() {
        return Err(invalid(
            &contents_at,
            "at least one content with a non-empty part is required",
        ));
    }

    let mut tools = match get(&mut root, at, "tools", array)? {
        Some(raw) => parse_tools(raw, &at.key("tools"))?,
        None => Vec::new(),
    };
    let tool_choice = match get(&mut root, at, "toolConfig", object)? {
        Some(config) => parse_tool_config(config, &at.key("toolConfig"), &mut tools)?,
        None => ToolChoice::Auto,
    };

    let generation = match get(&mut root, at, "generationConfig", object)? {
        Some(config) => parse_generation_config(config, &at.key("generationConfig"))?,
        None => Generation::default(),
    };

    let echo = Echo {
        sse: hints.query.as_deref().is_some_and(is_sse),
        thoughts: generation.include_thoughts,
        json: generation.response_schema.is_some(),
    };
    Ok(ChatRequest {
        model,
        system,
        messages,
        tools,
        tool_choice,
        thinking: generation.thinking,
        max_tokens: generation.max_tokens,
        stream: hints.path_stream.unwrap_or(false),
        response_schema: generation.response_schema,
        session: session_hints(hints.session_header.as_deref()),
        echo: Some(echo.to_value()),
    })
}

/// `alt=sse` among the query parameters.
fn is_sse(query: &str) -> bool {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .any(|(key, value)| key == "alt" && value.eq_ignore_ascii_case("sse"))
}

/// `systemInstruction`: a `Content` (its `role` is ignored) or, leniently, a plain string.
fn push_system(value: Value, at: &Path, system: &mut Vec<String>) -> Result<()> {
    let mut content = match value {
        Value::String(text) => {
            push_text(text, system);
            return Ok(());
        }
        Value::Object(content) => content,
        other => return Err(wrong_type(at, "a Content object", &other)),
    };
    let parts_at = at.key("parts");
    for (i, part) in get(&mut content, at, "parts", array)?
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let part_at = parts_at.index(i);
        let mut part = object(part, &part_at)?;
        let thought = get(&mut part, &part_at, "thought", boolean)?.unwrap_or(false);
        if let Some(text) = get(&mut part, &part_at, "text", string)? {
            if !thought {
                push_text(text, system);
            }
        }
    }
    Ok(())
}

fn push_text(text: String, system: &mut Vec<String>) {
    if !text.trim().is_empty() {
        system.push(text);
    }
}

/// The function calls of the latest model turn, which the next user turn's function
/// responses answer: by id when both carry one, else by name in order.
#[derive(Debug, Default)]
struct Calls {
    open: Vec<OpenCall>,
}

#[derive(Debug)]
struct OpenCall {
    id: String,
    name: String,
    answered: bool,
}

impl Calls {
    /// The id for a function response.
    fn answer(&mut self, id: Option<String>, name: &str, turn: usize, n: usize) -> String {
        if let Some(id) = id.as_deref() {
            if let Some(call) = self.open.iter_mut().find(|c| c.id == id) {
                call.answered = true;
                return call.id.clone();
            }
        }
        if let Some(call) = self
            .open
            .iter_mut()
            .find(|c| !c.answered && c.name == name)
        {
            call.answered = true;
            return call.id.clone();
        }
        // Nothing to answer: keep the client's id or make a stable one; the Kiro normaliser
        // deals with orphan results.
        id.unwrap_or_else(|| synthetic_id("result", name, turn, n))
    }
}

/// A call id that is the same every time the client replays the same history.
fn synthetic_id(kind: &str, name: &str, turn: usize, n: usize) -> String {
    let name: String = name.chars().take(MAX_ID_NAME_CHARS).collect();
    format!("{kind}_{turn}_{n}_{name}")
}

/// One entry of `contents`. A turn left with no usable part is dropped.
fn parse_content(raw: Value, at: &Path, turn: usize, calls: &mut Calls) -> Result<Option<Message>> {
    let mut content = object(raw, at)?;
    // A single-turn request may omit the role; `function`/`tool` are older spellings of the
    // user turn that carries function responses.
    let role = match get(&mut content, at, "role", string)?.as_deref() {
        None | Some("user" | "function" | "tool") => Role::User,
        Some("model") => Role::Assistant,
        Some(other) => {
            return Err(invalid(
                &at.key("role"),
                format_args!("unknown role {other:?} (expected user or model)"),
            ))
        }
    };
    if role == Role::Assistant {
        calls.open.clear();
    }
    let parts_at = at.key("parts");
    let parts = get(&mut content, at, "parts", array)?.unwrap_or_default();
    let mut blocks = Vec::with_capacity(parts.len());
    for (i, part) in parts.into_iter().enumerate() {
        parse_part(part, &parts_at.index(i), role, turn, calls, &mut blocks)?;
    }
    Ok((!blocks.is_empty()).then_some(Message {
        role,
        content: blocks,
    }))
}

/// One `Part`. Its kind is whichever data field it carries; `thoughtSignature` (including Gemini
/// CLI's `skip_thought_signature_validator`) and metadata fields are ignored.
fn parse_part(
    raw: Value,
    at: &Path,
    role: Role,
    turn: usize,
    calls: &mut Calls,
    blocks: &mut Vec<Block>,
) -> Result<()> {
    let mut part = object(raw, at)?;
    let thought = get(&mut part, at, "thought", boolean)?.unwrap_or(false);
    if let Some(text) = get(&mut part, at, "text", string)? {
        // An empty text part is what a stream's last chunk carries; clients replay it.
        if !text.is_empty() {
            blocks.push(match (thought, role) {
                (true, Role::Assistant) => Block::Thinking(text),
                _ => Block::Text(text),
            });
        }
    } else if let Some(data) = get(&mut part, at, "inlineData", object)? {
        blocks.push(inline_data(data, &at.key("inlineData"))?);
    } else if part_has(&part, "fileData") {
        return Err(invalid(
            &at.key("fileData"),
            "file URIs are not supported; send the content inline as inlineData",
        ));
    } else if let Some(call) = get(&mut part, at, "functionCall", object)? {
        let block = function_call(call, &at.key("functionCall"), turn, blocks.len())?;
        if let (Role::Assistant, Block::ToolUse { id, name, .. }) = (role, &block) {
            calls.open.push(OpenCall {
                id: id.clone(),
                name: name.clone(),
                answered: false,
            });
        }
        blocks.push(block);
    } else if let Some(response) = get(&mut part, at, "functionResponse", object)? {
        let n = blocks.len();
        blocks.push(function_response(
            response,
            &at.key("functionResponse"),
            |id, name| calls.answer(id, name, turn, n),
        )?);
    } else if let Some(code) = get(&mut part, at, "executableCode", object)? {
        blocks.push(executable_code(code, &at.key("executableCode"))?);
    } else if let Some(result) = get(&mut part, at, "codeExecutionResult", object)? {
        blocks.push(code_execution_result(result, &at.key("codeExecutionResult"))?);
    }
    // Anything else (a bare `thoughtSignature`, `videoMetadata`, a newer part kind) carries
    // nothing Kiro could use.
    Ok(())
}

/// `inlineData`: images, PDFs and text documents; other media are refused.
fn inline_data(mut data: Obj, at: &Path) -> Result<Block> {
    let mime_type = require(&mut data, at, "mimeType", string)?;
    let payload = require(&mut data, at, "data", string)?;
    let media_type = mime_type.trim().to_ascii_lowercase();
    if media_type.starts_with("image/") {
        return Ok(Block::Image(Image {
            media_type,
            data: payload,
        }));
    }
    if media_type == "application/pdf" || media_type.starts_with("text/") {
        return Ok(Block::Document(Document {
            media_type,
            data: payload,
            name: get(&mut data, at, "displayName", string)?,
        }));
    }
    let shown: String = mime_type.chars().take(64).collect();
    Err(invalid(
        &at.key("mimeType"),
        format_args!("{shown:?} is not supported; only images, PDF and text can be sent inline"),
    ))
}

/// `functionCall {id?, name, args?}`; a missing id gets a stable synthetic one.
fn function_call(mut call: Obj, at: &Path, turn: usize, n: usize) -> Result<Block> {
    let name = require(&mut call, at, "name", string)?;
    if name.is_empty() {
        return Err(invalid(&at.key("name"), "must not be empty"));
    }
    let input = get(&mut call, at, "args", object)?.unwrap_or_default();
    let id = get(&mut call, at, "id", string)?
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| synthetic_id("call", &name, turn, n));
    Ok(Block::ToolUse {
        id,
        name,
        input: Value::Object(input),
    })
}

/// `functionResponse {id?, name, response, parts?}`. The response object travels as JSON
/// text; one with an `error` and no `output` (the documented convention) is a failed call.
fn function_response(
    mut response: Obj,
    at: &Path,
    pair: impl FnOnce(Option<String>, &str) -> String,
) -> Result<Block> {
    let name = require(&mut response, at, "name", string)?;
    let id = get(&mut response, at, "id", string)?.filter(|id| !id.is_empty());
    let body = get(&mut response, at, "response", object)?.unwrap_or_default();
    let is_error = body.contains_key("error") && !body.contains_key("output");
    let mut images = Vec::new();
    let parts_at = at.key("parts");
    for (i, part) in get(&mut response, at, "parts", array)?
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let part_at = parts_at.index(i);
        let mut part = object(part, &part_at)?;
        if let Some(data) = get(&mut part, &part_at, "inlineData", object)? {
            match inline_data(data, &part_at.key("inlineData"))? {
                Block::Image(image) => images.push(image),
                _ => {
                    return Err(invalid(
                        &part_at.key("inlineData"),
                        "only images can be returned by a function",
                    ))
                }
            }
        }
    }
    Ok(Block::ToolResult {
        tool_use_id: pair(id, &name),
        // `Value`'s `Display` is its compact JSON and cannot fail.
        content: Value::Object(body).to_string(),
        is_error,
        images,
    })
}

/// Code the built-in code-execution tool ran: kept as text so the history stays readable.
fn executable_code(mut code: Obj, at: &Path) -> Result<Block> {
    let language = get(&mut code, at, "language", string)?
        .filter(|l| l != "LANGUAGE_UNSPECIFIED")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let code = require(&mut code, at, "code", string)?;
    Ok(Block::Text(format!("```{language}\n{code}\n```")))
}

fn code_execution_result(mut result: Obj, at: &Path) -> Result<Block> {
    let outcome = get(&mut result, at, "outcome", string)?.unwrap_or_default();
    let output = get(&mut result, at, "output", string)?.unwrap_or_default();
    Ok(Block::Text(format!(
        "Code execution result ({outcome}):\n{output}"
    )))
}

/// `tools[].functionDeclarations`. Google's own tools (`googleSearch`, `codeExecution`,
/// `urlContext`…) run inside Google and are dropped.
fn parse_tools(raw: Vec<Value>, at: &Path) -> Result<Vec<Tool>> {
    let mut tools = Vec::new();
    for (i, tool) in raw.into_iter().enumerate() {
        let tool_at = at.index(i);
        let mut tool = object(tool, &tool_at)?;
        let declarations_at = tool_at.key("functionDeclarations");
        let declarations = get(&mut tool, &tool_at, "functionDeclarations", array)?;
        for (j, declaration) in declarations.unwrap_or_default().into_iter().enumerate() {
            let decl_at = declarations_at.index(j);
            let mut decl = object(declaration, &decl_at)?;
            let name = require(&mut decl, &decl_at, "name", string)?;
            if name.is_empty() {
                return Err(invalid(&decl_at.key("name"), "must not be empty"));
            }
            let schema = match get(&mut decl, &decl_at, "parametersJsonSchema", any)? {
                Some(schema) => Some(schema),
                None => get(&mut decl, &decl_at, "parameters", any)?,
            };
            tools.push(Tool {
                name,
                description: get(&mut decl, &decl_at, "description", string)?.unwrap_or_default(),
                input_schema: schema
                    .map(schema::to_json_schema)
                    .unwrap_or_else(empty_object_schema),
            });
        }
    }
    Ok(tools)
}

fn empty_object_schema() -> Value {
    json!({"type": "object", "properties": {}})
}

/// `toolConfig.functionCallingConfig`.
///
/// `allowedFunctionNames` restricts what the model may call. Kiro has no such switch, so the
/// other declarations are removed: a model cannot call what it was not offered. (Calls already
/// in the history stay valid: the Kiro normaliser declares the tools the history uses.) `ANY`
/// with exactly one allowed name forces that function; `VALIDATED` only constrains decoding at
/// Google and means `AUTO` here.
fn parse_tool_config(mut config: Obj, at: &Path, tools: &mut Vec<Tool>) -> Result<ToolChoice> {
    let fc_at = at.key("functionCallingConfig");
    let Some(mut fc) = get(&mut config, at, "functionCallingConfig", object)? else {
        return Ok(ToolChoice::Auto);
    };
    let mode = get(&mut fc, &fc_at, "mode", string)?
        .unwrap_or_default()
        .to_ascii_uppercase();
    let names_at = fc_at.key("allowedFunctionNames");
    let allowed = match get(&mut fc, &fc_at, "allowedFunctionNames", array)? {
        Some(names) => names
            .into_iter()
            .enumerate()
            .map(|(i, name)| string(name, &names_at.index(i)))
            .collect::<Result<Vec<String>>>()?,
        None => Vec::new(),
    };
    let choice = match mode.as_str() {
        "" | "MODE_UNSPECIFIED" | "AUTO" | "VALIDATED" => ToolChoice::Auto,
        "NONE" => return Ok(ToolChoice::None),
        "ANY" => match allowed.as_slice() {
            [only] => ToolChoice::Tool(only.clone()),
            _ => ToolChoice::Any,
        },
        other => {
            return Err(invalid(
                &fc_at.key("mode"),
                format_args!("unknown mode {other:?} (expected AUTO, ANY, NONE or VALIDATED)"),
            ))
        }
    };
    if !allowed.is_empty() {
        tools.retain(|tool| allowed.contains(&tool.name));
        if tools.is_empty() {
            return Err(invalid(
                &names_at,
                "none of these functions is declared in tools[].functionDeclarations",
            ));
        }
    }
    Ok(choice)
}

/// What `generationConfig` contributes.
#[derive(Debug, Default)]
struct Generation {
    max_tokens: Option<u32>,
    response_schema: Option<Value>,
    thinking: Option<ThinkingConfig>,
    include_thoughts: bool,
}

/// `generationConfig`. Sampling knobs (temperature, topP, topK, stopSequences, seed,
/// candidateCount…) have no Kiro equivalent and are ignored.
fn parse_generation_config(mut config: Obj, at: &Path) -> Result<Generation> {
    let max_tokens = get(&mut config, at, "maxOutputTokens", integer)?
        .map(|n| u32::try_from(n.max(0)).unwrap_or(u32::MAX));
    let mime_type = get(&mut config, at, "responseMimeType", string)?;
    let schema = match get(&mut config, at, "responseJsonSchema", any)? {
        Some(schema) => Some(schema),
        None => get(&mut config, at, "responseSchema", any)?,
    };
    let wants_json = match mime_type.as_deref().map(str::trim) {
        Some(mime) => mime.eq_ignore_ascii_case("application/json"),
        // A schema alone is a clear enough request for JSON.
        None => schema.is_some(),
    };
    let response_schema = wants_json.then(|| {
        schema
            .map(schema::to_json_schema)
            .unwrap_or_else(schema::any_object)
    });
    let (thinking, include_thoughts) = match get(&mut config, at, "thinkingConfig", object)? {
        Some(thinking) => parse_thinking(thinking, &at.key("thinkingConfig"))?,
        None => (None, false),
    };
    Ok(Generation {
        max_tokens,
        response_schema,
        thinking,
        include_thoughts,
    })
}

/// `thinkingConfig`: a budget of 0 turns reasoning off, -1 lets the model decide, a level maps
/// to an effort. `includeThoughts` alone asks for reasoning at the default effort (Gemini models
/// reason by default; the flag only shows it).
fn parse_thinking(mut config: Obj, at: &Path) -> Result<(Option<ThinkingConfig>, bool)> {
    let include = get(&mut config, at, "includeThoughts", boolean)?.unwrap_or(false);
    let budget = get(&mut config, at, "thinkingBudget", integer)?;
    let level = get(&mut config, at, "thinkingLevel", string)?;
    let adaptive = |effort: &str| ThinkingConfig::Adaptive {
        effort: effort.to_owned(),
    };
    let thinking = match (budget, level.as_deref()) {
        (Some(0), _) => None,
        (_, Some(level)) => Some(match level.to_ascii_uppercase().as_str() {
            "MINIMAL" | "LOW" => adaptive("low"),
            "MEDIUM" => adaptive("medium"),
            _ => adaptive("high"),
        }),
        (Some(budget), None) if budget > 0 => Some(ThinkingConfig::Enabled {
            budget_tokens: u32::try_from(budget).unwrap_or(u32::MAX),
        }),
        (Some(_), None) => Some(adaptive("high")),
        (None, None) => include.then(|| adaptive("high")),
    };
    let show = include && thinking.is_some();
    Ok((thinking, show))
}

/// Stickiness from a session header; it is the conversation id too when it is a UUID.
fn session_hints(header: Option<&str>) -> SessionHints {
    let Some(header) = header
        .map(str::trim)
        .filter(|h| !h.is_empty() && h.len() <= MAX_SESSION_KEY_LEN)
    else {
        return SessionHints::default();
    };
    SessionHints {
        conversation_id: uuid::Uuid::parse_str(header)
            .ok()
            .map(|u| u.hyphenated().to_string()),
        session_key: Some(header.to_owned()),
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

/// Removes `name` (lowerCamelCase) from `obj`, or its proto-JSON `snake_case` spelling.
fn take(obj: &mut Obj, name: &str) -> Option<Value> {
    if let Some(value) = obj.remove(name) {
        return Some(value);
    }
    if !name.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    obj.remove(&snake_case(name))
}

/// Whether `obj` has `name` in either spelling (without taking it).
fn part_has(obj: &Obj, name: &str) -> bool {
    obj.contains_key(name) || obj.contains_key(&snake_case(name))
}

fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Takes `name` out of `obj` and converts it; absent and `null` are both `None`.
fn get<T>(
    obj: &mut Obj,
    at: &Path,
    name: &str,
    convert: impl FnOnce(Value, &Path) -> Result<T>,
) -> Result<Option<T>> {
    match take(obj, name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => convert(value, &at.key(name)).map(Some),
    }
}

/// Like [`get`], for a field that must be present.
fn require<T>(
    obj: &mut Obj,
    at: &Path,
    name: &str,
    convert: impl FnOnce(Value, &Path) -> Result<T>,
) -> Result<T> {
    get(obj, at, name, convert)?.ok_or_else(|| invalid(&at.key(name), "field required"))
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

/// An integer; proto JSON allows it as a decimal string too.
fn integer(value: Value, at: &Path) -> Result<i64> {
    let parsed = match &value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| wrong_type(at, "an integer", &value))
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
