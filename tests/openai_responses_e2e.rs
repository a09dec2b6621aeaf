//! The OpenAI Responses API end to end: the real `kiro-edge` binary in front of the strict
//! `kiro-mock`, with the captured Codex requests, raw HTTP for exact checks, and the official
//! Python `openai` SDK (tests/sdk/test_openai_responses.py).

mod common;

use common::*;
use serde_json::{json, Value};

const MODEL: &str = "claude-sonnet-4-5";

/// Codex's captures name a model slug Codex does not know (so that it sends plain function
/// tools); the operator maps it with an alias.
const ALIASES: &str = "  models:\n    aliases:\n      kiro-gw-model: claude-sonnet-4.5\n";

fn setup() -> (Proc, Gateway) {
    let mock = start_mock(&["--pace-ms", "2"]);
    let gw = start_gateway(&mock, &json!([social_credential("a1", 3600)]), ALIASES);
    (mock, gw)
}

fn post_with_key(gw: &Gateway, body: &Value, key: &str) -> Response {
    let bytes = serde_json::to_vec(body).unwrap();
    let auth = format!("Bearer {key}");
    http(
        gw.proc.addr,
        "POST",
        "/v1/responses",
        &[
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
        ],
        &bytes,
    )
}

fn post(gw: &Gateway, body: &Value) -> Response {
    post_with_key(gw, body, API_KEY)
}

/// The chat requests the mock saw (not token refreshes).
fn chat_log(mock: &Proc) -> Vec<Value> {
    mock_requests(mock.addr)
        .into_iter()
        .filter(|r| r["path"] == "/generateAssistantResponse")
        .collect()
}

fn clear_log(mock: &Proc) {
    let r = http(mock.addr, "DELETE", "/__mock/requests", &[], b"");
    assert!(r.status < 300, "{}", r.text());
}

/// Checks the Responses SSE grammar and returns the events: `event:` equals the data's
/// `type`, sequence numbers count from 0, `response.created` first, one terminal event last,
/// one response id throughout, and every `output_item.added` closed by an `output_item.done`
/// of the same item at the same index.
fn checked_sse(resp: &Response) -> Vec<(String, Value)> {
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("content-type"), Some("text/event-stream"));
    let events: Vec<(String, Value)> = sse_events(&resp.text())
        .into_iter()
        .map(|(e, d)| (e.expect("every event has an event: line"), d))
        .collect();
    for (n, (name, data)) in events.iter().enumerate() {
        assert_eq!(data["type"], name.as_str(), "{data}");
        assert_eq!(data["sequence_number"], n as u64, "{data}");
    }
    assert_eq!(events[0].0, "response.created");
    let id = events[0].1["response"]["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("resp_"), "{id}");
    let terminal = [
        "response.completed",
        "response.incomplete",
        "response.failed",
    ];
    let last = &events.last().unwrap().0;
    assert!(terminal.contains(&last.as_str()), "ends with {last}");
    let mut open: Option<(u64, String)> = None;
    let mut next_index = 0;
    for (name, data) in &events {
        if let Some(response) = data.get("response") {
            assert_eq!(response["id"], id.as_str(), "one response id");
        }
        if terminal.contains(&name.as_str()) && name != last {
            panic!("{name} before the end");
        }
        match name.as_str() {
            "response.output_item.added" => {
                assert!(open.is_none(), "one item at a time");
                assert_eq!(data["output_index"], next_index);
                next_index += 1;
                let item_id = data["item"]["id"].as_str().unwrap().to_owned();
                open = Some((data["output_index"].as_u64().unwrap(), item_id));
            }
            "response.output_item.done" => {
                let (index, item_id) = open.take().expect("done without added");
                assert_eq!(data["output_index"], index);
                assert_eq!(data["item"]["id"], item_id.as_str());
            }
            _ => {
                if let Some(item_id) = data.get("item_id") {
                    let (_, open_id) = open.as_ref().expect("item event outside an item");
                    assert_eq!(item_id, open_id.as_str());
                }
            }
        }
    }
    events
}

/// The finished items, from `output_item.done` (where Codex reads them).
fn done_items(events: &[(String, Value)]) -> Vec<Value> {
    events
        .iter()
        .filter(|(name, _)| name == "response.output_item.done")
        .map(|(_, d)| d["item"].clone())
        .collect()
}

