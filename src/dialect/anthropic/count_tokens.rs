//! `POST /v1/messages/count_tokens`: answered locally from the token estimate.

use super::request;
use crate::chat::estimate::request_tokens;
use crate::chat::GatewayError;
use crate::dialect::RequestHints;
use crate::json::push_u64;

/// Parses a count_tokens body (same shape as a Messages body, without `max_tokens`) and
/// returns `{"input_tokens":N}`.
pub fn count_tokens(body: &[u8], hints: &RequestHints) -> Result<Vec<u8>, GatewayError> {
    let req = request::parse(body, hints)?;
    let mut out = Vec::with_capacity(32);
    out.extend_from_slice(b"{\"input_tokens\":");
    push_u64(&mut out, request_tokens(&req));
    out.push(b'}');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::ErrorKind;
    use serde_json::{json, Value};

    fn count(body: &Value) -> Result<u64, GatewayError> {
        let out = count_tokens(body.to_string().as_bytes(), &RequestHints::default())?;
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 1);
        Ok(v["input_tokens"].as_u64().unwrap())
    }

    #[test]
    fn counts_without_max_tokens() {
        let small = count(&json!({
            "model": "claude-sonnet-4-5",
            "messages": [{"role": "user", "content": "hi"}],
        }))
        .unwrap();
        assert!(small >= 1);
        let big = count(&json!({
            "model": "claude-sonnet-4-5",
            "system": "You are terse.",
            "messages": [{"role": "user", "content": "hi ".repeat(1000)}],
            "tools": [{"name": "Bash", "input_schema": {"type": "object"}}],
        }))
        .unwrap();
        assert!(big > small + 500, "{big} vs {small}");
    }

    #[test]
    fn bad_body_is_a_400() {
        let err = count(&json!({"model": "m"})).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidRequest);
        assert_eq!(err.message, "messages: field required");
    }
}
