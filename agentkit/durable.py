"""Durable runs on DBOS: a run that survives the death of its process.

``DurableAgent(agent)`` runs ``agent`` as a DBOS workflow whose steps are its model requests and
its tool calls. DBOS records each step's result in its system database (SQLite by default,
PostgreSQL in production) as the step completes; when the process dies, the next one to launch
DBOS on the same database resumes the run: the recorded steps are replayed from the database
(an answered model request is not sent again, a finished tool call is not run again) and the run
goes on from the first step that had not completed.

A tool call that was running when the process died may or may not have taken effect. It is run
again on resume only when its tool says that is harmless (``@tool(idempotent=True)``); otherwise
the call is *in doubt*: the model is told so (an error result: "it may or may not have taken
effect") and decides, or, for a tool that requires approval, the run waits for a decision
(approved: the call runs again; denied: the model is told).

A run paused for approval waits durably (days, across restarts): :func:`pending` lists the calls
and :func:`approve` decides them, from any process that reaches the system database.

This is a thin layer over the ordinary loop: the model's ``request`` and each tool's ``call`` are
wrapped as DBOS steps (their results stored as JSON through pydantic), the run is a workflow.
Everything else (hooks, guardrails, output validation) runs in the workflow's code and runs again
on replay: it must do the same thing twice. The calls of one turn run one at a time, in the order
of the model's calls, so that each has the same step number when it is replayed.

Needs ``pip install 'agentkit-loop[dbos]'``; ``import agentkit`` does not import DBOS.
"""

from __future__ import annotations

import copyreg
import dataclasses
import pickle
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Generic, Union, get_args

from dbos import DBOS, DBOSClient, SetWorkflowID, StepOptions, WorkflowHandleAsync
from pydantic import TypeAdapter
from typing_extensions import TypeVar, is_typeddict

from ._agent_run import begin, events
from ._run.loop import PLAIN, drain
from ._run.spec import RunSpec
from ._run.state import Approval, RunResult
from .content import ContentPart, Prompt
from .context import RunContext
from .errors import AgentkitError, ApprovalRequired, ModelRetry, UserError
from .messages import Message, ToolCall
from .models.base import Model, ModelRequest, ModelResponse
from .settings import ModelSettings
from .tools import Tool, ToolArgumentsError, split_result
from .usage import UsageLimits

if TYPE_CHECKING:
    from .agent import Agent

__all__ = ["DurableAgent", "approve", "pending", "IN_DOUBT", "PENDING_EVENT", "APPROVALS_TOPIC"]

DepsT = TypeVar("DepsT", default=Any)
OutputT = TypeVar("OutputT", default=str)

PENDING_EVENT = "agentkit.pending"
"""The workflow event that lists the calls a paused run waits on (JSON dicts of :class:`ToolCall`)."""
APPROVALS_TOPIC = "agentkit.approvals"
"""The topic of the messages that carry decisions ``{call_id: True | False | "reason"}``."""
IN_DOUBT = (
    "In doubt: the process running this call stopped before the call finished, so it may or may not have "
    "taken effect. It was not run again. Check whether it took effect before calling it again."
)
"""What the model reads for a call in doubt (a failed call)."""

_FRESH: set[str] = set()
"""The tokens of the begin steps that ran just now (not replayed from the database)."""
_WAIT = 24 * 3600.0
"""How long one wait for a decision lasts before the next (the run waits on, across restarts)."""