fn delta_text(events: &[(String, Value)], kind: &str) -> String {
    events
        .iter()
        .filter(|(name, _)| name == kind)
        .map(|(_, d)| d["delta"].as_str().unwrap().to_owned())
        .collect()
}

fn ask(text: &str, stream: bool) -> Value {
    json!({"model": MODEL, "stream": stream, "input": text})
}

fn weather_tool() -> Value {
    json!({
        "type": "function", "name": "get_weather", "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    })
}

/// The captured Codex bodies, with their file names.
fn codex_fixtures() -> Vec<(String, Value)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut fixtures: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let name = path.file_name()?.to_str()?.to_owned();
            name.starts_with("codex.").then_some((name, path))
        })
        .map(|(name, path)| {
            let capture: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
            (name, capture["body"].clone())
        })
        .collect();
    fixtures.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(fixtures.len(), 3);
    fixtures
}

#[test]
fn codex_captures_are_accepted_upstream() {
    let (mock, gw) = setup();
    for (name, body) in codex_fixtures() {
        clear_log(&mock);
        let events = checked_sse(&post(&gw, &body));
        let (last, completed) = events.last().unwrap();
        assert_eq!(last, "response.completed", "{name}");
        assert_eq!(completed["response"]["status"], "completed", "{name}");
        assert_eq!(completed["response"]["model"], "kiro-gw-model", "{name}");
        assert!(
            completed["response"]["usage"]["input_tokens"]
                .as_u64()
                .unwrap()
                > 0
        );
        // Codex reads the answer from output_item.done only.
        let items = done_items(&events);
        let message = items.iter().find(|i| i["type"] == "message").unwrap();
        let text = message["content"][0]["text"].as_str().unwrap();
        if name.contains("tool-result") {
            assert!(
                text.starts_with("MOCK_TOOL_RESULT: Chunk ID"),
                "{name}: {text}"
            );
        } else {
            assert!(text.starts_with("MOCK_OK: "), "{name}: {text}");
        }
        let log = chat_log(&mock);
        assert_eq!(log.len(), 1, "{name}");
        assert_eq!(
            log[0]["verdict"], "accepted",
            "{name}: {}",
            log[0]["reason"]
        );
    }
}

#[test]
fn streaming_text_follows_the_grammar() {
    let (_mock, gw) = setup();
    let events = checked_sse(&post(&gw, &ask("hello there", true)));
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(&names[..2], ["response.created", "response.in_progress"]);
    assert_eq!(
        delta_text(&events, "response.output_text.delta"),
        "MOCK_OK: hello there"
    );
    let items = done_items(&events);
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["content"][0]["text"], "MOCK_OK: hello there");
    assert_eq!(items[0]["status"], "completed");
    let completed = &events.last().unwrap().1["response"];
    assert_eq!(completed["output"], json!(items));
    let usage = &completed["usage"];
    assert_eq!(
        usage["total_tokens"],
        usage["input_tokens"].as_u64().unwrap() + usage["output_tokens"].as_u64().unwrap()
    );
}

#[test]
fn non_streaming_response_object() {
    let (_mock, gw) = setup();
    let mut body = ask("hello there", false);
    body["instructions"] = json!("Be brief.");
    body["metadata"] = json!({"run": "1"});
    let resp = post(&gw, &body);
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let doc = resp.json();
    assert!(doc["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(doc["object"], "response");
    assert_eq!(doc["status"], "completed");
    assert_eq!(doc["model"], MODEL);
    assert_eq!(doc["instructions"], "Be brief.");
    assert_eq!(doc["metadata"], json!({"run": "1"}));
    assert_eq!(doc["store"], true);
    assert_eq!(doc["output"][0]["type"], "message");
    assert_eq!(doc["output"][0]["role"], "assistant");
    assert_eq!(
        doc["output"][0]["content"][0]["text"],
        "MOCK_OK: hello there"
    );
    assert!(doc["usage"]["output_tokens"].as_u64().unwrap() > 0);
}

#[test]
fn function_call_round_trip() {
    let (mock, gw) = setup();
    let first = json!({
        "model": MODEL, "stream": true, "tools": [weather_tool()],
        "input": [{"role": "user", "content": "Weather? [[mock:tool get_weather {\"city\":\"Paris\"}]]"}],
    });
    let events = checked_sse(&post(&gw, &first));
    let items = done_items(&events);
    let call = items
        .iter()
        .find(|i| i["type"] == "function_call")
        .unwrap()
        .clone();
    assert_eq!(call["name"], "get_weather");
    assert_eq!(call["status"], "completed");
    let call_id = call["call_id"].as_str().unwrap().to_owned();
    assert!(call["id"].as_str().unwrap().starts_with("fc_"));
    let arguments = call["arguments"].as_str().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(arguments).unwrap(),
        json!({"city": "Paris"})
    );
    assert_eq!(
        delta_text(&events, "response.function_call_arguments.delta"),
        arguments
    );

    // Codex sends the call back as it got it, then the output.
    let second = json!({
        "model": MODEL, "stream": false, "tools": [weather_tool()],
        "input": [
            {"role": "user", "content": "Weather?"},
            call,
            {"type": "function_call_output", "call_id": call_id, "output": "18C, cloudy"},
        ],
    });
    let resp = post(&gw, &second);
    assert_eq!(resp.status, 200, "{}", resp.text());
    let text = resp.json()["output"][0]["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text.starts_with("MOCK_TOOL_RESULT: 18C, cloudy"), "{text}");
    let log = chat_log(&mock);
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|r| r["verdict"] == "accepted"), "{log:?}");
    // The upstream sees the same tool id in the call and in the result.
    let upstream = log[1]["body"].to_string();
    assert!(
        upstream.matches(call_id.as_str()).count() >= 2,
        "{upstream}"
    );
}

