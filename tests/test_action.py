"""The composite GitHub Action (`action.yml`): its inputs, and its gate step run with bash
exactly as the runner runs it (`bash --noprofile --norc -eo pipefail`), against captures in
a temporary workspace, with the runner's summary and output files."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import DOCUMENTED_CAPTURES, ROOT

ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
_EXPRESSION = re.compile(r"\$\{\{\s*(inputs|github)\.([\w-]+)\s*\}\}")


def _step(step_id: str) -> dict[str, Any]:
    return next(s for s in ACTION["runs"]["steps"] if s.get("id") == step_id)


def test_action_is_composite_with_the_documented_inputs() -> None:
    assert ACTION["runs"]["using"] == "composite"
    assert {"paths", "locks-dir", "format", "fail-on", "sarif-file"} <= set(ACTION["inputs"])
    steps = ACTION["runs"]["steps"]
    assert steps[0]["uses"].startswith("actions/setup-python@")
    assert "pip install" in steps[1]["run"] and "VERIFY_ACTION_PATH" in steps[1]["run"]
    # inputs reach the scripts only through env, never spliced into the shell text
    for step in steps:
        assert "${{" not in step.get("run", "")


def _run_gate_step(workspace: Path, **inputs: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    values = {name: spec.get("default", "") for name, spec in ACTION["inputs"].items()}
    values.update({k.replace("_", "-"): v for k, v in inputs.items()})
    github = {"action_path": str(ROOT), "workspace": str(workspace)}
    step = _step("gate")

    def resolve(text: str) -> str:
        return _EXPRESSION.sub(
            lambda m: (values if m.group(1) == "inputs" else github)[m.group(2)], text
        )

    runner = workspace / "runner"
    runner.mkdir(exist_ok=True)
    script = runner / "gate.sh"
    script.write_text(step["run"])
    env = {
        **os.environ,
        **{name: resolve(str(value)) for name, value in step["env"].items()},
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GITHUB_OUTPUT": str(runner / "output"),
        "GITHUB_STEP_SUMMARY": str(runner / "summary.md"),
    }
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return result, runner


def _workspace(tmp_path: Path) -> Path:
    shutil.copytree(DOCUMENTED_CAPTURES, tmp_path / "captures" / "2026-05" / "01")
    shutil.copytree(ROOT / "captures" / "locks", tmp_path / "captures" / "locks")
    return tmp_path


def _outputs(runner: Path) -> dict[str, str]:
    lines = (runner / "output").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines)


def test_gate_step_passes_with_summary_sarif_and_annotations(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    result, runner = _run_gate_step(workspace)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _outputs(runner) == {"sarif-file": "verify.sarif", "verdict": "pass"}
    assert (runner / "summary.md").read_text().startswith("## verify gate: ✅ PASS")
    sarif = json.loads((workspace / "verify.sarif").read_text())
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["results"] == []
    assert "verify gate: PASS (4 file(s)" in result.stdout


def test_gate_step_fails_on_breaking_drift_and_leaves_the_sarif(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    costs = workspace / "captures" / "2026-05" / "01" / "openai_org_costs.json"
    capture = json.loads(costs.read_text())
    for page in capture["pages"]:
        for bucket in page["body"]["data"]:
            for row in bucket["results"]:
                # The merge assumes dollars: another currency is breaking (a numeric-string
                # amount would only be a tolerated warning).
                row["amount"]["currency"] = "eur"
    costs.write_text(json.dumps(capture, indent=2))
    result, runner = _run_gate_step(workspace, sarif_file="out/gate.sarif")
    assert result.returncode == 1
    assert _outputs(runner)["verdict"] == "fail"
    assert "❌ FAIL" in (runner / "summary.md").read_text()
    annotation = next(line for line in result.stdout.splitlines() if line.startswith("::error"))
    assert "openai_org_costs.json,line=" in annotation
    results = json.loads((workspace / "out" / "gate.sarif").read_text())["runs"][0]["results"]
    assert results[0]["locations"][0]["physicalLocation"]["region"]["startLine"] > 1


@pytest.mark.parametrize(("fail_on", "code"), [("breaking", 0), ("warning", 0), ("info", 1)])
def test_fail_on_input_sets_the_threshold(tmp_path: Path, fail_on: str, code: int) -> None:
    workspace = _workspace(tmp_path)
    users = workspace / "captures" / "2026-05" / "01" / "openai_org_users.json"
    capture = json.loads(users.read_text())
    for page in capture["pages"]:
        for user in page["body"]["data"]:
            user["added_by_a_new_api_version"] = "x"
    users.write_text(json.dumps(capture))
    result, _ = _run_gate_step(workspace, fail_on=fail_on, format="text")
    assert result.returncode == code, result.stdout + result.stderr


def test_bad_input_stops_the_step_with_the_tool_exit_code(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    (workspace / "captures" / "2026-05" / "01" / "broken.json").write_text("{")
    result, runner = _run_gate_step(workspace)
    assert result.returncode == 2
    assert "verify: error:" in result.stderr
    assert not (runner / "summary.md").exists()


def _readme_ci_recipe() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### CI recipe", 1)[1]
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


def test_readme_ci_recipe_runs_as_written_in_a_fresh_clone(tmp_path: Path) -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout of the project")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    summary = tmp_path / "summary.md"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", _readme_ci_recipe()],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verify gate: PASS" in result.stdout
    assert summary.read_text().startswith("## verify gate: ✅ PASS")
    assert json.loads((clone / "verify.sarif").read_text())["version"] == "2.1.0"
