"""FallbackModel: the next model gets the request when one fails after its own retries.

HTTP cases run over two loopback servers on 127.0.0.1; the rest use scripted models.
"""

from __future__ import annotations

import asyncio
import pickle
import socket
import time

import pytest

from agentkit import Agent, tool
from agentkit._http.client import HTTPClient
from agentkit.errors import (
    AllModelsFailed,
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
    UserError,
)
from agentkit.events import ResponseComplete, TextDelta
from agentkit.messages import UserMessage
from agentkit.models import FallbackModel, OpenAICompatible
from agentkit.models.base import ModelRequest
from agentkit.testing import ScriptedModel, reply
from tests.support.server import Reply, call, chat_completion

SECRET = "sk-test-secret-123"
REQUEST = ModelRequest(messages=[UserMessage(content="hi")])
UNAVAILABLE = Reply(503, {"error": {"message": "overloaded", "type": "server_error"}}, headers={"x-request-id": "req-503"})


def model_for(server, name="loopback-model", **kw):
    return OpenAICompatible(name, base_url=server.url + "/v1", api_key=SECRET, **kw)


@pytest.fixture
def waits(monkeypatch):
    recorded: list[int] = []

    def backoff(self, attempt, retry_after):
        recorded.append(attempt)
        return 0.0

    monkeypatch.setattr(HTTPClient, "backoff", backoff)
    return recorded


async def open_after(server, timeout: float = 3.0) -> int:
    for _ in range(int(timeout / 0.01)):
        if not server.open_connections:
            break
        await asyncio.sleep(0.01)
    return server.open_connections


@tool
def get_weather(city: str) -> str:
    """Get the current weather.

    Args:
        city: City name.
    """
    return f"Sunny in {city}"


# --- over HTTP ----------------------------------------------------------------------------------


async def test_the_next_model_answers_after_the_primary_exhausts_its_retries(loopback, waits):
    down = loopback(lambda request: UNAVAILABLE)
    up = loopback([Reply(body=chat_completion("from the backup", model="backup-model"))])
    model = FallbackModel(model_for(down, "primary"), model_for(up, "backup"))
    started = time.monotonic()
    response = await model.request(REQUEST)
    assert time.monotonic() - started < 5
    assert response.message.content == "from the backup" and response.model_name == "backup-model"
    assert len(down.requests) == 3 and len(up.requests) == 1  # primary: 1 + max_retries=2, then the backup
    assert waits == [0, 1]
    assert down.bodies()[0]["model"] == "primary" and up.bodies()[0]["model"] == "backup"
    await model.aclose()
    assert await open_after(down) == 0 and await open_after(up) == 0


async def test_every_model_failing_raises_all_models_failed_with_each_error(loopback, waits):
    down = loopback(lambda request: UNAVAILABLE)
    denied = loopback([Reply(401, {"error": {"message": f"Incorrect API key provided: {SECRET}", "code": "invalid_api_key"}})])
    model = FallbackModel(model_for(down, max_retries=1), model_for(denied))
    with pytest.raises(AllModelsFailed) as info:
        await model.request(REQUEST)
    err = info.value
    assert isinstance(err, ProviderError)
    assert [type(e) for e in err.errors] == [ProviderUnavailableError, AuthenticationError]
    assert [e.message for e in err.errors] == ["overloaded", "Incorrect API key provided: ***"]
    assert (err.status, err.code, err.provider) == (401, "invalid_api_key", "fallback")  # the last error's
    text = str(err)
    assert text.startswith("fallback HTTP 401: all 2 models failed: [ProviderUnavailableError] openai-compatible HTTP 503")
    assert "overloaded" in text and "[AuthenticationError]" in text and "Incorrect API key provided: ***" in text
    assert len(down.requests) == 2 and len(denied.requests) == 1
    restored = pickle.loads(pickle.dumps(err))
    assert str(restored) == text and [type(e) for e in restored.errors] == [ProviderUnavailableError, AuthenticationError]
    for shown in (text, repr(err), repr(model), repr(restored)):
        assert SECRET not in shown
    await model.aclose()
    assert await open_after(down) == 0 and await open_after(denied) == 0


async def test_errors_not_in_fallback_on_propagate_at_once(loopback, waits):
    denied = loopback([Reply(401, {"error": {"message": "bad key", "code": "invalid_api_key"}})])
    backup = loopback([Reply(body=chat_completion("never asked"))])
    model = FallbackModel(model_for(denied), model_for(backup), fallback_on=(ProviderUnavailableError, RateLimitError))
    with pytest.raises(AuthenticationError, match="bad key"):
        await model.request(REQUEST)
    assert len(denied.requests) == 1 and backup.requests == []
    await model.aclose()


async def test_connection_errors_and_timeouts_fall_back_in_bounded_time(loopback, waits):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        refused_url = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    stalled = loopback([Reply(stall=True), Reply(stall=True)])
    up = loopback([Reply(body=chat_completion("still here"))])
    model = FallbackModel(
        OpenAICompatible("gone", base_url=refused_url, max_retries=1),
        model_for(stalled, timeout=0.3, max_retries=1),
        model_for(up),
    )
    started = time.monotonic()
    response = await model.request(REQUEST)
    assert time.monotonic() - started < 5
    assert response.message.content == "still here"
    assert len(stalled.requests) == 2 and waits == [0, 0]  # each of the first two retried once
    await model.aclose()


