"""What every command shares: one-line errors and exit codes, loading files and modules, models."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import ModuleType
from typing import Any

from rich.console import Console
from rich.text import Text

from ..agent import Agent
from ..errors import AgentkitError, AgentRunError, MissingAPIKeyError, ProviderError, UserError, redact_secrets
from ..models.base import Model
from ..models.registry import infer_model
from ..tools import Tool, Toolset

__all__ = [
    "CLIError",
    "reported",
    "describe",
    "print_error",
    "stdout_console",
    "stderr_console",
    "load_file",
    "load_module_or_file",
    "find_agent",
    "collect_tools",
    "model_or_test",
    "one_line",
]

TEST_MODEL_NOTICE = (
    "No model given: using the offline test model "
    "(pass --model provider:model, e.g. --model openai:gpt-4o-mini, or set AGENTKIT_MODEL for a real one)."
)


class CLIError(Exception):
    """A problem reported as one line on stderr; ``exit_code`` 2 for bad input, 1 for a failure."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def stdout_console() -> Console:
    """The console for a command's output (the current ``sys.stdout``, also under test runners)."""
    return Console(highlight=False)


def stderr_console() -> Console:
    """The console for notices, prompts and errors (the current ``sys.stderr``)."""
    return Console(stderr=True, highlight=False)


