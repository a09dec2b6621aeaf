//! (being written) Anthropic non-streaming Message writer.
use crate::chat::{ResponseMeta, StreamEvent};
use crate::dialect::ResponseWriter;

pub struct MessageWriter;
impl MessageWriter {
    pub fn new(_meta: ResponseMeta) -> Self {
        MessageWriter
    }
}
impl ResponseWriter for MessageWriter {
    fn content_type(&self) -> &'static str {
        "application/json"
    }
    fn write(&mut self, _event: &StreamEvent, _out: &mut Vec<u8>) {}
}
