"""Structured output: OutputSchema (wire schema, strictness, parse, retry prompts) and the agent's
native / tool output modes, driven by ScriptedModel (no network)."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any, Literal, Optional, Union

import jsonschema
import pytest
from pydantic import BaseModel, Field, field_validator
from typing_extensions import TypedDict

from agentkit import Agent, AssistantMessage, ToolMessage, UserMessage, tool
from agentkit.errors import OutputValidationError, UserError
from agentkit.output import OutputFormat, OutputInvalid, OutputSchema
from agentkit.testing import ScriptedModel, reply, tool_call

# --- output types ----------------------------------------------------------------------------


class Person(BaseModel):
    """A person the user asked about."""

    name: str
    age: int = Field(ge=0)
    email: Optional[str] = None
    tags: list[str] = []


class Address(BaseModel):
    street: str
    city: str


class Item(BaseModel):
    sku: str
    qty: int = 1


class Order(BaseModel):
    id: int
    customer: Person
    items: list[Item]
    shipping: Optional[Address] = None


class Settings(BaseModel):
    level: int = 3
    mode: Literal["fast", "slow"] = "fast"
    note: Optional[str] = "n/a"


@dataclass
class Point:
    x: float
    y: float
    label: str = "origin"


class Movie(TypedDict):
    title: str
    year: int


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Positive(BaseModel):
    value: int

    @field_validator("value")
    @classmethod
    def _positive(cls, v: int) -> int:
        if v <= 0:
            raise ValueError("value must be positive, e.g. 1")
        return v


class Node(BaseModel):
    """A tree."""

    value: int
    children: list[Node] = []


# (type, wrapped on the wire, strict, a valid answer, the value it parses to)
CASES: list[tuple[Any, bool, bool, str, Any]] = [
    (
        Person,
        False,
        True,
        '{"name": "Ada", "age": 36, "email": null, "tags": ["math"]}',
        Person(name="Ada", age=36, tags=["math"]),
    ),
    (Point, False, True, '{"x": 1.5, "y": -2, "label": "p"}', Point(1.5, -2.0, "p")),
    (Movie, False, True, '{"title": "Alien", "year": 1979}', {"title": "Alien", "year": 1979}),
    (list[Person], True, True, '{"result": [{"name": "A", "age": 1, "email": null, "tags": []}]}', [Person(name="A", age=1)]),
    (Literal["yes", "no"], True, True, '{"result": "no"}', "no"),
    (Color, True, True, '{"result": "green"}', Color.GREEN),
    (int, True, True, '{"result": 42}', 42),
    (float, True, True, '{"result": 2.5}', 2.5),
    (bool, True, True, '{"result": false}', False),
    (dict[str, int], False, False, '{"a": 1, "b": 2}', {"a": 1, "b": 2}),
    (
        Order,
        False,
        True,
        '{"id": 7, "customer": {"name": "B", "age": 2, "email": "b@x.org", "tags": null},'
        ' "items": [{"sku": "s1", "qty": null}], "shipping": {"street": "Main", "city": "Oslo"}}',
        Order(
            id=7,
            customer=Person(name="B", age=2, email="b@x.org"),
            items=[Item(sku="s1")],
            shipping=Address(street="Main", city="Oslo"),
        ),
    ),
    (Settings, False, True, '{"level": null, "mode": null, "note": null}', Settings(note=None)),
    (Node, False, True, '{"value": 1, "children": [{"value": 2, "children": null}]}', Node(value=1, children=[Node(value=2)])),
]
IDS = [
    "model",
    "dataclass",
    "typeddict",
    "list-model",
    "literal",
    "enum",
    "int",
    "float",
    "bool",
    "dict",
    "nested",
    "defaults",
    "recursive",
]


def _objects(node: Any) -> list[dict[str, Any]]:
    """Every object schema inside a schema."""
    found = []
    if isinstance(node, dict):
        if node.get("type") == "object" or "properties" in node:
            found.append(node)
        for value in node.values():
            found += _objects(value)
    elif isinstance(node, list):
        for value in node:
            found += _objects(value)
    return found


def _has_key(node: Any, key: str) -> bool:
    if isinstance(node, dict):
        return (
            key in node
            or any(_has_key(v, key) for k, v in node.items() if k not in ("properties", "$defs"))
            or any(_has_key(v, key) for k in ("properties", "$defs") for v in node.get(k, {}).values())
        )
    return isinstance(node, list) and any(_has_key(v, key) for v in node)


# --- the wire schema ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["native", "tool"])
@pytest.mark.parametrize(("output_type", "wrapped", "strict", "answer", "expected"), CASES, ids=IDS)
def test_wire_schema_shape(output_type: Any, wrapped: bool, strict: bool, answer: str, expected: Any, mode: str) -> None:
    schema = OutputSchema(output_type, mode=mode)  # type: ignore[arg-type]
    wire = schema.format.schema
    jsonschema.Draft202012Validator.check_schema(wire)
    assert wire["type"] == "object"
    assert schema.wrapped is wrapped
    assert schema.strict is strict
    assert schema.format.strict is strict
    assert not _has_key(wire, "title")  # pydantic's titles are noise on the wire
    if wrapped:
        assert wire["properties"].keys() == {"result"}
        assert wire["required"] == ["result"]
        assert wire["additionalProperties"] is False
    if strict:
        for obj in _objects(wire):
            assert obj["additionalProperties"] is False, obj
            assert sorted(obj["required"]) == sorted(obj["properties"]), obj
        assert not _has_key(wire, "default")
    # the answer is accepted by what the provider was told, and parses to the typed value
    jsonschema.validate(json.loads(answer), wire)
    assert schema.parse(answer) == expected


@pytest.mark.parametrize(("output_type", "wrapped", "strict", "answer", "expected"), CASES, ids=IDS)
def test_forced_non_strict_schema_is_valid_too(output_type: Any, wrapped: bool, strict: bool, answer: str, expected: Any) -> None:
    schema = OutputSchema(output_type, strict=False)
    assert schema.strict is False and schema.format.strict is False
    jsonschema.Draft202012Validator.check_schema(schema.format.schema)
    assert schema.wrapped is wrapped


def test_parsed_values_have_the_right_python_types() -> None:
    assert type(OutputSchema(Point).parse('{"x": 1, "y": 2, "label": "p"}')) is Point
    assert type(OutputSchema(Point, strict=False).parse('{"x": 1, "y": 2}')) is Point
    assert OutputSchema(Point).parse('{"x": 1, "y": 2, "label": null}').label == "origin"
    people = OutputSchema(list[Person]).parse('{"result": [{"name": "A", "age": 1, "email": null, "tags": null}]}')
    assert isinstance(people, list) and isinstance(people[0], Person)
    assert OutputSchema(Color).parse('{"result": "red"}') is Color.RED
    assert type(OutputSchema(float).parse('{"result": 3}')) is float


def test_wrapped_schema_carries_defs_at_the_root() -> None:
    wire = OutputSchema(list[Person]).format.schema
    assert wire["properties"]["result"] == {"type": "array", "items": {"$ref": "#/$defs/Person"}}
    assert "Person" in wire["$defs"]
    assert "$defs" not in wire["properties"]["result"]


def test_primitive_wire_schemas() -> None:
    assert OutputSchema(int).format.schema["properties"]["result"] == {"type": "integer"}
    assert OutputSchema(Literal["yes", "no"]).format.schema["properties"]["result"]["enum"] == ["yes", "no"]
    assert OutputSchema(Color).format.schema["properties"]["result"] == {"enum": ["red", "green"], "type": "string"}


def test_strict_makes_optional_fields_required_and_nullable() -> None:
    wire = OutputSchema(Settings).format.schema
    assert wire["required"] == ["level", "mode", "note"]
    assert wire["properties"]["level"] == {"type": ["integer", "null"]}
    assert {"type": "null"} in wire["properties"]["mode"]["anyOf"]


def test_non_strict_schema_keeps_defaults_and_optional_fields() -> None:
    schema = OutputSchema(Settings, strict=False)
    wire = schema.format.schema
    assert "required" not in wire or wire["required"] == []
    assert wire["properties"]["level"] == {"type": "integer", "default": 3}


def test_strict_falls_back_for_free_form_dicts() -> None:
    schema = OutputSchema(dict[str, int])
    assert schema.strict is False
    assert schema.format.schema == {"type": "object", "additionalProperties": {"type": "integer"}}
    assert schema.parse('{"x": 1}') == {"x": 1}


@pytest.mark.parametrize("output_type", [dict[str, int], tuple[int, str], Union[dict[str, int], None]])
def test_strict_true_on_a_type_that_cannot_be_strict_raises(output_type: Any) -> None:
    with pytest.raises(UserError, match="cannot be strict"):
        OutputSchema(output_type, strict=True)


def test_strict_true_on_a_strict_capable_type() -> None:
    assert OutputSchema(Person, strict=True).strict is True
    assert OutputSchema(list[int], strict=True).format.strict is True


def test_bad_mode_and_undescribable_types_are_user_errors() -> None:
    with pytest.raises(UserError, match="output_mode"):
        OutputSchema(Person, mode="json")  # type: ignore[arg-type]

    class Opaque:
        pass

    with pytest.raises(UserError, match="cannot be described as JSON schema"):
        OutputSchema(Opaque)


def test_names() -> None:
    assert OutputSchema(Person).name == "Person"
    assert OutputSchema(Person).format.name == "Person"
    assert OutputSchema(Person, mode="tool").name == "final_result"
    assert OutputSchema(Person, name="my answer!").name == "my_answer_"
    assert len(OutputSchema(Person, name="x" * 100).name) == 64
    assert OutputSchema(Person, name="").name == "Person"


def test_description_comes_from_the_docstring() -> None:
    assert OutputSchema(Person).format.description == "A person the user asked about."
    assert OutputSchema(int).format.description is None
    definition = OutputSchema(Person, mode="tool").tool_definition
    assert definition is not None
    assert definition.description.startswith("Give your final answer by calling this tool.")
    assert "A person the user asked about." in definition.description


def test_tool_definition_only_in_tool_mode() -> None:
    assert OutputSchema(Person).tool_definition is None
    strict = OutputSchema(Person, mode="tool")
    assert strict.tool_definition is not None
    assert strict.tool_definition.name == "final_result"
    assert strict.tool_definition.parameters == strict.format.schema
    assert strict.tool_definition.strict is True
    loose = OutputSchema(dict[str, int], mode="tool").tool_definition
    assert loose is not None and loose.strict is None


def test_recursive_model_is_an_object_at_the_root() -> None:
    schema = OutputSchema(Node)
    wire = schema.format.schema
    assert not schema.wrapped
    assert wire["properties"]["children"]["items"] == {"$ref": "#/$defs/Node"}
    assert schema.format.description == "A tree."
    tree = schema.parse('{"value": 1, "children": [{"value": 2, "children": [{"value": 3, "children": []}]}]}')
    assert tree.children[0].children[0].value == 3


# --- parse -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '```json\n{"result": 5}\n```',
        '```\n{"result": 5}\n```',
        '```JSON\n{"result": 5}```',
        '\n  ```json\n{"result": 5}\n```  \n',
        '  {"result": 5}  ',
    ],
)
def test_parse_tolerates_fences_and_whitespace(text: str) -> None:
    assert OutputSchema(int).parse(text) == 5


@pytest.mark.parametrize("text", [None, "", "   \n"])
def test_parse_empty_answer(text: str | None) -> None:
    with pytest.raises(OutputInvalid) as info:
        OutputSchema(Person).parse(text)
    assert info.value.errors == ["The answer was empty; a JSON value matching the schema is required."]


@pytest.mark.parametrize("text", ['{"name": "Ada", ', "Ada is 36.", '{"name": "A"} and more', "```json\n{oops}\n```"])
def test_parse_invalid_json(text: str) -> None:
    with pytest.raises(OutputInvalid) as info:
        OutputSchema(Person).parse(text)
    [message] = info.value.errors
    assert message.startswith("The answer is not valid JSON (")
    assert "line 1 column" in message


def test_parse_schema_errors_name_paths() -> None:
    text = json.dumps(
        {
            "id": "seven",
            "customer": {"name": "B", "age": "old", "email": None, "tags": []},
            "items": [{"sku": 5, "qty": 1}],
            "shipping": None,
        }
    )
    with pytest.raises(OutputInvalid) as info:
        OutputSchema(Order).parse(text)
    errors = info.value.errors
    assert "id: 'seven' is not of type 'integer'" in errors
    assert any(e.startswith("customer.age: 'old' is not of type 'integer'") for e in errors)
    assert "items.0.sku: 5 is not of type 'string'" in errors
    assert len(errors) == 3


def test_parse_missing_and_extra_fields() -> None:
    with pytest.raises(OutputInvalid) as info:
        OutputSchema(Person).parse('{"name": "A", "email": null, "tags": [], "nick": "a"}')
    errors = info.value.errors
    assert "(root): 'age' is a required property" in errors
    assert any(e.startswith("(root): Additional properties are not allowed ('nick' was unexpected)") for e in errors)


def test_parse_optional_field_errors_point_at_the_real_option() -> None:
    """A nullable option fails: the message says what the non-null option wanted, not "any of"."""
    with pytest.raises(OutputInvalid) as info:
        OutputSchema(Settings).parse('{"level": 1, "mode": "medium", "note": 5}')
    assert info.value.errors == ["mode: 'medium' is not one of ['fast', 'slow']", "note: 5 is not of type 'string'"]
    with pytest.raises(OutputInvalid) as info:
        OutputSchema(Order).parse(
            '{"id": 1, "customer": {"name": "a", "age": 1, "email": null, "tags": []}, "items": [], "shipping": {"street": 1}}'
        )
    assert sorted(info.value.errors) == ["shipping.street: 1 is not of type 'string'", "shipping: 'city' is a required property"]


def test_parse_wrapped_value_errors() -> None:
    with pytest.raises(OutputInvalid) as info:
        OutputSchema(int).parse("5")
    assert info.value.errors == ["(root): 5 is not of type 'object'"]
    with pytest.raises(OutputInvalid) as info:
        OutputSchema(int).parse('{"result": "5"}')
    assert info.value.errors == ["result: '5' is not of type 'integer'"]
    with pytest.raises(OutputInvalid) as info:
        OutputSchema(list[Person]).parse('{"result": [{"name": "a", "age": -1, "email": null, "tags": []}]}')
    assert info.value.errors == ["result.0.age: -1 is less than the minimum of 0"]


def test_parse_pydantic_validator_errors_are_clear() -> None:
    with pytest.raises(OutputInvalid) as info:
        OutputSchema(Positive).parse('{"value": -3}')
    assert info.value.errors == ["value: Value error, value must be positive, e.g. 1 (got -3)"]
    with pytest.raises(OutputInvalid) as info:
        OutputSchema(list[Positive]).parse('{"result": [{"value": 1}, {"value": 0}]}')
    assert info.value.errors == ["result.1.value: Value error, value must be positive, e.g. 1 (got 0)"]
    assert str(info.value) == "result.1.value: Value error, value must be positive, e.g. 1 (got 0)"


def test_parse_errors_are_capped() -> None:
    answer = json.dumps({"result": [{"value": "x"}] * 30})
    with pytest.raises(OutputInvalid) as info:
        OutputSchema(list[Positive]).parse(answer)
    assert len(info.value.errors) == 20
    assert all(len(e) <= 500 for e in info.value.errors)


def test_strict_null_for_optional_field_with_default_uses_the_default() -> None:
    value = OutputSchema(Settings).parse('{"level": null, "mode": null, "note": null}')
    assert value.level == 3
    assert value.mode == "fast"
    assert value.note is None  # the field accepts None, so None is what the model meant
    nested = OutputSchema(list[Item]).parse('{"result": [{"sku": "a", "qty": null}, {"sku": "b", "qty": 4}]}')
    assert [i.qty for i in nested] == [1, 4]
    point = OutputSchema(Point).parse('{"x": 0, "y": 0, "label": null}')
    assert point.label == "origin"


def test_null_is_rejected_when_not_strict() -> None:
    with pytest.raises(OutputInvalid) as info:
        OutputSchema(Settings, strict=False).parse('{"level": null}')
    assert info.value.errors == ["level: None is not of type 'integer'"]
    assert OutputSchema(Settings, strict=False).parse("{}") == Settings()


def test_strict_pydantic_models_accept_json_values() -> None:
    from datetime import date

    class Strict(BaseModel, strict=True):
        color: Color
        day: date
        pair: tuple[int, int]

    value = OutputSchema(Strict, strict=False).parse('{"color": "red", "day": "2024-05-01", "pair": [1, 2]}')
    assert value == Strict(color=Color.RED, day=date(2024, 5, 1), pair=(1, 2))


# --- retry prompts ---------------------------------------------------------------------------


def test_retry_prompt_native() -> None:
    prompt = OutputSchema(Person).retry_prompt(["age: 'x' is not of type 'integer'", "- name: required"])
    assert prompt == (
        "Your answer did not match the required output schema:\n"
        "- age: 'x' is not of type 'integer'\n"
        "- name: required\n"
        "Answer again with only the corrected JSON."
    )
    assert "tool" not in prompt


def test_retry_prompt_tool_mode_names_the_tool() -> None:
    prompt = OutputSchema(Person, mode="tool").retry_prompt(["age: bad"])
    assert prompt.endswith("Call the 'final_result' tool again with corrected arguments.")
    assert "- age: bad" in prompt
    assert "only the corrected JSON" not in prompt
    named = OutputSchema(Person, mode="tool", name="submit").retry_prompt(["x"])
    assert "Call the 'submit' tool again" in named


# --- through the agent: native mode -----------------------------------------------------------

GOOD = '{"name": "Ada", "age": 36, "email": null, "tags": []}'
BAD = '{"name": "Ada", "age": "thirty-six", "email": null, "tags": []}'


async def test_native_mode_sends_output_format() -> None:
    model = ScriptedModel([GOOD])
    result = await Agent(model, output_type=Person).run("Who?")
    assert result.output == Person(name="Ada", age=36)
    [request] = model.requests
    assert isinstance(request.output, OutputFormat)
    assert request.output == OutputSchema(Person).format
    assert request.output.strict is True
    assert request.output_tool is None
    assert request.tools == ()


async def test_native_mode_plain_str_agent_sends_no_output_format() -> None:
    model = ScriptedModel(["hi"])
    result = await Agent(model).run("Hi")
    assert result.output == "hi"
    assert model.requests[0].output is None


async def test_native_invalid_answer_is_re_asked_then_accepted() -> None:
    model = ScriptedModel([BAD, "```json\n" + GOOD + "\n```"])
    result = await Agent(model, output_type=Person).run("Who?")
    assert result.output == Person(name="Ada", age=36)
    assert result.turns == 2
    assert result.usage.requests == 2
    second = model.requests[1].messages
    assert isinstance(second[-2], AssistantMessage) and second[-2].content == BAD
    assert isinstance(second[-1], UserMessage)
    assert second[-1].content == OutputSchema(Person).retry_prompt(["age: 'thirty-six' is not of type 'integer'"])
    assert [m.role for m in result.messages] == ["user", "assistant", "user", "assistant"]


async def test_native_pydantic_failure_is_re_asked() -> None:
    model = ScriptedModel(['{"value": 0}', '{"value": 2}'])
    result = await Agent(model, output_type=Positive).run("n?")
    assert result.output == Positive(value=2)
    assert "value must be positive" in str(model.requests[1].messages[-1].content)


async def test_native_wrapped_output_through_the_agent() -> None:
    model = ScriptedModel(['{"result": [1, 2, 3]}'])
    result = await Agent(model, output_type=list[int]).run("n?")
    assert result.output == [1, 2, 3]
    assert model.requests[0].output is not None
    assert model.requests[0].output.schema["required"] == ["result"]


async def test_native_strict_null_default_through_the_agent() -> None:
    model = ScriptedModel(['{"level": null, "mode": "slow", "note": "x"}'])
    result = await Agent(model, output_type=Settings).run("s?")
    assert result.output == Settings(level=3, mode="slow", note="x")


async def test_native_refusal_is_re_asked() -> None:
    model = ScriptedModel([AssistantMessage(refusal="I can't help with that."), GOOD])
    result = await Agent(model, output_type=Person).run("Who?")
    assert result.output.name == "Ada"
    assert "The model refused: I can't help with that." in str(model.requests[1].messages[-1].content)


async def test_native_empty_answer_is_re_asked() -> None:
    model = ScriptedModel(["", GOOD])
    result = await Agent(model, output_type=Person).run("Who?")
    assert result.output.age == 36
    assert "The answer was empty" in str(model.requests[1].messages[-1].content)


async def test_native_gives_up_after_output_retries() -> None:
    answers = ["not json", '{"name": 1}', BAD]
    model = ScriptedModel(answers)
    with pytest.raises(OutputValidationError) as info:
        await Agent(model, output_type=Person).run("Who?")  # output_retries defaults to 2
    error = info.value
    assert len(model.requests) == 3 and model.remaining == 0
    assert error.raw_text == BAD
    assert error.errors == ["age: 'thirty-six' is not of type 'integer'"]
    assert "after 2 re-asks" in str(error)
    assert [m.role for m in error.messages] == ["user", "assistant", "user", "assistant", "user", "assistant"]
    assert [m.content for m in error.messages if isinstance(m, AssistantMessage)] == answers
    assert error.usage is not None and error.usage.requests == 3


@pytest.mark.parametrize("retries", [0, 1, 3])
async def test_output_retries_budget(retries: int) -> None:
    model = ScriptedModel(["nope"] * (retries + 1) + [GOOD])
    with pytest.raises(OutputValidationError) as info:
        await Agent(model, output_type=Person, output_retries=retries).run("Who?")
    assert len(model.requests) == retries + 1
    assert model.remaining == 1
    assert info.value.raw_text == "nope"
    assert info.value.errors[0].startswith("The answer is not valid JSON")


async def test_output_retries_count_the_whole_run() -> None:
    """Failures are not reset by a successful tool call in between."""

    @tool
    def lookup(q: str) -> str:
        return "data"

    model = ScriptedModel(["bad", reply(None, tool_call("lookup", {"q": "x"})), "bad", GOOD])
    with pytest.raises(OutputValidationError):
        await Agent(model, tools=[lookup], output_type=Person, output_retries=1).run("Who?")
    assert len(model.requests) == 3


def test_agent_output_strict_true_on_dict_is_a_user_error() -> None:
    with pytest.raises(UserError, match="cannot be strict"):
        Agent(ScriptedModel([]), output_type=dict[str, int], output_strict=True)


async def test_agent_output_strict_false_sends_non_strict_schema() -> None:
    model = ScriptedModel(['{"level": 5}'])
    result = await Agent(model, output_type=Settings, output_strict=False).run("s?")
    assert result.output == Settings(level=5)
    assert model.requests[0].output is not None and model.requests[0].output.strict is False


# --- through the agent: tool mode ------------------------------------------------------------


async def test_tool_mode_offers_final_result_tool() -> None:
    model = ScriptedModel([reply(None, tool_call("final_result", json.loads(GOOD)))])
    agent = Agent(model, output_type=Person, output_mode="tool")
    result = await agent.run("Who?")
    assert result.output == Person(name="Ada", age=36)
    [request] = model.requests
    assert request.output is None
    assert request.output_tool == "final_result"
    [definition] = request.tools
    assert definition == OutputSchema(Person, mode="tool").tool_definition
    assert definition.strict is True
    assert isinstance(result.messages[-1], ToolMessage)
    assert result.messages[-1].content == "Final result received."
    assert result.messages[-1].is_error is False


async def test_tool_mode_text_answer_is_re_asked() -> None:
    model = ScriptedModel(["Ada, 36.", reply(None, tool_call("final_result", json.loads(GOOD)))])
    result = await Agent(model, output_type=Person, output_mode="tool").run("Who?")
    assert result.output.name == "Ada"
    reask = model.requests[1].messages[-1]
    assert isinstance(reask, UserMessage)
    assert "Call the 'final_result' tool" in str(reask.content)


async def test_tool_mode_invalid_arguments_are_answered_with_a_tool_message() -> None:
    bad = tool_call("final_result", {"name": "Ada", "age": -1, "email": None, "tags": []}, id="c1")
    model = ScriptedModel([reply(None, bad), reply(None, tool_call("final_result", json.loads(GOOD)))])
    result = await Agent(model, output_type=Person, output_mode="tool").run("Who?")
    assert result.output.age == 36
    answer = model.requests[1].messages[-1]
    assert isinstance(answer, ToolMessage)
    assert answer.tool_call_id == "c1"
    assert answer.is_error is True
    assert "age: -1 is less than the minimum of 0" in answer.content
    assert "Call the 'final_result' tool again with corrected arguments." in answer.content


async def test_tool_mode_invalid_json_arguments_then_give_up() -> None:
    model = ScriptedModel([reply(None, tool_call("final_result", "{not json"))] * 2)
    with pytest.raises(OutputValidationError) as info:
        await Agent(model, output_type=Person, output_mode="tool", output_retries=1).run("Who?")
    assert info.value.raw_text == "{not json"
    assert info.value.errors[0].startswith("The answer is not valid JSON")
    assert len(model.requests) == 2


async def test_tool_mode_valid_final_result_skips_other_calls_in_the_same_turn() -> None:
    calls: list[str] = []

    @tool
    def send_email(to: str) -> str:
        calls.append(to)
        return "sent"

    model = ScriptedModel(
        [reply(None, tool_call("send_email", {"to": "a@b.c"}, id="e1"), tool_call("final_result", json.loads(GOOD), id="f1"))]
    )
    result = await Agent(model, tools=[send_email], output_type=Person, output_mode="tool").run("Go")
    assert result.output.name == "Ada"
    assert calls == []
    assert result.usage.tool_calls == 0
    results = {m.tool_call_id: m for m in result.messages if isinstance(m, ToolMessage)}
    assert results["e1"].content == "Not executed: the final result was given in the same turn."
    assert results["f1"].content == "Final result received."
    assert [m.tool_call_id for m in result.messages if isinstance(m, ToolMessage)] == ["e1", "f1"]  # call order


async def test_tool_mode_other_tools_run_when_the_final_result_is_invalid() -> None:
    calls: list[str] = []

    @tool
    def lookup(q: str) -> str:
        calls.append(q)
        return "found"

    model = ScriptedModel(
        [
            reply(None, tool_call("lookup", {"q": "x"}), tool_call("final_result", {"name": "A"})),
            reply(None, tool_call("final_result", json.loads(GOOD))),
        ]
    )
    result = await Agent(model, tools=[lookup], output_type=Person, output_mode="tool").run("Go")
    assert calls == ["x"]
    assert result.output.name == "Ada"
    assert result.usage.tool_calls == 1
    assert len(model.requests[1].tools) == 2


async def test_tool_mode_only_the_first_final_result_counts() -> None:
    first = tool_call("final_result", json.loads(GOOD), id="f1")
    second = tool_call("final_result", {"name": "Bob", "age": 1, "email": None, "tags": []}, id="f2")
    model = ScriptedModel([reply(None, first, second)])
    result = await Agent(model, output_type=Person, output_mode="tool").run("Go")
    assert result.output.name == "Ada"
    ignored = [m for m in result.messages if isinstance(m, ToolMessage) and m.tool_call_id == "f2"]
    assert ignored[0].is_error and "ignored" in ignored[0].content


async def test_tool_mode_after_a_normal_tool_turn() -> None:
    @tool
    def lookup(q: str) -> str:
        return f"info about {q}"

    model = ScriptedModel(
        [reply(None, tool_call("lookup", {"q": "Ada"})), reply(None, tool_call("final_result", {"result": [1, 2]}))]
    )
    result = await Agent(model, tools=[lookup], output_type=list[int], output_mode="tool").run("Go")
    assert result.output == [1, 2]
    assert model.requests[1].messages[-1].content == "info about Ada"


def test_tool_mode_name_collision_is_a_user_error() -> None:
    @tool
    def final_result(x: int) -> int:
        return x

    with pytest.raises(UserError, match="final_result"):
        Agent(ScriptedModel([]), tools=[final_result], output_type=Person, output_mode="tool")


def test_strict_output_accepts_answers_that_leave_optional_fields_out():
    """Servers that don't enforce strict schemas may omit optional fields: the type's defaults apply."""

    class Review(BaseModel):
        text: str
        score: int = 5
        note: Optional[str] = "none"
        tags: list[str] = []

    output = OutputSchema(Review)
    assert output.strict and output.wire_schema["required"] == ["text", "score", "note", "tags"]
    assert output.parse('{"text": "ok"}') == Review(text="ok")
    assert output.parse('{"text": "ok", "score": null, "note": null}') == Review(text="ok", note=None)
    with pytest.raises(OutputInvalid, match="'nick' was unexpected"):
        output.parse('{"text": "ok", "nick": 1}')
    with pytest.raises(OutputInvalid, match="'text' is a required property"):
        output.parse('{"score": 1}')
