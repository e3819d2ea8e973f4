"""Tools → JSON schema: building tools, schemas, docstrings, strict mode, argument validation, calling."""

import asyncio
import dataclasses
import datetime
import decimal
import enum
import functools
import inspect
import json
import pathlib
import re
import socket
import sys
import threading
import typing
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal, Optional, Union

import jsonschema
import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import NotRequired, TypedDict

import agentkit.tools as tools_module
from agentkit import Agent, RunContext, Tool, ToolDefinition, ToolDefinitionError, UserError, tool
from agentkit.testing import ScriptedModel, reply, tool_call
from agentkit.tools import ToolArgumentsError, serialize_result
from tests import tools_future_helper as future

# --- shared types ----------------------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Point(BaseModel):
    x: int
    y: int


class Options(BaseModel):
    limit: int = 10
    label: Optional[str] = "default-label"
    tags: list[str] = Field(default_factory=lambda: ["t"])


@dataclasses.dataclass
class Pair:
    left: str
    right: int = 7


class Movie(TypedDict):
    title: str
    year: NotRequired[int]


class Node(BaseModel):
    value: int
    label: str = "leaf"
    next: Optional["Node"] = None
    children: list["Node"] = Field(default_factory=list, description="Child nodes.")


class Arbitrary:
    pass


def ctx(deps: Any = None) -> RunContext[Any]:
    return RunContext(deps=deps, tool_name="t", tool_call_id="call_1")


def probe(annotation: Any, default: Any = inspect.Parameter.empty, *, strict: bool | None = None) -> Tool[Any, Any]:
    """A one-parameter tool ``probe(x: <annotation> [= default])`` returning x."""

    def fn(x):  # type: ignore[no-untyped-def]
        return x

    fn.__annotations__ = {"x": annotation}
    if default is not inspect.Parameter.empty:
        fn.__defaults__ = (default,)
    return Tool(fn, name="probe", strict=strict)


STRICT_KEYWORDS = {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "anyOf",
    "enum",
    "const",
    "description",
    "$defs",
    "$ref",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
}


