"""Your mistakes raise, the model's mistakes go back to it (issue 12, item 7): tool exceptions,
``tool_errors=``, ``deps_type`` checked at run start (agentkit/_run/tool_calls.py, live.py)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pytest

from agentkit import (
    Agent,
    AgentRunError,
    ModelRetry,
    RunContext,
    ToolExecutionError,
    ToolRetriesExceeded,
    UserError,
    tool,
)
from agentkit.errors import MissingAPIKeyError, ToolDefinitionError
from agentkit.messages import AssistantMessage, ToolMessage, UserMessage
from agentkit.tools import Tool
from tests.run.helpers import answer, calls, chat_bodies, model_for, sse_calls


class Kaboom(Exception):
    pass


def _failing_tool(kind: str, log: list[str]) -> Tool[Any, Any]:
    if kind == "async":

        @tool
        async def explode(n: int) -> str:
            """Always fails."""
            log.append("ran")
            raise Kaboom(f"bad luck {n}")

        return explode

    @tool
    def explode(n: int) -> str:  # type: ignore[no-redef]
        """Always fails."""
        log.append("ran")
        raise Kaboom(f"bad luck {n}")

    return explode


@pytest.mark.parametrize("kind", ["async", "sync"])
async def test_an_unexpected_tool_exception_goes_back_to_the_model_and_is_logged(loopback, caplog, kind):
    server = loopback([calls(("explode", {"n": 7}, "e1")), answer("I could not do it")])
    caplog.set_level(logging.WARNING, logger="agentkit")
    result = await Agent(model_for(server), tools=[_failing_tool(kind, [])]).run("go")
    assert result.output == "I could not do it"
    sent = chat_bodies(server)[1]["messages"][-1]
    assert sent["role"] == "tool" and sent["tool_call_id"] == "e1"
    assert "Kaboom: bad luck 7" in sent["content"]
    records = [r for r in caplog.records if r.name == "agentkit" and r.levelno == logging.WARNING]
    assert len(records) == 1
    record = records[0]
    assert "explode" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is Kaboom  # with its traceback
    assert "Traceback" in caplog.text and "bad luck 7" in caplog.text


@pytest.mark.parametrize("kind", ["async", "sync"])
async def test_tool_errors_raise_ends_the_run_with_a_tool_execution_error(loopback, kind):
    server = loopback([calls(("explode", {"n": 3}, "e1")), answer("never sent")])
    log: list[str] = []
    agent = Agent(model_for(server), tools=[_failing_tool(kind, log)], tool_errors="raise")
    with pytest.raises(ToolExecutionError) as info:
        await agent.run("go")
    error = info.value
    assert isinstance(error, AgentRunError)
    assert (error.tool_name, error.tool_call_id) == ("explode", "e1")
    assert isinstance(error.__cause__, Kaboom) and str(error.__cause__) == "bad luck 3"
    assert "explode" in str(error) and "Kaboom" in str(error)
    assert [type(m) for m in error.messages] == [UserMessage, AssistantMessage]
    assert error.messages[-1].tool_calls[0].id == "e1"
    assert error.usage is not None and error.usage.requests == 1
    assert log == ["ran"] and len(server.requests) == 1


async def test_tool_errors_raise_also_ends_a_streamed_run(loopback):
    server = loopback([sse_calls(("explode", {"n": 1}, "e1"))])
    agent = Agent(model_for(server), tools=[_failing_tool("async", [])], tool_errors="raise")
    with pytest.raises(ToolExecutionError) as info:
        async with agent.run_stream("go") as stream:
            async for _ in stream:
                pass
    assert info.value.tool_call_id == "e1" and len(server.requests) == 1


@pytest.mark.parametrize("mode", ["return", "raise"])
async def test_model_retry_and_bad_arguments_still_go_back_to_the_model(loopback, mode):
    server = loopback(
        [
            calls(("pick", {"n": 0}, "p1"), ("pick", {"n": "many"}, "p2")),
            answer("ok, giving up"),
        ]
    )

    @tool(retries=3)
    def pick(n: int) -> str:
        """Pick a positive number.

        Args:
            n: The number.
        """
        raise ModelRetry("n must be positive")

    result = await Agent(model_for(server), tools=[pick], tool_errors=mode).run("pick")
    assert result.output == "ok, giving up"
    sent = chat_bodies(server)[1]["messages"]
    assert sent[-2] == {"role": "tool", "tool_call_id": "p1", "content": "n must be positive"}
    assert sent[-1]["tool_call_id"] == "p2" and "n: Input should be a valid integer" in sent[-1]["content"]
    assert [m.is_error for m in result.messages if isinstance(m, ToolMessage)] == [True, True]


async def test_tool_errors_return_still_has_a_retry_budget(loopback):
    server = loopback([calls(("explode", {"n": i}, f"e{i}")) for i in range(3)])
    agent = Agent(model_for(server), tools=[_failing_tool("async", [])], tool_retries=1, tool_errors="return")
    with pytest.raises(ToolRetriesExceeded) as info:
        await agent.run("go")
    assert "Kaboom" in info.value.last_error and len(server.requests) == 2


def test_tool_errors_must_be_return_or_raise():
    with pytest.raises(UserError, match="tool_errors must be 'return' or 'raise'"):
        Agent("test", tool_errors="nope")  # type: ignore[arg-type]
    assert Agent("test", tool_errors="raise").tool_errors == "raise"
    assert Agent("test").tool_errors == "return"


# -- deps_type -----------------------------------------------------------------------------------


@dataclass
class Deps:
    user: str


@tool
def whoami(ctx: RunContext[Deps]) -> str:
    """Who is asking."""
    return ctx.deps.user


@tool
def plain(x: int) -> int:
    """No context."""
    return x


async def test_a_tool_needing_deps_without_deps_is_a_user_error_before_any_request(loopback):
    server = loopback([calls(("whoami", {}, "w1")), answer("you are ann")])
    agent = Agent(model_for(server), tools=[whoami, plain], deps_type=Deps)
    with pytest.raises(UserError, match="deps") as info:
        await agent.run("who am I?")
    assert "whoami" in str(info.value) and "plain" not in str(info.value)
    with pytest.raises(UserError, match="deps"):
        agent.run_stream("who am I?")
    with pytest.raises(UserError, match="deps"):
        agent.iter("who am I?")
    with pytest.raises(UserError, match="deps"):
        agent.run_sync("who am I?")
    assert server.requests == []
    # with deps the tool gets them
    result = await agent.run("who am I?", deps=Deps("ann"))
    assert result.output == "you are ann"
    assert chat_bodies(server)[1]["messages"][-1] == {"role": "tool", "tool_call_id": "w1", "content": "ann"}


async def test_deps_are_only_required_when_a_tool_takes_the_context(loopback):
    server = loopback([answer("a"), calls(("whoami", {}, "w1")), answer("b")])
    # deps_type set, but no tool takes the context: nothing to check
    assert (await Agent(model_for(server), tools=[plain], deps_type=Deps).run("x")).output == "a"
    # no deps_type: nothing is checked; the tool gets deps=None and its failure goes to the model
    result = await Agent(model_for(server), tools=[whoami]).run("y")
    assert result.output == "b"
    assert "AttributeError" in chat_bodies(server)[2]["messages"][-1]["content"]
    # deps_type and a tool that takes the context: checked
    with pytest.raises(UserError, match="deps"):
        await Agent(model_for(server), tools=[whoami, plain], deps_type=Deps).run("z")
    assert len(server.requests) == 3


class _Toolset:
    """A minimal toolset (the Toolset protocol) that brings ``whoami`` once entered."""

    async def __aenter__(self) -> _Toolset:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def get_tools(self) -> list[Tool[Any, Any]]:
        return [whoami]


async def test_a_toolset_tool_needing_deps_without_deps_is_a_user_error_on_the_first_run_too(loopback):
    server = loopback([calls(("whoami", {}, "w1")), answer("never sent")])
    agent = Agent(model_for(server), tools=[_Toolset()], deps_type=Deps)
    with pytest.raises(UserError, match="deps"):
        await agent.run("who am I?")
    assert server.requests == []


async def test_a_toolset_tool_needing_deps_is_checked_once_connected(loopback):
    server = loopback([calls(("whoami", {}, "w1")), answer("never sent")])
    agent = Agent(model_for(server), tools=[_Toolset()], deps_type=Deps)
    await agent.connect()
    with pytest.raises(UserError, match="deps"):
        await agent.run("who am I?")
    assert server.requests == []
    await agent.aclose()


# -- other mistakes of the caller's ----------------------------------------------------------------


class Service:
    def lookup(self, q: str) -> str:
        """Look something up."""
        return q


def test_an_unbound_method_is_refused_when_it_becomes_a_tool():
    with pytest.raises(ToolDefinitionError, match="unbound"):
        tool(Service.lookup)
    assert tool(Service().lookup).name == "lookup"


def test_an_unbound_method_of_a_local_class_is_refused_by_the_agent():
    class Local:
        def lookup(self, q: str) -> str:
            """Look something up."""
            return q

    with pytest.raises(UserError, match="not bound to an instance"):
        Agent("test", tools=[tool(Local.lookup)])
    assert Agent("test", tools=[Local().lookup]).tools[0].name == "lookup"


async def test_the_api_key_is_checked_at_the_first_request_not_at_construction():
    agent = Agent("openai:gpt-4o-mini")  # no OPENAI_API_KEY in the tests' environment
    assert agent.model.model_name == "gpt-4o-mini"
    with pytest.raises(MissingAPIKeyError):
        await agent.run("hi")
    await agent.aclose()
