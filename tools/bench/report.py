"""BENCHMARKS.md and its plot from a results file written by scripts/bench.

Usage: python -m tools.bench.report [benchmarks.json] [--output BENCHMARKS.md]
       [--plot benchmarks.png]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

REPO_ROOT = Path(__file__).resolve().parents[2]
TITLES = {
    "a": "(a) MQTT Fleet",
    "b": "(b) MQTT discovery + value_template",
    "c": "(c) no-op subscriber",
    "d": "(d) floor: orjson + async_set",
}
type Row = dict[str, Any]


def _fmt(value: Any, digits: int = 1, scale: float = 1.0) -> str:
    if value is None:
        return "-"
    if isinstance(value, float | int):
        return f"{value * scale:,.{digits}f}"
    return str(value)


def summary(row: Row) -> str:
    """Return one line about a row, for the console."""
    parts = [
        f"{_fmt(row.get('throughput'), 0)} msg/s",
        f"{_fmt(row.get('cpu_s_per_10k'), 2)} CPU s/10k",
        f"GC {_fmt(row.get('gc_share'), 1, 100)} % (longest {_fmt(row.get('gc_longest_ms'))} ms)",
        f"p50/p99 {_fmt(row.get('latency_p50_ms'))}/{_fmt(row.get('latency_p99_ms'))} ms",
    ]
    if "memory_bytes_per_device" in row:
        parts.append(f"{_fmt(row['memory_bytes_per_device'] / 1024)} KiB/device")
    if "restart_setup_s" in row:
        parts.append(f"restart setup {_fmt(row['restart_setup_s'], 2)} s")
    if "natural_cpu_percent" in row:
        parts.append(f"natural {_fmt(row['natural_cpu_percent'], 2)} % CPU")
    problems = {
        name: row[name]
        for name in ("flat_wrong_values", "latency_missing", "latency_wrong")
        if row.get(name)
    }
    if problems:
        parts.append(f"PROBLEMS {problems}")
    return ", ".join(parts)


def _by_n(rows: Sequence[Row]) -> dict[int, dict[str, Row]]:
    table: dict[int, dict[str, Row]] = {}
    for row in rows:
        table.setdefault(row["n"], {})[row["contender"]] = row
    return dict(sorted(table.items()))


def _ratio(a: Row | None, other: Row | None, name: str) -> float | None:
    if a is None or other is None:
        return None
    top, bottom = a.get(name), other.get(name)
    if top is None or not bottom:
        return None
    return float(top) / float(bottom)


RAW_COLUMNS: list[tuple[str, str, Callable[[Row], str]]] = [
    (
        "msg/s",
        "throughput flat out, up to the last state written",
        lambda r: _fmt(r.get("throughput"), 0),
    ),
    (
        "CPU s/10k",
        "HA process CPU seconds per 10k messages",
        lambda r: _fmt(r.get("cpu_s_per_10k"), 2),
    ),
    ("µs/msg", "CPU per message", lambda r: _fmt(r.get("us_per_message"), 0)),
    ("GC %", "share of the flat-out run spent in GC", lambda r: _fmt(r.get("gc_share"), 1, 100)),
    ("GC max ms", "longest GC pause", lambda r: _fmt(r.get("gc_longest_ms"), 1)),
    (
        "p50 ms",
        "latency message to state at the fixed rate",
        lambda r: _fmt(r.get("latency_p50_ms"), 1),
    ),
    ("p99 ms", "", lambda r: _fmt(r.get("latency_p99_ms"), 1)),
    (
        "KiB/device",
        "tracemalloc over setup and the warm-up round, divided by N",
        lambda r: _fmt(r.get("memory_bytes_per_device"), 1, 1 / 1024),
    ),
    (
        "restart s",
        "entry setup with N devices restored",
        lambda r: _fmt(r.get("restart_setup_s"), 2),
    ),
    (
        "natural CPU %",
        "one core, every device every 30 s",
        lambda r: _fmt(r.get("natural_cpu_percent"), 2),
    ),
    ("entities", "device entities shown", lambda r: _fmt(r.get("entities"), 0)),
    ("pub msg/s", "the publisher's own send rate", lambda r: _fmt(r.get("publisher_rate"), 0)),
]


CONDITION_COLUMNS: list[tuple[str, str, Callable[[Row], str]]] = [
    (
        "full GCs flat",
        "generation-2 collections in the flat-out run",
        lambda r: _fmt(r.get("gc_full_collections"), 0),
    ),
    ("GCs flat", "all collections in the flat-out run", lambda r: _fmt(r.get("gc_collections"), 0)),
    (
        "full GCs latency",
        "generation-2 collections in the latency run",
        lambda r: _fmt(r.get("latency_gc_full_collections"), 0),
    ),
    (
        "GC max ms latency",
        "longest GC pause in the latency run",
        lambda r: _fmt(r.get("latency_gc_longest_ms"), 1),
    ),
    ("latency max ms", "slowest message to state", lambda r: _fmt(r.get("latency_max_ms"), 1)),
    (
        "samples",
        "messages matched to a state write (to an arrival for (c))",
        lambda r: _fmt(r.get("latency_samples"), 0),
    ),
    (
        "preempted flat",
        "times the OS took the CPU from HA (involuntary switches)",
        lambda r: _fmt(r.get("flat_preemptions"), 0),
    ),
    ("preempted latency", "", lambda r: _fmt(r.get("latency_preemptions"), 0)),
    (
        "setup+warm-up s",
        "contender setup and the round that creates every entity",
        lambda r: _fmt(r.get("setup_and_warmup_s"), 1),
    ),
]


def _table(
    table: dict[int, dict[str, Row]], columns: Sequence[tuple[str, str, Callable[[Row], str]]]
) -> list[str]:
    lines = [
        "| N | contender | " + " | ".join(name for name, _, _ in columns) + " |",
        "|---:|---|" + "---:|" * len(columns),
    ]
    for n, rows in table.items():
        for key in sorted(rows):
            row = rows[key]
            cells = " | ".join(column(row) for _, _, column in columns)
            lines.append(f"| {n:,} | {TITLES.get(key, key)} | {cells} |")
    return lines


def _ratio_table(table: dict[int, dict[str, Row]]) -> list[str]:
    lines = [
        "| N | throughput a/b | a/c | a/d | CPU per msg a/b | a/c | a/d "
        "| memory a/b | p99 a - c (ms) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, rows in table.items():
        a = rows.get("a")
        cells = [_fmt(_ratio(a, rows.get(k), "throughput"), 2) for k in ("b", "c", "d")] + [
            _fmt(_ratio(a, rows.get(k), "cpu_s_per_10k"), 2) for k in ("b", "c", "d")
        ]
        cells.append(_fmt(_ratio(a, rows.get("b"), "memory_bytes_per_device"), 2))
        c = rows.get("c")
        p99 = (
            a["latency_p99_ms"] - c["latency_p99_ms"]
            if a and c and "latency_p99_ms" in a and "latency_p99_ms" in c
            else None
        )
        cells.append(_fmt(p99, 1))
        lines.append(f"| {n:,} | " + " | ".join(cells) + " |")
    return lines


def _check(ok: bool | None) -> str:
    return "-" if ok is None else ("met" if ok else "**not met**")


def _targets(table: dict[int, dict[str, Row]]) -> list[str]:
    lines = ["| target | N | measured | |", "|---|---:|---|---|"]

    def add(target: str, n: int, measured: str, ok: bool | None) -> None:
        lines.append(f"| {target} | {n:,} | {measured} | {_check(ok)} |")

    for n, rows in table.items():
        a = rows.get("a")
        if a is None:
            continue
        if (ratio := _ratio(a, rows.get("b"), "throughput")) is not None:
            add("throughput ≥ 3x (b)", n, f"{ratio:.2f}x", ratio >= 3)
        if (ratio := _ratio(a, rows.get("d"), "throughput")) is not None:
            add("throughput ≥ 80 % of (d)", n, f"{ratio * 100:.0f} %", ratio >= 0.8)
        if (ratio := _ratio(a, rows.get("b"), "cpu_s_per_10k")) is not None:
            add("CPU per 10k ≤ ⅓ of (b)", n, f"{ratio:.2f}x", ratio <= 1 / 3)
        c = rows.get("c")
        if c is not None and "latency_p99_ms" in a and "latency_p99_ms" in c:
            gap = a["latency_p99_ms"] - c["latency_p99_ms"]
            add("p99 ≤ (c)'s p99 + 5 ms", n, f"{gap:+.1f} ms", gap <= 5)
        if (ratio := _ratio(a, rows.get("b"), "memory_bytes_per_device")) is not None:
            add("memory per device ≤ 0.7x (b)", n, f"{ratio:.2f}x", ratio <= 0.7)
    fleet = {n: rows["a"] for n, rows in table.items() if "a" in rows}
    if len(fleet) >= 2:
        low, high = min(fleet), max(fleet)
        ratio = _ratio(fleet[high], fleet[low], "us_per_message")
        if ratio is not None:
            add(
                f"per-message cost N={high:,} ≤ 1.2x N={low:,}", high, f"{ratio:.2f}x", ratio <= 1.2
            )
    if fleet:
        high = max(fleet)
        share = fleet[high].get("gc_share")
        if share is not None:
            add("GC share ≤ 5 % at the largest N", high, f"{share * 100:.1f} %", share <= 0.05)
        restart = fleet[high].get("restart_setup_s")
        if restart is not None:
            add("entry setup after restart < 5 s", high, f"{restart:.2f} s", restart < 5)
    return lines


def _protocol_table(rows: Sequence[Row]) -> list[str]:
    lines = [
        "| message kind | bytes | protocol/ parse per s | orjson.loads per s | ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    lines.extend(
        f"| {row['kind']} | {row['payload_bytes']} | {row['protocol_per_s']:,.0f}"
        f" | {row['orjson_per_s']:,.0f} | {row['ratio']:.2f} |"
        for row in rows
    )
    return lines


def plot(table: dict[int, dict[str, Row]], path: Path) -> None:
    """Draw throughput and CPU per message against N, one line per contender."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.6))
    keys = sorted({key for rows in table.values() for key in rows})
    for key in keys:
        points = [(n, rows[key]) for n, rows in table.items() if key in rows]
        ns = [n for n, _ in points]
        left.plot(ns, [row["throughput"] for _, row in points], marker="o", label=TITLES[key])
        right.plot(ns, [row["us_per_message"] for _, row in points], marker="o", label=TITLES[key])
    for axis, label in ((left, "messages/s fully processed"), (right, "HA CPU µs per message")):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("devices (N)")
        axis.set_ylabel(label)
        axis.grid(visible=True, which="both", alpha=0.3)
    left.set_title("Throughput, flat out")
    right.set_title("Per-message cost")
    handles, labels = left.get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8)
    figure.tight_layout(rect=(0, 0.07, 1, 1))  # room for the legend below the plots
    figure.savefig(path, dpi=110)
    plt.close(figure)


