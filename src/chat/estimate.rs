//! Local token estimates, used when Kiro does not report usage.
//!
//! Kiro reports no token counts. Input tokens come from `contextUsageEvent` when it arrives; these
//! estimates are the fallback and the source of `count_tokens`. They follow the heuristic the
//! Kiro community settled on: a Latin character is a quarter token, any other character a whole
//! one, with a small-text correction because short prompts tokenise worse.

use super::{Block, ChatRequest};

/// Estimated tokens of `text`.
pub fn text_tokens(text: &str) -> u64 {
    tokens_from_units(units(text.as_bytes()))
}

/// Estimated tokens of a JSON value's compact text (tool schemas and arguments). `scratch` is
/// reused from value to value.
fn json_tokens(value: &serde_json::Value, scratch: &mut Vec<u8>) -> u64 {
    scratch.clear();
    crate::json::push_json_value(scratch, value);
    tokens_from_units(units(scratch))
}

fn tokens_from_units(units: u64) -> u64 {
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

/// Units of UTF-8 `bytes`: 1 for a character below U+0250 (Latin), 4 for any other.
///
/// Counted on bytes rather than decoded characters, which is several times faster on the
/// large prompts every request carries: each character is one byte that is not a
/// continuation byte, and the characters from U+0250 up are those whose first byte is at least
/// 0xCA, or 0xC9 followed by a byte of at least 0x90 (U+0250 is `C9 90`).
fn units(bytes: &[u8]) -> u64 {
    if bytes.is_ascii() {
        return bytes.len() as u64;
    }
    // Branch-free with byte-wide counters (at most 255 per block), so the compiler turns it
    // into 16-byte vector operations.
    let mut simple = 0u64;
    // Whether any 0xC9 occurs, noted in the same pass rather than searched for in another.
    let mut c9 = 0u8;
    for block in bytes.chunks(255) {
        let (mut starts, mut wide) = (0u8, 0u8);
        for &b in block {
            starts += u8::from((b as i8) >= -0x40);
            wide += u8::from(b >= 0xCA);
            c9 |= u8::from(b == 0xC9);
        }
        simple += u64::from(starts) + 3 * u64::from(wide);
    }
    let c9_wide = if c9 != 0 {
        bytes
            .windows(2)
            .filter(|w| matches!(w, [0xC9, next] if *next >= 0x90))
            .count()
    } else {
        0
    };
    simple + 3 * c9_wide as u64
}

/// Estimated output tokens of streamed text (≈4 Latin characters or ≈1.5 CJK characters a token).
pub fn output_tokens(text: &str) -> u64 {
    OutputCount::of(text).tokens()
}

/// A running [`output_tokens`] over text that arrives in pieces: adding the pieces one by one
/// gives the same estimate as the whole text at once, without keeping the text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutputCount {
    /// Latin: 1/4 token a char; CJK: 2/3 token a char. Counted in twelfths so both are whole.
    twelfths: u64,
}

impl OutputCount {
    pub fn of(text: &str) -> Self {
        let mut count = OutputCount::default();
        count.add(text);
        count
    }

    pub fn add(&mut self, text: &str) {
        self.twelfths += text
            .chars()
            .map(|c| {
                if ('\u{4E00}'..='\u{9FFF}').contains(&c) {
                    8
                } else {
                    3
                }
            })
            .sum::<u64>();
    }

    pub fn tokens(self) -> u64 {
        self.twelfths.div_ceil(12)
    }
}

/// Estimated input tokens of a whole request: system, messages, tools.
pub fn request_tokens(req: &ChatRequest) -> u64 {
    let mut total = 0u64;
    let mut scratch = Vec::new();
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
                    text_tokens(name) + json_tokens(input, &mut scratch)
                }
                Block::ToolResult {
                    content, images, ..
                } => text_tokens(content) + 1_600 * images.len() as u64,
            };
        }
    }
    // Counted once per shared list: the same tools come on every turn.
    total += req.tools.tokens(|tools| {
        tools
            .iter()
            .map(|t| {
                text_tokens(&t.name)
                    + text_tokens(&t.description)
                    + json_tokens(&t.input_schema, &mut scratch)
            })
            .sum()
    });
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
    fn output_counted_in_pieces_is_counted_as_a_whole() {
        let whole = "ab你c好世界de".repeat(37);
        let mut count = OutputCount::default();
        for piece in whole.split_inclusive(['你', 'c', 'e']) {
            count.add(piece);
        }
        assert_eq!(count.tokens(), output_tokens(&whole));
        assert_eq!(count, OutputCount::of(&whole));
    }

    /// The definition: 1 unit per character below U+0250, 4 for the others.
    fn reference_tokens(text: &str) -> u64 {
        let units = text
            .chars()
            .map(|c| if (c as u32) < 0x0250 { 1 } else { 4 })
            .sum();
        tokens_from_units(units)
    }

    #[test]
    fn byte_counting_matches_the_character_definition() {
        let samples = [
            "",
            "plain ascii",
            "caf\u{e9} na\u{ef}ve \u{24f}\u{250}\u{27f}\u{280}",
            "\u{c9}\u{249}\u{250}x\u{2c9}",
            "emoji \u{1f600} and CJK \u{4f60}\u{597d}",
            "\u{250}",
            "\u{24f}",
        ];
        for s in samples {
            assert_eq!(text_tokens(s), reference_tokens(s), "{s:?}");
            assert_eq!(
                text_tokens(&s.repeat(300)),
                reference_tokens(&s.repeat(300)),
                "{s:?}"
            );
        }
    }

    #[test]
    fn json_values_count_as_their_compact_text() {
        let value =
            json!({"desc": "\u{250}\u{24f} d\u{e9}j\u{e0} vu", "n": [1, 2.5, null], "q": "a\"b\n"});
        let mut scratch = b"left over".to_vec();
        assert_eq!(
            json_tokens(&value, &mut scratch),
            text_tokens(&value.to_string())
        );
    }

    proptest::proptest! {
        #[test]
        fn any_text_matches_the_character_definition(s in "\\PC{0,64}") {
            proptest::prop_assert_eq!(text_tokens(&s), reference_tokens(&s));
        }
    }

    #[test]
    fn request_counts_every_part() {
        let base = ChatRequest {
            messages: vec![Message::user(vec![Block::Text("hi".into())])],
            ..Default::default()
        };
        let mut with_tool = base.clone();
        with_tool.tools.make_mut().push(Tool {
            name: "get_weather".into(),
            description: "Get the weather for a city".into(),
            input_schema: json!({"type":"object","properties":{"city":{"type":"string"}}}),
        });
        assert!(request_tokens(&with_tool) > request_tokens(&base));
        assert!(request_tokens(&ChatRequest::default()) >= 1);
    }
}
