"""OpenTelemetry traces of agent runs, by the GenAI semantic conventions, and the ``agentkit`` log lines.

``Agent(instrument=True)`` (or :class:`InstrumentationSettings`) traces one agent's runs;
:func:`instrument` traces every agent's. A run is an ``invoke_agent {name}`` span, each model
request a ``chat {model}`` span under it (retries and rate-limit waits as its events; a streamed
one ends with the stream, its time to first token recorded), each tool call an
``execute_tool {tool}`` span; an agent used as a tool runs under its call's span, a handoff is an
event of the run's span. Only ``opentelemetry-api`` is needed (``pip install 'agentkit-loop[otel]'``);
spans go to the tracer provider you configured (the SDK, Logfire, Phoenix...).

Messages and tool arguments and results are not recorded unless ``include_content=True``; API
keys never are (every text recorded passes through agentkit's redaction).

The ``agentkit`` logger writes one INFO line per run and DEBUG lines per request and tool call
when it is enabled for those levels; without instrumentation and with the logger quiet, a run
costs nothing more.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Union

from ._secrets import redact_secrets
from .errors import UserError

__all__ = ["InstrumentationSettings", "instrument", "Instrument"]

logger = logging.getLogger("agentkit")


@dataclass(frozen=True)
class InstrumentationSettings:
    """How runs are traced.

    Attributes:
        include_content: record the messages sent and received (``gen_ai.input.messages``,
            ``gen_ai.output.messages``) and tool arguments and results
            (``gen_ai.tool.call.arguments``, ``gen_ai.tool.call.result``). Off by default: they
            may hold personal data. Registered API keys are redacted from them either way.
        tracer_provider: the OpenTelemetry ``TracerProvider`` to use (default: the global one,
            looked up when each span starts, so configuring it after this is fine).
    """

    include_content: bool = False
    tracer_provider: Any = None


Instrument = Union[bool, InstrumentationSettings, None]
"""``Agent(instrument=...)``: True (default settings), settings, False (never, whatever
:func:`instrument` says) or None (as :func:`instrument` says)."""

_DEFAULT = InstrumentationSettings()
_global: InstrumentationSettings | None = None


def instrument(settings: InstrumentationSettings | bool | None = None) -> None:
    """Trace the runs of every agent (those built with ``instrument=False`` excepted).

    ``settings``: :class:`InstrumentationSettings` (None or True: the defaults); False turns it off again.

    Raises:
        UserError: ``opentelemetry-api`` is not installed.
    """
    global _global
    if settings is False:
        _global = None
        return
    chosen = _DEFAULT if settings is None or settings is True else settings
    if not isinstance(chosen, InstrumentationSettings):
        raise UserError(f"instrument() takes InstrumentationSettings, True or False, not {type(settings).__name__}.")
    _require_otel()
    _global = chosen


def check_instrument(value: Any) -> None:
    """Raise :class:`UserError` for an ``Agent(instrument=...)`` that is not one of :data:`Instrument`."""
    if value is None or value is False:
        return
    if value is not True and not isinstance(value, InstrumentationSettings):
        raise UserError(f"instrument must be True, False or InstrumentationSettings, not {type(value).__name__}.")
    _require_otel()


def _require_otel() -> None:
    try:
        import opentelemetry.trace  # noqa: F401
    except ImportError:
        raise UserError(
            "Instrumentation needs OpenTelemetry's API: pip install 'agentkit-loop[otel]' (or opentelemetry-api)."
        ) from None


def chosen_settings(own: Instrument) -> InstrumentationSettings | None:
    """The settings an agent's runs are traced with (None: not traced)."""
    if own is None:
        return _global
    if own is False:
        return None
    return _DEFAULT if own is True else own


_observers: dict[tuple[int, int], Any] = {}


def observer(own: Instrument) -> Any:
    """What watches an agent's runs now (an ``agentkit._observe.Observer``), or None: neither
    traced nor logged. Called once per run; the same object while nothing changes."""
    settings = chosen_settings(own)
    info = logger.isEnabledFor(logging.INFO)
    if settings is None and not info:
        return None
    level = (logging.DEBUG if logger.isEnabledFor(logging.DEBUG) else logging.INFO) if info else 0
    key = (id(settings), level)
    found = _observers.get(key)
    if found is None or found.settings is not settings:
        from ._observe import Observer

        found = Observer(settings, level)
        if len(_observers) > 64:
            _observers.clear()
        _observers[key] = found
    return found


MAX_CONTENT = 100_000
"""The most characters of one recorded content attribute: the rest is cut, with a note (a 10 MB
tool result would make the span too big for an OTLP collector to take, and the whole batch of
spans it travels in would be refused)."""


def content_text(value: Any) -> str:
    """``value`` as JSON text, registered keys hidden, binary parts (images, files, audio) named
    by their type and size instead of their base64, cut to :data:`MAX_CONTENT` characters."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json", exclude_none=True)
    elif isinstance(value, (list, tuple)):
        value = [v.model_dump(mode="json", exclude_none=True) if hasattr(v, "model_dump") else v for v in value]
    text = redact_secrets(value if isinstance(value, str) else json.dumps(_elide(value), ensure_ascii=False, default=str))
    if len(text) > MAX_CONTENT:
        text = f"{text[:MAX_CONTENT]}... [{len(text) - MAX_CONTENT:,} more characters not recorded]"
    return text


def _elide(value: Any) -> Any:
    if isinstance(value, list):
        return [_elide(v) for v in value]
    if not isinstance(value, dict):
        return value
    if value.get("kind") == "binary" and isinstance(value.get("data"), str):
        data = value["data"]
        size = len(data) * 3 // 4 - data[-2:].count("=")
        return {**value, "data": f"<{size:,} bytes of {value.get('media_type', 'data')}>"}
    url = value.get("url")
    if isinstance(url, str) and url.startswith("data:") and len(url) > 100:
        return {**value, "url": f"{url.split(',', 1)[0]},<{len(url):,} characters>"}
    return {key: _elide(v) for key, v in value.items()}
