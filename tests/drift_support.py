"""Builders shared by the drift-engine tests (profile, drift, lock, gate, reports)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from verifier.inputs import Source, load_sources
from verifier.profile import Profile, expected_profile, profile_source
from verifier.store import Capture, Page, RequestInfo, save_capture
from verifier.surfaces import get_surface

from .cli_helpers import CliResult, run_cli
from .conftest import DOCUMENTED_BODIES, DOCUMENTED_CAPTURES, REFERENCE_PAYLOADS

PAYLOADS = REFERENCE_PAYLOADS
SURFACE_NAMES = (
    "chatgpt_enterprise_usage",
    "openai_org_usage_completions",
    "openai_org_costs",
    "openai_org_users",
)


def documented_body(surface: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((DOCUMENTED_BODIES / f"{surface}.json").read_text())
    return body


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


def write_body(tmp_path: Path, name: str, body: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(body, indent=1))
    return path


def write_capture(
    tmp_path: Path, surface: str, bodies: list[Any], statuses: list[int] | None = None
) -> Path:
    spec = get_surface(surface)
    pages = tuple(
        Page(status=(statuses or [200] * len(bodies))[i], url=spec.url_template, body=body)
        for i, body in enumerate(bodies)
    )
    return save_capture(fixed_capture(surface, pages), tmp_path / f"{surface}.capture.json")


def fixed_capture(
    surface: str, pages: tuple[Page, ...], findings: tuple[Mapping[str, Any], ...] = ()
) -> Capture:
    """A capture of `pages` with fixed, non-personal provenance."""
    spec = get_surface(surface)
    return Capture(
        surface=surface,
        request=RequestInfo("GET", spec.url_template, dict(spec.query)),
        pages=pages,
        captured_at="2026-05-02T00:00:00Z",
        key_fingerprint=None,
        source="test",
        findings=findings,
    )


def source_of(path: Path, surface: str | None = None) -> Source:
    return load_sources([path], surface)[0]


def observed(path: Path, surface: str | None = None) -> Profile:
    return profile_source(source_of(path, surface))


def expected(surface: str) -> Profile:
    return expected_profile(get_surface(surface))


def mutated(surface: str) -> dict[str, Any]:
    return copy.deepcopy(documented_body(surface))


def documented_capture(surface: str) -> Path:
    return DOCUMENTED_CAPTURES / f"{surface}.json"


def diff_costs_against_lock(locks_dir: Path) -> CliResult:
    """`verify diff` of the documented costs capture against the lock in `locks_dir`."""
    return run_cli(
        "diff",
        str(documented_capture("openai_org_costs")),
        "--against",
        "lock",
        "--locks-dir",
        str(locks_dir),
    )


def edit_captures(directory: Path, surface: str, edit: Callable[[dict[str, Any]], None]) -> None:
    """Rewrite every page body of one surface's capture files (a vendor-side drift)."""
    for path in directory.glob(f"{surface}*.json"):
        document = json.loads(path.read_text(), parse_float=Decimal)
        for page in document["pages"]:
            edit(page["body"])
        path.write_text(json.dumps(document, default=str))
