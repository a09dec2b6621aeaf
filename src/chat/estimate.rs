//! Local token estimates, used when Kiro does not report usage.
//!
//! Kiro reports no token counts. Input tokens come from `contextUsageEvent` when it arrives; these
//! estimates are the fallback and the source of `count_tokens`. They follow the heuristic the
//! Kiro community settled on: a Latin character is a quarter token, any other character a whole
//! one, with a small-text correction because short prompts tokenise worse.

use super::{Block, ChatRequest};

/// Estimated tokens of `text`.
pub fn text_tokens(text: &str) -> u64 {
    tokens_from_units(units(text.as_bytes(), &mut false))
}

/// Estimated tokens of a JSON value's compact text (tool schemas and arguments), counted as
/// it is serialised instead of building the string.
fn json_tokens(value: &serde_json::Value) -> u64 {
    // serde_json writes a few bytes at a time; the buffer lets `units` see whole blocks.
    let mut writer = std::io::BufWriter::with_capacity(8 * 1024, UnitCounter::default());
    // Writing into the counter cannot fail, and a `Value` always serialises.
    let _ = serde_json::to_writer(&mut writer, value);
    match writer.into_inner() {
        Ok(counter) => tokens_from_units(counter.units),
        Err(e) => tokens_from_units(e.into_inner().get_ref().units),
    }
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
/// 0xCA, or 0xC9 followed by a byte of at least 0x90 (U+0250 is `C9 90`). `after_c9` carries
/// that case across calls when a text arrives in pieces.
fn units(bytes: &[u8], after_c9: &mut bool) -> u64 {
    let carried = *after_c9 && bytes.first().is_some_and(|&b| b >= 0x90);
    *after_c9 = bytes.last() == Some(&0xC9);
    if bytes.is_ascii() {
        return bytes.len() as u64;
    }
    // Branch-free with byte-wide counters (at most 255 per block), so the compiler turns it
    // into 16-byte vector operations.
    let mut simple = 0u64;
    for block in bytes.chunks(255) {
        let (mut starts, mut wide) = (0u8, 0u8);
        for &b in block {
            starts += u8::from((b as i8) >= -0x40);
            wide += u8::from(b >= 0xCA);
        }
        simple += u64::from(starts) + 3 * u64::from(wide);
    }
    let c9_wide = if bytes.contains(&0xC9) {
        bytes
            .windows(2)
            .filter(|w| matches!(w, [0xC9, next] if *next >= 0x90))
            .count()
    } else {
        0
    };
    simple + 3 * (c9_wide + usize::from(carried)) as u64
}

/// An `io::Write` that only counts [`units`].
#[derive(Default)]
struct UnitCounter {
    units: u64,
    after_c9: bool,
}

impl std::io::Write for UnitCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.units += units(buf, &mut self.after_c9);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
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
                Block::ToolUse { name, input, .. } => text_tokens(name) + json_tokens(input),
                Block::ToolResult {
                    content, images, ..
                } => text_tokens(content) + 1_600 * images.len() as u64,
            };
        }
    }
    for t in &req.tools {
        total += text_tokens(&t.name) + text_tokens(&t.description) + json_tokens(&t.input_schema);
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
        assert_eq!(json_tokens(&value), text_tokens(&value.to_string()));
        // A character split across two writes still counts once, as wide.
        let mut counter = UnitCounter::default();
        std::io::Write::write_all(&mut counter, &[0xC9]).unwrap();
        std::io::Write::write_all(&mut counter, &[0x90]).unwrap();
        assert_eq!(counter.units, 4);
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
        with_tool.tools.push(Tool {
            name: "get_weather".into(),
            description: "Get the weather for a city".into(),
            input_schema: json!({"type":"object","properties":{"city":{"type":"string"}}}),
        });
        assert!(request_tokens(&with_tool) > request_tokens(&base));
        assert!(request_tokens(&ChatRequest::default()) >= 1);
    }
}
