"""Recorded real traffic (tests/data/recorded/*.json), served back from a loopback server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.server import Reply

RECORDED = Path(__file__).parent.parent / "data" / "recorded"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RECORDED / name).read_text())
    return data


def recorded_requests(name: str) -> list[dict[str, Any]]:
    return [i["request"]["body"] for i in load(name)["interactions"]]


def replies(name: str) -> list[Reply]:
    """The recording's responses, byte for byte, in order."""
    out = []
    for interaction in load(name)["interactions"]:
        response = interaction["response"]
        headers = {}
        if response.get("retry_after") is not None:
            headers["Retry-After"] = str(response["retry_after"])
        out.append(
            Reply(
                status=response["status"],
                body=response["body_text"],
                content_type=response.get("content_type") or "application/json",
                headers=headers,
            )
        )
    return out