async def test_an_agent_run_falls_back_from_a_failing_server(loopback, waits):
    down = loopback(lambda request: UNAVAILABLE)
    up = loopback(
        [
            Reply(body=chat_completion(None, [call("get_weather", {"city": "Paris"}, "c1")])),
            Reply(body=chat_completion("Sunny in Paris.")),
        ]
    )
    agent = Agent(FallbackModel(model_for(down, max_retries=1), model_for(up)), tools=[get_weather])
    started = time.monotonic()
    result = await agent.run("Weather in Paris?")
    assert time.monotonic() - started < 5
    assert result.output == "Sunny in Paris."
    assert len(down.requests) == 4  # each turn tries the primary first (1 + 1 retry), then the backup
    second = up.bodies("/chat/completions")[1]
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "tool"]
    assert second["messages"][-1]["content"] == "Sunny in Paris"
    await agent.aclose()
    assert await open_after(down) == 0 and await open_after(up) == 0


def test_run_sync_raises_all_models_failed_when_every_server_is_down(loopback, waits):
    first = loopback(lambda request: UNAVAILABLE)
    second = loopback(lambda request: Reply(429, {"message": "Requests rate limit exceeded"}))
    agent = Agent(FallbackModel(model_for(first, max_retries=0), model_for(second, max_retries=0)))
    with pytest.raises(AllModelsFailed) as info:
        agent.run_sync("hi")
    assert [type(e) for e in info.value.errors] == [ProviderUnavailableError, RateLimitError]
    assert info.value.errors[1].message == "Requests rate limit exceeded"
    assert (len(first.requests), len(second.requests)) == (1, 1)


# --- without HTTP ---------------------------------------------------------------------------------


async def test_other_exceptions_propagate_and_later_models_are_not_asked():
    broken = ScriptedModel([ValueError("a bug, not a provider error")])
    backup = ScriptedModel(["unused"])
    with pytest.raises(ValueError, match="a bug"):
        await FallbackModel(broken, backup).request(REQUEST)
    assert backup.requests == []


async def test_fallback_on_accepts_one_class_and_rejects_what_is_not_a_provider_error():
    model = FallbackModel(ScriptedModel([APITimeoutError("slow")]), ScriptedModel(["ok"]), fallback_on=APIConnectionError)
    assert model.fallback_on == (APIConnectionError,)
    assert (await model.request(REQUEST)).message.content == "ok"  # APITimeoutError is an APIConnectionError
    for bad in (ValueError, (ProviderError, KeyError), "ProviderError"):
        with pytest.raises(UserError, match="fallback_on"):
            FallbackModel(ScriptedModel([]), fallback_on=bad)


async def test_answers_keep_or_get_a_model_name_and_the_primary_names_the_fallback():
    anonymous = reply("no name")
    anonymous.model_name = None
    model = FallbackModel(
        ScriptedModel([ProviderUnavailableError("down", status=503)], model_name="a"), ScriptedModel([anonymous], model_name="b")
    )
    assert model.model_name == "a" and model.provider == "fallback"
    assert repr(model) == "FallbackModel(ScriptedModel('a'), ScriptedModel('b'))"
    assert (await model.request(REQUEST)).model_name == "b"


async def test_nested_fallbacks_collect_errors():
    inner = FallbackModel(ScriptedModel([RateLimitError("r", status=429)]), ScriptedModel([AuthenticationError("k", status=401)]))
    outer = FallbackModel(inner, ScriptedModel([ProviderUnavailableError("u", status=503)]))
    with pytest.raises(AllModelsFailed) as info:
        await outer.request(REQUEST)
    nested, last = info.value.errors
    assert isinstance(nested, AllModelsFailed) and [e.message for e in nested.errors] == ["r", "k"]
    assert last.message == "u" and info.value.status == 503


async def test_streaming_falls_back_before_the_first_event_only():
    def events_of(model):
        async def collect():
            return [event async for event in model.stream(REQUEST)]

        return collect()

    model = FallbackModel(
        ScriptedModel([ProviderUnavailableError("down", status=503)]), ScriptedModel(["streamed"], model_name="b")
    )
    events = await events_of(model)
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["streamed"]
    assert isinstance(events[-1], ResponseComplete) and events[-1].response.model_name == "b"

    failing = FallbackModel(
        ScriptedModel([RateLimitError("r", status=429)]), ScriptedModel([ProviderUnavailableError("u", status=503)])
    )
    with pytest.raises(AllModelsFailed) as info:
        await events_of(failing)
    assert [e.message for e in info.value.errors] == ["r", "u"]

    class BreaksMidStream(ScriptedModel):
        async def stream(self, request):
            yield TextDelta("partial ")
            raise APIConnectionError("cut", provider="x")

    backup = ScriptedModel(["unused"])
    with pytest.raises(APIConnectionError, match="cut"):
        await events_of(FallbackModel(BreaksMidStream([]), backup))
    assert backup.requests == []  # what was streamed cannot be taken back


async def test_aclose_closes_every_model_even_when_one_fails():
    closed = []

    class Closing(ScriptedModel):
        def __init__(self, name, fail=False):
            super().__init__([], model_name=name)
            self.fail = fail

        async def aclose(self):
            closed.append(self.model_name)
            if self.fail:
                raise RuntimeError(f"{self.model_name} failed to close")

    model = FallbackModel(Closing("a", fail=True), Closing("b"), Closing("c", fail=True))
    with pytest.raises(RuntimeError, match="a failed to close"):
        await model.aclose()
    assert closed == ["a", "b", "c"]


def test_all_models_failed_needs_errors():
    with pytest.raises(ValueError):
        AllModelsFailed([])
