"""``files(root)``: tools that list, read and search files in one folder — and, when allowed, write and edit them.

    from agentkit import Agent
    from agentkit_tools import files

    agent = Agent("openai:gpt-4o-mini", tools=files("project/"))                  # read-only
    agent = Agent("openai:gpt-4o-mini", tools=files("project/", writable=True))   # + write_file, edit_file

Every path the model gives is relative to ``root`` and must stay inside it: absolute paths,
``..`` and symlinks that resolve outside the root are refused, and so are FIFOs, sockets and
device files (a FIFO would block a read forever, ``/dev/zero`` would never end). Paths are never
handed to the system as strings: the root is held open and every path is walked one component at
a time relative to the open folder above it, without following symlinks (``openat`` with
``O_NOFOLLOW``); a symlink met on the way is read and its target checked against the root before
anything is opened through it. So a folder swapped for a symlink while a call runs (a rename
race) cannot lead a read or a write outside. The final open uses ``O_NOFOLLOW | O_NONBLOCK`` and
checks the opened file again, so a file swapped for a symlink or a FIFO after the check is
refused too. Reads, listings and searches are bounded (bytes shown, entries walked, matches
returned); regular-expression searches run in a child process with a time limit, so a
catastrophically backtracking pattern cannot freeze the agent. Needs a system that opens files
relative to a folder (Linux, macOS, the BSDs; not Windows).

``write_file`` and ``edit_file`` exist only with ``writable=True`` and are created with
``requires_approval=True``: the run pauses for the user's approval before each change. Writes
go to a temporary file in the same folder, then replace the target atomically (a rename within
that folder). A new file gets the mode the umask gives (``0o666 & ~umask``, as an editor would);
an existing file keeps its mode.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import re
import secrets
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, BinaryIO

from pydantic import Field

from agentkit import ModelRetry, Tool, UserError

from . import _confined
from ._confined import READ, ConfinedRoot, LinkLoop, Outside, Place, walk

__all__ = ["files", "Workspace"]

_CHUNK = 64 * 1024
_MAX_PATH_CHARS = 1024
_MAX_PATTERN_CHARS = 500
_MAX_SHOWN_LINE = 300

# The grep child: reads {"pattern", "flags", "max", "files": [[name, text], ...]} on stdin, prints matches as JSON.
_GREP = """
import json, re, sys
request = json.loads(sys.stdin.buffer.read())
rx = re.compile(request["pattern"], request["flags"])
found, limit, width = [], request["max"], request["width"]
for name, text in request["files"]:
    for number, line in enumerate(text.splitlines(), 1):
        if rx.search(line):
            found.append([name, number, line[:width]])
            if len(found) > limit:
                break
    if len(found) > limit:
        break
