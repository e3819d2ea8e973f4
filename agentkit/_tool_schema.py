"""A tool's parameter schema from per-type pieces, without a pydantic model per tool.

pydantic describes a signature by building a model of it and generating that model's JSON schema:
both steps redo, for every tool, the same work for the same parameter types (``int``, ``str``,
``Optional[int]``, the same ``Address`` model, ...). Here each distinct parameter type is described
once, by pydantic itself, as the only field of a probe model; a tool's schema is then put together
from those pieces the way pydantic puts a model's schema together: the properties in order,
``required``, the field's default and description beside the type's schema (minus the keys the
``$ref`` target already has), the ``$defs`` merged and sorted by name, ``additionalProperties: false``.

:func:`compose` declines (returns None) whatever it cannot reproduce exactly: a type it cannot key
or that pydantic rejects, two different types with one ``$defs`` name, a default that is not a plain
JSON value, an annotation whose own ``Field(...)`` makes the field optional, renames it or has
``json_schema_extra``, ... The caller then builds the model and its schema the ordinary way (which
is also where errors are raised, with their usual messages).
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import math
from collections.abc import Sequence
from typing import Annotated, Any, Literal, get_args, get_origin

import pydantic
from pydantic import ConfigDict, Field
from pydantic.fields import FieldInfo
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, JsonSchemaValue
from pydantic_core import CoreSchema

from ._schema import clean_schema

__all__ = ["ARGS_CONFIG", "REQUIRED", "compose"]

ARGS_CONFIG = ConfigDict(extra="forbid", populate_by_name=True, arbitrary_types_allowed=False)
"""The config of every tool's arguments model (and of the probe models)."""


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
"""The default of a parameter that has none."""

_CACHE_SIZE = 2048
_cache: dict[Any, _Piece] = {}
_REFS_KEY = "\x00agentkit_def_refs"
_DEFS_PREFIX = "#/$defs/"
_TOP_KEYS = frozenset({"$defs", "additionalProperties", "properties", "required", "type"})


class _Decline(Exception):
    """This schema (or type) is left to the ordinary way."""


@dataclasses.dataclass(frozen=True)
class _Piece:
    schema: dict[str, Any] | None  # the property of a required, undescribed field; None: pydantic omits the field
    defs: dict[str, Any]  # the $defs it refers to, by name (titles dropped, like the property)
    def_refs: dict[str, str]  # $defs name -> pydantic's core ref of the type: which type it is
    field_extra: bool  # the annotation's own Field(...) has json_schema_extra (it could override what is added)


_SLOW = _Piece(None, {}, {}, True)  # cached for a type whose piece cannot be reproduced: always the ordinary way


def compose(params: Sequence[tuple[str, Any, Any, str | None]]) -> dict[str, Any] | None:
    """The JSON schema of a tool's arguments model, or None to build it the ordinary way.

    ``params``: for each parameter, its property name, annotation, default (:data:`REQUIRED` if
    none) and description (None if none). The result equals ``clean_schema`` of the
    ``model_json_schema()`` of ``create_model(..., __config__=ARGS_CONFIG, **fields)`` and is the
    caller's own (nothing in it is shared with the cache).
    """
    properties: dict[str, Any] = {}
    required: list[str] = []
    defs: dict[str, Any] = {}
    def_refs: dict[str, str] = {}
    try:
        keys = _cache_keys(params)
        for (key, annotation, default, description), cache_key in zip(params, keys, strict=True):
            piece = _piece(annotation, cache_key)
            if piece.schema is None:  # e.g. SkipJsonSchema[...]: pydantic leaves the field out of the schema
                continue
            _merge_defs(piece, defs, def_refs)
            properties[key] = _property(piece.schema, piece.field_extra, default, description, defs)
            if default is REQUIRED:
                required.append(key)
    except _Decline:
        return None
    return _assemble(properties, required, defs)


def _cache_keys(params: Sequence[tuple[str, Any, Any, str | None]]) -> list[Any]:
    """The cache key of each parameter's type; the types not cached yet are probed (together when several)."""
    try:
        keys = [_type_key(annotation) for _, annotation, _, _ in params]
        missing = {k: p[1] for k, p in zip(keys, params, strict=True) if k not in _cache}
    except TypeError:  # something unhashable inside
        raise _Decline from None
    if len(missing) > 1:  # one probe model for all of them rather than one each
        _probe_together(missing)
    return keys


def _merge_defs(piece: _Piece, defs: dict[str, Any], def_refs: dict[str, str]) -> None:
    """Add the piece's ``$defs`` to the tool's; decline when one name would stand for two types."""
    for name, ref in piece.def_refs.items():
        known = def_refs.get(name)
        if known is None:
            def_refs[name] = ref
            defs[name] = piece.defs[name]
        elif known != ref or (defs[name] is not piece.defs[name] and defs[name] != piece.defs[name]):
            raise _Decline  # two types, one name: pydantic would qualify the names


