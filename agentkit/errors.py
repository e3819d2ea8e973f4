"""One exception hierarchy for everything agentkit raises.

Three families, so callers can catch exactly what they mean:

* :class:`UserError` — the caller used agentkit wrongly (bad model string, missing API key,
  a function that cannot become a tool). Raised at once, before any request.
* :class:`AgentRunError` — a run could not finish: the model kept misbehaving past its retry
  budgets, or the run hit ``max_turns``. Each carries the messages so far, so nothing is lost.
* :class:`ProviderError` — the provider answered with an error (or could not be reached). Each
  carries the HTTP status, the provider's own message, code and type, ``retry_after`` and the
  request id. API keys never appear in them.

:class:`ModelRetry` is not an error of agentkit's: tools raise it to ask the model for a correction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._secrets import redact_secrets
from ._secrets import redact_value as redact_value
from ._secrets import register_secret as register_secret

if TYPE_CHECKING:
    from .messages import Message
    from .usage import Usage

__all__ = [
    "AgentkitError",
    "UserError",
    "ToolDefinitionError",
    "MissingAPIKeyError",
    "InvalidRunState",
    "ModelRetry",
    "AgentRunError",
    "MaxTurnsExceeded",
    "ToolRetriesExceeded",
    "OutputValidationError",
    "UnexpectedModelBehavior",
    "RateLimiterUnavailable",
    "UsageLimitExceeded",
    "BatchCostExceeded",
    "ApprovalRequired",
    "HookError",
    "ToolExecutionError",
    "MaxHandoffsExceeded",
    "GuardrailTripped",
    "GuardrailError",
    "ProviderError",
    "BadRequestError",
    "ContextLengthExceeded",
    "AuthenticationError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "NotFoundError",
    "RequestTimeoutError",
    "RequestTooLargeError",
    "RateLimitError",
    "ProviderUnavailableError",
    "APIConnectionError",
    "APITimeoutError",
    "StreamEndedEarly",
    "ResponseParseError",
    "AllModelsFailed",
    "error_class_for_status",
    "redact_secrets",
]


class AgentkitError(Exception):
    """Base class of every exception agentkit raises (except :class:`ModelRetry`).

    Its text never shows an API key agentkit has sent (see :func:`redact_secrets`).
    """

    def __init__(self, *args: Any) -> None:
        super().__init__(*(redact_secrets(a) if isinstance(a, str) else a for a in args))

    def __str__(self) -> str:
        return redact_secrets(super().__str__())

    def __reduce__(self) -> tuple[Any, ...]:
        # rebuilt without calling __init__, so errors with keyword-only arguments pickle too
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(cls: type[Exception], args: tuple[Any, ...], state: dict[str, Any]) -> Exception:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


# --- user mistakes -------------------------------------------------------------------------


class UserError(AgentkitError, ValueError):
    """agentkit was used wrongly; the message says what to do instead."""


class ToolDefinitionError(UserError, TypeError):
    """A function cannot become a tool (raised when it is decorated, not when it is called)."""


class MissingAPIKeyError(UserError):
    """No API key was given and the environment variable that provides one is not set."""

    def __init__(self, provider: str, env_var: str) -> None:
        self.provider = provider
        self.env_var = env_var
        super().__init__(f"No API key for {provider}: set the environment variable {env_var} or pass api_key=... to the model.")


class InvalidRunState(UserError):
    """A :class:`~agentkit.RunState` that cannot be loaded or resumed: the message says what is wrong
    (a negative turn, an unknown field, JSON that is not a run state, approvals for calls that
    are not pending, ...)."""


# --- tools asking for a correction ----------------------------------------------------------


class ModelRetry(Exception):
    """Raise inside a tool to send ``message`` back to the model and let it try again.

    Each tool has a retry budget (``Tool(retries=...)``, default from ``Agent(tool_retries=...)``);
    when the model keeps failing past it, the run ends with :class:`ToolRetriesExceeded`.
    """

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


# --- a run that could not finish -------------------------------------------------------------


class AgentRunError(AgentkitError):
    """A run ended without a result. ``messages`` holds the conversation up to that point."""

    def __init__(self, message: str, *, messages: Sequence[Message] = (), usage: Usage | None = None) -> None:
        super().__init__(message)
        self.messages: list[Message] = list(messages)
        self.usage = usage


class MaxTurnsExceeded(AgentRunError):
    """The run made ``max_turns`` model requests without reaching a final answer."""


class ToolRetriesExceeded(AgentRunError):
    """The model kept calling a tool wrongly (or the tool kept failing) past its retry budget."""

    def __init__(
        self,
        message: str,
        *,
        tool_name: str,
        last_error: str,
        messages: Sequence[Message] = (),
        usage: Usage | None = None,
    ) -> None:
        super().__init__(message, messages=messages, usage=usage)
        self.tool_name = tool_name
        self.last_error = last_error


class OutputValidationError(AgentRunError):
    """The final answer never matched ``output_type`` within ``output_retries`` re-asks.

    ``raw_text`` is the model's last answer as sent; ``errors`` the validation errors for it.
    """

    def __init__(
        self,
        message: str,
        *,
        raw_text: str | None,
        errors: Sequence[str],
        messages: Sequence[Message] = (),
        usage: Usage | None = None,
    ) -> None:
        super().__init__(message, messages=messages, usage=usage)
        self.raw_text = raw_text
        self.errors = list(errors)


class UsageLimitExceeded(AgentRunError):
    """A :class:`~agentkit.usage.UsageLimits` limit would be passed; ``usage`` holds what was used."""


class BatchCostExceeded(UsageLimitExceeded):
    """The next request would pass a batch's ``max_cost`` (``run_many(max_cost=...)``): it stops the batch."""


