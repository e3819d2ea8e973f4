"""Paths confined to one folder, resolved without ever letting the kernel follow a symlink.

:class:`ConfinedRoot` holds the folder open and walks every path one component at a time,
relative to the open folder above it (``openat`` with ``O_NOFOLLOW``; ``O_PATH`` where the system
has it). A symlink met on the way is read (``readlinkat``) and its target walked the same way, so
``..`` and absolute targets are checked against the root *before* anything is opened through them.
Nothing is resolved from a path string, so a folder swapped for a symlink while a call runs (a
rename race) cannot lead outside: the walk either sees the folder, whose open descriptor it then
keeps, or the link, whose target it checks.

Used by :func:`agentkit_tools.files` and :func:`agentkit_tools.search_documents`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import weakref
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

__all__ = ["ConfinedRoot", "Place", "Outside", "LinkLoop", "supported", "kind"]

MAX_LINKS = 40  # symlinks followed while resolving one path (Linux's own limit)

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
# a folder on the way: O_PATH (Linux) needs only search permission and reads nothing
_WALK = (getattr(os, "O_PATH", 0) or os.O_RDONLY) | _DIRECTORY | _NOFOLLOW | _CLOEXEC
_LIST = os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _NONBLOCK | _CLOEXEC
READ = os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC
# errors an O_NOFOLLOW open gives for a symlink: ELOOP (Linux, macOS), EMLINK (FreeBSD); ENOTDIR with O_DIRECTORY
_LINK_ERRNOS = frozenset({errno.ELOOP, errno.EMLINK, errno.ENOTDIR})


class Outside(Exception):
    """A symlink on the path leads outside the root."""


class LinkLoop(Exception):
    """More than :data:`MAX_LINKS` symlinks on the path (a loop)."""


def supported() -> bool:
    """Whether this system can open paths relative to a folder descriptor (not on Windows)."""
    return os.open in os.supports_dir_fd and os.stat in os.supports_dir_fd and bool(_NOFOLLOW)


def kind(mode: int) -> str:
    """``"a directory"``, ``"a FIFO (named pipe)"``, ... for a ``st_mode``."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device file"
    if stat.S_ISREG(mode):
        return "a file"
    if stat.S_ISLNK(mode):
        return "a symlink"
    return "a special file"


@dataclass
class Place:
    """Where a path leads: the entry ``name`` in the open folder ``dir_fd`` (``name`` None: the root itself).

    ``parts`` is the same place relative to the root with every symlink resolved. Close it (or use
    ``with``) to release the folder's descriptor.
    """

    dir_fd: int
    name: str | None
    parts: tuple[str, ...]
    owned: bool

    def close(self) -> None:
        if self.owned:
            self.owned = False
            os.close(self.dir_fd)

    def __enter__(self) -> Place:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def lstat(self) -> os.stat_result:
        """The entry's own status (a symlink is not followed)."""
        if self.name is None:
            return os.stat(self.dir_fd)
        return os.stat(self.name, dir_fd=self.dir_fd, follow_symlinks=False)

    def open(self, flags: int, mode: int = 0o777) -> int:
        """``openat(dir_fd, name, flags | O_NOFOLLOW | O_CLOEXEC)``; the root itself opens as ``.``."""
        return os.open(self.name or ".", flags | _NOFOLLOW | _CLOEXEC, mode, dir_fd=self.dir_fd)

    def open_dir(self) -> int:
        """A descriptor of this folder for listing (``os.scandir(fd)``)."""
        return self.open(_LIST)


