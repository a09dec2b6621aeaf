//! The OpenAI Chat Completions API end to end: the real `kiro-edge` binary in front of the
//! strict `kiro-mock`, driven with raw HTTP (every byte checked) and with the official `openai`
//! Python SDK (tests/sdk/test_openai_chat.py).

mod common;

use common::*;
use serde_json::{json, Value};

const MODEL: &str = "claude-sonnet-4-5";
const PATH: &str = "/v1/chat/completions";

/// A 1×1 PNG.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

fn setup() -> (Proc, Gateway) {
    let mock = start_mock(&["--pace-ms", "2"]);
    let gw = start_gateway(&mock, &json!([social_credential("a1", 3600)]), "");
    (mock, gw)
}

/// POSTs JSON the way the `openai` SDK does: a Bearer key, no Anthropic headers.
fn post(gw: &Gateway, body: &Value) -> Response {
    post_with_key(gw, body, API_KEY)
}

fn post_with_key(gw: &Gateway, body: &Value, key: &str) -> Response {
    let bearer = format!("Bearer {key}");
    http(
        gw.proc.addr,
        "POST",
        PATH,
        &[
            ("authorization", &bearer),
            ("content-type", "application/json"),
        ],
        &serde_json::to_vec(body).unwrap(),
    )
}

fn ask(text: &str, stream: bool) -> Value {
    json!({"model": MODEL, "stream": stream, "messages": [{"role": "user", "content": text}]})
}

/// The chat requests the mock saw (not token refreshes).
fn chat_log(mock: &Proc) -> Vec<Value> {
    mock_requests(mock.addr)
        .into_iter()
        .filter(|r| r["path"] == "/generateAssistantResponse")
        .collect()
}

/// Checks the data-only SSE grammar and returns the JSON chunks: no `event:` lines, every
/// frame one `data:` line or a comment, one `[DONE]` at the very end, the role chunk first.
fn checked_chunks(resp: &Response) -> Vec<Value> {
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("content-type"), Some("text/event-stream"));
    let text = resp.text();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    let mut chunks = Vec::new();
    for frame in text.trim_end_matches("\n\n").split("\n\n") {
        assert!(!frame.contains('\n'), "one line per frame: {frame:?}");
        if frame.starts_with(':') || frame == "data: [DONE]" {
            continue;
        }
        let data = frame.strip_prefix("data: ").expect("data-only frames");
        chunks.push(serde_json::from_str::<Value>(data).expect("JSON chunk"));
    }
    assert_eq!(text.matches("data: [DONE]").count(), 1);
    let first = &chunks[0];
    assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
    for chunk in &chunks {
        if chunk.get("error").is_none() {
            assert_eq!(chunk["object"], "chat.completion.chunk");
            assert_eq!(chunk["id"], first["id"]);
            assert_eq!(chunk["model"], MODEL);
        }
    }
    chunks
}

fn delta_text(chunks: &[Value], field: &str) -> String {
    chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"][field].as_str())
        .collect()
}

fn finish_reasons(chunks: &[Value]) -> Vec<String> {
    chunks
        .iter()
        .filter_map(|c| c["choices"][0]["finish_reason"].as_str())
        .map(str::to_owned)
        .collect()
}

fn weather_tool() -> Value {
    json!({"type": "function", "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }})
}

#[test]
fn non_streaming_completion() {
    let (mock, gw) = setup();
    let resp = post(&gw, &ask("hello there", false));
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let body = resp.json();
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], MODEL);
    assert_eq!(
        body["choices"][0]["message"],
        json!({"role": "assistant", "content": "MOCK_OK: hello there", "refusal": null})
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    let usage = &body["usage"];
    assert!(usage["prompt_tokens"].as_u64().unwrap() > 0);
    assert_eq!(
        usage["total_tokens"].as_u64(),
        Some(
            usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
        )
    );
    assert_eq!(chat_log(&mock)[0]["verdict"], "accepted");
}

#[test]
fn streaming_with_usage_follows_the_grammar() {
    let (_mock, gw) = setup();
    let mut body = ask("stream please", true);
    body["stream_options"] = json!({"include_usage": true});
    let chunks = checked_chunks(&post(&gw, &body));
    assert_eq!(delta_text(&chunks, "content"), "MOCK_OK: stream please");
    assert_eq!(finish_reasons(&chunks), ["stop"]);
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert!(last["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    assert_eq!(
        chunks.iter().filter(|c| c.get("usage").is_some()).count(),
        1
    );

    // Without the option there is no usage chunk.
    let chunks = checked_chunks(&post(&gw, &ask("no usage", true)));
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
}

#[test]
fn tool_call_round_trip() {
    let (mock, gw) = setup();
    let first = json!({
        "model": MODEL, "stream": true, "tools": [weather_tool()],
        "messages": [{"role": "user", "content": "Weather? [[mock:tool get_weather {\"city\":\"Paris\"}]]"}],
    });
    let chunks = checked_chunks(&post(&gw, &first));
    let calls: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0))
        .collect();
    let head = calls[0];
    assert_eq!(head["index"], 0);
    assert_eq!(head["type"], "function");
    assert_eq!(head["function"]["name"], "get_weather");
    assert_eq!(head["function"]["arguments"], "");
    let id = head["id"].as_str().unwrap().to_owned();
    assert!(calls[1..]
        .iter()
        .all(|c| c["index"] == 0 && c.get("id").is_none()));
    let arguments: String = calls
        .iter()
        .map(|c| c["function"]["arguments"].as_str().unwrap())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&arguments).unwrap(),
        json!({"city": "Paris"})
    );
    assert_eq!(finish_reasons(&chunks), ["tool_calls"]);

    let second = json!({
        "model": MODEL, "tools": [weather_tool()],
        "messages": [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": id, "type": "function", "function": {"name": "get_weather", "arguments": arguments}}]},
            {"role": "tool", "tool_call_id": id, "content": "18C, cloudy"},
        ],
    });
    let resp = post(&gw, &second);
    assert_eq!(resp.status, 200, "{}", resp.text());
    let content = resp.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        content.starts_with("MOCK_TOOL_RESULT: 18C, cloudy"),
        "{content}"
    );
    let log = chat_log(&mock);
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|r| r["verdict"] == "accepted"), "{log:?}");
}

