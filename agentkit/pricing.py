"""What a model costs: prices per million tokens, and the cost of a :class:`~agentkit.usage.Usage`.

A run's ``usage.cost`` (USD) is what the provider reports when it reports one (OpenRouter sends
``usage.cost`` in every answer), otherwise the tokens times the model's price. A price comes from,
first to last:

1. :func:`set_price` — yours, for any model id;
2. the built-in table of :data:`BUILTIN_PRICES`;
3. OpenRouter's ``/models`` list, for an OpenRouter model (a ``vendor/name`` id) when
   ``OPENROUTER_API_KEY`` is set: fetched the first time such a price is needed (never on
   import), then cached on disk (``$AGENTKIT_CACHE_DIR`` or the user cache directory) and used
   for :data:`CACHE_SECONDS` without asking again.

A model with no price has ``cost`` None (unknown, not free).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._tokens import TokenCounter
from .errors import UserError
from .messages import Message
from .tools import ToolDefinition
from .usage import Usage

__all__ = [
    "Price",
    "BUILTIN_PRICES",
    "CACHE_SECONDS",
    "set_price",
    "price_of",
    "cost_of",
    "price_for",
    "next_request_cost",
    "openrouter_prices",
]

CACHE_SECONDS = 24 * 3600.0
"""How long a fetched ``/models`` price list is used before it is fetched again."""

OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"
"""Where ``/models`` is fetched from by default (``$OPENROUTER_BASE_URL`` overrides it)."""


@dataclass(frozen=True)
class Price:
    """USD per million tokens: ``input`` (prompt) and ``output`` (completion)."""

    input: float
    output: float = 0.0

    def cost(self, usage: Usage) -> float:
        """What ``usage``'s tokens cost at this price."""
        return (usage.prompt_tokens * self.input + usage.completion_tokens * self.output) / 1e6


BUILTIN_PRICES: dict[str, Price] = {
    "mistral-large-2512": Price(0.50, 1.50),
    "mistral-nemo": Price(0.02, 0.03),
    "mistral-embed-2312": Price(0.10),
    "mistral-embed": Price(0.10),
}
"""The prices agentkit knows without asking (USD per million tokens, from the models' pages).
Keys are model ids without a ``vendor/`` prefix; ``open-mistral-nemo`` is Mistral's own id of
``mistral-nemo``."""

_ALIASES = {"open-mistral-nemo": "mistral-nemo", "mistral-nemo-2407": "mistral-nemo"}

_user: dict[str, Price] = {}
_lock = threading.Lock()
_fetched: dict[str, dict[str, Price]] = {}  # base url -> prices (what was loaded or fetched this process)
_failed: dict[str, float] = {}  # base url -> when a fetch failed (not tried again for a while)


