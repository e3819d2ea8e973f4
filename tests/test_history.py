"""agentkit.history: the ready-made history processors on real agent runs (what the model got vs what
is stored), the tool-call-group invariant over random conversations (hypothesis), the summary
cache, and the token estimate calibrated on recorded real traffic."""

from __future__ import annotations

import asyncio
import re
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentkit import Agent, ModelSettings, tool
from agentkit.errors import HookError, UserError
from agentkit.history import (
    CONTEXT_LENGTHS,
    SUMMARY_PREFIX,
    TokenCounter,
    fit_context,
    fit_tokens,
    is_summary,
    keep_last_turns,
    known_context_length,
    summarize_older,
)
from agentkit.messages import AssistantMessage, Message, SystemMessage, ToolCall, ToolMessage, UserMessage
from agentkit.models import ModelRequest, ModelResponse
from agentkit.testing import ScriptedModel, reply, tool_call
from agentkit.tools import ToolDefinition
from agentkit.usage import Usage
from tests.support.recorded_tokens import accuracy, pairs

DOCS = Path(__file__).parent.parent / "docs" / "context.md"


@tool
def lookup(key: str) -> str:
    """Look a key up.

    Args:
        key: what to look up.
    """
    return f"value of {key} " + "v" * 200


def history(turns: int, size: int = 400) -> list[Message]:
    """A system message and ``turns`` user/assistant exchanges of about ``size`` characters each."""
    out: list[Message] = [SystemMessage(content="You are terse.")]
    for i in range(turns):
        out += [UserMessage(content=f"q{i} " + "x" * size), AssistantMessage(content=f"a{i} " + "y" * size)]
    return out


def labels(messages) -> list[str]:
    """A short label per message: role and the first word of its text."""
    out = []
    for m in messages:
        text = m.content if isinstance(m.content, str) else ""
        out.append(f"{m.role}:{(text or '').split(' ')[0][:12]}")
    return out


# --- keep_last_turns -------------------------------------------------------------------------


def test_keep_last_turns_sends_the_last_turns_and_stores_everything():
    model = ScriptedModel([reply(None, tool_call("lookup", {"key": "k"})), "done"])
    agent = Agent(model, tools=[lookup], history_processors=[keep_last_turns(2)])
    result = agent.run_sync("now", messages=history(5))
    first, second = model.requests
    assert labels(first.messages) == ["system:You", "user:q0", "user:q4", "assistant:a4", "user:now"]
    # the tool call and its result go together into the next request
    assert labels(second.messages)[-3:] == ["user:now", "assistant:", "tool:value"]
    assert len(result.messages) == 1 + 2 * 5 + 4  # stored: all of it


def test_keep_last_turns_can_drop_the_first_user_message_and_the_system_message():
    messages = history(4)
    assert labels(keep_last_turns(1, keep_first_user=False)(messages)) == ["system:You", "user:q3", "assistant:a3"]
    assert labels(keep_last_turns(1, keep_first_user=False, keep_system=False)(messages)) == ["user:q3", "assistant:a3"]
    assert keep_last_turns(10)(messages) == messages
    with pytest.raises(UserError, match="positive int"):
        keep_last_turns(0)


# --- fit_tokens ------------------------------------------------------------------------------


def test_fit_tokens_drops_the_oldest_turns_until_the_estimate_fits():
    counter = TokenCounter()
    processor = fit_tokens(600, counter=counter)
    model = ScriptedModel(["done"])
    agent = Agent(model, history_processors=[processor])
    result = agent.run_sync("now", messages=history(8))
    sent = model.requests[0].messages
    assert counter.estimate(sent) <= 600 < counter.estimate(result.messages)
    assert labels(sent)[:2] == ["system:You", "user:q0"] and labels(sent)[-1] == "user:now"
    assert labels(sent)[2] == "user:q7"  # whole turns: the kept part starts at a user message
    assert processor.last_estimate == counter.estimate(sent)
    assert len(result.messages) == 1 + 16 + 2


