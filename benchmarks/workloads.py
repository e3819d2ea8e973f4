"""The workloads of the suite other than the tool round trip (that one is in ``run.py``).

Each ``*_workload`` function takes the mode's config and returns a JSON-able dict. Streaming and
batch talk to ``server.py``; import time, tool decoration and memory run in fresh subprocesses.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import httpx
from contenders import ALL_CONTENDERS, EXPECTED, HERE, Server, get_weather

from agentkit import Agent
from agentkit.events import TextDelta
from agentkit.messages import UserMessage
from agentkit.models import OpenAICompatible
from agentkit.models.base import ModelRequest

PROMPT = "Write a long text."

# --- streaming ---------------------------------------------------------------------------


def _first_text(first: list[float] | None) -> None:
    """Note when the first text event arrived (``first`` is given for the first-event figure)."""
    if first is not None and not first:
        first.append(time.perf_counter())


class StreamHandLoop:
    """httpx + ``aiter_lines`` + ``json.loads``: the hand-written way to read the same SSE stream."""

    name = "httpx-sse-loop"

    def __init__(self, url: str) -> None:
        self.url = url + "/v1/chat/completions"
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(600.0, connect=10.0),
            limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100, keepalive_expiry=15),
        )
        self.headers = {"content-type": "application/json", "accept": "text/event-stream", "authorization": "Bearer k"}

    async def stream(self, model: str, first: list[float] | None = None) -> int:
        body = {"model": model, "messages": [{"role": "user", "content": PROMPT}], "stream": True}
        n = 0
        content = json.dumps(body).encode()
        async with self.client.stream("POST", self.url, content=content, headers=self.headers) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue
                data = line[6:]
                if data == "[DONE]":
                    break
                chunk = json.loads(data)
                choices = chunk["choices"]
                if choices and choices[0]["delta"].get("content"):
                    _first_text(first)
                    n += 1
        return n

    async def aclose(self) -> None:
        await self.client.aclose()


class StreamAgent:
    """``agent.run_stream(...)``, counting ``TextDelta`` events (an agent without tools: one turn)."""

    name = "agentkit run_stream"

    def __init__(self, url: str) -> None:
        self.models = {}
        self.url = url

    def _agent(self, model: str) -> Agent:
        if model not in self.models:
            self.models[model] = Agent(OpenAICompatible(model, base_url=self.url + "/v1", api_key="k"))
        return self.models[model]

    async def stream(self, model: str, first: list[float] | None = None) -> int:
        n = 0
        async with self._agent(model).run_stream(PROMPT) as events:
            async for event in events:
                if isinstance(event, TextDelta) and event.text:
                    _first_text(first)
                    n += 1
        return n

    async def aclose(self) -> None:
        for agent in self.models.values():
            await agent.aclose()


class StreamModel(StreamAgent):
    """``model.stream(ModelRequest(...))`` alone: the model layer without the agent loop."""

    name = "agentkit model.stream"

    async def stream(self, model: str, first: list[float] | None = None) -> int:
        n = 0
        request = ModelRequest(messages=[UserMessage(content=PROMPT)])
        async for event in self._agent(model).model.stream(request):
            if isinstance(event, TextDelta) and event.text:
                _first_text(first)
                n += 1
        return n


class StreamAgentHttpx(StreamAgent):
    """``agent.run_stream(...)`` with ``transport="httpx"`` (what a caller's own ``http_client`` sends with)."""

    name = "agentkit-httpx run_stream"

    def _agent(self, model: str) -> Agent:
        if model not in self.models:
            self.models[model] = Agent(OpenAICompatible(model, base_url=self.url + "/v1", api_key="k", transport="httpx"))
        return self.models[model]


class StreamAiohttpLoop:
    """aiohttp, reading the body line by line + ``json.loads``: the floor."""

    name = "aiohttp-sse-loop"

    def __init__(self, url: str) -> None:
        self.url = url + "/v1/chat/completions"
        self.headers = {"content-type": "application/json", "accept": "text/event-stream", "authorization": "Bearer k"}
        self.session: Any = None

    async def stream(self, model: str, first: list[float] | None = None) -> int:
        import aiohttp

        if self.session is None:
            self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000, keepalive_timeout=15))
        body = {"model": model, "messages": [{"role": "user", "content": PROMPT}], "stream": True}
        n = 0
        async with self.session.post(self.url, data=json.dumps(body).encode(), headers=self.headers) as response:
            response.raise_for_status()
            async for raw in response.content:
                if not raw.startswith(b"data: "):
                    continue
                data = raw[6:].strip()
                if data == b"[DONE]":
                    break
                choices = json.loads(data)["choices"]
                if choices and choices[0]["delta"].get("content"):
                    _first_text(first)
                    n += 1
        return n

    async def aclose(self) -> None:
        if self.session is not None:
            await self.session.close()


