"""OpenTelemetry spans of runs (agentkit.instrumentation): the span tree, attributes by the GenAI
semantic conventions, content off and on, no key anywhere, errors, streams, retries; the
``agentkit`` log lines; and one export with the real OTLP/HTTP exporter to a receiver on 127.0.0.1."""

from __future__ import annotations

import gzip
import json
import logging
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import agentkit
from agentkit import Agent, InstrumentationSettings, ModelSettings, UserError, tool
from agentkit.errors import ProviderError
from agentkit.events import TextDelta
from agentkit.models import OpenAICompatible
from agentkit.models.test import ScriptedModel, reply, tool_call
from tests.support.server import Reply, call, chat_completion
from tests.support.sse import sse, text_stream

KEY = "sk-instrumentation-secret-4242"


@tool
def get_weather(city: str) -> str:
    """Get the weather.

    Args:
        city: City name.
    """
    return f"Sunny in {city}"


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter, provider
    provider.shutdown()


def _settings(provider, content=False):
    return InstrumentationSettings(tracer_provider=provider, include_content=content)


def _by_name(exporter):
    return {s.name: s for s in exporter.get_finished_spans()}


def _model(server, **kw):
    return OpenAICompatible("loopback-model", base_url=server.url + "/v1", api_key=KEY, **kw)


def _tool_then_answer(loopback):
    return loopback(
        [
            Reply(body=chat_completion(None, [call("get_weather", {"city": "Paris"}, "call_a")])),
            Reply(body=chat_completion("Sunny.", usage={"prompt_tokens": 30, "completion_tokens": 7, "total_tokens": 37})),
        ]
    )


def test_a_run_is_a_tree_of_spans_with_genai_attributes(loopback, spans):
    exporter, provider = spans
    server = _tool_then_answer(loopback)
    settings = ModelSettings(temperature=0.2, max_tokens=100, seed=7, top_p=0.9)
    agent = Agent(_model(server), name="weather", tools=[get_weather], settings=settings, instrument=_settings(provider))
    assert agent.run_sync("Weather in Paris?").output == "Sunny."
    finished = exporter.get_finished_spans()
    assert sorted(s.name for s in finished) == [
        "chat loopback-model",
        "chat loopback-model",
        "execute_tool get_weather",
        "invoke_agent weather",
    ]
    root = _by_name(exporter)["invoke_agent weather"]
    assert root.parent is None
    assert all(s.parent.span_id == root.context.span_id for s in finished if s is not root)
    assert len({s.context.trace_id for s in finished}) == 1
    assert root.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert root.attributes["gen_ai.agent.name"] == "weather"
    assert root.attributes["gen_ai.usage.input_tokens"] == 40 and root.attributes["gen_ai.usage.output_tokens"] == 12
    chats = sorted((s for s in finished if s.name.startswith("chat")), key=lambda s: s.start_time)
    first = chats[0].attributes
    assert first["gen_ai.operation.name"] == "chat"
    assert first["gen_ai.provider.name"] == "openai-compatible" or first["gen_ai.provider.name"]
    assert first["gen_ai.request.model"] == "loopback-model"
    assert first["gen_ai.response.model"] == "loopback-model"
    assert first["gen_ai.response.id"] == "chatcmpl-loopback"
    assert tuple(first["gen_ai.response.finish_reasons"]) == ("tool_calls",)
    assert first["gen_ai.request.temperature"] == 0.2 and first["gen_ai.request.max_tokens"] == 100
    assert first["gen_ai.request.seed"] == 7 and first["gen_ai.request.top_p"] == 0.9
    assert first["gen_ai.usage.input_tokens"] == 10 and first["gen_ai.usage.output_tokens"] == 5
    assert chats[1].attributes["gen_ai.usage.input_tokens"] == 30
    tool_span = _by_name(exporter)["execute_tool get_weather"].attributes
    assert tool_span["gen_ai.operation.name"] == "execute_tool"
    assert tool_span["gen_ai.tool.name"] == "get_weather" and tool_span["gen_ai.tool.call.id"] == "call_a"
    for span in finished:  # content is off by default
        assert not any(k in span.attributes for k in ("gen_ai.input.messages", "gen_ai.output.messages"))
        assert "gen_ai.tool.call.arguments" not in span.attributes and "gen_ai.tool.call.result" not in span.attributes


