//! The Gemini API end to end: the real `kiro-edge` binary in front of the strict `kiro-mock`,
//! driven with raw HTTP (every SSE byte checked), with the captured Gemini CLI requests, and
//! with the official `google-genai` Python SDK (tests/sdk/test_gemini.py).

mod common;

use std::path::PathBuf;

use common::*;
use serde_json::{json, Value};

const MODEL: &str = "gemini-2.5-flash";

/// Gemini model names are not Kiro's: the configuration maps them to a Claude model.
const MODELS_YAML: &str = "  models:\n    fallback: claude-sonnet-4.5\n";

fn setup() -> (Proc, Gateway) {
    let mock = start_mock(&["--pace-ms", "2"]);
    let gw = start_gateway(&mock, &json!([social_credential("g1", 3600)]), MODELS_YAML);
    (mock, gw)
}

/// POSTs JSON the way the google-genai SDKs do: the key in `x-goog-api-key`.
fn post(gw: &Gateway, path: &str, body: &Value) -> Response {
    post_with_key(gw, path, body, API_KEY)
}

fn post_with_key(gw: &Gateway, path: &str, body: &Value, key: &str) -> Response {
    http(
        gw.proc.addr,
        "POST",
        path,
        &[
            ("x-goog-api-key", key),
            ("content-type", "application/json"),
        ],
        &serde_json::to_vec(body).unwrap(),
    )
}

fn ask(text: &str) -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": text}]}]})
}

fn stream_path(model: &str) -> String {
    format!("/v1beta/models/{model}:streamGenerateContent?alt=sse")
}

fn generate_path(model: &str) -> String {
    format!("/v1beta/models/{model}:generateContent")
}

/// The chat requests the mock saw (not token refreshes).
fn chat_log(mock: &Proc) -> Vec<Value> {
    mock_requests(mock.addr)
        .into_iter()
        .filter(|r| r["path"] == "/generateAssistantResponse")
        .collect()
}

/// Checks the strict SSE grammar Gemini CLI's parser needs and returns the chunks: every frame
/// exactly `data: <one line of JSON>` plus a blank line; no `event:`, comment or `[DONE]`.
fn sse_chunks(resp: &Response) -> Vec<Value> {
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert!(
        resp.header("content-type")
            .is_some_and(|t| t.starts_with("text/event-stream")),
        "{:?}",
        resp.headers
    );
    let body = resp.text();
    assert!(!body.contains("event:"), "an event: line: {body}");
    assert!(!body.contains("[DONE]"), "{body}");
    assert!(body.ends_with("\n\n"), "unterminated: {body:?}");
    body.trim_end_matches("\n\n")
        .split("\n\n")
        .map(|frame| {
            assert!(!frame.contains('\n'), "multi-line frame {frame:?}");
            let data = frame
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not a data frame: {frame:?}"));
            serde_json::from_str(data).unwrap_or_else(|e| panic!("{e}: {data}"))
        })
        .collect()
}

/// The visible text of chunks (thought parts excluded).
fn text_of(chunks: &[Value]) -> String {
    chunks
        .iter()
        .flat_map(|c| c["candidates"][0]["content"]["parts"].as_array().cloned())
        .flatten()
        .filter(|p| p["thought"] != true)
        .filter_map(|p| p["text"].as_str().map(str::to_owned))
        .collect()
}

/// Asserts that only the last chunk finishes, with `reason` and the usage.
fn assert_finished(chunks: &[Value], reason: &str) {
    let (last, rest) = chunks.split_last().expect("at least one chunk");
    assert_eq!(last["candidates"][0]["finishReason"], reason, "{last}");
    let usage = &last["usageMetadata"];
    assert!(usage["promptTokenCount"].as_u64().unwrap() > 0, "{last}");
    assert!(
        usage["candidatesTokenCount"].as_u64().unwrap() > 0,
        "{last}"
    );
    assert_eq!(last["modelVersion"], MODEL);
    for chunk in rest {
        assert!(
            chunk["candidates"][0].get("finishReason").is_none(),
            "{chunk}"
        );
    }
}

