"""OpenRouter: provider routing, fallback models, and a fallback to Mistral's own API.

Three layers of fallback, from the inside out:

1. ``ProviderRouting``: which upstream providers may serve the model on OpenRouter, cheapest first
   (``sort="price"``), only those that support every parameter sent (``require_parameters``), and
   none above a price (``max_price``, USD per million tokens); ``allow_fallbacks`` lets OpenRouter
   move to another provider when the first one fails.
2. ``models=[...]``: other OpenRouter models to try when the first is unavailable.
3. ``FallbackModel``: when OpenRouter itself fails (after retries), the same request goes to
   Mistral's API (when ``MISTRAL_API_KEY`` is set), which drops the OpenRouter-only fields.

With ``OPENROUTER_API_KEY`` set this talks to OpenRouter (``AGENTKIT_MODEL`` overrides the model).
Without a key it runs offline on the built-in test model and prints the request bodies it would send;
the test model (a ``ScriptedModel``) then does what a model does with the example question: calls the
calculator, and answers from its result.

    OPENROUTER_API_KEY=... python examples/openrouter_routing.py "What is 17.5% of 2,340 EUR?"
"""

from __future__ import annotations

import json
import os
import sys
import warnings

from agentkit_tools import calculator

from agentkit import Agent, AssistantMessage, SystemMessage, ToolMessage, UserMessage
from agentkit.models import FallbackModel, Mistral, Model, ModelRequest, OpenRouter, infer_model
from agentkit.settings import MaxPrice, OpenRouterSettings, ProviderRouting
from agentkit.testing import ScriptedModel, tool_call

PRIMARY = "mistralai/mistral-small-3.2-24b-instruct"
INSTRUCTIONS = "You are a precise assistant. Use the calculator for arithmetic. Be brief."

settings = OpenRouterSettings(
    temperature=0.2,
    max_tokens=800,
    models=["mistralai/mistral-nemo", "mistralai/mistral-large-2512"],  # tried in order if PRIMARY is unavailable
    provider=ProviderRouting(
        sort="price",  # cheapest upstream first
        allow_fallbacks=True,  # on an upstream error, try the next upstream
        require_parameters=True,  # only upstreams that support tools (and everything else sent)
        max_price=MaxPrice(prompt=1.0, completion=3.0),  # USD per million tokens
    ),
)


def pick_model() -> Model | str:
    """$AGENTKIT_MODEL, else OpenRouter (falling back to Mistral's API when its key is set), else the test model."""
    if os.environ.get("AGENTKIT_MODEL"):
        return infer_model(os.environ["AGENTKIT_MODEL"])
    if os.environ.get("OPENROUTER_API_KEY"):
        openrouter = OpenRouter(PRIMARY, app_name="agentkit examples", max_retries=2)
        if os.environ.get("MISTRAL_API_KEY"):
            return FallbackModel(openrouter, Mistral("mistral-small-latest"))
        return openrouter
    print(
        "No API key set: running offline on the built-in test model, scripted for the example question "
        "(set OPENROUTER_API_KEY, and MISTRAL_API_KEY for the fallback, to use them)."
    )
    return ScriptedModel([offline_turn] * 1000)  # the same function answers each request


def offline_turn(request: ModelRequest) -> AssistantMessage:
    """What a model does with the example question: compute with the calculator, then answer from its result."""
    last = max(i for i, m in enumerate(request.messages) if isinstance(m, UserMessage))
    results = [m.content for m in request.messages[last + 1 :] if isinstance(m, ToolMessage)]
    if not results:
        return AssistantMessage(tool_calls=[tool_call("calculator", {"expression": "2340 * 17.5 / 100"})])
    return AssistantMessage(content=f"17.5% of 2,340 EUR is {results[0]} EUR.")


agent = Agent(pick_model(), tools=[calculator], instructions=INSTRUCTIONS, settings=settings)


def show_request_bodies(prompt: str) -> None:
    """What the first request would look like on the wire, to OpenRouter and to the Mistral fallback (nothing is sent)."""
    request = ModelRequest(
        [SystemMessage(content=INSTRUCTIONS), UserMessage(content=prompt)],
        tools=tuple(t.definition for t in agent.tools),
        settings=agent.settings,
    )
    openrouter = OpenRouter(PRIMARY, api_key="offline-placeholder")
    print("OpenRouter would receive:")
    print(json.dumps(openrouter.build_body(request), indent=2))
    mistral = Mistral("mistral-small-latest", api_key="offline-placeholder")
    with warnings.catch_warnings(record=True) as dropped:
        warnings.simplefilter("always")
        body = mistral.build_body(request)
    print("The Mistral fallback would receive (tools as above):")
    print(json.dumps({k: v for k, v in body.items() if k != "tools"}, indent=2))
    for w in dropped:
        print(f"  note: {w.message}")


def main() -> None:
    prompt = " ".join(sys.argv[1:]) or "What is 17.5% of 2,340 EUR?"
    if isinstance(agent.model, ScriptedModel):
        show_request_bodies(prompt)
    result = agent.run_sync(prompt)
    print(result.output)
    u = result.usage
    cost = f", ${u.cost:.6f}" if u.cost is not None else ""  # OpenRouter reports each request's cost
    tokens = f", {u.total_tokens} tokens" if u.total_tokens else ""  # the offline stand-in counts none
    print(f"[{result.model_name}: {u.requests} requests{tokens}{cost}]")


if __name__ == "__main__":
    main()
