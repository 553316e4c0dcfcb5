"""`verify gate`: may the cost merge run on these payloads?"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from verifier.cli.app import (
    consumers_option,
    emit,
    external_consumers,
    format_option,
    main,
    surface_option,
)
from verifier.config import load_config
from verifier.external_consumers import apply_external
from verifier.findings import SEVERITIES, Severity, severities_from
from verifier.gate import run_gate
from verifier.gate_text import refusal_lines
from verifier.surfaces import SURFACE_NAMES


@main.command()
@click.argument("paths", nargs=-1, metavar="[PATH...]")
@surface_option()
@click.option(
    "--allow-unlocked",
    is_flag=True,
    help="A surface without a lock is a warning (diffed against its documented schema).",
)
@click.option(
    "--locks-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the <surface>.lock.json files are [default: `locks` of [tool.verify] in "
    "pyproject.toml, else captures/locks].",
)
@click.option(
    "--fail-on",
    type=click.Choice(SEVERITIES),
    default="breaking",
    show_default=True,
    help="Lowest finding severity that fails the gate.",
)
@consumers_option()
@format_option()
def gate(
    paths: tuple[str, ...],
    surface: str | None,
    allow_unlocked: bool,
    locks_dir: Path | None,
    fail_on: Severity,
    consumers: Path | None,
    fmt: str,
) -> int:
    """Check and diff (against each surface's lock) everything the merge reads.

    Exit 1 on any breaking finding, or when one of the four surfaces has no lock yet
    (unless --allow-unlocked). PATH defaults to `captures` of [tool.verify] in
    pyproject.toml, else the captures/ directory (read recursively, locks skipped).

    Large captures are read by several processes at once, one per usable core
    (VERIFY_JOBS=N sets how many; VERIFY_JOBS=1 reads them in this process).

    \b
    Examples:
      verify gate captures/live/
      verify gate --allow-unlocked captures/live/ --format github
      verify gate --fail-on warning --format sarif > verify.sarif
      verify gate captures/ --consumers go-parsers.toml
    """
    settings = load_config()
    report = run_gate(
        paths or (settings.captures,),
        surface=surface,
        locks_dir=locks_dir or settings.locks,
        allow_unlocked=allow_unlocked,
    )
    report = apply_external(report, external_consumers(consumers, settings))
    report = replace(report, fail_on=severities_from(fail_on))
    code = emit(report, fmt)
    if fmt == "text":
        _echo_gaps(report.extra, allow_unlocked)
        if report.verdict == "fail":
            for line in refusal_lines(report):
                click.echo(line)
    return code


def _echo_gaps(extra: Mapping[str, Any], allow_unlocked: bool) -> None:
    """What the verdict line does not say: surfaces without a lock, and surfaces the gate
    never saw (a PASS over one surface says nothing about the other three)."""
    unlocked = extra.get("unlocked") or []
    if unlocked:
        level = "warning" if allow_unlocked else "FAIL"
        click.echo(f"{level}: no lock yet for {', '.join(unlocked)} (see `verify lock --help`)")
    uncaptured = extra.get("uncaptured") or []
    if uncaptured:
        click.echo(
            f"note: not checked, no capture given for {', '.join(uncaptured)} "
            f"({len(uncaptured)} of {len(SURFACE_NAMES)} surfaces)"
        )
