//! (being written) Anthropic request → ChatRequest.
use crate::chat::{ChatRequest, GatewayError};
use crate::dialect::RequestHints;

pub fn parse(_body: &[u8], _hints: &RequestHints) -> Result<ChatRequest, GatewayError> {
    Err(GatewayError::invalid("not implemented yet"))
}
