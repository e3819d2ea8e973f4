"""Unit tests of agentkit._schema: clean_schema, to_strict, accepts_null, strip_strict_nulls."""

import copy
from typing import Any, Optional

import jsonschema
import pytest
from pydantic import BaseModel, Field, TypeAdapter

from agentkit._schema import StrictSchemaError, accepts_null, clean_schema, strip_strict_nulls, to_strict

# --- clean_schema ------------------------------------------------------------------------------


class Book(BaseModel):
    title: str
    subtitle: Optional[str] = Field(None, title="Custom title", examples=[{"title": "kept"}])
    meta: dict[str, Any] = Field(default_factory=lambda: {"title": "kept too"})


def test_clean_schema_drops_generated_titles_in_place() -> None:
    schema = TypeAdapter(list[Book]).json_schema()
    assert "title" in schema["$defs"]["Book"]  # pydantic generated it
    result = clean_schema(schema)
    assert result is schema
    book = schema["$defs"]["Book"]
    assert "title" not in book
    assert book["properties"]["title"] == {"type": "string"}  # a property literally named "title" survives
    assert book["required"] == ["title"]
    assert "title" not in book["properties"]["subtitle"]
    assert book["properties"]["subtitle"]["examples"] == [{"title": "kept"}]
    jsonschema.Draft202012Validator.check_schema(schema)


def test_clean_schema_keeps_title_inside_values() -> None:
    schema = {
        "title": "Root",
        "type": "object",
        "properties": {
            "title": {"title": "Title", "type": "string", "default": "x"},
            "obj": {"title": "Obj", "type": "object", "default": {"title": "d"}, "properties": {"title": {"const": "c"}}},
            "choice": {"enum": [{"title": "e"}], "const": {"title": "c"}},
            "items": {"type": "array", "items": {"title": "Item", "type": "integer"}},
            "union": {"anyOf": [{"title": "A", "type": "string"}, {"title": "B", "type": "null"}]},
            "map": {"type": "object", "additionalProperties": {"title": "V", "type": "integer"}},
            "pat": {"type": "object", "patternProperties": {"title": {"title": "P", "type": "string"}}},
        },
        "required": ["title"],
        "$defs": {"title": {"title": "Def", "type": "string"}},
    }
    clean_schema(schema)
    assert schema == {
        "type": "object",
        "properties": {
            "title": {"type": "string", "default": "x"},
            "obj": {"type": "object", "default": {"title": "d"}, "properties": {"title": {"const": "c"}}},
            "choice": {"enum": [{"title": "e"}], "const": {"title": "c"}},
            "items": {"type": "array", "items": {"type": "integer"}},
            "union": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "map": {"type": "object", "additionalProperties": {"type": "integer"}},
            "pat": {"type": "object", "patternProperties": {"title": {"type": "string"}}},
        },
        "required": ["title"],
        "$defs": {"title": {"type": "string"}},
    }


def test_clean_schema_on_odd_input() -> None:
    assert clean_schema({}) == {}
    assert clean_schema({"title": "only"}) == {}
    assert clean_schema({"type": "string", "title": {"weird": 1}}) == {"type": "string"}


# --- to_strict -------------------------------------------------------------------------------


def obj(properties: dict[str, Any], required: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, **extra}
    if required:
        schema["required"] = list(required)
    return schema


