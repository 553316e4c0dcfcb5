"""`verify report`: one self-contained HTML page over a set of captures."""

from __future__ import annotations

import os
from pathlib import Path

import click

from verifier.cli.app import main
from verifier.config import load_config
from verifier.leakscan import leak_guard, literal_secrets
from verifier.merge.breakdown import BREAKDOWNS
from verifier.merge.values import parse_rate
from verifier.report import html
from verifier.spend import build_spend_view
from verifier.store import atomic_write_bytes


@main.command()
@click.argument("captures", nargs=-1, metavar="[CAPTURE...]")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The HTML file to write.",
)
@click.option(
    "--locks-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the <surface>.lock.json files are [default: [tool.verify] locks, else "
    "captures/locks].",
)
@click.option("--allow-unlocked", is_flag=True, help="Gate unlocked surfaces as a warning.")
@click.option(
    "--credit-usd-rate",
    "rate",
    metavar="R",
    help="Dollars per Codex credit: Codex spend joins the dollar chart.",
)
@click.option(
    "--by",
    type=click.Choice(["person", *BREAKDOWNS]),
    default="person",
    show_default=True,
    help="model / client: also a table of Codex credits per model+speed / client over the "
    "range, as `verify merge --by` reads them (with its `difference to totals` row).",
)
def report(
    captures: tuple[str, ...],
    out: Path,
    locks_dir: Path | None,
    allow_unlocked: bool,
    rate: str | None,
    by: str,
) -> int:
    """Write one self-contained HTML report (no network fetches) over capture files.

    It shows the gate verdict and findings, coverage per surface and day, daily spend
    (credits and dollars per day, stacked by surface, with the top people), the Codex
    native dollars (codex_native_cost_usd) on their own, never added to credits or API
    dollars, and the join coverage; with --by model|client, Codex credits per model or
    client. Only pseudonyms from the anonymised captures appear; the page is leak-checked
    before it is written. CAPTURE defaults to [tool.verify] captures, else captures/.
    Exit 1 when the gate fails (the page is still written, without
    spend figures).

    \b
    Examples:
      verify report captures/2026-05 --out report.html
      verify report captures/ --out report.html --credit-usd-rate 0.04
      verify report captures/ --out report.html --by model
    """
    settings = load_config()
    view = build_spend_view(
        captures or (settings.captures,),
        locks_dir=locks_dir or settings.locks,
        allow_unlocked=allow_unlocked,
        credit_usd_rate=parse_rate(rate) if rate is not None else None,
        breakdown=next((choice for choice in BREAKDOWNS if choice == by), None),
    )
    data = html.render(view).encode("utf-8")
    leak_guard(literal_secrets(os.environ), where=str(out))(data)
    atomic_write_bytes(out, data)
    click.echo(f"report: {view.gate.verdict.upper()}; wrote {out}")
    return 1 if view.gate.verdict == "fail" else 0
