//! (being written) Anthropic SSE writer.
use crate::chat::{ResponseMeta, StreamEvent};
use crate::dialect::ResponseWriter;

pub struct SseWriter;
impl SseWriter {
    pub fn new(_meta: ResponseMeta) -> Self {
        SseWriter
    }
}
impl ResponseWriter for SseWriter {
    fn content_type(&self) -> &'static str {
        "text/event-stream"
    }
    fn write(&mut self, _event: &StreamEvent, _out: &mut Vec<u8>) {}
}
