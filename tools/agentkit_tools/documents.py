"""``search_documents``: a tool that finds passages in a folder of .md / .txt files by meaning.

    from agentkit import Agent
    from agentkit_tools import search_documents

    agent = Agent("openai:gpt-4o-mini", tools=[search_documents("docs/")])

The folder is read, cut into passages (:mod:`agentkit_tools.chunking`) and embedded on the first
search; vectors are cached on disk by content hash, so a later run (or a :meth:`DocumentIndex.refresh`
after an edit) embeds only passages it has not seen. Files that cannot be searched are skipped
and listed in ``DocumentIndex.skipped``: binary files, files over ``max_file_bytes``, unreadable
ones. Text that is not UTF-8 (nor UTF-16 with a BOM) is read as Windows-1252.

The folder is read as :func:`agentkit_tools.files` reads its root: walked relative to the open
folder without following symlinks, a symlink read only when it resolves inside the folder (one to
a private key elsewhere, or to ``/dev/zero``, is skipped), only regular files opened (FIFOs,
sockets and devices are skipped; opens use ``O_NOFOLLOW | O_NONBLOCK`` and are checked again with
``fstat``), and at most ``max_file_bytes`` read from each.

Built only on agentkit's public API (``agentkit.Tool``, ``agentkit.embeddings``).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from agentkit import Tool, UserError
from agentkit.embeddings import Embedder, VectorIndex

from . import _confined
from ._confined import READ, ConfinedRoot, LinkLoop, Outside, walk
from .chunking import Chunk, chunk_text

__all__ = ["search_documents", "DocumentIndex", "Passage", "read_text_file", "default_cache_dir"]

EXTENSIONS = (".md", ".markdown", ".txt")
MAX_FILE_BYTES = 1_000_000


@dataclass(frozen=True)
class Passage:
    """A search result: a :class:`~agentkit_tools.chunking.Chunk` and how well it matched (cosine, -1..1)."""

    chunk: Chunk
    score: float

    def __str__(self) -> str:
        c = self.chunk
        lines = f"line {c.start_line}" if c.start_line == c.end_line else f"lines {c.start_line}-{c.end_line}"
        where = f" ({c.heading})" if c.heading else ""
        return f"{c.file}, {lines}{where}, score {self.score:.2f}\n{c.text}"


def default_cache_dir() -> Path:
    """``$AGENTKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/agentkit``, else ``~/.cache/agentkit``; plus ``/documents``."""
    root = os.environ.get("AGENTKIT_CACHE_DIR")
    if root:
        return Path(root) / "documents"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "agentkit" / "documents"


def read_text_file(path: Path, max_bytes: int = MAX_FILE_BYTES) -> tuple[str | None, str]:
    """``(text, "")``, or ``(None, why it was skipped)`` for huge, binary, special or unreadable files.

    Only a regular file is read (a FIFO, socket or device is refused without blocking), and at
    most ``max_bytes`` of it. A symlink given as ``path`` is followed: the caller chose the path.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        return None, _unreadable(e)
    return _read_fd(fd, max_bytes)


def _unreadable(e: OSError) -> str:
    return f"unreadable ({type(e).__name__}: {e.strerror or e})"


def _read_fd(fd: int, max_bytes: int) -> tuple[str | None, str]:
    """Read and decode the file open at ``fd`` (closed here), if it is a regular file of at most ``max_bytes``."""
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None, f"not a regular file: {_confined.kind(st.st_mode)}"
        if st.st_size > max_bytes:
            return None, f"larger than {max_bytes:,} bytes ({st.st_size:,})"
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        return None, _unreadable(e)
    finally:
        os.close(fd)
    if len(data) > max_bytes:  # it grew since the fstat
        return None, f"larger than {max_bytes:,} bytes"
    return _decode(data)


def _decode(data: bytes) -> tuple[str | None, str]:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), ""
        except UnicodeDecodeError:
            return None, "binary (a UTF-16 mark, but not UTF-16)"
    head = data[:8192]
    controls = sum(1 for byte in head if byte < 32 and byte not in (9, 10, 12, 13))
    if b"\x00" in head or controls > len(head) // 10:
        return None, "binary"
    try:
        return data.decode("utf-8-sig"), ""
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), ""


