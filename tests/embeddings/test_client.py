"""Embedder over real sockets: recorded OpenAI traffic, every dtype and encoding, request fields per provider."""

from __future__ import annotations

import base64
import json
import warnings

import numpy as np
import pytest

from agentkit.embeddings import DTYPES, Embedder, unpack_bits
from agentkit.errors import MissingAPIKeyError, NotFoundError, ResponseParseError, UserError
from tests.embeddings.conftest import KEY, EmbeddingsAPI, fake_vector, quantize
from tests.support.replay import recorded_requests, replies
from tests.support.server import Reply

TEXTS = ["text one", "text two", "a third text", "and a fourth", "five"]


def openai(server, **kw):
    return Embedder("openai:text-embedding-3-small", api_key=KEY, base_url=server.url + "/v1", **kw)


def mistral(server, **kw):
    return Embedder("mistral:mistral-embed", api_key=KEY, base_url=server.url + "/v1", **kw)


# -- recorded OpenAI traffic -------------------------------------------------------------------


async def test_replay_openai_base64_query(embeddings_server):
    """TestOpenAI_test_query.json: the same request body, and 1536 unit-length float32 values back."""
    server = embeddings_server(replies("TestOpenAI_test_query.json"), "openai")
    async with openai(server) as emb:
        result = await emb.embed(["Hello, world!"])
    assert server.bodies("/embeddings") == recorded_requests("TestOpenAI_test_query.json")
    assert result.vectors.shape == (1, 1536) and result.vectors.dtype == np.float32
    assert abs(float(np.linalg.norm(result.vectors[0])) - 1.0) < 1e-3
    assert result.model_name.startswith("text-embedding-3-small")
    assert result.usage.prompt_tokens == result.usage.total_tokens > 0 and result.usage.requests == 1


async def test_replay_openai_unknown_model_is_not_found(embeddings_server):
    """TestOpenAI_test_embed_error.json: 404 → NotFoundError with OpenAI's own message, not retried."""
    server = embeddings_server(replies("TestOpenAI_test_embed_error.json"), "openai")
    emb = Embedder("openai:nonexistent", api_key=KEY, base_url=server.url + "/v1")
    with pytest.raises(NotFoundError) as caught:
        await emb.embed("Hello, world!")
    error = caught.value
    assert "The model `nonexistent` does not exist or you do not have access to it." in str(error)
    assert error.status == 404 and error.code == "model_not_found" and error.provider == "openai"
    assert error.inputs == range(0, 1)
    assert len(server.requests) == 1
    assert server.bodies("/embeddings") == recorded_requests("TestOpenAI_test_embed_error.json")
    await emb.aclose()


# -- dtypes and encodings --------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["float", "base64"])
@pytest.mark.parametrize("dtype", DTYPES)
async def test_every_dtype_and_encoding_shuffled(embeddings_server, dtype, encoding):
    api = EmbeddingsAPI(dim=64, shuffle=True)
    server = embeddings_server(api, "mistral")
    emb = mistral(server, output_dimension=64, output_dtype=dtype, encoding_format=encoding)
    result = await emb.embed(TEXTS)
    body = server.bodies("/embeddings")[0]
    assert body == {
        "model": "mistral-embed",
        "input": TEXTS,
        "encoding_format": encoding,
        "output_dimension": 64,
        **({"output_dtype": dtype} if dtype != "float" else {}),
    }
    expected = np.stack([quantize(fake_vector(t, 64), dtype) for t in TEXTS])
    if dtype == "binary":  # offset binary on the wire, packed bits in the result
        expected = (expected.astype(np.int16) + 128).astype(np.uint8)
    assert result.dtype == dtype and len(result) == len(TEXTS)
    assert result.vectors.dtype == {"float": np.float32, "int8": np.int8}.get(dtype, np.uint8)
    np.testing.assert_array_equal(result.vectors, expected)
    assert result.dim == 64
    if dtype in ("binary", "ubinary"):
        assert result.vectors.shape == (len(TEXTS), 8)
        signs = unpack_bits(result.vectors)
        np.testing.assert_array_equal(signs, np.where(np.stack([fake_vector(t, 64) for t in TEXTS]) > 0, 1, -1))
        np.testing.assert_array_equal(unpack_bits(result.vectors, signed=False), (signs > 0).astype(np.uint8))


