"""The families MQTT Fleet speaks: each folder holds one, described by its `SPEC`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from .autocore import SPEC as AUTOCORE
from .container_logs import SPEC as CONTAINER_LOGS
from .janus import SPEC as JANUS
from .spotfi import SPEC as SPOTFI

if TYPE_CHECKING:
    from ..family import FamilySpec

# In the order the "add entry" menu offers them.
FAMILIES: Final[dict[str, FamilySpec]] = {
    spec.key: spec for spec in (AUTOCORE, JANUS, SPOTFI, CONTAINER_LOGS)
}