class ApprovalRequired(AgentRunError):
    """The model called tools that require approval: the run is paused before running them.

    ``pending`` lists those calls (``ToolCall``: id, name, arguments); ``state`` is the
    :class:`~agentkit.agent.RunState` to resume from (JSON-serializable). Resume with
    ``agent.run(state=e.state, approvals={call.id: True | False | "reason"})``.
    """

    def __init__(
        self, message: str, *, pending: Sequence[Any], state: Any, messages: Sequence[Message] = (), usage: Usage | None = None
    ) -> None:
        super().__init__(message, messages=messages, usage=usage)
        self.pending = list(pending)
        self.state = state


class HookError(AgentRunError):
    """A hook or history processor raised: the run ended. ``hook`` names it (``MyHooks.before_tool_call``);
    the original exception is ``__cause__``."""

    def __init__(self, message: str, *, hook: str, messages: Sequence[Message] = (), usage: Usage | None = None) -> None:
        super().__init__(message, messages=messages, usage=usage)
        self.hook = hook


class ToolExecutionError(AgentRunError):
    """A tool raised an unexpected exception and the agent has ``tool_errors="raise"``.

    ``tool_name`` and ``tool_call_id`` name the call; the tool's exception is ``__cause__``.
    (With the default ``tool_errors="return"`` the error goes back to the model instead.)
    """

    def __init__(
        self, message: str, *, tool_name: str, tool_call_id: str, messages: Sequence[Message] = (), usage: Usage | None = None
    ) -> None:
        super().__init__(message, messages=messages, usage=usage)
        self.tool_name = tool_name
        self.tool_call_id = tool_call_id


class MaxHandoffsExceeded(AgentRunError):
    """The run handed off more often than its ``max_handoffs`` allows (e.g. two agents passing
    the conversation back and forth); ``handoffs`` lists the hops, ``(from_agent, to_agent)``."""

    def __init__(
        self,
        message: str,
        *,
        handoffs: Sequence[tuple[str, str]] = (),
        messages: Sequence[Message] = (),
        usage: Usage | None = None,
    ) -> None:
        super().__init__(message, messages=messages, usage=usage)
        self.handoffs = list(handoffs)


class GuardrailTripped(AgentRunError):
    """A guardrail tripped and ended the run.

    ``guardrail`` names it, ``kind`` says which (``"input"``, ``"output"`` or ``"tool"``), ``info``
    is what it returned in :class:`~agentkit.guardrails.GuardrailResult`; ``messages`` holds the
    conversation so far.
    """

    def __init__(
        self,
        message: str,
        *,
        guardrail: str,
        kind: str,
        info: Any = None,
        messages: Sequence[Message] = (),
        usage: Usage | None = None,
    ) -> None:
        super().__init__(message, messages=messages, usage=usage)
        self.guardrail = guardrail
        self.kind = kind
        self.info = info


class GuardrailError(HookError):
    """A guardrail raised (or returned something other than a ``GuardrailResult``): the run ended.

    Like a failing hook (it is a :class:`HookError`, ``hook`` is the guardrail's name too):
    ``guardrail`` names it, ``kind`` says which (``"input"``, ``"output"`` or ``"tool"``); the
    original exception is ``__cause__``.
    """

    def __init__(
        self, message: str, *, guardrail: str, kind: str, messages: Sequence[Message] = (), usage: Usage | None = None
    ) -> None:
        super().__init__(message, hook=guardrail, messages=messages, usage=usage)
        self.guardrail = guardrail
        self.kind = kind


class UnexpectedModelBehavior(AgentRunError):
    """The model answered in a way the loop cannot continue from (e.g. an empty response)."""


class RateLimiterUnavailable(AgentkitError):
    """A shared rate limiter (:class:`~agentkit.ratelimit.RedisRateLimiter`) could not reach its
    store (Redis down, refused, timed out, a wrong password) or its store answered with an error.

    Raised by the request that needed a slot, after the client's own short retries, never after
    an unbounded wait; ``run_many`` stops the batch with it, as every input would fail the same
    way. The message names the server without its password.
    """


# --- provider errors -------------------------------------------------------------------------