class DurableAgent(Generic[DepsT, OutputT]):
    """``agent``, run as a DBOS workflow: each model request and each tool call is a DBOS step.

    Create it before ``DBOS.launch()`` in every process that runs or resumes the agent's runs
    (launching resumes the runs a dead process left unfinished). The name (``name=``, else the
    agent's) names the workflow and its steps: keep it stable across deploys.

    Args:
        agent: the agent to run. Its handoffs are not supported in a durable run yet.
        name: the workflow's name (default: the agent's ``name``, which is then required).
    """

    def __init__(self, agent: Agent[DepsT, OutputT], *, name: str | None = None) -> None:
        label = name or agent.name
        if not label:
            raise UserError(
                "A durable agent needs a name (Agent(name=...) or DurableAgent(agent, name=...)): "
                "a restarted process finds the run's workflow and steps by it."
            )
        if agent._handoffs:
            raise UserError("Handoffs are not supported in a durable run yet: run the agent without them.")
        _check_output_type(agent.output_type)
        _picklable_errors()
        self.agent = agent
        self.name = label
        self._last: tuple[RunSpec, RunSpec] | None = None  # the agent's spec and its durable copy

        async def workflow(
            prompt: Prompt | None,
            messages: Sequence[Message] | None,
            deps: Any,
            settings: ModelSettings | None,
            usage_limits: UsageLimits | None,
        ) -> RunResult[Any]:
            return await self._execute(prompt, messages, deps, settings, usage_limits)

        self._workflow_name = f"agentkit.durable:{label}"
        self._workflow = DBOS.workflow(name=self._workflow_name)(workflow)

    async def run(
        self,
        prompt: Prompt | None = None,
        *,
        messages: Sequence[Message] | None = None,
        deps: DepsT = None,  # type: ignore[assignment]
        settings: ModelSettings | None = None,
        usage_limits: UsageLimits | None = None,
        workflow_id: str | None = None,
    ) -> RunResult[OutputT]:
        """Run to the end as a workflow (:meth:`start`, then its result). The run's inputs, ``deps``
        included, are stored with the workflow (DBOS serializes them): a resumed run gets them back.

        A run paused for approval waits here until :func:`approve` decides its calls."""
        handle = await self.start(
            prompt, messages=messages, deps=deps, settings=settings, usage_limits=usage_limits, workflow_id=workflow_id
        )
        return await handle.get_result()

    async def start(
        self,
        prompt: Prompt | None = None,
        *,
        messages: Sequence[Message] | None = None,
        deps: DepsT = None,  # type: ignore[assignment]
        settings: ModelSettings | None = None,
        usage_limits: UsageLimits | None = None,
        workflow_id: str | None = None,
    ) -> WorkflowHandleAsync[RunResult[OutputT]]:
        """Start the run as a workflow and return its DBOS handle (``workflow_id`` names it: one id
        is one run; starting it again returns the same run)."""
        args = (prompt, list(messages) if messages else None, deps, settings, usage_limits)
        _check_inputs(args)
        if workflow_id is not None:
            await self._check_reuse(workflow_id, args[0], args[1])
        if workflow_id is None:
            handle = await DBOS.start_workflow_async(self._workflow, *args)
        else:
            with SetWorkflowID(workflow_id):
                handle = await DBOS.start_workflow_async(self._workflow, *args)
        return handle

    def run_stream(self, *args: Any, **kwargs: Any) -> Any:
        """Not durable yet: raises :class:`~agentkit.errors.UserError`."""
        raise UserError("A durable run cannot stream yet: use await durable.run(...) (or start(...)), or stream the plain agent.")

    def iter(self, *args: Any, **kwargs: Any) -> Any:
        """Not durable yet: raises :class:`~agentkit.errors.UserError`."""
        raise UserError(
            "A durable run cannot be iterated yet: use await durable.run(...) (or start(...)), or iterate the plain agent."
        )

    async def _check_reuse(self, workflow_id: str, prompt: Prompt | None, messages: list[Message] | None) -> None:
        """A workflow id names one run: starting it again with other inputs is a mistake, not a new run."""
        try:
            found = await DBOS.list_workflows_async(workflow_ids=[workflow_id], load_input=True, load_output=False)
        except Exception:  # inputs that no longer unpickle here (a class renamed): DBOS's start decides
            return
        if not found or found[0].input is None:
            return
        stored = found[0].input["args"]
        if found[0].name == self._workflow_name and (stored[0] != prompt or stored[1] != messages):
            raise UserError(
                f"The workflow id {workflow_id!r} is already a run with another prompt or history ({found[0].status}): "
                "one id is one run. Give each run its own id (its result: durable.result(workflow_id))."
            )

    async def result(self, workflow_id: str) -> RunResult[OutputT]:
        """Wait for the run ``workflow_id`` (started earlier, maybe by a process that died) and return its result."""
        handle: WorkflowHandleAsync[RunResult[OutputT]] = await DBOS.retrieve_workflow_async(workflow_id)
        return await handle.get_result()

    # -- the workflow ------------------------------------------------------------------------
    async def _execute(
        self,
        prompt: Prompt | None,
        messages: Sequence[Message] | None,
        deps: Any,
        settings: ModelSettings | None,
        usage_limits: UsageLimits | None,
    ) -> RunResult[Any]:
        agent = self.agent
        await agent.connect()  # before the spec is made durable: connecting would put the plain tools back
        state = None
        approvals: dict[str, Approval] | None = None
        while True:
            run = begin(agent, prompt, messages, deps, settings, usage_limits, state, approvals, ())
            run.spec = self._durable(run.spec)
            try:
                await drain(events(agent, run, PLAIN))
            except ApprovalRequired as paused:  # wait (durably) for the decisions, then resume
                approvals = await _decisions(paused.pending)
                state, prompt, messages = paused.state, None, None
                continue
            assert run.result is not None
            return run.result

    def _durable(self, spec: RunSpec) -> RunSpec:
        """``spec`` with its model's requests and its tools' calls as DBOS steps, one call at a time."""
        last = self._last
        if last is not None and last[0] is spec:  # the agent's spec is cached until the agent changes
            return last[1]
        durable = replace(
            spec,
            model=_DurableModel(spec.model),
            tools={name: _DurableTool.wrap(tool) for name, tool in spec.tools.items()},
            tool_limits=replace(spec.tool_limits, max_concurrent=1),
        )
        self._last = (spec, durable)
        return durable


