"""What makes a family: one `FamilySpec`, defined in the family's own folder.

The config flow, the platforms, device triggers, the logbook and the actions read the
specs; none of them names a family. A fifth family is one more folder under `families/`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from homeassistant.const import Platform
    from homeassistant.core import HomeAssistant
    import probatio as vol

    from .hub import EntityFactory, FleetHub

type PlatformFactory = Callable[[FleetHub[Any]], EntityFactory]
type LogbookMessage = Callable[[Mapping[str, Any]], str]
# Checks an entry's data against the live devices (a credential): {field or "base": error key}.
type EntryValidator = Callable[[HomeAssistant, str, Mapping[str, Any]], Awaitable[dict[str, str]]]


def _no_errors(_options: Mapping[str, Any]) -> dict[str, str]:
    return {}


def _no_options(_device: str) -> dict[str, Any]:
    return {}


@dataclass(frozen=True, kw_only=True)
class FamilySpec:
    """One family: its hub, its setup in the UI, its entities, triggers and actions."""

    hub_type: type[FleetHub[Any]]
    default_base: str
    # The manifest's `mqtt` filters for this family, all under its default base topic.
    discovery_topics: tuple[str, ...]
    # The device id in a valid status message (base, topic, payload), else None.
    discovered_device: Callable[[str, str, bytes], str | None]
    default_options: Mapping[str, Any]
    option_fields: Callable[[], dict[vol.Marker, Any]]
    options_errors: Callable[[Mapping[str, Any]], dict[str, str]] = _no_errors
    # Asked with the base topic, stored in the entry's data (a credential, say).
    entry_fields: Callable[[], dict[vol.Marker, Any]] = dict
    # Checked in the flows that set `entry_fields` (user, discovery, reconfigure, reauth).
    validate_entry: EntryValidator | None = None
    # Options of an entry made from discovery, given the discovered device's own id.
    discovery_options: Callable[[str], dict[str, Any]] = _no_options
    # Placeholders the family's flow texts use (topic levels, template syntax).
    text_placeholders: Mapping[str, str] = field(default_factory=dict)
    platforms: Mapping[Platform, PlatformFactory] = field(default_factory=dict)
    # Device trigger types beyond online/offline, each with the bus event it listens to.
    trigger_events: Mapping[str, str] = field(default_factory=dict)
    # The trigger types a device of this registry model offers (None: all of them).
    triggers_for_model: Callable[[str | None], Iterable[str]] | None = None
    # Entity keys the family no longer offers: their registry entries go at setup.
    retired_keys: frozenset[str] = frozenset()
    # The family's own bus events: the logbook line each one makes.
    logbook_messages: Mapping[str, LogbookMessage] = field(default_factory=dict)
    register_actions: Callable[[HomeAssistant], None] | None = None

    @property
    def key(self) -> str:
        """Return the family's key: entry data, menu step and translation keys."""
        return self.hub_type.family

    @property
    def title(self) -> str:
        """Return the family's name as users know it."""
        return self.hub_type.title
