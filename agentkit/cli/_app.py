"""The click commands: ``run``, ``chat``, ``tools``, ``batch``. Each is a thin shell over its module."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from contextlib import nullcontext, redirect_stdout
from dataclasses import asdict
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from .. import __version__, _providers
from ..agent import Agent, RunResult
from ..content import Prompt
from ..models.base import Model
from ..models.providers import OpenAICompatible
from ._attach import attach_option, attachments, with_attachments
from ._common import CLIError, find_agent, load_file, reported, split_target, stderr_console, stdout_console, with_model
from ._display import Display, TerminalApprover, jsonable, stdin_is_tty
from ._logs import log_option, logs, view

__all__ = ["cli"]

F = TypeVar("F", bound=Callable[..., Any])

PROVIDERS = tuple(p.name for p in _providers.providers() if p.chat_completions)


def _debug_option(f: F) -> F:
    return click.option("--debug", is_flag=True, help="Show the full traceback of an error.")(f)


def _model_option(help_text: str) -> Callable[[F], F]:
    return click.option("--model", "-m", envvar="AGENTKIT_MODEL", metavar="PROVIDER:MODEL", help=help_text)


def _base_url_option(f: F) -> F:
    return click.option(
        "--base-url",
        envvar="AGENTKIT_BASE_URL",
        metavar="URL",
        help="Talk to this OpenAI-compatible server (llama.cpp, vLLM, Ollama, LM Studio, ...), e.g. "
        "http://127.0.0.1:8080/v1; --model is then the name of a model it serves, as is. "
        "Its key, if it needs one: $AGENTKIT_API_KEY.",
    )(f)


def chosen_model(model: str | None, base_url: str | None) -> Model | str | None:
    """``--model``; with ``--base-url``, the model of that name on that OpenAI-compatible server."""
    if base_url is None:
        return model
    if not base_url.startswith(("http://", "https://")):
        raise CLIError(f"--base-url must be an http:// or https:// URL (usually ending in /v1), not {base_url!r}.")
    if not model:
        raise CLIError("--base-url needs --model NAME: the name of a model the server serves (e.g. -m qwen2.5:7b).")
    name = model.removeprefix("openai-compatible:")
    return OpenAICompatible(name, base_url=base_url, api_key=os.environ.get("AGENTKIT_API_KEY") or None)


def _sessions_db_option(f: F) -> F:
    return click.option(
        "--sessions-db",
        envvar="AGENTKIT_SESSIONS_DB",
        metavar="PATH",
        help="The SQLite file of the sessions (default: $AGENTKIT_SESSIONS_DB, else sessions.db in agentkit's folder "
        "of your data directory; `agentkit sessions path` prints it).",
    )(f)


def _yes_option(f: F) -> F:
    return click.option("--yes", "-y", is_flag=True, help="Approve every call of tools that require approval, without asking.")(f)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="agentkit")
def cli() -> None:
    """agentkit: run tool-calling agents from the command line.

    \b
    agentkit run FILE.py "prompt"      run the file's `agent` on a prompt
    agentkit chat --tools tools.py     chat with tools, keeping history
    agentkit chat --session NAME       resume a conversation stored under NAME
    agentkit sessions list             the stored conversations (also: show, delete, path)
    agentkit tools tools.py            the JSON schemas the tools send, and their problems
    agentkit batch FILE.py in.jsonl --out out.jsonl
    agentkit logs                      the runs recorded with --log PATH or $AGENTKIT_LOG (also: show, export)
    agentkit view ID                   one recorded run as an HTML page
    """


cli.add_command(logs)
cli.add_command(view)


# --- run ------------------------------------------------------------------------------------


def _read_prompt(prompt: str | None) -> str:
    if prompt is not None and prompt != "-":
        return prompt
    if stdin_is_tty():
        raise CLIError('No prompt: give one after the file (agentkit run FILE.py "...") or pipe it on stdin.')
    text = sys.stdin.read()
    if not text.strip():
        raise CLIError("The prompt from stdin is empty.")
    return text.rstrip("\n")


def _result_document(result: RunResult[Any]) -> dict[str, Any]:
    return {
        "output": jsonable(result.output),
        "usage": asdict(result.usage),
        "turns": result.turns,
        "model": result.model_name,
        "messages": json.loads(result.messages_json()),
    }


async def _run_once(agent: Agent[Any, Any], prompt: Prompt, display: Display | None, stream: bool) -> RunResult[Any]:
    try:
        if not stream:
            return await agent.run(prompt)
        async with agent.run_stream(prompt) as events:
            async for event in events:
                if display is not None:
                    display.event(event)
            return events.result
    finally:
        await agent.aclose()


@cli.command()
@click.argument("file", metavar="FILE.py")
@click.argument("prompt", required=False)
@_model_option("Use this model instead of the agent's (default: $AGENTKIT_MODEL, else the file's).")
@click.option("--stream/--no-stream", default=True, show_default=True, help="Show the answer as it arrives.")
@click.option("--json", "as_json", is_flag=True, help="Print the result (output, usage, messages) as one JSON document.")
@click.option("--agent", "agent_name", metavar="NAME", help="The module-level agent to run (default: `agent`).")
@attach_option
@_base_url_option
@_yes_option
@log_option
@_debug_option
def run(
    file: str,
    prompt: str | None,
    attached: tuple[str, ...],
    model: str | None,
    base_url: str | None,
    stream: bool,
    as_json: bool,
    agent_name: str | None,
    yes: bool,
    debug: bool,
) -> None:
    """Run the agent defined in FILE.py on PROMPT (or on stdin).

    FILE.py is imported (its directory on sys.path); its module-level `agent` runs (or
    --agent NAME, or FILE.py:NAME). Tool calls and results are shown as they happen; tools that
    require approval ask y/n on the terminal. -a FILE_OR_URL adds an image, PDF or audio file to
    the prompt.
    """
    with reported(debug):
        path, name = split_target(file)
        quiet = redirect_stdout(sys.stderr) if as_json else nullcontext()  # --json: stdout holds only the JSON
        with quiet:
            module = load_file(path)
        agent = with_model(find_agent(module, agent_name or name, path), chosen_model(model, base_url))
        text = with_attachments(_read_prompt(prompt), attachments(attached))
        console = stdout_console()
        display = None if as_json else Display(console, structured=agent.output_type is not str, output_tool=agent.output_tool)
        if agent.approve is None:
            agent.approve = TerminalApprover(display, stderr_console(), interactive=stdin_is_tty(), auto=yes)
        with quiet:
            result = asyncio.run(_run_once(agent, text, display, stream and not as_json))
        if as_json:
            click.echo(json.dumps(_result_document(result), ensure_ascii=False, indent=2))
        elif display is not None:
            display.result(result, streamed=stream)


# --- chat -----------------------------------------------------------------------------------


@cli.command()
@_model_option("The model (default: $AGENTKIT_MODEL, else the offline test model).")
@click.option(
    "--tools", "-t", "tool_specs", multiple=True, metavar="MODULE_OR_FILE", help="Load the tools defined in it (repeatable)."
)
@click.option("--mcp", "mcp_config", metavar="CONFIG.json", help="Load MCP servers from a config file.")
@click.option("--system", "-s", metavar="TEXT", help="The system prompt.")
@click.option(
    "--session", "session_name", metavar="NAME", help="Resume the conversation stored as NAME (a new one when there is none)."
)
@attach_option
@_sessions_db_option
@_base_url_option
@_yes_option
@log_option
@_debug_option
def chat(
    model: str | None,
    tool_specs: tuple[str, ...],
    mcp_config: str | None,
    system: str | None,
    session_name: str | None,
    attached: tuple[str, ...],
    sessions_db: str | None,
    base_url: str | None,
    yes: bool,
    debug: bool,
) -> None:
    """Chat with a model, keeping the conversation; tools optional.

    Answers stream; Ctrl-C cancels the current answer, Ctrl-D, `exit` or `quit` ends the session.
    With --session NAME the conversation is stored (each step as it completes) and the next
    `agentkit chat --session NAME` continues it. -a FILE_OR_URL adds an image, PDF or audio file
    to the first message.
    """
    from ._chat import build_chat_agent, run_chat
    from ._sessions import sessions_path

    with reported(debug):
        given = click.get_current_context().get_parameter_source("sessions_db") == ParameterSource.COMMANDLINE
        if session_name is None and given:
            raise CLIError("--sessions-db is the file of --session NAME: give a session name too.")
        stored = None if session_name is None else (session_name, sessions_path(sessions_db))
        parts = attachments(attached)
        agent, approver = build_chat_agent(chosen_model(model, base_url), tool_specs, mcp_config, system, yes)
        run_chat(agent, approver, debug, stored, parts)


# --- sessions -------------------------------------------------------------------------------


@cli.group()
def sessions() -> None:
    """The conversations `agentkit chat --session NAME` stored.

    They live in one SQLite file: --sessions-db PATH, else $AGENTKIT_SESSIONS_DB, else
    sessions.db in agentkit's folder of your data directory (`agentkit sessions path`).
    """


@sessions.command("path")
@_sessions_db_option
def sessions_path_command(sessions_db: str | None) -> None:
    """Print the sessions file (it may not exist yet)."""
    from ._sessions import sessions_path

    click.echo(str(sessions_path(sessions_db)))


@sessions.command("list")
@_sessions_db_option
@_debug_option
def sessions_list(sessions_db: str | None, debug: bool) -> None:
    """The stored sessions: name, messages, last updated; the most recent first."""
    from ._sessions import list_sessions, sessions_path

    with reported(debug):
        list_sessions(sessions_path(sessions_db), stdout_console(), stderr_console())


@sessions.command("show")
@click.argument("name")
@_sessions_db_option
@_debug_option
def sessions_show(name: str, sessions_db: str | None, debug: bool) -> None:
    """Show the conversation stored as NAME, as the chat showed it."""
    from ._sessions import sessions_path, show_session

    with reported(debug):
        show_session(sessions_path(sessions_db), name, stdout_console(), stderr_console())


@sessions.command("delete")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Delete without asking.")
@_sessions_db_option
@_debug_option
def sessions_delete(name: str, yes: bool, sessions_db: str | None, debug: bool) -> None:
    """Delete the conversation stored as NAME (asks first, unless --yes)."""
    from ._sessions import delete_session, sessions_path

    with reported(debug):
        delete_session(sessions_path(sessions_db), name, yes, stdout_console())


# --- tools ----------------------------------------------------------------------------------


@cli.command()
@click.argument("target", metavar="[MODULE_OR_FILE]", required=False)
@click.option("--mcp", "mcp_config", metavar="CONFIG.json", help="Also check the tools of these MCP servers.")
@click.option("--strict", is_flag=True, help="Show the strict form of each schema; tools that cannot be strict are errors.")
@click.option(
    "--provider",
    "-p",
    "providers",
    multiple=True,
    type=click.Choice([*PROVIDERS, "all"]),
    help="The provider whose request format to show (repeatable; default: openai).",
)
@_debug_option
def tools(target: str | None, mcp_config: str | None, strict: bool, providers: tuple[str, ...], debug: bool) -> None:
    """Print the JSON schemas of the tools in MODULE_OR_FILE, as sent to a provider, and flag problems.

    Flags missing tool and parameter descriptions, parameter types that cannot be strict, and
    names a provider rejects. Exits 1 when there are errors (warnings alone exit 0).
    """
    from ._tools import check_tools

    chosen = list(PROVIDERS) if "all" in providers else list(dict.fromkeys(providers or ("openai",)))
    with reported(debug):
        if target is None and mcp_config is None:
            raise CLIError("Give a module or file with tools (agentkit tools MODULE_OR_FILE), or --mcp CONFIG.json.")
        errors = check_tools(target, mcp_config, chosen, strict, stdout_console())
    if errors:
        raise SystemExit(1)


# --- batch ----------------------------------------------------------------------------------


@cli.command()
@click.argument("file", metavar="FILE.py")
@click.argument("inputs", metavar="INPUTS.jsonl")
@click.option("--out", "-o", required=True, metavar="OUT.jsonl", help="Results, one JSON line per input; kept to resume.")
@click.option("--concurrency", "-c", type=click.IntRange(min=1), default=16, show_default=True, help="Runs at once.")
@click.option("--rpm", type=click.FloatRange(min=0, min_open=True), help="Model requests per minute, across the batch.")
@click.option("--tpm", type=click.FloatRange(min=0, min_open=True), help="Tokens per minute, across the batch.")
@click.option(
    "--limiter",
    metavar="REDIS_URL",
    envvar="AGENTKIT_LIMITER",
    help="Share --rpm/--tpm with every process using the same Redis and --limiter-name (needs agentkit-loop[redis]).",
)
@click.option("--limiter-name", default="default", show_default=True, metavar="NAME", help="The shared budget's name.")
@click.option("--max-cost", type=click.FloatRange(min=0), metavar="USD", help="Stop before the batch would spend more.")
@click.option("--estimate", is_flag=True, help="Run a small random sample first, show the projected cost and time, then ask.")
@_model_option("Use this model instead of the agent's (default: $AGENTKIT_MODEL, else the file's).")
@click.option("--agent", "agent_name", metavar="NAME", help="The module-level agent to run (default: `agent`).")
@_base_url_option
@_yes_option
@log_option
@_debug_option
def batch(
    file: str,
    inputs: str,
    out: str,
    concurrency: int,
    rpm: float | None,
    tpm: float | None,
    limiter: str | None,
    limiter_name: str,
    max_cost: float | None,
    estimate: bool,
    model: str | None,
    agent_name: str | None,
    base_url: str | None,
    yes: bool,
    debug: bool,
) -> None:
    """Run the agent in FILE.py on every line of INPUTS.jsonl, writing results to --out.

    Each line is a JSON string (the prompt) or {"prompt": ..., "id": ...}. Inputs already done in
    --out are skipped, so a stopped batch continues where it was. Calls of tools that require
    approval are denied (the model is told so) unless --yes. Exits 1 when any input failed.
    """
    from ._batch import read_inputs, run_batch

    with reported(debug):
        path, name = split_target(file)
        items = read_inputs(inputs, out)
        module = load_file(path)
        agent = with_model(find_agent(module, agent_name or name, path), chosen_model(model, base_url))
        if agent.approve is None:  # unattended: approve with --yes, else deny (and say so)
            agent.approve = TerminalApprover(None, stderr_console(), interactive=False, auto=yes)
        shared = (limiter, limiter_name) if limiter else None
        failed = run_batch(agent, items, out, concurrency, rpm, tpm, stdout_console(), max_cost, estimate, shared)
    if failed:
        raise SystemExit(1)
