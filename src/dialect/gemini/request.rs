//! Gemini `GenerateContentRequest` JSON → [`ChatRequest`].
//!
//! Tolerant where clients differ (unknown fields and part kinds are ignored, proto-JSON
//! `snake_case` spellings such as `inline_data` are accepted beside `inlineData`, numbers may
//! come as strings), strict where the input is simply wrong: a field of the wrong type, or a
//! part the upstream cannot carry (audio, file URIs), is a 400 naming its path, e.g.
//! `contents[2].parts[0].inlineData.mimeType`.
//!
//! The body is parsed once, into a `dialect::lean` tree down to the parts' fields (the bulk of a
//! conversation is small objects there) and `Value`s below (a call's `args`, a response's
//! `response`, schemas: all kept as JSON), and then taken apart by value, so strings move into
//! the `ChatRequest` without copies.
//!
//! The model comes from the URL (`/v1beta/models/{model}:generateContent`) and streaming from
//! the method; `alt=sse` (SSE rather than a JSON array) travels to the writer in `echo`.

use std::borrow::Cow;

use serde_json::{json, Value};

use super::schema;
use crate::chat::{
    Block, ChatRequest, Document, GatewayError, Image, Message, Role, SessionHints, ThinkingConfig,
    Tool, ToolChoice, Tools,
};
use crate::dialect::fields::{
    self, invalid, missing, wrong_kind, Field as _, Fields, Path, Result, ROOT,
};
use crate::dialect::lean::{
    self, any, array, boolean, object, object_map, string, text_or_object, Members, Node,
    TextOrObject,
};
use crate::dialect::tool_cache::{parse_raw, shared_tools};
use crate::dialect::{Dialect, RequestHints};
use crate::json::push_json_value;

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
    let (root, raw_tools) = lean::root_object(body, "tools", lean_levels)?;
    let tools = shared_tools(Dialect::Gemini, raw_tools, &ROOT.key("tools"), parse_tools)?;
    parse_root(root, tools, hints, true)
}

/// Decodes a `countTokens` body: `{"contents":[…]}`, or a whole request under
/// `generateContentRequest`. Empty contents are allowed (they count as one token).
pub(crate) fn parse_count_tokens(body: &[u8], hints: &RequestHints) -> Result<ChatRequest> {
    // The lean parse leaves `tools` raw; it is parsed here rather than through the shared
    // cache, as before: a count is answered locally, and a wrapped request ignores it.
    let (mut root, raw_tools) = lean::root_object(body, "tools", count_tokens_levels)?;
    let tools_at = ROOT.key("tools");
    let (root, tools) = match get(&mut root, &ROOT, "generateContentRequest", object)? {
        // The outer `tools` goes with the outer object, as before.
        Some(mut inner) => {
            let tools = get(&mut inner, &ROOT, "tools", |node, at| {
                fields::array(node.into_value(), at)
            })?;
            (inner, tools)
        }
        None => {
            let tools = raw_tools.map(parse_raw).transpose()?;
            (root, fields::convert(tools, &ROOT, "tools", fields::array)?)
        }
    };
    let tools = match tools {
        Some(raw) => parse_tools(raw, &tools_at)?.into(),
        None => Tools::default(),
    };
    parse_root(root, tools, hints, false)
}

/// How many levels of each top-level member are parsed lean: `contents` down to the parts'
/// fields (an `inlineData` or `functionCall` object is lean, its `args` a `Value`),
/// `systemInstruction` down to its parts' texts, the configs down to the strings they
/// compare, anything else one level.
fn lean_levels(key: &str) -> u8 {
    match key {
        "contents" => 5,
        "systemInstruction" | "system_instruction" => 4,
        "toolConfig" | "tool_config" => 3,
        "generationConfig" | "generation_config" => 2,
        _ => 1,
    }
}

/// [`lean_levels`], with a whole request one level down under `generateContentRequest`.
fn count_tokens_levels(key: &str) -> u8 {
    match key {
        "generateContentRequest" | "generate_content_request" => 6,
        other => lean_levels(other),
    }
}

