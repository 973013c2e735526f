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
    "e": "(e) entity floor: plain HA entities",
}
# mosquitto's own limit on the messages queued per client, which the bench's settings lift.
MOSQUITTO_DEFAULT_MAX_QUEUED_MESSAGES = 1000
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
    if "rss_mib" in row:
        parts.append(f"RSS {_fmt(row['rss_mib'], 0)} MiB")
    if "restart_setup_s" in row:
        parts.append(f"restart setup {_fmt(row['restart_setup_s'], 2)} s")
    if "restart_retained_expected" in row:
        parts.append(f"retained after restart {_retained(row)}")
    if "natural_cpu_percent" in row:
        parts.append(f"natural {_fmt(row['natural_cpu_percent'], 2)} % CPU")
    problems = {
        name: row[name]
        for name in ("flat_wrong_values", "latency_missing", "latency_wrong")
        if row.get(name)
    }
    if problems:
        parts.append(f"PROBLEMS {problems}")
    if _default_broker(row):
        parts.insert(0, "mosquitto's defaults")
    return ", ".join(parts)


def _default_broker(row: Row) -> bool:
    """Tell whether a row ran against mosquitto's defaults rather than the recommended settings."""
    return row.get("broker") == "default"


def _label(row: Row) -> str:
    suffix = ", mosquitto's defaults" if _default_broker(row) else ""
    return f"({row['contender']}) N={row['n']:,}{suffix}"


def _retained(row: Row) -> str:
    """Return how many retained device statuses reached HA in the restart, of how many."""
    received, expected = row.get("restart_retained_received"), row.get("restart_retained_expected")
    if received is None and expected is None:
        return "-"
    return f"{_fmt(received, 0)} / {_fmt(expected, 0)}"


