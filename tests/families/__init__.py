"""Home Assistant tests per device family: tests/families/<family>/."""
