"""Messages of every kind with every optional field set, for round trips through the stores."""

from __future__ import annotations

from agentkit.messages import AssistantMessage, Message, SystemMessage, ToolCall, ToolMessage, UserMessage


def every_kind() -> list[Message]:
    """One conversation using every message type and every field, with awkward text (unicode, NUL, quotes, newlines)."""
    return [
        SystemMessage(content="You are terse.\nAnswer in 'French' — \"toujours\"."),
        UserMessage(content="Météo à Paris ? 🌦️ \x00 end"),
        UserMessage(
            content=[
                {"type": "text", "text": "What is in this image?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
            ]
        ),
        AssistantMessage(
            content="Let me check.",
            tool_calls=[
                ToolCall(id="call_1", name="get_weather", arguments='{"city": "Paris"}'),
                ToolCall(id="call_2", name="broken", arguments='{"city": '),  # invalid JSON, kept as sent
            ],
            reasoning="The user wants the weather; two calls.",
            refusal="(none)",
            provider_details={
                "provider": "Mistral",
                "native_finish_reason": "tool_calls",
                "reasoning_details": [{"type": "reasoning.text", "text": "step 1", "signature": None}],
                "numbers": {"int": 2**62, "float": 0.1, "negative": -1.5e-7},
                "flags": [True, False, None],
                "unicode": "naïve ☃",
            },
            prefix=True,
        ),
        ToolMessage(tool_call_id="call_1", content="Sunny, 22 C", name="get_weather", is_error=False),
        ToolMessage(tool_call_id="call_2", content="invalid arguments: expected a value", name="broken", is_error=True),
        AssistantMessage(content=None),
        AssistantMessage(content="Il fait beau."),
    ]


TYPED_PARTS_ROW = (
    '{"role":"user","content":["What is in this image?",'
    '{"kind":"image-url","url":"data:image/png;base64,iVBORw0KGgo=","detail":"low"}]}'
)
"""How the third message of :func:`every_kind` is written since content parts are typed (issue 17)."""


def rows_written(frozen_rows: list[str]) -> list[str]:
    """The rows agentkit writes for :func:`every_kind`: schema v1's, except that content parts are
    stored typed (``{"kind": "image-url", ...}``); v1's wire-dict parts still load as typed parts."""
    rows = list(frozen_rows)
    rows[2] = TYPED_PARTS_ROW
    return rows
