//! Strict validation of `generateAssistantResponse` requests: every rule a strict Kiro is known
//! (or, where marked, believed) to enforce, from `docs/kiro-protocol.md` §1.1, §1.8, §2, §5.2.
//!
//! Pure: headers and body in, a [`ChatSummary`] or a [`Rejection`] out. A rejection names the
//! exact upstream body to answer with and a human-readable reason for the request log.

use std::collections::HashSet;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::faults::body;

/// Above this many body bytes Kiro answers `CONTENT_LENGTH_EXCEEDS_THRESHOLD` (\[G\], §2.2 #17).
pub const MAX_PAYLOAD_BYTES: usize = 615_000;
/// Tool names longer than this are rejected (\[G\] says 64, \[H\]/\[Z\] shorten to 63).
pub const MAX_TOOL_NAME_CHARS: usize = 64;
/// Tool descriptions longer than this are rejected (§2.2 #12).
pub const MAX_TOOL_DESCRIPTION_CHARS: usize = 10_000;

/// Kiro model ids accepted by the mock (§5.1: \[G\]'s list plus \[Z\]'s additions). Kept apart
/// from `kiro::models` on purpose: the mock stands for Kiro, so a name the gateway's table gets
/// wrong is rejected here instead of agreeing with itself.
pub const KNOWN_MODELS: &[&str] = &[
    "auto",
    "claude-sonnet-4",
    "claude-sonnet-4.5",
    "claude-sonnet-4.6",
    "claude-haiku-4.5",
    "claude-opus-4.5",
    "claude-opus-4.6",
    "claude-opus-4.7",
    "claude-opus-4.8",
    "claude-sonnet-5",
    "claude-opus-5",
    "claude-fable-5",
    "deepseek-3.2",
    "glm-5",
    "minimax-m2.1",
    "minimax-m2.5",
    "qwen3-coder-next",
    "gpt-5.6-sol",
    "gpt-5.6-terra",
    "gpt-5.6-luna",
];

/// Context window of a model, in tokens (§3.4: 1M for the 4.6+ and 5 families, 272k for gpt).
pub fn context_window(model_id: &str) -> u64 {
    const ONE_MILLION: &[&str] = &[
        "claude-sonnet-4.6",
        "claude-opus-4.6",
        "claude-opus-4.7",
        "claude-opus-4.8",
        "claude-sonnet-5",
        "claude-opus-5",
        "claude-fable-5",
    ];
    if ONE_MILLION.contains(&model_id) {
        1_000_000
    } else if model_id.starts_with("gpt") {
        272_000
    } else {
        200_000
    }
}

const IMAGE_FORMATS: &[&str] = &["jpeg", "png", "gif", "webp"];

/// Which upstream error body a rejection answers with (all are HTTP 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectKind {
    Malformed,
    ProfileArnMissing,
    ToolSchemaInvalid,
    ContentTooLong,
}

impl RejectKind {
    pub fn body(self) -> &'static str {
        match self {
            RejectKind::Malformed => body::MALFORMED,
            RejectKind::ProfileArnMissing => body::PROFILE_ARN_REQUIRED,
            RejectKind::ToolSchemaInvalid => body::TOOL_SCHEMA_INVALID,
            RejectKind::ContentTooLong => body::CONTENT_LENGTH,
        }
    }
}

/// Why a request was refused: the body to send and the reason to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub kind: RejectKind,
    pub reason: String,
}

fn malformed(reason: impl Into<String>) -> Rejection {
    Rejection {
        kind: RejectKind::Malformed,
        reason: reason.into(),
    }
}

/// The request headers the validator looks at (values as received, if present).
#[derive(Debug, Default, Clone, Copy)]
pub struct ChatHeaders<'a> {
    pub content_type: Option<&'a str>,
    pub optout: Option<&'a str>,
    pub invocation_id: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

/// The bearer token of an `Authorization: Bearer …` value.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// API-key credentials use the `ksk_…` key itself as the bearer and send no profileArn (§1.8).
pub fn is_api_key(bearer: &str) -> bool {
    bearer.starts_with("ksk_")
}

