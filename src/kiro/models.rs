//! Client model names → Kiro `modelId`s, and what the gateway lists on `/v1/models`.
//!
//! Clients send Anthropic-style ids (`claude-sonnet-4-5-20250929`, `claude-opus-4-6[1m]`,
//! `claude-opus-4-6-thinking`); Kiro wants dotted ids (`claude-sonnet-4.5`). Rather than
//! pattern-matching substrings, names are normalised structurally, so new Claude versions pass
//! through without a code change while names Kiro cannot serve fail with a clear message.

use std::collections::HashMap;

use crate::chat::{GatewayError, ModelCard};

/// Output limit advertised for every Claude model (what the peers list; Kiro does not say).
pub const DEFAULT_MAX_OUTPUT_TOKENS: u64 = 64_000;

const WINDOW_1M: u64 = 1_000_000;
const WINDOW_200K: u64 = 200_000;
/// The GPT family on Kiro (\[Z\] `get_context_window_size`).
const WINDOW_GPT: u64 = 272_000;

/// Longer names are not model names; refuse them before any work.
const MAX_MODEL_NAME_LEN: usize = 256;

/// Kiro `modelId`s seen in the wild (§5.1). Non-Claude names must be listed here to pass;
/// Claude names are accepted by shape so that new versions need no code change.
const KIRO_MODEL_IDS: &[&str] = &[
    "auto",
    "claude-sonnet-4",
    "claude-sonnet-4.5",
    "claude-sonnet-4.6",
    "claude-haiku-4.5",
    "claude-opus-4.5",
    "claude-opus-4.6",
    "claude-opus-4.7",
    "claude-opus-4.8",
    "claude-sonnet-5",
    "claude-opus-5",
    "claude-fable-5",
    "deepseek-3.2",
    "glm-5",
    "minimax-m2.1",
    "minimax-m2.5",
    "qwen3-coder-next",
    "gpt-5.6-sol",
    "gpt-5.6-terra",
    "gpt-5.6-luna",
];

const CLAUDE_FAMILIES: &[&str] = &["sonnet", "opus", "haiku", "fable", "mythos"];

/// What the gateway needs to know about the model a request resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    /// The `modelId` sent to Kiro, e.g. `claude-sonnet-4.5`.
    pub kiro_id: String,
    /// Tokens, for turning Kiro's context-usage percentage into `input_tokens`.
    pub context_window: u64,
    pub max_output_tokens: u64,
    /// The client's name asked for thinking (`…-thinking`), so it is on even without a
    /// `thinking` field.
    pub force_thinking: bool,
}

/// Operator settings for model resolution.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelSettings {
    /// Client name (matched case-insensitively) → any name `resolve` understands.
    pub aliases: HashMap<String, String>,
    /// Used for names Kiro cannot serve, instead of failing the request.
    pub fallback: Option<String>,
}

/// Resolves a client's model name to a Kiro model.
///
/// Aliases win; then the name is normalised (case, `[1m]`, `-thinking`, `-latest`, date
/// suffix, `4-5` → `4.5`); then `settings.fallback` is tried; otherwise the request is refused
/// with the list of what is supported.
pub fn resolve(client_model: &str, settings: &ModelSettings) -> Result<ModelInfo, GatewayError> {
    let name = client_model.trim();
    if name.is_empty() || name.len() > MAX_MODEL_NAME_LEN || name.chars().any(char::is_control) {
        return Err(GatewayError::invalid(
            "The `model` field is empty or is not a valid model name.",
        ));
    }
    if let Some(info) = resolve_name(name, &settings.aliases) {
        return Ok(info);
    }
    if let Some(info) = settings
        .fallback
        .as_deref()
        .and_then(|fallback| resolve_name(fallback, &settings.aliases))
    {
        // The client still asked for thinking by name even though its model was replaced.
        let force_thinking = info.force_thinking || has_thinking_suffix(name);
        return Ok(ModelInfo {
            force_thinking,
            ..info
        });
    }
    Err(GatewayError::invalid(format!(
        "The model `{}` is not available through this gateway. Supported models: {}. \
         Anthropic-style names such as claude-sonnet-4-5-20250929 or claude-opus-4-6 work too.",
        truncate_for_message(name),
        KIRO_MODEL_IDS.join(", ")
    )))
}

/// Aliases, then normalisation. `None` when Kiro cannot serve the name.
fn resolve_name(name: &str, aliases: &HashMap<String, String>) -> Option<ModelInfo> {
    let aliased = aliases
        .iter()
        .find(|(from, _)| from.trim().eq_ignore_ascii_case(name))
        .map(|(_, to)| to.as_str());
    let target = aliased.unwrap_or(name);
    let kiro_id = normalize(target)?;
    Some(ModelInfo {
        context_window: context_window(&kiro_id),
        max_output_tokens: DEFAULT_MAX_OUTPUT_TOKENS,
        force_thinking: has_thinking_suffix(name) || has_thinking_suffix(target),
        kiro_id,
    })
}

