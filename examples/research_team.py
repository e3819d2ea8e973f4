"""Research team: a lead agent delegates to two sub-agents used as tools, and the terminal shows
their work live, nested under the call that runs them.

* ``researcher`` (``researcher.as_tool()``) looks facts up with its own tool;
* ``critic`` (``critic.as_tool(input_type=Draft)``) checks a draft and answers with a structured
  ``Review``, which reaches the lead as JSON;
* ``lead`` calls both — in one turn they run concurrently — then writes the answer.

Every event of the lead's stream carries ``event.path`` (``("lead", "researcher")`` for the
researcher's): the indentation below comes from it. Usage of the sub-agents adds up in the
lead's ``result.usage``.

Real models when a key is set (``OPENROUTER_API_KEY``, ``MISTRAL_API_KEY``, ``OPENAI_API_KEY``, or
``AGENTKIT_MODEL=provider:model``); otherwise offline on the built-in test model, scripted.

    python examples/research_team.py "Why do tool-calling agents need retry budgets?"
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from pydantic import BaseModel, Field

from agentkit import Agent, tool
from agentkit.events import TextDelta, ToolExecutionStarted, ToolResult
from agentkit.messages import AssistantMessage, Message, ToolMessage, UserMessage
from agentkit.models import Model, ModelRequest
from agentkit.testing import ScriptedModel, tool_call

NOTES = {
    "retry": "A model sending invalid arguments gets the error back and may retry; a budget stops one that never fixes them.",
    "cost": "Each retry is one more request: tokens and latency grow with every failed call.",
    "loop": "Without a limit, a model repeating the same bad call loops until max_turns or the usage limit.",
}


@tool
def search_notes(topic: str) -> str:
    """Search the team's notes.

    Args:
        topic: One word: what to look up (e.g. "retry", "cost", "loop").
    """
    return NOTES.get(topic.lower().strip(), f"No notes on {topic!r}; topics: {', '.join(NOTES)}.")


class Draft(BaseModel):
    """A draft answer to check."""

    question: str
    draft: str = Field(description="The answer to review.")


class Review(BaseModel):
    """The critic's verdict."""

    sound: bool
    missing: list[str] = Field(default_factory=list, description="Points the draft should add.")


def pick_model() -> Model | str:
    """A real model when one is configured, else the offline test model."""
    if os.environ.get("AGENTKIT_MODEL"):
        return os.environ["AGENTKIT_MODEL"]
    for key, model in (
        ("OPENROUTER_API_KEY", "openrouter:mistralai/mistral-large-2512"),
        ("MISTRAL_API_KEY", "mistral:mistral-large-latest"),
        ("OPENAI_API_KEY", "openai:gpt-4o-mini"),
    ):
        if os.environ.get(key):
            return model
    return ScriptedModel([offline_turn] * 100)


def offline_turn(request: ModelRequest) -> AssistantMessage:
    """What each agent's model does here, told apart by its tools."""
    names = {t.name for t in request.tools}
    done = {m.name: m.content for m in this_run(request.messages) if isinstance(m, ToolMessage)}
    if "researcher" in names:  # the lead: delegate both at once, then write
        if not done:
            question = last_user(request.messages)
            draft = "Retry budgets stop a model that keeps failing a tool call."
            return AssistantMessage(
                tool_calls=[
                    tool_call("researcher", {"input": f"Find notes on retries and cost for: {question}"}),
                    tool_call("critic", {"question": question, "draft": draft}),
                ]
            )
        review = Review.model_validate_json(done["critic"])
        return AssistantMessage(
            content=f"{done['researcher']} So a budget bounds both the loop and the cost"
            + (f" (the critic asked to add: {', '.join(review.missing)})." if review.missing else ".")
        )
    if "search_notes" in names:  # the researcher: two lookups, then a summary
        if not done:
            return AssistantMessage(
                tool_calls=[tool_call("search_notes", {"topic": "retry"}), tool_call("search_notes", {"topic": "cost"})]
            )
        notes = [m.content for m in this_run(request.messages) if isinstance(m, ToolMessage)]
        return AssistantMessage(content=" ".join(notes))
    return AssistantMessage(content=Review(sound=True, missing=["what each retry costs"]).model_dump_json())  # the critic


def shorten(text: str, width: int) -> str:
    """``text`` cut at a word boundary, with an ellipsis when cut."""
    return text if len(text) <= width else text[: text.rfind(" ", 0, width)] + " ..."


def this_run(messages: Sequence[Message]) -> Sequence[Message]:
    last = max((i for i, m in enumerate(messages) if isinstance(m, UserMessage)), default=-1)
    return messages[last + 1 :]


def last_user(messages: Sequence[Message]) -> str:
    return next(str(m.content) for m in reversed(messages) if isinstance(m, UserMessage))


model = pick_model()
if isinstance(model, ScriptedModel):
    print(
        "No API key set: running offline on the built-in test model, scripted for the example question "
        "(set OPENROUTER_API_KEY, MISTRAL_API_KEY or AGENTKIT_MODEL=provider:model for a real one)."
    )
researcher = Agent(
    model,
    name="researcher",
    tools=[search_notes],
    instructions="You research with search_notes (one-word topics) and report the facts you found, briefly.",
)
critic = Agent(
    model,
    name="critic",
    output_type=Review,
    instructions="You review a draft answer: is it sound, and what is missing?",
)
lead = Agent(
    model,
    name="lead",
    tools=[researcher.as_tool(), critic.as_tool(input_type=Draft, description="Have a draft answer reviewed.")],
    instructions="You lead a research team: ask the researcher for facts and the critic to review your draft, then answer.",
)


def main(question: str) -> None:
    print(f"> {question}")
    at_line_start = True
    with lead.run_stream_sync(question) as stream:
        for event in stream:
            indent = "  " * (len(event.path) - 1)
            if isinstance(event, ToolExecutionStarted):
                print(f"{'' if at_line_start else chr(10)}{indent}{event.agent} -> {event.name}({event.arguments})")
                at_line_start = True
            elif isinstance(event, ToolResult):
                print(f"{indent}{event.agent} <- {event.name}: {shorten(event.content, 90)}")
            elif isinstance(event, TextDelta) and len(event.path) == 1:  # the lead's answer, as it streams
                print(event.text, end="", flush=True)
                at_line_start = event.text.endswith("\n")
    result = stream.result
    print(f"\n({result.usage.requests} requests and {result.usage.tool_calls} tool calls across the team)")


if __name__ == "__main__":
    main(" ".join(sys.argv[1:]) or "Why do tool-calling agents need retry budgets?")
    for agent in (lead, researcher, critic):
        agent.close_sync()

agent = lead  # what `agentkit run examples/research_team.py` runs
