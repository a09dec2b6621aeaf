//! Answers the gateway writes itself, without the upstream.

use crate::chat::GatewayError;
use crate::dialect::Dialect;
use bytes::Bytes;
use pingora_error::{ErrorType, OrErr, Result};
use pingora_http::ResponseHeader;
use pingora_proxy::Session;

/// Writes a complete response with a body.
pub async fn send(
    session: &mut Session,
    status: u16,
    content_type: &str,
    body: Vec<u8>,
    extra: &[(&'static str, String)],
) -> Result<()> {
    let mut resp = ResponseHeader::build(status, Some(4 + extra.len()))?;
    resp.insert_header("content-type", content_type)?;
    resp.insert_header("content-length", body.len().to_string())?;
    for (name, value) in extra {
        resp.insert_header(*name, value.as_str())?;
    }
    let head_only = session.req_header().method == http::Method::HEAD;
    session
        .write_response_header(Box::new(resp), head_only)
        .await
        .or_err(ErrorType::WriteError, "writing a response header")?;
    if !head_only {
        session
            .write_response_body(Some(Bytes::from(body)), true)
            .await
            .or_err(ErrorType::WriteError, "writing a response body")?;
    }
    Ok(())
}

/// Writes `err` in the dialect's error format.
pub async fn error(
    session: &mut Session,
    dialect: Dialect,
    err: &GatewayError,
    request_id: &str,
) -> Result<()> {
    send(
        session,
        err.status(),
        "application/json",
        dialect.error_body(err),
        &error_headers(err, request_id),
    )
    .await
}

/// Headers every error carries: the request id, `retry-after` when known, and
/// `x-should-retry: false` where retrying cannot help (the SDKs honour it).
pub fn error_headers(err: &GatewayError, request_id: &str) -> Vec<(&'static str, String)> {
    let mut headers = vec![("x-request-id", request_id.to_string())];
    if let Some(secs) = err.retry_after {
        headers.push(("retry-after", secs.to_string()));
    }
    if err.status() < 500 && err.status() != 429 && err.status() != 408 {
        headers.push(("x-should-retry", "false".to_string()));
    }
    headers
}
