"""Container-log entity keys: part of entity unique ids, so never renamed."""

from __future__ import annotations

from typing import Final

from ...protocol.container_logs import Level

LAST_PROBLEM: Final = "last_problem"
LOG_COUNTS: Final[dict[Level, str]] = {
    Level.DEBUG: "debug_logs",
    Level.INFO: "info_logs",
    Level.WARN: "warn_logs",
    Level.ERROR: "error_logs",
}
