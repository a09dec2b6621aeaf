//! Reading the whole request body in `request_filter`, so the Kiro request can be built (and
//! the account chosen) before `upstream_peer`.
//!
//! Pingora 0.9.1 forwards a pre-read body only through its 64 KiB retry buffer. The "tail trick"
//! (docs/pingora-body-and-retry.md): arm the retry buffer only once the remaining body fits in
//! it, so the buffer holds the last piece of the body, untruncated. Pingora then replays that
//! piece through `request_body_filter` on every attempt, where we swap in the converted body.
//! This relies on Pingora internals, which is why the version is pinned and an integration
//! test sends a >64 KiB body that is retried.

use crate::chat::{ErrorKind, GatewayError};
use crate::memory;
use bytes::Bytes;
use pingora_error::Error;
use pingora_proxy::Session;

/// Pingora's retry buffer size (`BODY_BUF_LIMIT`, pingora-core v1/common.rs).
const RETRY_BUFFER: usize = 64 * 1024;

pub enum BodyError {
    /// The client sent something we refuse (no length, too large).
    Client(GatewayError),
    /// Reading failed.
    Io(Box<Error>),
}

/// Reads the request body (at most `max` bytes), arming the retry buffer for the tail.
pub async fn read_whole(session: &mut Session, max: usize) -> Result<Bytes, BodyError> {
    let header = session.req_header();
    let length = header
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    let expects_continue = header
        .headers
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let Some(length) = length else {
        if session.is_body_empty() {
            return Ok(Bytes::new());
        }
        return Err(BodyError::Client(GatewayError::new(
            ErrorKind::LengthRequired,
            "the request body needs a Content-Length header (chunked uploads are not supported)",
        )));
    };
    if length > max {
        return Err(BodyError::Client(GatewayError::new(
            ErrorKind::PayloadTooLarge,
            format!("the request body is {length} bytes; this gateway accepts at most {max}"),
        )));
    }
    if expects_continue {
        // We consume the body ourselves, so we owe the client its 100 Continue; without the
        // wrap Pingora would turn keep-alive off for the final response.
        session.set_close_on_response_before_downstream_finish(false);
        session
            .write_continue_response()
            .await
            .map_err(BodyError::Io)?;
        session.set_close_on_response_before_downstream_finish(true);
    }
    let mut buf = memory::buffer(length);
    // Whether the retry buffer was armed when the last piece of the body was read.
    let mut tail_buffered = false;
    loop {
        let armed = length.saturating_sub(buf.len()) <= RETRY_BUFFER;
        if armed {
            session.enable_retry_buffering(); // idempotent
        }
        match session.read_request_body().await.map_err(BodyError::Io)? {
            Some(chunk) => {
                tail_buffered = armed;
                if buf.len() + chunk.len() > length {
                    return Err(BodyError::Client(GatewayError::invalid(
                        "the request body is longer than its Content-Length",
                    )));
                }
                buf.extend_from_slice(&chunk);
            }
            None => break,
        }
    }
    if buf.len() != length {
        return Err(BodyError::Client(GatewayError::invalid(format!(
            "the request body ended after {} of {length} bytes",
            buf.len()
        ))));
    }
    // Asked without `get_retry_buffer`, which returns a copy of the buffer.
    if length > 0 && (!tail_buffered || session.as_ref().retry_buffer_truncated()) {
        // Without the tail in the retry buffer the converted body would never be sent and the
        // request would hang: fail loudly instead.
        return Err(BodyError::Client(GatewayError::new(
            ErrorKind::Internal,
            "the request body could not be staged for the upstream",
        )));
    }
    Ok(memory::into_bytes(buf))
}

/// Decodes a request body sent with `Content-Encoding` (gzip, deflate, zstd; Codex can compress
/// its requests), refusing to inflate past `max` bytes so a small bomb cannot exhaust memory.
pub fn decode(encoding: &str, raw: &[u8], max: usize) -> Result<Vec<u8>, GatewayError> {
    use std::io::Read;
    let encoding = encoding.trim().to_ascii_lowercase();
    let reader: Box<dyn Read + '_> = match encoding.as_str() {
        "" | "identity" => return Ok(raw.to_vec()),
        "gzip" | "x-gzip" => Box::new(flate2::read::MultiGzDecoder::new(raw)),
        "deflate" => Box::new(flate2::read::ZlibDecoder::new(raw)),
        "zstd" => Box::new(zstd::stream::read::Decoder::new(raw).map_err(|e| {
            GatewayError::invalid(format!("the zstd request body cannot be read: {e}"))
        })?),
        other => {
            return Err(GatewayError::invalid(format!(
                "Content-Encoding `{other}` is not supported (use gzip, deflate, zstd or none)"
            )))
        }
    };
    let mut out = Vec::with_capacity(raw.len().saturating_mul(4).min(max));
    reader
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            GatewayError::invalid(format!("the {encoding} request body is corrupt: {e}"))
        })?;
    if out.len() > max {
        return Err(GatewayError::new(
            ErrorKind::PayloadTooLarge,
            format!("the request body inflates to more than {max} bytes"),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const JSON: &[u8] = br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;

    #[test]
    fn gzip_deflate_and_zstd_bodies_are_decoded() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(JSON).unwrap();
        assert_eq!(
            decode("gzip", &gz.finish().unwrap(), 1 << 20).unwrap(),
            JSON
        );
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(JSON).unwrap();
        assert_eq!(
            decode("Deflate", &z.finish().unwrap(), 1 << 20).unwrap(),
            JSON
        );
        let zs = zstd::stream::encode_all(JSON, 3).unwrap();
        assert_eq!(decode("zstd", &zs, 1 << 20).unwrap(), JSON);
        assert_eq!(decode("identity", JSON, 1 << 20).unwrap(), JSON);
    }

    #[test]
    fn bombs_corruption_and_unknown_encodings_are_refused() {
        let zeros = vec![0u8; 10 << 20];
        let bomb = zstd::stream::encode_all(&zeros[..], 19).unwrap();
        assert!(bomb.len() < 10_000);
        let err = decode("zstd", &bomb, 1 << 20).unwrap_err();
        assert_eq!(err.kind, ErrorKind::PayloadTooLarge);
        assert_eq!(
            decode("gzip", b"not gzip", 1 << 20).unwrap_err().kind,
            ErrorKind::InvalidRequest
        );
        assert!(decode("br", JSON, 1 << 20)
            .unwrap_err()
            .message
            .contains("`br`"));
    }
}
