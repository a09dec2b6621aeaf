"""The official `openai` SDK against kiro-edge in front of kiro-mock (Chat Completions).

Run by tests/openai_chat_e2e.rs, which starts both and sets KIRO_EDGE_URL, KIRO_EDGE_KEY and
KIRO_MOCK_URL. Every test runs against the live processes; `max_retries=0` so an error surfaces
at once (the gateway does its own retries before answering).
"""

import json
import os

import openai
import pytest

import mockctl
from mockctl import call as mock, chat_log

EDGE_URL = os.environ["KIRO_EDGE_URL"]
EDGE_KEY = os.environ["KIRO_EDGE_KEY"]
MODEL = "claude-sonnet-4-5"

# A 1x1 PNG.
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def client(api_key=EDGE_KEY):
    return openai.OpenAI(base_url=f"{EDGE_URL}/v1", api_key=api_key, max_retries=0, timeout=30)


@pytest.fixture(autouse=True)
def clean_mock():
    mockctl.reset()
    yield
    mock("DELETE", "/__mock/faults")


def test_non_streaming_text():
    resp = client().chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hello there"}]
    )
    assert resp.id.startswith("chatcmpl-")
    assert resp.object == "chat.completion"
    assert resp.model == MODEL
    choice = resp.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "MOCK_OK: hello there"
    assert choice.finish_reason == "stop"
    assert resp.usage.prompt_tokens > 0
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens
    assert resp.usage.prompt_tokens_details.cached_tokens == 0


def test_streaming_with_usage():
    stream = client().chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": "stream please"},
        ],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "MOCK_OK: stream please"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert len(usage_chunks) == 1 and usage_chunks[0] is chunks[-1]
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens > 0
    assert len({c.id for c in chunks}) == 1


def stream_tool_call(c):
    stream = c.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "user", "content": 'Weather in Paris? [[mock:tool get_weather {"city":"Paris"}]]'}
        ],
        tools=[WEATHER_TOOL],
        tool_choice="auto",
        parallel_tool_calls=True,
        stream=True,
    )
    calls = {}
    finish = None
    for chunk in stream:
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        for call in choice.delta.tool_calls or []:
            entry = calls.setdefault(call.index, {"id": None, "name": None, "arguments": ""})
            if call.id:
                entry["id"] = call.id
            if call.function and call.function.name:
                entry["name"] = call.function.name
            if call.function and call.function.arguments:
                entry["arguments"] += call.function.arguments
        finish = choice.finish_reason or finish
    return calls, finish


def test_streamed_tool_call_assembles_to_json():
    calls, finish = stream_tool_call(client())
    assert finish == "tool_calls"
    assert list(calls) == [0]
    assert calls[0]["name"] == "get_weather"
    assert calls[0]["id"]
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris"}


def test_tool_result_turn_is_accepted_by_strict_kiro():
    c = client()
    calls, _ = stream_tool_call(c)
    call = calls[0]
    resp = c.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": call["name"], "arguments": call["arguments"]},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": call["id"], "content": "18C, cloudy"},
        ],
        tools=[WEATHER_TOOL],
    )
    assert resp.choices[0].message.content.startswith("MOCK_TOOL_RESULT: 18C, cloudy")
    assert [r["verdict"] for r in chat_log()] == ["accepted", "accepted"]


def test_non_streaming_tool_call_has_null_content():
    resp = client().chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": '[[mock:tool get_weather {"city":"Rome"}]]'}],
        tools=[WEATHER_TOOL],
    )
    message = resp.choices[0].message
    assert resp.choices[0].finish_reason == "tool_calls"
    assert message.content is None
    assert message.tool_calls[0].type == "function"
    assert json.loads(message.tool_calls[0].function.arguments) == {"city": "Rome"}


def test_image_data_url():
    resp = client().chat.completions.create(
        model=MODEL,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                ],
            }
        ],
    )
    assert resp.choices[0].message.content.startswith("MOCK_OK")
    sent = chat_log()[0]["body"]["conversationState"]["currentMessage"]["userInputMessage"]
    assert sent["images"][0]["format"] == "png"
    assert sent["images"][0]["source"]["bytes"] == PNG


def test_remote_image_url_is_refused():
    with pytest.raises(openai.BadRequestError) as info:
        client().chat.completions.create(
            model=MODEL,
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}],
                }
            ],
        )
    assert "base64 data URL" in info.value.message
    assert chat_log() == []


def test_reasoning_effort_gives_reasoning_content():
    c = client()
    resp = c.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Why? [[mock:thinking]]"}],
        reasoning_effort="high",
    )
    message = resp.choices[0].message
    reasoning = getattr(message, "reasoning_content", None)
    assert reasoning and "The user wrote" in reasoning
    assert "<thinking>" not in (message.content or "")
    assert resp.usage.completion_tokens_details.reasoning_tokens > 0

    stream = c.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Why? [[mock:thinking]]"}],
        reasoning_effort="medium",
        stream=True,
    )
    streamed = ""
    text = ""
    for chunk in stream:
        delta = chunk.choices[0].delta
        streamed += getattr(delta, "reasoning_content", None) or ""
        text += delta.content or ""
    assert "The user wrote" in streamed
    assert text and "<thinking>" not in text


def test_bad_key_is_authentication_error():
    with pytest.raises(openai.AuthenticationError) as info:
        client(api_key="wrong-key").chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}]
        )
    assert info.value.status_code == 401
    assert info.value.type == "authentication_error"


def test_malformed_request_is_bad_request():
    with pytest.raises(openai.BadRequestError) as info:
        client().chat.completions.create(model=MODEL, messages=[{"role": "user"}])
    assert "messages[0].content" in info.value.message
    assert info.value.type == "invalid_request_error"
    with pytest.raises(openai.BadRequestError) as info:
        client().chat.completions.create(
            model=MODEL,
            messages=[
                {"role": "user", "content": "hi"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{oops"}}
                    ],
                },
            ],
        )
    assert "messages[1].tool_calls[0].function.arguments" in info.value.message
    assert chat_log() == []


def test_upstream_throttling_is_rate_limit_error():
    mock("POST", "/__mock/faults", ["429"] * 2)
    with pytest.raises(openai.RateLimitError) as info:
        client().chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "busy"}])
    assert info.value.status_code == 429
    assert info.value.type == "rate_limit_error"
    assert len(chat_log()) > 1, "the gateway retried before giving up"


def test_mid_stream_failure_raises():
    mock("POST", "/__mock/faults", ["cut"])
    stream = client().chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "cut me"}], stream=True
    )
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


def test_models_list():
    models = client().models.list()
    ids = [m.id for m in models]
    assert ids and all(m.object == "model" for m in models)


def test_streaming_through_silences():
    # Kiro silent for 0.7 s twice: the gateway sends SSE comments every 200 ms meanwhile.
    stream = client().chat.completions.create(
        model=MODEL, stream=True,
        messages=[{"role": "user", "content": "[[mock:events 3 700]]"}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "tok1 tok2 tok3 "
    assert chunks[-1].choices[0].finish_reason == "stop"