def _everything(exporter) -> str:
    out = []
    for span in exporter.get_finished_spans():
        out.append(span.to_json())
    return "\n".join(out)


def test_content_is_recorded_only_when_asked_and_keys_never(loopback, spans):
    exporter, provider = spans
    server = _tool_then_answer(loopback)
    agent = Agent(_model(server), tools=[get_weather], instrument=True)
    agent.instrument = _settings(provider, content=False)
    agent.run_sync(f"Weather in Paris? my key is {KEY}")
    text = _everything(exporter)
    assert "Paris" not in text and KEY not in text
    exporter.clear()
    server = _tool_then_answer(loopback)
    agent = Agent(_model(server), tools=[get_weather], instrument=_settings(provider, content=True))
    agent.run_sync(f"Weather in Paris? my key is {KEY}")
    spans_ = _by_name(exporter)
    chat_inputs = [s.attributes.get("gen_ai.input.messages", "") for s in exporter.get_finished_spans()]
    assert any("Weather in Paris?" in c for c in chat_inputs)
    assert "Sunny in Paris" in spans_["execute_tool get_weather"].attributes["gen_ai.tool.call.result"]
    assert json.loads(spans_["execute_tool get_weather"].attributes["gen_ai.tool.call.arguments"]) == {"city": "Paris"}
    text = _everything(exporter)
    assert KEY not in text and "***" in text


def test_a_sub_agent_runs_under_its_tool_call_and_a_handoff_is_an_event(spans):
    exporter, provider = spans
    settings = _settings(provider)
    helper = Agent(ScriptedModel(["helped"]), name="helper", instrument=settings)
    lead = Agent(
        ScriptedModel([reply(None, tool_call("helper", {"input": "do it"}, id="call_h")), "done"]),
        name="lead",
        tools=[helper.as_tool()],
        instrument=settings,
    )
    lead.run_sync("go")
    spans_ = _by_name(exporter)
    call_span = spans_["execute_tool helper"]
    sub = spans_["invoke_agent helper"]
    assert sub.parent.span_id == call_span.context.span_id
    assert call_span.parent.span_id == spans_["invoke_agent lead"].context.span_id
    sub_chats = [
        s for s in exporter.get_finished_spans() if s.name.startswith("chat") and s.parent.span_id == sub.context.span_id
    ]
    assert len(sub_chats) == 1
    exporter.clear()

    target = Agent(ScriptedModel(["from billing"]), name="billing", instrument=settings)
    triage = Agent(
        ScriptedModel([reply(None, tool_call("transfer_to_billing", {}, id="call_t"))]),
        name="triage",
        handoffs=[target],
        instrument=settings,
    )
    assert triage.run_sync("my bill").output == "from billing"
    finished = exporter.get_finished_spans()
    roots = [s for s in finished if s.parent is None]
    assert [s.name for s in roots] == ["invoke_agent triage"]
    chats = [s for s in finished if s.name.startswith("chat")]
    assert len(chats) == 2 and all(s.parent.span_id == roots[0].context.span_id for s in chats)
    events = [e for e in roots[0].events if e.name == "agentkit.handoff"]
    assert events and events[0].attributes["agentkit.handoff.from"] == "triage"
    assert events[0].attributes["agentkit.handoff.to"] == "billing"


class _SampleAgents:
    """A sampler that records runs of the named agents only, decided on the attributes a root span
    starts with (so they must be given at its start), and follows the parent below a root."""

    def __init__(self, *names):
        from opentelemetry.sdk.trace.sampling import Decision, ParentBased, StaticSampler

        self.names = names
        self.seen = []
        self.parent_based = ParentBased(StaticSampler(Decision.DROP))

    def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None, trace_state=None):
        from opentelemetry.sdk.trace.sampling import Decision, SamplingResult
        from opentelemetry.trace import get_current_span

        if get_current_span(parent_context).get_span_context().is_valid:
            return self.parent_based.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)
        self.seen.append(dict(attributes or {}))
        record = (attributes or {}).get("gen_ai.agent.name") in self.names
        return SamplingResult(Decision.RECORD_AND_SAMPLE if record else Decision.DROP)

    def get_description(self):
        return "sample agents by name"


