"""Janus entity keys: part of entity unique ids, so never renamed."""

from __future__ import annotations

from typing import Final

SESSIONS: Final = "sessions"
ADMIN_STATE: Final = "admin_state"
# The version sensor repeated the device's firmware (sw_version in its device info).
RETIRED: Final = frozenset({"version"})
