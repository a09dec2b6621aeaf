//! The Anthropic Messages API end to end: the real `kiro-edge` binary in front of the strict
//! `kiro-mock`, driven with raw HTTP so every byte the client gets is checked.

mod common;

use common::*;
use serde_json::{json, Value};

const MODEL: &str = "claude-sonnet-4-5-20250929";

fn setup() -> (Proc, Gateway) {
    let mock = start_mock(&["--pace-ms", "2"]);
    let gw = start_gateway(&mock, &json!([social_credential("a1", 3600)]), "");
    (mock, gw)
}

fn ask(text: &str, stream: bool) -> Value {
    json!({
        "model": MODEL,
        "max_tokens": 1024,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    })
}

/// The chat requests the mock accepted or rejected (not token refreshes).
fn chat_log(mock: &Proc) -> Vec<Value> {
    mock_requests(mock.addr)
        .into_iter()
        .filter(|r| r["path"] == "/generateAssistantResponse")
        .collect()
}

/// Checks the SSE grammar clients depend on and returns the events.
fn checked_sse(resp: &Response) -> Vec<(String, Value)> {
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("content-type"), Some("text/event-stream"));
    let events: Vec<(String, Value)> = sse_events(&resp.text())
        .into_iter()
        .map(|(e, d)| (e.expect("every event has an event: line"), d))
        .collect();
    for (name, data) in &events {
        assert_eq!(
            data["type"],
            name.as_str(),
            "data type equals the event name"
        );
    }
    assert_eq!(events.first().map(|e| e.0.as_str()), Some("message_start"));
    assert_eq!(events.last().map(|e| e.0.as_str()), Some("message_stop"));
    let mut next_index = 0;
    let mut open: Option<u64> = None;
    for (name, data) in &events {
        match name.as_str() {
            "content_block_start" => {
                assert!(open.is_none(), "never two open blocks");
                assert_eq!(data["index"], next_index);
                open = Some(next_index);
                next_index += 1;
            }
            "content_block_delta" => assert_eq!(data["index"].as_u64(), open),
            "content_block_stop" => {
                assert_eq!(data["index"].as_u64(), open);
                open = None;
            }
            _ => {}
        }
    }
    events
}

