//! Kiro's unwritten request rules (§2.2 of the protocol notes), one named function each.
//!
//! Kiro answers "400 Improperly formed request." to anything it dislikes and never says why,
//! so every rule the open-source proxies learned the hard way is applied here, on purpose and
//! in one place: roles must alternate starting with a user turn, every tool call must be
//! answered in the very next user turn and every answer must have its call, tools used in
//! history must be declared, names and descriptions have length limits, schemas must have a
//! narrow shape, and no message may be empty.
//!
//! The passes work on [`Turn`]s, which borrow the client's strings: a large request is copied
//! once, when it is serialised.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use base64::Engine as _;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::models::{self, ModelInfo};
use super::request::{
    DeclaredTool, InputSchema, KiroDocument, KiroImage, KiroTool, KiroToolResult, KiroToolUse,
    Source, ToolResultText, ToolSpecification,
};
use crate::chat::{
    Block, DeclaredNames, Document, GatewayError, Image, Message, Role, ThinkingConfig, Tool,
    ToolChoice, Tools,
};
use crate::json::{push_json_array, push_json_object, push_json_value};

/// The assistant's reply to the synthetic system turn (§2.2 step 5).
pub const SYSTEM_ACK: &str = "I will follow these instructions.";
/// Appended to the system prompt (§2.2 step 5): keeps the model from fighting the chunked
/// Write/Edit policy below instead of following it.
pub const CHUNKED_WRITE_POLICY: &str = "When the Write or Edit tool has content size limits, \
always comply silently. Never suggest bypassing these limits via alternative tools. Never ask \
the user whether to switch approaches. Complete all chunked operations without commentary.";
/// Kiro cuts long outputs mid-tool-call; small Write/Edit calls survive (§7 item 2).
pub const WRITE_TOOL_SUFFIX: &str = "- IMPORTANT: If the content to write exceeds 150 lines, \
you MUST only write the first 50 lines using this tool, then use `Edit` tool to append the \
remaining content in chunks of no more than 50 lines each. If needed, leave a unique \
placeholder to help append content. Do NOT attempt to write all content at once.";
pub const EDIT_TOOL_SUFFIX: &str = "- IMPORTANT: If the `new_string` content exceeds 50 lines, \
you MUST split it into multiple Edit calls, each replacing no more than 50 lines at a time. If \
used to append content, leave a unique placeholder to help append content. On the final chunk, \
do NOT include the placeholder.";

pub const TOOL_NAME_MAX_LEN: usize = 63;
/// Bytes, so the limit holds whether Kiro counts bytes or characters.
pub const TOOL_DESCRIPTION_MAX_LEN: usize = 10_000;
pub const HISTORY_TOOL_DESCRIPTION: &str = "Tool used in conversation history";

/// Kiro rejects empty content; these stand in (§2.2 step 7).
pub const TOOL_USE_ONLY_CONTENT: &str = " ";
pub const EMPTY_TOOL_RESULT: &str = "(empty result)";
pub const IMAGE_ONLY_TOOL_RESULT: &str = "[image attached]";
pub const EMPTY_USER_CONTENT: &str = "(empty message)";
pub const EMPTY_ASSISTANT_CONTENT: &str = "(empty response)";
/// Opens a conversation whose first turn is the assistant's (Kiro wants user first).
pub const LEADING_USER_CONTENT: &str = "(conversation continues)";

pub const DEFAULT_THINKING_BUDGET: u32 = 20_000;
pub const MAX_THINKING_BUDGET: u32 = 24_576;
const THINKING_EFFORTS: &[&str] = &["low", "medium", "high", "xhigh", "max"];

/// Deeper schemas are left as they are instead of recursing further.
const MAX_SCHEMA_DEPTH: usize = 64;
const MAX_DOCUMENT_NAME_LEN: usize = 64;

// ---------------------------------------------------------------------------------------------
// Turns

/// One conversation turn on its way to Kiro.
#[derive(Debug, Clone, PartialEq)]
pub enum Turn<'a> {
    User(UserTurn<'a>),
    Assistant(AssistantTurn<'a>),
}

impl Turn<'_> {
    pub fn role(&self) -> Role {
        match self {
            Turn::User(_) => Role::User,
            Turn::Assistant(_) => Role::Assistant,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct UserTurn<'a> {
    /// Joined with `\n` into `content`.
    pub text: Vec<Cow<'a, str>>,
    pub images: Vec<KiroImage<'a>>,
    pub documents: Vec<KiroDocument<'a>>,
    pub tool_results: Vec<KiroToolResult<'a>>,
}

impl<'a> UserTurn<'a> {
    pub fn from_text(text: impl Into<Cow<'a, str>>) -> Self {
        UserTurn {
            text: vec![text.into()],
            ..Default::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.text.iter().all(|t| t.is_empty())
            && self.images.is_empty()
            && self.documents.is_empty()
            && self.tool_results.is_empty()
    }

    fn absorb(&mut self, other: UserTurn<'a>) {
        self.text.extend(other.text);
        self.images.extend(other.images);
        self.documents.extend(other.documents);
        self.tool_results.extend(other.tool_results);
    }

    /// The `content` string.
    pub fn content(&mut self) -> Cow<'a, str> {
        join_parts(std::mem::take(&mut self.text), "\n")
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct AssistantTurn<'a> {
    /// Joined with `\n\n` into `content`.
    pub text: Vec<Cow<'a, str>>,
    pub tool_uses: Vec<KiroToolUse<'a>>,
}

impl<'a> AssistantTurn<'a> {
    pub fn from_text(text: impl Into<Cow<'a, str>>) -> Self {
        AssistantTurn {
            text: vec![text.into()],
            tool_uses: Vec::new(),
        }
    }

    fn absorb(&mut self, other: AssistantTurn<'a>) {
        self.text.extend(other.text);
        self.tool_uses.extend(other.tool_uses);
    }

    /// The `content` string.
    pub fn content(&mut self) -> Cow<'a, str> {
        join_parts(std::mem::take(&mut self.text), "\n\n")
    }
}

/// Joins without copying when there is a single part.
fn join_parts<'a>(parts: Vec<Cow<'a, str>>, separator: &str) -> Cow<'a, str> {
    let mut parts: Vec<Cow<'a, str>> = parts.into_iter().filter(|p| !p.is_empty()).collect();
    match parts.len() {
        0 => Cow::Borrowed(""),
        1 => parts.pop().unwrap_or_default(),
        _ => {
            let len = parts.iter().map(|p| p.len() + separator.len()).sum();
            let mut joined = String::with_capacity(len);
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    joined.push_str(separator);
                }
                joined.push_str(part);
            }
            Cow::Owned(joined)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Canonical messages → turns

/// Kiro cannot continue a prefilled assistant turn: everything after the last user message
/// is dropped (§2.2 step 2). Empty when there is no user message at all.
pub fn drop_prefill(messages: &[Message]) -> &[Message] {
    messages
        .iter()
        .rposition(|m| m.role == Role::User)
        .and_then(|last| messages.get(..=last))
        .unwrap_or(&[])
}

/// Converts messages to turns: texts, images (checked), documents, tool results (with
/// placeholders for empty ones), tool calls and re-serialised thinking.
pub fn to_turns(
    messages: &[Message],
    max_image_bytes: usize,
) -> Result<Vec<Turn<'_>>, GatewayError> {
    let mut documents = DocumentNamer::default();
    let mut turns = Vec::with_capacity(messages.len());
    for (index, message) in messages.iter().enumerate() {
        let number = index + 1;
        turns.push(match message.role {
            Role::User => Turn::User(user_turn(message, number, max_image_bytes, &mut documents)?),
            Role::Assistant => Turn::Assistant(assistant_turn(message)),
        });
    }
    Ok(turns)
}

fn user_turn<'a>(
    message: &'a Message,
    number: usize,
    max_image_bytes: usize,
    documents: &mut DocumentNamer,
) -> Result<UserTurn<'a>, GatewayError> {
    let mut turn = UserTurn::default();
    let mut image_number = 0;
    let mut document_number = 0;
    for block in &message.content {
        match block {
            // Kiro rejects whitespace-only content, and such a block says nothing.
            Block::Text(text) if text.trim().is_empty() => {}
            Block::Text(text) => turn.text.push(Cow::Borrowed(text)),
            Block::Image(image) => {
                image_number += 1;
                turn.images
                    .push(check_image(image, number, image_number, max_image_bytes)?);
            }
            Block::Document(document) => {
                document_number += 1;
                match convert_document(document, number, document_number, documents)? {
                    DocumentPart::Attached(doc) => turn.documents.push(doc),
                    DocumentPart::Inline(text) => turn.text.push(Cow::Owned(text)),
                }
            }
            Block::ToolResult {
                tool_use_id,
                content,
                is_error,
                images,
            } => {
                for image in images {
                    image_number += 1;
                    turn.images
                        .push(check_image(image, number, image_number, max_image_bytes)?);
                }
                turn.tool_results.push(KiroToolResult {
                    tool_use_id,
                    content: vec![ToolResultText {
                        text: tool_result_text(content, !images.is_empty()),
                    }],
                    status: if *is_error { "error" } else { "success" },
                    is_error: is_error.then_some(true),
                });
            }
            // Not a user's to send, and Kiro has no place for them on a user turn.
            Block::ToolUse { .. } | Block::Thinking(_) => {}
        }
    }
    Ok(turn)
}

