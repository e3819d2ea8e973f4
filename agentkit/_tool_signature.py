"""A function's signature and docstring → what a :class:`~agentkit.tools.Tool` needs to know, once.

:func:`describe` reads the parameters (their type hints, defaults and docstring descriptions) and
builds the JSON schema of the arguments: put together from per-type pieces pydantic produced once
(:func:`~agentkit._tool_schema.compose`), or generated from a pydantic model of the signature.
The model that validates the arguments is built on the first call when the schema came from the
pieces. A ``RunContext`` parameter is left out (the agent passes it), and so is ``self`` of a
function in a class body (bound later). Every mistake is a :class:`ToolDefinitionError`, raised
here, at decoration.
"""

from __future__ import annotations

import functools
import inspect
import re
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, get_args, get_origin, get_type_hints

import pydantic
from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from ._docstrings import parse_docstring
from ._schema import clean_schema
from ._tool_schema import ARGS_CONFIG, REQUIRED, compose
from .context import RunContext
from .errors import ToolDefinitionError

__all__ = ["Spec", "ArgsModel", "describe", "is_async"]

FieldSpec = tuple[Any, Any, dict[str, Any]]  # (annotation, default, Field kwargs)


@dataclass
class Spec:
    """What :func:`describe` found out about a function."""

    description: str
    args_model: ArgsModel
    schema: dict[str, Any]
    params: list[tuple[str, str, bool]]  # (parameter name, model field name, positional-only)
    ctx_param: tuple[str, bool] | None  # (parameter name, positional-only)
    ctx_index: int  # how many positional-only parameters come before it
    method_self: bool  # defined in a class body: ``self`` is bound later, through ``Tool.__get__``


_RESERVED = frozenset(dir(BaseModel))


def describe(function: Callable[..., Any], name: str) -> Spec:
    """The :class:`Spec` of ``function`` as the tool ``name``; raises :class:`ToolDefinitionError`."""
    if not callable(function):
        raise ToolDefinitionError(f"Tool {name!r}: {function!r} is not callable.")
    signature = _signature(function, name)
    hints = _type_hints(function, name)
    doc = parse_docstring(inspect.getdoc(function) or "")
    params = list(signature.parameters.values())
    method_self = _in_class_body(function, params)
    if method_self:
        _refuse_unbound(function, name, params[0].name)
        params = params[1:]  # a function in a class body: bound later via __get__
    fields = _Fields(name, doc.params)
    for param in params:
        fields.add(param, hints)
    schema, args_model = fields.build()
    return Spec(doc.description, args_model, schema, fields.mapping, fields.ctx_param, fields.ctx_index, method_self)


def _signature(function: Callable[..., Any], name: str) -> inspect.Signature:
    try:
        return inspect.signature(function)
    except (TypeError, ValueError) as e:
        raise ToolDefinitionError(f"Tool {name!r}: cannot read the signature of {function!r}: {e}") from None


def _type_hints(function: Callable[..., Any], name: str) -> dict[str, Any]:
    target: Any = function.__func__ if isinstance(function, types.MethodType) else function
    if not (inspect.isfunction(target) or inspect.isbuiltin(target)):
        target = type(target).__call__  # a callable object or a partial
    if not inspect.isfunction(target):
        return {}
    try:
        return get_type_hints(target, include_extras=True)
    except Exception as e:
        raise ToolDefinitionError(
            f"Tool {name!r}: cannot resolve its type hints ({e}). Import the types the annotations name at module level."
        ) from None


# --- methods --------------------------------------------------------------------------------


def _in_class_body(function: Callable[..., Any], params: list[inspect.Parameter]) -> bool:
    """Whether ``function`` is a plain function defined in a class body with ``self``/``cls`` first."""
    if not (params and params[0].name in ("self", "cls") and inspect.isfunction(function)):
        return False
    qualname = function.__qualname__
    return "." in qualname and "<locals>" not in qualname.rsplit(".", 2)[-2]


def _refuse_unbound(function: Callable[..., Any], name: str, first: str) -> None:
    """A method taken from a class that exists already (``Tool(Shop.price)``) would never get its ``self``."""
    owner = _class_holding(function)
    if owner is not None:
        method = function.__qualname__.rsplit(".", 1)[-1]
        raise ToolDefinitionError(
            f"Tool {name!r}: {owner.__qualname__}.{method} is a method taken from its class (unbound), so nothing "
            f"would pass its {first!r} argument. Give the tool the method of an instance (instance.{method}), "
            f"or decorate the method with @tool in the class body and give the agent instance.{method}."
        )


