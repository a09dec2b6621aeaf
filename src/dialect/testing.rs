//! Test helpers shared by the dialects' unit tests.

use std::path::PathBuf;

use proptest::prelude::*;
use serde_json::Value;

use super::ResponseWriter;
use crate::chat::{ErrorKind, ResponseMeta, StreamEvent};

/// Every error kind, in status order.
pub(crate) const ALL_KINDS: [ErrorKind; 14] = [
    ErrorKind::InvalidRequest,
    ErrorKind::Authentication,
    ErrorKind::Permission,
    ErrorKind::NotFound,
    ErrorKind::MethodNotAllowed,
    ErrorKind::RequestTimeout,
    ErrorKind::LengthRequired,
    ErrorKind::PayloadTooLarge,
    ErrorKind::RateLimited,
    ErrorKind::Internal,
    ErrorKind::BadGateway,
    ErrorKind::Unavailable,
    ErrorKind::Timeout,
    ErrorKind::Overloaded,
];

/// Any event but the two that end a response, with arbitrary strings: sequences of these need
/// not follow the upstream grammar, so writers are tested against hostile orders too.
pub(crate) fn any_event() -> impl Strategy<Value = StreamEvent> {
    prop_oneof![
        Just(StreamEvent::Start),
        any::<String>().prop_map(StreamEvent::TextDelta),
        any::<String>().prop_map(StreamEvent::ThinkingDelta),
        (any::<String>(), any::<String>())
            .prop_map(|(id, name)| StreamEvent::ToolCallStart { id, name }),
        any::<String>().prop_map(StreamEvent::ToolCallDelta),
        Just(StreamEvent::ToolCallEnd),
        Just(StreamEvent::Ping),
    ]
}

/// A response's metadata as most writer tests use it.
pub(crate) fn meta() -> ResponseMeta {
    ResponseMeta {
        id: "abc".into(),
        model: "claude-opus-4-8".into(),
        input_tokens: 10,
        created: 1_700_000_000,
        thinking: false,
        echo: None,
        shared_echo: None,
    }
}

/// Feeds `events` to a non-streaming writer and returns its output, checking that nothing is
/// written before the event that ends the response.
pub(crate) fn render_document(writer: &mut dyn ResponseWriter, events: &[StreamEvent]) -> Vec<u8> {
    let mut out = Vec::new();
    for event in events {
        let before = out.len();
        writer.write(event, &mut out);
        if !matches!(event, StreamEvent::Finish { .. } | StreamEvent::Error(_)) {
            assert_eq!(out.len(), before, "nothing before the end: {event:?}");
        }
    }
    out
}

/// The captured client requests whose file names start with `prefix` (`tests/fixtures/`, or
/// the directory in `KIRO_EDGE_FIXTURES`), sorted by name: each file's name and its capture
/// (`body`, `headers`, `path`, `query`).
pub(crate) fn captures(prefix: &str) -> Vec<(String, Value)> {
    let dir = std::env::var_os("KIRO_EDGE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"));
    let mut captures: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (copy the captures there or set KIRO_EDGE_FIXTURES)",
                dir.display()
            )
        })
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let name = path.file_name()?.to_str()?.to_owned();
            name.starts_with(prefix).then_some((name, path))
        })
        .map(|(name, path)| {
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
            let capture = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, capture)
        })
        .collect();
    captures.sort_by(|a, b| a.0.cmp(&b.0));
    captures
}
