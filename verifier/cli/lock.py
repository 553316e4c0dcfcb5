"""`verify lock`: freeze the observed shape of reviewed captures, one lock per surface."""

from __future__ import annotations

from pathlib import Path

import click

from verifier.cli.app import emit, format_option, main, surface_option
from verifier.lock import DEFAULT_LOCKS_DIR, run_lock


@main.command()
@click.argument("paths", nargs=-1, required=True, metavar="CAPTURE...")
@surface_option()
@click.option(
    "--accept",
    is_flag=True,
    help="Lock even though check/diff found breaking issues; the findings are recorded.",
)
@click.option(
    "--locks-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_LOCKS_DIR,
    show_default=True,
    help="Where to write <surface>.lock.json.",
)
@format_option()
def lock(
    paths: tuple[str, ...], surface: str | None, accept: bool, locks_dir: Path, fmt: str
) -> int:
    """Write captures/locks/<surface>.lock.json from captures that pass `check`.

    The lock holds the observed shape and its provenance (capture SHA-256, dates, tool
    version, anonymisation key fingerprint). Breaking findings refuse the lock (exit 1)
    unless --accept, which records them in the lock as reviewed.

    \b
    Examples:
      verify lock captures/documented/*.json
      verify lock captures/live/openai_org_costs__20261127T230000Z.json --accept
    """
    report, written = run_lock(paths, surface=surface, locks_dir=locks_dir, accept=accept)
    code = emit(report, fmt)
    if fmt == "text":
        for path in written:
            click.echo(f"locked {path}")
    return code
