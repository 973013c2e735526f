"""A private mosquitto on a free loopback port: shared by the real-broker tests and the bench.

Callers decide how a failure is reported (a test fails, the benchmark raises); here a start
that did not work returns False.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

HOST = "127.0.0.1"
STOP_TIMEOUT = 10.0


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


class Mosquitto:
    """One mosquitto process: its port, configuration and log live in `workdir`."""

    def __init__(self, executable: str, workdir: Path, *, nodelay: bool) -> None:
        """Nothing runs before start()."""
        self.executable = executable
        self.conf = workdir / "mosquitto.conf"
        self.log = workdir / "mosquitto.log"
        self.nodelay = nodelay
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
        return [
            "allow_anonymous true",
            "persistence false",
            f"set_tcp_nodelay {'true' if self.nodelay else 'false'}",
            # No cap on a subscriber's queue (default 1000): a burst must not be dropped
            # ("Outgoing messages are being dropped") for a subscriber that lags.
            "max_queued_messages 0",
        ]

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