fn text_of(events: &[(String, Value)]) -> String {
    events
        .iter()
        .filter(|(_, d)| d["delta"]["type"] == "text_delta")
        .map(|(_, d)| d["delta"]["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn non_streaming_text() {
    let (mock, gw) = setup();
    let resp = post_json(&gw, "/v1/messages?beta=true", &ask("hello there", false));
    assert_eq!(resp.status, 200, "{}", resp.text());
    let msg = resp.json();
    assert_eq!(msg["type"], "message");
    assert_eq!(msg["role"], "assistant");
    assert_eq!(msg["model"], MODEL);
    assert_eq!(msg["content"][0]["type"], "text");
    assert_eq!(msg["content"][0]["text"], "MOCK_OK: hello there");
    assert_eq!(msg["stop_reason"], "end_turn");
    assert!(msg["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert!(msg["usage"]["output_tokens"].as_u64().unwrap() > 0);
    let log = chat_log(&mock);
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["verdict"], "accepted", "{}", log[0]);
}

#[test]
fn streaming_text_follows_the_sse_grammar() {
    let (_mock, gw) = setup();
    let resp = post_json(&gw, "/v1/messages", &ask("stream me", true));
    let events = checked_sse(&resp);
    assert_eq!(text_of(&events), "MOCK_OK: stream me");
    let start = &events[0].1;
    assert!(start["message"]["usage"]["input_tokens"].as_u64().unwrap() > 0);
    let delta = events.iter().find(|(e, _)| e == "message_delta").unwrap();
    assert_eq!(delta.1["delta"]["stop_reason"], "end_turn");
    assert!(delta.1["usage"]["output_tokens"].as_u64().unwrap() > 0);
}

/// The load harness's `kiro-mock --stamp`: each stream opens with the mock's own time, which
/// reaches the client as the answer's first text.
#[test]
fn a_stamping_mock_opens_the_answer_with_its_own_time() {
    let mock = start_mock(&["--pace-ms", "2", "--stamp"]);
    let gw = start_gateway(&mock, &json!([social_credential("a1", 3600)]), "");
    let resp = post_json(&gw, "/v1/messages", &ask("stream me", true));
    let text = text_of(&checked_sse(&resp));
    let rest = text
        .strip_prefix("[[mock-service-ns:")
        .unwrap_or_else(|| panic!("no stamp first: {text:?}"));
    let (ns, answer) = rest.split_once("]]").expect("the stamp is closed");
    assert!(ns.parse::<u64>().expect("nanoseconds") > 0);
    assert_eq!(answer, "MOCK_OK: stream me");
}

fn weather_tool() -> Value {
    json!({
        "name": "get_weather",
        "description": "Get the weather for a city",
        "input_schema": {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": false
        }
    })
}

#[test]
fn tool_round_trip() {
    let (mock, gw) = setup();
    let first = json!({
        "model": MODEL, "max_tokens": 1024, "stream": true,
        "tools": [weather_tool()],
        "messages": [{"role": "user", "content": "Weather in Paris? [[mock:tool get_weather {\"city\":\"Paris\"}]]"}],
    });
    let events = checked_sse(&post_json(&gw, "/v1/messages", &first));
    let start = events
        .iter()
        .find(|(e, d)| e == "content_block_start" && d["content_block"]["type"] == "tool_use")
        .expect("a tool_use block");
    let tool_id = start.1["content_block"]["id"].as_str().unwrap().to_string();
    assert_eq!(start.1["content_block"]["name"], "get_weather");
    assert_eq!(start.1["content_block"]["input"], json!({}));
    let args: String = events
        .iter()
        .filter(|(_, d)| d["delta"]["type"] == "input_json_delta")
        .map(|(_, d)| d["delta"]["partial_json"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        json!({"city": "Paris"})
    );
    let delta = events.iter().find(|(e, _)| e == "message_delta").unwrap();
    assert_eq!(delta.1["delta"]["stop_reason"], "tool_use");

    let second = json!({
        "model": MODEL, "max_tokens": 1024,
        "tools": [weather_tool()],
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": tool_id, "name": "get_weather", "input": {"city": "Paris"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": tool_id, "content": "18°C, cloudy", "is_error": false}
            ]}
        ],
    });
    let resp = post_json(&gw, "/v1/messages", &second);
    assert_eq!(resp.status, 200, "{}", resp.text());
    let text = resp.json()["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(text.starts_with("MOCK_TOOL_RESULT: 18°C"), "{text}");
    let log = chat_log(&mock);
    assert!(log.iter().all(|r| r["verdict"] == "accepted"), "{log:?}");
}

/// A 1×1 PNG.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

#[test]
fn images_reach_kiro_and_url_images_are_refused() {
    let (mock, gw) = setup();
    let body = json!({
        "model": MODEL, "max_tokens": 100,
        "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
            {"type": "text", "text": "What is this? [[mock:echo]]"}
        ]}],
    });
    let resp = post_json(&gw, "/v1/messages", &body);
    assert_eq!(resp.status, 200, "{}", resp.text());
    let sent =
        &chat_log(&mock)[0]["body"]["conversationState"]["currentMessage"]["userInputMessage"];
    assert_eq!(sent["images"][0]["format"], "png");
    assert_eq!(sent["images"][0]["source"]["bytes"], PNG);

    let url = json!({
        "model": MODEL, "max_tokens": 100,
        "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
        ]}],
    });
    let resp = post_json(&gw, "/v1/messages", &url);
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json()["error"]["type"], "invalid_request_error");
    assert!(resp.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("URL images"));
}

