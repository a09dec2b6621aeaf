//! Heap allocations on the hot paths, counted: a regression guard that needs no timing.
//!
//! Under load every allocation is a cold `malloc` and a later `free` on a core shared with the
//! network stack, so the per-event path and the conversion are kept to a known number of them.
//! This test binary counts the allocations each thread makes (its own global allocator), so
//! the tests can run in parallel.

use bytes::Bytes;
use kiro_edge::dialect::openai_responses::store::ResponseStore;
use kiro_edge::dialect::{Dialect, RequestHints};
use kiro_edge::kiro::eventstream::encode_event;
use kiro_edge::kiro::request;
use kiro_edge::pipeline::{self, PreparedRequest, TranslateSettings};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: the allocator also runs while thread-locals are being torn down.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches only a
// const-initialised thread-local `Cell`, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// Allocations (and reallocations) made by `f` on this thread.
fn allocations<T>(f: impl FnOnce() -> T) -> (u64, T) {
    let before = ALLOCATIONS.with(Cell::get);
    let out = f();
    (ALLOCATIONS.with(Cell::get) - before, out)
}

fn prepare(body: &[u8]) -> PreparedRequest {
    let settings = TranslateSettings {
        payload_budget: request::DEFAULT_PAYLOAD_BUDGET,
        max_image_bytes: request::DEFAULT_MAX_IMAGE_BYTES,
        ..TranslateSettings::default()
    };
    let store = ResponseStore::new(4, Duration::from_secs(60));
    pipeline::prepare(
        Dialect::Anthropic,
        body,
        &RequestHints::default(),
        &settings,
        &store,
    )
    .expect("the request converts")
}

/// Allocations for the last 49 text events of a 50-event answer, each event in its own chunk
/// as Kiro sends them; the chunks themselves are made beforehand.
fn text_events(body: serde_json::Value) -> u64 {
    let prepared = prepare(&serde_json::to_vec(&body).expect("json"));
    let chunks: Vec<Bytes> = (0..50)
        .map(|i| {
            let payload = format!(r#"{{"content":"word{i} "}}"#);
            Bytes::from(encode_event("assistantResponseEvent", payload.as_bytes()))
        })
        .collect();
    let mut translator = prepared.translator();
    // The first chunk also opens the stream (message_start and friends).
    let mut chunks = chunks.into_iter();
    let first = chunks.next().expect("50 chunks");
    let (_, out) = allocations(|| translator.push(first));
    assert!(!out.is_empty());
    let (n, sent) = allocations(|| chunks.map(|c| translator.push(c).len()).sum::<usize>());
    assert!(sent > 49 * 100, "every event was answered ({sent} bytes)");
    n
}

#[test]
fn a_streamed_text_event_allocates_once() {
    let plain = serde_json::json!({
        "model": "claude-sonnet-4-5", "max_tokens": 1024, "stream": true,
        "messages": [{"role": "user", "content": "Say hello."}],
    });
    let mut thinking = plain.clone();
    thinking["thinking"] = serde_json::json!({"type": "enabled", "budget_tokens": 2048});
    for (name, body) in [("plain", plain), ("thinking", thinking)] {
        // The client's bytes, plus a few one-time growths of reused buffers: the frame's
        // header list and the delta's text buffer are handed back once used.
        let n = text_events(body);
        assert!(n <= 49 + 4, "{name}: {n} allocations for 49 text events");
    }
}

#[test]
fn converting_the_captured_claude_code_request_allocates_per_field_not_per_byte() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/claude-code.tool.messages-tool-result.json"
    );
    let capture: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).expect("fixture")).expect("json");
    let body = serde_json::to_vec(&capture["body"]).expect("json");
    assert!(body.len() > 80_000);
    let (n, prepared) = allocations(|| prepare(&body));
    assert!(!prepared.kiro.body.is_empty());
    // About one per JSON string and object of the request (1,516 when this was written).
    assert!(n < 2_000, "{n} allocations for {} bytes", body.len());
}
