"""`verify check`: validate captures and raw bodies against the documented schemas."""

from __future__ import annotations

import click

from verifier.cli.app import emit, format_option, main, surface_option
from verifier.contract import run_check


@main.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@surface_option()
@format_option()
def check(paths: tuple[str, ...], surface: str | None, fmt: str) -> int:
    """Validate capture files and raw response bodies against the JSON Schemas.

    PATH is a capture file written by `verify capture`, a raw response body saved as
    the API returned it (give --surface), or a directory of *.json files.
    Every violation is a `schema_violation` finding with its path, JSON pointer,
    expected and observed value.

    \b
    Examples:
      verify check captures/documented
      verify check --surface openai_org_costs costs-page.json --format json
    """
    return emit(run_check(paths, surface), fmt)