fn assistant_turn(message: &Message) -> AssistantTurn<'_> {
    let mut turn = AssistantTurn::default();
    let thinking: Vec<&str> = message
        .content
        .iter()
        .filter_map(|block| match block {
            Block::Thinking(text) if !text.trim().is_empty() => Some(text.as_str()),
            _ => None,
        })
        .collect();
    if !thinking.is_empty() {
        turn.text.push(Cow::Owned(render_thinking(&thinking)));
    }
    for block in &message.content {
        match block {
            // Blank texts (Claude Code's `" "` after a reconnect) would only add separators.
            Block::Text(text) if !text.trim().is_empty() => turn.text.push(Cow::Borrowed(text)),
            Block::ToolUse { id, name, input } => turn.tool_uses.push(KiroToolUse {
                tool_use_id: id,
                name: Cow::Borrowed(name),
                input: tool_input(input),
            }),
            _ => {}
        }
    }
    turn
}

/// Earlier reasoning goes back as the tags the model itself writes (§2.2 step 8); joined with
/// the turn's text by `\n\n` this gives `<thinking>…</thinking>\n\n{text}`.
pub fn render_thinking(thinking: &[&str]) -> String {
    format!("<thinking>{}</thinking>", thinking.join("\n"))
}

/// Kiro wants every tool input to be a JSON object.
fn tool_input(input: &Value) -> Cow<'_, Value> {
    match input {
        Value::Object(_) => Cow::Borrowed(input),
        Value::Null => Cow::Owned(Value::Object(Map::new())),
        other => Cow::Owned(json!({ "input": other })),
    }
}

/// A tool result's text, with placeholders for empty results (§2.2 step 7).
pub fn tool_result_text(content: &str, has_images: bool) -> Cow<'_, str> {
    if !content.trim().is_empty() {
        Cow::Borrowed(content)
    } else if has_images {
        Cow::Borrowed(IMAGE_ONLY_TOOL_RESULT)
    } else {
        Cow::Borrowed(EMPTY_TOOL_RESULT)
    }
}

/// Checks an image against what Kiro accepts and converts it (§2.1): JPEG, PNG, GIF or WebP,
/// at most `max_bytes` decoded. `message` and `image` are 1-based, for the error text.
pub fn check_image(
    image: &Image,
    message: usize,
    number: usize,
    max_bytes: usize,
) -> Result<KiroImage<'_>, GatewayError> {
    let format = image_format(&image.media_type).ok_or_else(|| {
        GatewayError::invalid(format!(
            "Image {number} in message {message} has type `{}`; only JPEG, PNG, GIF and WebP \
             images are supported.",
            bounded(&image.media_type, 64)
        ))
    })?;
    if image.data.trim().is_empty() {
        return Err(GatewayError::invalid(format!(
            "Image {number} in message {message} has no data."
        )));
    }
    let size = decoded_len(&image.data);
    if size > max_bytes {
        return Err(GatewayError::invalid(format!(
            "Image {number} in message {message} is {} after decoding, over the upstream's \
             limit of {} per image. Resize or compress it and try again.",
            human_bytes(size),
            human_bytes(max_bytes)
        )));
    }
    Ok(KiroImage {
        format,
        source: Source { bytes: &image.data },
    })
}

fn image_format(media_type: &str) -> Option<&'static str> {
    match media_type.trim().to_ascii_lowercase().as_str() {
        "image/jpeg" | "image/jpg" => Some("jpeg"),
        "image/png" => Some("png"),
        "image/gif" => Some("gif"),
        "image/webp" => Some("webp"),
        _ => None,
    }
}

/// Decoded size of base64 text, without decoding it.
fn decoded_len(data: &str) -> usize {
    let data = data.trim_end();
    let padding = data.bytes().rev().take_while(|&b| b == b'=').count().min(2);
    (data.len() / 4 * 3 + data.len() % 4 * 3 / 4).saturating_sub(padding)
}

fn human_bytes(bytes: usize) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
    } else {
        format!("{} KB", bytes.div_ceil(1024))
    }
}

enum DocumentPart<'a> {
    Attached(KiroDocument<'a>),
    /// Plain-text documents are simply read to the model.
    Inline(String),
}

/// Hands out document names Kiro accepts: letters, digits, spaces and hyphens, no extension,
/// unique within the request (\[G\]; without a name Kiro answers `REQUEST_BODY_INVALID`).
#[derive(Default)]
struct DocumentNamer {
    used: HashSet<String>,
}

impl DocumentNamer {
    fn name(&mut self, requested: Option<&str>) -> String {
        let base = requested.map(document_name).unwrap_or_default();
        let base = if base.is_empty() {
            format!("document-{}", self.used.len() + 1)
        } else {
            base
        };
        let mut name = base.clone();
        let mut n = 2;
        while !self.used.insert(name.to_ascii_lowercase()) {
            name = format!("{base}-{n}");
            n += 1;
        }
        name
    }
}

/// `Q3 report (final).pdf` → `Q3 report -final-`.
pub fn document_name(requested: &str) -> String {
    let stem = match requested.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => requested,
    };
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == ' ' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(MAX_DOCUMENT_NAME_LEN)
        .collect();
    name.trim().to_owned()
}

fn convert_document<'a>(
    document: &'a Document,
    message: usize,
    number: usize,
    names: &mut DocumentNamer,
) -> Result<DocumentPart<'a>, GatewayError> {
    let media_type = document.media_type.trim().to_ascii_lowercase();
    if media_type == "application/pdf" {
        return Ok(DocumentPart::Attached(KiroDocument {
            format: "pdf",
            name: names.name(document.name.as_deref()),
            source: Source {
                bytes: &document.data,
            },
        }));
    }
    if media_type.starts_with("text/") {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(document.data.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| {
                GatewayError::invalid(format!(
                    "Document {number} in message {message} is not valid base64-encoded UTF-8 text."
                ))
            })?;
        let title = document.name.as_deref().unwrap_or("document");
        return Ok(DocumentPart::Inline(format!(
            "<document name=\"{}\">\n{bytes}\n</document>",
            bounded(title, 200)
        )));
    }
    Err(GatewayError::invalid(format!(
        "Document {number} in message {message} has type `{}`; only PDF and plain-text documents \
         are supported.",
        bounded(&document.media_type, 64)
    )))
}

// ---------------------------------------------------------------------------------------------
// Turn-level rules

/// Merges runs of same-role turns (§2.2 step 6): Kiro answers 400 to two assistants or two
/// users in a row (Claude Code sends that after a reconnect).
pub fn merge_consecutive_roles(turns: &mut Vec<Turn<'_>>) {
    let mut merged: Vec<Turn<'_>> = Vec::with_capacity(turns.len());
    for turn in turns.drain(..) {
        let turn = match (merged.last_mut(), turn) {
            (Some(Turn::User(previous)), Turn::User(next)) => {
                previous.absorb(next);
                continue;
            }
            (Some(Turn::Assistant(previous)), Turn::Assistant(next)) => {
                previous.absorb(next);
                continue;
            }
            (_, turn) => turn,
        };
        merged.push(turn);
    }
    *turns = merged;
}

/// Makes the turns strictly alternate, starting with a user turn, by merging same-role runs
/// and opening with a placeholder user turn when the assistant spoke first.
pub fn ensure_alternation(turns: &mut Vec<Turn<'_>>) {
    merge_consecutive_roles(turns);
    if matches!(turns.first(), Some(Turn::Assistant(_))) {
        turns.insert(0, Turn::User(UserTurn::from_text(LEADING_USER_CONTENT)));
    }
}

/// Pairs tool calls with results (§2.2 step 9) on alternating turns: a call must be answered in
/// the very next user turn, a result must answer a call of the turn just before, and ids are
/// unique. Unanswered calls are removed; results without a call become plain text so their
/// content is not lost; duplicates are dropped.
pub fn repair_tool_pairing<'a>(turns: &mut [Turn<'a>]) {
    let mut seen_calls: HashSet<&'a str> = HashSet::new();
    let count = turns.len();
    for index in 0..count {
        let (before, rest) = turns.split_at_mut(index);
        match rest.first_mut() {
            Some(Turn::User(user)) => {
                let mut no_calls = AssistantTurn::default();
                let assistant = match before.last_mut() {
                    Some(Turn::Assistant(assistant)) => assistant,
                    _ => &mut no_calls,
                };
                assistant
                    .tool_uses
                    .retain(|call| seen_calls.insert(call.tool_use_id));
                let answered = repair_orphan_tool_results(&assistant.tool_uses, user);
                repair_orphan_tool_uses(assistant, &answered);
            }
            // Nothing can answer the calls of a final assistant turn.
            Some(Turn::Assistant(assistant)) if index + 1 == count => assistant.tool_uses.clear(),
            _ => {}
        }
    }
}