def test_an_unsampled_run_makes_no_span_at_all_and_its_sub_agents_follow_it():
    from opentelemetry.trace import NoOpTracerProvider

    exporter = InMemorySpanExporter()
    sampler = _SampleAgents("lead")
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    def team(lead_name):
        settings = _settings(provider)
        helper = Agent(ScriptedModel(["helped"]), name="helper", instrument=settings)
        script = [
            reply(None, tool_call("helper", {"input": "do it"}, id="call_h")),
            reply(None, tool_call("get_weather", {"city": "Oslo"})),
            "done",
        ]
        return Agent(ScriptedModel(script), name=lead_name, tools=[helper.as_tool(), get_weather], instrument=settings)

    assert team("quiet").run_sync("go").output == "done"
    assert exporter.get_finished_spans() == ()  # not its chats, its tools, nor its sub-agent as roots of their own
    assert sampler.seen[-1]["gen_ai.operation.name"] == "invoke_agent" and sampler.seen[-1]["gen_ai.agent.name"] == "quiet"
    assert len(sampler.seen) == 1  # one decision per run: its requests and calls asked no sampler
    assert team("lead").run_sync("go").output == "done"
    names = sorted(s.name for s in exporter.get_finished_spans())
    assert names == sorted(
        [
            "invoke_agent lead",
            "chat scripted",
            "chat scripted",
            "chat scripted",
            "execute_tool helper",
            "execute_tool get_weather",
            "invoke_agent helper",
            "chat scripted",
        ]
    )
    provider.shutdown()

    quiet = Agent(ScriptedModel(["fine"]), instrument=InstrumentationSettings(tracer_provider=NoOpTracerProvider()))
    assert quiet.run_sync("hi").output == "fine"


def test_a_failed_request_sets_error_type_and_status(loopback, spans):
    exporter, provider = spans
    server = loopback([Reply(400, {"error": {"message": "bad request"}})])
    agent = Agent(_model(server), name="x", instrument=_settings(provider))
    with pytest.raises(ProviderError):
        agent.run_sync("hi")
    spans_ = _by_name(exporter)
    for name in ("chat loopback-model", "invoke_agent x"):
        assert spans_[name].status.status_code is StatusCode.ERROR
        assert spans_[name].attributes["error.type"]
    assert KEY not in _everything(exporter)


def test_retries_and_rate_limit_waits_are_events_of_the_chat_span(loopback, spans, caplog):
    exporter, provider = spans
    server = loopback(
        [
            Reply(429, {"error": {"message": "slow down"}}, headers={"retry-after": "0"}),
            Reply(500, {"error": {"message": "oops"}}),
            Reply(body=chat_completion("ok")),
        ]
    )
    agent = Agent(_model(server, max_retries=3), instrument=_settings(provider))
    with caplog.at_level(logging.WARNING, logger="agentkit"):
        assert agent.run_sync("hi").output == "ok"
    chat = _by_name(exporter)["chat loopback-model"]
    names = [e.name for e in chat.events]
    assert names == ["agentkit.rate_limit_wait", "agentkit.retry"]
    assert chat.events[0].attributes["http.response.status_code"] == 429
    assert chat.events[1].attributes["http.response.status_code"] == 500
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("rate limited" in w for w in warnings) and any("HTTP 500" in w for w in warnings)
    assert not any(KEY in w for w in warnings)


async def test_run_many_rate_limiter_waits_are_events_of_the_chat_span(loopback, spans):
    exporter, provider = spans
    server = loopback(
        [Reply(429, {"error": {"message": "slow"}}, headers={"retry-after": "0.3"}), *[Reply(body=chat_completion("ok"))] * 3]
    )
    agent = Agent(_model(server), instrument=_settings(provider))
    results = await agent.run_many(["a", "b", "c"], concurrency=1, requests_per_minute=300)
    assert all(r.ok for r in results)
    chats = sorted((s for s in exporter.get_finished_spans() if s.name.startswith("chat")), key=lambda s: s.start_time)
    assert len(chats) == 3
    first = [(e.name, e.attributes.get("http.response.status_code")) for e in chats[0].events]
    assert first == [("agentkit.rate_limit_wait", 429)]  # the 429 the batch absorbed, on the request it delayed
    held = [e for e in chats[-1].events if e.attributes.get("agentkit.wait.reason") == "batch_limiter"]
    assert held and 0 < held[0].attributes["agentkit.wait.seconds"] <= 0.45  # 300 a minute: held back up to 0.2 s


