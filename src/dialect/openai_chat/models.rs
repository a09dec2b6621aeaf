//! `GET /v1/models` in OpenAI's list shape, shared by both OpenAI APIs.

use serde_json::{json, Value};

use crate::chat::ModelCard;

/// Who `owned_by` names: the gateway serves every model, whatever its maker.
const OWNER: &str = "kiro-edge";

/// `{"object":"list","data":[{"id","object":"model","created","owned_by"}]}`.
pub fn models_list(models: &[ModelCard]) -> Vec<u8> {
    let data: Vec<Value> = models
        .iter()
        .map(|m| {
            json!({
                "id": m.id,
                "object": "model",
                "created": m.created,
                "owned_by": OWNER,
            })
        })
        .collect();
    // `Value`'s `Display` is its compact JSON and cannot fail.
    json!({"object": "list", "data": data})
        .to_string()
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_shape() {
        let models = [
            ModelCard {
                id: "claude-sonnet-4-5-20250929".into(),
                display_name: "Claude Sonnet 4.5".into(),
                created: 1_759_104_000,
                context_window: 200_000,
                max_output_tokens: 64_000,
            },
            ModelCard {
                id: "claude-opus-4-8-thinking".into(),
                display_name: "Claude Opus 4.8 (thinking)".into(),
                created: 0,
                context_window: 1_000_000,
                max_output_tokens: 128_000,
            },
        ];
        let v: Value = serde_json::from_slice(&models_list(&models)).unwrap();
        assert_eq!(
            v,
            json!({"object": "list", "data": [
                {"id": "claude-sonnet-4-5-20250929", "object": "model",
                 "created": 1_759_104_000, "owned_by": "kiro-edge"},
                {"id": "claude-opus-4-8-thinking", "object": "model",
                 "created": 0, "owned_by": "kiro-edge"},
            ]})
        );
    }

    #[test]
    fn empty_list() {
        let v: Value = serde_json::from_slice(&models_list(&[])).unwrap();
        assert_eq!(v, json!({"object": "list", "data": []}));
    }
}