/// Header rules of §1.1. A missing bearer is the auth layer's business, not this one's.
pub fn check_headers(h: &ChatHeaders<'_>) -> Result<(), Rejection> {
    let content_type = h.content_type.unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case("application/json") {
        return Err(malformed(format!(
            "content-type must be application/json, got {content_type:?}"
        )));
    }
    match h.optout {
        Some("true") | Some("false") => {}
        other => {
            return Err(malformed(format!(
                "x-amzn-codewhisperer-optout must be true or false, got {other:?}"
            )))
        }
    }
    if h.invocation_id.is_none_or(|v| v.trim().is_empty()) {
        return Err(malformed("amz-sdk-invocation-id header missing"));
    }
    if !h.user_agent.is_some_and(|ua| ua.contains("KiroIDE")) {
        return Err(malformed("user-agent must contain KiroIDE"));
    }
    Ok(())
}

/// What an accepted request carried, for the answer script and `[[mock:echo]]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatSummary {
    pub model_id: String,
    pub conversation_id: String,
    /// `currentMessage.userInputMessage.content`.
    pub content: String,
    pub history_len: usize,
    /// Declared tool names of the current message, as spelled in the request.
    pub tools: Vec<String>,
    /// Images in the current message and the history.
    pub image_count: usize,
    /// Text of the current message's tool results, in order.
    pub tool_result_texts: Vec<String>,
    pub has_profile_arn: bool,
    pub body_len: usize,
}

/// Validate a chat request body. `api_key` exempts the request from the profileArn rule.
pub fn validate_body(raw: &[u8], api_key: bool) -> Result<ChatSummary, Rejection> {
    if raw.len() > MAX_PAYLOAD_BYTES {
        return Err(Rejection {
            kind: RejectKind::ContentTooLong,
            reason: format!("body is {} bytes (> {MAX_PAYLOAD_BYTES})", raw.len()),
        });
    }
    let root: Value =
        serde_json::from_slice(raw).map_err(|e| malformed(format!("body is not JSON: {e}")))?;
    let root = as_object(&root, "body")?;

    let has_profile_arn = match root.get("profileArn") {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) if !s.is_empty() => true,
        Some(_) => return Err(malformed("profileArn must be a non-empty string")),
    };
    if !has_profile_arn && !api_key {
        return Err(Rejection {
            kind: RejectKind::ProfileArnMissing,
            reason: "profileArn missing at the root".into(),
        });
    }

    let state = as_object(
        field(root, "conversationState", "body")?,
        "conversationState",
    )?;
    let trigger = str_field(state, "chatTriggerType", "conversationState")?;
    if trigger != "MANUAL" {
        return Err(malformed(format!(
            "chatTriggerType must be MANUAL, got {trigger:?}"
        )));
    }
    let conversation_id = str_field(state, "conversationId", "conversationState")?;
    if conversation_id.is_empty() {
        return Err(malformed("conversationId is empty"));
    }

    let current = as_object(
        field(state, "currentMessage", "conversationState")?,
        "currentMessage",
    )?;
    let current = as_object(
        field(current, "userInputMessage", "currentMessage")?,
        "currentMessage.userInputMessage",
    )?;
    let current = check_user(current, "currentMessage", true)?;

    let history: &[Value] = match state.get("history") {
        None | Some(Value::Null) => &[],
        Some(Value::Array(items)) => items,
        Some(_) => return Err(malformed("history must be an array")),
    };
    let mut turns = Vec::with_capacity(history.len() + 1);
    for (i, entry) in history.iter().enumerate() {
        turns.push(check_history_entry(entry, i)?);
    }
    check_alternation(&turns)?;
    check_tool_pairing(&turns, &current)?;
    check_declared(&turns, &current)?;

    let image_count = current.images
        + turns
            .iter()
            .map(|t| match t {
                Turn::User(u) => u.images,
                Turn::Assistant(_) => 0,
            })
            .sum::<usize>();
    Ok(ChatSummary {
        model_id: current.model_id.unwrap_or_default().to_owned(),
        conversation_id: conversation_id.to_owned(),
        content: current.content.to_owned(),
        history_len: history.len(),
        tools: current.tools.iter().map(|s| (*s).to_owned()).collect(),
        image_count,
        tool_result_texts: current.results.iter().map(|r| r.text.clone()).collect(),
        has_profile_arn,
        body_len: raw.len(),
    })
}