#[test]
fn custom_and_namespaced_tools_round_trip() {
    let (mock, gw) = setup();
    let tools = json!([
        {"type": "custom", "name": "apply_patch", "description": "Edit files.",
         "format": {"type": "grammar", "syntax": "lark", "definition": "start: \"*** Begin Patch\" /(.|\\n)*/"}},
        {"type": "namespace", "name": "multi_agent_v1", "description": "Sub-agents.", "tools": [
            {"type": "function", "name": "spawn_agent", "parameters": {"type": "object", "properties": {"task": {"type": "string"}}}},
        ]},
        {"type": "web_search"},
    ]);
    let events = checked_sse(&post(
        &gw,
        &json!({"model": MODEL, "stream": true, "tools": tools, "input":
            "Patch it [[mock:tool apply_patch {\"input\":\"*** Begin Patch\\n*** End Patch\"}]]"}),
    ));
    let items = done_items(&events);
    let custom = items
        .iter()
        .find(|i| i["type"] == "custom_tool_call")
        .unwrap()
        .clone();
    assert_eq!(custom["name"], "apply_patch");
    assert_eq!(custom["input"], "*** Begin Patch\n*** End Patch");
    assert!(
        events
            .iter()
            .any(|(n, d)| n == "response.custom_tool_call_input.done"
                && d["input"] == custom["input"])
    );

    let events = checked_sse(&post(
        &gw,
        &json!({"model": MODEL, "stream": true, "tools": tools, "input":
            "Spawn [[mock:tool spawn_agent {\"task\":\"x\"}]]"}),
    ));
    let items = done_items(&events);
    let call = items
        .iter()
        .find(|i| i["type"] == "function_call")
        .unwrap()
        .clone();
    assert_eq!(call["name"], "spawn_agent");
    assert_eq!(call["namespace"], "multi_agent_v1");

    // Both replayed with their outputs: the strict upstream accepts the history.
    clear_log(&mock);
    let resp = post(
        &gw,
        &json!({"model": MODEL, "tools": tools, "input": [
            {"role": "user", "content": "go"},
            custom,
            {"type": "custom_tool_call_output", "call_id": custom["call_id"], "output": "patched"},
            call,
            {"type": "function_call_output", "call_id": call["call_id"], "output": [{"type": "input_text", "text": "spawned"}]},
        ]}),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    let log = chat_log(&mock);
    assert_eq!(log[0]["verdict"], "accepted", "{}", log[0]["reason"]);
}

#[test]
fn reasoning_comes_first_as_a_summary() {
    let (_mock, gw) = setup();
    let mut body = ask("Think [[mock:thinking]]", true);
    body["reasoning"] = json!({"effort": "high", "summary": "auto"});
    let events = checked_sse(&post(&gw, &body));
    let items = done_items(&events);
    assert_eq!(items[0]["type"], "reasoning", "{items:?}");
    let summary = items[0]["summary"][0]["text"].as_str().unwrap();
    assert!(!summary.is_empty());
    assert_eq!(
        delta_text(&events, "response.reasoning_summary_text.delta"),
        summary
    );
    assert_eq!(items.last().unwrap()["type"], "message");
    let completed = &events.last().unwrap().1["response"];
    assert_eq!(completed["reasoning"]["effort"], "high");
    assert!(
        completed["usage"]["output_tokens_details"]["reasoning_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[test]
fn errors_use_the_openai_shape() {
    let (mock, gw) = setup();
    let remote = json!({"model": MODEL, "input": [{"role": "user", "content": [
        {"type": "input_image", "image_url": "https://example.com/cat.png"}]}]});
    let resp = post(&gw, &remote);
    assert_eq!(resp.status, 400, "{}", resp.text());
    let error = &resp.json()["error"];
    assert_eq!(error["type"], "invalid_request_error");
    assert_eq!(error["param"], "input[0].content[0].image_url");
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("only base64 data: URLs"));

    let resp = post_with_key(&gw, &ask("hi", false), "wrong-key");
    assert_eq!(resp.status, 401);
    assert!(resp.json()["error"]["message"].is_string());

    let resp = post(&gw, &json!({"model": MODEL}));
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json()["error"]["param"], "input");

    mock_faults(mock.addr, &json!(["429", "429"]));
    let resp = post(&gw, &ask("hi", true));
    assert_eq!(resp.status, 429, "{}", resp.text());
    assert_eq!(resp.json()["error"]["code"], "rate_limit_exceeded");
}

#[test]
fn failures_after_the_start_end_the_stream_with_response_failed() {
    let (mock, gw) = setup();
    mock_faults(mock.addr, &json!(["cut"]));
    let events = checked_sse(&post(&gw, &ask("cut me", true)));
    let (last, data) = events.last().unwrap();
    assert_eq!(last, "response.failed");
    assert_eq!(data["response"]["status"], "failed");
    assert!(data["response"]["error"]["code"].is_string());
    assert!(data["response"]["error"]["message"].is_string());

    // Kiro's "output too long" exception: the response is incomplete, which Codex does not
    // retry.
    mock_faults(mock.addr, &json!(["exception"]));
    let events = checked_sse(&post(&gw, &ask("long answer", true)));
    let (last, data) = events.last().unwrap();
    assert_eq!(last, "response.incomplete");
    assert_eq!(
        data["response"]["incomplete_details"]["reason"],
        "max_output_tokens"
    );
}

#[test]
fn stored_responses_get_delete_and_chain() {
    let (mock, gw) = setup();
    let auth = format!("Bearer {API_KEY}");
    let headers = [("authorization", auth.as_str())];
    let missing = http(
        gw.proc.addr,
        "GET",
        "/v1/responses/resp_nope",
        &headers,
        b"",
    );
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.json()["error"]["message"],
        "Response with id 'resp_nope' not found."
    );

    let first = post(&gw, &ask("remember the word kiwi", false)).json();
    let id = first["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/responses/{id}");
    let got = http(gw.proc.addr, "GET", &path, &headers, b"");
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.json()["output"], first["output"]);

    clear_log(&mock);
    let mut second = ask("and now?", false);
    second["previous_response_id"] = json!(id);
    let resp = post(&gw, &second);
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["previous_response_id"], id.as_str());
    let log = chat_log(&mock);
    assert_eq!(log[0]["verdict"], "accepted", "{}", log[0]["reason"]);
    assert!(
        log[0]["body"].to_string().contains("kiwi"),
        "history replayed"
    );

    let deleted = http(gw.proc.addr, "DELETE", &path, &headers, b"");
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    let gone = http(gw.proc.addr, "GET", &path, &headers, b"");
    assert_eq!(gone.status, 404);

    // `store:false` keeps nothing.
    let mut unstored = ask("forget me", false);
    unstored["store"] = json!(false);
    let id = post(&gw, &unstored).json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/responses/{id}");
    assert_eq!(http(gw.proc.addr, "GET", &path, &headers, b"").status, 404);
}

/// The official `openai` Python SDK drives the gateway (tests/sdk/test_openai_responses.py),
/// with keep-alives every 200 ms.
#[test]
fn official_openai_sdk_responses() {
    let mock = start_mock(&["--pace-ms", "2"]);
    let extra = format!("{ALIASES}{FAST_PINGS}");
    let gw = start_gateway(&mock, &json!([social_credential("a1", 3600)]), &extra);
    run_pytest("tests/sdk/test_openai_responses.py", &gw);
}
