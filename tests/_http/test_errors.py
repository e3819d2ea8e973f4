"""Errors that say where and why: a connection that failed names its URL (never its credentials)
and the usual causes; a 404 from a ``base_url`` without ``/v1`` says to add it."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from agentkit import Agent
from agentkit._http.errors import safe_url
from agentkit.errors import APIConnectionError, APITimeoutError, NotFoundError
from agentkit.models import OpenAICompatible
from tests.support.server import Reply, chat_completion


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed when the block ends: nothing listens there


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
@pytest.mark.parametrize("stream", [False, True])
async def test_a_refused_connection_names_the_url_and_the_usual_causes(transport: str, stream: bool) -> None:
    port = closed_port()
    model = OpenAICompatible("m", base_url=f"http://127.0.0.1:{port}", max_retries=0, transport=transport)  # type: ignore[arg-type]
    agent = Agent(model)
    with pytest.raises(APIConnectionError) as caught:
        if stream:
            async with agent.run_stream("hi") as events:
                async for _ in events:
                    pass
        else:
            await agent.run("hi")
    message = str(caught.value)
    assert type(caught.value) is APIConnectionError and caught.value.status is None
    assert f"could not connect to http://127.0.0.1:{port}/chat/completions" in message
    assert f"is the server running and listening on 127.0.0.1:{port}?" in message
    assert f"try base_url='http://127.0.0.1:{port}/v1'" in message
    await agent.aclose()


async def test_with_v1_in_the_base_url_there_is_no_v1_hint() -> None:
    port = closed_port()
    model = OpenAICompatible("m", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0)
    with pytest.raises(APIConnectionError) as caught:
        await Agent(model).run("hi")
    assert f"could not connect to http://127.0.0.1:{port}/v1/chat/completions" in str(caught.value)
    assert "try base_url" not in str(caught.value)
    await model.aclose()


async def test_the_failed_url_never_shows_credentials() -> None:
    port = closed_port()
    base_url = f"http://alice:hunter2-password@127.0.0.1:{port}/v1?api-key=query-secret-123#frag"
    model = OpenAICompatible("m", base_url=base_url, max_retries=0)
    with pytest.raises(APIConnectionError) as caught:
        await Agent(model).run("hi")
    text = str(caught.value)
    assert "127.0.0.1" in text and "hunter2" not in text and "alice" not in text and "query-secret" not in text
    await model.aclose()
    assert safe_url("https://u:p@example.com:8443/v1/x?key=1#f") == "https://example.com:8443/v1/x"


@pytest.mark.parametrize("stream", [False, True])
async def test_a_404_from_a_base_url_without_v1_says_to_add_it(loopback: Any, stream: bool) -> None:
    def handler(request: Any) -> Reply:  # like llama.cpp, vLLM or LM Studio: everything under /v1
        if request.path == "/v1/chat/completions":
            return Reply(body=chat_completion("ok"))
        return Reply(404, {"detail": "Not Found"})

    server = loopback(handler)
    agent = Agent(OpenAICompatible("m", base_url=server.url, max_retries=0))
    with pytest.raises(NotFoundError) as caught:
        if stream:
            async with agent.run_stream("hi") as events:
                async for _ in events:
                    pass
        else:
            await agent.run("hi")
    message = str(caught.value)
    assert message.startswith("openai-compatible HTTP 404: Not Found")
    assert f"404 from {server.url}/chat/completions" in message
    assert f"OpenAI-compatible servers usually serve under /v1 — try base_url='{server.url}/v1'" in message
    assert len(server.requests) == 1  # a 404 is not retried
    fixed = Agent(OpenAICompatible("m", base_url=f"{server.url}/v1", max_retries=0))
    assert (await fixed.run("hi")).output == "ok"
    await agent.aclose()
    await fixed.aclose()


async def test_a_404_under_v1_is_the_providers_own_words(loopback: Any) -> None:
    server = loopback([Reply(404, {"error": {"message": "The model `m` does not exist", "code": "model_not_found"}})])
    model = OpenAICompatible("m", base_url=server.url + "/v1", max_retries=0)
    with pytest.raises(NotFoundError) as caught:
        await Agent(model).run("hi")
    assert caught.value.message == "The model `m` does not exist"
    await model.aclose()


async def test_a_timeout_names_the_url(loopback: Any) -> None:
    server = loopback([Reply(stall=True)])
    model = OpenAICompatible("m", base_url=server.url + "/v1", max_retries=0, timeout=0.3)
    with pytest.raises(APITimeoutError) as caught:
        await Agent(model).run("hi")
    assert f"waiting for an answer from {server.url}/v1/chat/completions" in str(caught.value)
    await model.aclose()
