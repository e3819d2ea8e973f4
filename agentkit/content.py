"""Typed content parts: images, documents and audio in a prompt or a tool's result.

>>> from agentkit import Agent, BinaryContent, ImageUrl
>>> agent.run_sync(["What is in this picture?", BinaryContent.from_path("cat.png")])
>>> agent.run_sync(["Describe it.", ImageUrl("https://example.com/cat.jpg", detail="low")])

A prompt is a string, or a list of strings and parts. The parts are provider-neutral: each
model client maps them to its provider's wire format (see ``agentkit/models/_content_map.py``
and ``docs/multimodal.md``) and refuses, before sending anything, a part or a media type its
provider cannot take. They round-trip through :func:`~agentkit.messages.dump_messages` and
sessions (bytes as base64 in JSON).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import mimetypes
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypeGuard, Union
from urllib.parse import unquote, urlparse

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_serializer, field_validator, model_validator

from .errors import UserError

__all__ = [
    "ImageUrl",
    "DocumentUrl",
    "AudioUrl",
    "BinaryContent",
    "ContentPart",
    "UserContent",
    "Prompt",
    "sniff_media_type",
    "prompt_content",
    "part_label",
    "pull_parts",
    "is_prompt",
    "prompt_key",
    "prompt_json",
    "check_url",
    "check_media_type",
    "MAX_FILE_BYTES",
]

ImageDetail = Literal["auto", "low", "high"]

MB = 1024 * 1024
MAX_FILE_BYTES = 100 * MB
"""The largest file :meth:`BinaryContent.from_path` reads unless told otherwise."""


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    _checked: Union[str, None] = PrivateAttr(default=None)  # the URL last checked in full (once per part)

    def __eq__(self, other: object) -> bool:  # the fields, not the private cache
        if not isinstance(other, _Part):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash((type(self), *self.__dict__.values()))

    def checked_url(self, what: str) -> str:
        """The part's URL, checked in full the first time (a data URL's base64 is read once)."""
        url: str = self.__dict__["url"]
        if self._checked is not url:  # a model_copy(update={"url": ...}) is checked again
            check_url(url, what, full=True)
            self._checked = url
        return url


class ImageUrl(_Part):
    """An image by URL (``https://...`` or a ``data:image/...;base64,...`` URL).

    ``detail`` (``"low"``, ``"high"``, ``"auto"``) is sent to providers that take it (OpenAI,
    OpenRouter, Mistral, the Responses API).
    """

    kind: Literal["image-url"] = "image-url"
    url: str
    detail: Union[ImageDetail, None] = None

    def __init__(self, url: str, detail: ImageDetail | None = None, **data: Any) -> None:
        if detail is not None and detail not in ("auto", "low", "high"):
            raise UserError(f"ImageUrl detail must be 'auto', 'low' or 'high', not {detail!r}.")
        super().__init__(**{"url": _checked(url, "ImageUrl", data), "detail": detail, **data})


class DocumentUrl(_Part):
    """A document (a PDF) by URL; sent to providers that fetch documents by URL (OpenRouter,
    Mistral, OpenAI's Responses API)."""

    kind: Literal["document-url"] = "document-url"
    url: str

    def __init__(self, url: str, **data: Any) -> None:
        super().__init__(**{"url": _checked(url, "DocumentUrl", data), **data})

    @property
    def filename(self) -> str:
        """The last segment of the URL's path (``document.pdf`` when it has none)."""
        return _url_filename(self.url, "document.pdf")


class AudioUrl(_Part):
    """Audio by URL. The hosted APIs take audio only as base64 bytes: a ``data:audio/...`` URL is
    sent as :class:`BinaryContent`; other URLs only go to servers that fetch audio themselves
    (vLLM's ``audio_url`` part, through :class:`~agentkit.models.OpenAICompatible`)."""

    kind: Literal["audio-url"] = "audio-url"
    url: str

    def __init__(self, url: str, **data: Any) -> None:
        super().__init__(**{"url": _checked(url, "AudioUrl", data), **data})


class BinaryContent(_Part):
    """Bytes with their media type: an image, a PDF or audio given inline (sent base64-encoded).

    The base64 text is computed once per part and kept (a long run sends the same image every
    turn without encoding it again). In JSON (``dump_messages``, sessions) ``data`` is that
    base64 text.
    """

    kind: Literal["binary"] = "binary"
    data: bytes
    media_type: str
    filename: Union[str, None] = None

    _b64: Union[str, None] = PrivateAttr(default=None)

    def __init__(self, data: bytes, media_type: str, filename: str | None = None, **extra: Any) -> None:
        if "kind" not in extra:  # made by the caller, not loaded from JSON (checked again before sending)
            if isinstance(data, (bytes, bytearray, memoryview)) and not data:
                raise UserError(f"BinaryContent({media_type!r}) has no bytes: an empty image, file or audio cannot be sent.")
            media_type = check_media_type(media_type)
        super().__init__(**{"data": data, "media_type": media_type, "filename": filename, **extra})

    @classmethod
    def from_path(cls, path: str | Path, media_type: str | None = None, *, max_bytes: int = MAX_FILE_BYTES) -> BinaryContent:
        """Read a file; its media type is sniffed from its first bytes (PNG, JPEG, GIF, WEBP,
        PDF, WAV, MP3, OGG, FLAC, M4A, ...), else guessed from its name, unless given.

        A file larger than ``max_bytes`` (100 MB; no hosted API takes more inline) is refused
        before it is read; so are an empty file, a directory, and a file whose name promises a
        type its bytes are not (``notes.txt`` renamed ``cat.png``).
        """
        file = Path(path)
        try:
            size = file.stat().st_size
            if file.is_dir():
                raise UserError(f"Cannot read {str(path)!r}: it is a directory, not a file.")
            if size > max_bytes:
                raise UserError(
                    f"{str(path)!r} is {size / MB:.1f} MB: BinaryContent.from_path reads at most {max_bytes / MB:.1f} MB "
                    f"(max_bytes=); no provider takes a larger file inline. Nothing was read."
                )
            data = file.read_bytes()
        except OSError as e:
            raise UserError(f"Cannot read {str(path)!r}: {e.strerror or e}.") from None
        if not data:
            raise UserError(f"{str(path)!r} is empty: there is nothing to send.")
        return cls(data, media_type or _file_media_type(data, file.name), filename=file.name)

    @classmethod
    def from_data_url(cls, url: str) -> BinaryContent:
        """A ``data:<media type>;base64,<data>`` URL as bytes."""
        check_url(url, "BinaryContent.from_data_url", full=True)
        header, _, payload = url.partition(",")
        if not url.startswith("data:"):
            raise UserError(f"Not a base64 data URL: {url[:60]!r}.")
        media_type = header[len("data:") : -len(";base64")] or "application/octet-stream"
        part = cls(base64.b64decode(payload), media_type)
        part._b64 = payload
        return part

    @field_validator("data", mode="before")
    @classmethod
    def _decode(cls, value: Any) -> Any:
        return _b64decode(value) if isinstance(value, str) else value

    @model_validator(mode="wrap")
    @classmethod
    def _keep_base64(cls, value: Any, handler: Any) -> Any:
        """Parts loaded from JSON keep the base64 text they came with (no encoding on the next request)."""
        text = value.get("data") if isinstance(value, dict) else None
        part = handler(value)
        if isinstance(text, str):
            part._b64 = text
        return part

    @field_serializer("data", when_used="json")
    def _as_base64(self, _data: bytes) -> str:
        return self.base64

    @property
    def base64(self) -> str:
        """The data as base64 text (encoded at the first use, then kept)."""
        if self._b64 is None:
            self._b64 = base64.b64encode(self.data).decode("ascii")
        return self._b64

    @property
    def data_url(self) -> str:
        """``data:<media type>;base64,<data>``."""
        return f"data:{self.media_type};base64,{self.base64}"

    @property
    def is_image(self) -> bool:
        """Whether the media type is ``image/*``."""
        return self.media_type.startswith("image/")

    @property
    def is_audio(self) -> bool:
        """Whether the media type is ``audio/*``."""
        return self.media_type.startswith("audio/")

    @property
    def is_document(self) -> bool:
        """Whether it is neither an image nor audio (a PDF, say)."""
        return not (self.is_image or self.is_audio)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BinaryContent):
            return NotImplemented
        return (self.data, self.media_type, self.filename) == (other.data, other.media_type, other.filename)

    def __hash__(self) -> int:
        return hash((self.data, self.media_type, self.filename))

    def __repr__(self) -> str:
        name = f", filename={self.filename!r}" if self.filename else ""
        return f"BinaryContent(<{len(self.data)} bytes>, media_type={self.media_type!r}{name})"

    __str__ = __repr__


ContentPart = Annotated[Union[ImageUrl, DocumentUrl, AudioUrl, BinaryContent], Field(discriminator="kind")]
"""An image, document or audio part (by URL or as bytes)."""

UserContent = Union[str, ContentPart]
"""One item of a multimodal prompt: text, or a :data:`ContentPart`."""

Prompt = Union[str, Sequence[Union[str, ImageUrl, DocumentUrl, AudioUrl, BinaryContent]]]
"""What ``agent.run`` takes: a string, or a list of strings and parts."""

_PART_TYPES = PART_TYPES = (ImageUrl, DocumentUrl, AudioUrl, BinaryContent)


def prompt_content(prompt: Any) -> str | list[UserContent]:
    """A prompt as a user message's content (a string as is; a list checked item by item)."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, (bytes, bytearray, dict)) or not isinstance(prompt, Sequence):
        raise UserError(
            f"prompt must be a string or a list of strings and content parts (ImageUrl, DocumentUrl, AudioUrl, "
            f"BinaryContent), not {type(prompt).__name__}."
        )
    items: list[UserContent] = []
    for position, item in enumerate(prompt):
        if not isinstance(item, (str, *_PART_TYPES)):
            raise UserError(
                f"prompt item #{position} is of type {type(item).__name__}: give strings and content parts "
                f"(ImageUrl, DocumentUrl, AudioUrl, BinaryContent; BinaryContent.from_path() reads a file)."
            )
        items.append(item)
    if not items:
        raise UserError("prompt is an empty list: give text or content parts.")
    return items


def pull_parts(value: Any, parts: list[ContentPart], depth: int = 0) -> Any:
    """``value`` with every part inside it (in lists, tuples, dicts and pydantic models, at any
    depth) replaced by its label (``[image: chart.png]``), the parts appended to ``parts``: a
    tool's ``{"chart": BinaryContent(...)}`` becomes text naming the image, and the image a part,
    never base64 in the text. Values without parts come back as they are."""
    if isinstance(value, _PART_TYPES):
        parts.append(value)
        return part_label(value)
    if depth > 32 or isinstance(value, (str, bytes, int, float)) or value is None:
        return value
    found = len(parts)
    if isinstance(value, (list, tuple)):
        items = [pull_parts(v, parts, depth + 1) for v in value]
        return items if len(parts) > found else value
    fields = value if isinstance(value, dict) else value.__dict__ if isinstance(value, BaseModel) else None
    if fields is None:
        return value
    pulled = {k: pull_parts(v, parts, depth + 1) for k, v in fields.items()}
    return pulled if len(parts) > found else value


def part_label(part: UserContent) -> str:
    """A short text for a part (``[image: cat.png]``), for transcripts and displays."""
    if isinstance(part, str):
        return part
    if isinstance(part, BinaryContent):
        what = "image" if part.is_image else "audio" if part.is_audio else "file"
        return f"[{what}: {part.filename or part.media_type}]"
    what = {"image-url": "image", "document-url": "document", "audio-url": "audio"}[part.kind]
    url = part.url if not part.url.startswith("data:") else part.url[:30] + "..."
    return f"[{what}: {url}]"


def is_prompt(value: Any) -> TypeGuard[Prompt]:
    """Whether ``value`` can be a prompt: a string, or a list (its items are checked when the run starts)."""
    return isinstance(value, str) or (isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)))


def prompt_key(prompt: Prompt) -> str:
    """A prompt as text to hash (``run_many``'s default ids): bytes by their SHA-256."""
    if isinstance(prompt, str):
        return prompt
    keys = [hashlib.sha256(p.data).hexdigest() if isinstance(p, BinaryContent) else str(p) for p in prompt]
    return "\0".join(keys)


def prompt_json(prompt: Prompt) -> Any:
    """A prompt for a results file: its text, or its items with parts as short labels (no bytes)."""
    return prompt if isinstance(prompt, str) else [part_label(p) for p in prompt]


# --- legacy dict parts ---------------------------------------------------------------------------


def legacy_part(raw: dict[str, Any]) -> Any:
    """A content part stored as a wire dict (agentkit before typed parts) → a typed one."""
    kind = raw.get("type")
    if kind in ("text", "input_text"):
        return str(raw.get("text", ""))
    if kind in ("image_url", "input_image"):
        image = raw.get("image_url")
        url, detail = (image.get("url"), image.get("detail")) if isinstance(image, dict) else (image, raw.get("detail"))
        return ImageUrl(str(url), detail if detail in ("auto", "low", "high") else None, kind="image-url")
    if kind == "input_audio" and isinstance(raw.get("input_audio"), dict):
        audio = raw["input_audio"]
        return {"kind": "binary", "data": audio.get("data", ""), "media_type": f"audio/{audio.get('format', 'wav')}"}
    if kind in ("file", "input_file"):
        inner = raw.get("file")
        file: dict[str, Any] = inner if isinstance(inner, dict) else raw
        data = str(file.get("file_data") or file.get("file_url") or "")
        if data.startswith("data:"):
            try:
                return BinaryContent.from_data_url(data).model_copy(update={"filename": file.get("filename")})
            except UserError:  # loads as stored; refused before it is sent
                pass
        return DocumentUrl(data, kind="document-url")
    if kind == "document_url":
        return DocumentUrl(str(raw.get("document_url", "")), kind="document-url")
    return raw  # not a known shape: validation names it


def legacy_content(value: Any) -> Any:
    """A user message's content with its wire-dict parts made typed (typed ones pass as they are)."""
    if isinstance(value, list):
        return [legacy_part(p) if isinstance(p, dict) and "type" in p and "kind" not in p else p for p in value]
    return value


# --- media types ----------------------------------------------------------------------------------

_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"%PDF-", "application/pdf"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"OggS", "audio/ogg"),
    (0, b"fLaC", "audio/flac"),
    (0, b"BM", "image/bmp"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (0, b"\x1aE\xdf\xa3", "video/webm"),
)
_RIFF = {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}
_FTYP = {b"M4A ": "audio/mp4", b"M4B ": "audio/mp4", b"heic": "image/heic", b"heix": "image/heic", b"avif": "image/avif"}


def sniff_media_type(data: bytes, name: str | None = None) -> str:
    """The media type of ``data`` from its first bytes; else guessed from ``name``; else
    ``application/octet-stream``."""
    head = data[:16]
    for offset, magic, media_type in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return media_type
    if head[:4] == b"RIFF" and head[8:12] in _RIFF:
        return _RIFF[head[8:12]]
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "audio/aiff"
    if head[4:8] == b"ftyp":
        return _FTYP.get(head[8:12], "video/mp4")
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:  # an MPEG audio frame: layer bits 00 are AAC (ADTS)
        return "audio/aac" if head[1] & 0x06 == 0 else "audio/mpeg"
    if name:
        guessed = mimetypes.guess_type(name)[0]
        if guessed:
            return guessed
    return "application/octet-stream"


_SNIFFABLE = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "audio/x-wav", "audio/wav", "audio/flac"}
)
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_URL_SCHEMES = ("http://", "https://", "data:")


