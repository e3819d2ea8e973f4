"""A griffe extension for the API reference: agentkit's reST-flavoured docstrings, rendered as Markdown.

The docstrings are written for ``help()`` and IDEs: Google-style sections, reST roles
(``:class:`~agentkit.Tool```) and doctest lines (``>>> ...``). mkdocstrings reads Markdown, so,
before rendering, each docstring is rewritten (the source files are not touched):

* roles become optional cross-references: a link when the target is on a page of the
  reference, plain code otherwise (never a broken link, never a build warning);
* runs of ``>>>`` lines become ``pycon`` code blocks (Markdown would make them quotes);
* a paragraph ending in reST's ``::`` ends in ``:`` (the indented block after it is code already),
  and reST's ``\\ `` (an escaped space after inline code) is dropped.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

__all__ = ["ReSTRoles"]

_ROLE = re.compile(r":(?:py:)?(class|meth|func|mod|data|attr|exc|obj|const):`([^`]+)`")
_PACKAGES = ("agentkit", "agentkit_tools")


class ReSTRoles(griffe.Extension):
    """Rewrite every docstring of the loaded packages (see the module docstring)."""

    def on_object(self, *, obj: griffe.Object, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value, obj)


def rewrite(text: str, obj: griffe.Object) -> str:
    """``text`` (a docstring of ``obj``) as Markdown."""
    text = _ROLE.sub(lambda m: _reference(m.group(1), m.group(2), obj), text)
    text = re.sub(r"``\\ ", "``", text)
    text = re.sub(r"(?m)(\S)::$", r"\1:", text)
    return _fence_doctests(text)


def _reference(role: str, target: str, obj: griffe.Object) -> str:
    short = target.startswith("~")
    name = target.lstrip("~").removesuffix("()")
    identifier = _resolve(name, obj)
    title = name.rsplit(".", 1)[-1] if short else name.lstrip(".")
    if role in ("meth", "func"):
        title += "()"
    return f'<autoref identifier="{identifier}" optional><code>{title}</code></autoref>'


def _resolve(name: str, obj: griffe.Object) -> str:
    if name.startswith("."):  # relative to the module's package, like a relative import
        dots = len(name) - len(name.lstrip("."))
        module = obj.module
        base = module.path if module.is_package else module.path.rsplit(".", 1)[0]
        for _ in range(dots - 1):
            base = base.rsplit(".", 1)[0]
        return f"{base}.{name.lstrip('.')}"
    head, _, rest = name.partition(".")
    if head in _PACKAGES:
        return name
    try:
        found = obj.resolve(head)
    except griffe.NameResolutionError:
        return f"agentkit.{name}"
    return f"{found}.{rest}" if rest else found


def _fence_doctests(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.lstrip().startswith(">>>"):
            out.append(line)
            i += 1
            continue
        indent = line[: len(line) - len(line.lstrip())]
        block = []
        while i < len(lines) and lines[i].strip():
            block.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i].strip())
            i += 1
        if out and out[-1].strip():
            out.append("")
        out += [f"{indent}```pycon", *(f"{indent}{b}" for b in block), f"{indent}```", ""]
    return "\n".join(out)