def test_to_strict_basic_shape() -> None:
    schema = obj(
        {
            "a": {"type": "integer"},
            "b": {"type": "string", "default": "x"},
            "c": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None},
            "d": {"enum": ["p", "q"], "type": "string", "default": "p", "description": "Pick."},
            "e": {"const": "k"},
            "f": {"$ref": "#/$defs/M"},
            "g": {"type": "array", "items": {"type": "integer"}},
        },
        ("a",),
        **{"$defs": {"M": obj({"z": {"type": "boolean", "default": False}})}},
    )
    assert to_strict(schema) == {
        "type": "object",
        "properties": {
            "a": {"type": "integer"},
            "b": {"type": ["string", "null"]},
            "c": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
            "d": {"anyOf": [{"enum": ["p", "q"], "type": "string"}, {"type": "null"}], "description": "Pick."},
            "e": {"anyOf": [{"const": "k"}, {"type": "null"}]},
            "f": {"anyOf": [{"$ref": "#/$defs/M"}, {"type": "null"}]},
            "g": {"type": ["array", "null"], "items": {"type": "integer"}},
        },
        "required": ["a", "b", "c", "d", "e", "f", "g"],
        "additionalProperties": False,
        "$defs": {
            "M": {
                "type": "object",
                "properties": {"z": {"type": ["boolean", "null"]}},
                "required": ["z"],
                "additionalProperties": False,
            }
        },
    }


def test_to_strict_does_not_mutate_its_input() -> None:
    schema = obj(
        {
            "a": {"type": "string", "minLength": 2, "default": "ab"},
            "b": {"$ref": "#/$defs/M", "description": "An M."},
            "c": {"allOf": [{"$ref": "#/$defs/M"}], "default": {}},
            "d": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
        },
        **{"$defs": {"M": obj({"x": {"type": "integer", "default": 1}, "n": {"$ref": "#/$defs/M"}})}},
    )
    before = copy.deepcopy(schema)
    out = to_strict(schema)
    assert schema == before
    assert out is not schema and out["$defs"] is not schema["$defs"]
    out["properties"]["a"]["type"] = "changed"
    assert schema == before


def test_to_strict_is_idempotent() -> None:
    schema = clean_schema(TypeAdapter(Book).json_schema())
    schema["properties"].pop("meta")  # free-form: not strict-able
    once = to_strict(schema)
    assert to_strict(once) == once


def test_to_strict_root_must_be_object() -> None:
    for schema in ({"type": "string"}, {"type": "array", "items": {"type": "integer"}}, {}):
        with pytest.raises(StrictSchemaError) as info:
            to_strict(schema)
        assert info.value.path == ""
        assert str(info.value) == "the root of a strict schema must be an object at (root)"


def test_to_strict_closes_nested_objects_and_keeps_required_order() -> None:
    schema = obj(
        {"outer": obj({"z": {"type": "integer"}, "a": obj({"deep": {"type": "string"}})}, ("a",))},
        ("outer",),
    )
    out = to_strict(schema)
    outer = out["properties"]["outer"]
    assert outer["additionalProperties"] is False and outer["required"] == ["z", "a"]
    assert outer["properties"]["z"] == {"type": ["integer", "null"]}
    deep = outer["properties"]["a"]
    assert deep["additionalProperties"] is False and deep["required"] == ["deep"]
    assert deep["properties"]["deep"] == {"type": ["string", "null"]}


def test_to_strict_object_without_properties_and_explicit_false() -> None:
    out = to_strict(obj({"e": {"type": "object"}, "f": {"type": "object", "additionalProperties": False}}, ("e", "f")))
    for name in ("e", "f"):
        assert out["properties"][name] == {"type": "object", "properties": {}, "required": [], "additionalProperties": False}


