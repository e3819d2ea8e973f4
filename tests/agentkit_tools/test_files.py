"""files(root): list/read/search/write/edit confined to root — traversal, symlink escapes, special files, size bombs."""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from agentkit_tools import files
from agentkit_tools.files import Workspace

from agentkit import Agent, ApprovalRequired, ModelRetry, Tool, UserError
from agentkit.testing import ScriptedModel, reply, tool_call
from tests.agentkit_tools.conftest import run_calls, within

SECRET = "TOP-SECRET-OUTSIDE-THE-ROOT"


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    """root/ with ordinary files and every kind of escape hatch; outside/ with a secret."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "docs" / "deep").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET + "\n")
    (root / "notes.txt").write_text("alpha\nbeta needle\ngamma\n")
    (root / "docs" / "guide.md").write_text("# Guide\n\nfind the needle here\n")
    (root / "docs" / "deep" / "code.py").write_text("def needle():\n    return 1\n")
    (root / "bin.dat").write_bytes(b"\x00\x01\x02binary needle")
    os.symlink(outside / "secret.txt", root / "abs_link_out")  # absolute symlink out
    os.symlink("../outside/secret.txt", root / "rel_link_out")  # relative symlink out
    os.symlink("../outside", root / "dir_link_out")  # a folder symlink out
    os.symlink("rel_link_out", root / "chain_link")  # inside -> inside -> outside
    os.symlink("notes.txt", root / "link_in")  # stays inside: fine
    os.symlink("docs", root / "docs_link")  # a folder link that stays inside: fine
    os.symlink("/etc/passwd", root / "passwd")
    os.symlink("/dev/zero", root / "zero")
    os.symlink("loop_b", root / "loop_a")
    os.symlink("loop_a", root / "loop_b")
    os.mkfifo(root / "fifo")
    return {"root": root, "outside": outside}


def _tools(root: Path, **kwargs: Any) -> dict[str, Tool[..., str]]:
    return {t.name: t for t in files(root, **kwargs)}


def _call(t: Tool[..., str], *args: Any, **kwargs: Any) -> tuple[bool, str]:
    """(ok, text) — a ModelRetry becomes (False, its message); anything else propagates and fails the test."""
    try:
        return True, within(10, lambda: t.function(*args, **kwargs))
    except ModelRetry as e:
        return False, e.message


# -- the toolset --------------------------------------------------------------------------------


def test_read_only_by_default_and_writes_need_approval(tree) -> None:
    assert list(_tools(tree["root"])) == ["list_files", "read_file", "search_files"]
    writable = _tools(tree["root"], writable=True)
    assert list(writable) == ["list_files", "read_file", "search_files", "write_file", "edit_file"]
    assert [t.requires_approval for t in writable.values()] == [False, False, False, True, True]
    assert list(_tools(tree["root"], prefix="ws_")) == ["ws_list_files", "ws_read_file", "ws_search_files"]
    for t in writable.values():
        assert "workspace" in t.description and str(tree["root"]) not in t.description


def test_the_root_must_be_an_existing_folder(tree) -> None:
    with pytest.raises(UserError, match="does not exist"):
        files(tree["root"] / "missing")
    with pytest.raises(UserError, match="must be a folder"):
        files(tree["root"] / "notes.txt")


# -- ordinary use ---------------------------------------------------------------------------------


def test_list_read_and_search(tree) -> None:
    t = _tools(tree["root"])
    ok, listing = _call(t["list_files"])
    assert ok
    assert "docs/" in listing and "notes.txt  (" in listing and "link_in@ -> notes.txt" in listing
    assert "rel_link_out@ (symlink pointing outside the workspace root: not accessible)" in listing
    assert "fifo  (a FIFO (named pipe): not readable)" in listing
    assert str(tree["outside"]) not in listing and "secret" not in listing

    assert _call(t["read_file"], "notes.txt") == (True, "notes.txt, lines 1-3 (24 B):\nalpha\nbeta needle\ngamma\n")
    assert _call(t["read_file"], "link_in", 2, 2) == (
        True,
        "link_in, lines 2-2 (24 B):\nbeta needle\n\n[the file goes on after line 2]",
    )
    assert _call(t["read_file"], "docs_link/guide.md")[0]
    assert _call(t["read_file"], "./docs//guide.md")[0]

    ok, found = _call(t["search_files"], "*.py")
    assert ok and found.splitlines()[1:] == ["docs/deep/code.py"]
    ok, found = _call(t["search_files"], "**/*", "needle")
    assert ok
    assert "notes.txt:2: beta needle" in found and "docs/guide.md:3: find the needle here" in found
    assert "docs/deep/code.py:1: def needle():" in found
    assert "bin.dat" not in found.split("[")[0]  # binary files are skipped
    assert SECRET not in found
    ok, found = _call(t["search_files"], "*.md", "NEEDLE", "docs", True)
    assert ok and "docs/guide.md:3:" in found


# -- escapes --------------------------------------------------------------------------------------

TRAVERSALS = [
    "../outside/secret.txt",
    "docs/../../outside/secret.txt",
    "docs/deep/../../../outside/secret.txt",
    "..",
    "./..",
    "../",
    "..\\outside\\secret.txt",
    "/etc/passwd",
    "//etc/passwd",
    "~/.bashrc",
    "~root/.profile",
    "C:\\Windows\\win.ini",
    "abs_link_out",
    "rel_link_out",
    "chain_link",
    "dir_link_out/secret.txt",
    "dir_link_out",
    "passwd",
    "zero",
    "loop_a",
    "notes.txt\x00.png",
    "x" * 5000,
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_escapes_are_refused_by_every_tool(tree, path: str) -> None:
    t = _tools(tree["root"], writable=True)
    before = {p: p.read_bytes() for p in tree["outside"].iterdir()}
    outside_path = str(tree["outside"] / "secret.txt")
    attempts = [
        (t["list_files"], (path,)),
        (t["read_file"], (path,)),
        (t["search_files"], ("**/*", "SECRET", path)),
        (t["write_file"], (path, "pwned")),
        (t["edit_file"], (path, SECRET, "pwned")),
    ]
    for fn, args in attempts:
        ok, text = _call(fn, *args)
        assert not ok, f"{fn.name}{args!r} was allowed: {text[:200]}"
        assert SECRET not in text and outside_path not in text
        assert any(
            word in text
            for word in (
                "outside the workspace root",
                "'..' is not allowed",
                "absolute path",
                "NUL",
                "symlink loop",
                "characters long",
            )
        ), text
    assert {p: p.read_bytes() for p in tree["outside"].iterdir()} == before
    assert Path("/etc/passwd").read_text() != "pwned"


def test_a_symlink_swapped_in_for_a_folder_is_caught_on_write(tree) -> None:
    ws = Workspace(tree["root"])
    (tree["root"] / "later").mkdir()
    real, shown = ws.resolve("later/file.txt")
    (tree["root"] / "later").rmdir()
    os.symlink(tree["outside"], tree["root"] / "later")  # the attacker swaps the folder after the check
    with pytest.raises(ModelRetry, match="outside the workspace root"):
        ws._replace(real, shown, b"pwned")
    assert not (tree["outside"] / "file.txt").exists()


def test_searches_do_not_follow_symlinks_out(tree) -> None:
    t = _tools(tree["root"])
    ok, found = _call(t["search_files"], "**/*", "SECRET|root:")
    assert ok and SECRET not in found and "root:x" not in found
    assert "pointing outside the workspace root were skipped" in found
    ok, names = _call(t["search_files"], "**/secret*")
    assert ok and names.startswith("No files under '.' match '**/secret*'.")
    for glob in ("../*", "/etc/*", "../../**/*", "docs/../../*"):
        ok, text = _call(t["search_files"], glob)
        assert not ok and "may not contain '..'" in text


def test_symlinks_that_stay_inside_work_whatever_their_form(tree) -> None:
    root = tree["root"]
    os.symlink(root / "notes.txt", root / "abs_in")  # absolute, but inside
    os.symlink(".", root / "here")
    os.symlink("..", root / "docs" / "up")  # back up to the root: still inside
    os.symlink("../..", root / "docs" / "up2")  # one step too far
    os.symlink(str(root) + "/../outside", root / "abs_dotdot")  # starts with the root's path, then leaves it
    t = _tools(root, writable=True)
    assert _call(t["read_file"], "abs_in")[1].startswith("abs_in, lines 1-3")
    assert _call(t["read_file"], "here/here/notes.txt")[0]
    assert _call(t["read_file"], "docs/up/docs/guide.md")[0]
    ok, listing = _call(t["list_files"])
    assert ok and "abs_in@ -> notes.txt" in listing and "here/@ -> ./" in listing
    assert "abs_dotdot@ (symlink pointing outside the workspace root: not accessible)" in listing
    ok, listing = _call(t["list_files"], "docs")
    assert ok and "up/@ -> ./" in listing and "up2@ (symlink pointing outside" in listing
    for path in ("docs/up2/outside/secret.txt", "docs/up/dir_link_out/secret.txt", "abs_dotdot/secret.txt"):
        ok, text = _call(t["read_file"], path)
        assert not ok and "outside the workspace root" in text and SECRET not in text
        ok, text = _call(t["write_file"], path, "pwned")
        assert not ok and "outside the workspace root" in text
    assert _call(t["write_file"], "docs_link/new/made.md", "x") == (True, "Created docs_link/new/made.md (1 bytes).")
    assert (root / "docs" / "new" / "made.md").read_text() == "x"
    ok, found = _call(t["search_files"], "**/*.md", "needle", "here")
    assert ok and "here/docs/guide.md:3:" in found
    assert (tree["outside"] / "secret.txt").read_text() == SECRET + "\n"


# -- special files ----------------------------------------------------------------------------------


def test_fifos_never_block_and_are_refused(tree) -> None:
    t = _tools(tree["root"], writable=True)
    for fn, args in [
        (t["read_file"], ("fifo",)),
        (t["edit_file"], ("fifo", "a", "b")),
        (t["write_file"], ("fifo", "x")),
        (t["list_files"], ("fifo",)),
    ]:
        ok, text = _call(fn, *args)
        assert not ok and "FIFO" in text
    ok, _ = _call(t["search_files"], "*", "x")  # searched folders with a FIFO in them do not hang
    assert ok


def test_a_fifo_swapped_in_after_the_check_is_refused_by_the_open(tree, monkeypatch) -> None:
    ws = Workspace(tree["root"])
    regular = os.stat(tree["root"] / "notes.txt")
    monkeypatch.setattr(ws, "_lstat", lambda place, shown: regular)  # the check saw a regular file...
    with pytest.raises(ModelRetry, match="FIFO"):
        within(5, lambda: ws.open_regular(("fifo",), "fifo"))  # ...the open sees the FIFO


def test_sockets_and_devices_are_refused(tree) -> None:
    root = tree["root"]
    t = _tools(root)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    here = os.getcwd()
    try:
        os.chdir(root)  # AF_UNIX paths are short: bind relative to the root
        sock.bind("sock")
    finally:
        os.chdir(here)
    try:
        ok, text = _call(t["read_file"], "sock")
        assert not ok and "socket" in text
    finally:
        sock.close()
    with contextlib.suppress(PermissionError, OSError):
        os.mknod(root / "null_device", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    if (root / "null_device").exists():
        ok, text = _call(t["read_file"], "null_device")
        assert not ok and "device file" in text


# -- size limits ------------------------------------------------------------------------------------


def test_reads_are_cut_at_the_limit_and_can_continue(tree) -> None:
    root = tree["root"]
    (root / "big.txt").write_text("".join(f"line {i:06d}\n" for i in range(1, 200_001)))  # 2.4 MB
    t = _tools(root, max_read_bytes=1000)
    ok, text = _call(t["read_file"], "big.txt")
    assert ok and text.startswith("big.txt, lines 1-83 ") and "continue with start_line=84" in text
    assert len(text) < 1300
    ok, text = _call(t["read_file"], "big.txt", 199_999)
    assert ok and "line 199999\nline 200000\n" in text
    ok, text = _call(t["read_file"], "big.txt", 300_000)
    assert ok and "fewer than 300000 lines" in text
    ok, text = _call(t["read_file"], "big.txt", 10, 5)
    assert not ok and "before start_line" in text


def test_a_huge_single_line_is_read_in_bounded_memory(tree) -> None:
    root = tree["root"]
    with open(root / "one_line.txt", "wb") as f:
        f.write(b"x" * 20_000_000 + b"\nsecond line\n")
    t = _tools(root, max_read_bytes=5000)
    started = time.perf_counter()
    ok, text = _call(t["read_file"], "one_line.txt")
    assert ok and "[... line cut at the read limit]" in text and len(text) < 6000
    ok, text = _call(t["read_file"], "one_line.txt", 2)
    assert ok and "second line" in text
    assert time.perf_counter() - started < 5


def test_binary_files_are_not_dumped(tree) -> None:
    t = _tools(tree["root"])
    assert _call(t["read_file"], "bin.dat") == (True, "bin.dat is a binary file (16 B); it is not shown.")


def test_a_catastrophic_regex_is_stopped(tree) -> None:
    root = tree["root"]
    (root / "redos.txt").write_text("a" * 40 + "!\n")
    t = _tools(root, search_timeout=1.0)
    started = time.perf_counter()
    ok, text = _call(t["search_files"], "redos.txt", "(a+)+$")
    assert not ok and "took longer than 1 s" in text and "Simplify the regex" in text
    assert time.perf_counter() - started < 5
    ok, text = _call(t["search_files"], "*", "([unclosed")
    assert not ok and "not valid" in text
    ok, text = _call(t["search_files"], "*", "a" * 1000)
    assert not ok and "1 to 500 characters" in text


def test_search_results_are_capped(tree) -> None:
    root = tree["root"]
    many = root / "many"
    many.mkdir()
    for i in range(60):
        (many / f"f{i:03d}.txt").write_text("hit\n" * 10)
    t = _tools(root, max_results=25)
    ok, text = _call(t["search_files"], "many/*.txt")
    assert ok and text.startswith("60 file(s)") and "only the first 25 are shown" in text
    ok, text = _call(t["search_files"], "many/*.txt", "hit")
    assert ok and len(text.splitlines()) <= 27 and "only the first 25 matches" in text


# -- writing --------------------------------------------------------------------------------------------


def test_write_and_edit_inside_the_root(tree) -> None:
    root = tree["root"]
    t = _tools(root, writable=True, max_write_bytes=1000)
    assert _call(t["write_file"], "new/dir/file.txt", "one\ntwo\n") == (True, "Created new/dir/file.txt (8 bytes).")
    assert (root / "new/dir/file.txt").read_text() == "one\ntwo\n"
    assert _call(t["write_file"], "new/dir/file.txt", "one\ntwo\nthree\n")[1].startswith("Overwrote")
    os.chmod(root / "new/dir/file.txt", 0o640)
    ok, text = _call(t["edit_file"], "new/dir/file.txt", "two", "TWO")
    assert ok and "line 2" in text
    assert (root / "new/dir/file.txt").read_text() == "one\nTWO\nthree\n"
    assert stat.S_IMODE(os.stat(root / "new/dir/file.txt").st_mode) == 0o640
    assert not [p for p in (root / "new/dir").iterdir() if p.name.startswith(".agentkit-")]  # no temp files left

    ok, text = _call(t["write_file"], "link_in", "through an inside link")  # a link inside the root is fine
    assert ok and (root / "notes.txt").read_text() == "through an inside link"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("new.txt", "x" * 1001), "limit is 1,000"),
        ((".", "x"), "not the workspace root"),
        (("docs", "x"), "a directory"),
        (("notes.txt/child.txt", "x"), "a part of the path is a file"),
    ],
)
def test_bad_writes_are_explained(tree, args, says) -> None:
    t = _tools(tree["root"], writable=True, max_write_bytes=1000)
    ok, text = _call(t["write_file"], *args)
    assert not ok and says in text


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("notes.txt", "", "x"), "old_text is empty"),
        (("notes.txt", "alpha", "alpha"), "the same"),
        (("notes.txt", "delta", "x"), "was not found"),
        (("notes.txt", "beta  needle", "x"), "different whitespace"),
        (("notes.txt", "a", "x"), "appears 5 times"),
        (("bin.dat", "binary", "x"), "not UTF-8"),
        (("docs", "a", "b"), "a directory"),
        (("missing.txt", "a", "b"), "does not exist"),
    ],
)
def test_bad_edits_are_explained(tree, args, says) -> None:
    (tree["root"] / "bin.dat").write_bytes(b"\xff\xfe\xfa binary")
    t = _tools(tree["root"], writable=True)
    before = (tree["root"] / "notes.txt").read_bytes()
    ok, text = _call(t["edit_file"], *args)
    assert not ok and says in text
    assert (tree["root"] / "notes.txt").read_bytes() == before


def test_a_write_through_an_outside_link_leaves_the_target_alone(tree) -> None:
    t = _tools(tree["root"], writable=True)
    for path in ("abs_link_out", "rel_link_out", "chain_link", "dir_link_out/new.txt", "dir_link_out/secret.txt"):
        ok, _ = _call(t["write_file"], path, "pwned")
        assert not ok
    assert sorted(p.name for p in tree["outside"].iterdir()) == ["secret.txt"]
    assert (tree["outside"] / "secret.txt").read_text() == SECRET + "\n"
    assert os.path.islink(tree["root"] / "rel_link_out")  # the link itself was not replaced either


# -- in an agent ------------------------------------------------------------------------------------------


def test_in_an_agent_escapes_become_tool_messages(tree) -> None:
    result, messages = run_calls(
        files(tree["root"]),
        [
            ("read_file", {"path": "../outside/secret.txt"}),
            ("read_file", {"path": "rel_link_out"}),
            ("read_file", {"path": "/etc/passwd"}),
            ("read_file", {"path": "fifo"}),
            ("list_files", {"path": "dir_link_out"}),
            ("search_files", {"glob": "**/*", "regex": "(x+x+)+y"}),
            ("read_file", {"path": "notes.txt", "start_line": 0}),
            ("read_file", {"path": "notes.txt"}),
        ],
    )
    assert result.output == "done"
    assert [m.is_error for m in messages] == [True, True, True, True, True, False, True, False]
    for m in messages:
        assert SECRET not in m.content and "root:x:0:0" not in m.content
    assert "'..' is not allowed" in messages[0].content
    assert "outside the workspace root" in messages[1].content and "outside the workspace root" in messages[4].content
    assert "absolute path" in messages[2].content
    assert "FIFO" in messages[3].content
    assert "start_line" in messages[6].content  # pydantic: must be >= 1
    assert "beta needle" in messages[7].content


def test_in_an_agent_writes_wait_for_approval_and_escapes_are_still_refused(tree) -> None:
    root = tree["root"]
    calls = [
        tool_call("write_file", {"path": "ok.txt", "content": "fine"}, id="w1"),
        tool_call("write_file", {"path": "dir_link_out/pwned.txt", "content": "pwned"}, id="w2"),
        tool_call("edit_file", {"path": "rel_link_out", "old_text": SECRET, "new_text": "pwned"}, id="w3"),
    ]
    agent = Agent(ScriptedModel([reply(None, *calls), "done"]), tools=files(root, writable=True))
    with pytest.raises(ApprovalRequired) as paused:
        agent.run_sync("go")
    assert sorted(c.id for c in paused.value.pending) == ["w1", "w2", "w3"]
    assert not (root / "ok.txt").exists()  # nothing ran before the approval

    result = agent.run_sync(state=paused.value.state, approvals={"w1": True, "w2": True, "w3": True})
    assert result.output == "done"
    contents = {m.tool_call_id: m for m in result.messages if getattr(m, "tool_call_id", None) in ("w1", "w2", "w3")}
    assert contents["w1"].content == "Created ok.txt (4 bytes)." and (root / "ok.txt").read_text() == "fine"
    assert contents["w2"].is_error and "outside the workspace root" in contents["w2"].content
    assert contents["w3"].is_error and "outside the workspace root" in contents["w3"].content
    assert sorted(p.name for p in tree["outside"].iterdir()) == ["secret.txt"]
    assert (tree["outside"] / "secret.txt").read_text() == SECRET + "\n"


# -- races: a folder swapped for a symlink while a call runs ----------------------------------------------

# Swaps two names as fast as it can: with renameat2(RENAME_EXCHANGE) where libc has it ("a" is always
# either the folder or the link), else with three renames. A separate process, so the GIL does not pace it.
_SWAPPER = r"""
import ctypes, os, sys
a, b = sys.argv[1], sys.argv[2]
libc = ctypes.CDLL(None, use_errno=True)
exchange = getattr(libc, "renameat2", None)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
if exchange is not None and exchange(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), RENAME_EXCHANGE) != 0:
    exchange = None