def schema_nodes(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """Every subschema (not property names, not enum values or defaults)."""
    found = [schema]
    for key in ("properties", "$defs"):
        for sub in schema.get(key, {}).values():
            found += schema_nodes(sub)
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for sub in schema.get(key, []):
            found += schema_nodes(sub)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            found += schema_nodes(schema[key])
    return found


def assert_strict_subset(schema: dict[str, Any]) -> None:
    """Every node is in OpenAI's strict subset: closed objects, all required, typed, no default."""

    def walk(node: Any, path: str) -> None:
        assert isinstance(node, dict), path
        unknown = set(node) - STRICT_KEYWORDS
        assert not unknown, f"{path}: keywords outside the strict subset: {unknown}"
        assert any(k in node for k in ("type", "anyOf", "$ref", "enum", "const")), f"{path}: untyped schema {node}"
        kind = node.get("type")
        if kind == "object" or (isinstance(kind, list) and "object" in kind) or "properties" in node:
            assert node.get("additionalProperties") is False, f"{path}: object not closed"
            assert sorted(node.get("required", [])) == sorted(node.get("properties", {})), f"{path}: not all required"
        for name, sub in node.get("properties", {}).items():
            walk(sub, f"{path}.{name}")
        for name, sub in node.get("$defs", {}).items():
            walk(sub, f"{path}.$defs.{name}")
        for i, sub in enumerate(node.get("anyOf", [])):
            walk(sub, f"{path}.anyOf[{i}]")
        if "items" in node:
            walk(node["items"], f"{path}[]")

    walk(schema, "$")
    jsonschema.Draft202012Validator.check_schema(schema)


# --- building tools ----------------------------------------------------------------------------


def test_bare_decorator_builds_definition_and_stays_callable() -> None:
    @tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    assert isinstance(add, Tool)
    assert add(2, 3) == 5
    assert add(a=1, b=1) == 2
    assert add.name == "add" and add.__name__ == "add"
    assert add.__doc__ == "Add two numbers."
    assert add.retries is None and add.strict is None and add.is_async is False and add.takes_ctx is False
    assert add.definition == ToolDefinition(
        name="add",
        description="Add two numbers.",
        parameters={
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
            "additionalProperties": False,
        },
        strict=None,
    )
    assert repr(add) == "Tool('add')"
    with pytest.raises(dataclasses.FrozenInstanceError):
        add.definition.name = "other"  # type: ignore[misc]


def test_decorator_with_options() -> None:
    @tool(name="sum-two", description="Custom description.", strict=True, retries=4)
    def add(a: int, b: int = 0) -> int:
        """Docstring that is overridden."""
        return a + b

    assert add.name == "sum-two" and add.definition.name == "sum-two"
    assert add.description == add.definition.description == "Custom description."
    assert add.strict is True and add.definition.strict is True
    assert add.retries == 4
    assert add.__name__ == "add"  # the wrapped function keeps its own name
    assert add(1) == 1


def test_decorator_with_empty_parentheses() -> None:
    @tool()
    def ping() -> str:
        return "pong"

    assert ping.name == "ping" and ping() == "pong"
    assert ping.definition.parameters == {"type": "object", "properties": {}, "additionalProperties": False}


def test_tool_constructor_matches_decorator() -> None:
    def mul(a: float, b: float = 2.0) -> float:
        """Multiply."""
        return a * b

    built = Tool(mul, strict=False, retries=0)
    assert built.definition == ToolDefinition("mul", "Multiply.", tool(mul).definition.parameters, False)
    assert built.retries == 0
    assert built(3.0) == 6.0
    assert built.__wrapped__ is mul


def test_strict_false_sends_false_and_keeps_schema() -> None:
    def f(a: int = 1) -> int:
        return a

    assert Tool(f, strict=False).definition.strict is False
    assert Tool(f, strict=False).definition.parameters == Tool(f).definition.parameters
    assert "default" in Tool(f, strict=False).definition.parameters["properties"]["a"]


async def test_async_function_tool() -> None:
    @tool
    async def fetch(url: str) -> str:
        """Fetch a URL."""
        await asyncio.sleep(0)
        return f"got {url}"

    assert fetch.is_async
    assert await fetch("x") == "got x"  # still awaitable like the function
    assert await fetch.call('{"url": "u"}', ctx()) == "got u"
    assert fetch.definition.parameters["required"] == ["url"]


def test_tool_of_tool_applies_new_options() -> None:
    """Regression: update_wrapper copied the inner tool's __dict__, silently keeping its name and schema."""

    @tool
    def base(a: int) -> int:
        return a

    renamed = Tool(base, name="renamed", strict=True, retries=2)
    assert renamed.name == "renamed" and renamed.definition.name == "renamed"
    assert renamed.definition.strict is True and renamed.retries == 2
    assert renamed.function is base.function
    assert base.name == "base" and base.definition.strict is None


def test_function_attributes_do_not_override_tool_attributes() -> None:
    """Regression: attributes set on the function (by another decorator) overwrote the Tool's own."""

    def f(y: int) -> int:
        return y

    f.name = "hijacked"  # type: ignore[attr-defined]
    f.description = "hijacked"  # type: ignore[attr-defined]
    f.definition = None  # type: ignore[attr-defined]
    t = Tool(f)
    assert t.name == "f" and t.description == "" and t.definition.name == "f"


async def test_bound_method_tool() -> None:
    class Counter:
        def __init__(self) -> None:
            self.total = 0

        def add(self, amount: int) -> int:
            """Add to the counter.

            Args:
                amount: how much to add.
            """
            self.total += amount
            return self.total

        async def aadd(self, amount: int) -> int:
            self.total += amount
            return self.total

    counter = Counter()
    t = Tool(counter.add)
    assert t.name == "add"
    assert t.definition.parameters == {
        "type": "object",
        "properties": {"amount": {"type": "integer", "description": "how much to add."}},
        "required": ["amount"],
        "additionalProperties": False,
    }
    assert t(2) == 2
    assert await t.call('{"amount": 3}', ctx()) == 5
    at = Tool(counter.aadd)
    assert at.is_async and "self" not in at.definition.parameters["properties"]
    assert await at.call('{"amount": 10}', ctx()) == 15
    assert counter.total == 15


async def test_tool_in_class_body_binds_to_instances() -> None:
    class Shop:
        def __init__(self, currency: str) -> None:
            self.currency = currency

        @tool
        def price(self, item: str, qty: int = 1) -> str:
            """Price of an item.

            Args:
                item: the item.
                qty: how many.
            """
            return f"{qty} {item} = {qty * 2} {self.currency}"

        @tool(name="async_price", strict=True)
        async def aprice(self, ctx: RunContext[Any], item: str) -> str:
            return f"{item} {self.currency} {ctx.deps}"

    eur, usd = Shop("EUR"), Shop("USD")
    assert isinstance(Shop.price, Tool) and Shop.price.method_self
    bound = eur.price
    assert isinstance(bound, Tool) and not bound.method_self
    assert "self" not in bound.definition.parameters["properties"]
    assert bound.definition.parameters["required"] == ["item"]
    assert bound.definition.parameters["properties"]["item"] == {"type": "string", "description": "the item."}
    assert bound("apple", 2) == "2 apple = 4 EUR"
    assert Shop.price(usd, "pear") == "1 pear = 2 USD"  # via the class: like the plain function
    assert await eur.price.call('{"item": "fig"}', ctx()) == "1 fig = 2 EUR"
    assert await usd.price.call('{"item": "fig", "qty": 3}', ctx()) == "3 fig = 6 USD"
    # bound once per access, schema shared (never rebuilt)
    assert eur.price.definition is usd.price.definition is Shop.price.definition
    # inspect sees the bound signature (regression: __wrapped__ pointed to the unbound function)
    assert list(inspect.signature(eur.price).parameters) == ["item", "qty"]
    # async method with RunContext, strict
    assert eur.aprice.is_async and eur.aprice.takes_ctx and eur.aprice.name == "async_price"
    assert eur.aprice.definition.parameters["properties"] == {"item": {"type": "string"}}
    assert await eur.aprice.call('{"item": "kiwi"}', ctx("deps!")) == "kiwi EUR deps!"
    # an agent accepts the bound tool as is
    agent = Agent(ScriptedModel(["ok"]), tools=[eur.price])
    assert agent.tools[0].name == "price"


class Warehouse:
    """Module level, so a method's ``__qualname__`` leads back to the class through the module."""

    def __init__(self, city: str = "Lyon") -> None:
        self.city = city

    def stock(self, item: str) -> str:
        """How many of an item are in stock."""
        return f"{item} in {self.city}"

    @tool
    def ship(self, item: str) -> str:
        return f"shipped {item} from {self.city}"

    @classmethod
    def opening_hours(cls, day: str) -> str:
        return f"{cls.__name__}: {day} 9-17"

    class Shelf:
        def label(self, row: int) -> str:
            return f"row {row}"


@pytest.mark.parametrize(
    "make",
    [
        lambda: Tool(Warehouse.stock),
        lambda: tool(Warehouse.stock),
        lambda: tool(name="stock")(Warehouse.stock),
        lambda: Tool(Warehouse.ship, name="ship_again"),  # the class-body tool read from the class, rewrapped
        lambda: Tool(Warehouse.Shelf.label),
    ],
    ids=["Tool", "@tool", "@tool(...)", "Tool(class-body tool)", "nested class"],
)
def test_a_method_taken_from_its_class_is_refused_at_decoration(make: Callable[[], Any]) -> None:
    # Today these tools are built without `self` and fail only when the model calls them.
    with pytest.raises(ToolDefinitionError, match=r"method taken from its class \(unbound\).*'self'") as info:
        make()
    assert isinstance(info.value, UserError)
    assert "instance." in str(info.value)


async def test_methods_of_instances_and_class_body_tools_still_work() -> None:
    house = Warehouse("Oslo")
    bound = Tool(house.stock)
    assert not bound.needs_binding and list(bound.definition.parameters["properties"]) == ["item"]
    assert await bound.call('{"item": "nails"}', ctx()) == "nails in Oslo"
    assert await house.ship.call('{"item": "nails"}', ctx()) == "shipped nails from Oslo"
    hours = Tool(Warehouse.opening_hours)  # a classmethod read from the class is bound to it
    assert not hours.needs_binding and await hours.call('{"day": "Mon"}', ctx()) == "Warehouse: Mon 9-17"


def test_needs_binding_says_whether_a_method_tool_still_lacks_its_instance() -> None:
    assert Warehouse.ship.needs_binding  # read from the class: no instance to bind
    assert Warehouse.__dict__["ship"].needs_binding
    assert not Warehouse().ship.needs_binding
    assert not Tool(Warehouse().stock).needs_binding

    @tool
    def plain(x: int) -> int:
        return x

    assert not plain.needs_binding
    assert not Tool.from_schema("s", "d", {"type": "object"}, lambda args: args).needs_binding

    def make_local_class() -> Any:
        class Counter:
            def add(self, n: int) -> int:
                return n

        return Counter

    # a class made inside a function cannot be found from its module: the tool says it needs binding
    # (an agent refuses it) instead of failing at decoration
    local = Tool(make_local_class().add)
    assert local.needs_binding and list(local.definition.parameters["properties"]) == ["n"]
    with pytest.raises(AttributeError):
        plain.needs_binding = True  # type: ignore[misc]


def test_a_class_defined_again_does_not_confuse_decoration(monkeypatch: pytest.MonkeyPatch) -> None:
    """While a class body runs, a class of the same name may exist already (a re-run module): not refused."""
    module = type(sys)("agentkit_test_redefined")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    source = (
        "from agentkit import tool\n"
        "class Store:\n"
        "    @tool\n"
        "    def find(self, item: str) -> str:\n"
        "        return 'first ' + item\n"
    )
    code = compile(source, "<redefined>", "exec")
    exec(code, module.__dict__)
    first = module.Store
    exec(code, module.__dict__)  # the body runs again while the first Store is still the module's
    assert module.Store is not first and module.Store.find.needs_binding
    assert module.Store().find("x") == "first x"
    with pytest.raises(ToolDefinitionError, match="unbound"):
        Tool(module.Store.find)
    # the replaced class's method can no longer be traced through the module: it needs binding, so an agent refuses it
    assert Tool(first.__dict__["find"].function).needs_binding


async def test_takes_context_says_whether_the_function_declares_a_run_context() -> None:
    @tool
    def with_ctx(ctx: RunContext[int], x: int) -> int:
        return ctx.deps + x

    @tool
    def positional_ctx(ctx: RunContext[Any], /, x: int) -> int:
        return x

    @tool
    def annotated_ctx(x: int, ctx: Annotated[RunContext[Any], "the run"]) -> int:
        return x

    @tool
    def without(x: int) -> int:
        return x

    assert with_ctx.takes_context and positional_ctx.takes_context and annotated_ctx.takes_context
    assert not without.takes_context
    assert not Tool.from_schema("s", "d", {"type": "object"}, lambda args: args).takes_context
    assert Warehouse().ship.takes_context is False
    with pytest.raises(AttributeError):
        without.takes_context = True  # type: ignore[misc]
    assert await with_ctx.call('{"x": 2}', ctx(40)) == 42


def test_callable_object_needs_a_name() -> None:
    class Doubler:
        def __call__(self, n: int) -> int:
            return 2 * n

    with pytest.raises(ToolDefinitionError, match="name="):
        Tool(Doubler())
    t = Tool(Doubler(), name="double")
    assert t.definition.parameters["properties"] == {"n": {"type": "integer"}}
    assert t(4) == 8


async def test_async_callable_object_and_partial() -> None:
    class Fetcher:
        async def __call__(self, url: str) -> str:
            return f"fetched {url}"

    t = Tool(Fetcher(), name="fetch")
    assert t.is_async
    assert t.definition.parameters["properties"] == {"url": {"type": "string"}}
    assert await t.call('{"url": "u"}', ctx()) == "fetched u"

    def scale(factor: int, value: float) -> float:
        return factor * value

    async def ascale(factor: int, value: float) -> float:
        return factor * value

    p = Tool(functools.partial(scale, 3), name="triple")
    assert not p.is_async and p.definition.parameters["required"] == ["value"]
    assert await p.call('{"value": 1.5}', ctx()) == 4.5
    ap = Tool(functools.partial(ascale, 2), name="double")
    assert ap.is_async and await ap.call('{"value": 2}', ctx()) == 4


def test_not_callable_is_rejected() -> None:
    with pytest.raises(ToolDefinitionError, match="not callable"):
        Tool(42, name="forty_two")  # type: ignore[arg-type]


# --- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["", "a b", "x" * 65, "héllo", "a.b", "a/b", "<lambda>", "name\n", "tool!", "über", "日本", "a\x00b", "tab\t"],
)
def test_bad_tool_names_rejected(name: str) -> None:
    def f() -> None:
        pass

    with pytest.raises(ToolDefinitionError) as info:
        Tool(f, name=name)
    assert repr(name) in str(info.value)
    assert "1-64 letters" in str(info.value)


