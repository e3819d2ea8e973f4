"""Showing a run on the terminal: the answer as it streams, tool calls and results, a summary line.

Also the y/n approval prompt for tools that require approval, and Ctrl-C handling for a turn.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pydantic_core
from rich.console import Console
from rich.text import Text

from ..agent import Approval, RunResult
from ..context import RunContext
from ..errors import redact_secrets
from ..events import (
    AgentEvent,
    AgentHandoff,
    FinalOutput,
    ReasoningDelta,
    ResponseComplete,
    TextDelta,
    ToolCallReady,
    ToolResult,
)
from ..messages import AssistantMessage, Message, ToolCall, ToolMessage, UserMessage
from ..usage import Usage

__all__ = ["Display", "TerminalApprover", "TurnInterrupts", "format_call", "jsonable", "summary", "stdin_is_tty"]

MAX_VALUE = 80
MAX_CALL = 200
MAX_RESULT_LINES = 4
MAX_LINE = 160
DENIED = "The user denied this call"  # how agent.py answers a denied call


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def inert(text: str) -> str:
    """``text`` with terminal control characters (ESC, CSI...) replaced by U+FFFD: a model's answer,
    a tool's result or a logged name cannot clear the screen, retitle the window or forge a link."""
    return _CONTROL.sub("\ufffd", text)


def stdin_is_tty() -> bool:
    """Whether stdin is a terminal someone can answer prompts on."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except ValueError:  # closed
        return False


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data (pydantic models, dataclasses, TypedDicts, enums, datetimes...)."""
    return json.loads(pydantic_core.to_json(value, fallback=str))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_call(name: str, arguments: str) -> str:
    """``name(key=value, ...)`` from a call's JSON arguments, long values shortened."""
    try:
        data = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return _clip(f"{name}({arguments})", MAX_CALL)
    if isinstance(data, dict):
        inner = ", ".join(f"{k}={_clip(json.dumps(v, ensure_ascii=False), MAX_VALUE)}" for k, v in data.items())
    else:
        inner = _clip(json.dumps(data, ensure_ascii=False), MAX_VALUE)
    return _clip(f"{name}({inner})", MAX_CALL)


def _collapse(content: str) -> tuple[list[str], str | None]:
    """The first lines of a tool result (each shortened) and a note on what was left out."""
    lines = content.splitlines() or [""]
    shown = [_clip(line, MAX_LINE) for line in lines[:MAX_RESULT_LINES]]
    hidden = len(lines) - len(shown)
    clipped = any(len(line) > MAX_LINE for line in lines[:MAX_RESULT_LINES])
    if hidden > 0:
        return shown, f"… {hidden} more line{'s' if hidden != 1 else ''} ({len(content):,} chars)"
    if clipped:
        return shown, f"… ({len(content):,} chars)"
    return shown, None


def summary(turns: int | None, usage: Usage, seconds: float | None = None) -> str:
    """``2 turns · 1 tool call · 158 tokens (120 in, 38 out) · $0.0004 · 0.31s`` (turns None: left out)."""
    parts = [] if turns is None else [f"{turns} turn{'s' if turns != 1 else ''}"]
    if usage.tool_calls:
        parts.append(f"{usage.tool_calls} tool call{'s' if usage.tool_calls != 1 else ''}")
    parts.append(f"{usage.total_tokens:,} tokens ({usage.prompt_tokens:,} in, {usage.completion_tokens:,} out)")
    if usage.cost is not None:
        parts.append(f"${usage.cost:.6f}".rstrip("0").rstrip(".") if usage.cost else "$0")
    if seconds is not None:
        parts.append(f"{seconds:.2f}s")
    return " · ".join(parts)