class _PeerStreamer:
    """A peer's agent per model name (``_make``), built on first use."""

    agents: dict[str, Any]
    _make: Any

    def _agent(self, model: str) -> Any:
        if model not in self.agents:
            self.agents[model] = self._make(model)
        return self.agents[model]


class StreamPydanticAI(_PeerStreamer):
    """PydanticAI: ``agent.run_stream(...)`` → ``stream_text(delta=True, debounce_by=None)`` (no grouping)."""

    name = "pydantic-ai run_stream"
    peer = True

    def __init__(self, url: str) -> None:
        from openai import AsyncOpenAI
        from pydantic_ai import Agent as PAgent
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        self.client = AsyncOpenAI(base_url=url + "/v1", api_key="k", timeout=httpx.Timeout(600.0, connect=10.0))
        self.provider = OpenAIProvider(openai_client=self.client)
        self.agents: dict[str, Any] = {}
        self._make = lambda model: PAgent(OpenAIChatModel(model, provider=self.provider))

    async def stream(self, model: str, first: list[float] | None = None) -> int:
        agent = self._agent(model)
        n = 0
        async with agent.run_stream(PROMPT) as result:
            async for text in result.stream_text(delta=True, debounce_by=None):
                if text:
                    _first_text(first)
                    n += 1
        return n

    async def aclose(self) -> None:
        await self.client.close()


class StreamOpenAIAgents(_PeerStreamer):
    """OpenAI Agents SDK: ``Runner.run_streamed(...)``, counting ``response.output_text.delta`` events."""

    name = "openai-agents run_streamed"
    peer = True

    def __init__(self, url: str) -> None:
        from agents import Agent as SAgent
        from agents import OpenAIChatCompletionsModel, set_tracing_disabled
        from openai import AsyncOpenAI

        set_tracing_disabled(True)
        self.client = AsyncOpenAI(base_url=url + "/v1", api_key="k", timeout=httpx.Timeout(600.0, connect=10.0))
        self.agents: dict[str, Any] = {}
        self._make = lambda model: SAgent(name="bench", model=OpenAIChatCompletionsModel(model=model, openai_client=self.client))

    async def stream(self, model: str, first: list[float] | None = None) -> int:
        from agents import Runner

        agent = self._agent(model)
        n = 0
        result = Runner.run_streamed(agent, PROMPT)
        async for event in result.stream_events():
            if event.type == "raw_response_event" and event.data.type == "response.output_text.delta" and event.data.delta:
                _first_text(first)
                n += 1
        return n

    async def aclose(self) -> None:
        await self.client.close()


STREAMERS: tuple[Any, ...] = (
    StreamAgent,
    StreamModel,
    StreamHandLoop,
    StreamAiohttpLoop,
    StreamAgentHttpx,
    *((StreamPydanticAI,) if importlib.util.find_spec("pydantic_ai") else ()),
    *((StreamOpenAIAgents,) if importlib.util.find_spec("agents") else ()),
)


