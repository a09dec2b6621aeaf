//! The AWS event-stream binary framing (`application/vnd.amazon.eventstream`): an encoder (used
//! by the mock upstream and the tests) and an incremental, bounded, zero-copy decoder.
//!
//! Frame layout (all integers big-endian):
//!
//! ```text
//! u32 total_length | u32 headers_length | u32 prelude_crc = crc32(bytes[0..8])
//! headers (headers_length bytes) | payload | u32 message_crc = crc32(bytes[0..total_length-4])
//! ```

use bytes::{Buf, Bytes, BytesMut};
use std::borrow::Cow;
use std::ops::Range;

/// Prelude (two lengths and their CRC) plus the trailing message CRC.
const PRELUDE_LEN: usize = 12;
const MESSAGE_CRC_LEN: usize = 4;
/// The smallest possible frame: no headers, no payload.
pub const MIN_FRAME_LEN: usize = PRELUDE_LEN + MESSAGE_CRC_LEN;

/// A header value, one variant per wire type (0..=9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    BoolTrue,
    BoolFalse,
    Byte(i8),
    Short(i16),
    Int(i32),
    Long(i64),
    Bytes(Bytes),
    String(Cow<'static, str>),
    /// Milliseconds since the Unix epoch.
    Timestamp(i64),
    Uuid([u8; 16]),
}

impl HeaderValue {
    fn type_tag(&self) -> u8 {
        match self {
            HeaderValue::BoolTrue => 0,
            HeaderValue::BoolFalse => 1,
            HeaderValue::Byte(_) => 2,
            HeaderValue::Short(_) => 3,
            HeaderValue::Int(_) => 4,
            HeaderValue::Long(_) => 5,
            HeaderValue::Bytes(_) => 6,
            HeaderValue::String(_) => 7,
            HeaderValue::Timestamp(_) => 8,
            HeaderValue::Uuid(_) => 9,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: Cow<'static, str>,
    pub value: HeaderValue,
}

impl Header {
    fn string(name: &str, value: &str) -> Self {
        Header {
            name: Cow::Owned(name.to_owned()),
            value: HeaderValue::String(Cow::Owned(value.to_owned())),
        }
    }
}

/// One decoded (or to-be-encoded) message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frame {
    pub headers: Vec<Header>,
    pub payload: Bytes,
}

impl Frame {
    /// The value of the first header called `name`, if it is string-typed.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name == name)
            .and_then(|h| match &h.value {
                HeaderValue::String(s) => Some(s.as_ref()),
                _ => None,
            })
    }

    /// Appends the full wire form (prelude, headers, payload, both CRCs) to `out`.
    ///
    /// Names longer than 255 bytes and byte/string values longer than 65535 bytes cannot be
    /// represented; they are truncated, which is the encoder's (test and mock) caller's bug.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        // Placeholder prelude, patched once the lengths are known.
        out.extend_from_slice(&[0u8; PRELUDE_LEN]);
        for h in &self.headers {
            encode_header(h, out);
        }
        let headers_len = out.len() - start - PRELUDE_LEN;
        out.extend_from_slice(&self.payload);
        let total_len = out.len() - start + MESSAGE_CRC_LEN;

        let prelude = &mut out[start..start + PRELUDE_LEN];
        prelude[0..4].copy_from_slice(&(total_len as u32).to_be_bytes());
        prelude[4..8].copy_from_slice(&(headers_len as u32).to_be_bytes());
        let prelude_crc = crc32fast::hash(&prelude[0..8]);
        prelude[8..12].copy_from_slice(&prelude_crc.to_be_bytes());

        let message_crc = crc32fast::hash(&out[start..]);
        out.extend_from_slice(&message_crc.to_be_bytes());
    }

    /// The wire form as a fresh buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

fn encode_header(h: &Header, out: &mut Vec<u8>) {
    let name = truncated(h.name.as_bytes(), u8::MAX as usize);
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.push(h.value.type_tag());
    match &h.value {
        HeaderValue::BoolTrue | HeaderValue::BoolFalse => {}
        HeaderValue::Byte(v) => out.extend_from_slice(&v.to_be_bytes()),
        HeaderValue::Short(v) => out.extend_from_slice(&v.to_be_bytes()),
        HeaderValue::Int(v) => out.extend_from_slice(&v.to_be_bytes()),
        HeaderValue::Long(v) | HeaderValue::Timestamp(v) => out.extend_from_slice(&v.to_be_bytes()),
        HeaderValue::Bytes(b) => encode_short_bytes(b, out),
        HeaderValue::String(s) => encode_short_bytes(s.as_bytes(), out),
        HeaderValue::Uuid(u) => out.extend_from_slice(u),
    }
}

fn encode_short_bytes(b: &[u8], out: &mut Vec<u8>) {
    let b = truncated(b, u16::MAX as usize);
    out.extend_from_slice(&(b.len() as u16).to_be_bytes());
    out.extend_from_slice(b);
}

fn truncated(b: &[u8], max: usize) -> &[u8] {
    b.get(..max).unwrap_or(b)
}

/// An event frame: `:message-type=event`, `:event-type=<t>`, `:content-type=application/json`.
pub fn encode_event(event_type: &str, payload: &[u8]) -> Vec<u8> {
    Frame {
        headers: vec![
            Header::string(":message-type", "event"),
            Header::string(":event-type", event_type),
            Header::string(":content-type", "application/json"),
        ],
        payload: Bytes::copy_from_slice(payload),
    }
    .to_bytes()
}

