"""The protocol library's tests: pure Python, and the property tests go with the fuzz tier."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def auto_enable_custom_integrations() -> None:
    """Override tests/conftest.py's autouse fixture: no Home Assistant (`hass`) per test.

    The library has no Home Assistant imports, and starting an instance for each of its
    ~1,900 tests more than doubled their time.
    """


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the hypothesis property tests (`test_*_properties.py`) `fuzz`.

    They draw hundreds of generated inputs per test and are a quarter of the unit lane's
    time; `scripts/test --fast` (`-m "not broker and not fuzz"`) leaves them to the full run.
    tryfirst: the marks are on the items before `-m` selects among them.
    """
    for item in items:
        if item.path.parent == Path(__file__).parent and item.path.name.endswith("_properties.py"):
            item.add_marker(pytest.mark.fuzz)