def _property(
    prop: dict[str, Any], field_extra: bool, default: Any, description: str | None, defs: dict[str, Any]
) -> dict[str, Any]:
    """The parameter's property: the type's schema with the field's default and description beside it."""
    added: dict[str, Any] = {}
    if default is not REQUIRED:
        added["default"] = _encode_default(default)
    if description is not None:
        added["description"] = description
    if not added:
        return prop
    if field_extra:
        raise _Decline
    target_ref = prop.get("$ref")
    if target_ref is not None:  # GenerateJsonSchema.handle_ref_overrides: drop what the target already says
        target = (
            defs.get(target_ref[len(_DEFS_PREFIX) :])
            if isinstance(target_ref, str) and target_ref.startswith(_DEFS_PREFIX)
            else None
        )
        if target is None:
            raise _Decline
        added = {k: v for k, v in added.items() if not (k in target and target[k] == v)}
    return dict(sorted({**prop, **added}.items()))


def _assemble(properties: dict[str, Any], required: list[str], defs: dict[str, Any]) -> dict[str, Any]:
    """The object schema, keys in pydantic's order, copied: nothing in it is shared with the cache or other tools."""
    schema: dict[str, Any] = {}
    if defs:
        schema["$defs"] = {name: defs[name] for name in sorted(defs)}
    schema["additionalProperties"] = False
    schema["properties"] = properties
    if required:
        schema["required"] = required
    schema["type"] = "object"
    copied: dict[str, Any] = _copy(schema)
    return copied


def _piece(annotation: Any, key: Any) -> _Piece:
    piece = _cache.get(key)
    if piece is None:
        piece = _probe(annotation)
        if piece is None:
            raise _Decline  # pydantic rejects the type: the ordinary way raises the usual error
        _store(key, piece)
    if piece is _SLOW:
        raise _Decline
    return piece


def _store(key: Any, piece: _Piece) -> None:
    if len(_cache) >= _CACHE_SIZE:
        with contextlib.suppress(KeyError, RuntimeError, StopIteration):  # another thread got there first
            del _cache[next(iter(_cache))]
    _cache[key] = piece


class _ProbeJsonSchema(GenerateJsonSchema):
    """pydantic's generator, also reporting which type each ``$defs`` entry is.

    Declines unless every entry got its plain name (e.g. ``Address``, not ``module__Address``),
    so that merged with other parameters' entries the names stay what pydantic would pick.
    """

    def generate(self, schema: CoreSchema, mode: JsonSchemaMode = "validation") -> JsonSchemaValue:
        out = super().generate(schema, mode)
        try:
            refs: dict[str, str] = {}
            for defs_ref in self.definitions:
                name = self._prioritized_defsref_choices[defs_ref][0]
                if name in refs:
                    raise _Decline
                refs[name] = self.defs_to_core_refs[defs_ref][0]
            if set(refs) != set(out.get("$defs", ())):
                raise _Decline
        except Exception:  # _Decline, or a pydantic without these internals
            raise _Decline from None
        out[_REFS_KEY] = refs
        return out


def _probe_model(annotations: Sequence[Any]) -> dict[str, Any]:
    """The schema of a probe model with one required, undescribed field per annotation (x0, x1, ...)."""
    fields: Any = {f"x{i}": (annotation, Field(...)) for i, annotation in enumerate(annotations)}
    model = pydantic.create_model("probe_arguments", __config__=ARGS_CONFIG, **fields)
    schema: dict[str, Any] = model.model_json_schema(schema_generator=_ProbeJsonSchema)
    return schema


def _probe(annotation: Any) -> _Piece | None:
    """pydantic's schema of ``annotation`` as a model's only field (_SLOW: unusable, None: rejected)."""
    try:
        schema = _probe_model([annotation])
    except _Decline:
        return _SLOW
    except Exception:  # not cached: the type may become valid later (a forward reference defined after)
        return None
    pieces = _split(schema, [annotation])
    return _SLOW if pieces is None else pieces[0]


def _probe_together(missing: dict[Any, Any]) -> None:
    """Cache the pieces of several annotations from one probe model (when they can be told apart)."""
    annotations = list(missing.values())
    try:
        pieces = _split(_probe_model(annotations), annotations)
    except Exception:  # a rejected or unusable type among them: each gets probed alone
        return
    if pieces is not None:
        for key, piece in zip(missing, pieces, strict=True):
            _store(key, piece)


def _split(schema: dict[str, Any], annotations: Sequence[Any]) -> list[_Piece] | None:
    """The pieces of a probe model's schema, one per field; None if it is not made of plain pieces."""
    def_refs = schema.pop(_REFS_KEY)
    clean_schema(schema)
    props = schema.get("properties")
    defs = schema.get("$defs", {})
    if (
        not set(schema) <= _TOP_KEYS
        or schema.get("type") != "object"
        or schema.get("additionalProperties") is not False
        or not isinstance(props, dict)
        or set(defs) != set(def_refs)
    ):
        return None
    names = [f"x{i}" for i in range(len(annotations))]
    present = [name for name in names if name in props]
    if set(props) != set(present) or schema.get("required", []) != present:
        return None  # an annotation's own Field(...) renames the field or gives it a default: not a plain piece
    pieces = []
    used_by_all: set[str] = set()
    for name, annotation in zip(names, annotations, strict=True):
        prop = props.get(name)
        if prop is not None and not isinstance(prop, dict):
            return None
        used = set() if prop is None else set(defs) if len(names) == 1 else _reachable(prop, defs)
        if used is None:
            return None
        used_by_all |= used
        field_extra = get_origin(annotation) is Annotated and any(
            isinstance(m, FieldInfo) and m.json_schema_extra is not None for m in annotation.__metadata__
        )
        pieces.append(_Piece(prop, {d: defs[d] for d in used}, {d: def_refs[d] for d in used}, field_extra))
    return pieces if used_by_all == set(defs) else None


