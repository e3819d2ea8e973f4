"""Tools: Python functions that become JSON schemas the model can call.

``@tool`` reads a function's signature and docstring once, at decoration time
(``_tool_signature``, ``_docstrings``), and builds:

* the JSON schema of its parameters: pydantic's schema of a model of the signature, put together
  from per-type pieces pydantic produced once (``_tool_schema``), or generated from the model,
* the description (docstring summary, long description, Returns and Raises sections),
* a validator for the model's arguments (that pydantic model), used before every call and built
  on the first one when the schema came from the pieces. Errors are raised at decoration time.

Calling, argument errors and result serialization live here; the agent loop only decides *when*
to call.
"""

from __future__ import annotations

import functools
import re
import types
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, Union, cast, overload, runtime_checkable

import pydantic
import pydantic_core
from pydantic import BaseModel
from typing_extensions import ParamSpec

from ._guardrail_calls import check_tool
from ._schema import StrictSchemaError, strip_strict_nulls, to_strict
from ._threads import run_in_thread
from ._tool_signature import ArgsModel, is_async
from ._tool_signature import describe as _describe
from .content import AudioUrl, BinaryContent, ContentPart, DocumentUrl, ImageUrl
from .context import RunContext
from .errors import ToolDefinitionError
from .guardrails import ToolGuardrail, ToolGuardrailLike, prepare_tool_guardrails

__all__ = ["tool", "Tool", "Toolset", "ToolDefinition", "ToolArgumentsError", "serialize_result"]

P = ParamSpec("P")
R = TypeVar("R")

_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass(frozen=True)
class ToolDefinition:
    """What the model is told about a tool: name, description, JSON schema, strictness.

    ``strict`` is None when the tool did not ask either way (the field is then not sent).
    """

    name: str
    description: str
    parameters: dict[str, Any]
    strict: bool | None = None


