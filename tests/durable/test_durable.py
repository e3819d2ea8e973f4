"""DurableAgent in this process (one DBOS on a SQLite system database for the module): a durable
run gives what a plain run gives (tool results and failures, attachments, structured output,
usage), pauses for approval and resumes on a decision; the options a durable run refuses."""

from __future__ import annotations

import base64
import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dbos import DBOS
from pydantic import BaseModel

import agentkit
import agentkit.durable
from agentkit import Agent, ModelRetry, RunContext, tool
from agentkit.content import BinaryContent
from agentkit.durable import DurableAgent, approve, pending
from agentkit.errors import ProviderError, ToolExecutionError, UserError
from agentkit.models import OpenAICompatible
from agentkit.settings import ModelSettings
from agentkit.testing import ScriptedModel, reply, tool_call
from agentkit.tools import Tool
from tests.support.server import LoopbackServer, Reply, Request, call, chat_completion

SECRET = "sk-durable-secret-0123456789abcdef"

PNG = BinaryContent(data=b"\x89PNG\r\n\x1a\n" + b"\0" * 16, media_type="image/png")


class Receipt(BaseModel):
    total: int
    note: str


class Item(BaseModel):
    name: str


class Basket(BaseModel):
    items: list[Item]


@tool
def price(item: str) -> int:
    """An item's price."""
    return {"book": 5}[item]


@tool
def flaky(ctx: RunContext[Any]) -> str:
    """Fails."""
    raise ValueError(f"nothing at turn {ctx.turn}")


@tool
def picky(n: int) -> str:
    """Asks for a correction."""
    raise ModelRetry("n must be even")


@tool
def photo() -> list[Any]:
    """A photo and a caption."""
    return ["a cat", PNG]


@tool(requires_approval=True)
def delete(name: str) -> str:
    """Delete a file."""
    return f"deleted {name}"


def script() -> list[Any]:
    calls = [tool_call("price", {"item": "book"}, id="c1"), tool_call("flaky", {}, id="c2")]
    calls += [tool_call("picky", {"n": 3}, id="c3"), tool_call("photo", {}, id="c4"), tool_call("price", {"x": 1}, id="c5")]
    return [reply(None, *calls), '{"total": 5, "note": "ok"}']


def shop(model: ScriptedModel) -> Agent[None, Receipt]:
    return Agent(model, name="shop", output_type=Receipt, tools=[price, flaky, picky, photo], tool_retries=3)


def keyed_server(request: Request) -> Reply:
    """A provider that echoes the request's key back in an error, and otherwise calls ``delete`` then answers."""
    messages = request.json["messages"]
    if "fail" in messages[0]["content"]:
        echo = {"error": {"message": f"bad key {request.headers.get('Authorization')}", "type": "invalid_request_error"}}
        return Reply(status=400, body=echo)
    if not any(m["role"] == "tool" for m in messages):
        return Reply(body=chat_completion(tool_calls=[call("delete", {"name": "k.txt"}, "k1")]))
    return Reply(body=chat_completion("all done"))


@pytest.fixture(scope="module")
def durable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder: Path = tmp_path_factory.mktemp("dbos")
    server = LoopbackServer(keyed_server).start()
    DBOS(config={"name": "agentkit-durable-unit", "system_database_url": f"sqlite:///{folder}/dbos.sqlite"})
    model = ScriptedModel(script() * 2)
    desk = Agent(ScriptedModel([reply(None, tool_call("delete", {"name": "a.txt"}, id="d1")), "Done."]), tools=[delete])
    janitor = Agent(
        ScriptedModel([reply(None, tool_call("delete", {"name": "b.txt"}, id="d2")), "b.txt is gone."]), tools=[delete]
    )
    lead_model = ScriptedModel([reply(None, tool_call("janitor", {"input": "delete b.txt"}, id="j1")), "Cleaned up."])
    lead = Agent(lead_model, tools=[janitor.as_tool("janitor")])
    archive = Agent(ScriptedModel([reply(None, tool_call("delete", {"name": "c.txt"}, id="d3")), "Archived."]), tools=[delete])
    failing = Agent(ScriptedModel([reply(None, tool_call("flaky", {}, id="f1"))]), tools=[flaky], tool_errors="raise")
    keyed_model = OpenAICompatible("m", base_url=server.url + "/v1", api_key=SECRET, max_retries=0)
    keyed = Agent(keyed_model, tools=[delete], settings=ModelSettings(temperature=0.1))
    agents = {
        "shop": DurableAgent(shop(model)),
        "desk": DurableAgent(desk, name="desk"),
        "lead": DurableAgent(lead, name="lead"),
        "failing": DurableAgent(failing, name="failing"),
        "archive": DurableAgent(archive, name="archive"),
        "model": model,
        "fixer": DurableAgent(
            Agent(ScriptedModel(['{"total": "x"}', '{"total": 5, "note": "ok"}'] * 3), output_type=Receipt), name="fixer"
        ),
        "keyed": DurableAgent(keyed, name="keyed"),
        "db": folder / "dbos.sqlite",
    }
    DBOS.launch()
    try:
        yield agents
    finally:
        DBOS.destroy(destroy_registry=True)
        server.stop()


