"""``http_fetch(allow=[...])``: a tool that GETs web pages from an allow-list of hosts and returns readable text.

    from agentkit import Agent
    from agentkit_tools import http_fetch

    fetch = http_fetch(allow=["docs.python.org", "example.com:8443"])
    agent = Agent("openai:gpt-4o-mini", tools=[fetch])

Only hosts on the allow-list are contacted, matched exactly (no subdomains, no IP spellings of
a name): ``"host"`` allows http on port 80 and https on 443; ``"host:8080"`` only that port
(either scheme); ``"host:80"`` http only and ``"host:443"`` https only (a default port stands
for its scheme); an entry written with a scheme (``"https://host"``, ``"http://host:8080"``)
allows that scheme and port only. Redirects are followed by hand, and every hop is checked against
the allow-list again, so an allowed server cannot bounce the request to ``127.0.0.1`` or a cloud
metadata address. URLs with credentials and schemes other than http/https are refused. Proxy
settings and ``.netrc`` from the environment are ignored.

The body is read as a stream and cut at ``max_bytes`` (after decompression; gzip and deflate
are decoded here with a bound, so a compression bomb stops at the limit too); the whole fetch,
redirects included, must finish within ``timeout`` seconds, and so must turning the page into
text. HTML is reduced to text by a small tokenizer whose time grows linearly with the page
(scripts, styles and other invisible parts dropped; links kept as ``[text](url)``); it works
in slices of a few milliseconds, so the event loop goes on serving other tasks meanwhile, and
stops reading once it has ``max_chars`` of text. The tool is created with ``requires_approval=True`` unless told
otherwise: each fetch then waits for the user's approval.

The allow-list matches host names as written: if an allowed name's DNS points at a private
address, that address is what gets fetched. Allow only hosts whose DNS you trust.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import zlib
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from agentkit import ModelRetry, Tool, UserError

from ._html import html_to_text, html_to_text_async

__all__ = ["http_fetch", "html_to_text", "html_to_text_async", "AllowList"]

_REDIRECTS = (301, 302, 303, 307, 308)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_MAX_URL_CHARS = 4096
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript", "application/xhtml")


@dataclass(frozen=True)
class _Host:
    host: str
    port: int | None  # None: the default port of either scheme (80 for http, 443 for https)
    scheme: str | None  # None: either scheme (on ``port``)

    def __str__(self) -> str:
        if self.scheme is None:
            return self.host if self.port is None else f"{self.host}:{self.port}"
        shown = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if self.port == _DEFAULT_PORTS[self.scheme] else f":{self.port}"
        return f"{self.scheme}://{shown}{port}"


def _host_of(url: httpx.URL) -> str:
    return url.raw_host.decode("ascii", "replace").lower().rstrip(".")


class AllowList:
    """The hosts a fetch may reach, each matched exactly (no subdomains, no other spellings):

    * ``"example.com"``: ``http://example.com`` (port 80) and ``https://example.com`` (port 443);
    * ``"example.com:8080"``: port 8080 only, over http or https;
    * ``"example.com:80"``: ``http://example.com`` only, and ``"example.com:443"``:
      ``https://example.com`` only (a default port stands for its scheme);
    * ``"https://example.com"`` or ``"http://example.com:8080"``: that scheme and port only.

    Raises:
        UserError: an entry cannot be read as a host.
    """

    def __init__(self, entries: Iterable[str]) -> None:
        hosts: list[_Host] = []
        for entry in entries:
            text = entry.strip() if isinstance(entry, str) else ""
            if not text:
                raise UserError(f"http_fetch(allow=...): {entry!r} is not a host name.")
            scheme = text.split("://", 1)[0].lower() if "://" in text else None
            if scheme is not None and scheme not in _DEFAULT_PORTS:
                raise UserError(f"http_fetch(allow=...): {entry!r} must use http:// or https://, or no scheme.")
            try:
                # a scheme of no meaning to httpx, so that it keeps ":80" and ":443" as written
                url = httpx.URL("x-allow://" + (text.split("://", 1)[1] if scheme else text))
            except (httpx.InvalidURL, ValueError) as e:
                raise UserError(f"http_fetch(allow=...): cannot read {entry!r} as a host ({e}).") from None
            if not url.raw_host or url.userinfo or url.path not in ("", "/") or url.query or url.fragment:
                raise UserError(f"http_fetch(allow=...): {entry!r} must be a host or host:port, like 'example.com:8080'.")
            port = url.port
            if scheme is None and port is not None:
                scheme = next((s for s, p in _DEFAULT_PORTS.items() if p == port), None)  # :80 is http, :443 https
            if scheme is not None and port is None:
                port = _DEFAULT_PORTS[scheme]
            hosts.append(_Host(_host_of(url), port, scheme))
        if not hosts:
            raise UserError("http_fetch(allow=...) needs at least one host, e.g. allow=['docs.python.org'].")
        self.hosts = tuple(hosts)

    def allows(self, url: httpx.URL) -> bool:
        """Whether ``url`` (http/https) points at an allowed host, port and scheme."""
        if url.scheme not in _DEFAULT_PORTS:
            return False
        host = _host_of(url)
        port = url.port or _DEFAULT_PORTS[url.scheme]
        for allowed in self.hosts:
            if allowed.host != host or (allowed.scheme is not None and allowed.scheme != url.scheme):
                continue
            if allowed.port is None and port == _DEFAULT_PORTS[url.scheme]:
                return True
            if allowed.port == port:
                return True
        return False

    def __str__(self) -> str:
        return ", ".join(map(str, self.hosts))


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

    async def get(self, url_text: str) -> str:
        """Fetch and render: the whole of what the tool does, for one deadline to cover."""
        return await self.render(await self.fetch(url_text))

    async def render(self, page: _Page) -> str:
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
            # in slices, so the event loop goes on meanwhile and the fetch's deadline can stop it
            text, cut = await html_to_text_async(text, str(page.url), limit=self.max_chars + 1)
            page.truncated = page.truncated or cut
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
        allow: the hosts it may reach, exact matches only: ``"example.com"`` (http on 80, https on 443),
            ``"example.com:8080"`` (that port), ``"example.com:443"`` (https only), ``"https://example.com"``
            (https only).
        max_bytes: most bytes of body read (after decompression); the rest is cut.
        timeout: seconds the whole fetch, redirects and the conversion to text included, may take.
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
            return await asyncio.wait_for(fetcher.get(url), timeout)
        except asyncio.TimeoutError:
            raise ModelRetry(f"Fetching {url[:300]!r} took longer than {timeout:g} s and was stopped.") from None
        except httpx.TimeoutException:
            raise ModelRetry(f"Fetching {url[:300]!r} timed out (no answer within {timeout:g} s).") from None
        except httpx.InvalidURL as e:
            raise ModelRetry(f"{url[:300]!r} is not a valid URL ({e}).") from None
        except httpx.HTTPError as e:
            raise ModelRetry(f"Fetching {url[:300]!r} failed: {type(e).__name__}: {e}.") from None

    fetch.__doc__ = (
        "Fetch a web page or text document by URL (HTTP GET) and return its readable text.\n\n"
        f"Only these hosts can be fetched: {fetcher.allow}.\n\n"
        "Args:\n"
        "    url: The full http:// or https:// URL, e.g. 'https://example.com/page'."
    )
    return Tool(fetch, name=name, requires_approval=requires_approval)
