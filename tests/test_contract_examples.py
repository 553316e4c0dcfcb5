"""Data-driven contract tests: every file under tests/data/contract/<surface>/{valid,invalid}/
is discovered and checked. An invalid case may carry a `.expect` file listing
`path pointer` pairs that must each appear as a `schema_violation`. Whether a violation
fails the run is the consumer contract's call (`verifier.consumer.judge`): breaking on a
path the merge reads and cannot tolerate, a warning elsewhere, as in `diff` and `gate`."""

from __future__ import annotations

from pathlib import Path

import pytest

from verifier.contract import run_check

DATA = Path(__file__).parent / "data" / "contract"


def _cases(kind: str) -> list[tuple[str, Path]]:
    return [
        (surface_dir.name, case)
        for surface_dir in sorted(p for p in DATA.iterdir() if p.is_dir())
        for case in sorted((surface_dir / kind).glob("*.json"))
    ]


def _id(case: tuple[str, Path]) -> str:
    return f"{case[0]}/{case[1].stem}"


VALID = _cases("valid")
INVALID = _cases("invalid")


def test_corpus_is_not_empty() -> None:
    assert len(VALID) >= 4
    assert len(INVALID) >= 4


@pytest.mark.parametrize("case", VALID, ids=[_id(c) for c in VALID])
def test_valid_examples_pass(case: tuple[str, Path]) -> None:
    surface, path = case
    report = run_check([str(path)], surface)
    assert report.findings == ()
    assert report.verdict == "pass"


@pytest.mark.parametrize("case", INVALID, ids=[_id(c) for c in INVALID])
def test_invalid_examples_fail_with_located_violations(case: tuple[str, Path]) -> None:
    surface, path = case
    report = run_check([str(path)], surface)
    assert report.findings
    assert all(f.kind == "schema_violation" for f in report.findings)
    located = {(f.path, f.pointer) for f in report.findings}
    expect = path.with_suffix(".expect")
    if expect.exists():
        for line in expect.read_text().splitlines():
            path_text, pointer = line.split()
            assert (path_text, pointer) in located