/// An exception frame: `:message-type=exception`, `:exception-type=<t>`,
/// `:content-type=application/json`.
pub fn encode_exception(exception_type: &str, payload: &[u8]) -> Vec<u8> {
    Frame {
        headers: vec![
            Header::string(":message-type", "exception"),
            Header::string(":exception-type", exception_type),
            Header::string(":content-type", "application/json"),
        ],
        payload: Bytes::copy_from_slice(payload),
    }
    .to_bytes()
}

/// An error frame: `:message-type=error`, `:error-code=<code>`, `:error-message=<message>`, and
/// an empty payload.
pub fn encode_error(code: &str, message: &str) -> Vec<u8> {
    Frame {
        headers: vec![
            Header::string(":message-type", "error"),
            Header::string(":error-code", code),
            Header::string(":error-message", message),
        ],
        payload: Bytes::new(),
    }
    .to_bytes()
}

/// Size limits and the error budget of a [`Decoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecoderLimits {
    /// Largest accepted frame (`total_length`), in bytes.
    pub max_frame_len: usize,
    /// Largest accepted header block, in bytes.
    pub max_headers_len: usize,
    /// Most bytes held at once: one partial frame plus the chunk being fed.
    pub max_buffered: usize,
    /// Consecutive errors after which the decoder gives up for good.
    pub max_consecutive_errors: u32,
}

impl Default for DecoderLimits {
    fn default() -> Self {
        // 16 MiB frames and 128 KiB header blocks are the AWS event-stream limits.
        DecoderLimits {
            max_frame_len: 16 * 1024 * 1024,
            max_headers_len: 128 * 1024,
            max_buffered: 32 * 1024 * 1024,
            max_consecutive_errors: 5,
        }
    }
}

/// Why a header block could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    EmptyName,
    /// A header runs past the end of the header block.
    Truncated,
    UnknownType(u8),
    InvalidUtf8,
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::EmptyName => f.write_str("empty header name"),
            HeaderError::Truncated => f.write_str("header runs past the header block"),
            HeaderError::UnknownType(t) => write!(f, "unknown header value type {t}"),
            HeaderError::InvalidUtf8 => f.write_str("header name or string is not UTF-8"),
        }
    }
}

/// A decoding problem. All but [`DecodeError::TooManyErrors`] are recoverable: the decoder has
/// already skipped the bad bytes and the next [`Decoder::next_frame`] call continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The prelude CRC does not match; one byte was skipped to resynchronise.
    PreludeCrc { expected: u32, computed: u32 },
    /// `total_length` is below the 16-byte minimum or cannot hold the header block; one byte
    /// was skipped.
    InvalidLength { total_len: u32, headers_len: u32 },
    /// `total_length` exceeds the limit; one byte was skipped (nothing was allocated).
    FrameTooLarge { total_len: u32, max: usize },
    /// `headers_length` exceeds the limit; one byte was skipped.
    HeadersTooLarge { headers_len: u32, max: usize },
    /// The message CRC does not match; the whole frame was skipped.
    MessageCrc { expected: u32, computed: u32 },
    /// The header block is malformed; the whole frame was skipped.
    BadHeader(HeaderError),
    /// [`Decoder::feed`] would exceed the buffer bound; the chunk was not taken.
    BufferFull {
        buffered: usize,
        incoming: usize,
        max: usize,
    },
    /// The stream ended inside a frame (from [`Decoder::finish`]).
    Truncated { buffered: usize },
    /// Terminal: too many consecutive errors; `last` is the one that tipped it over. The
    /// decoder drops its buffer and rejects all further input.
    TooManyErrors { count: u32, last: Box<DecodeError> },
}