class ToolArgumentsError(Exception):
    """The model's arguments for a tool were not valid JSON or failed validation.

    ``message`` is written for the model: it says what was wrong and how to fix it.
    """

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class Tool(Generic[P, R]):
    """A function the model can call.

    Build one with ``@tool`` / ``@tool(...)`` or ``Tool(fn, ...)``. Works on sync and async
    functions and bound methods. A ``Tool`` stays callable like the function it wraps.

    Args:
        function: the function. Parameters need type hints; ``*args``/``**kwargs`` are refused.
        name: the name the model sees (default: the function's name).
        description: overrides the docstring-derived description.
        strict: True emits the strict schema subset (raises here if the types cannot be
            strict); False sends ``strict: false``; None (default) sends nothing.
        retries: how many failed calls in a row (bad arguments, ``ModelRetry``, exceptions)
            the model gets before the run fails; None uses the agent's ``tool_retries``.
        requires_approval: pause the run before each call until the caller approves or
            denies it (see ``Agent.run(approvals=...)``).
        idempotent: running the call twice does no harm. Only a durable run
            (:mod:`agentkit.durable`) reads it: a call that was running when the process died is
            run again on resume when it is idempotent, and otherwise answered as in doubt.
        guardrails: checks of each call: a function ``(ctx, arguments) -> GuardrailResult``
            checks the validated arguments (a dict) before the call; a
            :class:`~agentkit.guardrails.ToolGuardrail` can check the result after it too. A trip
            answers the model with an error (a failed call), or ends the run when it says ``halt=True``.

    :meth:`from_schema` builds a tool from a ready JSON schema and a function taking the
    arguments as one dict (for tools defined elsewhere, e.g. MCP servers).
    """

    function: Callable[P, R]
    guardrails: tuple[ToolGuardrail, ...] = ()
    idempotent: bool = False
    _json_validator: Any = None
    _args: ArgsModel | None = None

    def __init__(
        self,
        function: Callable[P, R],
        *,
        name: str | None = None,
        description: str | None = None,
        strict: bool | None = None,
        retries: int | None = None,
        requires_approval: bool = False,
        guardrails: Sequence[ToolGuardrailLike] = (),
        idempotent: bool = False,
    ) -> None:
        if isinstance(function, Tool):  # Tool(some_tool, name=...): rebuild from the plain function
            function = cast("Callable[P, R]", function.function)
        self.function = function
        self.name = name if name is not None else getattr(function, "__name__", "")
        if not _NAME_RE.fullmatch(self.name):  # fullmatch: "$" alone lets a trailing "\n" through
            raise ToolDefinitionError(
                f"Tool name {self.name!r} is not allowed: use 1-64 letters, digits, '_' or '-' (pass name=... to @tool)."
            )
        self.retries = retries
        self.strict = strict
        self.requires_approval = requires_approval
        self.idempotent = idempotent
        if guardrails:
            self.guardrails = prepare_tool_guardrails(guardrails)
        spec = _describe(function, self.name)
        self.is_async = is_async(function)
        self.description = description if description is not None else spec.description
        self._args = spec.args_model
        self._params = spec.params
        self._ctx_param = spec.ctx_param
        self._ctx_index = spec.ctx_index
        self._needs_binding = spec.method_self
        self._schema = spec.schema
        self._strip_nulls = False
        parameters = spec.schema
        if strict:
            try:
                parameters = to_strict(spec.schema)
            except StrictSchemaError as e:
                raise ToolDefinitionError(
                    f"Tool {self.name!r} cannot be strict: {e}. Change the parameter's type or use strict=False."
                ) from None
            self._strip_nulls = parameters != spec.schema
        self.definition = ToolDefinition(self.name, self.description, parameters, strict)
        # Copy __name__/__doc__/__wrapped__, but not the function's __dict__: its attributes
        # (a ``name`` or ``definition`` set by another decorator) must not overwrite the Tool's.
        functools.update_wrapper(self, function, updated=())

    @property
    def takes_context(self) -> bool:
        """Whether the function declares a ``RunContext`` parameter (the agent passes the run's context)."""
        return self._ctx_param is not None

    @property
    def needs_binding(self) -> bool:
        """Whether this is a method tool not bound to an instance yet.

        True for ``@tool`` on a method in a class body, read from the class (``Shop.price``) rather
        than from an instance (``shop.price``, which is bound): nothing would pass its ``self``, so an
        agent refuses it. A method taken from a class that already exists (``Tool(Shop.price)``) is
        refused at decoration instead.
        """
        return self._needs_binding

    @property
    def takes_ctx(self) -> bool:
        """The old name of :attr:`takes_context`."""
        return self._ctx_param is not None

    @property
    def method_self(self) -> bool:
        """The old name of :attr:`needs_binding`."""
        return self._needs_binding

    @property
    def _args_model(self) -> type[BaseModel]:
        """The pydantic model of the arguments (built on first use when the schema came from the cache)."""
        if self._args is None:  # Tool.from_schema: validated with jsonschema, no model
            raise AttributeError("_args_model")
        return self._args.get()

    # -- the function is still callable -------------------------------------------------
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.function(*args, **kwargs)

    def __get__(self, obj: Any, objtype: Any = None) -> Tool[Any, Any]:
        """Bind a tool defined on a class body to an instance (``obj.my_tool``)."""
        if obj is None or not self._needs_binding:
            return self
        bound: Tool[Any, Any] = object.__new__(Tool)
        bound.__dict__.update(self.__dict__)
        bound.function = bound.__dict__["__wrapped__"] = types.MethodType(self.function, obj)
        bound._needs_binding = False
        return bound

    def __repr__(self) -> str:
        return f"Tool({self.name!r})"

    @classmethod
    def from_schema(
        cls,
        name: str,
        description: str,
        parameters: dict[str, Any],
        function: Callable[..., Any],
        *,
        strict: bool | None = None,
        retries: int | None = None,
        requires_approval: bool = False,
        takes_context: bool = False,
        guardrails: Sequence[ToolGuardrailLike] = (),
    ) -> Tool[[dict[str, Any]], Any]:
        """A tool from a JSON schema and a (sync or async) function of the arguments dict.

        Arguments are validated against ``parameters`` with jsonschema before the call.
        ``takes_context=True``: the function is called as ``function(ctx, arguments)``, with the
        run's :class:`~agentkit.context.RunContext`.
        ``strict=True`` sends the strict form of the schema when it can be made strict and
        raises :class:`~agentkit.errors.ToolDefinitionError` when it cannot. ``guardrails``: as for
        :class:`Tool` (a ``before`` check gets the arguments dict).
        """
        if not _NAME_RE.fullmatch(name):
            raise ToolDefinitionError(f"Tool name {name!r} is not allowed: use 1-64 letters, digits, '_' or '-'.")
        if not isinstance(parameters, dict) or parameters.get("type", "object") != "object":
            raise ToolDefinitionError(f"Tool {name!r}: parameters must be a JSON schema of type object.")
        import jsonschema

        try:
            jsonschema.Draft202012Validator.check_schema(parameters)
        except jsonschema.SchemaError as e:
            raise ToolDefinitionError(f"Tool {name!r}: its parameters are not a valid JSON schema: {e.message}") from None
        self: Tool[[dict[str, Any]], Any] = object.__new__(Tool)
        self.function = function
        self.name = name
        self.__dict__["__name__"] = name
        self.__doc__ = self.description = description
        self.retries = retries
        self.strict = strict
        self.requires_approval = requires_approval
        if guardrails:
            self.guardrails = prepare_tool_guardrails(guardrails)
        self.is_async = is_async(function)
        self._ctx_param = ("ctx", True) if takes_context else None
        self._ctx_index = 0
        self._needs_binding = False
        self._schema = {"type": "object", "properties": {}, **parameters}
        self._strip_nulls = False
        self._json_validator = jsonschema.Draft202012Validator(self._schema)
        wire = self._schema
        if strict:
            try:
                wire = to_strict(self._schema)
            except StrictSchemaError as e:
                raise ToolDefinitionError(f"Tool {name!r} cannot be strict: {e}.") from None
            self._strip_nulls = wire != self._schema
        self.definition = ToolDefinition(name, description, wire, strict)
        return self

    # -- validating and calling ---------------------------------------------------------
    def validate_arguments(self, arguments: str) -> tuple[list[Any], dict[str, Any]]:
        """Parse and validate the model's JSON ``arguments`` into positional and keyword args.

        ``""`` counts as ``{}``. Raises :class:`ToolArgumentsError` with a message for the model.
        """
        text = arguments.strip() or "{}"
        if self._json_validator is not None:
            return [self._validate_json_schema(text)], {}
        model = self._args_model
        try:
            if self._strip_nulls:
                data = pydantic_core.from_json(text)
                if isinstance(data, dict):
                    strip_strict_nulls(data, self._schema)
                validated = model.model_validate(data)
            else:
                validated = model.model_validate_json(text)
        except ValueError as e:
            if isinstance(e, pydantic.ValidationError):
                errors = e.errors(include_url=False)
                if errors and errors[0]["type"] == "json_invalid":
                    raise ToolArgumentsError(_invalid_json_message(self.name, errors[0]["msg"])) from None
                raise ToolArgumentsError(format_validation_errors(f"Invalid arguments for tool {self.name!r}", errors)) from None
            raise ToolArgumentsError(_invalid_json_message(self.name, str(e))) from None
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for param, field_name, positional in self._params:
            if positional:
                args.append(getattr(validated, field_name))
            else:
                kwargs[param] = getattr(validated, field_name)
        return args, kwargs

    def _validate_json_schema(self, text: str) -> dict[str, Any]:
        try:
            data = pydantic_core.from_json(text)
        except ValueError as e:
            raise ToolArgumentsError(_invalid_json_message(self.name, str(e))) from None
        if not isinstance(data, dict):
            raise ToolArgumentsError(
                f"The arguments for tool {self.name!r} must be a JSON object, not {type(data).__name__}. Call the tool again."
            )
        if self._strip_nulls:
            strip_strict_nulls(data, self._schema)
        problems = []
        for error in self._json_validator.iter_errors(data):
            where = ".".join(str(p) for p in error.absolute_path) or "(arguments)"
            problems.append(f"- {where}: {error.message[:300]}")
            if len(problems) >= 20:
                break
        if problems:
            raise ToolArgumentsError(
                "\n".join(
                    [f"Invalid arguments for tool {self.name!r}:", *problems, "Call the tool again with corrected arguments."]
                )
            )
        return data

    async def call(self, arguments: str, ctx: RunContext[Any]) -> Any:
        """Validate ``arguments`` and run the function (sync functions in a worker thread), with
        the tool's guardrails before and after.

        Raises :class:`ToolArgumentsError` for bad arguments; whatever the function raises
        propagates. A tripped guardrail raises :class:`~agentkit.errors.ModelRetry` (or
        :class:`~agentkit.errors.GuardrailTripped` with ``halt=True``).
        """
        args, kwargs = self.validate_arguments(arguments)
        guardrails = self.guardrails
        if guardrails:
            await check_tool(self.name, guardrails, "before", ctx, self._arguments_dict(args, kwargs))
        if self._ctx_param is not None:
            name, positional = self._ctx_param
            if positional:  # def f(ctx: RunContext, /, ...): positional-only, so in its place
                args.insert(self._ctx_index, ctx)
            else:
                kwargs[name] = ctx
        if self.is_async:
            value = await cast("Callable[..., Awaitable[Any]]", self.function)(*args, **kwargs)
        else:
            value = await run_in_thread(self.function, *args, **kwargs)  # daemon threads: a cancelled run never waits
        if guardrails:
            await check_tool(self.name, guardrails, "after", ctx, value)
        return value

    def _arguments_dict(self, args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The validated arguments by parameter name (what a ``before`` guardrail checks)."""
        if self._json_validator is not None:  # Tool.from_schema: the arguments dict itself
            return dict(args[0])
        positional = iter(args)
        return {param: next(positional) if is_positional else kwargs[param] for param, _field, is_positional in self._params}


@overload
def tool(function: Callable[P, R], /) -> Tool[P, R]: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    strict: bool | None = None,
    retries: int | None = None,
    requires_approval: bool = False,
    guardrails: Sequence[ToolGuardrailLike] = (),
    idempotent: bool = False,
) -> Callable[[Callable[P, R]], Tool[P, R]]: ...


def tool(
    function: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    strict: bool | None = None,
    retries: int | None = None,
    requires_approval: bool = False,
    guardrails: Sequence[ToolGuardrailLike] = (),
    idempotent: bool = False,
) -> Tool[P, R] | Callable[[Callable[P, R]], Tool[P, R]]:
    """Turn a function into a :class:`Tool`: ``@tool`` or ``@tool(name=..., strict=True)``.

    The schema comes from the type hints, the descriptions from the docstring (Google, NumPy,
    reST or Epydoc style, detected automatically). A parameter typed ``RunContext`` is injected
    by the agent and is not part of the schema. ``guardrails=[...]`` check each call (see :class:`Tool`).
    """
    options: dict[str, Any] = {"name": name, "description": description, "strict": strict, "retries": retries}
    options.update(requires_approval=requires_approval, guardrails=guardrails, idempotent=idempotent)
    if function is not None:
        return Tool(function, **options)

    def decorate(fn: Callable[P, R]) -> Tool[P, R]:
        return Tool(fn, **options)

    return decorate


# --- results -----------------------------------------------------------------------------


def serialize_result(value: Any) -> str:
    """A tool's return value as tool-message text: str as is, everything else as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    try:
        return pydantic_core.to_json(value).decode()
    except pydantic_core.PydanticSerializationError:
        return str(value)


_PART_TYPES = (ImageUrl, DocumentUrl, AudioUrl, BinaryContent)


def split_result(value: Any) -> tuple[str, list[ContentPart]]:
    """A tool's return value as (text, attachments): an image or file part (``BinaryContent``,
    ``ImageUrl``, ...), or a list mixing them with text, becomes the parts and the text of the
    rest; anything else is :func:`serialize_result` with no parts."""
    if isinstance(value, _PART_TYPES):
        return "", [value]
    if isinstance(value, (list, tuple)) and any(isinstance(v, _PART_TYPES) for v in value):
        parts = [v for v in value if isinstance(v, _PART_TYPES)]
        texts = [serialize_result(v) for v in value if not isinstance(v, _PART_TYPES)]
        return "\n".join(texts), parts
    return serialize_result(value), []


def format_validation_errors(title: str, errors: Any) -> str:
    """pydantic errors as a short list the model can act on."""
    lines = [f"{title}:"]
    for err in list(errors)[:20]:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "(arguments)"
        got = err.get("input")
        shown = "" if err.get("type") == "missing" else f" (got {_short(got)})"
        lines.append(f"- {loc}: {err.get('msg', 'invalid')}{shown}")
    lines.append("Call the tool again with corrected arguments.")
    return "\n".join(lines)


def _invalid_json_message(name: str, detail: str) -> str:
    return (
        f"The arguments for tool {name!r} are not valid JSON ({detail}). "
        f"Call the tool again with the arguments as one JSON object matching its schema."
    )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@runtime_checkable
class Toolset(Protocol):
    """Tools that come from elsewhere and need a connection (e.g. an MCP server).

    An :class:`~agentkit.Agent` given a toolset in ``tools=[...]`` enters it (``async with``)
    before its first run, asks it for its tools, and exits it in ``Agent.aclose()``.
    """

    async def __aenter__(self) -> Any: ...

    async def __aexit__(self, *exc: Any) -> Any: ...

    def get_tools(self) -> Sequence[Tool[Any, Any]]:
        """The tools, once entered."""
        ...


ToolLike = Union[Tool[Any, Any], Toolset, Callable[..., Any]]
"""A :class:`Tool`, a :class:`Toolset`, or a plain function that :class:`Agent` wraps with ``Tool(fn)``."""
