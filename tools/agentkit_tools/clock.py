"""``clock``: the current date and time in any IANA timezone, and conversions between timezones.

    from agentkit import Agent
    from agentkit_tools import clock

    agent = Agent("openai:gpt-4o-mini", tools=[*clock()])      # current_time, convert_time

Timezones are IANA names read with :mod:`zoneinfo` (``Europe/Paris``, ``America/New_York``,
``UTC``); names are matched case-insensitively, and an unknown name is answered with the closest
real ones. Local times that do not exist (skipped by a daylight-saving change) or exist twice
are called out in the answer instead of being silently shifted.
"""

from __future__ import annotations

import difflib
import functools
import re
import zoneinfo
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone, tzinfo

from agentkit import ModelRetry, Tool, UserError

__all__ = ["clock", "current_time", "convert_time", "find_timezone"]

_MAX_NAME = 64
_MAX_TIME_TEXT = 64
_ALIASES = {"utc": "UTC", "gmt": "UTC", "z": "UTC", "zulu": "UTC"}
_HOW_TO = "Use an IANA timezone name such as 'UTC', 'Europe/Paris', 'America/New_York', 'Asia/Tokyo' or 'Australia/Sydney'."


@functools.lru_cache(maxsize=1)
def _known() -> dict[str, str]:
    """Lower-cased IANA names → their spelling."""
    return {name.lower(): name for name in zoneinfo.available_timezones()}


def find_timezone(name: str) -> zoneinfo.ZoneInfo:
    """The :class:`zoneinfo.ZoneInfo` for an IANA name (case-insensitive; 'UTC'/'GMT'/'Z' also work).

    Raises:
        ModelRetry: the name is not a known timezone; the message suggests close matches.
    """
    text = name.strip() if isinstance(name, str) else ""
    if not text:
        raise ModelRetry(f"The timezone is empty. {_HOW_TO}")
    if re.fullmatch(r"(?i)(utc|gmt)\s*[+-]\s*\d{1,2}(:?\d\d)?", text):
        raise ModelRetry(
            f"{text!r} is an offset, not a timezone. Use a place-based IANA name (e.g. 'Asia/Kolkata' for UTC+5:30), "
            f"or 'Etc/GMT-3' for a fixed UTC+3 (the Etc/ sign is inverted)."
        )
    if len(text) > _MAX_NAME or not re.fullmatch(r"[A-Za-z0-9_+\-/ ]+", text) or ".." in text or text.startswith("/"):
        raise ModelRetry(f"{text[:_MAX_NAME]!r} is not a timezone name. {_HOW_TO}")
    wanted = text.lower().replace(" ", "_")
    key = _ALIASES.get(wanted) or _known().get(wanted)
    if key is None and "/" not in wanted:  # a bare city: "Paris" → "Europe/Paris" when only one zone has that name
        cities = [name for lower, name in _known().items() if lower.rsplit("/", 1)[-1] == wanted and "/" in lower]
        key = cities[0] if len(cities) == 1 else None
    if key is not None:
        try:
            return zoneinfo.ZoneInfo(key)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            pass
    close = difflib.get_close_matches(wanted, list(_known()), n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(repr(_known()[c]) for c in close)}?" if close else ""
    raise ModelRetry(f"Unknown timezone {text!r}.{hint} {_HOW_TO}")


def _describe(moment: datetime, zone_name: str) -> str:
    offset = moment.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    abbreviation = moment.tzname() or ""
    label = f"{zone_name}, {abbreviation}" if abbreviation and abbreviation != zone_name else zone_name
    utc = f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    return f"{moment.strftime('%A')} {moment.isoformat(timespec='seconds')} ({label}, {utc})"


