"""HTML to readable text in time linear in the page, in slices that let an event loop go on: ``html_to_text``.

A small tokenizer of its own, not ``html.parser`` (whose handling of unterminated tags is
quadratic: 200 KB of ``<a`` took 44 s). Every search moves forward, within a window of at most
``_WINDOW`` characters, and a construct whose end is missing (a tag, comment or script never
closed) ends the document there, as in a browser: the time grows linearly with the page, and
the work comes in short steps. ``_Converter.run(seconds)`` stops after about that long, so an
async caller gives the event loop back between slices (``html_to_text_async``).
"""

from __future__ import annotations

import asyncio
import functools
import html as html_module
import itertools
import math
import re
import time
from collections.abc import Iterator
from urllib.parse import urljoin

import httpx

__all__ = ["html_to_text", "html_to_text_async"]

_WINDOW = 16_384
_WS = " \t\n\f\r"
_MARKUP = re.compile(r"<(?:(/?)([a-zA-Z][^\t\n\f\r />\x00]*)|!--|[!?/])")  # a tag, comment or declaration starts
_QUOTED = re.compile(r"""=[\t\n\f\r ]*["']""")  # an attribute value in quotes starts (a ">" in it is not the end)
_ATTR = re.compile(
    r"""([^\t\n\f\r />"'=][^\t\n\f\r />=]*)(?:[\t\n\f\r ]*=[\t\n\f\r ]*(?:"([^"]*)"|'([^']*)'|([^\t\n\f\r >]*)))?"""
)
_SPACES = re.compile(r"\s+")
_BLANK_LINES = re.compile(r"\n{3,}")
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_RAW = frozenset({"script", "style", "noscript", "iframe", "noembed", "noframes", "xmp"})  # text up to the end tag, hidden
_RCDATA = frozenset({"title", "textarea"})  # text up to the end tag, character references decoded
_SKIP = frozenset({"template", "svg", "math", "object", "canvas"})  # elements whose content is not shown
_BLOCK = frozenset(
    {
        "p", "div", "section", "article", "header", "footer", "main", "nav", "aside", "form", "table", "tr",
        "ul", "ol", "dl", "dt", "dd", "blockquote", "figure", "figcaption", "details", "summary", "hr", "address",
    }
)  # fmt: skip
_MAX_TITLE = 1000


@functools.lru_cache(maxsize=32)
def _end_tag(name: str) -> re.Pattern[str]:
    return re.compile(rf"</{re.escape(name)}(?=[\t\n\f\r />]|\Z)", re.IGNORECASE)


def _tidy_line(line: str) -> str:
    """A line without trailing blanks, nor the one space left at its start where whitespace was collapsed."""
    line = line.rstrip()
    return line[1:] if line[:1] == " " and not line[1:2].isspace() else line


def _unescape(text: str) -> str:
    return html_module.unescape(text) if "&" in text else text


