"""`verify anonymise` and `verify scan`: the anonymiser and the leak gate on files."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from verifier.anonymise import anonymise_capture, pseudonym_token
from verifier.cli.app import emit, format_option, main, surface_option
from verifier.errors import InputError, UsageError
from verifier.findings import Report
from verifier.inputs import expand_paths, load_json_file
from verifier.keys import AnonKey, load_key
from verifier.leakscan import leak_guard, leaks_in, literal_secrets, scan_paths
from verifier.store import (
    Capture,
    Page,
    RequestInfo,
    atomic_write_bytes,
    capture_from_json,
    is_capture_document,
    serialise,
)
from verifier.surfaces import Surface, get_surface

IMPORTED_SOURCE = "imported"
WITHHELD = "<input name withheld>"


@dataclass(frozen=True, slots=True)
class Job:
    """One input file, read and resolved to a capture, and where its output goes."""

    source: Path
    capture: Capture
    raw: bool  # the input was a raw response body, not a capture file
    target: Path


def capture_of_raw_body(body: Any, surface: Surface, status: int, source: Path) -> Capture:
    """Wrap a raw body in the capture envelope; its file time stands for the capture time."""
    mtime = datetime.fromtimestamp(source.stat().st_mtime, tz=UTC)
    return Capture(
        surface=surface.name,
        request=RequestInfo("GET", surface.url_template, dict(surface.query)),
        pages=(Page(status=status, url=surface.url_template, body=body),),
        captured_at=mtime.strftime("%Y-%m-%dT%H:%M:%SZ"),
        key_fingerprint=None,
        source=IMPORTED_SOURCE,
    )


def read_job(path: Path, surface: Surface | None, status: int, out_dir: Path) -> Job:
    document = load_json_file(path)
    target = out_dir / path.name
    if is_capture_document(document):
        capture = capture_from_json(document, str(path))
        if surface is not None and surface.name != capture.surface:
            raise InputError(
                str(path), f"is a {capture.surface} capture but --surface {surface.name} was given"
            )
        return Job(path, capture, raw=False, target=target)
    if surface is None:
        raise UsageError(f"{path}: raw response body; say which surface it is with --surface NAME")
    return Job(path, capture_of_raw_body(document, surface, status, path), raw=True, target=target)


def safe_file_name(name: str, key: AnonKey, secrets: tuple[str, ...]) -> str:
    """An output file is never named after an email or a key (`ann@corp.example.json`)."""
    if not leaks_in(name, secrets):
        return name
    stem, dot, suffix = name.rpartition(".")
    return pseudonym_token(stem, key) + dot + suffix if stem else pseudonym_token(name, key)


def shown(path: Path, secrets: tuple[str, ...]) -> str:
    """An input path as printed: withheld when the name itself would leak."""
    return WITHHELD if leaks_in(str(path), secrets) else str(path)


def check_targets(jobs: list[Job]) -> None:
    """Refuse before anything is written: two inputs to one output, or an input overwritten."""
    inputs = {job.source.resolve() for job in jobs}
    seen: set[Path] = set()
    for job in jobs:
        target = job.target.resolve()
        if target in inputs:
            raise UsageError(f"--out would overwrite the input file {job.target}; choose another")
        if target in seen:
            raise UsageError(
                f"two inputs would both be written to {job.target}; "
                "anonymise them into different --out directories"
            )
        seen.add(target)


def output_bytes(job: Job, key: AnonKey, secrets: tuple[str, ...], keep_raw: bool) -> bytes:
    anonymised = anonymise_capture(job.capture, key, secrets=secrets)
    if keep_raw and job.raw:
        data = serialise(anonymised.pages[0].body)
    else:
        data = serialise(anonymised.to_json())
    leak_guard(secrets, where=str(job.target))(data)  # refuses the whole run on any hit
    return data


def run_anonymise(
    inputs: tuple[str, ...], out_dir: Path, surface_name: str | None, status: int, keep_raw: bool
) -> tuple[AnonKey, list[Job]]:
    """Read every input, anonymise and gate every output, and only then write them all."""
    surface = get_surface(surface_name) if surface_name else None
    jobs = [read_job(path, surface, status, out_dir) for path in expand_paths(inputs)]
    key = load_key()
    secrets = literal_secrets(os.environ)
    jobs = [
        replace(job, target=job.target.with_name(safe_file_name(job.target.name, key, secrets)))
        for job in jobs
    ]
    check_targets(jobs)
    outputs = [(job, output_bytes(job, key, secrets, keep_raw)) for job in jobs]
    for job, data in outputs:
        atomic_write_bytes(job.target, data)
    return key, [job for job, _ in outputs]


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
