//! The Google Gemini API (`generateContent`, `streamGenerateContent`, `countTokens`,
//! `GET /v1beta/models`), as Gemini CLI and the google-genai SDKs speak it.
//!
//! - [`request::parse`]: `GenerateContentRequest` JSON → [`ChatRequest`](crate::chat::ChatRequest).
//! - [`stream::StreamWriter`]: canonical events → `GenerateContentResponse` chunks, as SSE
//!   (`alt=sse`: only `data: <one-line JSON>` frames, which Gemini CLI's parser requires) or as
//!   the incrementally streamed JSON array.
//! - [`response::DocumentWriter`]: canonical events → one `GenerateContentResponse`.
//! - [`error::body`]: the `{"error":{"code","message","status"}}` body.
//! - [`count_tokens`] and [`models_list`]: the two direct answers.

pub mod error;
pub mod models;
pub mod request;
pub mod response;
pub mod schema;
pub mod stream;

pub use models::models_list;

use crate::chat::estimate::{output_tokens, request_tokens};
use crate::chat::{GatewayError, ResponseMeta, StopReason, Usage};
use crate::dialect::transcript::arguments_object;
use crate::dialect::{RequestHints, ResponseWriter};
use crate::json::{push_json_str, push_json_value, push_u64};

/// The chunk writer for `streamGenerateContent`, the document writer otherwise.
pub fn response_writer(stream: bool, meta: ResponseMeta) -> Box<dyn ResponseWriter> {
    if stream {
        Box::new(stream::StreamWriter::new(meta))
    } else {
        Box::new(response::DocumentWriter::new(meta))
    }
}

/// `POST …:countTokens` → `{"totalTokens":N}`, from the local estimate.
pub fn count_tokens(body: &[u8], hints: &RequestHints) -> Result<Vec<u8>, GatewayError> {
    let req = request::parse_count_tokens(body, hints)?;
    let mut out = Vec::with_capacity(32);
    out.extend_from_slice(b"{\"totalTokens\":");
    push_u64(&mut out, request_tokens(&req));
    out.push(b'}');
    Ok(out)
}

/// The wire name of a stop reason. Gemini has no "tool calls" reason: a function call ends
/// with `STOP`.
pub(crate) fn finish_reason_name(reason: StopReason) -> &'static str {
    match reason {
        StopReason::EndTurn | StopReason::ToolUse => "STOP",
        StopReason::MaxTokens | StopReason::ContextWindowExceeded => "MAX_TOKENS",
    }
}

// ---------------------------------------------------------------------------------------------
// `GenerateContentResponse` JSON, written straight into the output buffer. A chunk is
// `{"candidates":[{"content":{"role":"model","parts":[…]}[,"finishReason":…],"index":0}]
// [,"usageMetadata":{…}],"modelVersion":…,"responseId":…}`, always on one line.

/// Opens a response object up to the first part.
pub(crate) fn push_chunk_head(out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[");
}

/// Closes what [`push_chunk_head`] opened; `end` adds the finish reason and the usage.
pub(crate) fn push_chunk_tail(
    meta: &ResponseMeta,
    end: Option<(StopReason, &Usage, u64)>,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(b"]}");
    if let Some((reason, _, _)) = end {
        out.extend_from_slice(b",\"finishReason\":\"");
        out.extend_from_slice(finish_reason_name(reason).as_bytes());
        out.push(b'"');
    }
    out.extend_from_slice(b",\"index\":0}]");
    if let Some((_, usage, thoughts)) = end {
        push_usage(usage, thoughts, out);
    }
    out.extend_from_slice(b",\"modelVersion\":");
    push_json_str(out, &meta.model);
    out.extend_from_slice(b",\"responseId\":");
    push_json_str(out, &meta.id);
    out.push(b'}');
}

/// `,"usageMetadata":{…}`. Kiro's output count covers the reasoning too; Gemini reports the
/// reasoning apart (`thoughtsTokenCount`), and the total is the sum of all three.
fn push_usage(usage: &Usage, thoughts: u64, out: &mut Vec<u8>) {
    let thoughts = thoughts.min(usage.output_tokens);
    let candidates = usage.output_tokens - thoughts;
    out.extend_from_slice(b",\"usageMetadata\":{\"promptTokenCount\":");
    push_u64(out, usage.input_tokens);
    out.extend_from_slice(b",\"candidatesTokenCount\":");
    push_u64(out, candidates);
    out.extend_from_slice(b",\"totalTokenCount\":");
    push_u64(out, usage.input_tokens.saturating_add(usage.output_tokens));
    if thoughts > 0 {
        out.extend_from_slice(b",\"thoughtsTokenCount\":");
        push_u64(out, thoughts);
    }
    out.push(b'}');
}

/// `{"text":…}`, or `{"text":…,"thought":true}` for reasoning.
pub(crate) fn push_text_part(text: &str, thought: bool, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"text\":");
    push_json_str(out, text);
    if thought {
        out.extend_from_slice(b",\"thought\":true");
    }
    out.push(b'}');
}