sys.stdout.write("ready\n")
sys.stdout.flush()
tmp = a + ".swap"
while True:
    if exchange is not None:
        exchange(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), RENAME_EXCHANGE)
        continue
    try:
        os.rename(a, tmp)
        os.rename(b, a)
        os.rename(tmp, b)
    except OSError:
        pass
"""


def test_a_folder_swapped_for_a_symlink_during_calls_never_lets_anything_out(tmp_path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "a").mkdir(parents=True)
    outside.mkdir()
    (root / "a" / "f.txt").write_text("inside\n")
    (outside / "f.txt").write_text(f"inside {SECRET}\n")  # the same name and text as inside, plus the secret
    (outside / "only_outside.txt").write_text(SECRET)
    os.symlink(outside, root / "b")  # "a" and "b" swap: a is the folder one moment, a link to outside the next
    before = {p.name: p.read_bytes() for p in outside.iterdir()}
    t = {tool.name: tool for tool in files(root, writable=True)}
    swapper = subprocess.Popen(
        [sys.executable, "-c", _SWAPPER, str(root / "a"), str(root / "b")], stdout=subprocess.PIPE, text=True
    )
    attempts = answered = refused_out = 0
    try:
        assert swapper.stdout is not None and swapper.stdout.readline() == "ready\n"
        started = time.monotonic()
        while attempts < 6000 and time.monotonic() - started < 20:
            for name, args in (
                ("read_file", ("a/f.txt",)),
                ("write_file", ("a/new.txt", "pwned")),
                ("edit_file", ("a/f.txt", "inside", "edited")),
                ("edit_file", ("a/f.txt", "edited", "inside")),
                ("list_files", ("a",)),
                ("search_files", ("**/*", "SECRET|inside|edited", "a")),
                ("read_file", ("a/only_outside.txt",)),
            ):
                attempts += 1
                try:
                    text = t[name].function(*args)
                except ModelRetry as e:
                    text = e.message
                    refused_out += "outside the workspace root" in text
                else:
                    answered += 1
                leaked = SECRET in text or (name in ("list_files", "search_files") and "only_outside" in text)
                assert not leaked, f"{name}{args} escaped: {text[:300]}"
                assert {p.name: p.read_bytes() for p in outside.iterdir()} == before, f"{name}{args} wrote outside"
    finally:
        swapper.kill()
        swapper.wait()
    # both sides of the race were seen: calls that went through the folder, calls that met the link
    assert attempts >= 4000 and answered >= 10 and refused_out >= 10, (attempts, answered, refused_out)


# -- modes ----------------------------------------------------------------------------------------------------


def test_new_files_get_the_mode_the_umask_gives_and_existing_files_keep_theirs(tmp_path) -> None:
    t = _tools(tmp_path, writable=True)
    old = os.umask(0o022)
    try:
        for umask, expected in ((0o022, 0o644), (0o077, 0o600), (0o002, 0o664)):
            os.umask(umask)
            assert _call(t["write_file"], f"sub{umask:o}/new.txt", "x")[0]
            assert stat.S_IMODE(os.stat(tmp_path / f"sub{umask:o}" / "new.txt").st_mode) == expected
            assert stat.S_IMODE(os.stat(tmp_path / f"sub{umask:o}").st_mode) == 0o777 & ~umask
        os.umask(0o022)
        (tmp_path / "kept.txt").write_text("one")
        os.chmod(tmp_path / "kept.txt", 0o604)
        assert _call(t["write_file"], "kept.txt", "two")[0]
        assert _call(t["edit_file"], "kept.txt", "two", "three")[0]
        assert stat.S_IMODE(os.stat(tmp_path / "kept.txt").st_mode) == 0o604
        assert (tmp_path / "kept.txt").read_text() == "three"
    finally:
        os.umask(old)
