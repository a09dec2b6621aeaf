//! (being written) Anthropic error bodies.
use crate::chat::GatewayError;

pub fn body(err: &GatewayError) -> Vec<u8> {
    err.message.clone().into_bytes()
}