@pytest.mark.parametrize("name", ["a", "A-b_9", "x" * 64, "get_weather", "-", "_"])
def test_good_tool_names_accepted(name: str) -> None:
    def f() -> None:
        pass

    assert Tool(f, name=name).definition.name == name


def test_lambda_needs_name() -> None:
    with pytest.raises(ToolDefinitionError, match=r"'<lambda>'.*name="):
        tool(lambda x: x)
    t = Tool(lambda: "hi", name="hi")
    assert t() == "hi" and t.definition.parameters["properties"] == {}


# --- parameter types ----------------------------------------------------------------------------

_DT = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
_UUID = uuid.UUID("12345678-1234-5678-1234-567812345678")

TYPE_CASES: list[tuple[str, Any, dict[str, Any] | None, Any, Any, Any]] = [
    # (id, annotation, expected property schema, valid JSON value, expected Python value, invalid JSON value)
    ("str", str, {"type": "string"}, "hi", "hi", 5),
    ("int", int, {"type": "integer"}, 3, 3, "abc"),
    ("float", float, {"type": "number"}, 1.5, 1.5, "x"),
    ("bool", bool, {"type": "boolean"}, True, True, "maybe"),
    ("none", None, {"type": "null"}, None, None, 1),
    ("list", list[int], {"type": "array", "items": {"type": "integer"}}, [1, 2], [1, 2], ["a"]),
    ("tuple_var", tuple[int, ...], {"type": "array", "items": {"type": "integer"}}, [1, 2], (1, 2), "x"),
    (
        "tuple_fixed",
        tuple[int, str],
        {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "minItems": 2, "maxItems": 2},
        [1, "a"],
        (1, "a"),
        [1],
    ),
    ("set", set[str], {"type": "array", "items": {"type": "string"}, "uniqueItems": True}, ["a", "b"], {"a", "b"}, 5),
    ("dict", dict[str, int], {"type": "object", "additionalProperties": {"type": "integer"}}, {"a": 1}, {"a": 1}, {"a": "x"}),
    ("literal", Literal["a", "b"], {"type": "string", "enum": ["a", "b"]}, "b", "b", "c"),
    ("literal_int", Literal[1, 2], {"type": "integer", "enum": [1, 2]}, 2, 2, 3),
    ("enum", Color, {"$ref": "#/$defs/Color"}, "red", Color.RED, "green"),
    ("optional", Optional[int], {"anyOf": [{"type": "integer"}, {"type": "null"}]}, None, None, "x"),
    ("union", Union[int, str], {"anyOf": [{"type": "integer"}, {"type": "string"}]}, "a", "a", [1]),
    ("pipe_union", int | None, {"anyOf": [{"type": "integer"}, {"type": "null"}]}, 4, 4, {}),
    (
        "annotated_range",
        Annotated[int, Field(description="From 1 to 5.", ge=1, le=5)],
        {"type": "integer", "minimum": 1, "maximum": 5, "description": "From 1 to 5."},
        3,
        3,
        9,
    ),
    ("annotated_pattern", Annotated[str, Field(pattern="^a+$")], {"type": "string", "pattern": "^a+$"}, "aa", "aa", "b"),
    ("model", Point, {"$ref": "#/$defs/Point"}, {"x": 1, "y": 2}, Point(x=1, y=2), {"x": 1}),
    ("dataclass", Pair, {"$ref": "#/$defs/Pair"}, {"left": "l"}, Pair("l", 7), {"right": 1}),
    ("typeddict", Movie, {"$ref": "#/$defs/Movie"}, {"title": "Heat"}, {"title": "Heat"}, {"year": 1995}),
    ("datetime", datetime.datetime, {"type": "string", "format": "date-time"}, "2024-01-02T03:04:05Z", _DT, "yesterday"),
    ("date", datetime.date, {"type": "string", "format": "date"}, "2024-01-02", datetime.date(2024, 1, 2), "2024-13-01"),
    ("uuid", uuid.UUID, {"type": "string", "format": "uuid"}, str(_UUID), _UUID, "nope"),
    ("decimal", decimal.Decimal, None, "1.10", decimal.Decimal("1.10"), "abc"),
    ("path", pathlib.Path, {"type": "string", "format": "path"}, "/tmp/x", pathlib.Path("/tmp/x"), 5),
    ("any", Any, {}, {"free": [1, "form"]}, {"free": [1, "form"]}, None),
]


@pytest.mark.parametrize(
    ("annotation", "expected", "good", "value", "bad"),
    [case[1:] for case in TYPE_CASES],
    ids=[case[0] for case in TYPE_CASES],
)
def test_parameter_types(annotation: Any, expected: dict[str, Any] | None, good: Any, value: Any, bad: Any) -> None:
    t = probe(annotation)
    schema = t.definition.parameters
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["required"] == ["x"]
    prop = schema["properties"]["x"]
    if expected is None:  # Decimal: number or numeric string
        assert [b["type"] for b in prop["anyOf"]] == ["number", "string"]
    else:
        assert prop == expected
    # the schema and the validator agree on a valid value
    jsonschema.Draft202012Validator(schema).validate({"x": good})
    args, kwargs = t.validate_arguments(json.dumps({"x": good}))
    assert args == [] and kwargs == {"x": value}
    assert type(kwargs["x"]) is type(value)
    if bad is not None:
        with pytest.raises(ToolArgumentsError) as info:
            t.validate_arguments(json.dumps({"x": bad}))
        assert "x" in info.value.message and "probe" in info.value.message


def test_nested_definitions_land_in_defs() -> None:
    @tool
    def place(p: Point, c: Color, pair: Pair, movie: Movie) -> None:
        pass

    defs = place.definition.parameters["$defs"]
    assert defs["Color"] == {"type": "string", "enum": ["red", "blue"]}
    assert defs["Point"] == {
        "type": "object",
        "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}},
        "required": ["x", "y"],
    }
    assert defs["Pair"]["properties"]["right"] == {"type": "integer", "default": 7}
    assert defs["Pair"]["required"] == ["left"]
    assert defs["Movie"]["required"] == ["title"]
    assert set(defs["Movie"]["properties"]) == {"title", "year"}


def test_defaults() -> None:
    @tool
    def search(query: str, limit: int = 5, lang: Optional[str] = None, exact: bool = False, tags: tuple[str, ...] = ()) -> Any:
        return query, limit, lang, exact, tags

    schema = search.definition.parameters
    assert schema["required"] == ["query"]
    assert schema["properties"]["limit"] == {"type": "integer", "default": 5}
    assert schema["properties"]["lang"] == {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}
    assert schema["properties"]["exact"] == {"type": "boolean", "default": False}
    assert schema["properties"]["tags"]["default"] == []
    expected = {"query": "q", "limit": 5, "lang": None, "exact": False, "tags": ()}
    assert search.validate_arguments('{"query": "q"}') == ([], expected)
    assert search.validate_arguments('{"query": "q", "limit": 1, "lang": "fr"}')[1]["limit"] == 1


