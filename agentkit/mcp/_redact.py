"""Secrets kept out of what an MCP server is called: command lines and URLs as they may be shown.

A server's default name (its command line, or its URL) appears in ``repr()``, in every error
message, in the tool errors the model reads and in logs. Tokens are often passed right there
(``--token ...``, ``API_KEY=...``, ``https://host/mcp?key=...``, ``postgres://user:pw@host``), so
what is shown is redacted: values of secret-looking options and settings, URL credentials,
query strings and token-like path segments become ``***``. :func:`scrub` hides the redacted
values from any other text (an error from the SDK that quotes the URL, say).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import urlsplit

__all__ = ["MASK", "redact_argv", "redact_url", "join_argv", "scrub", "secret_name", "argv_secrets", "url_secrets"]

MASK = "***"
_SECRET_WORDS = frozenset(
    {
        "token", "secret", "password", "passwd", "pwd", "pass", "passphrase", "key", "apikey", "auth",
        "authorization", "credential", "credentials", "bearer", "cookie", "session", "sig", "signature", "pat",
        "jwt", "dsn", "cert", "private",
    }
)  # fmt: skip
_SECRET_SUFFIXES = ("key", "token", "secret", "password", "passwd", "credentials")
_KNOWN_TOKEN = re.compile(
    r"(?:sk-|sk_|rk_|pk_live_|ghp_|gho_|ghu_|ghs_|ghr_|github_pat_|glpat-|xox[abprs]-|AKIA|ASIA|AIza|hf_|npm_|"
    r"eyJ[A-Za-z0-9_-]{8,}\.)[A-Za-z0-9_\-.+/=]{8,}"
)
_TOKENISH = re.compile(r"[A-Za-z0-9_\-+=.~]{32,}")
_OPTION = re.compile(r"(-{1,2})([A-Za-z0-9][\w.-]*)(=.*)?", re.DOTALL)
_SETTING = re.compile(r"([A-Za-z_][\w.-]*)=(.*)", re.DOTALL)
_HEADER = re.compile(r"([A-Za-z][\w-]*)\s*:\s*(\S.*)", re.DOTALL)
_MIN_SCRUB = 4  # shorter values are not hidden from other text (they would garble unrelated words)


def secret_name(name: str) -> bool:
    """Whether an option, variable or header name looks like it holds a secret (``--api-key``, ``GITHUB_TOKEN``)."""
    lowered = name.lower()
    if lowered.startswith(("no-", "no_")):  # --no-auth: a switch, not a value
        return False
    words = [w for w in re.split(r"[-_.]", lowered) if w]
    return any(w in _SECRET_WORDS or w.endswith(_SECRET_SUFFIXES) for w in words)


def looks_like_token(text: str) -> bool:
    """Whether a bare value looks like a key: a known prefix (``sk-``, ``ghp_``, a JWT...), or a long
    run of key characters with both letters and digits."""
    if _KNOWN_TOKEN.fullmatch(text):
        return True
    if not _TOKENISH.fullmatch(text):
        return False
    digits = sum(c.isdigit() for c in text)
    letters = sum(c.isalpha() for c in text)
    return digits >= 4 and letters >= 4


def _redact_value(value: str) -> str:
    """One argument that is not an option's secret value: URLs, settings, headers and key-like text redacted."""
    if "://" in value:
        return redact_url(value, keep_query_keys=True)
    setting = _SETTING.fullmatch(value)
    if setting and secret_name(setting[1]):
        return f"{setting[1]}={MASK}"
    header = _HEADER.fullmatch(value)
    if header and secret_name(header[1]):
        return f"{header[1]}: {MASK}"
    if looks_like_token(value):
        return MASK
    return value


