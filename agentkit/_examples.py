"""Schema-valid example values, generated from a JSON schema (used by ``TestModel``).

Deterministic: the same schema gives the same value. Covers what tool and output schemas use:
$ref/$defs, anyOf/oneOf/allOf, enum/const, objects (all properties, so optional ones are
exercised too), arrays with min/max items, strings with formats and length bounds, numbers with
bounds and multipleOf, booleans and null. ``pattern`` is tried with a few common shapes.
"""

from __future__ import annotations

import math
import re
from typing import Any

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
_PATTERN_TRIES = ("example", "a", "A", "0", "1", "abc", "ABC", "a1", "2024-01-01", "user@example.com", "x_1", "+10")


def example_value(schema: Any, defs: dict[str, Any] | None = None, *, _depth: int = 0) -> Any:
    """A value that ``schema`` accepts (best effort for ``pattern`` and ``not``)."""
    if not isinstance(schema, dict):
        return None if schema is False else "example"
    if defs is None:
        defs = schema.get("$defs", {})
    if _depth > 12:
        return None
    if "$ref" in schema:
        target = defs.get(schema["$ref"].rsplit("/", 1)[-1], {})
        merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        return example_value(merged, defs, _depth=_depth + 1)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema and schema["enum"]:
        return schema["enum"][0]
    if "default" in schema and _depth > 0:
        return schema["default"]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [o for o in schema[key] if not (isinstance(o, dict) and o.get("type") == "null")]
            return example_value(options[0] if options else {"type": "null"}, defs, _depth=_depth + 1)
    if "allOf" in schema:
        merged = {}
        for part in schema["allOf"]:
            merged.update(part)
        return example_value({**merged, **{k: v for k, v in schema.items() if k != "allOf"}}, defs, _depth=_depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        non_null = [k for k in kind if k != "null"]
        kind = non_null[0] if non_null else "null"
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        props = schema.get("properties", {})
        value = {name: example_value(sub, defs, _depth=_depth + 1) for name, sub in props.items()}
        extra = schema.get("additionalProperties")
        if not props and isinstance(extra, dict):
            value["key"] = example_value(extra, defs, _depth=_depth + 1)
        return value
    if kind == "array":
        if "prefixItems" in schema:
            return [example_value(s, defs, _depth=_depth + 1) for s in schema["prefixItems"]]
        count = max(int(schema.get("minItems", 1)), 1)
        count = min(count, int(schema.get("maxItems", count)))
        items = schema.get("items", {})
        if schema.get("uniqueItems"):
            return _unique_items(items, defs, count, _depth)
        return [example_value(items, defs, _depth=_depth + 1) for _ in range(count)]
    if kind == "string":
        return _string(schema)
    if kind == "integer":
        return int(_number(schema, integer=True))
    if kind == "number":
        return _number(schema, integer=False)
    if kind == "boolean":
        return True
    return None


def _unique_items(items: Any, defs: dict[str, Any], count: int, depth: int) -> list[Any]:
    first = example_value(items, defs, _depth=depth + 1)
    values = [first]
    if count > 1 and isinstance(items, dict):
        if isinstance(first, str):
            values += [f"{first}{i}" for i in range(1, count)]
        elif isinstance(first, (int, float)) and not isinstance(first, bool):
            values += [first + i for i in range(1, count)]
    return values


def _string(schema: dict[str, Any]) -> str:
    low = int(schema.get("minLength", 0))
    high = int(schema.get("maxLength", max(low, 7)))
    candidates = [_FORMATS[schema["format"]]] if schema.get("format") in _FORMATS else []
    candidates.append("example")
    pattern = schema.get("pattern")
    if pattern:
        candidates = [*candidates, *_PATTERN_TRIES]
    for text in candidates:
        if len(text) < low:
            text = text + "x" * (low - len(text))
        text = text[:high] if len(text) > high and not schema.get("format") else text
        if pattern is None or re.search(pattern, text):
            return text
    return candidates[0]


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
        value = math.ceil(value / step) * step
        if value > high:
            value -= step
        if integer:
            value = int(round(value))
    return value