def test_field_used_as_default_value() -> None:
    """Regression: ``x: int = Field(3, ...)`` passed the FieldInfo object itself to the function."""

    def f(
        x: int = Field(3, description="How many.", ge=1),
        y: str = Field(description="Required, described."),
    ) -> Any:
        """Doc.

        Args:
            x: docstring text that loses to Field(description=...).
        """
        return x, y

    t = Tool(f)
    props = t.definition.parameters["properties"]
    assert props["x"] == {"type": "integer", "default": 3, "minimum": 1, "description": "How many."}
    assert props["y"] == {"type": "string", "description": "Required, described."}
    assert t.definition.parameters["required"] == ["y"]
    assert t.validate_arguments('{"y": "s"}') == ([], {"x": 3, "y": "s"})
    with pytest.raises(ToolArgumentsError, match="greater than or equal to 1"):
        t.validate_arguments('{"x": 0, "y": "s"}')


@pytest.mark.parametrize("kind", ["*args", "**kwargs"])
def test_var_args_rejected_at_decoration(kind: str) -> None:
    def star(a: int, *args: int) -> None:
        pass

    def double_star(a: int, **kwargs: int) -> None:
        pass

    target = star if kind == "*args" else double_star
    with pytest.raises(ToolDefinitionError) as info:
        tool(target)
    message = str(info.value)
    assert kind in message and target.__name__ in message
    assert "own name and type" in message


@pytest.mark.parametrize(
    ("annotation", "shown"),
    [
        (socket.socket, "has type socket.socket, which"),
        (Arbitrary, "has type tests.test_tools.Arbitrary, which"),
        (Callable[[int], int], "has type collections.abc.Callable[[int], int], which"),
        (list[Arbitrary], "has type list[tests.test_tools.Arbitrary], and tests.test_tools.Arbitrary"),
    ],
    ids=["socket", "arbitrary_class", "callable", "list_of_arbitrary"],
)
def test_unsupported_types_rejected_in_one_line_naming_the_tool_parameter_type_and_fix(annotation: Any, shown: str) -> None:
    def f(ok: int, sock):  # type: ignore[no-untyped-def]
        return sock

    f.__annotations__ = {"ok": int, "sock": annotation}
    with pytest.raises(ToolDefinitionError) as info:
        Tool(f)
    message = str(info.value)
    assert message.startswith(f"Tool 'f': parameter 'sock' {shown} cannot be described as JSON schema; use a JSON-friendly type")
    assert "deps=" in message  # the other fix: hand the object over through deps and RunContext
    assert "\n" not in message and "Pydantic" not in message and "errors.pydantic.dev" not in message, message


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="pydantic accepts typing.TypedDict from 3.12")
def test_typing_typeddict_before_312_is_a_clear_error() -> None:
    class Old(typing.TypedDict):
        a: int

    def f(old):  # type: ignore[no-untyped-def]
        return old

    f.__annotations__ = {"old": Old}
    with pytest.raises(ToolDefinitionError, match=r"(?s)parameter 'old'.*typing_extensions"):
        Tool(f)


def test_unresolvable_string_annotation_is_a_clear_error() -> None:
    def f(a: "NotDefinedAnywhere") -> None:  # type: ignore[name-defined]  # noqa: F821
        pass

    with pytest.raises(ToolDefinitionError, match="cannot resolve its type hints"):
        Tool(f)


def test_reserved_and_private_parameter_names() -> None:
    @tool
    def odd(json: int, schema: str, _private: bool = True, model_config: str = "m", copy: int = 0) -> Any:
        return json, schema, _private, model_config, copy

    props = odd.definition.parameters["properties"]
    assert list(props) == ["json", "schema", "_private", "model_config", "copy"]
    assert odd.definition.parameters["required"] == ["json", "schema"]
    _, kwargs = odd.validate_arguments('{"json": 1, "schema": "s", "_private": false}')
    assert kwargs == {"json": 1, "schema": "s", "_private": False, "model_config": "m", "copy": 0}
    assert odd(**kwargs) == (1, "s", False, "m", 0)


def test_unicode_parameter_names_and_descriptions() -> None:
    def météo(ville: str, café: int = 1) -> str:
        """Donne la météo 🌤 à 東京.

        Args:
            ville: la ville (e.g. Zürich).
            café: combien de cafés ☕.
        """
        return f"{ville}:{café}"

    with pytest.raises(ToolDefinitionError, match="'météo' is not allowed"):
        tool(météo)  # the function name is not a valid tool name
    t = Tool(météo, name="meteo")
    assert t.description == "Donne la météo 🌤 à 東京."
    assert t.definition.parameters["properties"] == {
        "ville": {"type": "string", "description": "la ville (e.g. Zürich)."},
        "café": {"type": "integer", "default": 1, "description": "combien de cafés ☕."},
    }
    assert t.validate_arguments('{"ville": "Zürich", "café": 2}') == ([], {"ville": "Zürich", "café": 2})
    jsonschema.Draft202012Validator.check_schema(t.definition.parameters)


# --- descriptions from docstrings ------------------------------------------------------------------


def google(a: int, b: int) -> int:
    """Add two numbers.

    Adds them carefully, with a long description.

    Args:
        a: the first number.
        b: the second number.

    Returns:
        The sum of a and b.

    Raises:
        ValueError: if a is negative.
    """
    return a + b


def numpy(a: int, b: int) -> int:
    """Add two numbers.

    Adds them carefully, with a long description.

    Parameters
    ----------
    a : int
        the first number.
    b : int
        the second number.

    Returns
    -------
    int
        The sum of a and b.

    Raises
    ------
    ValueError
        if a is negative.
    """
    return a + b


def rest(a: int, b: int) -> int:
    """Add two numbers.

    Adds them carefully, with a long description.

    :param a: the first number.
    :param b: the second number.
    :returns: The sum of a and b.
    :raises ValueError: if a is negative.
    """
    return a + b


def epydoc(a: int, b: int) -> int:
    """Add two numbers.

    Adds them carefully, with a long description.

    @param a: the first number.
    @param b: the second number.
    @return: The sum of a and b.
    @raise ValueError: if a is negative.
    """
    return a + b


@pytest.mark.parametrize("fn", [google, numpy, rest, epydoc], ids=lambda f: f.__name__)
def test_docstring_styles(fn: Callable[..., Any]) -> None:
    t = Tool(fn)
    assert t.description == (
        "Add two numbers.\n\n"
        "Adds them carefully, with a long description.\n\n"
        "Returns: The sum of a and b.\n\n"
        "Raises:\n- ValueError: if a is negative."
    )
    assert t.definition.description == t.description
    props = t.definition.parameters["properties"]
    assert props["a"] == {"type": "integer", "description": "the first number."}
    assert props["b"] == {"type": "integer", "description": "the second number."}


def test_summary_only_docstring_and_no_docstring() -> None:
    def summary(a: int) -> int:
        """Just a summary line."""
        return a

    def nodoc(a: int) -> int:
        return a

    assert Tool(summary).description == "Just a summary line."
    assert Tool(nodoc).description == ""
    assert Tool(nodoc).definition.parameters["properties"]["a"] == {"type": "integer"}


def test_explicit_field_description_wins_over_docstring() -> None:
    def f(a: Annotated[int, Field(description="From Field.")], b: Annotated[int, Field(ge=0)]) -> int:
        """Summary.

        Args:
            a: from the docstring.
            b: docstring for b.
            c: a parameter that does not exist.
        """
        return a + b

    props = Tool(f).definition.parameters["properties"]
    assert props["a"] == {"type": "integer", "description": "From Field."}
    assert props["b"] == {"type": "integer", "minimum": 0, "description": "docstring for b."}
    assert "c" not in props


def test_docstring_describes_model_parameter() -> None:
    def f(point: Point, color: Color = Color.RED) -> None:
        """Place a point.

        Args:
            point: where to put it.
            color: what color.
        """

    props = Tool(f).definition.parameters["properties"]
    assert props["point"] == {"$ref": "#/$defs/Point", "description": "where to put it."}
    assert props["color"] == {"$ref": "#/$defs/Color", "description": "what color.", "default": "red"}


