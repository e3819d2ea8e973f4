"""The test models (ScriptedModel, TestModel, Agent("test")) and the example-value generator that
TestModel uses, including a property-style check over many tool signatures and output types."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import inspect
import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from ipaddress import IPv4Address
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union, get_args, get_origin

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import AnyUrl, BaseModel, Field, TypeAdapter
from typing_extensions import TypedDict

from agentkit import Agent, AssistantMessage, ModelSettings, RunContext, Tool, ToolMessage, Usage, UserMessage, tool
from agentkit._examples import example_value
from agentkit.errors import UserError
from agentkit.models.base import ModelRequest, ModelResponse
from agentkit.output import OutputSchema
from agentkit.testing import ScriptedModel, ScriptExhausted, TestModel, reply, tool_call

# --- ScriptedModel ---------------------------------------------------------------------------


async def test_scripted_serves_each_kind_of_response_in_order() -> None:
    model = ScriptedModel(["one", AssistantMessage(content="two"), reply("three")], model_name="fake")
    assert model.remaining == 3
    request = ModelRequest([UserMessage(content="hi")])
    first = await model.request(request)
    assert first.message.content == "one"
    assert first.finish_reason == "stop"
    assert first.model_name == "fake"
    assert first.usage == Usage(requests=1)
    assert model.remaining == 2
    second = await model.request(request)
    assert second.message.content == "two" and second.model_name == "fake"
    third = await model.request(request)
    assert third.message.content == "three" and third.model_name == "scripted"
    assert model.remaining == 0
    assert model.model_name == "fake" and model.provider == "scripted"


async def test_scripted_full_response_is_returned_as_is() -> None:
    response = ModelResponse(
        message=AssistantMessage(content="x"), usage=Usage(prompt_tokens=7, requests=1), finish_reason="length"
    )
    model = ScriptedModel([response])
    assert await model.request(ModelRequest([])) is response


async def test_scripted_model_name_reaches_the_run_result() -> None:
    result = await Agent(ScriptedModel(["hello"], model_name="my-model")).run("hi")
    assert result.output == "hello"
    assert result.model_name == "my-model"


async def test_scripted_raises_exceptions() -> None:
    model = ScriptedModel([ValueError("boom"), TimeoutError, "after"])
    with pytest.raises(ValueError, match="boom"):
        await model.request(ModelRequest([]))
    with pytest.raises(TimeoutError):
        await model.request(ModelRequest([]))
    assert (await model.request(ModelRequest([]))).message.content == "after"
    assert len(model.requests) == 3


async def test_scripted_exception_propagates_out_of_a_run() -> None:
    model = ScriptedModel([RuntimeError("provider down")])
    with pytest.raises(RuntimeError, match="provider down"):
        await Agent(model).run("hi")


async def test_scripted_callables_get_the_request() -> None:
    seen: list[ModelRequest] = []

    def echo(request: ModelRequest) -> str:
        seen.append(request)
        return f"you said {request.messages[-1].content}"

    async def later(request: ModelRequest) -> ModelResponse:
        await asyncio.sleep(0)
        return reply(f"{len(request.messages)} messages")

    def fail(request: ModelRequest) -> Exception:
        return KeyError("from callable")

    model = ScriptedModel([echo, later, fail])
    assert (await model.request(ModelRequest([UserMessage(content="ping")]))).message.content == "you said ping"
    assert seen[0] is model.requests[0]
    assert (
        await model.request(ModelRequest([UserMessage(content="a"), UserMessage(content="b")]))
    ).message.content == "2 messages"
    with pytest.raises(KeyError, match="from callable"):
        await model.request(ModelRequest([]))


async def test_scripted_callable_can_answer_with_tool_calls() -> None:
    @tool
    def double(n: int) -> int:
        return 2 * n

    def call_with_prompt_length(request: ModelRequest) -> ModelResponse:
        return reply(None, tool_call("double", {"n": len(str(request.messages[-1].content))}))

    model = ScriptedModel([call_with_prompt_length, lambda r: f"result {r.messages[-1].content}"])
    result = await Agent(model, tools=[double]).run("four")
    assert result.output == "result 8"


async def test_scripted_records_a_snapshot_of_each_request() -> None:
    @tool
    def add(a: int, b: int) -> int:
        return a + b

    model = ScriptedModel([reply(None, tool_call("add", {"a": 2, "b": 3}, id="c1")), "5"])
    settings = ModelSettings(temperature=0.5)
    agent = Agent(model, tools=[add], instructions="Be brief.", settings=settings)
    result = await agent.run("2+3?")
    assert result.output == "5"
    first, second = model.requests
    # the first request's messages are as they were then, not the run's final list
    assert [m.role for m in first.messages] == ["system", "user"]
    assert [m.role for m in second.messages] == ["system", "user", "assistant", "tool"]
    assert first.messages is not second.messages
    tool_result = second.messages[-1]
    assert isinstance(tool_result, ToolMessage)
    assert tool_result.content == "5" and tool_result.tool_call_id == "c1"
    assert [t.name for t in first.tools] == ["add"]
    assert first.settings.temperature == 0.5
    assert first.output is None and first.output_tool is None
    assert len(result.messages) == 5


async def test_scripted_exhausted() -> None:
    model = ScriptedModel(["only one"])
    await model.request(ModelRequest([]))
    with pytest.raises(ScriptExhausted, match="request #2 but has no responses left"):
        await model.request(ModelRequest([UserMessage(content="again")]))
    assert len(model.requests) == 2  # the failed request is recorded too
    assert issubclass(ScriptExhausted, AssertionError)


async def test_scripted_exhausted_during_a_run() -> None:
    @tool
    def noop() -> str:
        return "ok"

    model = ScriptedModel([reply(None, tool_call("noop"))])
    with pytest.raises(ScriptExhausted):
        await Agent(model, tools=[noop]).run("go")


async def test_scripted_rejects_unknown_items() -> None:
    model = ScriptedModel([42])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="cannot answer with 42"):
        await model.request(ModelRequest([]))


def test_tool_call_helper() -> None:
    assert tool_call("f", {"a": [1, "x"]}).arguments == '{"a": [1, "x"]}'
    assert tool_call("f", '{"raw": tru').arguments == '{"raw": tru'
    assert tool_call("f").arguments == "{}"
    assert tool_call("f", {}).arguments == "{}"
    assert tool_call("f", id="mine").id == "mine"
    a, b = tool_call("get"), tool_call("get")
    assert a.id != b.id
    assert a.id.startswith("call_get_")
    assert a.name == "get"


def test_reply_helper() -> None:
    text = reply("hi")
    assert text.message.content == "hi" and text.message.tool_calls == []
    assert text.finish_reason == "stop"
    assert text.usage == Usage(requests=1)
    assert text.model_name == "scripted"
    call = tool_call("f")
    calls = reply(None, call, tool_call("g"))
    assert calls.message.content is None
    assert [c.name for c in calls.message.tool_calls] == ["f", "g"]
    assert calls.message.tool_calls[0] is call
    assert calls.finish_reason == "tool_calls"
    custom = reply("x", usage=Usage(prompt_tokens=3, requests=1), finish_reason="length")
    assert custom.usage.prompt_tokens == 3 and custom.finish_reason == "length"


async def test_scripted_usage_is_summed_by_the_agent() -> None:
    model = ScriptedModel(
        [reply(None, tool_call("noop"), usage=Usage(prompt_tokens=10, requests=1)), reply("done", usage=Usage(prompt_tokens=5))]
    )

    @tool
    def noop() -> str:
        return "ok"

    result = await Agent(model, tools=[noop]).run("go")
    assert result.usage.prompt_tokens == 15
    assert result.usage.requests == 2  # a response reporting requests=0 still counts as one request
    assert result.usage.tool_calls == 1


# --- TestModel -------------------------------------------------------------------------------


class Unit(enum.Enum):
    C = "celsius"
    F = "fahrenheit"


def _recording_tools() -> tuple[list[Tool[Any, Any]], list[tuple[str, dict[str, Any]]]]:
    calls: list[tuple[str, dict[str, Any]]] = []

    @tool
    def get_weather(city: str, unit: Unit = Unit.C, days: Annotated[int, Field(ge=1, le=7)] = 3) -> str:
        """Weather forecast."""
        calls.append(("get_weather", {"city": city, "unit": unit, "days": days}))
        return f"Sunny in {city}"

    @tool
    async def get_time(zone: Annotated[str, Field(pattern=r"^[A-Z][a-z]+/[A-Z][a-z]+$")]) -> dict[str, str]:
        calls.append(("get_time", {"zone": zone}))
        return {"time": "12:00"}

    @tool
    def get(key: str) -> str:
        calls.append(("get", {"key": key}))
        return "value"

    return [get_weather, get_time, get], calls


async def test_test_model_calls_every_tool_once_then_summarizes() -> None:
    tools, calls = _recording_tools()
    model = TestModel()
    result = await Agent(model, tools=tools).run("Weather?")
    assert sorted(name for name, _ in calls) == ["get", "get_time", "get_weather"]
    weather = dict(calls)["get_weather"]
    assert isinstance(weather["city"], str) and isinstance(weather["unit"], Unit) and 1 <= weather["days"] <= 7
    assert "/" in dict(calls)["get_time"]["zone"]
    assert result.output == 'Tool results: get_weather -> Sunny in example; get_time -> {"time":"12:00"}; get -> value'
    assert result.usage.requests == 2
    assert result.usage.tool_calls == 3
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0
    assert result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens
    assert result.model_name == "test"
    assigned = next(m for m in result.messages if isinstance(m, AssistantMessage))
    assert len({c.id for c in assigned.tool_calls}) == 3
    assert not any(m.is_error for m in result.messages if isinstance(m, ToolMessage))


async def test_test_model_is_deterministic() -> None:
    tools, _ = _recording_tools()
    first = await Agent(TestModel(), tools=tools).run("x")
    second = await Agent(TestModel(), tools=tools).run("x")
    assert first.messages_json() == second.messages_json()


async def test_test_model_text_and_no_tools() -> None:
    result = await Agent(TestModel()).run("hi")
    assert result.output == "success (no tool calls)"
    assert result.usage.requests == 1
    tools, _ = _recording_tools()
    fixed = await Agent(TestModel(text="Fixed answer."), tools=tools).run("hi")
    assert fixed.output == "Fixed answer."
    assert fixed.usage.requests == 2


async def test_test_model_tool_choice_none_means_no_calls() -> None:
    tools, calls = _recording_tools()
    result = await Agent(TestModel(), tools=tools).run("hi", settings=ModelSettings(tool_choice="none"))
    assert calls == []
    assert result.usage.requests == 1
    assert result.output == "success (no tool calls)"


async def test_test_model_tool_choice_names_one_tool() -> None:
    tools, calls = _recording_tools()
    await Agent(TestModel(), tools=tools).run("hi", settings=ModelSettings(tool_choice="get_time"))
    assert [name for name, _ in calls] == ["get_time"]


@pytest.mark.parametrize(
    ("call_tools", "expected"),
    [
        (["get_time"], ["get_time"]),
        (["get", "get_weather"], ["get", "get_weather"]),
        ([], []),
        ("get", ["get"]),
        ("all", ["get", "get_time", "get_weather"]),
    ],
)
async def test_test_model_call_tools_restricts(call_tools: Any, expected: list[str]) -> None:
    tools, calls = _recording_tools()
    result = await Agent(TestModel(call_tools=call_tools), tools=tools).run("hi")
    assert sorted(name for name, _ in calls) == expected
    assert result.usage.requests == (2 if expected else 1)


async def test_test_model_calls_tools_again_after_a_new_user_message() -> None:
    tools, calls = _recording_tools()
    agent = Agent(TestModel(call_tools=["get"]), tools=tools)
    first = await agent.run("one")
    await agent.run("two", messages=first.messages)
    assert [name for name, _ in calls] == ["get", "get"]


async def test_test_model_summary_includes_tool_errors() -> None:
    @tool
    def broken(x: int) -> str:
        raise RuntimeError("disk full")

    result = await Agent(TestModel(), tools=[broken], tool_retries=1).run("go")
    assert isinstance(result.output, str)
    assert result.output.startswith("Tool results: broken -> Error: tool 'broken' raised RuntimeError: disk full")


class Forecast(BaseModel):
    city: str
    temperature: float = Field(ge=-90, le=60)
    unit: Unit
    warnings: list[str] = []
    issued: Optional[datetime] = None


async def test_test_model_native_output_is_a_typed_instance() -> None:
    tools, calls = _recording_tools()
    result = await Agent(TestModel(), tools=tools, output_type=Forecast).run("Forecast?")
    assert isinstance(result.output, Forecast)
    assert result.output.unit is Unit.C
    assert -90 <= result.output.temperature <= 60
    assert len(calls) == 3
    assert result.usage.requests == 2


async def test_test_model_tool_output_mode() -> None:
    tools, calls = _recording_tools()
    model = TestModel()
    result = await Agent(model, tools=tools, output_type=list[Forecast], output_mode="tool").run("Forecasts?")
    assert isinstance(result.output, list) and isinstance(result.output[0], Forecast)
    assert len(calls) == 3  # the function tools first, not the output tool
    final = [m for m in result.messages if isinstance(m, AssistantMessage)][-1]
    assert [c.name for c in final.tool_calls] == ["final_result"]
    assert result.usage.requests == 2


async def test_test_model_tool_output_mode_without_tools() -> None:
    result = await Agent(TestModel(), output_type=int, output_mode="tool").run("n?")
    assert result.output == 1
    assert result.usage.requests == 1


def test_agent_test_string_runs_offline() -> None:
    @tool
    def get_weather(city: str) -> str:
        """Get the current weather."""
        return "Sunny, 22 C"

    agent = Agent("test", tools=[get_weather])
    assert isinstance(agent.model, TestModel)
    result = agent.run_sync("Weather in Paris?")
    assert result.output == "Tool results: get_weather -> Sunny, 22 C"
    assert result.usage.requests == 2
    assert result.usage.tool_calls == 1
    assert Agent("test").run_sync("hi").usage.requests == 1
    typed = Agent("test", tools=[get_weather], output_type=Forecast).run_sync("x")
    assert isinstance(typed.output, Forecast)
    assert typed.usage.requests == 2


async def test_test_model_with_run_context_tool() -> None:
    @tool
    def whoami(ctx: RunContext[str], greeting: str) -> str:
        return f"{greeting}, {ctx.deps}"

    result = await Agent(TestModel(), tools=[whoami]).run("x", deps="Ada")
    assert result.output == "Tool results: whoami -> example, Ada"


# --- example_value ---------------------------------------------------------------------------


def _check(schema: dict[str, Any]) -> Any:
    value = example_value(schema)
    jsonschema.validate(value, schema, cls=jsonschema.Draft202012Validator)
    return value


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "string"}, "example"),
        ({"type": "integer"}, 1),
        ({"type": "number"}, 1),
        ({"type": "boolean"}, True),
        ({"type": "null"}, None),
        ({"const": "fixed"}, "fixed"),
        ({"enum": ["b", "a"]}, "b"),
        ({"type": "integer", "minimum": 5, "maximum": 9}, 5),
        ({"type": "integer", "maximum": -3}, -3),
        ({"type": "integer", "exclusiveMinimum": 1}, 2),
        ({"type": "integer", "multipleOf": 3}, 3),
        ({"type": "integer", "minimum": 10, "multipleOf": 7}, 14),
        ({"type": "integer", "exclusiveMaximum": 0, "multipleOf": 5}, -5),
        ({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}, 0.999999),
        ({"type": "number", "minimum": 2.1, "multipleOf": 0.5}, 2.5),
        ({"type": "string", "minLength": 10}, "examplexxx"),
        ({"type": "string", "maxLength": 3}, "exa"),
        ({"type": "string", "format": "date-time"}, "2024-01-01T12:00:00Z"),
        ({"type": "string", "format": "uuid"}, "12345678-1234-5678-1234-567812345678"),
        ({"type": "string", "pattern": r"^\d{3}-\d{4}$"}, "000-0000"),
        ({"type": "string", "pattern": r"^[A-Z]{2}$"}, "AA"),
        ({"type": "string", "pattern": "^(red|blue)$"}, "red"),
        ({"type": "string", "pattern": r"^[^a]b?$"}, "b"),
        ({"type": "string", "pattern": r"^[^a-z0-9]{2}$"}, "AA"),
        ({"type": "string", "pattern": "^a+$", "minLength": 4}, "aaaa"),
        ({"type": "string", "pattern": "exam"}, "example"),
        ({"type": "array", "items": {"type": "integer"}}, [1]),
        ({"type": "array", "items": {"type": "integer"}, "minItems": 3}, [1, 1, 1]),
        ({"type": "array", "items": {"type": "integer"}, "maxItems": 0}, []),
        ({"type": "array", "items": {"type": "integer"}, "minItems": 3, "uniqueItems": True}, [1, 2, 3]),
        ({"type": "array", "items": {"enum": ["x", "y", "z"]}, "minItems": 2, "uniqueItems": True}, ["x", "y"]),
        ({"type": "array", "items": {"type": "boolean"}, "minItems": 2, "uniqueItems": True}, [True, False]),
        ({"type": "array", "items": {"type": "string"}, "minItems": 2, "uniqueItems": True}, ["example", "example1"]),
        ({"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "items": False}, [1, "example"]),
        ({"type": "object", "additionalProperties": {"type": "integer"}}, {"1": 1}),
        ({"type": "object", "additionalProperties": {"type": "integer"}, "minProperties": 2}, {"1": 1, "2": 1}),
        ({"type": "object", "additionalProperties": {"type": "integer"}, "propertyNames": {"enum": ["a", "b"]}}, {"a": 1}),
        ({"type": ["string", "null"]}, "example"),
        ({"anyOf": [{"type": "null"}, {"type": "integer"}]}, 1),
        ({"oneOf": [{"type": "integer"}, {"type": "string"}]}, 1),
        ({"allOf": [{"type": "integer"}, {"minimum": 4}]}, 4),
        ({"type": "integer", "default": 7}, 7),
        ({"type": "integer", "default": None}, 1),
        ({"properties": {"a": {"type": "integer"}}}, {"a": 1}),
        ({"items": {"type": "string"}}, ["example"]),
    ],
)
def test_example_value_cases(schema: dict[str, Any], expected: Any) -> None:
    assert _check(schema) == expected


def test_example_value_non_dict_schemas() -> None:
    assert example_value(True) == "example"
    assert example_value(False) is None
    assert example_value({}) == "example"


def test_example_value_refs_and_defs() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/A"}, "b": {"$ref": "#/$defs/A", "description": "x"}},
        "required": ["a", "b"],
        "$defs": {"A": {"type": "object", "properties": {"n": {"type": "integer", "minimum": 3}}, "required": ["n"]}},
    }
    assert _check(schema) == {"a": {"n": 3}, "b": {"n": 3}}
    # defs may be passed separately (a sub-schema of a bigger document)
    assert example_value({"$ref": "#/$defs/A"}, schema["$defs"]) == {"n": 3}


def test_example_value_reads_constraints_back_from_strict_descriptions() -> None:
    """to_strict moves minLength & co. into the description; the example must still respect them."""
    assert _check({"type": "string", "description": "A code (minLength: 10, maxLength: 12)"}) == "examplexxx"
    assert _check({"type": "string", "description": "(maxLength: 2)"}) == "ex"
    assert _check({"type": "string", "description": "(format: uri)"}) == "https://example.com/"
    items = {"type": "array", "items": {"type": "integer"}, "minItems": 3, "description": "(uniqueItems: True)"}
    assert _check(items) == [1, 2, 3]
    nullable = {"anyOf": [{"type": "string"}, {"type": "null"}], "description": "(minLength: 4)"}
    assert len(example_value(nullable)) >= 4


def test_example_value_ignores_description_text_that_is_not_a_hint() -> None:
    assert _check({"type": "string", "description": "Sort order, format: asc or desc; maxLength: many", "maxLength": 4}) == "exam"
    assert _check({"type": "integer", "description": "minLength: 3"}) == 1


def test_example_value_recursion_ends() -> None:
    class Tree(BaseModel):
        value: int
        children: list[Tree] = []
        parent: Optional[Tree] = None

    for output in (OutputSchema(Tree), OutputSchema(Tree, strict=False)):
        value = example_value(output.format.schema)
        jsonschema.validate(value, output.format.schema)
        assert len(json.dumps(value)) < 2000
        assert output.parse(json.dumps(value)).value == 1
    plain = TypeAdapter(Tree).json_schema()
    value = example_value(plain)
    jsonschema.validate(value, plain)
    tree = Tree.model_validate(value)
    assert tree.parent is not None  # optional fields are exercised, down to where the recursion stops
    assert tree.parent.parent is None


def test_example_value_is_deterministic() -> None:
    schema = OutputSchema(Forecast).format.schema
    assert example_value(schema) == example_value(json.loads(json.dumps(schema)))


# --- property-style: generated values are valid for schema AND type ------------------------


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Inner(BaseModel):
    x: int
    note: Optional[str] = None


class Middle(BaseModel):
    inner: Optional[Inner] = None
    inners: list[Inner] = []
    code: Annotated[str, Field(pattern=r"^[a-z]+$", min_length=3)] = "abc"


class Outer(BaseModel):
    """Nested optional models."""

    middle: Optional[Middle] = None
    required_middle: Middle
    level: Level = Level.LOW


@dataclass
class Pt:
    x: float
    y: float = 0.0


class TD(TypedDict):
    title: str
    year: Annotated[int, Field(ge=1900, le=2100)]


class Tree(BaseModel):
    value: int
    children: list[Tree] = []


OUTPUT_TYPES: list[Any] = [
    Inner,
    Middle,
    Outer,
    Pt,
    TD,
    Tree,
    list[Inner],
    Literal["a", "b"],
    Literal[1, 2],
    Color,
    Level,
    int,
    float,
    bool,
    str,
    dict[str, int],
    dict[str, Inner],
    dict[int, str],
    dict[Literal["x", "y"], int],
    datetime,
    date,
    time,
    timedelta,
    uuid.UUID,
    Decimal,
    Path,
    IPv4Address,
    AnyUrl,
    Annotated[int, Field(ge=5, le=9)],
    Annotated[int, Field(gt=10, lt=12)],
    Annotated[float, Field(gt=0, lt=1)],
    Annotated[str, Field(min_length=3)],
    Annotated[str, Field(max_length=2)],
    Annotated[str, Field(min_length=12, max_length=14)],
    Annotated[str, Field(pattern=r"^[a-z]+$")],
    Annotated[str, Field(pattern=r"^\d{3}-\d{4}$")],
    Annotated[str, Field(pattern=r"^[A-Z]{2}[0-9]{2}$", min_length=4)],
    Annotated[int, Field(multiple_of=3)],
    Annotated[int, Field(multiple_of=5, ge=12)],
    Annotated[float, Field(multiple_of=0.25, ge=1.1)],
    Annotated[Decimal, Field(ge=5, le=9)],
    Annotated[list[int], Field(min_length=2, max_length=3)],
    Annotated[dict[str, int], Field(min_length=2)],
    set[int],
    set[Color],
    Annotated[set[int], Field(min_length=3)],
    Annotated[set[Color], Field(min_length=2)],
    Annotated[frozenset[str], Field(min_length=2)],
    tuple[int, str],
    tuple[int, ...],
    tuple[Inner, Optional[Color]],
    Optional[Inner],
    Optional[int],
    Union[Inner, Pt],
    list[Optional[Inner]],
    list[list[Annotated[int, Field(ge=2)]]],
]


def _type_id(value: Any) -> str:
    if get_origin(value) is Annotated:
        base, *extras = get_args(value)
        constraints = [repr(m) for e in extras for m in getattr(e, "metadata", [e])]
        return f"{_type_id(base)}[{','.join(constraints)}]"
    if isinstance(value, type) and not get_args(value):
        return value.__name__
    return repr(value).replace("typing.", "").replace("tests.test_testing.", "")


@pytest.mark.parametrize("mode", ["native", "tool"])
@pytest.mark.parametrize("output_type", OUTPUT_TYPES, ids=_type_id)
def test_generated_output_is_valid(output_type: Any, mode: str) -> None:
    for strict in (None, False):
        schema = OutputSchema(output_type, mode=mode, strict=strict)  # type: ignore[arg-type]
        wire = schema.format.schema
        value = example_value(wire)
        jsonschema.validate(value, wire, cls=jsonschema.Draft202012Validator)
        schema.parse(json.dumps(value))  # jsonschema again, then pydantic; raises OutputInvalid


@pytest.mark.parametrize("output_type", OUTPUT_TYPES, ids=_type_id)
def test_generated_value_for_the_plain_pydantic_schema(output_type: Any) -> None:
    adapter = TypeAdapter(output_type)
    schema = adapter.json_schema()
    value = example_value(schema)
    jsonschema.validate(value, schema, cls=jsonschema.Draft202012Validator)
    adapter.validate_json(json.dumps(value))


def t_scalars(a: int, b: float, c: str, d: bool, e: None = None) -> None: ...
def t_defaults(n: int = 3, unit: Literal["c", "f"] = "c", note: Optional[str] = None, sloppy: int = None) -> None: ...  # type: ignore[assignment]  # noqa: RUF013
def t_times(when: datetime, day: date, at: time, span: timedelta) -> None: ...
def t_ids(id: uuid.UUID, amount: Decimal, path: Path, ip: IPv4Address, url: AnyUrl) -> None: ...
def t_bounds(
    a: Annotated[int, Field(ge=5, le=9)],
    b: Annotated[str, Field(min_length=3)],
    c: Annotated[str, Field(pattern=r"^[a-z]+$")],
    d: Annotated[int, Field(multiple_of=3)],
    e: Annotated[float, Field(gt=0, le=0.5)],
    f: Annotated[str, Field(max_length=4)] = "ab",
) -> None: ...
def t_collections(
    a: set[int], b: tuple[int, str], c: frozenset[Color], d: list[tuple[int, int]], e: dict[str, list[int]]
) -> None: ...
def t_models(
    inner: Inner,
    maybe: Optional[Outer] = None,
    many: list[Middle] = [],  # noqa: B006
    pt: Optional[Pt] = None,
    td: Optional[TD] = None,
) -> None: ...
def t_enums(
    color: Color,
    level: Level = Level.HIGH,
    colors: Optional[list[Color]] = None,
    unique: Optional[Annotated[set[Color], Field(min_length=3)]] = None,
) -> None: ...
def t_context(ctx: RunContext[None], query: str, limit: Annotated[int, Field(ge=1, le=50)] = 10) -> None: ...
def t_union(value: Union[int, str], maybe: Union[Inner, Pt, None], tree: Tree) -> None: ...
def t_private(_hidden: int, model_config: str) -> None: ...
def t_nothing() -> None: ...
def t_dict_keys(
    by_int: dict[int, str], by_literal: dict[Literal["a", "b"], int], sized: Annotated[dict[str, int], Field(min_length=2)]
) -> None: ...


TOOL_FUNCTIONS = [
    t_scalars,
    t_defaults,
    t_times,
    t_ids,
    t_bounds,
    t_collections,
    t_models,
    t_enums,
    t_context,
    t_union,
    t_private,
    t_nothing,
    t_dict_keys,
]


@pytest.mark.parametrize("function", TOOL_FUNCTIONS, ids=lambda f: f.__name__)
def test_generated_tool_arguments_are_valid(function: Any) -> None:
    variants = [Tool(function)]
    with contextlib.suppress(UserError):  # free-form dicts and tuples cannot be strict
        variants.append(Tool(function, strict=True))
    for t in variants:
        schema = t.definition.parameters
        value = example_value(schema)
        jsonschema.validate(value, schema, cls=jsonschema.Draft202012Validator)
        t.validate_arguments(json.dumps(value))  # raises ToolArgumentsError when pydantic rejects it


def test_strict_variants_exist_for_most_tool_signatures() -> None:
    """The strict branch above is really exercised (guards against a silently empty loop)."""
    strict_ok = []
    for function in TOOL_FUNCTIONS:
        try:
            Tool(function, strict=True)
            strict_ok.append(function.__name__)
        except UserError:
            pass
    assert {"t_bounds", "t_models", "t_enums", "t_ids"} <= set(strict_ok)


# Random types built from the pieces above: bounds are drawn so that a valid value always exists.
_ints = st.builds(
    lambda lo, span, step: Annotated[int, Field(ge=lo, le=lo + span * step + step, multiple_of=step)],
    st.integers(-50, 50),
    st.integers(0, 5),
    st.integers(1, 7),
)
_floats = st.builds(lambda lo, span: Annotated[float, Field(gt=lo, lt=lo + span)], st.integers(-20, 20), st.integers(1, 9))
_strs = st.one_of(
    st.builds(
        lambda lo, extra: Annotated[str, Field(min_length=lo, max_length=lo + extra)], st.integers(0, 12), st.integers(0, 5)
    ),
    st.sampled_from([r"^[a-z]+$", r"^\d{2,4}$", r"^[A-Z][a-z]*-\d+$", r"^(?:yes|no)$", r"^\w+@\w+\.com$"]).map(
        lambda p: Annotated[str, Field(pattern=p)]
    ),
    st.builds(
        lambda p, n: Annotated[str, Field(pattern=p, min_length=n)],
        st.sampled_from([r"^[a-z]+$", r"^[A-Z][a-z]*-\d+$", r"^\w+@\w+\.com$", r"^(ab)+c?$"]),
        st.integers(1, 15),
    ),
)
_leaves = st.one_of(
    st.sampled_from(
        [int, float, str, bool, datetime, date, uuid.UUID, Decimal, Path, Color, Level, Literal["p", "q"], Inner, Pt, TD]
    ),
    _ints,
    _floats,
    _strs,
)


def _wrap(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        inner.map(lambda t: list[t]),  # type: ignore[valid-type]
        inner.map(lambda t: Optional[t]),
        inner.map(lambda t: dict[str, t]),  # type: ignore[valid-type]
        st.tuples(inner, inner).map(lambda ts: tuple[ts[0], ts[1]]),  # type: ignore[misc]
        st.builds(lambda t, n: Annotated[list[t], Field(min_length=n)], inner, st.integers(1, 4)),  # type: ignore[valid-type]
    )


_types = st.recursive(_leaves, _wrap, max_leaves=6)


@settings(max_examples=60, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(_types)
def test_property_random_types(output_type: Any) -> None:
    adapter = TypeAdapter(output_type)
    plain = adapter.json_schema()
    value = example_value(plain)
    jsonschema.validate(value, plain, cls=jsonschema.Draft202012Validator)
    adapter.validate_json(json.dumps(value))
    for mode in ("native", "tool"):
        schema = OutputSchema(output_type, mode=mode)  # type: ignore[arg-type]
        wire = schema.format.schema
        generated = example_value(wire)
        jsonschema.validate(generated, wire, cls=jsonschema.Draft202012Validator)
        schema.parse(json.dumps(generated))


def _function_with(params: list[tuple[Any, bool]]) -> Any:
    """A function whose signature is ``(p0: T0, p1: Optional[T1] = None, ...)``."""

    def function(**kwargs: Any) -> None:
        return None

    params = [
        inspect.Parameter(
            f"p{i}",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Optional[t] if opt else t,
            default=None if opt else inspect.Parameter.empty,
        )
        for i, (t, opt) in enumerate(params)
    ]
    function.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    function.__annotations__ = {p.name: p.annotation for p in params}
    return function


@settings(max_examples=40, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_types, st.booleans()), max_size=4))
def test_property_random_tool_signatures(params: list[tuple[Any, bool]]) -> None:
    function = _function_with(params)
    variants = [Tool(function, name="random_tool")]
    with contextlib.suppress(UserError):
        variants.append(Tool(function, name="random_tool", strict=True))
    for t in variants:
        schema = t.definition.parameters
        value = example_value(schema)
        jsonschema.validate(value, schema, cls=jsonschema.Draft202012Validator)
        args, kwargs = t.validate_arguments(json.dumps(value))
        assert args == [] and sorted(kwargs) == [f"p{i}" for i in range(len(params))]
