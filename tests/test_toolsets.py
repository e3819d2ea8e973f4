"""Toolsets: tools that need a connection (MCP servers) are entered once, used, and closed with the agent."""

from __future__ import annotations

import asyncio

import pytest

from agentkit import Agent, ModelSettings, Tool, UserError
from agentkit.testing import ScriptedModel, reply, tool_call


class FakeServer:
    """A toolset whose tools exist only while it is entered."""

    def __init__(self, *names: str) -> None:
        self.names = names
        self.entered = 0
        self.exited = 0
        self.connected = False

    async def __aenter__(self) -> FakeServer:
        await asyncio.sleep(0.01)  # a connection takes a while: concurrent runs must not enter twice
        self.entered += 1
        self.connected = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.exited += 1
        self.connected = False

    def get_tools(self) -> list[Tool]:
        assert self.connected, "tools listed before connecting"
        return [Tool.from_schema(n, f"The {n} tool.", {"type": "object", "properties": {}}, self._call(n)) for n in self.names]

    def _call(self, name: str):
        async def call(arguments: dict) -> str:
            assert self.connected
            return f"{name} ran"

        return call


async def test_toolset_is_entered_once_used_and_closed():
    server = FakeServer("remote_time")
    model = ScriptedModel([reply(None, tool_call("remote_time", {})), "done", "again"])
    agent = Agent(model, tools=[server])
    assert agent.tools == []  # nothing before the first run
    first = await agent.run("what time is it?")
    assert first.output == "done"
    assert first.messages[2].content == "remote_time ran"
    assert [t.name for t in model.requests[0].tools] == ["remote_time"]
    await agent.run("and now?")
    assert server.entered == 1 and server.exited == 0
    await agent.aclose()
    assert server.exited == 1 and agent.tools == []


async def test_concurrent_first_runs_connect_once():
    server = FakeServer("t")
    agent = Agent(ScriptedModel(["a", "b", "c"]), tools=[server])
    await asyncio.gather(*(agent.run("x") for _ in range(3)))
    assert server.entered == 1
    await agent.aclose()


async def test_async_with_agent_connects_and_disconnects():
    server = FakeServer("t")
    async with Agent(ScriptedModel([]), tools=[server]) as agent:
        assert [t.name for t in agent.tools] == ["t"]
    assert server.exited == 1


async def test_toolset_name_clash_and_tool_choice_are_checked_after_connecting():
    def t() -> str:
        """Local."""
        return "x"

    agent = Agent(ScriptedModel([]), tools=[t, FakeServer("t")])
    with pytest.raises(UserError, match="Two tools are named 't'"):
        await agent.run("x")
    good = Agent(ScriptedModel(["ok"]), tools=[FakeServer("remote")], settings=ModelSettings(tool_choice="remote"))
    assert (await good.run("x")).output == "ok"  # a toolset's tool may be forced
    bad = Agent(ScriptedModel([]), tools=[FakeServer("remote")], settings=ModelSettings(tool_choice="nope"))
    with pytest.raises(UserError, match="tool_choice='nope'"):
        await bad.run("x")
    for a in (agent, good, bad):
        await a.aclose()
