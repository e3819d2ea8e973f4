"""``http_fetch(allow=[...])``: a tool that GETs web pages from an allow-list of hosts and returns readable text.

    from agentkit import Agent
    from agentkit_tools import http_fetch

    fetch = http_fetch(allow=["docs.python.org", "example.com:8443"])
    agent = Agent("openai:gpt-4o-mini", tools=[fetch])

Only hosts on the allow-list are contacted, matched exactly (no subdomains, no IP spellings of
a name): ``"host"`` allows the scheme's default port (80 for http, 443 for https),
``"host:port"`` only that port. Redirects are followed by hand, and every hop is checked against
the allow-list again, so an allowed server cannot bounce the request to ``127.0.0.1`` or a cloud
metadata address. URLs with credentials and schemes other than http/https are refused. Proxy
settings and ``.netrc`` from the environment are ignored.

The body is read as a stream and cut at ``max_bytes`` (after decompression; gzip and deflate
are decoded here with a bound, so a compression bomb stops at the limit too); the whole fetch,
redirects included, must finish within ``timeout`` seconds. HTML is reduced to text with the
standard library's ``html.parser`` (scripts, styles and other invisible parts dropped; links
kept as ``[text](url)``). The tool is created with ``requires_approval=True`` unless told
otherwise: each fetch then waits for the user's approval.

The allow-list matches host names as written: if an allowed name's DNS points at a private
address, that address is what gets fetched. Allow only hosts whose DNS you trust.
"""

from __future__ import annotations

import asyncio
import functools
import re
import ssl
import zlib
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import httpx

from agentkit import ModelRetry, Tool, UserError

__all__ = ["http_fetch", "html_to_text", "AllowList"]

_REDIRECTS = (301, 302, 303, 307, 308)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_MAX_URL_CHARS = 4096
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript", "application/xhtml")


@dataclass(frozen=True)
class _Host:
    host: str
    port: int | None  # None: the scheme's default port


def _host_of(url: httpx.URL) -> str:
    return url.raw_host.decode("ascii", "replace").lower().rstrip(".")


class AllowList:
    """The hosts a fetch may reach: ``"example.com"`` (default ports) or ``"example.com:8080"`` (that port only).

    Entries may also be written as URLs (``"https://example.com"``); only host and port count.

    Raises:
        UserError: an entry cannot be read as a host.
    """

    def __init__(self, entries: Iterable[str]) -> None:
        hosts: list[_Host] = []
        for entry in entries:
            text = entry.strip() if isinstance(entry, str) else ""
            if not text:
                raise UserError(f"http_fetch(allow=...): {entry!r} is not a host name.")
            try:
                url = httpx.URL(text if "://" in text else f"http://{text}")
            except (httpx.InvalidURL, ValueError) as e:
                raise UserError(f"http_fetch(allow=...): cannot read {entry!r} as a host ({e}).") from None
            if not url.raw_host or url.userinfo or url.path not in ("", "/") or url.query:
                raise UserError(f"http_fetch(allow=...): {entry!r} must be a host or host:port, like 'example.com:8080'.")
            hosts.append(_Host(_host_of(url), url.port))
        if not hosts:
            raise UserError("http_fetch(allow=...) needs at least one host, e.g. allow=['docs.python.org'].")
        self.hosts = tuple(hosts)

    def allows(self, url: httpx.URL) -> bool:
        """Whether ``url`` (http/https) points at an allowed host and port."""
        if url.scheme not in _DEFAULT_PORTS:
            return False
        host = _host_of(url)
        port = url.port or _DEFAULT_PORTS[url.scheme]
        for allowed in self.hosts:
            if allowed.host != host:
                continue
            if allowed.port is None and port == _DEFAULT_PORTS[url.scheme]:
                return True
            if allowed.port == port:
                return True
        return False

    def __str__(self) -> str:
        return ", ".join(h.host if h.port is None else f"{h.host}:{h.port}" for h in self.hosts)


# --- HTML → text -------------------------------------------------------------------------