sys.stdout.write(json.dumps(found))
"""


_kind = _confined.kind
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1024 * 1024):.1f} MB"


def _glob_match(parts: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    """Match path parts against glob parts, where a ``**`` part matches any number of folders (iterative DP)."""
    # reachable[i]: pattern[:j] can match parts[:i]
    reachable = [True] + [False] * len(parts)
    for piece in pattern:
        if piece == "**":
            seen = False
            for i in range(len(parts) + 1):
                seen = seen or reachable[i]
                reachable[i] = seen
            continue
        nxt = [False] * (len(parts) + 1)
        for i in range(len(parts)):
            if reachable[i] and fnmatch.fnmatchcase(parts[i], piece):
                nxt[i + 1] = True
        reachable = nxt
        if not any(reachable):
            return False
    return reachable[len(parts)]


@dataclass
class _Opened:
    file: BinaryIO
    size: int


class Workspace:
    """The folder the file tools are confined to; every path from the model goes through :meth:`resolve`
    (its text) and :meth:`locate` (where it leads, walked relative to the open root each time it is used).

    Args:
        root: the folder. It must exist; symlinks in it are resolved once, here.
        max_read_bytes: most bytes of file content one ``read_file`` call returns.
        max_write_bytes: largest file ``write_file`` writes or ``edit_file`` edits.
        max_results: most entries ``list_files`` shows and most paths/matches ``search_files`` returns.
        max_scan_entries: most directory entries one search walks.
        max_search_bytes: most bytes of text one regex search reads (files over 1 MB are skipped).
        search_timeout: seconds a regex search may run (in a child process) before it is stopped.
        skip_dirs: folder names searches do not enter.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        max_read_bytes: int = 100_000,
        max_write_bytes: int = 1_000_000,
        max_results: int = 200,
        max_scan_entries: int = 20_000,
        max_search_bytes: int = 20_000_000,
        search_timeout: float = 5.0,
        skip_dirs: tuple[str, ...] = (".git", "__pycache__", "node_modules", ".venv", ".mypy_cache"),
    ) -> None:
        if not _confined.supported():
            raise UserError("files() needs a system that opens files relative to a folder (Linux, macOS, BSD), not Windows.")
        try:
            real = Path(root).expanduser().resolve(strict=True)
        except (OSError, RuntimeError) as e:
            raise UserError(f"files(root={str(root)!r}): the folder does not exist or cannot be resolved ({e}).") from None
        if not real.is_dir():
            raise UserError(f"files(root={str(root)!r}) must be a folder, not {_kind(real.stat().st_mode)}.")
        try:
            self._confined = ConfinedRoot(real)
        except OSError as e:
            raise UserError(f"files(root={str(root)!r}): the folder cannot be opened ({e.strerror or e}).") from None
        self.root = real
        self.max_read_bytes = max_read_bytes
        self.max_write_bytes = max_write_bytes
        self.max_results = max_results
        self.max_scan_entries = max_scan_entries
        self.max_search_bytes = max_search_bytes
        self.max_search_file_bytes = 1_000_000
        self.search_timeout = search_timeout
        self.skip_dirs = frozenset(skip_dirs)

    # -- confinement ------------------------------------------------------------------------
    def resolve(self, path: str) -> tuple[PurePosixPath, str]:
        """``(the path relative to the root, the path as shown to the model)``; refuses paths that name a way out.

        Only the text is checked here; symlinks are resolved, inside the root, each time the path
        is used (see :meth:`locate`).

        Raises:
            ModelRetry: an absolute path, ``..`` or a NUL byte.
        """
        text = path.strip() if isinstance(path, str) else ""
        if "\x00" in text:
            raise ModelRetry("The path contains a NUL character. Give a plain relative path like 'docs/notes.md'.")
        if len(text) > _MAX_PATH_CHARS:
            raise ModelRetry(f"The path is {len(text):,} characters long; the limit is {_MAX_PATH_CHARS}.")
        if text in ("", ".", "./"):
            return PurePosixPath("."), "."
        pure = PurePosixPath(text)
        if pure.is_absolute() or text.startswith("~") or re.match(r"^[A-Za-z]:[\\/]", text):
            raise ModelRetry(
                f"{text!r} is an absolute path. Paths are relative to the workspace root, e.g. 'docs/notes.md' "
                f"(use list_files with path '.' to see the root)."
            )
        if ".." in pure.parts or ".." in text.split("\\"):
            raise ModelRetry("'..' is not allowed in paths: these tools only reach files inside the workspace root.")
        return pure, pure.as_posix()

    @contextlib.contextmanager
    def locate(
        self, rel: PurePosixPath | tuple[str, ...], shown: str, *, create_dirs: bool = False, writing: bool = False
    ) -> Iterator[Place]:
        """Where ``rel`` leads inside the root, symlinks followed only while they stay inside (a context manager).

        Raises:
            ModelRetry: a symlink on the way leads outside the root, loops, or a part of the way is missing.
        """
        parts = rel.parts if isinstance(rel, PurePosixPath) else rel
        try:
            place = self._confined.locate(parts, create_dirs=create_dirs)
        except Outside:
            raise ModelRetry(
                f"{shown!r} is a symlink (or goes through one) that points outside the workspace root; it cannot be used."
            ) from None
        except LinkLoop:
            raise ModelRetry(f"{shown!r} cannot be resolved (a symlink loop?).") from None
        except FileNotFoundError:
            raise ModelRetry(f"{shown!r} does not exist. Use list_files or search_files to find the right path.") from None
        except NotADirectoryError:
            if writing:
                raise ModelRetry(f"Cannot write {shown!r}: a part of the path is a file, not a folder.") from None
            raise ModelRetry(f"{shown!r} does not exist (a part of it is a file, not a folder).") from None
        except OSError as e:
            raise ModelRetry(f"Cannot access {shown!r}: {e.strerror or e}.") from None
        with place:
            yield place

    def _lstat(self, place: Place, shown: str) -> os.stat_result:
        try:
            return place.lstat()
        except FileNotFoundError:
            raise ModelRetry(f"{shown!r} does not exist. Use list_files or search_files to find the right path.") from None
        except OSError as e:
            raise ModelRetry(f"Cannot access {shown!r}: {e.strerror or e}.") from None

    def open_regular(self, rel: PurePosixPath | tuple[str, ...], shown: str) -> _Opened:
        """Open a regular file for reading, refusing FIFOs, devices, sockets and last-moment symlink swaps."""
        with self.locate(rel, shown) as place:
            return self._open_at(place, shown)

    def _open_at(self, place: Place, shown: str) -> _Opened:
        st = self._lstat(place, shown)
        if not stat.S_ISREG(st.st_mode):
            what = _kind(st.st_mode)
            hint = " Use list_files to see what it contains." if stat.S_ISDIR(st.st_mode) else " Only regular files can be read."
            raise ModelRetry(f"{shown!r} is {what}, not a regular file.{hint}")
        try:
            fd = place.open(READ)
        except OSError as e:
            raise ModelRetry(f"Cannot open {shown!r}: {e.strerror or e} (did it change while being opened?).") from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise ModelRetry(f"{shown!r} is {_kind(st.st_mode)}, not a regular file. Only regular files can be read.")
        return _Opened(os.fdopen(fd, "rb"), st.st_size)

    def _open_folder(self, place: Place, shown: str, hint: str) -> int:
        st = self._lstat(place, shown)
        if not stat.S_ISDIR(st.st_mode):
            raise ModelRetry(f"{shown!r} is {_kind(st.st_mode)}, not a folder{hint}")
        try:
            return place.open_dir()
        except OSError as e:
            raise ModelRetry(f"Cannot open the folder {shown!r}: {e.strerror or e}.") from None

    # -- reading ----------------------------------------------------------------------------
    def list_dir(self, path: str = ".") -> str:
        """The entries of a folder, one a line (folders end with '/')."""
        rel, shown = self.resolve(path)
        with self.locate(rel, shown) as place:
            fd = self._open_folder(place, shown, ". Use read_file to read a file.")
            try:
                try:
                    with os.scandir(fd) as it:
                        entries = sorted(it, key=lambda e: e.name)
                except OSError as e:
                    raise ModelRetry(f"Cannot list {shown!r}: {e.strerror or e}.") from None
                lines = [self._describe_entry(entry, place.parts) for entry in entries[: self.max_results]]
            finally:
                os.close(fd)
        header = f"{shown}: {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}"
        if not entries:
            return f"{header} (empty folder)"
        if len(entries) > self.max_results:
            lines.append(f"... and {len(entries) - self.max_results} more (use search_files with a glob to narrow down)")
        return header + "\n" + "\n".join(lines)

    def _describe_entry(self, entry: os.DirEntry[str], folder: tuple[str, ...]) -> str:
        name = entry.name
        try:
            if entry.is_symlink():
                try:
                    with self._confined.locate((*folder, name)) as target:
                        st = target.lstat()
                        inside = "/".join(target.parts) or "."
                except Outside:
                    return f"{name}@ (symlink pointing outside the workspace root: not accessible)"
                except (LinkLoop, OSError):
                    return f"{name}@ (broken symlink)"
                suffix = "/" if stat.S_ISDIR(st.st_mode) else ""
                return f"{name}{suffix}@ -> {inside}{suffix}"
            st = entry.stat(follow_symlinks=False)
        except OSError:
            return f"{name} (cannot be read)"
        if stat.S_ISDIR(st.st_mode):
            return f"{name}/"
        if stat.S_ISREG(st.st_mode):
            return f"{name}  ({_size(st.st_size)})"
        return f"{name}  ({_kind(st.st_mode)}: not readable)"

    def read_text(self, path: str, start_line: int = 1, end_line: int | None = None) -> str:
        """Lines ``start_line..end_line`` (1-based, inclusive) of a text file, at most ``max_read_bytes`` of them."""
        if end_line is not None and end_line < start_line:
            raise ModelRetry(f"end_line ({end_line}) is before start_line ({start_line}).")
        rel, shown = self.resolve(path)
        opened = self.open_regular(rel, shown)
        with opened.file as f:
            head = f.read(8192)
            if b"\x00" in head:
                return f"{shown} is a binary file ({_size(opened.size)}); it is not shown."
            f.seek(0)
            out: list[str] = []
            budget = self.max_read_bytes
            first = last = 0
            stopped_for_budget = more_follow = False
            for number, line, cut in _lines(f, keep=budget + 1):
                if number < start_line:
                    continue
                if end_line is not None and number > end_line:
                    more_follow = True
                    break
                if len(line) > budget:
                    if not out:  # one very long line: show its start
                        out.append(line[:budget].decode("utf-8", "replace") + "\n[... line cut at the read limit]\n")
                        first = last = number
                    stopped_for_budget = True
                    break
                budget -= len(line)
                out.append(line.decode("utf-8", "replace") + ("[... line cut]\n" if cut else ""))
                first = first or number
                last = number
        if not out:
            if start_line > 1:
                return f"{shown} has fewer than {start_line} lines ({_size(opened.size)})."
            return f"{shown} is empty."
        text = "".join(out)
        header = f"{shown}, lines {first}-{last} ({_size(opened.size)}):"
        if stopped_for_budget:
            text += f"\n[stopped at the read limit of {self.max_read_bytes:,} bytes; continue with start_line={last + 1}]"
        elif more_follow:
            text += f"\n[the file goes on after line {last}]"
        return header + "\n" + text

    # -- searching --------------------------------------------------------------------------
    def search(self, glob: str = "**/*", regex: str | None = None, path: str = ".", ignore_case: bool = False) -> str:
        """Files under ``path`` matching ``glob``; with ``regex``, the matching lines of those files."""
        glob = glob.strip() or "**/*"
        if len(glob) > _MAX_PATTERN_CHARS:
            raise ModelRetry(f"The glob is too long ({len(glob)} characters; limit {_MAX_PATTERN_CHARS}).")
        if glob.startswith("/") or ".." in PurePosixPath(glob).parts or "\x00" in glob:
            raise ModelRetry("The glob must be relative to the search folder and may not contain '..', e.g. '**/*.py'.")
        compiled: re.Pattern[str] | None = None
        if regex is not None:
            if not regex or len(regex) > _MAX_PATTERN_CHARS:
                raise ModelRetry(f"The regex must be 1 to {_MAX_PATTERN_CHARS} characters long.")
            try:
                compiled = re.compile(regex, re.IGNORECASE if ignore_case else 0)
            except (re.error, RecursionError, OverflowError, ValueError) as e:
                raise ModelRetry(f"The regex is not valid: {e}. Use Python `re` syntax, e.g. 'def \\w+\\('.") from None
        rel, shown = self.resolve(path)
        pattern = tuple(p for p in PurePosixPath(glob).parts if p not in ("", "."))
        if len(pattern) == 1 and pattern[0] != "**":  # a bare name pattern matches at any depth, like most tools
            pattern = ("**", pattern[0])
        with self.locate(rel, shown) as place:
            fd = self._open_folder(place, shown, "; give the folder to search in as path.")
            try:
                found, notes = self._walk(fd, place.parts, pattern, shown)
            finally:
                os.close(fd)
        if compiled is None:
            if not found:
                return f"No files under {shown!r} match {glob!r}." + "".join(notes)
            listed = [p for p, _ in found[: self.max_results]]
            more = f"\n[only the first {self.max_results} are shown; narrow the glob]" if len(found) > self.max_results else ""
            return f"{len(found)} file(s) under {shown!r} match {glob!r}:\n" + "\n".join(listed) + more + "".join(notes)
        return self._grep(compiled, found, glob, shown, notes)

    def _walk(
        self, top: int, start: tuple[str, ...], pattern: tuple[str, ...], shown: str
    ) -> tuple[list[tuple[str, tuple[str, ...]]], list[str]]:
        """``(display path, path from the root)`` of the regular files under the open folder ``top`` matching ``pattern``."""
        found: list[tuple[str, tuple[str, ...]]] = []
        scanned = outside = 0
        capped = False
        walker = walk(top)
        try:
            for rel_folder, folder_fd, dirnames, filenames in walker:
                dirnames[:] = [d for d in dirnames if d not in self.skip_dirs]
                scanned += len(dirnames) + len(filenames)
                if scanned > self.max_scan_entries:
                    capped = True
                    break
                for name in filenames:
                    rel = (*rel_folder, name)
                    if not _glob_match(rel, pattern):
                        continue
                    full = (*start, *rel)
                    try:
                        st = os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
                        if stat.S_ISLNK(st.st_mode):
                            with self._confined.locate(full) as target:
                                st, full = target.lstat(), target.parts
                    except Outside:
                        outside += 1
                        continue
                    except (LinkLoop, OSError):
                        continue
                    if not stat.S_ISREG(st.st_mode):
                        continue
                    display = "/".join(rel) if shown == "." else (PurePosixPath(shown) / "/".join(rel)).as_posix()
                    found.append((display, full))
                    if len(found) > self.max_results * 50:
                        capped = True
                        break
                if capped:
                    break
        finally:
            walker.close()
        notes = []
        if capped:
            notes.append(f"\n[the search stopped after {scanned:,} entries; give a narrower path or glob]")
        if outside:
            notes.append(f"\n[{outside} symlink(s) pointing outside the workspace root were skipped]")
        return found, notes

    def _grep(
        self, compiled: re.Pattern[str], found: list[tuple[str, tuple[str, ...]]], glob: str, shown: str, notes: list[str]
    ) -> str:
        texts: list[list[str]] = []
        total = skipped = 0
        for display, parts in found:
            try:
                opened = self.open_regular(parts, display)
            except ModelRetry:
                skipped += 1
                continue
            with opened.file as f:
                if opened.size > self.max_search_file_bytes or total + opened.size > self.max_search_bytes:
                    skipped += 1
                    continue
                data = f.read(self.max_search_file_bytes + 1)
            if b"\x00" in data[:8192] or len(data) > self.max_search_file_bytes:
                skipped += 1
                continue
            total += len(data)
            texts.append([display, data.decode("utf-8", "replace")])
        if not texts:
            return f"No text files under {shown!r} match {glob!r}." + "".join(notes)
        request = json.dumps(
            {
                "pattern": compiled.pattern,
                "flags": int(compiled.flags),
                "max": self.max_results,
                "width": _MAX_SHOWN_LINE,
                "files": texts,
            }
        ).encode()
        try:
            done = subprocess.run(
                [sys.executable, "-I", "-S", "-c", _GREP],
                input=request,
                capture_output=True,
                timeout=self.search_timeout,
                env={"PATH": os.defpath, "LANG": "C.UTF-8"},
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ModelRetry(
                f"The regex search took longer than {self.search_timeout:g} s and was stopped "
                f"(nested repetition like '(a+)+' can take forever). Simplify the regex or search fewer files."
            ) from None
        except OSError as e:
            raise ModelRetry(f"The regex search could not run: {e}.") from None
        if done.returncode != 0:
            raise ModelRetry(f"The regex search failed: {done.stderr.decode('utf-8', 'replace')[-300:]}")
        matches: list[Any] = json.loads(done.stdout or b"[]")
        extra = "".join(notes)
        if skipped:
            extra += f"\n[{skipped} binary, unreadable or too large file(s) were not searched]"
        if not matches:
            return f"No lines match {compiled.pattern!r} in {len(texts)} file(s) under {shown!r} matching {glob!r}." + extra
        lines = [f"{name}:{number}: {line}" for name, number, line in matches[: self.max_results]]
        if len(matches) > self.max_results:
            extra = f"\n[only the first {self.max_results} matches are shown; narrow the regex or glob]" + extra
        return f"Matches for {compiled.pattern!r}:\n" + "\n".join(lines) + extra

    # -- writing ----------------------------------------------------------------------------
    def write_text(self, path: str, content: str) -> str:
        """Create or overwrite a file with ``content`` (folders are created as needed)."""
        data = content.encode("utf-8")
        if len(data) > self.max_write_bytes:
            raise ModelRetry(f"The content is {len(data):,} bytes; the limit is {self.max_write_bytes:,}. Write a smaller file.")
        rel, shown = self.resolve(path)
        if not rel.parts:
            raise ModelRetry("Give a file path, not the workspace root itself.")
        existed = self._replace(rel, shown, data, create_dirs=True)
        return f"{'Overwrote' if existed else 'Created'} {shown} ({len(data):,} bytes)."

    def edit_text(self, path: str, old_text: str, new_text: str) -> str:
        """Replace the one occurrence of ``old_text`` in a file with ``new_text``."""
        if not old_text:
            raise ModelRetry("old_text is empty; give the exact text to replace (copy it from read_file).")
        if old_text == new_text:
            raise ModelRetry("old_text and new_text are the same; nothing would change.")
        rel, shown = self.resolve(path)
        opened = self.open_regular(rel, shown)
        with opened.file as f:
            if opened.size > self.max_write_bytes:
                raise ModelRetry(f"{shown!r} is {_size(opened.size)}; files over {_size(self.max_write_bytes)} cannot be edited.")
            data = f.read(self.max_write_bytes + 1)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ModelRetry(f"{shown!r} is not UTF-8 text; it cannot be edited.") from None
        count = text.count(old_text)
        if count == 0:
            squeezed = " ".join(old_text.split())
            near = squeezed and squeezed in " ".join(text.split())
            hint = " It appears with different whitespace or line breaks: copy it exactly." if near else ""
            raise ModelRetry(f"old_text was not found in {shown!r}.{hint} Read the file and copy the exact text to replace.")
        if count > 1:
            raise ModelRetry(f"old_text appears {count} times in {shown!r}; include more surrounding lines so it is unique.")
        updated = text.replace(old_text, new_text, 1)
        encoded = updated.encode("utf-8")
        if len(encoded) > self.max_write_bytes:
            raise ModelRetry(f"The edited file would be {len(encoded):,} bytes; the limit is {self.max_write_bytes:,}.")
        self._replace(rel, shown, encoded)
        line = text[: text.index(old_text)].count("\n") + 1
        return f"Edited {shown}: replaced 1 occurrence at line {line} ({len(encoded):,} bytes now)."

    def _replace(self, rel: PurePosixPath, shown: str, data: bytes, *, create_dirs: bool = False) -> bool:
        """Write ``data`` to a temporary file in the target's folder, then rename it over the target; whether it existed.

        The path is walked again here (a folder swapped for a symlink since an earlier look is
        caught), and the temporary file and the rename are relative to the folder descriptor that
        walk ends in.
        """
        with self.locate(rel, shown, create_dirs=create_dirs, writing=True) as place:
            if place.name is None:
                raise ModelRetry("Give a file path, not the workspace root itself.")
            try:
                st: os.stat_result | None = place.lstat()
            except FileNotFoundError:
                st = None
            except OSError as e:
                raise ModelRetry(f"Cannot write {shown!r}: {e.strerror or e}.") from None
            if st is not None and not stat.S_ISREG(st.st_mode):
                raise ModelRetry(f"{shown!r} is {_kind(st.st_mode)}; only regular files can be written.")
            mode = stat.S_IMODE(st.st_mode) if st is not None else None
            tmp, fd = self._temporary(place, shown, mode)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    if mode is not None:  # the umask cut it at creation: give it the old file's exact mode
                        os.fchmod(f.fileno(), mode)
                os.rename(tmp, place.name, src_dir_fd=place.dir_fd, dst_dir_fd=place.dir_fd)
            except OSError as e:
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=place.dir_fd)
                raise ModelRetry(f"Cannot write {shown!r}: {e.strerror or e}.") from None
            return st is not None

    @staticmethod
    def _temporary(place: Place, shown: str, mode: int | None) -> tuple[str, int]:
        """A new temporary file next to the target: ``(its name, an fd open for writing)``.

        A new file is created with 0o666, which the umask cuts as it would for any editor; a
        replacement starts private (0o600) and gets the old file's mode before the rename.
        """
        for _ in range(100):
            name = f".agentkit-{secrets.token_hex(8)}.tmp"
            try:
                return name, os.open(name, _TEMP_FLAGS, 0o666 if mode is None else 0o600, dir_fd=place.dir_fd)
            except FileExistsError:
                continue
            except OSError as e:
                raise ModelRetry(f"Cannot write {shown!r}: {e.strerror or e}.") from None
        raise ModelRetry(f"Cannot write {shown!r}: no free name for a temporary file.")


