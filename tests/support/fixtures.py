"""Test data shared by the model tests: every sampling setting, and a small tool."""

from __future__ import annotations

from agentkit import ModelSettings, tool

SAMPLING = ModelSettings(
    temperature=0.3,
    top_p=0.9,
    top_k=40,
    min_p=0.05,
    top_a=0.1,
    repetition_penalty=1.1,
    frequency_penalty=0.5,
    presence_penalty=-0.5,
    stop=["END"],
    seed=42,
    max_tokens=256,
    logit_bias={"50256": -100},
    logprobs=True,
    top_logprobs=3,
)
"""Every sampling parameter of the seeds' APIs, set (no tool_choice, no extras)."""


@tool
def get_weather(city: str) -> str:
    """Get the weather.

    Args:
        city: City name.
    """
    return "sunny"