class _TextExtractor(HTMLParser):
    _SKIP = frozenset({"script", "style", "noscript", "template", "svg", "math", "iframe", "object", "canvas"})
    _BLOCK = frozenset(
        {
            "p", "div", "section", "article", "header", "footer", "main", "nav", "aside", "form", "table", "tr",
            "ul", "ol", "dl", "dt", "dd", "blockquote", "figure", "figcaption", "details", "summary", "hr", "address",
        }
    )  # fmt: skip
    _VOID = frozenset({"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "embed", "source", "track", "wbr"})

    def __init__(self, base: httpx.URL | None) -> None:
        super().__init__(convert_charrefs=True)
        self.base = base
        self.parts: list[str] = []
        self.title: list[str] = []
        self.skip_depth = 0
        self.in_title = False
        self.pre = 0
        self.href: str | None = None
        self.link_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self.in_title = True
            return
        if tag in self._SKIP:
            self.skip_depth += 1
            return
        if self.skip_depth:
            return
        if tag in self._BLOCK or tag == "br":
            self.parts.append("\n")
        elif re.fullmatch(r"h[1-6]", tag):
            self.parts.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in ("td", "th"):
            self.parts.append(" | ")
        elif tag == "pre":
            self.pre += 1
            self.parts.append("\n```\n")
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            self.href = self._absolute(href)
            self.link_text = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
            return
        if tag in self._SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
            return
        if self.skip_depth:
            return
        if tag == "a" and self.href is not None:
            text = " ".join("".join(self.link_text).split())
            if text and self.href:
                self.parts.append(f"[{text}]({self.href})")
            elif text:
                self.parts.append(text)
            self.href = None
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)
            self.parts.append("\n```\n")
        elif tag in self._BLOCK or re.fullmatch(r"h[1-6]", tag) or tag == "p":
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
            return
        if self.skip_depth:
            return
        if self.href is not None:
            self.link_text.append(data)
            return
        self.parts.append(data if self.pre else re.sub(r"\s+", " ", data))

    def _absolute(self, href: str) -> str:
        href = href.strip()
        if not href or href.startswith(("#", "javascript:", "mailto:", "data:")):
            return ""
        if self.base is None:
            return href
        try:
            return str(self.base.join(href))
        except (httpx.InvalidURL, ValueError):
            return ""


def html_to_text(html: str, base_url: str | None = None) -> str:
    """Readable text of an HTML page: title, headings as ``#``, list items as ``-``, links as ``[text](url)``.

    Scripts, styles, templates, SVG and other invisible parts are dropped; whitespace is collapsed
    except in ``<pre>``.
    """
    base: httpx.URL | None = None
    if base_url:
        try:
            base = httpx.URL(base_url)
        except (httpx.InvalidURL, ValueError):
            base = None
    parser = _TextExtractor(base)
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError, RecursionError):  # malformed markup: keep what was read
        pass
    if parser.href is not None:  # an <a> never closed
        parser.parts.append("".join(parser.link_text))
    body = "\n".join(line.rstrip() for line in "".join(parser.parts).split("\n"))
    body = re.sub(r"(?m)^ (?=\S)", "", body)  # the space left where whitespace was collapsed
    text = re.sub(r"\n{3,}", "\n\n", body).strip()
    title = " ".join("".join(parser.title).split())
    return f"Title: {title}\n\n{text}" if title else text


# --- fetching ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    """One verifying TLS context for every fetch (building one costs tens of milliseconds)."""
    return ssl.create_default_context()


