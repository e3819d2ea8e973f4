"""Cut an operation's inline request-body schema out of an OpenAPI spec, as trim_spec.py does for named ones.

Some operations (OpenRouter's ``POST /embeddings``) define their request body inline instead of
under ``components.schemas``. This names that inline schema, then trims it exactly like
``trim_spec.py`` (same output format, ``$ref``s still resolve).

Usage: python scripts/trim_request_body.py SPEC.json API_PATH SCHEMA_NAME > OUT.json
e.g.   python scripts/trim_request_body.py openrouter-openapi.json /embeddings EmbeddingsRequest
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from trim_spec import trim


def name_request_body(spec: dict[str, Any], api_path: str, name: str, method: str = "post") -> dict[str, Any]:
    """``spec`` with the JSON request-body schema of ``method api_path`` added as ``components.schemas[name]``."""
    body = spec["paths"][api_path][method]["requestBody"]["content"]["application/json"]["schema"]
    schemas = dict(spec["components"]["schemas"])
    if name in schemas and schemas[name] != body:
        raise SystemExit(f"{name} already names another schema in this spec: pick another name")
    schemas[name] = body
    return {**spec, "components": {**spec["components"], "schemas": schemas}}


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    with open(sys.argv[1], encoding="utf-8") as f:
        document = json.load(f)
    named = name_request_body(document, sys.argv[2], sys.argv[3])
    json.dump(trim(named, [sys.argv[3]]), sys.stdout, indent=None, separators=(",", ":"))