def _class_holding(function: Callable[..., Any]) -> type | None:
    """The class that holds this very function (or a tool of it), found from its ``__qualname__`` through its module.

    None while the class body runs (the class does not exist yet) and for classes defined inside a
    function (``<locals>``), which cannot be reached from the module.
    """
    *path, attribute = function.__qualname__.split(".")
    owner: Any = sys.modules.get(getattr(function, "__module__", None) or "")
    for part in path:
        if owner is None or part == "<locals>":
            return None
        owner = vars(owner).get(part) if hasattr(owner, "__dict__") else None
    if not isinstance(owner, type):
        return None
    held = owner.__dict__.get(attribute)
    # the function itself, or a class-body @tool of it (``Tool(Shop.price)``, where ``Shop.price`` is a Tool)
    return owner if held is function or getattr(held, "__wrapped__", None) is function else None


# --- parameters → fields ----------------------------------------------------------------------


@dataclass
class _Fields:
    """The arguments model's fields, built one parameter at a time."""

    tool: str
    doc_params: dict[str, str]
    fields: dict[str, FieldSpec] = field(default_factory=dict)  # field name -> (annotation, default, Field kwargs)
    described: list[tuple[str, Any, Any, str | None]] = field(default_factory=list)  # compose()'s input
    mapping: list[tuple[str, str, bool]] = field(default_factory=list)  # (parameter, field, positional-only)
    ctx_param: tuple[str, bool] | None = None
    ctx_index: int = 0
    cacheable: bool = True  # compose() may build the schema

    def add(self, param: inspect.Parameter, hints: dict[str, Any]) -> None:
        _refuse_var_args(param, self.tool)
        annotation = hints.get(param.name, Any if param.annotation is inspect.Parameter.empty else param.annotation)
        positional = param.kind is inspect.Parameter.POSITIONAL_ONLY
        if _is_run_context(annotation):
            self.ctx_param = (param.name, positional)
            self.ctx_index = sum(1 for _, _, before in self.mapping if before)
            return
        field_name, alias = self._field_name(param.name)
        default = ... if param.default is inspect.Parameter.empty else param.default
        if isinstance(default, FieldInfo):  # def f(x: int = Field(3, description=...)): like Annotated
            annotation, default = Annotated[annotation, default], PydanticUndefined
            self.cacheable = False
        extra: dict[str, Any] = {}
        if alias is not None:
            extra["alias"] = alias
        if param.name in self.doc_params and not _has_own_description(annotation):
            extra["description"] = self.doc_params[param.name]
        self.fields[field_name] = (annotation, default, extra)
        self.described.append((param.name, annotation, REQUIRED if default is ... else default, extra.get("description")))
        self.mapping.append((param.name, field_name, positional))

    def _field_name(self, name: str) -> tuple[str, str | None]:
        """The model field of a parameter, and its alias when the parameter's own name cannot be a field."""
        if name.startswith("_") or name in _RESERVED:
            return f"param_{name.lstrip('_')}_{len(self.mapping)}", name
        if name.startswith("model_"):  # pydantic warns about its protected namespace when the model is built
            self.cacheable = False
        return name, None

    def build(self) -> tuple[dict[str, Any], ArgsModel]:
        """The schema, and the arguments model (still to be built when the schema came from the pieces)."""
        schema = compose(self.described) if self.cacheable else None
        if schema is not None:  # every piece came from pydantic already: the model itself can wait for the first call
            return schema, ArgsModel(self.tool, self.fields)
        model = build_model(self.tool, self.fields)
        try:
            schema = model.model_json_schema()
        except Exception as e:
            raise _schema_error(self.tool, self.fields, e) from None
        clean_schema(schema)
        schema.setdefault("properties", {})
        return schema, ArgsModel(self.tool, None, model)


def _refuse_var_args(param: inspect.Parameter, tool: str) -> None:
    if param.kind is inspect.Parameter.VAR_POSITIONAL or param.kind is inspect.Parameter.VAR_KEYWORD:
        star = "*" if param.kind is inspect.Parameter.VAR_POSITIONAL else "**"
        raise ToolDefinitionError(
            f"Tool {tool!r}: {star}{param.name} cannot be described to a model; declare each "
            f"parameter with its own name and type."
        )


def _is_run_context(annotation: Any) -> bool:
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation is RunContext or get_origin(annotation) is RunContext