impl DecodeError {
    /// True when the decoder has stopped and the stream must be abandoned.
    pub fn is_terminal(&self) -> bool {
        matches!(self, DecodeError::TooManyErrors { .. })
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::PreludeCrc { expected, computed } => write!(
                f,
                "prelude CRC mismatch (frame says {expected:#010x}, computed {computed:#010x})"
            ),
            DecodeError::InvalidLength {
                total_len,
                headers_len,
            } => write!(
                f,
                "impossible frame lengths (total {total_len}, headers {headers_len})"
            ),
            DecodeError::FrameTooLarge { total_len, max } => {
                write!(f, "frame of {total_len} bytes exceeds the {max}-byte limit")
            }
            DecodeError::HeadersTooLarge { headers_len, max } => write!(
                f,
                "header block of {headers_len} bytes exceeds the {max}-byte limit"
            ),
            DecodeError::MessageCrc { expected, computed } => write!(
                f,
                "message CRC mismatch (frame says {expected:#010x}, computed {computed:#010x})"
            ),
            DecodeError::BadHeader(e) => write!(f, "malformed header block: {e}"),
            DecodeError::BufferFull {
                buffered,
                incoming,
                max,
            } => write!(
                f,
                "event-stream buffer full ({buffered} buffered + {incoming} incoming > {max})"
            ),
            DecodeError::Truncated { buffered } => {
                write!(
                    f,
                    "stream ended inside a frame ({buffered} bytes left over)"
                )
            }
            DecodeError::TooManyErrors { count, last } => {
                write!(f, "gave up after {count} consecutive errors; last: {last}")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// Header lists up to this capacity are kept by [`Decoder::recycle`] (Kiro's frames carry
/// three headers); a larger one, from an odd frame, is let go.
const MAX_RECYCLED_HEADERS: usize = 8;

/// Chunks at least this long are adopted by [`Decoder::feed_bytes`] rather than copied.
const ADOPT_MIN: usize = 4096;

/// An incremental event-stream decoder: feed it bytes split anywhere, pull whole frames out.
///
/// Payloads are zero-copy slices of the internal buffer. Memory is bounded by
/// [`DecoderLimits::max_buffered`], and a declared frame length is checked against the limit
/// (behind a valid prelude CRC) before any space is reserved for it.
#[derive(Debug)]
pub struct Decoder {
    buf: BytesMut,
    limits: DecoderLimits,
    consecutive_errors: u32,
    stopped: Option<DecodeError>,
    /// A header list handed back by [`Decoder::recycle`], filled by the next frame.
    spare_headers: Vec<Header>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    pub fn new() -> Self {
        Self::with_limits(DecoderLimits::default())
    }

    pub fn with_limits(limits: DecoderLimits) -> Self {
        Decoder {
            buf: BytesMut::new(),
            limits,
            consecutive_errors: 0,
            stopped: None,
            spare_headers: Vec::new(),
        }
    }

    /// Takes back a frame the caller is done with, so that the next frame's headers fill its
    /// header list instead of a new one: on a stream of text events, one allocation fewer per
    /// event.
    pub fn recycle(&mut self, frame: Frame) {
        let mut headers = frame.headers;
        if headers.capacity() <= MAX_RECYCLED_HEADERS {
            headers.clear();
            self.spare_headers = headers;
        }
    }

    /// Appends a chunk of the stream. Rejects it (taking nothing) when the buffer bound would
    /// be exceeded, which a caller draining [`Decoder::next_frame`] after each chunk never hits
    /// with chunks smaller than `max_buffered - max_frame_len`.
    pub fn feed(&mut self, data: &[u8]) -> Result<(), DecodeError> {
        self.check_room(data.len())?;
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// Like [`Decoder::feed`], but adopts a large chunk's allocation instead of copying it
    /// when the buffer is empty and the chunk is uniquely owned. Small chunks (a few words of
    /// text each, most of Kiro's events) are copied: once the frames of the last chunk are
    /// dropped the buffer is reused in place, whereas adopting costs a fresh shared header,
    /// and the old buffer's release, on every chunk.
    pub fn feed_bytes(&mut self, data: Bytes) -> Result<(), DecodeError> {
        self.check_room(data.len())?;
        if self.buf.is_empty() && data.len() >= ADOPT_MIN {
            match data.try_into_mut() {
                Ok(owned) => self.buf = owned,
                Err(shared) => self.buf.extend_from_slice(&shared),
            }
        } else {
            self.buf.extend_from_slice(&data);
        }
        Ok(())
    }

    fn check_room(&self, incoming: usize) -> Result<(), DecodeError> {
        if let Some(err) = &self.stopped {
            return Err(err.clone());
        }
        let buffered = self.buf.len();
        if buffered.saturating_add(incoming) > self.limits.max_buffered {
            return Err(DecodeError::BufferFull {
                buffered,
                incoming,
                max: self.limits.max_buffered,
            });
        }
        Ok(())
    }

    /// Bytes held that are not yet part of a returned frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// True once a terminal error was reported.
    pub fn is_stopped(&self) -> bool {
        self.stopped.is_some()
    }

    /// Call when the stream has ended: reports leftover bytes of an incomplete frame.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if let Some(err) = &self.stopped {
            return Err(err.clone());
        }
        match self.buf.len() {
            0 => Ok(()),
            buffered => Err(DecodeError::Truncated { buffered }),
        }
    }

    /// The next complete frame: `Ok(None)` means more bytes are needed. A recoverable error has
    /// already skipped the bad bytes, so the caller may log it and call again.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, DecodeError> {
        if let Some(err) = &self.stopped {
            return Err(err.clone());
        }
        let Some(&prelude) = self.buf.first_chunk::<PRELUDE_LEN>() else {
            return Ok(None);
        };
        let [t0, t1, t2, t3, h0, h1, h2, h3, c0, c1, c2, c3] = prelude;
        let total_len = u32::from_be_bytes([t0, t1, t2, t3]);
        let headers_len = u32::from_be_bytes([h0, h1, h2, h3]);
        let expected = u32::from_be_bytes([c0, c1, c2, c3]);
        let computed = crc32fast::hash(&[t0, t1, t2, t3, h0, h1, h2, h3]);
        if expected != computed {
            return Err(self.error(DecodeError::PreludeCrc { expected, computed }, 1));
        }
        let (total, headers) = (total_len as usize, headers_len as usize);
        if total > self.limits.max_frame_len {
            let max = self.limits.max_frame_len;
            return Err(self.error(DecodeError::FrameTooLarge { total_len, max }, 1));
        }
        if headers > self.limits.max_headers_len {
            let max = self.limits.max_headers_len;
            return Err(self.error(DecodeError::HeadersTooLarge { headers_len, max }, 1));
        }
        if total < MIN_FRAME_LEN || headers > total - MIN_FRAME_LEN {
            let err = DecodeError::InvalidLength {
                total_len,
                headers_len,
            };
            return Err(self.error(err, 1));
        }
        if self.buf.len() < total {
            // The length is vouched for by the prelude CRC and within limits: make room once
            // rather than growing step by step while a large payload trickles in.
            self.buf.reserve(total - self.buf.len());
            return Ok(None);
        }

        let frame = self.buf.split_to(total).freeze();
        let body_end = total - MESSAGE_CRC_LEN;
        let (body, crc) = frame
            .split_last_chunk::<MESSAGE_CRC_LEN>()
            .unwrap_or((&[], &[0; MESSAGE_CRC_LEN])); // unreachable: total >= MIN_FRAME_LEN
        let expected = u32::from_be_bytes(*crc);
        let computed = crc32fast::hash(body);
        if expected != computed {
            return Err(self.error(DecodeError::MessageCrc { expected, computed }, 0));
        }
        let headers_end = PRELUDE_LEN + headers;
        let spare = std::mem::take(&mut self.spare_headers);
        let headers = match parse_headers(&frame, PRELUDE_LEN..headers_end, spare) {
            Ok(h) => h,
            Err(e) => return Err(self.error(DecodeError::BadHeader(e), 0)),
        };
        self.consecutive_errors = 0;
        Ok(Some(Frame {
            headers,
            payload: frame.slice(headers_end..body_end),
        }))
    }

    /// Skips `skip` bytes (the frame itself was already split off when 0) and counts the
    /// error, turning it terminal once the budget is spent.
    fn error(&mut self, err: DecodeError, skip: usize) -> DecodeError {
        self.buf.advance(skip.min(self.buf.len()));
        self.consecutive_errors = self.consecutive_errors.saturating_add(1);
        if self.consecutive_errors < self.limits.max_consecutive_errors {
            return err;
        }
        let terminal = DecodeError::TooManyErrors {
            count: self.consecutive_errors,
            last: Box::new(err),
        };
        self.buf = BytesMut::new();
        self.stopped = Some(terminal.clone());
        terminal
    }
}

/// Parses the header block at `range` of `frame` into `headers` (emptied first); `Bytes`
/// values are zero-copy slices of `frame`. Names and strings are read from borrowed bytes:
/// taking a `Bytes` slice for each would cost two atomic reference-count operations per
/// header, which dominated decoding.
fn parse_headers(
    frame: &Bytes,
    range: Range<usize>,
    mut headers: Vec<Header>,
) -> Result<Vec<Header>, HeaderError> {
    let block = frame.get(range).ok_or(HeaderError::Truncated)?;
    headers.clear();
    // Kiro's event frames carry three headers.
    headers.reserve(3);
    if let Some(event_type) = kiro_event_type(block) {
        headers.extend([
            Header {
                name: Cow::Borrowed(":message-type"),
                value: HeaderValue::String(Cow::Borrowed("event")),
            },
            Header {
                name: Cow::Borrowed(":event-type"),
                value: HeaderValue::String(utf8(event_type)?),
            },
            Header {
                name: Cow::Borrowed(":content-type"),
                value: HeaderValue::String(Cow::Borrowed("application/json")),
            },
        ]);
        return Ok(headers);
    }
    parse_each_header(frame, block, &mut headers)?;
    Ok(headers)
}

/// The general path of [`parse_headers`]: the block header by header.
fn parse_each_header(
    frame: &Bytes,
    block: &[u8],
    headers: &mut Vec<Header>,
) -> Result<(), HeaderError> {
    let mut cursor = Cursor { block, pos: 0 };
    while cursor.pos < block.len() {
        let name_len = cursor.u8()? as usize;
        if name_len == 0 {
            return Err(HeaderError::EmptyName);
        }
        let name = utf8(cursor.take(name_len)?)?;
        let value = match cursor.u8()? {
            0 => HeaderValue::BoolTrue,
            1 => HeaderValue::BoolFalse,
            2 => HeaderValue::Byte(i8::from_be_bytes(cursor.array()?)),
            3 => HeaderValue::Short(i16::from_be_bytes(cursor.array()?)),
            4 => HeaderValue::Int(i32::from_be_bytes(cursor.array()?)),
            5 => HeaderValue::Long(i64::from_be_bytes(cursor.array()?)),
            6 => {
                let len = u16::from_be_bytes(cursor.array()?) as usize;
                HeaderValue::Bytes(frame.slice_ref(cursor.take(len)?))
            }
            7 => {
                let len = u16::from_be_bytes(cursor.array()?) as usize;
                HeaderValue::String(utf8(cursor.take(len)?)?)
            }
            8 => HeaderValue::Timestamp(i64::from_be_bytes(cursor.array()?)),
            9 => HeaderValue::Uuid(cursor.array()?),
            other => return Err(HeaderError::UnknownType(other)),
        };
        headers.push(Header { name, value });
    }
    Ok(())
}

/// The header block of Kiro's event frames, around the event type's name: `:message-type`
/// `event`, `:event-type` (a string whose length's high byte is 0), then after the name
/// `:content-type` `application/json`.
const EVENT_BLOCK_HEAD: &[u8] = b"\x0d:message-type\x07\x00\x05event\x0b:event-type\x07\x00";
const EVENT_BLOCK_TAIL: &[u8] = b"\x0d:content-type\x07\x00\x10application/json";

/// The event type's bytes when `block` is laid out exactly as Kiro's event frames are: such a
/// block is read by two comparisons rather than header by header.
fn kiro_event_type(block: &[u8]) -> Option<&[u8]> {
    let rest = block.strip_prefix(EVENT_BLOCK_HEAD)?;
    let (&len, rest) = rest.split_first()?;
    let (event_type, tail) = rest.split_at_checked(usize::from(len))?;
    (tail == EVENT_BLOCK_TAIL).then_some(event_type)
}

/// A bounds-checked reader over a header block.
struct Cursor<'a> {
    block: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], HeaderError> {
        let end = self.pos.checked_add(n).ok_or(HeaderError::Truncated)?;
        let out = self
            .block
            .get(self.pos..end)
            .ok_or(HeaderError::Truncated)?;
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], HeaderError> {
        let bytes = self
            .block
            .get(self.pos..)
            .and_then(|rest| rest.first_chunk::<N>())
            .copied()
            .ok_or(HeaderError::Truncated)?;
        self.pos += N;
        Ok(bytes)
    }

    fn u8(&mut self) -> Result<u8, HeaderError> {
        let [b] = self.array::<1>()?;
        Ok(b)
    }
}

