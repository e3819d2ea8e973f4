"""Cut one request schema (and everything it references) out of a provider's OpenAPI spec.

The test suite validates the request bodies agentkit builds against the providers' official
request schemas. The full specs are megabytes; this keeps only what one schema needs, drops
prose (``description``/``example``), and writes a standalone JSON Schema document whose
``$ref``s still resolve (``#/components/schemas/...``).

Usage: python scripts/trim_spec.py SPEC.json SCHEMA_NAME [SCHEMA_NAME ...] > OUT.json
"""

from __future__ import annotations

import json
import sys
from typing import Any

_DROP = {"description", "example", "examples", "x-oaiMeta", "x-stainless-const", "title"}


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def _strip(node: Any, *, in_properties: bool = False) -> Any:
    if isinstance(node, dict):
        return {k: _strip(v, in_properties=(k == "properties")) for k, v in node.items() if in_properties or k not in _DROP}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def trim(spec: dict[str, Any], names: list[str]) -> dict[str, Any]:
    schemas = spec["components"]["schemas"]
    keep: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in keep:
            continue
        keep.add(name)
        found: set[str] = set()
        _refs(schemas[name], found)
        todo.extend(found - keep)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": {"schemas": {n: _strip(schemas[n]) for n in sorted(keep)}},
    }


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        document = json.load(f)
    json.dump(trim(document, sys.argv[2:]), sys.stdout, indent=None, separators=(",", ":"))