#[test]
fn thinking_becomes_thinking_blocks() {
    let (mock, gw) = setup();
    let body = json!({
        "model": MODEL, "max_tokens": 4096, "stream": true,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "messages": [{"role": "user", "content": "Think first [[mock:thinking]]"}],
    });
    let events = checked_sse(&post_json(&gw, "/v1/messages", &body));
    let starts: Vec<&str> = events
        .iter()
        .filter(|(e, _)| e == "content_block_start")
        .map(|(_, d)| d["content_block"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(starts.first(), Some(&"thinking"), "{starts:?}");
    assert!(starts.contains(&"text"));
    let thinking: String = events
        .iter()
        .filter(|(_, d)| d["delta"]["type"] == "thinking_delta")
        .map(|(_, d)| d["delta"]["thinking"].as_str().unwrap().to_string())
        .collect();
    assert!(
        !thinking.is_empty() && !thinking.contains("<thinking>"),
        "{thinking:?}"
    );
    assert!(!text_of(&events).contains("thinking>"));
    assert!(events
        .iter()
        .any(|(_, d)| d["delta"]["type"] == "signature_delta"));
    // The request told Kiro to think.
    let history = &chat_log(&mock)[0]["body"]["conversationState"]["history"];
    assert!(history
        .to_string()
        .contains("<thinking_mode>enabled</thinking_mode>"));
}

#[test]
fn local_endpoints() {
    let (_mock, gw) = setup();
    let key = [("x-api-key", API_KEY), ("anthropic-version", "2023-06-01")];
    let count = post_json(
        &gw,
        "/v1/messages/count_tokens?beta=true",
        &json!({
            "model": MODEL, "messages": [{"role": "user", "content": "count these words please"}]
        }),
    );
    assert_eq!(count.status, 200, "{}", count.text());
    assert!(count.json()["input_tokens"].as_u64().unwrap() > 0);

    let models = http(gw.proc.addr, "GET", "/v1/models", &key, b"");
    assert_eq!(models.status, 200);
    let ids: Vec<String> = models.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert!(
        ids.iter().any(|id| id.starts_with("claude-sonnet")),
        "{ids:?}"
    );

    let probe = http(gw.proc.addr, "HEAD", "/", &[], b"");
    assert_eq!(probe.status, 200);
    let health = http(gw.proc.addr, "GET", "/health", &[], b"");
    assert_eq!(health.status, 200);
    let health = health.json();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["accounts"].as_array().unwrap().len(), 1);
    assert!(
        !health.to_string().contains("mock-rt-"),
        "no secrets in /health"
    );

    let missing = http(gw.proc.addr, "GET", "/v1/nothing", &key, b"");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"]["type"], "not_found_error");
}

#[test]
fn client_auth_is_enforced() {
    let (_mock, gw) = setup();
    let body = serde_json::to_vec(&ask("hi", false)).unwrap();
    for headers in [
        vec![],
        vec![("x-api-key", "wrong")],
        vec![("authorization", "Bearer test-key-12")],
    ] {
        let resp = http(gw.proc.addr, "POST", "/v1/messages", &headers, &body);
        assert_eq!(resp.status, 401);
        assert_eq!(resp.json()["type"], "error");
        assert_eq!(resp.json()["error"]["type"], "authentication_error");
    }
    let resp = http(
        gw.proc.addr,
        "POST",
        "/v1/messages",
        &[("authorization", &format!("Bearer {API_KEY}"))],
        &body,
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
}

#[test]
fn bad_requests_get_anthropic_errors() {
    let (mock, gw) = setup();
    let key = [("x-api-key", API_KEY)];
    let resp = http(gw.proc.addr, "POST", "/v1/messages", &key, b"{not json");
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json()["error"]["type"], "invalid_request_error");
    assert_eq!(resp.header("x-should-retry"), Some("false"));

    let resp = post_json(
        &gw,
        "/v1/messages",
        &json!({"model": MODEL, "messages": "nope"}),
    );
    assert_eq!(resp.status, 400);
    assert!(resp.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("messages"));

    assert!(chat_log(&mock).is_empty(), "nothing reached Kiro");

    // A model name Kiro does not know is served by the fallback model by default…
    let gpt = json!({"model": "gpt-4o", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]});
    let resp = post_json(&gw, "/v1/messages", &gpt);
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        resp.json()["model"],
        "gpt-4o",
        "the client's name is echoed"
    );
    let sent = &chat_log(&mock)[0]["body"]["conversationState"]["currentMessage"];
    assert_eq!(sent["userInputMessage"]["modelId"], "claude-sonnet-4.5");

    // …and refused with a clear 400 when the fallback is switched off.
    let strict = start_gateway(
        &mock,
        &json!([social_credential("a1", 3600)]),
        "  models:\n    fallback: \"\"\n",
    );
    let resp = post_json(&strict, "/v1/messages", &gpt);
    assert_eq!(resp.status, 400, "{}", resp.text());
    assert!(resp.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("gpt-4o"));
}

#[test]
fn upstream_error_classes_are_mapped() {
    let (mock, gw) = setup();
    // Context too long: no retry, a 400 that says so in the words Claude Code reacts to.
    mock_faults(mock.addr, &json!(["content-length"]));
    let resp = post_json(&gw, "/v1/messages", &ask("long", false));
    assert_eq!(resp.status, 400, "{}", resp.text());
    assert_eq!(resp.json()["error"]["type"], "invalid_request_error");
    assert!(resp.json()["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Prompt is too long"));
    assert_eq!(chat_log(&mock).len(), 1, "a 400 is not retried");

    // Throttled on every attempt: the client gets a 429 rate_limit_error with retry-after.
    mock_faults(mock.addr, &json!(["429", "429"]));
    let resp = post_json(&gw, "/v1/messages", &ask("busy", true));
    assert_eq!(resp.status, 429, "{}", resp.text());
    assert_eq!(resp.json()["error"]["type"], "rate_limit_error");
    assert!(resp.header("retry-after").is_some());
    // One short retry on the same account; a second 429 cools the account down, and with no
    // other account the client is told when to come back.
    assert_eq!(
        chat_log(&mock).len(),
        1 + 2,
        "two attempts on the only account"
    );
}