@pytest.mark.parametrize(
    ("prop", "expected"),
    [
        ({"type": "string", "minLength": 1}, {"type": "string", "description": "(minLength: 1)"}),
        (
            {"type": "string", "minLength": 1, "maxLength": 9, "description": "Name."},
            {"type": "string", "description": "Name. (minLength: 1, maxLength: 9)"},
        ),
        ({"type": "string", "pattern": "^a$", "format": "email"}, {"type": "string", "pattern": "^a$", "format": "email"}),
        ({"type": "string", "format": "uri"}, {"type": "string", "description": "(format: uri)"}),
        ({"type": "string", "format": "date-time"}, {"type": "string", "format": "date-time"}),
        (
            {"type": "array", "items": {"type": "integer"}, "uniqueItems": True, "minItems": 1},
            {"type": "array", "items": {"type": "integer"}, "minItems": 1, "description": "(uniqueItems: True)"},
        ),
        ({"type": "integer", "minimum": 0, "exclusiveMaximum": 9, "multipleOf": 3}, None),
        (
            obj({"k": {"type": "integer"}}, ("k",), minProperties=1, maxProperties=2),
            {
                "type": "object",
                "properties": {"k": {"type": "integer"}},
                "required": ["k"],
                "additionalProperties": False,
                "description": "(minProperties: 1, maxProperties: 2)",
            },
        ),
        ({"type": "string", "contentEncoding": "base64"}, {"type": "string", "description": "(contentEncoding: base64)"}),
        ({"type": "array", "items": False, "maxItems": 0}, {"type": "array", "maxItems": 0}),
    ],
)
def test_to_strict_moves_unsupported_keywords_into_description(prop: dict[str, Any], expected: dict[str, Any] | None) -> None:
    out = to_strict(obj({"p": prop}, ("p",)))
    assert out["properties"]["p"] == (prop if expected is None else expected)
    jsonschema.Draft202012Validator.check_schema(out)


def test_to_strict_drops_defaults_everywhere() -> None:
    schema = obj(
        {
            "a": {"type": "array", "items": obj({"x": {"type": "integer", "default": 1}}), "default": []},
            "b": {"anyOf": [obj({"y": {"type": "string", "default": "s"}}), {"type": "null"}], "default": None},
        },
        **{"$defs": {"D": obj({"z": {"type": "number", "default": 0.5}}, default={"z": 1})}},
        default={},
    )
    out = to_strict(schema)
    assert '"default"' not in str(out).replace("'", '"')


def test_to_strict_allof_and_oneof() -> None:
    schema = obj(
        {
            "single": {"allOf": [{"$ref": "#/$defs/M"}], "description": "One M."},
            "merged": {"allOf": [obj({"q": {"type": "integer"}}, ("q",))], "description": "Inline."},
            "either": {"oneOf": [{"$ref": "#/$defs/M"}, {"type": "integer"}], "discriminator": {"propertyName": "x"}},
        },
        ("single", "merged", "either"),
        **{"$defs": {"M": obj({"x": {"type": "string"}}, ("x",))}},
    )
    props = to_strict(schema)["properties"]
    assert props["single"] == {"anyOf": [{"$ref": "#/$defs/M"}], "description": "One M."}
    assert props["merged"] == {
        "type": "object",
        "properties": {"q": {"type": "integer"}},
        "required": ["q"],
        "additionalProperties": False,
        "description": "Inline.",
    }
    assert props["either"] == {"anyOf": [{"$ref": "#/$defs/M"}, {"type": "integer"}]}
    with pytest.raises(StrictSchemaError, match="allOf with several schemas") as info:
        to_strict(obj({"p": {"allOf": [{"type": "string"}, {"minLength": 1}]}}))
    assert info.value.path == "p"


def test_to_strict_ref_with_siblings() -> None:
    schema = obj(
        {"m": {"$ref": "#/$defs/M", "description": "The M.", "default": {"x": "d"}}},
        **{"$defs": {"M": obj({"x": {"type": "string"}}, ("x",))}},
    )
    out = to_strict(schema)
    assert out["properties"]["m"] == {"anyOf": [{"$ref": "#/$defs/M"}, {"type": "null"}], "description": "The M."}
    jsonschema.Draft202012Validator.check_schema(out)