/// The request without its `tools`, which come parsed (and possibly shared).
fn parse_root(
    mut root: Members,
    mut tools: Tools,
    hints: &RequestHints,
    need_contents: bool,
) -> Result<ChatRequest> {
    let at = &ROOT;
    let body_model = get(&mut root, at, "model", lean::str)?;
    let model = hints
        .path_model
        .as_deref()
        .map(Cow::Borrowed)
        .or(body_model)
        .map(|m| match m.strip_prefix("models/") {
            Some(name) => name.to_owned(),
            None => m.into_owned(),
        })
        .filter(|m| !m.is_empty())
        .ok_or_else(|| {
            GatewayError::invalid(
                "the model must be named in the URL: /v1beta/models/{model}:generateContent",
            )
        })?;

    let mut system = Vec::new();
    if let Some(instruction) = get(&mut root, at, "systemInstruction", lean::node)? {
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
        shared_echo: None,
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
fn push_system(value: Node, at: &Path, system: &mut Vec<String>) -> Result<()> {
    let mut content = match text_or_object(value, at, "a Content object")? {
        TextOrObject::Text(text) => {
            push_text(text, system);
            return Ok(());
        }
        TextOrObject::Object(content) => content,
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
        if let Some(text) = get(&mut part, &part_at, "text", lean::str)? {
            if !thought {
                push_text(text, system);
            }
        }
    }
    Ok(())
}

/// Keeps a system text unless it is blank; only a kept one is copied out of the body.
fn push_text(text: Cow<str>, system: &mut Vec<String>) {
    if !text.trim().is_empty() {
        system.push(text.into_owned());
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
        if let Some(call) = id
            .as_deref()
            .and_then(|id| self.open.iter_mut().find(|c| c.id == id))
        {
            call.answered = true;
            // The response's own id is the same text, so it serves without a copy.
            if let Some(id) = id {
                return id;
            }
        }
        if let Some(call) = self.open.iter_mut().find(|c| !c.answered && c.name == name) {
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
    let end = name
        .char_indices()
        .nth(MAX_ID_NAME_CHARS)
        .map_or(name.len(), |(at, _)| at);
    format!("{kind}_{turn}_{n}_{}", &name[..end])
}

/// One entry of `contents`. A turn left with no usable part is dropped.
fn parse_content(raw: Node, at: &Path, turn: usize, calls: &mut Calls) -> Result<Option<Message>> {
    let mut content = object(raw, at)?;
    // A single-turn request may omit the role; `function`/`tool` are older spellings of the
    // user turn that carries function responses.
    let role = match get(&mut content, at, "role", lean::str)?.as_deref() {
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
    raw: Node,
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
        blocks.push(code_execution_result(
            result,
            &at.key("codeExecutionResult"),
        )?);
    }
    // Anything else (a bare `thoughtSignature`, `videoMetadata`, a newer part kind) carries
    // nothing Kiro could use.
    Ok(())
}

/// `inlineData`: images, PDFs and text documents; other media are refused.
fn inline_data(mut data: Members, at: &Path) -> Result<Block> {
    let mime_type = require(&mut data, at, "mimeType", lean::str)?;
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
fn function_call(mut call: Members, at: &Path, turn: usize, n: usize) -> Result<Block> {
    let name = require(&mut call, at, "name", string)?;
    if name.is_empty() {
        return Err(invalid(&at.key("name"), "must not be empty"));
    }
    let input = get(&mut call, at, "args", object_map)?.unwrap_or_default();
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
    mut response: Members,
    at: &Path,
    pair: impl FnOnce(Option<String>, &str) -> String,
) -> Result<Block> {
    let name = require(&mut response, at, "name", string)?;
    let id = get(&mut response, at, "id", string)?.filter(|id| !id.is_empty());
    let body = get(&mut response, at, "response", object_map)?.unwrap_or_default();
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
    // Compact JSON, as `Value`'s `Display` writes it, but into a buffer sized like
    // `serde_json::to_string`'s rather than one grown from 8 bytes.
    let mut content = Vec::with_capacity(128);
    push_json_value(&mut content, &Value::Object(body));
    Ok(Block::ToolResult {
        tool_use_id: pair(id, &name),
        // JSON written from `str`s is UTF-8; the lossy branch is never taken.
        content: String::from_utf8(content)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        is_error,
        images,
    })
}

/// Code the built-in code-execution tool ran: kept as text so the history stays readable.
fn executable_code(mut code: Members, at: &Path) -> Result<Block> {
    let language = get(&mut code, at, "language", lean::str)?
        .filter(|l| l != "LANGUAGE_UNSPECIFIED")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let code = require(&mut code, at, "code", lean::str)?;
    Ok(Block::Text(format!("```{language}\n{code}\n```")))
}

fn code_execution_result(mut result: Members, at: &Path) -> Result<Block> {
    let outcome = get(&mut result, at, "outcome", lean::str)?.unwrap_or_default();
    let output = get(&mut result, at, "output", lean::str)?.unwrap_or_default();
    Ok(Block::Text(format!(
        "Code execution result ({outcome}):\n{output}"
    )))
}

/// `tools[].functionDeclarations`. Google's own tools (`googleSearch`, `codeExecution`,
/// `urlContext`…) run inside Google and are dropped.
///
/// `tools` is left raw by the root's parse and parsed here, once per distinct list
/// ([`shared_tools`]), into `Value`s: its schemas are kept as JSON anyway.
fn parse_tools(raw: Vec<Value>, at: &Path) -> Result<Vec<Tool>> {
    let mut tools = Vec::new();
    for (i, tool) in raw.into_iter().enumerate() {
        let tool_at = at.index(i);
        let mut tool = fields::object(tool, &tool_at)?;
        let declarations_at = tool_at.key("functionDeclarations");
        let declarations = get(&mut tool, &tool_at, "functionDeclarations", fields::array)?;
        for (j, declaration) in declarations.unwrap_or_default().into_iter().enumerate() {
            let decl_at = declarations_at.index(j);
            let mut decl = fields::object(declaration, &decl_at)?;
            let name = require(&mut decl, &decl_at, "name", fields::string)?;
            if name.is_empty() {
                return Err(invalid(&decl_at.key("name"), "must not be empty"));
            }
            let schema = match get(&mut decl, &decl_at, "parametersJsonSchema", fields::any)? {
                Some(schema) => Some(schema),
                None => get(&mut decl, &decl_at, "parameters", fields::any)?,
            };
            tools.push(Tool {
                name,
                description: get(&mut decl, &decl_at, "description", fields::string)?
                    .unwrap_or_default(),
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
fn parse_tool_config(mut config: Members, at: &Path, tools: &mut Tools) -> Result<ToolChoice> {
    let fc_at = at.key("functionCallingConfig");
    let Some(mut fc) = get(&mut config, at, "functionCallingConfig", object)? else {
        return Ok(ToolChoice::Auto);
    };
    let mode = get(&mut fc, &fc_at, "mode", lean::str)?
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
    if !allowed.is_empty() && !tools.iter().all(|tool| allowed.contains(&tool.name)) {
        tools.make_mut().retain(|tool| allowed.contains(&tool.name));
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
fn parse_generation_config(mut config: Members, at: &Path) -> Result<Generation> {
    let max_tokens = get(&mut config, at, "maxOutputTokens", integer)?
        .map(|n| u32::try_from(n.max(0)).unwrap_or(u32::MAX));
    let mime_type = get(&mut config, at, "responseMimeType", lean::str)?;
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
fn parse_thinking(mut config: Members, at: &Path) -> Result<(Option<ThinkingConfig>, bool)> {
    let include = get(&mut config, at, "includeThoughts", boolean)?.unwrap_or(false);
    let budget = get(&mut config, at, "thinkingBudget", integer)?;
    let level = get(&mut config, at, "thinkingLevel", lean::str)?;
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
// Field access ([`crate::dialect::fields`]) with proto JSON's second spelling of every name,
// on lean objects ([`Members`]) and on `tools`' `Value` maps alike.

/// Removes `name` (lowerCamelCase) from `obj`, or its proto-JSON `snake_case` spelling.
fn take<F: Fields>(obj: &mut F, name: &str) -> Option<F::Item> {
    let camel = obj.take(name);
    if camel.as_ref().is_some_and(|v| !v.is_null()) || !name.bytes().any(|b| b.is_ascii_uppercase())
    {
        return camel;
    }
    with_snake_case(name, |snake| obj.take(snake)).or(camel)
}

/// Whether `obj` has `name` in either spelling (without taking it), even as `null`.
fn part_has(obj: &Members, name: &str) -> bool {
    obj.get(name).is_some() || with_snake_case(name, |snake| obj.get(snake).is_some())
}

/// Calls `f` with the `snake_case` spelling of `name`, spelled on the stack: it is looked up
/// for every absent field of every part, so a `String` each time would add up.
fn with_snake_case<R>(name: &str, f: impl FnOnce(&str) -> R) -> R {
    let mut buf = [0u8; 64];
    let mut len = 0;
    for b in name.bytes() {
        let spelled = [b'_', b.to_ascii_lowercase()];
        let spelled = if b.is_ascii_uppercase() {
            &spelled[..]
        } else {
            &[b][..]
        };
        let Some(into) = buf.get_mut(len..len + spelled.len()) else {
            return f(&snake_case(name));
        };
        into.copy_from_slice(spelled);
        len += spelled.len();
    }
    // Only ASCII bytes were replaced, so the bytes are still UTF-8.
    match std::str::from_utf8(&buf[..len]) {
        Ok(snake) => f(snake),
        Err(_) => f(&snake_case(name)),
    }
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

/// Takes `name` (either spelling) out of `obj` and converts it; absent and `null` are both
/// `None`.
fn get<F: Fields, T>(
    obj: &mut F,
    at: &Path,
    name: &str,
    convert: impl FnOnce(F::Item, &Path) -> Result<T>,
) -> Result<Option<T>> {
    fields::convert(take(obj, name), at, name, convert)
}

/// Like [`get`], for a field that must be present.
fn require<F: Fields, T>(
    obj: &mut F,
    at: &Path,
    name: &str,
    convert: impl FnOnce(F::Item, &Path) -> Result<T>,
) -> Result<T> {
    get(obj, at, name, convert)?.ok_or_else(|| missing(&at.key(name)))
}

/// An integer; proto JSON allows it as a decimal string too.
fn integer(node: Node, at: &Path) -> Result<i64> {
    let parsed = match &node {
        Node::Value(Value::Number(n)) => n.as_i64(),
        other => other.as_str().and_then(|s| s.trim().parse().ok()),
    };
    parsed.ok_or_else(|| wrong_kind(at, "an integer", node.kind()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::ErrorKind;
    use crate::dialect::testing::captures;

    fn hints() -> RequestHints {
        RequestHints {
            path_model: Some("gemini-2.5-flash".into()),
            path_stream: Some(true),
            query: Some("alt=sse".into()),
            session_header: None,
        }
    }

    fn parse_json(body: &Value) -> Result<ChatRequest> {
        parse(body.to_string().as_bytes(), &hints())
    }

    fn error_of(body: &Value) -> String {
        let err = parse_json(body).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidRequest);
        err.message
    }

    fn user(parts: Value) -> Value {
        json!({"contents": [{"role": "user", "parts": parts}]})
    }

    fn blocks(body: &Value) -> Vec<Block> {
        parse_json(body)
            .unwrap()
            .messages
            .into_iter()
            .flat_map(|m| m.content)
            .collect()
    }

    #[test]
    fn minimal_request() {
        let req = parse_json(&json!({"contents": [{"parts": [{"text": "hi"}]}]})).unwrap();
        assert_eq!(req.model, "gemini-2.5-flash");
        assert!(req.stream);
        assert_eq!(
            req.messages,
            vec![Message::user(vec![Block::Text("hi".into())])]
        );
        assert_eq!(req.tool_choice, ToolChoice::Auto);
        assert_eq!(req.thinking, None);
        assert_eq!(req.response_schema, None);
        assert_eq!(
            Echo::from_value(req.echo.as_ref()),
            Echo {
                sse: true,
                thoughts: false,
                json: false
            }
        );

        // Non-streaming, JSON-array streaming, and a model named only in the body.
        let body = json!({"model": "models/gemini-pro", "contents": [{"parts": [{"text": "hi"}]}]});
        let req = parse(body.to_string().as_bytes(), &RequestHints::default()).unwrap();
        assert_eq!(req.model, "gemini-pro");
        assert!(!req.stream);
        let h = RequestHints {
            query: Some("key=abc&alt=json".into()),
            ..hints()
        };
        let req = parse(body.to_string().as_bytes(), &h).unwrap();
        assert_eq!(req.model, "gemini-2.5-flash", "the URL wins");
        assert!(!Echo::from_value(req.echo.as_ref()).sse);
        assert!(is_sse("key=k&alt=SSE"));
        assert!(!is_sse("alt=ssex&salt=sse"));
    }

    #[test]
    fn every_part_kind() {
        let body = json!({"contents": [
            {"role": "user", "parts": [
                {"text": "look"},
                {"text": ""},
                {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                {"inline_data": {"mime_type": "application/pdf", "data": "JVBERi0=", "display_name": "a.pdf"}},
                {"inlineData": {"mimeType": "text/plain", "data": "aGk="}},
                {"thoughtSignature": "abc"},
                {"videoMetadata": {}, "someFuturePart": 1}
            ]},
            {"role": "model", "parts": [
                {"text": "Thinking it over", "thought": true, "thoughtSignature": "sig"},
                {"text": "Running it."},
                {"executableCode": {"language": "PYTHON", "code": "print(1)"}},
                {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "1\n"}},
                {"functionCall": {"name": "run", "args": {"cmd": "ls"}, "id": "c1"},
                 "thoughtSignature": "skip_thought_signature_validator"}
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "run", "id": "c1", "response": {"output": "a.txt"}}},
                {"text": "a thought from a user is just text", "thought": true}
            ]}
        ]});
        let req = parse_json(&body).unwrap();
        assert_eq!(req.messages.len(), 3);
        assert_eq!(
            req.messages[0].content,
            vec![
                Block::Text("look".into()),
                Block::Image(Image {
                    media_type: "image/png".into(),
                    data: "iVBORw0KGgo=".into()
                }),
                Block::Document(Document {
                    media_type: "application/pdf".into(),
                    data: "JVBERi0=".into(),
                    name: Some("a.pdf".into())
                }),
                Block::Document(Document {
                    media_type: "text/plain".into(),
                    data: "aGk=".into(),
                    name: None
                }),
            ]
        );
        assert_eq!(req.messages[1].role, Role::Assistant);
        assert_eq!(
            req.messages[1].content,
            vec![
                Block::Thinking("Thinking it over".into()),
                Block::Text("Running it.".into()),
                Block::Text("```python\nprint(1)\n```".into()),
                Block::Text("Code execution result (OUTCOME_OK):\n1\n".into()),
                Block::ToolUse {
                    id: "c1".into(),
                    name: "run".into(),
                    input: json!({"cmd": "ls"})
                },
            ]
        );
        assert_eq!(
            req.messages[2].content,
            vec![
                Block::ToolResult {
                    tool_use_id: "c1".into(),
                    content: r#"{"output":"a.txt"}"#.into(),
                    is_error: false,
                    images: vec![]
                },
                Block::Text("a thought from a user is just text".into()),
            ]
        );
    }

    #[test]
    fn unsupported_media_is_a_clear_400() {
        assert_eq!(
            error_of(&user(json!([{"text": "hi"}, {"inlineData": {"mimeType": "audio/mpeg", "data": "AAAA"}}]))),
            "contents[0].parts[1].inlineData.mimeType: \"audio/mpeg\" is not supported; only images, PDF and text can be sent inline"
        );
        assert_eq!(
            error_of(&user(json!([{"fileData": {"mimeType": "image/png", "fileUri": "gs://b/x.png"}}]))),
            "contents[0].parts[0].fileData: file URIs are not supported; send the content inline as inlineData"
        );
        assert_eq!(
            error_of(&user(json!([{"file_data": {"file_uri": "https://x"}}]))),
            "contents[0].parts[0].fileData: file URIs are not supported; send the content inline as inlineData"
        );
    }

    #[test]
    fn function_responses_pair_with_calls_by_id() {
        let body = json!({"contents": [
            {"role": "user", "parts": [{"text": "go"}]},
            {"role": "model", "parts": [
                {"functionCall": {"id": "a", "name": "f", "args": {}}},
                {"functionCall": {"id": "b", "name": "f", "args": {"x": 1}}}
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"id": "b", "name": "f", "response": {"output": "B"}}},
                {"functionResponse": {"name": "f", "response": {"output": "A"}}}
            ]}
        ]});
        let ids: Vec<String> = blocks(&body)
            .into_iter()
            .filter_map(|b| match b {
                Block::ToolResult { tool_use_id, .. } => Some(tool_use_id),
                _ => None,
            })
            .collect();
        // "b" by id; the one without an id takes the remaining call of that name.
        assert_eq!(ids, ["b", "a"]);
    }

    #[test]
    fn calls_without_ids_get_stable_ids_and_pair_by_name_and_order() {
        let body = json!({"contents": [
            {"role": "user", "parts": [{"text": "weather in two cities, then the time"}]},
            {"role": "model", "parts": [
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "get_time", "args": {}}},
                {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "get_time", "response": {"output": "noon"}}},
                {"functionResponse": {"name": "get_weather", "response": {"output": "sunny"}}},
                {"functionResponse": {"name": "get_weather", "response": {"error": "no data"}}},
                {"functionResponse": {"name": "unknown", "response": {}}}
            ]}
        ]});
        let req = parse_json(&body).unwrap();
        let call_ids: Vec<&str> = req.messages[1]
            .content
            .iter()
            .filter_map(|b| match b {
                Block::ToolUse { id, .. } => Some(id.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            call_ids,
            [
                "call_1_0_get_weather",
                "call_1_1_get_time",
                "call_1_2_get_weather"
            ]
        );
        let results: Vec<(&str, &str, bool)> = req.messages[2]
            .content
            .iter()
            .filter_map(|b| match b {
                Block::ToolResult {
                    tool_use_id,
                    content,
                    is_error,
                    ..
                } => Some((tool_use_id.as_str(), content.as_str(), *is_error)),
                _ => None,
            })
            .collect();
        assert_eq!(
            results,
            [
                ("call_1_1_get_time", r#"{"output":"noon"}"#, false),
                ("call_1_0_get_weather", r#"{"output":"sunny"}"#, false),
                ("call_1_2_get_weather", r#"{"error":"no data"}"#, true),
                ("result_2_3_unknown", "{}", false),
            ]
        );
        // Replaying the same history gives the same ids.
        assert_eq!(parse_json(&body).unwrap().messages, req.messages);
    }

    #[test]
    fn function_responses_may_return_images() {
        let body = user(
            json!([{"functionResponse": {"name": "shot", "response": {"output": "ok"},
            "parts": [{"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]}}]),
        );
        match &blocks(&body)[..] {
            [Block::ToolResult { images, .. }] => assert_eq!(
                images,
                &[Image {
                    media_type: "image/png".into(),
                    data: "AAAA".into()
                }]
            ),
            other => panic!("{other:?}"),
        }
        let body = user(json!([{"functionResponse": {"name": "f", "response": {},
            "parts": [{"inlineData": {"mimeType": "application/pdf", "data": "AAAA"}}]}}]));
        assert_eq!(
            error_of(&body),
            "contents[0].parts[0].functionResponse.parts[0].inlineData: only images can be returned by a function"
        );
    }

    #[test]
    fn system_instruction() {
        let mut body = user(json!([{"text": "hi"}]));
        body["systemInstruction"] = json!({"role": "user", "parts": [{"text": "Be terse."}, {"text": " "}, {"text": "Cite.", "thought": false}]});
        assert_eq!(parse_json(&body).unwrap().system, ["Be terse.", "Cite."]);
        body["systemInstruction"] = Value::Null;
        body["system_instruction"] = json!("Plain.");
        assert_eq!(parse_json(&body).unwrap().system, ["Plain."]);
        body["system_instruction"] = json!(5);
        assert_eq!(
            error_of(&body),
            "systemInstruction: expected a Content object, got a number"
        );
    }

    #[test]
    fn tools_and_their_schemas() {
        let mut body = user(json!([{"text": "hi"}]));
        body["tools"] = json!([
            {"functionDeclarations": [
                {"name": "get_weather", "description": "Weather for a city",
                 "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]}},
                {"name": "read_file",
                 "parametersJsonSchema": {"type": "object", "properties": {"path": {"type": "string"}}}},
                {"name": "noop"}
            ]},
            {"googleSearch": {}},
            {"codeExecution": {}},
            {"function_declarations": [{"name": "snake", "parameters_json_schema": {"type": "OBJECT"}}]}
        ]);
        let req = parse_json(&body).unwrap();
        assert_eq!(
            req.tools.to_vec(),
            vec![
                Tool {
                    name: "get_weather".into(),
                    description: "Weather for a city".into(),
                    input_schema: json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
                },
                Tool {
                    name: "read_file".into(),
                    description: String::new(),
                    input_schema: json!({"type": "object", "properties": {"path": {"type": "string"}}}),
                },
                Tool {
                    name: "noop".into(),
                    description: String::new(),
                    input_schema: json!({"type": "object", "properties": {}}),
                },
                Tool {
                    name: "snake".into(),
                    description: String::new(),
                    input_schema: json!({"type": "object"}),
                },
            ]
        );
    }

    #[test]
    fn function_calling_modes() {
        let choice = |config: Value| -> Result<(ToolChoice, Vec<String>)> {
            let mut body = user(json!([{"text": "hi"}]));
            body["tools"] =
                json!([{"functionDeclarations": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}]);
            body["toolConfig"] = json!({"functionCallingConfig": config});
            let req = parse_json(&body)?;
            Ok((
                req.tool_choice,
                req.tools.iter().map(|t| t.name.clone()).collect(),
            ))
        };
        let all = || vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        assert_eq!(
            choice(json!({"mode": "AUTO"})).unwrap(),
            (ToolChoice::Auto, all())
        );
        assert_eq!(choice(json!({})).unwrap(), (ToolChoice::Auto, all()));
        assert_eq!(
            choice(json!({"mode": "VALIDATED"})).unwrap(),
            (ToolChoice::Auto, all())
        );
        assert_eq!(
            choice(json!({"mode": "none"})).unwrap(),
            (ToolChoice::None, all())
        );
        assert_eq!(
            choice(json!({"mode": "NONE", "allowedFunctionNames": ["a"]})).unwrap(),
            (ToolChoice::None, all())
        );
        assert_eq!(
            choice(json!({"mode": "ANY"})).unwrap(),
            (ToolChoice::Any, all())
        );
        assert_eq!(
            choice(json!({"mode": "ANY", "allowedFunctionNames": ["b"]})).unwrap(),
            (ToolChoice::Tool("b".into()), vec!["b".to_owned()])
        );
        assert_eq!(
            choice(json!({"mode": "ANY", "allowedFunctionNames": ["a", "c", "zzz"]})).unwrap(),
            (ToolChoice::Any, vec!["a".to_owned(), "c".to_owned()])
        );
        assert_eq!(
            choice(json!({"mode": "AUTO", "allowed_function_names": ["c"]})).unwrap(),
            (ToolChoice::Auto, vec!["c".to_owned()])
        );
        assert_eq!(
            choice(json!({"mode": "ANY", "allowedFunctionNames": ["zzz"]})).unwrap_err().message,
            "toolConfig.functionCallingConfig.allowedFunctionNames: none of these functions is declared in tools[].functionDeclarations"
        );
        assert_eq!(
            choice(json!({"mode": "SOMETIMES"})).unwrap_err().message,
            "toolConfig.functionCallingConfig.mode: unknown mode \"SOMETIMES\" (expected AUTO, ANY, NONE or VALIDATED)"
        );
        assert_eq!(
            choice(json!({"mode": "ANY", "allowedFunctionNames": [1]})).unwrap_err().message,
            "toolConfig.functionCallingConfig.allowedFunctionNames[0]: expected a string, got a number"
        );
    }

    #[test]
    fn generation_config() {
        let generation = |config: Value| -> ChatRequest {
            let mut body = user(json!([{"text": "hi"}]));
            body["generationConfig"] = config;
            parse_json(&body).unwrap()
        };
        let req = generation(
            json!({"temperature": 1, "topP": 0.95, "topK": 64, "candidateCount": 1,
            "stopSequences": ["x"], "maxOutputTokens": 8192, "seed": 3, "responseModalities": ["TEXT"]}),
        );
        assert_eq!(req.max_tokens, Some(8192));
        assert_eq!(
            generation(json!({"max_output_tokens": "512"})).max_tokens,
            Some(512)
        );

        // The routing call: JSON with a schema mixing upper-case types.
        let req = generation(
            json!({"responseMimeType": "application/json", "responseJsonSchema": {
            "type": "OBJECT", "properties": {"complexity_reasoning": {"type": "STRING"},
            "complexity_score": {"type": "INTEGER"}}, "required": ["complexity_reasoning", "complexity_score"]}}),
        );
        assert_eq!(
            req.response_schema,
            Some(
                json!({"type": "object", "properties": {"complexity_reasoning": {"type": "string"},
                "complexity_score": {"type": "integer"}}, "required": ["complexity_reasoning", "complexity_score"]})
            )
        );
        assert!(Echo::from_value(req.echo.as_ref()).json);
        let req = generation(json!({"responseMimeType": "application/json",
            "responseSchema": {"type": "ARRAY", "items": {"type": "NUMBER"}}}));
        assert_eq!(
            req.response_schema,
            Some(json!({"type": "array", "items": {"type": "number"}}))
        );
        let req = generation(json!({"responseMimeType": "application/json"}));
        assert_eq!(req.response_schema, Some(json!({"type": "object"})));
        let req = generation(json!({"responseSchema": {"type": "STRING"}}));
        assert_eq!(req.response_schema, Some(json!({"type": "string"})));
        let req = generation(
            json!({"responseMimeType": "text/plain", "responseSchema": {"type": "STRING"}}),
        );
        assert_eq!(req.response_schema, None);
        assert!(!Echo::from_value(req.echo.as_ref()).json);
    }

    #[test]
    fn thinking_config() {
        let thinking = |config: Value| -> (Option<ThinkingConfig>, bool) {
            let mut body = user(json!([{"text": "hi"}]));
            body["generationConfig"] = json!({"thinkingConfig": config});
            let req = parse_json(&body).unwrap();
            (req.thinking, Echo::from_value(req.echo.as_ref()).thoughts)
        };
        let adaptive = |effort: &str| {
            Some(ThinkingConfig::Adaptive {
                effort: effort.into(),
            })
        };
        assert_eq!(
            thinking(json!({"includeThoughts": true, "thinkingBudget": 8192})),
            (
                Some(ThinkingConfig::Enabled {
                    budget_tokens: 8192
                }),
                true
            )
        );
        assert_eq!(
            thinking(json!({"includeThoughts": true, "thinkingLevel": "HIGH"})),
            (adaptive("high"), true)
        );
        assert_eq!(
            thinking(json!({"thinkingLevel": "LOW"})),
            (adaptive("low"), false)
        );
        assert_eq!(
            thinking(json!({"thinkingLevel": "minimal"})),
            (adaptive("low"), false)
        );
        assert_eq!(
            thinking(json!({"thinkingLevel": "MEDIUM"})),
            (adaptive("medium"), false)
        );
        assert_eq!(
            thinking(json!({"thinkingBudget": -1})),
            (adaptive("high"), false)
        );
        assert_eq!(
            thinking(json!({"includeThoughts": true})),
            (adaptive("high"), true)
        );
        assert_eq!(
            thinking(json!({"includeThoughts": true, "thinkingBudget": 0})),
            (None, false)
        );
        assert_eq!(thinking(json!({})), (None, false));
    }

    #[test]
    fn session_header() {
        let uuid = "450ddb32-4144-4e3d-b42f-d371157ee073";
        assert_eq!(
            session_hints(Some(uuid)),
            SessionHints {
                conversation_id: Some(uuid.into()),
                session_key: Some(uuid.into())
            }
        );
        assert_eq!(
            session_hints(Some("opaque")),
            SessionHints {
                conversation_id: None,
                session_key: Some("opaque".into())
            }
        );
        assert_eq!(
            session_hints(Some(&"k".repeat(300))),
            SessionHints::default()
        );
        assert_eq!(session_hints(None), SessionHints::default());
    }

    #[test]
    fn errors_name_the_field() {
        let no_model = RequestHints::default();
        let body = json!({"contents": [{"parts": [{"text": "hi"}]}]});
        assert_eq!(
            parse(body.to_string().as_bytes(), &no_model)
                .unwrap_err()
                .message,
            "the model must be named in the URL: /v1beta/models/{model}:generateContent"
        );
        let cases: Vec<(Value, &str)> = vec![
            (
                json!([1]),
                "the request body must be a JSON object, not an array",
            ),
            (
                json!({}),
                "contents: at least one content with a non-empty part is required",
            ),
            (
                json!({"contents": [{"parts": [{"text": ""}]}]}),
                "contents: at least one content with a non-empty part is required",
            ),
            (
                json!({"contents": "hi"}),
                "contents: expected an array, got a string",
            ),
            (
                json!({"contents": ["hi"]}),
                "contents[0]: expected an object, got a string",
            ),
            (
                json!({"contents": [{"role": "system", "parts": []}]}),
                "contents[0].role: unknown role \"system\" (expected user or model)",
            ),
            (
                json!({"contents": [{"parts": {}}]}),
                "contents[0].parts: expected an array, got an object",
            ),
            (
                user(json!([{"text": 1}])),
                "contents[0].parts[0].text: expected a string, got a number",
            ),
            (
                user(json!([{"text": "x", "thought": "yes"}])),
                "contents[0].parts[0].thought: expected a boolean, got a string",
            ),
            (
                user(json!([{"inlineData": {"data": "x"}}])),
                "contents[0].parts[0].inlineData.mimeType: field required",
            ),
            (
                user(json!([{"inlineData": {"mimeType": "image/png"}}])),
                "contents[0].parts[0].inlineData.data: field required",
            ),
            (
                user(json!([{"functionCall": {"args": {}}}])),
                "contents[0].parts[0].functionCall.name: field required",
            ),
            (
                user(json!([{"functionCall": {"name": "f", "args": "{}"}}])),
                "contents[0].parts[0].functionCall.args: expected an object, got a string",
            ),
            (
                user(json!([{"functionCall": {"name": ""}}])),
                "contents[0].parts[0].functionCall.name: must not be empty",
            ),
            (
                user(json!([{"functionResponse": {"name": "f", "response": "ok"}}])),
                "contents[0].parts[0].functionResponse.response: expected an object, got a string",
            ),
            (
                user(json!([{"functionResponse": {"response": {}}}])),
                "contents[0].parts[0].functionResponse.name: field required",
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(error_of(&body), expected, "body {body}");
        }
        let mut body = user(json!([{"text": "hi"}]));
        body["tools"] = json!([{"functionDeclarations": [{"description": "x"}]}]);
        assert_eq!(
            error_of(&body),
            "tools[0].functionDeclarations[0].name: field required"
        );
        body["tools"] = json!({"functionDeclarations": []});
        assert_eq!(error_of(&body), "tools: expected an array, got an object");
        body["tools"] = Value::Null;
        body["generationConfig"] = json!({"maxOutputTokens": "lots"});
        assert_eq!(
            error_of(&body),
            "generationConfig.maxOutputTokens: expected an integer, got a string"
        );
        body["generationConfig"] = json!({"thinkingConfig": {"includeThoughts": 1}});
        assert_eq!(
            error_of(&body),
            "generationConfig.thinkingConfig.includeThoughts: expected a boolean, got a number"
        );
        let err = parse(b"{\"contents\": ", &hints()).unwrap_err();
        assert!(err
            .message
            .starts_with("the request body is not valid JSON: "));
    }

    #[test]
    fn hostile_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(deep.as_bytes(), &hints()).is_err());
        let body = format!(
            r#"{{"contents":[{{"parts":[{{"functionCall":{{"name":"f","args":{{"a":{}}}}}}}]}}]}}"#,
            "[".repeat(50_000)
        );
        assert!(parse(body.as_bytes(), &hints()).is_err());
    }

    /// The captured Gemini CLI requests (`tests/fixtures/gemini-cli.*.json`, or the directory in
    /// `KIRO_EDGE_FIXTURES`), with the hints their URL gives.
    fn gemini_cli_fixtures() -> Vec<(String, Value, RequestHints)> {
        let fixtures: Vec<_> = captures("gemini-cli.")
            .into_iter()
            .map(|(name, capture)| {
                let url_path = capture["path"].as_str().unwrap();
                let (model, action) = url_path
                    .strip_prefix("/v1beta/models/")
                    .and_then(|rest| rest.split_once(':'))
                    .unwrap();
                let hints = RequestHints {
                    path_model: Some(model.to_owned()),
                    path_stream: Some(action == "streamGenerateContent"),
                    query: capture["query"].as_str().map(str::to_owned),
                    session_header: None,
                };
                (name, capture["body"].clone(), hints)
            })
            .collect();
        assert_eq!(fixtures.len(), 3, "the Gemini CLI captures");
        fixtures
    }

    #[test]
    fn gemini_cli_captures_parse() {
        for (name, body, hints) in gemini_cli_fixtures() {
            let req = parse(body.to_string().as_bytes(), &hints)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(req.model, "gemini-2.5-flash", "{name}");
            assert!(req.stream, "{name}");
            assert_eq!(
                Echo::from_value(req.echo.as_ref()),
                Echo {
                    sse: true,
                    thoughts: true,
                    json: false
                },
                "{name}"
            );
            assert_eq!(
                req.thinking,
                Some(ThinkingConfig::Enabled {
                    budget_tokens: 8192
                }),
                "{name}"
            );
            assert_eq!(req.system.len(), 1, "{name}");
            assert!(req.system[0].starts_with("You are a non-interactive CLI agent"));
            assert!(req.tools.iter().any(|t| t.name == "read_file"), "{name}");
            assert!(req.tools.iter().all(|t| t.input_schema["type"] == "object"));
            let first = &req.messages[0];
            assert_eq!(first.role, Role::User);
            assert_eq!(first.content.len(), 2, "{name}");
            if name.contains("tool-result") {
                assert_eq!(req.messages.len(), 3, "{name}");
                let call_id = "run_shell_command_1795240214707_0";
                assert_eq!(
                    req.messages[1].content,
                    vec![Block::ToolUse {
                        id: call_id.into(),
                        name: "run_shell_command".into(),
                        input: json!({"command": "echo capture-ok", "description": "print capture-ok"}),
                    }]
                );
                match &req.messages[2].content[..] {
                    [Block::ToolResult {
                        tool_use_id,
                        content,
                        is_error: false,
                        images,
                    }] => {
                        assert_eq!(tool_use_id, call_id);
                        assert!(content.contains("capture-ok"), "{content}");
                        assert!(images.is_empty());
                    }
                    other => panic!("{name}: last turn {other:?}"),
                }
            } else {
                assert_eq!(req.messages.len(), 1, "{name}");
            }
        }
    }

    #[test]
    fn count_tokens_bodies() {
        let names = |body: Value| -> Result<Vec<String>> {
            let req = parse_count_tokens(body.to_string().as_bytes(), &hints())?;
            Ok(req.tools.iter().map(|t| t.name.clone()).collect())
        };
        let decls = |name: &str| json!([{"functionDeclarations": [{"name": name}]}]);
        assert_eq!(
            names(json!({"contents": [], "tools": decls("a")})).unwrap(),
            ["a"]
        );
        // A wrapped request brings its own tools; the outer ones go with the outer object.
        for wrapper in ["generateContentRequest", "generate_content_request"] {
            let body = json!({wrapper: {"contents": [{"parts": [{"text": "hi"}]}],
                "tools": decls("inner")}, "tools": decls("outer")});
            assert_eq!(names(body).unwrap(), ["inner"], "{wrapper}");
        }
        assert_eq!(names(json!({"tools": null})).unwrap(), Vec::<String>::new());
        assert_eq!(
            names(json!({"tools": {}})).unwrap_err().message,
            "tools: expected an array, got an object"
        );
        assert_eq!(
            names(json!({"generateContentRequest": {"tools": "x"}}))
                .unwrap_err()
                .message,
            "tools: expected an array, got a string"
        );
        assert_eq!(
            names(json!({"generateContentRequest": []}))
                .unwrap_err()
                .message,
            "generateContentRequest: expected an object, got an array"
        );
    }
}