class ProviderError(AgentkitError):
    """The provider answered with an error, or could not be reached.

    Attributes: ``status`` (HTTP status, or None for connection problems), ``provider``,
    ``message`` (the provider's own words), ``code`` and ``type`` (the provider's error code and
    type, when it sends them), ``retry_after`` (seconds, from ``Retry-After``), ``request_id``
    (from the response headers) and ``body`` (the decoded error body, or its text).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        provider: str = "",
        code: str | int | None = None,
        type: str | None = None,
        retry_after: float | None = None,
        request_id: str | None = None,
        body: Any = None,
    ) -> None:
        # a server may echo the request (and its key) anywhere in its answer: every field is redacted
        self.message: str = redact_secrets(str(message))
        self.status = status
        self.provider = provider
        self.code: str | int | None = redact_value(code)
        self.type: str | None = redact_value(type)
        self.retry_after = retry_after
        self.request_id: str | None = redact_value(request_id)
        self.body: Any = redact_value(body)
        super().__init__(self.message)

    def __str__(self) -> str:
        where = f"{self.provider} " if self.provider else ""
        status = f"HTTP {self.status}" if self.status is not None else "no response"
        extra = []
        if self.code is not None:
            extra.append(f"code={self.code}")
        if self.type:
            extra.append(f"type={self.type}")
        if self.request_id:
            extra.append(f"request_id={self.request_id}")
        tail = f" ({', '.join(extra)})" if extra else ""
        return f"{where}{status}: {redact_secrets(f'{self.message}{tail}')}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class BadRequestError(ProviderError):
    """HTTP 400 or 422: the provider rejected the request as invalid."""


class ContextLengthExceeded(BadRequestError):
    """The request would not fit the model's context length: raised before anything is sent, in
    place of the 400 the provider would answer (so a :class:`~agentkit.models.FallbackModel` moves
    on to its next model as it would on that 400).

    Attributes: ``estimate`` (the estimated prompt tokens), ``limit`` (the model's context
    length) and ``max_tokens`` (the tokens asked for the answer, or None). ``status`` is None:
    no request was made.
    """

    def __init__(self, message: str, *, estimate: int, limit: int, max_tokens: int | None = None, provider: str = "") -> None:
        super().__init__(message, provider=provider, code="context_length_exceeded")
        self.estimate = estimate
        self.limit = limit
        self.max_tokens = max_tokens

    def __str__(self) -> str:
        where = f"{self.provider}: " if self.provider else ""
        return f"{where}{self.message} (not sent)"


class AuthenticationError(ProviderError):
    """HTTP 401: the API key is missing, wrong or revoked."""


class PaymentRequiredError(ProviderError):
    """HTTP 402: out of credits (OpenRouter also says this when max_tokens is too large)."""


class PermissionDeniedError(ProviderError):
    """HTTP 403: not allowed, including moderation refusals."""


class NotFoundError(ProviderError):
    """HTTP 404: unknown model or endpoint."""


class RequestTimeoutError(ProviderError):
    """HTTP 408 or 524: the provider timed out."""


class RequestTooLargeError(ProviderError):
    """HTTP 413: the request body is too large."""


class RateLimitError(ProviderError):
    """HTTP 429: rate limited; ``retry_after`` says how long to wait when the provider says."""


class ProviderUnavailableError(ProviderError):
    """HTTP 5xx or 529: the provider (or every upstream it routes to) is unavailable."""


class APIConnectionError(ProviderError):
    """The provider could not be reached, or the connection broke before a full answer."""


class APITimeoutError(APIConnectionError):
    """Connecting to the provider or reading its answer took longer than the timeout."""


class StreamEndedEarly(APIConnectionError):
    """A streamed response ended before it was complete (no ``[DONE]``, no finish reason).

    ``partial`` is the response assembled from what did arrive (a ``ModelResponse``).
    """

    def __init__(self, message: str, *, partial: Any = None, provider: str = "") -> None:
        super().__init__(message, provider=provider)
        self.partial = partial


class ResponseParseError(ProviderError):
    """The provider answered 2xx with a body that is not the JSON agentkit expects."""


class AllModelsFailed(ProviderError):
    """Every model of a ``FallbackModel`` failed; ``errors`` holds each one's error, in order.

    ``status``, ``code``, ``type``, ``retry_after`` and ``request_id`` are the last error's.
    """

    def __init__(self, errors: Sequence[ProviderError]) -> None:
        if not errors:
            raise ValueError("AllModelsFailed needs at least one error")
        self.errors = list(errors)
        last = self.errors[-1]
        super().__init__(
            f"all {len(self.errors)} models failed: " + "; ".join(f"[{type(e).__name__}] {e}" for e in self.errors),
            status=last.status,
            provider="fallback",
            code=last.code,
            type=last.type,
            retry_after=last.retry_after,
            request_id=last.request_id,
        )


_BY_STATUS: dict[int, type[ProviderError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: RequestTimeoutError,
    413: RequestTooLargeError,
    422: BadRequestError,
    429: RateLimitError,
    524: RequestTimeoutError,
    529: ProviderUnavailableError,
}


def error_class_for_status(status: int) -> type[ProviderError]:
    """The :class:`ProviderError` subclass for an HTTP status."""
    cls = _BY_STATUS.get(status)
    if cls is not None:
        return cls
    if status >= 500:
        return ProviderUnavailableError
    if status >= 400:
        return BadRequestError
    return ProviderError