/// Keeps the results in `user` that answer one of `calls` (first answer wins), turns the
/// others into text, and returns the ids answered.
pub fn repair_orphan_tool_results<'a>(
    calls: &[KiroToolUse<'a>],
    user: &mut UserTurn<'a>,
) -> HashSet<&'a str> {
    let expected: HashSet<&'a str> = calls.iter().map(|call| call.tool_use_id).collect();
    let mut answered = HashSet::with_capacity(expected.len());
    let mut orphans = Vec::new();
    user.tool_results.retain_mut(|result| {
        if !expected.contains(result.tool_use_id) {
            let text = result
                .content
                .first_mut()
                .map(|c| std::mem::take(&mut c.text))
                .unwrap_or_default();
            let label = if result.is_error == Some(true) {
                "Error from an earlier tool call"
            } else {
                "Result of an earlier tool call"
            };
            orphans.push(Cow::Owned(format!(
                "[{label} {}]\n{text}",
                result.tool_use_id
            )));
            false
        } else {
            answered.insert(result.tool_use_id)
        }
    });
    // Results come before the user's own words in a turn.
    if !orphans.is_empty() {
        orphans.append(&mut user.text);
        user.text = orphans;
    }
    answered
}

/// Removes the calls nobody answered.
pub fn repair_orphan_tool_uses(assistant: &mut AssistantTurn<'_>, answered: &HashSet<&str>) {
    assistant
        .tool_uses
        .retain(|call| answered.contains(call.tool_use_id));
}

/// Replaces images repeated in history by a short note (§2.1, \[Z\]): an agent that re-sends
/// the same screenshot every turn would otherwise blow the payload budget.
pub fn dedupe_history_images(history: &mut [Turn<'_>]) {
    // Compare by length first, bytes second: hashing every image would cost more than the
    // rare duplicate saves.
    let mut seen: HashMap<usize, Vec<&str>> = HashMap::new();
    for turn in history.iter_mut() {
        let Turn::User(user) = turn else { continue };
        let mut notes = Vec::new();
        user.images.retain(|image| {
            let data = image.source.bytes;
            let same_size = seen.entry(data.len()).or_default();
            if same_size.contains(&data) {
                let digest = sha256_hex(data.as_bytes());
                let short = digest.get(..12).unwrap_or(&digest);
                notes.push(Cow::Owned(format!(
                    "[image omitted: identical to an earlier image, sha256 {short}]"
                )));
                false
            } else {
                same_size.push(data);
                true
            }
        });
        user.text.extend(notes);
    }
}

/// Gives every turn the non-empty content Kiro insists on (§2.2 step 7).
pub fn fill_empty_content(turns: &mut [Turn<'_>]) {
    for turn in turns {
        match turn {
            Turn::User(user) if user.is_empty() => {
                user.text = vec![Cow::Borrowed(EMPTY_USER_CONTENT)]
            }
            Turn::Assistant(assistant) if assistant.text.iter().all(|t| t.trim().is_empty()) => {
                let placeholder = if assistant.tool_uses.is_empty() {
                    EMPTY_ASSISTANT_CONTENT
                } else {
                    TOOL_USE_ONLY_CONTENT
                };
                assistant.text = vec![Cow::Borrowed(placeholder)];
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tools

/// The tools to declare, and how their names map back.
#[derive(Debug)]
pub struct ToolSet<'a> {
    pub specs: Vec<DeclaredTool<'a>>,
    /// The list's own names, shared by every request that sends the list.
    names: &'a DeclaredNames,
    /// The tools only the history calls, declared for this request alone.
    history: DeclaredNames,
}

impl ToolSet<'_> {
    /// The declared Kiro name of a client tool name, ignoring case as Kiro does.
    pub fn kiro_name(&self, client_name: &str) -> Option<&str> {
        self.names
            .upstream_name(client_name)
            .or_else(|| self.history.upstream_name(client_name))
    }

    /// Kiro name → client name, for the declared tools whose names differ: what maps a
    /// response's tool calls back. Usually empty.
    pub fn renamed(&self) -> HashMap<String, String> {
        let mut renamed = self.names.renamed.clone();
        renamed.extend(self.history.renamed.clone());
        renamed
    }

    /// The client's name of a declared Kiro name.
    #[cfg(test)]
    fn client_name<'n>(&'n self, kiro_name: &'n str) -> &'n str {
        match self.history.renamed.get(kiro_name) {
            Some(client) => client,
            None => self.names.client_name(kiro_name),
        }
    }
}

/// Points history tool calls at the declared (possibly shortened) names, so a call and its
/// declaration agree even when they differ in case.
pub fn rename_history_tool_calls<'a>(history: &mut [Turn<'a>], tools: &ToolSet<'_>) {
    for turn in history {
        let Turn::Assistant(assistant) = turn else {
            continue;
        };
        for call in &mut assistant.tool_uses {
            let renamed = match tools.kiro_name(&call.name) {
                Some(kiro) if kiro != call.name => Cow::Owned(kiro.to_owned()),
                Some(_) => continue,
                None => Cow::Owned(shorten_tool_name(&call.name).into_owned()),
            };
            call.name = renamed;
        }
    }
}

/// Builds the tool declarations: de-duplicated, history tools declared, names shortened,
/// descriptions limited, schemas sanitised.
pub fn build_tools<'a>(
    tools: &'a Tools,
    history: &[Turn<'a>],
) -> Result<ToolSet<'a>, GatewayError> {
    let names = tools.declared_names(shorten_tool_name);
    if let Some(position) = names
        .declared
        .iter()
        .position(|&(i, _)| tools[i].name.trim().is_empty())
    {
        return Err(GatewayError::invalid(format!(
            "Tool {} has an empty name.",
            position + 1
        )));
    }
    let mut set = ToolSet {
        specs: Vec::with_capacity(names.declared.len()),
        names,
        history: DeclaredNames::default(),
    };
    let rendered = tools.upstream_specs(|list| {
        names
            .declared
            .iter()
            .map(|(i, kiro_name)| declaration(kiro_name, &list[*i]))
            .collect()
    });
    set.specs
        .extend(rendered.iter().map(|json| DeclaredTool::Rendered(json)));
    for name in history_tool_names(history) {
        let kiro_name = shorten_tool_name(name);
        if names.upstream_name(name).is_some() || !set.history.declare(&kiro_name, name) {
            continue;
        }
        set.specs.push(DeclaredTool::Spec(KiroTool {
            tool_specification: ToolSpecification {
                name: kiro_name,
                description: Cow::Borrowed(HISTORY_TOOL_DESCRIPTION),
                input_schema: InputSchema {
                    json: EMPTY_OBJECT_SCHEMA_JSON.as_bytes(),
                },
            },
        }));
    }
    Ok(set)
}

/// A tool's declaration as Kiro's JSON: its declared name, its description limited, its schema
/// reshaped ([`sanitize_schema`]). Rendered once per shared tool list, as the same list comes
/// on every turn.
fn declaration(kiro_name: &str, tool: &Tool) -> Box<[u8]> {
    let schema = kiro_schema_json(&tool.input_schema);
    KiroTool {
        tool_specification: ToolSpecification {
            name: Cow::Borrowed(kiro_name),
            description: limit_description(&tool.name, &tool.description),
            input_schema: InputSchema { json: &schema },
        },
    }
    .to_json()
}

/// The tool names the history calls, in order, repeats included: Kiro refuses a history that
/// calls an undeclared tool (§2.2 step 10), which happens when a client drops a tool
/// mid-conversation, so [`build_tools`] declares the ones the request's tools lack.
fn history_tool_names<'a, 'h>(history: &'h [Turn<'a>]) -> impl Iterator<Item = &'a str> + 'h {
    history
        .iter()
        .filter_map(|turn| match turn {
            Turn::Assistant(assistant) => Some(&assistant.tool_uses),
            Turn::User(_) => None,
        })
        .flatten()
        // Names are still the client's here, borrowed for the request's lifetime.
        .filter_map(|call| match call.name {
            Cow::Borrowed(name) if !name.is_empty() => Some(name),
            _ => None,
        })
}

/// Shortens names over 63 bytes to the first 54 + `_` + 8 hex digits of their SHA-256
/// (§2.2 step 11), so distinct long names stay distinct and the mapping is stable.
pub fn shorten_tool_name(name: &str) -> Cow<'_, str> {
    if name.len() <= TOOL_NAME_MAX_LEN {
        return Cow::Borrowed(name);
    }
    let mut end = 54;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let digest = sha256_hex(name.as_bytes());
    Cow::Owned(format!(
        "{}_{}",
        name.get(..end).unwrap_or(""),
        digest.get(..8).unwrap_or(&digest)
    ))
}

