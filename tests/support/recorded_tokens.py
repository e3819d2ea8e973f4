"""Recorded chat requests (tests/data/recorded) with the prompt_tokens the provider reported for them,
as agentkit messages and tool definitions: the data the token estimate is measured on.

``accuracy()`` computes the figures docs/context.md quotes (tests/test_history.py checks they match).
"""

from __future__ import annotations

import json
import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentkit.history import TokenCounter
from agentkit.messages import AssistantMessage, Message, SystemMessage, ToolCall, ToolMessage, UserMessage
from agentkit.tools import ToolDefinition

RECORDED = Path(__file__).parent.parent / "data" / "recorded"
_COUNT = re.compile(r'"(?:prompt_tokens|input_tokens)"\s*:\s*(\d+)')


@dataclass(frozen=True)
class Pair:
    """One recorded request and the prompt tokens its provider reported."""

    file: str
    turn: int
    model: str
    messages: tuple[Message, ...]
    tools: tuple[ToolDefinition, ...]
    output_schema: dict[str, Any] | None
    reported: int


def _content(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return "".join(p.get("text", "") for p in value if isinstance(p, dict)) or None


def _chat_messages(body: dict[str, Any]) -> list[Message]:
    out: list[Message] = []
    for m in body["messages"]:
        role = m["role"]
        if role == "system":
            out.append(SystemMessage(content=_content(m["content"]) or ""))
        elif role == "user":
            out.append(UserMessage(content=m["content"]))
        elif role == "assistant":
            calls = [
                ToolCall(id=c["id"], name=c["function"]["name"], arguments=c["function"]["arguments"])
                for c in m.get("tool_calls") or ()
            ]
            out.append(AssistantMessage(content=_content(m.get("content")), tool_calls=calls))
        else:
            out.append(ToolMessage(tool_call_id=m["tool_call_id"], content=m["content"]))
    return out


def _responses_messages(body: dict[str, Any]) -> list[Message]:
    out: list[Message] = []
    if body.get("instructions"):
        out.append(SystemMessage(content=body["instructions"]))
    for item in body["input"]:
        kind = item.get("type")
        if kind == "function_call":
            out.append(
                AssistantMessage(tool_calls=[ToolCall(id=item["call_id"], name=item["name"], arguments=item["arguments"])])
            )
        elif kind == "function_call_output":
            out.append(ToolMessage(tool_call_id=item["call_id"], content=item["output"]))
        elif item.get("role") == "assistant":
            out.append(AssistantMessage(content=_content(item["content"])))
        else:
            out.append(UserMessage(content=item["content"]))
    return out


def _tools(body: dict[str, Any]) -> tuple[ToolDefinition, ...]:
    tools = []
    for t in body.get("tools") or ():
        f = t.get("function", t)
        tools.append(ToolDefinition(f["name"], f.get("description") or "", f.get("parameters") or {}, f.get("strict")))
    return tuple(tools)


def _schema(body: dict[str, Any]) -> dict[str, Any] | None:
    fmt = body.get("response_format") or (body.get("text") or {}).get("format")
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return None
    inner = fmt.get("json_schema", fmt)
    schema = inner.get("schema")
    return schema if isinstance(schema, dict) else None


def pairs() -> list[Pair]:
    """Every recorded chat or Responses request whose answer reports its prompt tokens, in file order
    (real recordings only: the constructed ``multimodal_*`` fixtures' token counts are not measured)."""
    found = []
    for path in sorted(RECORDED.glob("*.json")):
        if "constructed" in json.loads(path.read_text())["source"]:
            continue
        for turn, interaction in enumerate(json.loads(path.read_text())["interactions"]):
            request, response = interaction["request"], interaction["response"]
            url, body = request["url"], request["body"]
            counts = _COUNT.findall(response["body_text"])
            if response["status"] != 200 or not counts or not url.endswith(("/chat/completions", "/responses")):
                continue
            messages = _chat_messages(body) if "messages" in body else _responses_messages(body)
            tools, schema = _tools(body), _schema(body)
            found.append(Pair(path.name, turn, body["model"], tuple(messages), tools, schema, int(counts[-1])))
    return found


def _error(estimate: float, reported: int) -> float:
    return abs(estimate - reported) / reported


def _figures(errors: list[float]) -> dict[str, float]:
    return {"n": len(errors), "median": round(100 * statistics.median(errors)), "worst": round(100 * max(errors))}


def accuracy() -> dict[str, dict[str, float]]:
    """Relative error of the estimate vs the reported prompt_tokens (median and worst, in %).

    * ``before``: every pair, uncalibrated.
    * ``in_run``: the later turns of a recorded run, with the counter calibrated on its earlier
      turns (what the history processors do during a run), and ``in_run_before`` the same turns
      uncalibrated.
    * ``same_model``: every pair of a model with other recorded requests, the counter calibrated
      on those others (a model's counter that has seen its earlier traffic), and
      ``same_model_before`` the same pairs uncalibrated.
    """
    data = pairs()
    before = [_error(TokenCounter().estimate(p.messages, p.tools, output_schema=p.output_schema), p.reported) for p in data]
    in_run, in_run_before = [], []
    for p in data:
        earlier = [q for q in data if q.file == p.file and q.turn < p.turn]
        if not earlier:
            continue
        counter = TokenCounter()
        for q in earlier:
            counter.record(q.messages, q.tools, q.reported, output_schema=q.output_schema)
        in_run.append(_error(counter.estimate(p.messages, p.tools, output_schema=p.output_schema), p.reported))
        in_run_before.append(_error(TokenCounter().estimate(p.messages, p.tools, output_schema=p.output_schema), p.reported))
    same, same_before = [], []
    for p in data:
        others = [q for q in data if q.model == p.model and q is not p]
        if not others:
            continue
        counter = TokenCounter()
        for q in others:
            counter.record(q.messages, q.tools, q.reported, output_schema=q.output_schema)
        same.append(_error(counter.estimate(p.messages, p.tools, output_schema=p.output_schema), p.reported))
        same_before.append(_error(TokenCounter().estimate(p.messages, p.tools, output_schema=p.output_schema), p.reported))
    return {
        "before": _figures(before),
        "in_run_before": _figures(in_run_before),
        "in_run": _figures(in_run),
        "same_model_before": _figures(same_before),
        "same_model": _figures(same),
    }
