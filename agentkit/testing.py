"""Test models: run agents without a network.

* :class:`ScriptedModel` — you list the responses (text, tool calls, errors); it records every
  request it got, so a test can assert on them.
* :class:`TestModel` — calls each tool once with schema-valid arguments generated from its
  schema, then answers with text or a schema-valid instance of the output type. It powers the
  offline main job (``Agent("test")``).

They are defined in :mod:`agentkit.models.test` and re-exported here unchanged.
"""

from __future__ import annotations

from .models.test import Scripted, ScriptedModel, ScriptExhausted, TestModel, reply, tool_call

__all__ = ["ScriptedModel", "TestModel", "tool_call", "reply", "ScriptExhausted", "Scripted"]
