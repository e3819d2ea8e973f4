"""Agents as tools (``agent.as_tool()``, agentkit/_run/subagent.py), over the loopback server:
the sub-run's deps, model, tools, instructions, input and output; usage and limits shared with
the parent; a sub-run that cannot finish is a tool error; what a user can get wrong.

Streaming and cancellation: test_agent_as_tool_stream.py; approvals: test_agent_as_tool_approvals.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from pydantic import BaseModel, Field

from agentkit import Agent, RunContext, UserError, tool
from agentkit.errors import UsageLimitExceeded
from agentkit.messages import ToolMessage
from agentkit.usage import UsageLimits
from tests.run.helpers import answer, calls
from tests.run.team import Team, model_named
from tests.support.server import Reply, call, chat_completion


@dataclass
class Census:
    population: dict[str, str]


@tool
def lookup(ctx: RunContext[Census], city: str) -> str:
    """Look a city's population up.

    Args:
        city: The city.
    """
    return ctx.deps.population[city]


class Draft(BaseModel):
    """A draft answer to review."""

    question: str
    draft: str = Field(description="The answer to review.")


class Review(BaseModel):
    sound: bool
    missing: list[str] = Field(default_factory=list)


def _researcher(url: str, **options) -> Agent:
    return Agent(
        model_named(url, "researcher"),
        name="researcher",
        tools=[lookup],
        instructions="You research populations.",
        deps_type=Census,
        **options,
    )


def _tool_messages(body: dict) -> dict[str, str]:
    return {m["tool_call_id"]: m["content"] for m in body["messages"] if m["role"] == "tool"}


def _names(body: dict) -> list[str]:
    return [t["function"]["name"] for t in body.get("tools", [])]


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


async def test_the_sub_run_has_its_own_model_tools_and_instructions_and_the_parents_deps(loopback):
    team = Team(
        lead=[calls(("researcher", {"input": "Population of Paris?"}, "r1")), answer("Paris has 2.1M people.")],
        researcher=[calls(("lookup", {"city": "paris"}, "l1")), answer("2.1M")],
    )
    server = loopback(team)
    researcher = _researcher(server.url)
    lead = Agent(
        model_named(server.url, "lead"),
        name="lead",
        tools=[researcher.as_tool(description="Ask the researcher.")],
        instructions="You lead.",
    )

    result = await lead.run("How many people live in Paris?", deps=Census({"paris": "2.1M"}))

    assert result.output == "Paris has 2.1M people." and result.agent_name == "lead"
    first, second = team.bodies["researcher"]
    assert first["model"] == "researcher-model" and _names(first) == ["lookup"]
    assert [(m["role"], m["content"]) for m in first["messages"]] == [
        ("system", "You research populations."),
        ("user", "Population of Paris?"),
    ]  # its own conversation: none of the lead's messages
    assert _tool_messages(second) == {"l1": "2.1M"}  # the tool read the lead's deps
    lead_first, lead_second = team.bodies["lead"]
    assert lead_first["messages"][0] == {"role": "system", "content": "You lead."}
    (spec,) = lead_first["tools"]
    assert spec["function"]["name"] == "researcher" and spec["function"]["description"] == "Ask the researcher."
    assert spec["function"]["parameters"]["required"] == ["input"]
    assert list(spec["function"]["parameters"]["properties"]) == ["input"]
    assert _tool_messages(lead_second) == {"r1": "2.1M"}  # the sub-run's final output is the tool result
    assert not any("lookup" in json.dumps(body) for body in team.bodies["lead"])  # the lead never sees the sub-run's tools


async def test_a_structured_output_reaches_the_parent_as_json_and_a_structured_input_type_is_the_tool_parameters(loopback):
    review = {"sound": False, "missing": ["the cost of each retry"]}
    team = Team(
        lead=[
            calls(("critic", {"question": "Why budgets?", "draft": "They stop loops."}, "c1")),
            answer("Budgets stop loops and bound cost."),
        ],
        critic=[answer(json.dumps(review))],
    )
    server = loopback(team)
    critic = Agent(model_named(server.url, "critic"), name="critic", output_type=Review, instructions="You review drafts.")
    lead = Agent(model_named(server.url, "lead"), name="lead", tools=[critic.as_tool(input_type=Draft)])

    result = await lead.run("Why do agents need retry budgets?")

    assert result.output == "Budgets stop loops and bound cost."
    (spec,) = team.bodies["lead"][0]["tools"]
    parameters = spec["function"]["parameters"]
    assert set(parameters["properties"]) == {"question", "draft"} and set(parameters["required"]) == {"question", "draft"}
    assert parameters["properties"]["draft"]["description"] == "The answer to review."
    (critic_body,) = team.bodies["critic"]
    assert critic_body["response_format"]["type"] == "json_schema"  # its own output type
    prompt = critic_body["messages"][-1]
    assert prompt["role"] == "user" and json.loads(prompt["content"]) == {"question": "Why budgets?", "draft": "They stop loops."}
    content = _tool_messages(team.bodies["lead"][1])["c1"]
    assert json.loads(content) == review


async def test_arguments_that_do_not_fit_the_input_type_are_a_tool_error_without_a_sub_run(loopback):
    team = Team(
        lead=[calls(("critic", {"question": "Why?"}, "c1")), answer("I will pass a draft next time.")],
        critic=[],
    )
    server = loopback(team)
    critic = Agent(model_named(server.url, "critic"), name="critic", output_type=Review)
    lead = Agent(model_named(server.url, "lead"), name="lead", tools=[critic.as_tool(input_type=Draft)])

    result = await lead.run("Review this.")

    assert result.output == "I will pass a draft next time." and team.bodies["critic"] == []
    error = next(m for m in result.messages if isinstance(m, ToolMessage))
    assert error.is_error and "draft" in error.content


async def test_the_sub_runs_requests_tokens_and_tool_calls_add_into_the_parents_usage(loopback):
    team = Team(
        lead=[calls(("researcher", {"input": "Paris?"}, "r1")), answer("2.1M.")],
        researcher=[
            Reply(body=chat_completion(None, [call("lookup", {"city": "paris"}, "l1")], usage=_usage(100, 7))),
            Reply(body=chat_completion("2.1M", usage=_usage(200, 3))),
        ],
    )
    server = loopback(team)
    lead = Agent(model_named(server.url, "lead"), name="lead", tools=[_researcher(server.url).as_tool()])

    result = await lead.run("Paris?", deps=Census({"paris": "2.1M"}))

    usage = result.usage
    assert usage.requests == 4  # two of the lead's, two of the researcher's
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (10 + 10 + 100 + 200, 5 + 5 + 7 + 3, 340)
    assert usage.tool_calls == 2  # the lead's call of the researcher, the researcher's call of lookup


async def test_the_parents_request_limit_counts_the_sub_runs_requests_and_ends_the_whole_run(loopback):
    team = Team(
        lead=[calls(("researcher", {"input": "Paris?"}, "r1")), answer("never asked")],
        researcher=[calls(("lookup", {"city": "paris"}, "l1")), answer("never asked")],
    )
    server = loopback(team)
    lead = Agent(model_named(server.url, "lead"), name="lead", tools=[_researcher(server.url).as_tool()])

    with pytest.raises(UsageLimitExceeded) as info:
        await lead.run("Paris?", deps=Census({"paris": "2.1M"}), usage_limits=UsageLimits(max_requests=2))

    assert "max requests (2)" in str(info.value)
    assert len(team.bodies["lead"]) == 1 and len(team.bodies["researcher"]) == 1  # the researcher's 2nd request was the 3rd
    assert info.value.usage is not None and info.value.usage.requests == 2  # the run's usage: the lead's and the researcher's
    assert info.value.messages[0].content == "Paris?"  # the run's conversation, not the sub-run's


async def test_the_parents_tool_call_limit_counts_the_sub_runs_calls(loopback):
    team = Team(
        lead=[calls(("researcher", {"input": "Paris?"}, "r1")), answer("never asked")],
        researcher=[calls(("lookup", {"city": "paris"}, "l1")), answer("never asked")],
    )
    server = loopback(team)
    lead = Agent(model_named(server.url, "lead"), name="lead", tools=[_researcher(server.url).as_tool()])

    with pytest.raises(UsageLimitExceeded, match="max tool calls"):
        await lead.run("Paris?", deps=Census({"paris": "2.1M"}), usage_limits=UsageLimits(max_tool_calls=1))
    assert len(team.bodies["researcher"]) == 1  # lookup never ran: no second researcher request


async def test_a_sub_run_that_reaches_max_turns_is_a_tool_error_and_the_parent_goes_on(loopback):
    team = Team(
        lead=[calls(("researcher", {"input": "Paris?"}, "r1")), answer("The researcher gave up; I don't know.")],
        researcher=[calls(("lookup", {"city": "paris"}, "l1")), answer("never asked")],
    )
    server = loopback(team)
    lead = Agent(model_named(server.url, "lead"), name="lead", tools=[_researcher(server.url).as_tool(max_turns=1)])

    result = await lead.run("Paris?", deps=Census({"paris": "2.1M"}))

    assert result.output == "The researcher gave up; I don't know."
    assert len(team.bodies["researcher"]) == 1  # max_turns=1: the sub-run stopped before its second request
    error = next(m for m in result.messages if isinstance(m, ToolMessage) and m.tool_call_id == "r1")
    assert error.is_error and "researcher" in error.content and "max_turns=1" in error.content
    assert _tool_messages(team.bodies["lead"][1])["r1"] == error.content  # the lead's model read it
    assert result.usage.requests == 3


def test_an_agent_without_a_name_needs_one_for_its_tool(loopback):
    server = loopback([])
    unnamed = Agent(model_named(server.url, "helper"))
    with pytest.raises(UserError, match="needs a name"):
        unnamed.as_tool()
    assert unnamed.as_tool(name="helper").name == "helper"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"input_type": int}, "must be str or an object type"),
        ({"input_type": list[str]}, "must be str or an object type"),
        ({"max_turns": 0}, "max_turns must be a positive int"),
        ({"max_turns": -3}, "max_turns must be a positive int"),
    ],
)
def test_as_tool_rejects_what_cannot_work(loopback, options, message):
    server = loopback([])
    agent = Agent(model_named(server.url, "helper"), name="helper")
    with pytest.raises(UserError, match=message):
        agent.as_tool(**options)
