"""Anonymising files saved by other means (`verify anonymise`): read every input, wrap
raw bodies in the capture envelope, anonymise and leak-gate every output, and only then
write them all, so a refused run leaves nothing half-done on disk."""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from verifier.anonymise import anonymise_capture, pseudonym_token
from verifier.errors import DiskError, InputError, UsageError
from verifier.exactjson import loads_exact
from verifier.inputs import expand_paths, nesting_guard, parse_json_bytes, read_bytes
from verifier.keys import AnonKey, load_key
from verifier.leakscan import leak_guard, leaks_in, literal_secrets
from verifier.store import (
    Capture,
    Page,
    RequestInfo,
    capture_from_json,
    clear_stale_temp_files,
    is_capture_document,
    serialise,
    temp_prefix,
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


def load_exact(path: Path) -> Any:
    """The file checked like every input (one-line errors), then read again keeping each
    number's text, so an amount with more digits than a double holds survives."""
    data = read_bytes(path)
    parse_json_bytes(data, str(path))
    return loads_exact(data)


def read_job(path: Path, surface: Surface | None, status: int, out_dir: Path) -> Job:
    document = load_exact(path)
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
    with nesting_guard(str(job.source)):
        anonymised = anonymise_capture(job.capture, key, secrets=secrets)
    if keep_raw and job.raw:
        data = serialise(anonymised.pages[0].body, str(job.source))
    else:
        data = serialise(anonymised.to_json(), str(job.source))
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
    write_all_or_nothing([(job.target, data) for job, data in outputs])
    return key, [job for job, _ in outputs]


def write_all_or_nothing(files: list[tuple[Path, bytes]]) -> None:
    """Every file is first written and fsynced beside its target; only when all of them
    are on disk are they renamed into place, so a failure (a full disk, a directory in
    the way) leaves none of the outputs behind."""
    staged: list[tuple[str, Path]] = []
    try:
        for target, data in files:
            staged.append((stage(target, data), target))
        for temp, target in staged:
            os.replace(temp, target)
    except OSError as exc:
        raise DiskError(
            f"could not write {target}: {exc.strerror or exc}; nothing was written"
        ) from None
    finally:
        for temp, _ in staged:
            with contextlib.suppress(OSError):
                os.unlink(temp)


def stage(target: Path, data: bytes) -> str:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not target.is_file():
        raise IsADirectoryError(21, "not a regular file", str(target))
    clear_stale_temp_files(target.parent)
    fd, temp = tempfile.mkstemp(prefix=temp_prefix(target.name), suffix=".tmp", dir=target.parent)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return temp
