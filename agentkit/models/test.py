"""Test models: run agents without a network (``agentkit.testing`` re-exports them).

* :class:`ScriptedModel` — you list the responses (text, tool calls, errors); it records every
  request it got, so a test can assert on them.
* :class:`TestModel` — calls each tool once with schema-valid arguments generated from its
  schema, then answers with text or a schema-valid instance of the output type. It powers the
  offline main job (``Agent("test")``, the ``"test"`` model string).

They live among the models (like any other model the registry builds from a string);
:mod:`agentkit.testing` is where tests import them from.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Union

from .._examples import example_value
from ..messages import AssistantMessage, Message, ToolCall, ToolMessage, UserMessage
from ..usage import Usage
from .base import Model, ModelRequest, ModelResponse

__all__ = ["ScriptedModel", "TestModel", "tool_call", "reply", "ScriptExhausted", "Scripted"]

Scripted = Union[str, AssistantMessage, ModelResponse, BaseException, type[BaseException], Callable[[ModelRequest], Any]]
"""One scripted answer: text, a message, a full response, an exception (instance or class) to
raise, or a function (sync or async) of the request returning any of these."""


class ScriptExhausted(AssertionError):
    """A :class:`ScriptedModel` was asked for more responses than it was given."""


def tool_call(name: str, arguments: Any = None, *, id: str | None = None) -> ToolCall:
    """A tool call for a script. ``arguments``: a dict (sent as JSON), raw text (sent as is), or None (``{}``)."""
    if arguments is None:
        text = "{}"
    elif isinstance(arguments, str):
        text = arguments
    else:
        text = json.dumps(arguments)
    return ToolCall(id=id or f"call_{name}_{_next_id()}", name=name, arguments=text)


def reply(
    text: str | None = None, *calls: ToolCall, usage: Usage | None = None, finish_reason: str | None = None
) -> ModelResponse:
    """A scripted response with text and/or tool calls."""
    message = AssistantMessage(content=text, tool_calls=list(calls))
    return ModelResponse(
        message=message,
        usage=usage or Usage(requests=1),
        finish_reason=finish_reason or ("tool_calls" if calls else "stop"),
        model_name="scripted",
    )


_counter = 0


def _next_id() -> int:
    global _counter
    _counter += 1
    return _counter


class ScriptedModel(Model):
    """A model that answers from a list, in order, and records the requests it got.

    >>> model = ScriptedModel([reply(None, tool_call("get_weather", {"city": "Paris"})), "Sunny."])
    >>> agent = Agent(model, tools=[get_weather])
    >>> agent.run_sync("Weather?").output
    'Sunny.'
    >>> model.requests[1].messages[-1].content     # the tool result the model was sent
    """

    def __init__(self, responses: Iterable[Scripted], *, model_name: str = "scripted") -> None:
        self._responses = list(responses)
        self.model_name = model_name
        self.provider = "scripted"
        self.requests: list[ModelRequest] = []

    @property
    def remaining(self) -> int:
        """How many scripted responses are left."""
        return len(self._responses)

    async def request(self, request: ModelRequest) -> ModelResponse:
        """Record ``request`` and return the next scripted answer."""
        snapshot = dataclasses.replace(request, messages=list(request.messages))  # later turns don't change it
        self.requests.append(snapshot)
        if not self._responses:
            raise ScriptExhausted(f"ScriptedModel got request #{len(self.requests)} but has no responses left.")
        item: Any = self._responses.pop(0)
        if callable(item) and not isinstance(item, (BaseException, type)):
            item = item(snapshot)
            if hasattr(item, "__await__"):
                item = await item
        if isinstance(item, BaseException) or (isinstance(item, type) and issubclass(item, BaseException)):
            raise item
        if isinstance(item, str):
            item = AssistantMessage(content=item)
        if isinstance(item, AssistantMessage):
            finish = "tool_calls" if item.tool_calls else "stop"
            return ModelResponse(message=item, usage=Usage(requests=1), finish_reason=finish, model_name=self.model_name)
        if isinstance(item, ModelResponse):
            return item
        raise TypeError(f"ScriptedModel cannot answer with {item!r}")


class TestModel(Model):
    """An offline model that exercises every tool and produces valid output.

    First turn: one call to each tool (or only those named in ``call_tools``; none when
    ``tool_choice`` is ``none``) with arguments generated from the tool's schema. Next turn:
    the final answer: a schema-valid value for the output type, or ``text`` (default: a short
    summary of the tool results).
    """

    __test__ = False  # not a pytest test class

    def __init__(self, *, call_tools: Sequence[str] | str = "all", text: str | None = None, model_name: str = "test") -> None:
        self.call_tools: Sequence[str] | str = [call_tools] if isinstance(call_tools, str) and call_tools != "all" else call_tools
        self.text = text
        self.model_name = model_name
        self.provider = "test"

    async def request(self, request: ModelRequest) -> ModelResponse:
        """Answer as described in the class docstring."""
        messages = request.messages
        output_tool = request.output_tool
        function_tools = [t for t in request.tools if t.name != output_tool]
        choice = request.settings.tool_choice
        if isinstance(choice, str) and choice not in ("auto", "none", "required"):
            function_tools = [t for t in function_tools if t.name == choice]
        if self.call_tools != "all":
            function_tools = [t for t in function_tools if t.name in self.call_tools]
        already_called = _called_since_last_user(messages)
        if function_tools and choice != "none" and not already_called:
            calls = [
                ToolCall(id=f"call_{i}_{t.name}"[:40], name=t.name, arguments=json.dumps(example_value(t.parameters)))
                for i, t in enumerate(function_tools)
            ]
            return self._respond(messages, AssistantMessage(tool_calls=calls), "tool_calls")
        if output_tool is not None:
            spec = next(t for t in request.tools if t.name == output_tool)
            call = ToolCall(id="call_final", name=output_tool, arguments=json.dumps(example_value(spec.parameters)))
            return self._respond(messages, AssistantMessage(tool_calls=[call]), "tool_calls")
        if request.output is not None:
            return self._respond(messages, AssistantMessage(content=json.dumps(example_value(request.output.schema))), "stop")
        return self._respond(messages, AssistantMessage(content=self.text or _summary(messages)), "stop")

    def _respond(self, messages: Sequence[Message], message: AssistantMessage, finish: str) -> ModelResponse:
        prompt = sum(len(str(getattr(m, "content", "") or "")) for m in messages) // 4 + 1
        completion = (len(message.content or "") + sum(len(c.arguments) for c in message.tool_calls)) // 4 + 1
        usage = Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion, requests=1)
        return ModelResponse(message=message, usage=usage, finish_reason=finish, model_name=self.model_name)


def _called_since_last_user(messages: Sequence[Message]) -> bool:
    for m in reversed(messages):
        if isinstance(m, ToolMessage):
            return True
        if isinstance(m, UserMessage):
            return False
    return False


def _summary(messages: Sequence[Message]) -> str:
    results = []
    names = {c.id: c.name for m in messages if isinstance(m, AssistantMessage) for c in m.tool_calls}
    for m in reversed(messages):
        if isinstance(m, UserMessage):
            break
        if isinstance(m, ToolMessage):
            results.append(f"{names.get(m.tool_call_id, 'tool')} -> {m.content[:200]}")
    if not results:
        return "success (no tool calls)"
    return "Tool results: " + "; ".join(reversed(results))