@pytest.mark.parametrize("asked, answered", [("base64", "float"), ("float", "base64"), (None, "base64")])
async def test_either_encoding_is_accepted_whatever_was_asked(embeddings_server, asked, answered):
    server = embeddings_server(EmbeddingsAPI(encoding=answered), "mistral")
    result = await mistral(server, encoding_format=asked).embed(TEXTS)
    np.testing.assert_allclose(result.vectors, np.stack([fake_vector(t) for t in TEXTS]), rtol=1e-6)


async def test_mixed_rows_and_missing_index_are_decoded_in_order(embeddings_server):
    vectors = [fake_vector(t) for t in TEXTS[:3]]
    data = [
        {"embedding": vectors[0].tolist()},  # no index: its position
        {"embedding": base64.b64encode(vectors[1].astype("<f4").tobytes()).decode()},
        {"embedding": vectors[2].tolist()},
    ]
    server = embeddings_server([Reply(body={"data": data, "model": "m"})], "openrouter")
    emb = Embedder("openrouter:mistralai/mistral-embed-2312", api_key=KEY, base_url=server.url + "/v1")
    result = await emb.embed(TEXTS[:3])
    np.testing.assert_allclose(result.vectors, np.stack(vectors), rtol=1e-6)
    assert server.bodies("/embeddings")[0] == {"model": "mistralai/mistral-embed-2312", "input": TEXTS[:3]}


@pytest.mark.parametrize(
    "data, why",
    [
        ([{"index": 0, "embedding": [0.1, 0.2]}], "expected 2 embeddings, got 1"),
        ([{"index": 0, "embedding": [0.1, 0.2]}, {"index": 0, "embedding": [0.3, 0.4]}], "indexes"),
        ([{"index": 0, "embedding": [0.1, 0.2]}, {"index": 1, "embedding": [0.3]}], "one length"),
        ([{"index": 0, "embedding": "not base64!"}, {"index": 1, "embedding": "AAAA"}], "base64"),
        ([{"index": 0, "embedding": [0.1, "x"]}, {"index": 1, "embedding": [0.3, 0.4]}], "numbers"),
        ("nope", "not a list"),
    ],
)
async def test_malformed_answers_raise_parse_errors(embeddings_server, data, why):
    server = embeddings_server([Reply(body={"data": data, "model": "m"})], "openai")
    with pytest.raises(ResponseParseError, match=why) as caught:
        await openai(server).embed(["a", "b"])
    assert caught.value.inputs == range(0, 2)


async def test_int_values_out_of_range_are_refused(embeddings_server):
    server = embeddings_server([Reply(body={"data": [{"index": 0, "embedding": [300, 1]}]})], "mistral")
    with pytest.raises(ResponseParseError, match=r"int8 embedding values must lie in \[-128, 127\]"):
        await mistral(server, output_dtype="int8").embed("x")


# -- request fields per provider ---------------------------------------------------------------


