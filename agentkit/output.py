"""Structured output: ``output_type`` → a wire schema, and the model's answer → a typed value.

Two modes:

* ``"native"`` (default): the schema is sent as ``response_format`` (json_schema) and the final
  message's text is parsed.
* ``"tool"``: a ``final_result`` tool carries the schema, for servers without json_schema
  support; the arguments of that call are parsed.

Either way the value is checked twice: against the wire schema (jsonschema, what the provider
was told) and against the Python type (pydantic, what the caller gets). Errors are phrased for
the model, which is asked again up to ``output_retries`` times.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import pydantic
import pydantic_core
from pydantic import TypeAdapter

from ._schema import StrictSchemaError, clean_schema, fill_omitted_optionals, strip_strict_nulls, to_strict
from .errors import UserError
from .tools import ToolDefinition

__all__ = ["OutputFormat", "OutputSchema", "OutputMode", "OutputInvalid"]

T = TypeVar("T")
OutputMode = Literal["native", "tool"]

_FENCE = re.compile(r"^\s*```(?:json|JSON)?\s*\n(.*?)\n?\s*```\s*$", re.DOTALL)
_FENCE_OPEN = re.compile(r"^\s*```(?:json|JSON)?\s*\n")
_NAME_OK = re.compile(r"[^a-zA-Z0-9_-]")


@dataclass(frozen=True)
class OutputFormat:
    """A JSON-schema output request in neutral form (a model turns it into ``response_format``)."""

    name: str
    schema: dict[str, Any]
    strict: bool
    description: str | None = None


class OutputInvalid(Exception):
    """An answer did not match the output type; ``errors`` are phrased for the model."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors))