def test_fit_tokens_trims_inside_one_long_turn_of_tool_calls():
    answers = [reply(None, tool_call("lookup", {"key": f"k{i}"})) for i in range(12)] + ["done"]
    model = ScriptedModel(answers)
    agent = Agent(model, tools=[lookup], history_processors=[fit_tokens(700)], max_turns=20)
    agent.run_sync("look everything up")
    last = model.requests[-1].messages
    assert labels(last)[:1] == ["user:look"]  # the task stays
    assert len(last) < 1 + 2 * 12  # older steps went
    assert isinstance(last[-1], ToolMessage) and isinstance(last[1], AssistantMessage)
    assert_groups_whole(model.requests[-1].messages, model.requests[-1].messages)


def test_fit_tokens_counts_the_tool_definitions():
    counter = TokenCounter()
    tools = (ToolDefinition("t", "d" * 2000, {"type": "object", "properties": {}}),)
    messages = history(2, size=10)
    assert counter.estimate(messages, tools) > counter.estimate(messages) + 2000 / counter.bytes_per_token


def test_fit_tokens_calibrates_with_what_the_provider_reported():
    reported = [
        reply("done", usage=Usage(prompt_tokens=2000, requests=1)),
        reply("again", usage=Usage(prompt_tokens=2100, requests=1)),
    ]
    model = ScriptedModel(reported)
    counter = TokenCounter()
    processor = fit_tokens(100_000, counter=counter)
    agent = Agent(model, history_processors=[processor])
    first = agent.run_sync("one", messages=history(3))
    assert counter.samples == 0  # nothing reported before the first request
    agent.run_sync("two", messages=first.messages)  # a new run: its first request has no report yet either
    assert counter.samples == 0

    model = ScriptedModel([reply(None, tool_call("lookup", {"key": "k"}), usage=Usage(prompt_tokens=2000, requests=1)), "done"])
    agent = Agent(model, tools=[lookup], history_processors=[processor])
    agent.run_sync("three", messages=history(3))
    assert counter.samples == 1  # the second request saw the first one's prompt_tokens
    first_request = model.requests[0]
    assert counter.estimate(first_request.messages, first_request.tools) == 2000  # the recorded request: what was reported


# --- fit_context -----------------------------------------------------------------------------


def test_fit_context_trims_to_the_model_context_length_minus_the_answer():
    model = ScriptedModel(["done"])
    model.context_length = 1500
    agent = Agent(model, history_processors=[fit_context(margin=0.0)], settings=ModelSettings(max_tokens=500))
    result = agent.run_sync("now", messages=history(10))
    sent = model.requests[0].messages
    assert TokenCounter().estimate(sent) <= 1000 < TokenCounter().estimate(result.messages)
    # a context length given to the processor wins; reserve replaces max_tokens
    model = ScriptedModel(["done"])
    agent = Agent(model, history_processors=[fit_context(context_length=100_000, reserve=1000)])
    agent.run_sync("now", messages=history(10))
    assert len(model.requests[0].messages) == 1 + 20 + 1


def test_fit_context_leaves_a_model_of_unknown_context_alone_with_one_warning():
    model = ScriptedModel(["a", "b"])
    agent = Agent(model, history_processors=[fit_context()])
    with pytest.warns(UserWarning, match="context length of scripted is unknown"):
        agent.run_sync("now", messages=history(10))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        agent.run_sync("again", messages=history(10))
    assert len(model.requests[0].messages) == 22


def test_known_context_lengths_of_the_seed_models():
    assert known_context_length("mistralai/mistral-nemo") == known_context_length("open-mistral-nemo") == 131_072
    assert known_context_length("mistralai/mistral-large-2512") == known_context_length("mistral-large-2512") == 262_144
    assert known_context_length("some-unknown-model") is None
    assert CONTEXT_LENGTHS["mistral-large-latest"] == 262_144


