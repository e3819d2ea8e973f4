"""@tool's schemas from cached per-type pieces (agentkit._tool_schema) equal pydantic's own, exactly.

The reference is the ordinary way (a pydantic model of the signature and its ``model_json_schema``),
forced by making ``compose`` decline. Schemas are compared as JSON text, so key order counts too.
"""

import dataclasses
import datetime
import enum
import inspect
import json
import random
import uuid
from typing import Annotated, Any, Literal, Optional, Union

import annotated_types
import docstring_parser
import pytest
from pydantic import BaseModel, Field, WithJsonSchema
from pydantic.json_schema import SkipJsonSchema
from typing_extensions import NotRequired, TypedDict

import agentkit._docstrings as docstrings
import agentkit._tool_schema as tool_schema
import agentkit._tool_signature as tool_signature
import agentkit.tools as tools_module
from agentkit import Tool, ToolDefinitionError
from agentkit.tools import ToolArgumentsError


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Address(BaseModel):
    """A postal address."""

    street: str
    city: str
    zip_code: Optional[str] = None


class Person(BaseModel):
    """A person."""

    name: str
    home: Address
    work: Optional[Address] = None


@dataclasses.dataclass
class Window:
    """A time window."""

    start: int
    end: int
    label: str = "default"


class Movie(TypedDict):
    title: str
    year: NotRequired[int]


class Tree(BaseModel):
    value: int
    children: list["Tree"] = Field(default_factory=list, description="Subtrees.")


def _other_address() -> type[BaseModel]:
    namespace: dict[str, Any] = {"__name__": "elsewhere", "BaseModel": BaseModel}
    exec("class Address(BaseModel):\n    line: str\n", namespace)
    return namespace["Address"]  # type: ignore[no-any-return]


OtherAddress = _other_address()

TYPES: list[Any] = [
    int,
    str,
    float,
    bool,
    Any,
    datetime.date,
    uuid.UUID,
    Optional[int],
    int | None,
    Union[int, str],
    Union[str, int],
    Literal["a", "b"],
    Literal[1],
    Literal[True],
    list[str],
    tuple[int, str],
    dict[str, int],
    dict[str, int] | None,
    Color,
    Level,
    Address,
    Optional[Address],
    list[Address],
    Person,
    Window,
    Movie,
    Tree,
    OtherAddress,
    Annotated[int, Field(ge=0, le=100, description="Percent.")],
    Annotated[int, Field(ge=0)],
    Annotated[int, Field(ge=0.0)],
    Annotated[int, annotated_types.Gt(3)],
    Annotated[int, annotated_types.Gt(3.0)],
    Annotated[str, Field(min_length=2, pattern=r"^a+$")],
    Annotated[Address, Field(description="A postal address.")],
    Annotated[int, Field(alias="renamed")],
    Annotated[list[int], Field(default_factory=list)],
    Annotated[int, Field(json_schema_extra={"description": "from extra"})],
    Annotated[int, Field(examples=[1, 2], title="T")],
    Annotated[int, WithJsonSchema({"type": "integer", "x-custom": True})],
    SkipJsonSchema[int],
    list[Annotated[int, Field(gt=0)]],
]
DEFAULTS: list[Any] = [
    inspect.Parameter.empty,
    None,
    0,
    True,
    2.5,
    float("inf"),
    "x",
    [1, "a"],
    (1, 2),
    {"a": 1},
    Color.RED,
    Level.HIGH,
    2**70,
    datetime.date(2020, 1, 2),
]


def _function(params: list[tuple[str, Any, Any]], doc: str) -> Any:
    def fn(*args: Any, **kwargs: Any) -> str:
        return "ok"

    fn.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=d, annotation=t) for n, t, d in params]
    )
    fn.__annotations__ = {n: t for n, t, _ in params}
    fn.__doc__ = doc
    return fn


def _outcome(fn: Any, strict: bool | None) -> tuple[Any, ...]:
    try:
        t = Tool(fn, name="t", strict=strict)
    except ToolDefinitionError as e:
        return ("error", str(e))
    return (json.dumps(t.definition.parameters), json.dumps(t._schema), t.description)


def _ordinary(monkeypatch: pytest.MonkeyPatch, fn: Any, strict: bool | None) -> tuple[Any, ...]:
    with monkeypatch.context() as m:
        m.setattr(tool_signature, "compose", lambda params: None)
        return _outcome(fn, strict)


def _docstring(params: list[tuple[str, Any, Any]], descriptions: list[str | None]) -> str:
    lines = "\n".join(f"    {n}: {d}" for (n, _, _), d in zip(params, descriptions, strict=True))
    return f"Do it.\n\nArgs:\n{lines}\n"


@pytest.mark.parametrize("annotation", TYPES, ids=repr)
def test_every_type_with_every_default_matches_pydantic(monkeypatch: pytest.MonkeyPatch, annotation: Any) -> None:
    for i, default in enumerate(DEFAULTS):
        for description in (None, ("A postal address.", "Something.")[i % 2]):
            params = [("a", annotation, default)]
            fn = _function(params, _docstring(params, [description]) if description else "Do it.")
            for strict in (None, True):
                assert _outcome(fn, strict) == _ordinary(monkeypatch, fn, strict), (annotation, default, description, strict)