def render(results: dict[str, Any], plot_name: str) -> str:
    """Return BENCHMARKS.md's text."""
    meta = results["meta"]
    table = _by_n(results["rows"])
    options = meta["options"]
    lines = [
        "# Benchmarks",
        "",
        "Written by `scripts/bench` (tools/bench/); regenerate with the same command. All"
        " figures come from one run on one machine: a private mosquitto on loopback, a"
        " separate publisher process (paho, QoS 0) and a real Home Assistant with its real MQTT"
        " client in the measuring process.",
        "",
        f"- Run: {meta['date']}, commit {meta['commit']}, Home Assistant {meta['home_assistant']},"
        f" Python {meta['python']}, {meta['cpus']} CPUs ({meta['machine']})",
        f"- Command: `{meta.get('command', 'scripts/bench')}`",
        f"- Load average before / after: {_load(meta.get('load_before'))} /"
        f" {_load(meta.get('load_after'))}",
        f"- Flat out: at least {options['messages']:,} messages in whole rounds; latency:"
        f" {options['rate']:,.0f} msg/s for at least {options['latency_seconds']:g} s (whole"
        " rounds); natural rates:"
        + (
            f" every device every 30 s for {options['natural_seconds']:g} s at N ="
            f" {', '.join(f'{n:,}' for n in options['natural_n'])};"
            if options["natural_n"]
            else " not measured;"
        )
        + f" TCP_NODELAY {'on' if options['nodelay'] else 'off (default TCP settings)'};"
        f" device mix AutoCore:SpotFi:Janus = {':'.join(map(str, options['mix']))}",
    ]
    lines += [f"- Note: {note}" for note in meta.get("notes", [])]
    if meta.get("quick"):
        lines += ["", "**Quick smoke run: small sizes, not the benchmark's figures.**"]
    lines += ["", "![Throughput and per-message cost against N](" + plot_name + ")", ""]
    lines += METHOD
    lines += ["## Raw figures", "", *_table(table, RAW_COLUMNS), ""]
    lines += [f"- {name}: {meaning}" for name, meaning, _ in RAW_COLUMNS if meaning]
    lines += ["", "## Run conditions", "", *_table(table, CONDITION_COLUMNS), ""]
    lines += [f"- {name}: {meaning}" for name, meaning, _ in CONDITION_COLUMNS if meaning]
    lines += ["", "## Ratios", "", *_ratio_table(table), ""]
    lines += ["## Targets (issue 6)", "", *_targets(table), ""]
    lines += _profile_table(results["rows"])
    if results.get("protocol"):
        lines += ["## protocol/ alone against bare orjson.loads", ""]
        lines += _protocol_table(results["protocol"])
        lines += [
            "",
            "`parse(topic, payload)` of the family's protocol object against `orjson.loads` of"
            " the same payloads (a plain-text status: `bytes.decode`), best of 5, without HA.",
            "",
        ]
    problems = [
        (row["contender"], row["n"], name, row[name])
        for row in results["rows"]
        for name in ("flat_wrong_values", "latency_missing", "latency_wrong")
        if row.get(name)
    ]
    counters = [
        (row["contender"], row["n"], row["counters"])
        for row in results["rows"]
        if row.get("counters")
    ]
    if problems or results.get("failures"):
        lines += ["## Problems in this run", ""]
        lines += [f"- ({key}) N={n}: {name} = {value}" for key, n, name, value in problems]
        lines += [
            f"- ({failure['contender']}) N={failure['n']} failed: {failure['error']}"
            for failure in results.get("failures", [])
        ]
        lines.append("")
    if counters:
        lines += ["## Message counters", ""]
        lines += [f"- ({key}) N={n}: {value}" for key, n, value in counters]
        lines.append("")
    return "\n".join(lines)


