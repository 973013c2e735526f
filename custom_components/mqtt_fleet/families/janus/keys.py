"""Janus entity keys: part of entity unique ids, so never renamed."""

from __future__ import annotations

from typing import Final

SESSIONS: Final = "sessions"
VERSION: Final = "version"
ADMIN_STATE: Final = "admin_state"
