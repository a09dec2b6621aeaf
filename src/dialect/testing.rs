//! Test helpers shared by the dialects' unit tests.

use proptest::prelude::*;

use super::ResponseWriter;
use crate::chat::{ErrorKind, StreamEvent};

/// Every error kind, in status order.
pub(crate) const ALL_KINDS: [ErrorKind; 13] = [
    ErrorKind::InvalidRequest,
    ErrorKind::Authentication,
    ErrorKind::Permission,
    ErrorKind::NotFound,
    ErrorKind::MethodNotAllowed,
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
