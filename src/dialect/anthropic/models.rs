//! `GET /v1/models`: the served models in the Anthropic list shape.

use serde_json::{json, Value};

use crate::chat::ModelCard;

/// `{"data":[…],"has_more":false,"first_id":…,"last_id":…}`.
///
/// Claude Code's gateway discovery keeps only ids starting with `claude` or `anthropic`; the
/// list is given as is, the configuration decides which ids exist.
pub fn models_list(models: &[ModelCard]) -> Vec<u8> {
    let data: Vec<Value> = models
        .iter()
        .map(|m| {
            json!({
                "type": "model",
                "id": m.id,
                "display_name": m.display_name,
                "created_at": rfc3339(m.created),
                "max_input_tokens": m.context_window,
                "max_tokens": m.max_output_tokens,
            })
        })
        .collect();
    let list = json!({
        "data": data,
        "has_more": false,
        "first_id": models.first().map(|m| m.id.as_str()),
        "last_id": models.last().map(|m| m.id.as_str()),
    });
    // `Value`'s `Display` is its compact JSON and cannot fail.
    list.to_string().into_bytes()
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
fn rfc3339(unix: u64) -> String {
    let days = unix / 86_400;
    let secs = unix % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`,
/// restricted to non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01 so leap days fall at the end of a 400-year era.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_759_104_000), "2025-09-29T00:00:00Z");
        assert_eq!(rfc3339(951_782_400 + 3_661), "2000-02-29T01:01:01Z");
        assert_eq!(rfc3339(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(rfc3339(4_107_542_400), "2100-03-01T00:00:00Z");
    }

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
                id: "claude-opus-4-8".into(),
                display_name: "Claude Opus 4.8".into(),
                created: 0,
                context_window: 1_000_000,
                max_output_tokens: 128_000,
            },
        ];
        let v: Value = serde_json::from_slice(&models_list(&models)).unwrap();
        assert_eq!(
            v["data"][0],
            json!({
                "type": "model",
                "id": "claude-sonnet-4-5-20250929",
                "display_name": "Claude Sonnet 4.5",
                "created_at": "2025-09-29T00:00:00Z",
                "max_input_tokens": 200_000,
                "max_tokens": 64_000,
            })
        );
        assert_eq!(v["data"].as_array().unwrap().len(), 2);
        assert_eq!(v["has_more"], false);
        assert_eq!(v["first_id"], "claude-sonnet-4-5-20250929");
        assert_eq!(v["last_id"], "claude-opus-4-8");
    }

    #[test]
    fn empty_list() {
        let v: Value = serde_json::from_slice(&models_list(&[])).unwrap();
        assert_eq!(
            v,
            json!({"data": [], "has_more": false, "first_id": null, "last_id": null})
        );
    }
}
