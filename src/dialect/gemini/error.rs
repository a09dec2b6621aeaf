//! Gemini error bodies: `{"error":{"code":429,"message":…,"status":"RESOURCE_EXHAUSTED"}}`.
//!
//! The SDKs choose their exception from the HTTP status (`ClientError` for 4xx, `ServerError`
//! for 5xx) and show `message` and `status`. Gemini CLI reads `details[].retryDelay` of a 429 to
//! decide how long to wait, so a known retry delay travels as `google.rpc.RetryInfo`.

use crate::chat::{ErrorKind, GatewayError};
use crate::json::{push_json_str, push_u64};

/// The `google.rpc.Code` name Google's APIs put in `error.status` for `kind`.
pub fn status_name(kind: ErrorKind) -> &'static str {
    match kind {
        // Google has no codes of their own for these; its front ends call them invalid.
        ErrorKind::InvalidRequest
        | ErrorKind::MethodNotAllowed
        | ErrorKind::LengthRequired
        | ErrorKind::RequestTimeout
        | ErrorKind::PayloadTooLarge => "INVALID_ARGUMENT",
        ErrorKind::Authentication => "UNAUTHENTICATED",
        ErrorKind::Permission => "PERMISSION_DENIED",
        ErrorKind::NotFound => "NOT_FOUND",
        ErrorKind::RateLimited => "RESOURCE_EXHAUSTED",
        ErrorKind::Internal => "INTERNAL",
        // "The model is overloaded" is a 503 UNAVAILABLE at Google.
        ErrorKind::BadGateway | ErrorKind::Unavailable | ErrorKind::Overloaded => "UNAVAILABLE",
        ErrorKind::Timeout => "DEADLINE_EXCEEDED",
    }
}

/// The HTTP error body.
pub fn body(err: &GatewayError) -> Vec<u8> {
    let mut out = Vec::with_capacity(err.message.len() + 160);
    push_error(err, &mut out);
    out
}

/// Appends `{"error":{…}}` (one line, usable as an SSE `data:` or a JSON-array element).
pub(crate) fn push_error(err: &GatewayError, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"error\":{\"code\":");
    push_u64(out, u64::from(err.status()));
    out.extend_from_slice(b",\"message\":");
    push_json_str(out, &err.message);
    out.extend_from_slice(b",\"status\":\"");
    out.extend_from_slice(status_name(err.kind).as_bytes());
    out.push(b'"');
    if let (ErrorKind::RateLimited, Some(secs)) = (err.kind, err.retry_after) {
        out.extend_from_slice(
            b",\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"",
        );
        push_u64(out, secs);
        out.extend_from_slice(b"s\"}]");
    }
    out.extend_from_slice(b"}}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::testing::ALL_KINDS;
    use serde_json::{json, Value};

    fn parsed(err: &GatewayError) -> Value {
        serde_json::from_slice(&body(err)).unwrap()
    }

    #[test]
    fn every_kind_has_its_google_status() {
        let table: Vec<(u16, &str)> = ALL_KINDS
            .iter()
            .map(|k| {
                let v = parsed(&GatewayError::new(*k, "x"));
                (v["error"]["code"].as_u64().unwrap() as u16, status_name(*k))
            })
            .collect();
        assert_eq!(
            table,
            [
                (400, "INVALID_ARGUMENT"),
                (401, "UNAUTHENTICATED"),
                (403, "PERMISSION_DENIED"),
                (404, "NOT_FOUND"),
                (405, "INVALID_ARGUMENT"),
                (408, "INVALID_ARGUMENT"),
                (411, "INVALID_ARGUMENT"),
                (413, "INVALID_ARGUMENT"),
                (429, "RESOURCE_EXHAUSTED"),
                (500, "INTERNAL"),
                (502, "UNAVAILABLE"),
                (503, "UNAVAILABLE"),
                (504, "DEADLINE_EXCEEDED"),
                (529, "UNAVAILABLE"),
            ]
        );
    }

    #[test]
    fn body_shape() {
        let err = GatewayError::invalid("contents[0].parts[1]: \"bad\"\n");
        assert_eq!(
            parsed(&err),
            json!({"error": {"code": 400, "message": "contents[0].parts[1]: \"bad\"\n", "status": "INVALID_ARGUMENT"}})
        );
        assert!(!body(&err).contains(&b'\n'), "one line, for SSE");
    }

    #[test]
    fn rate_limits_carry_the_retry_delay() {
        let err = GatewayError::new(ErrorKind::RateLimited, "slow down").with_retry_after(30);
        assert_eq!(
            String::from_utf8(body(&err)).unwrap(),
            r#"{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"30s"}]}}"#
        );
        // Without a known delay there are no details; other kinds never get them.
        assert!(
            parsed(&GatewayError::new(ErrorKind::RateLimited, "x"))["error"]
                .get("details")
                .is_none()
        );
        let unavailable = GatewayError::new(ErrorKind::Unavailable, "x").with_retry_after(5);
        assert!(parsed(&unavailable)["error"].get("details").is_none());
    }
}