def one_line(text: str) -> str:
    """``text`` on one line: its lines joined with spaces."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def describe(error: BaseException, debug: bool = False) -> tuple[str, int]:
    """One line for ``error`` and the exit code that goes with it.

    Exit codes: 2 for bad input (:class:`CLIError`, :class:`~agentkit.errors.UserError`), 1 for
    failures (provider errors, runs that could not finish, anything unexpected).
    """
    if isinstance(error, CLIError):
        return one_line(str(error)), error.exit_code
    if isinstance(error, MissingAPIKeyError):  # the library's "pass api_key=... to the model" is no help here
        return missing_key_message(error), 2
    if isinstance(error, UserError):
        return one_line(str(error)), 2
    if isinstance(error, ProviderError):
        return one_line(str(error)), 1
    if isinstance(error, (AgentRunError, AgentkitError)):
        return one_line(f"{type(error).__name__}: {error}"), 1
    hint = "" if debug else " (run with --debug for the traceback)"
    return one_line(f"{type(error).__name__}: {error}") + hint, 1


def missing_key_message(error: MissingAPIKeyError) -> str:
    """What the command line says when a model has no key: set the variable, or run offline."""
    return (
        f"No API key for {error.provider}: set the environment variable {error.env_var}, "
        "or run offline on the test model with -m test."
    )


def print_error(error: BaseException, debug: bool) -> int:
    """Print ``error`` as one line on stderr (after its traceback when ``debug``); return its exit code."""
    message, code = describe(error, debug)
    if debug:
        sys.stderr.write(redact_secrets("".join(traceback.format_exception(type(error), error, error.__traceback__))))
    line = Text("error: ", style="bold red")
    line.append(redact_secrets(message))  # not only agentkit's errors may quote a key
    stderr_console().print(line, soft_wrap=True)
    return code


@contextmanager
def reported(debug: bool) -> Iterator[None]:
    """Turn exceptions into one line on stderr and an exit code (see :func:`describe`); 130 for Ctrl-C."""
    try:
        yield
    except KeyboardInterrupt:
        stderr_console().print(Text("Interrupted.", style="yellow"))
        raise SystemExit(130) from None
    except (SystemExit, GeneratorExit):
        raise
    except Exception as e:
        if _is_click_exit(e):
            raise
        raise SystemExit(print_error(e, debug)) from None


def _is_click_exit(error: BaseException) -> bool:
    import click

    return isinstance(error, (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort))


# --- loading files and modules ------------------------------------------------------------


@contextmanager
def _on_sys_path(directory: Path) -> Iterator[None]:
    entry = str(directory)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        with suppress(ValueError):  # the file removed it itself
            sys.path.remove(entry)


def _module_name(path: Path) -> str:
    stem = path.stem
    if stem.isidentifier() and stem not in sys.modules and importlib.util.find_spec(stem) is None:
        return stem
    base = f"_agentkit_cli_{stem if stem.isidentifier() else 'file'}"
    name, n = base, 1
    while name in sys.modules:
        n += 1
        name = f"{base}_{n}"
    return name


def load_file(path_text: str) -> ModuleType:
    """Import a Python file by path, with its directory on ``sys.path`` while it is imported.

    Raises :class:`CLIError` (exit 2) when the file is missing or its import fails;
    :class:`~agentkit.errors.UserError` raised by the file (a missing API key) passes through.
    """
    path = Path(path_text)
    if not path.exists():
        raise CLIError(f"No such file: {path_text}")
    if not path.is_file():
        raise CLIError(f"Not a file: {path_text}")
    path = path.resolve()
    name = _module_name(path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CLIError(f"Cannot import {path_text}: not a Python file.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        with _on_sys_path(path.parent):
            spec.loader.exec_module(module)
    except UserError:
        sys.modules.pop(name, None)
        raise
    except SyntaxError as e:
        sys.modules.pop(name, None)
        raise CLIError(f"{path_text}:{e.lineno}: syntax error: {e.msg}") from e
    except Exception as e:
        sys.modules.pop(name, None)
        raise CLIError(f"Importing {path_text} failed: {type(e).__name__}: {e} (--debug shows the traceback)") from e
    return module


def _looks_like_path(spec: str) -> bool:
    return spec.endswith(".py") or "/" in spec or "\\" in spec or Path(spec).is_file()


def load_module_or_file(spec: str) -> ModuleType:
    """A module by dotted name (the current directory on ``sys.path``, like ``python -m``) or a file by path."""
    if _looks_like_path(spec):
        return load_file(spec)
    if not all(part.isidentifier() for part in spec.split(".")):
        raise CLIError(f"{spec!r} is neither a Python file nor a module name.")
    try:
        with _on_sys_path(Path.cwd()):
            return importlib.import_module(spec)
    except UserError:
        raise
    except ModuleNotFoundError as e:
        if e.name is not None and (spec == e.name or spec.startswith(e.name + ".")):
            raise CLIError(f"No module named {spec!r} (and no file by that name).") from e
        raise CLIError(f"Importing {spec} failed: {e} (--debug shows the traceback)") from e
    except SyntaxError as e:
        raise CLIError(f"{e.filename}:{e.lineno}: syntax error: {e.msg}") from e
    except Exception as e:
        raise CLIError(f"Importing {spec} failed: {type(e).__name__}: {e} (--debug shows the traceback)") from e


def split_target(target: str) -> tuple[str, str | None]:
    """``"agents.py:helper"`` → ``("agents.py", "helper")``; a plain path → ``(path, None)``."""
    head, sep, tail = target.rpartition(":")
    if sep and head.endswith(".py") and tail.isidentifier() and not Path(target).exists():
        return head, tail
    return target, None


def find_agent(module: ModuleType, name: str | None, where: str) -> Agent[Any, Any]:
    """The module-level :class:`~agentkit.Agent` called ``name`` (default ``agent``)."""
    wanted = name or "agent"
    agents = sorted(key for key, value in vars(module).items() if isinstance(value, Agent))
    value = getattr(module, wanted, None)
    if isinstance(value, Agent):
        return value
    if agents:
        found = ", ".join(agents)
        raise CLIError(f"{where} has no module-level Agent named {wanted!r}; it has: {found}. Pick one with --agent NAME.")
    if value is not None:
        raise CLIError(f"{where}: {wanted!r} is a {type(value).__name__}, not an agentkit.Agent.")
    raise CLIError(f"{where} has no module-level Agent: define `agent = Agent(...)` in it (or pass --agent NAME).")


def collect_tools(module: ModuleType) -> list[Tool[Any, Any] | Toolset]:
    """Every :class:`~agentkit.Tool` and :class:`~agentkit.Toolset` at module level, and the tools
    of module-level agents, in definition order, each once."""
    found: list[Tool[Any, Any] | Toolset] = []
    seen: set[int] = set()

    def add(item: Tool[Any, Any] | Toolset) -> None:
        if id(item) not in seen:
            seen.add(id(item))
            found.append(item)

    for key, value in vars(module).items():
        if key.startswith("__"):
            continue
        if isinstance(value, Tool):
            add(value)
        elif isinstance(value, Agent):
            for t in value._toolbox.own:
                add(t)
            for toolset in value._toolbox.toolsets:
                add(toolset)
        elif not isinstance(value, type) and not isinstance(value, ModuleType) and isinstance(value, Toolset):
            add(value)
    return found


def model_or_test(model: Model | str | None, console: Console) -> Model:
    """``model`` as a :class:`Model`; without one, the offline test model and a notice saying how to use a real one."""
    if model:
        return infer_model(model)
    console.print(Text(TEST_MODEL_NOTICE, style="yellow"), soft_wrap=True)
    return infer_model("test")


def with_model(agent: Agent[Any, Any], model: Model | str | None) -> Agent[Any, Any]:
    """A copy of ``agent`` for this command, talking to ``model`` when one is given."""
    return agent.with_model(infer_model(model) if model else agent.model)
