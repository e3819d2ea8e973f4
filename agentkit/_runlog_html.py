"""One run as one self-contained HTML page (``agentkit view ID``, ``RunResult.to_html()``): a
timeline of its model requests and tool calls (sub-agents nested), the conversation with each tool
call in a ``<details>``, and the tokens and cost of each step. Inline CSS and JS, nothing fetched."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from ._runlog_store import LoggedRun, Step, clip, prompt_text, stored_messages
from .content import part_label
from .messages import AssistantMessage, Message, SystemMessage, ToolMessage, UserMessage

__all__ = ["render", "result_html"]

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2230;background:#f6f7fb}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 10px}
.meta{color:#5b6275}.meta b{color:#1d2230}
.status-ok{color:#137333}.status-error,.status-stopped{color:#b3261e}.status-running,.status-paused,.status-cancelled{color:#a15c00}
.timeline{background:#fff;border:1px solid #dde1ea;border-radius:8px;padding:12px 16px}
.row{display:flex;align-items:center;height:24px}
.label{width:230px;box-sizing:border-box;flex:none;padding-right:8px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;font-size:12px;color:#3b4254}
.track{position:relative;flex:1;height:16px;background:#f0f2f7;border-radius:3px}
.bar{position:absolute;top:0;height:16px;border-radius:3px;min-width:2px;opacity:.9}
.bar.request{background:#4f6bed}.bar.tool{background:#1f9d74}.bar.error{background:#d93025}.bar.open{background:#e8a317}
.mark{position:absolute;top:-2px;height:20px;min-width:3px;border-radius:2px;z-index:1;box-sizing:border-box}
.mark.retry{border-left:3px solid #d93025;background:repeating-linear-gradient(135deg,#f6c1bd 0 4px,#fde8e6 4px 8px)}
.mark.wait{border-left:3px solid #c77700;background:repeating-linear-gradient(135deg,#f7d48b 0 4px,#fdf1d6 4px 8px)}
.legend{display:flex;flex-wrap:wrap;gap:14px;margin:8px 0 0 230px;font-size:11px;color:#5b6275}
.key{display:inline-block;width:14px;height:10px;border-radius:2px;margin-right:5px;vertical-align:-1px}
.key.request{background:#4f6bed}.key.tool{background:#1f9d74}.key.error{background:#d93025}
.key.retry{border-left:3px solid #d93025;background:#f6c1bd}.key.wait{border-left:3px solid #c77700;background:#f7d48b}
.axis{display:flex;justify-content:space-between;margin-left:230px;font-size:11px;color:#7a8194}
.msg{background:#fff;border:1px solid #dde1ea;border-radius:8px;padding:10px 14px;margin:10px 0}
.msg .who{font-size:12px;font-weight:600;color:#5b6275;text-transform:uppercase;letter-spacing:.04em}
.msg.user{border-left:4px solid #4f6bed}.msg.assistant{border-left:4px solid #8e59d9}.msg.system{border-left:4px solid #999}
.stats{float:right;font-size:12px;color:#5b6275}
pre{white-space:pre-wrap;word-break:break-word;background:#f6f7fb;padding:8px;border-radius:6px;margin:6px 0;font-size:12.5px}
details{margin:6px 0;border:1px solid #e4e7ef;border-radius:6px;padding:4px 10px;background:#fbfcfe}
summary{cursor:pointer;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px}
.err{color:#b3261e}.note{color:#7a8194;font-size:12px}
.child{margin-left:22px;border-left:2px dashed #c9cfdd;padding-left:12px}
"""