fn has_thinking_suffix(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let lower = lower.trim_end_matches("[1m]");
    // `-thinking` may sit before a date or `-latest` suffix.
    lower.ends_with("-thinking") || lower.contains("-thinking-")
}

/// Turns a client model name into a Kiro `modelId`, or `None` if Kiro cannot serve it.
pub fn normalize(name: &str) -> Option<String> {
    let mut id = name.trim().to_ascii_lowercase();
    if let Some(stripped) = id.strip_suffix("[1m]") {
        id.truncate(stripped.len());
    }
    // Suffixes can stack in any order (`…-20250929-thinking`, `…-thinking-latest`).
    loop {
        let before = id.len();
        for suffix in ["-thinking", "-latest"] {
            if let Some(stripped) = id.strip_suffix(suffix) {
                id.truncate(stripped.len());
            }
        }
        if let Some((base, date)) = id.rsplit_once('-') {
            if date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()) {
                id.truncate(base.len());
            }
        }
        if id.len() == before {
            break;
        }
    }
    if KIRO_MODEL_IDS.contains(&id.as_str()) {
        return Some(id);
    }
    normalize_claude(&id)
}

/// `claude-{family}-{a}[-{b}]`, `claude-{family}-{a}.{b}` and the legacy
/// `claude-{a}[-{b}]-{family}` → `claude-{family}-{a}[.{b}]`. Versions older than what Kiro
/// serves map to the oldest served version of the family.
fn normalize_claude(id: &str) -> Option<String> {
    let body = id.strip_prefix("claude-")?;
    let (family, version) = split_family(body)?;
    let (major, minor) = parse_version(version)?;
    let (major, minor) = match family {
        // Claude 3.x, Opus 4/4.1 and Haiku 3.x are not on Kiro; 4.5 is the closest served.
        "sonnet" if (major, minor) < (4, 0) => (4, 5),
        "opus" | "haiku" if (major, minor) < (4, 5) => (4, 5),
        _ => (major, minor),
    };
    Some(match minor {
        0 => format!("claude-{family}-{major}"),
        _ => format!("claude-{family}-{major}.{minor}"),
    })
}

/// Splits `sonnet-4-5` / `sonnet-4.5` / `3-5-sonnet` into the family and the version text.
fn split_family(body: &str) -> Option<(&'static str, &str)> {
    for &family in CLAUDE_FAMILIES {
        if let Some(rest) = body.strip_prefix(family) {
            return Some((family, rest.strip_prefix('-')?));
        }
        if let Some(rest) = body.strip_suffix(family) {
            return Some((family, rest.strip_suffix('-')?));
        }
    }
    None
}

/// `4`, `4-5`, `4.5` → `(4, 5)`; anything else (extra parts, letters) → `None`.
fn parse_version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.split(['-', '.']);
    let major = parse_small_number(parts.next()?)?;
    let minor = match parts.next() {
        Some(part) => parse_small_number(part)?,
        None => 0,
    };
    if parts.next().is_some() {
        return None;
    }
    Some((major, minor))
}