class _Decoder:
    """Content-Encoding decoding with a bound on the output (gzip, deflate, identity)."""

    def __init__(self, encoding: str) -> None:
        codings = [c.strip().lower() for c in encoding.split(",") if c.strip() and c.strip().lower() != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise ModelRetry(f"The server sent the body in an unsupported encoding ({encoding}); it cannot be read.")
        self.zlib = None
        if codings:
            self.zlib = zlib.decompressobj(47 if codings[0] in ("gzip", "x-gzip") else 15)
            self.raw_deflate = codings[0] == "deflate"
        self.started = False

    def decode(self, data: bytes, room: int) -> bytes:
        if self.zlib is None:
            return data[:room]
        if not self.started and self.raw_deflate:  # "deflate" is zlib-wrapped in theory, raw in practice
            self.started = True
            if data and (data[0] & 0x0F) != 8:
                self.zlib = zlib.decompressobj(-15)
        self.started = True
        try:
            return self.zlib.decompress(data, room) if room > 0 else b""
        except zlib.error as e:
            raise ModelRetry(f"The server's compressed body is corrupt ({e}).") from None


@dataclass
class _Page:
    url: httpx.URL
    status: int
    reason: str
    content_type: str
    charset: str | None
    body: bytes
    truncated: bool
    hops: list[str]


class _Fetcher:
    def __init__(
        self, allow: AllowList, max_bytes: int, timeout: float, max_redirects: int, max_chars: int, user_agent: str
    ) -> None:
        self.allow = allow
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.max_redirects = max_redirects
        self.max_chars = max_chars
        self.user_agent = user_agent

    def check(self, text: str, *, redirect: bool = False) -> httpx.URL:
        """The parsed URL, if it may be fetched; else a ModelRetry saying why not."""
        where = f"The server redirected to {text[:300]!r}, but that URL" if redirect else f"{text[:300]!r}"
        if len(text) > _MAX_URL_CHARS:
            raise ModelRetry(f"The URL is {len(text):,} characters long; the limit is {_MAX_URL_CHARS:,}.")
        try:
            url = httpx.URL(text)
        except (httpx.InvalidURL, ValueError, TypeError) as e:
            raise ModelRetry(f"{where} is not a valid URL ({e}). Give a full URL like 'https://example.com/page'.") from None
        if url.scheme not in _DEFAULT_PORTS:
            what = f"uses the scheme {url.scheme!r}" if url.scheme else "has no scheme"
            raise ModelRetry(f"{where} {what}; only http:// and https:// URLs can be fetched.")
        if url.userinfo:
            raise ModelRetry(f"{where} contains credentials (user:password@); URLs with credentials are not fetched.")
        if not url.raw_host:
            raise ModelRetry(f"{where} has no host. Give a full URL like 'https://example.com/page'.")
        if not self.allow.allows(url):
            port = f":{url.port}" if url.port else ""
            raise ModelRetry(
                f"{where} points at {_host_of(url)}{port}, which is not on the allow-list; nothing was fetched from it. "
                f"Allowed hosts: {self.allow}."
            )
        return url

    async def fetch(self, url_text: str) -> _Page:
        url = self.check(url_text.strip())
        hops: list[str] = []
        timeout = httpx.Timeout(self.timeout)
        headers = {
            "User-Agent": self.user_agent,
            "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,application/json;q=0.9,*/*;q=0.5",
            "Accept-Encoding": "gzip, deflate",
        }
        async with httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, trust_env=False, headers=headers, verify=_tls()
        ) as client:
            while True:
                async with client.stream("GET", url) as response:
                    location = response.headers.get("location")
                    if response.status_code in _REDIRECTS and location is not None:
                        if len(hops) >= self.max_redirects:
                            raise ModelRetry(f"Too many redirects (more than {self.max_redirects}); stopped at {url}.")
                        try:
                            target = str(url.join(location.strip()))
                        except (httpx.InvalidURL, ValueError) as e:
                            raise ModelRetry(f"The server redirected to an invalid URL ({e}).") from None
                        hops.append(str(url))
                        url = self.check(target, redirect=True)
                        continue
                    return await self._read(response, url, hops)

    async def _read(self, response: httpx.Response, url: httpx.URL, hops: list[str]) -> _Page:
        decoder = _Decoder(response.headers.get("content-encoding", ""))
        chunks: list[bytes] = []
        size = 0
        truncated = False
        async for raw in response.aiter_raw():
            room = self.max_bytes - size
            piece = decoder.decode(raw, room + 1)
            if len(piece) > room or (decoder.zlib is not None and decoder.zlib.unconsumed_tail):
                chunks.append(piece[:room])
                size += len(piece[:room])
                truncated = True
                break
            chunks.append(piece)
            size += len(piece)
            if size >= self.max_bytes:
                truncated = True
                break
        content_type = response.headers.get("content-type", "")
        return _Page(
            url=url,
            status=response.status_code,
            reason=response.reason_phrase,
            content_type=content_type.split(";")[0].strip().lower(),
            charset=response.charset_encoding,
            body=b"".join(chunks),
            truncated=truncated,
            hops=hops,
        )

    def render(self, page: _Page) -> str:
        lines = [f"URL: {page.url}"]
        if page.hops:
            lines.append(f"Redirected from: {' -> '.join(page.hops)}")
        lines.append(f"Status: {page.status} {page.reason}".rstrip())
        lines.append(f"Content-Type: {page.content_type or 'unknown'}")
        kind = page.content_type
        textual = not kind or kind.startswith(_TEXT_TYPES) or kind.endswith(("+json", "+xml"))
        if not textual:
            lines.append(f"\n[{len(page.body):,} bytes of {kind} content; not shown (only text and HTML are).]")
            return "\n".join(lines)
        encoding = page.charset or "utf-8"
        try:
            text = page.body.decode(encoding, "replace")
        except LookupError:
            text = page.body.decode("utf-8", "replace")
        if kind in ("text/html", "application/xhtml+xml") or (not kind and "<html" in text[:1000].lower()):
            text = html_to_text(text, str(page.url))
        if len(text) > self.max_chars:
            text = text[: self.max_chars]
            page.truncated = True
        lines.append("")
        lines.append(text)
        if page.truncated:
            lines.append(
                f"\n[cut: the page is longer than the limit ({self.max_bytes:,} bytes / {self.max_chars:,} characters).]"
            )
        return "\n".join(lines)