def _file_media_type(data: bytes, name: str) -> str:
    """A file's media type from its bytes; a name promising a type whose bytes we know (``.png``,
    ``.pdf``, ``.wav``...) that the bytes are not is refused."""
    media_type = sniff_media_type(data)
    if media_type != "application/octet-stream":
        return media_type
    guessed = mimetypes.guess_type(name)[0] or media_type
    if guessed in _SNIFFABLE:
        raise UserError(
            f"{name!r} is not a valid {guessed} file: its first bytes {data[:8]!r} are not those of one. "
            f"Give the real file, or its type (BinaryContent.from_path(path, media_type=...))."
        )
    return guessed


def _checked(url: str, what: str, data: dict[str, Any]) -> str:
    """A part's URL checked when the caller makes the part; one loaded from JSON (it has its
    ``kind``) loads as stored, so an old conversation never fails to load, and is checked
    before it is sent."""
    return url if "kind" in data else check_url(url, what, full=True)


def check_media_type(media_type: str) -> str:
    """A media type made canonical (``IMAGE/PNG; q=1`` → ``image/png``), or a UserError."""
    canonical = media_type.split(";", 1)[0].strip().lower() if isinstance(media_type, str) else ""
    if not _MEDIA_TYPE.fullmatch(canonical):
        raise UserError(f"{media_type!r} is not a media type: give one like 'image/png', 'application/pdf', 'audio/wav'.")
    return "image/jpeg" if canonical == "image/jpg" else canonical


