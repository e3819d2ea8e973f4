"""A tool's docstring → its description and its parameters' descriptions.

Google, NumPy, reST and Epydoc styles are detected (``docstring_parser``); the description keeps
the summary, the long description and the Returns and Raises sections, so the model reads what
the function's reader reads.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["Doc", "parse_docstring", "parse_any_style"]


@dataclass
class Doc:
    """What a docstring says: the tool's description and ``{parameter: description}``."""

    description: str
    params: dict[str, str]


def parse_docstring(text: str) -> Doc:
    """The description (summary, long description, Returns, Raises) and parameter descriptions of ``text``."""
    if not text.strip():
        return Doc("", {})
    try:
        parsed = parse_any_style(text)
    except Exception:  # docstring-parser can fail on malformed text (even with IndexError): keep it whole
        return Doc(text.strip(), {})
    parts = [p for p in (parsed.short_description, parsed.long_description) if p]
    if parsed.returns is not None and parsed.returns.description:
        parts.append(f"Returns: {parsed.returns.description}")
    raises = [r for r in parsed.raises if r.description or r.type_name]
    if raises:
        lines = [f"- {r.type_name}: {r.description}" if r.type_name else f"- {r.description}" for r in raises]
        parts.append("Raises:\n" + "\n".join(lines))
    params = {p.arg_name: p.description for p in parsed.params if p.description}
    return Doc("\n\n".join(parts), params)


# Lines that could start reST (":param"), Epydoc ("@param") or NumPy ("Parameters" over "----------",
# ".. deprecated::") metadata. Without any, those three parsers find no metadata in a docstring.
_OTHER_STYLES_RE = re.compile(r"^\s*(?:[:@]|\.\.|-+\s*$)", re.M)


@functools.cache
def _google_parser() -> Any:
    from docstring_parser import google

    return google.GoogleParser()


def parse_any_style(text: str) -> Any:
    """``docstring_parser.parse(text)`` (style detected), skipping the parsers that cannot win.

    ``parse`` runs the reST, Google, NumPy and Epydoc parsers and keeps the first result with the
    most metadata. When no line could begin reST, Epydoc or NumPy metadata, those three find none:
    the Google result wins if it has any, else the reST one (the first of equals).
    """
    import docstring_parser

    if _OTHER_STYLES_RE.search(text):  # on the raw text: cleandoc only removes indentation and blank lines
        return docstring_parser.parse(text)
    try:
        parsed = _google_parser().parse(text)
    except Exception:  # the Google parser failed: parse() picks among the others
        return docstring_parser.parse(text)
    if parsed.meta:
        return parsed
    from docstring_parser import rest

    return rest.parse(text)