fn parse_small_number(part: &str) -> Option<u32> {
    if part.is_empty() || part.len() > 2 || !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

/// Context window of a Kiro model, in tokens (§3.4). Getting this wrong scales every reported
/// `input_tokens` and so breaks the clients' auto-compaction.
pub fn context_window(kiro_id: &str) -> u64 {
    let id = kiro_id.to_ascii_lowercase();
    if id.starts_with("gpt") {
        return WINDOW_GPT;
    }
    // 1M arrived with 4.6 (2026-03-24) and every newer Claude version has it.
    match claude_family_version(&id) {
        Some(("haiku", _)) => WINDOW_200K,
        Some((_, version)) if version >= (4, 6) => WINDOW_1M,
        _ => WINDOW_200K,
    }
}

/// `claude-opus-4.6` → `("opus", (4, 6))`; `None` for non-Claude ids.
pub fn claude_family_version(kiro_id: &str) -> Option<(&'static str, (u32, u32))> {
    let (family, version) = kiro_id.strip_prefix("claude-").and_then(split_family)?;
    Some((family, parse_version(version)?))
}

/// The models `/v1/models` lists, in the ids clients send.
pub fn catalog() -> Vec<ModelCard> {
    // (client id, display name, release date as Unix seconds)
    const MODELS: &[(&str, &str, u64)] = &[
        ("claude-opus-4-6", "Claude Opus 4.6", 1_770_249_600),
        ("claude-sonnet-4-6", "Claude Sonnet 4.6", 1_771_286_400),
        ("claude-opus-4-5-20251101", "Claude Opus 4.5", 1_761_955_200),
        (
            "claude-sonnet-4-5-20250929",
            "Claude Sonnet 4.5",
            1_759_104_000,
        ),
        (
            "claude-haiku-4-5-20251001",
            "Claude Haiku 4.5",
            1_759_276_800,
        ),
    ];
    let mut cards = Vec::with_capacity(MODELS.len() * 2);
    for &(id, display_name, created) in MODELS {
        let context_window = normalize(id).map_or(WINDOW_200K, |kiro| context_window(&kiro));
        for thinking in [false, true] {
            let (id, display_name) = if thinking {
                (
                    format!("{id}-thinking"),
                    format!("{display_name} (thinking)"),
                )
            } else {
                (id.to_owned(), display_name.to_owned())
            };
            cards.push(ModelCard {
                id,
                display_name,
                created,
                context_window,
                max_output_tokens: DEFAULT_MAX_OUTPUT_TOKENS,
            });
        }
    }
    cards
}

/// The model list for what the pool can serve: the catalog entries whose Kiro model some
/// account reported in `ListAvailableModels`, plus the reported models the catalog does not
/// name (under their Kiro id). With nothing reported yet, the whole catalog.
pub fn catalog_for(available: &[String]) -> Vec<ModelCard> {
    if available.is_empty() {
        return catalog();
    }
    let mut cards: Vec<ModelCard> = catalog()
        .into_iter()
        .filter(|card| normalize(&card.id).is_some_and(|kiro| available.contains(&kiro)))
        .collect();
    for kiro_id in available {
        let named = cards
            .iter()
            .any(|card| normalize(&card.id).as_deref() == Some(kiro_id.as_str()));
        if !named {
            cards.push(ModelCard {
                id: kiro_id.clone(),
                display_name: kiro_id.clone(),
                created: 0,
                context_window: context_window(kiro_id),
                max_output_tokens: DEFAULT_MAX_OUTPUT_TOKENS,
            });
        }
    }
    cards
}

fn truncate_for_message(name: &str) -> &str {
    match name.char_indices().nth(80) {
        Some((end, _)) => &name[..end],
        None => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::ErrorKind;

    fn kiro(name: &str) -> String {
        resolve(name, &ModelSettings::default())
            .map(|info| info.kiro_id)
            .unwrap_or_else(|e| format!("error: {}", e.message))
    }

    #[test]
    fn anthropic_ids_become_dotted_kiro_ids() {
        assert_eq!(kiro("claude-sonnet-4-5-20250929"), "claude-sonnet-4.5");
        assert_eq!(kiro("claude-sonnet-4-5"), "claude-sonnet-4.5");
        assert_eq!(kiro("claude-sonnet-4.5"), "claude-sonnet-4.5");
        assert_eq!(kiro("claude-opus-4-6"), "claude-opus-4.6");
        assert_eq!(kiro("claude-opus-4-6[1m]"), "claude-opus-4.6");
        assert_eq!(kiro("Claude-Opus-4-6[1M]"), "claude-opus-4.6");
        assert_eq!(kiro("claude-haiku-4-5-20251001"), "claude-haiku-4.5");
        assert_eq!(kiro("claude-sonnet-4-20250514"), "claude-sonnet-4");
        assert_eq!(kiro("claude-sonnet-4-0"), "claude-sonnet-4");
        assert_eq!(kiro("claude-opus-4-7"), "claude-opus-4.7");
        assert_eq!(kiro("claude-sonnet-4-6-latest"), "claude-sonnet-4.6");
    }

    #[test]
    fn thinking_suffix_is_stripped_and_forces_thinking() {
        let info = resolve("claude-opus-4-6-thinking", &ModelSettings::default()).unwrap();
        assert_eq!(info.kiro_id, "claude-opus-4.6");
        assert!(info.force_thinking);
        let info = resolve(
            "claude-sonnet-4-5-20250929-thinking",
            &ModelSettings::default(),
        );
        assert!(info.unwrap().force_thinking);
        let info = resolve("claude-sonnet-4-5", &ModelSettings::default()).unwrap();
        assert!(!info.force_thinking);
    }

    #[test]
    fn legacy_and_old_versions_map_to_served_models() {
        assert_eq!(kiro("claude-3-5-sonnet-20241022"), "claude-sonnet-4.5");
        assert_eq!(kiro("claude-3-7-sonnet-latest"), "claude-sonnet-4.5");
        assert_eq!(kiro("claude-3-5-haiku-20241022"), "claude-haiku-4.5");
        assert_eq!(kiro("claude-3-opus-20240229"), "claude-opus-4.5");
        assert_eq!(kiro("claude-opus-4-1-20250805"), "claude-opus-4.5");
    }

    #[test]
    fn kiro_ids_pass_through() {
        for id in KIRO_MODEL_IDS {
            assert_eq!(kiro(id), *id);
        }
        assert_eq!(kiro("AUTO"), "auto");
    }

    #[test]
    fn unknown_models_are_refused_with_the_supported_list() {
        let err = resolve("gpt-4o", &ModelSettings::default()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidRequest);
        assert!(err.message.contains("gpt-4o"));
        assert!(err.message.contains("claude-sonnet-4.5"));
        assert!(resolve("", &ModelSettings::default()).is_err());
        assert!(resolve("claude-sonnet-four", &ModelSettings::default()).is_err());
        assert!(resolve(&"x".repeat(300), &ModelSettings::default()).is_err());
    }

    #[test]
    fn fallback_serves_unknown_names() {
        let settings = ModelSettings {
            fallback: Some("claude-sonnet-4-5".into()),
            ..Default::default()
        };
        let info = resolve("gpt-4o", &settings).unwrap();
        assert_eq!(info.kiro_id, "claude-sonnet-4.5");
        assert!(!info.force_thinking);
        // A broken fallback still refuses instead of sending garbage upstream.
        let settings = ModelSettings {
            fallback: Some("nonsense".into()),
            ..Default::default()
        };
        assert!(resolve("gpt-4o", &settings).is_err());
    }

    #[test]
    fn aliases_win_case_insensitively() {
        let mut aliases = HashMap::new();
        aliases.insert("My-Model".to_owned(), "claude-opus-4-6".to_owned());
        aliases.insert("gpt-4o".to_owned(), "claude-sonnet-4.6".to_owned());
        let settings = ModelSettings {
            aliases,
            fallback: None,
        };
        assert_eq!(
            resolve("my-model", &settings).unwrap().kiro_id,
            "claude-opus-4.6"
        );
        let info = resolve("GPT-4o", &settings).unwrap();
        assert_eq!(info.kiro_id, "claude-sonnet-4.6");
        assert_eq!(info.context_window, 1_000_000);
    }

    #[test]
    fn context_windows_follow_the_1m_rollout() {
        assert_eq!(context_window("claude-sonnet-4.6"), 1_000_000);
        assert_eq!(context_window("claude-opus-4.6"), 1_000_000);
        assert_eq!(context_window("claude-opus-4.7"), 1_000_000);
        assert_eq!(context_window("claude-sonnet-4.8"), 1_000_000);
        assert_eq!(context_window("claude-opus-5"), 1_000_000);
        assert_eq!(context_window("claude-fable-5"), 1_000_000);
        assert_eq!(context_window("claude-sonnet-4.5"), 200_000);
        assert_eq!(context_window("claude-opus-4.5"), 200_000);
        assert_eq!(context_window("claude-haiku-4.5"), 200_000);
        assert_eq!(context_window("claude-sonnet-4"), 200_000);
        assert_eq!(context_window("auto"), 200_000);
        assert_eq!(context_window("gpt-5.6-sol"), 272_000);
    }

    #[test]
    fn catalog_lists_resolvable_ids_with_thinking_variants() {
        let cards = catalog();
        assert!(cards.iter().any(|c| c.id == "claude-sonnet-4-5-20250929"));
        assert!(cards.iter().any(|c| c.id == "claude-opus-4-6-thinking"));
        for card in &cards {
            let info = resolve(&card.id, &ModelSettings::default()).unwrap();
            assert_eq!(info.context_window, card.context_window, "{}", card.id);
            assert_eq!(info.force_thinking, card.id.ends_with("-thinking"));
        }
    }

    #[test]
    fn the_model_list_follows_what_the_pool_serves() {
        assert_eq!(catalog_for(&[]), catalog());
        let cards = catalog_for(&["claude-sonnet-4.5".to_string(), "deepseek-3.2".to_string()]);
        let ids: Vec<&str> = cards.iter().map(|c| c.id.as_str()).collect();
        assert!(ids.contains(&"claude-sonnet-4-5-20250929"), "{ids:?}");
        assert!(
            ids.contains(&"claude-sonnet-4-5-20250929-thinking"),
            "{ids:?}"
        );
        assert!(ids.contains(&"deepseek-3.2"), "{ids:?}");
        assert!(!ids.iter().any(|id| id.contains("opus")), "{ids:?}");
    }
}