class Display:
    """Prints one run: answer text, reasoning (dim), ``→`` tool calls, ``←`` results (``✗`` for
    errors), re-asks, the final structured output, and a summary rule.

    Args:
        console: where to print (stdout).
        structured: the agent has an ``output_type``: the answer text is JSON, so it is not
            echoed as it streams; the validated output is printed at the end instead.
        output_tool: the name of the tool that carries the final answer (``output_mode="tool"``):
            its calls and results are not shown as tool calls.
    """

    def __init__(self, console: Console, *, structured: bool = False, output_tool: str | None = None) -> None:
        self.console = console
        self.structured = structured
        self.output_tool = output_tool
        self.started = time.perf_counter()
        self._mid_line = False
        self._in_reasoning = False
        self._answered_turn: int | None = None
        self._names: dict[str, str] = {}

    # -- low level ---------------------------------------------------------------------------
    def end_line(self) -> None:
        """Finish a line of streamed text, so the next thing starts on its own line."""
        if self._mid_line:
            self.console.out("", highlight=False)
            self._mid_line = False

    def _write(self, text: str, style: str | None = None) -> None:
        if not text:
            return
        text = inert(text)
        self.console.out(text, end="", style=style, highlight=False)
        self._mid_line = not text.endswith("\n")

    def _line(self, text: Text) -> None:
        text.plain = inert(text.plain)  # the same length: the styles stay where they were
        self.end_line()
        self._in_reasoning = False
        self.console.print(text, soft_wrap=True)

    # -- pieces --------------------------------------------------------------------------------
    def text(self, text: str) -> None:
        """A piece of the answer."""
        if self.structured:
            return
        if self._in_reasoning:
            self.end_line()
            self._in_reasoning = False
        self._write(text)

    def reasoning(self, text: str) -> None:
        """A piece of the model's reasoning."""
        self._in_reasoning = True
        self._write(text, "dim italic")

    def tool_call(self, call_id: str, name: str, arguments: str) -> None:
        """``→ name(args)``."""
        self._names[call_id] = name
        if name == self.output_tool:
            return
        line = Text()
        line.append("→ ", style="cyan")
        line.append(format_call(name, arguments), style="bold")
        self._line(line)

    def tool_result(self, name: str, content: str, is_error: bool) -> None:
        """``← name: result`` (collapsed when long), ``✗`` in red for an error the model will be asked to fix."""
        if name == self.output_tool and not is_error:
            return
        shown, rest = _collapse(redact_secrets(content))  # a tool's error may quote a request, key and all
        if is_error:
            mark, style = "✗ ", "red"
        elif content.startswith(DENIED):
            mark, style = "✗ ", "yellow"
        else:
            mark, style = "← ", "green"
        line = Text()
        line.append(mark, style=style)
        line.append(f"{name}: ", style=style)
        line.append(shown[0], style="red" if is_error else "")
        for extra in shown[1:]:
            line.append("\n    " + extra, style="red" if is_error else "")
        if rest:
            line.append("\n    " + rest, style="dim")
        self._line(line)

    def prompt(self, text: str) -> None:
        """The user's prompt, as the chat shows it: ``> text``."""
        line = Text("> ", style="bold")
        line.append(text, style="bold")
        self._line(line)

    def note(self, text: str) -> None:
        """A dim line of its own (a stored system message, a remark)."""
        self._line(Text(text, style="dim"))

    def tool_name(self, call_id: str) -> str:
        """The name of the tool called as ``call_id`` (shown earlier), else ``"tool"``."""
        return self._names.get(call_id, "tool")

    def reasked(self) -> None:
        """The answer did not match the output type and was sent back with the errors."""
        self._line(Text("↻ the answer did not match the output type; the model was asked again", style="yellow"))

    def denied(self, call: ToolCall, why: str) -> None:
        """A call that needs approval was denied without asking."""
        line = Text("✗ denied ", style="yellow")
        line.append(format_call(call.name, call.arguments), style="bold")
        line.append(f": {why}", style="yellow")
        self._line(line)

    def output(self, value: Any) -> None:
        """The final output: structured output as JSON; text only ends its line (it streamed already)."""
        if self.structured or not isinstance(value, str):  # not a str: a handoff target's output type
            self.end_line()
            self.console.print_json(json.dumps(jsonable(value), ensure_ascii=False))
        else:
            self.end_line()

    def done(self, turns: int, usage: Usage) -> None:
        """The summary rule: turns, tool calls, tokens, cost (when reported), time."""
        self.end_line()
        self.console.rule(Text(summary(turns, usage, time.perf_counter() - self.started), style="dim"), style="dim")

    # -- whole runs ------------------------------------------------------------------------------
    def event(self, event: AgentEvent) -> None:
        """Show one stream event (a sub-agent's, indented under the call that runs it)."""
        if len(event.path) > 1:
            self.nested(event)
            return
        if isinstance(event, AgentHandoff):
            self._answered_turn = None
            self._line(Text(f"⇢ {event.from_agent} handed the conversation to {event.to_agent}", style="magenta"))
            return
        if self._answered_turn is not None and event.turn > self._answered_turn:
            self._answered_turn = None
            self.reasked()
        if isinstance(event, TextDelta):
            self.text(event.text)
        elif isinstance(event, ReasoningDelta):
            self.reasoning(event.text)
        elif isinstance(event, ToolCallReady):
            self.tool_call(event.tool_call_id, event.name, event.raw_arguments)
        elif isinstance(event, ResponseComplete):
            if not event.response.message.tool_calls:
                self._answered_turn = event.turn
        elif isinstance(event, ToolResult):
            self.tool_result(event.name or self._names.get(event.tool_call_id, "tool"), event.content, event.is_error)
        elif isinstance(event, FinalOutput):
            self._answered_turn = None
            self.output(event.output)

    def nested(self, event: AgentEvent) -> None:
        """A sub-agent's event (``agent.as_tool()``): its tool calls and results, indented by depth
        and named; its text is not echoed (it comes back as the call's result)."""
        indent = "  " * (len(event.path) - 1)
        if isinstance(event, ToolCallReady):
            line = Text(f"{indent}{event.agent} → ", style="cyan")
            line.append(format_call(event.name, event.raw_arguments), style="bold")
        elif isinstance(event, ToolResult):
            shown, _rest = _collapse(redact_secrets(event.content))
            line = Text(
                f"{indent}{event.agent} {'✗' if event.is_error else '←'} {event.name}: ",
                style="red" if event.is_error else "green",
            )
            line.append(shown[0] if shown else "")
        elif isinstance(event, AgentHandoff):
            line = Text(f"{indent}⇢ {event.from_agent} handed the conversation to {event.to_agent}", style="magenta")
        else:
            return
        self._line(line)

    def messages(self, messages: Sequence[Message]) -> None:
        """Show a finished run's new messages (``--no-stream``)."""
        previous: Message | None = None
        for m in messages:
            if isinstance(m, AssistantMessage):
                if m.reasoning:
                    self.reasoning(m.reasoning)
                if m.content:
                    self.text(m.content)
                for call in m.tool_calls:
                    self.tool_call(call.id, call.name, call.arguments)
            elif isinstance(m, ToolMessage):
                self.tool_result(m.name or self._names.get(m.tool_call_id, "tool"), m.content, m.is_error)
            elif isinstance(m, UserMessage) and isinstance(previous, AssistantMessage) and not previous.tool_calls:
                self.reasked()
            previous = m

    def result(self, result: RunResult[Any], *, streamed: bool) -> None:
        """Finish a run: the messages (when not streamed), the output and the summary rule."""
        if not streamed:
            self.messages(result.new_messages)
            self.output(result.output)
        self.done(result.turns, result.usage)