/// Limits a description to 10 000 bytes on a character boundary, appending the anti-truncation
/// suffix to `Write` and `Edit` (§2.2 step 12); empty descriptions get the tool's name, since
/// Kiro rejects empty ones.
pub fn limit_description<'a>(name: &str, description: &'a str) -> Cow<'a, str> {
    let suffix = match name {
        "Write" => Some(WRITE_TOOL_SUFFIX),
        "Edit" => Some(EDIT_TOOL_SUFFIX),
        _ => None,
    };
    let description = description.trim_end();
    if description.trim().is_empty() && suffix.is_none() {
        return Cow::Owned(format!("Tool: {}", shorten_tool_name(name)));
    }
    let room = match suffix {
        Some(suffix) => TOOL_DESCRIPTION_MAX_LEN - suffix.len() - 1,
        None => TOOL_DESCRIPTION_MAX_LEN,
    };
    let kept = truncate_on_char_boundary(description, room);
    match suffix {
        Some(suffix) if kept.is_empty() => Cow::Borrowed(suffix),
        Some(suffix) => Cow::Owned(format!("{kept}\n{suffix}")),
        None => Cow::Borrowed(kept),
    }
}

fn truncate_on_char_boundary(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or("")
}

/// The schema Kiro gets for a tool that takes anything.
pub fn empty_object_schema() -> Value {
    json!({"type": "object", "properties": {}, "required": [], "additionalProperties": true})
}

/// [`empty_object_schema`] serialised (a test holds the two together).
pub const EMPTY_OBJECT_SCHEMA_JSON: &str =
    r#"{"additionalProperties":true,"properties":{},"required":[],"type":"object"}"#;

/// Reshapes a tool's JSON Schema into what Kiro accepts (§2.2 step 13, following \[H\]/\[Z\], which
/// ship this): an object type, `properties` an object, `required` an array of strings,
/// `additionalProperties` a bool or object (default true); top-level `oneOf`/`anyOf`/`allOf`
/// flattened; `$schema`, numeric `exclusiveMinimum`/`exclusiveMaximum` and out-of-i32
/// `minimum`/`maximum` removed at every level.
///
/// A schema already in that shape is borrowed, not copied.
pub fn sanitize_schema(schema: &Value) -> Cow<'_, Value> {
    if is_sanitized(schema) {
        return Cow::Borrowed(schema);
    }
    match schema {
        Value::Object(source) => Cow::Owned(sanitize_object(source.clone())),
        _ => Cow::Owned(empty_object_schema()),
    }
}

fn sanitize_object(mut root: Map<String, Value>) -> Value {
    // Leaves `properties` an object and `required` an array of distinct strings.
    flatten_top_level_combinators(&mut root);
    clean_schema_node(&mut root, 0);

    root.insert("type".into(), Value::from("object"));
    if !matches!(
        root.get("additionalProperties"),
        Some(Value::Bool(_) | Value::Object(_))
    ) {
        root.insert("additionalProperties".into(), Value::Bool(true));
    }
    Value::Object(root)
}

/// [`sanitize_schema`], serialised. When reshaping would only drop keywords (Claude Code's
/// top-level `$schema`), the JSON is written straight from `schema`, with no copy of it.
pub fn kiro_schema_json(schema: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    match schema {
        Value::Object(root) if top_level_in_shape(root) => push_clean_node(&mut out, root, 0),
        _ => push_json_value(&mut out, &sanitize_schema(schema)),
    }
    out
}

/// Whether [`sanitize_schema`] would return `schema` unchanged.
fn is_sanitized(schema: &Value) -> bool {
    match schema {
        Value::Object(root) => top_level_in_shape(root) && is_clean_node(root, 0),
        _ => false,
    }
}

/// Whether the root needs no more than [`clean_schema_node`]: an object type, `properties`,
/// distinct `required` names, `additionalProperties`, no combinators to flatten.
fn top_level_in_shape(root: &Map<String, Value>) -> bool {
    let required_ok = match root.get("required") {
        Some(Value::Array(names)) => names.iter().enumerate().all(|(i, name)| {
            name.as_str()
                .is_some_and(|n| !names[..i].iter().any(|earlier| earlier.as_str() == Some(n)))
        }),
        _ => false,
    };
    required_ok
        && root.get("type").and_then(Value::as_str) == Some("object")
        && matches!(root.get("properties"), Some(Value::Object(_)))
        && matches!(
            root.get("additionalProperties"),
            Some(Value::Bool(_) | Value::Object(_))
        )
        && !["allOf", "anyOf", "oneOf"]
            .iter()
            .any(|keyword| root.contains_key(*keyword))
}

/// Kiro refuses `oneOf`/`anyOf`/`allOf` at the top level (`TOOL_SCHEMA_INVALID`). The
/// variants' properties are merged; a property is required if `allOf` requires it, or if every
/// `oneOf`/`anyOf` variant does.
fn flatten_top_level_combinators(root: &mut Map<String, Value>) {
    let mut properties = match root.remove("properties") {
        Some(Value::Object(p)) => p,
        _ => Map::new(),
    };
    let mut required: Vec<Value> = match root.remove("required") {
        Some(Value::Array(r)) => r,
        _ => Vec::new(),
    };
    for keyword in ["allOf", "anyOf", "oneOf"] {
        let Some(Value::Array(variants)) = root.remove(keyword) else {
            continue;
        };
        let mut common: Option<Vec<Value>> = None;
        for variant in variants {
            let Value::Object(mut variant) = variant else {
                continue;
            };
            if let Some(Value::Object(props)) = variant.remove("properties") {
                for (name, prop) in props {
                    properties.entry(name).or_insert(prop);
                }
            }
            let variant_required = match variant.remove("required") {
                Some(Value::Array(r)) => r,
                _ => Vec::new(),
            };
            if keyword == "allOf" {
                required.extend(variant_required);
            } else {
                common = Some(match common {
                    None => variant_required,
                    Some(so_far) => so_far
                        .into_iter()
                        .filter(|name| variant_required.contains(name))
                        .collect(),
                });
            }
        }
        required.extend(common.unwrap_or_default());
    }
    let mut unique = HashSet::new();
    required.retain(|name| name.as_str().is_some_and(|n| unique.insert(n.to_owned())));
    root.insert("properties".into(), Value::Object(properties));
    root.insert("required".into(), Value::Array(required));
}

/// Removes what Kiro rejects from one schema node and recurses into its sub-schemas (never
/// into data such as `enum` or `default`, nor into property *names*).
fn clean_schema_node(node: &mut Map<String, Value>, depth: usize) {
    if depth > MAX_SCHEMA_DEPTH {
        return;
    }
    node.retain(|key, value| !rejected_by_kiro(key, value));
    for (key, value) in node.iter_mut() {
        match sub_schemas(key) {
            Some(SubSchemas::Named) => {
                if let Value::Object(map) = value {
                    for schema in map.values_mut() {
                        clean_schema_value(schema, depth + 1);
                    }
                }
            }
            Some(SubSchemas::Direct) => clean_schema_value(value, depth + 1),
            None => {}
        }
    }
}

/// A sub-schema, or an array of them.
fn clean_schema_value(value: &mut Value, depth: usize) {
    match value {
        Value::Object(map) => clean_schema_node(map, depth),
        Value::Array(items) => {
            for item in items {
                if let Value::Object(map) = item {
                    clean_schema_node(map, depth);
                }
            }
        }
        _ => {}
    }
}

/// Writes `node` as [`clean_schema_node`] would leave it, without changing it.
fn push_clean_node(out: &mut Vec<u8>, node: &Map<String, Value>, depth: usize) {
    let clean = depth > MAX_SCHEMA_DEPTH;
    let kept = node
        .iter()
        .filter(|(key, value)| clean || !rejected_by_kiro(key, value));
    push_json_object(out, kept, |key, value, out| {
        match (clean, sub_schemas(key), value) {
            (false, Some(SubSchemas::Named), Value::Object(map)) => {
                push_json_object(out, map, |_, schema, out| {
                    push_clean_value(out, schema, depth + 1)
                })
            }
            (false, Some(SubSchemas::Direct), _) => push_clean_value(out, value, depth + 1),
            _ => push_json_value(out, value),
        }
    });
}

/// [`clean_schema_value`], written.
fn push_clean_value(out: &mut Vec<u8>, value: &Value, depth: usize) {
    match value {
        Value::Object(map) => push_clean_node(out, map, depth),
        Value::Array(items) => push_json_array(out, items, |item, out| match item {
            Value::Object(map) => push_clean_node(out, map, depth),
            other => push_json_value(out, other),
        }),
        other => push_json_value(out, other),
    }
}

