"""VectorIndex: cosine / dot / Hamming search, metadata, one-file save and load (never pickle)."""

from __future__ import annotations

import io
import itertools
import zipfile

import numpy as np
import pytest

from agentkit.embeddings import VectorIndex, hamming_distances, pack_bits, unpack_bits
from agentkit.embeddings import index as index_module
from agentkit.errors import UserError

RNG = np.random.default_rng(7)


def random_unit(n, dim=32):
    v = RNG.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_cosine_search_ranks_by_angle_and_keeps_metadata():
    vectors = random_unit(100)
    index = VectorIndex()
    positions = index.add(vectors * RNG.uniform(0.5, 3, (100, 1)), [{"id": i} for i in range(100)])  # lengths do not matter
    assert positions == range(0, 100) and len(index) == 100 and index.width == 32
    query = vectors[42] + 0.01 * random_unit(1)[0]
    hits = index.search(query, k=5)
    assert hits[0].position == 42 and hits[0].metadata == {"id": 42} and hits[0].score > 0.99
    expected = np.argsort(-(vectors @ (query / np.linalg.norm(query))))[:5]
    assert [h.position for h in hits] == expected.tolist()
    assert all(a.score >= b.score for a, b in itertools.pairwise(hits))


def test_dot_search_uses_lengths():
    index = VectorIndex("dot")
    index.add(np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 1.0]]))
    assert [h.position for h in index.search(np.array([1.0, 0.1]), k=3)] == [1, 0, 2]
    assert index.search(np.array([[1.0, 0.1]]), k=1)[0].score == pytest.approx(3.0)


def test_k_larger_than_the_index_and_ties():
    index = VectorIndex("dot")
    index.add(np.ones((3, 4)), [{"n": n} for n in range(3)])
    assert [h.position for h in index.search(np.ones(4), k=10)] == [0, 1, 2]
    assert VectorIndex().search(np.ones(4), k=3) == []


def test_hamming_search_over_packed_bits():
    floats = RNG.standard_normal((200, 256))
    packed = pack_bits(floats)
    assert packed.shape == (200, 32) and packed.dtype == np.uint8
    np.testing.assert_array_equal(unpack_bits(packed), np.where(floats > 0, 1, -1))
    index = VectorIndex("hamming")
    index.add(packed, [{"row": i} for i in range(200)])
    query = packed[17].copy()
    query[:2] ^= 0b1000_0001  # 4 bits flipped
    hits = index.search(query, k=3)
    assert hits[0].position == 17 and hits[0].score == pytest.approx(1 - 4 / 256)
    distances = hamming_distances(packed, query)
    expected = np.unpackbits(packed ^ query, axis=1).sum(axis=1)
    np.testing.assert_array_equal(distances, expected)
    assert [h.position for h in hits] == np.lexsort((np.arange(200), expected))[:3].tolist()


def test_hamming_without_numpy_bitwise_count(monkeypatch):
    packed = pack_bits(RNG.standard_normal((50, 64)))
    expected = hamming_distances(packed, packed[0])
    monkeypatch.delattr(np, "bitwise_count", raising=False)
    index_module._popcount.cache_clear()
    np.testing.assert_array_equal(hamming_distances(packed, packed[0]), expected)


@pytest.mark.parametrize("metric", ["cosine", "dot", "hamming"])
def test_save_and_load_round_trip(tmp_path, metric):
    if metric == "hamming":
        vectors = pack_bits(RNG.standard_normal((20, 64)))
    else:
        vectors = random_unit(20) * 2
    index = VectorIndex(metric)
    index.add(vectors[:10], [{"text": f"passage {i}", "tags": ["a", "é"], "n": i} for i in range(10)])
    index.add(vectors[10:], [{"text": f"passage {i}"} for i in range(10, 20)])
    path = index.save(tmp_path / "sub" / "index.npz")
    assert path.is_file() and [p.name for p in path.parent.iterdir()] == ["index.npz"]  # no temporary left
    loaded = VectorIndex.load(path)
    assert loaded.metric == metric and len(loaded) == 20 and loaded.metadata == index.metadata
    np.testing.assert_array_equal(loaded.vectors, index.vectors)
    query = vectors[3]
    assert loaded.search(query, k=4) == index.search(query, k=4)


def test_an_empty_index_round_trips(tmp_path):
    loaded = VectorIndex.load(VectorIndex("dot").save(tmp_path / "empty.npz"))
    assert len(loaded) == 0 and loaded.metric == "dot"


def test_the_file_holds_no_pickle(tmp_path):
    index = VectorIndex()
    index.add(random_unit(3), [{"a": 1}, {"b": [1, 2]}, {"c": None}])
    path = index.save(tmp_path / "i.npz")
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ["meta.npy", "vectors.npy"]
        for name in z.namelist():
            assert np.load(io.BytesIO(z.read(name)), allow_pickle=False) is not None  # would raise on object arrays


def test_loading_other_files_is_refused(tmp_path):
    bad = tmp_path / "objects.npz"
    np.savez(bad, vectors=np.array([{"x": 1}], dtype=object), meta=np.zeros(3, np.uint8))
    with pytest.raises(UserError, match="not a saved VectorIndex"):
        VectorIndex.load(bad)
    other = tmp_path / "other.npz"
    np.savez(other, vectors=np.zeros((1, 2)), meta=np.frombuffer(b'{"format": "x"}', np.uint8))
    with pytest.raises(UserError, match="not a saved VectorIndex"):
        VectorIndex.load(other)
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(UserError):
        VectorIndex.load(tmp_path / "text.npz")
    with pytest.raises(UserError):
        VectorIndex.load(tmp_path / "missing.npz")


@pytest.mark.parametrize(
    "metric, vectors, metadata, message",
    [
        ("cosine", np.zeros((0, 4)), None, "non-empty"),
        ("cosine", np.array([["a", "b"]]), None, "numeric"),
        ("cosine", np.array([[np.nan, 1.0]]), None, "NaN"),
        ("hamming", np.ones((2, 4), np.float32), None, "uint8"),
        ("cosine", np.ones((2, 4)), [{}], "2 vectors but 1 metadata"),
        ("cosine", np.ones((1, 4)), [{"x": object()}], "JSON-serialisable"),
    ],
)
def test_bad_additions(metric, vectors, metadata, message):
    with pytest.raises(UserError, match=message):
        VectorIndex(metric).add(vectors, metadata)


def test_width_and_query_checks():
    index = VectorIndex()
    index.add(np.ones((2, 4)))
    with pytest.raises(UserError, match="width 3"):
        index.add(np.ones((1, 3)))
    with pytest.raises(UserError, match="one vector of width 4"):
        index.search(np.ones(3))
    with pytest.raises(UserError, match="k must be a positive integer"):
        index.search(np.ones(4), k=0)
    with pytest.raises(UserError, match="metric"):
        VectorIndex("euclid")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="read-only"):
        index.vectors[0, 0] = 5