@pytest.mark.parametrize("cold", [False, True], ids=["warm cache", "cold cache"])
def test_random_signatures_match_pydantic(monkeypatch: pytest.MonkeyPatch, cold: bool) -> None:
    """Warm: the pieces come from the cache; cold: several unknown types are probed together."""
    rng = random.Random(1234)
    names = ["a", "b", "query", "_private", "schema", "model_x", "x"]
    for _ in range(150):
        chosen = rng.sample(names, rng.randint(1, 5))
        params, has_default = [], False
        for name in chosen:
            default = rng.choice(DEFAULTS) if has_default or rng.random() < 0.4 else inspect.Parameter.empty
            if default is inspect.Parameter.empty and has_default:
                default = None
            has_default = has_default or default is not inspect.Parameter.empty
            params.append((name, rng.choice(TYPES), default))
        fn = _function(params, _docstring(params, [rng.choice(["A postal address.", f"About {n}."]) for n in chosen]))
        if cold:
            monkeypatch.setattr(tool_schema, "_cache", {})
        for strict in (None, True):
            assert _outcome(fn, strict) == _ordinary(monkeypatch, fn, strict), (params, strict)


def test_the_cache_is_used_and_shares_nothing() -> None:
    def first(a: Address, b: Optional[int] = None) -> str:
        return "ok"

    def second(a: Address, b: Optional[int] = None) -> str:
        return "ok"

    one, two = Tool(first), Tool(second)
    assert tool_schema.compose([("a", Address, tool_schema.REQUIRED, None)]) is not None
    assert one.definition.parameters == two.definition.parameters
    one.definition.parameters["$defs"]["Address"]["properties"]["city"]["type"] = "changed"
    one.definition.parameters["properties"]["b"]["anyOf"].clear()
    assert two.definition.parameters["$defs"]["Address"]["properties"]["city"]["type"] == "string"
    assert Tool(second).definition.parameters == two.definition.parameters


def test_keys_tell_apart_what_typing_equality_mixes_up() -> None:
    def ints(a: Union[int, str]) -> str:
        return "ok"

    def strs(a: Union[str, int]) -> str:
        return "ok"

    assert [b["type"] for b in Tool(ints).definition.parameters["properties"]["a"]["anyOf"]] == ["integer", "string"]
    assert [b["type"] for b in Tool(strs).definition.parameters["properties"]["a"]["anyOf"]] == ["string", "integer"]
    # (typing's own cache hands out Annotated[int, Ge(5)] for Annotated[int, Ge(5.0)]: compare the keys)
    assert tool_schema._freeze(annotated_types.Ge(5)) != tool_schema._freeze(annotated_types.Ge(5.0))
    assert tool_schema._type_key(Literal[1]) != tool_schema._type_key(Literal[True])
    assert tool_schema._freeze(Field(ge=1)) == tool_schema._freeze(Field(ge=1)) != tool_schema._freeze(Field(ge=1.0))


def test_errors_are_still_raised_at_decoration() -> None:
    class Opaque:
        pass

    for _ in range(2):  # also once the good parameter's piece is cached

        def bad(a: int, b: Opaque) -> str:
            return "ok"

        with pytest.raises(ToolDefinitionError, match=r"parameter 'b' has type \S*Opaque, which cannot be described as JSON"):
            Tool(bad)

    def free_form(a: int, b: dict[str, int]) -> str:
        return "ok"

    with pytest.raises(ToolDefinitionError, match="cannot be strict"):
        Tool(free_form, strict=True)


def test_the_model_is_built_on_first_validation_and_shared_with_bound_copies() -> None:
    class Service:
        @tools_module.tool
        def lookup(self, city: str, limit: int = 3) -> str:
            return city

    unbound = Service.__dict__["lookup"]
    assert unbound._args.model is None  # the schema came from the cache: no model yet
    service = Service()
    assert service.lookup.validate_arguments('{"city": "Paris"}') == ([], {"city": "Paris", "limit": 3})
    assert unbound._args.model is not None and service.lookup._args is unbound._args
    with pytest.raises(ToolArgumentsError, match="limit"):
        service.lookup.validate_arguments('{"city": "Paris", "limit": "many"}')


DOCSTRINGS = [
    "Summary only.",
    "Summary.\n\nLonger text\nover two lines.",
    "Get it.\n\nArgs:\n    city: The city.\n    days (int, optional): How many. Defaults to 3.\n\nReturns:\n    The forecast.\n\n"
    "Raises:\n    ValueError: Unknown city.",
    "Get it.\n\nArgs:\n    city the city, no colon\n",
    "Get it.\n\nArgs:\n    city: The city.\n\n:param days: reST too.",
    "Get it.\n\nParameters\n----------\ncity : str\n    The city.",
    "Get it.\n\n@param city: Epydoc.",
    "Get it.\n\n.. deprecated:: 1.0\n   Use another.",
    "Get it.\n\nExample:\n    >>> get('x')\n",
    "Get it.\n\nArgs:\n\nReturns:\n",
    "Args:\n  city: only metadata",
]


@pytest.mark.parametrize("text", DOCSTRINGS)
def test_docstring_shortcut_matches_docstring_parser(text: str) -> None:
    def described(d: Any) -> Any:
        if isinstance(d, Exception):
            return type(d)
        meta = [(type(m), m.args, m.description, getattr(m, "arg_name", None), getattr(m, "type_name", None)) for m in d.meta]
        return (d.style, d.short_description, d.long_description, d.blank_after_long_description, meta)

    try:
        expected: Any = docstring_parser.parse(text)
    except Exception as e:
        expected = e
    try:
        got: Any = docstrings.parse_any_style(text)
    except Exception as e:
        got = e
    assert described(got) == described(expected)