async def _streaming(url: str, streams: int, reps: int, ttfe_reps: int, pause_ms: int) -> dict[str, Any]:
    from server import STREAM_CHUNKS

    contenders = [cls(url) for cls in STREAMERS]
    cpu: dict[str, list[float]] = {c.name: [] for c in contenders}
    ttfe: dict[str, list[float]] = {c.name: [] for c in contenders}
    total: dict[str, list[float]] = {c.name: [] for c in contenders}
    try:
        for c in contenders:  # warm-up, and check that every chunk arrives (the peers may merge some)
            n = await c.stream("bench")
            if n != STREAM_CHUNKS and not (getattr(c, "peer", False) and n > 0):
                raise RuntimeError(f"{c.name}: {n} text events, expected {STREAM_CHUNKS}")
        for rep in range(reps):
            for c in contenders if rep % 2 == 0 else contenders[::-1]:
                gc.collect()
                t0 = time.process_time()
                for _ in range(streams):
                    await c.stream("bench")
                cpu[c.name].append((time.process_time() - t0) / (streams * STREAM_CHUNKS))
                print(f"  streaming    rep {rep + 1}/{reps}  {c.name:<22} {cpu[c.name][-1] * 1e6:6.2f} µs/chunk")
        for rep in range(ttfe_reps):
            for c in contenders if rep % 2 == 0 else contenders[::-1]:
                first: list[float] = []
                t0 = time.perf_counter()
                await c.stream(f"bench-pause{pause_ms}", first)
                ttfe[c.name].append(first[0] - t0)
                total[c.name].append(time.perf_counter() - t0)
    finally:
        for c in contenders:
            await c.aclose()
    base = StreamHandLoop.name
    out: dict[str, Any] = {"chunks_per_stream": STREAM_CHUNKS, "streams_per_rep": streams, "reps": reps, "pause_ms": pause_ms}
    out["contenders"] = {
        name: {
            "cpu_us_per_chunk": statistics.median(cpu[name]) * 1e6,
            "cpu_us_per_chunk_samples": [round(s * 1e6, 3) for s in cpu[name]],
            "ratio_to_hand_loop": statistics.median(cpu[name]) / statistics.median(cpu[base]),
            "paired_ratio": statistics.median(a / b for a, b in zip(cpu[name], cpu[base], strict=True)),
            "first_event_ms": statistics.median(ttfe[name]) * 1e3,
            "first_event_ms_samples": [round(s * 1e3, 2) for s in ttfe[name]],
            "whole_stream_ms": statistics.median(total[name]) * 1e3,
        }
        for name in cpu
    }
    return out


def streaming_workload(config: dict[str, Any], pin: bool) -> dict[str, Any]:
    with Server() as server:
        if pin:
            server.pin()
        return asyncio.run(_streaming(server.url, config["streams"], config["reps"], config["ttfe_reps"], 200))


# --- import time -------------------------------------------------------------------------


def import_workload(config: dict[str, Any]) -> dict[str, Any]:
    """``import X`` in a fresh interpreter, median of ``reps`` (bytecode cache on, one discarded import first)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out: dict[str, Any] = {}
    for module in ("agentkit", "pydantic_ai", "agents"):
        if module != "agentkit" and not _has(module):
            continue
        snippet = f"import time;t=time.perf_counter();import {module};print(time.perf_counter()-t)"
        samples: list[float] = []
        error = None
        for i in range(config["import_reps"] + 1):
            run = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, cwd=HERE, env=env)
            if run.returncode != 0:
                error = (run.stderr.strip().splitlines() or ["?"])[-1]
                break
            if i:
                samples.append(float(run.stdout.strip()))
        out[module] = {
            "median_s": statistics.median(samples) if samples and not error else None,
            "samples_s": [round(s, 4) for s in samples],
            "error": error,
        }
        print(f"  import {module:<12} {out[module]['median_s'] or float('nan'):.3f} s")
    return out


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


# --- tool decoration and request building ------------------------------------------------

TOOL_HEADER = '''
from dataclasses import dataclass
from typing import Annotated, Literal, Optional
from pydantic import BaseModel, Field

class Address(BaseModel):
    """A postal address."""
    street: str
    city: str
    zip_code: Optional[str] = None

@dataclass
class Window:
    """A time window."""
    start: int
    end: int
    label: str = "default"
'''

# (annotation, docstring text) for each kind of parameter; tool i takes a rotating mix of 1-5 of them
PARAM_KINDS = [
    ("int", "A count."),
    ("str", "A name."),
    ("float", "A ratio between 0 and 1."),
    ("bool", "Whether to include archived items."),
    ('Literal["asc", "desc"]', "Sort order."),
    ("Optional[int] = None", "An optional limit."),
    ("list[str]", "Tags to match."),
    ("Address", "Where to deliver."),
    ("Window", "When it applies."),
    ('Annotated[int, Field(ge=0, le=100, description="Percent.")]', "Percent, 0-100."),
    ("dict[str, int] | None = None", "Extra counters."),
]


def tool_source(count: int, tag: str) -> str:
    """Python source defining ``count`` functions ``f{tag}_{i}`` of varied signatures, with docstrings."""
    lines = [TOOL_HEADER]
    for i in range(count):
        kinds = [PARAM_KINDS[(i + k * 3) % len(PARAM_KINDS)] for k in range(1 + i % 5)]
        kinds.sort(key=lambda kd: "=" in kd[0])  # parameters with defaults last
        params = ", ".join(f"p{k}: {ann}" for k, (ann, _) in enumerate(kinds))
        args_doc = "\n".join(f"        p{k}: {doc}" for k, (_, doc) in enumerate(kinds))
        lines.append(
            f"def f{tag}_{i}({params}) -> str:\n"
            f'    """Tool number {i}: does something useful with its arguments.\n\n'
            f'    Args:\n{args_doc}\n    """\n'
            f"    return 'ok'\n"
        )
    return "\n".join(lines)


