"""The reliability tier: its load profile, and the rows RELIABILITY.md is generated from.

`scripts/reliability` runs the tier at full load (MQTT_FLEET_RELIABILITY=full) and has each
test append what it did and measured to MQTT_FLEET_RELIABILITY_REPORT (JSON lines); the
default CI run uses the smaller load and writes no report.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
import json
import os
from pathlib import Path
import threading

FULL = os.environ.get("MQTT_FLEET_RELIABILITY") == "full"
_REPORT = os.environ.get("MQTT_FLEET_RELIABILITY_REPORT")
_LOCK = threading.Lock()


def scaled(ci: int, full: int) -> int:
    """Return the full-run figure in a reliability run, the CI figure otherwise."""
    return full if FULL else ci


@dataclass(frozen=True)
class Row:
    """One line of RELIABILITY.md's table."""

    area: str  # fuzz, broker faults, HA restart, load, security, log stress
    test: str  # the pytest node id
    load: str  # what ran: message counts, devices, concurrency
    faults: str  # the faults injected or the inputs tried
    result: str  # what was measured, in numbers


class Reliability:
    """Records a test's row once its assertions have passed."""

    def __init__(self, test: str) -> None:
        """Rows name `test`."""
        self.test = test
        self.rows: list[Row] = []

    def record(self, *, area: str, load: str, faults: str, result: str) -> None:
        """Record a row (call it after the assertions that back `result`)."""
        row = Row(area, self.test, load, faults, result)
        self.rows.append(row)
        if _REPORT:
            with _LOCK, Path(_REPORT).open("a", encoding="utf-8") as report:
                report.write(json.dumps(asdict(row)) + "\n")
