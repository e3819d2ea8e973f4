"""HTTP shared by everything that talks to a provider: chat models, embeddings and batches.

Layering: this package imports only :mod:`agentkit.errors` (and httpx); nothing in it knows a
model, a tool or an agent. What sits on top: :class:`~agentkit.models._http_model.HTTPModel`
(chat models), :class:`~agentkit.embeddings.Embedder` and the batch runner.

* :mod:`.client` — :class:`~.client.HTTPClient` (one connection pool per event loop, retries,
  typed errors, the key redacted), :class:`~.client.ClientOptions` (the keyword options every
  HTTP model and embedder takes) and :func:`~.client.connect`.
* :mod:`.transport` — what sends the bytes: httpx's own transport, or aiohttp.
* :mod:`.sse` — reading one streamed (SSE) answer.
* :mod:`.errors` — provider error answers to :mod:`agentkit.errors` exceptions.

Import the submodules; this package itself imports nothing (so ``import agentkit.models`` stays cheap).
"""