@pytest.mark.parametrize(
    ("prop", "reason", "path"),
    [
        ({"not": {"type": "string"}}, "'not' schemas", "p"),
        ({"if": {"type": "string"}, "then": {"minLength": 1}}, "if/then/else", "p"),
        ({"type": "object", "patternProperties": {"^a": {"type": "string"}}}, "patternProperties", "p"),
        ({"type": "object", "dependentRequired": {"a": ["b"]}}, "dependentRequired", "p"),
        ({"type": "object", "dependentSchemas": {"a": {}}}, "dependentSchemas", "p"),
        ({"type": "object", "unevaluatedProperties": False}, "unevaluatedProperties", "p"),
        ({"type": "array", "prefixItems": [{"type": "integer"}]}, "fixed-length tuples", "p"),
        ({"type": "object", "additionalProperties": {"type": "integer"}}, "free-form keys", "p"),
        ({"type": "object", "additionalProperties": True}, "free-form keys", "p"),
        ({"anyOf": [{"type": "object", "additionalProperties": True}, {"type": "null"}]}, "free-form keys", "p.anyOf[0]"),
        ({"type": "array", "items": {"type": "object", "additionalProperties": True}}, "free-form keys", "p[]"),
        ({}, "any type", "p"),
        ({"description": "Anything."}, "any type", "p"),
        ({"type": "array", "items": {}}, "any type", "p[]"),
        (obj({"inner": {"not": {}}}), "'not' schemas", "p.inner"),
        ({"$ref": "#/$defs/Missing"}, "unresolvable $ref", "p"),
        ({"$ref": "https://example.com/schema.json"}, "unresolvable $ref", "p"),
    ],
)
def test_to_strict_impossible_shapes_name_the_path(prop: dict[str, Any], reason: str, path: str) -> None:
    with pytest.raises(StrictSchemaError) as info:
        to_strict(obj({"p": prop}, ("p",)))
    assert info.value.path == path
    assert reason in info.value.reason
    assert str(info.value).endswith(f" at {path}")


def test_to_strict_impossible_shape_inside_defs() -> None:
    free = {"type": "object", "additionalProperties": True}
    schema = obj({"m": {"$ref": "#/$defs/M"}}, ("m",), **{"$defs": {"M": obj({"d": free})}})
    with pytest.raises(StrictSchemaError) as info:
        to_strict(schema)
    assert info.value.path == "$defs.M.d"


def test_to_strict_recursive_refs_terminate() -> None:
    schema = obj(
        {"root": {"$ref": "#/$defs/Node", "description": "Start here."}},
        ("root",),
        **{
            "$defs": {
                "Node": obj(
                    {
                        "value": {"type": "integer"},
                        "self": {"$ref": "#/$defs/Node", "description": "Itself."},
                        "next": {"anyOf": [{"$ref": "#/$defs/Node"}, {"type": "null"}], "default": None},
                        "kids": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                        "other": {"$ref": "#/$defs/Other"},
                    },
                    ("value",),
                ),
                "Other": obj({"back": {"$ref": "#/$defs/Node", "default": None}}),
            }
        },
    )
    out = to_strict(schema)
    node = out["$defs"]["Node"]
    assert node["properties"]["self"] == {"anyOf": [{"$ref": "#/$defs/Node"}, {"type": "null"}], "description": "Itself."}
    assert node["properties"]["next"] == {"anyOf": [{"$ref": "#/$defs/Node"}, {"type": "null"}]}
    assert node["properties"]["kids"] == {"type": ["array", "null"], "items": {"$ref": "#/$defs/Node"}}
    assert node["properties"]["other"] == {"anyOf": [{"$ref": "#/$defs/Other"}, {"type": "null"}]}
    assert out["$defs"]["Other"]["properties"]["back"] == {"anyOf": [{"$ref": "#/$defs/Node"}, {"type": "null"}]}
    assert out["properties"]["root"] == {"anyOf": [{"$ref": "#/$defs/Node"}], "description": "Start here."}
    validator = jsonschema.Draft202012Validator(out)
    leaf = {"value": 2, "self": None, "next": None, "kids": None, "other": None}
    deep = {"value": 1, "self": leaf, "next": leaf, "kids": [leaf], "other": {"back": leaf}}
    assert validator.is_valid({"root": deep})
    # every key is required at every depth
    assert not validator.is_valid({"root": {**deep, "kids": [{"value": 2}]}})
    assert not validator.is_valid({"root": {**deep, "other": {"back": {**leaf, "extra": 1}}}})