/// Whether [`clean_schema_node`] would leave `node` and its sub-schemas unchanged.
fn is_clean_node(node: &Map<String, Value>, depth: usize) -> bool {
    if depth > MAX_SCHEMA_DEPTH {
        return true;
    }
    node.iter().all(|(key, value)| {
        !rejected_by_kiro(key, value)
            && match (sub_schemas(key), value) {
                (Some(SubSchemas::Named), Value::Object(map)) => {
                    map.values().all(|schema| is_clean_value(schema, depth + 1))
                }
                (Some(SubSchemas::Direct), _) => is_clean_value(value, depth + 1),
                _ => true,
            }
    })
}

fn is_clean_value(value: &Value, depth: usize) -> bool {
    match value {
        Value::Object(map) => is_clean_node(map, depth),
        Value::Array(items) => items.iter().all(|item| match item {
            Value::Object(map) => is_clean_node(map, depth),
            _ => true,
        }),
        _ => true,
    }
}

/// A keyword Kiro refuses in any schema node: `$schema`, numeric (draft 6+) exclusive bounds,
/// bounds outside i32.
fn rejected_by_kiro(key: &str, value: &Value) -> bool {
    match key {
        "$schema" => true,
        "exclusiveMinimum" | "exclusiveMaximum" => value.is_number(),
        "minimum" | "maximum" => !fits_i32(value),
        _ => false,
    }
}

/// How a keyword holds sub-schemas.
enum SubSchemas {
    /// An object of them, by name (`properties`, `$defs`, …).
    Named,
    /// One, or an array of them (`items`, `anyOf`, …).
    Direct,
}

fn sub_schemas(keyword: &str) -> Option<SubSchemas> {
    match keyword {
        "properties" | "patternProperties" | "$defs" | "definitions" | "dependentSchemas" => {
            Some(SubSchemas::Named)
        }
        "items"
        | "additionalProperties"
        | "additionalItems"
        | "not"
        | "if"
        | "then"
        | "else"
        | "contains"
        | "propertyNames"
        | "unevaluatedProperties"
        | "unevaluatedItems"
        | "anyOf"
        | "oneOf"
        | "allOf"
        | "prefixItems" => Some(SubSchemas::Direct),
        _ => None,
    }
}

fn fits_i32(value: &Value) -> bool {
    match value.as_f64() {
        Some(n) => n >= f64::from(i32::MIN) && n <= f64::from(i32::MAX),
        None => true,
    }
}

// ---------------------------------------------------------------------------------------------
// Prompt additions

/// The thinking the request gets: the client's, or the one a `-thinking` model name forces
/// (§3.6: adaptive/high on Opus 4.6 and newer, else enabled with the default budget).
pub fn effective_thinking(
    requested: Option<&ThinkingConfig>,
    model: &ModelInfo,
) -> Option<ThinkingConfig> {
    if let Some(thinking) = requested {
        return Some(thinking.clone());
    }
    if !model.force_thinking {
        return None;
    }
    let adaptive = matches!(
        models::claude_family_version(&model.kiro_id),
        Some(("opus", version)) if version >= (4, 6)
    );
    Some(if adaptive {
        ThinkingConfig::Adaptive {
            effort: "high".into(),
        }
    } else {
        ThinkingConfig::Enabled {
            budget_tokens: DEFAULT_THINKING_BUDGET,
        }
    })
}

/// The tags that switch on Kiro's prompt-level thinking (§3.6).
pub fn thinking_prefix(thinking: &ThinkingConfig) -> String {
    match thinking {
        ThinkingConfig::Enabled { budget_tokens } => {
            let budget = match *budget_tokens {
                0 => DEFAULT_THINKING_BUDGET,
                n => n.min(MAX_THINKING_BUDGET),
            };
            format!(
                "<thinking_mode>enabled</thinking_mode><max_thinking_length>{budget}</max_thinking_length>"
            )
        }
        ThinkingConfig::Adaptive { effort } => format!(
            "<thinking_mode>adaptive</thinking_mode><thinking_effort>{}</thinking_effort>",
            normalize_effort(effort)
        ),
    }
}

/// One of the known effort levels (the value lands inside a prompt tag), `high` otherwise.
fn normalize_effort(effort: &str) -> &'static str {
    let effort = effort.trim().to_ascii_lowercase();
    THINKING_EFFORTS
        .iter()
        .find(|known| **known == effort)
        .copied()
        .unwrap_or("high")
}

/// The synthetic first user turn, as the lines that make it (joined with `\n` when written):
/// thinking tags, the client's system prompt and the chunked write policy (§2.2 step 5).
/// Empty when there is neither a system prompt nor thinking.
pub fn system_prompt<'a>(system: &'a [String], thinking_prefix: Option<&'a str>) -> Vec<&'a str> {
    let parts = system
        .iter()
        .map(String::as_str)
        .filter(|s| !s.trim().is_empty());
    // A client that already speaks Kiro's tags keeps its own. Looked for only when there is a
    // prefix to add, and part by part: a tag cannot span the newline that joins two parts.
    let prefix = thinking_prefix.filter(|_| !parts.clone().any(has_thinking_tags));
    let mut lines = Vec::with_capacity(system.len() + 2);
    lines.extend(prefix);
    let before_parts = lines.len();
    lines.extend(parts);
    if lines.len() > before_parts {
        lines.push(CHUNKED_WRITE_POLICY);
    }
    lines
}

/// Whether `text` holds one of Kiro's thinking tags. Both contain `thinking_`, so a prompt
/// without it (nearly all) is read once.
fn has_thinking_tags(text: &str) -> bool {
    text.contains("thinking_")
        && (text.contains("<thinking_mode>") || text.contains("<max_thinking_length>"))
}

/// Kiro has no `tool_choice`: a forced or forbidden tool becomes an instruction on the current
/// turn. `kiro_name` is the tool's name as declared to Kiro.
pub fn tool_choice_instruction(
    choice: &ToolChoice,
    has_tools: bool,
    kiro_name: Option<&str>,
) -> Option<String> {
    match choice {
        ToolChoice::Auto => None,
        ToolChoice::Any if has_tools => {
            Some("You must call at least one of the available tools in your reply.".into())
        }
        ToolChoice::Any => None,
        ToolChoice::None if has_tools => {
            Some("Do not call any tools in this reply; answer with text only.".into())
        }
        ToolChoice::None => None,
        ToolChoice::Tool(name) => Some(format!(
            "You must call the tool `{}` in your reply.",
            kiro_name.unwrap_or(name)
        )),
    }
}

/// Kiro has no structured-output field: the schema becomes an instruction on the current turn.
pub fn response_schema_instruction(schema: &Value) -> String {
    format!(
        "Reply with only a JSON value that matches this JSON Schema: no prose, no code fences.\n{schema}"
    )
}

/// Native reasoning (`additionalModelRequestFields`, §3.6, \[Z\] only): sent only to models known
/// to accept it, since the others answer 400. Opus 4.6 accepts it only for adaptive thinking;
/// `xhigh` is downgraded where the upstream refuses it.
pub fn additional_model_request_fields(
    kiro_id: &str,
    thinking: Option<&ThinkingConfig>,
) -> Option<Value> {
    let thinking = thinking?;
    let id = kiro_id.to_ascii_lowercase();
    let is_gpt = matches!(
        id.as_str(),
        "gpt-5.6-sol" | "gpt-5.6-terra" | "gpt-5.6-luna"
    );
    let claude = models::claude_family_version(&id);
    let supported =
        is_gpt || matches!(claude, Some((family, v)) if family != "haiku" && v >= (4, 6));
    if !supported {
        return None;
    }
    let effort = match thinking {
        ThinkingConfig::Adaptive { effort } => normalize_effort(effort),
        ThinkingConfig::Enabled { .. } if id == "claude-opus-4.6" => return None,
        ThinkingConfig::Enabled { budget_tokens } => match budget_tokens {
            0..=4_000 => "low",
            4_001..=16_000 => "medium",
            _ => "high",
        },
    };
    let older = matches!(claude, Some((_, v)) if v < (4, 7));
    let effort = if effort == "xhigh" && older {
        "high"
    } else {
        effort
    };
    Some(if is_gpt {
        json!({ "reasoning": { "effort": effort } })
    } else {
        json!({ "output_config": { "effort": effort } })
    })
}

// ---------------------------------------------------------------------------------------------
// Helpers