def check_url(url: str, what: str, full: bool = False) -> str:
    """``url`` if it is an ``http(s)://`` URL or a base64 ``data:`` URL, else a UserError (a
    ``file://`` or ``javascript:`` URL, a path, a data URL that is not base64). ``full`` also
    checks a data URL's base64 text character by character (done once, when a part is made)."""
    if not isinstance(url, str) or not url.startswith(_URL_SCHEMES) or url in _URL_SCHEMES:
        shown = url[:60] if isinstance(url, str) else type(url).__name__
        raise UserError(
            f"{what}: {shown!r} is not an http(s):// URL or a base64 data: URL. "
            f"For a local file use BinaryContent.from_path()."
        )
    if url.startswith("data:"):
        header, sep, payload = url.partition(",")
        media_type = header[5:].removesuffix(";base64")
        if not sep or not header.endswith(";base64") or not payload or not _MEDIA_TYPE.fullmatch(media_type.lower()):
            raise UserError(f"{what}: {url[:60]!r} is not a data URL of the form data:<media type>;base64,<data>.")
        if full and (len(payload) % 4 or not _BASE64.fullmatch(payload)):
            raise UserError(f"{what}: the data URL {url[:40]!r}... does not hold valid base64 text.")
    return url


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("data is not valid base64 text") from None


def _url_filename(url: str, default: str) -> str:
    if url.startswith("data:"):
        return default
    name = unquote(urlparse(url).path.rsplit("/", 1)[-1])
    return name or default