class DocumentIndex:
    """The passages of every .md / .txt file under ``folder`` and their vectors, built on first use.

    Args:
        folder: the folder to search (read recursively; hidden files and folders are skipped).
        embedder: an :class:`~agentkit.embeddings.Embedder` or a model string (default ``"local"``).
        chunk_chars: the longest passage, in characters.
        overlap: characters shared by consecutive passages of one section.
        max_file_bytes: larger files are skipped (embedding is the slow part).
        cache_dir: where vectors are cached (default :func:`default_cache_dir`); ``False`` turns
            the cache off.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        embedder: Embedder | str = "local",
        chunk_chars: int = 1000,
        overlap: int = 150,
        max_file_bytes: int = MAX_FILE_BYTES,
        cache_dir: str | os.PathLike[str] | bool | None = None,
    ) -> None:
        self.folder = Path(folder).expanduser().resolve()
        if not self.folder.is_dir():
            raise UserError(f"search_documents needs a folder of .md/.txt files; {str(folder)!r} is not a folder.")
        chunk_text("", max_chars=chunk_chars, overlap=overlap)  # checks the sizes now, not at the first search
        self.embedder = embedder if isinstance(embedder, Embedder) else Embedder(embedder)
        self.chunk_chars = chunk_chars
        self.overlap = overlap
        self.max_file_bytes = max_file_bytes
        self.cache_path: Path | None = None
        if cache_dir is not False:
            root = default_cache_dir() if cache_dir is None or cache_dir is True else Path(cache_dir)
            self.cache_path = root / f"{self._identity()[:24]}.npz"
        self.chunks: list[Chunk] = []
        self.skipped: list[tuple[str, str]] = []
        self.embedded = 0  # passages embedded (not found in the cache) by the last build
        self._index: VectorIndex | None = None
        self._lock: asyncio.Lock | None = None

    def __repr__(self) -> str:
        state = f"{len(self.chunks)} passages" if self._index is not None else "not built"
        return f"DocumentIndex({str(self.folder)!r}, embedder={self.embedder!r}, {state})"

    def _identity(self) -> str:
        return hashlib.sha256(f"{self.folder}\n{self._model_id()}\n{self.chunk_chars}/{self.overlap}".encode()).hexdigest()

    def _model_id(self) -> str:
        """Which vectors these are: the model, its options and where it runs."""
        return f"{self.embedder!r} at {self.embedder.base_url or 'local'}"

    async def search(self, query: str, k: int = 5) -> list[Passage]:
        """The ``k`` passages closest in meaning to ``query``, best first (builds the index on first use)."""
        if not isinstance(query, str) or not query.strip():
            raise UserError("The search query must be a non-empty string.")
        index = await self.build()
        if not len(index):
            return []
        query_vector = (await self.embedder.embed([query], kind="query")).vectors[0]
        return [Passage(self.chunks[hit.position], round(hit.score, 4)) for hit in index.search(query_vector, k)]

    async def build(self) -> VectorIndex:
        """Read, cut and embed the folder, once; later calls return the same index."""
        if self._index is not None:
            return self._index
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._index is None:
                self._index = await self._build()
        return self._index

    async def refresh(self) -> VectorIndex:
        """Read the folder again (after edits); only new or changed passages are embedded."""
        self._index = None
        return await self.build()

    async def _build(self) -> VectorIndex:
        chunks, skipped = await asyncio.to_thread(self._read_folder)
        for file, why in skipped:
            warnings.warn(f"search_documents skips {file}: {why}", stacklevel=2)
        keys = [self._key(c) for c in chunks]
        cached = await asyncio.to_thread(self._load_cache)
        unique: dict[str, int] = {}  # passages to embed: key -> first chunk with that key
        for i, key in enumerate(keys):
            if key not in cached:
                unique.setdefault(key, i)
        if unique:
            result = await self.embedder.embed([chunks[i].embed_text for i in unique.values()], kind="passage")
            cached.update(zip(unique, result.vectors, strict=True))
        index = VectorIndex(metric="cosine")
        if chunks:
            import numpy as np  # present: the embedder needed it

            index.add(np.stack([cached[key] for key in keys]), [{"key": key} for key in keys])
        self.chunks, self.skipped, self.embedded = chunks, skipped, len(unique)
        if unique or (chunks and len(cached) != len(set(keys))):
            await asyncio.to_thread(self._save_cache, {key: cached[key] for key in keys})
        return index

    def _read_folder(self) -> tuple[list[Chunk], list[tuple[str, str]]]:
        chunks: list[Chunk] = []
        skipped: list[tuple[str, str]] = []
        for name, text, why in _read_texts(self.folder, self.max_file_bytes):
            if text is None:
                skipped.append((name, why))
                continue
            markdown = not name.lower().endswith(".txt")
            chunks.extend(chunk_text(text, name, max_chars=self.chunk_chars, overlap=self.overlap, markdown=markdown))
        return chunks, skipped

    def _key(self, chunk: Chunk) -> str:
        return hashlib.sha256(f"{self._model_id()}\npassage\n{chunk.embed_text}".encode()).hexdigest()

    def _load_cache(self) -> dict[str, Any]:
        if self.cache_path is None or not self.cache_path.is_file():
            return {}
        try:
            saved = VectorIndex.load(self.cache_path)
        except UserError as e:
            warnings.warn(f"search_documents ignores its damaged cache {self.cache_path}: {e}", stacklevel=3)
            return {}
        return {str(meta.get("key")): row for meta, row in zip(saved.metadata, saved.vectors, strict=True)}

    def _save_cache(self, vectors: dict[str, Any]) -> None:
        if self.cache_path is None or not vectors:
            return
        import numpy as np

        index = VectorIndex(metric="dot")  # stored as embedded, not normalised
        index.add(np.stack(list(vectors.values())), [{"key": key} for key in vectors])
        try:
            index.save(self.cache_path)
        except OSError as e:
            warnings.warn(f"search_documents could not write its cache {self.cache_path}: {e}", stacklevel=3)

    def as_tool(self, *, k: int = 5, name: str = "search_documents", description: str | None = None) -> Tool[Any, Any]:
        """This index as an agentkit :class:`~agentkit.Tool` (see :func:`search_documents`)."""
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 20:
            raise UserError(f"k must be an integer from 1 to 20, not {k!r}.")
        index = self
        default_k = k

        async def search(query: str, k: Annotated[int, Field(ge=1, le=20)] = default_k) -> str:
            """Search the documents by meaning.

            Args:
                query: What to look for, in a few words or a question.
                k: How many passages to return.
            """
            passages = await index.search(query, k)
            if not passages:
                skipped = f" ({len(index.skipped)} files skipped)" if index.skipped else ""
                return f"No .md or .txt documents to search in {index.folder.name}/{skipped}."
            return "\n\n".join(f"[{i}] {p}" for i, p in enumerate(passages, 1))

        summary = (
            f"Search the documents in the folder {self.folder.name!r} by meaning. Returns the passages closest "
            "to the query, each with its file, line numbers and section heading."
        )
        return Tool(search, name=name, description=description or summary)


def _wanted(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(EXTENSIONS)


def _read_texts(folder: Path, max_bytes: int) -> Iterator[tuple[str, str | None, str]]:
    """``(name relative to folder, text or None, why it was skipped)`` for each .md / .txt file, sorted, hidden ones left out."""
    if not _confined.supported():  # no openat (Windows): symlinks are not followed at all
        yield from _read_texts_by_path(folder, max_bytes)
        return
    try:
        root = ConfinedRoot(folder)
    except OSError as e:
        yield ".", None, _unreadable(e)
        return
    with root:
        top = root.open_dir()
        walker = walk(top)
        try:
            for rel, _, dirs, others in walker:
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                for name in others:
                    if _wanted(name):
                        yield "/".join((*rel, name)), *_read_inside(root, (*rel, name), max_bytes)
        finally:
            walker.close()
            os.close(top)


def _read_inside(root: ConfinedRoot, parts: tuple[str, ...], max_bytes: int) -> tuple[str | None, str]:
    try:
        with root.locate(parts) as place:
            st = place.lstat()
            if not stat.S_ISREG(st.st_mode):  # not even opened: opening a device can do things
                return None, f"not a regular file: {_confined.kind(st.st_mode)}"
            fd = place.open(READ)
    except Outside:
        return None, "a symlink pointing outside the folder (not followed)"
    except LinkLoop:
        return None, "a symlink loop"
    except OSError as e:
        return None, _unreadable(e)
    return _read_fd(fd, max_bytes)


def _read_texts_by_path(folder: Path, max_bytes: int) -> Iterator[tuple[str, str | None, str]]:
    for top, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not _wanted(name):
                continue
            path = Path(top) / name
            shown = path.relative_to(folder).as_posix()
            if path.is_symlink():
                yield shown, None, "a symlink (not followed on this system)"
            else:
                yield shown, *read_text_file(path, max_bytes)


def search_documents(
    folder: str | os.PathLike[str],
    *,
    embedder: Embedder | str = "local",
    k: int = 5,
    name: str = "search_documents",
    description: str | None = None,
    chunk_chars: int = 1000,
    overlap: int = 150,
    max_file_bytes: int = MAX_FILE_BYTES,
    cache_dir: str | os.PathLike[str] | bool | None = None,
) -> Tool[Any, Any]:
    """A tool that returns the passages of ``folder``'s .md / .txt files closest to the model's query.

    Each passage comes with its file, lines and heading. ``k`` is the default number of passages
    (the model may ask for 1-20); ``name`` and ``description`` are what the model sees. The
    other arguments are :class:`DocumentIndex`'s (build one yourself and call
    :meth:`DocumentIndex.as_tool` to keep a handle on it).
    """
    index = DocumentIndex(
        folder, embedder=embedder, chunk_chars=chunk_chars, overlap=overlap, max_file_bytes=max_file_bytes, cache_dir=cache_dir
    )
    return index.as_tool(k=k, name=name, description=description)
