"""Handoffs over the loopback server (OpenAI profile): the target's instructions, tools, model,
settings and output type; ``input_filter``; ``input_type`` and ``on_handoff``; several calls in
one turn; the ``max_handoffs`` limit. Streaming, approvals, batches, the other providers and
user mistakes are in ``test_handoffs_wire.py``."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from agentkit import Agent, ModelSettings, RunContext, ToolRetriesExceeded, tool
from agentkit.errors import MaxHandoffsExceeded
from agentkit.handoffs import Handoff, remove_tool_messages
from agentkit.messages import AssistantMessage, SystemMessage, ToolCall, ToolMessage, UserMessage
from tests.run.handoff_desk import Desk, model, replied, transfer
from tests.run.handoff_desk import system_texts as _system
from tests.run.handoff_desk import tool_results as _tool_results


class RefundDecision(BaseModel):
    approved: bool
    amount: float


class Reason(BaseModel):
    reason: str
    urgent: bool = False


@tool
def lookup_customer(email: str) -> str:
    """Find a customer.

    Args:
        email: Their email address.
    """
    return f"customer 7 ({email})"


@tool
def order_charges(order_id: int) -> str:
    """The charges of an order.

    Args:
        order_id: The order number.
    """
    return f"order {order_id}: 35.90 EUR twice"


def _tools(body: dict) -> list[str]:
    return [t["function"]["name"] for t in body.get("tools", [])]


def _desk(server_url: str, **options) -> tuple[Agent, Agent, Agent]:
    """triage -> billing (text) and refunds (RefundDecision)."""
    billing = Agent(model("openai", server_url, "billing"), name="billing", instructions="You are billing.")
    refunds = Agent(
        model("openai", server_url, "refunds"),
        name="refunds",
        instructions="You are refunds.",
        tools=[order_charges],
        output_type=RefundDecision,
        settings=ModelSettings(temperature=0.7, max_tokens=300),
    )
    triage = Agent(
        model("openai", server_url, "triage"),
        name="triage",
        instructions="You are triage.",
        tools=[lookup_customer],
        settings=ModelSettings(temperature=0.1),
        handoffs=options.pop("handoffs", [billing, refunds]),
        **options,
    )
    return triage, billing, refunds


def test_the_target_answers_with_its_instructions_tools_model_settings_and_output_type(loopback):
    desk = Desk(
        triage=[
            replied(None, ("lookup_customer", {"email": "a@b.c"}, "call_l1"), tokens=(11, 1)),
            transfer("refunds", "call_t1", tokens=(13, 2)),
        ],
        refunds=[
            replied(None, ("order_charges", {"order_id": 1042}, "call_o1"), tokens=(17, 3)),
            replied('{"approved": true, "amount": 35.9}', tokens=(19, 4)),
        ],
    )
    server = loopback(desk)
    triage, _billing, _refunds = _desk(server.url)

    result = triage.run_sync("I was charged twice for order 1042.")

    assert desk.order == ["triage", "triage", "refunds", "refunds"]
    assert result.agent_name == "refunds"
    assert result.output == RefundDecision(approved=True, amount=35.9)
    assert (result.usage.requests, result.usage.prompt_tokens, result.usage.completion_tokens) == (4, 60, 10)
    assert result.usage.total_tokens == 70 and result.usage.tool_calls == 2  # the two tools; the handoff is no tool run

    t1, t2 = desk.bodies["triage"]
    r1, r2 = desk.bodies["refunds"]
    assert t1["model"] == "triage-model" and r1["model"] == "refunds-model"
    assert _tools(t1) == _tools(t2) == ["lookup_customer", "transfer_to_billing", "transfer_to_refunds"]
    assert _tools(r1) == _tools(r2) == ["order_charges"]  # no handoffs, no triage tools
    assert t1["temperature"] == 0.1 and "response_format" not in t1 and "max_completion_tokens" not in t1
    for body in (r1, r2):
        assert body["temperature"] == 0.7 and body["max_completion_tokens"] == 300
        assert body["response_format"]["json_schema"]["schema"]["required"] == ["approved", "amount"]
        assert _system(body) == ["You are refunds."] and body["messages"][0]["role"] == "system"
    assert _system(t1) == _system(t2) == ["You are triage."]
    # the refunds desk goes on with the conversation so far, under its own system message
    assert [m["role"] for m in r1["messages"]] == ["system", "user", "assistant", "tool", "assistant", "tool"]
    assert r1["messages"][1:] == t2["messages"][1:] + r1["messages"][len(t2["messages"]) :]
    assert _tool_results(r1)[-1] == ("call_t1", "Transferred to refunds: it answers from here on.")
    assert _tool_results(r2)[-1] == ("call_o1", "order 1042: 35.90 EUR twice")

    assert isinstance(result.messages[0], SystemMessage) and result.messages[0].content == "You are refunds."
    assert sum(isinstance(m, SystemMessage) for m in result.messages) == 1
    assert result.new_messages == result.messages  # a new conversation: all of it is new
    assert result.messages[-1].content == '{"approved": true, "amount": 35.9}'


def test_a_target_without_instructions_drops_the_sources_system_message(loopback):
    desk = Desk(triage=[transfer("plain")], plain=[replied("Hello.")])
    server = loopback(desk)
    plain = Agent(model("openai", server.url, "plain"), name="plain")
    triage = Agent(model("openai", server.url, "triage"), name="triage", instructions="You are triage.", handoffs=[plain])

    result = triage.run_sync("Hi")

    (body,) = desk.bodies["plain"]
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "tool"]
    assert result.output == "Hello." and result.agent_name == "plain"
    assert result.new_messages[0] == UserMessage(content="Hi")


def test_a_conversation_passed_in_has_its_system_message_replaced_only_by_a_target_with_instructions(loopback):
    desk = Desk(triage=[transfer("billing"), transfer("plain")], billing=[replied("Due on the 15th.")], plain=[replied("Hi.")])
    server = loopback(desk)
    plain = Agent(model("openai", server.url, "plain"), name="plain")
    billing = _desk(server.url)[1]
    triage, _b, _r = _desk(server.url, handoffs=[billing, plain])
    history = [SystemMessage(content="House rules."), UserMessage(content="Hi"), AssistantMessage(content="Hello.")]

    result = triage.run_sync("When is INV-7 due?", messages=history)

    assert _system(desk.bodies["triage"][0]) == ["House rules."]  # a conversation passed in keeps its own
    assert _system(desk.bodies["billing"][0]) == ["You are billing."]  # the target's instructions replace it
    assert result.new_messages[0] == UserMessage(content="When is INV-7 due?")
    assert history[0] == SystemMessage(content="House rules.")  # the caller's list is not changed

    triage.run_sync("And who are you?", messages=history)
    assert _system(desk.bodies["plain"][0]) == ["House rules."]  # a target without instructions keeps it


def test_input_filter_rewrites_what_the_target_sees(loopback):
    desk = Desk(
        triage=[
            replied("Let me check.", ("lookup_customer", {"email": "a@b.c"}, "call_l2")),
            transfer("billing", "call_t1"),
        ],
        billing=[replied("Invoice INV-7 is due on the 15th.")],
    )
    server = loopback(desk)
    seen: list[list] = []

    def keep_what_was_said(messages):
        seen.append(list(messages))
        return remove_tool_messages(messages)

    billing = Agent(model("openai", server.url, "billing"), name="billing", instructions="You are billing.")
    triage, _b, _r = _desk(server.url, handoffs=[Handoff(billing, input_filter=keep_what_was_said)])
    earlier = [
        UserMessage(content="Hi, I am a@b.c."),
        AssistantMessage(content="Looking you up.", tool_calls=[ToolCall(id="call_l1", name="lookup_customer")]),
        ToolMessage(tool_call_id="call_l1", content="customer 7", name="lookup_customer"),
        AssistantMessage(content="Found you."),
    ]

    result = triage.run_sync("When is INV-7 due?", messages=earlier)

    (given,) = seen
    assert [type(m).__name__ for m in given[5:]] == [
        "UserMessage", "AssistantMessage", "ToolMessage", "AssistantMessage", "ToolMessage",
    ]  # fmt: skip
    assert given[0].content == "You are billing."  # the filter sees the target's system message
    (body,) = desk.bodies["billing"]
    assert body["messages"] == [
        {"role": "system", "content": "You are billing."},
        {"role": "user", "content": "Hi, I am a@b.c."},
        {"role": "assistant", "content": "Looking you up."},
        {"role": "assistant", "content": "Found you."},
        {"role": "user", "content": "When is INV-7 due?"},  # this run's "Let me check." was the triage's, on its way out
    ]
    assert result.output == "Invoice INV-7 is due on the 15th."
    assert not any(isinstance(m, ToolMessage) for m in result.messages)  # the filtered history is the run's history
    assert [m.content for m in result.new_messages] == ["When is INV-7 due?", "Invoice INV-7 is due on the 15th."]
    assert len(earlier) == 4 and earlier[1].tool_calls  # the caller's messages are not changed


def test_a_filter_that_adds_a_note_and_trims_the_history(loopback):
    desk = Desk(triage=[transfer("billing", "call_t1")], billing=[replied("Done.")])
    server = loopback(desk)

    def last_question_only(messages):
        question = [m for m in messages if isinstance(m, UserMessage)][-1]
        return [messages[0], UserMessage(content=f"(from triage) {question.content}")]

    billing = Agent(model("openai", server.url, "billing"), name="billing", instructions="You are billing.")
    triage, _b, _r = _desk(server.url, handoffs=[Handoff(billing, input_filter=last_question_only)])

    result = triage.run_sync("When is INV-7 due?", messages=[UserMessage(content="Hi"), AssistantMessage(content="Hello!")])

    (body,) = desk.bodies["billing"]
    assert body["messages"] == [
        {"role": "system", "content": "You are billing."},
        {"role": "user", "content": "(from triage) When is INV-7 due?"},
    ]
    assert [m.content for m in result.messages] == ["You are billing.", "(from triage) When is INV-7 due?", "Done."]
    assert [m.content for m in result.new_messages] == ["(from triage) When is INV-7 due?", "Done."]  # the filter's own


def test_input_type_gives_on_handoff_structured_arguments(loopback):
    desk = Desk(
        triage=[transfer("refunds", "call_t1", {"reason": "duplicate charge", "urgent": True})],
        refunds=[replied('{"approved": false, "amount": 0}')],
    )
    server = loopback(desk)
    got = []

    async def on_handoff(ctx: RunContext[None], reason: Reason) -> None:
        got.append((ctx.agent_name, ctx.tool_name, ctx.tool_call_id, reason))

    refunds = _desk(server.url)[2]
    handoff = Handoff(refunds, description="Refunds and duplicate charges.", input_type=Reason, on_handoff=on_handoff)
    triage, _b, _r = _desk(server.url, handoffs=[handoff])

    result = triage.run_sync("Refund me.")

    assert got == [("triage", "transfer_to_refunds", "call_t1", Reason(reason="duplicate charge", urgent=True))]
    assert result.agent_name == "refunds" and result.output == RefundDecision(approved=False, amount=0)
    (sent,) = [t["function"] for t in desk.bodies["triage"][0]["tools"] if t["function"]["name"] == "transfer_to_refunds"]
    assert sent["description"] == "Refunds and duplicate charges."
    assert sent["parameters"]["required"] == ["reason"] and set(sent["parameters"]["properties"]) == {"reason", "urgent"}


def test_invalid_handoff_arguments_go_back_to_the_model_and_no_handoff_happens(loopback):
    desk = Desk(
        triage=[
            transfer("refunds", "call_bad", {"urgent": "very"}),
            transfer("refunds", "call_ok", {"reason": "duplicate"}),
        ],
        refunds=[replied('{"approved": true, "amount": 1}')],
    )
    server = loopback(desk)
    got = []
    refunds = _desk(server.url)[2]
    handoff = Handoff(refunds, input_type=Reason, on_handoff=lambda ctx, reason: got.append(reason))
    triage, _b, _r = _desk(server.url, handoffs=[handoff])

    result = triage.run_sync("Refund me.")

    assert desk.order == ["triage", "triage", "refunds"]  # the first call did not hand off
    ((call_id, error),) = _tool_results(desk.bodies["triage"][1])
    assert call_id == "call_bad"
    assert "Invalid arguments for 'transfer_to_refunds'" in error and "reason" in error and "urgent" in error
    assert _system(desk.bodies["triage"][1]) == ["You are triage."]
    assert got == [Reason(reason="duplicate")] and result.agent_name == "refunds"
    errors = [m for m in result.messages if isinstance(m, ToolMessage) and m.is_error]
    assert [m.tool_call_id for m in errors] == ["call_bad"]


def test_handoff_arguments_invalid_every_time_use_up_the_retry_budget(loopback):
    desk = Desk(triage=[transfer("refunds", f"call_{i}", {}) for i in range(3)])
    server = loopback(desk)
    refunds = _desk(server.url)[2]
    triage, _b, _r = _desk(server.url, handoffs=[Handoff(refunds, input_type=Reason)], tool_retries=1)

    with pytest.raises(ToolRetriesExceeded, match="transfer_to_refunds"):
        triage.run_sync("Refund me.")
    assert desk.order == ["triage", "triage"]


def test_only_the_first_of_two_handoff_calls_in_one_turn_counts(loopback):
    desk = Desk(
        triage=[replied(None, ("transfer_to_billing", {}, "call_b"), ("transfer_to_refunds", {}, "call_r"))],
        billing=[replied("Billing here.")],
    )
    server = loopback(desk)
    triage, _b, _r = _desk(server.url)

    result = triage.run_sync("Help.")

    assert desk.order == ["triage", "billing"] and result.agent_name == "billing" and result.output == "Billing here."
    (body,) = desk.bodies["billing"]
    assert _tool_results(body) == [
        ("call_b", "Transferred to billing: it answers from here on."),
        ("call_r", "Not transferred: the conversation goes to billing (one handoff per turn)."),
    ]
    assert _system(body) == ["You are billing."]


def test_a_tool_called_with_a_handoff_runs_too(loopback):
    ran = []

    @tool
    def note(text: str) -> str:
        """Write a note.

        Args:
            text: The note.
        """
        ran.append(text)
        return "noted"

    desk = Desk(
        triage=[replied(None, ("transfer_to_billing", {}, "call_b"), ("note", {"text": "VIP"}, "call_n"))],
        billing=[replied("Billing here.")],
    )
    server = loopback(desk)
    billing = Agent(model("openai", server.url, "billing"), name="billing", instructions="You are billing.")
    triage = Agent(model("openai", server.url, "triage"), name="triage", tools=[note], handoffs=[billing])

    result = triage.run_sync("Help.")

    assert ran == ["VIP"] and result.usage.tool_calls == 1
    (body,) = desk.bodies["billing"]
    assert _tool_results(body) == [("call_b", "Transferred to billing: it answers from here on."), ("call_n", "noted")]
    assert _tools(body) == []  # the note tool was the triage's


def test_the_final_result_in_the_same_turn_as_a_handoff_ends_the_run(loopback):
    desk = Desk(
        triage=[
            replied(None, ("transfer_to_billing", {}, "call_b"), ("final_result", {"approved": True, "amount": 2}, "call_f"))
        ],
    )
    server = loopback(desk)
    billing = _desk(server.url)[1]
    triage = Agent(
        model("openai", server.url, "triage"),
        name="triage",
        output_type=RefundDecision,
        output_mode="tool",
        handoffs=[billing],
    )

    result = triage.run_sync("Help.")

    assert desk.order == ["triage"] and result.agent_name == "triage"
    assert result.output == RefundDecision(approved=True, amount=2)
    assert _tools(desk.bodies["triage"][0]) == ["transfer_to_billing", "final_result"]
    results = [(m.tool_call_id, m.content) for m in result.messages if isinstance(m, ToolMessage)]
    assert results == [
        ("call_b", "Not transferred: the final result was given in the same turn."),
        ("call_f", "Final result received."),
    ]


def _ping_pong(url: str, max_handoffs: int) -> tuple[Agent, Agent]:
    alpha = Agent(model("openai", url, "alpha"), name="alpha", instructions="You are alpha.", max_handoffs=max_handoffs)
    beta = Agent(model("openai", url, "beta"), name="beta", instructions="You are beta.", handoffs=[alpha])
    alpha.handoffs = [beta]
    return alpha, beta


def test_a_chain_a_b_a_is_stopped_by_max_handoffs(loopback):
    desk = Desk(
        alpha=[transfer("beta", f"call_a{i}") for i in range(3)],
        beta=[transfer("alpha", f"call_b{i}") for i in range(3)],
    )
    server = loopback(desk)
    alpha, _beta = _ping_pong(server.url, max_handoffs=3)

    with pytest.raises(MaxHandoffsExceeded) as info:
        alpha.run_sync("Who handles this?")

    error = info.value
    assert desk.order == ["alpha", "beta", "alpha", "beta"]  # three handoffs made, the fourth refused
    assert error.handoffs == [("alpha", "beta"), ("beta", "alpha"), ("alpha", "beta"), ("beta", "alpha")]
    assert "max_handoffs=3" in str(error) and "alpha -> beta -> alpha -> beta -> alpha" in str(error)
    assert error.usage.requests == 4
    calls = [c.id for m in error.messages if isinstance(m, AssistantMessage) for c in m.tool_calls]
    assert calls == ["call_a0", "call_b0", "call_a1", "call_b1"]  # every turn kept
    assert error.messages[1] == UserMessage(content="Who handles this?")
    # each agent's requests carried its own system message
    assert [_system(b) for b in desk.bodies["alpha"]] == [["You are alpha."]] * 2
    assert [_system(b) for b in desk.bodies["beta"]] == [["You are beta."]] * 2


def test_max_handoffs_zero_forbids_any_handoff_and_the_limit_is_per_run(loopback):
    desk = Desk(alpha=[transfer("beta"), transfer("beta")], beta=[replied("beta answers")])
    server = loopback(desk)
    alpha, _beta = _ping_pong(server.url, max_handoffs=0)
    with pytest.raises(MaxHandoffsExceeded) as info:
        alpha.run_sync("Hi")
    assert info.value.handoffs == [("alpha", "beta")] and desk.order == ["alpha"]

    alpha.max_handoffs = 1
    assert alpha.run_sync("Hi").output == "beta answers"  # a new run starts counting again
    assert json.dumps(desk.bodies["beta"][0]["messages"][0]) == json.dumps({"role": "system", "content": "You are beta."})
