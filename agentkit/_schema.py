"""JSON-schema helpers: pydantic → wire schema, the strict transformer, and null stripping.

``to_strict`` is the one place that knows OpenAI's strict subset (every object closed with
``additionalProperties: false``, every property required, optional ones made nullable, no
``default`` and no unsupported keywords). Constraints the subset cannot express are not lost:
they move into the property's description (and pydantic still enforces them when the arguments
are validated), while shapes it cannot express at all (free-form dicts, tuples, ``not``) raise
:class:`StrictSchemaError` naming the path.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["StrictSchemaError", "clean_schema", "to_strict", "strip_strict_nulls", "fill_omitted_optionals", "accepts_null"]

JsonSchema = dict[str, Any]

# Keywords OpenAI's strict mode rejects but that only narrow what is valid: moved to the
# description, still enforced by pydantic after the call.
_NARROWING = (
    "minLength",
    "maxLength",
    "minProperties",
    "maxProperties",
    "uniqueItems",
    "contains",
    "minContains",
    "maxContains",
    "propertyNames",
    "contentEncoding",
    "contentMediaType",
)
_FORMATS = frozenset({"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"})
_IMPOSSIBLE = {
    "not": "'not' schemas",
    "if": "if/then/else schemas",
    "patternProperties": "patternProperties (dicts with patterned keys)",
    "dependentSchemas": "dependentSchemas",
    "dependentRequired": "dependentRequired",
    "unevaluatedProperties": "unevaluatedProperties",
}


class StrictSchemaError(ValueError):
    """A schema cannot be expressed in the strict subset; ``path`` says where."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{reason} at {path or '(root)'}")


def clean_schema(schema: JsonSchema) -> JsonSchema:
    """Drop pydantic's generated ``title`` keys (noise that costs tokens), in place; returns it."""
    _drop_titles(schema)
    return schema


def _drop_titles(node: Any) -> None:
    if isinstance(node, dict):
        node.pop("title", None)
        for key, value in node.items():
            if key in ("properties", "$defs", "definitions", "patternProperties") and isinstance(value, dict):
                for sub in value.values():
                    _drop_titles(sub)
            elif key not in ("enum", "const", "default", "examples", "required"):
                _drop_titles(value)
    elif isinstance(node, list):
        for item in node:
            _drop_titles(item)


def to_strict(schema: JsonSchema) -> JsonSchema:
    """Return the strict-subset version of an object ``schema`` (the input is not modified).

    Raises :class:`StrictSchemaError` when the schema cannot be made strict.
    """
    out = copy.deepcopy(schema)
    if out.get("type") != "object":
        raise StrictSchemaError("", "the root of a strict schema must be an object")
    defs = out.get("$defs", {})
    for name, sub in defs.items():
        _strict(sub, f"$defs.{name}", defs)
    _strict(out, "", defs)
    return out


def _strict(node: Any, path: str, defs: dict[str, Any]) -> None:
    if not isinstance(node, dict):
        return
    _refuse_impossible(node, path)
    node.pop("default", None)
    if "$ref" in node:
        _check_ref(node, path, defs)
    _narrowing_to_description(node)
    if "allOf" in node:
        _merge_all_of(node, path)
        _strict(node, path, defs)
        return
    if "oneOf" in node:
        node["anyOf"] = node.pop("oneOf")
        node.pop("discriminator", None)  # OpenAPI's hint for oneOf, not JSON Schema; pydantic still checks it
    if not any(key in node for key in _CONCRETE):
        raise StrictSchemaError(path, "strict mode cannot express a value of any type (Any, bare list); give it a concrete type")
    for i, sub in enumerate(node.get("anyOf", ())):
        _strict(sub, f"{path}.anyOf[{i}]", defs)
    if _is_object(node):
        _strict_object(node, path, defs)
    if "items" in node:
        if node["items"] is False:
            node.pop("items")
        else:
            _strict(node["items"], f"{path}[]", defs)


_CONCRETE = ("type", "anyOf", "$ref", "enum", "const")


def _refuse_impossible(node: JsonSchema, path: str) -> None:
    for keyword, what in _IMPOSSIBLE.items():
        if keyword in node:
            raise StrictSchemaError(path, f"strict mode cannot express {what}")
    if "prefixItems" in node:
        raise StrictSchemaError(path, "strict mode cannot express fixed-length tuples; use list[...] instead")


def _check_ref(node: JsonSchema, path: str, defs: dict[str, Any]) -> None:
    _resolve(node["$ref"], defs, path)
    if len(node) > 1 and "anyOf" not in node:
        # A $ref with siblings (a description): keep them beside a one-branch anyOf. Inlining
        # the target instead would never end for a recursive model.
        node["anyOf"] = [{"$ref": node.pop("$ref")}]


def _narrowing_to_description(node: JsonSchema) -> None:
    """Move the keywords strict mode rejects but that only narrow (and unsupported formats) into the description."""
    hints = [f"{keyword}: {node.pop(keyword)}" for keyword in _NARROWING if keyword in node]
    fmt = node.get("format")
    if fmt is not None and fmt not in _FORMATS:
        hints.append(f"format: {node.pop('format')}")
    if hints:
        note = "(" + ", ".join(hints) + ")"
        node["description"] = f"{node['description']} {note}" if node.get("description") else note


def _merge_all_of(node: JsonSchema, path: str) -> None:
    parts = node.pop("allOf")
    if len(parts) != 1:
        raise StrictSchemaError(path, "strict mode cannot express allOf with several schemas")
    for key, value in parts[0].items():
        node.setdefault(key, value)