@pytest.mark.parametrize(
    "doc",
    [
        "",
        "   \n\t  ",
        ": :type",
        "Summary.\n\n:param a: the a\n:type",
        "Args:\n  a",
        "Args:\n    a (int: broken\n",
        "@param\n@return",
        ":param:",
        "Returns:\n",
        "Raises:\n  :",
        "Parameters\n----------\n",
        "\x00\n\n:param a:",
        "Summary 🌍 ünïcödé\n\nArgs:\n    a: 数字",
        "x" * 20_000,
        "Args:\n" + "\n".join(f"    a{i}: text {i}" for i in range(300)),
    ],
)
def test_empty_or_malformed_docstrings_do_not_crash(doc: str) -> None:
    """Regression: ``: :type`` made docstring-parser raise IndexError at decoration time."""

    def f(a: int = 0) -> int:
        return a

    f.__doc__ = doc
    t = Tool(f)
    assert isinstance(t.description, str)
    assert t.definition.parameters["properties"]["a"]["type"] == "integer"
    jsonschema.Draft202012Validator.check_schema(t.definition.parameters)
    if doc.strip() and doc.strip() != "Returns:":  # a lone section header has no text to keep
        assert t.description, "a non-empty docstring never yields an empty description"


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from([*" \n\t:@-()abcxyz_*`.,", "Args:", "Returns:", ":param", "@param", "----"])).map("".join))
def test_random_docstrings_never_crash(doc: str) -> None:
    def f(a: int) -> int:
        return a

    f.__doc__ = doc
    assert isinstance(Tool(f).description, str)


# --- RunContext injection ---------------------------------------------------------------------


@dataclasses.dataclass
class Deps:
    user: str


async def test_run_context_is_injected_and_not_in_schema() -> None:
    @tool
    def whoami(ctx: RunContext[Deps], shout: bool = False) -> str:
        """Say who the user is."""
        return ctx.deps.user.upper() if shout else f"{ctx.deps.user} via {ctx.tool_name}"

    @tool
    def bare(ctx: RunContext) -> int:  # type: ignore[type-arg]
        return ctx.turn

    assert whoami.takes_ctx and bare.takes_ctx
    assert whoami.definition.parameters["properties"] == {"shout": {"type": "boolean", "default": False}}
    assert "ctx" not in json.dumps(whoami.definition.parameters)
    assert bare.definition.parameters["properties"] == {}
    assert await whoami.call('{"shout": true}', ctx(Deps("ann"))) == "ANN"
    assert await whoami.call("", ctx(Deps("bob"))) == "bob via t"
    assert await bare.call("{}", RunContext(deps=None, turn=3)) == 3
    with pytest.raises(ToolArgumentsError, match="ctx"):
        await whoami.call('{"ctx": 1}', ctx(Deps("x")))


async def test_run_context_in_the_middle_and_annotated() -> None:
    @tool
    def mid(a: int, ctx: Annotated[RunContext[Any], "injected"], b: int = 2) -> Any:
        return a, ctx.deps, b

    assert list(mid.definition.parameters["properties"]) == ["a", "b"]
    assert await mid.call('{"a": 1}', ctx("D")) == (1, "D", 2)


async def test_positional_only_run_context() -> None:
    """Regression: a positional-only ``ctx`` was passed by keyword (TypeError)."""

    def first(ctx: RunContext[str], a: int, /, b: int = 2) -> str:
        return f"{ctx.deps}:{a}:{b}"

    def later(a: int, ctx: RunContext[str], /, b: int = 2) -> str:
        return f"{ctx.deps}:{a}:{b}"

    for fn in (first, later):
        t = Tool(fn)
        assert list(t.definition.parameters["properties"]) == ["a", "b"]
        assert await t.call('{"a": 1, "b": 5}', ctx("D")) == "D:1:5"


async def test_run_context_with_future_annotations() -> None:
    assert future.greet.takes_ctx
    assert future.greet.definition.parameters == {
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "who to greet."},
            "times": {"type": "integer", "default": 1, "description": "how many times."},
        },
        "required": ["name"],
        "additionalProperties": False,
    }
    assert future.greet.description == "Greet someone."
    assert await future.greet.call('{"name": "Ada", "times": 2}', ctx(future.Deps("Hi"))) == "Hi, Ada! Hi, Ada!"

    assert future.plain_ctx.definition.parameters["properties"] == {"when": {"type": "string", "format": "date"}}
    assert await future.plain_ctx.call('{"when": "2024-05-06"}', ctx()) == "t:2024-05-06"

    params = future.search.definition.parameters
    assert_strict_subset(params)
    assert list(params["properties"]) == ["query", "mode", "filters"]
    arguments = '{"query": "q", "mode": null, "filters": [{"field": "f", "limit": null}]}'
    result = await future.search.call(arguments, ctx(future.Deps("yo")))
    assert result == {"query": "q", "mode": "fast", "filters": [future.Filter(field="f", limit=10)], "greeting": "yo"}

    service = future.Service("pre-")
    assert service.lookup.definition.parameters["properties"] == {"key": {"type": "string"}}
    assert await service.lookup.call('{"key": "k"}', ctx(future.Deps("!"))) == "pre-k!"


# --- every schema is valid JSON Schema 2020-12 ---------------------------------------------------


class Color2(enum.IntEnum):
    ONE = 1
    TWO = 2


class Constrained(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=20)]
    code: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    ratio: Annotated[float, Field(gt=0, lt=1)] = 0.5
    items: Annotated[list[int], Field(min_length=1, max_length=3)] = Field(default_factory=lambda: [1])
    tags: set[str] = Field(default_factory=set)


class Cat(BaseModel):
    kind: Literal["cat"]
    meows: int = 1


class Dog(BaseModel):
    kind: Literal["dog"]
    barks: int = 1


class Loose(BaseModel):
    model_config = ConfigDict(extra="allow")
    a: int


def _sig_basic(a: str, b: int, c: float, d: bool) -> None: ...
def _sig_defaults(a: str = "x", b: int = 1, c: Optional[float] = None, d: bool = True) -> None: ...
def _sig_lists(a: list[str], b: list[list[int]], c: tuple[str, ...] = (), d: Optional[list[Point]] = None) -> None: ...
def _sig_set(s: set[int]) -> None: ...
def _sig_literals(mode: Literal["a", "b"] = "a", n: Literal[1, 2, 3] = 1, mixed: Literal["x", 1] = "x") -> None: ...
def _sig_enums(c: Color, i: Color2 = Color2.ONE, o: Optional[Color] = None) -> None: ...
def _sig_unions(u: Union[int, str], v: Union[Point, Pair, None] = None, w: int | float = 1) -> None: ...
def _sig_models(p: Point, pair: Pair, m: Movie, opts: Options = Options()) -> None: ...  # noqa: B008
def _sig_constrained(c: Constrained, s: Annotated[str, Field(max_length=5)] = "abc") -> None: ...
def _sig_dates(a: datetime.datetime, b: datetime.date, c: datetime.time, d: datetime.timedelta) -> None: ...
def _sig_ids(u: uuid.UUID, d: decimal.Decimal, p: pathlib.Path, o: Optional[uuid.UUID] = None) -> None: ...
def _sig_recursive(n: Node, ns: list[Node] = []) -> None: ...  # noqa: B006
def _sig_discriminated(pet: Annotated[Union[Cat, Dog], Field(discriminator="kind")]) -> None: ...
def _sig_list_of_discriminated(pets: list[Annotated[Union[Cat, Dog], Field(discriminator="kind")]]) -> None: ...
def _sig_none(n: None = None) -> None: ...
def _sig_empty() -> None: ...
def _sig_nested_optional(o: Optional[Optional[list[Optional[int]]]] = None) -> None: ...
def _sig_bytes(b: bytes = b"") -> None: ...
def _sig_unicode_default(s: str = "日本語 🎉", t: str = "") -> None: ...
def _sig_dict(d: dict[str, int]) -> None: ...
def _sig_bare_dict(d: dict) -> None: ...  # type: ignore[type-arg]
def _sig_tuple(t: tuple[int, str]) -> None: ...
def _sig_any(a: Any = None) -> None: ...
def _sig_bare_list(a: list) -> None: ...  # type: ignore[type-arg]
def _sig_optional_dict(d: Optional[dict[str, str]] = None) -> None: ...
def _sig_loose(m: Loose) -> None: ...
def _sig_dict_of_models(d: dict[str, Point]) -> None: ...


