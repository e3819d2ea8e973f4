"""Embedding tests: a loopback embeddings server that answers like OpenAI / Mistral / OpenRouter.

Every ``/embeddings`` body a test's servers receive is validated at teardown against the
provider's official request schema (``tests/support/specs.py``).
"""

from __future__ import annotations

import base64
import hashlib
import random
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from tests.support.server import LoopbackServer, Reply, Request
from tests.support.specs import assert_valid_request

KEY = "sk-embed-test-0123456789"


def fake_vector(text: str, dim: int = 16) -> np.ndarray:
    """A deterministic unit float32 vector for ``text``."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def bag_of_words(text: str, dim: int = 16) -> np.ndarray:
    """A unit vector of hashed lower-case words: texts sharing words are close (a stand-in for meaning)."""
    v = np.zeros(dim, np.float32)
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        v[int.from_bytes(hashlib.md5(word.encode()).digest()[:4], "little") % dim] += 1.0
    norm = np.linalg.norm(v)
    return v / norm if norm else v


def quantize(v: np.ndarray, dtype: str) -> np.ndarray:
    """``v`` as the provider sends ``dtype``: int8/uint8 scaled, binary offset by -128, ubinary packed."""
    if dtype == "int8":
        return np.clip(np.round(v * 127), -128, 127).astype(np.int8)
    if dtype == "uint8":
        return np.clip(np.round((v + 1) * 127.5), 0, 255).astype(np.uint8)
    if dtype == "binary":
        return (np.packbits(v > 0).astype(np.int16) - 128).astype(np.int8)
    if dtype == "ubinary":
        return np.packbits(v > 0)
    return v.astype("<f4")


class EmbeddingsAPI:
    """A handler answering ``/embeddings`` with :func:`fake_vector` rows, in the asked encoding and dtype.

    ``vectorize``: ``(text, dim) -> vector`` (default :func:`fake_vector`). ``shuffle``: send
    ``data`` out of order. ``encoding``: answer in this encoding whatever was
    asked. ``delay``: seconds per request (to observe concurrency). ``fail``: ``(request body) ->
    Reply | None`` to answer some requests with an error. Records the most requests in flight.
    """

    def __init__(
        self,
        dim: int = 16,
        *,
        shuffle: bool = False,
        encoding: str | None = None,
        delay: float = 0.0,
        fail: Callable[[dict[str, Any]], Reply | None] | None = None,
        model: str = "loopback-embed",
        vectorize: Callable[[str, int], np.ndarray] = fake_vector,
    ) -> None:
        self.dim, self.shuffle, self.encoding, self.delay, self.fail, self.model = dim, shuffle, encoding, delay, fail, model
        self.vectorize = vectorize
        self.in_flight = 0
        self.max_in_flight = 0
        self.batch_sizes: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Reply:
        body = request.json
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.batch_sizes.append(len(body["input"]) if isinstance(body["input"], list) else 1)
        try:
            if self.delay:
                threading.Event().wait(self.delay)
            if self.fail is not None and (reply := self.fail(body)) is not None:
                return reply
            return Reply(body=self.answer(body))
        finally:
            with self._lock:
                self.in_flight -= 1

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        dim = body.get("dimensions") or body.get("output_dimension") or self.dim
        dtype = body.get("output_dtype", "float")
        encoding = self.encoding or body.get("encoding_format", "float")
        data = []
        for i, text in enumerate(texts):
            row = quantize(self.vectorize(text, dim), dtype)
            embedding: Any = base64.b64encode(row.tobytes()).decode() if encoding == "base64" else row.tolist()
            data.append({"object": "embedding", "index": i, "embedding": embedding})
        if self.shuffle:
            random.Random(len(texts)).shuffle(data)
        tokens = sum(len(t.split()) for t in texts)
        return {"object": "list", "data": data, "model": self.model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


@pytest.fixture
def embeddings_server(loopback: Callable[..., LoopbackServer]) -> Iterator[Callable[..., LoopbackServer]]:
    """``server = embeddings_server(handler, provider="openai")``; bodies are checked against the provider's schema."""
    started: list[tuple[LoopbackServer, str]] = []

    def start(script: Any, provider: str = "openai") -> LoopbackServer:
        server = loopback(script, spec=None)
        started.append((server, provider))
        return server

    yield start
    for server, provider in started:
        for body in server.bodies("/embeddings"):
            if body is not None:
                assert_valid_request(body, provider, "embeddings")