# --- summarize_older -------------------------------------------------------------------------


class Summarizer(ScriptedModel):
    """Answers every request with a numbered summary, after an optional pause."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__([], model_name="cheap")
        self.delay = delay

    async def request(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        await asyncio.sleep(self.delay)
        return reply(f"SUMMARY{len(self.requests)}", usage=Usage(prompt_tokens=50, completion_tokens=5, requests=1))


def test_summarize_older_sends_one_summary_message_and_writes_it_once():
    cheap = Summarizer()
    processor = summarize_older(cheap, keep_last=2)
    answers = [reply(None, tool_call("lookup", {"key": f"k{i}"})) for i in range(3)] + ["done"]
    model = ScriptedModel(answers)
    agent = Agent(model, tools=[lookup], history_processors=[processor])
    result = agent.run_sync("now", messages=history(6))
    assert len(model.requests) == 4 and len(cheap.requests) == 1  # one summary for four requests
    sent = model.requests[0].messages
    assert labels(sent) == ["system:You", "user:q0", "user:[Summary", "user:q5", "assistant:a5", "user:now"]
    assert is_summary(sent[2]) and sent[2].content == f"{SUMMARY_PREFIX}\nSUMMARY1"
    transcript = cheap.requests[0].messages[1].content
    assert "User: q0" in transcript and "Assistant: a4" in transcript and "q5" not in transcript
    assert cheap.requests[0].messages[0].content == processor.instructions
    assert (processor.calls, processor.usage.prompt_tokens, processor.usage.requests) == (1, 50, 1)
    assert len(result.messages) == 1 + 12 + 1 + 3 * 2 + 1  # stored: all of it, no summary
    assert not any(is_summary(m) for m in result.messages)

    # a later run over the same history reuses the cached summary
    model = ScriptedModel(["done"])
    Agent(model, history_processors=[processor]).run_sync("again", messages=history(6))
    assert len(cheap.requests) == 1 and is_summary(model.requests[0].messages[2])


def test_summarize_older_condenses_the_previous_summary_once_more_turns_grow_old():
    cheap = Summarizer()
    processor = summarize_older(cheap, keep_last=2, max_turns=4)
    messages = history(5)
    for turn in range(5, 12):
        model = ScriptedModel([f"a{turn} answer"])
        result = Agent(model, history_processors=[processor]).run_sync(f"q{turn} more", messages=messages)
        messages = result.messages
        sent = model.requests[0].messages
        assert sum(isinstance(m, UserMessage) and not is_summary(m) for m in sent) <= 4 + 1  # first user + at most max_turns
    # 12 turns, 4 kept at most: a summary every max_turns - keep_last = 2 turns, not one per request
    assert 2 <= len(cheap.requests) <= 4
    later = cheap.requests[-1].messages[1].content
    assert later.startswith("Summary of what came before:\nSUMMARY")


def test_summarize_older_with_a_budget_summarizes_only_when_over_it():
    cheap = Summarizer()
    small = ScriptedModel(["done"])
    Agent(small, history_processors=[summarize_older(cheap, keep_last=1, budget=100_000)]).run_sync("x", messages=history(6))
    assert cheap.requests == [] and len(small.requests[0].messages) == 14
    model = ScriptedModel(["done"])
    Agent(model, history_processors=[summarize_older(cheap, keep_last=1, budget=500)]).run_sync("x", messages=history(6))
    assert len(cheap.requests) == 1
    assert labels(model.requests[0].messages) == ["system:You", "user:q0", "user:[Summary", "user:x"]


async def test_concurrent_runs_over_the_same_history_share_one_summary_call():
    cheap = Summarizer(delay=0.05)
    processor = summarize_older(cheap, keep_last=1, role="system")
    models = [ScriptedModel(["done"]) for _ in range(5)]
    await asyncio.gather(*(Agent(m, history_processors=[processor]).run("now", messages=history(4)) for m in models))
    assert len(cheap.requests) == 1
    for m in models:
        summary = m.requests[0].messages[2]
        assert isinstance(summary, SystemMessage) and is_summary(summary)


def test_a_failing_summarizer_ends_the_run_with_a_hook_error():
    broken = ScriptedModel([RuntimeError("summarizer down")])
    agent = Agent(ScriptedModel(["never"]), history_processors=[summarize_older(broken, keep_last=1)])
    with pytest.raises(HookError, match="summarizer down"):
        agent.run_sync("now", messages=history(4))


def test_summarize_older_checks_its_arguments():
    for bad in ({"keep_last": 0}, {"budget": 0}, {"max_turns": 2, "keep_last": 2}, {"role": "assistant"}):
        with pytest.raises(UserError):
            summarize_older("test", **bad)


# --- the tool-call-group invariant, over random conversations ---------------------------------


@st.composite
def conversations(draw) -> list[Message]:
    """Random valid conversations: optional system messages, turns of text and tool-call groups
    (several calls, results possibly reordered, a user message wedged between calls and results
    now and then, the last group possibly unanswered)."""
    out: list[Message] = [SystemMessage(content=f"sys{i}") for i in range(draw(st.integers(0, 2)))]
    counter = 0
    for turn in range(draw(st.integers(0, 6))):
        out.append(UserMessage(content=f"u{turn} " + "x" * draw(st.integers(0, 300))))
        for _ in range(draw(st.integers(0, 4))):
            if draw(st.booleans()):
                out.append(AssistantMessage(content="t" * draw(st.integers(0, 300))))
                continue
            calls = []
            for _ in range(draw(st.integers(1, 3))):
                counter += 1
                calls.append(ToolCall(id=f"c{counter}", name="f", arguments="{}"))
            out.append(AssistantMessage(content=None, tool_calls=calls))
            if draw(st.integers(0, 9)) == 0:
                out.append(UserMessage(content="wedged"))
            answered = draw(st.permutations(calls))
            if draw(st.integers(0, 9)) == 0:
                answered = answered[: draw(st.integers(0, len(answered)))]
            out += [ToolMessage(tool_call_id=c.id, content="r" * draw(st.integers(0, 300))) for c in answered]
    return out


def assert_groups_whole(original: list[Message], out: list[Message]) -> None:
    """No tool message without its call before it; no assistant message with some of its results dropped."""
    results = {m.tool_call_id: m for m in original if isinstance(m, ToolMessage)}
    kept = {id(m) for m in out}
    seen_calls: set[str] = set()
    for m in out:
        if isinstance(m, AssistantMessage):
            for c in m.tool_calls:
                seen_calls.add(c.id)
                if c.id in results:
                    assert id(results[c.id]) in kept, f"the result of {c.id} was dropped, its call kept"
        elif isinstance(m, ToolMessage):
            assert m.tool_call_id in seen_calls, f"tool message {m.tool_call_id} without its call"


def assert_kept_in_order(original: list[Message], out: list[Message], *, keep_first_user: bool = True) -> None:
    """``out`` is ``original``'s messages in order (but for a summary), with the pinned ones and the last one."""
    plain = [m for m in out if not is_summary(m)]
    positions = [next(i for i, o in enumerate(original) if o is m) for m in plain]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    leading = [
        m for m in original[: next((i for i, m in enumerate(original) if not isinstance(m, SystemMessage)), len(original))]
    ]
    assert all(any(m is o for o in out) for m in leading)
    users = [m for m in original if isinstance(m, UserMessage)]
    if keep_first_user and users:
        assert any(users[0] is o for o in out)
    if original:
        assert out[-1] is original[-1]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conversations(), st.integers(1, 4), st.booleans())