async def test_fields_per_provider(embeddings_server):
    api = EmbeddingsAPI()
    server_o = embeddings_server(api, "openai")
    server_r = embeddings_server(api, "openrouter")
    server_m = embeddings_server(api, "mistral")
    await openai(server_o, dimensions=16).embed("hi")
    await Embedder(
        "openrouter:openai/text-embedding-3-small",
        api_key=KEY,
        base_url=server_r.url,
        output_dimension=16,
        encoding_format="float",
        app_name="agentkit-tests",
    ).embed("hi")
    await mistral(server_m).embed("hi")
    await mistral(server_m, output_dtype="int8").embed("hi")
    assert server_o.bodies() == [
        {"model": "text-embedding-3-small", "input": ["hi"], "encoding_format": "base64", "dimensions": 16}
    ]
    assert server_r.bodies() == [
        {"model": "openai/text-embedding-3-small", "input": ["hi"], "encoding_format": "float", "dimensions": 16}
    ]
    assert server_r.requests[0].headers["x-title"] == "agentkit-tests"
    assert server_m.bodies() == [
        {"model": "mistral-embed", "input": ["hi"], "encoding_format": "base64"},
        {"model": "mistral-embed", "input": ["hi"], "output_dtype": "int8"},  # base64 by default for floats only
    ]
    for server in (server_o, server_r, server_m):
        assert server.requests[0].path.endswith("/embeddings")
        assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_dtype_is_a_mistral_option():
    with pytest.raises(UserError, match="output_dtype='int8' is a Mistral option; OpenAI"):
        Embedder("openai:text-embedding-3-small", api_key=KEY, output_dtype="int8")
    with pytest.raises(UserError, match="OpenRouter returns float embeddings only"):
        Embedder("openrouter:mistralai/mistral-embed-2312", api_key=KEY, output_dtype="binary")


@pytest.mark.parametrize(
    "model, env_var",
    [
        ("openai:text-embedding-3-small", "OPENAI_API_KEY"),
        ("openrouter:mistralai/mistral-embed-2312", "OPENROUTER_API_KEY"),
        ("mistral:mistral-embed", "MISTRAL_API_KEY"),
    ],
)
async def test_missing_key_names_the_variable_at_the_first_request(model, env_var, monkeypatch, embeddings_server):
    server = embeddings_server(EmbeddingsAPI(), model.split(":")[0])
    monkeypatch.delenv(env_var, raising=False)
    emb = Embedder(model, base_url=server.url)  # built without a key: it is checked at the first request
    with pytest.raises(MissingAPIKeyError, match=env_var) as caught:
        await emb.embed("hi")
    assert caught.value.env_var == env_var
    assert server.requests == []  # refused before anything was sent
    monkeypatch.setenv(env_var, KEY)  # set later: read at the next request
    await emb.embed("hi")
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in repr(emb)
    await emb.aclose()


async def test_key_and_base_url_from_the_environment(embeddings_server, monkeypatch):
    server = embeddings_server(EmbeddingsAPI(), "mistral")
    monkeypatch.setenv("MISTRAL_API_KEY", KEY)
    monkeypatch.setenv("MISTRAL_BASE_URL", server.url + "/v1")
    await Embedder("mistral:mistral-embed").embed("hi")
    assert server.requests[0].path == "/v1/embeddings"
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"


async def test_the_key_never_shows(embeddings_server):
    echo = Reply(401, {"error": {"message": f"Incorrect API key provided: {KEY}", "type": "invalid_request_error"}})
    server = embeddings_server([echo], "openai")
    emb = openai(server, output_dimension=8)
    assert KEY not in repr(emb) and KEY not in str(emb)
    with pytest.raises(Exception) as caught:
        await emb.embed("hi")
    assert KEY not in str(caught.value) and KEY not in repr(caught.value) and KEY not in json.dumps(caught.value.body)
    assert "***" in str(caught.value)


# -- input errors, before any request ------------------------------------------------------------


@pytest.mark.parametrize(
    "texts, message",
    [
        ([], "Nothing to embed"),
        ((t for t in ()), "Nothing to embed"),
        ("", "empty or blank strings: at index 0"),
        (["ok", "  \n", "fine", ""], r"at indexes 1, 3 \(2 of 4\)"),
        (["ok", 3, None], r"\[1\] is int, \[2\] is NoneType"),
        (b"bytes", "not bytes"),
        (None, "not NoneType"),
        (42, "not int"),
        ({"a": 1}, "not dict"),
    ],
)
async def test_input_errors_before_any_request(embeddings_server, texts, message):
    server = embeddings_server(EmbeddingsAPI(), "openai")
    with pytest.raises(UserError, match=message):
        await openai(server).embed(texts)
    assert server.requests == []


