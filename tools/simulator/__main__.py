"""Device-side simulator for the MQTT Fleet integration.

Speaks the AutoCore, Janus, SpotFi and container-log wire contracts (docs/protocols.md,
one section per family) from the device's side, written independently of the
integration's parser, so the demo, the real-broker tests and the benchmarks have
realistic devices to talk to.

Usage, from the repository root (or as a path to the package directory,
`python tools/simulator ...`, from anywhere):
    python -m tools.simulator --host 127.0.0.1 --port 1883 [--base autocore]
        [--layout-a N] [--layout-b N] [--relays-a 4] [--channels-b 16]
        [--status-interval 30] [--telemetry-interval 30]
        [--interaction-interval 20]
        [--janus N] [--janus-base janus] [--janus-secret janusoverlord]
        [--janus-wrong-path N] [--janus-reply-delay S] [--janus-down-seconds 5]
        [--spotfi N] [--spotfi-base spotfi/router] [--spotfi-garbage]
        [--spotfi-reply-delay S] [--spotfi-down-seconds 5] [--metrics-interval 30]
        [--reply-jitter S]
        [--logs] [--logs-base container-manager/logs] [--log-rate 2]
        [--log-batching | --no-log-batching] [--log-batch-interval 1]
        [--log-batch-max 50] [--log-burst N]
        [--seed 1] [--log-level info]

When every device is connected, subscribed and has published its initial
state, one line goes to stdout:

    READY {"layout_a": ["ESP32_001", ...], "layout_b": ["<uuid>", ...],
           "janus": ["janus-01", ...], "spotfi": ["rtr-<8 hex>", ...],
           "logs": ["1:web", "1:api", "2:db", "2:redis", "unknown:watchtower", "other",
                    "system", "manager"]}

(on one line; every key is always there, with [] for a family of 0 devices; "logs"
names the container manager's log sources by their topic levels, [] without --logs).

--logs adds a container manager streaming its containers' and its own logs through
MqttLogBackend, batched by default. With --log-burst N it first publishes N logs
numbered "burst i of N: ..." as fast as it can and, once the broker acknowledged every
one of them, prints

    BURST_DONE {"published": N, "messages": M}

where M counts the MQTT messages (batches or single logs) that carried them.

Outages, for tests that need one device to vanish while the rest carry on:
    SIGUSR1  the first still-connected Janus server loses its connection without
             DISCONNECT (the broker publishes its Last Will within about a second,
             once paho's network loop has stopped) and reconnects after
             --janus-down-seconds, announcing itself online again.
    SIGUSR2  the same for the first still-connected SpotFi router
             (--spotfi-down-seconds).
A ubus `system reboot` RPC takes its router away the same way, one second after
the reply, and it comes back with its uptime reset and its terminals gone.

Slow peers, for tests of timeouts and late replies: a Janus server answers admin
requests --janus-reply-delay seconds late, a router its RPC requests
--spotfi-reply-delay seconds late, and each such reply waits a further random
0..--reply-jitter seconds, so replies overtake each other.

It runs until SIGINT or SIGTERM and then exits with code 0; Janus servers and
SpotFi routers vanish like a power cut, so their Last Wills fire, and the container
manager publishes its pending batch first. Logs go to stderr.

To add a device family, subclass ``Family`` (``core``) in a module of its own and add it
to ``build_families``.
"""

from __future__ import annotations

import argparse
from functools import partial
import json
import logging
import math
from pathlib import Path
import random
import signal
import sys
import time
from typing import TYPE_CHECKING

if not __package__:
    # Run as a path (`python tools/simulator`): Python put this directory first on sys.path,
    # where its modules would shadow top-level ones. Import the package from the repository
    # root instead, as `python -m tools.simulator` does.
    _package_dir = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _package_dir]
    sys.path.insert(0, str(_package_dir.parents[1]))

from tools.simulator.autocore import LayoutAFamily, LayoutBFamily
from tools.simulator.container_logs import ContainerLogFamily
from tools.simulator.core import (
    LOG,
    STARTUP_TIMEOUT,
    Family,
    Job,
    Runner,
    Settings,
    StartupError,
    wait_published,
)
from tools.simulator.janus import JanusFamily
from tools.simulator.spotfi import SpotFiFamily

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType


