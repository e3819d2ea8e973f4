"""API keys never shown: every key agentkit sends is registered here (by the HTTP client that sends
it), and every agentkit error hides them all, however the text that carries one was encoded.

A server that echoes the request back may JSON-escape the key (``\\u0073k-...``, one escape per
character or only a few), percent-encode it, write it as HTML entities, or put it inside base64
(``Basic`` credentials): the text is decoded first (escapes of every kind, in any case, mixed
with plain characters, escaped twice), the keys are looked for in what it says, and what they
were written as is replaced by ``***``. A key cut short where a text was clipped (``sk-li...``)
is hidden too.
"""

from __future__ import annotations

import base64
import bisect
import logging
import re
import threading
from typing import Any

__all__ = ["MIN_SECRET_LENGTH", "register_secret", "redact_secrets", "redact_value", "LOGGERS"]

MIN_SECRET_LENGTH = 8
"""Keys shorter than this are not hidden everywhere (placeholders such as ``"none"`` or ``"EMPTY"``
would garble unrelated words); the client that sends one still hides it from its own errors."""
_MAX_SECRETS = 1000
_CUT_PREFIX = 8  # the first characters of a key (or of its base64) ending a clipped text are hidden too
_CUTS = ("...", "…")
_MAX_DEPTH = 200  # redact_value: deeper than this, a value is replaced (a hostile body nests without end)

# one encoded character: \u0073 \x73 (backslashes doubled any number of times), \/ \", %73 (%2573...), &#115; &#x73;
_UNIT = re.compile(
    r"\\+u([0-9a-fA-F]{4})|\\+x([0-9a-fA-F]{2})|\\+([/\"])|%(?:25)*([0-9a-fA-F]{2})|&#([0-9]{1,7});?|&#[xX]([0-9a-fA-F]{1,6});?"
)

_lock = threading.Lock()
_secrets: dict[str, None] = {}  # the keys sent so far, in order (a set that keeps its order)
_needles: tuple[tuple[str, ...], ...] = ()  # per key: what to look for (the key, its base64 fragments)


def register_secret(secret: str | None) -> None:
    """Hide ``secret`` from every agentkit error from now on (keys shorter than
    :data:`MIN_SECRET_LENGTH` are ignored). Called by the HTTP clients for the keys they send."""
    global _needles
    if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH or secret in _secrets:
        return
    with _lock:
        if secret in _secrets:
            return
        _secrets[secret] = None
        while len(_secrets) > _MAX_SECRETS:  # bounded: the oldest key is forgotten first
            del _secrets[next(iter(_secrets))]
        _needles = tuple(_forms(s) for s in _secrets)  # replaced whole: readers need no lock


def redact_secrets(text: str, *secrets: str | None) -> str:
    """``text`` with every registered API key (and each of ``secrets``) replaced by ``***``,
    including forms encoded character by character (JSON ``\\uXXXX`` and ``\\xXX`` escapes in
    any case, percent-encoding, HTML entities, mixed with plain characters) and inside base64."""
    needles = _needles
    extra = [s for s in secrets if isinstance(s, str) and len(s) >= 4 and s not in _secrets]
    if extra:
        needles = (*needles, *(_forms(s) for s in extra))
    if not needles or not text:
        return text
    decoded = _Decoded(text)
    spans = sorted(span for forms in needles for form in forms for span in _find(decoded.text, form))
    if not spans:
        return text
    parts, done = [], 0
    for start, end in _merged(spans):
        first, last = decoded.original(start, end)
        if last > done:
            parts.append(text[done : max(first, done)])
            parts.append("***")
            done = last
    parts.append(text[done:])
    return "".join(parts)