/// Header names and string values Kiro puts on every frame: decoding them allocates nothing.
const KNOWN_STRINGS: [&str; 16] = [
    ":message-type",
    ":event-type",
    ":content-type",
    "event",
    "application/json",
    "assistantResponseEvent",
    "toolUseEvent",
    "contextUsageEvent",
    "meteringEvent",
    "metadataEvent",
    "reasoningContentEvent",
    ":exception-type",
    "exception",
    ":error-code",
    ":error-message",
    "error",
];

fn utf8(b: &[u8]) -> Result<Cow<'static, str>, HeaderError> {
    if let Some(known) = KNOWN_STRINGS.iter().find(|k| k.as_bytes() == b) {
        return Ok(Cow::Borrowed(known));
    }
    std::str::from_utf8(b)
        .map(|s| Cow::Owned(s.to_owned()))
        .map_err(|_| HeaderError::InvalidUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seven §6.2 vectors (validated with botocore), as hex.
    const VECTORS: [&str; 7] = [
        "0000007c0000005c3bddcf780d3a6d6573736167652d747970650700056576656e740b3a6576656e742d74797065070016617373697374616e74526573706f6e73654576656e740d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e7b22636f6e74656e74223a224869227d09f66f51",
        "000000a7000000522240ac370d3a6d6573736167652d747970650700056576656e740b3a6576656e742d7479706507000c746f6f6c5573654576656e740d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e7b226e616d65223a226765745f77656174686572222c22746f6f6c5573654964223a22746f6f6c7573655f616263222c22696e707574223a227b5c22636974795c223a227d908cb033",
        "000000b300000052b7209d750d3a6d6573736167652d747970650700056576656e740b3a6576656e742d7479706507000c746f6f6c5573654576656e740d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e7b226e616d65223a226765745f77656174686572222c22746f6f6c5573654964223a22746f6f6c7573655f616263222c22696e707574223a225c2250617269735c227d222c2273746f70223a747275657dc79c7dbe",
        "0000008500000057e92b24dc0d3a6d6573736167652d747970650700056576656e740b3a6576656e742d74797065070011636f6e7465787455736167654576656e740d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e7b22636f6e74657874557361676550657263656e74616765223a312e357ddcf735b1",
        "000000a6000000536827b5110d3a6d6573736167652d747970650700056576656e740b3a6576656e742d7479706507000d6d65746572696e674576656e740d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e7b22756e6974223a22637265646974222c22756e6974506c7572616c223a2263726564697473222c227573616765223a302e303136393534333730383239313837347d8445e1c9",
        "000000a60000006cde41982c0d3a6d6573736167652d74797065070009657863657074696f6e0f3a657863657074696f6e2d7479706507001e436f6e74656e744c656e6774684578636565646564457863657074696f6e0d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e7b226d657373616765223a22526573706f6e7365206578636565646564206d6178206c656e677468227d4f9ac085",
        "000000620000005203b5cb9c0d3a6d6573736167652d747970650700056572726f720b3a6572726f722d636f6465070017496e7465726e616c536572766572457863657074696f6e0e3a6572726f722d6d657373616765070004626f6f6da9242774",
    ];

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The vectors re-encoded with the public encoder functions.
    fn encoded_vectors() -> Vec<Vec<u8>> {
        vec![
            encode_event("assistantResponseEvent", br#"{"content":"Hi"}"#),
            encode_event(
                "toolUseEvent",
                br#"{"name":"get_weather","toolUseId":"tooluse_abc","input":"{\"city\":"}"#,
            ),
            encode_event(
                "toolUseEvent",
                br#"{"name":"get_weather","toolUseId":"tooluse_abc","input":"\"Paris\"}","stop":true}"#,
            ),
            encode_event("contextUsageEvent", br#"{"contextUsagePercentage":1.5}"#),
            encode_event(
                "meteringEvent",
                br#"{"unit":"credit","unitPlural":"credits","usage":0.0169543708291874}"#,
            ),
            encode_exception(
                "ContentLengthExceededException",
                br#"{"message":"Response exceeded max length"}"#,
            ),
            encode_error("InternalServerException", "boom"),
        ]
    }

    #[test]
    fn crc_is_iso_hdlc() {
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32fast::hash(b""), 0);
    }

    #[test]
    fn encoder_reproduces_the_vectors_byte_for_byte() {
        for (i, (got, want)) in encoded_vectors().iter().zip(VECTORS).enumerate() {
            assert_eq!(got, &unhex(want), "vector {}", i + 1);
        }
    }

    #[test]
    fn known_header_strings_are_not_allocated() {
        let mut decoder = Decoder::new();
        decoder
            .feed(&encode_event("assistantResponseEvent", b"{}"))
            .unwrap();
        decoder.feed(&encode_event("brandNewEvent", b"{}")).unwrap();
        let known = decoder.next_frame().unwrap().unwrap();
        for h in &known.headers {
            assert!(matches!(h.name, Cow::Borrowed(_)), "{h:?}");
            assert!(
                matches!(h.value, HeaderValue::String(Cow::Borrowed(_))),
                "{h:?}"
            );
        }
        let unknown = decoder.next_frame().unwrap().unwrap();
        assert_eq!(unknown.header_str(":event-type"), Some("brandNewEvent"));
        assert!(unknown.headers.iter().any(|h| matches!(
            &h.value,
            HeaderValue::String(Cow::Owned(s)) if s == "brandNewEvent"
        )));
    }

    #[test]
    fn kiro_event_blocks_read_the_same_by_both_paths() {
        let block_of = |wire: &[u8]| {
            let headers_len = u32::from_be_bytes([wire[4], wire[5], wire[6], wire[7]]) as usize;
            Bytes::copy_from_slice(&wire[PRELUDE_LEN..PRELUDE_LEN + headers_len])
        };
        let mut extra = Frame {
            headers: vec![
                Header::string(":message-type", "event"),
                Header::string(":event-type", "assistantResponseEvent"),
                Header::string(":content-type", "application/json"),
            ],
            payload: Bytes::new(),
        };
        let plain = block_of(&extra.to_bytes());
        extra.headers.push(Header::string("x", "y"));
        let long_type = "e".repeat(300);
        let blocks = [
            (
                block_of(&encode_event("assistantResponseEvent", b"{}")),
                true,
            ),
            (block_of(&encode_event("brandNewEvent", b"{}")), true),
            (block_of(&encode_event("", b"{}")), true),
            (plain, true),
            // Not the exact layout: a fourth header, a type too long for one length byte, an
            // exception, a block cut short.
            (block_of(&extra.to_bytes()), false),
            (block_of(&encode_event(&long_type, b"{}")), false),
            (
                block_of(&encode_exception("ThrottlingException", b"{}")),
                false,
            ),
            (
                block_of(&encode_event("toolUseEvent", b"{}")).slice(..60),
                false,
            ),
        ];
        for (block, fast) in blocks {
            assert_eq!(kiro_event_type(&block).is_some(), fast, "{block:?}");
            let mut general = Vec::new();
            let general = parse_each_header(&block, &block, &mut general).map(|()| general);
            assert_eq!(parse_headers(&block, 0..block.len(), Vec::new()), general);
        }
    }

    #[test]
    fn encodes_every_header_type() {
        let frame = Frame {
            headers: vec![
                Header {
                    name: "t".into(),
                    value: HeaderValue::BoolTrue,
                },
                Header {
                    name: "f".into(),
                    value: HeaderValue::BoolFalse,
                },
                Header {
                    name: "b".into(),
                    value: HeaderValue::Byte(-2),
                },
                Header {
                    name: "s".into(),
                    value: HeaderValue::Short(-300),
                },
                Header {
                    name: "i".into(),
                    value: HeaderValue::Int(70_000),
                },
                Header {
                    name: "l".into(),
                    value: HeaderValue::Long(-5_000_000_000),
                },
                Header {
                    name: "y".into(),
                    value: HeaderValue::Bytes(Bytes::from_static(b"\x00\xff")),
                },
                Header {
                    name: "z".into(),
                    value: HeaderValue::String("é".into()),
                },
                Header {
                    name: "ts".into(),
                    value: HeaderValue::Timestamp(1_700_000_000_000),
                },
                Header {
                    name: "u".into(),
                    value: HeaderValue::Uuid([7; 16]),
                },
            ],
            payload: Bytes::from_static(b"x"),
        };
        let wire = frame.to_bytes();
        let headers_len = 3 + 3 + 4 + 5 + 7 + 11 + 7 + 7 + 12 + 19;
        assert_eq!(&wire[4..8], &(headers_len as u32).to_be_bytes());
        assert_eq!(wire.len(), MIN_FRAME_LEN + headers_len + 1);
    }

    /// Decodes everything available, collecting frames and errors in order.
    fn drain(d: &mut Decoder) -> (Vec<Frame>, Vec<DecodeError>) {
        let (mut frames, mut errors) = (Vec::new(), Vec::new());
        loop {
            match d.next_frame() {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(e) => {
                    let terminal = e.is_terminal();
                    errors.push(e);
                    if terminal {
                        break;
                    }
                }
            }
        }
        (frames, errors)
    }

    fn decode_chunks<'a>(
        chunks: impl IntoIterator<Item = &'a [u8]>,
    ) -> (Vec<Frame>, Vec<DecodeError>) {
        let mut d = Decoder::new();
        let (mut frames, mut errors) = (Vec::new(), Vec::new());
        for chunk in chunks {
            d.feed(chunk).unwrap();
            let (f, e) = drain(&mut d);
            frames.extend(f);
            errors.extend(e);
        }
        (frames, errors)
    }

    fn all_vectors() -> Vec<u8> {
        VECTORS.iter().flat_map(|v| unhex(v)).collect()
    }

    fn check_vector_frames(frames: &[Frame]) {
        let types: Vec<_> = frames
            .iter()
            .map(|f| {
                f.header_str(":event-type")
                    .or(f.header_str(":exception-type"))
                    .or(f.header_str(":error-code"))
                    .unwrap()
            })
            .collect();
        assert_eq!(
            types,
            [
                "assistantResponseEvent",
                "toolUseEvent",
                "toolUseEvent",
                "contextUsageEvent",
                "meteringEvent",
                "ContentLengthExceededException",
                "InternalServerException",
            ]
        );
        assert_eq!(&frames[0].payload[..], br#"{"content":"Hi"}"#);
        assert_eq!(frames[5].header_str(":message-type"), Some("exception"));
        assert_eq!(frames[6].header_str(":error-message"), Some("boom"));
        assert!(frames[6].payload.is_empty());
    }

    #[test]
    fn decodes_each_vector_whole() {
        for (v, want) in VECTORS.iter().zip(encoded_vectors()) {
            let (frames, errors) = decode_chunks([unhex(v).as_slice()]);
            assert!(errors.is_empty(), "{errors:?}");
            assert_eq!(frames.len(), 1);
            assert_eq!(frames[0].to_bytes(), want, "re-encoding round-trips");
        }
    }

    #[test]
    fn decodes_concatenated_vectors() {
        let (frames, errors) = decode_chunks([all_vectors().as_slice()]);
        assert!(errors.is_empty());
        check_vector_frames(&frames);
    }

    #[test]
    fn decodes_at_every_split_point() {
        let stream = all_vectors();
        for at in 0..=stream.len() {
            let (a, b) = stream.split_at(at);
            let (frames, errors) = decode_chunks([a, b]);
            assert!(errors.is_empty(), "split at {at}");
            check_vector_frames(&frames);
        }
    }

    #[test]
    fn decodes_one_byte_at_a_time() {
        let stream = all_vectors();
        let (frames, errors) = decode_chunks(stream.chunks(1));
        assert!(errors.is_empty());
        check_vector_frames(&frames);
    }

    #[test]
    fn feed_bytes_adopts_and_appends() {
        let stream = Bytes::from(all_vectors());
        let mut d = Decoder::new();
        d.feed_bytes(stream.slice(..100)).unwrap();
        d.feed_bytes(stream.slice(100..)).unwrap();
        let (frames, errors) = drain(&mut d);
        assert!(errors.is_empty());
        check_vector_frames(&frames);
        assert_eq!(d.buffered(), 0);
        assert_eq!(d.finish(), Ok(()));
    }

    #[test]
    fn feed_bytes_adopts_large_chunks_and_reuses_its_buffer_for_small_ones() {
        let big = encode_event("assistantResponseEvent", &[b'x'; 8192]).into_boxed_slice();
        let big = Bytes::from(big);
        let big_at = big.as_ptr() as usize..big.as_ptr() as usize + big.len();
        let mut d = Decoder::new();
        d.feed_bytes(big).unwrap();
        let frame = d.next_frame().unwrap().unwrap();
        assert!(
            big_at.contains(&(frame.payload.as_ptr() as usize)),
            "adopted, not copied"
        );
        drop(frame);

        // Small chunks are copied into that same allocation, no new one per chunk.
        let small = encode_event("assistantResponseEvent", br#"{"content":"Hi"}"#);
        for _ in 0..200 {
            d.feed_bytes(Bytes::from(small.clone())).unwrap();
            assert!(big_at.contains(&(d.buf.as_ptr() as usize)));
            assert_eq!(d.next_frame().unwrap().unwrap().payload.len(), 16);
        }
    }

    /// The malformed "example" frame of hank9999 `tools/event-viewer.html` (§6.2): the
    /// documented 12-byte prelude (total 143, headers 71, wrong CRC 0x7d836e75) on a 148-byte
    /// frame body.
    fn negative_vector() -> Vec<u8> {
        let mut v = unhex("0000008f000000477d836e75");
        let body = unhex(VECTORS[0]);
        v.extend_from_slice(&body[12..]);
        v.resize(148, b'}');
        v
    }

    #[test]
    fn rejects_the_negative_vector() {
        let (frames, errors) = decode_chunks([negative_vector().as_slice()]);
        assert!(frames.is_empty());
        assert_eq!(
            errors[0],
            DecodeError::PreludeCrc {
                expected: 0x7d83_6e75,
                computed: 0xbe2c_2c19
            }
        );
        assert!(errors.last().unwrap().is_terminal());
    }

    #[test]
    fn message_crc_error_skips_the_frame_and_continues() {
        let mut stream = all_vectors();
        stream[120] ^= 0x01; // inside vector 1's payload
        let (frames, errors) = decode_chunks([stream.as_slice()]);
        assert!(matches!(
            errors.as_slice(),
            [DecodeError::MessageCrc { .. }]
        ));
        assert_eq!(frames.len(), 6);
        assert_eq!(frames[0].header_str(":event-type"), Some("toolUseEvent"));
    }

    #[test]
    fn leading_garbage_resyncs() {
        let mut stream = vec![0xAB];
        stream.extend(all_vectors());
        for chunk in [1, 5, stream.len()] {
            let (frames, errors) = decode_chunks(stream.chunks(chunk));
            assert!(matches!(
                errors.as_slice(),
                [DecodeError::PreludeCrc { .. }]
            ));
            check_vector_frames(&frames);
        }
    }

    #[test]
    fn bad_header_block_skips_the_frame() {
        // A frame whose header block holds an unknown value type, with valid CRCs.
        let mut raw = vec![0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 1, b'x', 42, b'p'];
        let total = (raw.len() + 4) as u32;
        raw[0..4].copy_from_slice(&total.to_be_bytes());
        let crc = crc32fast::hash(&raw[0..8]);
        raw[8..12].copy_from_slice(&crc.to_be_bytes());
        let crc = crc32fast::hash(&raw);
        raw.extend_from_slice(&crc.to_be_bytes());
        raw.extend(unhex(VECTORS[0]));
        let (frames, errors) = decode_chunks([raw.as_slice()]);
        assert_eq!(
            errors,
            [DecodeError::BadHeader(HeaderError::UnknownType(42))]
        );
        assert_eq!(frames.len(), 1);
    }

    #[test]
    fn decodes_every_header_type() {
        let frame = Frame {
            headers: vec![
                Header {
                    name: "b".into(),
                    value: HeaderValue::Byte(-2),
                },
                Header {
                    name: "u".into(),
                    value: HeaderValue::Uuid([7; 16]),
                },
                Header {
                    name: "y".into(),
                    value: HeaderValue::Bytes(Bytes::from_static(b"\x00\xff")),
                },
                Header {
                    name: "f".into(),
                    value: HeaderValue::BoolFalse,
                },
                Header {
                    name: "ts".into(),
                    value: HeaderValue::Timestamp(-1),
                },
            ],
            payload: Bytes::new(),
        };
        let (frames, errors) = decode_chunks([frame.to_bytes().as_slice()]);
        assert!(errors.is_empty());
        assert_eq!(frames, [frame]);
        assert_eq!(frames[0].header_str("b"), None, "not a string header");
    }

    #[test]
    fn a_recycled_header_list_holds_only_the_next_frames_headers() {
        let five = Frame {
            headers: (0..5)
                .map(|i| Header::string(&format!("h{i}"), "v"))
                .collect(),
            payload: Bytes::from_static(b"first"),
        };
        let one = Frame {
            headers: vec![Header::string(":event-type", "assistantResponseEvent")],
            payload: Bytes::from_static(b"second"),
        };
        let mut decoder = Decoder::new();
        decoder.feed(&five.to_bytes()).unwrap();
        decoder.feed(&one.to_bytes()).unwrap();
        let first = decoder.next_frame().unwrap().unwrap();
        assert_eq!(first, five);
        let list = first.headers.as_ptr();
        decoder.recycle(first);
        let second = decoder.next_frame().unwrap().unwrap();
        assert_eq!(second, one);
        assert_eq!(
            second.headers.as_ptr(),
            list,
            "the first frame's list, reused"
        );
    }

    #[test]
    fn oversized_frame_is_rejected_without_allocating() {
        let mut raw = (u32::MAX).to_be_bytes().to_vec();
        raw.extend_from_slice(&0u32.to_be_bytes());
        let crc = crc32fast::hash(&raw);
        raw.extend_from_slice(&crc.to_be_bytes());
        let mut d = Decoder::new();
        d.feed(&raw).unwrap();
        assert!(matches!(
            d.next_frame(),
            Err(DecodeError::FrameTooLarge {
                total_len: u32::MAX,
                ..
            })
        ));
        assert!(d.buf.capacity() < 1024);
        assert_eq!(d.buffered(), raw.len() - 1);
    }

    #[test]
    fn impossible_lengths_are_rejected() {
        for (total, headers) in [(15u32, 0u32), (20, 5), (100, 200_000)] {
            let mut raw = total.to_be_bytes().to_vec();
            raw.extend_from_slice(&headers.to_be_bytes());
            let crc = crc32fast::hash(&raw);
            raw.extend_from_slice(&crc.to_be_bytes());
            let mut d = Decoder::new();
            d.feed(&raw).unwrap();
            let err = d.next_frame().unwrap_err();
            assert!(
                matches!(
                    err,
                    DecodeError::InvalidLength { .. } | DecodeError::HeadersTooLarge { .. }
                ),
                "{err}"
            );
        }
    }

    #[test]
    fn stops_after_too_many_errors() {
        let mut d = Decoder::with_limits(DecoderLimits {
            max_consecutive_errors: 3,
            ..DecoderLimits::default()
        });
        d.feed(&[0xFF; 64]).unwrap();
        let (frames, errors) = drain(&mut d);
        assert!(frames.is_empty());
        assert_eq!(errors.len(), 3);
        assert!(matches!(
            &errors[2],
            DecodeError::TooManyErrors { count: 3, .. }
        ));
        assert!(d.is_stopped());
        assert_eq!(d.buffered(), 0);
        assert!(d.feed(&unhex(VECTORS[0])).unwrap_err().is_terminal());
        assert!(d.next_frame().unwrap_err().is_terminal());
    }

    #[test]
    fn buffer_is_bounded_and_truncation_reported() {
        let mut d = Decoder::with_limits(DecoderLimits {
            max_buffered: 100,
            ..DecoderLimits::default()
        });
        d.feed(&[0; 60]).unwrap();
        assert!(matches!(
            d.feed(&[0; 60]),
            Err(DecodeError::BufferFull { .. })
        ));
        assert_eq!(d.buffered(), 60);

        let mut d = Decoder::new();
        d.feed(&unhex(VECTORS[0])[..50]).unwrap();
        assert_eq!(d.next_frame(), Ok(None));
        assert_eq!(d.finish(), Err(DecodeError::Truncated { buffered: 50 }));
    }

    proptest::proptest! {
        #[test]
        fn random_splits_yield_the_same_frames(cuts in proptest::collection::vec(0usize..1200, 0..12)) {
            let stream = all_vectors();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (stream.len() + 1)).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut prev = 0;
            for c in cuts.into_iter().chain([stream.len()]) {
                chunks.push(&stream[prev..c]);
                prev = c;
            }
            let (frames, errors) = decode_chunks(chunks);
            proptest::prop_assert!(errors.is_empty());
            check_vector_frames(&frames);
        }

        #[test]
        fn random_bytes_never_panic(
            chunks in proptest::collection::vec(
                proptest::collection::vec(proptest::num::u8::ANY, 0..64), 0..32),
            valid_every in 1usize..8,
        ) {
            // Small limits make the bound meaningful; valid frames mixed in exercise resync.
            let limits = DecoderLimits {
                max_frame_len: 256,
                max_headers_len: 128,
                max_buffered: 256 + 128,
                max_consecutive_errors: u32::MAX,
            };
            let mut d = Decoder::with_limits(limits);
            let valid = unhex(VECTORS[0]);
            for (i, chunk) in chunks.iter().enumerate() {
                let chunk = if i % valid_every == 0 { &valid } else { chunk };
                d.feed(chunk).unwrap();
                let (_, errors) = drain(&mut d);
                proptest::prop_assert!(errors.iter().all(|e| !e.is_terminal()));
                // Drained, at most one incomplete (within-limit) frame is held.
                proptest::prop_assert!(d.buffered() < limits.max_frame_len);
            }
        }
    }
}