# -- approvals ---------------------------------------------------------------------------------


async def pending(workflow_id: str, *, client: DBOSClient | None = None, timeout: float = 0.0) -> list[ToolCall]:
    """The calls the run ``workflow_id`` waits on for approval (empty when it waits on none);
    ``timeout``: wait up to that many seconds for the run to publish them.

    ``client``: a ``DBOSClient`` on the run's system database, for a process that does not run
    DBOS itself (without it, DBOS must be launched in this process)."""
    await _check_waiting(workflow_id, client, ended_ok=True)
    if client is not None:
        value = await client.get_event_async(workflow_id, PENDING_EVENT, timeout)
    else:
        value = await DBOS.get_event_async(workflow_id, PENDING_EVENT, timeout)
    return [ToolCall.model_validate(call) for call in value or []]


async def approve(workflow_id: str, approvals: Mapping[str, Approval], *, client: DBOSClient | None = None) -> None:
    """Decide the pending calls of the run ``workflow_id``, by call id: True approves, False
    denies, a string denies with that reason for the model. The run resumes where it waits (in
    whichever process runs it, or the next one to launch DBOS); the calls left undecided keep it
    waiting. Decisions sent while the run waits on no call are read when it next waits (those on
    calls it does not wait on then are dropped).

    Raises:
        UserError: a decision that is not True, False or a str; no run ``workflow_id`` in the
            system database; a run that has ended (it waits on nothing); a call id that is not
            among the calls the run waits on now."""
    decisions = dict(approvals)
    for key, decision in decisions.items():
        if not isinstance(decision, (bool, str)):
            raise UserError(f"The approval for {key!r} must be True, False or a reason (str), not {type(decision).__name__}.")
    await _check_waiting(workflow_id, client, ended_ok=False)
    waiting = {call.id for call in await pending(workflow_id, client=client)}
    unknown = sorted(set(decisions) - waiting)
    if waiting and unknown:
        raise UserError(
            f"The durable run {workflow_id!r} waits on the calls {sorted(waiting)}, not on {unknown}: "
            "decide the calls pending() lists."
        )
    if client is not None:
        await client.send_async(workflow_id, decisions, APPROVALS_TOPIC)
    else:
        await DBOS.send_async(workflow_id, decisions, APPROVALS_TOPIC)


async def _check_waiting(workflow_id: str, client: DBOSClient | None, *, ended_ok: bool) -> None:
    """The run ``workflow_id`` exists (and, unless ``ended_ok``, has not ended), else a UserError saying so."""
    where = client if client is not None else DBOS
    found = await where.list_workflows_async(workflow_ids=[workflow_id], load_input=False, load_output=False)
    if not found:
        raise UserError(
            f"There is no durable run {workflow_id!r} in this system database: check the id, and that DBOS "
            "(or the DBOSClient) uses the database the run was started on."
        )
    if not ended_ok and found[0].status in ("SUCCESS", "ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"):
        raise UserError(f"The durable run {workflow_id!r} has ended ({found[0].status}): it waits on no approval.")