def set_price(model: str, *, input: float, output: float = 0.0) -> None:
    """Set the price of ``model`` (USD per million input and output tokens), over any other.

    ``model`` is the id the model is built with (``"mistralai/mistral-nemo"``,
    ``"gpt-4o-mini"``...), or the string an agent is built from (``"openrouter:mistralai/mistral-nemo"``:
    then only that provider's model has this price). Costs computed from then on use it; a
    provider-reported cost still wins.
    """
    for label, value in (("input", input), ("output", output)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise UserError(f"set_price: {label} must be a non-negative number of USD per million tokens, not {value!r}.")
    _user[model] = Price(float(input), float(output))


def _key(model: str) -> str:
    name = model.rsplit("/", 1)[-1].lower()
    return _ALIASES.get(name, name)


def price_of(model: str, *, fetch: bool = True, base_url: str | None = None) -> Price | None:
    """The price of ``model`` (see the module docstring for where it comes from), or None.

    ``fetch=False`` never goes to the network (the disk cache is still read).
    """
    if model in _user:
        return _user[model]
    known = BUILTIN_PRICES.get(_key(model))
    if known is None and "/" in model and os.environ.get("OPENROUTER_API_KEY"):
        known = openrouter_prices(base_url=base_url, fetch=fetch).get(model)
    return known


def price_for(model: Any, *, fetch: bool = True) -> Price | None:
    """:func:`price_of` a :class:`~agentkit.models.Model` (an OpenRouter model's ``/models`` list is
    fetched from its own ``base_url``); wrappers with an ``inner`` model are looked through."""
    while getattr(model, "inner", None) is not None:
        model = model.inner
    name = getattr(model, "model_name", "")
    if not isinstance(name, str) or not name:
        return None
    provider = getattr(model, "provider", "")
    if isinstance(provider, str) and f"{provider}:{name}" in _user:  # set_price("openrouter:mistralai/...")
        return _user[f"{provider}:{name}"]
    base_url = getattr(model, "base_url", None) if provider == "openrouter" else None
    return price_of(name, fetch=fetch, base_url=base_url if isinstance(base_url, str) else None)


def cost_of(model: str, usage: Usage, *, fetch: bool = True) -> float | None:
    """``usage.cost`` when the provider reported it, else its tokens at ``model``'s price (None: no price)."""
    if usage.cost is not None:
        return usage.cost
    price = price_of(model, fetch=fetch)
    return price.cost(usage) if price is not None else None


TYPICAL_OUTPUT_TOKENS = 256
"""The output a request is assumed to produce, for :func:`next_request_cost`, when ``max_tokens``
is not set and the run has no answers yet to average."""


def next_request_cost(
    model: Any, messages: Sequence[Message], tools: Sequence[ToolDefinition], max_tokens: int | None, usage: Usage
) -> float:
    """The estimated cost of the next request (0.0 when the model has no price).

    Input: the request's tokens as the model's :class:`~agentkit.history.TokenCounter` estimates
    them (at least the mean prompt of ``usage`` so far), at the input price. Output: ``max_tokens``
    when set, else the mean answer of ``usage`` so far, else :data:`TYPICAL_OUTPUT_TOKENS`, at the
    output price.
    """
    price = price_for(model)
    if price is None:
        return 0.0
    inner = model
    while getattr(inner, "inner", None) is not None:
        inner = inner.inner
    counter = getattr(inner, "token_counter", None)
    if not isinstance(counter, TokenCounter):
        counter = TokenCounter()
    prompt = float(counter.estimate(messages, tools))
    if usage.requests:  # a run's prompts grow: its mean so far is a floor for an uncalibrated counter
        prompt = max(prompt, usage.prompt_tokens / usage.requests)
    if max_tokens:
        output = float(max_tokens)
    elif usage.requests and usage.completion_tokens:
        output = usage.completion_tokens / usage.requests
    else:
        output = float(TYPICAL_OUTPUT_TOKENS)
    return (prompt * price.input + output * price.output) / 1e6


# --- OpenRouter's /models --------------------------------------------------------------------


def cache_dir() -> Path:
    """Where agentkit caches files: ``$AGENTKIT_CACHE_DIR``, else the user cache directory."""
    configured = os.environ.get("AGENTKIT_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "agentkit"


def _cache_file(base_url: str) -> Path:
    digest = hashlib.sha256(base_url.encode()).hexdigest()[:12]
    name = "openrouter-prices.json" if base_url == OPENROUTER_BASE_URL else f"openrouter-prices-{digest}.json"
    return cache_dir() / name


def _parse_models(data: Any) -> dict[str, Price]:
    """``{data: [{id, pricing: {prompt, completion}}]}`` (USD per token, as text) → prices per million."""
    out: dict[str, Price] = {}
    for entry in data.get("data", []) if isinstance(data, dict) else []:
        try:
            pricing = entry["pricing"]
            prompt, completion = float(pricing["prompt"]), float(pricing.get("completion") or 0)
        except (KeyError, TypeError, ValueError):
            continue
        if prompt >= 0 and completion >= 0:  # OpenRouter's "-1" marks a router with no fixed price
            out[str(entry.get("id"))] = Price(round(prompt * 1e6, 9), round(completion * 1e6, 9))
    return out


def openrouter_prices(*, base_url: str | None = None, fetch: bool = True, max_age: float = CACHE_SECONDS) -> dict[str, Price]:
    """OpenRouter's prices by model id: from memory, the disk cache (when younger than ``max_age``),
    or ``GET {base_url}/models`` (only with ``fetch`` and an ``OPENROUTER_API_KEY``; a failed
    fetch is not retried for a minute). Empty when none of them has it.

    ``base_url`` defaults to ``$OPENROUTER_BASE_URL`` or OpenRouter's API root. The fetch is
    synchronous (at most 10 s, once per :data:`CACHE_SECONDS`): call this once at start-up to
    have it done before the first run needs a price.
    """
    url = (base_url or os.environ.get("OPENROUTER_BASE_URL") or OPENROUTER_BASE_URL).rstrip("/")
    with _lock:
        if url in _fetched:
            return _fetched[url]
        path = _cache_file(url)
        try:
            if time.time() - path.stat().st_mtime < max_age:
                table = _parse_models(json.loads(path.read_text(encoding="utf-8")))
                _fetched[url] = table
                return table
        except (OSError, ValueError):
            pass
        key = os.environ.get("OPENROUTER_API_KEY")
        if not fetch or not key or time.monotonic() - _failed.get(url, -1e9) < 60:
            return {}
        try:
            body = _get(url + "/models", key)
            table = _parse_models(json.loads(body))
        except (OSError, ValueError):
            _failed[url] = time.monotonic()
            return {}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body, encoding="utf-8")
        except OSError:
            pass
        _fetched[url] = table
        return table


def _get(url: str, key: str) -> str:
    """One GET (short timeouts: a price is not worth waiting for)."""
    import httpx

    try:
        response = httpx.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=10.0)
        response.raise_for_status()
    except httpx.HTTPError as e:
        raise OSError(f"fetching {url} failed: {type(e).__name__}") from None
    return response.text


def forget_fetched() -> None:
    """Forget what was fetched or loaded this process (the disk cache stays); for tests."""
    with _lock:
        _fetched.clear()
        _failed.clear()
