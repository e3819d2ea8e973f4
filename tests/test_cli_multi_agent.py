"""``agentkit run`` on agents that delegate or hand off: a sub-agent's calls show indented under the
call that runs it, named; a handoff shows as its own line; a handoff target's structured output is
printed as JSON."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from agentkit.cli import _app

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.endswith("_API_KEY") or name == "AGENTKIT_MODEL":
            monkeypatch.delenv(name)


def run(*args: str) -> str:
    result = CliRunner().invoke(_app.cli, ["run", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_sub_agents_calls_are_indented_and_named_under_the_call_running_it() -> None:
    out = run(str(EXAMPLES / "research_team.py"), "Why budgets?")
    lines = out.splitlines()
    lead_call = next(i for i, line in enumerate(lines) if line.startswith("→ researcher("))
    nested = [i for i, line in enumerate(lines) if line.startswith("  researcher → search_notes(")]
    result = next(i for i, line in enumerate(lines) if line.startswith("← researcher:"))
    assert len(nested) == 2 and lead_call < min(nested) and max(nested) < result
    assert any(line.startswith("  researcher ← search_notes: A model sending") for line in lines)
    assert not any(line.startswith("↻") for line in lines)  # a sub-run's turns are not taken for re-asks


def test_a_handoff_is_its_own_line_and_the_targets_structured_output_is_printed_as_json() -> None:
    out = run(str(EXAMPLES / "triage.py"), "Please refund my duplicate charge on order 1042")
    assert "⇢ triage handed the conversation to refunds" in out
    assert out.index("⇢ triage") < out.index("→ order_charges(order_id=1042)")
    assert '"approved": true' in out  # the RefundDecision, pretty-printed at the end
