"""A private mosquitto on a free loopback port, and the settings a fleet's broker needs.

Shared by the real-broker tests, the bench, tools/broker_settings.py and scripts/demo. Callers
decide how a failure is reported (a test fails, the benchmark raises); here a start that did
not work returns False.

The settings a fleet's broker needs live here once, in RECOMMENDED_SETTINGS and
persistence_settings(); README.md's "Broker settings" section documents them with the numbers
tools/broker_settings.py measured. `python -m tools.mosquitto [--persistence-dir DIR]` prints
them, for scripts/demo's mosquitto.conf.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
import pwd
import shutil
import signal
import socket
import subprocess
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

HOST = "127.0.0.1"
STOP_TIMEOUT = 10.0

# What a broker serving a fleet needs; README.md, section "Broker settings", explains each line
# with the numbers tools/broker_settings.py measured. Persistence is apart (persistence_settings)
# because it needs a directory. The tests and the bench use these too, so they run against the
# broker the README recommends.
RECOMMENDED_SETTINGS: tuple[str, ...] = (
    # mosquitto's default of 1000 queued messages per client drops most of a subscriber's
    # retained burst (HA subscribing to <base>/+/status after a restart gets 1,020 of them).
    # 0 lifts the count limit; the byte limit below still bounds a stuck client's queue.
    "max_queued_messages 0",
    # 64 MiB of queued payload per client: a burst of ~430,000 retained 155-byte statuses, or
    # ~220 MiB of broker memory for a client that stopped reading (~3.5x its payload).
    "max_queued_bytes 67108864",
    # max_inflight_messages stays at its default (20): 100 or 0 delivered no faster.
)

# No tuning at all: mosquitto's own max_queued_messages 1000, max_inflight_messages 20, no
# byte limits. For tests that measure what an untuned broker does, on purpose.
DEFAULT_SETTINGS: tuple[str, ...] = ()

AUTOSAVE_INTERVAL = 60  # seconds; mosquitto's default is 1800 (a crash loses 30 minutes)


def persistence_settings(directory: Path, autosave_interval: int = AUTOSAVE_INTERVAL) -> list[str]:
    """Return the lines that keep retained messages across a broker restart, in `directory`."""
    return [
        "persistence true",
        f"persistence_location {directory}/",
        f"autosave_interval {autosave_interval}",
    ]


def find_mosquitto() -> str | None:
    """Return the mosquitto executable (apt installs it in /usr/sbin), None if missing."""
    path = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    return path if os.access(path, os.X_OK) else None


def free_port() -> int:
    """Return a loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def accepts_connections(port: int) -> bool:
    """Tell whether something listens on the loopback port."""
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Stop a child we started: `sig` first (after SIGCONT, in case it was frozen), then kill."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGCONT)
        proc.send_signal(sig)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def tail(path: Path, lines: int = 30) -> str:
    """Return the end of a log file, for failure messages."""
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def option(line: str) -> str:
    """Return the option a configuration line sets (its first word)."""
    return line.split(maxsplit=1)[0] if line.strip() else ""


class Mosquitto:
    """One mosquitto process: its port, configuration and log live in `workdir`.

    `settings` are configuration lines added after the base ones (anonymous access, no
    persistence, TCP_NODELAY as `nodelay` says); a line replaces the base line of the same
    option, so `persistence_settings(dir)` turns persistence on (launch() creates `dir`).
    By default they are RECOMMENDED_SETTINGS, the broker README.md recommends;
    DEFAULT_SETTINGS leaves mosquitto's own defaults (1000 queued messages per client, 20 in
    flight), for tests that want them:

        Mosquitto(exe, tmp, nodelay=True, settings=DEFAULT_SETTINGS)
        Mosquitto(exe, tmp, nodelay=True,
                  settings=[*RECOMMENDED_SETTINGS, *persistence_settings(tmp / "db")])

    A subclass may still override settings() to write every line itself.
    """

    def __init__(
        self,
        executable: str,
        workdir: Path,
        *,
        nodelay: bool,
        settings: Sequence[str] = RECOMMENDED_SETTINGS,
    ) -> None:
        """Nothing runs before start()."""
        self.executable = executable
        self.conf = workdir / "mosquitto.conf"
        self.log = workdir / "mosquitto.log"
        self.nodelay = nodelay
        self.extra_settings = tuple(settings)
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def try_start(self, timeout: float) -> bool:
        """Start on a free port, retrying: the port can be taken before mosquitto binds it."""
        for _attempt in range(3):
            self.port = free_port()
            self.launch()
            if self.wait_listening(timeout):
                return True
            self.stop()
        return False

    def settings(self) -> list[str]:
        """Return the configuration lines after the listener; a subclass may change them."""
        base = [
            "allow_anonymous true",
            "persistence false",
            f"set_tcp_nodelay {'true' if self.nodelay else 'false'}",
        ]
        replaced = {option(line) for line in self.extra_settings}
        return [line for line in base if option(line) not in replaced] + list(self.extra_settings)

    def launch(self) -> None:
        """Start mosquitto on the current port (also to restart it on the same port)."""
        user = pwd.getpwuid(os.geteuid()).pw_name  # as root, mosquitto would switch users
        lines = [
            f"listener {self.port} {HOST}",
            *self.settings(),
            f"user {user}",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
        for line in lines:  # mosquitto does not create its persistence directory
            if option(line) == "persistence_location":
                Path(line.split(maxsplit=1)[1]).mkdir(parents=True, exist_ok=True)
        self.conf.write_text("\n".join(lines) + "\n")
        with self.log.open("ab") as output:
            self.proc = subprocess.Popen(  # noqa: S603 - our own fixed command line
                [self.executable, "-c", str(self.conf)],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def running(self) -> bool:
        """Tell whether the process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def listening(self) -> bool:
        """Tell whether the process is alive and accepts connections."""
        return self.running() and accepts_connections(self.port)

    def wait_listening(self, timeout: float) -> bool:
        """Block until mosquitto accepts connections; False if it died or took too long."""
        deadline = time.monotonic() + timeout
        while self.running() and time.monotonic() < deadline:
            if accepts_connections(self.port):
                return True
            time.sleep(0.02)
        return False

    def stop(self) -> None:
        """Stop mosquitto (this blocks)."""
        if self.proc is not None:
            stop_process(self.proc)


def main() -> None:
    """Print the recommended lines, for a mosquitto.conf a shell script writes (scripts/demo)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument(
        "--persistence-dir", type=Path, help="also keep retained messages in this directory"
    )
    args = parser.parse_args()
    lines = list(RECOMMENDED_SETTINGS)
    if args.persistence_dir is not None:
        lines += persistence_settings(args.persistence_dir)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
