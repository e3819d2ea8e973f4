"""clock: current time and conversions in IANA timezones; bad names and times come back as messages."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from agentkit_tools import clock
from agentkit_tools.clock import find_timezone

from agentkit import ModelRetry, UserError
from tests.agentkit_tools.conftest import run_calls

NOW = datetime(2024, 3, 10, 12, 0, tzinfo=timezone.utc)  # a Sunday; New York switched to DST that morning


@pytest.fixture
def tools() -> tuple[object, object]:
    current, convert = clock(now=lambda: NOW)
    return current, convert


def test_current_time_in_a_timezone(tools) -> None:
    current, _ = tools
    assert current.function("Europe/Paris") == "Now: Sunday 2024-03-10T13:00:00+01:00 (Europe/Paris, CET, UTC+01:00)"
    assert current.function("America/New_York").endswith("(America/New_York, EDT, UTC-04:00)")
    assert current.function("Asia/Kolkata").startswith("Now: Sunday 2024-03-10T17:30:00+05:30")
    assert current.function().startswith("Now: Sunday 2024-03-10T12:00:00+00:00 (UTC")


def test_names_are_forgiving_about_case_spaces_and_bare_cities(tools) -> None:
    current, _ = tools
    for name in ("europe/paris", "EUROPE/PARIS", "Paris", " Europe/Paris "):
        assert "(Europe/Paris, CET" in current.function(name)
    assert "America/New_York" in current.function("New York")
    assert "(UTC" in current.function("gmt") and "(UTC" in current.function("Z")


def test_default_timezone_and_schema() -> None:
    current, convert = clock("Asia/Tokyo", now=lambda: NOW)
    assert current.function().startswith("Now: Sunday 2024-03-10T21:00:00+09:00 (Asia/Tokyo")
    assert current.definition.parameters["properties"]["timezone"]["default"] == "Asia/Tokyo"
    assert set(convert.definition.parameters["required"]) == {"time", "from_timezone", "to_timezone"}
    assert "IANA" in current.definition.parameters["properties"]["timezone"]["description"]
    with pytest.raises(UserError, match="Unknown timezone"):
        clock("Mars/Olympus_Mons")


def test_the_default_tools_use_the_system_clock() -> None:
    from agentkit_tools import current_time

    before = datetime.now(timezone.utc).replace(microsecond=0)
    shown = datetime.fromisoformat(current_time.function("UTC").split()[2])
    assert abs((shown - before).total_seconds()) < 5


def test_conversions(tools) -> None:
    _, convert = tools
    assert convert.function("2024-05-01T12:00", "UTC", "Asia/Kolkata").splitlines() == [
        "Wednesday 2024-05-01T12:00:00+00:00 (UTC, UTC+00:00)",
        "= Wednesday 2024-05-01T17:30:00+05:30 (Asia/Kolkata, IST, UTC+05:30)",
    ]
    out = convert.function("2024-05-01 09:15", "America/Los_Angeles", "Europe/Berlin")
    assert "= Wednesday 2024-05-01T18:15:00+02:00 (Europe/Berlin, CEST" in out
    # a time of today, in the source timezone's today
    assert "= Sunday 2024-03-10T06:30:00+01:00" in convert.function("14:30", "Asia/Tokyo", "Europe/Paris")
    # an explicit offset wins over from_timezone
    assert "= Wednesday 2024-05-01T14:00:00+02:00" in convert.function("2024-05-01T12:00Z", "Asia/Tokyo", "Europe/Paris")
    assert "21:00:00+09:00" in convert.function("now", "UTC", "Asia/Tokyo")


def test_daylight_saving_gaps_and_folds_are_called_out(tools) -> None:
    _, convert = tools
    gap = convert.function("2024-03-10 02:30", "America/New_York", "UTC")
    assert "does not exist" in gap and "= Sunday 2024-03-10T07:30:00+00:00" in gap
    fold = convert.function("2024-11-03 01:30", "America/New_York", "UTC")
    assert "happens twice" in fold and "= Sunday 2024-11-03T05:30:00+00:00" in fold and "01:30-05:00" in fold


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("Mars/Olympus_Mons", "Unknown timezone"),
        ("Europe/Pariss", "Did you mean 'Europe/Paris'"),
        ("America", "Unknown timezone"),  # a folder of the tz database, not a zone
        ("../../../../etc/passwd", "not a timezone name"),
        ("/etc/localtime", "not a timezone name"),
        ("Europe/../../../etc/shadow", "not a timezone name"),
        ("/dev/zero", "not a timezone name"),
        ("Europe/Paris\x00", "not a timezone name"),
        ("Europe\\Paris", "not a timezone name"),
        ("x" * 10_000, "not a timezone name"),
        ("", "empty"),
        ("   ", "empty"),
        ("UTC+3", "is an offset"),
        ("GMT-05:00", "is an offset"),
        ("Europe/Paris; rm -rf /", "not a timezone name"),
    ],
)
def test_bad_timezone_names_are_explained(tools, name: str, says: str) -> None:
    current, convert = tools
    for call in (lambda: current.function(name), lambda: convert.function("12:00", "UTC", name)):
        with pytest.raises(ModelRetry) as info:
            call()
        assert says in info.value.message
        assert "IANA" in info.value.message  # tells how to spell one
        assert len(info.value.message) < 500


@pytest.mark.parametrize(
    ("time", "source", "target", "says"),
    [
        ("yesterday at noon", "UTC", "Asia/Tokyo", "Cannot read the time"),
        ("2024-13-45T10:00", "UTC", "Asia/Tokyo", "Cannot read the time"),
        ("25:99", "UTC", "Asia/Tokyo", "Cannot read the time"),
        ("", "UTC", "Asia/Tokyo", "empty"),
        ("9" * 10_000, "UTC", "Asia/Tokyo", "too long"),
        ("9999-12-31T23:59", "America/New_York", "Asia/Tokyo", "out of range"),
        ("0001-01-01T00:00", "Asia/Tokyo", "America/New_York", "out of range"),
    ],
)
def test_bad_times_are_explained(tools, time: str, source: str, target: str, says: str) -> None:
    _, convert = tools
    with pytest.raises(ModelRetry) as info:
        convert.function(time, source, target)
    assert says in info.value.message


def test_find_timezone_never_reads_outside_the_tz_database() -> None:
    with pytest.raises(ModelRetry):
        find_timezone("../../../../../../proc/self/environ")
    assert find_timezone("Etc/GMT-3").key == "Etc/GMT-3"


def test_in_an_agent_bad_arguments_become_tool_messages() -> None:
    tools = clock(now=lambda: NOW)
    result, messages = run_calls(
        tools,
        [
            ("current_time", {"timezone": "../../etc/passwd"}),
            ("current_time", {"timezone": "Europe/Pariss"}),
            ("convert_time", {"time": "tomorrow", "from_timezone": "UTC", "to_timezone": "Asia/Tokyo"}),
            ("current_time", {"timezone": "Asia/Tokyo"}),
            ("current_time", {"timezone": 42}),
        ],
    )
    assert result.output == "done"
    assert [m.is_error for m in messages] == [True, True, True, False, True]
    assert "not a timezone name" in messages[0].content
    assert "Europe/Paris" in messages[1].content
    assert "Cannot read the time" in messages[2].content
    assert "2024-03-10T21:00:00+09:00" in messages[3].content
    assert "timezone" in messages[4].content  # pydantic: a string is expected