pub fn sha256_hex(data: &[u8]) -> String {
    use std::fmt::Write as _;
    let digest = Sha256::digest(data);
    let mut hex = String::with_capacity(64);
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

fn bounded(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => text.get(..end).unwrap_or(text),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{Document, Image, Message, Tool};

    fn text(t: &str) -> Block {
        Block::Text(t.into())
    }

    fn call(id: &str, name: &str) -> Block {
        Block::ToolUse {
            id: id.into(),
            name: name.into(),
            input: json!({"x": 1}),
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

    fn png(data: &str) -> Image {
        Image {
            media_type: "image/png".into(),
            data: data.into(),
        }
    }

    fn turns(messages: &[Message]) -> Vec<Turn<'_>> {
        to_turns(messages, 1 << 20).unwrap()
    }

    fn user_text(turn: &Turn<'_>) -> String {
        match turn {
            Turn::User(u) => u.text.join("\n"),
            Turn::Assistant(a) => a.text.join("\n\n"),
        }
    }

    fn call_ids<'a>(turn: &'a Turn<'_>) -> Vec<&'a str> {
        match turn {
            Turn::Assistant(a) => a.tool_uses.iter().map(|c| c.tool_use_id).collect(),
            Turn::User(_) => Vec::new(),
        }
    }

    fn result_ids<'a>(turn: &'a Turn<'_>) -> Vec<&'a str> {
        match turn {
            Turn::User(u) => u.tool_results.iter().map(|r| r.tool_use_id).collect(),
            Turn::Assistant(_) => Vec::new(),
        }
    }

    fn tool(name: &str, description: &str, schema: Value) -> Tool {
        Tool {
            name: name.into(),
            description: description.into(),
            input_schema: schema,
        }
    }

    #[test]
    fn prefill_is_dropped_back_to_the_last_user_message() {
        let messages = vec![
            Message::user(vec![text("hi")]),
            Message::assistant(vec![text("hello")]),
            Message::user(vec![text("write json")]),
            Message::assistant(vec![text("{")]),
        ];
        assert_eq!(drop_prefill(&messages).len(), 3);
        assert!(drop_prefill(&[Message::assistant(vec![text("x")])]).is_empty());
        assert!(drop_prefill(&[]).is_empty());
    }

    #[test]
    fn consecutive_roles_merge_and_leading_assistant_gets_a_user_turn() {
        let messages = vec![
            Message::assistant(vec![text("Welcome!")]),
            Message::user(vec![text("a")]),
            Message::user(vec![text("b")]),
            Message::assistant(vec![text(" ")]),
            Message::assistant(vec![text("one")]),
            Message::assistant(vec![text("two")]),
            Message::user(vec![text("c")]),
        ];
        let mut t = turns(&messages);
        ensure_alternation(&mut t);
        let roles: Vec<Role> = t.iter().map(Turn::role).collect();
        assert_eq!(
            roles,
            [
                Role::User,
                Role::Assistant,
                Role::User,
                Role::Assistant,
                Role::User
            ]
        );
        assert_eq!(user_text(&t[0]), LEADING_USER_CONTENT);
        assert_eq!(user_text(&t[2]), "a\nb");
        // The blank reconnect text is gone, the rest joined by a blank line.
        assert_eq!(user_text(&t[3]), "one\n\ntwo");
    }

    #[test]
    fn thinking_is_reserialised_before_the_text() {
        let messages = vec![Message::assistant(vec![
            Block::Thinking("let me see".into()),
            text("Answer."),
        ])];
        let mut t = turns(&messages);
        let Turn::Assistant(a) = &mut t[0] else {
            panic!()
        };
        assert_eq!(a.content(), "<thinking>let me see</thinking>\n\nAnswer.");

        let messages = vec![Message::assistant(vec![Block::Thinking("only".into())])];
        let mut t = turns(&messages);
        let Turn::Assistant(a) = &mut t[0] else {
            panic!()
        };
        assert_eq!(a.content(), "<thinking>only</thinking>");
    }

    #[test]
    fn tool_calls_and_results_are_paired_on_adjacent_turns() {
        let messages = vec![
            Message::user(vec![result("ghost", "orphan output"), text("start")]),
            Message::assistant(vec![
                text("calling"),
                call("a", "Bash"),
                call("b", "Read"),
                call("a", "Bash"),
            ]),
            Message::user(vec![
                result("a", "ok"),
                result("a", "dup"),
                result("zzz", "stray"),
            ]),
            Message::assistant(vec![call("c", "Bash")]),
            Message::user(vec![text("never mind")]),
            Message::assistant(vec![call("a", "Bash")]),
            Message::user(vec![result("a", "reused id")]),
        ];
        let mut t = turns(&messages);
        ensure_alternation(&mut t);
        repair_tool_pairing(&mut t);

        // The first turn's orphan result became text, before the user's words.
        assert!(result_ids(&t[0]).is_empty());
        assert_eq!(
            user_text(&t[0]),
            "[Result of an earlier tool call ghost]\norphan output\nstart"
        );
        // `b` was never answered, the duplicate `a` call is gone.
        assert_eq!(call_ids(&t[1]), ["a"]);
        // One answer per call; the stray result is kept as text.
        assert_eq!(result_ids(&t[2]), ["a"]);
        assert!(user_text(&t[2]).contains("stray"));
        // `c` was never answered.
        assert!(call_ids(&t[3]).is_empty());
        // An id reused later is dropped, and its result with it.
        assert!(call_ids(&t[5]).is_empty());
        assert!(result_ids(&t[6]).is_empty());
        assert!(user_text(&t[6]).contains("reused id"));
    }

    #[test]
    fn empty_content_gets_placeholders() {
        let messages = vec![
            Message::user(vec![result("a", "")]),
            Message::user(vec![text("  \n")]),
            Message::assistant(vec![call("a", "Bash")]),
            Message::assistant(vec![]),
            Message::user(vec![Block::ToolResult {
                tool_use_id: "a".into(),
                content: " ".into(),
                is_error: false,
                images: vec![png("aGVsbG8=")],
            }]),
        ];
        let t = turns(&messages);
        let Turn::User(u) = &t[0] else { panic!() };
        assert_eq!(u.tool_results[0].content[0].text, EMPTY_TOOL_RESULT);
        let Turn::User(u) = &t[4] else { panic!() };
        assert_eq!(u.tool_results[0].content[0].text, IMAGE_ONLY_TOOL_RESULT);
        assert_eq!(u.images.len(), 1);

        let mut t = turns(&messages);
        fill_empty_content(&mut t);
        assert_eq!(user_text(&t[1]), EMPTY_USER_CONTENT);
        assert_eq!(user_text(&t[2]), TOOL_USE_ONLY_CONTENT);
        assert_eq!(user_text(&t[3]), EMPTY_ASSISTANT_CONTENT);
    }

    #[test]
    fn non_object_tool_input_becomes_an_object() {
        assert_eq!(*tool_input(&Value::Null), json!({}));
        assert_eq!(*tool_input(&json!("ls")), json!({"input": "ls"}));
        assert!(matches!(tool_input(&json!({"a": 1})), Cow::Borrowed(_)));
    }

    #[test]
    fn images_are_checked() {
        let small = png("aGVsbG8=");
        let ok = check_image(&small, 1, 1, 100).unwrap();
        assert_eq!(ok.format, "png");
        assert_eq!(ok.source.bytes, "aGVsbG8=");
        let jpg = Image {
            media_type: "IMAGE/JPG".into(),
            data: "aGVsbG8=".into(),
        };
        assert_eq!(check_image(&jpg, 1, 1, 100).unwrap().format, "jpeg");

        let bmp = Image {
            media_type: "image/bmp".into(),
            data: "aGVsbG8=".into(),
        };
        let err = check_image(&bmp, 3, 2, 100).unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(
            err.message.contains("Image 2 in message 3"),
            "{}",
            err.message
        );
        assert!(err.message.contains("image/bmp"));

        let big = png(&"A".repeat(4000)); // 3000 bytes decoded
        let err = check_image(&big, 1, 1, 2999).unwrap_err();
        assert!(err.message.contains("Resize"), "{}", err.message);
        assert!(check_image(&big, 1, 1, 3000).is_ok());
        assert!(check_image(&png(""), 1, 1, 100).is_err());
    }

    #[test]
    fn decoded_length_is_exact() {
        for raw in ["", "a", "ab", "abc", "abcd", "hello world!"] {
            let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
            assert_eq!(decoded_len(&encoded), raw.len(), "{raw:?}");
            let unpadded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(raw);
            assert_eq!(decoded_len(&unpadded), raw.len(), "{raw:?}");
        }
    }

    #[test]
    fn repeated_history_images_are_replaced_by_a_note() {
        let messages = vec![
            Message::user(vec![Block::Image(png("AAAA")), Block::Image(png("BBBB"))]),
            Message::assistant(vec![text("seen")]),
            Message::user(vec![Block::Image(png("AAAA")), text("again")]),
        ];
        let mut t = turns(&messages);
        dedupe_history_images(&mut t);
        let Turn::User(first) = &t[0] else { panic!() };
        assert_eq!(first.images.len(), 2);
        let Turn::User(second) = &t[2] else { panic!() };
        assert!(second.images.is_empty());
        let note = second.text.join("\n");
        assert!(note.contains("again"));
        assert!(note.contains(&sha256_hex(b"AAAA")[..12]), "{note}");
    }

    #[test]
    fn documents_become_named_attachments_or_text() {
        let pdf = |name: Option<&str>| {
            Block::Document(Document {
                media_type: "application/pdf".into(),
                data: "JVBERi0=".into(),
                name: name.map(Into::into),
            })
        };
        let txt = Block::Document(Document {
            media_type: "text/plain".into(),
            data: base64::engine::general_purpose::STANDARD.encode("hello doc"),
            name: Some("notes.txt".into()),
        });
        let messages = vec![Message::user(vec![
            pdf(Some("Q3 report (final).pdf")),
            pdf(Some("Q3 report (final).pdf")),
            pdf(None),
            txt,
        ])];
        let t = turns(&messages);
        let Turn::User(u) = &t[0] else { panic!() };
        let names: Vec<&str> = u.documents.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(
            names,
            ["Q3 report -final-", "Q3 report -final--2", "document-3"]
        );
        assert!(u.documents.iter().all(|d| d.format == "pdf"));
        assert!(u.text.join("").contains("hello doc"));

        let bad = vec![Message::user(vec![Block::Document(Document {
            media_type: "application/zip".into(),
            data: "UEs=".into(),
            name: None,
        })])];
        assert!(to_turns(&bad, 100).is_err());
    }

    #[test]
    fn tools_are_deduped_and_history_tools_declared() {
        let tools = Tools::new(vec![
            tool("Bash", "run", json!({"type": "object"})),
            tool("bash", "again", json!({})),
            tool("Read", "read", json!({})),
        ]);
        let declared = tools.declared_names(shorten_tool_name);
        assert_eq!(
            declared.declared,
            [(0, "Bash".to_owned()), (2, "Read".to_owned())],
            "the first of names equal ignoring case wins; each comes with its index"
        );

        let messages = vec![
            Message::user(vec![text("go")]),
            Message::assistant(vec![
                call("1", "READ"),
                call("2", "Grep"),
                call("3", "Grep"),
            ]),
            Message::user(vec![result("1", "x")]),
        ];
        let t = turns(&messages);
        assert_eq!(
            history_tool_names(&t).collect::<Vec<_>>(),
            ["READ", "Grep", "Grep"]
        );

        let set = build_tools(&tools, &t).unwrap();
        let specs: Vec<Value> = set
            .specs
            .iter()
            .map(|s| serde_json::to_value(s).unwrap()["toolSpecification"].take())
            .collect();
        let names: Vec<&str> = specs.iter().map(|s| s["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["Bash", "Read", "Grep"]);
        let grep = &specs[2];
        assert_eq!(grep["description"], HISTORY_TOOL_DESCRIPTION);
        assert_eq!(grep["inputSchema"]["json"], empty_object_schema());
        assert_eq!(
            serde_json::to_string(&empty_object_schema()).unwrap(),
            EMPTY_OBJECT_SCHEMA_JSON
        );
        let read = &specs[1];
        assert_eq!(read["description"], "read");
        assert_eq!(
            read["inputSchema"]["json"],
            empty_object_schema(),
            "`{{}}` reshaped"
        );
        // The list's own tools are rendered once and copied; the history's are per request.
        assert!(matches!(set.specs[0], DeclaredTool::Rendered(_)));
        assert!(matches!(set.specs[2], DeclaredTool::Spec(_)));
        let again = build_tools(&tools, &t).unwrap();
        let (DeclaredTool::Rendered(first), DeclaredTool::Rendered(second)) =
            (&set.specs[1], &again.specs[1])
        else {
            panic!("not rendered");
        };
        assert!(std::ptr::eq(*first, *second), "rendered once per list");
        // Declared once; a call READ finds Read.
        assert_eq!(set.kiro_name("READ"), Some("Read"));
        assert_eq!(set.kiro_name("grep"), Some("Grep"));
        assert_eq!(set.client_name("Grep"), "Grep");
        assert!(set.renamed().is_empty(), "no name differs");
        // The list's names are worked out once, for every request that sends it.
        assert!(std::ptr::eq(
            declared,
            build_tools(&tools.clone(), &[]).unwrap().names
        ));

        let unnamed = Tools::new(vec![tool(" ", "x", json!({}))]);
        assert!(build_tools(&unnamed, &[]).is_err());
    }

    #[test]
    fn history_calls_use_the_declared_names() {
        let long = format!("mcp__Server__{}", "x".repeat(70));
        let tools = Tools::new(vec![tool(&long, "d", json!({}))]);
        let lower = long.to_lowercase();
        let messages = vec![
            Message::user(vec![text("go")]),
            Message::assistant(vec![call("1", &lower), call("2", "Undeclared")]),
            Message::user(vec![result("1", "ok"), result("2", "ok")]),
        ];
        let mut t = turns(&messages);
        let set = build_tools(&tools, &t).unwrap();
        assert_eq!(set.specs.len(), 2);
        rename_history_tool_calls(&mut t, &set);
        let Turn::Assistant(a) = &t[1] else { panic!() };
        assert_eq!(a.tool_uses[0].name, shorten_tool_name(&long));
        assert_eq!(a.tool_uses[1].name, "Undeclared");
    }

    #[test]
    fn long_tool_names_are_shortened_stably() {
        assert_eq!(shorten_tool_name("Bash"), "Bash");
        let exact = "a".repeat(63);
        assert_eq!(shorten_tool_name(&exact), exact.as_str());
        let long = format!("mcp__server__{}", "very_long_tool_name_".repeat(5));
        let short = shorten_tool_name(&long);
        assert_eq!(short.len(), 63);
        assert!(short.starts_with(&long[..54]));
        assert_eq!(&short[54..55], "_");
        assert_eq!(&short[55..], &sha256_hex(long.as_bytes())[..8]);
        assert_eq!(shorten_tool_name(&long), short);
        // Distinct names sharing 54 characters stay distinct.
        let other = format!("{long}x");
        assert_ne!(shorten_tool_name(&other), short);
        // Multi-byte names are cut on a character boundary.
        let wide = "é".repeat(40);
        assert!(shorten_tool_name(&wide).len() <= 63);

        let tools = Tools::new(vec![tool(&long, "d", json!({}))]);
        let set = build_tools(&tools, &[]).unwrap();
        assert_eq!(set.client_name(&short), long);
        assert_eq!(set.renamed(), HashMap::from([(short.into_owned(), long)]));
    }

    #[test]
    fn descriptions_are_limited_and_suffixed() {
        let long = "x".repeat(12_000);
        let limited = limit_description("Bash", &long);
        assert_eq!(limited.len(), TOOL_DESCRIPTION_MAX_LEN);

        let write = limit_description("Write", &long);
        assert!(write.len() <= TOOL_DESCRIPTION_MAX_LEN);
        assert!(write.ends_with(WRITE_TOOL_SUFFIX));
        assert_eq!(
            limit_description("Edit", "Edits."),
            format!("Edits.\n{EDIT_TOOL_SUFFIX}")
        );
        assert_eq!(limit_description("Write", ""), WRITE_TOOL_SUFFIX);
        assert!(matches!(
            limit_description("Read", "Reads."),
            Cow::Borrowed("Reads.")
        ));

        let wide = "é".repeat(6_000); // 12 000 bytes
        let cut = limit_description("Wide", &wide);
        assert!(cut.len() <= TOOL_DESCRIPTION_MAX_LEN && cut.chars().all(|c| c == 'é'));

        assert_eq!(limit_description("Grep", "  "), "Tool: Grep");
    }

    #[test]
    fn schemas_are_reshaped_for_kiro() {
        assert_eq!(*sanitize_schema(&json!("nope")), empty_object_schema());
        assert_eq!(*sanitize_schema(&json!({})), empty_object_schema());

        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": ["object", "null"],
            "properties": {
                "$schema": {"type": "string"},
                "n": {"type": "integer", "minimum": -9007199254740991i64, "maximum": 10, "exclusiveMinimum": 0},
                "flag": {"type": "boolean", "exclusiveMaximum": true},
                "list": {"type": "array", "items": {"$schema": "x", "type": "object", "properties": {}}},
                "enum": {"enum": [{"$schema": "data, not a schema"}]}
            },
            "required": ["n", 5, null],
            "additionalProperties": "yes"
        });
        let clean = sanitize_schema(&schema);
        assert_eq!(clean["type"], "object");
        assert!(clean.get("$schema").is_none());
        assert_eq!(clean["required"], json!(["n"]));
        assert_eq!(clean["additionalProperties"], true);
        // A property *named* `$schema` is data and stays.
        assert!(clean["properties"].get("$schema").is_some());
        let n = &clean["properties"]["n"];
        assert!(n.get("minimum").is_none() && n.get("exclusiveMinimum").is_none());
        assert_eq!(n["maximum"], 10);
        // Boolean (draft-4) exclusive bounds are not numeric and stay.
        assert_eq!(clean["properties"]["flag"]["exclusiveMaximum"], true);
        assert!(clean["properties"]["list"]["items"]
            .get("$schema")
            .is_none());
        assert_eq!(
            clean["properties"]["enum"]["enum"][0]["$schema"],
            "data, not a schema"
        );

        let strict =
            sanitize_schema(&json!({"type": "object", "additionalProperties": false})).into_owned();
        assert_eq!(strict["additionalProperties"], false);
    }

    #[test]
    fn sanitised_schemas_are_borrowed_not_copied() {
        // Claude Code's shape: clean but for the top-level `$schema`.
        let schema = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {"path": {"type": "string"}, "n": {"type": "integer", "minimum": 0}},
            "required": ["path"],
            "additionalProperties": false
        });
        assert!(matches!(sanitize_schema(&schema), Cow::Owned(_)));
        let clean = sanitize_schema(&schema).into_owned();
        assert!(clean.get("$schema").is_none());
        assert!(matches!(sanitize_schema(&clean), Cow::Borrowed(_)));
        assert_eq!(*sanitize_schema(&json!(["x"])), empty_object_schema());
        // A deep `$schema` or a bound out of i32 range is still found.
        let deep = json!({"type": "object", "properties": {"a": {"items": {"$schema": "x"}}},
            "required": [], "additionalProperties": true});
        assert!(matches!(sanitize_schema(&deep), Cow::Owned(_)));
        let wide = json!({"type": "object", "properties": {"a": {"maximum": 1e12}},
            "required": [], "additionalProperties": true});
        assert!(matches!(sanitize_schema(&wide), Cow::Owned(_)));
        let repeated = json!({"type": "object", "properties": {}, "required": ["a", "a"],
            "additionalProperties": true});
        assert_eq!(sanitize_schema(&repeated)["required"], json!(["a"]));
    }

    /// Arbitrary JSON, biased towards the keywords the sanitiser looks at.
    fn schema_like() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let key = prop::sample::select(vec![
            "type",
            "properties",
            "required",
            "additionalProperties",
            "$schema",
            "items",
            "anyOf",
            "oneOf",
            "allOf",
            "minimum",
            "maximum",
            "exclusiveMinimum",
            "a",
            "b",
        ]);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            prop::sample::select(vec!["object", "string", "a", "b"]).prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(key.clone(), inner, 0..6).prop_map(|m| {
                    Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                }),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn sanitising_is_idempotent_and_borrows_its_own_output(schema in schema_like()) {
            let once = sanitize_schema(&schema).into_owned();
            let twice = sanitize_schema(&once);
            proptest::prop_assert!(matches!(twice, Cow::Borrowed(_)));
            // Written straight from the schema or from its reshaped copy, the same bytes.
            proptest::prop_assert_eq!(
                String::from_utf8(kiro_schema_json(&schema)).unwrap(),
                serde_json::to_string(&once).unwrap()
            );
        }
    }

    #[test]
    fn top_level_combinators_are_flattened() {
        let schema = json!({
            "anyOf": [
                {"type": "object", "properties": {"path": {"type": "string"}, "a": {}}, "required": ["path", "a"]},
                {"type": "object", "properties": {"path": {"type": "number"}, "b": {}}, "required": ["path", "b"]}
            ]
        });
        let clean = sanitize_schema(&schema);
        assert!(clean.get("anyOf").is_none());
        assert_eq!(clean["properties"]["path"]["type"], "string");
        assert!(clean["properties"].get("b").is_some());
        assert_eq!(clean["required"], json!(["path"]));

        let schema = json!({
            "properties": {"x": {}},
            "required": ["x"],
            "allOf": [{"properties": {"y": {}}, "required": ["y", "x"]}]
        });
        let clean = sanitize_schema(&schema);
        assert_eq!(clean["required"], json!(["x", "y"]));
    }

    #[test]
    fn thinking_prefixes() {
        let enabled = |budget| ThinkingConfig::Enabled {
            budget_tokens: budget,
        };
        assert_eq!(
            thinking_prefix(&enabled(31_999)),
            "<thinking_mode>enabled</thinking_mode><max_thinking_length>24576</max_thinking_length>"
        );
        assert!(thinking_prefix(&enabled(0)).contains(">20000<"));
        assert!(thinking_prefix(&enabled(8_000)).contains(">8000<"));
        let adaptive = |effort: &str| ThinkingConfig::Adaptive {
            effort: effort.into(),
        };
        assert_eq!(
            thinking_prefix(&adaptive("MAX")),
            "<thinking_mode>adaptive</thinking_mode><thinking_effort>max</thinking_effort>"
        );
        assert!(thinking_prefix(&adaptive("</thinking_effort>")).contains(">high<"));
    }

    #[test]
    fn thinking_models_force_thinking() {
        let model = |id: &str, force| ModelInfo {
            kiro_id: id.into(),
            context_window: 0,
            max_output_tokens: 0,
            force_thinking: force,
        };
        assert_eq!(
            effective_thinking(None, &model("claude-opus-4.6", false)),
            None
        );
        assert_eq!(
            effective_thinking(None, &model("claude-opus-4.6", true)),
            Some(ThinkingConfig::Adaptive {
                effort: "high".into()
            })
        );
        assert_eq!(
            effective_thinking(None, &model("claude-sonnet-4.5", true)),
            Some(ThinkingConfig::Enabled {
                budget_tokens: DEFAULT_THINKING_BUDGET
            })
        );
        let asked = ThinkingConfig::Enabled { budget_tokens: 5 };
        assert_eq!(
            effective_thinking(Some(&asked), &model("claude-opus-4.6", true)),
            Some(asked)
        );
    }

    #[test]
    fn system_prompt_carries_policy_and_thinking_tags() {
        let system = vec![
            "You are helpful.".to_owned(),
            "".to_owned(),
            "Be brief.".to_owned(),
        ];
        let system_prompt = |system: &[String], prefix| system_prompt(system, prefix).join("\n");
        assert_eq!(
            system_prompt(&system, None),
            format!("You are helpful.\nBe brief.\n{CHUNKED_WRITE_POLICY}")
        );
        let with_tags = system_prompt(&system, Some("<thinking_mode>enabled</thinking_mode>"));
        assert!(with_tags.starts_with("<thinking_mode>enabled</thinking_mode>\nYou are helpful."));
        assert_eq!(system_prompt(&[], Some("<t>")), "<t>");
        assert_eq!(system_prompt(&[], None), "");
        // A client that already sends the tags keeps its own.
        let own = vec!["<thinking_mode>adaptive</thinking_mode> go".to_owned()];
        assert!(system_prompt(&own, Some("<x>")).starts_with("<thinking_mode>adaptive"));
        let budget = vec!["a <b> c".to_owned(), "x<max_thinking_length>9".to_owned()];
        assert!(system_prompt(&budget, Some("<x>")).starts_with("a <b>"));
        let other = vec!["<thinking_modes> <thinking_mode".to_owned()];
        assert!(system_prompt(&other, Some("<x>")).starts_with("<x>\n<thinking_modes>"));
        assert!(!has_thinking_tags(CHUNKED_WRITE_POLICY));
    }

    #[test]
    fn tool_choice_and_schema_become_instructions() {
        assert_eq!(tool_choice_instruction(&ToolChoice::Auto, true, None), None);
        assert!(tool_choice_instruction(&ToolChoice::Any, true, None).is_some());
        assert_eq!(tool_choice_instruction(&ToolChoice::Any, false, None), None);
        assert!(tool_choice_instruction(&ToolChoice::None, true, None)
            .unwrap()
            .contains("Do not call"));
        let forced = tool_choice_instruction(
            &ToolChoice::Tool("get_weather".into()),
            true,
            Some("get_weather"),
        );
        assert!(forced.unwrap().contains("`get_weather`"));
        let text = response_schema_instruction(&json!({"type": "object"}));
        assert!(text.contains("{\"type\":\"object\"}") && text.contains("only a JSON"));
    }

    #[test]
    fn native_reasoning_only_for_models_that_take_it() {
        let adaptive = |e: &str| ThinkingConfig::Adaptive { effort: e.into() };
        let enabled = |b| ThinkingConfig::Enabled { budget_tokens: b };
        assert_eq!(
            additional_model_request_fields("claude-opus-4.6", None),
            None
        );
        assert_eq!(
            additional_model_request_fields("claude-opus-4.6", Some(&adaptive("xhigh"))),
            Some(json!({"output_config": {"effort": "high"}}))
        );
        assert_eq!(
            additional_model_request_fields("claude-opus-4.6", Some(&enabled(8000))),
            None
        );
        assert_eq!(
            additional_model_request_fields("claude-sonnet-4.6", Some(&enabled(8000))),
            Some(json!({"output_config": {"effort": "medium"}}))
        );
        assert_eq!(
            additional_model_request_fields("claude-opus-4.7", Some(&adaptive("xhigh"))),
            Some(json!({"output_config": {"effort": "xhigh"}}))
        );
        assert_eq!(
            additional_model_request_fields("gpt-5.6-sol", Some(&adaptive("low"))),
            Some(json!({"reasoning": {"effort": "low"}}))
        );
        assert_eq!(
            additional_model_request_fields("claude-sonnet-4.5", Some(&adaptive("high"))),
            None
        );
        assert_eq!(
            additional_model_request_fields("claude-haiku-4.5", Some(&enabled(1))),
            None
        );
    }
}
