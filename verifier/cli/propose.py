"""`verify propose`: write the documented schema updated to a drifted capture, for review."""

from __future__ import annotations

from pathlib import Path

import click

from verifier.cli.app import main, surface_option
from verifier.errors import EXIT_PASS
from verifier.propose import DEFAULT_PROPOSED_DIR, run_propose


@main.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@surface_option()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_PROPOSED_DIR,
    show_default=True,
    help="Where to write <surface>.schema.json (point it at schemas/ to replace the "
    "committed schemas).",
)
def propose(paths: tuple[str, ...], surface: str | None, out_dir: Path) -> int:
    """Write each surface's documented JSON Schema updated to what the capture shows:
    moved fields (with their x-pii, x-timestamp-format and x-unit annotations), added
    fields, new types, timestamp formats, nullability and presence. Only type and format
    names are written, never a payload's values. Review the result and commit it.

    PATH is a capture file, a raw response body (give --surface) or a directory.

    \b
    Examples:
      verify propose captures/live/
      verify propose --surface openai_org_costs costs-page.json --out /tmp/proposed
      diff -u schemas/openai_org_costs.schema.json schemas/proposed/openai_org_costs.schema.json
    """
    for target, proposal in run_propose(paths, surface, out_dir=out_dir):
        click.echo(f"{proposal.surface}: wrote {target}")
        for line in proposal.changes or ("no drift: the documented schema as it is",):
            click.echo(f"  {line}")
    return EXIT_PASS
