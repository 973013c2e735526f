"""The repository's project files: GitHub workflows, issue forms, pre-commit, HACS, changelog."""

from __future__ import annotations

import json
import os
from pathlib import Path
import re
import subprocess
import sys
import tomllib
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parent.parent
GITHUB = ROOT / ".github"
WORKFLOWS = GITHUB / "workflows"
ISSUE_TEMPLATES = GITHUB / "ISSUE_TEMPLATE"
MANIFEST_PATH = "custom_components/mqtt_fleet/manifest.json"
MANIFEST = json.loads((ROOT / MANIFEST_PATH).read_text("utf-8"))
HACS = json.loads((ROOT / "hacs.json").read_text("utf-8"))

GITHUB_YAML = sorted([*GITHUB.rglob("*.yml"), *GITHUB.rglob("*.yaml")])
WORKFLOW_FILES = sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])
ISSUE_FORMS = sorted(
    path
    for path in [*ISSUE_TEMPLATES.glob("*.yml"), *ISSUE_TEMPLATES.glob("*.yaml")]
    if path.stem != "config"
)


def _id(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def load_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text("utf-8"))
    assert isinstance(data, dict), f"{path.name}: not a mapping"
    return data


def workflow(name: str) -> dict[str, Any]:
    return load_yaml(WORKFLOWS / name)


def triggers(flow: dict[str, Any]) -> set[str]:
    """The events a workflow runs on; PyYAML reads the bare key `on` as True."""
    on = flow["on"] if "on" in flow else flow.get(True)
    if isinstance(on, str):
        return {on}
    if isinstance(on, list):
        return set(on)
    if isinstance(on, dict):
        return set(on)
    return set()


def steps(flow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in flow["jobs"].values() for step in job["steps"]]


def run_scripts(flow: dict[str, Any]) -> list[str]:
    return [step["run"] for step in steps(flow) if "run" in step]


def uses(flow: dict[str, Any]) -> list[str]:
    return [step["uses"] for step in steps(flow) if "uses" in step]


def requirement_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements_test.txt").read_text("utf-8").splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", line.strip())
        if match:
            pins[match[1].lower()] = match[2]
    return pins


# --- every YAML file ------------------------------------------------------------------------


def test_the_project_files_exist() -> None:
    assert {path.name for path in WORKFLOW_FILES} >= {"validate.yml", "tests.yml", "release.yml"}
    assert {path.name for path in ISSUE_FORMS} >= {"bug_report.yml", "feature_request.yml"}
    assert (ISSUE_TEMPLATES / "config.yml").is_file()


@pytest.mark.parametrize("path", [*GITHUB_YAML, ROOT / ".pre-commit-config.yaml"], ids=_id)
def test_yaml_parses_to_a_mapping(path: Path) -> None:
    assert load_yaml(path)


# --- workflows ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=_id)
def test_workflow_schema(path: Path) -> None:
    flow = load_yaml(path)
    assert isinstance(flow.get("name"), str)
    assert flow["name"]
    assert triggers(flow), f"{path.name}: no `on` trigger"
    jobs = flow.get("jobs")
    assert isinstance(jobs, dict)
    assert jobs
    for job_id, job in jobs.items():
        assert isinstance(job, dict), job_id
        assert job.get("runs-on"), f"{path.name}: job {job_id} has no runs-on"
        job_steps = job.get("steps")
        assert isinstance(job_steps, list), f"{path.name}: job {job_id} has no steps"
        assert job_steps, f"{path.name}: job {job_id} has no steps"
        for step in job_steps:
            assert isinstance(step, dict), f"{path.name}: job {job_id}: {step!r}"
            assert ("uses" in step) != ("run" in step), f"{path.name}: job {job_id}: {step!r}"
            assert step.get("uses") or step.get("run"), f"{path.name}: job {job_id}: {step!r}"


def test_triggers_read_yaml_on_key() -> None:
    """The helper reads both spellings; a workflow without `on` has no trigger."""
    assert triggers({True: {"push": None}}) == {"push"}
    assert triggers({"on": ["push", "pull_request"]}) == {"push", "pull_request"}
    assert triggers({"on": "push"}) == {"push"}
    assert triggers({"name": "x"}) == set()


def test_validate_workflow() -> None:
    flow = workflow("validate.yml")
    assert triggers(flow) >= {"push", "pull_request"}
    actions = uses(flow)
    hacs = [step for step in steps(flow) if step.get("uses", "").startswith("hacs/action@")]
    assert len(hacs) == 1
    assert hacs[0]["with"]["category"] == "integration"
    assert any(action.startswith("home-assistant/actions/hassfest@") for action in actions)
    assert any(action.startswith("actions/checkout@") for action in actions)


def test_tests_workflow_runs_scripts_test() -> None:
    flow = workflow("tests.yml")
    assert triggers(flow) >= {"push", "pull_request"}
    assert any(
        re.search(r"(^|\s)scripts/test(\s|$)", script, re.MULTILINE) for script in run_scripts(flow)
    )
    assert os.access(ROOT / "scripts" / "test", os.X_OK)


