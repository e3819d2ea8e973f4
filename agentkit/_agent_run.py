"""How an :class:`~agentkit.Agent` becomes a run: its frozen spec, the live run (options checked),
and the loop's events with the agent's toolsets connected first.

The run methods of ``agent.py`` call these; :mod:`agentkit._run` never sees the agent itself.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

from ._run.hooks import HookSet, prepare_hooks
from ._run.live import LiveRun, check_deps
from ._run.loop import Driver, LoopEvent, run_loop
from ._run.persist import check_session
from ._run.spec import RunSpec, check_settings
from ._run.state import Approval, RunState
from .content import Prompt
from .hooks import Hooks
from .instrumentation import observer
from .messages import Message
from .runlog import log_hooks
from .settings import ModelSettings
from .usage import UsageLimits

if TYPE_CHECKING:
    from .agent import Agent
    from .sessions import Session

__all__ = ["SPEC_OPTIONS", "build_spec", "begin", "events"]

SPEC_OPTIONS: tuple[str, ...] = ("output_type", "instructions", "max_turns", "output_retries", "tool_retries")
SPEC_OPTIONS += ("reset_tool_choice", "approve", "tool_errors", "tool_limits", "name", "deps_type", "max_handoffs")
"""The agent's attributes a :class:`RunSpec` copies as they are."""


def build_spec(agent: Agent[Any, Any], extra_hooks: HookSet | None = None) -> RunSpec:
    """All the loop needs of ``agent``, frozen for one run (cached until the agent changes)."""
    cached: RunSpec | None = agent.__dict__.get("_cached_spec")
    toolbox = agent._toolbox
    watch = observer(agent.instrument)  # traces and log lines, when wanted (None: neither)
    logged = log_hooks(agent.log)  # the run log's hooks (None: not recorded)
    same = extra_hooks is None and agent.__dict__.get("_watched", 0) is watch and agent.__dict__.get("_logged", 0) is logged
    if same and cached is not None and cached.tools is toolbox.by_name:
        return cached
    hooks = agent._hooks + extra_hooks if extra_hooks is not None else agent._hooks
    if logged is not None:
        hooks = logged[0] + hooks + logged[1]  # its before_* hooks first (times), after_* last (what the model reads)
    spec = RunSpec(
        model=agent.model if watch is None else watch.wrap(agent.model),
        tools=toolbox.by_name,
        tool_defs=toolbox.definitions,
        output=agent._output,
        hooks=hooks if watch is None else watch.first + hooks + watch.last,
        handoffs={h.tool_name: h for h in agent._handoffs},
        input_guardrails=agent._input_guardrails,
        output_guardrails=agent._output_guardrails,
        agent=agent,
        **{option: getattr(agent, option) for option in SPEC_OPTIONS},
    )
    if extra_hooks is None:
        agent.__dict__["_cached_spec"] = spec
        agent.__dict__["_watched"] = watch
        agent.__dict__["_logged"] = logged
    return spec


def begin(
    agent: Agent[Any, Any],
    prompt: Prompt | None,
    messages: Sequence[Message] | None,
    deps: Any,
    settings: ModelSettings | None,
    usage_limits: UsageLimits | None,
    state: RunState | None,
    approvals: Mapping[str, Approval] | None,
    hooks: Sequence[Hooks],
    session: Session | None = None,
) -> LiveRun:
    """Check one run's options and set it up: the spec and the live run."""
    check_settings(settings)
    if session is not None:
        check_session(session, messages)
    run_settings = agent.settings.merge(settings) if settings is not None else agent.settings
    toolbox = agent._toolbox
    if settings is not None and toolbox.connected:
        toolbox.check_tool_choice(run_settings)  # else once the toolsets are connected
    extra = prepare_hooks(hooks) if hooks else None
    spec = build_spec(agent, extra)
    run = LiveRun.start(spec, prompt, messages, deps, run_settings, usage_limits or agent.usage_limits, state, approvals)
    run.extra_hooks, run.override = extra, settings  # what a handoff carries over to the next agent
    if session is not None:
        run.session = session
        run.saved = len(run.state.messages) if state is not None else 0  # a paused run's messages are stored
    return run


def events(agent: Agent[Any, Any], run: LiveRun, driver: Driver) -> AsyncGenerator[LoopEvent, None]:
    """The run's events; the agent's toolsets are connected first when they are not yet."""
    return run_loop(run, driver, None if agent._toolbox.connected else partial(_connect, agent))


async def _connect(agent: Agent[Any, Any], run: LiveRun) -> None:
    """Connect the toolsets; their tools join the run's spec."""
    await agent.connect()
    toolbox = agent._toolbox
    run.spec = replace(run.spec, tools=toolbox.by_name, tool_defs=toolbox.definitions)
    toolbox.check_tool_choice(run.settings)
    check_deps(run.spec, run.deps)  # the toolsets' tools too