class TurnInterrupts:
    """Ctrl-C during an answer cancels that answer's task (not the session); during a y/n prompt
    it interrupts the prompt, which then cancels the answer too."""

    def __init__(self) -> None:
        self.prompting = False

    @contextmanager
    def cancelling(self, task: asyncio.Task[Any]) -> Iterator[None]:
        """While inside, SIGINT cancels ``task`` (main thread only; elsewhere Ctrl-C behaves as usual)."""
        loop = asyncio.get_running_loop()

        def on_sigint(signum: int, frame: Any) -> None:
            if self.prompting:
                raise KeyboardInterrupt
            loop.call_soon_threadsafe(task.cancel)

        try:
            previous = signal.signal(signal.SIGINT, on_sigint)
        except ValueError:  # not the main thread
            yield
            return
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)


class TerminalApprover:
    """The ``approve`` callback of the command line: asks y/n for each call that needs approval.

    Args:
        display: the run's display (its current line is ended before asking).
        prompts: where the question goes (stderr, so ``--json`` output stays clean).
        interactive: someone can answer on stdin; when not, calls are denied and the display says so.
        auto: approve everything without asking (``--yes``).
        interrupts: in a chat, Ctrl-C at the prompt cancels the answer.
    """

    def __init__(
        self,
        display: Display | None,
        prompts: Console,
        *,
        interactive: bool,
        auto: bool = False,
        interrupts: TurnInterrupts | None = None,
    ) -> None:
        self.display = display
        self.prompts = prompts
        self.interactive = interactive
        self.auto = auto
        self.interrupts = interrupts

    def __call__(self, call: ToolCall, ctx: RunContext[Any]) -> Approval:
        """Decide on one call: True approves, a string denies with that reason."""
        if self.auto:
            return True
        if not self.interactive:
            why = "stdin is not a terminal, so no one could approve it (pass --yes to approve tool calls)"
            if self.display is not None:
                self.display.denied(call, why)
            else:
                self.prompts.print(
                    Text(f"denied {format_call(call.name, call.arguments)}: {why}", style="yellow"), soft_wrap=True
                )
            return "the user could not be asked (no terminal)"
        if self.display is not None:
            self.display.end_line()
        question = Text("Allow ", style="bold yellow")
        question.append(format_call(call.name, call.arguments), style="bold")
        question.append("? [y/N] ", style="bold yellow")
        while True:
            self.prompts.print(question, end="", soft_wrap=True)
            answer = self._read()
            if answer is None:  # end of input
                self.prompts.print("")
                return "the user did not answer"
            if not stdin_is_tty():  # piped answers: keep the transcript readable
                self.prompts.out(answer.rstrip("\n"), highlight=False)
            answer = answer.strip().lower()
            if answer in ("y", "yes"):
                return True
            if answer in ("", "n", "no"):
                return False

    def _read(self) -> str | None:
        if self.interrupts is not None:
            self.interrupts.prompting = True
        try:
            line = sys.stdin.readline()
        except KeyboardInterrupt:
            if self.interrupts is None:
                raise
            self.prompts.print("")
            raise asyncio.CancelledError from None
        finally:
            if self.interrupts is not None:
                self.interrupts.prompting = False
        return line if line else None