#[test]
fn transient_failures_are_retried_before_the_first_byte() {
    let (mock, gw) = setup();
    for fault in ["429", "500", "503", "hang"] {
        http(mock.addr, "DELETE", "/__mock/requests", &[], b"");
        mock_faults(mock.addr, &json!([fault]));
        let resp = post_json(&gw, "/v1/messages", &ask("retry me", true));
        let events = checked_sse(&resp);
        assert_eq!(text_of(&events), "MOCK_OK: retry me", "after {fault}");
        assert_eq!(chat_log(&mock).len(), 2, "one retry after {fault}");
    }
}

#[test]
fn a_rejected_token_is_refreshed_and_the_request_retried() {
    // The stored access token looks valid for an hour, but Kiro no longer accepts it.
    let mock = start_mock(&["--pace-ms", "2"]);
    let gw = start_gateway(&mock, &json!([social_credential("a1", -3600)]), "");
    let resp = post_json(&gw, "/v1/messages", &ask("refresh", false));
    assert_eq!(resp.status, 200, "{}", resp.text());
    let stats = http(mock.addr, "GET", "/__mock/stats", &[], b"").json();
    let refreshes: u64 = stats["refreshes"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap_or(0))
        .sum();
    assert!(refreshes >= 1, "forced refresh: {stats}");
    let log = chat_log(&mock);
    assert_eq!(log.len(), 2);
    assert_ne!(
        log[0]["bearer"], log[1]["bearer"],
        "the retry used the new token"
    );
}

#[test]
fn mid_stream_failures_end_the_stream_cleanly() {
    let (mock, gw) = setup();
    // The connection is cut after some events: the client gets an error event, not a hang.
    mock_faults(mock.addr, &json!(["cut"]));
    let resp = post_json(&gw, "/v1/messages", &ask("cut me", true));
    assert_eq!(resp.status, 200);
    let events = sse_events(&resp.text());
    assert_eq!(events[0].0.as_deref(), Some("message_start"));
    let last = events.last().unwrap();
    assert_eq!(last.0.as_deref(), Some("error"), "{}", resp.text());
    assert!(last.1["error"]["type"].is_string());

    // A corrupt frame is skipped, the rest of the answer arrives.
    mock_faults(mock.addr, &json!(["garbage"]));
    let events = checked_sse(&post_json(&gw, "/v1/messages", &ask("garbage", true)));
    assert!(!text_of(&events).is_empty());

    // Kiro's "output too long" exception ends the turn with max_tokens.
    mock_faults(mock.addr, &json!(["exception"]));
    let events = checked_sse(&post_json(&gw, "/v1/messages", &ask("long answer", true)));
    let delta = events.iter().find(|(e, _)| e == "message_delta").unwrap();
    assert_eq!(delta.1["delta"]["stop_reason"], "max_tokens");
}