#[test]
fn sse_stream_has_only_data_lines_and_ends_with_a_finish_reason() {
    let (mock, gw) = setup();
    let resp = post(&gw, &stream_path(MODEL), &ask("hello gemini"));
    let chunks = sse_chunks(&resp);
    assert!(chunks.len() >= 3, "the text streams in pieces: {chunks:?}");
    assert_eq!(text_of(&chunks), "MOCK_OK: hello gemini");
    assert_finished(&chunks, "STOP");
    let ids: Vec<&Value> = chunks.iter().map(|c| &c["responseId"]).collect();
    assert!(ids.iter().all(|id| *id == ids[0] && id.is_string()));

    // `?key=` authenticates too (REST style), and `/v1/` is the same API.
    let path = format!("/v1/models/{MODEL}:streamGenerateContent?alt=sse&key={API_KEY}");
    let resp = http(
        gw.proc.addr,
        "POST",
        &path,
        &[("content-type", "application/json")],
        &serde_json::to_vec(&ask("by query key")).unwrap(),
    );
    assert_eq!(text_of(&sse_chunks(&resp)), "MOCK_OK: by query key");
    assert!(chat_log(&mock).iter().all(|r| r["verdict"] == "accepted"));
}

#[test]
fn streams_function_calls_whole_and_thoughts_when_asked() {
    let (mock, gw) = setup();
    let mut body =
        ask(r#"Paris? [[mock:thinking]] [[mock:tool get_weather {"city":"Paris","days":2}]]"#);
    body["tools"] = json!([{"functionDeclarations": [{"name": "get_weather",
        "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}, "days": {"type": "INTEGER"}}}}]}]);
    body["generationConfig"] =
        json!({"thinkingConfig": {"includeThoughts": true, "thinkingBudget": 4096}});
    let chunks = sse_chunks(&post(&gw, &stream_path(MODEL), &body));
    assert_finished(&chunks, "STOP");
    let parts: Vec<&Value> = chunks
        .iter()
        .flat_map(|c| c["candidates"][0]["content"]["parts"].as_array().unwrap())
        .collect();
    assert!(
        parts.iter().any(|p| p["thought"] == true),
        "thoughts are shown: {parts:?}"
    );
    let calls: Vec<&Value> = parts.iter().filter_map(|p| p.get("functionCall")).collect();
    assert_eq!(calls.len(), 1, "{parts:?}");
    assert_eq!(calls[0]["name"], "get_weather");
    assert_eq!(calls[0]["args"], json!({"city": "Paris", "days": 2}));
    let id = calls[0]["id"].as_str().unwrap().to_owned();

    // The function response goes back, paired by id, and the strict mock accepts the history.
    let second = json!({"contents": [
        {"role": "user", "parts": [{"text": "Paris?"}]},
        {"role": "model", "parts": [{"functionCall": calls[0], "thoughtSignature": "skip_thought_signature_validator"}]},
        {"role": "user", "parts": [{"functionResponse": {"id": id, "name": "get_weather", "response": {"output": "18C"}}}]}
    ], "tools": body["tools"]});
    let chunks = sse_chunks(&post(&gw, &stream_path(MODEL), &second));
    assert!(
        text_of(&chunks).starts_with("MOCK_TOOL_RESULT: {\"output\":\"18C\"}"),
        "{chunks:?}"
    );
    assert!(chat_log(&mock).iter().all(|r| r["verdict"] == "accepted"));
}

#[test]
fn json_array_stream_without_alt_sse() {
    let (_mock, gw) = setup();
    let resp = post(
        &gw,
        &format!("/v1beta/models/{MODEL}:streamGenerateContent"),
        &ask("array please"),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert!(resp
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/json")));
    let text = resp.text();
    assert!(text.starts_with('[') && text.ends_with(']'), "{text}");
    let chunks: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(text_of(&chunks), "MOCK_OK: array please");
    assert_finished(&chunks, "STOP");
}

#[test]
fn generate_content_and_the_routing_call() {
    let (mock, gw) = setup();
    let resp = post(&gw, &generate_path(MODEL), &ask("one shot"));
    assert_eq!(resp.status, 200, "{}", resp.text());
    let v = resp.json();
    assert_eq!(
        v["candidates"][0]["content"],
        json!({"role": "model", "parts": [{"text": "MOCK_OK: one shot"}]})
    );
    assert_finished(std::slice::from_ref(&v), "STOP");

    // Gemini CLI's hidden model-routing call must get parseable JSON back.
    let routing = json!({
        "contents": [{"role": "user", "parts": [{"text": "<user request>say hi</user request>"}]}],
        "systemInstruction": {"role": "user", "parts": [{"text": "You are a routing model."}]},
        "generationConfig": {
            "temperature": 0, "maxOutputTokens": 1024,
            "responseMimeType": "application/json",
            "responseJsonSchema": {"type": "OBJECT", "properties": {
                "complexity_reasoning": {"type": "STRING"},
                "complexity_score": {"type": "INTEGER"}},
                "required": ["complexity_reasoning", "complexity_score"]},
            "thinkingConfig": {"thinkingBudget": 0}
        }
    });
    let resp = post(&gw, &generate_path("gemini-3.5-flash-lite"), &routing);
    assert_eq!(resp.status, 200, "{}", resp.text());
    let v = resp.json();
    let text = v["candidates"][0]["content"]["parts"][0]["text"]
        .as_str()
        .unwrap();
    let answer: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert!(answer["complexity_score"].is_i64(), "{answer}");
    assert!(answer["complexity_reasoning"].is_string(), "{answer}");
    assert_eq!(v["modelVersion"], "gemini-3.5-flash-lite");
    assert!(chat_log(&mock).iter().all(|r| r["verdict"] == "accepted"));
}

#[test]
fn gemini_cli_captures_are_accepted_by_the_strict_mock() {
    let (mock, gw) = setup();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("gemini-cli."))
        .collect();
    names.sort();
    assert_eq!(names.len(), 3, "{names:?}");
    for name in &names {
        let capture: Value =
            serde_json::from_slice(&std::fs::read(dir.join(name)).unwrap()).unwrap();
        let path = format!(
            "{}?{}",
            capture["path"].as_str().unwrap(),
            capture["query"].as_str().unwrap()
        );
        let resp = post(&gw, &path, &capture["body"]);
        let chunks = sse_chunks(&resp);
        assert_finished(&chunks, "STOP");
        let text = text_of(&chunks);
        if name.contains("tool-result") {
            assert!(text.starts_with("MOCK_TOOL_RESULT: "), "{name}: {text}");
        } else {
            assert!(text.starts_with("MOCK_OK: "), "{name}: {text}");
        }
    }
    let log = chat_log(&mock);
    assert_eq!(log.len(), 3);
    for request in &log {
        assert_eq!(request["verdict"], "accepted", "{request}");
    }
}

#[test]
fn errors_in_the_gemini_shape() {
    let (_mock, gw) = setup();
    let resp = post_with_key(&gw, &generate_path(MODEL), &ask("hi"), "wrong-key");
    assert_eq!(resp.status, 401, "{}", resp.text());
    let v = resp.json();
    assert_eq!(v["error"]["code"], 401);
    assert_eq!(v["error"]["status"], "UNAUTHENTICATED");

    let resp = post(
        &gw,
        &generate_path(MODEL),
        &json!({"contents": [{"role": "user", "parts": [
        {"fileData": {"mimeType": "video/mp4", "fileUri": "gs://bucket/v.mp4"}}]}]}),
    );
    assert_eq!(resp.status, 400, "{}", resp.text());
    let v = resp.json();
    assert_eq!(v["error"]["status"], "INVALID_ARGUMENT");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("contents[0].parts[0].fileData: "));

    // Every attempt rate-limited upstream: a 429 with the Gemini status.
    let resp = post(&gw, &stream_path(MODEL), &ask("busy [[mock:fault 429]]"));
    assert_eq!(resp.status, 429, "{}", resp.text());
    let v = resp.json();
    assert_eq!(v["error"]["code"], 429);
    assert_eq!(v["error"]["status"], "RESOURCE_EXHAUSTED");
}

#[test]
fn count_tokens_and_model_list() {
    let (mock, gw) = setup();
    let resp = post(
        &gw,
        &format!("/v1beta/models/{MODEL}:countTokens"),
        &ask(&"tokens ".repeat(200)),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert!(resp.json()["totalTokens"].as_u64().unwrap() > 100);
    assert!(chat_log(&mock).is_empty(), "answered locally");

    let resp = http(
        gw.proc.addr,
        "GET",
        "/v1beta/models",
        &[("x-goog-api-key", API_KEY)],
        b"",
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    let models = resp.json()["models"].as_array().cloned().unwrap();
    assert!(!models.is_empty());
    assert!(models
        .iter()
        .all(|m| m["name"].as_str().unwrap().starts_with("models/")));
}

/// With keep-alives every 200 ms (which Gemini's dialect writes as nothing).
#[test]
fn google_genai_python_sdk() {
    let mock = start_mock(&["--pace-ms", "2"]);
    let extra = format!("{MODELS_YAML}{FAST_PINGS}");
    let gw = start_gateway(&mock, &json!([social_credential("g1", 3600)]), &extra);
    run_pytest("tests/sdk/test_gemini.py", &gw);
}
