"""A logged run as a pytest file (``agentkit logs export ID --as-test``): the run's model answers
replayed through :class:`~agentkit.testing.ScriptedModel`, its tools stood in for by functions that
return the recorded results, and the same tool calls asserted in the same order."""

from __future__ import annotations

import json
import re
from datetime import datetime

from ._runlog_store import LoggedRun
from .messages import AssistantMessage, ToolMessage, UserMessage, dump_messages
from .runlog import messages_of

__all__ = ["export_test"]

_TEMPLATE = '''"""Regression test from run {run_id} of {agent} ({model}), recorded {when}.

Written by `agentkit logs export {run_id} --as-test`: the model's answers are replayed through
ScriptedModel, each tool returns what it returned then, and the test checks that the run makes the
same tool calls in the same order and ends with the same answer (or, for a run that failed, fails
again after them: the model raises the recorded error when asked for more). To run your real tools instead,
put them in TOOLS (the calls are still checked).
"""

import json

import pytest

from agentkit import Agent, Tool
from agentkit.messages import ToolMessage, load_messages
from agentkit.testing import ScriptedModel

PROMPT = {prompt}
HISTORY = load_messages({history})
ANSWERS = load_messages({answers})
RECORDED = json.loads({recorded})
"""The tool calls of the run, in order: [name, arguments, result]."""
OUTPUT = {output}
FAILED = {failed}
"""How the run ended when it did not succeed: [error type, message] (None: it succeeded)."""


class RecordedFailure(Exception):
    """The recorded run's failure, raised by the model when the replay asks it for more answers."""


def _failed(request):
    raise RecordedFailure(": ".join(FAILED))


def _recorded_tools():
    results = {{}}
    for name, arguments, result in RECORDED:
        results.setdefault(name, []).append((arguments, result))

    def stand_in(name):
        def call(arguments):
            for i, (recorded_arguments, result) in enumerate(results[name]):
                if json.loads(recorded_arguments or "{{}}") == arguments:
                    del results[name][i]
                    return result
            raise AssertionError(f"{{name}} called with {{arguments}}, not as recorded")

        return Tool.from_schema(name, f"{{name}} (recorded)", {{"type": "object"}}, call)

    return [stand_in(name) for name in results]


TOOLS = None  # e.g. [get_weather, get_time]: your real tools instead of the recorded results


def test_run_{test_name}_replays_with_the_same_tool_calls():
    model = ScriptedModel(ANSWERS + ([_failed] if FAILED is not None else []), model_name={model_name})
    agent = Agent(model, tools=TOOLS if TOOLS is not None else _recorded_tools(), name={agent_name})
    if FAILED is None:
        result = agent.run_sync(PROMPT, messages=HISTORY or None)
        messages = result.new_messages
    else:  # the run failed (or paused): so must the replay, after the same calls
        with pytest.raises(Exception) as raised:
            agent.run_sync(PROMPT, messages=HISTORY or None)
        assert isinstance(raised.value, RecordedFailure) or type(raised.value).__name__ == FAILED[0], raised.value
        messages = ANSWERS[: len(model.requests)]
    calls = [(c.name, json.loads(c.arguments or "{{}}")) for m in messages for c in getattr(m, "tool_calls", [])]
    assert calls == [(name, json.loads(arguments or "{{}}")) for name, arguments, _ in RECORDED]
    if FAILED is None:
        answered = [m.tool_call_id for m in messages if isinstance(m, ToolMessage)]
        asked = [c.id for m in messages for c in getattr(m, "tool_calls", [])]
        assert answered == asked
    assert model.remaining == 0
    if OUTPUT is not None:
        assert result.output == OUTPUT
'''


def _plain(text: str) -> str:
    """``text`` fit for the file's docstring and names: letters, digits and a few signs, nothing that
    could end the docstring (a model's name comes from the provider's answer)."""
    return re.sub(r"[^\w .:/@+-]", "?", text)[:120]


class _Code(str):
    """Python source to put in the file as is (its ``repr`` is itself)."""

    def __repr__(self) -> str:
        return str(self)


def export_test(run: LoggedRun) -> str:
    """The pytest file's text for ``run``."""
    messages = messages_of(run)
    start = next((i for i in range(len(messages) - 1, -1, -1) if isinstance(messages[i], UserMessage)), -1)
    history, own = messages[: max(start, 0)], messages[start + 1 :]
    answers = [m for m in own if isinstance(m, AssistantMessage)]
    results = {m.tool_call_id: m.content for m in own if isinstance(m, ToolMessage)}
    recorded = [[c.name, c.arguments, results.get(c.id, "")] for m in answers for c in m.tool_calls]
    last = answers[-1] if answers else None
    output = last.content if last is not None and not last.tool_calls and run.status == "ok" else None
    prompt = messages[start].content if start >= 0 else run.prompt
    if not isinstance(prompt, str) and prompt is not None:  # text and parts (images, files): as the message holds them
        prompt = _Code(f"load_messages({dump_messages([messages[start]])!r})[0].content")
    return _TEMPLATE.format(
        run_id=_plain(run.id),
        agent=_plain(run.agent or "agent"),
        model=_plain(run.model or "a model"),
        when=datetime.fromtimestamp(run.started).strftime("%Y-%m-%d %H:%M"),
        prompt=repr(prompt),
        history=repr(dump_messages(history)),
        answers=repr(dump_messages(answers)),
        recorded=repr(json.dumps(recorded, ensure_ascii=False)),
        output=repr(output),
        test_name=re.sub(r"\W", "_", run.id, flags=re.ASCII),
        model_name=repr(run.model or "scripted"),
        agent_name=repr(run.agent),
        failed=repr(None if run.status in ("ok", "running") else [run.error_type or run.status, run.error_message or ""]),
    )