_JS = """
(function(){
  var data = JSON.parse(document.getElementById('run-data').textContent);
  var box = document.getElementById('timeline');
  var bars = 0, marks = 0, t0 = Infinity, t1 = -Infinity;
  function each(run, f){ f(run); (run.children||[]).forEach(function(c){ each(c, f); }); }
  each(data, function(run){ run.steps.forEach(function(s){
    [s].concat(s.marks||[]).forEach(function(x){ if(x.started==null) return;
      t0 = Math.min(t0, x.started); t1 = Math.max(t1, x.ended==null ? x.started : x.ended); }); }); });
  var span = Math.max(t1 - t0, 1e-6);
  function ms(seconds){ return (seconds * 1000).toFixed(seconds < 1 ? 1 : 0) + ' ms'; }
  function place(el, a, b){ el.style.left = ((a - t0) / span * 100) + '%'; el.style.width = ((b - a) / span * 100) + '%'; }
  function mark(track, m){
    var el = document.createElement('div'); el.className = 'mark ' + m.kind;
    el.dataset.kind = m.kind; el.dataset.wait = String(m.wait);
    if (m.kind === 'retry') {
      el.dataset.attempt = String(m.attempt); el.dataset.status = String(m.status == null ? '' : m.status);
      el.title = 'retry ' + m.attempt + ': ' + (m.status != null ? 'HTTP ' + m.status + ' ' : '') + '(' + m.error + ')' +
        ', waited ' + m.wait.toFixed(2) + ' s' + (m.retry_after != null ? ' (Retry-After ' + m.retry_after + ' s)' : '');
    } else { el.title = 'rate-limit wait: ' + m.wait.toFixed(2) + ' s before sending'; }
    place(el, m.started, m.ended); track.appendChild(el); marks += 1;
  }
  function row(run, depth, s, n){
    var r = document.createElement('div'); r.className = 'row';
    var label = document.createElement('div'); label.className = 'label';
    label.style.paddingLeft = (depth * 16) + 'px';
    var who = s.agent || run.agent;
    label.textContent = (depth || who !== data.agent ? who + ' · ' : '') + (s.kind === 'request' ? 'request ' + n : s.name);
    label.title = label.textContent;
    var track = document.createElement('div'); track.className = 'track';
    var bar = document.createElement('div');
    bar.className = 'bar ' + s.kind + (s.is_error ? ' error' : '') + (s.ended == null ? ' open' : '');
    bar.dataset.kind = s.kind; bar.dataset.name = s.name || '';
    var end = s.ended == null ? t1 : s.ended;
    place(bar, s.started, end);
    bar.title = (s.kind === 'request' ? 'request ' + n + ' (' + (s.name || 'model') + ')' : s.name) + ': ' + ms(end - s.started) +
      (s.input_tokens != null ? ', ' + s.input_tokens + ' in + ' + s.output_tokens + ' out tokens' : '') +
      (s.marks && s.marks.length ? ', ' + s.marks.length + ' retries/waits' : '') + (s.is_error ? ', failed' : '');
    track.appendChild(bar); (s.marks||[]).forEach(function(m){ mark(track, m); });
    r.appendChild(label); r.appendChild(track); box.appendChild(r); bars += 1;
  }
  function rows(run, depth){
    var n = 0, placed = {};
    run.steps.forEach(function(s){
      if (s.kind === 'request') n += 1;
      row(run, depth, s, n);
      (run.children||[]).forEach(function(c, i){  // a sub-agent's run under the tool call that ran it
        if (s.kind !== 'tool' || s.call_id == null || c.parent_call_id !== s.call_id || placed[i]) return;
        placed[i] = 1; rows(c, depth + 1);
      });
    });
    (run.children||[]).forEach(function(c, i){ if (!placed[i]) rows(c, depth + 1); });  // no tool call of this run ran it
  }
  if (data.timed && isFinite(t0)) {
    rows(data, 0);
    var axis = document.createElement('div'); axis.className = 'axis';
    [0, .25, .5, .75, 1].forEach(function(f){ var t = document.createElement('span');
      t.textContent = (span * f * 1000).toFixed(0) + ' ms'; axis.appendChild(t); });
    box.appendChild(axis);
    var legend = document.createElement('div'); legend.className = 'legend';
    [['request', 'model request'], ['tool', 'tool call'], ['retry', 'failed attempt, then wait'], ['wait', 'rate-limit wait'],
     ['error', 'error']].forEach(function(p){
      var item = document.createElement('span'); var key = document.createElement('i'); key.className = 'key ' + p[0];
      item.appendChild(key); item.appendChild(document.createTextNode(p[1])); legend.appendChild(item); });
    box.appendChild(legend);
  } else {
    var note = document.createElement('p'); note.className = 'note';
    note.textContent = 'No timings: they are recorded in the run log (AGENTKIT_LOG=path.db or Agent(log=...)).';
    box.appendChild(note);
  }
  var ready = document.createElement('div');
  ready.id = 'agentkit-rendered'; ready.dataset.bars = String(bars); ready.dataset.marks = String(marks); ready.hidden = true;
  document.body.appendChild(ready);
})();
"""


def _money(cost: float | None) -> str:
    return "" if cost is None else (f"${cost:.6f}".rstrip("0").rstrip(".") if cost else "$0")


_MARKS = ("retry", "wait")


