"""Validate request bodies against the providers' official request schemas.

The schemas are trimmed copies of ``components.schemas`` from the OpenAPI specs (see
``scripts/trim_spec.py``), stored in ``tests/data/specs/``.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

SPECS = Path(__file__).parent.parent / "data" / "specs"

REQUEST_SCHEMAS = {
    ("openai", "chat"): ("openai.json", "CreateChatCompletionRequest"),
    ("openai", "responses"): ("openai.json", "CreateResponse"),
    ("openai", "embeddings"): ("openai.json", "CreateEmbeddingRequest"),
    ("mistral", "chat"): ("mistral.json", "ChatCompletionRequest"),
    ("mistral", "embeddings"): ("mistral.json", "EmbeddingRequest"),
    ("openrouter", "chat"): ("openrouter.json", "ChatRequest"),
    ("openrouter", "responses"): ("openrouter-responses.json", "ResponsesRequest"),
    ("openrouter", "embeddings"): ("openrouter-embeddings.json", "EmbeddingsRequest"),
}


_ONE_OF = jsonschema.Draft202012Validator.VALIDATORS["oneOf"]


def _one_of(validator: Any, one_of: list[Any], instance: Any, schema: dict[str, Any]) -> Any:
    """``oneOf``, except that where the schema names an OpenAPI ``discriminator`` one matching
    branch is enough: JSON Schema has no discriminators, OpenAPI's pick one branch. (OpenAI's
    ``InputItem``: a user message with a list of content parts is both an ``EasyInputMessage``
    and an ``Item``.)"""
    if "discriminator" in schema and any(not any(validator.descend(instance, branch)) for branch in one_of):
        return
    yield from _ONE_OF(validator, one_of, instance, schema)


_Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"oneOf": _one_of})


@cache
def validator(provider: str, kind: str = "chat") -> Any:
    filename, name = REQUEST_SCHEMAS[(provider, kind)]
    document = json.loads((SPECS / filename).read_text())
    uri = f"urn:agentkit-test:{filename}"
    registry: Registry[Any] = Registry().with_resource(uri, Resource.from_contents(document))
    return _Validator({"$ref": f"{uri}#/components/schemas/{name}"}, registry=registry)


def spec_errors(body: Any, provider: str = "openai", kind: str = "chat") -> list[str]:
    """Why ``body`` is not a valid request for ``provider`` (empty when it is)."""
    errors = []
    for error in validator(provider, kind).iter_errors(body):
        where = "/".join(str(p) for p in error.absolute_path)
        best = jsonschema.exceptions.best_match([error])
        errors.append(f"{where or '(root)'}: {best.message[:300]}")
    return errors


def assert_valid_request(body: Any, provider: str = "openai", kind: str = "chat") -> None:
    errors = spec_errors(body, provider, kind)
    assert not errors, (
        f"request body is not valid for {provider} {kind}:\n" + "\n".join(errors) + f"\nbody: {json.dumps(body)[:2000]}"
    )