def tool_functions(count: int, tag: str) -> list[Any]:
    """The ``count`` functions of :func:`tool_source`, defined fresh (new function objects each call)."""
    namespace: dict[str, Any] = {}
    # dont_inherit: not this module's `from __future__ import annotations` (the tools' annotations stay real types)
    exec(compile(tool_source(count, tag), f"<tools {tag}>", "exec", dont_inherit=True), namespace)
    functions = [v for k, v in namespace.items() if k.startswith(f"f{tag}_") and callable(v)]
    assert len(functions) == count, len(functions)
    return functions


TOOLS_CHILD = r"""
import json, statistics, sys, time
sys.path.insert(0, sys.argv[1])
from workloads import tool_functions
from agentkit import tool
from agentkit.messages import UserMessage
from agentkit.models import OpenAICompatible
from agentkit.models.base import ModelRequest

reps = int(sys.argv[2])
decorate, first_body, cached_body = [], [], []
for rep in range(reps):
    functions = tool_functions(200, str(rep))
    t0 = time.perf_counter()
    tools = [tool(f) for f in functions]
    decorate.append(time.perf_counter() - t0)
    request = ModelRequest(messages=[UserMessage(content="hi")], tools=tuple(t.definition for t in tools[:50]))
    model = OpenAICompatible("bench", base_url="http://127.0.0.1:9/v1", api_key="k")
    t0 = time.perf_counter()
    body = model.build_body(request)
    first_body.append(time.perf_counter() - t0)
    assert len(body["tools"]) == 50
    times = []
    for _ in range(200):
        t0 = time.perf_counter()
        model.build_body(request)
        times.append(time.perf_counter() - t0)
    cached_body.append(statistics.median(times))
print(json.dumps({"decorate_s": decorate, "first_body_s": first_body, "cached_body_s": cached_body}))
"""


# The peers decorate the same 200 functions, each in a fresh interpreter of its own, and build the
# whole definition the model is sent (the JSON schema included), as @tool does:
#   pydantic-ai    pydantic_ai.Tool(fn), then tool.tool_def (tool.function_schema.json_schema)
#   openai-agents  agents.function_tool(fn, strict_mode=False), then params_json_schema. Non-strict
#                  like @tool's default: its strict default refuses the `dict[str, int] | None` tools.
PEER_TOOLS_CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from workloads import tool_functions
peer, reps = sys.argv[2], int(sys.argv[3])
if peer == "pydantic-ai":
    import pydantic_ai

    def decorate(f):
        t = pydantic_ai.Tool(f)
        assert t.function_schema.json_schema["properties"] and t.tool_def.parameters_json_schema
        return t
else:
    import agents

    def decorate(f):
        t = agents.function_tool(f, strict_mode=False)
        assert t.params_json_schema["properties"]
        return t

out = []
for rep in range(reps):
    functions = tool_functions(200, str(rep))
    t0 = time.perf_counter()
    tools = [decorate(f) for f in functions]
    out.append(time.perf_counter() - t0)
