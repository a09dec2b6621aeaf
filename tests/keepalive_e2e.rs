//! Keep-alives while Kiro is silent: each streaming dialect hears from the gateway every
//! `ping_interval_ms`, whether Kiro sends nothing (the pulse session) or sends bytes that make
//! nothing for the client (a tool call's input, which is sent whole). Silence still has a limit,
//! and non-streaming answers are untouched.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const MODEL: &str = "claude-sonnet-4.5";

/// Pings every 300 ms; a silence of 2.5 s fails the stream.
const UPSTREAM: &str =
    "  upstream:\n    connect_timeout_ms: 2000\n    first_byte_timeout_ms: 2500\n    ping_interval_ms: 300\n";

fn setup(mock_args: &[&str]) -> (Proc, Gateway) {
    let mock = start_mock(mock_args);
    let gw = start_gateway(&mock, &json!([social_credential("a1", 3600)]), UPSTREAM);
    (mock, gw)
}

fn post_bearer(gw: &Gateway, path: &str, body: &Value) -> Response {
    let auth = format!("Bearer {API_KEY}");
    http(
        gw.proc.addr,
        "POST",
        path,
        &[
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
        ],
        &serde_json::to_vec(body).unwrap(),
    )
}

fn anthropic(text: &str, stream: bool) -> Value {
    json!({
        "model": MODEL,
        "max_tokens": 1024,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    })
}

/// The event names of an Anthropic stream, in order.
fn event_names(resp: &Response) -> Vec<String> {
    assert_eq!(resp.status, 200, "{}", resp.text());
    sse_events(&resp.text())
        .into_iter()
        .map(|(e, _)| e.expect("every Anthropic event is named"))
        .collect()
}

/// How many `ping` events come strictly between the first and the last text delta.
fn pings_between_deltas(names: &[String]) -> usize {
    let first = names.iter().position(|n| n == "content_block_delta");
    let last = names.iter().rposition(|n| n == "content_block_delta");
    match (first, last) {
        (Some(a), Some(b)) => names[a..b].iter().filter(|n| *n == "ping").count(),
        _ => 0,
    }
}

#[test]
fn anthropic_streams_ping_while_kiro_is_silent() {
    let (_mock, gw) = setup(&["--pace-ms", "2"]);
    // Three events 1.2 s apart: about three pings in each of the two silences.
    let resp = post_json(
        &gw,
        "/v1/messages",
        &anthropic("[[mock:events 3 1200]]", true),
    );
    let names = event_names(&resp);
    let pings = pings_between_deltas(&names);
    assert!((4..=10).contains(&pings), "{pings} pings: {names:?}");
    assert_eq!(names.first().map(String::as_str), Some("message_start"));
    assert_eq!(names.last().map(String::as_str), Some("message_stop"));
    assert!(sse_events(&resp.text())
        .iter()
        .filter(|(e, _)| e.as_deref() == Some("ping"))
        .all(|(_, d)| *d == json!({"type": "ping"})));

    // A steady stream (events 2 ms apart) gets only the ping after message_start.
    let resp = post_json(
        &gw,
        "/v1/messages",
        &anthropic("[[mock:events 50 2]]", true),
    );
    let names = event_names(&resp);
    assert_eq!(
        names.iter().filter(|n| *n == "ping").count(),
        1,
        "{names:?}"
    );
}

