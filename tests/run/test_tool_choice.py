"""tool_choice may name any tool the request carries, the final-result tool included."""

from __future__ import annotations

from pydantic import BaseModel

from agentkit import Agent, ModelSettings
from tests.run.helpers import calls, chat_bodies, model_for


class City(BaseModel):
    name: str


async def test_tool_choice_may_force_the_output_tool(loopback):
    server = loopback([calls(("final_result", {"name": "Paris"}, "f1"))])
    agent = Agent(model_for(server), output_type=City, output_mode="tool", settings=ModelSettings(tool_choice="final_result"))
    result = await agent.run("Which city?")
    assert result.output == City(name="Paris")
    assert chat_bodies(server)[0]["tool_choice"] == {"type": "function", "function": {"name": "final_result"}}
