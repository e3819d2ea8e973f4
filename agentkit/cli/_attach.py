"""``-a`` / ``--attach``: files and URLs added to a prompt (``agentkit run`` and ``agentkit chat``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse
from urllib.request import url2pathname

import click

from ..content import AudioUrl, BinaryContent, ContentPart, DocumentUrl, ImageUrl, Prompt
from ._common import CLIError

__all__ = ["attach_option", "attachments", "with_attachments"]

_AUDIO = {".wav", ".mp3", ".flac", ".ogg", ".oga", ".m4a", ".aac", ".aiff", ".webm", ".opus"}
_DOCUMENTS = {".pdf"}


def attach_option(f: click.decorators.FC) -> click.decorators.FC:
    """The ``--attach/-a FILE_OR_URL`` option (repeatable)."""
    return click.option(
        "--attach",
        "-a",
        "attached",
        multiple=True,
        metavar="FILE_OR_URL",
        help="Add an image, PDF or audio file (a path or a URL) to the prompt; repeatable.",
    )(f)


def attachments(values: Sequence[str]) -> list[ContentPart]:
    """Each value as a content part: an http(s) URL by its extension (PDF, audio, else an image), a
    ``data:`` URL as its bytes, a path (or ``file://`` URL) read with
    :meth:`~agentkit.BinaryContent.from_path` (its media type from its bytes). Anything else
    (``ftp://``, ``javascript:``, a missing file, a directory, an empty file) is a CLIError."""
    parts: list[ContentPart] = []
    for value in values:
        shown = value if len(value) <= 80 else value[:77] + "..."
        try:
            if value.startswith(("http://", "https://", "data:")):
                parts.append(_url_part(value))
            elif value.startswith("file://"):
                parts.append(BinaryContent.from_path(url2pathname(urlparse(value).path)))
            elif re.match(r"[a-zA-Z][a-zA-Z0-9+.-]+:", value) and not Path(value).exists():
                raise CLIError(f"--attach {shown}: give a file's path, or an http://, https:// or data: URL.")
            else:
                parts.append(BinaryContent.from_path(value))
        except ValueError as e:
            raise CLIError(f"--attach {shown}: {e}") from None
    return parts


def _url_part(url: str) -> ContentPart:
    if url.startswith("data:"):
        return BinaryContent.from_data_url(url)
    suffix = PurePosixPath(urlparse(url).path).suffix.lower()
    if suffix in _DOCUMENTS:
        return DocumentUrl(url)
    if suffix in _AUDIO:
        return AudioUrl(url)
    return ImageUrl(url)


def with_attachments(text: str, parts: Sequence[ContentPart]) -> Prompt:
    """The prompt: the text alone, or the text followed by the parts."""
    return [text, *parts] if parts else text
