"""``-a`` / ``--attach``: files and URLs added to a prompt (``agentkit run`` and ``agentkit chat``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath
from urllib.parse import urlparse

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
    """Each value as a content part: a URL by its extension (PDF, audio, else an image), a path read
    with :meth:`~agentkit.BinaryContent.from_path` (its media type from its bytes)."""
    parts: list[ContentPart] = []
    for value in values:
        if value.startswith(("http://", "https://", "data:")):
            parts.append(_url_part(value))
            continue
        try:
            parts.append(BinaryContent.from_path(value))
        except ValueError as e:
            raise CLIError(f"--attach {value}: {e}") from None
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