class _Converter:
    """HTML to text, a step at a time: ``run(seconds)`` until it returns True, then ``result``.

    ``limit``: stop reading once the text has that many non-blank characters (the rest could
    only come after them, and would be cut anyway).
    """

    def __init__(self, html: str, base: str | None, limit: float = math.inf) -> None:
        self.html = html
        self.pos = 0  # where the next step starts
        self.base = base
        self.limit = limit
        self.visible = 0  # non-blank characters in parts
        self.cut = False  # stopped at the limit
        self.parts: list[str] = []
        self.title: list[str] = []
        self.title_chars = 0
        self.skip_depth = 0
        self.pre = 0
        self.href: str | None = None
        self.link_text: list[str] = []
        self.tag: re.Match[str] | None = None  # a tag whose end is being looked for
        self.raw: str | None = None  # a script, style, title... whose end tag is being looked for
        self.raw_start = 0
        self.gt = -1  # the first ">" at or after pos, once looked for
        self.result = ""
        self.steps = self.work()

    def run(self, seconds: float = math.inf) -> bool:
        """Convert for about ``seconds``; True when the whole page is done (then ``result`` has its text)."""
        deadline = time.monotonic() + seconds
        return all(time.monotonic() < deadline for _ in self.steps)

    def work(self) -> Iterator[None]:
        """The conversion, one short step per item: reading the page, then tidying its text."""
        n = len(self.html)
        work = 0
        while self.pos < n:
            if self.visible >= self.limit:
                self.cut, self.pos = True, n
                break
            before = self.pos
            if self.tag is not None:
                self.tag_step()
            elif self.raw is not None:
                self.raw_step()
            else:
                self.text_step()
            work += 1 + (self.pos - before) // 256
            if work >= 64:  # about 64 tags or a window of text
                work = 0
                yield
        if self.raw is not None:  # a script, title... never closed: its text runs to the end
            self.raw_text(self.html[self.raw_start :])
            self.raw = None
        if self.href is not None:  # an <a> never closed: its text, without the link
            self.parts.append(" ".join("".join(self.link_text).split()))
            self.href = None
        body, self.parts = "".join(self.parts), []
        tidied: list[str] = []
        pos = 0
        while pos < len(body):  # in pieces that end at a line's end: what is done to each line stays in its piece
            end = body.find("\n", min(len(body), pos + _WINDOW))
            end = len(body) if end < 0 else end + 1
            tidied.append("\n".join(map(_tidy_line, body[pos:end].split("\n"))))
            pos = end
            yield
        body = "".join(tidied)
        yield
        text = _BLANK_LINES.sub("\n\n", body).strip()
        title = " ".join("".join(self.title).split())[:_MAX_TITLE]
        self.result = f"Title: {title}\n\n{text}" if title else text

    # -- the steps ---------------------------------------------------------------------------------

    def text_step(self) -> None:
        """Text up to the next markup (at most a window of it), then that markup."""
        html, pos, n = self.html, self.pos, len(self.html)
        stop = min(n, pos + _WINDOW)
        m = _MARKUP.search(html, pos, stop)
        if m is None:  # no markup starts before stop - 1 (every markup is at least 2 characters)
            end = n if stop == n else stop - 1
            if end < n:
                amp = html.rfind("&", max(pos, end - 40), end)  # do not split a character reference
                end = amp if amp > pos else end
            self.data(html[pos:end])
            self.pos = end
            return
        start = m.start()
        if m.end() >= stop - 3 and stop < n:  # the window may have cut the match short: match it again without it
            m = _MARKUP.match(html, start) or m
        if start > pos:
            self.data(html[pos:start])
        if m[2] is None:
            self.pos = self.declaration_end(m)
            return
        self.tag, self.pos = m, m.end()
        self.tag_step()  # most tags end within the window

    def declaration_end(self, m: re.Match[str]) -> int:
        """Where a comment, declaration or processing instruction ends (len(html) if never)."""
        html, start, n = self.html, m.start(), len(self.html)
        if m[0] == "<!--":
            if html.startswith(">", start + 4):
                return start + 5
            if html.startswith("->", start + 4):
                return start + 6
            end = html.find("-->", start + 4)
            return n if end < 0 else end + 3
        end = html.find(">", start + 2)
        return n if end < 0 else end + 1

    def tag_step(self) -> None:
        """Look for the end of the open tag from ``pos``, within a window; handle the tag once found."""
        html, pos, n = self.html, self.pos, len(self.html)
        if self.gt < pos:
            self.gt = html.find(">", pos)
        gt = self.gt
        if gt < 0:  # never closed: the rest of the document is inside the tag
            self.tag, self.pos = None, n
            return
        stop = min(gt, pos + _WINDOW)
        quoted = _QUOTED.search(html, pos, stop)
        if quoted is None:
            if stop == gt:
                self.end_of_tag(gt)
                return
            # no quoted value starts before stop; one may straddle it ("=  '"): go on from before its "="
            back = len(html[pos:stop].rstrip(_WS))
            self.pos = pos + back - 1 if back and html[pos + back - 1] == "=" else pos + back
            if self.pos <= pos:
                self.pos = stop
            return
        quote = html[quoted.end() - 1]
        close = html.find(quote, quoted.end())
        if close < 0:  # a value never closed: the rest of the document is inside it
            self.tag, self.pos = None, n
            return
        self.pos = close + 1

    def end_of_tag(self, gt: int) -> None:
        m, html = self.tag, self.html
        assert m is not None
        self.tag, self.pos = None, gt + 1
        name = m[2].lower()
        if m[1]:
            self.end_tag(name)
            return
        self.start_tag(name, html[m.end() : gt] if name == "a" else "")
        if gt > m.end() and html[gt - 1] == "/":  # <br/>, <svg ... />
            self.end_tag(name)
        elif name in _RAW or name in _RCDATA:
            self.raw, self.raw_start = name, gt + 1

    def raw_step(self) -> None:
        """Look for the end tag of a script, style, title... within a window."""
        html, pos, n = self.html, self.pos, len(self.html)
        assert self.raw is not None
        end_tag = _end_tag(self.raw)
        stop = min(n, pos + _WINDOW)
        close = end_tag.search(html, pos, stop)
        if close is not None and close.end() == stop < n and not end_tag.match(html, close.start()):
            self.pos = close.start() + 1  # "</script" cut by the window, and not an end tag after all
            return
        if close is None:
            # the end tag may straddle the window: go on from just before where it could start
            self.pos = n if stop == n else max(pos + 1, stop - len(self.raw) - 2)
            return
        self.raw_text(html[self.raw_start : close.start()])
        self.raw, self.pos = None, close.start()  # the end tag itself is read as any other

    def raw_text(self, text: str) -> None:
        if self.raw == "title":
            if self.title_chars < _MAX_TITLE:
                self.title.append(_unescape(text[: _MAX_TITLE * 2]))
                self.title_chars += len(text)
        elif self.raw == "textarea":
            self.data(text)

    # -- what the tokens mean ------------------------------------------------------------------------

    def start_tag(self, tag: str, attributes: str) -> None:
        if tag in _SKIP:
            self.skip_depth += 1
            return
        if self.skip_depth or tag in _RAW or tag in _RCDATA:
            return
        if tag in _BLOCK or tag == "br":
            self.newline()
        elif tag in _HEADINGS:
            self.add("\n\n" + "#" * int(tag[1]) + " ", visible=int(tag[1]))
        elif tag == "li":
            self.add("\n- ", visible=1)
        elif tag in ("td", "th"):
            self.add(" | ", visible=1)
        elif tag == "pre":
            self.pre += 1
            self.add("\n```\n", visible=3)
        elif tag == "a":
            self.flush_link()
            href = ""
            for attr in itertools.islice(_ATTR.finditer(attributes), 100):  # no real link has more
                if attr[1].lower() == "href":
                    href = _unescape(next((v for v in attr.groups()[1:] if v is not None), ""))
                    break
            self.href = self.absolute(href)
            self.link_text = []

    def end_tag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
            return
        if self.skip_depth or tag in _RAW or tag in _RCDATA:
            return
        if tag == "a":
            self.flush_link()
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)
            self.add("\n```\n", visible=3)
        elif tag in _BLOCK or tag in _HEADINGS:
            self.newline()

    def data(self, text: str) -> None:
        if self.skip_depth or not text:
            return
        text = _unescape(text)
        if self.href is not None:
            self.link_text.append(text)
            return
        if not self.pre:
            text = _SPACES.sub(" ", text)
            if text[0] == " " and self.parts and self.parts[-1][-1:] in (" ", "\n"):
                text = text[1:]  # a space after a space or at the start of a line shows as nothing
                if not text:
                    return
            self.add(text, len(text) - text.count(" "))
            return
        self.add(text)

    def add(self, text: str, visible: int | None = None) -> None:
        self.parts.append(text)
        if visible is None:
            visible = len("".join(text.split()))
        self.visible += visible

    def newline(self) -> None:
        last = self.parts[-1] if self.parts else ""
        if last == "\n":
            self.parts[-1] = "\n\n"
        elif last != "\n\n":  # three or more line breaks in a row show as two
            self.parts.append("\n")

    def flush_link(self) -> None:
        """Close the open link, if any: ``[text](url)``, or its text alone when it has no usable URL."""
        if self.href is None:
            return
        text = " ".join("".join(self.link_text).split())
        if text and self.href:
            self.add(f"[{text}]({self.href})")
        elif text:
            self.add(text)
        self.href = None
        self.link_text = []

    def absolute(self, href: str) -> str:
        href = href.strip()
        if not href or href.startswith(("#", "javascript:", "mailto:", "data:")):
            return ""
        if self.base is None:
            return href
        try:
            return urljoin(self.base, href)
        except ValueError:
            return ""


