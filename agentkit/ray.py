"""One batch across a Ray cluster: ``agent.run_many(inputs, executor=RayExecutor(...), results="out/")``.

* **Sharded across workers.** :class:`RayExecutor` starts ``workers`` Ray actors (spread over the
  nodes); the driver hands each one chunks of inputs, and each runs ``concurrency_per_worker``
  runs at once on its own event loop. A worker that dies (its process or its node) is replaced
  and the inputs it had not finished go back in the queue.
* **The agent on every worker** is built by an importable factory
  (``RayExecutor(factory="myproject.agents:make_agent")``) or, without one, is the driver's agent
  pickled (cloudpickle); an error says which way failed and why when neither works.
* **One rate limit for the cluster.** :class:`RayRateLimiter`: the requests-per-minute and
  tokens-per-minute budget is held by one Ray actor; every request of every worker waits for its
  slot there, and a 429's ``Retry-After`` pauses every worker at once and halves the rate (once
  per burst). A 429 storm slows the cluster down; it does not fail runs.
* **Results stream back** to the driver as they complete, into ``results``: a directory of
  sharded JSONL files (``part-00000.jsonl``, one per worker) plus ``manifest.json``. Started again
  with the same directory (after a worker, or the driver, was killed) a batch skips the inputs
  that succeeded there: nothing recorded is run again, and each input is recorded once. Inputs in
  flight when the driver died run again (their results never arrived).
* **A progress bar** on the driver for the whole cluster (done, failed, 429s absorbed).

Needs ``pip install 'agentkit-loop[ray]'``; ``import agentkit`` does not import Ray.
"""

from __future__ import annotations

try:
    import ray as _ray  # noqa: F401
except ImportError as _e:  # pragma: no cover - exercised without the extra
    raise ImportError(f"agentkit.ray needs Ray: install it with  pip install 'agentkit-loop[ray]'  ({_e}).") from _e

from ._ray_executor import RayExecutor
from ._ray_limiter import RayRateLimiter

__all__ = ["RayExecutor", "RayRateLimiter"]