STRICT_OK = [
    _sig_basic,
    _sig_defaults,
    _sig_lists,
    _sig_set,
    _sig_literals,
    _sig_enums,
    _sig_unions,
    _sig_models,
    _sig_constrained,
    _sig_dates,
    _sig_ids,
    _sig_recursive,
    _sig_discriminated,
    _sig_list_of_discriminated,
    _sig_none,
    _sig_empty,
    _sig_nested_optional,
    _sig_bytes,
    _sig_unicode_default,
    google,
    future.greet.function,
    future.search.function,
]
STRICT_IMPOSSIBLE = [
    (_sig_dict, "free-form keys", "d"),
    (_sig_bare_dict, "free-form keys", "d"),
    (_sig_tuple, "fixed-length tuples", "t"),
    (_sig_any, "any type", "a"),
    (_sig_bare_list, "any type", "a[]"),
    (_sig_optional_dict, "free-form keys", "d.anyOf[0]"),
    (_sig_loose, "free-form keys", "$defs.Loose"),
    (_sig_dict_of_models, "free-form keys", "d"),
]


@pytest.mark.parametrize("fn", STRICT_OK + [case[0] for case in STRICT_IMPOSSIBLE], ids=lambda f: f.__name__)
def test_every_schema_is_valid_draft_2020_12(fn: Callable[..., Any]) -> None:
    schema = Tool(fn, name="t").definition.parameters
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert all("title" not in node for node in schema_nodes(schema))  # pydantic's titles are dropped


@pytest.mark.parametrize("fn", STRICT_OK, ids=lambda f: f.__name__)
def test_every_strict_schema_is_valid_and_in_the_strict_subset(fn: Callable[..., Any]) -> None:
    plain = Tool(fn, name="t")
    strict = Tool(fn, name="t", strict=True)
    assert strict.definition.strict is True
    assert_strict_subset(strict.definition.parameters)
    assert set(strict.definition.parameters["properties"]) == set(plain.definition.parameters["properties"])
    # strict mode changes the wire schema only
    assert strict.description == plain.description


@pytest.mark.parametrize(("fn", "reason", "path"), STRICT_IMPOSSIBLE, ids=lambda v: getattr(v, "__name__", ""))
def test_strict_impossible_types_fail_at_decoration(fn: Callable[..., Any], reason: str, path: str) -> None:
    Tool(fn, name="t")  # fine when not strict
    with pytest.raises(ToolDefinitionError) as info:
        Tool(fn, name="t", strict=True)
    message = str(info.value)
    assert "cannot be strict" in message and reason in message
    assert f"at {path}" in message
    assert "strict=False" in message


# --- strict mode ------------------------------------------------------------------------------------


def test_strict_schema_exact() -> None:
    @tool(strict=True)
    def book(
        city: str,
        nights: Annotated[int, Field(ge=1, le=30, description="Nights.")] = 1,
        note: Optional[str] = None,
        kind: Literal["hotel", "hostel"] = "hotel",
        color: Color = Color.RED,
        point: Optional[Point] = None,
    ) -> None:
        pass

    assert book.definition.parameters == {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "nights": {"type": ["integer", "null"], "minimum": 1, "maximum": 30, "description": "Nights."},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "kind": {"anyOf": [{"type": "string", "enum": ["hotel", "hostel"]}, {"type": "null"}]},
            "color": {"anyOf": [{"$ref": "#/$defs/Color"}, {"type": "null"}]},
            "point": {"anyOf": [{"$ref": "#/$defs/Point"}, {"type": "null"}]},
        },
        "required": ["city", "nights", "note", "kind", "color", "point"],
        "additionalProperties": False,
        "$defs": {
            "Color": {"type": "string", "enum": ["red", "blue"]},
            "Point": {
                "type": "object",
                "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}},
                "required": ["x", "y"],
                "additionalProperties": False,
            },
        },
    }


def test_strict_moves_unsupported_keywords_into_descriptions() -> None:
    @tool(strict=True)
    def f(
        name: Annotated[str, Field(min_length=2, max_length=8, description="The name.")],
        code: Annotated[str, Field(pattern="^[a-z]+$", min_length=3)],
        tags: set[str],
        when: datetime.datetime,
        where: pathlib.Path,
        few: Annotated[list[int], Field(min_length=1, max_length=3)],
    ) -> None:
        pass

    props = f.definition.parameters["properties"]
    assert props["name"] == {"type": "string", "description": "The name. (minLength: 2, maxLength: 8)"}
    assert props["code"] == {"type": "string", "pattern": "^[a-z]+$", "description": "(minLength: 3)"}
    assert props["tags"] == {"type": "array", "items": {"type": "string"}, "description": "(uniqueItems: True)"}
    assert props["when"] == {"type": "string", "format": "date-time"}
    assert props["where"] == {"type": "string", "description": "(format: path)"}
    assert props["few"] == {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 3}
    assert_strict_subset(f.definition.parameters)


def test_strict_constraints_still_enforced_by_validation() -> None:
    @tool(strict=True)
    def f(name: Annotated[str, Field(min_length=2)], tags: set[int] = set()) -> Any:  # noqa: B006
        return name, tags

    with pytest.raises(ToolArgumentsError, match="at least 2 characters"):
        f.validate_arguments('{"name": "a", "tags": null}')
    assert f.validate_arguments('{"name": "ab", "tags": [1, 1]}') == ([], {"name": "ab", "tags": {1}})


def test_strict_nested_models_and_defs_are_strict() -> None:
    @tool(strict=True)
    def configure(opts: Options, nodes: list[Node], pairs: Optional[list[Pair]] = None, movie: Optional[Movie] = None) -> None:
        pass

    params = configure.definition.parameters
    assert_strict_subset(params)
    assert set(params["$defs"]) == {"Options", "Node", "Pair", "Movie"}
    assert params["$defs"]["Options"]["properties"]["limit"] == {"type": ["integer", "null"]}
    assert params["$defs"]["Node"]["properties"]["children"] == {
        "type": ["array", "null"],
        "items": {"$ref": "#/$defs/Node"},
        "description": "Child nodes.",
    }
    assert params["$defs"]["Movie"]["required"] == ["title", "year"]


def test_strict_does_not_touch_the_plain_schema() -> None:
    def f(opts: Options, n: int = 3) -> None:
        pass

    before = Tool(f).definition.parameters
    strict = Tool(f, strict=True)
    assert strict._schema == before  # the original stays the validation reference
    assert "default" in strict._schema["properties"]["n"]
    assert "default" not in strict.definition.parameters["properties"]["n"]


async def test_strict_null_for_optional_applies_the_default() -> None:
    @tool(strict=True)
    def find(
        query: str,
        limit: int = 5,
        lang: Optional[str] = "en",
        opts: Options = Options(),  # noqa: B008
        nested: Optional[Options] = None,
        many: list[Options] = [],  # noqa: B006
        pair: Optional[Pair] = None,
        movie: Optional[Movie] = None,
    ) -> Any:
        return query, limit, lang, opts, nested, many, pair, movie

    arguments = {
        "query": "q",
        "limit": None,  # not nullable, has a default: default applies
        "lang": None,  # nullable: the model chose null
        "opts": {"limit": None, "label": None, "tags": None},
        "nested": {"limit": 2, "label": "x", "tags": None},
        "many": [{"limit": None, "label": "a", "tags": ["z"]}, {"limit": 1, "label": None, "tags": None}],
        "pair": {"left": "l", "right": None},
        "movie": {"title": "Heat", "year": None},
    }
    jsonschema.Draft202012Validator(find.definition.parameters).validate(arguments)
    result = await find.call(json.dumps(arguments), ctx())
    assert result == (
        "q",
        5,
        None,
        Options(limit=10, label=None, tags=["t"]),
        Options(limit=2, label="x", tags=["t"]),
        [Options(limit=10, label="a", tags=["z"]), Options(limit=1, label=None, tags=["t"])],
        Pair("l", 7),
        {"title": "Heat"},
    )
    # a null for a required, non-nullable parameter is still an error
    with pytest.raises(ToolArgumentsError, match="query"):
        find.validate_arguments('{"query": null}')