def test_embed_sync_and_a_single_string(embeddings_server):
    server = embeddings_server(EmbeddingsAPI(), "openai")
    result = openai(server).embed_sync("just one")
    assert result.vectors.shape == (1, 16)
    np.testing.assert_allclose(result.vectors[0], fake_vector("just one"), rtol=1e-6)
    assert "float32[1x16]" in repr(result)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"output_dimension": 0}, "output_dimension must be a positive integer"),
        ({"output_dimension": True}, "output_dimension must be a positive integer"),
        ({"output_dimension": 8, "dimensions": 16}, "disagree"),
        ({"output_dtype": "float16"}, "output_dtype must be one of"),
        ({"encoding_format": "hex"}, "encoding_format must be one of"),
        ({"concurrency": 0}, "concurrency must be a positive integer"),
        ({"concurrency": 2, "max_concurrency": 3}, "disagree"),
        ({"batch_size": -1}, "batch_size must be a positive integer"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"max_batch_tokens": 0}, "max_batch_tokens must be a positive integer"),
    ],
)
def test_option_errors(kwargs, message):
    with pytest.raises(UserError, match=message), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # max_concurrency (see test_consistent_names)
        Embedder("mistral:mistral-embed", api_key=KEY, **kwargs)


@pytest.mark.parametrize("model", ["", "gpt", "cohere:embed-v3", "openai:", "   "])
def test_unknown_models(model):
    with pytest.raises(UserError):
        Embedder(model, api_key=KEY)


async def test_kind_must_be_query_or_passage(embeddings_server):
    server = embeddings_server(EmbeddingsAPI(), "openai")
    with pytest.raises(UserError, match="kind must be 'query' or 'passage'"):
        await openai(server).embed("hi", kind="document")  # type: ignore[arg-type]


# -- one consistent API: the same words as agents and run_many -----------------------------------


async def test_consistent_names(embeddings_server):
    server = embeddings_server(EmbeddingsAPI())
    emb = Embedder("openai:text-embedding-3-small", api_key=KEY, base_url=server.url, concurrency=3)
    assert emb.concurrency == 3
    with pytest.warns(DeprecationWarning, match="max_concurrency"):
        assert emb.max_concurrency == 3
    with pytest.warns(DeprecationWarning, match="use concurrency"):
        old = Embedder("openai:m", api_key=KEY, base_url=server.url, max_concurrency=2)
    assert old.concurrency == 2
    result = await emb.embed(["a", "b"])
    assert result.model_name == "loopback-embed" and "model_name='loopback-embed'" in repr(result)
    with pytest.warns(DeprecationWarning, match="model_name"):
        assert result.model == "loopback-embed"
    await emb.aclose()
    await old.aclose()


def test_close_sync_closes_what_embed_sync_opened(embeddings_server):
    server = embeddings_server(EmbeddingsAPI())
    emb = Embedder("openai:text-embedding-3-small", api_key=KEY, base_url=server.url)
    assert len(emb.embed_sync(["a", "b"])) == 2
    assert emb._http is not None and emb._http._senders  # a connection pool on run_sync's loop
    emb.close_sync()
    assert not emb._http._senders
    emb.close_sync()  # twice is fine
    Embedder("openai:m", api_key=KEY).close_sync()  # never used: nothing to close


def test_sync_twins_have_real_signatures():
    import inspect

    for name in ("embed_sync", "close_sync"):
        params = inspect.signature(getattr(Embedder, name)).parameters.values()
        assert not any(p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) for p in params), name
    assert list(inspect.signature(Embedder.embed_sync).parameters) == list(inspect.signature(Embedder.embed).parameters)


def test_embeddings_answers_may_be_larger_than_chat_answers() -> None:
    """2,048 float vectors of 3,072 dimensions are ~120 MB of JSON: over the chat default of 64 MiB."""
    big = Embedder("openai:text-embedding-3-large", api_key="sk-test")
    assert big._http.limits.max_response_bytes == 512 * 1024 * 1024
    small = Embedder("openai:text-embedding-3-large", api_key="sk-test", max_response_bytes=1000)
    assert small._http.limits.max_response_bytes == 1000