class ConfinedRoot:
    """A folder held open; :meth:`locate` resolves paths inside it (see the module docstring).

    Args:
        path: the folder, already resolved (no symlinks in it).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, _WALK)
        self._finalizer = weakref.finalize(self, os.close, self.fd)

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> ConfinedRoot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open_dir(self) -> int:
        """A descriptor of the root for listing (``os.scandir(fd)``, :func:`walk`); the caller closes it."""
        return os.open(".", _LIST, dir_fd=self.fd)

    def locate(self, parts: Sequence[str], *, follow: bool = True, create_dirs: bool = False) -> Place:
        """Resolve ``parts`` (relative to the root) to a :class:`Place`, following symlinks only inside the root.

        The last component need not exist (a file about to be written). With ``follow``, a
        symlink as the last component is resolved too; with ``create_dirs``, missing folders on
        the way are created (mode 0o777 less the umask).

        Raises:
            Outside: a symlink on the way leads outside the root.
            LinkLoop: too many symlinks.
            FileNotFoundError: a folder on the way is missing.
            NotADirectoryError: a part of the way is not a folder.
            OSError: anything else the system refuses.
        """
        pending = [p for p in reversed(parts)]
        opened: list[tuple[int, str]] = []  # folders below the root, outermost first; the walk is at opened[-1]
        links = 0
        try:
            while pending:
                name = pending.pop()
                if name in ("", "."):
                    continue
                if name == "..":
                    if not opened:
                        raise Outside(name)
                    os.close(opened.pop()[0])
                    continue
                if "/" in name or "\x00" in name:
                    raise ValueError(f"not a path component: {name!r}")
                here = opened[-1][0] if opened else self.fd
                if not any(p not in ("", ".") for p in pending):  # the last component
                    try:
                        st = os.stat(name, dir_fd=here, follow_symlinks=False)
                    except FileNotFoundError:
                        st = None
                    if st is None or not (follow and stat.S_ISLNK(st.st_mode)):
                        return self._place(opened, name)
                else:
                    try:
                        opened.append((os.open(name, _WALK, dir_fd=here), name))
                        continue
                    except FileNotFoundError:
                        if not create_dirs:
                            raise
                        links += 1  # bounds the retries when the folder keeps vanishing
                        if links > MAX_LINKS:
                            raise LinkLoop(name) from None
                        with contextlib.suppress(FileExistsError):
                            os.mkdir(name, 0o777, dir_fd=here)
                        pending.append(name)
                        continue
                    except OSError as e:
                        if e.errno not in _LINK_ERRNOS:
                            raise
                        st = os.stat(name, dir_fd=here, follow_symlinks=False)
                        if not stat.S_ISLNK(st.st_mode):
                            if stat.S_ISDIR(st.st_mode):  # a folder again (it was swapped back): walk it
                                pending.append(name)
                                links += 1
                                if links > MAX_LINKS:
                                    raise LinkLoop(name) from None
                                continue
                            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), name) from None
                # a symlink: walk its target from the folder it is in
                links += 1
                if links > MAX_LINKS:
                    raise LinkLoop(name)
                target = PurePosixPath(os.readlink(name, dir_fd=here))
                if target.is_absolute():
                    rest = self._inside(target)
                    for fd, _ in opened:
                        os.close(fd)
                    opened.clear()
                    pending.extend(reversed(rest))
                else:
                    pending.extend(reversed(target.parts))
            # the path ended in a folder already walked ("", ".", "..", or a link to a folder)
            if not opened:
                return Place(self.fd, None, (), owned=False)
            fd, name = opened.pop()
            os.close(fd)
            return self._place(opened, name)
        except BaseException:
            for fd, _ in opened:
                os.close(fd)
            raise

    def _place(self, opened: list[tuple[int, str]], name: str) -> Place:
        """The place ``name`` in the innermost opened folder; hands that folder's descriptor over and closes the rest."""
        parts = (*(n for _, n in opened), name)
        if not opened:
            return Place(self.fd, name, parts, owned=False)
        fd = opened.pop()[0]
        for other, _ in opened:
            os.close(other)
        opened.clear()
        return Place(fd, name, parts, owned=True)

    def _inside(self, target: PurePosixPath) -> tuple[str, ...]:
        """An absolute symlink target's parts relative to the root, if it starts with the root's path."""
        root = self.path.parts
        if target.parts[: len(root)] != root:
            raise Outside(str(target))
        return target.parts[len(root) :]


def walk(top_fd: int) -> Generator[tuple[tuple[str, ...], int, list[str], list[str]], None, None]:
    """Like :func:`os.fwalk` from an open folder, never following a symlink and never blocking on one.

    Yields ``(parts below top, folder fd, subfolders, other entries)``, top-down and sorted; prune
    the subfolders list in place to skip some. Symlinks (to folders too), FIFOs and devices are
    "other entries". Folders are opened with ``O_NOFOLLOW | O_DIRECTORY`` relative to their parent,
    so a folder swapped for a symlink is not entered. ``top_fd`` is not closed; descriptors held
    at once: the depth of the walk.
    """
    stack: list[tuple[int, tuple[str, ...], Iterator[str]]] = []
    fd = top_fd
    rel: tuple[str, ...] = ()
    try:
        while True:
            dirs, others = _entries(fd)
            stack.append((fd, rel, iter(dirs)))  # a list iterator sees the caller's in-place pruning
            yield rel, fd, dirs, others
            while stack:
                parent, parent_rel, names = stack[-1]
                name = next(names, None)
                if name is None:
                    stack.pop()
                    if parent != top_fd:
                        os.close(parent)
                    continue
                try:
                    fd = os.open(name, _LIST, dir_fd=parent)
                except OSError:
                    continue
                rel = (*parent_rel, name)
                break
            else:
                return
    finally:
        for parent, _, _ in stack:
            if parent != top_fd:
                os.close(parent)


def _entries(fd: int) -> tuple[list[str], list[str]]:
    dirs: list[str] = []
    others: list[str] = []
    try:
        with os.scandir(fd) as it:
            for entry in it:
                try:
                    (dirs if entry.is_dir(follow_symlinks=False) else others).append(entry.name)
                except OSError:
                    continue
    except OSError:
        pass
    return sorted(dirs), sorted(others)