def _by_n(rows: Sequence[Row], skipped: Sequence[Row] = ()) -> dict[int, dict[str, Row]]:
    """Key the recommended-settings rows by N and contender.

    A skipped cell gets an empty row, so the tables show "-" for it. Rows against
    mosquitto's defaults have their own section: they would clash with (a)'s here.
    """
    table: dict[int, dict[str, Row]] = {}
    for cell in skipped:
        table.setdefault(cell["n"], {})[cell["contender"]] = {
            "contender": cell["contender"],
            "n": cell["n"],
        }
    for row in rows:
        if not _default_broker(row):
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
        "RSS MiB",
        "resident memory of the HA process after the warm-up round",
        lambda r: _fmt(r.get("rss_mib"), 0),
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
        "hubs",
        "(a)'s hubs (config entries) the devices are spread over",
        lambda r: _fmt(r.get("hubs"), 0),
    ),
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
    (
        "restart GC s",
        "GC seconds inside the restart setup",
        lambda r: _fmt(r.get("restart_gc_s"), 2),
    ),
    (
        "restart stall ms",
        "longest event-loop stall during the restart setup",
        lambda r: _fmt(r.get("restart_longest_stall_ms"), 1),
    ),
    (
        "retained after restart",
        "retained device statuses that reached HA in the restart: received / expected",
        _retained,
    ),
    (
        "last status s",
        "seconds from the start of the restart setup to the last retained status",
        lambda r: _fmt(r.get("restart_retained_s"), 1),
    ),
    (
        "natural GC %",
        "GC share of the natural-rate window",
        lambda r: _fmt(r.get("natural_gc_share"), 1, 100),
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


def _p99_gap(a: Row | None, other: Row | None) -> float | None:
    """Return (a)'s p99 latency minus the other's, in ms."""
    if a is None or other is None:
        return None
    top, bottom = a.get("latency_p99_ms"), other.get("latency_p99_ms")
    return None if top is None or bottom is None else float(top) - float(bottom)


def _ratio_table(table: dict[int, dict[str, Row]]) -> list[str]:
    lines = [
        "| N | throughput a/b | a/c | a/d | a/e | CPU per msg a/b | a/c | a/d | a/e "
        "| memory a/b | a/e | p99 a - c (ms) | a - e (ms) |",
        "|---:|" + "---:|" * 12,
    ]
    for n, rows in table.items():
        a = rows.get("a")
        cells = [
            *(_fmt(_ratio(a, rows.get(k), "throughput"), 2) for k in "bcde"),
            *(_fmt(_ratio(a, rows.get(k), "cpu_s_per_10k"), 2) for k in "bcde"),
            *(_fmt(_ratio(a, rows.get(k), "memory_bytes_per_device"), 2) for k in "be"),
            *(_fmt(_p99_gap(a, rows.get(k)), 1) for k in "ce"),
        ]
        lines.append(f"| {n:,} | " + " | ".join(cells) + " |")
    return lines


def _check(ok: bool | None) -> str:
    return "not measured" if ok is None else ("met" if ok else "**not met**")


def _targets(table: dict[int, dict[str, Row]]) -> list[str]:
    """Issue 16's targets; one that needs a row this run lacks shows "not measured"."""
    lines = ["| target | N | measured | |", "|---|---:|---|---|"]

    def add(target: str, n: int | None, measured: str, ok: bool | None) -> None:
        lines.append(f"| {target} | {_fmt(n, 0)} | {measured} | {_check(ok)} |")

    def at_every_n(
        target: str,
        measure: Callable[[dict[str, Row]], float | None],
        show: Callable[[float], str],
        ok: Callable[[float], bool],
    ) -> None:
        """Compare (a) with another contender at every N where both rows have the figure."""
        measured = [(n, value) for n, rows in table.items() if (value := measure(rows)) is not None]
        for n, value in measured:
            add(target, n, show(value), ok(value))
        if not measured:
            add(target, None, "-", None)

    def of_a(n: int, name: str) -> float | None:
        value = table.get(n, {}).get("a", {}).get(name)
        return None if value is None else float(value)

    at_every_n(
        "(a) throughput ≥ 90 % of (e)",
        lambda rows: _ratio(rows.get("a"), rows.get("e"), "throughput"),
        lambda ratio: f"{ratio * 100:.0f} %",
        lambda ratio: ratio >= 0.9,
    )
    at_every_n(
        "(a) CPU per message ≤ 1.1x (e)",
        lambda rows: _ratio(rows.get("a"), rows.get("e"), "cpu_s_per_10k"),
        lambda ratio: f"{ratio:.2f}x",
        lambda ratio: ratio <= 1.1,
    )
    at_every_n(
        "(a) throughput ≥ 2.5x (b)",
        lambda rows: _ratio(rows.get("a"), rows.get("b"), "throughput"),
        lambda ratio: f"{ratio:.2f}x",
        lambda ratio: ratio >= 2.5,
    )
    at_every_n(
        "(a) p99 ≤ (c)'s p99 + 2 ms",
        lambda rows: _p99_gap(rows.get("a"), rows.get("c")),
        lambda gap: f"{gap:+.1f} ms",
        lambda gap: gap <= 2,
    )
    share = of_a(5000, "gc_share")
    add(
        "(a) GC share < 5 %",
        5000,
        "-" if share is None else f"{share * 100:.1f} %",
        None if share is None else share < 0.05,
    )
    restart = of_a(5000, "restart_setup_s")
    add(
        "(a) setup of 5,000 restored devices < 3 s",
        5000,
        "-" if restart is None else f"{restart:.2f} s",
        None if restart is None else restart < 3,
    )
    natural = of_a(20000, "natural_cpu_percent")
    add(
        "(a) at natural rates < 15 % of a core",
        20000,
        "-" if natural is None else f"{natural:.1f} %",
        None if natural is None else natural < 15,
    )
    restart, rss = of_a(20000, "restart_setup_s"), of_a(20000, "rss_mib")
    add(
        "(a) setup after a restart < 12 s",
        20000,
        "-" if restart is None else f"{restart:.2f} s (RSS {_fmt(rss, 0)} MiB)",
        None if restart is None else restart < 12,
    )
    return lines


def _not_measured(results: dict[str, Any]) -> list[str]:
    """List the cells the bench did not run, with the reason, for the "-" in the tables."""
    skipped = results.get("skipped") or []
    if not skipped:
        return []
    lines = ["## Not measured", ""]
    lines += [
        f"- {TITLES.get(cell['contender'], cell['contender'])}, N={cell['n']:,}: {cell['reason']}"
        for cell in sorted(skipped, key=lambda cell: (cell["n"], cell["contender"]))
    ]
    return [*lines, ""]


def _broker_lines(results: dict[str, Any]) -> list[str]:
    """Say which mosquitto settings the rows ran against."""
    settings = results["meta"].get("broker_settings")
    default = (
        f"mosquitto's default max_queued_messages is {MOSQUITTO_DEFAULT_MAX_QUEUED_MESSAGES:,}"
        " (and no byte limit)"
    )
    if settings is None:
        return [f"- Broker: this results file does not record the broker's settings; {default}."]
    shown = ", ".join(f"`{line}`" for line in settings) or "none"
    defaults_row = any(_default_broker(row) for row in results["rows"])
    return [
        "- Broker: the bench's mosquitto runs with the settings README recommends (Broker"
        f" settings): {shown}. {default[0].upper()}{default[1:]}"
        + (
            '; the section "Against mosquitto\'s defaults" runs (a) without these settings.'
            if defaults_row
            else "."
        )
    ]


DEFAULT_BROKER_COLUMNS: list[tuple[str, Callable[[Row], str]]] = [
    ("msg/s", lambda r: _fmt(r.get("throughput"), 0)),
    ("µs/msg", lambda r: _fmt(r.get("us_per_message"), 0)),
    ("p99 ms", lambda r: _fmt(r.get("latency_p99_ms"), 1)),
    ("restart s", lambda r: _fmt(r.get("restart_setup_s"), 2)),
    ("retained after restart", _retained),
    ("last status s", lambda r: _fmt(r.get("restart_retained_s"), 1)),
]


def _default_broker_section(rows: Sequence[Row], table: dict[int, dict[str, Row]]) -> list[str]:
    """Compare (a) against mosquitto's defaults with (a) on the recommended settings, same N."""
    defaults = sorted((row for row in rows if _default_broker(row)), key=lambda row: row["n"])
    if not defaults:
        return []
    lines = [
        "## Against mosquitto's defaults",
        "",
        "(a) once more in a mosquitto without the recommended settings (its default"
        f" max_queued_messages {MOSQUITTO_DEFAULT_MAX_QUEUED_MESSAGES:,}, no byte limit),"
        " beside the (a) row at the same N with the recommended settings. After a restart,"
        " each hub's subscription to its devices' status topics gets one retained status per"
        ' device at once; "retained after restart" counts the ones that reached HA.',
        "",
        "| N | broker | " + " | ".join(name for name, _ in DEFAULT_BROKER_COLUMNS) + " |",
        "|---:|---|" + "---:|" * len(DEFAULT_BROKER_COLUMNS),
    ]
    for default in defaults:
        n = default["n"]
        pair = [
            ("recommended settings", table.get(n, {}).get("a")),
            ("mosquitto's defaults", default),
        ]
        for broker, row in pair:
            cells = " | ".join(column(row or {}) for _, column in DEFAULT_BROKER_COLUMNS)
            lines.append(f"| {n:,} | {broker} | {cells} |")
    return [*lines, ""]


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
        points = [(n, rows[key]) for n, rows in table.items() if "throughput" in rows.get(key, {})]
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
    figure.legend(handles, labels, loc="lower center", ncol=min(3, len(labels)), fontsize=8)
    figure.tight_layout(rect=(0, 0.1, 1, 1))  # room for the legend below the plots
    figure.savefig(path, dpi=110)
    plt.close(figure)


def render(results: dict[str, Any], plot_name: str) -> str:
    """Return BENCHMARKS.md's text."""
    meta = results["meta"]
    table = _by_n(results["rows"], results.get("skipped", []))
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
        *_broker_lines(results),
    ]
    lines += [f"- Note: {note}" for note in meta.get("notes", [])]
    if meta.get("quick"):
        lines += ["", "**Quick smoke run: small sizes, not the benchmark's figures.**"]
    lines += ["", "![Throughput and per-message cost against N](" + plot_name + ")", ""]
    lines += METHOD
    lines += _not_measured(results)
    lines += ["## Raw figures", "", *_table(table, RAW_COLUMNS), ""]
    lines += [f"- {name}: {meaning}" for name, meaning, _ in RAW_COLUMNS if meaning]
    lines += ["", "## Run conditions", "", *_table(table, CONDITION_COLUMNS), ""]
    lines += [f"- {name}: {meaning}" for name, meaning, _ in CONDITION_COLUMNS if meaning]
    lines += ["", "## Ratios", "", *_ratio_table(table), ""]
    lines += ["## Targets", "", *_targets(table), ""]
    lines += _default_broker_section(results["rows"], table)
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
        (_label(row), name, row[name])
        for row in results["rows"]
        for name in ("flat_wrong_values", "latency_missing", "latency_wrong")
        if row.get(name)
    ]
    counters = [(_label(row), row["counters"]) for row in results["rows"] if row.get("counters")]
    if problems or results.get("failures"):
        lines += ["## Problems in this run", ""]
        lines += [f"- {label}: {name} = {value}" for label, name, value in problems]
        lines += [
            f"- {_label(failure)} failed: {failure['error']}"
            for failure in results.get("failures", [])
        ]
        lines.append("")
    if counters:
        lines += ["## Message counters", ""]
        lines += [f"- {label}: {value}" for label, value in counters]
        lines.append("")
    return "\n".join(lines)