/// `{"functionCall":{"name":…,"args":{…},"id":…}}`.
pub(crate) fn push_function_call_part(id: &str, name: &str, args: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"functionCall\":{\"name\":");
    push_json_str(out, name);
    out.extend_from_slice(b",\"args\":");
    // Re-serialised rather than copied: the model's JSON may span lines, and SSE data may not.
    push_json_value(out, &arguments_object(id, args));
    out.extend_from_slice(b",\"id\":");
    push_json_str(out, id);
    out.extend_from_slice(b"}}");
}

/// A running estimate of the reasoning's tokens, counted in batches so that per-delta rounding
/// does not add up, in bounded memory.
#[derive(Debug, Default)]
pub(crate) struct ThoughtTokens {
    counted: u64,
    batch: String,
}

impl ThoughtTokens {
    const BATCH_BYTES: usize = 4096;

    pub(crate) fn add(&mut self, text: &str) {
        self.batch.push_str(text);
        if self.batch.len() >= Self::BATCH_BYTES {
            self.counted += output_tokens(&self.batch);
            self.batch.clear();
        }
    }

    pub(crate) fn total(&self) -> u64 {
        self.counted + output_tokens(&self.batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::ErrorKind;
    use serde_json::{json, Value};

    fn meta() -> ResponseMeta {
        ResponseMeta {
            id: "r1".into(),
            model: "gemini-2.5-flash".into(),
            input_tokens: 10,
            created: 0,
            thinking: false,
            echo: None,
            shared_echo: None,
        }
    }

    #[test]
    fn finish_reasons() {
        assert_eq!(finish_reason_name(StopReason::EndTurn), "STOP");
        assert_eq!(finish_reason_name(StopReason::ToolUse), "STOP");
        assert_eq!(finish_reason_name(StopReason::MaxTokens), "MAX_TOKENS");
        assert_eq!(
            finish_reason_name(StopReason::ContextWindowExceeded),
            "MAX_TOKENS"
        );
    }

    #[test]
    fn chunk_bytes() {
        let mut out = Vec::new();
        push_chunk_head(&mut out);
        push_text_part("a\n\"b\"", false, &mut out);
        out.push(b',');
        push_text_part("hm", true, &mut out);
        out.push(b',');
        push_function_call_part("t1", "f", "{\n\"x\": [1,\n2]}", &mut out);
        let usage = Usage {
            input_tokens: 10,
            output_tokens: 7,
            credits: None,
        };
        push_chunk_tail(&meta(), Some((StopReason::ToolUse, &usage, 2)), &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains('\n'));
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            json!({
                "candidates": [{
                    "content": {"role": "model", "parts": [
                        {"text": "a\n\"b\""},
                        {"text": "hm", "thought": true},
                        {"functionCall": {"name": "f", "args": {"x": [1, 2]}, "id": "t1"}}
                    ]},
                    "finishReason": "STOP",
                    "index": 0
                }],
                "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5,
                                  "totalTokenCount": 17, "thoughtsTokenCount": 2},
                "modelVersion": "gemini-2.5-flash",
                "responseId": "r1"
            })
        );
    }

    #[test]
    fn thought_tokens_are_batched() {
        let mut t = ThoughtTokens::default();
        for _ in 0..10_000 {
            t.add("abcd");
        }
        // 40 000 Latin characters ≈ 10 000 tokens, without one token of rounding per delta.
        assert!((10_000..=10_010).contains(&t.total()), "{}", t.total());
        assert!(t.batch.len() < ThoughtTokens::BATCH_BYTES);
    }

    #[test]
    fn count_tokens_answers_total_tokens() {
        let hints = RequestHints {
            path_model: Some("gemini-2.5-flash".into()),
            ..Default::default()
        };
        let count = |body: Value| -> Result<u64, GatewayError> {
            let out = count_tokens(body.to_string().as_bytes(), &hints)?;
            let v: Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(v.as_object().unwrap().len(), 1);
            Ok(v["totalTokens"].as_u64().unwrap())
        };
        let small =
            count(json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})).unwrap();
        let big = count(json!({"generateContentRequest": {
            "model": "models/gemini-2.5-flash",
            "contents": [{"role": "user", "parts": [{"text": "hi ".repeat(1000)}]}],
            "systemInstruction": {"parts": [{"text": "Be terse."}]}
        }}))
        .unwrap();
        assert!(small >= 1);
        assert!(big > small + 500, "{big} vs {small}");
        assert_eq!(count(json!({})).unwrap(), 1, "empty contents count as one");
        let err = count(json!({"contents": {}})).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidRequest);
        assert_eq!(err.message, "contents: expected an array, got an object");
    }
}
