"""Pickling an :class:`~agentkit._http.client.HTTPClient` (an agent sent to a Ray worker): its
settings go, not the connections, which belong to the process that opened them (a caller's own
``http_client`` cannot go at all). Registered with :mod:`copyreg` by ``agentkit.ray``."""

from __future__ import annotations

import copyreg
import weakref
from typing import Any

from .client import HTTPClient
from .errors import register_secrets


def _reduce(client: HTTPClient) -> tuple[Any, ...]:
    if client._user_sender is not None:
        raise TypeError(f"a {client.provider} model given http_client= cannot be pickled: that client is this process's")
    return _rebuild, ({**client.__dict__, "_senders": None},)


def _rebuild(state: dict[str, Any]) -> HTTPClient:
    client = HTTPClient.__new__(HTTPClient)
    client.__dict__.update(state)
    client._senders = weakref.WeakKeyDictionary()  # connections: opened again in this process, on first use
    register_secrets(client._secret, client.headers)  # redacted from this process's errors too
    return client


def register() -> None:
    """Make every ``HTTPClient`` picklable this way (pickle and cloudpickle both follow :mod:`copyreg`)."""
    copyreg.pickle(HTTPClient, _reduce)