async def test_a_durable_run_gives_what_a_plain_run_gives(durable: dict[str, Any]) -> None:
    plain = await shop(ScriptedModel(script())).run("buy a book")
    done = await durable["shop"].run("buy a book", workflow_id="same-as-plain")
    assert done.output == plain.output == Receipt(total=5, note="ok")
    assert done.messages == plain.messages  # results, failures, attachments, in call order
    assert done.usage == plain.usage and done.turns == plain.turns == 2
    results = {m.tool_call_id: m for m in done.messages if m.role == "tool"}
    assert results["c2"].is_error and "ValueError: nothing at turn 1" in results["c2"].content
    assert results["c3"].is_error and results["c3"].content == "n must be even"
    assert results["c4"].content == "a cat" and results["c4"].attachments == [PNG]
    assert results["c5"].is_error  # bad arguments
    again = await durable["shop"].run("buy a book", workflow_id="same-as-plain")  # one id, one run: not run again
    assert again.messages == done.messages and durable["model"].remaining == 2


async def test_a_durable_run_paused_for_approval_resumes_on_a_decision(durable: dict[str, Any]) -> None:
    handle = await durable["desk"].start("delete a.txt", workflow_id="desk-1")
    calls = await pending("desk-1", timeout=10)
    assert [(c.id, c.name) for c in calls] == [("d1", "delete")]
    with pytest.raises(UserError, match=r"'desk-1' waits on the calls \['d1'\], not on \['other'\]"):
        await approve("desk-1", {"other": True, "d1": True})  # a typo: nothing is sent, the run waits on
    await approve("desk-1", {"d1": True})
    result = await handle.get_result()
    assert result.output == "Done."
    assert [m.content for m in result.messages if m.role == "tool"] == ["deleted a.txt"]
    assert await pending("desk-1") == []
    assert (await durable["desk"].result("desk-1")).messages == result.messages


async def test_a_sub_agents_call_that_needs_approval_pauses_the_durable_run(durable: dict[str, Any]) -> None:
    handle = await durable["lead"].start("clean up", workflow_id="lead-1")
    assert [(c.id, c.name) for c in await pending("lead-1", timeout=10)] == [("d2", "delete")]
    await approve("lead-1", {"d2": "keep it"})
    result = await handle.get_result()
    assert result.output == "Cleaned up."
    assert [m.content for m in result.messages if m.role == "tool"] == ["b.txt is gone."]


async def test_a_failed_run_raises_its_error_with_its_fields(durable: dict[str, Any]) -> None:
    """DBOS stores the error with pickle: agentkit's errors come back whole (keyword fields too)."""
    await durable["failing"].start("go", workflow_id="failing-1")
    with pytest.raises(ToolExecutionError) as info:
        await durable["failing"].result("failing-1")  # read back from the system database
    assert info.value.tool_name == "flaky" and info.value.tool_call_id == "f1"
    assert "ValueError: nothing at turn 1" in str(info.value)


