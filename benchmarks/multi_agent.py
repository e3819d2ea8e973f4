"""The multi-agent benchmark: a handoff, an agent used as a tool, and the plain round trip for reference.

    python benchmarks/multi_agent.py                  # c=1 and c=200, ~5 min on 2 cores
    python benchmarks/multi_agent.py --quick          # fewer runs and repetitions (~2 min)
    python benchmarks/multi_agent.py --seam-cost /tmp/bench-base /tmp/bench-head --pairs 4 --loop-pairs 6
                                                      # two agentkit trees: run.py's round trip and the loop alone

Against ``server.py`` in its own process (model ``bench-handoff``: a call to ``transfer_to_weather``,
then to ``get_weather``, then the text; model ``bench-lead``: a call to the tool ``weather_agent``,
then a text that quotes the tool's answer), each scenario is written with agentkit, by hand on
httpx (**the baseline**) and on aiohttp (the floor), and with the peers that are installed:

* ``handoff``: a triage agent hands off to a weather agent, which calls ``get_weather`` and
  answers (3 requests, one tool). agentkit ``Agent(handoffs=[weather])``; the Agents SDK
  ``Agent(handoffs=[weather])``. PydanticAI has no handoffs (its "hand-off" is application code
  running one agent after the other): not in this scenario.
* ``as_tool``: a lead agent calls ``weather_agent``, a sub-agent doing the ``get_weather`` round trip
  on model ``bench``, then answers (4 requests, two tools). agentkit ``weather.as_tool()``; the
  Agents SDK ``weather.as_tool(...)``; PydanticAI: a tool that runs the other agent
  (``await weather.run(input, usage=ctx.usage)``, its "agent delegation").
* ``single``: the round trip of ``run.py`` (2 requests, one tool).

Client CPU per run (``time.process_time()`` deltas of this process) and runs per second, at
concurrency 1 and 200, contenders interleaved within each repetition (A B C ... | ... C B A),
medians; ratios to the httpx loop of the same scenario, of the medians and paired per
repetition. Before the measurements every contender is checked once against a server that
counts requests: the expected final text every run, and exactly the expected requests per model.
Results: ``benchmarks/results/multi_agent.json``.

``--seam-cost BASE HEAD``: the cost of the multi-agent seams on the single-agent path: ``run.py
--quick --only roundtrip`` in a child process, alternately with ``PYTHONPATH=BASE`` and
``PYTHONPATH=HEAD`` (two agentkit source trees, e.g. ``git worktree add /tmp/bench-base <commit>``),
``--pairs`` pairs (B H | H B | ...); the paired ratio head/base of agentkit's CPU per run at each
concurrency goes under ``seam_cost`` in the same JSON file (``--pairs 0`` keeps the previous
figures). Then ``--loop-pairs`` pairs of the loop alone (models answering from memory, no HTTP:
see :func:`loop_only`), far less noisy than a round trip on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.metadata
import importlib.util
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
from contenders import (
    EXPECTED,
    FUNCTIONS,
    PROMPT,
    TOOLS,
    AgentkitContender,
    AiohttpLoopContender,
    HttpxLoopContender,
    OpenAIAgentsContender,
    PydanticAIContender,
    Server,
    _plain_get_weather,
    _weather_doc,
    get_weather,
)
from run import OtherLoad, _cpu_model

from agentkit import Agent
from agentkit.models import OpenAICompatible

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "multi_agent.json"
BASELINE = "httpx-loop"
LEAD_EXPECTED = f"The weather agent says: {EXPECTED}"
HANDOFF_MESSAGE = "Transferred to weather: it answers from here on."  # what agentkit answers a handoff call with

# The tools of each agent, as agentkit sends them (the hand-written loops send the same bodies).
TRANSFER_TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "transfer_to_weather",
            "description": "Transfer the conversation to the weather agent.",
            "parameters": {"type": "object", "properties": {}},
        },
    }
]
LEAD_TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "weather_agent",
            "description": "Ask the weather_agent agent to do a task; it answers with its result.",
            "parameters": {
                "type": "object",
                "properties": {
                    "input": {"type": "string", "description": "The task or question for the agent, with all it needs to know."}
                },
                "required": ["input"],
            },
        },
    }
]


# --- agentkit ----------------------------------------------------------------------------


class AgentkitHandoff:
    """``triage = Agent(model, name="triage", handoffs=[weather])``, ``weather`` with ``get_weather``;
    one model (``bench-handoff``) for both agents, as agentkit's examples share one."""

    name = "agentkit"

    def __init__(self, url: str) -> None:
        model = OpenAICompatible("bench-handoff", base_url=url + "/v1", api_key="k")
        weather = Agent(model, name="weather", tools=[get_weather])
        self.agent = Agent(model, name="triage", handoffs=[weather])

    async def run(self) -> str:
        return (await self.agent.run(PROMPT)).output

    async def run_checked(self) -> str:
        result = await self.agent.run(PROMPT)
        if result.agent_name != "weather" or result.usage.requests != 3:
            raise RuntimeError(f"handoff: agent_name {result.agent_name!r}, {result.usage.requests} requests")
        return result.output

    async def reset(self) -> None:
        await self.agent.aclose()  # closes the shared model's connections

    async def aclose(self) -> None:
        await self.agent.aclose()


