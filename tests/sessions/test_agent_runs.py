"""Runs with ``session=``: the stored messages are the history, and the run's messages are stored as
each step completes — over every store (memory, SQLite, a real PostgreSQL, a real Redis)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from agentkit import Agent, ApprovalRequired, RunContext, RunState, UserError, tool
from agentkit.messages import AssistantMessage, Message, SystemMessage, ToolMessage, UserMessage
from agentkit.sessions import InMemorySession, Session, SQLiteSession
from agentkit.testing import ScriptedModel, reply, tool_call
from tests.sessions.conftest import Store

ROOT = Path(__file__).parent.parent.parent


def kinds(messages: list[Message]) -> list[str]:
    return [m.role for m in messages]


async def test_the_stored_messages_are_the_history_and_each_step_is_stored_as_it_completes(store: Store) -> None:
    session = store.session("chat")
    seen_by_the_tool: list[list[str]] = []

    @tool
    async def add(ctx: RunContext[Session], a: int, b: int) -> int:
        """Add two numbers.

        Args:
            a: First.
            b: Second.
        """
        seen_by_the_tool.append(kinds(await ctx.deps.get_messages()))
        return a + b

    model = ScriptedModel([reply(None, tool_call("add", {"a": 1, "b": 2}, id="c1")), "3", "You asked 1+2."])
    agent = Agent(model, tools=[add], instructions="Be brief.", deps_type=Session)
    first = await agent.run("1+2?", session=session, deps=session)
    assert first.output == "3"
    assert seen_by_the_tool == [["user", "assistant"]]  # the prompt and the call were stored before the tool ran
    stored = await session.get_messages()
    assert kinds(stored) == ["user", "assistant", "tool", "assistant"]  # not the agent's instructions
    assert stored[1].tool_calls[0].id == "c1" and stored[2].content == "3"  # type: ignore[union-attr]

    second = await agent.run("What did I ask?", session=session, deps=session)
    sent = model.requests[-1].messages
    assert kinds(sent) == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert sent[0] == SystemMessage(content="Be brief.") and sent[-1] == UserMessage(content="What did I ask?")
    assert second.new_messages == [UserMessage(content="What did I ask?"), AssistantMessage(content="You asked 1+2.")]
    assert kinds(await session.get_messages()) == ["user", "assistant", "tool", "assistant", "user", "assistant"]


async def test_a_run_that_fails_keeps_what_happened_before(store: Store) -> None:
    session = store.session("fails")

    @tool
    def lookup(q: str) -> str:
        """Look something up.

        Args:
            q: The query.
        """
        return f"found {q}"

    model = ScriptedModel([reply(None, tool_call("lookup", {"q": "x"})), RuntimeError("the provider broke")])
    with pytest.raises(RuntimeError, match="provider broke"):
        await Agent(model, tools=[lookup]).run("Find x", session=session)
    stored = await session.get_messages()
    assert kinds(stored) == ["user", "assistant", "tool"] and stored[2].content == "found x"


@tool(requires_approval=True)
def delete(path: str) -> str:
    """Delete a file.

    Args:
        path: The file.
    """
    return f"deleted {path}"


async def test_a_paused_run_resumed_with_its_session_stores_each_message_once(store: Store) -> None:
    session = store.session("approvals")
    model = ScriptedModel([reply(None, tool_call("delete", {"path": "a.txt"}, id="d1")), "Done."])
    agent = Agent(model, tools=[delete])
    with pytest.raises(ApprovalRequired) as info:
        await agent.run("Delete a.txt", session=session)
    assert kinds(await session.get_messages()) == ["user", "assistant"]
    state = RunState.model_validate_json(info.value.state.model_dump_json())
    result = await agent.run(state=state, approvals={"d1": True}, session=session)
    assert result.output == "Done."
    stored = await session.get_messages()
    assert kinds(stored) == ["user", "assistant", "tool", "assistant"] and stored[2].content == "deleted a.txt"


async def test_streamed_and_step_by_step_runs_store_their_messages_too() -> None:
    session = InMemorySession()
    agent = Agent(ScriptedModel(["Hi!", "Hello again."]))
    async with agent.run_stream("Hello", session=session) as stream:
        async for _event in stream:
            pass
    async with agent.iter("Again", session=session) as run:
        async for _step in run:
            pass
    assert [m.content for m in await session.get_messages()] == ["Hello", "Hi!", "Again", "Hello again."]


async def test_run_many_gives_each_input_its_own_session(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    opened: list[SQLiteSession] = []

    def session_of(key: str) -> SQLiteSession:
        opened.append(SQLiteSession(path, key))
        return opened[-1]

    agent = Agent(ScriptedModel([lambda request: f"{len(request.messages)} messages"] * 10))
    inputs = [{"id": "ann", "prompt": "Hi, I am Ann"}, {"id": "bob", "prompt": "Hi, I am Bob"}]
    await agent.run_many(inputs, session=session_of)
    again = await agent.run_many([{"id": "ann", "prompt": "Who am I?"}], session=session_of)
    assert again[0].output == "3 messages"  # Ann's two stored messages and the new prompt; nothing of Bob's
    ann, bob = SQLiteSession(path, "ann"), SQLiteSession(path, "bob")
    assert [m.content for m in await ann.get_messages()] == ["Hi, I am Ann", "1 messages", "Who am I?", "3 messages"]
    assert [m.content for m in await bob.get_messages()] == ["Hi, I am Bob", "1 messages"]
    for session in [*opened, ann, bob]:
        await session.close()


def test_a_crash_mid_run_loses_at_most_the_step_in_flight(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import os, sys
        from agentkit import Agent, tool
        from agentkit.sessions import SQLiteSession
        from agentkit.testing import ScriptedModel, reply, tool_call

        @tool
        def crash() -> str:
            '''Crash the process.'''
            os._exit(3)

        model = ScriptedModel([reply("Let me check.", tool_call("crash", id="x1")), "unreached"])
        Agent(model, tools=[crash]).run_sync("Go", session=SQLiteSession(sys.argv[1], "s"))
        """
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "s.db")], cwd=ROOT, capture_output=True, timeout=60)
    assert done.returncode == 3, done.stderr

    async def read() -> list[Message]:
        session = SQLiteSession(tmp_path / "s.db", "s")
        try:
            return await session.get_messages()
        finally:
            await session.close()

    stored = asyncio.run(read())
    assert kinds(stored) == ["user", "assistant"] and stored[1].content == "Let me check."