def build_families(settings: Settings, runner: Runner, seed: int) -> list[Family]:
    """Every family, each with its own RNG stream so adding one does not reshuffle another."""
    rng = random.Random(seed)
    return [
        LayoutAFamily(settings, runner, random.Random(rng.getrandbits(64))),
        LayoutBFamily(settings, runner, random.Random(rng.getrandbits(64))),
        JanusFamily(settings, runner, random.Random(rng.getrandbits(64))),
        SpotFiFamily(settings, runner, random.Random(rng.getrandbits(64))),
        ContainerLogFamily(settings, runner, random.Random(rng.getrandbits(64))),
    ]


def build_parser() -> argparse.ArgumentParser:
    """Describe the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--base", default="autocore", help="topic prefix, may contain '/'")
    parser.add_argument("--layout-a", type=int, default=2, help="MQTT Monitor contract boards")
    parser.add_argument("--layout-b", type=int, default=2, help="firmware v2 boards")
    parser.add_argument("--relays-a", type=int, default=4)
    parser.add_argument("--channels-b", type=int, default=16)
    parser.add_argument("--status-interval", type=float, default=30.0)
    parser.add_argument("--telemetry-interval", type=float, default=30.0)
    parser.add_argument("--interaction-interval", type=float, default=20.0, help="0 disables")
    janus = parser.add_argument_group("Janus gateways (SIGUSR1 cuts one off for a while)")
    janus.add_argument("--janus", type=int, default=0, help="servers janus-01, janus-02, ...")
    janus.add_argument("--janus-base", default="janus", help="topic prefix, may contain '/'")
    janus.add_argument("--janus-secret", default="janusoverlord", help="admin_secret accepted")
    janus.add_argument(
        "--janus-wrong-path",
        type=int,
        default=0,
        metavar="N",
        help="the first N servers have the admin topics wired as API topics (error 457)",
    )
    janus.add_argument("--janus-reply-delay", type=float, default=0.0, metavar="S")
    janus.add_argument("--janus-down-seconds", type=float, default=5.0, metavar="S")
    spotfi = parser.add_argument_group("SpotFi routers (SIGUSR2 cuts one off for a while)")
    spotfi.add_argument("--spotfi", type=int, default=0, help="routers rtr-<8 hex>")
    spotfi.add_argument("--spotfi-base", default="spotfi/router", help="topic prefix")
    spotfi.add_argument(
        "--spotfi-garbage", action="store_true", help='every 5th heartbeat: cpuLoad "%%!f(<nil>)"'
    )
    spotfi.add_argument("--spotfi-reply-delay", type=float, default=0.0, metavar="S")
    spotfi.add_argument("--spotfi-down-seconds", type=float, default=5.0, metavar="S")
    spotfi.add_argument("--metrics-interval", type=float, default=30.0, metavar="S")
    logs = parser.add_argument_group("container-manager logs (MqttLogBackend)")
    logs.add_argument("--logs", action="store_true", help="run a container manager")
    logs.add_argument("--logs-base", default="container-manager/logs", help="topic prefix")
    logs.add_argument(
        "--log-rate",
        type=float,
        default=2.0,
        metavar="R",
        help="logs per second over all sources; 0: only the --log-burst",
    )
    logs.add_argument(
        "--log-batching",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="publish `{topic}/batch` messages, as the container manager does by default",
    )
    logs.add_argument("--log-batch-interval", type=float, default=1.0, metavar="S")
    logs.add_argument("--log-batch-max", type=int, default=50, metavar="N")
    logs.add_argument(
        "--log-burst",
        type=int,
        default=0,
        metavar="N",
        help="publish N numbered logs at once after READY, then print BURST_DONE",
    )
    parser.add_argument(
        "--reply-jitter",
        type=float,
        default=0.0,
        metavar="S",
        help="each Janus admin and SpotFi RPC reply waits a further random 0..S seconds",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--log-level", default="info", choices=("debug", "info", "warning", "error")
    )
    return parser


def parse_args(argv: Sequence[str] | None) -> tuple[Settings, int, str]:
    """Read settings, seed and log level from the command line."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for option in ("base", "janus_base", "spotfi_base", "logs_base"):
        base: str = getattr(args, option)
        if not base or base.startswith("/") or base.endswith("/") or any(c in base for c in "+#\0"):
            name = "--" + option.replace("_", "-")
            parser.error(f"{name} must be non-empty, without wildcards or a leading/trailing '/'")
    if not 0 < args.port < 65536:
        parser.error("--port must be 1..65535")
    if min(args.layout_a, args.layout_b) < 0 or min(args.relays_a, args.channels_b) < 1:
        parser.error("board counts must be >= 0, relays and channels >= 1")
    if min(args.janus, args.spotfi) < 0 or not 0 <= args.janus_wrong_path <= args.janus:
        parser.error("--janus and --spotfi must be >= 0, --janus-wrong-path 0..--janus")
    intervals = (args.status_interval, args.telemetry_interval, args.interaction_interval)
    if not all(math.isfinite(value) for value in intervals) or min(intervals[:2]) <= 0:
        parser.error("intervals must be finite; status and telemetry intervals > 0")
    if args.interaction_interval < 0:
        parser.error("--interaction-interval must be >= 0")
    if not math.isfinite(args.metrics_interval) or args.metrics_interval <= 0:
        parser.error("--metrics-interval must be finite and > 0")
    delays = (
        args.janus_reply_delay,
        args.janus_down_seconds,
        args.spotfi_reply_delay,
        args.spotfi_down_seconds,
        args.reply_jitter,
    )
    if not all(math.isfinite(value) and value >= 0 for value in delays):
        parser.error("delays and down times must be finite and >= 0")
    if not math.isfinite(args.log_rate) or args.log_rate < 0 or args.log_burst < 0:
        parser.error("--log-rate must be finite and >= 0, --log-burst >= 0")
    if not math.isfinite(args.log_batch_interval) or args.log_batch_interval <= 0:
        parser.error("--log-batch-interval must be finite and > 0")
    if args.log_batch_max < 1:
        parser.error("--log-batch-max must be >= 1")
    settings = Settings(
        host=args.host,
        port=args.port,
        base=args.base,
        layout_a=args.layout_a,
        layout_b=args.layout_b,
        relays_a=args.relays_a,
        channels_b=args.channels_b,
        status_interval=args.status_interval,
        telemetry_interval=args.telemetry_interval,
        interaction_interval=args.interaction_interval,
        janus=args.janus,
        janus_base=args.janus_base,
        janus_secret=args.janus_secret,
        janus_wrong_path=args.janus_wrong_path,
        janus_reply_delay=args.janus_reply_delay,
        spotfi_reply_delay=args.spotfi_reply_delay,
        reply_jitter=args.reply_jitter,
        janus_down_seconds=args.janus_down_seconds,
        spotfi=args.spotfi,
        spotfi_base=args.spotfi_base,
        spotfi_garbage=args.spotfi_garbage,
        spotfi_down_seconds=args.spotfi_down_seconds,
        metrics_interval=args.metrics_interval,
        logs=args.logs,
        logs_base=args.logs_base,
        log_rate=args.log_rate,
        log_batching=args.log_batching,
        log_batch_interval=args.log_batch_interval,
        log_batch_max=args.log_batch_max,
        log_burst=args.log_burst,
    )
    return settings, args.seed, args.log_level


