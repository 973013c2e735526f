"""The test suite's own layout: no test module imports another, every family has its folder.

What tests share lives in helper modules (tests/common.py, tests/flow_helpers.py,
tests/families/<family>/helpers.py, tests/broker/helpers.py ...); conftest.py files hold
fixtures and hooks only. A test module that imports another test module (or a conftest)
runs the other's module-level code, drags its fixtures along and ties the two together.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from custom_components.mqtt_fleet.families import FAMILIES

TESTS = Path(__file__).parent
ROOT = TESTS.parent


def module_name(path: Path, root: Path) -> str:
    """The dotted module name of a file under `root` (a package's __init__ is the package)."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, dotted name) of every module `path` imports, relative imports resolved.

    `from package import name` counts `package.name` as well when that is a module file or
    a package under `root`.
    """
    package = module_name(path, root)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                levels = package.split(".") if package else []
                base_parts = levels[: len(levels) - (node.level - 1)]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            found.append((node.lineno, base))
            for alias in node.names:
                candidate = root.joinpath(*base.split("."), alias.name)
                if candidate.with_suffix(".py").is_file() or (candidate / "__init__.py").is_file():
                    found.append((node.lineno, f"{base}.{alias.name}"))
    return found


def forbidden_imports(tests: Path, root: Path) -> list[str]:
    """Each import, in any Python file under `tests`, of a test module or a conftest."""
    problems = []
    for path in sorted(tests.rglob("*.py")):
        for line, name in imported_modules(path, root):
            last = name.rpartition(".")[2]
            if last.startswith("test_") or last == "conftest":
                problems.append(f"{path.relative_to(root)}:{line} imports {name}")
    return problems


def missing_family_folders(tests: Path, families: list[str]) -> list[str]:
    """What each family's folder under tests/families/ lacks."""
    problems = []
    for family in families:
        folder = tests / "families" / family
        problems.extend(
            f"{folder.relative_to(tests.parent)}/{needed} is missing"
            for needed in ("__init__.py", "helpers.py")
            if not (folder / needed).is_file()
        )
        if not list(folder.glob("test_*.py")):
            problems.append(f"{folder.relative_to(tests.parent)} has no test module")
    return problems


def test_no_test_module_imports_another_test_module_or_a_conftest() -> None:
    assert forbidden_imports(TESTS, ROOT) == []


def absolute_imports_of_tests(tests: Path) -> list[str]:
    """Each `import tests...` / `from tests... import`: within tests/, imports are relative."""
    problems = []
    for path in sorted(tests.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            problems.extend(
                f"{path.relative_to(tests.parent)}:{node.lineno} imports {name}"
                for name in names
                if name == tests.name or name.startswith(f"{tests.name}.")
            )
    return problems


def test_imports_within_the_tests_are_relative() -> None:
    assert absolute_imports_of_tests(TESTS) == []


def test_every_family_has_its_test_folder() -> None:
    assert missing_family_folders(TESTS, list(FAMILIES)) == []


def test_every_test_module_is_collected_from_a_package() -> None:
    """Relative imports need each test directory to be a package."""
    for path in TESTS.rglob("test_*.py"):
        if "fixtures" not in path.relative_to(TESTS).parts:
            assert (path.parent / "__init__.py").is_file(), path


def test_tier_tests_carry_their_marker(request: pytest.FixtureRequest) -> None:
    """Whatever this run collected under tests/broker is `broker`; under tests/fuzz, and the
    property tests in tests/protocol, `fuzz`.

    The marks come from conftest hooks, so `-m "not broker and not fuzz"` (the fast lane,
    `scripts/test --fast`) leaves them out however a module is written.
    """
    for item in request.session.items:
        if item.path.is_relative_to(TESTS / "broker"):
            assert item.get_closest_marker("broker") is not None, item.nodeid
        if item.path.is_relative_to(TESTS / "fuzz") or (
            item.path.parent == TESTS / "protocol" and item.path.name.endswith("_properties.py")
        ):
            assert item.get_closest_marker("fuzz") is not None, item.nodeid


# --- the checks catch what they are for -------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "imported"),
    [
        ("from .test_other import helper", "tests.families.demo.test_other"),
        ("from ...test_janus import janus_entry", "tests.test_janus"),
        ("from tests.test_spotfi import spotfi_entry", "tests.test_spotfi"),
        ("from . import test_other", "tests.families.demo.test_other"),
        ("from .. import conftest", "tests.families.conftest"),
        ("import tests.broker.test_load", "tests.broker.test_load"),
        ("from .conftest import Fire", "tests.families.demo.conftest"),
        ("from ...conftest import Fire", "tests.conftest"),
        ("if True:\n    from tests.conftest import Fire", "tests.conftest"),
    ],
)
def test_the_import_check_catches(tmp_path: Path, source: str, imported: str) -> None:
    tests = tmp_path / "tests"
    demo = tests / "families" / "demo"
    demo.mkdir(parents=True)
    for package in (tests, tests / "families", demo):
        (package / "__init__.py").write_text("")
    for name in ("test_janus", "test_spotfi", "conftest"):
        (tests / f"{name}.py").write_text("")
    (tests / "families" / "conftest.py").write_text("")
    (demo / "test_other.py").write_text("")
    (demo / "helpers.py").write_text("")
    (demo / "test_demo.py").write_text(f"{source}\nfrom .helpers import something\n")
    assert forbidden_imports(tests, tmp_path) == [
        f"tests/families/demo/test_demo.py:{source.count(chr(10)) + 1} imports {imported}"
    ]


def test_the_import_check_lets_helpers_through(tmp_path: Path) -> None:
    tests = tmp_path / "tests"
    demo = tests / "families" / "demo"
    demo.mkdir(parents=True)
    (demo / "helpers.py").write_text("")
    (tests / "common.py").write_text("")
    (demo / "test_demo.py").write_text(
        "from ...common import entry_id_for\nfrom .helpers import test_payload\n"
        "from . import helpers\nimport pytest\n"
    )
    assert forbidden_imports(tests, tmp_path) == []


def test_the_style_check_catches_an_absolute_import(tmp_path: Path) -> None:
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_demo.py").write_text(
        "from tests.common import entry_id_for\nimport tests.report\nfrom .common import dumps\n"
        "import testsuite\n"
    )
    assert absolute_imports_of_tests(tests) == [
        "tests/test_demo.py:1 imports tests.common",
        "tests/test_demo.py:2 imports tests.report",
    ]


def test_the_family_check_catches_a_missing_folder(tmp_path: Path) -> None:
    tests = tmp_path / "tests"
    (tests / "families" / "half").mkdir(parents=True)
    (tests / "families" / "half" / "__init__.py").write_text("")
    (tests / "families" / "half" / "test_hub.py").write_text("")
    assert missing_family_folders(tests, ["half", "none"]) == [
        "tests/families/half/helpers.py is missing",
        "tests/families/none/__init__.py is missing",
        "tests/families/none/helpers.py is missing",
        "tests/families/none has no test module",
    ]
