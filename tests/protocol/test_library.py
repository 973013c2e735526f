"""protocol/ is a library of its own: standard library and orjson only, nothing of the rest.

The checks read the source with `ast`, so they see every import (also those under
`if TYPE_CHECKING:` and inside functions) without importing anything.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
import sys

import pytest

PACKAGE = "custom_components.mqtt_fleet.protocol"
PROTOCOL_DIR = Path(__file__).parents[2].joinpath(*PACKAGE.split("."))
MODULES = sorted(PROTOCOL_DIR.glob("*.py"))
THIRD_PARTY = frozenset({"orjson"})


def module_name(path: Path) -> str:
    return PACKAGE if path.stem == "__init__" else f"{PACKAGE}.{path.stem}"


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def import_problems(tree: ast.Module) -> list[str]:
    """Every import that leaves the library: not stdlib, orjson or a module of protocol/."""
    problems: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            assert node.module is not None
            names = [node.module]
        elif isinstance(node, ast.ImportFrom):
            # protocol/ has no subpackages: one dot stays inside it, two reach the integration.
            if node.level > 1:
                problems.append(f"line {node.lineno}: from {'.' * node.level}{node.module or ''}")
            continue
        else:
            continue
        for name in names:
            top = name.partition(".")[0]
            inside = name == PACKAGE or name.startswith(f"{PACKAGE}.")
            if not (inside or top in sys.stdlib_module_names or top in THIRD_PARTY):
                problems.append(f"line {node.lineno}: {ast.unparse(node).splitlines()[0]}")
    return problems


def public_definitions(tree: ast.Module) -> set[str]:
    """Public names the module itself defines at top level (classes, functions, constants)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.TypeAlias) and isinstance(node.name, ast.Name):
            names.add(node.name.id)
        elif isinstance(node, ast.Assign):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {name for name in names if not name.startswith("_")}


def declared_all(tree: ast.Module) -> list[str] | None:
    """The literal `__all__` list or tuple of a module, or None without one."""
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
            and isinstance(node.value, ast.List | ast.Tuple)
        ):
            return [ast.literal_eval(element) for element in node.value.elts]
    return None


def test_every_module_of_the_library_is_checked() -> None:
    assert {path.stem for path in MODULES} >= {
        "__init__",
        "autocore",
        "container_logs",
        "correlation",
        "janus",
        "payload",
        "spotfi",
        "topics",
    }
    assert not [path for path in PROTOCOL_DIR.iterdir() if path.is_dir() and path.name[0] != "_"]


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.stem)
def test_imports_stay_inside_the_library(path: Path) -> None:
    """No Home Assistant, nothing from the rest of the integration, stdlib and orjson only."""
    assert import_problems(parse(path)) == []


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.stem)
def test_all_is_defined_and_names_what_exists(path: Path) -> None:
    exported = declared_all(parse(path))
    assert exported is not None, f"{path.name} has no literal __all__"
    assert len(exported) == len(set(exported)), "__all__ names a name twice"
    module = importlib.import_module(module_name(path))
    assert module.__all__ == exported
    assert [name for name in exported if not hasattr(module, name)] == []


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.stem)
def test_every_public_definition_is_exported(path: Path) -> None:
    tree = parse(path)
    assert public_definitions(tree) - set(declared_all(tree) or ()) == set()


# The checks must catch what they are there for: each source below breaks one rule.


@pytest.mark.parametrize(
    "source",
    [
        "import homeassistant",
        "from homeassistant.core import HomeAssistant",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from homeassistant import core",
        "def f():\n    import homeassistant.helpers",
        "from .. import const",
        "from ..hub import FleetHub",
        "from ...x import y",
        "import custom_components.mqtt_fleet.const",
        "from custom_components.mqtt_fleet import hub",
        "from custom_components.mqtt_fleet.protocolx import y",
        "import voluptuous",
        "import paho.mqtt.client",
        "try:\n    import yaml\nexcept ImportError:\n    pass",
    ],
)
def test_imports_leaving_the_library_are_found(source: str) -> None:
    assert len(import_problems(ast.parse(source))) == 1


@pytest.mark.parametrize(
    "source",
    [
        "import asyncio",
        "import collections.abc",
        "from . import payload",
        "from .topics import OutgoingMessage",
        "import orjson",
        "from custom_components.mqtt_fleet.protocol import janus",
        "import custom_components.mqtt_fleet.protocol.payload",
    ],
)
def test_imports_inside_the_library_pass(source: str) -> None:
    assert import_problems(ast.parse(source)) == []


def test_definitions_missing_from_all_are_found() -> None:
    tree = ast.parse(
        "__all__ = ['A']\n"
        "class A: ...\n"
        "class B: ...\n"
        "def f(): ...\n"
        "async def g(): ...\n"
        "type T = int\n"
        "LIMIT = 1\n"
        "ANNOTATED: int = 2\n"
        "_private = 3\n"
        "def _helper(): ...\n"
    )
    assert declared_all(tree) == ["A"]
    assert public_definitions(tree) - {"A"} == {"B", "f", "g", "T", "LIMIT", "ANNOTATED"}
    assert declared_all(ast.parse("x = 1")) is None
