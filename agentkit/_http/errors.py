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

from ..errors import (
    APIConnectionError,
    APITimeoutError,
    ProviderError,
    error_class_for_status,
    redact_secrets,
    redact_value,
    register_secret,
)

__all__ = [
    "error_from_response",
    "transport_error",
    "parse_retry_after",
    "redact",
    "register_secrets",
    "safe_url",
    "snippet",
    "request_id",
]

_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-kong-request-id", "openai-request-id", "cf-ray")
_INVISIBLE = re.compile(r"<(script|style)\b.*?</\1\s*>|<!--.*?-->", re.I | re.S)
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


_SENSITIVE_HEADER = re.compile(r"auth|key|token|secret|cookie|session|signature|password|credential", re.I)
_AUTH_SCHEME = re.compile(r"^\s*(?:bearer|basic|token|apikey|key)\s+(\S+)\s*$", re.I)
_URL = re.compile(r"https?://[^\s'\"<>()\[\]]+", re.I)
_VERSIONED = re.compile(r"/v\d", re.I)


def redact(text: str, secret: str | None) -> str:
    """``text`` without ``secret`` or any key agentkit has sent, in any encoding (see :func:`agentkit.errors.redact_secrets`)."""
    return redact_secrets(text, secret)


def register_secrets(secret: str | None, headers: Mapping[str, str] | None = None) -> None:
    """Hide ``secret`` and the credentials among ``headers`` (``Authorization``, ``api-key``,
    ``x-...-token``...) from every agentkit error from now on."""
    register_secret(secret)
    for name, value in (headers or {}).items():
        if isinstance(value, str) and _SENSITIVE_HEADER.search(name):
            register_secret(value.strip())
            scheme = _AUTH_SCHEME.match(value)
            if scheme:
                register_secret(scheme.group(1))


def register_url_secrets(url: str) -> None:
    """Hide the credentials written in ``url`` from every agentkit error from now on: its password
    and the values of query parameters named like one (``?api_key=...``, ``?token=...``; an
    ``api-version=2024-02-01`` is not one)."""
    try:
        parts = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return
    if parts.password:
        register_secret(parts.password)
    for name, value in parts.params.multi_items():
        if _SENSITIVE_HEADER.search(name):
            register_secret(value)


def safe_url(url: str) -> str:
    """``url`` fit for a message: no user name or password, no query string or fragment (they may hold keys)."""
    try:
        parts = httpx.URL(url)
        return str(parts.copy_with(userinfo=b"", query=None, fragment=None))
    except (httpx.InvalidURL, TypeError, ValueError):
        return "(an invalid URL)"


def _v1_hint(base_url: str | None) -> str:
    """A hint for a ``base_url`` without a version segment, where OpenAI-compatible servers serve."""
    if not base_url:
        return ""
    base = safe_url(base_url).rstrip("/")
    if _VERSIONED.search(httpx.URL(base).path):
        return ""
    return f"OpenAI-compatible servers usually serve under /v1 — try base_url='{base}/v1'"


def transport_error(
    error: httpx.RequestError, url: str, base_url: str | None, provider: str, secret: str | None
) -> ProviderError:
    """The error for a request that got no answer: which URL failed, and the usual causes when none could connect."""
    detail = _URL.sub(lambda m: safe_url(m.group()), f"{type(error).__name__}: {str(error) or 'no details'}")
    detail = redact(detail, secret)
    where = safe_url(url)
    if isinstance(error, httpx.TimeoutException):
        doing = "connecting to" if isinstance(error, httpx.ConnectTimeout) else "waiting for an answer from"
        return APITimeoutError(f"{detail} ({doing} {where})", provider=provider)
    if isinstance(error, httpx.ConnectError):
        host = httpx.URL(where).netloc.decode("ascii", "replace") if where.startswith("http") else where
        hint = _v1_hint(base_url)
        hint = f" ({hint})" if hint else ""
        return APIConnectionError(
            f"{detail}: could not connect to {where} — is the server running and listening on {host}?{hint}", provider=provider
        )
    return APIConnectionError(f"{detail} ({where})", provider=provider)


def error_from_response(
    status: int,
    content: bytes,
    headers: Mapping[str, str],
    provider: str,
    secret: str | None = None,
    *,
    url: str | None = None,
    base_url: str | None = None,
) -> ProviderError:
    """Map an error answer to the right :class:`ProviderError`, with the provider's own words.

    Understands OpenAI ``{error: {message, type, param, code}}``, OpenRouter ``{error: {code,
    message, metadata: {raw, provider_name}}}``, Mistral ``{message, type, code}`` (``message``
    may be an object) and FastAPI-style ``{detail: ...}``; anything else (an HTML page from a
    proxy, say) is reported by its text. The body may echo the key: it is redacted after decoding
    (escaped forms included) and so is everything taken from it. A 404 from a ``base_url`` without
    ``/v1`` names ``url`` and suggests adding it.
    """
    raw = content.decode("utf-8", "replace")
    try:
        data: Any = redact_value(json.loads(raw), secret)
    except (ValueError, RecursionError):
        data = None
    text = redact(raw, secret)
    message, code, kind = _extract(data)
    if not message:
        if not text.strip():
            message = f"HTTP {status} with an empty body"
        else:
            message = f"HTTP {status} with {'a non-JSON' if data is None else 'an unrecognised'} body: {snippet(text)}"
    hint = _v1_hint(base_url) if status == 404 and url else ""
    if hint:  # the usual mistake with a local server: base_url without /v1
        message = f"{message} (404 from {safe_url(url or '')}: {hint})"
    cls = error_class_for_status(status)
    hdrs = httpx.Headers(headers)
    return cls(
        redact(message, secret),
        status=status,
        provider=provider,
        code=redact_value(code, secret),
        type=redact_value(kind, secret),
        retry_after=parse_retry_after(hdrs),
        request_id=redact_value(request_id(hdrs), secret),
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
    text = redact_secrets(_SPACE.sub(" ", text).strip())  # before cutting: no half key survives
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
