"""Triage: a front-desk agent hands the customer to one of two specialists.

* ``triage`` reads the request and calls ``transfer_to_billing`` or ``transfer_to_refunds``
  (a handoff: the run goes on with that agent, over the conversation so far);
* ``billing`` looks up invoices and answers in text;
* ``refunds`` checks the order and answers with a structured ``RefundDecision``; its handoff
  carries a reason (``input_type``), printed as the handoff happens.

Real models when a key is set: OpenRouter (``OPENROUTER_API_KEY``: Mistral Nemo triages, Mistral
Large 3 answers), Mistral's own API (``MISTRAL_API_KEY``), both (triage on OpenRouter, the
specialists on Mistral: a handoff across providers), or ``AGENTKIT_MODEL=provider:model`` for
every agent. Otherwise it runs offline on the built-in test model, scripted to route as a model would.

    python examples/triage.py "I was charged twice for order 1042, please refund one."
    python examples/triage.py "When is invoice INV-7 due?"
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from pydantic import BaseModel, Field

from agentkit import Agent, RunContext, tool
from agentkit.events import AgentHandoff, TextDelta, ToolExecutionStarted
from agentkit.handoffs import Handoff
from agentkit.messages import AssistantMessage, Message, ToolMessage, UserMessage
from agentkit.models import Model, ModelRequest
from agentkit.testing import ScriptedModel, tool_call


class RefundDecision(BaseModel):
    """What the refunds desk decided."""

    approved: bool
    amount: float = Field(description="The amount refunded, in EUR (0 when not approved).")
    reason: str


class Reason(BaseModel):
    """Why the customer is handed over."""

    reason: str = Field(description="One sentence: what the customer needs.")


@tool
def invoice_status(invoice_id: str) -> str:
    """The status of an invoice.

    Args:
        invoice_id: The invoice number, e.g. "INV-7".
    """
    return f"{invoice_id}: 49.00 EUR, due 2026-12-15, not paid yet"


@tool
def order_charges(order_id: int) -> str:
    """The card charges recorded for an order.

    Args:
        order_id: The order number.
    """
    return f"order {order_id}: charged 35.90 EUR on 2026-11-28 at 10:02 and again at 10:03 (duplicate)"


def models() -> tuple[Model | str, Model | str]:
    """(the triage model, the specialists' model): real ones when configured, else offline."""
    if os.environ.get("AGENTKIT_MODEL"):
        return os.environ["AGENTKIT_MODEL"], os.environ["AGENTKIT_MODEL"]
    openrouter, mistral = os.environ.get("OPENROUTER_API_KEY"), os.environ.get("MISTRAL_API_KEY")
    if openrouter and mistral:
        return "openrouter:mistralai/mistral-nemo", "mistral:mistral-large-latest"
    if openrouter:
        return "openrouter:mistralai/mistral-nemo", "openrouter:mistralai/mistral-large-2512"
    if mistral:
        return "mistral:mistral-small-latest", "mistral:mistral-large-latest"
    print(
        "No API key set: running offline on the built-in test model, scripted to route as a model would "
        "(set OPENROUTER_API_KEY, MISTRAL_API_KEY or AGENTKIT_MODEL=provider:model for real ones)."
    )
    return ScriptedModel([offline_turn] * 100), ScriptedModel([offline_turn] * 100)


def offline_turn(request: ModelRequest) -> AssistantMessage:
    """What a model does here: triage routes by the request's words; a specialist calls its tool, then answers."""
    question = next(str(m.content) for m in reversed(request.messages) if isinstance(m, UserMessage))
    done = [m for m in this_run(request.messages) if isinstance(m, ToolMessage)]
    names = {t.name for t in request.tools}
    if "transfer_to_refunds" in names:  # the triage agent
        if any(word in question.lower() for word in ("refund", "twice", "money back")):
            return AssistantMessage(tool_calls=[tool_call("transfer_to_refunds", {"reason": "a duplicate charge to refund"})])
        return AssistantMessage(tool_calls=[tool_call("transfer_to_billing")])
    if "order_charges" in names:  # refunds
        if not any(m.name == "order_charges" for m in done):
            return AssistantMessage(tool_calls=[tool_call("order_charges", {"order_id": 1042})])
        decision = RefundDecision(approved=True, amount=35.90, reason="Order 1042 was charged twice within a minute.")
        return AssistantMessage(content=decision.model_dump_json())
    if not any(m.name == "invoice_status" for m in done):  # billing
        return AssistantMessage(tool_calls=[tool_call("invoice_status", {"invoice_id": "INV-7"})])
    return AssistantMessage(content="Invoice INV-7 is 49.00 EUR and due on 15 December 2026; it is not paid yet.")


def this_run(messages: Sequence[Message]) -> Sequence[Message]:
    """The messages after the last user message."""
    last = max((i for i, m in enumerate(messages) if isinstance(m, UserMessage)), default=-1)
    return messages[last + 1 :]


def announce(ctx: RunContext[None], reason: Reason) -> None:
    """on_handoff: the reason the triage agent gave."""
    print(f"  (triage: {reason.reason})")


front, specialist = models()
billing = Agent(
    specialist,
    name="billing",
    tools=[invoice_status],
    instructions="You are the billing desk. Look invoices up before answering; answer in two sentences at most.",
)
refunds = Agent(
    specialist,
    name="refunds",
    tools=[order_charges],
    output_type=RefundDecision,
    instructions="You are the refunds desk. Check the order's charges, then decide: refund duplicates only.",
)
triage = Agent(
    front,
    name="triage",
    instructions="You are the front desk. Do not answer yourself: transfer the customer to billing or refunds.",
    handoffs=[billing, Handoff(refunds, input_type=Reason, on_handoff=announce)],
)


def main(question: str) -> None:
    print(f"> {question}")
    with triage.run_stream_sync(question) as stream:
        for event in stream:
            if isinstance(event, AgentHandoff):
                print(f"[{event.from_agent} -> {event.to_agent}]")
            elif isinstance(event, ToolExecutionStarted):
                print(f"  {event.agent} calls {event.name}({event.arguments})")
            elif isinstance(event, TextDelta) and stream_text(event):
                print(event.text, end="", flush=True)
    result = stream.result
    if isinstance(result.output, RefundDecision):
        decision = result.output
        verdict = f"refund {decision.amount:.2f} EUR" if decision.approved else "no refund"
        print(f"{result.agent_name}: {verdict} ({decision.reason})")
    else:
        print()
    print(f"answered by {result.agent_name} after {result.usage.requests} requests, {result.usage.tool_calls} tool calls")


def stream_text(event: TextDelta) -> bool:
    """Text answers are shown as they stream; the refunds desk's JSON is printed once decided."""
    return event.agent != "refunds"


if __name__ == "__main__":
    asked = " ".join(sys.argv[1:])
    if asked:
        main(asked)
    else:
        main("I was charged twice for order 1042, please refund one.")
        main("When is invoice INV-7 due?")
    triage.close_sync()
    for agent in (billing, refunds):
        agent.close_sync()

agent = triage  # what `agentkit run examples/triage.py` runs
