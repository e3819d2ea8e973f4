"""The ``agentkit`` command line: run an agent file, chat, check tool schemas, run batches.

``agentkit run FILE.py "prompt"``, ``agentkit chat``, ``agentkit tools MODULE`` and
``agentkit batch FILE.py INPUTS.jsonl --out OUT.jsonl``; ``agentkit COMMAND --help`` for the
options. It needs the ``cli`` extra (click and rich): ``pip install 'agentkit-loop[cli]'``.
``import agentkit`` never imports this package.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]

INSTALL_HINT = "agentkit: the command line needs click and rich: pip install 'agentkit-loop[cli]'"


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``agentkit`` command line (the console script's entry point).

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).
    """
    try:
        import click  # noqa: F401
        import rich  # noqa: F401
    except ImportError:
        print(INSTALL_HINT, file=sys.stderr)
        raise SystemExit(2) from None
    from ._app import cli

    cli.main(args=list(argv) if argv is not None else None, prog_name="agentkit")
