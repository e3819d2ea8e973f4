"""Ready-made tools for agentkit agents, built only on agentkit's public API.

* :func:`search_documents` — find passages in a folder of .md / .txt files by meaning
  (``agentkit.embeddings``; the default ``"local"`` model needs ``pip install 'agentkit-loop[local]'``).

* :data:`calculator` — arithmetic and math functions, evaluated on a whitelisted AST (never ``eval``).
* :func:`clock` — ``current_time`` and ``convert_time`` in IANA timezones.
* :func:`files` — list, read and search files under one folder (``writable=True`` adds write and
  edit, which require approval); nothing outside the folder is reachable.
* :func:`memory` — ``remember``, ``recall`` and ``forget`` facts about a user across conversations and
  processes (a SQLite file; full-text search, or by meaning with an ``Embedder``).
* :func:`http_fetch` — GET pages from an allow-list of hosts as readable text (requires approval).
* :func:`python_exec` — run Python in a separate, resource-limited process (requires approval).
* :func:`sqlite_query` — read-only SQL on a SQLite file, answered as a text table.

Each module's docstring lists the tool's limits. Importing this package imports neither numpy nor a model.
"""

from __future__ import annotations

from .calculator import calculator
from .clock import clock, convert_time, current_time
from .documents import DocumentIndex, Passage, search_documents
from .files import Workspace, files
from .http_fetch import http_fetch
from .memory import Fact, MemoryStore, SQLiteMemory, memory
from .python_exec import python_exec
from .sqlite_query import sqlite_query

__all__ = [
    "search_documents",
    "DocumentIndex",
    "Passage",
    "calculator",
    "clock",
    "current_time",
    "convert_time",
    "files",
    "Workspace",
    "http_fetch",
    "memory",
    "SQLiteMemory",
    "MemoryStore",
    "Fact",
    "python_exec",
    "sqlite_query",
]