METHOD = [
    "## Method",
    "",
    "- Workload (tools/bench/workload.py): N devices, AutoCore, SpotFi and Janus interleaved"
    " by the mix. A round is, per AutoCore board, its relay 0 status and a telemetry with four"
    " changing values; per SpotFi router, its metrics; per Janus server, its status. Every"
    " value but the constants changes from one round to the next; a Janus status repeats and"
    " writes nothing. A warm-up round (with the statuses) creates every entity first.",
    "- Each contender at each N runs in a fresh mosquitto and a fresh Home Assistant"
    " (pytest-homeassistant-custom-component's harness, registries and restore state on"
    " disk), with the real MQTT integration. (b) has the same entities as (a), one retained"
    " discovery config each, with `value_template`, availability from the device's status"
    " topic and `expire_after` equal to (a)'s offline timeout (so they behave like (a)'s);"
    " (d) writes the same states.",
    "- Every measured phase starts after a full `gc.collect()`, so no phase pays for a"
    " full collection that an earlier phase's garbage made due. MQTT Fleet is installed"
    " in every contender's Home Assistant, so HA's MQTT integration discovery (a config flow"
    " per new payload on the manifest's status topics) runs for all four alike.",
    "- Throughput: whole rounds published flat out; from the first send (publisher's"
    " CLOCK_MONOTONIC) to the state write of the last message (for (c), its arrival). CPU:"
    " getrusage of the HA process over the same run. GC: gc.callbacks over the same run.",
    "- Latency: whole rounds at the fixed rate; every message that changes a value is matched"
    " to the state_changed event of that value (in order per entity, checked by value); (c):"
    " each arrival in order. Includes the publisher's and the broker's TCP path.",
    "- Memory: tracemalloc over the contender's setup and the warm-up round, divided by N, so"
    " it includes the contender's fixed setup cost (significant at small N).",
    "- Restart: a second Home Assistant on the same config directory; (a) the three entries'"
    " setup until every restored entity is added; (b) the MQTT entry's setup until every"
    " retained discovery config made its entity.",
    "- Natural rates: every device sends its status and telemetry (metrics) every 30 s,"
    " staggered evenly; HA CPU time over the window as a share of one core.",
    "",
]


