//! The Anthropic Messages API (`/v1/messages`), as Claude Code and the `anthropic` SDKs speak it.

pub mod error;
pub mod request;
pub mod response;
pub mod stream;

use super::ResponseWriter;
use crate::chat::ResponseMeta;

/// The SSE writer for streams, the `Message` aggregator otherwise.
pub fn response_writer(stream: bool, meta: ResponseMeta) -> Box<dyn ResponseWriter> {
    if stream {
        Box::new(stream::SseWriter::new(meta))
    } else {
        Box::new(response::MessageWriter::new(meta))
    }
}