async def _decisions(calls: Sequence[ToolCall]) -> dict[str, Approval]:
    """In the workflow: publish ``calls`` as pending and wait (durably) for decisions on some of them."""
    ids = {call.id for call in calls}
    await DBOS.set_event_async(PENDING_EVENT, [call.model_dump(mode="json") for call in calls])
    while True:
        message = await DBOS.recv_async(APPROVALS_TOPIC, timeout_seconds=_WAIT)
        if isinstance(message, dict):
            decided = {key: value for key, value in message.items() if key in ids and isinstance(value, (bool, str))}
            if decided:
                await DBOS.set_event_async(PENDING_EVENT, [])
                return decided


# -- steps -------------------------------------------------------------------------------------


class _DurableModel(Model):
    """A model whose requests are DBOS steps (the answer stored as JSON)."""

    def __init__(self, inner: Model) -> None:
        self.inner = inner
        self.model_name = inner.model_name
        self.provider = inner.provider
        self.context_length = inner.context_length

    async def request(self, request: ModelRequest) -> ModelResponse:
        text = await DBOS.run_step_async({"name": "agentkit.model.request"}, self._send, request)
        return _responses().validate_json(text)

    async def _send(self, request: ModelRequest) -> str:
        return _responses().dump_json(await self.inner.request(request)).decode()

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __repr__(self) -> str:
        return f"Durable({self.inner!r})"


@dataclass
class _Outcome:
    """A tool step's result: the tool's text and parts, what it raised for the model, or in doubt."""

    text: str = ""
    parts: list[ContentPart] | None = None
    retry: Union[str, None] = None
    bad_arguments: Union[str, None] = None
    raised: Union[tuple[str, str], None] = None
    in_doubt: bool = False

    def value(self) -> Any:
        """What the tool returned, again (as ``split_result`` reads it), or what it raised."""
        if self.retry is not None:
            raise ModelRetry(self.retry)
        if self.bad_arguments is not None:
            raise ToolArgumentsError(self.bad_arguments)
        if self.raised is not None:
            name, message = self.raised
            raise type(name, (Exception,), {})(message)  # the same name and text as the tool's own exception
        if self.parts:
            return [self.text, *self.parts] if self.text else list(self.parts)
        return self.text


class _DurableTool(Tool[Any, Any]):
    """A tool whose calls are DBOS steps: a begin step (that the call was started), then the call
    (its outcome stored as JSON). A begin step replayed from the database without the call's step
    after it means an earlier execution of the run (a process that died) was cut short inside the call."""

    _inner: Tool[Any, Any]

    @classmethod
    def wrap(cls, tool: Tool[Any, Any]) -> _DurableTool:
        durable: _DurableTool = object.__new__(cls)
        durable.__dict__.update(tool.__dict__)
        durable._inner = tool
        return durable

    async def call(self, arguments: str, ctx: RunContext[Any]) -> Any:
        token = await DBOS.run_step_async({"name": f"agentkit.tool.begin:{self.name}"}, _began)
        cut_short = token not in _FRESH  # replayed: an earlier execution began the call and never recorded its end
        _FRESH.discard(token)
        step: StepOptions = {"name": f"agentkit.tool:{self.name}"}
        outcome = _outcomes().validate_json(await DBOS.run_step_async(step, self._run, arguments, ctx, cut_short))
        if outcome.in_doubt:
            return await self._decide(arguments, ctx)
        return outcome.value()

    async def _run(self, arguments: str, ctx: RunContext[Any], cut_short: bool) -> str:
        """The step: the call (not when it was cut short and may not run twice)."""
        inner = self._inner
        if cut_short and not inner.idempotent:
            outcome = _Outcome(in_doubt=True)
        else:
            try:
                text, parts = split_result(await inner.call(arguments, ctx))
                outcome = _Outcome(text, parts or None)
            except ModelRetry as e:
                outcome = _Outcome(retry=e.message)
            except ToolArgumentsError as e:
                outcome = _Outcome(bad_arguments=e.message)
            except AgentkitError:  # ends the run, or pauses it (a sub-agent's approval): stored as raised
                raise
            except Exception as e:
                outcome = _Outcome(raised=(type(e).__name__, str(e)))
        return _outcomes().dump_json(outcome).decode()

    async def _decide(self, arguments: str, ctx: RunContext[Any]) -> Any:
        """A call in doubt: the model decides, or (a tool that requires approval) an approval does."""
        if not self._inner.requires_approval:
            raise ModelRetry(IN_DOUBT)
        call = ToolCall(id=ctx.tool_call_id or "", name=self.name, arguments=arguments)
        decision = (await _decisions([call])).get(call.id)
        if decision is not True:
            reason = f": {decision.rstrip('.')}." if isinstance(decision, str) and decision else "."
            raise ModelRetry(f"{IN_DOUBT} The user decided not to run it again{reason}")
        return await self.call(arguments, ctx)  # begun anew: cut short again, it is in doubt again


