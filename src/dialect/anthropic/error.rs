//! Anthropic error bodies: `{"type":"error","error":{"type":…,"message":…},"request_id":…}`.
//!
//! The SDKs pick their exception class from the HTTP status and retry 408, 409, 429 and ≥500;
//! Claude Code additionally retries a *mid-stream* `error` event only when its type is
//! `overloaded_error`. So every "try again later" condition that has no more specific type
//! (503: no account free right now, 529) is reported as `overloaded_error`.

use crate::chat::{ErrorKind, GatewayError};
use crate::json::push_json_str;

/// The `error.type` the Anthropic SDKs expect for `kind`.
pub fn error_type(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest
        | ErrorKind::MethodNotAllowed
        | ErrorKind::LengthRequired
        | ErrorKind::RequestTimeout => "invalid_request_error",
        ErrorKind::Authentication => "authentication_error",
        ErrorKind::Permission => "permission_error",
        ErrorKind::NotFound => "not_found_error",
        ErrorKind::PayloadTooLarge => "request_too_large",
        ErrorKind::RateLimited => "rate_limit_error",
        ErrorKind::Internal | ErrorKind::BadGateway => "api_error",
        ErrorKind::Timeout => "timeout_error",
        ErrorKind::Unavailable | ErrorKind::Overloaded => "overloaded_error",
    }
}

/// The HTTP error body, with a fresh `request_id`.
pub fn body(err: &GatewayError) -> Vec<u8> {
    let request_id = uuid::Uuid::new_v4();
    let mut out = Vec::with_capacity(err.message.len() + 120);
    push_error_object(err, &mut out);
    out.extend_from_slice(b",\"request_id\":\"req_");
    let mut id_buf = uuid::Uuid::encode_buffer();
    out.extend_from_slice(request_id.simple().encode_lower(&mut id_buf).as_bytes());
    out.extend_from_slice(b"\"}");
    out
}

/// The mid-stream form: `event: error` plus the error object on one `data:` line.
pub fn sse_error_event(err: &GatewayError) -> Vec<u8> {
    let mut out = Vec::with_capacity(err.message.len() + 100);
    write_sse_error_event(err, &mut out);
    out
}

/// [`sse_error_event`], appended to `out`.
pub(crate) fn write_sse_error_event(err: &GatewayError, out: &mut Vec<u8>) {
    out.extend_from_slice(b"event: error\ndata: ");
    push_error_object(err, out);
    out.extend_from_slice(b"}\n\n");
}

/// Appends `{"type":"error","error":{…}` and leaves the outer object open.
fn push_error_object(err: &GatewayError, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"type\":\"error\",\"error\":{\"type\":\"");
    out.extend_from_slice(error_type(err.kind).as_bytes());
    out.extend_from_slice(b"\",\"message\":");
    push_json_str(out, &err.message);
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::testing::ALL_KINDS;
    use serde_json::Value;

    #[test]
    fn types_follow_the_status_table() {
        let by_status: Vec<(u16, &str)> = ALL_KINDS
            .iter()
            .map(|k| (k.status(), error_type(*k)))
            .collect();
        assert_eq!(
            by_status,
            [
                (400, "invalid_request_error"),
                (401, "authentication_error"),
                (403, "permission_error"),
                (404, "not_found_error"),
                (405, "invalid_request_error"),
                (408, "invalid_request_error"),
                (411, "invalid_request_error"),
                (413, "request_too_large"),
                (429, "rate_limit_error"),
                (500, "api_error"),
                (502, "api_error"),
                (503, "overloaded_error"),
                (504, "timeout_error"),
                (529, "overloaded_error"),
            ]
        );
    }

    #[test]
    fn body_shape() {
        let err = GatewayError::invalid("messages.0.content: \"bad\"\n");
        let v: Value = serde_json::from_slice(&body(&err)).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["message"], "messages.0.content: \"bad\"\n");
        let id = v["request_id"].as_str().unwrap();
        assert!(id.starts_with("req_") && id.len() == 36, "{id}");
        assert_eq!(v.as_object().unwrap().len(), 3);
        // Every body gets its own id.
        let again: Value = serde_json::from_slice(&body(&err)).unwrap();
        assert_ne!(again["request_id"], v["request_id"]);
    }

    #[test]
    fn sse_event_bytes() {
        let err = GatewayError::new(ErrorKind::Overloaded, "Overloaded");
        assert_eq!(
            String::from_utf8(sse_error_event(&err)).unwrap(),
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"
        );
    }
}