def test_strict_recursive_models() -> None:
    class Tree(BaseModel):
        name: str
        weight: int = 1
        parent: Optional["Tree"] = Field(None, description="The parent.")
        kids: list["Tree"] = Field(default_factory=list, description="Children.")
        best: Optional["Tree"] = None

    Tree.model_rebuild()

    class Graph(BaseModel):
        a: "A"

    class A(BaseModel):
        b: Optional["B"] = None
        w: int = 0

    class B(BaseModel):
        a: Optional["A"] = None
        w: int = 0

    A.model_rebuild()
    B.model_rebuild()
    Graph.model_rebuild()

    @tool(strict=True)
    def walk(tree: Annotated[Tree, Field(description="The tree.")], graph: Graph) -> Any:
        return tree, graph

    params = walk.definition.parameters
    assert_strict_subset(params)
    assert params["properties"]["tree"] == {"anyOf": [{"$ref": "#/$defs/Tree"}], "description": "The tree."}
    tree_json = {
        "name": "root",
        "weight": None,
        "parent": None,
        "best": {"name": "b", "weight": None, "parent": None, "kids": None, "best": None},
        "kids": [
            {
                "name": "k",
                "weight": 3,
                "parent": None,
                "best": None,
                "kids": [
                    {"name": "kk", "weight": None, "parent": None, "best": None, "kids": None},
                ],
            },
        ],
    }
    graph_json = {"a": {"w": None, "b": {"w": None, "a": {"w": 4, "b": None}}}}
    jsonschema.Draft202012Validator(params).validate({"tree": tree_json, "graph": graph_json})
    _, kwargs = walk.validate_arguments(json.dumps({"tree": tree_json, "graph": graph_json}))
    tree, graph = kwargs["tree"], kwargs["graph"]
    assert tree.weight == 1 and tree.best.weight == 1 and tree.best.kids == []
    assert tree.kids[0].weight == 3 and tree.kids[0].kids[0].weight == 1 and tree.kids[0].kids[0].kids == []
    assert graph.a.w == 0 and graph.a.b.w == 0 and graph.a.b.a.w == 4 and graph.a.b.a.b is None


def test_strict_recursive_model_with_described_self_reference() -> None:
    """Regression: inlining a self-referencing $ref with siblings produced a broken ``{"description": ...}`` schema."""

    class Chain(BaseModel):
        value: int
        first: Optional["Chain"] = Field(None, description="First link.")
        head: "Chain" = Field(description="Required self link (schema only).")

    Chain.model_rebuild()

    def f(c: Chain) -> None:
        pass

    params = Tool(f, strict=True).definition.parameters
    assert_strict_subset(params)
    assert params["$defs"]["Chain"]["properties"]["head"] == {
        "anyOf": [{"$ref": "#/$defs/Chain"}],
        "description": "Required self link (schema only).",
    }


# --- schemas are built once ---------------------------------------------------------------------------


def test_definition_is_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = tools_module._describe

    def counting(function: Any, name: str) -> Any:
        calls.append(name)
        return real(function, name)

    monkeypatch.setattr(tools_module, "_describe", counting)

    @tool(strict=True)
    def add(a: int, b: int = 1) -> int:
        return a + b

    def plain(x: str) -> str:
        return x

    assert calls == ["add"]
    first = add.definition
    assert add.definition is first and add.definition.parameters is first.parameters
    model = ScriptedModel([reply(None, tool_call("add", {"a": 1, "b": None}), tool_call("plain", {"x": "p"})), "done"])
    agent = Agent(model, tools=[add, plain])
    assert calls == ["add", "plain"]  # the Tool is reused; the plain function is wrapped once
    assert agent.tools[0] is add
    result = agent.run_sync("go")
    assert result.output == "done"
    assert calls == ["add", "plain"]  # running does not rebuild either
    assert model.requests[0].tools[0] is first
    assert model.requests[1].tools is model.requests[0].tools
    tool_messages = [m for m in model.requests[1].messages if getattr(m, "role", None) == "tool"]
    assert [m.content for m in tool_messages] == ["2", "p"]
    Agent(model, tools=[add])
    assert calls == ["add", "plain"]


# --- argument validation -------------------------------------------------------------------------------


@tool
def add_tool(a: int, b: int) -> int:
    """Add."""
    return a + b


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{", ["not valid JSON", "EOF"]),
        ("{'a': 1, 'b': 2}", ["not valid JSON"]),
        ('{"a": 1, "b": 2', ["not valid JSON"]),
        ('{"a": 1, "b": 2}}', ["not valid JSON", "trailing"]),
        ("not json at all", ["not valid JSON"]),
        ("[1, 2]", ["(arguments)", "object", "[1, 2]"]),
        ('"a string"', ["(arguments)", "object"]),
        ("42", ["(arguments)", "object"]),
        ("null", ["(arguments)", "object"]),
        ('{"a": "one", "b": 2}', ["- a:", "valid integer", "'one'"]),
        ('{"a": 1.5, "b": 2}', ["- a:", "integer"]),
        ('{"a": [1], "b": {}}', ["- a:", "- b:", "valid integer"]),
        ('{"a": 1}', ["- b: Field required"]),
        ("{}", ["- a: Field required", "- b: Field required"]),
        ('{"a": 1, "b": 2, "c": 3}', ["- c: Extra inputs are not permitted", "(got 3)"]),
        ('{"A": 1, "b": 2}', ["- A: Extra inputs", "- a: Field required"]),
        ("", ["- a: Field required"]),
    ],
)
def test_invalid_arguments_raise_tool_arguments_error(text: str, expected: list[str]) -> None:
    with pytest.raises(ToolArgumentsError) as info:
        add_tool.validate_arguments(text)
    message = info.value.message
    assert str(info.value) == message
    assert "'add_tool'" in message
    assert "again" in message  # tells the model what to do next
    for part in expected:
        assert part in message, (part, message)


async def test_call_raises_the_same_errors() -> None:
    with pytest.raises(ToolArgumentsError, match="Field required"):
        await add_tool.call('{"a": 1}', ctx())
    assert await add_tool.call('{"a": 1, "b": "2"}', ctx()) == 3  # lax JSON mode: numeric strings are fine


def test_no_argument_tool_accepts_empty_text() -> None:
    @tool
    def now() -> str:
        return "now"

    for text in ("", "   ", "\n", "{}", " { } "):
        assert now.validate_arguments(text) == ([], {})
    with pytest.raises(ToolArgumentsError, match="- x: Extra inputs are not permitted"):
        now.validate_arguments('{"x": 1}')
    with pytest.raises(ToolArgumentsError, match="object"):
        now.validate_arguments("[]")


async def test_positional_only_parameters() -> None:
    @tool
    def f(a: int, b: str, /, c: float = 1.0, *, d: bool = False) -> str:
        return f"{a}{b}{c}{d}"

    assert f.definition.parameters["required"] == ["a", "b"]
    assert f.validate_arguments('{"a": 1, "b": "x", "d": true}') == ([1, "x"], {"c": 1.0, "d": True})
    assert await f.call('{"b": "y", "a": 2, "c": 0.5}', ctx()) == "2y0.5False"


async def test_sync_tools_run_in_a_worker_thread_async_on_the_loop() -> None:
    seen: dict[str, Any] = {}

    @tool
    def sync_tool() -> str:
        seen["sync"] = threading.current_thread()
        return "s"

    @tool
    async def async_tool() -> str:
        seen["async"] = threading.current_thread()
        seen["loop"] = asyncio.get_running_loop()
        return "a"

    assert await sync_tool.call("", ctx()) == "s"
    assert await async_tool.call("", ctx()) == "a"
    assert seen["sync"] is not threading.current_thread()
    assert seen["async"] is threading.current_thread()
    assert seen["loop"] is asyncio.get_running_loop()


async def test_sync_tool_does_not_block_the_loop() -> None:
    released = threading.Event()

    @tool
    def wait_for_release() -> bool:
        return released.wait(timeout=2)

    task = asyncio.create_task(wait_for_release.call("", ctx()))
    await asyncio.sleep(0.01)  # the loop is free while the tool waits in its thread
    released.set()
    assert await task is True