async def _began() -> str:
    token = uuid.uuid4().hex
    _FRESH.add(token)
    return token


def _check_inputs(args: tuple[Any, ...]) -> None:
    """The run's inputs pickle (DBOS stores them with pickle to resume the run), else a UserError that says which."""
    for label, value in zip(("prompt", "messages", "deps", "settings", "usage_limits"), args, strict=True):
        try:
            pickle.dumps(value)
        except Exception as e:  # not the value's repr: deps may hold secrets
            raise UserError(
                f"The {label} of a durable run must pickle: DBOS stores the run's inputs to resume it in another process "
                f"({type(e).__name__}: {e}). Pass what rebuilds the rest instead (an id, a URL, a config) and "
                "build clients and connections in the tools."
            ) from None


def _check_output_type(output_type: Any) -> None:
    """Every class in ``output_type`` pickles by name (DBOS stores the run's result with pickle), else a UserError."""
    todo, seen = [output_type], set()
    while todo:
        kind = todo.pop()
        if id(kind) in seen:
            continue
        seen.add(id(kind))
        todo.extend(get_args(kind))
        if isinstance(kind, type) and not is_typeddict(kind) and kind.__module__ != "builtins":
            _check_class(kind)
            todo.extend(_field_types(kind))


def _check_class(kind: type) -> None:
    try:
        pickle.dumps(kind)
    except Exception as e:
        raise UserError(
            f"The output type {kind.__qualname__} of a durable agent must pickle (DBOS stores the run's result with "
            f"pickle): define it at the top level of a module ({type(e).__name__}: {e})."
        ) from None


def _field_types(kind: type) -> list[Any]:
    """The types of a pydantic model's or a dataclass's fields (their values are pickled with the result)."""
    fields = getattr(kind, "model_fields", None)
    if isinstance(fields, dict):
        return [field.annotation for field in fields.values()]
    if dataclasses.is_dataclass(kind):
        return [field.type for field in dataclasses.fields(kind) if not isinstance(field.type, str)]
    return []


def _picklable_errors() -> None:
    """agentkit's errors as pickle can bring them back: DBOS stores what a step or a run raised with
    pickle, which passes only ``args`` to the class again, and most of these errors also need
    keyword arguments (``pending=``, ``tool_name=``...). Rebuilt from their fields instead."""
    classes: list[type[BaseException]] = [AgentkitError]
    while classes:
        cls = classes.pop()
        copyreg.pickle(cls, _reduce_error)
        classes.extend(cls.__subclasses__())


def _reduce_error(error: BaseException) -> tuple[Any, ...]:
    return _rebuild_error, (type(error), error.args, dict(error.__dict__))


def _rebuild_error(cls: type[BaseException], args: tuple[Any, ...], fields: dict[str, Any]) -> BaseException:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(fields)
    return error


@lru_cache(maxsize=1)
def _responses() -> TypeAdapter[ModelResponse]:
    return TypeAdapter(ModelResponse)


@lru_cache(maxsize=1)
def _outcomes() -> TypeAdapter[_Outcome]:
    return TypeAdapter(_Outcome)
