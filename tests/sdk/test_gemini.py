"""The official `google-genai` Python SDK against kiro-edge in front of kiro-mock."""
import base64
import json

import pydantic
import pytest
from google import genai
from google.genai import errors, types

MODEL = "gemini-2.5-flash"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5"
    "ErkJggg==")
WEATHER = types.Tool(function_declarations=[types.FunctionDeclaration(
    name="get_weather",
    description="Get the weather for a city",
    parameters=types.Schema(type="OBJECT", properties={"city": types.Schema(type="STRING")},
                            required=["city"]),
)])
NO_AFC = types.AutomaticFunctionCallingConfig(disable=True)


def make_client(url, key):
    return genai.Client(api_key=key, http_options=types.HttpOptions(base_url=url, timeout=30_000))


@pytest.fixture()
def client(gateway_url, api_key):
    return make_client(gateway_url, api_key)


def all_accepted(mock):
    requests = mock.chat_requests()
    return requests and all(r["verdict"] == "accepted" for r in requests)


def test_generate_content(client, mock):
    r = client.models.generate_content(model=MODEL, contents="hello sdk")
    assert r.text == "MOCK_OK: hello sdk"
    assert r.candidates[0].finish_reason == types.FinishReason.STOP
    assert r.usage_metadata.prompt_token_count > 0
    assert r.usage_metadata.candidates_token_count > 0
    assert r.model_version == MODEL


def test_generate_content_stream(client, mock):
    chunks = list(client.models.generate_content_stream(model=MODEL, contents="stream sdk"))
    assert len(chunks) > 2
    assert "".join(c.text or "" for c in chunks) == "MOCK_OK: stream sdk"
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata.total_token_count > 0
    assert all(c.candidates[0].finish_reason is None for c in chunks[:-1])


def test_streamed_chat_keeps_its_history(client, mock):
    chat = client.chats.create(model=MODEL)
    text = "".join(c.text or "" for c in chat.send_message_stream("first turn"))
    assert text == "MOCK_OK: first turn"
    # The SDK keeps a turn (one model entry per chunk) only when every chunk had content and
    # one carried a finish reason; the next request replays it, empty last part included.
    roles = [c.role for c in chat.get_history(curated=True)]
    assert roles[0] == "user" and len(roles) > 2 and set(roles[1:]) == {"model"}
    reply = chat.send_message("second turn")
    assert reply.text == "MOCK_OK: second turn"
    assert all_accepted(mock)


def test_function_calling_round_trip(client, mock):
    config = types.GenerateContentConfig(tools=[WEATHER], automatic_function_calling=NO_AFC)
    prompt = types.Content(role="user", parts=[types.Part.from_text(
        text='Paris? [[mock:tool get_weather {"city":"Paris"}]]')])
    first = client.models.generate_content(model=MODEL, contents=[prompt], config=config)
    assert first.candidates[0].finish_reason == types.FinishReason.STOP
    call = first.function_calls[0]
    assert call.name == "get_weather" and call.args == {"city": "Paris"}
    assert call.id

    # Streamed, the call arrives whole in one chunk.
    streamed = [c for c in client.models.generate_content_stream(
        model=MODEL, contents='Rome? [[mock:tool get_weather {"city":"Rome"}]]', config=config)
        if c.function_calls]
    assert len(streamed) == 1 and streamed[0].function_calls[0].args == {"city": "Rome"}

    # The function response carries no id: it pairs with the call by name.
    answer = types.Content(role="user", parts=[types.Part.from_function_response(
        name="get_weather", response={"output": "18C and sunny"})])
    second = client.models.generate_content(
        model=MODEL, contents=[prompt, first.candidates[0].content, answer], config=config)
    assert second.text.startswith('MOCK_TOOL_RESULT: {"output":"18C and sunny"}')
    assert all_accepted(mock)
    sent = mock.chat_requests()[-1]["body"]["conversationState"]
    result = sent["currentMessage"]["userInputMessage"]["userInputMessageContext"]["toolResults"][0]
    assert result["toolUseId"] == call.id


def test_image(client, mock):
    r = client.models.generate_content(model=MODEL, contents=[
        types.Part.from_bytes(data=PNG, mime_type="image/png"), "describe"])
    assert r.text.startswith("MOCK_OK")
    sent = mock.chat_requests()[-1]["body"]["conversationState"]["currentMessage"]
    assert sent["userInputMessage"]["images"][0]["format"] == "png"


def test_count_tokens(client, mock):
    small = client.models.count_tokens(model=MODEL, contents="hi").total_tokens
    big = client.models.count_tokens(model=MODEL, contents="hello " * 500).total_tokens
    assert 0 < small < big
    assert mock.chat_requests() == []


class Routing(pydantic.BaseModel):
    complexity_reasoning: str
    complexity_score: int


def test_json_schema_routing_call(client, mock):
    schema = {"type": "object", "properties": {
        "complexity_reasoning": {"type": "string"}, "complexity_score": {"type": "integer"}},
        "required": ["complexity_reasoning", "complexity_score"]}
    r = client.models.generate_content(
        model="gemini-3.5-flash-lite", contents="route this request",
        config=types.GenerateContentConfig(response_mime_type="application/json",
                                           response_json_schema=schema))
    answer = json.loads(r.text)
    assert isinstance(answer["complexity_score"], int)
    assert isinstance(answer["complexity_reasoning"], str)

    # `response_schema` with a pydantic model: the SDK parses the answer itself.
    r = client.models.generate_content(
        model=MODEL, contents="route again",
        config=types.GenerateContentConfig(response_mime_type="application/json",
                                           response_schema=Routing))
    assert isinstance(r.parsed, Routing)
    assert all_accepted(mock)


def test_bad_key_is_a_client_error(gateway_url):
    bad = make_client(gateway_url, "wrong-key")
    with pytest.raises(errors.ClientError) as info:
        bad.models.generate_content(model=MODEL, contents="hi")
    assert info.value.code in (401, 403)
    assert info.value.status in ("UNAUTHENTICATED", "PERMISSION_DENIED")


def test_upstream_rate_limit_is_a_429(client, mock):
    with pytest.raises(errors.ClientError) as info:
        client.models.generate_content(model=MODEL, contents="busy [[mock:fault 429]]")
    assert info.value.code == 429
    assert info.value.status == "RESOURCE_EXHAUSTED"
    with pytest.raises(errors.ClientError) as info:
        list(client.models.generate_content_stream(model=MODEL, contents="busy [[mock:fault 429]]"))
    assert info.value.code == 429


def test_streaming_through_silences(client, mock):
    chunks = list(client.models.generate_content_stream(model=MODEL,
                                                        contents="[[mock:events 3 700]]"))
    assert "".join(c.text or "" for c in chunks) == "tok1 tok2 tok3 "
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