async def test_a_streamed_chat_span_ends_with_the_stream_and_records_time_to_first_chunk(loopback, spans):
    exporter, provider = spans
    server = loopback(
        [
            Reply(
                chunks=[sse(text_stream("Hel", "lo"))[:40], sse(text_stream("Hel", "lo"))[40:]],
                chunk_delay=0.05,
                content_type="text/event-stream",
            )
        ]
    )
    agent = Agent(_model(server), instrument=_settings(provider))
    async with agent.run_stream("hi") as stream:
        async for event in stream:
            if isinstance(event, TextDelta):  # open while the text streams
                assert not [s for s in exporter.get_finished_spans() if s.name.startswith("chat")]
    chat = _by_name(exporter)["chat loopback-model"]
    ttft = chat.attributes["gen_ai.response.time_to_first_chunk"]
    assert 0 < ttft < (chat.end_time - chat.start_time) / 1e9
    assert chat.attributes["gen_ai.usage.output_tokens"] == 2
    assert [e.name for e in chat.events] == ["gen_ai.first_chunk"]


def test_global_instrument_and_opt_out(spans):
    exporter, provider = spans
    agentkit.instrument(_settings(provider))
    try:
        Agent("test", name="a").run_sync("hi")
        Agent("test", name="b", instrument=False).run_sync("hi")
    finally:
        agentkit.instrument(False)
    Agent("test", name="c").run_sync("hi")
    assert sorted(s.name for s in exporter.get_finished_spans() if s.parent is None) == ["invoke_agent a"]
    with pytest.raises(UserError):
        Agent("test", instrument="yes")  # type: ignore[arg-type]


def test_not_instrumented_the_spec_has_no_extra_hooks_and_the_model_is_not_wrapped():
    agent = Agent("test")
    spec = agent._spec()
    assert not spec.hooks and spec.model is agent.model


def test_logging_one_info_line_per_run_and_debug_per_request_and_tool(caplog):
    agent = Agent(
        ScriptedModel([reply(None, tool_call("get_weather", {"city": "Paris"})), "Sunny."]),
        name="weather",
        tools=[get_weather],
    )
    with caplog.at_level(logging.INFO, logger="agentkit"):
        agent.run_sync(f"Weather in Paris? {KEY}")
    lines = [r for r in caplog.records if r.name == "agentkit"]
    assert [r.levelno for r in lines] == [logging.INFO]
    message = lines[0].getMessage()
    assert "weather" in message and "2 turns" in message and "cost" in message
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="agentkit"):
        agent = Agent(ScriptedModel([reply(None, tool_call("get_weather", {"city": "Paris"})), "Sunny."]), tools=[get_weather])
        agent.run_sync("Weather in Paris?")
    lines = [r.getMessage() for r in caplog.records if r.name == "agentkit"]
    assert sum("Request" in m for m in lines) == 2 and sum("Tool call get_weather" in m for m in lines) == 1
    assert not any("Paris" in m for m in lines)  # no content


def test_a_name_from_the_provider_cannot_forge_a_log_line(caplog):
    """A model name (from the provider's answer) or a tool call's id holding a line break:
    before, each wrote a second, forged line into the log."""
    forged = "m\nCRITICAL:agentkit:forged"
    first = reply(None, tool_call("get_weather", {"city": "Paris"}, id="c\nCRITICAL:forged"))
    first.model_name = forged
    last = reply("done")
    last.model_name = forged
    with caplog.at_level(logging.DEBUG, logger="agentkit"):
        Agent(ScriptedModel([first, last]), tools=[get_weather]).run_sync("go")
    lines = [r.getMessage() for r in caplog.records if r.name == "agentkit"]
    assert len(lines) == 4 and not any(c in m for m in lines for c in "\n\r"), lines


def test_a_huge_tool_result_is_cut_in_the_span(spans):
    """Before, a 10 MB result went whole into gen_ai.tool.call.result (an OTLP collector refuses
    such a span, and the batch of spans with it)."""
    from agentkit.instrumentation import MAX_CONTENT

    exporter, provider = spans

    @tool
    def dump() -> str:
        """A 10 MB answer."""
        return "x" * 10_000_000

    model = ScriptedModel([reply(None, tool_call("dump", {})), "ok"])
    Agent(model, tools=[dump], instrument=_settings(provider, content=True)).run_sync("go")
    recorded = _by_name(exporter)["execute_tool dump"].attributes["gen_ai.tool.call.result"]
    assert len(recorded) < MAX_CONTENT + 100 and recorded.endswith("[9,900,000 more characters not recorded]")
    sent = _by_name(exporter)["chat scripted"].attributes["gen_ai.input.messages"]
    assert len(sent) < MAX_CONTENT + 100


