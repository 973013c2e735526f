"""Run the benchmark: every contender at every N, then write BENCHMARKS.md and the plot.

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

from . import protocol_bench, report
from .contenders import CONTENDERS
from .harness import REPO_ROOT
from .publisher import parse_mix
from .run import Options, run_one

if TYPE_CHECKING:
    from collections.abc import Sequence

FULL_N = [10, 100, 1000, 5000]


@dataclass(frozen=True)
class Sizes:
    """Defaults for one kind of run; the command line overrides each."""

    n: list[int]
    messages: int
    latency_seconds: float
    natural_seconds: float


FULL = Sizes(n=FULL_N, messages=20_000, latency_seconds=10.0, natural_seconds=60.0)
QUICK = Sizes(n=[10], messages=2000, latency_seconds=2.0, natural_seconds=5.0)


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
    parser.add_argument("--n", type=_numbers, help="device counts (default 10,100,1000,5000)")
    parser.add_argument("--contenders", default="abcd", help="any of a, b, c, d (default abcd)")
    parser.add_argument("--messages", type=int, help="flat out: at least this many (20000)")
    parser.add_argument("--mix", type=parse_mix, default=(6, 3, 1), help="AutoCore:SpotFi:Janus")
    parser.add_argument("--rate", type=float, default=1000.0, help="latency phase msg/s (1000)")
    parser.add_argument("--latency-seconds", type=float, help="latency phase length (10)")
    parser.add_argument(
        "--natural-n", type=_numbers, help="N for natural rates (default: the largest N)"
    )
    parser.add_argument("--natural-seconds", type=float, help="natural-rate window (60)")
    parser.add_argument("--no-memory", action="store_true", help="skip tracemalloc")
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


def _meta(options: Options, args: argparse.Namespace, n_list: Sequence[int]) -> dict[str, Any]:
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
        "contenders": {key: CONTENDERS[key].title for key in args.contenders},
        "options": {
            key: sorted(value) if isinstance(value, frozenset) else value
            for key, value in dataclasses.asdict(options).items()
            if key != "profile_dir"
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run, record after every row, and write the report at the end."""
    args = build_parser().parse_args(argv)
    unknown = set(args.contenders) - set(CONTENDERS)
    if unknown:
        raise SystemExit(f"unknown contenders: {''.join(sorted(unknown))}")
    sizes = QUICK if args.quick else FULL
    n_list: list[int] = args.n or sizes.n
    options = Options(
        messages=args.messages or sizes.messages,
        rate=args.rate,
        latency_seconds=args.latency_seconds or sizes.latency_seconds,
        natural_n=frozenset(args.natural_n or [max(n_list)]),
        natural_seconds=args.natural_seconds or sizes.natural_seconds,
        memory=not args.no_memory,
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
    results: dict[str, Any] = {"meta": _meta(options, args, n_list), "rows": [], "failures": []}
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
            for key in args.contenders:
                print(f"({key}) {CONTENDERS[key].title}, N={n} ...", flush=True)
                started = time.monotonic()
                workdir = root / f"{key}-{n}"
                shutil.rmtree(workdir, ignore_errors=True)
                (workdir / "config").mkdir(parents=True)
                try:
                    row = asyncio.run(run_one(key, n, options, workdir))
                except Exception as err:  # one failed row must not lose the rest
                    traceback.print_exc()
                    results["failures"].append({"contender": key, "n": n, "error": repr(err)})
                else:
                    row["wall_s"] = time.monotonic() - started
                    results["rows"].append(row)
                    print("  " + report.summary(row), flush=True)
                results["meta"]["load_after"] = os.getloadavg()
                args.results.write_text(json.dumps(results, indent=1) + "\n")
    report.write(results, args.output, args.plot)
    print(f"wrote {args.results}, {args.output} and {args.plot}")
    return 1 if results["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