def _is_object(node: JsonSchema) -> bool:
    types = node.get("type")
    return types == "object" or (isinstance(types, list) and "object" in types) or "properties" in node


def _strict_object(node: JsonSchema, path: str, defs: dict[str, Any]) -> None:
    """Close the object and make every property required (the optional ones nullable)."""
    if node.get("additionalProperties") not in (None, False):
        raise StrictSchemaError(
            path,
            "strict mode cannot express objects with free-form keys (dict[str, ...]); "
            "use a pydantic model, dataclass or TypedDict with named fields",
        )
    node["additionalProperties"] = False
    props: dict[str, Any] = node.setdefault("properties", {})
    required = set(node.get("required", ()))
    for name, sub in props.items():
        _strict(sub, f"{path}.{name}" if path else name, defs)
        if name not in required and not accepts_null(sub, defs):
            props[name] = _nullable(sub)
    node["required"] = list(props)


def _nullable(sub: JsonSchema) -> JsonSchema:
    kind = sub.get("type")
    if isinstance(kind, str) and "enum" not in sub and "const" not in sub:
        return {**sub, "type": [kind, "null"]}
    if "anyOf" in sub:
        return {**sub, "anyOf": [*sub["anyOf"], {"type": "null"}]}
    wrapped: JsonSchema = {"anyOf": [sub, {"type": "null"}]}
    if "description" in sub:
        inner = dict(sub)
        wrapped = {"anyOf": [inner, {"type": "null"}], "description": inner.pop("description")}
    return wrapped


def _resolve(ref: str, defs: dict[str, Any], path: str = "") -> JsonSchema:
    prefix = "#/$defs/"
    if not ref.startswith(prefix) or ref[len(prefix) :] not in defs:
        raise StrictSchemaError(path, f"unresolvable $ref {ref!r}")
    target: JsonSchema = defs[ref[len(prefix) :]]
    return target


def accepts_null(schema: Any, defs: dict[str, Any]) -> bool:
    """Whether ``schema`` accepts ``null`` (a shallow check: type, const, enum, anyOf, $ref)."""
    if not isinstance(schema, dict):
        return schema is True
    if "$ref" in schema:
        try:
            return accepts_null(_resolve(schema["$ref"], defs), defs)
        except StrictSchemaError:
            return False
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    if "enum" in schema and None in schema["enum"]:
        return True
    if "const" in schema and schema["const"] is None:
        return True
    return any(accepts_null(sub, defs) for sub in (schema.get("anyOf") or schema.get("oneOf") or ()))


def strip_strict_nulls(data: Any, schema: JsonSchema, defs: dict[str, Any] | None = None) -> Any:
    """Undo the strict transform's "optional → required but nullable" on a value, in place.

    Walks ``data`` along the *original* (non-strict) ``schema`` and removes object keys whose
    value is ``None`` where the original property was optional and does not accept null, so the
    field's default applies when the value is validated.
    """
    return _walk_optionals(data, schema, schema.get("$defs", {}) if defs is None else defs, fill=False)


def fill_omitted_optionals(data: Any, schema: JsonSchema) -> Any:
    """The inverse, for checking an answer against a strict schema: add ``None`` for every optional
    property (of the original ``schema``) the value leaves out, in place. Strict schemas require
    every property, but an answer from a server that does not enforce them may omit optional ones."""
    return _walk_optionals(data, schema, schema.get("$defs", {}), fill=True)


def _walk_optionals(data: Any, schema: JsonSchema, defs: dict[str, Any], *, fill: bool) -> Any:
    if "$ref" in schema:
        try:
            schema = _resolve(schema["$ref"], defs)
        except StrictSchemaError:
            return data
    if isinstance(data, dict):
        props = schema.get("properties")
        if props is None:
            branch = _object_branch(data, schema, defs)
            return data if branch is None else _walk_optionals(data, branch, defs, fill=fill)
        _walk_object(data, schema, props, defs, fill)
    elif isinstance(data, list):
        items = _items_schema(schema)
        if items is not None:
            for value in data:
                _walk_optionals(value, items, defs, fill=fill)
    return data


def _object_branch(data: dict[str, Any], schema: JsonSchema, defs: dict[str, Any]) -> JsonSchema | None:
    """The first object branch of an anyOf/oneOf that has every key of ``data`` among its properties."""
    for branch in schema.get("anyOf") or schema.get("oneOf") or ():
        branch = _resolve(branch["$ref"], defs) if "$ref" in branch else branch
        branch_props = branch.get("properties")
        if branch_props is not None and set(data) <= set(branch_props):
            return branch
    return None


def _walk_object(data: dict[str, Any], schema: JsonSchema, props: dict[str, Any], defs: dict[str, Any], fill: bool) -> None:
    required = set(schema.get("required", ()))
    if fill:
        for key in props:
            if key not in data and key not in required:
                data[key] = None
    for key in list(data):
        sub = props.get(key)
        if sub is None:
            continue
        value = data[key]
        if value is not None:
            _walk_optionals(value, sub, defs, fill=fill)
        elif not fill and key not in required and not accepts_null(sub, defs):
            del data[key]


def _items_schema(schema: JsonSchema) -> JsonSchema | None:
    """The schema of an array's items: its own ``items``, else the first anyOf branch's."""
    items = schema.get("items")
    if isinstance(items, dict):
        return items
    return next((b["items"] for b in schema.get("anyOf", ()) if isinstance(b, dict) and isinstance(b.get("items"), dict)), None)
