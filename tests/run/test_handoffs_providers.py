"""Handoffs over every provider profile (OpenAI, OpenRouter, Mistral: Mistral's tool-call id and
message-order rules after the handoff), from an OpenRouter agent to a Mistral agent on another
server, and the mistakes in ``handoffs`` that raise at once."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel

from agentkit import Agent, ModelSettings, UserError, tool
from agentkit.handoffs import Handoff, remove_tool_messages
from agentkit.messages import UserMessage
from agentkit.settings import OpenRouterSettings
from tests.run.handoff_desk import Desk, mistral_rule_breaks, model, replied
from tests.run.handoff_desk import call_ids as _call_ids
from tests.run.handoff_desk import system_texts as _system
from tests.run.handoff_desk import tool_results as _tool_results
from tests.support.server import Reply


class Reason(BaseModel):
    reason: str


@tool
def lookup_customer(email: str) -> str:
    """Find a customer.

    Args:
        email: Their email address.
    """
    return f"customer 7 ({email})"


@tool
def invoice_status(invoice_id: str) -> str:
    """The status of an invoice.

    Args:
        invoice_id: The invoice number.
    """
    return f"{invoice_id}: due on the 15th"


# -- every provider profile --------------------------------------------------------------------


def _add_note(messages):
    return [*messages, UserMessage(content="Note from triage: a VIP customer.")]


def _provider_desk(provider: str, triage_url: str, billing_url: str, billing_provider: str | None = None, **triage_options):
    billing = Agent(
        model(billing_provider or provider, billing_url, "billing"),
        name="billing",
        instructions="You are billing.",
        tools=[invoice_status],
        settings=ModelSettings(temperature=0.2, seed=7),
    )
    return Agent(
        model(provider, triage_url, "triage", vendor=triage_options.pop("vendor", "mistralai")),
        name="triage",
        instructions="You are triage.",
        tools=[lookup_customer],
        handoffs=[Handoff(billing, input_type=Reason, input_filter=triage_options.pop("input_filter", _add_note))],
        **triage_options,
    )


def _billing_script() -> list[Reply]:
    return [replied(None, ("invoice_status", {"invoice_id": "INV-7"}, "call_invoice_01")), replied("INV-7 is due on the 15th.")]


def _triage_turn() -> Reply:
    return replied(
        "Let me pass you on.",
        ("lookup_customer", {"email": "a@b.c"}, "call_lookup_01"),
        ("transfer_to_billing", {"reason": "an invoice question"}, "call_transfer_01"),
    )


@pytest.mark.parametrize("provider", ["openai", "openrouter", "mistral"])
def test_the_same_handoff_over_every_provider_profile(loopback, provider):
    desk = Desk(triage=[_triage_turn()], billing=_billing_script())
    server = loopback(desk, spec=provider)
    triage = _provider_desk(provider, server.url, server.url)

    result = triage.run_sync("When is INV-7 due?")

    assert result.output == "INV-7 is due on the 15th." and result.agent_name == "billing"
    assert desk.order == ["triage", "billing", "billing"]
    b1, b2 = desk.bodies["billing"]
    assert _system(b1) == _system(b2) == ["You are billing."]
    assert [t["function"]["name"] for t in b1["tools"]] == ["invoice_status"]
    seed = "random_seed" if provider == "mistral" else "seed"
    assert b1[seed] == 7 and b1["temperature"] == 0.2 and ("seed" in b1) == (provider != "mistral")
    roles = [m["role"] for m in b2["messages"]]
    if provider == "openai":  # ids as the model gave them; a user message may follow a tool result
        assert _call_ids(b2) == ["call_lookup_01", "call_transfer_01", "call_invoice_01"]
        assert roles == ["system", "user", "assistant", "tool", "tool", "user", "assistant", "tool"]
        return
    # Mistral's rules, also through OpenRouter for a mistralai/ model
    for body in (*desk.bodies["triage"], b1, b2):
        assert mistral_rule_breaks(body) == [], body
    assert roles == ["system", "user", "assistant", "tool", "tool", "assistant", "user", "assistant", "tool"]
    assert b2["messages"][5] == {"role": "assistant", "content": ""}  # between the tool result and the note
    assert _call_ids(b2)[:2] == _call_ids(b1)[:2] == [r[0] for r in _tool_results(b1)]  # mapped the same way each time
    assert _tool_results(b2)[1] == (_call_ids(b2)[1], "Transferred to billing: it answers from here on.")
    assert len(set(_call_ids(b2))) == 3


def test_a_handoff_from_an_openrouter_agent_to_a_mistral_agent(loopback):
    openrouter_desk = Desk(triage=[_triage_turn()])
    mistral_desk = Desk(billing=_billing_script())
    openrouter = loopback(openrouter_desk, spec="openrouter")
    mistral = loopback(mistral_desk, spec="mistral")
    triage = _provider_desk(
        "openrouter",
        openrouter.url,
        mistral.url,
        billing_provider="mistral",
        vendor="openai",
        input_filter=None,
        settings=OpenRouterSettings(top_k=40, models=["openai/triage-model", "openai/backup-model"]),
    )

    result = triage.run_sync("When is INV-7 due?", settings=ModelSettings(max_tokens=200))

    assert result.output == "INV-7 is due on the 15th." and result.agent_name == "billing"
    assert result.usage.requests == 3
    (t1,) = openrouter_desk.bodies["triage"]
    b1, b2 = mistral_desk.bodies["billing"]
    assert t1["model"] == "openai/triage-model" and t1["top_k"] == 40 and t1["max_tokens"] == 200
    assert t1["models"] == ["openai/triage-model", "openai/backup-model"]
    assert b1["model"] == b2["model"] == "billing-model" and b2["max_tokens"] == 200  # the run's settings, over each agent's
    assert not {"top_k", "models", "seed", "stream_options"} & set(b1)  # the triage's OpenRouter settings stay there
    assert b1["random_seed"] == 7
    for body in (b1, b2):
        assert _system(body) == ["You are billing."]
        assert mistral_rule_breaks(body) == [], body
    assert openrouter.requests and all(r.path == "/v1/chat/completions" for r in mistral.requests)
    # the ids OpenRouter's model gave are mapped for Mistral, the same way in the call and its result
    mapped = _call_ids(b1)
    assert all(re.fullmatch(r"[a-zA-Z0-9]{9}", i) for i in mapped) and mapped == [r[0] for r in _tool_results(b1)]
    assert b1["messages"][2]["content"] == "Let me pass you on."
    assert [m.tool_calls[0].id for m in result.messages if getattr(m, "tool_calls", None)][:1] == ["call_lookup_01"]


def test_a_handoff_to_mistral_with_only_what_was_said(loopback):
    openrouter_desk = Desk(triage=[_triage_turn()])
    mistral_desk = Desk(billing=_billing_script())
    openrouter = loopback(openrouter_desk, spec="openrouter")
    mistral = loopback(mistral_desk, spec="mistral")
    triage = _provider_desk(
        "openrouter", openrouter.url, mistral.url, billing_provider="mistral", vendor="openai", input_filter=remove_tool_messages
    )

    result = triage.run_sync("When is INV-7 due?")

    assert result.agent_name == "billing"
    b1, b2 = mistral_desk.bodies["billing"]
    assert mistral_rule_breaks(b1) == [] and mistral_rule_breaks(b2) == []
    assert [m["role"] for m in b1["messages"]] == ["system", "user"]


# -- mistakes that raise at once ---------------------------------------------------------------


def test_mistakes_in_handoffs_raise_at_once_with_a_clear_message(loopback):
    server = loopback(Desk())
    billing = Agent(model("openai", server.url, "billing"), name="billing")
    triage_model = model("openai", server.url, "triage")

    with pytest.raises(UserError, match=r"A handoff target needs a name: give the agent name=\.\.\."):
        Agent(triage_model, handoffs=[Agent(triage_model)])
    same = Agent(model("openai", server.url, "other"), name="Billing")
    with pytest.raises(UserError, match=r"tool name 'transfer_to_billing'; pass Handoff\(agent, name=\.\.\.\) to one of them"):
        Agent(triage_model, handoffs=[billing, same])
    with pytest.raises(UserError, match="Two handoffs use the tool name 'transfer_to_billing'"):
        Agent(triage_model, handoffs=[billing, Handoff(same, name="billing")])

    @tool
    def transfer_to_billing() -> str:
        """Pretend to transfer."""
        return "ok"

    with pytest.raises(UserError, match="A tool is named 'transfer_to_billing', which a handoff uses"):
        Agent(triage_model, tools=[transfer_to_billing], handoffs=[billing])
    with pytest.raises(UserError, match=r"max_handoffs must be an int >= 0, not -1\."):
        Agent(triage_model, handoffs=[billing], max_handoffs=-1)
    with pytest.raises(UserError, match=r"max_handoffs must be an int >= 0, not '3'\."):
        Agent(triage_model, max_handoffs="3")
    with pytest.raises(UserError, match="A handoff target must be an Agent, not str"):
        Agent(triage_model, handoffs=["billing"])
    with pytest.raises(UserError, match="A handoff target must be an Agent, not Tool"):
        Agent(triage_model, handoffs=[transfer_to_billing])
    with pytest.raises(UserError, match="handoffs must be a list of agents or Handoff, not Agent"):
        Agent(triage_model, handoffs=billing)
    with pytest.raises(UserError, match="Handoff input_type must be an object type"):
        Handoff(billing, input_type=int)
    assert server.requests == []  # nothing was sent


def test_handoffs_assigned_later_are_checked_the_same_way(loopback):
    server = loopback(Desk())
    billing = Agent(model("openai", server.url, "billing"), name="billing")

    @tool
    def transfer_to_billing() -> str:
        """Pretend to transfer."""
        return "ok"

    triage = Agent(model("openai", server.url, "triage"), name="triage", tools=[transfer_to_billing])
    with pytest.raises(UserError, match="A tool is named 'transfer_to_billing', which a handoff uses"):
        triage.handoffs = [billing]
    assert triage.handoffs == [] and [d.name for d in triage._spec().tool_defs] == ["transfer_to_billing"]
    with pytest.raises(UserError, match="A handoff target must be an Agent, not str"):
        billing.handoffs = ["triage"]
    billing.handoffs = [triage]
    assert [h.tool_name for h in billing.handoffs] == ["transfer_to_triage"]
    assert [d.name for d in billing._spec().tool_defs] == ["transfer_to_triage"]