/// A checked `userInputMessage`.
struct UserView<'a> {
    content: &'a str,
    model_id: Option<&'a str>,
    images: usize,
    tools: Vec<&'a str>,
    results: Vec<ResultView<'a>>,
}

struct ResultView<'a> {
    tool_use_id: &'a str,
    text: String,
}

/// A checked `assistantResponseMessage`: the tool uses as (id, name).
struct AssistantView<'a> {
    tool_uses: Vec<(&'a str, &'a str)>,
}

enum Turn<'a> {
    User(UserView<'a>),
    Assistant(AssistantView<'a>),
}

fn check_history_entry(entry: &Value, i: usize) -> Result<Turn<'_>, Rejection> {
    let what = format!("history[{i}]");
    let entry = as_object(entry, &what)?;
    match (
        entry.get("userInputMessage"),
        entry.get("assistantResponseMessage"),
    ) {
        (Some(u), None) if entry.len() == 1 => {
            Ok(Turn::User(check_user(as_object(u, &what)?, &what, false)?))
        }
        (None, Some(a)) if entry.len() == 1 => Ok(Turn::Assistant(check_assistant(
            as_object(a, &what)?,
            &what,
        )?)),
        _ => Err(malformed(format!(
            "{what} must hold exactly one of userInputMessage / assistantResponseMessage"
        ))),
    }
}

fn check_user<'a>(
    msg: &'a Map<String, Value>,
    what: &str,
    is_current: bool,
) -> Result<UserView<'a>, Rejection> {
    let content = str_field(msg, "content", what)?;
    let model_id = match msg.get("modelId") {
        None if !is_current => None,
        Some(Value::String(m)) if KNOWN_MODELS.contains(&m.as_str()) => Some(m.as_str()),
        Some(Value::String(m)) => return Err(malformed(format!("{what}: unknown modelId {m:?}"))),
        None => return Err(malformed(format!("{what}: modelId missing"))),
        Some(_) => return Err(malformed(format!("{what}: modelId must be a string"))),
    };
    match msg.get("origin") {
        None if !is_current => {}
        Some(Value::String(o)) if o == "AI_EDITOR" => {}
        other => {
            return Err(malformed(format!(
                "{what}: origin must be AI_EDITOR, got {other:?}"
            )))
        }
    }

    let images = match msg.get("images") {
        None | Some(Value::Null) => 0,
        Some(Value::Array(images)) => {
            for (j, image) in images.iter().enumerate() {
                check_image(image, &format!("{what}.images[{j}]"))?;
            }
            images.len()
        }
        Some(_) => return Err(malformed(format!("{what}: images must be an array"))),
    };

    let mut tools = Vec::new();
    let mut results = Vec::new();
    match msg.get("userInputMessageContext") {
        None | Some(Value::Null) => {}
        Some(ctx) => {
            let ctx = as_object(ctx, what)?;
            if let Some(list) = opt_array(ctx, "tools", what)? {
                let mut seen = HashSet::new();
                for (j, tool) in list.iter().enumerate() {
                    let name = check_tool(tool, &format!("{what}.tools[{j}]"))?;
                    if !seen.insert(name.to_lowercase()) {
                        return Err(malformed(format!(
                            "{what}: duplicate tool name {name:?} (case-insensitive)"
                        )));
                    }
                    tools.push(name);
                }
            }
            if let Some(list) = opt_array(ctx, "toolResults", what)? {
                for (j, result) in list.iter().enumerate() {
                    results.push(check_tool_result(
                        result,
                        &format!("{what}.toolResults[{j}]"),
                    )?);
                }
            }
        }
    }

    if content.is_empty() && images == 0 && results.is_empty() {
        return Err(malformed(format!(
            "{what}: empty content without toolResults or images"
        )));
    }
    Ok(UserView {
        content,
        model_id,
        images,
        tools,
        results,
    })
}

