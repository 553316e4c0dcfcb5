"""`verify diff`: compare the observed shape of payloads with the documented schema, the
surface's lock, or another file."""

from __future__ import annotations

from pathlib import Path

import click

from verifier.cli.app import (
    consumers_option,
    emit,
    external_consumers,
    format_option,
    main,
    surface_option,
)
from verifier.drift import run_diff
from verifier.external_consumers import apply_external
from verifier.lock import DEFAULT_LOCKS_DIR


@main.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@surface_option()
@click.option(
    "--against",
    default="documented",
    show_default=True,
    metavar="documented|lock|FILE",
    help="Compare with the documented schema, the surface's lock, or a lock/payload file.",
)
@click.option(
    "--locks-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_LOCKS_DIR,
    show_default=True,
    help="Where `--against lock` finds <surface>.lock.json.",
)
@consumers_option()
@format_option()
def diff(
    paths: tuple[str, ...],
    surface: str | None,
    against: str,
    locks_dir: Path,
    consumers: Path | None,
    fmt: str,
) -> int:
    """Report drift: moved, missing and added fields, type, nullability, presence,
    timestamp format, value and unit changes, pagination and HTTP status.

    Drift on a path the cost merge reads (or an external consumer declared with
    --consumers) is breaking (exit 1); elsewhere a warning; a new field is info.

    \b
    Examples:
      verify diff captures/live/ --against lock
      verify diff --surface openai_org_costs costs-page.json --format markdown
      verify diff captures/live/ --consumers go-parsers.toml
    """
    report = run_diff(paths, surface, against=against, locks_dir=locks_dir)
    return emit(apply_external(report, external_consumers(consumers)), fmt)
