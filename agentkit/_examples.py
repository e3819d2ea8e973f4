"""Schema-valid example values, generated from a JSON schema (used by ``TestModel``).

Deterministic: the same schema gives the same value. Covers what tool and output schemas use:
$ref/$defs, anyOf/oneOf/allOf, enum/const, objects (all properties, so optional ones are
exercised too), arrays with min/max items and uniqueItems, strings with formats, length bounds
and ``pattern`` (a matching string is built from the regex), numbers with bounds and multipleOf,
booleans and null. Keywords a strict schema moved into the description (see
``_schema.to_strict``) are read back from it. Below the second visit of a ``$ref`` (recursion),
values are the shortest allowed (no optional fields, empty arrays, null), so recursive schemas
end. ``not`` and look-arounds are not honoured.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable
from typing import Any

if sys.version_info >= (3, 11):
    from re import _parser as _sre
else:  # pragma: no cover
    import sre_parse as _sre

__all__ = ["example_value"]

_FORMATS = {
    "date-time": "2024-01-01T12:00:00Z",
    "date": "2024-01-01",
    "time": "12:00:00",
    "duration": "P1D",
    "email": "user@example.com",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "uuid": "12345678-1234-5678-1234-567812345678",
    "uri": "https://example.com/",
    "path": "example.txt",
    "file-path": "example.txt",
    "directory-path": ".",
}
# ``to_strict`` writes these as "(keyword: value, ...)" into the description.
_HINT_KEYS = ("minLength", "maxLength", "minProperties", "maxProperties", "uniqueItems", "format")
_HINT = re.compile(rf"\b({'|'.join(_HINT_KEYS)}): ([^,()]+)")
_CHARS = "a0A_-. z9Z"  # tried in order for a regex character class
_CATEGORIES = {"CATEGORY_DIGIT": r"\d", "CATEGORY_NOT_DIGIT": r"\D", "CATEGORY_WORD": r"\w"}
_CATEGORIES |= {"CATEGORY_NOT_WORD": r"\W", "CATEGORY_SPACE": r"\s", "CATEGORY_NOT_SPACE": r"\S"}


def example_value(schema: Any, defs: dict[str, Any] | None = None, *, _refs: tuple[str, ...] = ()) -> Any:
    """A value that ``schema`` accepts (best effort for ``pattern`` and ``not``)."""
    if not isinstance(schema, dict):
        return None if schema is False else "example"
    if defs is None:
        defs = schema.get("$defs", {})
    if len(_refs) > 12:
        return None
    if "$ref" in schema:
        return example_value(_resolve(schema, defs), defs, _refs=(*_refs, schema["$ref"]))
    schema = _with_hints(schema)
    deep = len(set(_refs)) < len(_refs)
    value = _given(schema)
    if value is _MISSING:
        value = _combined(schema, defs, _refs, deep)
    if value is _MISSING:
        make = _BY_TYPE.get(_kind(schema, deep))
        value = None if make is None else make(schema, defs, _refs, deep)
    return value


_MISSING: Any = object()  # "this step has no value for the schema": try the next one


def _given(schema: dict[str, Any]) -> Any:
    """The value the schema names itself (``const``, the first of ``enum``, ``default``)."""
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if schema.get("default") is not None:
        return schema["default"]
    return _MISSING


def _combined(schema: dict[str, Any], defs: dict[str, Any], refs: tuple[str, ...], deep: bool) -> Any:
    """The value of an ``anyOf`` / ``oneOf`` (its first non-null option) or an ``allOf`` (merged)."""
    for key in ("anyOf", "oneOf"):
        if key in schema:
            hints = {k: v for k, v in schema.items() if k in _HINT_KEYS}  # they apply to every option
            options = [o for o in schema[key] if not (isinstance(o, dict) and o.get("type") == "null")]
            if not options or (deep and len(options) < len(schema[key])):
                return None
            return example_value({**hints, **options[0]}, defs, _refs=refs)
    if "allOf" in schema:
        merged = {}
        for part in schema["allOf"]:
            merged.update(part)
        return example_value({**merged, **{k: v for k, v in schema.items() if k != "allOf"}}, defs, _refs=refs)
    return _MISSING


def _kind(schema: dict[str, Any], deep: bool) -> str:
    """The JSON type to make a value of ("null" below a recursion when null is allowed)."""
    kind = schema.get("type")
    if isinstance(kind, list):
        non_null = [k for k in kind if k != "null"]
        return "null" if (deep and "null" in kind) or not non_null else str(non_null[0])
    if kind is None:
        return "object" if "properties" in schema else "array" if "items" in schema else "string"
    return str(kind)


def _array(schema: dict[str, Any], defs: dict[str, Any], refs: tuple[str, ...], deep: bool) -> list[Any]:
    if "prefixItems" in schema:
        return [example_value(s, defs, _refs=refs) for s in schema["prefixItems"]]
    count = int(schema.get("minItems", 0 if deep else 1))
    count = min(count, int(schema.get("maxItems", count)))
    items = schema.get("items", {})
    if schema.get("uniqueItems"):
        return _unique_items(items, defs, count, refs)
    return [example_value(items, defs, _refs=refs) for _ in range(count)]


_BY_TYPE: dict[str, Callable[[dict[str, Any], dict[str, Any], tuple[str, ...], bool], Any]] = {
    "object": lambda schema, defs, refs, deep: _object(schema, defs, refs, deep),
    "array": lambda schema, defs, refs, deep: _array(schema, defs, refs, deep),
    "string": lambda schema, defs, refs, deep: _string(schema),
    "integer": lambda schema, defs, refs, deep: int(_number(schema, integer=True)),
    "number": lambda schema, defs, refs, deep: _number(schema, integer=False),
    "boolean": lambda schema, defs, refs, deep: True,
}


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" not in schema:
        return schema
    target = defs.get(schema["$ref"].rsplit("/", 1)[-1], {})
    return {**target, **{k: v for k, v in schema.items() if k != "$ref"}}


def _with_hints(schema: dict[str, Any]) -> dict[str, Any]:
    text = schema.get("description")
    if not isinstance(text, str) or ": " not in text:
        return schema
    found: dict[str, Any] = {}
    for key, raw in _HINT.findall(text):
        raw = raw.strip()
        if key == "format":
            found[key] = raw
        elif key == "uniqueItems":
            found[key] = raw == "True"
        elif raw.isdigit():
            found[key] = int(raw)
    return {**found, **schema} if found else schema


def _object(schema: dict[str, Any], defs: dict[str, Any], refs: tuple[str, ...], deep: bool) -> dict[str, Any]:
    props = schema.get("properties", {})
    required = set(schema.get("required", ()))
    value = {name: example_value(sub, defs, _refs=refs) for name, sub in props.items() if name in required or not deep}
    extra = schema.get("additionalProperties")
    if not props and isinstance(extra, dict):
        count = int(schema.get("minProperties", 0 if deep else 1))
        names = schema.get("propertyNames", {"type": "integer"})  # "1" is a key most key types accept
        for key in _unique_items(names, defs, count, refs):
            value[str(key)] = example_value(extra, defs, _refs=refs)
    return value


def _unique_items(items: Any, defs: dict[str, Any], count: int, refs: tuple[str, ...]) -> list[Any]:
    if count == 0:
        return []
    first = example_value(items, defs, _refs=refs)
    if count == 1 or not isinstance(items, dict):
        return [first]
    items = _resolve(items, defs)
    if isinstance(items.get("enum"), list):
        return list(items["enum"][:count])
    if isinstance(first, bool):
        return [True, False][:count]
    if isinstance(first, str):
        return [first, *(f"{first}{i}" for i in range(1, count))]
    if isinstance(first, (int, float)):
        step = items.get("multipleOf", 1)
        return [first + i * step for i in range(count)]
    return [first]


def _string(schema: dict[str, Any]) -> str:
    low = int(schema.get("minLength", 0))
    high = int(schema.get("maxLength", 1 << 30))
    pattern = schema.get("pattern")
    fitted = ("example" + "x" * low)[: max(low, min(high, 7))]
    candidates = [_FORMATS[schema["format"]]] if schema.get("format") in _FORMATS else []
    candidates.append(fitted)
    if pattern:
        candidates += [t for extra in range(min(low, 64) + 1) if (t := _from_pattern(pattern, extra)) is not None]
    for text in candidates:
        if low <= len(text) <= high and (pattern is None or re.search(pattern, text)):
            return text
    return fitted


def _from_pattern(pattern: str, extra: int) -> str | None:
    """A string matching ``pattern``; every repeat runs ``extra`` times more than its minimum."""
    try:
        return _emit(_sre.parse(pattern), extra)
    except (re.error, ValueError, TypeError, OverflowError):
        return None


def _emit(items: Any, extra: int) -> str:
    out = []
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(arg))
        elif name in ("NOT_LITERAL", "ANY"):
            out.append("b" if name == "NOT_LITERAL" and arg == ord("a") else "a")
        elif name == "IN":
            out.append(_char_in(arg))
        elif name == "BRANCH":
            out.append(_emit(arg[1][0], extra))
        elif name == "SUBPATTERN":
            out.append(_emit(arg[-1], extra))
        elif name == "ATOMIC_GROUP":
            out.append(_emit(arg, extra))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, sub = arg
            out.append(_emit(sub, extra) * min(high, low + extra))
        # AT (anchors), look-arounds and back-references add nothing
    return "".join(out)


def _char_in(items: Any) -> str:
    negate = bool(items) and str(items[0][0]) == "NEGATE"
    for c in _CHARS:
        if _in_class(c, items) != negate:
            return c
    for op, arg in items:  # a class of unusual characters
        if str(op) in ("LITERAL", "RANGE") and not negate:
            return chr(arg if str(op) == "LITERAL" else arg[0])
    return "a"


def _in_class(c: str, items: Any) -> bool:
    for op, arg in items:
        name = str(op)
        if name == "LITERAL" and c == chr(arg):
            return True
        if name == "RANGE" and arg[0] <= ord(c) <= arg[1]:
            return True
        if name == "CATEGORY" and str(arg) in _CATEGORIES and re.fullmatch(_CATEGORIES[str(arg)], c):
            return True
    return False


def _number(schema: dict[str, Any], *, integer: bool) -> float:
    low = schema.get("minimum", -math.inf)
    high = schema.get("maximum", math.inf)
    if "exclusiveMinimum" in schema:
        low = max(low, schema["exclusiveMinimum"] + (1 if integer else 1e-6))
    if "exclusiveMaximum" in schema:
        high = min(high, schema["exclusiveMaximum"] - (1 if integer else 1e-6))
    value: float = 1
    if value < low:
        value = math.ceil(low) if integer else low
    if value > high:
        value = math.floor(high) if integer else high
    step = schema.get("multipleOf")
    if step:
        k = math.ceil(value / step)
        if k * step > high:
            k -= 1
        for n in (k, k + 1, k - 1, k + 2, k - 2):  # float steps: prefer a multiple that divides back exactly
            if low <= n * step <= high and (n * step) / step == n:
                k = n
                break
        value = round(k * step) if integer else k * step
    return value