def test_logging_off_adds_nothing_to_a_run():
    logger = logging.getLogger("agentkit")
    assert not logger.isEnabledFor(logging.INFO) or pytest.skip("the agentkit logger is enabled in this session")
    agent = Agent("test")
    assert agent._spec().hooks.on_run_end == ()


# -- end to end: the real OTLP/HTTP exporter to a receiver on 127.0.0.1 ---------------------------
@pytest.fixture
def otlp_receiver():
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    received: list[ExportTraceServiceRequest] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            encoding = self.headers.get("content-encoding", "")
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            received.append(request)
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces", received
    server.shutdown()
    server.server_close()


def test_export_over_otlp_http_to_a_local_receiver(loopback, otlp_receiver):
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    endpoint, received = otlp_receiver
    provider = TracerProvider(resource=Resource.create({"service.name": "agentkit-test"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    server = _tool_then_answer(loopback)
    agent = Agent(_model(server), name="weather", tools=[get_weather], instrument=_settings(provider))
    agent.run_sync("Weather in Paris?")
    provider.force_flush()
    provider.shutdown()
    spans_ = [s for r in received for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert sorted(s.name for s in spans_) == [
        "chat loopback-model",
        "chat loopback-model",
        "execute_tool get_weather",
        "invoke_agent weather",
    ]
    services = {
        a.value.string_value
        for r in received
        for rs in r.resource_spans
        for a in rs.resource.attributes
        if a.key == "service.name"
    }
    assert services == {"agentkit-test"}
    root = next(s for s in spans_ if s.name == "invoke_agent weather")
    assert all(s.parent_span_id == root.span_id for s in spans_ if s is not root)
    attributes = {a.key: a.value for a in root.attributes}
    assert attributes["gen_ai.usage.input_tokens"].int_value == 40
    assert all(KEY not in str(s) for s in spans_)


class Boom(agentkit.Hooks):
    async def after_model_response(self, ctx, response):
        raise RuntimeError("boom")


def test_a_hook_error_or_an_early_stop_still_ends_the_run_span(spans):
    exporter, provider = spans
    agent = Agent("test", name="h", hooks=[Boom()], instrument=_settings(provider))
    with pytest.raises(agentkit.HookError):
        agent.run_sync("hi")
    root = _by_name(exporter)["invoke_agent h"]
    assert root.attributes["error.type"] == "HookError" and root.status.status_code is StatusCode.ERROR
    exporter.clear()

    async def stop_early():
        async with Agent("test", name="s", tools=[get_weather], instrument=_settings(provider)).iter("hi") as run:
            async for _ in run:
                break

    import asyncio

    asyncio.run(stop_early())
    root = _by_name(exporter)["invoke_agent s"]
    assert [e.name for e in root.events] == ["agentkit.closed"]


async def test_a_cancelled_run_ends_its_tool_span_as_cut_short_and_no_attribute_is_none(spans, caplog):
    """Before, the call a cancellation cut short ended as if it had succeeded (no error.type)."""
    import asyncio

    exporter, provider = spans

    async def slow() -> str:
        """Take a while."""
        await asyncio.sleep(30)
        return "late"

    agent = Agent(ScriptedModel([reply(None, tool_call("slow", {})), "no"]), tools=[slow], instrument=_settings(provider, True))
    with caplog.at_level(logging.WARNING, logger="opentelemetry"):
        task = asyncio.create_task(agent.run("go"))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    found = _by_name(exporter)
    assert set(found) == {"invoke_agent agent", "chat scripted", "execute_tool slow"}  # every span ended
    assert found["execute_tool slow"].attributes["error.type"] == "CancelledError"
    assert found["execute_tool slow"].status.status_code is StatusCode.ERROR
    assert found["invoke_agent agent"].attributes["error.type"] == "CancelledError"
    assert not [r for r in caplog.records if "Invalid type" in r.getMessage()]


def test_a_resumed_run_is_a_new_trace_linked_to_the_paused_one(spans):
    from agentkit import ApprovalRequired

    exporter, provider = spans

    @tool(requires_approval=True)
    def delete(path: str) -> str:
        """Delete a file."""
        return "deleted"

    model = ScriptedModel([reply(None, tool_call("delete", {"path": "a"}, id="d1")), "done"])
    agent = Agent(model, tools=[delete], name="ops", instrument=_settings(provider))
    with pytest.raises(ApprovalRequired) as paused:
        agent.run_sync("clean up")
    assert agent.run_sync(state=paused.value.state, approvals={"d1": True}).output == "done"
    first, second = [s for s in exporter.get_finished_spans() if s.name == "invoke_agent ops"]
    (event,) = [e for e in first.events if e.name == "agentkit.paused"]
    assert tuple(event.attributes["agentkit.pending_call_ids"]) == ("d1",)
    assert second.context.trace_id != first.context.trace_id
    assert [link.context.span_id for link in second.links] == [first.context.span_id]
    assert tuple(second.attributes["agentkit.resumed_call_ids"]) == ("d1",)
    tool_span = _by_name(exporter)["execute_tool delete"]
    assert tool_span.parent.span_id == second.context.span_id


def test_a_dropped_setting_is_a_warning_line_once(caplog):
    from agentkit.messages import UserMessage
    from agentkit.models import ModelRequest
    from agentkit.models.responses import OpenAIResponses

    model = OpenAIResponses("gpt-4o", api_key=KEY, base_url="http://127.0.0.1:9/v1")
    request = ModelRequest([UserMessage(content="hi")], settings=ModelSettings(top_k=3, seed=1))
    with caplog.at_level(logging.WARNING, logger="agentkit"), pytest.warns(UserWarning):
        model.build_body(request)
        model.build_body(request)
    lines = [r.getMessage() for r in caplog.records if r.name == "agentkit" and r.levelno == logging.WARNING]
    assert len(lines) == 1 and "does not accept top_k, seed" in lines[0]


def test_without_opentelemetry_nothing_is_imported_and_asking_for_it_says_what_to_install():
    import subprocess
    import sys

    code = """
import sys
import agentkit
from agentkit import Agent, UserError
Agent("test").run_sync("hi")
assert not any(m == "opentelemetry" or m.startswith("opentelemetry.") for m in sys.modules), "imported"
sys.modules["opentelemetry"] = None  # as if not installed
try:
    Agent("test", instrument=True)
except UserError as e:
    assert "agentkit-loop[otel]" in str(e), e
else:
    raise AssertionError("no error")
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr


async def test_an_instrumented_run_costs_what_it_costs_without(loopback, spans):
    """Pricing looks through the instrumentation wrapper: a fallback's answer is priced at the model that answered."""
    from agentkit.models import FallbackModel

    exporter, provider = spans
    costs = []
    for settings in (None, _settings(provider)):
        down = loopback([Reply(status=503, body={"error": {"message": "down"}})] * 5)
        up = loopback(
            [
                Reply(
                    body=chat_completion(
                        "hi", usage={"prompt_tokens": 1_000_000, "completion_tokens": 0, "total_tokens": 1_000_000}
                    )
                )
            ]
        )
        first = OpenAICompatible("mistral-large-2512", base_url=down.url + "/v1", max_retries=0)
        second = OpenAICompatible("mistral-nemo", base_url=up.url + "/v1")
        agent = Agent(FallbackModel(first, second), instrument=settings) if settings else Agent(FallbackModel(first, second))
        costs.append((await agent.run("hi")).usage.cost)
    assert costs[0] == costs[1] == pytest.approx(0.02)  # Nemo's price, instrumented or not
    assert _by_name(exporter)["invoke_agent agent"].attributes["gen_ai.usage.input_tokens"] == 1_000_000


def test_recorded_content_names_images_by_type_and_size_not_their_base64(spans):
    from agentkit import BinaryContent, ImageUrl

    exporter, provider = spans
    png = b"\x89PNG\r\n\x1a\n" + bytes(3000)
    agent = Agent(ScriptedModel(["a cat"]), instrument=_settings(provider, content=True))
    prompt = ["What is this?", BinaryContent(png, "image/png"), ImageUrl("data:image/png;base64," + "A" * 400)]
    assert agent.run_sync(prompt).output == "a cat"
    chat = next(s for s in exporter.get_finished_spans() if s.name.startswith("chat"))
    recorded = chat.attributes["gen_ai.input.messages"]
    assert "What is this?" in recorded and "3,008 bytes of image/png" in recorded
    assert "data:image/png;base64,<422 characters>" in recorded
    assert "AAAA" not in recorded and len(recorded) < 600
