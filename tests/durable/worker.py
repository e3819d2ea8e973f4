"""One process of a durable run (tests/durable): forked by the tests (:func:`entry`), or by hand
``python -m tests.durable.worker DB BASE_URL WORKFLOW EFFECTS PROMPT [KILL]``.

Launches DBOS on the system database ``DB`` (a SQLite or PostgreSQL URL) with a durable shop agent
whose model is the loopback server at ``BASE_URL``, then runs ``PROMPT`` as the workflow
``WORKFLOW`` — or, when that workflow exists already (a dead process started it), waits for it:
launching DBOS resumed it. Prints ``PENDING <ids>`` when the run waits for approval, and the result
as one JSON line at the end (``FAILED <traceback>`` when it failed).

The tools write what they do to ``EFFECTS`` (one line each: ``start charge call_2``, ``end charge
call_2``), so a test counts how often each ran. ``KILL`` makes this process SIGKILL itself: inside
``lookup`` or ``charge`` or ``refund`` (after its ``start`` line), ``begun`` (``charge``'s begin
step recorded, the call's own step entered, the tool not yet started), ``answered`` (after the
first answer, before its tools), ``between`` (after the tools, before the next model request) or
``final`` (after the final answer was recorded, before the run's result was).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from dbos import DBOS

from agentkit import Agent, RunContext, RunResult, tool
from agentkit.durable import DurableAgent, _DurableTool, pending
from agentkit.hooks import Hooks
from agentkit.messages import dump_messages
from agentkit.models import OpenAICompatible
from agentkit.models.base import ModelRequest, ModelResponse

EFFECTS = ""
KILL = ""


def effect(what: str, ctx: RunContext[Any]) -> None:
    with open(EFFECTS, "a", encoding="utf-8") as f:
        f.write(f"start {what} {ctx.tool_call_id}\n")
    if what == KILL:
        os.kill(os.getpid(), signal.SIGKILL)
    with open(EFFECTS, "a", encoding="utf-8") as f:
        f.write(f"end {what} {ctx.tool_call_id}\n")


@tool(idempotent=True)
def lookup(ctx: RunContext[Any], item: str) -> str:
    """Look an item's price up (read-only: safe to run twice)."""
    effect("lookup", ctx)
    return f"{item} costs 5"


@tool
def charge(ctx: RunContext[Any], amount: int) -> str:
    """Charge the customer's card."""
    effect("charge", ctx)
    return f"charged {amount}"


@tool(requires_approval=True)
def refund(ctx: RunContext[Any], amount: int) -> str:
    """Refund the customer."""
    effect("refund", ctx)
    return f"refunded {amount}"


class KillBetween(Hooks):
    """``answered``: killed after the first answer, before its tools ran; ``between``: after the
    tools, before the second request; ``final``: after the final answer."""

    async def after_model_response(self, ctx: RunContext[Any], response: ModelResponse) -> None:
        if KILL == "answered" and ctx.turn == 1:
            os.kill(os.getpid(), signal.SIGKILL)

        if KILL == "final" and ctx.turn == 2:
            os.kill(os.getpid(), signal.SIGKILL)

    async def before_model_request(self, ctx: RunContext[Any], request: ModelRequest) -> None:
        if KILL == "between" and ctx.turn == 2:
            os.kill(os.getpid(), signal.SIGKILL)


def shop(base_url: str) -> Agent:
    """The agent, as every worker builds it (and the tests, for an uninterrupted plain run)."""
    model = OpenAICompatible("loopback-model", base_url=base_url, api_key="sk-test-durable", max_retries=0)
    return Agent(model, name="shop", tools=[lookup, charge, refund], hooks=[KillBetween()])


def summary(result: RunResult[Any]) -> dict[str, Any]:
    """What a worker prints of its result (and a test compares)."""
    line = {"output": result.output, "messages": json.loads(dump_messages(result.messages)), "turns": result.turns}
    line["requests"] = result.usage.requests
    line["tool_calls"] = result.usage.tool_calls
    return line


def _print(line: str) -> None:
    print(line, flush=True)


async def main(db: str, base_url: str, workflow: str, prompt: str, emit: Callable[[str], None] = _print) -> None:
    DBOS(config={"name": "agentkit-durable-test", "system_database_url": db, "run_admin_server": False})
    durable = DurableAgent(shop(base_url))
    DBOS.launch()
    try:
        if await DBOS.get_workflow_status_async(workflow) is None:
            handle = await durable.start(prompt, workflow_id=workflow)
        else:
            handle = await DBOS.retrieve_workflow_async(workflow)
        waiting = asyncio.ensure_future(handle.get_result())
        shown: list[str] = []
        while not waiting.done():  # each time the run starts waiting for approval: PENDING and the call ids
            calls = [call.id for call in await pending(workflow)]
            if calls and calls != shown:
                emit(" ".join(["PENDING", *calls]))
            shown = calls
            await asyncio.wait([waiting], timeout=0.05)
        emit(json.dumps(summary(waiting.result())))
    except BaseException:
        emit("FAILED " + traceback.format_exc())
        os._exit(1)
    os._exit(0)  # everything is in the system database: no need to wait for DBOS's threads to stop


def _kill_when_charge_begins() -> None:
    """``begun``: die in ``charge``'s step after its begin step was recorded, before the tool runs."""
    run = _DurableTool._run

    async def killing(self: _DurableTool, arguments: str, ctx: RunContext[Any], cut_short: bool) -> str:
        if self.name == "charge" and not cut_short:
            os.kill(os.getpid(), signal.SIGKILL)
        return await run(self, arguments, ctx, cut_short)

    _DurableTool._run = killing  # type: ignore[method-assign]


def entry(db: str, base_url: str, workflow: str, effects: str, prompt: str, kill: str, out: Connection) -> None:
    """A worker forked by the test (multiprocessing): its lines go to ``out``."""
    global EFFECTS, KILL
    EFFECTS, KILL = effects, kill
    if kill == "begun":
        _kill_when_charge_begins()
    asyncio.run(main(db, base_url, workflow, prompt, out.send))


if __name__ == "__main__":  # by hand: python -m tests.durable.worker DB BASE_URL WORKFLOW EFFECTS PROMPT [KILL]
    db, base, workflow_id, EFFECTS, prompt_text = sys.argv[1:6]
    KILL = sys.argv[6] if len(sys.argv) > 6 else ""
    asyncio.run(main(db, base, workflow_id, prompt_text))
