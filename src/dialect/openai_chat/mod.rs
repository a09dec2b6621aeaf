//! The OpenAI Chat Completions API (`/v1/chat/completions`).
//!
//! (Being written: these placeholders keep the crate compiling and answer 501-like errors.)

use super::{RequestHints, ResponseWriter};
use crate::chat::{ChatRequest, ErrorKind, GatewayError, ModelCard, ResponseMeta, StreamEvent};

pub mod request {
    use super::*;

    pub fn parse(_body: &[u8], _hints: &RequestHints) -> Result<ChatRequest, GatewayError> {
        Err(GatewayError::new(ErrorKind::NotFound, "this API is not implemented yet"))
    }
}

pub mod error {
    use super::*;

    pub fn body(err: &GatewayError) -> Vec<u8> {
        serde_json::json!({"error": {"message": err.message, "code": err.status()}}).to_string().into_bytes()
    }
}

struct Unimplemented;

impl ResponseWriter for Unimplemented {
    fn content_type(&self) -> &'static str {
        "application/json"
    }
    fn write(&mut self, _event: &StreamEvent, _out: &mut Vec<u8>) {}
}

pub fn response_writer(_stream: bool, _meta: ResponseMeta) -> Box<dyn ResponseWriter> {
    Box::new(Unimplemented)
}

pub fn models_list(_models: &[ModelCard]) -> Vec<u8> {
    b"{}".to_vec()
}

pub fn count_tokens(_body: &[u8], _hints: &RequestHints) -> Result<Vec<u8>, GatewayError> {
    Err(GatewayError::new(ErrorKind::NotFound, "this API is not implemented yet"))
}