class AgentkitAsTool:
    """``lead = Agent(OpenAICompatible("bench-lead"), tools=[weather.as_tool()])``, ``weather`` an agent on
    ``OpenAICompatible("bench")`` with ``get_weather`` (two models: two connection pools)."""

    name = "agentkit"

    def __init__(self, url: str) -> None:
        self.weather = Agent(
            OpenAICompatible("bench", base_url=url + "/v1", api_key="k"), name="weather_agent", tools=[get_weather]
        )
        lead_model = OpenAICompatible("bench-lead", base_url=url + "/v1", api_key="k")
        self.agent = Agent(lead_model, name="lead", tools=[self.weather.as_tool()])

    async def run(self) -> str:
        return (await self.agent.run(PROMPT)).output

    async def run_checked(self) -> str:
        result = await self.agent.run(PROMPT)
        if result.usage.requests != 4:  # the sub-run's two requests count in the lead's usage
            raise RuntimeError(f"as_tool: {result.usage.requests} requests in the lead's usage, not 4")
        return result.output

    async def reset(self) -> None:
        await self.agent.aclose()
        await self.weather.aclose()

    async def aclose(self) -> None:
        await self.reset()


# --- the hand-written loops ----------------------------------------------------------------


class _HttpxPost(HttpxLoopContender):
    """``HttpxLoopContender``'s client (agentkit's pool limits), posting any model and tools."""

    async def post(self, model: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
        body = {"model": model, "messages": messages, "tools": tools}
        response = await self.client.post(self.url, content=json.dumps(body).encode(), headers=self.headers)
        response.raise_for_status()
        message: dict[str, Any] = json.loads(response.content)["choices"][0]["message"]
        return message


class _AiohttpPost(AiohttpLoopContender):
    async def post(self, model: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
        body = {"model": model, "messages": messages, "tools": tools}
        async with self._session().post(self.url, data=json.dumps(body).encode(), headers=self.headers) as response:
            response.raise_for_status()
            message: dict[str, Any] = json.loads(await response.read())["choices"][0]["message"]
            return message


class _HandoffLoop:
    """The handoff by hand: the tools change to the target's after a ``transfer_to_...`` call."""

    post: Any

    async def run(self) -> str:
        messages: list[dict[str, Any]] = [{"role": "user", "content": PROMPT}]
        tools = TRANSFER_TOOLS
        while True:
            message = await self.post("bench-handoff", messages, tools)
            calls = message.get("tool_calls")
            if not calls:
                return str(message["content"])
            messages.append(message)
            for call in calls:
                function = call["function"]
                if function["name"] == "transfer_to_weather":
                    tools, result = TOOLS, HANDOFF_MESSAGE
                else:
                    result = FUNCTIONS[function["name"]](**json.loads(function["arguments"]))
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})


class _AsToolLoop:
    """The lead's loop by hand; its ``weather_agent`` tool is the single loop on model ``bench``."""

    post: Any

    async def _weather_agent(self, prompt: str) -> str:
        messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
        while True:
            message = await self.post("bench", messages, TOOLS)
            calls = message.get("tool_calls")
            if not calls:
                return str(message["content"])
            messages.append(message)
            for call in calls:
                function = call["function"]
                result = FUNCTIONS[function["name"]](**json.loads(function["arguments"]))
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})

    async def run(self) -> str:
        messages: list[dict[str, Any]] = [{"role": "user", "content": PROMPT}]
        while True:
            message = await self.post("bench-lead", messages, LEAD_TOOLS)
            calls = message.get("tool_calls")
            if not calls:
                return str(message["content"])
            messages.append(message)
            for call in calls:
                result = await self._weather_agent(json.loads(call["function"]["arguments"])["input"])
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})


class HttpxHandoff(_HandoffLoop, _HttpxPost):
    name = "httpx-loop"


