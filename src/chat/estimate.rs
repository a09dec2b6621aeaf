//! Local token estimates, used when Kiro does not report usage.
//!
//! Kiro reports no token counts. Input tokens come from `contextUsageEvent` when it arrives; these
//! estimates are the fallback and the source of `count_tokens`. They follow the heuristic the
//! Kiro community settled on: a Latin character is a quarter token, any other character a whole
//! one, with a small-text correction because short prompts tokenise worse.

use super::{Block, ChatRequest};

/// Estimated tokens of `text`.
pub fn text_tokens(text: &str) -> u64 {
    let units: u64 = text
        .chars()
        .map(|c| if (c as u32) < 0x0250 { 1 } else { 4 })
        .sum();
    let tokens = units.div_ceil(4) as f64;
    let factor = match tokens as u64 {
        0..=99 => 1.5,
        100..=199 => 1.3,
        200..=299 => 1.25,
        300..=799 => 1.2,
        _ => 1.0,
    };
    (tokens * factor) as u64
}

/// Estimated output tokens of streamed text (≈4 Latin characters or ≈1.5 CJK characters a token).
pub fn output_tokens(text: &str) -> u64 {
    // Latin: 1/4 token a char; CJK: 2/3 token a char. Work in twelfths.
    let twelfths: u64 = text
        .chars()
        .map(|c| {
            if ('\u{4E00}'..='\u{9FFF}').contains(&c) {
                8
            } else {
                3
            }
        })
        .sum();
    twelfths.div_ceil(12)
}

/// Estimated input tokens of a whole request: system, messages, tools.
pub fn request_tokens(req: &ChatRequest) -> u64 {
    let mut total = 0u64;
    for s in &req.system {
        total += text_tokens(s);
    }
    for m in &req.messages {
        for b in &m.content {
            total += match b {
                Block::Text(t) | Block::Thinking(t) => text_tokens(t),
                // An image costs roughly (w*h)/750 tokens; without decoding, assume a typical
                // 1000x1000 screenshot.
                Block::Image(_) => 1_600,
                Block::Document(d) => (d.data.len() as u64 * 3 / 4) / 4,
                Block::ToolUse { name, input, .. } => {
                    text_tokens(name) + text_tokens(&input.to_string())
                }
                Block::ToolResult {
                    content, images, ..
                } => text_tokens(content) + 1_600 * images.len() as u64,
            };
        }
    }
    for t in &req.tools {
        total += text_tokens(&t.name)
            + text_tokens(&t.description)
            + text_tokens(&t.input_schema.to_string());
    }
    total.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{Message, Tool};
    use serde_json::json;

    #[test]
    fn latin_text_is_about_a_quarter_token_per_char() {
        let text = "a".repeat(4_000);
        assert_eq!(text_tokens(&text), 1_000);
        assert_eq!(text_tokens(""), 0);
        // Short text is scaled up.
        assert_eq!(text_tokens("hello world!"), 4);
    }

    #[test]
    fn cjk_counts_more_than_latin() {
        assert!(text_tokens("你好世界") > text_tokens("abcd"));
        assert_eq!(output_tokens("abcdefgh"), 2);
        assert_eq!(output_tokens("你好世"), 2);
    }

    #[test]
    fn request_counts_every_part() {
        let base = ChatRequest {
            messages: vec![Message::user(vec![Block::Text("hi".into())])],
            ..Default::default()
        };
        let mut with_tool = base.clone();
        with_tool.tools.push(Tool {
            name: "get_weather".into(),
            description: "Get the weather for a city".into(),
            input_schema: json!({"type":"object","properties":{"city":{"type":"string"}}}),
        });
        assert!(request_tokens(&with_tool) > request_tokens(&base));
        assert!(request_tokens(&ChatRequest::default()) >= 1);
    }
}
