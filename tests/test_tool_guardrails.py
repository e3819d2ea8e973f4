"""Tool guardrails: ``@tool(guardrails=[...])``, ``Tool(fn, guardrails=...)`` and
``Tool.from_schema(..., guardrails=...)``. A ``before`` check gets the validated arguments, an
``after`` check the return value; a trip answers the model with an error (a failed call) or, with
``halt=True``, ends the run. Calls directly, and over the loopback server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agentkit import (
    Agent,
    Guardrail,
    GuardrailError,
    GuardrailResult,
    GuardrailTripped,
    ModelRetry,
    RunContext,
    Tool,
    ToolDefinitionError,
    ToolGuardrail,
    ToolRetriesExceeded,
    UserError,
    tool,
)
from agentkit.events import ToolResult
from agentkit.messages import ToolMessage
from tests.run.helpers import answer, calls, chat_bodies, model_for, sse_calls, sse_text

PASS = GuardrailResult(tripped=False)


def _ctx() -> RunContext[None]:
    return RunContext(deps=None, tool_name="t", tool_call_id="c1")


def _tool_messages(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m["tool_call_id"], m["content"]) for m in body["messages"] if m["role"] == "tool"]


def _transfer_tool(ran: list[Any], *guardrails: Any) -> Tool[Any, Any]:
    @tool(guardrails=list(guardrails))
    def transfer(amount: int, to: str = "savings") -> str:
        """Move money.

        Args:
            amount: How much, in cents.
            to: Which account.
        """
        ran.append((amount, to))
        return f"moved {amount} to {to}"

    return transfer


def at_most(limit: int, **options: Any) -> Any:
    def small_amounts(ctx: RunContext[Any], arguments: dict[str, Any]) -> GuardrailResult:
        return GuardrailResult(tripped=arguments["amount"] > limit, info=arguments, **options)

    return small_amounts


# --- building ---------------------------------------------------------------------------------


def test_a_plain_function_is_a_before_check_and_tools_without_guardrails_have_none():
    ran: list[Any] = []
    guarded = _transfer_tool(ran, at_most(10))
    (only,) = guarded.guardrails
    assert only.before is not None and only.after is None and only.name == "small_amounts"
    assert _transfer_tool(ran).guardrails == ()
    named = Tool(lambda x: x, name="echo", guardrails=[Guardrail(at_most(1), name="tiny")])
    assert named.guardrails[0].name == "tiny"


def echo(text: str) -> str:
    """Echo.

    Args:
        text: The text.
    """
    return text


def test_guardrails_that_are_not_functions_are_refused_at_definition():
    with pytest.raises(ToolDefinitionError, match="must be a list"):
        tool(guardrails="no")(echo)  # type: ignore[arg-type]
    with pytest.raises(ToolDefinitionError, match="must be a function"):
        Tool(echo, guardrails=[42])  # type: ignore[list-item]
    with pytest.raises(UserError, match=r"before=\.\.\., after=\.\.\. or both"):
        ToolGuardrail()


# --- calling directly ---------------------------------------------------------------------------


async def test_a_before_check_gets_the_validated_arguments_and_can_block_the_call():
    ran: list[Any] = []
    seen: list[Any] = []

    def record(ctx: RunContext[Any], arguments: dict[str, Any]) -> GuardrailResult:
        seen.append((ctx.tool_name, arguments))
        return PASS

    guarded = _transfer_tool(ran, record, at_most(100))
    assert await guarded.call('{"amount": "50"}', _ctx()) == "moved 50 to savings"
    assert seen == [("t", {"amount": 50, "to": "savings"})]  # validated: coerced, defaults filled in
    with pytest.raises(ModelRetry, match="guardrail 'small_amounts' blocked this call of 'transfer'"):
        await guarded.call('{"amount": 500}', _ctx())
    assert ran == [(50, "savings")]


async def test_an_after_check_sees_the_result_and_can_withhold_it():
    ran: list[Any] = []

    async def no_big_numbers(ctx: RunContext[Any], result: Any) -> GuardrailResult:
        return GuardrailResult(tripped="9999" in result, message="That result is confidential.")

    guarded = _transfer_tool(ran, ToolGuardrail(after=no_big_numbers))
    assert await guarded.call('{"amount": 1}', _ctx()) == "moved 1 to savings"
    with pytest.raises(ModelRetry, match=r"That result is confidential\."):
        await guarded.call('{"amount": 9999}', _ctx())
    assert ran == [(1, "savings"), (9999, "savings")]  # the call ran; its result was withheld

    default = _transfer_tool(ran, ToolGuardrail(after=lambda c, r: GuardrailResult(True), name="hide"))
    with pytest.raises(ModelRetry, match="'hide' withheld the result of this call of 'transfer'"):
        await default.call('{"amount": 2}', _ctx())


async def test_from_schema_tools_check_the_arguments_dict():
    seen: list[Any] = []

    def check(ctx: RunContext[Any], arguments: dict[str, Any]) -> GuardrailResult:
        seen.append(arguments)
        return GuardrailResult(tripped=arguments["query"] == "drop", message="Read-only.")

    search = Tool.from_schema(
        "search",
        "Search.",
        {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
        lambda arguments: f"found {arguments['query']}",
        guardrails=[check],
    )
    assert await search.call('{"query": "cats"}', _ctx()) == "found cats"
    with pytest.raises(ModelRetry, match=r"Read-only\."):
        await search.call('{"query": "drop"}', _ctx())
    assert seen == [{"query": "cats"}, {"query": "drop"}]


async def test_bad_arguments_fail_before_any_guardrail_runs():
    seen: list[Any] = []
    guarded = _transfer_tool([], lambda c, a: seen.append(a) or PASS)
    with pytest.raises(Exception, match="Invalid arguments"):
        await guarded.call('{"amount": "lots"}', _ctx())
    assert seen == []


async def test_a_method_tool_keeps_its_guardrails_when_bound():
    class Bank:
        def __init__(self) -> None:
            self.moved: list[int] = []

        @tool(guardrails=[at_most(5)])
        def pay(self, amount: int) -> str:
            """Pay.

            Args:
                amount: Cents.
            """
            self.moved.append(amount)
            return "paid"

    bank = Bank()
    assert bank.pay.guardrails == Bank.pay.guardrails
    assert await bank.pay.call('{"amount": 3}', _ctx()) == "paid"
    with pytest.raises(ModelRetry):
        await bank.pay.call('{"amount": 30}', _ctx())
    assert bank.moved == [3]


# --- in a run -----------------------------------------------------------------------------------


async def test_a_tripped_check_answers_the_model_with_its_message(loopback):
    server = loopback([calls(("transfer", {"amount": 500}, "c1")), calls(("transfer", {"amount": 5}, "c2")), answer("done")])
    ran: list[Any] = []
    agent = Agent(model_for(server), tools=[_transfer_tool(ran, at_most(100, message="Over the limit: at most 100."))])
    result = await agent.run("pay 500")
    assert result.output == "done"
    assert ran == [(5, "savings")]
    bodies = chat_bodies(server)
    assert _tool_messages(bodies[1]) == [("c1", "Over the limit: at most 100.")]
    assert _tool_messages(bodies[2])[-1] == ("c2", "moved 5 to savings")
    assert [m.is_error for m in result.messages if isinstance(m, ToolMessage)] == [True, False]


async def test_blocked_calls_count_against_the_tools_retry_budget(loopback):
    server = loopback([calls(("transfer", {"amount": 500}, f"c{i}")) for i in range(3)])
    agent = Agent(model_for(server), tools=[_transfer_tool([], at_most(100))], tool_retries=1)
    with pytest.raises(ToolRetriesExceeded, match="small_amounts"):
        await agent.run("pay 500")
    assert len(server.requests) == 2


async def test_halt_ends_the_run_with_guardrail_tripped(loopback):
    server = loopback([calls(("transfer", {"amount": 500}, "c1")), answer("never asked")])
    ran: list[Any] = []
    agent = Agent(model_for(server), tools=[_transfer_tool(ran, at_most(100, halt=True, message="fraud suspected"))])
    tasks_before = asyncio.all_tasks()
    with pytest.raises(GuardrailTripped) as caught:
        await agent.run("pay 500")
    error = caught.value
    assert (error.kind, error.guardrail, error.info) == ("tool", "small_amounts", {"amount": 500, "to": "savings"})
    assert "fraud suspected" in str(error) and "'transfer'" in str(error)
    assert error.messages[-1].tool_calls[0].id == "c1"  # type: ignore[union-attr]
    assert ran == [] and len(server.requests) == 1
    assert asyncio.all_tasks() == tasks_before


async def test_halt_in_a_stream_with_concurrent_calls_cancels_the_others(loopback):
    server = loopback([sse_calls(("transfer", {"amount": 500}, "c1"), ("slow", {}, "c2")), sse_text("never")])
    cancelled = asyncio.Event()

    @tool
    async def slow() -> str:
        """Take long."""
        try:
            await asyncio.sleep(30)
        finally:
            cancelled.set()
        return "late"

    agent = Agent(model_for(server), tools=[_transfer_tool([], at_most(100, halt=True)), slow])
    with pytest.raises(GuardrailTripped):
        async with agent.run_stream("go") as stream:
            async for _event in stream:
                pass
    assert cancelled.is_set() and len(server.requests) == 1


async def test_a_blocked_call_streams_as_an_error_result(loopback):
    server = loopback([sse_calls(("transfer", {"amount": 500}, "c1")), sse_text("ok")])
    agent = Agent(model_for(server), tools=[_transfer_tool([], at_most(100))])
    async with agent.run_stream("go") as stream:
        results = [e async for e in stream if isinstance(e, ToolResult)]
    assert [(r.tool_call_id, r.is_error) for r in results] == [("c1", True)]
    assert "small_amounts" in results[0].content


async def test_a_tool_guardrail_that_raises_ends_the_run_even_when_tool_errors_return(loopback):
    server = loopback([calls(("transfer", {"amount": 5}, "c1")), answer("never asked")])

    def broken(ctx: RunContext[Any], arguments: dict[str, Any]) -> GuardrailResult:
        raise RuntimeError("policy service down")

    agent = Agent(model_for(server), tools=[_transfer_tool([], broken)], tool_errors="return")
    with pytest.raises(GuardrailError) as caught:
        await agent.run("pay")
    assert (caught.value.guardrail, caught.value.kind) == ("broken", "tool")
    assert "policy service down" in str(caught.value)
    assert len(server.requests) == 1


async def test_before_and_after_checks_of_one_guardrail(loopback):
    server = loopback([calls(("transfer", {"amount": 7}, "c1")), answer("done")])
    log: list[str] = []

    async def before(ctx: RunContext[Any], arguments: dict[str, Any]) -> GuardrailResult:
        log.append(f"before {arguments['amount']}")
        return PASS

    def after(ctx: RunContext[Any], result: Any) -> GuardrailResult:
        log.append(f"after {result}")
        return PASS

    ran: list[Any] = []
    agent = Agent(model_for(server), tools=[_transfer_tool(ran, ToolGuardrail(before=before, after=after, name="audit"))])
    assert (await agent.run("pay 7")).output == "done"
    assert log == ["before 7", "after moved 7 to savings"]
    assert ran == [(7, "savings")]
