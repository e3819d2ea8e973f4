"""Structured output: extract an invoice into a pydantic model.

Offline on the built-in test model unless AGENTKIT_MODEL or OPENAI_API_KEY is set: a
``ScriptedModel`` that answers with the JSON a model extracts from the example invoice (the agent
still checks it against the schema and validates it into ``Invoice``).
"""

from __future__ import annotations

import json
import os
from datetime import date

from pydantic import BaseModel, Field

from agentkit import Agent
from agentkit.models import Model
from agentkit.testing import ScriptedModel


class LineItem(BaseModel):
    description: str
    quantity: int = Field(ge=1)
    unit_price: float = Field(ge=0)


class Invoice(BaseModel):
    """An invoice, as printed."""

    number: str
    issued: date
    customer: str
    items: list[LineItem]
    currency: str = "EUR"


TEXT = """INVOICE 2024-117 — issued 3 March 2024 to ACME GmbH.
2 x Widget at 19.90; 1 x Setup fee at 50.00. All prices in EUR."""

# what a model answers for TEXT (offline, the scripted stand-in answers this for any text)
EXTRACTED = {
    "number": "2024-117",
    "issued": "2024-03-03",
    "customer": "ACME GmbH",
    "items": [
        {"description": "Widget", "quantity": 2, "unit_price": 19.9},
        {"description": "Setup fee", "quantity": 1, "unit_price": 50.0},
    ],
    "currency": "EUR",
}

OFFLINE = not (os.environ.get("AGENTKIT_MODEL") or os.environ.get("OPENAI_API_KEY"))
model: Model | str = os.environ.get("AGENTKIT_MODEL") or "openai:gpt-4o-mini"
if OFFLINE:
    model = ScriptedModel([json.dumps(EXTRACTED)] * 1000)  # one answer per request
agent = Agent(model, output_type=Invoice, instructions="Extract the invoice exactly as written.")

if __name__ == "__main__":
    if OFFLINE:
        print("No API key set: running offline on the built-in test model, scripted for the example invoice.")
    invoice = agent.run_sync(TEXT).output
    print(invoice.model_dump_json(indent=2))
    print(f"total: {sum(i.quantity * i.unit_price for i in invoice.items):.2f} {invoice.currency}")