class AiohttpHandoff(_HandoffLoop, _AiohttpPost):
    name = "aiohttp-loop"


class HttpxAsTool(_AsToolLoop, _HttpxPost):
    name = "httpx-loop"


class AiohttpAsTool(_AsToolLoop, _AiohttpPost):
    name = "aiohttp-loop"


# --- the peers -----------------------------------------------------------------------------


def _openai_client(url: str) -> Any:
    from openai import AsyncOpenAI

    return AsyncOpenAI(base_url=url + "/v1", api_key="k", timeout=httpx.Timeout(600.0, connect=10.0))


class _OpenAIAgentsBase:
    """The OpenAI Agents SDK, tracing disabled; both agents' models on one ``AsyncOpenAI`` client."""

    name = "openai-agents"
    heavy = True

    def __init__(self, url: str) -> None:
        from agents import set_tracing_disabled

        set_tracing_disabled(True)
        self.url = url
        self._build()

    def _build(self) -> None:
        raise NotImplementedError

    @staticmethod
    def _weather_tool() -> Any:
        from agents import function_tool

        @function_tool
        @_weather_doc
        def get_weather(city: str) -> str:
            return _plain_get_weather(city)

        return get_weather

    async def run(self) -> str:
        from agents import Runner

        return str((await Runner.run(self.agent, PROMPT)).final_output)

    async def reset(self) -> None:
        await self.client.close()
        self._build()

    async def aclose(self) -> None:
        await self.client.close()


class OpenAIAgentsHandoff(_OpenAIAgentsBase):
    """``Runner.run(Agent(name="triage", handoffs=[Agent(name="weather", tools=[get_weather])]))``."""

    def _build(self) -> None:
        from agents import Agent as SAgent
        from agents import OpenAIChatCompletionsModel

        self.client = _openai_client(self.url)
        model = OpenAIChatCompletionsModel(model="bench-handoff", openai_client=self.client)
        weather = SAgent(name="weather", model=model, tools=[self._weather_tool()])
        self.agent = SAgent(name="triage", model=model, handoffs=[weather])

    async def run_checked(self) -> str:
        from agents import Runner

        result = await Runner.run(self.agent, PROMPT)
        if result.last_agent.name != "weather":
            raise RuntimeError(f"openai-agents handoff: last agent {result.last_agent.name!r}")
        return str(result.final_output)


class OpenAIAgentsAsTool(_OpenAIAgentsBase):
    """``Agent(name="lead", tools=[weather.as_tool(tool_name="weather_agent", ...)])``."""

    def _build(self) -> None:
        from agents import Agent as SAgent
        from agents import OpenAIChatCompletionsModel

        self.client = _openai_client(self.url)
        sub_model = OpenAIChatCompletionsModel(model="bench", openai_client=self.client)
        weather = SAgent(name="weather_agent", model=sub_model, tools=[self._weather_tool()])
        tool = weather.as_tool(
            tool_name="weather_agent", tool_description="Ask the weather_agent agent to do a task; it answers with its result."
        )
        lead_model = OpenAIChatCompletionsModel(model="bench-lead", openai_client=self.client)
        self.agent = SAgent(name="lead", model=lead_model, tools=[tool])


class PydanticAIAsTool:
    """PydanticAI's agent delegation: the lead's tool ``weather_agent`` runs the weather agent
    (``await weather.run(input, usage=ctx.usage)``); both models on one ``AsyncOpenAI`` client."""

    name = "pydantic-ai"
    heavy = True

    def __init__(self, url: str) -> None:
        self.url = url
        self._build()

    def _build(self) -> None:
        from pydantic_ai import Agent as PAgent
        from pydantic_ai import RunContext
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        self.client = _openai_client(self.url)
        provider = OpenAIProvider(openai_client=self.client)

        @_weather_doc
        def get_weather(city: str) -> str:
            return _plain_get_weather(city)

        weather = PAgent(OpenAIChatModel("bench", provider=provider), tools=[get_weather])

        async def weather_agent(ctx: RunContext[None], input: str) -> str:
            """Ask the weather_agent agent to do a task; it answers with its result.

            Args:
                input: The task or question for the agent, with all it needs to know.
            """
            return (await weather.run(input, usage=ctx.usage)).output

        # this module's annotations are strings (``from __future__ import annotations``) naming a local import
        weather_agent.__annotations__ = {"ctx": RunContext[None], "input": str, "return": str}
        self.agent = PAgent(OpenAIChatModel("bench-lead", provider=provider), tools=[weather_agent])

    async def run(self) -> str:
        return (await self.agent.run(PROMPT)).output

    async def run_checked(self) -> str:
        result = await self.agent.run(PROMPT)
        usage = result.usage() if callable(result.usage) else result.usage  # a method in older versions
        if usage.requests != 4:
            raise RuntimeError(f"pydantic-ai as_tool: {usage.requests} requests in the usage, not 4")
        return result.output

    async def reset(self) -> None:
        await self.client.close()
        self._build()

    async def aclose(self) -> None:
        await self.client.close()


