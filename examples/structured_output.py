"""Structured output: extract an invoice into a pydantic model.

Offline on the built-in test model unless AGENTKIT_MODEL or OPENAI_API_KEY is set.
"""

from __future__ import annotations

import os
from datetime import date

from pydantic import BaseModel, Field

from agentkit import Agent


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

model = os.environ.get("AGENTKIT_MODEL") or ("openai:gpt-4o-mini" if os.environ.get("OPENAI_API_KEY") else "test")
agent = Agent(model, output_type=Invoice, instructions="Extract the invoice exactly as written.")

if __name__ == "__main__":
    if model == "test":
        print("No API key set: running offline on the built-in test model.")
    invoice = agent.run_sync(TEXT).output
    print(invoice.model_dump_json(indent=2))
    print("total:", sum(i.quantity * i.unit_price for i in invoice.items), invoice.currency)
