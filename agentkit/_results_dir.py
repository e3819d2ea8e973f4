"""A results directory: one batch's results in sharded JSONL files, plus a manifest.

``part-00000.jsonl``, ``part-00001.jsonl``...: one file per worker, written by the driver as the
worker's results arrive (each line as in ``run_many(results="file.jsonl")``, flushed as it is
written). ``manifest.json``: what the batch is and how far it got, rewritten atomically now and
then and at the end. The shards are the truth: a restarted batch reads every ``part-*.jsonl``
(a torn last line moved aside first) and skips the inputs that succeeded there.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, TextIO

from .batch import BatchItem, _already_done
from .content import Prompt
from .errors import UserError

__all__ = ["ResultsDir"]

FORMAT = "agentkit.run_many/1"


class ResultsDir:
    """The results directory of a batch run by an executor (made when missing)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise UserError(
                f"run_many(executor=..., results={str(path)!r}): results is a directory of sharded files with an executor, "
                "and this is a file."
            )
        self.path.mkdir(parents=True, exist_ok=True)
        self._files: dict[int, TextIO] = {}
        self.started = time.time()

    def shard(self, index: int) -> Path:
        return self.path / f"part-{index:05d}.jsonl"

    def shards(self) -> list[Path]:
        return sorted(self.path.glob("part-*.jsonl"))

    def done(self, items: list[tuple[str, Prompt]]) -> dict[str, BatchItem]:
        """The inputs whose success is in a shard already (each shard repaired first when its last line is torn)."""
        outcome: dict[str, BatchItem] = {}
        for shard in self.shards():
            outcome.update(_already_done(shard, items))
        return outcome

    def write(self, index: int, lines: list[str]) -> None:
        """Append lines (each with its newline) to worker ``index``'s shard, and hand them to the OS."""
        out = self._files.get(index)
        if out is None:
            out = self._files[index] = self.shard(index).open("a", encoding="utf-8")
        out.write("".join(lines))
        out.flush()

    def manifest(self, **fields: Any) -> None:
        """Rewrite ``manifest.json`` (atomically: a reader sees the old one or the new one)."""
        body = {"format": FORMAT, **fields, "shards": [p.name for p in self.shards()]}
        body["started_at"] = self.started
        body["updated_at"] = time.time()
        temporary = self.path / f".manifest.{os.getpid()}.tmp"
        temporary.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, self.path / "manifest.json")

    def close(self) -> None:
        for out in self._files.values():
            out.close()
        self._files.clear()