#[test]
fn images_and_reasoning() {
    let (mock, gw) = setup();
    let body = json!({"model": MODEL, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG}")}},
    ]}]});
    let resp = post(&gw, &body);
    assert_eq!(resp.status, 200, "{}", resp.text());
    let sent =
        &chat_log(&mock)[0]["body"]["conversationState"]["currentMessage"]["userInputMessage"];
    assert_eq!(sent["images"][0]["format"], "png");
    assert_eq!(sent["images"][0]["source"]["bytes"], PNG);

    let mut body = ask("Why? [[mock:thinking]]", true);
    body["reasoning_effort"] = json!("low");
    let chunks = checked_chunks(&post(&gw, &body));
    let reasoning = delta_text(&chunks, "reasoning_content");
    assert!(reasoning.starts_with("The user wrote"), "{reasoning:?}");
    let text = delta_text(&chunks, "content");
    assert!(!text.is_empty() && !text.contains("thinking>"), "{text:?}");
}

#[test]
fn errors_use_the_openai_shape() {
    let (mock, gw) = setup();
    let resp = post_with_key(&gw, &ask("hi", false), "wrong");
    assert_eq!(resp.status, 401, "{}", resp.text());
    assert_eq!(resp.json()["error"]["type"], "authentication_error");

    let resp = post(
        &gw,
        &json!({"model": MODEL, "messages": [{"role": "user"}]}),
    );
    assert_eq!(resp.status, 400);
    assert_eq!(
        resp.json(),
        json!({"error": {"message": "messages[0].content: field required",
                         "type": "invalid_request_error", "param": null, "code": "invalid_value"}})
    );

    let remote = json!({"model": MODEL, "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]});
    let resp = post(&gw, &remote);
    assert_eq!(resp.status, 400);
    assert!(resp.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("base64 data URL"));
    assert!(chat_log(&mock).is_empty(), "nothing reached Kiro");

    mock_faults(mock.addr, &json!(["429", "429"]));
    let resp = post(&gw, &ask("busy", true));
    assert_eq!(resp.status, 429, "{}", resp.text());
    assert_eq!(resp.json()["error"]["type"], "rate_limit_error");
    http(mock.addr, "DELETE", "/__mock/faults", &[], b"");

    // After the first byte, a failure is an error chunk and the stream still ends with [DONE].
    mock_faults(mock.addr, &json!(["cut"]));
    let resp = post(&gw, &ask("cut me", true));
    let chunks = checked_chunks(&resp);
    assert!(
        chunks.last().unwrap()["error"]["message"].is_string(),
        "{}",
        resp.text()
    );
}

#[test]
fn models_list() {
    let (_mock, gw) = setup();
    let resp = http(
        gw.proc.addr,
        "GET",
        "/v1/models",
        &[("authorization", &format!("Bearer {API_KEY}"))],
        b"",
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    let list = resp.json();
    assert_eq!(list["object"], "list");
    let first = &list["data"][0];
    assert_eq!(first["object"], "model");
    assert!(first["id"].is_string() && first["created"].is_u64() && first["owned_by"].is_string());
}

/// The official `openai` Python SDK drives the gateway (tests/sdk/test_openai_chat.py), with
/// keep-alives every 200 ms.
#[test]
fn official_openai_sdk() {
    let mock = start_mock(&["--pace-ms", "2"]);
    let gw = start_gateway(&mock, &json!([social_credential("a1", 3600)]), FAST_PINGS);
    run_pytest("tests/sdk/test_openai_chat.py", &gw);
}
