//! OpenAI error bodies: `{"error":{"message":…,"type":…,"param":null,"code":…}}`.
//!
//! The SDKs choose their exception class from the HTTP status alone (`BadRequestError`,
//! `AuthenticationError`, `RateLimitError`, …) and retry 408, 409, 429 and ≥500, so `type` and
//! `code` are for people and logs. Mid-stream, the same object on a `data:` line makes the
//! Python SDK raise `APIError`: it raises on any chunk with a top-level `error` key.
//! Both OpenAI dialects share this shape.

use crate::chat::{ErrorKind, GatewayError};
use crate::json::push_json_str;

/// The `error.type` for `kind`.
pub fn error_type(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest
        | ErrorKind::MethodNotAllowed
        | ErrorKind::LengthRequired
        | ErrorKind::RequestTimeout
        | ErrorKind::PayloadTooLarge => "invalid_request_error",
        ErrorKind::Authentication => "authentication_error",
        ErrorKind::Permission => "permission_error",
        ErrorKind::NotFound => "not_found_error",
        ErrorKind::RateLimited => "rate_limit_error",
        ErrorKind::Internal | ErrorKind::BadGateway | ErrorKind::Timeout => "server_error",
        ErrorKind::Unavailable | ErrorKind::Overloaded => "service_unavailable_error",
    }
}

/// The `error.code` for `kind`, in OpenAI's vocabulary where it has a word for it.
pub fn error_code(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest => "invalid_value",
        ErrorKind::MethodNotAllowed => "method_not_allowed",
        ErrorKind::LengthRequired => "length_required",
        ErrorKind::RequestTimeout => "request_timeout",
        ErrorKind::PayloadTooLarge => "request_too_large",
        ErrorKind::Authentication => "invalid_api_key",
        ErrorKind::Permission => "permission_denied",
        ErrorKind::NotFound => "not_found",
        ErrorKind::RateLimited => "rate_limit_exceeded",
        ErrorKind::Internal => "internal_error",
        ErrorKind::BadGateway => "bad_gateway",
        ErrorKind::Timeout => "timeout",
        ErrorKind::Unavailable => "service_unavailable",
        ErrorKind::Overloaded => "overloaded",
    }
}

/// The HTTP error body.
pub fn body(err: &GatewayError) -> Vec<u8> {
    let mut out = Vec::with_capacity(err.message.len() + 120);
    push_error_body(err, &mut out);
    out
}

/// Appends the error body, `{"error":{…}}`, to `out` (one line: it also serves as an SSE
/// `data:` payload).
pub fn push_error_body(err: &GatewayError, out: &mut Vec<u8>) {
    push_error_body_with_param(err, None, out);
}

/// [`push_error_body`] with `param`, the request field the error is about (OpenAI Responses).
pub(crate) fn push_error_body_with_param(
    err: &GatewayError,
    param: Option<&str>,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(b"{\"error\":{\"message\":");
    push_json_str(out, &err.message);
    out.extend_from_slice(b",\"type\":\"");
    out.extend_from_slice(error_type(err.kind).as_bytes());
    out.extend_from_slice(b"\",\"param\":");
    match param {
        Some(param) => push_json_str(out, param),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"code\":\"");
    out.extend_from_slice(error_code(err.kind).as_bytes());
    out.extend_from_slice(b"\"}}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::testing::ALL_KINDS;
    use serde_json::{json, Value};

    #[test]
    fn types_and_codes_follow_the_status_table() {
        let table: Vec<(u16, &str, &str)> = ALL_KINDS
            .iter()
            .map(|k| (k.status(), error_type(*k), error_code(*k)))
            .collect();
        assert_eq!(
            table,
            [
                (400, "invalid_request_error", "invalid_value"),
                (401, "authentication_error", "invalid_api_key"),
                (403, "permission_error", "permission_denied"),
                (404, "not_found_error", "not_found"),
                (405, "invalid_request_error", "method_not_allowed"),
                (408, "invalid_request_error", "request_timeout"),
                (411, "invalid_request_error", "length_required"),
                (413, "invalid_request_error", "request_too_large"),
                (429, "rate_limit_error", "rate_limit_exceeded"),
                (500, "server_error", "internal_error"),
                (502, "server_error", "bad_gateway"),
                (503, "service_unavailable_error", "service_unavailable"),
                (504, "server_error", "timeout"),
                (529, "service_unavailable_error", "overloaded"),
            ]
        );
    }

    #[test]
    fn body_bytes() {
        let err = GatewayError::invalid("messages[0].content: \"bad\"\n");
        assert_eq!(
            String::from_utf8(body(&err)).unwrap(),
            r#"{"error":{"message":"messages[0].content: \"bad\"\n","type":"invalid_request_error","param":null,"code":"invalid_value"}}"#
        );
    }

    #[test]
    fn every_body_is_valid_json() {
        for kind in ALL_KINDS {
            let v: Value =
                serde_json::from_slice(&body(&GatewayError::new(kind, "m\u{0}\t"))).unwrap();
            assert_eq!(
                v,
                json!({"error": {"message": "m\u{0}\t", "type": error_type(kind),
                                 "param": null, "code": error_code(kind)}})
            );
        }
    }
}
