"""http_fetch: allow-listed GETs over real loopback servers — SSRF through redirects, size and time bombs, HTML to text."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import time
import zlib
from typing import Any

import httpx
import pytest
from agentkit_tools import http_fetch
from agentkit_tools.http_fetch import AllowList, html_to_text, html_to_text_async

from agentkit import ModelRetry, Tool, UserError
from tests.agentkit_tools.conftest import run_calls, within
from tests.support.server import LoopbackServer, Reply, Request

PAGE = """<!doctype html><html><head><title>Test  page</title>
<style>body { color: red }</style><script>var secret = "do-not-show";</script></head>
<body><nav><a href="/home">Home</a></nav>
<h1>Hello</h1><p>First   paragraph with <b>bold</b> text.</p>
<ul><li>one</li><li>two</li></ul>
<pre>  indented
    code</pre>
<noscript>enable js</noscript><template><p>hidden</p></template>
<p>See <a href="https://example.org/x?a=1">the docs</a> and <a href="#top">top</a>.</p>
<table><tr><th>k</th><th>v</th></tr><tr><td>a</td><td>1</td></tr></table>
</body></html>"""


def _fetch(tool: Tool[[str], Any], url: str) -> tuple[bool, str]:
    try:
        return True, asyncio.run(tool.function(url))
    except ModelRetry as e:
        return False, e.message


def _host(server: LoopbackServer) -> str:
    return server.url.removeprefix("http://")


@pytest.fixture
def target(loopback) -> LoopbackServer:
    """A server that must never be reached (it stands for 127.0.0.1:internal, metadata endpoints...)."""
    return loopback(lambda request: Reply(200, "INTERNAL-SECRET", content_type="text/plain"), spec=None)


# -- ordinary use ---------------------------------------------------------------------------------


def test_html_becomes_readable_text(loopback) -> None:
    server = loopback(lambda request: Reply(200, PAGE, content_type="text/html; charset=utf-8"), spec=None)
    ok, text = _fetch(http_fetch([_host(server)]), server.url + "/page")
    assert ok
    assert text.startswith(f"URL: {server.url}/page\nStatus: 200 OK\nContent-Type: text/html\n\nTitle: Test page\n")
    assert "# Hello" in text and "First paragraph with bold text." in text
    assert "- one\n- two" in text
    assert "```\n  indented\n    code\n```" in text
    assert f"[Home]({server.url}/home)" in text and "[the docs](https://example.org/x?a=1)" in text
    assert "top." in text and "#top" not in text
    assert "| k | v" in text
    for hidden in ("do-not-show", "color: red", "enable js", "hidden"):
        assert hidden not in text
    request = server.requests[0]
    assert request.method == "GET" and request.headers["user-agent"].startswith("agentkit-http-fetch")


def test_text_json_and_binary(loopback) -> None:
    replies = {
        "/t": Reply(200, "plain text", content_type="text/plain"),
        "/j": Reply(200, {"a": 1}),
        "/img": Reply(200, b"\x89PNG\r\n" + bytes(100), content_type="image/png"),
        "/404": Reply(404, "<h1>Not here</h1>", content_type="text/html"),
        "/latin": Reply(200, "caf\xe9".encode("latin-1"), content_type="text/plain; charset=latin-1"),
    }
    server = loopback(lambda request: replies[request.path], spec=None)
    tool = http_fetch([_host(server)])
    assert _fetch(tool, server.url + "/t")[1].endswith("\n\nplain text")
    assert _fetch(tool, server.url + "/j")[1].endswith('\n\n{"a": 1}')
    ok, text = _fetch(tool, server.url + "/img")
    assert ok and "106 bytes of image/png content; not shown" in text and "PNG" not in text
    ok, text = _fetch(tool, server.url + "/404")
    assert ok and "Status: 404 Not Found" in text and "# Not here" in text
    assert _fetch(tool, server.url + "/latin")[1].endswith("café")


def test_defaults_and_configuration() -> None:
    tool = http_fetch(["example.com"])
    assert tool.requires_approval is True and tool.name == "http_fetch"
    assert "example.com" in tool.description
    assert tool.definition.parameters["required"] == ["url"]
    assert http_fetch(["example.com"], requires_approval=False, name="web").requires_approval is False
    for bad in ([], [""], ["http://example.com/path"], ["user:pw@example.com"], ["exa mple.com:x"]):
        with pytest.raises(UserError):
            http_fetch(bad)


# -- the allow-list --------------------------------------------------------------------------------


def test_only_allowed_hosts_and_ports_are_contacted(loopback, target) -> None:
    allowed = loopback(lambda request: Reply(200, "ok", content_type="text/plain"), spec=None)
    port = allowed.url.rsplit(":", 1)[1]
    tool = http_fetch([_host(allowed)])
    assert _fetch(tool, allowed.url + "/")[0]
    hostile = [
        target.url + "/",  # same host, another port
        f"http://localhost:{port}/",  # another spelling of the host
        f"http://127.0.0.2:{port}/",
        f"http://2130706433:{port}/",  # 127.0.0.1 as a decimal
        f"http://0x7f000001:{port}/",
        f"http://127.1:{port}/",
        f"http://[::ffff:127.0.0.1]:{port}/",
        f"http://[::1]:{port}/",
        "http://127.0.0.1/",  # default port: not the allowed one
        "http://169.254.169.254/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        f"http://user:password@127.0.0.1:{port}/",
        f"http://127.0.0.1:{port}@evil.example/",
        f"https://127.0.0.1:{port}/",  # right host, other scheme's port rules: still this port, but TLS fails safely
        "file:///etc/passwd",
        "ftp://127.0.0.1/",
        "gopher://127.0.0.1:6379/_INFO",
        "javascript:alert(1)",
        "data:text/plain,hi",
        "/relative/path",
        "127.0.0.1:" + port,
        "http://",
        "http://" + "a" * 5000 + ".com/",
        "",
    ]
    for url in hostile:
        ok, text = _fetch(tool, url)
        assert not ok, f"{url!r} was fetched: {text[:200]}"
        assert "INTERNAL-SECRET" not in text
    assert target.requests == []
    assert len(allowed.requests) == 1


def test_the_refusal_names_the_allowed_hosts(loopback) -> None:
    tool = http_fetch(["docs.python.org", "example.com:8080"])
    ok, text = _fetch(tool, "http://evil.example/x")
    assert not ok and "evil.example, which is not on the allow-list" in text
    assert "Allowed hosts: docs.python.org, example.com:8080." in text
    ok, text = _fetch(tool, "file:///etc/passwd")
    assert not ok and "only http:// and https://" in text
    ok, text = _fetch(tool, "http://user:pw@docs.python.org/")
    assert not ok and "credentials" in text


# -- redirects --------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_to_other_hosts_are_refused_before_any_request(loopback, target, status) -> None:
    port = target.url.rsplit(":", 1)[1]
    hops = {
        "/to-internal": target.url + "/secret",
        "/to-localhost": "http://localhost:{port}/",
        "/to-metadata": "http://169.254.169.254/latest/meta-data/iam/",
        "/to-file": "file:///etc/passwd",
        "/to-creds": "http://user:pw@{self}/",
        "/to-decimal": f"http://2130706433:{port}/",
    }
    server: LoopbackServer

    def handler(request: Request) -> Reply:
        location = hops[request.path].format(port=server.url.rsplit(":", 1)[1], self=_host(server))
        return Reply(status, headers={"Location": location})

    server = loopback(handler, spec=None)
    tool = http_fetch([_host(server)])
    for path in hops:
        ok, text = _fetch(tool, server.url + path)
        assert not ok, path
        assert text.startswith("The server redirected to"), text
        assert "INTERNAL-SECRET" not in text
    assert target.requests == []
    assert [r.path for r in server.requests] == list(hops)


def test_redirects_within_the_allow_list_are_followed_and_loops_stop(loopback) -> None:
    def handler(request: Request) -> Reply:
        if request.path == "/start":
            return Reply(302, headers={"Location": "/middle"})
        if request.path == "/middle":
            return Reply(301, headers={"Location": "end?x=1"})
        if request.path.startswith("/end"):
            return Reply(200, "arrived", content_type="text/plain")
        if request.path == "/loop":
            return Reply(302, headers={"Location": "/loop"})
        return Reply(302)  # a redirect without a Location: returned as is

    server = loopback(handler, spec=None)
    tool = http_fetch([_host(server)], max_redirects=3)
    ok, text = _fetch(tool, server.url + "/start")
    assert ok and text.startswith(f"URL: {server.url}/end?x=1\nRedirected from: {server.url}/start -> {server.url}/middle\n")
    assert text.endswith("arrived")
    before = len(server.requests)
    ok, text = _fetch(tool, server.url + "/loop")
    assert not ok and "Too many redirects (more than 3)" in text
    assert len(server.requests) - before == 4
    ok, text = _fetch(tool, server.url + "/bare")
    assert ok and "Status: 302" in text


def test_a_redirect_from_an_allowed_host_to_an_allowed_port_works(loopback) -> None:
    second = loopback(lambda request: Reply(200, "second", content_type="text/plain"), spec=None)
    first = loopback(lambda request: Reply(307, headers={"Location": second.url + "/x"}), spec=None)
    ok, text = _fetch(http_fetch([_host(first), _host(second)]), first.url + "/")
    assert ok and text.endswith("second")


# -- size and time -------------------------------------------------------------------------------------


def test_big_bodies_are_cut_while_streaming(loopback) -> None:
    chunk = b"x" * 65536
    server = loopback(lambda request: Reply(200, chunks=[chunk] * 400, content_type="text/plain"), spec=None)  # 26 MB
    tool = http_fetch([_host(server)], max_bytes=100_000, max_chars=1_000_000)
    started = time.perf_counter()
    ok, text = _fetch(tool, server.url + "/")
    assert ok and "[cut: the page is longer than the limit" in text
    body = text.split("\n\n", 1)[1]
    assert body.startswith("x" * 100_000) and "x" * 100_001 not in body
    assert time.perf_counter() - started < 5
    deadline = time.monotonic() + 5
    while server.chunks_sent >= 400 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.chunks_sent < 400  # the client hung up instead of draining 26 MB


def test_a_lying_content_length_and_a_cut_connection_are_errors(loopback) -> None:
    server = loopback(lambda request: Reply(200, "y" * 10_000, content_type="text/plain", cut_after=100), spec=None)
    ok, text = _fetch(http_fetch([_host(server)]), server.url + "/")
    assert not ok and "failed" in text


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
def test_compression_bombs_stop_at_the_limit(loopback, encoding) -> None:
    plain = b"\0" * 50_000_000  # 50 MB of zeros, ~50 KB compressed
    if encoding == "gzip":
        body = gzip.compress(plain, 9)
    elif encoding == "deflate":
        body = zlib.compress(plain, 9)
    else:
        squeezer = zlib.compressobj(9, zlib.DEFLATED, -15)
        body = squeezer.compress(plain) + squeezer.flush()
    header = "gzip" if encoding == "gzip" else "deflate"
    server = loopback(
        lambda request: Reply(200, body, headers={"Content-Encoding": header}, content_type="text/plain"), spec=None
    )
    tool = http_fetch([_host(server)], max_bytes=200_000, max_chars=1_000_000)
    started = time.perf_counter()
    ok, text = _fetch(tool, server.url + "/")
    assert ok and "[cut:" in text and text.count("\0") == 200_000
    assert time.perf_counter() - started < 5
    assert server.requests[0].headers.get("accept-encoding") == "gzip, deflate"


def test_unknown_or_corrupt_encodings_are_errors(loopback) -> None:
    replies = {
        "/br": Reply(200, b"\x1b\x00", headers={"Content-Encoding": "br"}, content_type="text/plain"),
        "/bad": Reply(200, b"not gzip at all", headers={"Content-Encoding": "gzip"}, content_type="text/plain"),
        "/double": Reply(200, b"x", headers={"Content-Encoding": "gzip, gzip"}, content_type="text/plain"),
    }
    server = loopback(lambda request: replies[request.path], spec=None)
    tool = http_fetch([_host(server)])
    assert "unsupported encoding" in _fetch(tool, server.url + "/br")[1]
    assert "corrupt" in _fetch(tool, server.url + "/bad")[1]
    assert "unsupported encoding" in _fetch(tool, server.url + "/double")[1]


def test_a_stalled_server_times_out(loopback) -> None:
    server = loopback(lambda request: Reply(stall=True), spec=None)
    started = time.perf_counter()
    ok, text = _fetch(http_fetch([_host(server)], timeout=0.5), server.url + "/")
    assert not ok and ("timed out" in text or "took longer than 0.5 s" in text)
    assert time.perf_counter() - started < 3


def test_a_slow_drip_is_stopped_by_the_overall_deadline(loopback) -> None:
    # every chunk arrives within the read timeout, but the whole body would take 20 s
    server = loopback(lambda request: Reply(200, chunks=[b"drip "] * 100, chunk_delay=0.2, content_type="text/plain"), spec=None)
    started = time.perf_counter()
    ok, text = _fetch(http_fetch([_host(server)], timeout=1.0), server.url + "/")
    assert not ok and "took longer than 1 s" in text
    assert time.perf_counter() - started < 3


def test_nothing_listening_is_an_error(loopback) -> None:
    server = loopback(lambda request: Reply(200), spec=None)
    url, host = server.url, _host(server)
    server.stop()
    ok, text = _fetch(http_fetch([host], timeout=2), url + "/")
    assert not ok and "failed" in text


def test_proxy_and_netrc_settings_are_ignored(loopback, target, monkeypatch, tmp_path) -> None:
    server = loopback(lambda request: Reply(200, "direct", content_type="text/plain"), spec=None)
    for var in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(var, target.url)  # a proxy would see (and could rewrite) the request
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login admin password hunter2\n")
    monkeypatch.setenv("NETRC", str(netrc))
    ok, text = _fetch(http_fetch([_host(server)]), server.url + "/")
    assert ok and text.endswith("direct")
    assert target.requests == [] and "authorization" not in server.requests[0].headers


def test_html_to_text_survives_malformed_markup() -> None:
    assert html_to_text("<p>unclosed <b>bold <a href='/x'>link") == "unclosed bold link"
    assert html_to_text("<script>never closed " + "x" * 1000) == ""
    assert html_to_text("<div>" * 20_000 + "deep" + "</div>" * 20_000) == "deep"
    assert html_to_text("&lt;b&gt; &amp; &#x41; &bogus; </p></p></p>") == "<b> & A &bogus;"
    assert "[x](https://h.example/a/x)" in html_to_text("<a href='x'>x</a>", "https://h.example/a/b")
    assert html_to_text("<a href='javascript:alert(1)'>click</a>") == "click"


# -- in an agent ----------------------------------------------------------------------------------------


def test_in_an_agent_ssrf_attempts_become_tool_messages(loopback, target) -> None:
    server = loopback(
        lambda request: (
            Reply(302, headers={"Location": target.url + "/admin"})
            if request.path == "/bounce"
            else Reply(200, "<p>public page</p>", content_type="text/html")
        ),
        spec=None,
    )
    result, messages = run_calls(
        [http_fetch([_host(server)], timeout=2)],
        [
            ("http_fetch", {"url": target.url + "/admin"}),
            ("http_fetch", {"url": server.url + "/bounce"}),
            ("http_fetch", {"url": "file:///etc/passwd"}),
            ("http_fetch", {"url": server.url + "/public"}),
        ],
        approve=lambda call, ctx: True,
    )
    assert result.output == "done"
    assert [m.is_error for m in messages] == [True, True, True, False]
    assert "not on the allow-list" in messages[0].content
    assert messages[1].content.startswith("The server redirected to") and "not on the allow-list" in messages[1].content
    assert "only http:// and https://" in messages[2].content
    assert messages[3].content.endswith("public page")
    assert target.requests == []


# -- hostile markup: linear time, bounded by the timeout, the event loop free ---------------------------------

_MB2 = 2_000_000
PATHOLOGICAL = {
    "<a x 200 KB": "<a" * 100_000,  # took 44 s with html.parser
    "<a x 2 MB": "<a" * (_MB2 // 2),
    "unterminated comment": "<p>shown</p><!--" + "x" * _MB2,
    "comments never closed": "<!--" * (_MB2 // 4),
    "CDATA": "<![CDATA[" * (_MB2 // 9),
    "nested tags": "<div>" * (_MB2 // 5) + "deep",
    "huge attribute, unterminated": "<a href='" + "x" * _MB2,
    "huge attribute": "<a href='" + "x" * _MB2 + "'>big</a>",
    "many quoted attributes": "<a " + "='x'" * (_MB2 // 4) + ">after",
    "equals signs": "<a " + "=" * _MB2,
    "lone <": "<" * _MB2,
    "end tags": "</" * (_MB2 // 2),
    "script never closed": "<script>" + "</" * (_MB2 // 2),
    "entities": "&amp;" * (_MB2 // 5),
    "tags and text": "<b>x" * (_MB2 // 4),
    "links": "<a href='/x?a=1&amp;b=2'>l</a>" * (_MB2 // 30),
}


@pytest.mark.parametrize("name", list(PATHOLOGICAL))
def test_html_to_text_takes_linear_time_on_hostile_markup(name) -> None:
    html = PATHOLOGICAL[name]
    started = time.perf_counter()
    text = within(30, lambda: html_to_text(html, "https://h.example/"))
    assert time.perf_counter() - started < 10  # about 1 s at most on a slow machine; html.parser: hours
    if name == "unterminated comment":
        assert text == "shown"  # the comment runs to the end, as in a browser
    elif name == "nested tags":
        assert text == "deep"
    elif name == "huge attribute":
        assert text.startswith("[big](https://h.example/xxx")
    elif name == "many quoted attributes":
        assert text == "after"
    elif name == "entities":
        assert text == "&" * (_MB2 // 5)


def test_markup_cut_in_odd_places_still_reads_right() -> None:
    # windows of the tokenizer must not split tags, references or end tags: pad to cross them anywhere
    for pad in (0, 1, 2, 3, 7, 16_380, 16_381, 16_382, 16_383, 16_384, 16_385):
        html = "x" * pad + "<A HREF = 'u?a=1&amp;b=2'>k&eacute;y</A><!--c-->&lt;<script>a</scripty>b</SCRIPT >c"
        assert html_to_text(html).endswith("[kéy](u?a=1&b=2)<c"), pad
    assert html_to_text("<title>T &amp; t</title><p>a <b> b </b> c</p><br/><textarea>x<b>y</textarea>") == (
        "Title: T & t\n\na b c\n\nx<b>y"
    )


def test_html_to_text_async_gives_the_loop_back_and_can_be_stopped() -> None:
    html = "<p>" * (_MB2 // 3)  # nothing to show: the whole page is read

    async def main() -> tuple[float, int]:
        ticks: list[float] = []

        async def ticker() -> None:
            while True:
                ticks.append(time.perf_counter())
                await asyncio.sleep(0.01)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        started = time.perf_counter()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(html_to_text_async(html), 0.1)
        stopped = time.perf_counter() - started
        task.cancel()
        gaps = [b - a for a, b in itertools.pairwise(ticks)]
        return stopped, round(max(gaps) * 1000)

    stopped, worst_gap_ms = asyncio.run(main())
    assert stopped < 1.0
    assert worst_gap_ms < 500  # html.parser blocked for all of it (2 s here)
    text, cut = asyncio.run(html_to_text_async("<p>a</p>" * 100, limit=10))
    assert cut and text.startswith("a\n\na") and len(text) < 100


def test_a_hostile_page_is_converted_within_the_timeout(loopback) -> None:
    pages = {"/a": "<a" * 100_000, "/p": "<p>" * 650_000}  # 200 KB, 1.95 MB
    server = loopback(lambda request: Reply(200, pages[request.path], content_type="text/html"), spec=None)
    tool = http_fetch([_host(server)], timeout=2)
    started = time.perf_counter()
    ok, text = within(30, lambda: _fetch(tool, server.url + "/a"))  # took 44 s, past timeout=2
    assert ok and text.endswith("Content-Type: text/html\n\n")  # nothing to show
    assert time.perf_counter() - started < 3
    # a conversion longer than the timeout is stopped by it (this one takes about a second)
    started = time.perf_counter()
    ok, text = within(30, lambda: _fetch(http_fetch([_host(server)], timeout=0.2), server.url + "/p"))
    assert not ok and "took longer than 0.2 s" in text
    assert time.perf_counter() - started < 1.5


def test_the_event_loop_runs_while_a_page_is_converted(loopback) -> None:
    server = loopback(lambda request: Reply(200, "<p>" * 650_000 + "end", content_type="text/html"), spec=None)
    tool = http_fetch([_host(server)], timeout=30)

    async def main() -> tuple[str, list[float]]:
        ticks: list[float] = []

        async def ticker() -> None:
            while True:
                ticks.append(time.perf_counter())
                await asyncio.sleep(0.01)

        task = asyncio.create_task(ticker())
        text = await tool.function(server.url + "/")
        task.cancel()
        return text, ticks

    text, ticks = within(60, lambda: asyncio.run(main()))
    assert text.endswith("\n\nend")
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert len(ticks) > 10 and max(gaps) < 0.5, f"the loop stalled for {max(gaps):.2f} s"


def test_a_long_page_stops_being_read_at_max_chars(loopback) -> None:
    server = loopback(lambda request: Reply(200, "<p>word</p>" * 150_000, content_type="text/html"), spec=None)
    started = time.perf_counter()
    ok, text = _fetch(http_fetch([_host(server)], max_chars=1000), server.url + "/")
    assert ok and "[cut: the page is longer than the limit" in text
    assert 150 < text.count("word") < 200 and time.perf_counter() - started < 2


# -- the allow-list: ports and schemes ----------------------------------------------------------------------


def test_a_port_in_the_allow_list_means_that_port_and_scheme() -> None:
    allow = AllowList(["h80:80", "h443:443", "odd:8443", "https://tls", "http://plain:8080", "both", "[::1]:443"])
    cases = {
        "http://h80/": True,
        "http://h80:80/": True,
        "https://h80/": False,  # was allowed: ':80' admitted https on 443
        "https://h80:80/": False,
        "http://h80:443/": False,
        "https://h443/": True,
        "http://h443/": False,  # was allowed
        "http://h443:443/": False,  # was allowed
        "https://odd:8443/": True,  # another port: that port, either scheme
        "http://odd:8443/": True,
        "https://odd/": False,
        "http://odd/": False,
        "https://tls/": True,  # a scheme in the entry: that scheme only
        "http://tls/": False,
        "https://tls:8443/": False,
        "http://plain:8080/": True,
        "https://plain:8080/": False,
        "http://plain/": False,
        "http://both/": True,  # no port: either scheme on its default port
        "https://both/": True,
        "http://both:8080/": False,
        "https://[::1]/": True,
        "http://[::1]:443/": False,
    }
    for url, expected in cases.items():
        assert allow.allows(httpx.URL(url)) is expected, url
    assert str(allow) == "http://h80, https://h443, odd:8443, https://tls, http://plain:8080, both, https://[::1]"
    with pytest.raises(UserError):
        AllowList(["ftp://example.com"])


def test_the_model_is_told_which_scheme_a_port_allows(loopback) -> None:
    tool = http_fetch(["example.com:443"])
    ok, text = _fetch(tool, "http://example.com/")
    assert not ok and "not on the allow-list" in text and "Allowed hosts: https://example.com." in text
