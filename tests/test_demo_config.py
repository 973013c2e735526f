"""The demo's config dir serves the example dashboard, and the dashboard stays plain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tools.demo_config import EXAMPLE_DASHBOARD, DemoSettings, write_files

# Cards that ship with Home Assistant: the example must work without custom cards.
CORE_CARDS = {
    "entities",
    "gauge",
    "glance",
    "heading",
    "history-graph",
    "markdown",
    "tile",
}


def _cards(parent: dict[str, Any]) -> list[dict[str, Any]]:
    """Every card of a section, the cards of its stacks included."""
    cards = []
    for card in parent.get("cards", []):
        cards.extend([card, *_cards(card)])
    return cards


def test_demo_serves_the_example_dashboard(tmp_path: Path) -> None:
    """The config dir links docs/dashboard.yaml as the YAML dashboard it declares."""
    settings = DemoSettings(
        config_dir=tmp_path,
        mqtt_port=1883,
        http_port=8123,
        component_dir=Path("custom_components/mqtt_fleet"),
        token_file=None,
        janus_secret="",
        janus_servers=(),
    )
    write_files(settings)

    configuration = yaml.safe_load((tmp_path / "configuration.yaml").read_text())
    dashboard = configuration["lovelace"]["dashboards"]["mqtt-fleet"]
    assert dashboard["mode"] == "yaml"
    assert (tmp_path / dashboard["filename"]).resolve() == EXAMPLE_DASHBOARD.resolve()


def test_example_dashboard_uses_core_cards_and_short_graphs() -> None:
    """Sections views of core cards; graphs short enough to look filled on a fresh install."""
    dashboard = yaml.safe_load(EXAMPLE_DASHBOARD.read_text())
    views = dashboard["views"]
    assert views
    for view in views:
        assert view["type"] == "sections", view["title"]
        cards = [card for section in view["sections"] for card in _cards(section)]
        assert cards, view["title"]
        for card in cards:
            assert card["type"] in CORE_CARDS, card
            if card["type"] == "history-graph":
                assert card["hours_to_show"] <= 6, card