def _profile_table(rows: Sequence[Row]) -> list[str]:
    """Where each profiled contender's flat-out time went (--profile), by N."""
    profiled = sorted(
        (row for row in rows if row.get("profile_shares")),
        key=lambda row: (row["contender"], row["n"]),
    )
    if not profiled:
        return []
    parts = list(profiled[0]["profile_shares"])
    lines = [
        "## Where the time goes (cProfile, one extra flat-out run)",
        "",
        "| part | " + " | ".join(f"({r['contender']}) N={r['n']:,}" for r in profiled) + " |",
        "|---|" + "---:|" * len(profiled),
    ]
    lines += [
        f"| {part} | "
        + " | ".join(_fmt(r["profile_shares"].get(part), 1, 100) + " %" for r in profiled)
        + " |"
        for part in parts
    ]
    lines += [
        "",
        "Shares of the functions' own time, by the file they live in. cProfile adds a"
        " fixed cost to every call, so code made of many small calls looks bigger here than"
        " it is; the profiles themselves are in the directory given to --profile.",
        "",
    ]
    return lines


def _load(load: Sequence[float] | None) -> str:
    return "-" if not load else " ".join(f"{value:.2f}" for value in load)


def write(results: dict[str, Any], output: Path, plot_path: Path) -> None:
    """Write BENCHMARKS.md and the plot next to it."""
    table = _by_n(results["rows"])
    if table:
        plot(table, plot_path)
    name = os.path.relpath(plot_path, output.parent)
    output.write_text(render(results, name))


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate the report from a results file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("results", type=Path, nargs="?", default=REPO_ROOT / "benchmarks.json")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "BENCHMARKS.md")
    parser.add_argument("--plot", type=Path, default=REPO_ROOT / "benchmarks.png")
    args = parser.parse_args(argv)
    write(json.loads(args.results.read_text()), args.output, args.plot)
    print(f"wrote {args.output} and {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