def test_keep_last_turns_never_splits_a_tool_call_group(messages, n, keep_first_user):
    out = keep_last_turns(n, keep_first_user=keep_first_user)(list(messages))
    assert_groups_whole(messages, out)
    assert_kept_in_order(messages, out, keep_first_user=keep_first_user)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conversations(), st.integers(1, 600), st.booleans())
def test_fit_tokens_never_splits_a_tool_call_group(messages, budget, keep_first_user):
    out = fit_tokens(budget, keep_first_user=keep_first_user)(None, list(messages))
    assert_groups_whole(messages, out)
    assert_kept_in_order(messages, out, keep_first_user=keep_first_user)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conversations(), st.integers(1, 3), st.one_of(st.none(), st.integers(50, 800)), st.booleans())
def test_summarize_older_never_splits_a_tool_call_group(messages, keep_last, budget, keep_first_user):
    processor = summarize_older(Summarizer(), keep_last=keep_last, budget=budget, keep_first_user=keep_first_user)
    out = asyncio.run(processor(None, list(messages)))
    assert_groups_whole(messages, out)
    assert_kept_in_order(messages, out, keep_first_user=keep_first_user)
    assert sum(is_summary(m) for m in out) <= 1


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conversations(), st.integers(200, 2000), st.booleans())
def test_fit_context_never_splits_a_tool_call_group(messages, length, keep_first_user):
    out = fit_context(context_length=length, reserve=100, keep_first_user=keep_first_user)(None, list(messages))
    assert_groups_whole(messages, out)
    assert_kept_in_order(messages, out, keep_first_user=keep_first_user)