#[test]
fn a_long_tool_input_is_not_a_silence_for_the_client() {
    // A long input comes in ~10 fragments 200 ms apart: Kiro is never silent for 300 ms, but
    // the tool call goes to the client only once complete, so without keep-alives the client
    // would hear nothing for two seconds.
    let (_mock, gw) = setup(&["--pace-ms", "200"]);
    let body = json!({
        "model": MODEL,
        "max_tokens": 1024,
        "stream": true,
        "tools": [{
            "name": "write_file",
            "description": "Writes a file",
            "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}},
        }],
        "messages": [{"role": "user", "content": format!(r#"[[mock:tool write_file {{"path":"{}"}}]]"#, "a".repeat(300))}],
    });
    let resp = post_json(&gw, "/v1/messages", &body);
    let names = event_names(&resp);
    let tool_start = names
        .iter()
        .position(|n| n == "content_block_start")
        .expect("a block");
    let pings_before_the_tool = names[2..tool_start].iter().filter(|n| *n == "ping").count();
    assert!(pings_before_the_tool >= 2, "{names:?}");
    assert!(names.contains(&"message_stop".to_string()));
}

#[test]
fn a_silence_longer_than_the_limit_still_fails_the_stream() {
    let (mock, gw) = setup(&["--pace-ms", "2"]);
    mock_faults(mock.addr, &json!(["hang-after-headers"]));
    let started = Instant::now();
    let resp = post_json(&gw, "/v1/messages", &anthropic("hang", true));
    let took = started.elapsed();
    let events = sse_events(&resp.text());
    let names: Vec<&str> = events.iter().filter_map(|(e, _)| e.as_deref()).collect();
    assert_eq!(names.first(), Some(&"message_start"), "{names:?}");
    assert_eq!(names.last(), Some(&"error"), "{names:?}");
    assert!(
        names.iter().filter(|n| **n == "ping").count() >= 5,
        "{names:?}"
    );
    assert!(
        took >= Duration::from_millis(2400) && took < Duration::from_secs(10),
        "{took:?}"
    );
}

#[test]
fn non_streaming_answers_carry_no_keepalive() {
    let (_mock, gw) = setup(&["--pace-ms", "2"]);
    let resp = post_json(
        &gw,
        "/v1/messages",
        &anthropic("[[mock:events 3 700]]", false),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    let msg = resp.json();
    assert_eq!(msg["content"][0]["text"], "tok1 tok2 tok3 ");
    assert_eq!(msg["stop_reason"], "end_turn");

    let chat =
        json!({"model": MODEL, "messages": [{"role": "user", "content": "[[mock:events 2 700]]"}]});
    let resp = post_bearer(&gw, "/v1/chat/completions", &chat);
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        resp.json()["choices"][0]["message"]["content"],
        "tok1 tok2 "
    );
}

#[test]
fn every_streaming_dialect_keeps_its_own_grammar() {
    let (_mock, gw) = setup(&["--pace-ms", "2"]);
    let prompt = "[[mock:events 2 1000]]";

    // OpenAI Chat Completions: SSE comments, which every SSE parser skips.
    let chat =
        json!({"model": MODEL, "stream": true, "messages": [{"role": "user", "content": prompt}]});
    let resp = post_bearer(&gw, "/v1/chat/completions", &chat);
    assert_eq!(resp.status, 200, "{}", resp.text());
    let text = resp.text();
    assert!(text.matches(": ping\n\n").count() >= 3, "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");

    // OpenAI Responses: `response.in_progress` events (Codex's idle timer needs real events).
    let responses = json!({"model": MODEL, "stream": true, "input": prompt});
    let resp = post_bearer(&gw, "/v1/responses", &responses);
    assert_eq!(resp.status, 200, "{}", resp.text());
    let events = sse_events(&resp.text());
    let in_progress = events
        .iter()
        .filter(|(e, _)| e.as_deref() == Some("response.in_progress"))
        .count();
    assert!(in_progress >= 3, "{events:?}");
    assert_eq!(
        events.last().and_then(|(e, _)| e.as_deref()),
        Some("response.completed")
    );
    let mut seq: Vec<u64> = events
        .iter()
        .filter_map(|(_, d)| d["sequence_number"].as_u64())
        .collect();
    let len = seq.len();
    seq.dedup();
    assert_eq!(seq.len(), len, "sequence numbers stay unique");
    assert!(seq.windows(2).all(|w| w[0] < w[1]), "and increasing");

    // Gemini: data lines only, so nothing is sent for a silence and the answer is intact.
    let gemini = json!({"contents": [{"role": "user", "parts": [{"text": prompt}]}]});
    let path = format!("/v1beta/models/{MODEL}:streamGenerateContent?alt=sse");
    let resp = http(
        gw.proc.addr,
        "POST",
        &path,
        &[
            ("x-goog-api-key", API_KEY),
            ("content-type", "application/json"),
        ],
        &serde_json::to_vec(&gemini).unwrap(),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    let text = resp.text();
    assert!(
        text.split("\n\n")
            .filter(|b| !b.is_empty())
            .all(|b| b.starts_with("data: ")),
        "{text}"
    );
    let answer: String = sse_events(&text)
        .iter()
        .filter_map(|(_, d)| d["candidates"][0]["content"]["parts"][0]["text"].as_str())
        .collect();
    assert_eq!(answer, "tok1 tok2 ");
}
