"""Provider error answers → agentkit's exceptions, with the provider's own words and no API key.

Understands OpenAI ``{error: {message, type, param, code}}``, OpenRouter ``{error: {code, message,
metadata: {raw, provider_name}}}``, Mistral ``{message, type, code}`` (``message`` may be an
object), FastAPI-style ``{detail: ...}``, and anything else (an HTML page from a proxy) by its text;
``Retry-After`` / ``retry-after-ms`` and the request id header are read off the response.
"""

from __future__ import annotations

import email.utils
import html
import json
import math
import re
import time
from collections.abc import Mapping
from datetime import timezone
from typing import Any

import httpx

from ..errors import ProviderError, error_class_for_status

__all__ = ["error_from_response", "parse_retry_after", "redact", "snippet", "request_id"]

_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-kong-request-id", "openai-request-id", "cf-ray")
_INVISIBLE = re.compile(r"<(script|style)\b.*?</\1\s*>|<!--.*?-->", re.I | re.S)
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def redact(text: str, secret: str | None) -> str:
    if secret and len(secret) >= 4:
        text = text.replace(secret, "***")
    return text


def error_from_response(
    status: int,
    content: bytes,
    headers: Mapping[str, str],
    provider: str,
    secret: str | None = None,
) -> ProviderError:
    """Map an error answer to the right :class:`ProviderError`, with the provider's own words.

    Understands OpenAI ``{error: {message, type, param, code}}``, OpenRouter ``{error: {code,
    message, metadata: {raw, provider_name}}}``, Mistral ``{message, type, code}`` (``message``
    may be an object) and FastAPI-style ``{detail: ...}``; anything else (an HTML page from a
    proxy, say) is reported by its text.
    """
    text = redact(content.decode("utf-8", "replace"), secret)  # the body may echo the key
    try:
        data: Any = json.loads(text)
    except ValueError:
        data = None
    message, code, kind = _extract(data)
    if not message:
        if not text.strip():
            message = f"HTTP {status} with an empty body"
        else:
            message = f"HTTP {status} with {'a non-JSON' if data is None else 'an unrecognised'} body: {snippet(text)}"
    cls = error_class_for_status(status)
    hdrs = httpx.Headers(headers)
    return cls(
        redact(message, secret),
        status=status,
        provider=provider,
        code=code,
        type=kind,
        retry_after=parse_retry_after(hdrs),
        request_id=request_id(hdrs),
        body=data if data is not None else text[:2000],
    )


def _extract(data: Any) -> tuple[str | None, Any, str | None]:
    if not isinstance(data, dict):
        return None, None, None
    err = data.get("error")
    if isinstance(err, dict):
        message = _text(err.get("message")) or _text(err)
        metadata = err.get("metadata")
        if isinstance(metadata, dict):
            raw = metadata.get("raw")
            who = metadata.get("provider_name")
            if raw:
                message = f"{message}: {_raw_text(raw)}"
            if who:
                message = f"{message} (upstream provider: {who})"
        kind = err.get("type")
        if kind is None and isinstance(metadata, dict):
            kind = metadata.get("error_type")
        return message, err.get("code"), kind
    if isinstance(err, str):
        return err, data.get("code"), data.get("type")
    if "message" in data:
        return _text(data["message"]), data.get("code"), data.get("type")
    if "detail" in data:
        return _text(data["detail"]), None, None
    return None, None, None


def _raw_text(raw: Any) -> str:
    """OpenRouter's ``metadata.raw``: the upstream's error, often its JSON body as a string."""
    parsed = raw
    if isinstance(raw, str):
        try:
            parsed = json.loads(raw)
        except ValueError:
            return raw
    return _extract(parsed)[0] or (raw if isinstance(raw, str) else _text(raw))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("detail"), list):
        value = value["detail"]
    if isinstance(value, list):
        parts = []
        for item in value:
            if isinstance(item, dict) and "msg" in item:
                loc = ".".join(str(p) for p in item.get("loc", ()))
                parts.append(f"{loc}: {item['msg']}" if loc else str(item["msg"]))
            else:
                parts.append(_text(item))
        return "; ".join(parts)
    return json.dumps(value, ensure_ascii=False)


def snippet(content: bytes | str) -> str:
    text = content if isinstance(content, str) else content.decode("utf-8", "replace")
    if "<" in text and ">" in text:  # an HTML page from a proxy: its text, without tags, scripts or styles
        text = html.unescape(_TAG.sub(" ", _INVISIBLE.sub(" ", text)))
    text = _SPACE.sub(" ", text).strip()
    if not text:
        return "(an empty body)"
    return text[:300] + ("..." if len(text) > 300 else "")


def request_id(headers: Mapping[str, str]) -> str | None:
    for name in _REQUEST_ID_HEADERS:
        value: str | None = headers.get(name)
        if value:
            return value
    return None


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            seconds = float(ms) / 1000.0
            if math.isfinite(seconds):
                return max(seconds, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": HTTP dates are in UTC
        when = when.replace(tzinfo=timezone.utc)
    return max(when.timestamp() - time.time(), 0.0)