def http_fetch(
    allow: Sequence[str],
    *,
    max_bytes: int = 2_000_000,
    timeout: float = 15.0,
    max_redirects: int = 5,
    max_chars: int = 40_000,
    requires_approval: bool = True,
    name: str = "http_fetch",
    user_agent: str = "agentkit-http-fetch/0.1",
) -> Tool[[str], Coroutine[Any, Any, str]]:
    """A tool that fetches ``http(s)://`` URLs on the allowed hosts and returns their text.

    Args:
        allow: the hosts it may reach: ``"example.com"`` (ports 80/443) or ``"example.com:8080"``; exact matches only.
        max_bytes: most bytes of body read (after decompression); the rest is cut.
        timeout: seconds the whole fetch, redirects included, may take.
        max_redirects: most redirects followed (each one checked against ``allow``).
        max_chars: most characters of text returned to the model.
        requires_approval: pause the run for the user's approval before each fetch (default True).
        name: the tool's name.
        user_agent: the User-Agent header sent.

    Raises:
        UserError: ``allow`` is empty or an entry is not a host.
    """
    if isinstance(allow, str):
        allow = [allow]
    for label, value in (("max_bytes", max_bytes), ("max_chars", max_chars)):
        if value < 1:
            raise UserError(f"http_fetch({label}=...) must be at least 1, not {value}.")
    if timeout <= 0 or max_redirects < 0:
        raise UserError("http_fetch(timeout=...) must be positive and max_redirects at least 0.")
    fetcher = _Fetcher(AllowList(allow), max_bytes, timeout, max_redirects, max_chars, user_agent)

    async def fetch(url: str) -> str:
        try:
            page = await asyncio.wait_for(fetcher.fetch(url), timeout)
        except asyncio.TimeoutError:
            raise ModelRetry(f"Fetching {url[:300]!r} took longer than {timeout:g} s and was stopped.") from None
        except httpx.TimeoutException:
            raise ModelRetry(f"Fetching {url[:300]!r} timed out (no answer within {timeout:g} s).") from None
        except httpx.InvalidURL as e:
            raise ModelRetry(f"{url[:300]!r} is not a valid URL ({e}).") from None
        except httpx.HTTPError as e:
            raise ModelRetry(f"Fetching {url[:300]!r} failed: {type(e).__name__}: {e}.") from None
        return fetcher.render(page)

    fetch.__doc__ = (
        "Fetch a web page or text document by URL (HTTP GET) and return its readable text.\n\n"
        f"Only these hosts can be fetched: {fetcher.allow}.\n\n"
        "Args:\n"
        "    url: The full http:// or https:// URL, e.g. 'https://example.com/page'."
    )
    return Tool(fetch, name=name, requires_approval=requires_approval)
