"""Content parts → each provider's wire format, checked before anything is sent.

A :class:`MediaRules` (one per provider, held by its :class:`~.profiles.Profile` or by the
Responses API client) says which parts the API takes, how they are spelled (``dialect``), which
media types and sizes it accepts, and where a tool's images go. :class:`PartMapper` turns one
request's parts into wire dicts and raises :class:`~agentkit.errors.UserError` for a part the
provider cannot take or a limit it would exceed, naming the limit, before any request.

Spellings (see ``docs/multimodal.md`` for the whole table):

* ``openai`` (OpenAI, OpenRouter, OpenAI-compatible servers): ``image_url`` (URL or data URL,
  ``detail``), ``input_audio`` (``{data, format}``), ``file`` (``{filename, file_data}``: a
  base64 data URL, or a URL where the provider fetches documents);
* ``mistral``: ``image_url``, ``document_url`` (URL or base64 data URL, ``document_name``),
  ``input_audio`` (the base64 text);
* ``responses`` (the Responses API): ``input_image``, ``input_file`` (``file_data`` or
  ``file_url``), ``input_audio`` (``{data, format}``).

Bytes are base64-encoded once per :class:`~agentkit.BinaryContent` (it keeps the text), and a
``data:`` URL is never decoded: its size is read from its length.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from ..content import AudioUrl, BinaryContent, DocumentUrl, ImageUrl, UserContent, check_media_type, part_label
from ..errors import UserError

__all__ = [
    "MediaRules",
    "PartMapper",
    "AUDIO_FORMATS",
    "OPENAI_CHAT_MEDIA",
    "OPENROUTER_MEDIA",
    "MISTRAL_MEDIA",
    "COMPATIBLE_MEDIA",
    "OPENAI_RESPONSES_MEDIA",
    "OPENROUTER_RESPONSES_MEDIA",
    "COMPATIBLE_RESPONSES_MEDIA",
]

MB = 1024 * 1024
logger = logging.getLogger("agentkit")

AUDIO_FORMATS: Mapping[str, str] = {
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/vnd.wave": "wav",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/flac": "flac",
    "audio/x-flac": "flac",
    "audio/ogg": "ogg",
    "audio/mp4": "m4a",
    "audio/x-m4a": "m4a",
    "audio/m4a": "m4a",
    "audio/aac": "aac",
    "audio/aiff": "aiff",
    "audio/x-aiff": "aiff",
    "audio/webm": "webm",
}
"""Audio media types → the ``format`` names the APIs use."""

WEB_IMAGES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})
PDF = frozenset({"application/pdf"})
OFFICE = "application/vnd.openxmlformats-officedocument"
OPENAI_FILES = PDF | {
    "text/*",  # .txt, .md, .csv, .tsv, .html, .xml and code files
    "application/json",
    "application/xml",
    "application/rtf",
    "application/msword",
    f"{OFFICE}.wordprocessingml.document",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.ms-powerpoint",
    f"{OFFICE}.presentationml.presentation",
    "application/vnd.ms-excel",
    f"{OFFICE}.spreadsheetml.sheet",
}
"""What OpenAI's Responses API takes as ``input_file`` (its file-inputs guide: PDFs, text and
code, rich documents, presentations, spreadsheets); a ``type/*`` entry takes the whole type."""


@dataclass(frozen=True)
class MediaRules:
    """What one provider's API takes as content parts (all limits are checked before sending).

    Attributes:
        api: the API's name in errors (``"OpenAI chat completions"``).
        dialect: how parts are spelled: ``openai``, ``mistral`` or ``responses``.
        image_types: the image media types accepted (None: any ``image/*``).
        audio_formats: the audio formats accepted (``wav``, ``mp3``, ...; empty: no audio).
        document_types: the document media types accepted (None: any; empty: no documents; an
            entry ``text/*`` takes every ``text/`` type).
        document_urls: whether documents may be given by URL (the provider fetches them).
        audio_urls: whether audio may be given by URL (vLLM's ``audio_url`` part).
        max_image_bytes: the largest image (bytes), per image.
        max_images: the most images in one request.
        max_image_bytes_total: the most image bytes in one request.
        max_document_bytes: the largest document (bytes).
        max_document_bytes_total: the most document bytes in one request.
        max_audio_bytes: the largest audio part (bytes).
        tool_attachments: where a tool's images and files go: ``inline`` (in the tool result,
            where the API takes parts there) or ``user_message`` (the tool result says "see the
            attached image" and the parts follow in a user message after the tool results).
        source: where the limits are documented (named in errors).
    """

    api: str
    dialect: Literal["openai", "mistral", "responses"] = "openai"
    image_types: frozenset[str] | None = WEB_IMAGES
    audio_formats: frozenset[str] = frozenset()
    document_types: frozenset[str] | None = PDF
    document_urls: bool = False
    audio_urls: bool = False
    max_image_bytes: int | None = None
    max_images: int | None = None
    max_image_bytes_total: int | None = None
    max_document_bytes: int | None = None
    max_document_bytes_total: int | None = None
    max_audio_bytes: int | None = None
    tool_attachments: Literal["inline", "user_message"] = "user_message"
    source: str = field(default="", compare=False)


OPENAI_CHAT_MEDIA = MediaRules(
    api="OpenAI chat completions",
    audio_formats=frozenset({"wav", "mp3"}),
    max_image_bytes=20 * MB,
    max_images=500,
    max_image_bytes_total=50 * MB,
    max_document_bytes=32 * MB,
    max_document_bytes_total=32 * MB,
    source="OpenAI's vision and file-input guides",
)
"""OpenAI chat completions: PNG/JPEG/WEBP/GIF images (20 MB each, 500 and 50 MB per request),
``input_audio`` in wav or mp3, PDFs as base64 ``file`` parts (32 MB of files per request, all
files together); tool results are text only."""

OPENROUTER_MEDIA = MediaRules(
    api="OpenRouter chat completions",
    audio_formats=frozenset({"wav", "mp3", "flac", "m4a", "ogg", "aiff", "aac"}),
    document_urls=True,
    tool_attachments="inline",
    source="OpenRouter's multimodal docs",
)
"""OpenRouter: PNG/JPEG/WEBP/GIF images by URL or base64; PDFs as base64 or by URL (any model,
through its PDF parser); audio base64 only (no URLs) in the formats its spec lists; tool
results may carry parts (its ``ChatToolMessage`` takes content items)."""

MISTRAL_MEDIA = MediaRules(
    api="Mistral chat completions",
    dialect="mistral",
    audio_formats=frozenset({"wav", "mp3", "flac", "ogg", "m4a"}),
    document_urls=True,
    max_image_bytes=10 * MB,
    max_images=8,
    max_document_bytes=50 * MB,
    tool_attachments="inline",
    source="Mistral's vision and document docs",
)
"""Mistral: PNG/JPEG/WEBP/GIF images (10 MB each, 8 per request) as ``image_url``; PDFs as
``document_url`` (URL or base64 data URL, 50 MB); ``input_audio`` base64; tool messages take
content chunks."""

COMPATIBLE_MEDIA = MediaRules(
    api="the OpenAI-compatible server",
    image_types=None,
    audio_formats=frozenset(AUDIO_FORMATS.values()),
    document_types=None,
    document_urls=True,
    audio_urls=True,
)
"""OpenAI-compatible servers (vLLM, llama.cpp, Ollama, ...): OpenAI's spelling, no media type or
size checks (the server decides), ``audio_url`` for audio URLs (vLLM); tool images in a user
message after the tool results (chat templates read tool messages as text)."""

OPENAI_RESPONSES_MEDIA = MediaRules(
    api="OpenAI's Responses API",
    dialect="responses",
    document_urls=True,
    max_image_bytes=20 * MB,
    max_images=500,
    max_image_bytes_total=50 * MB,
    document_types=OPENAI_FILES,
    max_document_bytes=32 * MB,
    max_document_bytes_total=32 * MB,
    tool_attachments="inline",
    source="OpenAI's vision and file-input guides",
)
"""OpenAI's Responses API: ``input_image``, ``input_file`` (base64 or ``file_url``: PDFs, text,
code, Word, PowerPoint, Excel, CSV...); no audio input (its ``InputContent`` has none);
``function_call_output`` takes images and files."""

OPENROUTER_RESPONSES_MEDIA = MediaRules(
    api="OpenRouter's Responses API",
    dialect="responses",
    audio_formats=frozenset({"wav", "mp3"}),
    document_urls=True,
    tool_attachments="inline",
    source="OpenRouter's multimodal docs",
)
"""OpenRouter's Responses API: ``input_image``, ``input_file``, ``input_audio`` (mp3, wav)."""

COMPATIBLE_RESPONSES_MEDIA = MediaRules(
    api="the Responses API server",
    dialect="responses",
    image_types=None,
    audio_formats=frozenset({"wav", "mp3"}),
    document_types=None,
    document_urls=True,
    tool_attachments="inline",
)
"""Any other Responses API server: the Responses spelling, no media type or size checks."""


class _Inline(NamedTuple):
    """Bytes to send inline: from a :class:`BinaryContent` (its cached base64) or a data URL."""

    media_type: str
    b64: str
    size: int
    filename: str | None
    data_url: str


def _inline(part: BinaryContent | ImageUrl | DocumentUrl | AudioUrl, encoded: bool = True) -> _Inline | None:
    """The part's bytes to send inline (None: a URL the provider fetches); a UserError for an
    empty part, a malformed media type or a URL that is neither http(s) nor a base64 data URL.
    ``encoded=False``: without the base64 (to check the sizes before encoding anything)."""
    if isinstance(part, BinaryContent):
        if not part.data:
            raise UserError(f"{part!r} has no bytes: an empty image, file or audio cannot be sent; nothing was sent.")
        media_type = check_media_type(part.media_type)
        if not encoded:
            return _Inline(media_type, "", len(part.data), part.filename, "")
        data_url = part.data_url if media_type == part.media_type else f"data:{media_type};base64,{part.base64}"
        return _Inline(media_type, part.base64, len(part.data), part.filename, data_url)
    url = part.checked_url(type(part).__name__)
    if not url.startswith("data:"):
        return None
    header, _, payload = url.partition(",")
    media_type = check_media_type(header[5:].split(";", 1)[0])
    size = len(payload) * 3 // 4 - payload[-2:].count("=")
    return _Inline(media_type, payload, size, None, url)


def _kind(part: BinaryContent | ImageUrl | DocumentUrl | AudioUrl, inline: _Inline | None) -> str:
    if isinstance(part, ImageUrl):
        return "image"
    if isinstance(part, DocumentUrl):
        return "document"
    if isinstance(part, AudioUrl):
        return "audio"
    media_type = inline.media_type if inline is not None else ""
    return "image" if media_type.startswith("image/") else "audio" if media_type.startswith("audio/") else "document"


def _mb(size: int) -> str:
    return f"{size / MB:.1f} MB"


class PartMapper:
    """Maps the parts of one request, counting images against the per-request limits."""

    def __init__(self, rules: MediaRules) -> None:
        self.rules = rules
        self.images = 0
        self.image_bytes = 0
        self.document_bytes = 0

    # -- public ----------------------------------------------------------------------------
    def user_content(self, content: str | list[UserContent]) -> Any:
        """A user message's content on the wire (a string stays a string)."""
        if isinstance(content, str):
            return content
        return [self.part(p) for p in content]

    def part(self, part: UserContent) -> dict[str, Any]:
        """One part as a wire dict (checked)."""
        if isinstance(part, str):
            return {"type": "input_text" if self.rules.dialect == "responses" else "text", "text": part}
        inline = _inline(part, encoded=False)
        kind = _kind(part, inline)
        if inline is not None:
            self._check(kind, inline)  # before any base64 is made: a part over a limit is never encoded
            inline = _inline(part)
        wire: dict[str, Any] = getattr(self, f"_{self.rules.dialect}_{kind}")(part, inline)
        return wire

    def tool_part(self, part: UserContent) -> dict[str, Any]:
        """A part a tool returned: as :meth:`part`, except that one the provider cannot take
        becomes a text part saying why (a tool's output, an MCP server's say, is not the caller's
        to fix mid-run; the run goes on and the model is told), with a warning in the log."""
        counts = (self.images, self.image_bytes, self.document_bytes)
        try:
            return self.part(part)
        except UserError as e:
            self.images, self.image_bytes, self.document_bytes = counts
            reason = str(e).removesuffix("; nothing was sent.").removesuffix(".")
            logger.warning("A tool's %s was not sent: %s", part_label(part), reason)
            return self.part(f"{part_label(part)} not sent: {reason}.")

    # -- checks ----------------------------------------------------------------------------
    def _refuse(self, what: str) -> UserError:
        return UserError(f"{self.rules.api} cannot take {what}; nothing was sent.")

    def _over(self, what: str, size: str, limit: str) -> UserError:
        source = f" ({self.rules.source})" if self.rules.source else ""
        return UserError(f"{what} is {size}: {self.rules.api} takes at most {limit}{source}; nothing was sent.")

    def _check(self, kind: str, inline: _Inline) -> None:
        getattr(self, f"_check_{kind}")(inline)

    def _check_image(self, inline: _Inline) -> None:
        rules = self.rules
        if rules.image_types is not None and inline.media_type not in rules.image_types:
            accepted = ", ".join(sorted(t.split("/")[1].upper() for t in rules.image_types))
            raise self._refuse(f"{inline.media_type} images (it takes {accepted})")
        if rules.max_image_bytes is not None and inline.size > rules.max_image_bytes:
            name = inline.filename or inline.media_type
            raise self._over(f"An image ({name})", _mb(inline.size), f"{_mb(rules.max_image_bytes)} per image")
        self.images += 1
        self.image_bytes += inline.size
        if rules.max_images is not None and self.images > rules.max_images:
            raise self._over("The number of images in the request", str(self.images), f"{rules.max_images} images per request")
        if rules.max_image_bytes_total is not None and self.image_bytes > rules.max_image_bytes_total:
            limit = f"{_mb(rules.max_image_bytes_total)} of images per request"
            raise self._over("The images of the request together", _mb(self.image_bytes), limit)

    def _check_audio(self, inline: _Inline) -> None:
        rules = self.rules
        fmt = AUDIO_FORMATS.get(inline.media_type)
        if fmt is None or fmt not in rules.audio_formats:
            accepted = ", ".join(sorted(rules.audio_formats)) or "no audio"
            raise self._refuse(f"{inline.media_type} audio (it takes {accepted})")
        if rules.max_audio_bytes is not None and inline.size > rules.max_audio_bytes:
            raise self._over("An audio part", _mb(inline.size), _mb(rules.max_audio_bytes))

    def _check_document(self, inline: _Inline) -> None:
        rules = self.rules
        types = rules.document_types
        if types is not None and inline.media_type not in types and f"{inline.media_type.split('/')[0]}/*" not in types:
            accepted = ", ".join(sorted(types)) or "no documents"
            raise self._refuse(f"{inline.media_type} files (it takes {accepted})")
        if rules.max_document_bytes is not None and inline.size > rules.max_document_bytes:
            name = inline.filename or inline.media_type
            raise self._over(f"A document ({name})", _mb(inline.size), f"{_mb(rules.max_document_bytes)} per document")
        self.document_bytes += inline.size
        if rules.max_document_bytes_total is not None and self.document_bytes > rules.max_document_bytes_total:
            limit = f"{_mb(rules.max_document_bytes_total)} of files per request"
            raise self._over("The files of the request together", _mb(self.document_bytes), limit)

    def _url_only(self, part: Any, inline: _Inline | None, allowed: bool, what: str) -> str:
        if inline is None and not allowed:
            raise self._refuse(f"{what} by URL ({part.url[:80]}): give the bytes as BinaryContent")
        return str(part.url)

    # -- openai --------------------------------------------------------------------------
    def _openai_image(self, part: Any, inline: _Inline | None) -> dict[str, Any]:
        image: dict[str, Any] = {"url": inline.data_url if inline is not None else part.url}
        if getattr(part, "detail", None):
            image["detail"] = part.detail
        return {"type": "image_url", "image_url": image}

    def _openai_audio(self, part: Any, inline: _Inline | None) -> dict[str, Any]:
        if inline is None:
            return {"type": "audio_url", "audio_url": {"url": self._url_only(part, inline, self.rules.audio_urls, "audio")}}
        return {"type": "input_audio", "input_audio": {"data": inline.b64, "format": AUDIO_FORMATS[inline.media_type]}}

    def _openai_document(self, part: Any, inline: _Inline | None) -> dict[str, Any]:
        if inline is None:
            url = self._url_only(part, inline, self.rules.document_urls, "documents")
            return {"type": "file", "file": {"filename": part.filename, "file_data": url}}
        return {"type": "file", "file": {"filename": inline.filename or _default_name(inline), "file_data": inline.data_url}}

    # -- mistral -------------------------------------------------------------------------
    def _mistral_image(self, part: Any, inline: _Inline | None) -> dict[str, Any]:
        url = inline.data_url if inline is not None else part.url
        detail = getattr(part, "detail", None)
        return {"type": "image_url", "image_url": {"url": url, "detail": detail} if detail else url}

    def _mistral_audio(self, part: Any, inline: _Inline | None) -> dict[str, Any]:
        if inline is None:
            raise self._refuse(f"audio by URL ({part.url[:80]}): give the bytes as BinaryContent")
        return {"type": "input_audio", "input_audio": inline.b64}

    def _mistral_document(self, part: Any, inline: _Inline | None) -> dict[str, Any]:
        if inline is None:
            return {"type": "document_url", "document_url": self._url_only(part, inline, self.rules.document_urls, "documents")}
        name = inline.filename or _default_name(inline)
        return {"type": "document_url", "document_url": inline.data_url, "document_name": name}

    # -- responses -----------------------------------------------------------------------
    def _responses_image(self, part: Any, inline: _Inline | None) -> dict[str, Any]:
        url = inline.data_url if inline is not None else part.url
        return {"type": "input_image", "image_url": url, "detail": getattr(part, "detail", None) or "auto"}

    def _responses_audio(self, part: Any, inline: _Inline | None) -> dict[str, Any]:
        if inline is None:
            raise self._refuse(f"audio by URL ({part.url[:80]}): give the bytes as BinaryContent")
        return {"type": "input_audio", "input_audio": {"data": inline.b64, "format": AUDIO_FORMATS[inline.media_type]}}

    def _responses_document(self, part: Any, inline: _Inline | None) -> dict[str, Any]:
        if inline is None:
            return {"type": "input_file", "file_url": self._url_only(part, inline, self.rules.document_urls, "documents")}
        return {"type": "input_file", "filename": inline.filename or _default_name(inline), "file_data": inline.data_url}


def _default_name(inline: _Inline) -> str:
    subtype = inline.media_type.split("/", 1)[-1].split("+", 1)[0]
    return f"document.{subtype if subtype.isalnum() else 'bin'}"


def attachments_message(results: list[Any], mapper: PartMapper) -> dict[str, Any]:
    """The user message that carries tool results' images and files, for APIs whose tool
    results are text only: for each result a line naming the tool and its call, then its parts."""
    content: list[dict[str, Any]] = []
    for result in results:
        content.append(mapper.part(f"Attached by tool {result.name or 'result'} (call {result.tool_call_id}):"))
        content.extend(mapper.tool_part(p) for p in result.attachments)
    return {"role": "user", "content": content}


def attachment_note(parts: list[Any]) -> str:
    """What a text-only tool result says about the parts that follow it in a user message."""
    kinds = {"image" if isinstance(p, ImageUrl) or (isinstance(p, BinaryContent) and p.is_image) else "file" for p in parts}
    noun = "image" if kinds == {"image"} else "file"  # no URL is read here: a bad one is named in the parts
    return f"(see the attached {noun})" if len(parts) == 1 else f"(see the {len(parts)} attached {noun}s)"