def _grouped(run: LoggedRun) -> list[tuple[Step, list[Step]]]:
    """The run's requests and tool calls, each request with the retries and waits before its answer
    (those of a request that never got one end the list, under a stand-in request marked failed)."""
    found: list[tuple[Step, list[Step]]] = []
    pending: list[Step] = []
    for step in run.steps:
        if step.kind in _MARKS:
            pending.append(step)
        elif step.kind == "request":
            found.append((step, pending))
            pending = []
        else:
            found.append((step, []))
    if pending:
        ended = max(m.ended or m.started for m in pending)
        failed = Step("request", "no answer", pending[0].started, ended, is_error=True, error="no answer")
        failed.agent = pending[-1].agent
        found.append((failed, pending))
    return found


def _mark_json(step: Step) -> dict[str, Any]:
    try:
        data = json.loads(step.data or "{}")
    except ValueError:
        data = {}
    keys = ("attempt", "status", "error", "retry_after")
    wait = (step.ended or step.started) - step.started
    return {"kind": step.kind, "started": step.started, "ended": step.ended, "wait": wait, **{k: data.get(k) for k in keys}}


def _step_json(step: Step, marks: list[Step]) -> dict[str, Any]:
    keys = ("kind", "name", "started", "ended", "call_id", "agent", "input_tokens", "output_tokens", "cost", "is_error")
    return {**{key: getattr(step, key) for key in keys}, "marks": [_mark_json(m) for m in marks]}


def _run_json(run: LoggedRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "agent": run.agent,
        "parent_call_id": run.parent_call_id,
        "steps": [_step_json(step, marks) for step, marks in _grouped(run)],
        "children": [_run_json(c) for c in run.children],
    }