fn check_assistant<'a>(
    msg: &'a Map<String, Value>,
    what: &str,
) -> Result<AssistantView<'a>, Rejection> {
    // [H] writes " " for tool-only turns because an empty assistant content is refused (§2.2 #7).
    if str_field(msg, "content", what)?.is_empty() {
        return Err(malformed(format!("{what}: empty assistant content")));
    }
    let mut tool_uses = Vec::new();
    if let Some(list) = opt_array(msg, "toolUses", what)? {
        for (j, tool_use) in list.iter().enumerate() {
            let w = format!("{what}.toolUses[{j}]");
            let tool_use = as_object(tool_use, &w)?;
            let id = non_empty_str(tool_use, "toolUseId", &w)?;
            let name = non_empty_str(tool_use, "name", &w)?;
            if !tool_use.get("input").is_some_and(Value::is_object) {
                return Err(malformed(format!("{w}: input must be an object")));
            }
            tool_uses.push((id, name));
        }
    }
    Ok(AssistantView { tool_uses })
}

/// Checks a tool specification and returns its name.
fn check_tool<'a>(tool: &'a Value, what: &str) -> Result<&'a str, Rejection> {
    let spec = as_object(
        field(as_object(tool, what)?, "toolSpecification", what)?,
        what,
    )?;
    let name = non_empty_str(spec, "name", what)?;
    if name.chars().count() > MAX_TOOL_NAME_CHARS {
        return Err(malformed(format!(
            "{what}: tool name longer than {MAX_TOOL_NAME_CHARS} characters"
        )));
    }
    // An empty description is believed to be refused: [G] and [Z] both fill one in (§2.2 #7).
    let description = non_empty_str(spec, "description", what)?;
    if description.chars().count() > MAX_TOOL_DESCRIPTION_CHARS {
        return Err(malformed(format!(
            "{what}: description longer than {MAX_TOOL_DESCRIPTION_CHARS} characters"
        )));
    }
    let schema = as_object(field(spec, "inputSchema", what)?, what)?;
    let schema = as_object(field(schema, "json", what)?, what)?;
    if let Some(key) = ["oneOf", "anyOf", "allOf"]
        .into_iter()
        .find(|k| schema.contains_key(*k))
    {
        return Err(Rejection {
            kind: RejectKind::ToolSchemaInvalid,
            reason: format!("{what}: top-level {key} in input schema of {name:?}"),
        });
    }
    if schema.get("type").and_then(Value::as_str) != Some("object") {
        return Err(malformed(format!(
            "{what}: input schema of {name:?} must have type \"object\""
        )));
    }
    Ok(name)
}

fn check_tool_result<'a>(result: &'a Value, what: &str) -> Result<ResultView<'a>, Rejection> {
    let result = as_object(result, what)?;
    let tool_use_id = non_empty_str(result, "toolUseId", what)?;
    let content = match result.get("content") {
        Some(Value::Array(items)) => items,
        _ => return Err(malformed(format!("{what}: content must be an array"))),
    };
    let mut text = String::new();
    for item in content {
        match item.as_object() {
            Some(m) if m.get("text").is_some_and(Value::is_string) => {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(m.get("text").and_then(Value::as_str).unwrap_or(""));
            }
            Some(m) if m.contains_key("json") => {}
            _ => {
                return Err(malformed(format!(
                    "{what}: content items must be {{\"text\":…}} or {{\"json\":…}}"
                )))
            }
        }
    }
    match result.get("status") {
        None => {}
        Some(Value::String(s)) if s == "success" || s == "error" => {}
        Some(other) => {
            return Err(malformed(format!(
                "{what}: status must be success or error, got {other}"
            )))
        }
    }
    Ok(ResultView { tool_use_id, text })
}

fn check_image(image: &Value, what: &str) -> Result<(), Rejection> {
    let image = as_object(image, what)?;
    let format = str_field(image, "format", what)?;
    if !IMAGE_FORMATS.contains(&format) {
        return Err(malformed(format!("{what}: unsupported format {format:?}")));
    }
    let source = as_object(field(image, "source", what)?, what)?;
    let bytes = non_empty_str(source, "bytes", what)?;
    base64::engine::general_purpose::STANDARD
        .decode(bytes)
        .map_err(|e| malformed(format!("{what}: source.bytes is not base64: {e}")))?;
    Ok(())
}

