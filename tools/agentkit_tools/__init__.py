"""Ready-made tools for agentkit agents, built only on agentkit's public API.

The toolbox (calculator, clock, files, http_fetch, python_exec, sqlite_query) arrives with its
own issue; this package exists now so that ``pip install agentkit`` installs it as
``agentkit_tools``.
"""

from __future__ import annotations

__all__: list[str] = []