def _parse_moment(text: str, zone: tzinfo, now: datetime) -> tuple[datetime, str]:
    """``text`` read as a wall time in ``zone`` (unless it carries its own offset), with a note on DST gaps/folds."""
    raw = text.strip()
    if not raw:
        raise ModelRetry("The time is empty. Give an ISO 8601 time like '2024-05-01T14:30' or '14:30'.")
    if len(raw) > _MAX_TIME_TEXT:
        raise ModelRetry(f"The time is too long ({len(raw)} characters). Give an ISO 8601 time like '2024-05-01T14:30'.")
    if raw.lower() == "now":
        return now.astimezone(zone), ""
    candidate = raw.replace(" ", "T", 1) if re.match(r"^\d{4}-\d{2}-\d{2} ", raw) else raw
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        try:
            clock_time = time.fromisoformat(candidate)
        except ValueError:
            raise ModelRetry(
                f"Cannot read the time {raw!r}. Give an ISO 8601 date and time like '2024-05-01T14:30' or '2024-05-01 14:30', "
                f"or a time of today like '14:30'."
            ) from None
        today: date = now.astimezone(zone).date()
        parsed = datetime.combine(today, clock_time)
    if parsed.tzinfo is not None:  # an explicit offset wins over from_timezone
        return parsed, ""
    first = parsed.replace(tzinfo=zone, fold=0)
    second = parsed.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first, ""
    # the two folds disagree: the wall time is either skipped (gap) or repeated (fold)
    round_trip = first.astimezone(timezone.utc).astimezone(zone).replace(tzinfo=None)
    if round_trip != parsed:
        shifted = first.astimezone(timezone.utc).astimezone(zone)
        return shifted, (
            f"Note: {parsed.isoformat(timespec='minutes')} does not exist in this timezone (clocks jumped forward); "
            f"read as {shifted.isoformat(timespec='minutes')}."
        )
    return first, (
        f"Note: {parsed.isoformat(timespec='minutes')} happens twice in this timezone (clocks went back); used the first "
        f"occurrence ({first.isoformat(timespec='minutes')}); the second is {second.isoformat(timespec='minutes')}."
    )


def clock(default_timezone: str = "UTC", *, now: Callable[[], datetime] | None = None) -> list[Tool[..., str]]:
    """The clock tools: ``[current_time, convert_time]``.

    Args:
        default_timezone: the timezone ``current_time`` uses when the model gives none.
        now: returns the current moment (timezone-aware); defaults to the system clock. Handy in tests.

    Raises:
        UserError: ``default_timezone`` is not a known timezone.
    """
    try:
        default_zone = find_timezone(default_timezone)
    except ModelRetry as e:
        raise UserError(f"clock(default_timezone=...): {e.message}") from None
    default_name = str(default_zone.key)

    def _now() -> datetime:
        moment = now() if now is not None else datetime.now(timezone.utc)
        if moment.tzinfo is None:
            raise UserError("clock(now=...) must return a timezone-aware datetime.")
        return moment

    def current_time(timezone: str = default_name) -> str:
        """Get the current date, time and weekday in a timezone.

        Args:
            timezone: An IANA timezone name such as "Europe/Paris", "America/New_York" or "UTC".
        """
        zone = find_timezone(timezone)
        return "Now: " + _describe(_now().astimezone(zone), zone.key)

    def convert_time(time: str, from_timezone: str, to_timezone: str) -> str:
        """Convert a date and time from one timezone to another.

        Args:
            time: ISO 8601 date and time ("2024-05-01T14:30", "2024-05-01 14:30"), a time of today ("14:30") or "now".
                If it carries an offset ("...+02:00" or "...Z"), that offset is used instead of from_timezone.
            from_timezone: The IANA timezone the time is in, e.g. "Europe/London".
            to_timezone: The IANA timezone to convert to, e.g. "Asia/Tokyo".
        """
        source = find_timezone(from_timezone)
        target = find_timezone(to_timezone)
        try:
            moment, note = _parse_moment(time, source, _now())
            converted = moment.astimezone(target)
        except (OverflowError, ValueError):
            raise ModelRetry("That date is out of range; use a year between 2 and 9998.") from None
        source_name = source.key if moment.tzinfo is source else (moment.tzname() or "the given offset")
        lines = [f"{_describe(moment, source_name)}", f"= {_describe(converted, target.key)}"]
        if note:
            lines.append(note)
        return "\n".join(lines)

    return [Tool(current_time), Tool(convert_time)]


current_time, convert_time = clock()
"""The clock tools with the system clock and UTC as the default timezone."""