def redact_argv(args: Sequence[str]) -> list[str]:
    """``args`` with secrets replaced by ``***``: the value after ``--token``/``--api-key``/``--password``...
    (and in ``--token=value``), ``KEY=value`` settings with secret-looking names, ``Authorization: ...``
    headers, credentials and query values in URLs, and arguments that look like keys themselves."""
    shown: list[str] = []
    hide_next = False
    for arg in args:
        if hide_next and not arg.startswith("--"):  # (another option: the secret option was a switch)
            shown.append(MASK)
            hide_next = False
            continue
        hide_next = False
        option = _OPTION.fullmatch(arg)
        if option and secret_name(option[2]):
            if option[3] is None:
                hide_next = True  # --token VALUE
                shown.append(arg)
            else:
                shown.append(f"{option[1]}{option[2]}={MASK}")
            continue
        if option and option[3] is not None:  # --url=https://...: the value is redacted as any other
            shown.append(f"{option[1]}{option[2]}={_redact_value(option[3][1:])}")
            continue
        shown.append(_redact_value(arg))
    return shown


def redact_url(url: str, *, keep_query_keys: bool = False) -> str:
    """``url`` without credentials, query (or, with ``keep_query_keys``, with every query value
    masked) and fragment, and with path segments that look like keys masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    if not parts.scheme or not parts.netloc:
        return MASK if looks_like_token(url) else url
    host = parts.netloc.rpartition("@")[2]
    user = parts.netloc.rpartition("@")[0].partition(":")[0] if "@" in parts.netloc else ""
    if user and keep_query_keys:  # in a command line: the user name helps to tell servers apart, the password not
        host = f"{MASK if looks_like_token(user) else user}:{MASK}@{host}"
    path = "/".join(MASK if looks_like_token(segment) else segment for segment in parts.path.split("/"))
    shown = f"{parts.scheme}://{host}{path}"
    if keep_query_keys and parts.query:
        keys = [pair.partition("=")[0] for pair in parts.query.split("&") if pair]
        shown += "?" + "&".join(f"{key}={MASK}" for key in keys)
    return shown


def join_argv(argv: Sequence[str]) -> str:
    """A command line as a shell would read it, with ``***`` left unquoted."""
    placeholder = "MASKEDVALUE7f3a"
    return shlex.join(a.replace(MASK, placeholder) for a in argv).replace(placeholder, MASK)


def argv_secrets(args: Sequence[str]) -> list[str]:
    """The values :func:`redact_argv` hides, so other text can be scrubbed of them."""
    found: list[str] = []
    for raw, shown in zip(args, redact_argv(args), strict=True):
        if raw == shown:
            continue
        value = raw.partition("=")[2] if _OPTION.fullmatch(raw) and "=" in raw else raw
        if "://" in value:
            found.extend(url_secrets(value))
            continue
        setting = None if looks_like_token(value) else (_SETTING.fullmatch(value) or _HEADER.fullmatch(value))
        secret = setting[2] if setting else value
        found += [secret, *secret.split()[1:]]  # "Bearer sk-...": the key alone, too
    return found


def url_secrets(url: str) -> list[str]:
    """What :func:`redact_url` hides that could be quoted on its own: the password, key-like user
    names and path segments, values of secret-looking or key-like query parameters."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    found: list[str] = []
    if "@" in parts.netloc:
        user, _, password = parts.netloc.rpartition("@")[0].partition(":")
        found += [password, *([user] if looks_like_token(user) else [])]
    for pair in parts.query.split("&"):
        key, _, value = pair.partition("=")
        if secret_name(key) or looks_like_token(value):
            found.append(value)
    found += [segment for segment in parts.path.split("/") if looks_like_token(segment)]
    return [f for f in found if f]


def mapping_secrets(values: Mapping[str, str] | None) -> list[str]:
    """Values of secret-looking names (``API_KEY``, ``Authorization``) and key-like values in a mapping."""
    found: list[str] = []
    for name, value in (values or {}).items():
        if secret_name(name) or looks_like_token(value):
            found.append(value)
            found.extend(value.split()[1:])  # "Bearer sk-...": the key alone, too
    return found


def scrub(text: str, secrets: Iterable[str], replacements: Iterable[tuple[str, str]] = ()) -> str:
    """``text`` with each ``(raw, shown)`` replaced (e.g. a full URL by its redacted form), then every
    secret (of at least 4 characters) by ``***``."""
    for raw, shown in sorted(replacements, key=lambda pair: len(pair[0]), reverse=True):
        if raw and raw != shown:
            text = text.replace(raw, shown)
    for secret in sorted({s for s in secrets if len(s) >= _MIN_SCRUB}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
