//! The canonical conversation model.
//!
//! Every client dialect (Anthropic, OpenAI Chat, OpenAI Responses, Gemini) decodes its request
//! into a [`ChatRequest`] and renders [`StreamEvent`]s back into its own wire format, so N
//! dialects need N converters, not N×N. Nothing here knows about Kiro or Pingora.

pub mod error;
pub mod estimate;
pub mod tools;

pub use error::{ErrorKind, GatewayError};
pub use tools::{DeclaredNames, Tools};

use std::sync::Arc;

use serde_json::Value;

use crate::json::SharedJson;

/// A conversation turn to be answered, independent of the client's dialect.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatRequest {
    /// Model name exactly as the client sent it (echoed back in responses).
    pub model: String,
    /// System prompt segments in order. Mid-conversation system messages are appended here.
    pub system: Vec<String>,
    /// The conversation, oldest first. Roles need not alternate yet: the Kiro normaliser
    /// enforces Kiro's rules.
    pub messages: Vec<Message>,
    /// Shared with the other requests that sent the same `tools` bytes ([`Tools`]).
    pub tools: Tools,
    pub tool_choice: ToolChoice,
    pub thinking: Option<ThinkingConfig>,
    /// The client's output limit. Kiro does not take it; kept for usage maths and logs.
    pub max_tokens: Option<u32>,
    pub stream: bool,
    /// The client asked for JSON output matching this JSON Schema (Anthropic
    /// `output_config.format`, OpenAI `response_format`, Gemini `responseJsonSchema`).
    /// Kiro has no such field, so it is honoured by instruction.
    pub response_schema: Option<Value>,
    pub session: SessionHints,
    /// Dialect-private request facts its own response writer needs (OpenAI's `stream_options`,
    /// the Responses request fields echoed in the response object, Gemini's `alt=sse`…). Set by
    /// a dialect's parser, copied to [`ResponseMeta::echo`], read only by that dialect.
    pub echo: Option<Value>,
    /// The part of the echo that requests sending the same tool list share, made once.
    pub shared_echo: Option<Arc<SharedEcho>>,
}

/// What a response writer needs from the request's tool list, derived once per distinct list
/// and shared by every request sending it (`dialect::tool_cache`): Codex sends the
/// same 18 KB list on every turn.
#[derive(Debug, PartialEq, Default)]
pub struct SharedEcho {
    /// The list as sent, written once (the Responses object's `tools`).
    pub tools: Option<Arc<SharedJson>>,
    /// How tools are named on the client's wire where that is not their canonical name
    /// (Responses' namespaced and custom tools): `{"<canonical>": {"name", "namespace"?,
    /// "custom"?}}`.
    pub tool_names: Value,
}

/// What identifies a conversation across turns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SessionHints {
    /// A UUID the client gave for this conversation (e.g. Claude Code's `session_id`);
    /// reused as Kiro's `conversationId` so the upstream sees one conversation.
    pub conversation_id: Option<String>,
    /// Any other stable session key (header or body field), for account stickiness.
    pub session_key: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Block>,
}

impl Message {
    pub fn user(content: Vec<Block>) -> Self {
        Message {
            role: Role::User,
            content,
        }
    }

    pub fn assistant(content: Vec<Block>) -> Self {
        Message {
            role: Role::Assistant,
            content,
        }
    }
}

/// One piece of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Text(String),
    Image(Image),
    Document(Document),
    /// A tool call made by the assistant. `input` is a JSON object.
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    /// The result of a tool call, sent by the user side.
    ToolResult {
        tool_use_id: String,
        /// Text of the result (blocks joined with "\n", other JSON stringified).
        content: String,
        is_error: bool,
        /// Images the tool returned, if any.
        images: Vec<Image>,
    },
    /// Earlier reasoning of the assistant, echoed back by the client.
    Thinking(String),
}

/// An inline image: base64 data without any `data:` prefix.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// e.g. `image/png`.
    pub media_type: String,
    pub data: String,
}

/// An inline document (PDF): base64 data without any `data:` prefix.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// e.g. `application/pdf`.
    pub media_type: String,
    pub data: String,
    pub name: Option<String>,
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments, as the client sent it (sanitised later for Kiro).
    pub input_schema: Value,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub enum ToolChoice {
    #[default]
    Auto,
    /// The model must call some tool.
    Any,
    /// The model must not call tools.
    None,
    /// The model must call this tool.
    Tool(String),
}

/// Requested reasoning.
#[derive(Debug, Clone, PartialEq)]
pub enum ThinkingConfig {
    /// Reason with at most this many tokens.
    Enabled { budget_tokens: u32 },
    /// Let the model decide, at this effort (`low` | `medium` | `high` | `xhigh` | `max`).
    Adaptive { effort: String },
}

/// What the upstream produced, in order, independent of any dialect.
///
/// The Kiro response assembler guarantees this grammar:
/// `Start (TextDelta | ThinkingDelta | ToolCall | Ping)* (Finish | Error)`, where a `ToolCall`
/// is `ToolCallStart ToolCallDelta* ToolCallEnd` with nothing else in between, and a run of
/// `ThinkingDelta`s is never interleaved with text.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// The upstream accepted the request. Always first.
    Start,
    TextDelta(String),
    ThinkingDelta(String),
    /// A tool call begins; `name` is the client's original tool name.
    ToolCallStart {
        id: String,
        name: String,
    },
    /// A fragment of the tool call's JSON arguments (fragments concatenate to a JSON object).
    ToolCallDelta(String),
    ToolCallEnd,
    /// Nothing new, but the client should hear from us (keep-alive).
    Ping,
    /// Normal end. Always last unless `Error` is.
    Finish {
        stop_reason: StopReason,
        usage: Usage,
    },
    /// The stream failed after it started. Always last.
    Error(GatewayError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    EndTurn,
    MaxTokens,
    ToolUse,
    /// The conversation no longer fits the model's context window.
    ContextWindowExceeded,
}

/// Token counts. `input_tokens` comes from Kiro's context usage × the model's window when
/// known, else from a local estimate; `output_tokens` is estimated from the streamed output.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Kiro credits this call consumed (from `meteringEvent`), if reported.
    pub credits: Option<f64>,
}

/// What a response writer knows before the first upstream byte.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseMeta {
    /// Response id in the dialect's own style is derived from this (a UUID v4, no dashes).
    pub id: String,
    /// Model name to echo back (the client's).
    pub model: String,
    /// Estimated prompt tokens (sent where the dialect needs usage up front).
    pub input_tokens: u64,
    /// Unix seconds.
    pub created: u64,
    /// The client asked for thinking (the writer may need to emit signatures or reasoning items).
    pub thinking: bool,
    /// See [`ChatRequest::echo`]. Shared, not copied, by every writer of the response: the
    /// Responses echo carries the request's whole tool list (18 KB from Codex).
    pub echo: Option<Arc<Value>>,
    /// See [`ChatRequest::shared_echo`].
    pub shared_echo: Option<Arc<SharedEcho>>,
}

/// A model the gateway can serve, for the dialects' model lists.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelCard {
    /// The id clients send (e.g. `claude-sonnet-4-5-20250929`).
    pub id: String,
    pub display_name: String,
    /// Unix seconds of release, for `created` fields.
    pub created: u64,
    pub context_window: u64,
    pub max_output_tokens: u64,
}