def _pretty(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def _stats(step: Step, marks: list[Step], timed: bool) -> str:
    parts = [] if step.input_tokens is None else [f"{step.input_tokens} in + {step.output_tokens or 0} out tokens"]
    if step.cost is not None:
        parts.append(_money(step.cost))
    if timed and step.ended is not None:
        parts.append(f"{(step.ended - step.started) * 1000:.0f} ms")
    if marks:
        waited = sum((m.ended or m.started) - m.started for m in marks)
        retries = sum(1 for m in marks if m.kind == "retry")
        tries = f"{retries} {'retry' if retries == 1 else 'retries'}, " if retries else ""
        parts.append(f"{tries}waited {waited:.2f} s")
    if step.finish_reason:
        parts.append(f"finish: {step.finish_reason}")
    return f'<span class="stats">{escape(" · ".join(parts))}</span>' if parts else ""


def _conversation(run: LoggedRun, messages: list[Message], timed: bool) -> str:
    logged = [(s, marks) for s, marks in _grouped(run) if s.kind == "request" and s.error is None]
    answers = sum(1 for m in messages if isinstance(m, AssistantMessage))
    padding: list[tuple[Step, list[Step]] | None] = [None] * max(0, answers - len(logged))
    requests = iter([*padding, *logged])  # history passed in: no step of this run
    tools = {s.call_id: s for s in run.steps if s.kind == "tool"}
    results = {m.tool_call_id: m for m in messages if isinstance(m, ToolMessage)}
    calls = {c.id for m in messages if isinstance(m, AssistantMessage) for c in m.tool_calls}
    children: dict[str | None, list[LoggedRun]] = {}
    for child in run.children:
        children.setdefault(child.parent_call_id if child.parent_call_id in calls else None, []).append(child)
    out: list[str] = []
    for m in messages:
        if isinstance(m, (UserMessage, SystemMessage)):
            role = "user" if isinstance(m, UserMessage) else "system"
            text = prompt_text(m.content)  # images, files and audio as labels: not their bytes
            out.append(f'<div class="msg {role}"><div class="who">{role}</div><pre>{escape(text)}</pre></div>')
        elif isinstance(m, AssistantMessage):
            found = next(requests, None)
            stats = _stats(*found, timed) if found is not None else ""
            who = "assistant"
            if found is not None and found[0].agent and found[0].agent != run.agent:
                who += f" · {found[0].agent}"  # after a handoff
            body = [f'<div class="msg assistant">{stats}<div class="who">{escape(who)}</div>']
            if m.reasoning:
                body.append(f"<details><summary>reasoning</summary><pre>{escape(m.reasoning)}</pre></details>")
            if m.content:
                body.append(f"<pre>{escape(m.content)}</pre>")
            for call in m.tool_calls:
                body.append(_call(call.id, call.name, call.arguments, results.get(call.id), tools.get(call.id), timed))
                body.extend(f'<div class="child">{_section(child, timed)}</div>' for child in children.get(call.id, ()))
            body.append("</div>")
            out.append("".join(body))
    for child in children.get(None, ()):  # no tool call of this run's messages ran it
        out.append(f'<div class="child" data-unmatched="1">{_section(child, timed)}</div>')
    return "\n".join(out)


def _call(call_id: str, name: str, arguments: str, result: ToolMessage | None, step: Step | None, timed: bool) -> str:
    took = ""
    if timed and step is not None and step.ended is not None:
        took = f" · {(step.ended - step.started) * 1000:.1f} ms"
    failed = result is not None and result.is_error
    head = f"{escape(name)}(…){took}{' · <span class=err>error</span>' if failed else ''}"
    answer = "<p class=note>no result recorded</p>" if result is None else f"<pre>{escape(result.content)}</pre>"
    if result is not None and result.attachments:
        answer += f"<div class=note>attached: {escape(' '.join(part_label(p) for p in result.attachments))}</div>"
    return (
        f'<details class="call" open data-tool="{escape(name)}" data-call="{escape(call_id)}"><summary>{head}</summary>'
        f'<div class="note">arguments</div><pre>{escape(_pretty(arguments))}</pre>'
        f'<div class="note">result</div>{answer}</details>'
    )


def _section(run: LoggedRun, timed: bool) -> str:
    from .runlog import messages_of

    messages = messages_of(run)
    status = f'<span class="status-{escape(run.shown_status)}">{escape(run.shown_status)}</span>'
    parts = [f"<b>{escape(run.agent or 'agent')}</b>", escape(run.model or ""), status, f"{run.turns} turns"]
    parts.append(f"{run.input_tokens:,} in + {run.output_tokens:,} out tokens")
    if run.cost is not None:
        parts.append(_money(run.cost))
    if timed and run.duration is not None:
        parts.append(f"{run.duration:.2f} s")
    head = f'<p class="meta">{" · ".join(parts)}</p>'
    if run.status == "error":
        head += f'<p class="err">{escape(run.error_type or "")}: {escape(run.error_message or "")}</p>'
    return head + _conversation(run, messages, timed)


def render(run: LoggedRun, timed: bool = True) -> str:
    """The page of ``run`` (from the run log; ``timed=False``: no timings known)."""
    data = {**_run_json(run), "timed": timed}
    payload = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")
    title = f"agentkit run {run.id}" if timed else "agentkit run"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
        f"<style>{_CSS}</style></head><body><main>"
        f"<h1>{escape(title)}</h1>"
        '<h2>Timeline</h2><div class="timeline" id="timeline"></div>'
        f'<h2>Conversation</h2><div id="conversation">{_section(run, timed)}</div>'
        f'</main><script type="application/json" id="run-data">{payload}</script>'
        f"<script>{_JS}</script></body></html>"
    )


def result_html(result: Any) -> str:
    """The page of a :class:`~agentkit.RunResult`: from the run log when it recorded the run
    (timings included), else from the result itself (messages and usage, no timings; registered
    keys redacted and long texts cut as the run log would)."""
    found = getattr(result, "log_id", None)
    if found is not None:
        from ._runlog_store import load_run
        from .errors import UserError

        try:
            return render(load_run(found[0], found[1]))
        except UserError:  # the file was moved or deleted since: drawn from the result itself
            pass
    usage = result.usage
    messages = result.messages
    new = messages[result.new_message_index :]
    prompt = next((m.content for m in reversed(messages) if isinstance(m, UserMessage) and isinstance(m.content, str)), None)
    steps = [Step("request", result.model_name, 0.0, None) for m in new if isinstance(m, AssistantMessage)]
    if len(steps) == 1:
        steps[0].input_tokens, steps[0].output_tokens, steps[0].cost = usage.prompt_tokens, usage.completion_tokens, usage.cost
    run = LoggedRun(
        id="",
        parent_id=None,
        parent_call_id=None,
        started=0.0,
        ended=None,
        agent=result.agent_name,
        model=result.model_name,
        prompt=None if prompt is None else clip(prompt),
        status="ok",
        output=None,
        error_type=None,
        error_message=None,
        turns=result.turns,
        input_tokens=usage.prompt_tokens,
        output_tokens=usage.completion_tokens,
        cost=usage.cost,
        messages=stored_messages(messages),
        steps=steps,
    )
    return render(run, timed=False)