print(json.dumps({"decorate_s": out}))
"""
PEER_TOOLS = (("pydantic-ai", "pydantic_ai"), ("openai-agents", "agents"))


def _decoration(dec: list[float]) -> dict[str, Any]:
    """Per-contender figures of a list of 200-tool decoration times (the first one cold)."""
    warm = statistics.median(dec[1:]) if len(dec) > 1 else dec[0]
    return {
        "decorate_200_cold_ms": dec[0] * 1e3,
        "decorate_200_warm_ms": warm * 1e3,
        "decorate_us_per_tool_cold": dec[0] / 200 * 1e6,
        "decorate_us_per_tool_warm": warm / 200 * 1e6,
        "samples_us_per_tool": [round(d / 200 * 1e6, 1) for d in dec],
    }


def tools_workload(config: dict[str, Any]) -> dict[str, Any]:
    """200 ``@tool`` decorations and one 50-tool request body, in a fresh interpreter (rep 1 is cold).

    The installed peers decorate the same 200 functions, each in a fresh interpreter too:
    ``out["contenders"][name]`` has every contender's per-tool µs (agentkit's repeats the top level).
    """
    run = subprocess.run(
        [sys.executable, "-c", TOOLS_CHILD, str(HERE), str(config["tools_reps"])], capture_output=True, text=True, cwd=HERE
    )
    if run.returncode != 0:
        raise RuntimeError(f"tools child failed: {run.stderr[-2000:]}")
    raw = json.loads(run.stdout)
    dec, first, cached = raw["decorate_s"], raw["first_body_s"], raw["cached_body_s"]
    out = {
        "tools": 200,
        "reps": len(dec),
        "decorate_200_cold_ms": dec[0] * 1e3,
        "decorate_200_warm_ms": statistics.median(dec[1:]) * 1e3,
        "decorate_us_per_tool_warm": statistics.median(dec[1:]) / 200 * 1e6,
        "build_body_50_first_us": statistics.median(first[1:]) * 1e6,
        "build_body_50_first_cold_us": first[0] * 1e6,
        "build_body_50_cached_us": statistics.median(cached) * 1e6,
        "samples": {k: [round(v * 1e6, 1) for v in vs] for k, vs in raw.items()},
    }
    contenders: dict[str, Any] = {"agentkit": _decoration(dec)}
    for name, module in PEER_TOOLS:
        if not _has(module):
            continue
        peer = subprocess.run(
            [sys.executable, "-c", PEER_TOOLS_CHILD, str(HERE), name, str(config["tools_reps"])],
            capture_output=True,
            text=True,
            cwd=HERE,
        )
        if peer.returncode != 0:
            contenders[name] = {"error": (peer.stderr.strip().splitlines() or ["?"])[-1]}
            print(f"  tools        {name}: failed: {contenders[name]['error']}")
            continue
        contenders[name] = _decoration(json.loads(peer.stdout)["decorate_s"])
    base = contenders["agentkit"]["decorate_us_per_tool_warm"]
    for r in contenders.values():
        if "error" not in r:
            r["ratio_to_agentkit_warm"] = r["decorate_us_per_tool_warm"] / base
    out["contenders"] = contenders
    print(
        f"  tools        200 decorations: {out['decorate_200_cold_ms']:.0f} ms cold, {out['decorate_200_warm_ms']:.0f} ms warm;"
        f" build_body(50 tools): first {out['build_body_50_first_us']:.0f} µs, cached {out['build_body_50_cached_us']:.1f} µs"
    )
    for name, r in contenders.items():
        if "error" not in r:
            print(
                f"  tools        {name:<14} {r['decorate_us_per_tool_warm']:7.0f} µs/tool warm,"
                f" {r['decorate_us_per_tool_cold']:7.0f} cold  ({r['ratio_to_agentkit_warm']:.1f}x agentkit)"
            )
    return out


# --- peak memory with 1,000 runs in flight ----------------------------------------------------

MEMORY_CHILD = r"""
import asyncio, json, sys, gc
sys.path.insert(0, sys.argv[1])
import contenders
name, url, inflight = sys.argv[2], sys.argv[3], int(sys.argv[4])
cls = next(c for c in contenders.ALL_CONTENDERS if c.name == name)

def status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])  # kB

