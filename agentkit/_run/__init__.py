"""The run loop, out of ``Agent``: a frozen spec, one serializable state, the loop as decisions,
one turn's tool calls, and the wrappers the public run methods return.

``spec.py`` (what the loop knows of an agent) → ``live.py`` (one run in flight; starting and
resuming) → ``loop.py`` (model turn → ``decide.py`` → final | call tools | re-ask | pause) →
``tool_calls.py`` (one turn's calls, events as each ends) → ``stream.py`` (stream, steps, sync).
``guard.py``: input guardrails raced against a new run's first request, output guardrails before
the result (only for agents that have them).
Nothing here imports :mod:`agentkit.agent`.
"""
