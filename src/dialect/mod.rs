//! Client dialects: each turns its API's request JSON into a [`ChatRequest`] and renders the
//! canonical [`StreamEvent`]s back in its own wire format (SSE or JSON). Pure: no I/O.

pub mod anthropic;
pub(crate) mod fields;
pub mod gemini;
pub(crate) mod lean;
pub mod openai_chat;
pub mod openai_responses;
#[cfg(test)]
pub(crate) mod testing;
pub(crate) mod tool_cache;
pub(crate) mod transcript;

use crate::chat::{ChatRequest, GatewayError, ModelCard, ResponseMeta, StreamEvent};

/// Which client API a request speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Anthropic,
    OpenAiChat,
    OpenAiResponses,
    Gemini,
}

impl Dialect {
    /// Short name for logs and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Anthropic => "anthropic",
            Dialect::OpenAiChat => "openai_chat",
            Dialect::OpenAiResponses => "openai_responses",
            Dialect::Gemini => "gemini",
        }
    }

    /// Decodes a request body into the canonical model.
    pub fn parse_request(
        self,
        body: &[u8],
        hints: &RequestHints,
    ) -> Result<ChatRequest, GatewayError> {
        match self {
            Dialect::Anthropic => anthropic::request::parse(body, hints),
            Dialect::OpenAiChat => openai_chat::request::parse(body, hints),
            Dialect::OpenAiResponses => openai_responses::request::parse(body, hints),
            Dialect::Gemini => gemini::request::parse(body, hints),
        }
    }

    /// A writer for the response: SSE when `stream`, else one JSON document at the end.
    pub fn response_writer(self, stream: bool, meta: ResponseMeta) -> Box<dyn ResponseWriter> {
        match self {
            Dialect::Anthropic => anthropic::response_writer(stream, meta),
            Dialect::OpenAiChat => openai_chat::response_writer(stream, meta),
            Dialect::OpenAiResponses => openai_responses::response_writer(stream, meta),
            Dialect::Gemini => gemini::response_writer(stream, meta),
        }
    }

    /// The answer to a token-counting request.
    pub fn count_tokens(self, body: &[u8], hints: &RequestHints) -> Result<Vec<u8>, GatewayError> {
        match self {
            Dialect::Anthropic => anthropic::count_tokens::count_tokens(body, hints),
            Dialect::Gemini => gemini::count_tokens(body, hints),
            Dialect::OpenAiChat | Dialect::OpenAiResponses => Err(GatewayError::new(
                crate::chat::ErrorKind::NotFound,
                "this API has no token-counting endpoint",
            )),
        }
    }

    /// The model list in this dialect's shape.
    pub fn models_body(self, models: &[ModelCard]) -> Vec<u8> {
        match self {
            Dialect::Anthropic => anthropic::models::models_list(models),
            // Both OpenAI APIs share one model list.
            Dialect::OpenAiChat | Dialect::OpenAiResponses => openai_chat::models_list(models),
            Dialect::Gemini => gemini::models_list(models),
        }
    }

    /// The JSON error body this dialect's clients understand.
    pub fn error_body(self, err: &GatewayError) -> Vec<u8> {
        match self {
            Dialect::Anthropic => anthropic::error::body(err),
            Dialect::OpenAiChat => openai_chat::error::body(err),
            Dialect::OpenAiResponses => openai_responses::error::body(err),
            Dialect::Gemini => gemini::error::body(err),
        }
    }
}

/// Facts about the request that are not in its JSON body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestHints {
    /// The model named in the URL path (Gemini), if any.
    pub path_model: Option<String>,
    /// Streaming decided by the URL (Gemini `:streamGenerateContent`), if any.
    pub path_stream: Option<bool>,
    /// The raw query string (Gemini's `alt=sse`, `key=`), if any.
    pub query: Option<String>,
    /// A session id from a header (`x-claude-code-session-id`, `session_id`, …).
    pub session_header: Option<String>,
}

/// Renders canonical stream events as a dialect's response bytes.
///
/// The proxy feeds every event in order and sends whatever is appended to `out` at once, so a
/// streaming writer appends bytes as events arrive and a non-streaming one appends its whole
/// JSON document when `Finish` or `Error` arrives.
pub trait ResponseWriter: Send + Sync {
    /// The response's `content-type`.
    fn content_type(&self) -> &'static str;
    /// Appends the bytes for `event` to `out`.
    fn write(&mut self, event: &StreamEvent, out: &mut Vec<u8>);
    /// After `Finish`, the complete response document, for dialects whose responses can be
    /// stored and fetched again (OpenAI Responses `store`), once. `None` for the others, and
    /// when the request asked not to store it.
    fn take_stored_document(&mut self) -> Option<serde_json::Value> {
        None
    }
}
