"""``agentkit logs`` (list, ``show``, ``export --as-test``), ``agentkit view`` and ``--log PATH``.

The file is ``--log PATH``, else ``$AGENTKIT_LOG``, else :func:`~agentkit.runlog.default_log_path`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..runlog import ENV_VAR, LoggedRun, Step, default_log_path, list_runs, load_run, messages_of
from ..usage import Usage
from ._common import CLIError, one_line, reported, stderr_console, stdout_console
from ._display import Display, inert, summary

__all__ = ["log_option", "logs", "view"]

F = TypeVar("F", bound=Callable[..., Any])


def _set_log(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value:
        os.environ[ENV_VAR] = os.path.abspath(os.path.expanduser(value))


def log_option(f: F) -> F:
    """``--log PATH`` for run, chat and batch: record the runs there (sets ``$AGENTKIT_LOG``)."""
    return click.option(
        "--log",
        metavar="PATH",
        expose_value=False,
        callback=_set_log,
        help="Record every run in this SQLite run log (as $AGENTKIT_LOG does; `agentkit logs` reads it).",
    )(f)


def _file_option(f: F) -> F:
    return click.option(
        "--log",
        "log_file",
        envvar=ENV_VAR,
        metavar="PATH",
        help="The run log (default: $AGENTKIT_LOG, else runs.db in agentkit's folder of your data directory).",
    )(f)


def _path(option: str | None) -> Path:
    return Path(os.path.abspath(os.path.expanduser(option))) if option else default_log_path()


def _since(text: str | None) -> float | None:
    """``2026-12-01``, ``2026-12-01T10:00``, or ``3d`` / ``12h`` / ``30m`` ago."""
    if not text:
        return None
    found = re.fullmatch(r"\s*(\d+)\s*([dhm])\s*", text)
    if found:
        unit = {"d": "days", "h": "hours", "m": "minutes"}[found.group(2)]
        return (datetime.now() - timedelta(**{unit: int(found.group(1))})).timestamp()
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise CLIError(f"--since {text!r}: give a date (2026-12-01, 2026-12-01T10:00) or an age (3d, 12h, 30m).") from None


def _cost(cost: float | None) -> str:
    if cost is None:
        return "-"
    return f"${cost:.6f}".rstrip("0").rstrip(".") if cost else "$0"


def _duration(run: LoggedRun) -> str:
    return "-" if run.duration is None else f"{run.duration:.2f}s"


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M")


@click.group(invoke_without_command=True)
@_file_option
@click.option("--agent", metavar="NAME", help="Only this agent's runs.")
@click.option("--model", metavar="MODEL", help="Only runs with this model.")
@click.option(
    "--status",
    type=click.Choice(["ok", "error", "running", "paused", "cancelled"]),
    help="Only runs that ended so (running: those not ended, shown as stopped when their process is gone).",
)
@click.option("--since", metavar="DATE", help="Only runs since DATE (2026-12-01, 2026-12-01T10:00) or an age (3d, 12h).")
@click.option("--limit", "-n", type=click.IntRange(min=1), default=20, show_default=True, help="How many runs.")
@click.option("--debug", is_flag=True, help="Show the full traceback on errors.")
@click.pass_context
def logs(
    ctx: click.Context,
    log_file: str | None,
    agent: str | None,
    model: str | None,
    status: str | None,
    since: str | None,
    limit: int,
    debug: bool,
) -> None:
    """The runs recorded in the run log, the most recent first (`logs show ID` for one).

    Runs are recorded when $AGENTKIT_LOG names a file, with Agent(log=...), or --log PATH
    in run, chat and batch.
    """
    if ctx.invoked_subcommand is not None:
        return
    with reported(debug):
        runs = list_runs(_path(log_file), agent=agent, model=model, status=status, since=_since(since), limit=limit)
        _table(runs, stdout_console(), stderr_console())


def _table(runs: list[LoggedRun], console: Console, notes: Console) -> None:
    if not runs:
        notes.print(Text("No runs recorded (that match).", style="dim"))
        return
    table = Table(box=None, pad_edge=False, collapse_padding=True, padding=(0, 1))
    for column in ("id", "time", "agent", "model", "status", "turns", "tokens", "cost", "duration"):
        right = column in ("turns", "tokens", "cost", "duration")
        folded = column in ("agent", "model")
        table.add_column(
            column, justify="right" if right else "left", no_wrap=not folded, overflow="fold" if folded else "ellipsis"
        )
    styles = {"ok": "green", "error": "red", "running": "yellow", "paused": "yellow", "stopped": "red", "cancelled": "yellow"}
    for run in runs:
        table.add_row(
            run.id,
            datetime.fromtimestamp(run.started).strftime("%m-%d %H:%M"),
            inert(run.agent or ""),
            inert(run.model or ""),
            Text(run.shown_status, style=styles.get(run.shown_status, "")),
            str(run.turns),
            f"{run.input_tokens + run.output_tokens:,}",
            _cost(run.cost),
            _duration(run),
        )
    console.print(table)


@logs.command("show")
@click.argument("run_id", metavar="ID")
@_file_option
@click.option("--debug", is_flag=True, help="Show the full traceback on errors.")
def logs_show(run_id: str, log_file: str | None, debug: bool) -> None:
    """Show run ID (or a unique start of it) as a transcript, the way `agentkit chat` shows runs."""
    with reported(debug):
        show_run(load_run(_path(log_file), run_id), stdout_console())


def show_run(run: LoggedRun, console: Console, depth: int = 0) -> None:
    """One run: a header, the prompt, the model's turns and tool calls, the end, then its sub-agents' runs."""
    head = f"Run {run.id} · {run.agent} · {run.model} · {run.shown_status} · {_when(run.started)}"
    if depth:
        head = f"{'  ' * depth}Sub-agent run {run.id} (call {run.parent_call_id}) · {run.agent} · {run.shown_status}"
    console.print(Text(inert(head), style="dim"), soft_wrap=True)
    display = Display(console)
    if run.prompt is not None:
        display.prompt(run.prompt)
    messages = messages_of(run)
    start = next((i + 1 for i in range(len(messages) - 1, -1, -1) if messages[i].role == "user"), 0)
    display.messages(messages[start:])
    display.end_line()
    delays = [s for s in run.steps if s.kind in ("retry", "wait")]  # the HTTP client's retries, run_many's waits
    if delays:
        console.print(Text(_delays(delays), style="dim"), soft_wrap=True)
    if run.status == "cancelled":
        console.print(Text(inert(f"Cancelled: {run.error_message or ''}"), style="yellow"), soft_wrap=True)
    elif run.status == "error":
        console.print(Text(inert(f"Error: {run.error_type}: {one_line(run.error_message or '')}"), style="red"), soft_wrap=True)
    elif run.stopped:
        console.print(Text(f"The run did not end: its process ({run.pid}) is gone (killed, or it crashed).", style="red"))
    elif run.status == "running":
        console.print(Text("The run did not end (still running, or its process stopped).", style="yellow"))
    usage = Usage(
        prompt_tokens=run.input_tokens,
        completion_tokens=run.output_tokens,
        total_tokens=run.input_tokens + run.output_tokens,
        tool_calls=sum(1 for s in run.steps if s.kind == "tool"),
        cost=run.cost,
    )
    console.rule(Text(summary(run.turns, usage, run.duration), style="dim"), style="dim")
    for child in run.children:
        show_run(child, console, depth + 1)


def _delays(steps: list[Step]) -> str:
    """``2 retries (HTTP 429, HTTP 503), 0.50 s of waiting.``"""
    retries = [s.name or "error" for s in steps if s.kind == "retry"]
    waited = sum((s.ended or s.started) - s.started for s in steps)
    head = f"{len(retries)} {'retry' if len(retries) == 1 else 'retries'} ({', '.join(retries)}), " if retries else ""
    return f"{head}{waited:.2f} s of waiting{'' if retries else ' for the rate limit'}."


@logs.command("export")
@click.argument("run_id", metavar="ID")
@click.option("--as-test", "as_test", is_flag=True, required=True, help="Write a pytest file that replays the run.")
@click.option("--out", "-o", metavar="FILE.py", help="Where to write it (default: test_run_ID.py).")
@_file_option
@click.option("--debug", is_flag=True, help="Show the full traceback on errors.")
def logs_export(run_id: str, as_test: bool, out: str | None, log_file: str | None, debug: bool) -> None:
    """Write run ID as a regression test: its model answers replayed through ScriptedModel, and
    the same tool calls asserted in the same order."""
    from .._runlog_export import export_test

    with reported(debug):
        run = load_run(_path(log_file), run_id)
        target = Path(out or f"test_run_{re.sub(r'[^0-9A-Za-z_-]', '_', run.id)}.py")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(export_test(run), encoding="utf-8")
        click.echo(str(target))


@click.command()
@click.argument("run_id", metavar="ID")
@click.option("--out", "-o", metavar="FILE.html", help="Where to write it (default: run-ID.html).")
@_file_option
@click.option("--debug", is_flag=True, help="Show the full traceback on errors.")
def view(run_id: str, out: str | None, log_file: str | None, debug: bool) -> None:
    """Write run ID as one self-contained HTML page (a timeline, the conversation, tokens and
    cost per step) and print its path: open it in any browser."""
    from .._runlog_html import render

    with reported(debug):
        if not run_id.strip():
            raise CLIError("Give a run id (agentkit logs lists them).")
        run = load_run(_path(log_file), run_id)
        target = Path(out or f"run-{re.sub(r'[^0-9A-Za-z_-]', '_', run.id)}.html")
        target.write_text(render(run), encoding="utf-8")
        click.echo(str(target.resolve()))
