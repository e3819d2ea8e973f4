"""Approvals in a durable run: the run waits durably (across a SIGKILL and a restart) and resumes
when another process (here the test, through a ``DBOSClient`` on the system database) decides. A
call that requires approval and was cut short by a kill is in doubt: the next decision says
whether it runs again."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from dbos import DBOSClient

from agentkit.durable import IN_DOUBT, approve, pending
from tests.durable.harness import ShopServer, Worker, effects, run_server


def test_an_approval_waits_across_restarts_and_an_in_doubt_call_waits_for_a_decision(tmp_path: Path) -> None:
    server = ShopServer()
    running = run_server(server)
    db, folder = f"sqlite:///{tmp_path}/dbos.sqlite", tmp_path

    def worker(kill: str = "") -> Worker:
        return Worker(db, running.url + "/v1", "refund-1", folder / "effects", "refund me", kill)

    client = None
    try:
        first = worker()
        assert first.wait_for_line("PENDING") == "PENDING call_r"
        first.kill()  # while it waits for the decision

        second = worker("refund")  # resumed at launch: it waits again; approved, it runs refund and dies inside it
        assert second.wait_for_line("PENDING") == "PENDING call_r"
        client = DBOSClient(system_database_url=db)
        calls = asyncio.run(pending("refund-1", client=client))
        assert [(c.id, c.name, c.arguments) for c in calls] == [("call_r", "refund", '{"amount": 3}')]
        asyncio.run(approve("refund-1", {"call_r": True}, client=client))
        second.killed_itself()
        assert effects(folder / "effects") == Counter({"start refund": 1})

        third = worker()  # the refund is in doubt: it requires approval, so the run asks again
        assert third.wait_for_line("PENDING") == "PENDING call_r"
        asyncio.run(approve("refund-1", {"call_r": "it went through already"}, client=client))
        result = third.result()
    finally:
        if client is not None:
            client.destroy()
        running.stop()
    assert effects(folder / "effects") == Counter({"start refund": 1})  # not run again
    answer = f"{IN_DOUBT} The user decided not to run it again: it went through already."
    assert result["output"] == f"done: {answer}"
    assert server.answered == Counter({"1 messages": 1, "3 messages": 1})  # each request answered once
