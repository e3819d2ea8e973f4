"""Split text into passages for retrieval: by Markdown headings first, then by size, with overlap.

* A section runs from one ATX heading (``#`` … ``######``) to the next; ``#`` lines inside
  fenced code blocks are not headings. Plain text is one section.
* A section longer than ``max_chars`` is cut at the last paragraph break before the limit, else
  the last line break, sentence end or space, else at the limit; consecutive pieces of a section
  share about ``overlap`` characters, so an answer that straddles a cut is still found whole.
* Each passage knows its file, its lines (1-based, inclusive) and its heading path
  (``"Setup > Linux"``), which is also put before its text when it is embedded.

Linear in the size of the text.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

__all__ = ["Chunk", "chunk_text"]

_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_BREAKS = ("\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ")


@dataclass(frozen=True)
class Chunk:
    """One passage of a file.

    Attributes:
        file: the file's path relative to the searched folder, with ``/`` separators.
        start_line, end_line: the lines it spans, 1-based and inclusive.
        heading: the headings it sits under, outermost first, joined by ``" > "`` ("" if none).
        text: the passage as it is in the file.
    """

    file: str
    start_line: int
    end_line: int
    heading: str
    text: str

    @property
    def embed_text(self) -> str:
        """What is embedded: the heading path, then the text."""
        return f"{self.heading}\n\n{self.text}" if self.heading else self.text


def chunk_text(text: str, file: str = "", *, max_chars: int = 1000, overlap: int = 150, markdown: bool = True) -> list[Chunk]:
    """Cut ``text`` into :class:`Chunk` s of at most ``max_chars`` characters (see the module doc)."""
    if max_chars < 50:
        raise ValueError(f"max_chars must be at least 50, not {max_chars}")
    if not 0 <= overlap <= max_chars // 2:
        raise ValueError(f"overlap must be between 0 and max_chars / 2, not {overlap}")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
    chunks = []
    for heading, start, stop in _sections(text, line_starts, markdown):
        for a, b in _pieces(text, start, stop, max_chars, overlap):
            body = text[a:b].strip()
            if not body or ("\n" not in body and _HEADING.match(body)):  # nothing, or a heading alone
                continue
            a += len(text[a:b]) - len(text[a:b].lstrip())  # lines of the stripped body
            b = a + len(body)
            first = bisect.bisect_right(line_starts, a)
            last = bisect.bisect_right(line_starts, b - 1)
            chunks.append(Chunk(file, first, last, heading, body))
    return chunks


def _sections(text: str, line_starts: list[int], markdown: bool) -> list[tuple[str, int, int]]:
    """(heading path, start offset, end offset) of each section, in order."""
    if not markdown:
        return [("", 0, len(text))]
    sections: list[tuple[str, int, int]] = []
    path: list[tuple[int, str]] = []  # (level, title) of the open headings
    heading, start = "", 0
    fence = ""
    for offset in line_starts:
        end = text.find("\n", offset)
        line = text[offset : len(text) if end < 0 else end]
        opened = _FENCE.match(line)
        if fence:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = ""
            continue
        if opened:
            fence = opened.group(1)
            continue
        found = _HEADING.match(line)
        if not found:
            continue
        if offset > start:
            sections.append((heading, start, offset))
        level, title = len(found.group(1)), (found.group(2) or "").strip()
        while path and path[-1][0] >= level:
            path.pop()
        path.append((level, title))
        heading, start = " > ".join(t for _, t in path if t), offset
    sections.append((heading, start, len(text)))
    return sections


def _pieces(text: str, start: int, stop: int, max_chars: int, overlap: int) -> list[tuple[int, int]]:
    """Offsets of the size-limited, overlapping pieces of ``text[start:stop]``."""
    pieces = []
    a = start
    while True:
        if stop - a <= max_chars:
            pieces.append((a, stop))
            return pieces
        limit = a + max_chars
        b = _cut(text, a + max_chars // 2, limit)
        pieces.append((a, b))
        nxt = b - overlap
        if overlap:
            space = text.find(" ", nxt, b)  # start the overlap at a word
            nxt = space + 1 if space >= 0 else nxt
        a = max(nxt, a + 1)


def _cut(text: str, low: int, high: int) -> int:
    """The best place to end a piece in ``text[low:high]``: after the last paragraph break, line, sentence or word."""
    for mark in _BREAKS:
        at = text.rfind(mark, low, high)
        if at >= 0:
            return at + len(mark)
    return high