# --- the token counter -----------------------------------------------------------------------


def test_the_counter_counts_bytes_overheads_and_images():
    counter = TokenCounter(bytes_per_token=4, message_overhead=4, request_overhead=3)
    assert counter.estimate([UserMessage(content="x" * 400)]) == 3 + 4 + 100
    assert counter.estimate([UserMessage(content="é" * 200)]) == 3 + 4 + 100  # two UTF-8 bytes each
    image = UserMessage(content=[{"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 100_000}}])
    assert counter.estimate([image]) < 1000  # an image is not its base64 text
    call = AssistantMessage(tool_calls=[ToolCall(id="c1", name="f", arguments="{}")])
    assert counter.estimate([call, ToolMessage(tool_call_id="c1", content="ok")]) > counter.estimate([])


def test_the_counter_calibrates_by_ratio_and_anchors_on_the_recorded_prefix():
    counter = TokenCounter()
    turn1 = history(2)
    raw = counter.estimate(turn1)
    counter.record(turn1, (), 2 * raw)
    assert counter.samples == 1 and counter.scale == pytest.approx(2.0, rel=0.01)
    turn2 = [*turn1, UserMessage(content="more " + "z" * 100)]
    added = TokenCounter().estimate(turn2) - TokenCounter().estimate(turn1)
    assert counter.estimate(turn2) == pytest.approx(2 * raw + 2 * added, abs=2)  # anchored: reported + scaled addition
    other = history(1)
    assert counter.estimate(other) == pytest.approx(2 * TokenCounter().estimate(other), abs=1)
    counter.record(turn1, (), 0)  # a provider that reports nothing: ignored
    assert counter.samples == 1


def test_calibration_improves_the_estimate_on_recorded_traffic():
    figures = accuracy()
    assert figures["before"]["n"] == len(pairs()) >= 10
    assert figures["in_run"]["n"] >= 3
    assert figures["in_run"]["median"] < figures["in_run_before"]["median"]
    assert figures["in_run"]["worst"] < figures["in_run_before"]["worst"]
    assert figures["same_model"]["median"] < figures["same_model_before"]["median"]


def test_the_docs_quote_the_measured_figures():
    text = DOCS.read_text(encoding="utf-8")
    for key, values in accuracy().items():
        row = re.search(rf"<!-- {key} -->(.*)$", text, re.MULTILINE)
        assert row is not None, key
        assert f"{values['median']} %" in row.group(1) and f"{values['worst']} %" in row.group(1), (key, values, row.group(1))
