"""A durable run killed with SIGKILL at each kind of step, then restarted: the run resumes from its
last completed step. Each scenario is a worker process (tests/durable/worker.py) against a loopback
model server of its own and a SQLite system database of its own; the scenarios run side by side.

The conversation: the model calls ``lookup`` (idempotent) and ``charge`` (a side effect) in one
turn, then answers with both results. Checked for each kill: the final result is the uninterrupted
run's, every answered model request was answered once (a request cut short is sent again: its
answer never came), and ``charge`` ran once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agentkit.durable import IN_DOUBT
from tests.durable import worker as shop_worker
from tests.durable.harness import ShopServer, Worker, effects, run_server

PROMPT = "buy a book"
FIRST, SECOND = "1 messages", "4 messages"  # the two model requests (see harness.turn_key)
KILLS = ["model", "answered", "lookup", "between", "charge", "begun", "final"]
"""During the second model request; after the first answer, before its tools; inside the
idempotent tool; after the tools, before the next request; inside the side-effecting tool; after
the side-effecting tool's begin step, before the tool started; after the final answer, before the
run's result was recorded."""


@dataclass
class Outcome:
    result: dict[str, Any]
    server: ShopServer
    effects: Counter[str]


def _db(folder: Path) -> str:
    return f"sqlite:///{folder}/dbos.sqlite"


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Outcome]]:
    """Every scenario run to its end: ``"none"`` uninterrupted (the plain agent, in this process),
    the others durable, killed once and restarted."""
    servers = {kill: ShopServer(stall=SECOND if kill == "model" else None) for kill in ["none", *KILLS]}
    running = {kill: run_server(handler) for kill, handler in servers.items()}
    folders = {kill: tmp_path_factory.mktemp(kill) for kill in servers}

    def worker(kill: str, kill_at: str = "") -> Worker:
        folder = folders[kill]
        return Worker(_db(folder), running[kill].url + "/v1", f"run-{kill}", folder / "effects", PROMPT, kill_at)

    try:
        first = {kill: worker(kill, "" if kill == "model" else kill) for kill in KILLS}
        shop_worker.EFFECTS = str(folders["none"] / "effects")
        agent = shop_worker.shop(running["none"].url + "/v1")
        results = {"none": shop_worker.summary(agent.run_sync(PROMPT))}
        agent.close_sync()
        assert servers["model"].stalled.wait(60), "the second model request never came"
        first["model"].kill()  # while it waits for the answer
        for kill in KILLS[1:]:
            first[kill].killed_itself(timeout=60)
        second = {kill: worker(kill) for kill in KILLS}
        results.update({kill: w.result(timeout=60) for kill, w in second.items()})
        yield {kill: Outcome(results[kill], servers[kill], effects(folders[kill] / "effects")) for kill in servers}
    finally:
        for server in running.values():
            server.stop()


def test_the_uninterrupted_run(outcomes: dict[str, Outcome]) -> None:
    done = outcomes["none"]
    assert done.result["output"] == "done: book costs 5 | charged 5"
    assert done.result["requests"] == 2 and done.result["tool_calls"] == 2
    assert done.server.received == Counter({FIRST: 1, SECOND: 1})
    assert done.effects == Counter({"start lookup": 1, "end lookup": 1, "start charge": 1, "end charge": 1})


@pytest.mark.parametrize("kill", ["model", "answered", "lookup", "between", "final"])
def test_killed_and_restarted_the_run_ends_as_if_never_interrupted(outcomes: dict[str, Outcome], kill: str) -> None:
    done, baseline = outcomes[kill], outcomes["none"]
    assert done.result == baseline.result  # the output, every message, the usage
    assert done.server.answered == Counter({FIRST: 1, SECOND: 1})  # no answer was paid for twice
    assert done.effects["start charge"] == done.effects["end charge"] == 1  # the side effect, once


def test_killed_during_a_model_request_only_that_request_is_sent_again(outcomes: dict[str, Outcome]) -> None:
    """Its answer never came (the server held it), so the resumed run asks again; the first request is not re-sent."""
    assert outcomes["model"].server.received == Counter({FIRST: 1, SECOND: 2})
    assert outcomes["model"].effects == outcomes["none"].effects


def test_killed_inside_an_idempotent_tool_it_runs_again(outcomes: dict[str, Outcome]) -> None:
    assert outcomes["lookup"].effects == Counter({"start lookup": 2, "end lookup": 1, "start charge": 1, "end charge": 1})
    assert outcomes["lookup"].server.received == Counter({FIRST: 1, SECOND: 1})


@pytest.mark.parametrize("kill", ["answered", "between", "final"])
def test_killed_between_steps_nothing_runs_twice(outcomes: dict[str, Outcome], kill: str) -> None:
    assert outcomes[kill].server.received == Counter({FIRST: 1, SECOND: 1})
    assert outcomes[kill].effects == outcomes["none"].effects


def test_killed_inside_a_side_effect_the_call_is_in_doubt_and_not_run_again(outcomes: dict[str, Outcome]) -> None:
    done = outcomes["charge"]
    assert done.effects == Counter({"start lookup": 1, "end lookup": 1, "start charge": 1})  # charge: never again
    assert done.server.received == done.server.answered == Counter({FIRST: 1, SECOND: 1})
    results = {m["tool_call_id"]: m for m in done.result["messages"] if m["role"] == "tool"}
    assert results["call_1"]["content"] == "book costs 5"
    assert results["call_2"]["content"] == IN_DOUBT and results["call_2"]["is_error"]
    assert done.result["output"] == f"done: book costs 5 | {IN_DOUBT}"  # the model read it, and decides


def test_killed_after_a_begin_step_before_its_tool_started_the_call_is_in_doubt(outcomes: dict[str, Outcome]) -> None:
    """Nothing tells "about to start" from "started": a call whose begin step was recorded is in doubt, never run blindly."""
    done = outcomes["begun"]
    assert done.effects == Counter({"start lookup": 1, "end lookup": 1})  # charge never ran, and was not run on resume
    results = {m["tool_call_id"]: m for m in done.result["messages"] if m["role"] == "tool"}
    assert results["call_2"]["content"] == IN_DOUBT and results["call_2"]["is_error"]
    assert done.server.received == done.server.answered == Counter({FIRST: 1, SECOND: 1})