/// History starts with a user message, alternates strictly, and ends with an assistant message
/// (the current message is the user turn that follows it).
fn check_alternation(turns: &[Turn<'_>]) -> Result<(), Rejection> {
    for (i, turn) in turns.iter().enumerate() {
        let want_user = i % 2 == 0;
        if matches!(turn, Turn::User(_)) != want_user {
            let want = if want_user { "user" } else { "assistant" };
            return Err(malformed(format!(
                "history[{i}] breaks alternation (expected a {want} message)"
            )));
        }
    }
    if turns.len() % 2 == 1 {
        return Err(malformed("history must end with an assistant message"));
    }
    Ok(())
}

/// Every tool use is answered by the next user message, and every tool result answers a tool
/// use of the assistant message right before it.
fn check_tool_pairing(turns: &[Turn<'_>], current: &UserView<'_>) -> Result<(), Rejection> {
    let users = turns
        .iter()
        .filter_map(|t| match t {
            Turn::User(u) => Some(u),
            Turn::Assistant(_) => None,
        })
        .chain(std::iter::once(current));
    let mut previous: Option<&AssistantView<'_>> = None;
    let mut assistants = turns.iter().filter_map(|t| match t {
        Turn::Assistant(a) => Some(a),
        Turn::User(_) => None,
    });
    // Alternation is already checked, so users and assistants interleave u, a, u, a, …, current.
    for (k, user) in users.enumerate() {
        let uses: Vec<&str> = previous
            .map(|a| a.tool_uses.iter().map(|(id, _)| *id).collect())
            .unwrap_or_default();
        let mut unique = HashSet::new();
        if !uses.iter().all(|id| unique.insert(*id)) {
            return Err(malformed(format!(
                "duplicate toolUseId in the assistant message before user turn {k}"
            )));
        }
        let mut answered = HashSet::new();
        for result in &user.results {
            if !uses.contains(&result.tool_use_id) {
                return Err(malformed(format!(
                    "orphan toolResult {:?} in user turn {k}",
                    result.tool_use_id
                )));
            }
            if !answered.insert(result.tool_use_id) {
                return Err(malformed(format!(
                    "duplicate toolResult {:?} in user turn {k}",
                    result.tool_use_id
                )));
            }
        }
        if let Some(missing) = uses.iter().find(|id| !answered.contains(*id)) {
            return Err(malformed(format!(
                "toolUse {missing:?} has no toolResult in user turn {k}"
            )));
        }
        previous = assistants.next();
    }
    Ok(())
}

/// Tool names used in history must be declared in the current message (case-insensitive).
fn check_declared(turns: &[Turn<'_>], current: &UserView<'_>) -> Result<(), Rejection> {
    let declared: HashSet<String> = current.tools.iter().map(|n| n.to_lowercase()).collect();
    for turn in turns {
        if let Turn::Assistant(a) = turn {
            if let Some((_, name)) = a
                .tool_uses
                .iter()
                .find(|(_, name)| !declared.contains(&name.to_lowercase()))
            {
                return Err(malformed(format!(
                    "tool {name:?} used in history is not declared in the current message"
                )));
            }
        }
    }
    Ok(())
}

fn as_object<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, Rejection> {
    v.as_object()
        .ok_or_else(|| malformed(format!("{what} must be an object")))
}

fn field<'a>(m: &'a Map<String, Value>, key: &str, what: &str) -> Result<&'a Value, Rejection> {
    m.get(key)
        .ok_or_else(|| malformed(format!("{what}.{key} missing")))
}

fn str_field<'a>(m: &'a Map<String, Value>, key: &str, what: &str) -> Result<&'a str, Rejection> {
    field(m, key, what)?
        .as_str()
        .ok_or_else(|| malformed(format!("{what}.{key} must be a string")))
}

fn non_empty_str<'a>(
    m: &'a Map<String, Value>,
    key: &str,
    what: &str,
) -> Result<&'a str, Rejection> {
    let s = str_field(m, key, what)?;
    if s.is_empty() {
        return Err(malformed(format!("{what}.{key} is empty")));
    }
    Ok(s)
}