# --- the scenarios ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    key: str
    expected: str
    requests: dict[str, int]  # per run, by model name
    contenders: tuple[tuple[Any, str | None], ...]  # (class, module it needs or None)


SCENARIOS = (
    Scenario(
        "handoff",
        EXPECTED,
        {"bench-handoff": 3},
        (
            (AgentkitHandoff, None),
            (HttpxHandoff, None),
            (AiohttpHandoff, "aiohttp"),
            (OpenAIAgentsHandoff, "agents"),
        ),
    ),
    Scenario(
        "as_tool",
        LEAD_EXPECTED,
        {"bench-lead": 2, "bench": 2},
        (
            (AgentkitAsTool, None),
            (HttpxAsTool, None),
            (AiohttpAsTool, "aiohttp"),
            (PydanticAIAsTool, "pydantic_ai"),
            (OpenAIAgentsAsTool, "agents"),
        ),
    ),
    Scenario(
        "single",
        EXPECTED,
        {"bench": 2},
        (
            (AgentkitContender, None),
            (HttpxLoopContender, None),
            (AiohttpLoopContender, "aiohttp"),
            (PydanticAIContender, "pydantic_ai"),
            (OpenAIAgentsContender, "agents"),
        ),
    ),
)


class Entry:
    """One contender of one scenario: ``label`` is ``scenario/name``."""

    def __init__(self, scenario: Scenario, cls: Any, url: str) -> None:
        self.scenario, self.cls = scenario, cls
        self.contender = cls(url)
        self.name: str = self.contender.name
        self.label = f"{scenario.key}/{self.name}"
        self.heavy = bool(getattr(self.contender, "heavy", False))

    async def run(self) -> str:
        out: str = await self.contender.run()
        return out


def _available(scenario: Scenario) -> list[Any]:
    return [cls for cls, module in scenario.contenders if module is None or importlib.util.find_spec(module) is not None]


def _skipped() -> list[str]:
    return [
        f"{s.key}/{cls.name} ({module} not installed)"
        for s in SCENARIOS
        for cls, module in s.contenders
        if module is not None and importlib.util.find_spec(module) is None
    ]


# --- checking and measuring ------------------------------------------------------------------

CHECK_RUNS = 3


async def _check_one(scenario: Scenario, cls: Any) -> dict[str, Any]:
    """``CHECK_RUNS`` runs against a fresh server that counts requests: the output and the requests."""
    with tempfile.TemporaryDirectory() as tmp:
        counts_file = Path(tmp) / "counts.json"
        with Server("--count", str(counts_file)) as server:
            contender = cls(server.url)
            try:
                check = getattr(contender, "run_checked", contender.run)
                outputs = [await check() for _ in range(CHECK_RUNS)]
            finally:
                await contender.aclose()
        counts = json.loads(counts_file.read_text())
    expected_counts = {model: n * CHECK_RUNS for model, n in scenario.requests.items()}
    ok = all(o == scenario.expected for o in outputs) and counts == expected_counts
    return {"ok": ok, "output": outputs[-1], "requests": counts, "expected_requests": expected_counts}


async def check_all() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for scenario in SCENARIOS:
        for cls in _available(scenario):
            label = f"{scenario.key}/{cls.name}"
            res = await _check_one(scenario, cls)
            out[label] = res
            verdict = "ok" if res["ok"] else "WRONG"
            print(f"  check {label:<26} {verdict}: {res['output']!r}, requests {res['requests']}")
            if not res["ok"]:
                raise SystemExit(f"{label}: expected {scenario.expected!r} and requests {res['expected_requests']}")
    return out


@dataclass(frozen=True)
class Plan:
    concurrency: int
    runs: int
    warmup: int
    reps: int


HEAVY_SHARE = 0.25  # the peers (~10x slower) make a quarter of the runs, never fewer than the concurrency
SEED_RUNS = 10
FULL = [Plan(1, 200, 40, 5), Plan(200, 600, 200, 3)]
QUICK = [Plan(1, 100, 20, 3), Plan(200, 400, 200, 3)]


def _runs(entry: Entry, runs: int, concurrency: int) -> int:
    return max(concurrency, int(runs * HEAVY_SHARE)) if entry.heavy else runs