def _has_own_description(annotation: Any) -> bool:
    if get_origin(annotation) is not Annotated:
        return False
    return any(isinstance(m, FieldInfo) and m.description for m in get_args(annotation)[1:])


# --- the arguments model ------------------------------------------------------------------------


class ArgsModel:
    """A tool's arguments model, built when first needed (its schema can come from the cache).

    Shared by a tool and the copies ``Tool.__get__`` binds to instances, so it is built once.
    """

    __slots__ = ("fields", "model", "name")

    def __init__(self, name: str, fields: dict[str, FieldSpec] | None, model: type[BaseModel] | None = None) -> None:
        self.name = name
        self.fields = fields
        self.model = model

    def get(self) -> type[BaseModel]:
        model = self.model
        if model is None:
            assert self.fields is not None
            model = self.model = build_model(self.name, self.fields)
            self.fields = None
        return model


def build_model(name: str, fields: dict[str, FieldSpec]) -> type[BaseModel]:
    definitions = {field: (annotation, Field(default, **extra)) for field, (annotation, default, extra) in fields.items()}
    try:
        model: type[BaseModel] = pydantic.create_model(f"{name}_arguments", __config__=ARGS_CONFIG, **definitions)  # type: ignore[call-overload]
    except Exception as e:  # pydantic's schema-generation errors: name the parameter
        raise _schema_error(name, fields, e) from None
    return model


_FIX = (
    "use a JSON-friendly type (str, int, float, bool, list, dict, Literal, Enum, a pydantic model, dataclass or "
    "TypedDict, datetime, UUID, Decimal, Path), or give the tool the object through deps= and a RunContext parameter"
)


def _schema_error(name: str, fields: dict[str, FieldSpec], e: Exception) -> ToolDefinitionError:
    """One line: the tool, the parameter, its type and what to do (not pydantic's multi-line explanation)."""
    culprit = _find_bad_parameter(fields)
    if culprit is None:
        first = next((line.strip() for line in str(e).splitlines() if line.strip()), "")
        return ToolDefinitionError(
            f"Tool {name!r}: its parameters cannot be described as JSON schema ({type(e).__name__}: {first}); {_FIX}."
        )
    parameter, annotation, error = culprit
    shown = _type_name(annotation)
    if isinstance(error, pydantic.PydanticUserError) and error.code not in _UNSUPPORTED:  # pydantic says what to do
        advice = next((line.strip() for line in str(error).splitlines() if line.strip()), str(error.code))
        return ToolDefinitionError(
            f"Tool {name!r}: parameter {parameter!r} has type {shown}, which pydantic cannot use: {advice}"
        )
    part = _unsupported_part(error)
    what = f"{shown}, and {part}" if part and part != shown else f"{shown}, which"
    return ToolDefinitionError(
        f"Tool {name!r}: parameter {parameter!r} has type {what} cannot be described as JSON schema; {_FIX}."
    )


_UNSUPPORTED = ("schema-for-unknown-type", "invalid-for-json-schema")  # pydantic's codes for "no schema for this type"


def _find_bad_parameter(fields: dict[str, FieldSpec]) -> tuple[str, Any, Exception] | None:
    for field_name, (annotation, _default, extra) in fields.items():
        try:
            pydantic.TypeAdapter(annotation).json_schema()
        except Exception as e:
            return str(extra.get("alias") or field_name), annotation, e
    return None


def _type_name(annotation: Any) -> str:
    """``annotation`` as written in code: ``socket.socket``, ``list[socket.socket]``, ``int``."""
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if isinstance(annotation, type) and not get_args(annotation):
        module = annotation.__module__
        return annotation.__qualname__ if module in ("builtins", "__main__") else f"{module}.{annotation.__qualname__}"
    return repr(annotation).replace("typing.", "").replace("__main__.", "")


def _unsupported_part(error: Exception) -> str | None:
    """The type pydantic could not handle, from its message (``... schema for <class 'socket.socket'>. Set ...``)."""
    found = re.search(r"schema for (.+?)\. ", str(error))
    if found is None:
        return None
    text = found[1]
    cls = re.fullmatch(r"<class '(.+)'>", text)
    return (cls[1] if cls else text).replace("typing.", "").replace("__main__.", "").removeprefix("builtins.")


def is_async(function: Any) -> bool:
    """Whether calling ``function`` (a function, bound method, partial or callable object) gives a coroutine."""
    while isinstance(function, functools.partial):
        function = function.func
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(type(function).__call__)