/// A Claude-Code-like body of about `size` bytes: the real captured request, with its history
/// padded by extra turns.
fn claude_code_body(size: usize) -> Value {
    let capture: Value = serde_json::from_slice(
        &std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/claude-code.tool.messages-tool-result.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let mut body = capture["body"].clone();
    body["stream"] = json!(true);
    let tail = body["messages"].as_array().unwrap().clone();
    let turn = |i: usize| {
        [
            json!({"role": "user", "content": format!("step {i}: {}", "lorem ipsum dolor sit amet ".repeat(80))}),
            json!({"role": "assistant", "content": format!("done {i}: {}", "consectetur adipiscing elit ".repeat(80))}),
        ]
    };
    let base = serde_json::to_vec(&body).unwrap().len();
    let per_turn = serde_json::to_vec(&turn(0)).unwrap().len();
    let turns = size.saturating_sub(base).div_ceil(per_turn);
    let mut messages: Vec<Value> = (0..turns).flat_map(turn).collect();
    messages.extend(tail);
    body["messages"] = Value::Array(messages);
    body
}

#[test]
fn captured_claude_code_requests_are_accepted_by_strict_kiro() {
    let (mock, gw) = setup();
    for name in [
        "claude-code.plain.messages-stream.json",
        "claude-code.tool.messages-stream.json",
        "claude-code.tool.messages-tool-result.json",
    ] {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let capture: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let resp = post_json(&gw, "/v1/messages?beta=true", &capture["body"]);
        assert_eq!(resp.status, 200, "{name}: {}", resp.text());
        checked_sse(&resp);
    }
    let log = chat_log(&mock);
    assert_eq!(log.len(), 3);
    for r in &log {
        assert_eq!(r["verdict"], "accepted", "{}", r["reason"]);
    }
}

#[test]
fn a_600_kb_claude_code_body_works() {
    let (mock, gw) = setup();
    let body = claude_code_body(600_000);
    let size = serde_json::to_vec(&body).unwrap().len();
    assert!(size >= 590_000, "{size}");
    let events = checked_sse(&post_json(&gw, "/v1/messages?beta=true", &body));
    assert!(!text_of(&events).is_empty());
    let log = chat_log(&mock);
    assert_eq!(log[0]["verdict"], "accepted", "{}", log[0]["reason"]);
}

#[test]
fn a_large_body_is_resent_exactly_after_a_429() {
    let (mock, gw) = setup();
    let body = claude_code_body(200_000);
    assert!(serde_json::to_vec(&body).unwrap().len() > 64 * 1024);
    mock_faults(mock.addr, &json!(["429"]));
    let events = checked_sse(&post_json(&gw, "/v1/messages", &body));
    assert!(!text_of(&events).is_empty());
    let log = chat_log(&mock);
    assert_eq!(log.len(), 2);
    assert_eq!(log[0]["verdict"], "fault");
    assert_eq!(log[1]["verdict"], "accepted", "{}", log[1]["reason"]);
    assert_eq!(log[0]["body_len"], log[1]["body_len"]);
    assert!(log[0]["body_len"].as_u64().unwrap() > 64 * 1024);
    let fingerprint = |r: &Value| {
        r.get("body_sha256")
            .cloned()
            .unwrap_or_else(|| r["body"].clone())
    };
    assert_eq!(
        fingerprint(&log[0]),
        fingerprint(&log[1]),
        "identical converted body both times"
    );
}

#[test]
fn oversized_conversations_get_a_clear_error_before_kiro() {
    let (mock, gw) = setup();
    let body = claude_code_body(900_000);
    let resp = post_json(&gw, "/v1/messages", &body);
    assert_eq!(resp.status, 400, "{}", resp.text());
    let msg = resp.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.starts_with("Prompt is too long"), "{msg}");
    assert!(chat_log(&mock).is_empty());
}

#[test]
fn compressed_request_bodies_are_accepted() {
    use std::io::Write;
    let (mock, gw) = setup();
    let body = serde_json::to_vec(&ask("squeezed", false)).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&body).unwrap();
    let gz = gz.finish().unwrap();
    let zs = zstd::stream::encode_all(&body[..], 3).unwrap();
    for (encoding, bytes) in [("gzip", gz), ("zstd", zs)] {
        let resp = http(
            gw.proc.addr,
            "POST",
            "/v1/messages",
            &[("x-api-key", API_KEY), ("content-encoding", encoding)],
            &bytes,
        );
        assert_eq!(resp.status, 200, "{encoding}: {}", resp.text());
        assert_eq!(resp.json()["content"][0]["text"], "MOCK_OK: squeezed");
    }
    let resp = http(
        gw.proc.addr,
        "POST",
        "/v1/messages",
        &[("x-api-key", API_KEY), ("content-encoding", "gzip")],
        b"not gzip at all",
    );
    assert_eq!(resp.status, 400);
    assert_eq!(chat_log(&mock).len(), 2);
}

#[test]
fn a_body_that_never_arrives_gets_a_408() {
    use std::io::Write;
    let mock = start_mock(&[]);
    let gw = start_gateway(
        &mock,
        &json!([social_credential("a1", 3600)]),
        "  limits:\n    body_read_timeout_ms: 400\n",
    );
    let mut stream = std::net::TcpStream::connect(gw.proc.addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let head = format!(
        "POST /v1/messages HTTP/1.1\r\nhost: t\r\nx-api-key: {API_KEY}\r\ncontent-length: 5000\r\n\r\n{{\"model\""
    );
    stream.write_all(head.as_bytes()).unwrap();
    let resp = read_response(&mut std::io::BufReader::new(stream), false);
    assert_eq!(resp.status, 408, "{}", resp.text());
    assert_eq!(resp.json()["error"]["type"], "invalid_request_error");
    assert!(chat_log(&mock).is_empty());
}