async def _batch(entry: Entry, runs: int, concurrency: int) -> None:
    workers = min(concurrency, runs)
    share, extra = divmod(runs, workers)
    expected = entry.scenario.expected

    async def worker(n: int) -> None:
        for _ in range(n):
            output = await entry.run()
            if output != expected:
                raise RuntimeError(f"{entry.label}: unexpected output {output!r}")

    if workers == 1:
        await worker(runs)
    else:
        await asyncio.gather(*(worker(share + (i < extra)) for i in range(workers)))


async def _measure(entry: Entry, plan: Plan) -> tuple[float, float]:
    """One repetition (as ``run.py``): connections closed, ``SEED_RUNS`` sequential runs, then the
    measured batch; (client CPU seconds per run, runs per second)."""
    runs = _runs(entry, plan.runs, plan.concurrency)
    await entry.contender.reset()
    await _batch(entry, SEED_RUNS, 1)
    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await _batch(entry, runs, plan.concurrency)
    cpu1, wall1 = time.process_time(), time.perf_counter()
    return (cpu1 - cpu0) / runs, runs / (wall1 - wall0)


async def bench(url: str, plans: list[Plan]) -> dict[str, Any]:
    entries = [Entry(s, cls, url) for s in SCENARIOS for cls in _available(s)]
    results: dict[str, Any] = {}
    try:
        for plan in plans:
            key = f"c{plan.concurrency}"
            for e in entries:
                await e.contender.reset()
                warmup = plan.warmup // 4 if e.heavy else plan.warmup
                if warmup:
                    await _batch(e, warmup, plan.concurrency)
            samples: dict[str, list[tuple[float, float]]] = {e.label: [] for e in entries}
            for rep in range(plan.reps):
                for e in entries if rep % 2 == 0 else entries[::-1]:
                    samples[e.label].append(await _measure(e, plan))
                    cpu, rps = samples[e.label][-1]
                    print(f"  {key:<5} rep {rep + 1}/{plan.reps}  {e.label:<26} {cpu * 1e6:8.0f} µs/run {rps:7.0f} runs/s")
            table: dict[str, Any] = {}
            for e in entries:
                ss, base = samples[e.label], samples[f"{e.scenario.key}/{BASELINE}"]
                cpu = statistics.median(s[0] for s in ss)
                rps = statistics.median(s[1] for s in ss)
                table[e.label] = {
                    "scenario": e.scenario.key,
                    "contender": e.name,
                    "runs_per_rep": _runs(e, plan.runs, plan.concurrency),
                    "cpu_us_per_run": cpu * 1e6,
                    "runs_per_s": rps,
                    "cpu_ratio": cpu / statistics.median(s[0] for s in base),
                    "cpu_ratio_paired": statistics.median(a[0] / b[0] for a, b in zip(ss, base, strict=True)),
                    "runs_per_s_ratio": rps / statistics.median(s[1] for s in base),
                    "cpu_us_per_run_samples": [round(s[0] * 1e6, 1) for s in ss],
                    "runs_per_s_samples": [round(s[1], 1) for s in ss],
                }
            # what a multi-agent run costs agentkit over its single round trip, paired per repetition
            single = samples.get("single/agentkit")
            for scenario in ("handoff", "as_tool"):
                mine = samples.get(f"{scenario}/agentkit")
                if single and mine:
                    table[f"{scenario}/agentkit"]["cpu_vs_single_paired"] = statistics.median(
                        a[0] / b[0] for a, b in zip(mine, single, strict=True)
                    )
            results[key] = {
                "concurrency": plan.concurrency,
                "runs": plan.runs,
                "warmup_runs": plan.warmup,
                "reps": plan.reps,
                "load_average_after": os.getloadavg(),
                "contenders": table,
            }
    finally:
        for e in entries:
            await e.contender.aclose()
    return results


# --- the seam cost: run.py's round trip on two agentkit trees ------------------------------------