fn opt_array<'a>(
    m: &'a Map<String, Value>,
    key: &str,
    what: &str,
) -> Result<Option<&'a Vec<Value>>, Rejection> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => Ok(Some(items)),
        Some(_) => Err(malformed(format!("{what}.{key} must be an array"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ARN: &str = "arn:aws:codewhisperer:us-east-1:699475941385:profile/EHGA3GRVQMUK";

    fn tool(name: &str) -> Value {
        json!({"toolSpecification": {
            "name": name,
            "description": "Get weather for a city",
            "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}}
        }})
    }

    fn user(content: &str) -> Value {
        json!({"userInputMessage": {"content": content, "modelId": "claude-sonnet-4.5", "origin": "AI_EDITOR"}})
    }

    fn assistant(content: &str) -> Value {
        json!({"assistantResponseMessage": {"content": content}})
    }

    fn assistant_tool(id: &str, name: &str) -> Value {
        json!({"assistantResponseMessage": {"content": " ",
            "toolUses": [{"toolUseId": id, "name": name, "input": {"city": "Paris"}}]}})
    }

    fn request(history: Value, current: Value) -> Value {
        json!({
            "conversationState": {
                "agentTaskType": "vibe",
                "chatTriggerType": "MANUAL",
                "conversationId": "0b4445e1-f5be-49e1-87ce-62bbc28ad705",
                "currentMessage": {"userInputMessage": current},
                "history": history
            },
            "profileArn": ARN
        })
    }

    fn current(content: &str) -> Value {
        json!({"content": content, "modelId": "claude-sonnet-4.5", "origin": "AI_EDITOR"})
    }

    fn validate(v: &Value) -> Result<ChatSummary, Rejection> {
        validate_body(&serde_json::to_vec(v).unwrap(), false)
    }

    fn reason_of(v: &Value) -> String {
        let r = validate(v).unwrap_err();
        assert_eq!(r.kind, RejectKind::Malformed, "{}", r.reason);
        r.reason
    }

    /// The full example of §2.1: system pair, a tool round trip, and a tool-result turn.
    fn doc_example() -> Value {
        let mut cur = current("");
        cur["userInputMessageContext"] = json!({
            "tools": [tool("get_weather")],
            "toolResults": [{"toolUseId": "tooluse_abc", "content": [{"text": "18°C, cloudy"}], "status": "success"}]
        });
        cur["images"] = json!([{"format": "png", "source": {"bytes": "aGVsbG8="}}]);
        request(
            json!([
                user("<system prompt>"),
                assistant("I will follow these instructions."),
                user("Weather in Paris?"),
                assistant_tool("tooluse_abc", "get_weather"),
            ]),
            cur,
        )
    }

    #[test]
    fn accepts_the_documented_example_and_summarises_it() {
        let s = validate(&doc_example()).unwrap();
        assert_eq!(s.model_id, "claude-sonnet-4.5");
        assert_eq!(s.history_len, 4);
        assert_eq!(s.tools, vec!["get_weather".to_owned()]);
        assert_eq!(s.image_count, 1);
        assert_eq!(s.tool_result_texts, vec!["18°C, cloudy".to_owned()]);
        assert!(s.has_profile_arn);
        assert_eq!(s.content, "");
    }

    #[test]
    fn accepts_a_minimal_request_without_history() {
        let mut v = request(json!([]), current("hi"));
        v["conversationState"]
            .as_object_mut()
            .unwrap()
            .remove("history");
        assert_eq!(validate(&v).unwrap().history_len, 0);
    }

    #[test]
    fn profile_arn_is_required_except_for_api_keys() {
        let mut v = request(json!([]), current("hi"));
        v.as_object_mut().unwrap().remove("profileArn");
        let bytes = serde_json::to_vec(&v).unwrap();
        let r = validate_body(&bytes, false).unwrap_err();
        assert_eq!(r.kind, RejectKind::ProfileArnMissing);
        assert!(r.kind.body().contains("profileArn is required"));
        assert!(validate_body(&bytes, true).is_ok());
    }

    #[test]
    fn oversized_payloads_get_content_length_exceeded() {
        let big = "x".repeat(MAX_PAYLOAD_BYTES);
        let r = validate(&request(json!([]), current(&big))).unwrap_err();
        assert_eq!(r.kind, RejectKind::ContentTooLong);
        assert!(r.kind.body().contains("CONTENT_LENGTH_EXCEEDS_THRESHOLD"));
    }

    #[test]
    fn rejects_bad_json_and_bad_envelope() {
        assert_eq!(
            validate_body(b"{not json", false).unwrap_err().kind,
            RejectKind::Malformed
        );
        let mut v = request(json!([]), current("hi"));
        v["conversationState"]["chatTriggerType"] = json!("AUTO");
        assert!(reason_of(&v).contains("MANUAL"));
        let mut v = request(json!([]), current("hi"));
        v["conversationState"]
            .as_object_mut()
            .unwrap()
            .remove("conversationId");
        assert!(reason_of(&v).contains("conversationId"));
    }

    #[test]
    fn current_message_needs_known_model_and_origin() {
        let mut cur = current("hi");
        cur["modelId"] = json!("claude-sonnet-4-5-20250929");
        assert!(reason_of(&request(json!([]), cur)).contains("modelId"));
        let mut cur = current("hi");
        cur["origin"] = json!("KIRO_CLI");
        assert!(reason_of(&request(json!([]), cur)).contains("origin"));
        for model in [
            "claude-opus-4.7",
            "claude-haiku-4.5",
            "auto",
            "claude-sonnet-4.6",
        ] {
            let mut cur = current("hi");
            cur["modelId"] = json!(model);
            assert!(validate(&request(json!([]), cur)).is_ok(), "{model}");
        }
    }

    #[test]
    fn empty_content_needs_tool_results_or_images() {
        assert!(reason_of(&request(json!([]), current(""))).contains("empty content"));
        let mut cur = current("");
        cur["images"] = json!([{"format": "jpeg", "source": {"bytes": "aGVsbG8="}}]);
        assert!(validate(&request(json!([]), cur)).is_ok());
    }

    #[test]
    fn history_must_alternate_start_with_user_and_end_with_assistant() {
        let r = reason_of(&request(
            json!([user("a"), user("b"), assistant("c")]),
            current("d"),
        ));
        assert!(r.contains("alternation"), "{r}");
        let r = reason_of(&request(json!([assistant("a"), user("b")]), current("c")));
        assert!(r.contains("alternation"), "{r}");
        let r = reason_of(&request(json!([user("a")]), current("b")));
        assert!(r.contains("end with an assistant"), "{r}");
        let both = json!([{"userInputMessage": {"content": "a"}, "assistantResponseMessage": {"content": "b"}}]);
        assert!(reason_of(&request(both, current("c"))).contains("exactly one"));
        assert!(
            reason_of(&request(json!([user("a"), assistant("")]), current("c")))
                .contains("empty assistant content")
        );
    }

    #[test]
    fn tool_uses_must_be_answered_by_the_next_user_turn() {
        let mut cur = current("go on");
        cur["userInputMessageContext"] = json!({"tools": [tool("get_weather")]});
        let r = reason_of(&request(
            json!([user("a"), assistant_tool("t1", "get_weather")]),
            cur,
        ));
        assert!(r.contains("no toolResult"), "{r}");
    }

    #[test]
    fn tool_results_must_answer_the_previous_assistant() {
        // Orphan in the current message.
        let mut cur = current("");
        cur["userInputMessageContext"] = json!({
            "tools": [tool("get_weather")],
            "toolResults": [{"toolUseId": "nope", "content": [{"text": "x"}], "status": "success"}]
        });
        let r = reason_of(&request(json!([user("a"), assistant("b")]), cur));
        assert!(r.contains("orphan"), "{r}");
        // Orphan in the first history message, which has no assistant before it.
        let first = json!({"userInputMessage": {"content": "a", "userInputMessageContext": {
            "toolResults": [{"toolUseId": "t0", "content": [{"text": "x"}]}]}}});
        let r = reason_of(&request(json!([first, assistant("b")]), current("c")));
        assert!(r.contains("orphan"), "{r}");
        // Answered twice.
        let mut cur = current("");
        cur["userInputMessageContext"] = json!({
            "tools": [tool("get_weather")],
            "toolResults": [
                {"toolUseId": "t1", "content": [{"text": "x"}]},
                {"toolUseId": "t1", "content": [{"text": "y"}]}
            ]
        });
        let r = reason_of(&request(
            json!([user("a"), assistant_tool("t1", "get_weather")]),
            cur,
        ));
        assert!(r.contains("duplicate toolResult"), "{r}");
    }

    #[test]
    fn history_tools_must_be_declared_case_insensitively() {
        let answered = |tools: Value| {
            let mut cur = current("");
            cur["userInputMessageContext"] = json!({
                "tools": tools,
                "toolResults": [{"toolUseId": "t1", "content": [{"text": "ok"}], "status": "success"}]
            });
            request(json!([user("a"), assistant_tool("t1", "Get_Weather")]), cur)
        };
        assert!(validate(&answered(json!([tool("get_weather")]))).is_ok());
        let r = reason_of(&answered(json!([tool("other")])));
        assert!(r.contains("not declared"), "{r}");
    }

    #[test]
    fn tool_specs_are_checked() {
        let with_tools = |tools: Value| {
            let mut cur = current("hi");
            cur["userInputMessageContext"] = json!({ "tools": tools });
            request(json!([]), cur)
        };
        assert!(reason_of(&with_tools(json!([tool("a"), tool("A")]))).contains("duplicate"));
        assert!(reason_of(&with_tools(json!([tool(&"n".repeat(65))]))).contains("longer"));
        assert!(validate(&with_tools(json!([tool(&"n".repeat(64))]))).is_ok());

        let mut long = tool("a");
        long["toolSpecification"]["description"] = json!("d".repeat(10_001));
        assert!(reason_of(&with_tools(json!([long]))).contains("description"));

        let mut any_of = tool("a");
        any_of["toolSpecification"]["inputSchema"]["json"] =
            json!({"type": "object", "anyOf": [{"type": "object"}]});
        let r = validate(&with_tools(json!([any_of]))).unwrap_err();
        assert_eq!(r.kind, RejectKind::ToolSchemaInvalid);
        assert!(r.kind.body().contains("TOOL_SCHEMA_INVALID"));

        let mut not_object = tool("a");
        not_object["toolSpecification"]["inputSchema"]["json"] = json!({"type": "string"});
        assert!(reason_of(&with_tools(json!([not_object]))).contains("type"));
    }

    #[test]
    fn images_need_known_format_and_base64_bytes() {
        let with_image = |image: Value| {
            let mut cur = current("look");
            cur["images"] = json!([image]);
            request(json!([]), cur)
        };
        assert!(reason_of(&with_image(
            json!({"format": "bmp", "source": {"bytes": "aGVsbG8="}})
        ))
        .contains("format"));
        assert!(reason_of(&with_image(
            json!({"format": "png", "source": {"bytes": "%%%"}})
        ))
        .contains("base64"));
        assert!(reason_of(&with_image(json!({"format": "png"}))).contains("source"));
    }

    #[test]
    fn headers_are_checked() {
        let good = ChatHeaders {
            content_type: Some("application/json"),
            optout: Some("true"),
            invocation_id: Some("6d1c5c4e-1111-4a4a-8888-123456789abc"),
            user_agent: Some("aws-sdk-js/1.0.34 ua/2.1 m/E KiroIDE-0.11.107-abcd"),
        };
        assert!(check_headers(&good).is_ok());
        for bad in [
            ChatHeaders {
                content_type: Some("text/plain"),
                ..good
            },
            ChatHeaders {
                optout: None,
                ..good
            },
            ChatHeaders {
                invocation_id: None,
                ..good
            },
            ChatHeaders {
                user_agent: Some("curl/8"),
                ..good
            },
        ] {
            assert_eq!(check_headers(&bad).unwrap_err().kind, RejectKind::Malformed);
        }
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert!(is_api_key("ksk_123"));
        assert!(!is_api_key("mock-at-1"));
    }
}
