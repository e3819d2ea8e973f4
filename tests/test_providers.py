"""The one provider registry (agentkit._providers): chat models, embeddings and the CLI read it."""

from __future__ import annotations

import dataclasses

import pytest

from agentkit import _providers
from agentkit.cli import _app
from agentkit.embeddings import Embedder
from agentkit.embeddings.providers import batch_limits, embedding_providers
from agentkit.errors import MissingAPIKeyError, UserError
from agentkit.models import OpenAI, infer_model, known_providers, register_provider
from agentkit.models.providers import OpenRouter
from agentkit.testing import ScriptedModel
from tests.embeddings.conftest import KEY, EmbeddingsAPI


@pytest.fixture
def registry(monkeypatch):
    """The registry, restored after the test."""
    monkeypatch.setattr(_providers, "_REGISTRY", dict(_providers._REGISTRY))
    return _providers


def test_the_three_lists_are_one():
    names = [p.name for p in _providers.providers()]
    assert names[:3] == ["openai", "openrouter", "mistral"]
    assert known_providers() == sorted(p.name for p in _providers.providers() if p.chat is not None)
    assert [p.name for p in embedding_providers()] == ["openai", "openrouter", "mistral"]
    cli_choices = _app.PROVIDERS  # agentkit tools --provider
    assert cli_choices == tuple(p.name for p in _providers.providers() if p.chat_completions)
    assert cli_choices == ("openai", "openrouter", "mistral", "openai-compatible")


def test_endpoint_facts(monkeypatch):
    openai = _providers.endpoint("openai")
    assert (openai.label, openai.key_env, openai.base_url_env) == ("OpenAI", "OPENAI_API_KEY", "OPENAI_BASE_URL")
    assert openai.base_url() == "https://api.openai.com/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    assert openai.base_url() == "http://127.0.0.1:9/v1" and openai.base_url("http://x/v1") == "http://x/v1"
    compatible = _providers.endpoint("openai-compatible")
    assert compatible.key_env is None and compatible.chat is None
    with pytest.raises(UserError, match="base_url"):
        compatible.base_url()
    assert _providers.endpoint("openai-responses").key_env == "OPENAI_API_KEY"


def test_model_classes_read_the_registry(registry, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    registry.register(dataclasses.replace(registry.endpoint("openai"), default_base_url="http://127.0.0.1:5/v1"))
    assert OpenAI("gpt-4o-mini").base_url == "http://127.0.0.1:5/v1"
    registry.register(dataclasses.replace(registry.endpoint("openrouter"), env="MY_ROUTER"))
    monkeypatch.setenv("MY_ROUTER_BASE_URL", "http://127.0.0.1:6/v1")
    assert OpenRouter("x/y").base_url == "http://127.0.0.1:6/v1"


async def test_a_registered_provider_serves_model_strings_and_embeddings(registry, loopback, monkeypatch):
    server = loopback(EmbeddingsAPI(), spec=None)
    scripted = ScriptedModel(["hello"])
    registry.register(
        _providers.Provider(
            "acme",
            "Acme",
            env="ACME",
            default_base_url=server.url,
            chat=lambda name: scripted,
            embeddings=_providers.EmbeddingsAPI("dimensions", False, None, max_inputs=3, max_tokens=1000),
        )
    )
    assert "acme" in known_providers() and infer_model("acme:anything") is scripted
    emb = Embedder("acme:vectors")
    assert batch_limits(emb.provider, "vectors").max_inputs == 3 and emb.limits.max_inputs == 3  # type: ignore[arg-type]
    with pytest.raises(MissingAPIKeyError, match="ACME_API_KEY") as info:
        await emb.embed(["a", "b"])
    assert info.value.provider == "Acme" and server.requests == []
    monkeypatch.setenv("ACME_API_KEY", KEY)
    result = await emb.embed(["a", "b", "c", "d"])
    assert len(result) == 4 and len(server.requests) == 2  # 3 inputs a request, the registered limit
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"
    await emb.aclose()


def test_register_provider_keeps_what_the_registry_knows(registry):
    model = ScriptedModel([])
    register_provider("mistral", lambda name: model)
    assert infer_model("mistral:x") is model
    mistral = registry.endpoint("mistral")
    assert mistral.embeddings is not None and mistral.key_env == "MISTRAL_API_KEY" and mistral.chat_completions
    register_provider("brand-new", lambda name: model)
    assert registry.endpoint("brand-new").label == "brand-new" and "brand-new" in known_providers()


def test_model_strings_the_registry_cannot_build(registry):
    with pytest.raises(UserError, match="base_url"):
        infer_model("openai-compatible:qwen")
    register_provider("broken", lambda name: "not a model")  # type: ignore[arg-type,return-value]
    with pytest.raises(UserError, match="returned str, not a Model"):
        infer_model("broken:x")
    with pytest.raises(UserError, match="Unknown embedding model"):
        Embedder("openai-responses:x")  # a provider without an embeddings endpoint
    with pytest.raises(UserError, match="name"):
        registry.register(_providers.Provider("a:b", "x"))
