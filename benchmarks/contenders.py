"""The two contenders of the benchmark, and the server process they talk to.

One *run* = the tool-call turn + the final turn (two HTTP requests) + executing the tool.
Each contender is a class with ``async run() -> str`` (the final text), ``async reset()``
(close its connections, so that a repetition starts from a known state) and ``async aclose()``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from agentkit import Agent, tool
from agentkit.models import OpenAICompatible

HERE = Path(__file__).resolve().parent
PROMPT = "Weather in Paris?"
EXPECTED = "It is sunny."


@tool
def get_weather(city: str) -> str:
    """Get the current weather for a city.

    Args:
        city: City name, e.g. Paris.
    """
    return f"Sunny, 22 C in {city}"


def _plain_get_weather(city: str) -> str:
    return f"Sunny, 22 C in {city}"


# --- the server process ------------------------------------------------------------------


class Server:
    """``benchmarks/server.py`` in its own process; ``url`` is ``http://127.0.0.1:<port>``.

    The server also exits by itself when this process dies (its stdin pipe closes).
    """

    script = "server.py"

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / self.script), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("PORT "):
            self.close()
            raise RuntimeError(f"the benchmark server ({self.script}) did not start (said {line!r})")
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def pin(self) -> str:
        """Put this process and the server on CPUs of their own (when there are two or more).

        On a 2-core machine this keeps the two processes from competing for one core and
        from migrating, which makes the figures much steadier. Returns what was done.
        """
        if not hasattr(os, "sched_setaffinity"):
            return "not pinned (no sched_setaffinity)"
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            return "not pinned (one CPU)"
        os.sched_setaffinity(self.proc.pid, {cpus[-1]})
        os.sched_setaffinity(0, set(cpus[:-1]))
        return f"client on CPU {','.join(map(str, cpus[:-1]))}, server on CPU {cpus[-1]}"

    def close(self) -> None:
        proc = self.proc
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- contenders --------------------------------------------------------------------------


class AgentkitContender:
    """``Agent(OpenAICompatible(...), tools=[get_weather]).run(PROMPT)``, as installed: with
    aiohttp and httpx-aiohttp (dependencies of agentkit-loop) its default transport is aiohttp."""

    name = "agentkit"

    def __init__(self, url: str, http_client: httpx.AsyncClient | None = None) -> None:
        model = OpenAICompatible("bench", base_url=url + "/v1", api_key="k", http_client=http_client)
        self.agent = Agent(model, tools=[get_weather])

    async def run(self) -> str:
        result = await self.agent.run(PROMPT)
        return result.output

    async def reset(self) -> None:
        """Close the connections agentkit opened (it opens a new client on the next run)."""
        await self.agent.aclose()

    async def aclose(self) -> None:
        await self.agent.aclose()


# The same JSON schema agentkit derives from get_weather's signature and docstring.
TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather for a city.",
            "parameters": {
                "additionalProperties": False,
                "properties": {"city": {"description": "City name, e.g. Paris.", "type": "string"}},
                "required": ["city"],
                "type": "object",
            },
        },
    }
]
FUNCTIONS = {"get_weather": _plain_get_weather}


class HttpxLoopContender:
    """The hand-written loop: one ``httpx.AsyncClient`` with agentkit's pool limits and timeout."""

    name = "httpx-loop"

    def __init__(self, url: str, http_client: httpx.AsyncClient | None = None) -> None:
        self.url = url + "/v1/chat/completions"
        self.headers = {"content-type": "application/json", "accept": "application/json", "authorization": "Bearer k"}
        self._own_client = http_client is None
        self.client = http_client or self._new_client()

    @staticmethod
    def _new_client() -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=httpx.Timeout(600.0, connect=10.0),
            limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100, keepalive_expiry=15),
        )

    async def reset(self) -> None:
        """Close the connections and start a new client (a caller's client is kept)."""
        if self._own_client:
            await self.client.aclose()
            self.client = self._new_client()

    async def _post(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        body = {"model": "bench", "messages": messages, "tools": TOOLS}
        response = await self.client.post(self.url, content=json.dumps(body).encode(), headers=self.headers)
        response.raise_for_status()
        return json.loads(response.content)

    async def run(self) -> str:
        messages: list[dict[str, Any]] = [{"role": "user", "content": PROMPT}]
        while True:
            message = (await self._post(messages))["choices"][0]["message"]
            calls = message.get("tool_calls")
            if not calls:
                return message["content"]
            messages.append(message)
            for call in calls:
                function = call["function"]
                result = FUNCTIONS[function["name"]](**json.loads(function["arguments"]))
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})

    async def aclose(self) -> None:
        await self.client.aclose()


CONTENDERS = (AgentkitContender, HttpxLoopContender)