def _lines(f: BinaryIO, keep: int) -> Iterator[tuple[int, bytes, bool]]:
    """``(line number, the line's first keep bytes, whether it was cut)`` without ever holding a whole huge line."""
    number = 0
    while True:
        chunk = f.readline(_CHUNK)
        if not chunk:
            return
        number += 1
        line = chunk
        cut = False
        while not chunk.endswith(b"\n"):
            chunk = f.readline(_CHUNK)
            if not chunk:
                break
            if len(line) < keep:
                line += chunk[: keep - len(line)]
            else:
                cut = True
        if len(line) >= keep and not line.endswith(b"\n"):
            cut = True
        yield number, line, cut


def files(
    root: str | os.PathLike[str],
    writable: bool = False,
    *,
    max_read_bytes: int = 100_000,
    max_write_bytes: int = 1_000_000,
    max_results: int = 200,
    search_timeout: float = 5.0,
    prefix: str = "",
) -> list[Tool[..., str]]:
    """File tools confined to ``root``: ``list_files``, ``read_file``, ``search_files``, and with
    ``writable=True`` also ``write_file`` and ``edit_file`` (both ``requires_approval=True``).

    Args:
        root: the folder the tools may reach; nothing outside it is readable or writable.
        writable: add the write and edit tools.
        max_read_bytes: most bytes one ``read_file`` call returns (the model can read on by line).
        max_write_bytes: largest file that can be written or edited.
        max_results: most entries, paths or matching lines one call returns.
        search_timeout: seconds a regex search may run before it is stopped.
        prefix: put before each tool name, to give an agent two workspaces (``prefix="docs_"``).

    Raises:
        UserError: ``root`` is not an existing folder.
    """
    ws = Workspace(
        root,
        max_read_bytes=max_read_bytes,
        max_write_bytes=max_write_bytes,
        max_results=max_results,
        search_timeout=search_timeout,
    )

    def list_files(path: str = ".") -> str:
        """List the files and folders in a folder of the workspace (folders end with '/').

        Args:
            path: Folder relative to the workspace root; "." is the root.
        """
        return ws.list_dir(path)

    def read_file(
        path: str,
        start_line: Annotated[int, Field(ge=1)] = 1,
        end_line: Annotated[int | None, Field(ge=1)] = None,
    ) -> str:
        """Read a text file of the workspace, optionally only some lines. Long files are cut; read on with start_line.

        Args:
            path: File path relative to the workspace root, e.g. "src/app.py".
            start_line: First line to show (1-based).
            end_line: Last line to show (inclusive); omit to read to the end (up to the size limit).
        """
        return ws.read_text(path, start_line, end_line)

    def search_files(glob: str = "**/*", regex: str | None = None, path: str = ".", ignore_case: bool = False) -> str:
        """Find files in the workspace by name pattern and, optionally, the lines in them that match a regular expression.

        Args:
            glob: File name pattern: "*.py" (any folder), "src/**/*.md", "**/test_*.py". "**" matches any number of folders.
            regex: Python regular expression to search for in the files' lines; omit to only list the matching files.
            path: Folder to search in, relative to the workspace root.
            ignore_case: Match the regex case-insensitively.
        """
        return ws.search(glob, regex, path, ignore_case)

    def write_file(path: str, content: str) -> str:
        """Create a file, or replace its whole content, in the workspace. Folders are created as needed.

        Args:
            path: File path relative to the workspace root.
            content: The complete new content of the file.
        """
        return ws.write_text(path, content)

    def edit_file(path: str, old_text: str, new_text: str) -> str:
        """Edit a file of the workspace by replacing one exact, unique piece of text.

        Args:
            path: File path relative to the workspace root.
            old_text: The exact text to replace, copied from the file (whitespace included); it must occur exactly once.
            new_text: The text to put in its place.
        """
        return ws.edit_text(path, old_text, new_text)

    tools: list[Tool[..., str]] = [
        Tool(list_files, name=f"{prefix}list_files"),
        Tool(read_file, name=f"{prefix}read_file"),
        Tool(search_files, name=f"{prefix}search_files"),
    ]
    if writable:
        tools.append(Tool(write_file, name=f"{prefix}write_file", requires_approval=True))
        tools.append(Tool(edit_file, name=f"{prefix}edit_file", requires_approval=True))
    return tools
