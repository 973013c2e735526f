"""Run the benchmark: every contender at every N, then write BENCHMARKS.md and the plot.

Every row runs against the mosquitto settings README recommends; the rows at
--default-broker-n run (a) once more against mosquitto's own defaults, for comparison.

Usage: python -m tools.bench [options]   (scripts/bench sets up the venv and runs this)
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
import json
import logging
import os
from pathlib import Path
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from typing import TYPE_CHECKING, Any

from homeassistant.const import __version__ as HA_VERSION

from tools.mosquitto import RECOMMENDED_SETTINGS

from . import protocol_bench, report
from .contenders import CONTENDERS, unsupported
from .harness import REPO_ROOT
from .publisher import parse_mix
from .run import Options, run_one
from .workload import Workload

if TYPE_CHECKING:
    from collections.abc import Sequence

FULL_N = [10, 100, 1000, 5000, 20000]


@dataclass(frozen=True)
class Sizes:
    """Defaults for one kind of run; the command line overrides each."""

    n: list[int]
    messages: int
    latency_seconds: float
    natural_seconds: float
    default_broker_n: list[int]  # (a) once more against mosquitto's defaults at these N


FULL = Sizes(
    n=FULL_N, messages=20_000, latency_seconds=10.0, natural_seconds=60.0, default_broker_n=[5000]
)
QUICK = Sizes(n=[10], messages=2000, latency_seconds=2.0, natural_seconds=5.0, default_broker_n=[])


def _numbers(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def build_parser() -> argparse.ArgumentParser:
    """Describe the command line."""
    parser = argparse.ArgumentParser(
        prog="scripts/bench", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: N=10, 2,000 messages, 2 s latency, 5 s natural rates at N=10",
    )
    parser.add_argument("--n", type=_numbers, help="device counts (default 10,100,1000,5000,20000)")
    parser.add_argument(
        "--contenders", default="abcde", help="any of a, b, c, d, e (default abcde)"
    )
    parser.add_argument("--messages", type=int, help="flat out: at least this many (20000)")
    parser.add_argument("--mix", type=parse_mix, default=(6, 3, 1), help="AutoCore:SpotFi:Janus")
    parser.add_argument("--rate", type=float, default=1000.0, help="latency phase msg/s (1000)")
    parser.add_argument("--latency-seconds", type=float, help="latency phase length (10)")
    parser.add_argument(
        "--natural-n", type=_numbers, help="N for natural rates (default: the largest N)"
    )
    parser.add_argument("--natural-seconds", type=float, help="natural-rate window (60)")
    parser.add_argument(
        "--default-broker-n",
        type=_numbers,
        help="N (also in --n) at which (a) runs once more against mosquitto's default settings"
        " (default 5000; none with --quick)",
    )
    parser.add_argument("--no-memory", action="store_true", help="skip tracemalloc")
    parser.add_argument(
        "--memory-max-n",
        type=int,
        default=5000,
        help="tracemalloc only up to this N (it slows setup 2-3x); RSS at every N (5000)",
    )
    parser.add_argument("--no-restart", action="store_true", help="skip the restart setup time")
    parser.add_argument("--nodelay", action="store_true", help="TCP_NODELAY (default TCP)")
    parser.add_argument("--profile", type=Path, help="cProfile an extra flat run into this dir")
    parser.add_argument("--profile-contenders", default="a", help="which contenders to profile")
    parser.add_argument(
        "--results", type=Path, default=REPO_ROOT / "benchmarks.json", help="raw results JSON"
    )
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "BENCHMARKS.md")
    parser.add_argument("--plot", type=Path, default=REPO_ROOT / "benchmarks.png")
    parser.add_argument("--workdir", type=Path, help="keep broker/HA files here (default: temp)")
    return parser


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git from PATH
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except OSError, subprocess.CalledProcessError:
        return "unknown"


def _meta(
    options: Options,
    args: argparse.Namespace,
    n_list: Sequence[int],
    default_broker_n: Sequence[int],
) -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _git_commit(),
        "home_assistant": HA_VERSION,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg(),
        "quick": args.quick,
        "command": " ".join(["scripts/bench", *(sys.argv[1:])]),
        "n": list(n_list),
        "broker_settings": list(RECOMMENDED_SETTINGS),
        "default_broker_n": list(default_broker_n),
        "contenders": {key: CONTENDERS[key].title for key in args.contenders},
        "options": {
            key: sorted(value) if isinstance(value, frozenset) else value
            for key, value in dataclasses.asdict(options).items()
            if key != "profile_dir"
        },
    }


def _default_broker_n(args: argparse.Namespace, sizes: Sizes, n_list: Sequence[int]) -> list[int]:
    """Return the N at which (a) runs against mosquitto's defaults.

    Only N that also run normally, and only with (a): the report compares the two rows.
    """
    if args.default_broker_n is None:
        return [n for n in sizes.default_broker_n if n in n_list] if "a" in args.contenders else []
    if outside := sorted(set(args.default_broker_n) - set(n_list)):
        raise SystemExit(f"--default-broker-n must be among --n: {outside} are not")
    if args.default_broker_n and "a" not in args.contenders:
        raise SystemExit("--default-broker-n needs contender a")
    return list(args.default_broker_n)


def _run_row(
    results: dict[str, Any],
    key: str,
    n: int,
    options: Options,
    workdir: Path,
    *,
    default_broker: bool = False,
) -> None:
    """Run one row in a fresh `workdir`; record it, or its failure, in `results`."""
    started = time.monotonic()
    shutil.rmtree(workdir, ignore_errors=True)
    (workdir / "config").mkdir(parents=True)
    try:
        row = asyncio.run(run_one(key, n, options, workdir, default_broker=default_broker))
    except Exception as err:  # one failed row must not lose the rest
        traceback.print_exc()
        failure = {"contender": key, "n": n, "error": repr(err)}
        if default_broker:
            failure["broker"] = "default"
        results["failures"].append(failure)
    else:
        row["wall_s"] = time.monotonic() - started
        results["rows"].append(row)
        print("  " + report.summary(row), flush=True)
    results["meta"]["load_after"] = os.getloadavg()


def main(argv: Sequence[str] | None = None) -> int:
    """Run, record after every row, and write the report at the end."""
    args = build_parser().parse_args(argv)
    unknown = set(args.contenders) - set(CONTENDERS)
    if unknown:
        raise SystemExit(f"unknown contenders: {''.join(sorted(unknown))}")
    sizes = QUICK if args.quick else FULL
    n_list: list[int] = args.n or sizes.n
    default_broker_n = _default_broker_n(args, sizes, n_list)
    options = Options(
        messages=args.messages or sizes.messages,
        rate=args.rate,
        latency_seconds=args.latency_seconds or sizes.latency_seconds,
        natural_n=frozenset(args.natural_n or [max(n_list)]),
        natural_seconds=args.natural_seconds or sizes.natural_seconds,
        memory=not args.no_memory,
        memory_max_n=args.memory_max_n,
        restart=not args.no_restart,
        nodelay=args.nodelay,
        mix=args.mix,
        profile_dir=args.profile,
        profile_contenders=frozenset(args.profile_contenders),
    )
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # A custom integration, zlib, and HA's MQTT discovery forwarding platforms without
    # awaiting (HA's own report about itself, with a stack, once per platform).
    for noisy in ("homeassistant.loader", "aiohttp_fast_zlib", "homeassistant.helpers.frame"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    results: dict[str, Any] = {
        "meta": _meta(options, args, n_list, default_broker_n),
        "rows": [],
        "failures": [],
        "skipped": [],
    }
    print("protocol/ parse rate against orjson.loads ...", flush=True)
    results["protocol"] = (
        protocol_bench.measure(devices=200, seconds=0.05)
        if args.quick
        else protocol_bench.measure(devices=1000, seconds=0.5)
    )
    for row in results["protocol"]:
        print(f"  {row['kind']:<18} {row['ratio']:.2f} of orjson.loads", flush=True)
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mqtt-fleet-bench-") as temp:
        root = args.workdir or Path(temp)
        for n in n_list:
            workload = Workload(n, options.mix)
            for key in args.contenders:
                print(f"({key}) {CONTENDERS[key].title}, N={n} ...", flush=True)
                if (reason := unsupported(key, workload)) is not None:
                    results["skipped"].append({"contender": key, "n": n, "reason": reason})
                    print(f"  not run: {reason}", flush=True)
                else:
                    _run_row(results, key, n, options, root / f"{key}-{n}")
                args.results.write_text(json.dumps(results, indent=1) + "\n")
        for n in default_broker_n:
            print(f"(a) {CONTENDERS['a'].title}, N={n}, mosquitto's defaults ...", flush=True)
            _run_row(results, "a", n, options, root / f"a-{n}-default-broker", default_broker=True)
            args.results.write_text(json.dumps(results, indent=1) + "\n")
    report.write(results, args.output, args.plot)
    print(f"wrote {args.results}, {args.output} and {args.plot}")
    return 1 if results["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
