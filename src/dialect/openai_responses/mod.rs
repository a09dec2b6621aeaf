//! The OpenAI Responses API (`/v1/responses`), as Codex CLI and the `openai` SDKs speak it.
//!
//! - [`request::parse`]: Responses request JSON → [`ChatRequest`](crate::chat::ChatRequest),
//!   with the fields the response object echoes kept in the request's `echo`.
//! - [`stream::SseWriter`]: canonical events → the full Responses event grammar.
//! - [`response::JsonWriter`]: canonical events → one response object (non-streaming).
//! - [`error::body`]: OpenAI's `{"error":{message,type,param,code}}` shape.
//! - [`store`]: the bounded store behind `store:true`, `previous_response_id` and
//!   `GET`/`DELETE /v1/responses/{id}`.
//! - [`models_list`] (shared with Chat Completions) and [`count_tokens()`]
//!   (`/v1/responses/input_tokens`): the direct answers.

pub mod count_tokens;
pub mod error;
mod output;
pub mod request;
pub mod response;
pub mod store;
pub mod stream;
mod tools;

use super::{RequestHints, ResponseWriter};
use crate::chat::{GatewayError, ModelCard, ResponseMeta};

/// Key in [`ChatRequest::echo`](crate::chat::ChatRequest::echo) of the request fields the
/// response object echoes (`instructions`, `store`, `previous_response_id`…). The `tools` list
/// and the tools' wire names travel in
/// [`ChatRequest::shared_echo`](crate::chat::ChatRequest::shared_echo).
pub const ECHO_RESPONSE: &str = "response";
/// Where a writer test's echo holds the tools' wire names (`tools::ToolSet::wire_map`) until
/// `split_echo` moves them to the shared echo, as the parser puts them.
#[cfg(test)]
pub const ECHO_TOOLS: &str = "tool_names";

/// The SSE writer for streams, the response-object aggregator otherwise.
pub fn response_writer(stream: bool, meta: ResponseMeta) -> Box<dyn ResponseWriter> {
    if stream {
        Box::new(stream::SseWriter::new(meta))
    } else {
        Box::new(response::JsonWriter::new(meta))
    }
}

/// `GET /v1/models`: the list both OpenAI APIs share.
pub fn models_list(models: &[ModelCard]) -> Vec<u8> {
    super::openai_chat::models_list(models)
}

/// `POST /v1/responses/input_tokens`: the estimated prompt size of a Responses request.
pub fn count_tokens(body: &[u8], hints: &RequestHints) -> Result<Vec<u8>, GatewayError> {
    count_tokens::input_tokens(body, hints)
}

#[cfg(test)]
mod testing {
    use std::sync::Arc;

    use serde_json::Value;

    use super::{ECHO_RESPONSE, ECHO_TOOLS};
    use crate::chat::SharedEcho;
    use crate::json::SharedJson;

    /// The echo of a writer test, written with its `tools` among the other echoed fields and
    /// the wire names under [`ECHO_TOOLS`], split as the request parser splits it: both into
    /// the shared part.
    pub(super) fn split_echo(echo: Option<Value>) -> (Option<Arc<Value>>, Option<Arc<SharedEcho>>) {
        let Some(mut echo) = echo else {
            return (None, None);
        };
        let tools = echo
            .get_mut(ECHO_RESPONSE)
            .and_then(Value::as_object_mut)
            .and_then(|fields| fields.remove("tools"));
        let tool_names = echo
            .as_object_mut()
            .and_then(|echo| echo.remove(ECHO_TOOLS))
            .unwrap_or_default();
        let shared = SharedEcho {
            tools: tools.map(|tools| Arc::new(SharedJson::new(tools))),
            tool_names,
        };
        (Some(Arc::new(echo)), Some(Arc::new(shared)))
    }
}
