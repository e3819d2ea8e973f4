"""The sizes of the values in a query's current row, read before Python fetches that row.

Python's ``sqlite3`` builds a whole row at once: every string and blob of it is copied (and a
``zeroblob()`` expanded) before the caller sees any of it, so a budget checked between rows
cannot stop one row of a hundred 10 MB values. SQLite's C API can tell each value's type and
size without copying it (``sqlite3_column_bytes`` even leaves a ``zeroblob()`` unexpanded):
:class:`RowSizes` reads them through ``ctypes``, from the same SQLite library that ``sqlite3``
uses, so ``sqlite_query`` can charge a row to its budget before fetching it.

The connection's handle is learnt from an auto-extension (SQLite's own hook, called with the
handle of each connection opened while it is registered), registered only while ``sqlite_query``
opens a connection. Where this cannot work (another Python than CPython, an SQLite whose functions
are not visible to ``ctypes``, Python 3.10, which fetches a row ahead), :func:`connect_with_sizes`
returns no :class:`RowSizes` and the budget is checked between rows only.
"""

from __future__ import annotations

import ctypes
import sqlite3
import sys
import threading
from collections.abc import Callable

__all__ = ["RowSizes", "connect_with_sizes"]

_SQLITE_INTEGER, _SQLITE_FLOAT, _SQLITE_TEXT, _SQLITE_BLOB = 1, 2, 3, 4
_ENTRY = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
_opened = threading.local()  # the handle of the connection this thread opened last while the hook was registered
_registering = threading.Lock()  # the auto-extension list is process-wide


_FETCHES_AHEAD = sys.version_info < (3, 11)  # Python 3.10's sqlite3 builds each row before it is asked for


def _record(db: int | None, _errors: int | None, _api: int | None) -> int:
    _opened.db = db
    return 0  # SQLITE_OK


_record_handle = _ENTRY(_record)  # (kept: SQLite calls it through its address)


def _load() -> ctypes.CDLL | None:
    """The SQLite library ``sqlite3`` runs on, with the functions used here typed; ``None`` when it cannot be reached."""
    if sys.implementation.name != "cpython" or _FETCHES_AHEAD:
        return None
    try:
        import _sqlite3  # the extension module: its SQLite is either linked into it or loaded as its dependency

        lib = ctypes.CDLL(_sqlite3.__file__)
        signatures: dict[str, tuple[type | None, list[type]]] = {
            "sqlite3_libversion": (ctypes.c_char_p, []),
            "sqlite3_auto_extension": (ctypes.c_int, [ctypes.c_void_p]),
            "sqlite3_cancel_auto_extension": (ctypes.c_int, [ctypes.c_void_p]),
            "sqlite3_next_stmt": (ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_void_p]),
            "sqlite3_stmt_busy": (ctypes.c_int, [ctypes.c_void_p]),
            "sqlite3_data_count": (ctypes.c_int, [ctypes.c_void_p]),
            "sqlite3_column_type": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int]),
            "sqlite3_column_bytes": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int]),
        }
        for function, (restype, argtypes) in signatures.items():
            getattr(lib, function).restype = restype
            getattr(lib, function).argtypes = argtypes
        version = lib.sqlite3_libversion()
    except (ImportError, OSError, AttributeError, TypeError):
        return None
    return lib if version == sqlite3.sqlite_version.encode() else None


_lib = _load()


class RowSizes:
    """Reads the sizes of the current row's values of the statement running on one connection."""

    def __init__(self, lib: ctypes.CDLL, db: int) -> None:
        self._lib = lib
        self._db = db

    def current(self) -> list[int] | None:
        """Bytes each value of the row the running statement is on counts (strings and blobs by length, numbers 8, NULL 0).

        ``None`` when no statement is on a row (it has ended, or has not run).
        """
        lib = self._lib
        stmt = lib.sqlite3_next_stmt(self._db, None)
        while stmt and not lib.sqlite3_stmt_busy(stmt):
            stmt = lib.sqlite3_next_stmt(self._db, stmt)
        if not stmt:
            return None
        sizes = []
        for column in range(lib.sqlite3_data_count(stmt)):
            kind = lib.sqlite3_column_type(stmt, column)
            if kind in (_SQLITE_TEXT, _SQLITE_BLOB):  # (only these: column_bytes would turn a number into text)
                sizes.append(lib.sqlite3_column_bytes(stmt, column))
            else:
                sizes.append(8 if kind in (_SQLITE_INTEGER, _SQLITE_FLOAT) else 0)
        return sizes


def connect_with_sizes(connect: Callable[[], sqlite3.Connection]) -> tuple[sqlite3.Connection, RowSizes | None]:
    """``connect()``, and a :class:`RowSizes` for the connection it opened (``None`` where sizes cannot be read)."""
    lib = _lib
    if lib is None:
        return connect(), None
    hook = ctypes.cast(_record_handle, ctypes.c_void_p)
    with _registering:
        _opened.db = None
        lib.sqlite3_auto_extension(hook)
        try:
            conn = connect()
        finally:
            lib.sqlite3_cancel_auto_extension(hook)
        db, _opened.db = _opened.db, None
    return conn, (RowSizes(lib, db) if db else None)