async def test_an_in_doubt_call_that_requires_approval_runs_again_when_approved(
    durable: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As if the process running the call had died inside it: its begin step comes back as another run's."""
    began = agentkit.durable._began
    cut = []

    async def replayed() -> str:
        token = await began()
        if not cut:  # the first call only
            cut.append(token)
            agentkit.durable._FRESH.discard(token)
        return token

    monkeypatch.setattr(agentkit.durable, "_began", replayed)
    handle = await durable["archive"].start("delete c.txt", workflow_id="archive-1")
    await approve("archive-1", {"d3": True})  # the call's own approval (sent ahead: it waits in the topic)
    assert [c.id for c in await pending("archive-1", timeout=10)] == ["d3"]  # in doubt: asked again
    await approve("archive-1", {"d3": True})
    result = await handle.get_result()
    assert [m.content for m in result.messages if m.role == "tool"] == ["deleted c.txt"]
    assert len(cut) == 1


async def test_approve_checks_the_decisions(durable: dict[str, Any]) -> None:
    with pytest.raises(UserError, match="True, False or a reason"):
        await approve("desk-1", {"d1": 1})  # type: ignore[dict-item]


async def test_an_output_that_fails_validation_is_asked_again_as_in_a_plain_run(durable: dict[str, Any]) -> None:
    result = await durable["fixer"].run("total?", workflow_id="fixer-1")
    assert result.output == Receipt(total=5, note="ok") and result.turns == 2
    assert result.messages[2].role == "user"  # the correction the model was sent


async def test_the_system_database_holds_no_api_key(durable: dict[str, Any]) -> None:
    """Inputs, steps, events, results and errors: none holds the model's key (deps and settings are the caller's)."""
    handle = await durable["keyed"].start("delete k.txt", deps={"user": 7}, workflow_id="keyed-1")
    await approve("keyed-1", {"k1": True})
    assert (await handle.get_result()).output == "all done"
    with pytest.raises(ProviderError):
        await durable["keyed"].run("fail now", workflow_id="keyed-2")
    found = []
    with sqlite3.connect(durable["db"]) as db:
        tables = [name for (name,) in db.execute("select name from sqlite_master where type='table'")]
        for table in tables:
            for row in db.execute(f"select * from {table}"):
                for value in row:
                    text = value.encode() if isinstance(value, str) else value if isinstance(value, bytes) else b""
                    decoded = [text]
                    with contextlib.suppress(ValueError):  # DBOS stores pickles as base64
                        decoded.append(base64.b64decode(text, validate=True))
                    found += [table for blob in decoded if SECRET.encode() in blob]
    assert {"workflow_status", "operation_outputs", "workflow_events"} <= set(tables)  # the scan saw them
    assert found == []


async def test_deps_that_do_not_pickle_are_refused_before_the_run_starts(durable: dict[str, Any]) -> None:
    class Deps:
        def __init__(self) -> None:
            self.lock = threading.Lock()

        def __repr__(self) -> str:
            return "Deps(password='hunter2')"

    with pytest.raises(UserError, match="deps of a durable run must pickle") as info:
        await durable["shop"].run("buy", deps=Deps(), workflow_id="lock-1")
    assert "hunter2" not in str(info.value)
    assert await DBOS.get_workflow_status_async("lock-1") is None  # nothing was started


def test_an_output_type_that_does_not_pickle_is_refused_when_the_durable_agent_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    class Local(BaseModel):
        total: int

    for output_type in (Local, list[Local], Receipt | Local):
        with pytest.raises(UserError, match=r"output type .*Local of a durable agent must pickle.*top level of a module"):
            DurableAgent(Agent(ScriptedModel([]), name="local", output_type=output_type))
    monkeypatch.delitem(globals(), "Item")  # a field's class that pickle cannot find by its name
    with pytest.raises(UserError, match="output type Item of a durable agent must pickle"):
        DurableAgent(Agent(ScriptedModel([]), name="basket", output_type=Basket))


async def test_a_workflow_id_is_one_run_and_another_prompt_under_it_is_refused(durable: dict[str, Any]) -> None:
    await durable["fixer"].run("total?", workflow_id="fixer-2")
    with pytest.raises(UserError, match="'fixer-2' is already a run with another prompt"):
        await durable["fixer"].run("another question", workflow_id="fixer-2")


async def test_approve_and_pending_say_when_the_run_is_unknown_or_ended(durable: dict[str, Any]) -> None:
    with pytest.raises(UserError, match="no durable run 'no-such-run'"):
        await approve("no-such-run", {"c": True})
    with pytest.raises(UserError, match="no durable run 'no-such-run'"):
        await pending("no-such-run")
    await durable["fixer"].run("total?", workflow_id="fixer-3")
    with pytest.raises(UserError, match=r"'fixer-3' has ended \(SUCCESS\): it waits on no approval"):
        await approve("fixer-3", {"c": True})
    assert await pending("fixer-3") == []


def test_streaming_a_durable_run_is_refused_saying_what_to_do(durable: dict[str, Any]) -> None:
    with pytest.raises(UserError, match=r"cannot stream yet: use await durable\.run"):
        durable["shop"].run_stream("buy")
    with pytest.raises(UserError, match="cannot be iterated yet"):
        durable["shop"].iter("buy")


def test_a_durable_agent_needs_a_name_and_no_handoffs() -> None:
    with pytest.raises(UserError, match="needs a name"):
        DurableAgent(Agent(ScriptedModel([])))
    other = Agent(ScriptedModel([]), name="other")
    with pytest.raises(UserError, match="Handoffs"):
        DurableAgent(Agent(ScriptedModel([]), name="front", handoffs=[other]))


def test_tools_are_not_idempotent_unless_they_say_so() -> None:
    assert price.idempotent is False
    assert tool(idempotent=True, name="one")(lambda: 1).idempotent is True
    assert Tool.from_schema("t", "d", {"type": "object"}, lambda args: 1).idempotent is False


def test_import_agentkit_does_not_import_dbos() -> None:
    assert "dbos" not in agentkit.__dict__
