//! `POST /v1/responses/input_tokens`: the estimated prompt size of a Responses request.

use serde_json::json;

use super::request;
use crate::chat::{estimate, GatewayError};
use crate::dialect::RequestHints;

/// `{"object":"response.input_tokens","input_tokens":N}`: the local estimate of the prompt a
/// Responses request would send (Kiro has no counting endpoint).
pub fn input_tokens(body: &[u8], hints: &RequestHints) -> Result<Vec<u8>, GatewayError> {
    let req = request::parse(body, hints)?;
    let tokens = estimate::request_tokens(&req);
    Ok(
        json!({"object": "response.input_tokens", "input_tokens": tokens})
            .to_string()
            .into_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn input_tokens_counts_the_prompt() {
        let body = json!({"model": "m", "instructions": "Be brief.", "input": "hello there"});
        let v: Value = serde_json::from_slice(
            &input_tokens(body.to_string().as_bytes(), &RequestHints::default()).unwrap(),
        )
        .unwrap();
        assert_eq!(v["object"], "response.input_tokens");
        assert!(v["input_tokens"].as_u64().unwrap() > 0);
        assert!(input_tokens(b"{}", &RequestHints::default()).is_err());
    }
}
