//! `GET /v1beta/models`: the served models in Gemini's list shape.

use serde_json::{json, Value};

use crate::chat::ModelCard;

/// `{"models":[{"name":"models/<id>",…}]}`. Every model is listed on one page, so there is no
/// `nextPageToken`.
pub fn models_list(models: &[ModelCard]) -> Vec<u8> {
    let models: Vec<Value> = models
        .iter()
        .map(|m| {
            json!({
                "name": format!("models/{}", m.id),
                "baseModelId": m.id,
                "version": "001",
                "displayName": m.display_name,
                "description": format!("{}, served through Kiro", m.display_name),
                "inputTokenLimit": m.context_window,
                "outputTokenLimit": m.max_output_tokens,
                "supportedGenerationMethods": ["generateContent", "countTokens"],
            })
        })
        .collect();
    // `Value`'s `Display` is its compact JSON and cannot fail.
    json!({ "models": models }).to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_shape() {
        let cards = [ModelCard {
            id: "claude-sonnet-4-5".into(),
            display_name: "Claude Sonnet 4.5".into(),
            created: 1_759_104_000,
            context_window: 200_000,
            max_output_tokens: 64_000,
        }];
        let v: Value = serde_json::from_slice(&models_list(&cards)).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 1);
        let m = &v["models"][0];
        assert_eq!(m["name"], "models/claude-sonnet-4-5");
        assert_eq!(m["displayName"], "Claude Sonnet 4.5");
        assert_eq!(m["inputTokenLimit"], 200_000);
        assert_eq!(m["outputTokenLimit"], 64_000);
        assert_eq!(
            m["supportedGenerationMethods"],
            json!(["generateContent", "countTokens"])
        );
        let empty: Value = serde_json::from_slice(&models_list(&[])).unwrap();
        assert_eq!(empty, json!({"models": []}));
    }
}
