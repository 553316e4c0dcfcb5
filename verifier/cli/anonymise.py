"""`verify anonymise` and `verify scan`: the anonymiser and the leak gate on files."""

from __future__ import annotations

import os
from pathlib import Path

import click

from verifier.anonymise_files import run_anonymise, shown
from verifier.cli.app import emit, format_option, main, surface_option
from verifier.findings import Report
from verifier.leakscan import literal_secrets, scan_paths


@main.command()
@click.argument("inputs", nargs=-1, required=True, metavar="IN...")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write the anonymised files to (created if missing).",
)
@surface_option()
@click.option(
    "--status",
    type=click.IntRange(100, 599),
    default=200,
    show_default=True,
    help="HTTP status recorded for raw bodies (e.g. 403 for a saved error body).",
)
@click.option(
    "--raw",
    "keep_raw",
    is_flag=True,
    help="Write raw bodies back in their own shape instead of as capture files.",
)
@format_option()
def anonymise(
    inputs: tuple[str, ...],
    out_dir: Path,
    surface: str | None,
    status: int,
    keep_raw: bool,
    fmt: str,
) -> int:
    """Anonymise capture files and raw responses saved by other means.

    IN is a capture file, a raw response body saved as the API returned it (give
    --surface), or a directory of *.json files. Each is written to --out under its own
    name: a capture file stays a capture file; a raw body becomes a capture file
    (surface, anonymisation key fingerprint, the file's time as captured_at) unless --raw
    is given. The key comes from VERIFY_ANON_KEY, else from a key file created once in
    your config directory. Every output passes the leak gate before anything is written.

    \b
    Examples:
      verify anonymise --surface openai_org_costs costs-page.json --out captures/imported
      verify anonymise captures/live --out captures/shared
    """
    key, jobs = run_anonymise(inputs, out_dir, surface, status, keep_raw)
    secrets = literal_secrets(os.environ)
    report = Report(
        command="anonymise",
        findings=(),
        sources=tuple(shown(job.source, secrets) for job in jobs),
        extra={
            "key_fingerprint": key.fingerprint,
            "written": [str(job.target) for job in jobs],
        },
    )
    if fmt != "text":
        return emit(report, fmt)
    for job in jobs:
        click.echo(f"wrote {job.target} ({job.capture.surface}, from {shown(job.source, secrets)})")
    click.echo(f"anonymise: {len(jobs)} file(s) written with key {key.fingerprint}")
    return 0


@main.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@format_option()
def scan(paths: tuple[str, ...], fmt: str) -> int:
    """Scan any files for personal data and secrets in the clear.

    Reports `pii_leak` (email addresses other than anonymised `@anon.invalid` ones) and
    `secret_leak` (sk-... keys, bearer tokens, JWT-shaped strings, and the values of
    OPENAI_ADMIN_KEY, CODEX_ANALYTICS_KEY, CHATGPT_WORKSPACE_ID and VERIFY_ANON_KEY when
    set) with the path and JSON pointer of each hit, never the value. A directory means
    every file beneath it. Exit 1 when anything is found.

    \b
    Examples:
      verify scan captures/
      verify scan --format json merged.csv captures/live
    """
    return emit(scan_paths(paths, literal_secrets(os.environ)), fmt)
