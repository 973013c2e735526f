"""SpotFi entity keys: part of entity unique ids, so never derived from protocol names."""

from __future__ import annotations

from typing import Final

CPU_LOAD: Final = "cpu_load"
MEMORY_USED: Final = "memory_used"
TOTAL_MEMORY: Final = "total_memory"
ACTIVE_USERS: Final = "active_users"
DISCONNECT_REASON: Final = "disconnect_reason"  # the reason an OFFLINE status gave