async def test_tool_exceptions_propagate() -> None:
    @tool
    def boom(x: int) -> int:
        raise RuntimeError(f"boom {x}")

    @tool
    async def aboom() -> int:
        raise KeyError("k")

    with pytest.raises(RuntimeError, match="boom 3"):
        await boom.call('{"x": 3}', ctx())
    with pytest.raises(KeyError):
        await aboom.call("", ctx())


# --- serialize_result -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain text", "plain text"),
        ('{"already": "json"}', '{"already": "json"}'),
        ("", ""),
        ("日本語 🎉", "日本語 🎉"),
        (None, "null"),
        (3, "3"),
        (2.5, "2.5"),
        (True, "true"),
        ([1, "a", None], '[1,"a",null]'),
        ((1, 2), "[1,2]"),
        ({"a": 1, "b": [True]}, '{"a":1,"b":[true]}'),
        (Point(x=1, y=2), '{"x":1,"y":2}'),
        (Pair("l", 3), '{"left":"l","right":3}'),
        ([Point(x=0, y=0)], '[{"x":0,"y":0}]'),
        ({"when": datetime.date(2024, 1, 2)}, '{"when":"2024-01-02"}'),
        (Color.BLUE, '"blue"'),
        (_UUID, f'"{_UUID}"'),
        ({"text": "é"}, '{"text":"é"}'),
    ],
)
def test_serialize_result(value: Any, expected: str) -> None:
    assert serialize_result(value) == expected


def test_serialize_result_json_round_trips_and_falls_back_to_str() -> None:
    value = {"nested": [{"a": [1, 2, {"b": None}]}], "n": 1.25}
    assert json.loads(serialize_result(value)) == value
    assert serialize_result(Arbitrary()).startswith("<") and "Arbitrary" in serialize_result(Arbitrary())


# --- hostile inputs --------------------------------------------------------------------------------


@tool
def echo(text: str, items: list[int] = []) -> str:  # noqa: B006
    return text


@tool(strict=True)
def echo_strict(text: str, opts: Optional[Options] = None) -> str:
    return text


def test_huge_argument_strings() -> None:
    big = "x" * 5_000_000
    assert echo.validate_arguments(json.dumps({"text": big}))[1]["text"] == big
    assert echo_strict.validate_arguments(json.dumps({"text": big, "opts": None}))[1]["text"] == big
    # a huge wrong value: the message stays short
    with pytest.raises(ToolArgumentsError) as info:
        echo.validate_arguments(json.dumps({"text": ["y" * 1_000_000]}))
    assert len(info.value.message) < 1000
    # many errors: listed up to a limit
    with pytest.raises(ToolArgumentsError) as info:
        echo.validate_arguments(json.dumps({"text": "t", "items": ["bad"] * 100_000}))
    assert len(info.value.message) < 5000
    assert info.value.message.count("\n- ") <= 20
    # huge garbage
    with pytest.raises(ToolArgumentsError, match="not valid JSON"):
        echo.validate_arguments("{" * 1_000_000)


@pytest.mark.parametrize("target", [echo, echo_strict], ids=["plain", "strict"])
def test_deeply_nested_json(target: Tool[Any, Any]) -> None:
    deep = '{"text": "t", "opts": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(ToolArgumentsError) as info:
        target.validate_arguments(deep)
    assert "not valid JSON" in info.value.message and "recursion" in info.value.message
    nested_objects = '{"text": "t", "opts": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}"
    with pytest.raises(ToolArgumentsError):
        target.validate_arguments(nested_objects)


def test_deeply_nested_values_for_any_parameter() -> None:
    @tool
    def anything(value: Any) -> Any:
        return value

    value: Any = 1
    for _ in range(100):
        value = [value]
    assert anything.validate_arguments(json.dumps({"value": value}))[1]["value"] == value


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ('{"text": "日本語 🎉 ünïcödé"}', "日本語 🎉 ünïcödé"),
        ('{"text": "\\u00e9\\ud83c\\udf89"}', "é🎉"),
        ('{"text": "\\u0000 nul"}', "\x00 nul"),
        ('{"text": "\u202e right-to-left"}', "\u202e right-to-left"),
        ('\ufeff{"text": "bom"}', None),
        ('{"text": "\\ud800"}', None),
        ('{"text": "a\x00b"}', None),
        ('{"text": "\x80\xff"}', "\x80\xff"),
    ],
)
def test_unicode_arguments(text: str, ok: str | None) -> None:
    for target in (echo, echo_strict):
        try:
            _, kwargs = target.validate_arguments(text)
        except ToolArgumentsError as e:
            assert ok is None, e.message
            assert e.message
        else:
            if ok is not None:
                assert kwargs["text"] == ok


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_random_text_never_crashes_validation(text: str) -> None:
    for target in (add_tool, echo_strict):
        try:
            target.validate_arguments(text)
        except ToolArgumentsError as e:
            assert e.message and target.name in e.message


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=80, deadline=None)
@given(st.dictionaries(st.sampled_from(["a", "b", "text", "opts", "zz"]), _json, max_size=4))
def test_random_json_objects_validate_or_explain(data: dict[str, Any]) -> None:
    for target in (add_tool, echo_strict):
        try:
            target.validate_arguments(json.dumps(data))
        except ToolArgumentsError as e:
            assert "Call the tool again" in e.message


def test_many_parameters() -> None:
    names = [f"p{i}" for i in range(150)]
    namespace: dict[str, Any] = {}
    exec("def wide(" + ", ".join(f"{n}: int = {i}" for i, n in enumerate(names)) + "):\n    return p149", namespace)
    t = Tool(namespace["wide"], strict=True)
    assert list(t.definition.parameters["properties"]) == names
    assert_strict_subset(t.definition.parameters)
    assert t.validate_arguments(json.dumps(dict.fromkeys(names)))[1]["p149"] == 149


def test_pydantic_validation_error_is_not_leaked() -> None:
    with pytest.raises(ToolArgumentsError) as info:
        add_tool.validate_arguments('{"a": "x"}')
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert not isinstance(info.value, pydantic.ValidationError)
    assert "errors.pydantic.dev" not in info.value.message


# --- Tool.from_schema: tools defined by a JSON schema (e.g. MCP servers) ------------------------

_ADD_SCHEMA = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer", "default": 0}},
    "required": ["a"],
}


async def test_from_schema_validates_with_jsonschema_and_calls_with_the_dict():
    seen = []

    async def add(arguments):
        seen.append(arguments)
        return arguments["a"] + arguments.get("b", 0)

    t = Tool.from_schema("add", "Add two integers.", _ADD_SCHEMA, add, requires_approval=True)
    assert t.definition == ToolDefinition("add", "Add two integers.", _ADD_SCHEMA, None)
    assert t.requires_approval and t.is_async and not t.takes_ctx
    assert await t.call('{"a": 2, "b": 3}', RunContext(None)) == 5
    assert seen == [{"a": 2, "b": 3}]
    for bad, expected in [('{"a": "x"}', "a: 'x' is not of type 'integer'"), ("{}", "'a' is a required property"),
                          ("[1]", "must be a JSON object"), ('{"a": ', "not valid JSON")]:  # fmt: skip
        with pytest.raises(ToolArgumentsError, match=re.escape(expected)):
            t.validate_arguments(bad)


def test_from_schema_strict_and_bad_definitions():
    strict = Tool.from_schema("add", "Add.", _ADD_SCHEMA, lambda d: d, strict=True)
    params = strict.definition.parameters
    assert params["additionalProperties"] is False and params["required"] == ["a", "b"]
    assert strict.validate_arguments('{"a": 1, "b": null}') == ([{"a": 1}], {})  # null → default applies
    with pytest.raises(ToolDefinitionError, match="cannot be strict"):
        Tool.from_schema("free", "x", {"type": "object", "additionalProperties": {"type": "string"}}, print, strict=True)
    with pytest.raises(ToolDefinitionError, match="not a valid JSON schema"):
        Tool.from_schema("bad", "x", {"type": "object", "properties": {"a": {"type": 5}}}, print)
    with pytest.raises(ToolDefinitionError, match="type object"):
        Tool.from_schema("arr", "x", {"type": "array"}, print)
    with pytest.raises(ToolDefinitionError, match="not allowed"):
        Tool.from_schema("bad name", "x", {"type": "object"}, print)