def start(families: Sequence[Family]) -> None:
    """Connect everything (in parallel), then publish every initial state and wait for it."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    links = [link for family in families for link in family.links()]
    for link in links:
        link.open(deadline)
    for link in links:
        link.wait_subscribed(deadline)
    infos = [info for family in families for info in family.start()]
    if not wait_published(infos, deadline):
        raise StartupError("initial state was not published in time")


def post_on_signal(runner: Runner, job: Job, signum: int, frame: FrameType | None) -> None:
    """Hand a signal's job to the runner thread; SimpleQueue.put is safe in a handler."""
    runner.post(job)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator until SIGINT/SIGTERM; 0 on a clean stop, 1 if startup failed."""
    settings, seed, log_level = parse_args(argv)
    logging.basicConfig(
        level=log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    runner = Runner()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda _signum, _frame: runner.stop())
    families = build_families(settings, runner, seed)
    for family in families:  # all of them: a signal for an empty family must not kill us
        for signum, job in family.signals().items():
            signal.signal(signum, partial(post_on_signal, runner, job))
    active = [family for family in families if family.ids()]
    try:
        start(active)
    except StartupError as err:
        if runner.stopping:
            return 0  # told to stop while still starting: not a failure
        LOG.error("%s", err)
        return 1
    print("READY " + json.dumps({family.key: family.ids() for family in families}), flush=True)
    try:
        runner.run()
    finally:
        LOG.info("stopping")
        for family in active:
            family.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
