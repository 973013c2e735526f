"""The fuzz tier's hook: every test here is marked `fuzz`."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this directory `fuzz`, so `-m "not fuzz"` leaves the tier out.

    tryfirst: the marks are on the items before `-m` selects among them.
    """
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.fuzz)