class OutputSchema(Generic[T]):
    """How one ``output_type`` is asked for and checked.

    Args:
        output_type: a pydantic model, dataclass, TypedDict, ``list[...]``, Literal, Enum or primitive.
        mode: ``"native"`` (response_format) or ``"tool"`` (a final-result tool).
        name: the schema (or tool) name; defaults to the type's name, or ``final_result`` in tool mode.
        strict: True/False forces strict mode; None (default) uses it when the schema allows.
    """

    def __init__(
        self,
        output_type: Any,
        *,
        mode: OutputMode = "native",
        name: str | None = None,
        strict: bool | None = None,
    ) -> None:
        if mode not in ("native", "tool"):
            raise UserError(f"output_mode must be 'native' or 'tool', not {mode!r}.")
        self.output_type = output_type
        self.mode: OutputMode = mode
        try:
            self._adapter: TypeAdapter[T] = TypeAdapter(output_type)
            schema = clean_schema(self._adapter.json_schema())
        except Exception as e:
            raise UserError(f"output_type {output_type!r} cannot be described as JSON schema: {e}") from None
        root = schema.get("$ref", "").rsplit("/", 1)[-1]
        if set(schema) == {"$ref", "$defs"} and schema["$defs"].get(root, {}).get("type") == "object":
            schema = {**schema["$defs"][root], "$defs": schema["$defs"]}  # a recursive model: its object at the root
        self.wrapped = schema.get("type") != "object"
        if self.wrapped:  # providers want an object at the root: {"result": <value>}
            defs = schema.pop("$defs", None)
            schema = {
                "type": "object",
                "properties": {"result": schema},
                "required": ["result"],
                "additionalProperties": False,
            }
            if defs:
                schema["$defs"] = defs
        self._schema = schema
        self.strict = False
        wire = schema
        if strict is not False:
            try:
                wire = to_strict(schema)
                self.strict = True
            except StrictSchemaError as e:
                if strict:
                    raise UserError(f"output_type {output_type!r} cannot be strict: {e}") from None
        self.wire_schema = wire
        self._strip_nulls = self.strict and wire != schema
        default_name = "final_result" if mode == "tool" else getattr(output_type, "__name__", "result")
        self.name = _NAME_OK.sub("_", name or default_name)[:64] or "result"
        description = schema.get("description") if not self.wrapped else None
        self.format = OutputFormat(self.name, wire, self.strict, description)
        self.tool_definition: ToolDefinition | None = None
        if mode == "tool":
            text = "Give your final answer by calling this tool."
            if description:
                text += f" {description}"
            self.tool_definition = ToolDefinition(self.name, text, wire, True if self.strict else None)
        self._validator: Any = None

    def parse(self, text: str | None) -> T:
        """Parse and validate an answer (message text or tool arguments); raises :class:`OutputInvalid`."""
        if text is None or not text.strip():
            raise OutputInvalid(["The answer was empty; a JSON value matching the schema is required."])
        match = _FENCE.match(text)
        if match:
            text = match.group(1)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise OutputInvalid([f"The answer is not valid JSON ({e.msg} at line {e.lineno} column {e.colno})."]) from None
        errors = self._schema_errors(data)
        if errors:
            raise OutputInvalid(errors)
        if self._strip_nulls:  # strict mode sends null for an optional field: let its default apply
            strip_strict_nulls(data, self._schema)
        if self.wrapped:
            data = data["result"]
        try:  # from JSON text again, so strict types accept what JSON can carry (enum values, dates, tuples)
            return self._adapter.validate_json(json.dumps(data))
        except pydantic.ValidationError as e:
            raise OutputInvalid([self._pydantic_error(err) for err in e.errors(include_url=False)[:20]]) from None

    def parse_partial(self, text: str) -> tuple[Any, T | None]:
        """Best effort on an incomplete answer: ``(partial JSON data, typed value or None)``.

        ``data`` is what the incomplete JSON holds so far (pydantic-core's partial parser;
        unwrapped from ``{"result": ...}``), None while nothing parses; the typed value is set
        once the partial data already validates as ``output_type``.
        """
        match = _FENCE_OPEN.match(text)
        if match:
            text = text[match.end() :]
        if not text.strip():
            return None, None
        try:
            data = pydantic_core.from_json(text, allow_partial="trailing-strings")
        except ValueError:
            return None, None
        if self.wrapped:
            if not isinstance(data, dict) or "result" not in data:
                return None, None
            data = data["result"]
        try:
            value = self._adapter.validate_python(data, experimental_allow_partial="trailing-strings")
        except (pydantic.ValidationError, TypeError, ValueError):
            value = None
        return data, value

    def retry_prompt(self, errors: list[str]) -> str:
        """The message that asks the model to correct an invalid answer."""
        listed = "\n".join(e if e.startswith("- ") else f"- {e}" for e in errors)
        if self.mode == "tool":
            how = f"Call the {self.name!r} tool again with corrected arguments."
        else:
            how = "Answer again with only the corrected JSON."
        return f"Your answer did not match the required output schema:\n{listed}\n{how}"

    def _pydantic_error(self, err: Any) -> str:
        loc = [*(["result"] if self.wrapped else []), *err.get("loc", ())]
        where = ".".join(str(p) for p in loc) or "(root)"
        got = "" if err.get("type") == "missing" else f" (got {_short(err.get('input'))})"
        return f"{where}: {err.get('msg', 'invalid')}{got}"

    def _schema_errors(self, data: Any) -> list[str]:
        if self._validator is None:
            import jsonschema

            self._validator = jsonschema.Draft202012Validator(self.wire_schema)
        if self._strip_nulls:  # a server that does not enforce strict schemas may leave optional fields out
            data = fill_omitted_optionals(copy.deepcopy(data), self._schema)
        found = []
        for error in (e for top in self._validator.iter_errors(data) for e in _explain(top)):
            where = ".".join(str(p) for p in error.absolute_path)
            found.append(f"{where or '(root)'}: {error.message}"[:500])
            if len(found) >= 20:
                break
        return found


def _explain(error: Any) -> list[Any]:
    """For ``anyOf`` with one real option besides null (optional fields), that option's errors."""
    if error.validator in ("anyOf", "oneOf") and error.context:
        real = [c for c in error.context if not (c.validator == "type" and c.validator_value == "null")]
        if len({c.relative_schema_path[0] for c in real}) == 1:
            return [e for c in real for e in _explain(c)]
    return [error]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
