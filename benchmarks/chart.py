"""``benchmarks/results/latest.png``: bar charts of a ``run.py`` results payload (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLORS = {
    "agentkit": "#2b6cb0",
    "agentkit-httpx": "#63b3ed",
    "httpx-loop": "#718096",
    "aiohttp-loop": "#a0aec0",
    "pydantic-ai": "#dd6b20",
    "openai-agents": "#38a169",
}


def color(name: str) -> str:
    """A contender's colour, also for the workloads' longer names ("agentkit run_stream", "pydantic-ai run_stream")."""
    if name in COLORS:
        return COLORS[name]
    for key in sorted(COLORS, key=len, reverse=True):
        if name.startswith(key) or name.startswith(key.split("-")[0] + "-sse"):
            return COLORS[key]
    return "#999999"


def _hbars(ax: Any, names: list[str], values: list[float], fmt: str, xlabel: str, title: str) -> None:
    """Horizontal bars, one per contender, first at the top (long names stay readable)."""
    bars = ax.barh(names[::-1], values[::-1], color=[color(n) for n in names[::-1]])
    ax.bar_label(bars, fmt=fmt, fontsize=7, padding=2)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.tick_params(axis="y", labelsize=7)
    ax.margins(x=0.15)


def draw(payload: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 3, figsize=(17, 13))
    fig.suptitle(
        f"agentkit benchmark — {payload['date'][:10]}, {payload['cpu_count']} cores ({payload.get('cpu_model', '?')}), "
        f"Python {payload['python']}, {payload['mode']} mode, "
        f"load avg {payload['load_average']['start'][0]:.2f}→{payload['load_average']['end'][0]:.2f}"
    )
    rt = {k: v for k, v in (payload.get("roundtrip") or {}).items() if not v["inprocess"]}

    ax = axes[0][0]
    if rt:
        names = list(next(iter(rt.values()))["contenders"])
        width = 0.8 / len(names)
        for i, name in enumerate(names):
            values = [res["contenders"].get(name, {}).get("cpu_us_per_run", 0) / 1000 for res in rt.values()]
            bars = ax.bar([x + i * width for x in range(len(rt))], values, width, label=name, color=COLORS.get(name))
            ax.bar_label(bars, fmt="%.1f", fontsize=6)
        ax.set_xticks([x + width * (len(names) - 1) / 2 for x in range(len(rt))], [f"c={r['concurrency']}" for r in rt.values()])
        ax.set_ylabel("client CPU ms / run (lower is better)")
        ax.set_title("Tool round trip: CPU per run")
        ax.legend(fontsize=7)

        ax = axes[0][1]
        for i, name in enumerate(names):
            values = [res["contenders"].get(name, {}).get("cpu_ratio", 0) for res in rt.values()]
            bars = ax.bar([x + i * width for x in range(len(rt))], values, width, label=name, color=COLORS.get(name))
            ax.bar_label(bars, fmt="%.2f", fontsize=6)
        ax.axhline(1.0, color="black", lw=0.8)
        ax.set_xticks([x + width * (len(names) - 1) / 2 for x in range(len(rt))], [f"c={r['concurrency']}" for r in rt.values()])
        ax.set_yscale("log")
        ax.set_ylabel("CPU per run / httpx loop (log)")
        ax.set_title("Tool round trip: ratio to the hand-written httpx loop")

    ax = axes[0][2]
    if rt:
        names = list(next(iter(rt.values()))["contenders"])
        for i, name in enumerate(names):
            values = [res["contenders"].get(name, {}).get("runs_per_s", 0) for res in rt.values()]
            bars = ax.bar([x + i * width for x in range(len(rt))], values, width, label=name, color=COLORS.get(name))
            ax.bar_label(bars, fmt="%.0f", fontsize=6)
        ax.set_xticks([x + width * (len(names) - 1) / 2 for x in range(len(rt))], [f"c={r['concurrency']}" for r in rt.values()])
        ax.set_ylabel("runs / s (higher is better)")
        ax.set_title("Tool round trip: throughput of one process")

    st = payload.get("streaming")
    if st:
        names = list(st["contenders"])
        _hbars(
            axes[2][0],
            names,
            [st["contenders"][n]["cpu_us_per_chunk"] for n in names],
            "%.1f",
            "client CPU µs / chunk (lower is better)",
            f"Streaming {st['chunks_per_stream']} chunks: CPU",
        )
        _hbars(
            axes[2][1],
            names,
            [st["contenders"][n]["first_event_ms"] for n in names],
            "%.1f",
            "ms from request to first text event (server holds the rest 200 ms)",
            "Streaming: first event",
        )

    ax = axes[1][0]
    imp = payload.get("import")
    if imp:
        names = [m for m, r in imp.items() if r["median_s"] is not None]
        bars = ax.bar(names, [imp[m]["median_s"] * 1000 for m in names], color="#805ad5")
        ax.bar_label(bars, fmt="%.0f", fontsize=8)
        ax.axhline(300, color="red", lw=0.8, ls="--", label="target 300 ms")
        ax.set_ylabel("ms (median, fresh interpreter)")
        ax.set_title("Import time")
        ax.legend(fontsize=7)

    mem = payload.get("memory")
    if mem:
        names = list(mem["contenders"])
        ax = axes[1][1]
        peaks = [mem["contenders"][n]["peak_mb"] for n in names]
        growth = [mem["contenders"][n]["growth_mb"] for n in names]
        y = list(range(len(names)))[::-1]
        ax.barh([v + 0.2 for v in y], peaks, 0.4, color=[color(n) for n in names], label="peak RSS")
        ax.barh([v - 0.2 for v in y], growth, 0.4, color=[color(n) for n in names], alpha=0.45, label="growth")
        for v, p, g in zip(y, peaks, growth, strict=True):
            ax.text(p, v + 0.2, f" {p:.0f}", va="center", fontsize=7)
            ax.text(g, v - 0.2, f" {g:.0f}", va="center", fontsize=7)
        ax.set_yticks(y, names, fontsize=7)
        ax.set_xlabel("MB (peak RSS, and its growth over the RSS before the burst)")
        ax.set_title(f"Memory with {mem['inflight']} runs in flight")
        ax.legend(fontsize=7)
        ax.margins(x=0.12)

    tl = payload.get("tools")
    contenders = (tl or {}).get("contenders") or {}
    names = [n for n, r in contenders.items() if "error" not in r]
    if names:
        _hbars(
            axes[2][2],
            names,
            [contenders[n]["decorate_us_per_tool_warm"] for n in names],
            "%.0f",
            "µs per tool (200 functions of varied signatures, warm)",
            "Tool decoration: function → JSON schema",
        )

    ax = axes[1][2]
    bt = payload.get("batch")
    if bt:
        keys = list(bt)
        labels = [
            f"{k}\n{bt[k]['runs']} runs, " + ("stalled" if bt[k].get("timed_out") else f"{bt[k]['failed']} failed") for k in keys
        ]
        bars = ax.bar(labels, [bt[k]["over_ideal_pct"] for k in keys], color="#d69e2e")
        ax.bar_label(bars, fmt="%+.1f %%", fontsize=8)
        ax.axhline(10, color="red", lw=0.8, ls="--", label="target +10 %")
        ax.set_ylabel("completion time over ideal, %")
        ax.set_title(f"run_many under a {next(iter(bt.values()))['limit_rps']} req/s limit")
        ax.legend(fontsize=7)

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def markdown(payload: dict[str, Any]) -> str:
    """The results of a payload as Markdown tables (for README.md): ``python chart.py results/latest.json``."""
    lines: list[str] = []
    rt = payload.get("roundtrip") or {}
    if rt:
        lines += [
            "| concurrency | contender | client CPU µs/run | x httpx loop | paired | runs/s | x httpx loop |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for res in rt.values():
            label = f"{res['concurrency']:,}" + (" in-process" if res["inprocess"] else "")
            for name, r in res["contenders"].items():
                lines.append(
                    f"| {label} | {name} | {r['cpu_us_per_run']:,.0f} | {r['cpu_ratio']:.2f}x | {r['cpu_ratio_paired']:.2f}x "
                    f"| {r['runs_per_s']:,.0f} | {r['runs_per_s_ratio']:.2f}x |"
                )
        lines.append("")
    st = payload.get("streaming")
    if st:
        lines += [
            "| streaming (2,000 chunks) | CPU µs/chunk | x hand loop | paired | first event, ms | whole stream, ms |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for name, r in st["contenders"].items():
            lines.append(
                f"| {name} | {r['cpu_us_per_chunk']:.1f} | {r['ratio_to_hand_loop']:.2f}x | {r['paired_ratio']:.2f}x "
                f"| {r['first_event_ms']:.1f} | {r['whole_stream_ms']:.0f} |"
            )
        lines.append("")
    imp = payload.get("import")
    if imp:
        lines.append(
            "Import (median of 15 fresh interpreters): "
            + ", ".join(
                f"`{m}` **{r['median_s'] * 1000:.0f} ms** ({min(r['samples_s']) * 1000:.0f}-{max(r['samples_s']) * 1000:.0f})"
                for m, r in imp.items()
                if r["median_s"] is not None
            )
            + ".\n"
        )
    tl = payload.get("tools")
    if tl:
        lines.append(
            f"`@tool` x 200: **{tl['decorate_200_cold_ms']:.0f} ms** cold, {tl['decorate_200_warm_ms']:.0f} ms warm "
            f"({tl['decorate_us_per_tool_warm']:,.0f} µs per tool). `build_body` with 50 tools: first call "
            f"{tl['build_body_50_first_us']:.0f} µs, cached {tl['build_body_50_cached_us']:.1f} µs.\n"
        )
        contenders = tl.get("contenders") or {}
        if contenders:
            lines += ["| decorating 200 tools | µs per tool, warm | cold | x agentkit |", "| --- | ---: | ---: | ---: |"]
            for name, r in contenders.items():
                if "error" in r:
                    lines.append(f"| {name} | failed: {r['error']} | | |")
                else:
                    lines.append(
                        f"| {name} | {r['decorate_us_per_tool_warm']:,.0f} | {r['decorate_us_per_tool_cold']:,.0f} "
                        f"| {r['ratio_to_agentkit_warm']:.2f}x |"
                    )
            lines.append("")
    mem = payload.get("memory")
    if mem:
        lines += ["| 1,000 runs in flight | RSS before, MB | peak RSS, MB | growth, MB |", "| --- | ---: | ---: | ---: |"]
        for name, r in mem["contenders"].items():
            lines.append(f"| {name} | {r['before_mb']:.1f} | {r['peak_mb']:.1f} | {r['growth_mb']:.1f} |")
        lines.append("")
    bt = payload.get("batch")
    if bt:
        lines += [
            "| batch | runs | limit | time, s | ideal, s | over ideal | failed | client CPU, s |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for key, r in bt.items():
            lines.append(
                f"| {key} | {r['runs']:,} | {r['limit_rps']} req/s | {r['elapsed_s']:.1f} | {r['ideal_s']:.1f} "
                f"| {r['over_ideal_pct']:+.1f} %{' (stalled, stopped)' if r.get('timed_out') else ''} | {r['failed']} "
                f"| {'-' if r['client_cpu_s'] is None else round(r['client_cpu_s'], 1)} |"
            )
        lines.append("")
    if payload.get("targets"):
        lines += ["| target | measured | limit | verdict |", "| --- | ---: | --- | --- |"]
        for t in payload["targets"]:
            verdict = {True: "PASS", False: "**FAIL**", None: "n/a"}[t["pass"]]
            value = "-" if t["value"] is None else f"{t['value']:.3g}"
            lines.append(f"| {t['target']} | {value} | {t['limit']} | {verdict} |")
    return "\n".join(lines)


if __name__ == "__main__":
    import json
    import sys

    print(markdown(json.loads(Path(sys.argv[1]).read_text())))