async def test_a_handoff_is_stored_whole_without_either_agents_instructions() -> None:
    session = InMemorySession()
    billing = Agent(ScriptedModel(["Due on the 15th."]), name="billing", instructions="You are billing.")
    triage = Agent(
        ScriptedModel([reply(None, tool_call("transfer_to_billing", id="t1"))]),
        name="triage",
        instructions="Route.",
        handoffs=[billing],
    )
    result = await triage.run("When is INV-7 due?", session=session)
    assert result.agent_name == "billing"
    stored = await session.get_messages()
    assert kinds(stored) == ["user", "assistant", "tool", "assistant"]
    assert isinstance(stored[2], ToolMessage) and stored[2].tool_call_id == "t1"


async def test_session_mistakes_raise_at_once() -> None:
    agent = Agent(ScriptedModel(["unused"]))
    with pytest.raises(UserError, match="session= or messages="):
        await agent.run("Hi", session=InMemorySession(), messages=[UserMessage(content="earlier")])
    not_a_session: Any = object()
    with pytest.raises(UserError, match=r"agentkit\.sessions\.Session"):
        await agent.run("Hi", session=not_a_session)


async def test_a_hundred_concurrent_runs_on_one_store_lose_nothing(persistent: Store) -> None:
    agent = Agent(ScriptedModel([lambda request: f"answer to {request.messages[-1].content}"] * 200))
    sessions = [persistent.session(f"user{i % 50}") for i in range(100)]  # 50 sessions, two runs each at once
    await asyncio.gather(*(agent.run(f"q{i}", session=s) for i, s in enumerate(sessions)))
    for n in range(50):
        stored = [m.content for m in await sessions[n].get_messages()]
        assert sorted(stored) == sorted([f"q{n}", f"answer to q{n}", f"q{n + 50}", f"answer to q{n + 50}"])
        for i in (n, n + 50):  # each run's own messages in their order
            assert stored.index(f"q{i}") < stored.index(f"answer to q{i}")


async def test_calls_a_session_holds_without_results_are_answered_as_not_run_before_the_next_prompt() -> None:
    session = InMemorySession()
    model = ScriptedModel([reply(None, tool_call("delete", {"path": "a.txt"}, id="d1")), "Fine."])
    agent = Agent(model, tools=[delete])
    with pytest.raises(ApprovalRequired):
        await agent.run("Delete a.txt", session=session)  # paused, and never resumed
    result = await agent.run("Never mind.", session=session)
    sent = model.requests[-1].messages
    assert kinds(sent) == ["user", "assistant", "tool", "user"]
    assert isinstance(sent[2], ToolMessage) and sent[2].tool_call_id == "d1" and sent[2].content.startswith("Not run")
    assert result.output == "Fine."
    assert kinds(await session.get_messages()) == ["user", "assistant", "tool", "user", "assistant"]
