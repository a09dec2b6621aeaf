//! Claude-Code-like request bodies of a chosen size, and Codex CLI's captured request, shared
//! by the micro benchmarks and the load harness.
//!
//! The captured Claude Code request (`tests/fixtures/claude-code.tool.messages-tool-result.json`)
//! is about 88 KB: a 29 KB system prompt, 48 KB of tool schemas and a tool-result turn. Larger
//! bodies are that capture with earlier turns added in front, as `tests/anthropic_e2e.rs` does.
//! Smaller ones keep its shape (system blocks, the smallest tools, a user turn) with the bulk
//! trimmed, then padded with turns to the size asked for.

use serde_json::{json, Value};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/claude-code.tool.messages-tool-result.json"
);
const CODEX_FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/codex.tool.responses-tool-result.json"
);
const GEMINI_FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/gemini-cli.tool.streamGenerateContent-tool-result.json"
);

fn capture(path: &str) -> Value {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let capture: Value = serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    capture["body"].clone()
}

fn json_len(v: &Value) -> usize {
    serde_json::to_vec(v).map_or(0, |b| b.len())
}

/// A user/assistant pair of about `chars` characters each.
fn turn(i: usize, chars: usize) -> [Value; 2] {
    let user = "lorem ipsum dolor sit amet ";
    let assistant = "consectetur adipiscing elit ";
    [
        json!({"role": "user", "content": format!("step {i}: {}", user.repeat(chars / user.len() + 1))}),
        json!({"role": "assistant", "content": format!("done {i}: {}", assistant.repeat(chars / assistant.len() + 1))}),
    ]
}

/// Keeps the first `budget` bytes of the system prompt's text blocks.
fn trim_system(system: &mut Value, mut budget: usize) {
    let Some(blocks) = system.as_array_mut() else {
        return;
    };
    blocks.retain_mut(|block| {
        let Some(text) = block.get("text").and_then(Value::as_str) else {
            return true;
        };
        if budget == 0 {
            return false;
        }
        let mut cut = text.len().min(budget);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        budget -= cut;
        block["text"] = Value::String(text[..cut].to_owned());
        true
    });
}

/// A streaming Claude Code `/v1/messages` body of at least `size` bytes (within one padding
/// turn), whose last user message also carries `directive` (e.g. `[[mock:events 50 20]]`).
pub fn claude_code_body(size: usize, directive: &str) -> Value {
    let mut body = capture(FIXTURE);
    body["stream"] = json!(true);
    let mut tail = body["messages"].as_array().cloned().unwrap_or_default();

    if json_len(&body) > size {
        // Smaller than any real Claude Code request: a quarter each for system and tools,
        // the tool-result turn only if it fits.
        let quarter = size / 4;
        trim_system(&mut body["system"], quarter);
        let mut tools = body["tools"].as_array().cloned().unwrap_or_default();
        tools.sort_by_key(json_len);
        let mut used = 0;
        tools.retain(|t| {
            used += json_len(t);
            used <= quarter
        });
        body["tools"] = Value::Array(tools);
        if json_len(&Value::Array(tail.clone())) > quarter {
            tail = vec![
                json!({"role": "user", "content": [{"type": "text", "text": "Fix the failing test in src/lib.rs, please."}]}),
            ];
        }
    }
    if !directive.is_empty() {
        if let Some(Value::Array(content)) = tail.last_mut().map(|m| &mut m["content"]) {
            content.push(json!({"type": "text", "text": directive}));
        }
    }
    body["messages"] = Value::Array(tail.clone());

    let base = json_len(&body);
    let missing = size.saturating_sub(base);
    if missing > 0 {
        // Turns of ~4 KB (as in the e2e test) for big bodies, smaller ones for small bodies.
        let chars = (missing / 2).clamp(16, 2_100);
        let per_turn = json_len(&Value::Array(turn(0, chars).to_vec()));
        let turns = missing.div_ceil(per_turn);
        let mut messages: Vec<Value> = (0..turns).flat_map(|i| turn(i, chars)).collect();
        messages.extend(tail);
        body["messages"] = Value::Array(messages);
    }
    body
}

/// Codex CLI's captured streaming `/v1/responses` body (40 KB: 18 KB of tools, the
/// instructions, a tool call and its output). A non-empty `directive` comes in a user message
/// after the tool's output.
pub fn codex_body(directive: &str) -> Value {
    let mut body = capture(CODEX_FIXTURE);
    // Captured against a gateway that named its model this way; one Kiro knows instead.
    body["model"] = json!("gpt-5.6-sol");
    if !directive.is_empty() {
        if let Some(Value::Array(input)) = body.get_mut("input") {
            input.push(json!({"type": "message", "role": "user",
                "content": [{"type": "input_text", "text": directive}]}));
        }
    }
    body
}

/// Gemini CLI's captured `streamGenerateContent` body (51 KB: its tools, system instruction, a
/// function call and its response), and a model for its URL: one Kiro knows, as Gemini CLI is
/// told to use (`gemini-*` names need the operator's model map).
#[allow(dead_code)] // the load harness sends Claude Code's and Codex's bodies only
pub fn gemini_cli_body() -> (Value, &'static str) {
    (capture(GEMINI_FIXTURE), "claude-sonnet-4.5")
}