def _check_tree(tree: Path) -> dict[str, str]:
    """The environment of a child process importing agentkit from ``tree`` (checked)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    where = subprocess.run(
        [sys.executable, "-c", "import agentkit; print(agentkit.__file__)"], env=env, capture_output=True, text=True
    ).stdout.strip()
    if not where.startswith(str(tree)):
        raise SystemExit(f"PYTHONPATH={tree} imports agentkit from {where}")
    return env


def seam_cost(base: Path, head: Path, pairs: int, loop_pairs: int, previous: dict[str, Any] | None) -> dict[str, Any]:
    """``run.py --quick --only roundtrip`` alternately on ``base`` and ``head`` (B H | H B | ...):
    agentkit's CPU per run head/base, paired per pair, per concurrency (``pairs`` 0: the previous
    figures are kept); then the loop alone (:func:`loop_only`), ``loop_pairs`` pairs."""
    envs = {"base": _check_tree(base), "head": _check_tree(head)}
    order = [("base", "head") if i % 2 == 0 else ("head", "base") for i in range(max(pairs, loop_pairs))]
    if pairs:
        files: dict[str, list[Path]] = {"base": [], "head": []}
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(pairs):
                for side in order[i]:
                    out = Path(tmp) / f"{side}-{i + 1}.json"
                    print(f"  run.py pair {i + 1}/{pairs}: {side}")
                    cmd = [sys.executable, str(HERE / "run.py"), "--quick", "--only", "roundtrip", "--output", str(out)]
                    subprocess.run(cmd, env=envs[side], check=True, stdout=subprocess.DEVNULL)
                    files[side].append(out)
            result = summarize_seam_cost(files["base"], files["head"], base, head)
    elif previous:
        result = {key: value for key, value in previous.items() if key != "loop_only"}
    else:
        result = {
            "base": {"tree": str(base), "commit": _tree_commit(base)},
            "head": {"tree": str(head), "commit": _tree_commit(head)},
        }
    samples: dict[str, list[dict[str, Any]]] = {"base": [], "head": []}
    for i in range(loop_pairs):
        for side in order[i]:
            print(f"  loop-only pair {i + 1}/{loop_pairs}: {side}")
            cmd = [sys.executable, str(Path(__file__).resolve()), "--loop-only"]
            out = subprocess.run(cmd, env=envs[side], check=True, capture_output=True, text=True).stdout
            samples[side].append(json.loads(out.strip().splitlines()[-1]))
    if loop_pairs:
        result["loop_only"] = summarize_loop_only(samples["base"], samples["head"])
    return result


def _tree_commit(tree: Path) -> str | None:
    out = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip() or None


def summarize_seam_cost(base_files: list[Path], head_files: list[Path], base: Path, head: Path) -> dict[str, Any]:
    """The paired head/base ratios of ``run.py`` result files, pair by pair."""
    runs = {"base": [json.loads(p.read_text()) for p in base_files], "head": [json.loads(p.read_text()) for p in head_files]}
    per: dict[str, Any] = {}
    for key in runs["base"][0]["roundtrip"]:
        rows: dict[str, list[float]] = {"agentkit_base": [], "agentkit_head": [], "ratio": [], "vs_loop_ratio": []}
        for b, h in zip(runs["base"], runs["head"], strict=True):
            rb, rh = b["roundtrip"][key]["contenders"], h["roundtrip"][key]["contenders"]
            cb, ch = rb["agentkit"]["cpu_us_per_run"], rh["agentkit"]["cpu_us_per_run"]
            rows["agentkit_base"].append(round(cb, 1))
            rows["agentkit_head"].append(round(ch, 1))
            rows["ratio"].append(round(ch / cb, 4))
            # against the httpx loop measured in the same process (same code in both): drift-corrected
            rows["vs_loop_ratio"].append(round(rh["agentkit"]["cpu_ratio_paired"] / rb["agentkit"]["cpu_ratio_paired"], 4))
        per[key] = {
            "agentkit_base_us_median": statistics.median(rows["agentkit_base"]),
            "agentkit_head_us_median": statistics.median(rows["agentkit_head"]),
            "head_over_base_paired": statistics.median(rows["ratio"]),
            "head_over_base_vs_httpx_loop": statistics.median(rows["vs_loop_ratio"]),
            "pairs": rows,
        }
    return {
        "base": {"tree": str(base), "commit": _tree_commit(base)},
        "head": {"tree": str(head), "commit": _tree_commit(head)},
        "pairs": len(base_files),
        "method": "run.py --quick --only roundtrip, base and head alternately (B H | H B | ...), same venv",
        "by_plan": per,
    }


LOOP_ONLY_METHOD = (
    "the loop alone: models answering from memory (no HTTP, no JSON), an async get_weather tool; "
    "per child process the minimum of 300 batches of 50 runs (CPU µs per run)"
)


def loop_only(batch: int = 50, batches: int = 300) -> dict[str, Any]:
    """The loop alone, in this process: models answering from memory (no HTTP, no JSON), an async
    ``get_weather`` tool; CPU µs per run (min, 10th percentile, median of ``batches`` batches of
    ``batch`` runs, the garbage collector's heap frozen first). ``single``: the round trip (2 turns);
    ``handoff`` and ``as_tool`` as in the scenarios above, when this agentkit has them."""
    from agentkit import tool
    from agentkit.messages import AssistantMessage, ToolCall
    from agentkit.models.base import Model, ModelResponse
    from agentkit.usage import Usage

    @tool
    async def get_weather(city: str) -> str:
        """Get the current weather for a city.

        Args:
            city: City name, e.g. Paris.
        """
        return _plain_get_weather(city)

    class Scripted(Model):
        """Answers by the number of tool messages in the request, as ``server.py``'s modes do."""

        model_name = "scripted"

        def __init__(self, *steps: AssistantMessage) -> None:
            self.steps = steps

        async def request(self, request: Any) -> ModelResponse:
            n = sum(1 for m in request.messages if getattr(m, "role", None) == "tool")
            usage = Usage(prompt_tokens=10, completion_tokens=4, total_tokens=14, requests=1)
            return ModelResponse(self.steps[min(n, len(self.steps) - 1)], usage, "stop", "scripted")

    def call(name: str, arguments: str) -> AssistantMessage:
        return AssistantMessage(content="", tool_calls=[ToolCall(id="call_1", name=name, arguments=arguments)])

    weather_call, final = call("get_weather", '{"city": "Paris"}'), AssistantMessage(content=EXPECTED)
    agents: dict[str, Any] = {"single": Agent(Scripted(weather_call, final), tools=[get_weather])}
    if hasattr(Agent, "as_tool"):
        handoff_model = Scripted(call("transfer_to_weather", "{}"), weather_call, final)
        weather = Agent(handoff_model, name="weather", tools=[get_weather])
        agents["handoff"] = Agent(handoff_model, name="triage", handoffs=[weather])
        sub = Agent(Scripted(weather_call, final), name="weather_agent", tools=[get_weather])
        lead_model = Scripted(call("weather_agent", json.dumps({"input": PROMPT})), AssistantMessage(content=LEAD_EXPECTED))
        agents["as_tool"] = Agent(lead_model, name="lead", tools=[sub.as_tool()])

    async def measure() -> dict[str, Any]:
        for agent in agents.values():
            for _ in range(300):
                await agent.run(PROMPT)
        gc.collect()
        gc.freeze()
        out: dict[str, Any] = {}
        for name, agent in agents.items():
            xs = []
            for _ in range(batches):
                t = time.process_time_ns()
                for _ in range(batch):
                    await agent.run(PROMPT)
                xs.append((time.process_time_ns() - t) / batch / 1e3)
            xs.sort()
            out[name] = {"min": xs[0], "p10": xs[len(xs) // 10], "median": statistics.median(xs)}
        return out

    return asyncio.run(measure())


def summarize_loop_only(base: list[dict[str, Any]], head: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the pairs of the batches' minimum, and the paired head - base difference."""
    out: dict[str, Any] = {"pairs": len(base), "method": LOOP_ONLY_METHOD}
    for name in head[0]:
        row: dict[str, Any] = {"head_us": statistics.median(h[name]["min"] for h in head)}
        if name in base[0]:
            row["base_us"] = statistics.median(b[name]["min"] for b in base)
            row["delta_us_paired"] = statistics.median(h[name]["min"] - b[name]["min"] for b, h in zip(base, head, strict=True))
            row["ratio_paired"] = statistics.median(h[name]["min"] / b[name]["min"] for b, h in zip(base, head, strict=True))
            row["delta_us_paired_p10"] = statistics.median(
                h[name]["p10"] - b[name]["p10"] for b, h in zip(base, head, strict=True)
            )
        row["samples"] = {
            "base": [round(b[name]["min"], 2) for b in base if name in b],
            "head": [round(h[name]["min"], 2) for h in head],
        }
        out[name] = row
    return out


# --- output ----------------------------------------------------------------------------------


def _agentkit_source() -> dict[str, Any]:
    import agentkit

    tree = Path(agentkit.__file__).resolve().parent.parent
    commit = _tree_commit(tree)
    dirty = subprocess.run(["git", "-C", str(tree), "status", "--porcelain", "--", "agentkit"], capture_output=True, text=True)
    return {"path": str(tree), "commit": commit, "agentkit_dir_dirty": bool(dirty.stdout.strip())}


def _tables(payload: dict[str, Any]) -> str:
    lines = [
        f"{'c':>4} | {'scenario':<8} | {'contender':<14} | {'CPU µs/run':>10} | {'ratio':>6} | {'paired':>6}"
        f" | {'runs/s':>7} | {'ratio':>6}",
    ]
    for res in payload.get("bench", {}).values():
        for r in res["contenders"].values():
            lines.append(
                f"{res['concurrency']:>4} | {r['scenario']:<8} | {r['contender']:<14} | {r['cpu_us_per_run']:>10,.0f}"
                f" | {r['cpu_ratio']:>5.2f}x | {r['cpu_ratio_paired']:>5.2f}x"
                f" | {r['runs_per_s']:>7,.0f} | {r['runs_per_s_ratio']:>5.2f}x"
            )
    seam = payload.get("seam_cost")
    if seam and "by_plan" in seam:
        lines.append(f"seam cost, agentkit CPU/run {seam['head']['commit']} / {seam['base']['commit']} ({seam['pairs']} pairs):")
        for key, r in seam["by_plan"].items():
            lines.append(
                f"  {key:<12} base {r['agentkit_base_us_median']:6.0f} µs  head {r['agentkit_head_us_median']:6.0f} µs"
                f"  paired {r['head_over_base_paired']:.3f}  (vs the httpx loop {r['head_over_base_vs_httpx_loop']:.3f})"
            )
    loop = (seam or {}).get("loop_only")
    if loop:
        lines.append(f"the loop alone (models in memory, async tool; µs/run, min of batches, {loop['pairs']} pairs):")
        for name, r in loop.items():
            if isinstance(r, dict):
                base = (
                    f"base {r['base_us']:6.1f}  delta {r['delta_us_paired']:+5.2f} ({r['ratio_paired']:.3f})"
                    if "base_us" in r
                    else ""
                )
                lines.append(f"  {name:<8} head {r['head_us']:6.1f}  {base}".rstrip())
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer runs and repetitions")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON results file (default: {RESULTS})")
    parser.add_argument("--no-pin", action="store_true", help="do not pin client and server to CPUs of their own")
    parser.add_argument("--seam-cost", nargs=2, type=Path, metavar=("BASE", "HEAD"), help="only the seam cost (see above)")
    parser.add_argument("--pairs", type=int, default=4, help="run.py pairs for --seam-cost (default 4; 0: keep the previous)")
    parser.add_argument("--loop-pairs", type=int, default=6, help="loop-only pairs for --seam-cost (default 6)")
    parser.add_argument("--loop-only", action="store_true", help=argparse.SUPPRESS)  # a child of --seam-cost
    args = parser.parse_args()
    if args.loop_only:
        print(json.dumps(loop_only()))
        return
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    previous = json.loads(args.output.read_text()) if args.output.exists() else {}

    if args.seam_cost:
        base, head = (p.resolve() for p in args.seam_cost)
        print(f"seam cost: {base} vs {head}, {args.pairs} pairs ...")
        payload = {**previous, "seam_cost": seam_cost(base, head, args.pairs, args.loop_pairs, previous.get("seam_cost"))}
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(payload, indent=2) + "\n")
        print(_tables({"seam_cost": payload["seam_cost"]}))
        print(f"wrote {args.output}")
        return

    started = time.perf_counter()
    versions: dict[str, str] = {}
    for dist in ("agentkit-loop", "httpx", "aiohttp", "pydantic", "pydantic-ai-slim", "openai-agents", "openai"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[dist] = importlib.metadata.version(dist)
    payload: dict[str, Any] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "agentkit_source": _agentkit_source(),
        "versions": versions,
        "skipped": _skipped(),
        "load_average": {"start": os.getloadavg()},
    }
    for s in payload["skipped"]:
        print(f"skipped: {s}")
    print("checking every contender (output and requests per run) ...")
    payload["checks"] = asyncio.run(check_all())
    print("measuring ...")
    with Server() as server:
        payload["pinning"] = server.pin() if not args.no_pin else "not pinned (--no-pin)"
        print(f"server {server.url}; {payload['pinning']}")
        load = OtherLoad(server.proc.pid)
        payload["bench"] = asyncio.run(bench(server.url, QUICK if args.quick else FULL))
        other = load.stop()
    payload["other_processes_cores"] = None if other is None else round(other, 3)
    payload["load_average"]["end"] = os.getloadavg()
    payload["elapsed_s"] = round(time.perf_counter() - started, 1)
    if "seam_cost" in previous:
        payload["seam_cost"] = previous["seam_cost"]  # measured on its own (--seam-cost)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(payload, indent=2) + "\n")
    print()
    print(_tables(payload))
    print(f"other processes used {payload['other_processes_cores']} cores; load average {payload['load_average']}")
    print(f"wrote {args.output} in {payload['elapsed_s']} s")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
