"""Mistral: JSON-schema output into a pydantic model, with Mistral's safety prompt.

``output_type=Ticket`` sends the model's JSON schema as ``response_format`` (``json_schema``,
strict); the answer is checked against it and parsed into a ``Ticket``, and an answer that does
not match is sent back with the errors. ``MistralSettings(safe_prompt=True)`` asks Mistral to
prepend its safety prompt; ``seed`` goes out as Mistral's ``random_seed``.

With ``MISTRAL_API_KEY`` set this talks to Mistral (``AGENTKIT_MODEL`` overrides the model).
Without a key it runs offline on the built-in test model and prints the request body it would send;
the test model (a ``ScriptedModel``) answers with the ticket a model makes of the example message.

    MISTRAL_API_KEY=... python examples/mistral_json.py "My invoice was charged twice, order 4411."
"""

from __future__ import annotations

import json
import os
import sys
from typing import Literal

from pydantic import BaseModel, Field

from agentkit import Agent, SystemMessage, UserMessage
from agentkit.models import Mistral, Model, ModelRequest
from agentkit.output import OutputSchema
from agentkit.settings import MistralSettings
from agentkit.testing import ScriptedModel


class Ticket(BaseModel):
    """A support ticket, triaged."""

    category: Literal["billing", "bug", "account", "other"]
    priority: int = Field(ge=1, le=4, description="1 is the most urgent")
    summary: str = Field(description="One sentence, in English")
    order_id: str | None = Field(default=None, description="The order number, if the message gives one")


INSTRUCTIONS = "Triage the customer's message into a support ticket."
settings = MistralSettings(temperature=0.1, seed=7, safe_prompt=True)


# the ticket a model makes of the example message (offline, the scripted stand-in answers it for any message)
EXAMPLE_TICKET = {
    "category": "billing",
    "priority": 2,
    "summary": "The customer was charged twice for order 4411 and asks for one charge to be refunded.",
    "order_id": "4411",
}


def pick_model() -> Model | str:
    """$AGENTKIT_MODEL, else Mistral when MISTRAL_API_KEY is set, else the offline test model."""
    if os.environ.get("AGENTKIT_MODEL"):
        return os.environ["AGENTKIT_MODEL"]
    if os.environ.get("MISTRAL_API_KEY"):
        return "mistral:mistral-small-latest"
    print(
        "No API key set: running offline on the built-in test model, scripted for the example message "
        "(set MISTRAL_API_KEY to use Mistral)."
    )
    return ScriptedModel([json.dumps(EXAMPLE_TICKET)] * 1000)  # one answer per request


agent = Agent(pick_model(), output_type=Ticket, instructions=INSTRUCTIONS, settings=settings, output_retries=2)


def show_request_body(message: str) -> None:
    """The body Mistral would receive for the first request (nothing is sent)."""
    request = ModelRequest(
        [SystemMessage(content=INSTRUCTIONS), UserMessage(content=message)],
        settings=agent.settings,
        output=OutputSchema(Ticket).format,  # what output_type=Ticket turns into
    )
    body = Mistral("mistral-small-latest", api_key="offline-placeholder").build_body(request)
    print("Mistral would receive:")
    print(json.dumps(body, indent=2))


def main() -> None:
    message = " ".join(sys.argv[1:]) or "Hi, I was charged twice for order 4411 this morning. Please refund one!"
    if isinstance(agent.model, ScriptedModel):
        show_request_body(message)
    ticket = agent.run_sync(message).output  # a Ticket, validated
    print(ticket.model_dump_json(indent=2))
    if ticket.priority <= 2:
        print(f"-> escalate: {ticket.category} ticket, order {ticket.order_id or 'unknown'}")


if __name__ == "__main__":
    main()