METHOD = [
    "## Method",
    "",
    "- Workload (tools/bench/workload.py): N devices, AutoCore, SpotFi and Janus interleaved"
    " by the mix. A round is, per AutoCore board, its relay 0 status and a telemetry with four"
    " changing values; per SpotFi router, its metrics. Every value but the constants"
    " changes from one round to the next. A warm-up round with the statuses (retained, as"
    " devices send them) creates every entity first. A Janus server sends only that status:"
    " Janus publishes it when it connects, not periodically, and MQTT Fleet answers a live"
    " status that says online by asking the server's admin API (nobody answers here).",
    "- Each contender at each N runs in a fresh mosquitto and a fresh Home Assistant"
    " (pytest-homeassistant-custom-component's harness, registries and restore state on"
    " disk), with the real MQTT integration. (a) spreads its devices over hubs of at most"
    " 1,000 devices per family-mix shard: one hub per family per 1,000 devices, each on its"
    " own base topics, as README advises for fleets over HA's 10,000 enabled entities per"
    " hub; (c), (d) and (e) listen to the same topics. (b) has the same entities as (a), one"
    " retained discovery config each, with `value_template`, availability from the device's"
    " status topic and `expire_after` equal to (a)'s offline timeout (so they behave like"
    " (a)'s); its single MQTT config entry cannot hold more than HA's 10,000 enabled"
    " entities, so it does not run where it would need more. (d) writes the same states with"
    " `hass.states.async_set`, without entities. (e), the entity floor, has the same"
    " entities as (a), written as the simplest possible HA entities: a topic -> entity dict,"
    " orjson, `_attr_native_value` and `async_write_ha_state`, none of MQTT Fleet's features.",
    "- Every measured phase starts after a full `gc.collect()`, so no phase pays for a"
    " full collection that an earlier phase's garbage made due. MQTT Fleet is installed"
    " in every contender's Home Assistant, so HA's MQTT integration discovery (a config flow"
    " per new payload on the manifest's status topics) runs for all five alike.",
    "- Throughput: whole rounds published flat out; from the first send (publisher's"
    " CLOCK_MONOTONIC) to the state write of the last message (for (c), its arrival). CPU:"
    " getrusage of the HA process over the same run. GC: gc.callbacks over the same run.",
    "- Latency: whole rounds at the fixed rate; every message that changes a value is matched"
    " to the state_changed event of that value (in order per entity, checked by value); (c):"
    " each arrival in order. Includes the publisher's and the broker's TCP path.",
    "- Memory: tracemalloc over the contender's setup and the warm-up round, divided by N, so"
    " it includes the contender's fixed setup cost (significant at small N); up to N=5,000"
    " only, since tracemalloc slows a setup 2-3x. RSS: the"
    " resident memory of the HA process after the warm-up round, in MiB: everything the"
    " process holds, Python and Home Assistant included. Every row runs in the same"
    " process, so memory an earlier row freed but the allocator kept can count too.",
    "- Restart: a second Home Assistant on the same config directory, set up the way HA's"
    " bootstrap does it (entries while HA is starting, then *started*); (a) every hub's"
    " setup until every restored entity is added, with the GC seconds and the longest"
    " event-loop stall inside it, how many of the devices' retained statuses then reached"
    " HA (received / expected) and how long after the start of the setup the last one came;"
    " (b) the MQTT entry's setup until every retained discovery config made its entity;"
    " (e) adding its entities again (they restore nothing and have no devices).",
    "- Natural rates (at the largest N unless the command says otherwise): every device"
    " sends its status and telemetry (metrics) every 30 s, staggered evenly; HA CPU time"
    " over the window as a share of one core, and the GC share of the window.",
    "",
]


def _profile_table(rows: Sequence[Row]) -> list[str]:
    """Where each profiled contender's flat-out time went (--profile), by N."""
    profiled = sorted(
        (row for row in rows if row.get("profile_shares")),
        key=lambda row: (row["contender"], row["n"], _default_broker(row)),
    )
    if not profiled:
        return []
    parts = list(profiled[0]["profile_shares"])
    lines = [
        "## Where the time goes (cProfile, one extra flat-out run)",
        "",
        "| part | " + " | ".join(_label(r) for r in profiled) + " |",
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
