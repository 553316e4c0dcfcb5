"""Pagination contradictions inside one body: `has_more: true` with nothing to continue
with is `pagination_changed` in check, diff and gate, for raw bodies (whole or streamed)
and capture files alike."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from verifier.contract import run_check
from verifier.drift import run_diff
from verifier.findings import Finding, Report
from verifier.gate import run_gate

from .cli_helpers import run_cli
from .drift_support import mutated, write_body, write_capture


def _gate(paths: list[Path], surface: str | None, stream_min_bytes: int) -> Report:
    return run_gate(
        paths,
        surface=surface,
        locks_dir=paths[0].parent / "no-locks",
        allow_unlocked=True,
        stream_min_bytes=stream_min_bytes,
    )


def _check(paths: list[Path], surface: str | None, stream_min_bytes: int) -> Report:
    return run_check(paths, surface, stream_min_bytes=stream_min_bytes)


def _diff(paths: list[Path], surface: str | None, stream_min_bytes: int) -> Report:
    return run_diff(paths, surface, stream_min_bytes=stream_min_bytes)


COMMANDS: dict[str, Callable[[list[Path], str | None, int], Report]] = {
    "check": _check,
    "diff": _diff,
    "gate": _gate,
}


def paging(report: Report) -> list[Finding]:
    return [f for f in report.findings if f.kind == "pagination_changed"]


def costs_with(**members: Any) -> dict[str, Any]:
    body = mutated("openai_org_costs")
    body.update(members)
    return {k: v for k, v in body.items() if v is not _ABSENT}


def users_with(**members: Any) -> dict[str, Any]:
    body = mutated("openai_org_users")
    body.update(members)
    return {k: v for k, v in body.items() if v is not _ABSENT}


_ABSENT = object()

CONTRADICTIONS = [
    ("openai_org_costs", costs_with(has_more=True, next_page=None), "next_page", "null"),
    ("openai_org_costs", costs_with(has_more=True, next_page=_ABSENT), "next_page", "absent"),
    ("openai_org_costs", costs_with(has_more=True, next_page=""), "next_page", "empty"),
    ("openai_org_users", users_with(has_more=True, last_id=_ABSENT), "last_id", "absent"),
    ("openai_org_users", users_with(has_more=True, last_id=None), "last_id", "null"),
]


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.parametrize(("surface", "body", "field", "state"), CONTRADICTIONS)
def test_has_more_without_a_cursor_is_pagination_changed(
    tmp_path: Path,
    command: str,
    streamed: bool,
    surface: str,
    body: dict[str, Any],
    field: str,
    state: str,
) -> None:
    path = write_body(tmp_path, "body.json", body)
    report = COMMANDS[command]([path], surface, 0 if streamed else 1 << 30)
    [found] = paging(report)
    assert found.path == field
    assert found.pointer == "/has_more"
    assert found.severity == "breaking"
    assert found.consumed_by_merge
    assert found.observed == f"has_more=true but {field} is {state}"
    assert report.verdict == "fail"


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize(
    ("surface", "body"),
    [
        ("openai_org_costs", costs_with(has_more=False, next_page=None)),
        ("openai_org_costs", costs_with(has_more=True, next_page="page_AAAA")),
        ("openai_org_users", users_with(has_more=False, last_id=_ABSENT)),
        ("openai_org_users", users_with(has_more=True, last_id="user-abc")),
    ],
)
def test_consistent_paging_is_no_finding(
    tmp_path: Path, command: str, surface: str, body: dict[str, Any]
) -> None:
    path = write_body(tmp_path, "body.json", body)
    assert paging(COMMANDS[command]([path], surface, 1 << 30)) == []


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_capture_page_is_named_and_reported_once(tmp_path: Path, command: str) -> None:
    first = costs_with(has_more=True, next_page="page_2")
    last = costs_with(has_more=True, next_page=None)  # saved by other means: nothing recorded
    path = write_capture(tmp_path, "openai_org_costs", [first, last])
    [found] = paging(COMMANDS[command]([path], None, 1 << 30))
    assert found.pointer == "/pages/1/body/has_more"
    assert "pagination broke at page 1" in found.message


def test_check_does_not_repeat_what_the_capture_recorded(tmp_path: Path) -> None:
    last = costs_with(has_more=True, next_page=None)
    path = write_capture(tmp_path, "openai_org_costs", [last])
    document = json.loads(path.read_text())
    document["findings"] = [
        {
            "surface": "openai_org_costs",
            "source": "capture",
            "kind": "pagination_changed",
            "path": "next_page",
            "pointer": "/pages/0/body/has_more",
            "severity": "breaking",
            "expected": "a new next_page while has_more is true, null at the end",
            "observed": "has_more=true but no cursor to continue with",
            "message": "pagination broke at page 0: has_more=true but no cursor to continue with",
            "consumed_by_merge": True,
            "occurrences": 1,
        }
    ]
    path.write_text(json.dumps(document))
    [found] = paging(run_check([path]))
    assert found.observed == "has_more=true but no cursor to continue with"  # the recorded one


def test_cli_exit_code_and_json(tmp_path: Path) -> None:
    path = write_body(tmp_path, "users.json", users_with(has_more=True, last_id=_ABSENT))
    for command in ("check", "diff"):
        result = run_cli(command, "--surface", "openai_org_users", str(path), "--format", "json")
        assert result.code == 1
        [found] = [
            f for f in json.loads(result.stdout)["findings"] if f["kind"] == "pagination_changed"
        ]
        words = "has_more=true but last_id is absent"
        assert found["message"] == f"pagination broke in the body: {words}"
