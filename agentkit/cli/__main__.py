"""``python -m agentkit.cli``: the same as the ``agentkit`` command."""

from __future__ import annotations

from . import main

main()