class AiohttpLoopContender(HttpxLoopContender):
    """The same hand-written loop on ``aiohttp`` (the floor: aiohttp's C-accelerated HTTP parser)."""

    name = "aiohttp-loop"

    def __init__(self, url: str, http_client: Any = None) -> None:
        self.url = url + "/v1/chat/completions"
        self.headers = {"content-type": "application/json", "accept": "application/json", "authorization": "Bearer k"}
        self.session: Any = None

    def _session(self) -> Any:
        import aiohttp

        if self.session is None:
            connector = aiohttp.TCPConnector(limit=1000, keepalive_timeout=15)
            self.session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=600, connect=10))
        return self.session

    async def reset(self) -> None:
        await self.aclose()

    async def _post(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        body = {"model": "bench", "messages": messages, "tools": TOOLS}
        async with self._session().post(self.url, data=json.dumps(body).encode(), headers=self.headers) as response:
            response.raise_for_status()
            return json.loads(await response.read())

    async def aclose(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            await session.close()


def _weather_doc(function: Any) -> Any:
    function.__doc__ = get_weather.function.__doc__
    return function


class PydanticAIContender:
    """PydanticAI: ``Agent(OpenAIChatModel("bench", provider=OpenAIProvider(openai_client=...)))``, one plain tool."""

    name = "pydantic-ai"
    heavy = True

    def __init__(self, url: str, http_client: Any = None) -> None:
        self.url = url
        self._build()

    def _build(self) -> None:
        from openai import AsyncOpenAI
        from pydantic_ai import Agent as PAgent
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        self.client = AsyncOpenAI(base_url=self.url + "/v1", api_key="k", timeout=httpx.Timeout(600.0, connect=10.0))
        model = OpenAIChatModel("bench", provider=OpenAIProvider(openai_client=self.client))

        @_weather_doc
        def get_weather(city: str) -> str:
            return _plain_get_weather(city)

        self.agent = PAgent(model, tools=[get_weather])

    async def run(self) -> str:
        return (await self.agent.run(PROMPT)).output

    async def reset(self) -> None:
        await self.client.close()
        self._build()

    async def aclose(self) -> None:
        await self.client.close()


class OpenAIAgentsContender:
    """OpenAI Agents SDK: ``Runner.run(Agent(model=OpenAIChatCompletionsModel(...), tools=[function_tool]))``."""

    name = "openai-agents"
    heavy = True

    def __init__(self, url: str, http_client: Any = None) -> None:
        from agents import set_tracing_disabled

        set_tracing_disabled(True)
        self.url = url
        self._build()

    def _build(self) -> None:
        from agents import Agent as SAgent
        from agents import OpenAIChatCompletionsModel, function_tool
        from openai import AsyncOpenAI

        self.client = AsyncOpenAI(base_url=self.url + "/v1", api_key="k", timeout=httpx.Timeout(600.0, connect=10.0))

        @function_tool
        @_weather_doc
        def get_weather(city: str) -> str:
            return _plain_get_weather(city)

        model = OpenAIChatCompletionsModel(model="bench", openai_client=self.client)
        self.agent = SAgent(name="bench", model=model, tools=[get_weather])

    async def run(self) -> str:
        from agents import Runner

        return (await Runner.run(self.agent, PROMPT)).final_output

    async def reset(self) -> None:
        await self.client.close()
        self._build()

    async def aclose(self) -> None:
        await self.client.close()


class AgentkitHttpxContender(AgentkitContender):
    """agentkit with ``transport="httpx"``: what a model given its own ``http_client`` sends with."""

    name = "agentkit-httpx"

    def __init__(self, url: str, http_client: httpx.AsyncClient | None = None) -> None:
        options: dict[str, Any] = {"http_client": http_client} if http_client is not None else {"transport": "httpx"}
        model = OpenAICompatible("bench", base_url=url + "/v1", api_key="k", **options)
        self.agent = Agent(model, tools=[get_weather])


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


# Every contender of the round-trip workload: the ones above (agentkit first, the httpx loop second:
# the baseline), the aiohttp floor, agentkit on httpx, and the peers that are installed
# (benchmarks/requirements-peers.txt).
ALL_CONTENDERS: tuple[Any, ...] = (
    *CONTENDERS,
    *((AiohttpLoopContender,) if _installed("aiohttp") else ()),
    AgentkitHttpxContender,
    *((PydanticAIContender,) if _installed("pydantic_ai") else ()),
    *((OpenAIAgentsContender,) if _installed("agents") else ()),
)


def mock_client() -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` answered in-process by ``server.completion`` (no sockets, no
    httpcore): what is left of a run's CPU time is the framework's own plus httpx's client layer."""
    from server import completion

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        content = json.dumps(completion(body["messages"])).encode()
        return httpx.Response(200, content=content, headers={"content-type": "application/json"})

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))
