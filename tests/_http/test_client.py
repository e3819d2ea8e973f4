"""agentkit._http: the HTTP shared by models, embeddings and batches — its layering, the explicit
429 policy (``retry_rate_limits``) and the key read at the first request, over real sockets."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from agentkit._http.client import ClientOptions, HTTPClient, connect
from agentkit.errors import MissingAPIKeyError, ProviderUnavailableError, RateLimitError
from tests.support.server import Reply

ROOT = Path(__file__).parent.parent.parent
SLOW_DOWN = Reply(429, {"error": {"message": "slow down"}})
OK = Reply(body={"ok": True})
KEY_ENV = "AGENTKIT_TEST_HTTP_KEY"


@pytest.fixture
def no_waits(monkeypatch):
    monkeypatch.setattr(HTTPClient, "backoff", lambda self, attempt, retry_after: 0.0)


def client(server, options: ClientOptions | None = None, **kw) -> HTTPClient:
    return connect("m", server.url, kw.pop("api_key", "sk-key-0000"), "loopback", options or {}, **kw)


# --- layering -------------------------------------------------------------------------------


def test_http_imports_nothing_above_it():
    """Only agentkit.errors (and the package's own modules): never models, tools, events or the agent."""
    for path in sorted((ROOT / "agentkit" / "_http").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                above = node.level > 1 or (node.level == 0 and (node.module or "").startswith("agentkit"))
                assert not above or (node.level == 2 and node.module == "errors"), (path.name, node.level, node.module)


def test_nothing_imports_the_old_private_modules():
    for old in ("_http", "_transport", "_sse", "_errors"):
        assert not (ROOT / "agentkit" / "models" / f"{old}.py").exists()
    for path in (ROOT / "agentkit").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "models._http " not in text and "models._transport" not in text and "models._sse" not in text, path


# --- the 429 policy: an explicit option -------------------------------------------------------


async def test_a_429_is_retried_by_default(loopback, no_waits):
    server = loopback([SLOW_DOWN, OK], spec=None)
    http = client(server)
    assert http.retry_rate_limits is True
    assert await http.post_json("/x", {}) == {"ok": True}
    assert len(server.requests) == 2
    await http.aclose()


async def test_retry_rate_limits_false_raises_the_first_429_at_once(loopback, no_waits):
    server = loopback([Reply(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "7"}), OK], spec=None)
    http = client(server, {"retry_rate_limits": False, "max_retries": 5})
    with pytest.raises(RateLimitError) as info:
        await http.post_json("/x", {})
    assert info.value.retry_after == 7.0
    assert len(server.requests) == 1  # not retried
    await http.aclose()


async def test_retry_rate_limits_false_still_retries_other_statuses(loopback, no_waits):
    server = loopback([Reply(503, {"error": {"message": "busy"}}), OK], spec=None)
    http = client(server, {"retry_rate_limits": False})
    assert await http.post_json("/x", {}) == {"ok": True}
    assert len(server.requests) == 2
    server = loopback([Reply(503, {"error": {"message": "busy"}})] * 3, spec=None)
    with pytest.raises(ProviderUnavailableError):
        await client(server, {"retry_rate_limits": False}).post_json("/x", {})
    await http.aclose()


async def test_the_twin_shares_the_pool_once_clients_are_picklable(loopback):
    """agentkit.ray makes HTTP clients picklable (copyreg: their settings go, not their connections); the
    rate-limit twin must still share its original's pool (it was made with copy.copy, which copyreg's
    reducer served: after importing agentkit.ray every twin opened connections of its own)."""
    import pickle

    from agentkit._http import pickling

    pickling.register()  # what importing agentkit.ray does
    http = client(loopback([OK], spec=None))
    paced = http.with_retry_rate_limits(False)
    assert paced._senders is http._senders and paced.retry_rate_limits is False
    assert pickle.loads(pickle.dumps(http))._senders is not http._senders  # pickled: its own, empty
    await http.aclose()


async def test_with_retry_rate_limits_shares_the_connection_pool(loopback, no_waits):
    server = loopback([OK, SLOW_DOWN, SLOW_DOWN, OK], spec=None)
    http = client(server)
    paced = http.with_retry_rate_limits(False)
    assert http.with_retry_rate_limits(True) is http and paced.with_retry_rate_limits(False) is paced
    assert paced is not http and paced.retry_rate_limits is False and http.retry_rate_limits is True
    assert await paced.post_json("/x", {}) == {"ok": True}
    with pytest.raises(RateLimitError):
        await paced.post_json("/x", {})  # raised at once...
    assert await http.post_json("/x", {}) == {"ok": True}  # ...while the original still retries
    assert len(server.requests) == 4
    assert server.connections_used == 1  # one pool: both clients reused the same connection
    await paced.aclose()  # closing either closes the shared pool
    assert not http._senders


# --- the key: looked up at the first request --------------------------------------------------


async def test_a_key_from_the_environment_is_read_at_the_first_request(loopback, monkeypatch, caplog):
    monkeypatch.delenv(KEY_ENV, raising=False)
    secret = "sk-late-secret-1234"
    server = loopback([Reply(400, {"error": {"message": f"bad key {secret}"}})], spec=None)
    http = client(server, api_key=None, key_env=KEY_ENV, key_label="Loopback")
    with pytest.raises(MissingAPIKeyError, match=KEY_ENV) as info:
        await http.post_json("/x", {})
    assert info.value.provider == "Loopback" and info.value.env_var == KEY_ENV
    with pytest.raises(MissingAPIKeyError):
        async with http.stream("/x", {}):
            pass
    assert server.requests == []  # refused before sending anything
    monkeypatch.setenv(KEY_ENV, secret)
    with pytest.raises(Exception) as failed:
        await http.post_json("/x", {})
    assert server.requests[0].headers["authorization"] == f"Bearer {secret}"
    assert secret not in str(failed.value) and "***" in str(failed.value)  # the late key is redacted too
    assert secret not in repr(http)
    assert secret not in caplog.text
    await http.aclose()


async def test_a_given_key_is_not_looked_up(loopback, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    server = loopback([OK], spec=None)
    http = client(server, api_key="sk-given-0000", key_env=KEY_ENV)
    assert await http.post_json("/x", {}) == {"ok": True}
    assert server.requests[0].headers["authorization"] == "Bearer sk-given-0000"
    await http.aclose()