def _converter(html: str, base_url: str | None, limit: float = math.inf) -> _Converter:
    base: str | None = None
    if base_url:
        try:
            base = str(httpx.URL(base_url))
        except (httpx.InvalidURL, ValueError):
            base = None
    return _Converter(html, base, limit)


def html_to_text(html: str, base_url: str | None = None) -> str:
    """Readable text of an HTML page: title, headings as ``#``, list items as ``-``, links as ``[text](url)``.

    Scripts, styles, templates, SVG and other invisible parts are dropped; whitespace is collapsed
    except in ``<pre>``. Malformed markup never fails, and the time taken grows linearly with the
    size of the page: a tag, comment or script left open hides the rest of the page, as in a browser.
    """
    converter = _converter(html, base_url)
    converter.run()
    return converter.result


async def html_to_text_async(html: str, base_url: str | None = None, *, limit: int | None = None) -> tuple[str, bool]:
    """:func:`html_to_text` in slices of a few milliseconds, giving the event loop back between them.

    ``limit``: stop once the text has that many non-blank characters. Returns the text and
    whether it was stopped there. Cancel it (e.g. with ``asyncio.wait_for``) to stop it.
    """
    converter = _converter(html, base_url, math.inf if limit is None else limit)
    while not converter.run(0.005):  # noqa: ASYNC110 - not waiting for something: letting other tasks run
        await asyncio.sleep(0)
    return converter.result, converter.cut
