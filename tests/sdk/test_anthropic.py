"""The official `anthropic` Python SDK against kiro-edge in front of kiro-mock."""
import json

import anthropic
import pytest

MODEL = "claude-sonnet-4-6"
PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5"
       "ErkJggg==")
WEATHER = {
    "name": "get_weather",
    "description": "Get the weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                     "required": ["city"]},
}


@pytest.fixture()
def client(gateway_url, api_key):
    return anthropic.Anthropic(base_url=gateway_url, api_key=api_key, max_retries=0, timeout=30)


def test_non_streaming_text(client, mock):
    msg = client.messages.create(model=MODEL, max_tokens=256,
                                 messages=[{"role": "user", "content": "hello sdk"}])
    assert msg.type == "message"
    assert msg.content[0].type == "text"
    assert msg.content[0].text == "MOCK_OK: hello sdk"
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0


def test_streaming_text(client, mock):
    with client.messages.stream(model=MODEL, max_tokens=256,
                                messages=[{"role": "user", "content": "stream sdk"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "MOCK_OK: stream sdk"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0


def test_tool_round_trip(client, mock):
    first = client.messages.create(
        model=MODEL, max_tokens=256, tools=[WEATHER],
        messages=[{"role": "user",
                   "content": 'Paris? [[mock:tool get_weather {"city":"Paris"}]]'}])
    assert first.stop_reason == "tool_use"
    call = next(b for b in first.content if b.type == "tool_use")
    assert call.name == "get_weather" and call.input == {"city": "Paris"}

    # The same through the streaming helper, which assembles input_json_delta fragments.
    with client.messages.stream(
            model=MODEL, max_tokens=256, tools=[WEATHER],
            messages=[{"role": "user",
                       "content": 'Rome? [[mock:tool get_weather {"city":"Rome"}]]'}]) as s:
        streamed = s.get_final_message()
    streamed_call = next(b for b in streamed.content if b.type == "tool_use")
    assert streamed_call.input == {"city": "Rome"}

    second = client.messages.create(
        model=MODEL, max_tokens=256, tools=[WEATHER],
        messages=[
            {"role": "user", "content": "Paris?"},
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                          "content": "18C and sunny"}]},
        ])
    assert second.content[0].text.startswith("MOCK_TOOL_RESULT: 18C and sunny")
    assert all(r["verdict"] == "accepted" for r in mock.chat_requests())


def test_image(client, mock):
    msg = client.messages.create(model=MODEL, max_tokens=64, messages=[{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "text", "text": "describe"}]}])
    assert msg.content[0].text.startswith("MOCK_OK")
    sent = mock.chat_requests()[-1]["body"]["conversationState"]["currentMessage"]
    assert sent["userInputMessage"]["images"][0]["format"] == "png"


def test_thinking(client, mock):
    with client.messages.stream(
            model=MODEL, max_tokens=4096, thinking={"type": "enabled", "budget_tokens": 2048},
            messages=[{"role": "user", "content": "think [[mock:thinking]]"}]) as stream:
        final = stream.get_final_message()
    kinds = [b.type for b in final.content]
    assert kinds[0] == "thinking", kinds
    assert "text" in kinds
    assert final.content[0].thinking and "<thinking>" not in final.content[0].thinking
    assert final.content[0].signature
    # Claude Code replays thinking blocks: they must be accepted on the next turn.
    again = client.messages.create(
        model=MODEL, max_tokens=256, thinking={"type": "enabled", "budget_tokens": 2048},
        messages=[{"role": "user", "content": "think"},
                  {"role": "assistant", "content": [b.model_dump() for b in final.content]},
                  {"role": "user", "content": "and now?"}])
    assert again.content[-1].type == "text"


def test_count_tokens(client, mock):
    count = client.messages.count_tokens(model=MODEL, tools=[WEATHER],
                                         messages=[{"role": "user", "content": "count me"}])
    assert count.input_tokens > 0
    assert mock.chat_requests() == []


def test_models(client):
    ids = [m.id for m in client.models.list()]
    assert any(i.startswith("claude-sonnet") for i in ids)


def test_errors_are_typed(gateway_url, api_key, client, mock):
    bad_key = anthropic.Anthropic(base_url=gateway_url, api_key="wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        bad_key.messages.create(model=MODEL, max_tokens=5,
                                messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(model=MODEL, max_tokens=5, messages=[
            {"role": "user", "content": [{"type": "image", "source": {
                "type": "url", "url": "https://example.com/x.png"}}]}])
    assert "URL images" in str(bad.value)
    mock.faults(["content-length"])
    with pytest.raises(anthropic.BadRequestError) as too_long:
        client.messages.create(model=MODEL, max_tokens=5,
                               messages=[{"role": "user", "content": "hi"}])
    assert "Prompt is too long" in str(too_long.value)
    mock.faults(["429"] * 2)
    with pytest.raises(anthropic.RateLimitError):
        client.messages.create(model=MODEL, max_tokens=5,
                               messages=[{"role": "user", "content": "hi"}])
    mock.faults(["cut"])
    with pytest.raises(anthropic.APIStatusError):
        with client.messages.stream(model=MODEL, max_tokens=5,
                                    messages=[{"role": "user", "content": "hi"}]) as s:
            for _ in s.text_stream:
                pass


def test_streaming_through_silences(client, mock):
    # Kiro silent for 0.7 s twice: the gateway pings every 200 ms meanwhile.
    with client.messages.stream(model=MODEL, max_tokens=256,
                                messages=[{"role": "user",
                                           "content": "[[mock:events 3 700]]"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "tok1 tok2 tok3 "
    assert final.stop_reason == "end_turn"