def redact_value(value: Any, *secrets: str | None, _depth: int = 0) -> Any:
    """``value`` (decoded JSON: dicts, lists, strings...) with :func:`redact_secrets` applied to every string in it."""
    if isinstance(value, str):
        return redact_secrets(value, *secrets)
    if isinstance(value, bytes):
        return redact_secrets(value.decode("utf-8", "replace"), *secrets)
    if not isinstance(value, (dict, list, tuple)):
        return value
    if _depth >= _MAX_DEPTH:
        return "(nested too deeply to show)"
    depth = _depth + 1
    if isinstance(value, dict):
        return {redact_value(k, *secrets, _depth=depth): redact_value(v, *secrets, _depth=depth) for k, v in value.items()}
    return type(value)(redact_value(v, *secrets, _depth=depth) for v in value)


class _Decoded:
    """``text`` with every encoded character decoded, and the way back to where each one was written."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._units: list[int] = []  # where each decoded escape sits in ``self.text``
        self._spans: list[tuple[int, int]] = []  # ... and where it was written in the original
        if "\\" not in text and "%" not in text and "&#" not in text:
            return  # nothing encoded (most texts): the text is its own decoding
        pieces: list[str] = []
        done = length = 0
        for match in _UNIT.finditer(text):
            char = _char_of(match)
            if char is None:
                continue
            pieces.append(text[done : match.start()])
            length += match.start() - done
            self._units.append(length)
            self._spans.append((match.start(), match.end()))
            pieces.append(char)
            length += 1
            done = match.end()
        pieces.append(text[done:])
        self.text = "".join(pieces)

    def original(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original text that ``self.text[start:end]`` was decoded from."""
        return self._position(start, False), self._position(end - 1, True)

    def _position(self, index: int, after: bool) -> int:
        k = bisect.bisect_right(self._units, index) - 1
        if k >= 0 and self._units[k] == index:  # a decoded escape: all of it
            return self._spans[k][1] if after else self._spans[k][0]
        if k < 0:
            return index + after
        # plain text after the k-th escape: as many characters on from where that escape ended
        return self._spans[k][1] + (index - self._units[k] - 1) + after


def _char_of(match: re.Match[str]) -> str | None:
    hex4, hex2, plain, percent, decimal, hexa = match.groups()
    if plain is not None:
        return plain
    code = int(decimal) if decimal is not None else int(hex4 or hex2 or percent or hexa, 16)
    return chr(code) if code <= 0x10FFFF else None


def _find(text: str, secret: str) -> list[tuple[int, int]]:
    """Where ``secret`` is in ``text``, and where its first part ends ``text`` or comes before ``...``."""
    head = secret[:_CUT_PREFIX]
    found = []
    at = text.find(head)
    while at >= 0:
        end = at + len(head)
        while end - at < len(secret) and end < len(text) and text[end] == secret[end - at]:
            end += 1
        if end - at == len(secret) or end == len(text) or text.startswith(_CUTS, end):
            found.append((at, end))
        at = text.find(head, at + 1)
    return found


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _forms(secret: str) -> tuple[str, ...]:
    """``secret`` and the parts of its base64 encodings (standard and URL-safe) that are the same
    wherever it starts in the encoded bytes (three alignments)."""
    raw = secret.encode()
    forms = [secret]
    if len(raw) >= 12:
        for offset in range(3):
            encoded = base64.b64encode(b"\0" * offset + raw).decode()
            start = -(-8 * offset // 6)  # the first character that holds none of the bytes before
            end = (8 * (offset + len(raw))) // 6  # the characters before this one hold none of the bytes after
            fragment = encoded[start:end]
            forms += [fragment, fragment.replace("+", "-").replace("/", "_")]
    return tuple(f for f in dict.fromkeys(forms) if f == secret or len(f) >= 12)


class _RedactingFilter(logging.Filter):
    """Hides registered keys from the records of agentkit's loggers: message, arguments, traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _needles:
            return True
        message = record.getMessage()
        redacted = redact_secrets(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:  # formatted here, so handlers print this text
            record.exc_text = redact_secrets(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact_secrets(record.stack_info)
        return True


LOGGERS = ("agentkit", "agentkit.mcp")
"""agentkit's loggers: their records never show a registered key."""
_filter = _RedactingFilter()
for _name in LOGGERS:
    logging.getLogger(_name).addFilter(_filter)
