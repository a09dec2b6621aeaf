"""The official `openai` SDK against kiro-edge in front of kiro-mock (Responses API).

Run by tests/openai_responses_e2e.rs, which starts both and sets KIRO_EDGE_URL, KIRO_EDGE_KEY
and KIRO_MOCK_URL. `max_retries=0` so an error surfaces at once (the gateway does its own
retries before answering).
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
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
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
    resp = client().responses.create(model=MODEL, input="hello there", instructions="Be brief.")
    assert resp.id.startswith("resp_")
    assert resp.object == "response"
    assert resp.status == "completed"
    assert resp.model == MODEL
    assert resp.instructions == "Be brief."
    assert resp.output_text == "MOCK_OK: hello there"
    message = resp.output[0]
    assert message.type == "message" and message.role == "assistant"
    assert resp.usage.input_tokens > 0
    assert resp.usage.total_tokens == resp.usage.input_tokens + resp.usage.output_tokens
    assert resp.usage.input_tokens_details.cached_tokens == 0


def test_streaming_text_events():
    stream = client().responses.create(model=MODEL, input="hello stream", stream=True)
    events = list(stream)
    types = [e.type for e in events]
    assert types[0] == "response.created"
    assert types[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "MOCK_OK: hello stream"
    done = [e.item for e in events if e.type == "response.output_item.done"]
    assert done[0].content[0].text == text
    assert events[-1].response.output_text == text


def test_stream_helper_accumulates():
    with client().responses.stream(model=MODEL, input="hello helper") as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    assert final.status == "completed"
    assert final.output_text == "MOCK_OK: hello helper"


def test_function_call_and_its_output():
    first = client().responses.create(
        model=MODEL,
        tools=[WEATHER_TOOL],
        input="Weather? [[mock:tool get_weather {\"city\":\"Paris\"}]]",
    )
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1
    call = calls[0]
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris"}
    assert call.id.startswith("fc_") and call.call_id

    second = client().responses.create(
        model=MODEL,
        tools=[WEATHER_TOOL],
        input=[
            {"role": "user", "content": "Weather?"},
            call.model_dump(exclude_none=True),
            {"type": "function_call_output", "call_id": call.call_id, "output": "18C, cloudy"},
        ],
    )
    assert second.output_text.startswith("MOCK_TOOL_RESULT: 18C, cloudy")
    log = chat_log()
    assert len(log) == 2
    assert all(r["verdict"] == "accepted" for r in log), log


def test_streamed_function_call_arguments():
    stream = client().responses.create(
        model=MODEL,
        tools=[WEATHER_TOOL],
        input="Weather? [[mock:tool get_weather {\"city\":\"Oslo\"}]]",
        stream=True,
    )
    events = list(stream)
    args = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert json.loads(args) == {"city": "Oslo"}
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert done[0].arguments == args


def test_reasoning_summary():
    resp = client().responses.create(
        model=MODEL,
        input="Think first [[mock:thinking]]",
        reasoning={"effort": "high", "summary": "auto"},
    )
    assert resp.output[0].type == "reasoning"
    assert resp.output[0].summary[0].text
    assert resp.output[-1].type == "message"
    assert resp.reasoning.effort == "high"
    assert resp.usage.output_tokens_details.reasoning_tokens > 0


def test_image_input():
    resp = client().responses.create(
        model=MODEL,
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is this?"},
                    {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}"},
                ],
            }
        ],
    )
    assert resp.status == "completed"
    assert chat_log()[0]["verdict"] == "accepted"


def test_bad_request():
    with pytest.raises(openai.BadRequestError) as err:
        client().responses.create(
            model=MODEL,
            input=[{"role": "user", "content": [{"type": "input_image", "image_url": "https://x/y.png"}]}],
        )
    assert err.value.status_code == 400
    assert err.value.body["param"] == "input[0].content[0].image_url"


def test_authentication_error():
    with pytest.raises(openai.AuthenticationError):
        client(api_key="wrong-key").responses.create(model=MODEL, input="hi")


def test_rate_limit_error():
    mock("POST", "/__mock/faults", ["429", "429"])
    with pytest.raises(openai.RateLimitError) as err:
        client().responses.create(model=MODEL, input="hi")
    assert err.value.status_code == 429


def test_server_error_mid_stream_is_response_failed():
    mock("POST", "/__mock/faults", ["cut"])
    stream = client().responses.create(model=MODEL, input="cut me", stream=True)
    events = list(stream)
    assert events[-1].type == "response.failed"
    assert events[-1].response.status == "failed"
    assert events[-1].response.error.message


def test_retrieve_delete_and_chain():
    first = client().responses.create(model=MODEL, input="remember kiwi")
    fetched = client().responses.retrieve(first.id)
    assert fetched.id == first.id
    assert fetched.output_text == first.output_text

    second = client().responses.create(model=MODEL, input="and now?", previous_response_id=first.id)
    assert second.previous_response_id == first.id
    assert "kiwi" in json.dumps(chat_log()[-1]["body"])

    client().responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        client().responses.retrieve(first.id)


def test_unknown_previous_response_is_not_found():
    with pytest.raises(openai.NotFoundError):
        client().responses.create(model=MODEL, input="hi", previous_response_id="resp_nope")


def test_streaming_through_silences():
    # Kiro silent for 0.7 s twice: the gateway sends `response.in_progress` every 200 ms.
    with client().responses.stream(model=MODEL, input="[[mock:events 3 700]]") as stream:
        types = [event.type for event in stream]
        final = stream.get_final_response()
    assert types.count("response.in_progress") >= 4
    assert types[-1] == "response.completed"
    assert final.output_text == "tok1 tok2 tok3 "
    assert final.status == "completed"