def test_tests_workflow_python_satisfies_requires_python() -> None:
    """scripts/setup provisions Python only on Debian: the runner gets it from setup-python."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    minimum = re.fullmatch(r">=(\d+)\.(\d+)(?:\.\d+)?", project["requires-python"])
    assert minimum
    setup = [
        step
        for step in steps(workflow("tests.yml"))
        if step.get("uses", "").startswith("actions/setup-python@")
    ]
    assert len(setup) == 1
    assert str(setup[0]["with"]["python-version"]) == f"{minimum[1]}.{minimum[2]}"


def test_release_workflow() -> None:
    flow = workflow("release.yml")
    on = flow["on"] if "on" in flow else flow[True]
    assert on["release"]["types"] == ["published"]
    assert flow["permissions"]["contents"] == "write"
    scripts = run_scripts(flow)
    assert any(MANIFEST_PATH in script and "TAG#v" in script for script in scripts)
    assert any("zip" in script and HACS["filename"] in script for script in scripts)
    assert any(
        re.search(rf"gh release upload \S+ {re.escape(HACS['filename'])}", script)
        for script in scripts
    )


def _tag_check_script() -> str:
    (script,) = [s for s in run_scripts(workflow("release.yml")) if MANIFEST_PATH in s]
    return script


@pytest.mark.parametrize(
    ("tag", "passes"),
    [
        (f"v{MANIFEST['version']}", True),
        (MANIFEST["version"], True),
        (f"v{MANIFEST['version']}.1", False),
        ("v0.0.0-not-the-manifest", False),
    ],
)
def test_release_tag_check_runs(tag: str, passes: bool) -> None:
    """The workflow's tag check itself, run in bash against the real manifest."""
    env = {
        **os.environ,
        "TAG": tag,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    result = subprocess.run(  # noqa: S603
        ["/usr/bin/env", "bash", "-eo", "pipefail", "-c", _tag_check_script()],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode == 0) == passes, result.stdout + result.stderr


def test_hacs_installs_the_release_zip() -> None:
    assert HACS["zip_release"] is True
    assert HACS["filename"] == f"{MANIFEST['domain']}.zip"
    assert HACS["name"] == MANIFEST["name"]


# --- issue templates ------------------------------------------------------------------------


def test_issue_template_config() -> None:
    config = load_yaml(ISSUE_TEMPLATES / "config.yml")
    assert config["blank_issues_enabled"] is False
    for link in config.get("contact_links", []):
        assert {"name", "url", "about"} <= set(link)


@pytest.mark.parametrize("path", ISSUE_FORMS, ids=_id)
def test_issue_form_schema(path: Path) -> None:
    form = load_yaml(path)
    assert isinstance(form.get("name"), str)
    assert form["name"]
    assert isinstance(form.get("description"), str)
    assert form["description"]
    body = form.get("body")
    assert isinstance(body, list)
    assert body
    ids = []
    for item in body:
        assert item["type"] in {"markdown", "input", "textarea", "dropdown", "checkboxes"}
        if item["type"] == "markdown":
            assert item["attributes"]["value"]
            continue
        ids.append(item["id"])
        assert item["attributes"]["label"]
        if item["type"] in {"dropdown", "checkboxes"}:
            assert item["attributes"]["options"]
    assert len(ids) == len(set(ids)), f"{path.name}: duplicate ids"
    assert any(item["type"] != "markdown" for item in body)


def test_bug_report_asks_what_triage_needs() -> None:
    form = load_yaml(ISSUE_TEMPLATES / "bug_report.yml")
    fields = {item["id"]: item for item in form["body"] if "id" in item}
    assert set(fields) >= {
        "ha_version",
        "integration_version",
        "family",
        "what_happened",
        "diagnostics",
        "logs",
    }
    options = fields["family"]["attributes"]["options"]
    for family in ("AutoCore", "Janus", "SpotFi", "Container log"):
        assert any(family in option for option in options), family


# --- pre-commit -----------------------------------------------------------------------------


def test_pre_commit_hooks_use_the_pinned_tools() -> None:
    config = load_yaml(ROOT / ".pre-commit-config.yaml")
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    assert {"ruff", "ruff-format", "mypy"} <= set(hooks)
    pins = requirement_pins()
    for hook_id, tool, args in (
        ("ruff", "ruff", ["check", "--fix"]),
        ("ruff-format", "ruff", ["format"]),
        ("mypy", "mypy", []),
    ):
        entry = hooks[hook_id]["entry"].split()
        assert Path(entry[0]).name == tool, hook_id
        assert tool in pins, f"{tool} is not pinned in requirements_test.txt"
        assert all(arg in entry[1:] for arg in args), hook_id
    assert hooks["mypy"]["pass_filenames"] is False


# --- changelog ------------------------------------------------------------------------------


def test_changelog_sections() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text("utf-8")
    headings = re.findall(r"^## \[([^\]]+)\]", changelog, re.MULTILINE)
    assert headings[0] == "Unreleased"
    assert MANIFEST["version"] in headings
