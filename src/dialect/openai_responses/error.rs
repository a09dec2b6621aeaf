//! OpenAI error bodies, `{"error":{"message","type","param","code"}}`, and the `error` of a
//! failed response.
//!
//! `type` and `code` are the Chat Completions dialect's (both OpenAI APIs answer alike); this
//! body adds `param`, the field a 400 is about. The SDKs pick their exception class from the
//! HTTP status alone; Codex gives a few codes special meaning in `response.failed`
//! (`context_length_exceeded`, `insufficient_quota`, `rate_limit_exceeded`) and retries any
//! other.

use crate::chat::{ErrorKind, GatewayError};
use crate::dialect::openai_chat::error::push_error_body_with_param;

/// The `code` of a response that failed after it started (`response.failed`).
///
/// Only rate limits keep their own code, so that Codex backs off; everything else is a
/// `server_error`, which Codex retries, as it should for an upstream hiccup.
pub fn failure_code(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::RateLimited => "rate_limit_exceeded",
        ErrorKind::InvalidRequest | ErrorKind::PayloadTooLarge => "invalid_prompt",
        _ => "server_error",
    }
}

/// The HTTP error body.
pub fn body(err: &GatewayError) -> Vec<u8> {
    let mut out = Vec::with_capacity(err.message.len() + 120);
    push_error_body_with_param(err, param(err), &mut out);
    out
}

/// The error for `GET`/`DELETE /v1/responses/{id}` (or `previous_response_id`) naming a
/// response that is not stored, in OpenAI's words.
pub fn response_not_found(id: &str) -> GatewayError {
    GatewayError::new(
        ErrorKind::NotFound,
        format!("Response with id '{id}' not found."),
    )
}

/// The field a 400 is about: the request parser starts its messages with the field's path
/// (`input[2].content[0].image_url: …`), which is what OpenAI's `param` holds.
fn param(err: &GatewayError) -> Option<&str> {
    if err.kind != ErrorKind::InvalidRequest {
        return None;
    }
    let (path, _) = err.message.split_once(": ")?;
    is_field_path(path).then_some(path)
}

/// `name(.name | [digits])*` with identifier-like names.
fn is_field_path(path: &str) -> bool {
    let mut rest = path;
    let mut first = true;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let Some((digits, tail)) = after.split_once(']') else {
                return false;
            };
            if first || digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return false;
            }
            rest = tail;
        } else {
            let body = if first {
                rest
            } else {
                match rest.strip_prefix('.') {
                    Some(body) => body,
                    None => return false,
                }
            };
            let end = body.find(['.', '[']).unwrap_or(body.len());
            let (name, tail) = body.split_at(end);
            if name.is_empty()
                || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                || name.bytes().next().is_some_and(|b| b.is_ascii_digit())
            {
                return false;
            }
            rest = tail;
        }
        first = false;
    }
    !first
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn parsed(err: &GatewayError) -> Value {
        serde_json::from_slice(&body(err)).unwrap()
    }

    #[test]
    fn body_shape_with_param_from_the_field_path() {
        let err =
            GatewayError::invalid("input[2].content[0].image_url: only base64 \"data:\" URLs");
        assert_eq!(
            parsed(&err),
            json!({"error": {
                "message": "input[2].content[0].image_url: only base64 \"data:\" URLs",
                "type": "invalid_request_error",
                "param": "input[2].content[0].image_url",
                "code": "invalid_value",
            }})
        );
        // Messages that do not start with a path have no param.
        for message in [
            "The model `x` is not available: try y",
            "the request body is not valid JSON: EOF",
            "[0]: no",
            "a..b: no",
            "a[x]: no",
            "9a: no",
            "a[1: no",
        ] {
            assert_eq!(
                parsed(&GatewayError::invalid(message))["error"]["param"],
                Value::Null,
                "{message}"
            );
        }
        assert_eq!(
            parsed(&GatewayError::invalid("model: field required"))["error"]["param"],
            "model"
        );
        assert_eq!(
            parsed(&GatewayError::invalid("tools[0].tools[3].name: x"))["error"]["param"],
            "tools[0].tools[3].name"
        );
    }

    #[test]
    fn other_classes_share_the_chat_dialects_types_and_codes() {
        for kind in [
            ErrorKind::Authentication,
            ErrorKind::Permission,
            ErrorKind::NotFound,
            ErrorKind::RateLimited,
            ErrorKind::Internal,
            ErrorKind::Unavailable,
            ErrorKind::Timeout,
            ErrorKind::Overloaded,
        ] {
            // Even a message that looks like a path gives no param outside a 400.
            let err = GatewayError::new(kind, "m: x");
            assert_eq!(
                body(&err),
                crate::dialect::openai_chat::error::body(&err),
                "{kind:?}"
            );
        }
        assert_eq!(failure_code(ErrorKind::RateLimited), "rate_limit_exceeded");
        assert_eq!(failure_code(ErrorKind::InvalidRequest), "invalid_prompt");
        assert_eq!(failure_code(ErrorKind::BadGateway), "server_error");
        assert_eq!(failure_code(ErrorKind::Overloaded), "server_error");
    }

    #[test]
    fn not_found_wording() {
        let err = response_not_found("resp_123");
        assert_eq!(err.status(), 404);
        assert_eq!(
            parsed(&err)["error"]["message"],
            "Response with id 'resp_123' not found."
        );
    }
}
