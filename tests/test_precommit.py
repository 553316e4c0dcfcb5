"""The pre-commit hooks in `.pre-commit-hooks.yaml`, run as a user runs them:
`pre-commit try-repo . verify-scan` in a clone of this project, and `try-repo <project>` in
another team's repository.

try-repo installs the hook repository into a fresh environment every time (a temporary
store), with `pip install .` as for any `language: python` hook. To keep the suite quick,
the test environment's site-packages is on `PYTHONPATH`, so pip finds the dependencies
already satisfied and builds and installs only this project: the hooks still run from the
installed hook repository."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

from tests.conftest import DOCUMENTED_CAPTURES, ROOT

PRE_COMMIT = Path(sys.executable).parent / "pre-commit"
HOOK_IDS = {"verify-check", "verify-scan", "verify-gate"}


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def _init_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    _git(path, "init", "-q", "-b", "main")
    _git(path, "config", "user.email", "tests@anon.invalid")
    _git(path, "config", "user.name", "tests")
    _git(path, "config", "commit.gpgsign", "false")
    return path


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This working tree (tracked and new files, as they are now) committed to a fresh
    repository, so the hooks under test are the ones in the tree, and pre-commit installs
    them once for the whole module (same repo, same revision)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout of the project")
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    repo = _init_repo(tmp_path_factory.mktemp("hooks") / "verifier")
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "hooks under test")
    return repo


def _try_repo(cwd: Path, repo: str, *hooks: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PRE_COMMIT_COLOR": "never",
        "PYTHONPATH": sysconfig.get_paths()["purelib"],
    }
    env.pop("VERIFY_ANON_KEY", None)
    return subprocess.run(
        [str(PRE_COMMIT), "try-repo", repo, *hooks],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_manifest_declares_the_three_hooks() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert {h["id"] for h in hooks} == HOOK_IDS
    for hook in hooks:
        assert hook["entry"].startswith("verify ")
        assert hook["language"] == "python"


@pytest.mark.parametrize(
    ("content", "code"),
    [("ask jane.doe@corp.example.com about the costs", 1), ("ask finance about the costs", 0)],
    ids=["email", "clean"],
)
def test_try_repo_dot_verify_scan_judges_the_staged_file(
    tmp_path: Path, hook_repo: Path, content: str, code: int
) -> None:
    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "-q", str(hook_repo), str(clone))
    (clone / "notes.md").write_text(f"# on-call\n\n{content}\n")
    _git(clone, "add", "notes.md")
    result = _try_repo(clone, ".", "verify-scan")
    assert result.returncode == code, result.stdout + result.stderr
    if code:
        assert "pii_leak" in result.stdout and "notes.md" in result.stdout
        assert "jane.doe@corp.example.com" not in result.stdout + result.stderr
    else:
        assert re.search(r"verify scan .*Passed", result.stdout)


def test_all_hooks_on_another_teams_staged_captures(tmp_path: Path, hook_repo: Path) -> None:
    """check and scan pass on the staged captures; the gate refuses them because one
    surface has no lock."""
    project = _init_repo(tmp_path / "project")
    shutil.copytree(DOCUMENTED_CAPTURES, project / "captures" / "2026-05")
    shutil.copytree(ROOT / "captures" / "locks", project / "captures" / "locks")
    (project / "captures" / "locks" / "openai_org_costs.lock.json").unlink()
    _git(project, "add", "-A")
    result = _try_repo(project, str(hook_repo))
    assert result.returncode == 1, result.stdout + result.stderr
    status = {
        match.group(1): match.group(2)
        for match in re.finditer(r"^(verify \w+) .*?\.+(Passed|Failed)$", result.stdout, re.M)
    }
    assert status == {"verify check": "Passed", "verify scan": "Passed", "verify gate": "Failed"}
    assert "no lock yet for openai_org_costs" in result.stdout
