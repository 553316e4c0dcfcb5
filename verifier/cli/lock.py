"""`verify lock`: freeze the observed shape of reviewed captures, one lock per surface."""

from __future__ import annotations

from pathlib import Path

import click

from verifier.cli.app import emit, format_option, main, surface_option
from verifier.lock import DEFAULT_LOCKS_DIR, not_accepted_lines, parse_scales, run_lock


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
@click.option(
    "--scale",
    "scales",
    multiple=True,
    metavar="PATH=FACTOR",
    help="With --accept: state the unit scale of a money path whose magnitude changed "
    "(values x FACTOR = the contract unit; cents -> dollars is 0.01). Repeatable.",
)
@click.option(
    "--reviewer",
    metavar="NAME",
    help="Who reviewed, recorded in the lock with --accept; default $VERIFY_REVIEWER. "
    "--accept without either is refused (exit 2): an acceptance nobody names is not a "
    "review, and the tool never records the login name.",
)
@format_option()
def lock(
    paths: tuple[str, ...],
    surface: str | None,
    accept: bool,
    locks_dir: Path,
    scales: tuple[str, ...],
    reviewer: str | None,
    fmt: str,
) -> int:
    """Write captures/locks/<surface>.lock.json from captures that pass `check`.

    The lock holds the observed shape and its provenance (capture SHA-256, dates, tool
    version, anonymisation key fingerprint). Breaking findings refuse the lock (exit 1)
    unless --accept, which records the review in the lock (moves old -> new path,
    tolerated changes, stated unit scales, who and when); the merge then reads through
    the accepted mapping. A unit change stays breaking until --scale states it, and a
    consumed field that vanished stays breaking. --accept needs a named reviewer
    (--reviewer or $VERIFY_REVIEWER).

    \b
    Examples:
      verify lock captures/documented/*.json
      verify lock captures/live/openai_org_costs__20261127T230000Z.json --accept --reviewer alex
      VERIFY_REVIEWER=alex verify lock captures/live/ --accept \\
          --scale 'data[].results[].amount.value=0.01'
    """
    report, written = run_lock(
        paths,
        surface=surface,
        locks_dir=locks_dir,
        accept=accept,
        scales=parse_scales(scales),
        reviewer_name=reviewer,
    )
    code = emit(report, fmt)
    if fmt == "text":
        for path in written:
            click.echo(f"locked {path}")
        for line in not_accepted_lines(report):
            click.echo(line)
    return code