def _reachable(prop: dict[str, Any], defs: dict[str, Any]) -> set[str] | None:
    """The $defs ``prop`` refers to, directly or through other $defs (as pydantic's garbage collection sees it)."""
    collect = getattr(pydantic.json_schema, "_get_all_json_refs", None)
    if collect is None:
        return None
    seen: set[str] = set()
    stack = [prop]
    while stack:
        for ref in collect(stack.pop()):
            if ref.startswith(_DEFS_PREFIX) and ref[len(_DEFS_PREFIX) :] in defs:
                name = ref[len(_DEFS_PREFIX) :]
                if name not in seen:
                    seen.add(name)
                    stack.append(defs[name])
            elif not ref.startswith(("http://", "https://")):
                return None
    return seen


# --- cache keys: equal only for annotations pydantic treats the same ------------------------------------
#
# Typing's own equality is too loose for this (``Union[int, str] == Union[str, int]``,
# ``Literal[1]``-style values compare across types, ``Ge(5) == Ge(5.0)``), so the key is structural
# and carries every value's type. Classes and objects without their own ``__eq__`` count by identity.


def _type_key(t: Any) -> Any:
    if isinstance(t, type):
        if _overrides(type(t), type, "__eq__") or _overrides(type(t), type, "__hash__"):  # a metaclass's own equality
            raise _Decline
        return t
    origin = get_origin(t)
    if origin is Annotated:
        return (Annotated, _type_key(t.__origin__), tuple(_freeze(m) for m in t.__metadata__))
    if origin is Literal:
        return (Literal, type(t), tuple(_freeze(v) for v in t.__args__))
    if origin is not None:
        return (type(t), _type_key(origin), tuple(_type_key(a) for a in get_args(t)))
    return _identity(t)


def _identity(value: Any) -> Any:
    kind = type(value)
    if _overrides(kind, object, "__eq__") or _overrides(kind, object, "__hash__"):
        raise _Decline
    return (kind, value)


def _overrides(kind: type, base: type, method: str) -> bool:
    return getattr(kind, method) is not getattr(base, method)


_SCALARS = (type(None), bool, int, float, str, bytes)
_FIELD_INFO_SLOTS: tuple[str, ...] = tuple(
    dict.fromkeys(s for c in FieldInfo.__mro__ for s in getattr(c, "__slots__", ()) if s != "__weakref__")
)
_UNSET = object()


def _freeze(value: Any) -> Any:
    kind = type(value)
    if kind in _SCALARS:
        return (kind, value)
    if kind is tuple or kind is list:
        return (kind, tuple(_freeze(v) for v in value))
    if kind is dict:
        return (kind, tuple((_freeze(k), _freeze(v)) for k, v in value.items()))
    if (kind is set or kind is frozenset) and not value:
        return (kind,)
    if isinstance(value, type) or get_origin(value) is not None:
        return _type_key(value)
    if kind is FieldInfo:
        return (kind, tuple(_freeze(getattr(value, s, _UNSET)) for s in _FIELD_INFO_SLOTS))
    if isinstance(value, enum.Enum):
        return (kind, value)
    if dataclasses.is_dataclass(value):  # annotated-types and pydantic markers: Ge(0), Strict(), AfterValidator(f), ...
        params = getattr(kind, "__dataclass_params__", None)
        if params is None or not params.frozen or hasattr(value, "__dict__"):
            raise _Decline
        return (kind, tuple(_freeze(getattr(value, f.name)) for f in dataclasses.fields(value)))
    return _identity(value)


# --- defaults ---------------------------------------------------------------------------------------------


def _encode_default(value: Any) -> Any:
    """``GenerateJsonSchema.encode_default`` for plain values (it serializes with a new TypeAdapter)."""
    kind = type(value)
    if value is None or kind is bool or kind is int or kind is str:
        return value
    if kind is float:
        if math.isfinite(value):
            return value
        raise _Decline
    if kind is list or kind is tuple:
        return [_encode_default(v) for v in value]
    if isinstance(value, enum.Enum) and not hasattr(kind, "__get_pydantic_core_schema__"):
        inner = value.value
        if inner is None or type(inner) in (bool, int, str) or (type(inner) is float and math.isfinite(inner)):
            return inner
    raise _Decline


def _copy(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {k: _copy(v) for k, v in value.items()}
    if kind is list:
        return [_copy(v) for v in value]
    if kind is tuple:
        return tuple(_copy(v) for v in value)
    return value
