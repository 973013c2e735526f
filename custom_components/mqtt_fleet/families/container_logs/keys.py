"""Container-log entity keys: part of entity unique ids, so never renamed."""

from __future__ import annotations

from typing import Final

from ...keys import LAST_SEEN
from ...protocol.container_logs import Level

# A log source's latest warning or error: an event entity, fired per problem shown.
PROBLEM: Final = "problem"
LOG_COUNTS: Final[dict[Level, str]] = {
    Level.DEBUG: "debug_logs",
    Level.INFO: "info_logs",
    Level.WARN: "warn_logs",
    Level.ERROR: "error_logs",
}
# A sensor whose state was the whole log line (a rainbow in the history, a traceback as a
# state): replaced by the PROBLEM event entity.
LAST_PROBLEM: Final = "last_problem"
# Retired at setup: the last problem sensor, and "last seen", a lone disabled diagnostic
# entity on a source whose counters already show when it last logged.
RETIRED: Final = frozenset({LAST_PROBLEM, LAST_SEEN})