def test_to_strict_recursive_pydantic_model() -> None:
    class Tree(BaseModel):
        name: str
        parent: Optional["Tree"] = Field(None, description="Up.")
        first: "Tree" = Field(description="A required self link.")
        kids: list["Tree"] = Field(default_factory=list, description="Down.")

    Tree.model_rebuild()
    root_ref = clean_schema(TypeAdapter(Tree).json_schema())
    assert root_ref["$ref"] == "#/$defs/Tree"
    with pytest.raises(StrictSchemaError, match="root"):  # a root $ref is not an object schema
        to_strict(root_ref)

    class Forest(BaseModel):
        tree: Tree

    schema = clean_schema(TypeAdapter(Forest).json_schema())
    out = to_strict(schema)
    jsonschema.Draft202012Validator.check_schema(out)
    tree = out["$defs"]["Tree"]
    assert tree["required"] == ["name", "parent", "first", "kids"]
    assert tree["properties"]["first"] == {"anyOf": [{"$ref": "#/$defs/Tree"}], "description": "A required self link."}
    assert tree["properties"]["kids"] == {"type": ["array", "null"], "items": {"$ref": "#/$defs/Tree"}, "description": "Down."}
    assert out["properties"]["tree"] == {"$ref": "#/$defs/Tree"}


def test_strict_schema_error_attributes() -> None:
    error = StrictSchemaError("a.b", "why")
    assert (error.path, error.reason, str(error)) == ("a.b", "why", "why at a.b")
    assert isinstance(error, ValueError)
    assert str(StrictSchemaError("", "root problem")) == "root problem at (root)"


# --- accepts_null ----------------------------------------------------------------------------

DEFS = {
    "Nullable": {"type": ["string", "null"]},
    "Plain": {"type": "string"},
    "Loop": {"$ref": "#/$defs/Plain"},
}


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "null"}, True),
        ({"type": ["integer", "null"]}, True),
        ({"type": "integer"}, False),
        ({"type": ["integer", "string"]}, False),
        ({"enum": ["a", None]}, True),
        ({"enum": ["a", "b"]}, False),
        ({"const": None}, True),
        ({"const": 0}, False),
        ({"anyOf": [{"type": "string"}, {"type": "null"}]}, True),
        ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, False),
        ({"oneOf": [{"type": "string"}, {"type": "null"}]}, True),
        ({"anyOf": [{"anyOf": [{"type": "null"}]}]}, True),
        ({"anyOf": [], "oneOf": [{"type": "null"}]}, True),
        ({"$ref": "#/$defs/Nullable"}, True),
        ({"$ref": "#/$defs/Plain"}, False),
        ({"$ref": "#/$defs/Loop"}, False),
        ({"$ref": "#/$defs/Missing"}, False),
        ({"$ref": "other.json#/x"}, False),
        ({"anyOf": [{"$ref": "#/$defs/Nullable"}]}, True),
        (True, True),
        (False, False),
        (None, False),
        ({"type": "string", "description": "null"}, False),
    ],
)
def test_accepts_null(schema: Any, expected: bool) -> None:
    assert accepts_null(schema, DEFS) is expected


# --- strip_strict_nulls --------------------------------------------------------------------------


class Inner(BaseModel):
    n: int = 3
    maybe: Optional[int] = 4
    need: str


class Outer(BaseModel):
    a: int = 1
    b: Optional[str] = "b"
    inner: Inner
    opt_inner: Optional[Inner] = None
    inners: list[Inner] = Field(default_factory=list)
    opt_inners: Optional[list[Inner]] = None
    free: Any = None


OUTER = clean_schema(TypeAdapter(Outer).json_schema())


