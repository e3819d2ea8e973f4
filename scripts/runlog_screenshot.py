"""Make docs/images/runlog.png: the page of a recorded run (``agentkit view ID``) in headless Chromium.

The run is real: an agent over an OpenAI-compatible API (the test suite's loopback server, on
127.0.0.1, answering as scripted with realistic delays), recorded in a run log. Its first request
is answered 429 with ``Retry-After`` (so the timeline shows a retry and its wait); the model then
calls three tools at once, one of them a sub-agent with a tool of its own; then one more tool,
then the answer. No network, no API key.

Usage (from the repository's root, with Debian's ``chromium`` installed)::

    python scripts/runlog_screenshot.py [OUT.png] [--html OUT.html]

ImageMagick's ``convert``, when installed, reduces the PNG to a 64-colour palette (< 300 KB).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agentkit import Agent, tool  # noqa: E402
from agentkit._runlog_html import render  # noqa: E402
from agentkit.models import OpenAICompatible  # noqa: E402
from agentkit.runlog import list_runs, load_run  # noqa: E402
from tests.support.server import LoopbackServer, Reply, call, chat_completion  # noqa: E402

MODEL = "mistral-large-2512"
PROMPT = "Plan my Saturday in Lisbon: the weather, one museum, and a table for two for dinner."


def usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def answer(content: str | None, *calls: dict[str, object], tokens: tuple[int, int], delay: float) -> Reply:
    body = chat_completion(content, list(calls) or None, usage=usage(*tokens), model=MODEL)
    return Reply(body=body, delay=delay)


@tool
async def get_weather(city: str, day: str) -> str:
    """The forecast for a city on a day."""
    await asyncio.sleep(0.35)
    return f"{city}, {day}: sunny, 24 C, light wind from the north-west."


@tool
async def find_museums(city: str, topic: str) -> list[str]:
    """Museums of a city on a topic."""
    await asyncio.sleep(0.55)
    return ["Museu Nacional do Azulejo (tiles, 10:00-18:00)", "MAAT (architecture and technology, 10:00-19:00)"]


@tool
async def search_restaurants(city: str, cuisine: str) -> list[dict[str, object]]:
    """Restaurants of a city by cuisine."""
    await asyncio.sleep(0.3)
    return [{"name": "Cervejaria Ramiro", "rating": 4.6}, {"name": "Sea Me", "rating": 4.4}]


@tool
async def book_table(restaurant: str, time: str, people: int) -> str:
    """Book a table."""
    await asyncio.sleep(0.45)
    return f"Booked: {restaurant}, Saturday {time}, {people} people (ref. LX-4821)."


def record(path: Path) -> str:
    """Run the demo agent once into the run log at ``path``; the run's id."""
    main = LoopbackServer(
        [
            Reply(status=429, body={"error": {"message": "Rate limit exceeded"}}, headers={"Retry-After": "0.6"}, delay=0.15),
            answer(
                "I'll check the weather and museums, and ask the food guide for dinner.",
                call("get_weather", {"city": "Lisbon", "day": "Saturday"}, "call_w"),
                call("find_museums", {"city": "Lisbon", "topic": "art"}, "call_m"),
                call("food_guide", {"input": "Seafood for two in Lisbon on Saturday evening"}, "call_f"),
                tokens=(412, 96),
                delay=0.7,
            ),
            answer(
                None,
                call("book_table", {"restaurant": "Cervejaria Ramiro", "time": "20:00", "people": 2}, "call_b"),
                tokens=(903, 41),
                delay=0.5,
            ),
            answer(
                "Saturday in Lisbon: sunny, 24 C. Morning at the Museu Nacional do Azulejo (opens 10:00), "
                "and dinner at Cervejaria Ramiro at 20:00 for two (ref. LX-4821).",
                tokens=(1012, 58),
                delay=0.8,
            ),
        ]
    ).start()
    guide = LoopbackServer(
        [
            answer(
                None, call("search_restaurants", {"city": "Lisbon", "cuisine": "seafood"}, "call_s"), tokens=(188, 27), delay=0.45
            ),
            answer("Cervejaria Ramiro (4.6), classic seafood; Sea Me (4.4) as a second choice.", tokens=(260, 22), delay=0.5),
        ]
    ).start()
    try:
        food_guide = Agent(
            OpenAICompatible(MODEL, base_url=guide.url + "/v1", api_key="not-a-key"),
            name="food_guide",
            tools=[search_restaurants],
            instructions="Recommend restaurants.",
        )
        planner = Agent(
            OpenAICompatible(MODEL, base_url=main.url + "/v1", api_key="not-a-key"),
            name="trip_planner",
            tools=[get_weather, find_museums, food_guide.as_tool(description="Ask the food guide."), book_table],
            log=path,
        )
        planner.run_sync(PROMPT)
    finally:
        main.stop()
        guide.stop()
    return list_runs(path)[0].id


def screenshot(page: Path, out: Path, size: str = "1100,900") -> None:
    """``page`` as headless Chromium draws it, into ``out`` (palette-reduced when ImageMagick is there)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    out.parent.mkdir(parents=True, exist_ok=True)
    args = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=2000"]
    args += ["--run-all-compositor-stages-before-draw"]
    args += [f"--window-size={size}", "--force-device-scale-factor=1", f"--screenshot={out}", page.as_uri()]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(page.parent)})
    if done.returncode != 0 or not out.exists():
        raise SystemExit(f"chromium failed: {done.stderr[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("out", nargs="?", default=str(ROOT / "docs" / "images" / "runlog.png"))
    parser.add_argument("--html", help="also keep the page here")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "runs.db"
        run_id = record(log)
        page = Path(options.html) if options.html else Path(folder) / f"run-{run_id}.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(render(load_run(log, run_id)), encoding="utf-8")
        screenshot(page.resolve(), Path(options.out).resolve())
    print(f"{options.out}: {Path(options.out).stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
