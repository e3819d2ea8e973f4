"""``agentkit chat --session NAME`` and ``agentkit sessions path / list / show / delete``.

Every test stores its sessions under its own ``tmp_path`` (``$AGENTKIT_SESSIONS_DB`` and
``$XDG_DATA_HOME`` point there), never in the real home. CliRunner, plus real console-script runs.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

pytest.importorskip("click")
pytest.importorskip("rich")

from click.testing import CliRunner, Result

from agentkit import _providers
from agentkit.cli import _app
from agentkit.cli._sessions import NO_RESULT
from agentkit.messages import AssistantMessage, Message, ToolCall, ToolMessage, UserMessage
from agentkit.sessions import SQLiteSession
from agentkit.testing import Scripted, ScriptedModel, reply, tool_call

TOOLS = '''
from agentkit import tool


@tool
def get_weather(city: str) -> str:
    """Get the current weather.

    Args:
        city: City name.
    """
    return f"Sunny, 22 C in {city}"
'''


@pytest.fixture(autouse=True)
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The sessions file of the test: ``$AGENTKIT_SESSIONS_DB``; ``$XDG_DATA_HOME`` in tmp_path too."""
    path = tmp_path / "store" / "sessions.db"
    monkeypatch.setenv("AGENTKIT_SESSIONS_DB", str(path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("AGENTKIT_MODEL", raising=False)
    return path


@pytest.fixture
def chat_model(monkeypatch: pytest.MonkeyPatch) -> Callable[[list[Scripted]], ScriptedModel]:
    """``chat_model([...])``: a ScriptedModel that ``--model clitest:x`` resolves to (for this test only)."""

    def make(responses: list[Scripted]) -> ScriptedModel:
        model = ScriptedModel(responses)
        monkeypatch.setitem(_providers._REGISTRY, "clitest", _providers.Provider("clitest", "clitest", chat=lambda name: model))
        return model

    return make


def invoke(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(_app.cli, list(args), input=input)


def assert_one_line_error(result: Result, code: int, *fragments: str) -> None:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("error: "), result.stderr
    assert not any(line.startswith("error: ") for line in lines[:-1]), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[-1]


def seed(path: Path, name: str, messages: Sequence[Message]) -> None:
    async def add() -> None:
        async with SQLiteSession(path, name) as session:
            await session.add_messages(messages)

    asyncio.run(add())


def stored(path: Path, name: str) -> list[Message]:
    async def get() -> list[Message]:
        async with SQLiteSession(path, name) as session:
            return await session.get_messages()

    return asyncio.run(get())


def exchange(prompt: str, answer: str) -> list[Message]:
    return [UserMessage(content=prompt), AssistantMessage(content=answer)]


# --- chat --session --------------------------------------------------------------------------------


def test_a_second_chat_with_the_same_session_sends_the_first_ones_messages(
    store: Path, chat_model: Callable[[list[Scripted]], ScriptedModel]
) -> None:
    model = chat_model(["Hello, Ada.", "Your name is Ada."])
    first = invoke("chat", "-m", "clitest:x", "-s", "Be brief.", "--session", "ada", input="I am Ada.\n")
    assert first.exit_code == 0, first.output
    assert f"New session 'ada', stored in {store}." in first.stderr
    assert f"Stored in {store}; agentkit chat --session ada resumes it." in first.stderr
    assert store.is_file()

    second = invoke("chat", "-m", "clitest:x", "-s", "Be brief.", "--session", "ada", input="What is my name?\nquit\n")
    assert second.exit_code == 0, second.output
    assert "Resumed session 'ada': 2 earlier messages loaded" in second.stderr
    assert "  > I am Ada.\n  Hello, Ada.\n" in second.stderr  # the last exchange, briefly
    assert "Your name is Ada." in second.stdout
    sent = [(m.role, m.content) for m in model.requests[1].messages]
    assert sent == [("system", "Be brief."), ("user", "I am Ada."), ("assistant", "Hello, Ada."), ("user", "What is my name?")]
    assert [(m.role, m.content) for m in stored(store, "ada")] == [*sent[1:], ("assistant", "Your name is Ada.")]


def test_within_one_chat_the_session_is_the_history_and_nothing_is_sent_twice(
    store: Path, chat_model: Callable[[list[Scripted]], ScriptedModel]
) -> None:
    seed(store, "s", exchange("Earlier.", "Noted."))
    model = chat_model(["One.", "Two."])
    result = invoke("chat", "-m", "clitest:x", "--session", "s", input="first\nsecond\n")
    assert result.exit_code == 0, result.output
    assert [m.content for m in model.requests[1].messages] == ["Earlier.", "Noted.", "first", "One.", "second"]
    assert [m.content for m in stored(store, "s")] == ["Earlier.", "Noted.", "first", "One.", "second", "Two."]


def test_a_long_last_exchange_is_shown_on_one_shortened_line(store: Path) -> None:
    seed(store, "long", exchange("a question\nover two lines", "x" * 300))
    result = invoke("chat", "-m", "test", "--session", "long", input="")
    assert result.exit_code == 0, result.output
    assert "  > a question over two lines\n" in result.stderr
    assert "  " + "x" * 99 + "…\n" in result.stderr


def test_chat_without_session_stores_nothing(store: Path, chat_model: Callable[[list[Scripted]], ScriptedModel]) -> None:
    chat_model(["Hi."])
    result = invoke("chat", "-m", "clitest:x", input="hello\n")
    assert result.exit_code == 0, result.output
    assert "session" not in result.stderr.replace("Session: 1 answer", "")
    assert not store.exists() and not store.parent.exists()


def test_a_failed_turn_keeps_its_prompt_in_the_session(
    store: Path, chat_model: Callable[[list[Scripted]], ScriptedModel]
) -> None:
    from agentkit.errors import RateLimitError

    model = chat_model([RateLimitError("Slow down.", status=429, provider="openrouter"), "Second try works."])
    result = invoke("chat", "-m", "clitest:x", "--session", "s", input="one\ntwo\n")
    assert result.exit_code == 0, result.output
    assert "error: openrouter HTTP 429: Slow down." in result.stderr
    assert [m.content for m in model.requests[1].messages] == ["one", "two"]  # what was said stays
    assert [m.content for m in stored(store, "s")] == ["one", "two", "Second try works."]


def test_calls_left_without_results_by_a_crash_get_one_when_the_session_resumes(
    store: Path, chat_model: Callable[[list[Scripted]], ScriptedModel]
) -> None:
    call = ToolCall(id="c1", name="get_weather", arguments='{"city": "Paris"}')
    seed(store, "s", [UserMessage(content="Weather?"), AssistantMessage(content=None, tool_calls=[call])])
    model = chat_model(["Sorry, try again?"])
    result = invoke("chat", "-m", "clitest:x", "--session", "s", input="hello\n")
    assert result.exit_code == 0, result.output
    assert "(1 tool call of the last answer had no stored result; the model is told so.)" in result.stderr
    sent = model.requests[0].messages
    assert isinstance(sent[2], ToolMessage) and sent[2].tool_call_id == "c1" and sent[2].content == NO_RESULT
    assert [m.role for m in sent] == ["user", "assistant", "tool", "user"]


def test_tool_calls_and_results_are_stored_and_shown_as_the_chat_showed_them(
    tmp_path: Path, store: Path, chat_model: Callable[[list[Scripted]], ScriptedModel]
) -> None:
    tools = tmp_path / "chat_tools.py"
    tools.write_text(TOOLS, encoding="utf-8")
    chat_model([reply("Let me check.", tool_call("get_weather", {"city": "Paris"})), "It is sunny in Paris.", "Bye."])
    chat = invoke("chat", "-m", "clitest:x", "-t", str(tools), "--session", "trip", input="Weather?\nThanks\n")
    assert chat.exit_code == 0, chat.output

    shown = invoke("sessions", "show", "trip")
    assert shown.exit_code == 0, shown.output
    assert shown.stderr.startswith("Session 'trip': 6 messages, last updated ")
    assert shown.stdout.splitlines() == [
        "> Weather?",
        "Let me check.",
        '→ get_weather(city="Paris")',
        "← get_weather: Sunny, 22 C in Paris",
        "It is sunny in Paris.",
        "",
        "> Thanks",
        "Bye.",
    ]
    for line in shown.stdout.splitlines():  # the same lines the chat printed
        assert line in chat.stdout


# --- sessions path / list / show / delete ----------------------------------------------------------


def test_sessions_path_is_the_option_else_the_env_var_else_the_data_directory(
    tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert invoke("sessions", "path").stdout == f"{store}\n"
    other = tmp_path / "other.db"
    assert invoke("sessions", "path", "--sessions-db", str(other)).stdout == f"{other}\n"
    monkeypatch.delenv("AGENTKIT_SESSIONS_DB")
    assert invoke("sessions", "path").stdout == f"{tmp_path / 'xdg' / 'agentkit' / 'sessions.db'}\n"
    assert not store.exists() and not other.exists()  # printing the path creates nothing


def test_sessions_list_is_a_table_most_recent_first(store: Path) -> None:
    seed(store, "older", exchange("a", "b"))
    time.sleep(0.01)
    seed(store, "newer one", [UserMessage(content="c")])
    result = invoke("sessions", "list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["name", "messages", "last", "updated"]
    assert lines[1].startswith("newer one") and lines[1].split()[2] == "1"
    assert lines[2].startswith("older") and lines[2].split()[1] == "2"
    assert all(len(line.split()[-2]) == 10 and len(line.split()[-1]) == 5 for line in lines[1:])  # 2025-01-31 14:05


def test_sessions_list_of_no_file_says_how_to_start_and_creates_nothing(store: Path) -> None:
    result = invoke("sessions", "list")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert f"No sessions in {store} yet: agentkit chat --session NAME starts one." in result.stderr
    assert not store.exists()


def test_sessions_delete_asks_first_unless_yes(store: Path) -> None:
    seed(store, "a", exchange("x", "y"))
    seed(store, "b", exchange("x", "y"))
    declined = invoke("sessions", "delete", "a", input="n\n")
    assert "Delete session 'a' (2 messages) from" in declined.stderr
    assert_one_line_error(declined, 1, "Session 'a' was not deleted", "--yes")
    assert len(stored(store, "a")) == 2

    confirmed = invoke("sessions", "delete", "a", input="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert confirmed.stdout == "Deleted session 'a' (2 messages).\n"
    without_asking = invoke("sessions", "delete", "b", "--yes")
    assert without_asking.exit_code == 0 and "Delete session" not in without_asking.stderr
    assert invoke("sessions", "list").stdout == ""


@pytest.mark.parametrize("command", ["show", "delete"])
def test_a_missing_session_is_one_line_and_exit_1(store: Path, command: str) -> None:
    yes = ["--yes"] if command == "delete" else []
    assert_one_line_error(
        invoke("sessions", command, "nope", *yes), 1, "it has none yet (agentkit chat --session NAME starts one)"
    )
    assert not store.exists()
    seed(store, "kept", exchange("x", "y"))
    result = invoke("sessions", command, "nope", *yes)
    assert_one_line_error(result, 1, f"No session named 'nope' in {store}; it has 'kept'.")


# --- mistakes --------------------------------------------------------------------------------------


def test_a_store_from_a_newer_agentkit_says_to_upgrade(store: Path) -> None:
    seed(store, "s", exchange("x", "y"))
    with sqlite3.connect(store) as db:
        db.execute("UPDATE agentkit_meta SET value = '99' WHERE key = 'schema_version'")
    db.close()
    for args in (["sessions", "list"], ["sessions", "show", "s"], ["chat", "-m", "test", "--session", "s"]):
        result = invoke(*args, input="hello\n")
        assert_one_line_error(result, 2, "schema version 99", "pip install -U agentkit-loop")


def test_a_file_that_is_not_a_sessions_store_names_it_and_how_to_pick_another(store: Path, tmp_path: Path) -> None:
    store.parent.mkdir()
    store.write_text("these are my notes, not a database\n" * 20, encoding="utf-8")
    for args in (["sessions", "list"], ["sessions", "delete", "s", "--yes"], ["chat", "--session", "s"]):
        result = invoke(*args, input="hello\n")
        assert_one_line_error(result, 2, f"{store} is not a SQLite file of agentkit sessions", "--sessions-db PATH")
    unopenable = invoke("sessions", "list", "--sessions-db", str(tmp_path))  # a folder
    assert_one_line_error(unopenable, 1, f"Cannot use the sessions file {tmp_path}", "--sessions-db PATH")


def test_option_mistakes_are_one_line_and_exit_2(tmp_path: Path) -> None:
    assert_one_line_error(invoke("chat", "--sessions-db", str(tmp_path / "x.db"), input=""), 2, "give a session name too")
    assert_one_line_error(invoke("chat", "--session", " ", input=""), 2, "A session needs a name")
    assert_one_line_error(invoke("sessions", "show", ""), 2, "A session needs a name")


# --- the console script ----------------------------------------------------------------------------


def _script() -> str:
    script = shutil.which("agentkit", path=str(Path(sys.executable).parent)) or shutil.which("agentkit")
    assert script is not None, "the agentkit console script is not installed: pip install -e '.[dev]'"
    return script


def _env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("AGENTKIT_SESSIONS_DB", "AGENTKIT_MODEL") and not k.endswith("_API_KEY")
    }
    env.update(XDG_DATA_HOME=str(tmp_path / "data"), HOME=str(tmp_path / "home"), PYTHONUNBUFFERED="1")
    return env


def test_console_script_chat_stores_the_session_where_sessions_path_says(tmp_path: Path) -> None:
    script, env = _script(), _env(tmp_path)

    def agentkit(*args: str, stdin: str = "") -> str:
        done = subprocess.run([script, *args], input=stdin, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    path = Path(agentkit("sessions", "path").strip())
    assert path == tmp_path / "data" / "agentkit" / "sessions.db" and not path.exists()
    agentkit("chat", "-m", "test", "--session", "demo", stdin="Hello there\nexit\n")
    assert path.is_file()
    assert [m.content for m in stored(path, "demo")][:1] == ["Hello there"]
    assert agentkit("sessions", "list").splitlines()[1].split()[:2] == ["demo", "2"]
    assert "> Hello there" in agentkit("sessions", "show", "demo")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
def test_console_script_ctrl_c_keeps_what_was_said_and_closes_the_call(tmp_path: Path) -> None:
    tools = tmp_path / "slow_tools.py"
    tools.write_text(
        textwrap.dedent(
            '''
            import asyncio
            from agentkit import tool

            @tool
            async def slow(city: str) -> str:
                """Take a long time.

                Args:
                    city: A city.
                """
                await asyncio.sleep(60)
                return "done"
            '''
        ),
        encoding="utf-8",
    )
    db = tmp_path / "chat.db"
    child = subprocess.Popen(
        [_script(), "chat", "-m", "test", "-t", str(tools), "--session", "s", "--sessions-db", str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(tmp_path),
        cwd=tmp_path,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        child.stdin.write("Go\n")
        child.stdin.flush()
        seen = ""
        deadline = time.monotonic() + 60
        while "→ slow(" not in seen and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            seen += line
        assert "→ slow(" in seen, seen
        time.sleep(0.2)  # the call is running
        child.send_signal(signal.SIGINT)
        out, err = child.communicate("exit\n", timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, out + err
    assert "(answer cancelled; what was said before it stays in the session)" in err
    assert f"agentkit chat --session s --sessions-db {db} resumes it." in err  # not the usual file: said so
    messages = stored(db, "s")
    assert [m.role for m in messages] == ["user", "assistant", "tool"]
    assert messages[0].content == "Go"
    assert isinstance(messages[2], ToolMessage) and messages[2].content == NO_RESULT
