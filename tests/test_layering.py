"""Import layering below the agent: no cycles hidden by lazy imports, no upward imports.

Read from the source (``ast``), so an import inside a function or under ``TYPE_CHECKING`` counts
as much as one at the top of a module.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import agentkit
from agentkit import _exchange, testing
from agentkit.models import ModelRequest, ModelResponse, base
from agentkit.models import test as test_models

PACKAGE = Path(agentkit.__file__).parent


def imported(module: str) -> set[str]:
    """Every agentkit module ``module`` (dotted, e.g. ``agentkit.events``) imports anywhere in its source."""
    parts = module.split(".")
    path = PACKAGE.joinpath(*parts[1:])
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    is_package = path.name == "__init__.py"
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names if alias.name.startswith("agentkit"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = parts[: len(parts) - node.level + (1 if is_package else 0)]
                base_name = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base_name = node.module or ""
            if base_name.startswith("agentkit"):
                names.add(base_name)
                names.update(f"{base_name}.{alias.name}" for alias in node.names)
    return names


def test_events_and_the_model_interface_do_not_import_each_other():
    assert not any(name.startswith("agentkit.models") for name in imported("agentkit.events"))
    assert "agentkit.events" in imported("agentkit.models.base")
    below = imported("agentkit._exchange")
    assert not any(name.startswith(("agentkit.models", "agentkit.events", "agentkit.agent")) for name in below)


def test_model_request_and_response_live_below_both_and_keep_their_public_homes():
    assert ModelResponse is base.ModelResponse is _exchange.ModelResponse
    assert ModelRequest is base.ModelRequest is _exchange.ModelRequest
    assert ModelResponse.__module__ == "agentkit._exchange"


def test_the_model_registry_does_not_import_testing():
    for module in ("agentkit.models.registry", "agentkit.models.test", "agentkit.models.fallback"):
        assert not any(name.startswith("agentkit.testing") for name in imported(module)), module
    code = (
        "import sys; from agentkit.models import infer_model; m = infer_model('test'); "
        "print(type(m).__module__, 'agentkit.testing' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PACKAGE.parent)
    assert done.stdout.split() == ["agentkit.models.test", "False"]


def test_testing_reexports_the_test_models_unchanged():
    for name in ("TestModel", "ScriptedModel", "tool_call", "reply", "ScriptExhausted", "Scripted"):
        assert getattr(testing, name) is getattr(test_models, name), name
    assert testing.__all__ == test_models.__all__


def test_the_provider_registry_is_below_models_embeddings_and_cli():
    assert imported("agentkit._providers") <= {"agentkit.errors", "agentkit.errors.UserError"}
    for user in ("agentkit.models.registry", "agentkit.models.providers", "agentkit.embeddings.providers", "agentkit.cli._app"):
        assert any(name.startswith("agentkit._providers") for name in imported(user)), user


def test_embeddings_and_batch_use_the_shared_http_package():
    for module in ("agentkit.embeddings.client", "agentkit.batch", "agentkit.embeddings.providers"):
        names = imported(module)
        assert not any(name.startswith(("agentkit.models._", "agentkit.models.providers")) for name in names), module
    assert "agentkit._http.client" in imported("agentkit.embeddings.client")
    assert not any("RETRY_RATE_LIMITS" in name for name in imported("agentkit.batch"))
    assert "ContextVar" not in (PACKAGE / "_http" / "client.py").read_text(encoding="utf-8")