async def main():
    c = cls(url)
    for _ in range(10):
        assert await c.run() == contenders.EXPECTED
    gc.collect()
    before = status("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak (VmHWM) to the current RSS
    outs = await asyncio.gather(*(c.run() for _ in range(inflight)))
    assert all(o == contenders.EXPECTED for o in outs)
    peak = status("VmHWM")
    await c.aclose()
    print(json.dumps({"before_kb": before, "peak_kb": peak}))

asyncio.run(main())
"""


def memory_workload(config: dict[str, Any], pin: bool) -> dict[str, Any]:
    """Each contender in a fresh process: RSS after 10 warm-up runs, then the peak with ``inflight`` runs at once.

    The peak is ``VmHWM`` (reset just before the burst through ``/proc/self/clear_refs``), not
    ``ru_maxrss``: on Linux ``ru_maxrss`` survives ``exec``, so a child started by a big parent
    reports the parent's peak.

    Every child imports ``contenders.py`` (so agentkit and httpx are loaded in every one, also the
    httpx loop's): compare the growth (peak - before) first, the absolute peak second.
    """
    inflight = config["memory_inflight"]
    out: dict[str, Any] = {"inflight": inflight, "contenders": {}}
    names = [c.name for c in ALL_CONTENDERS]
    with Server() as server:
        if pin:
            server.pin()
        for name in names:
            samples = []
            for _ in range(config["memory_reps"]):
                run = subprocess.run(
                    [sys.executable, "-c", MEMORY_CHILD, str(HERE), name, server.url, str(inflight)],
                    capture_output=True,
                    text=True,
                    cwd=HERE,
                )
                if run.returncode != 0:
                    print(f"  memory {name}: failed: {run.stderr.strip().splitlines()[-1:]}")
                    break
                samples.append(json.loads(run.stdout))
            if not samples:
                continue
            growth = [(s["peak_kb"] - s["before_kb"]) / 1024 for s in samples]
            out["contenders"][name] = {
                "before_mb": statistics.median(s["before_kb"] for s in samples) / 1024,
                "peak_mb": statistics.median(s["peak_kb"] for s in samples) / 1024,
                "growth_mb": statistics.median(growth),
                "growth_mb_samples": [round(g, 1) for g in growth],
            }
            r = out["contenders"][name]
            print(
                f"  memory       {name:<14} before {r['before_mb']:6.1f} MB  peak {r['peak_mb']:6.1f} MB"
                f"  growth {r['growth_mb']:6.1f} MB"
            )
    return out


# --- batch under a rate limit -------------------------------------------------------------------


async def _batch(url: str, runs: int, concurrency: int, rpm: float | None) -> dict[str, Any]:
    agent = Agent(OpenAICompatible("bench", base_url=url + "/v1", api_key="k"), tools=[get_weather])
    try:
        t0, cpu0 = time.perf_counter(), time.process_time()
        items = await agent.run_many(
            [f"Weather in Paris? #{i}" for i in range(runs)], concurrency=concurrency, requests_per_minute=rpm, progress=False
        )
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    finally:
        await agent.aclose()
    failed = [i for i in items if not i.ok or i.output != EXPECTED]
    return {"elapsed_s": wall, "client_cpu_s": cpu, "failed": len(failed), "first_error": failed[0].error if failed else None}


def batch_workload(config: dict[str, Any], pin: bool) -> dict[str, Any]:
    """``agent.run_many`` against a server that answers 429 above ``limit`` requests/s.

    Primary: ``requests_per_minute`` set to the limit (how the API is meant to be used). Secondary
    (smaller): no client-side limit at all, so only the 429s (``Retry-After``) slow the batch down.
    """
    limit, out = config["batch_limit"], {}
    variants = [("rpm_at_limit", config["batch_runs"], limit * 60.0), ("429_only", config["batch_runs_429"], None)]
    for key, runs, rpm in variants:
        with Server("--rate-limit", str(limit)) as server:
            if pin:
                server.pin()
            ideal = runs * 2 / limit
            try:
                result = asyncio.run(asyncio.wait_for(_batch(server.url, runs, config["batch_concurrency"], rpm), 3 * ideal + 30))
            except asyncio.TimeoutError:  # the batch stalled: report it, keep the suite's other results
                result = {
                    "elapsed_s": 3 * ideal + 30,
                    "client_cpu_s": None,
                    "failed": None,
                    "first_error": None,
                    "timed_out": True,
                }
        result.update(
            runs=runs,
            limit_rps=limit,
            concurrency=config["batch_concurrency"],
            requests_per_minute=rpm,
            ideal_s=ideal,
            over_ideal_pct=(result["elapsed_s"] / ideal - 1) * 100,
        )
        out[key] = result
        print(
            f"  batch        {key:<13} {runs} runs: {result['elapsed_s']:.1f} s vs ideal {ideal:.1f} s "
            f"({result['over_ideal_pct']:+.1f} %), {result['failed']} failed"
            + (" - TIMED OUT, stalled" if result.get("timed_out") else "")
        )
    return out