def test_strip_strict_nulls_removes_only_optional_non_nullable_nulls() -> None:
    data = {
        "a": None,
        "b": None,
        "inner": {"n": None, "maybe": None, "need": None},
        "opt_inner": {"n": None, "maybe": 5, "need": "x"},
        "inners": [{"n": None, "maybe": None, "need": "y"}, {"n": 1, "need": "z"}],
        "opt_inners": [{"n": None, "maybe": None, "need": "w"}],
        "free": None,
        "unknown": None,
    }
    result = strip_strict_nulls(data, OUTER)
    assert result is data  # in place
    assert data == {
        "b": None,
        "inner": {"maybe": None, "need": None},  # "need" is required: left for validation to reject
        "opt_inner": {"maybe": 5, "need": "x"},
        "inners": [{"maybe": None, "need": "y"}, {"n": 1, "need": "z"}],
        "opt_inners": [{"maybe": None, "need": "w"}],
        "unknown": None,  # not in the schema: left for validation to reject
    }
    # "free" (Any, schema {}) is dropped too: accepts_null is a shallow check; its default is None anyway
    validated = Outer.model_validate({k: v for k, v in data.items() if k != "unknown"} | {"inner": {"need": "q"}})
    assert validated.a == 1 and validated.b is None and validated.opt_inner == Inner(n=3, maybe=5, need="x")


def test_strip_strict_nulls_passes_other_values_through() -> None:
    for value in (None, 1, "s", [1, None], {"a": None}):
        assert strip_strict_nulls(copy.deepcopy(value), {"type": "string"}) == value
    assert strip_strict_nulls(None, OUTER) is None
    assert strip_strict_nulls([{"a": None}], OUTER) == [{"a": None}]  # a list where an object is expected


def test_strip_strict_nulls_picks_the_matching_union_branch() -> None:
    schema = {
        "anyOf": [
            {"$ref": "#/$defs/A"},
            obj({"y": {"type": "integer", "default": 0}, "z": {"type": "string"}}, ("z",)),
            {"type": "null"},
        ],
        "$defs": {"A": {"type": "object", "properties": {"x": {"type": "integer", "default": 0}}}},
    }
    assert strip_strict_nulls({"x": None}, schema) == {}
    assert strip_strict_nulls({"y": None, "z": "s"}, schema) == {"z": "s"}
    assert strip_strict_nulls({"x": None, "y": None}, schema) == {"x": None, "y": None}  # no branch fits: untouched


def test_strip_strict_nulls_with_separate_defs_and_bad_refs() -> None:
    defs = {"M": {"type": "object", "properties": {"k": {"type": "integer", "default": 1}}}}
    assert strip_strict_nulls({"k": None}, {"$ref": "#/$defs/M"}, defs) == {}
    assert strip_strict_nulls({"k": None}, {"$ref": "#/$defs/Missing"}, defs) == {"k": None}


def test_strip_strict_nulls_on_recursive_data() -> None:
    class Node(BaseModel):
        v: int = 0
        next: Optional["Node"] = None

    Node.model_rebuild()
    schema = clean_schema(TypeAdapter(Node).json_schema())
    data: dict[str, Any] = {"v": None, "next": None}
    for _ in range(50):
        data = {"v": None, "next": data}
    strip_strict_nulls(data, schema)
    node = Node.model_validate(data)
    depth = 0
    while node.next is not None:
        assert node.v == 0
        node, depth = node.next, depth + 1
    assert depth == 50


def test_strict_round_trip_with_jsonschema_and_pydantic() -> None:
    """A document valid for the strict schema becomes, after stripping, valid for the model with defaults."""
    schema = copy.deepcopy(OUTER)
    schema["properties"].pop("free")
    strict = to_strict(schema)
    document = {
        "a": None,
        "b": None,
        "inner": {"n": None, "maybe": None, "need": "x"},
        "opt_inner": None,
        "inners": None,
        "opt_inners": [{"n": 7, "maybe": None, "need": "y"}],
    }
    jsonschema.Draft202012Validator(strict).validate(document)
    assert not jsonschema.Draft202012Validator(strict).is_valid({k: v for k, v in document.items() if k != "a"})
    value = Outer.model_validate(strip_strict_nulls(copy.deepcopy(document), schema))
    assert value == Outer(b=None, inner=Inner(maybe=None, need="x"), opt_inners=[Inner(n=7, maybe=None, need="y")])
