"""Anonymising files saved by other means (`verify anonymise`): read every input, wrap
raw bodies in the capture envelope, anonymise and leak-gate every output, and only then
put them all in place, so a refused run leaves nothing half-done on disk. A large input
(STREAM_MIN_BYTES or more) is never held whole: read and written as a stream
(`verifier.anonymise_stream`), with the same bytes."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from verifier.anonymise import anonymise_capture, pseudonym_token
from verifier.anonymise_stream import StreamPlan, plan_stream, write_stream
from verifier.errors import DiskError, InputError, RefusedError, UsageError
from verifier.exactjson import loads_exact
from verifier.inputs import (
    STREAM_MIN_BYTES,
    NotStreamable,
    expand_paths,
    nesting_guard,
    parse_json_bytes,
    read_bytes,
)
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
    capture: Capture  # without pages when the input streams (`plan`)
    raw: bool  # the input was a raw response body, not a capture file
    target: Path
    plan: StreamPlan | None = None  # a large input, read again as a stream when written
    surface: Surface | None = None  # as given (--surface), to read it whole after all
    status: int = 200


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


def read_job(
    path: Path,
    surface: Surface | None,
    status: int,
    out_dir: Path,
    stream_min_bytes: int | None = None,
) -> Job:
    """One input, checked as a whole read would check it; a large one streams."""
    limit = STREAM_MIN_BYTES if stream_min_bytes is None else stream_min_bytes
    target = out_dir / path.name

    def wrap(body: Any) -> Capture:
        assert surface is not None  # a raw body streams only when its surface is given
        return capture_of_raw_body(body, surface, status, path)

    plan = plan_stream(path, surface, limit, wrap, status)
    if plan is not None:
        return Job(path, plan.capture, plan.raw, target, plan, surface, status)
    document = load_exact(path)
    if is_capture_document(document):
        capture = capture_from_json(document, str(path))
        if surface is not None and surface.name != capture.surface:
            raise InputError(
                str(path), f"is a {capture.surface} capture but --surface {surface.name} was given"
            )
        return Job(path, capture, raw=False, target=target, surface=surface, status=status)
    if surface is None:
        raise UsageError(f"{path}: raw response body; say which surface it is with --surface NAME")
    capture = capture_of_raw_body(document, surface, status, path)
    return Job(path, capture, raw=True, target=target, surface=surface, status=status)


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
    """The whole output of a job read whole, leak-gated."""
    with nesting_guard(str(job.source)):
        anonymised = anonymise_capture(job.capture, key, secrets=secrets)
    if keep_raw and job.raw:
        data = serialise(anonymised.pages[0].body, str(job.source))
    else:
        data = serialise(anonymised.to_json(), str(job.source))
    leak_guard(secrets, where=str(job.target))(data)  # refuses the whole run on any hit
    return data


def output_writer(
    job: Job, key: AnonKey, secrets: tuple[str, ...], keep_raw: bool
) -> Callable[[BinaryIO], object]:
    """What writes a job's output into its staged file. A streamed job writes as it goes;
    if it gives up (NotStreamable) or its gate refuses, its input is read whole after all,
    and the whole output decides (a refusal then names the exact place)."""
    plan = job.plan
    if plan is None:
        data = output_bytes(job, key, secrets, keep_raw)
        return lambda handle: handle.write(data)

    def streamed(handle: BinaryIO) -> None:
        guard = leak_guard(secrets, where=str(job.target))
        mark = handle.tell()
        try:
            write_stream(plan, key, secrets, keep_raw=keep_raw, write=handle.write, guard=guard)
            return
        except (NotStreamable, RefusedError):
            handle.seek(mark)
            handle.truncate()
        whole = read_job(job.source, job.surface, job.status, job.target.parent, 1 << 62)
        handle.write(output_bytes(replace(whole, target=job.target), key, secrets, keep_raw))

    return streamed


def run_anonymise(
    inputs: tuple[str, ...],
    out_dir: Path,
    surface_name: str | None,
    status: int,
    keep_raw: bool,
    *,
    stream_min_bytes: int | None = None,
) -> tuple[AnonKey, list[Job]]:
    """Read every input, anonymise and gate every output, and only then put them all in
    place. Inputs of `stream_min_bytes` (default STREAM_MIN_BYTES) or more stream."""
    surface = get_surface(surface_name) if surface_name else None
    jobs = [
        read_job(path, surface, status, out_dir, stream_min_bytes) for path in expand_paths(inputs)
    ]
    key = load_key()
    secrets = literal_secrets(os.environ)
    jobs = [
        replace(job, target=job.target.with_name(safe_file_name(job.target.name, key, secrets)))
        for job in jobs
    ]
    check_targets(jobs)
    write_all_or_nothing([(job.target, output_writer(job, key, secrets, keep_raw)) for job in jobs])
    return key, jobs


def write_all_or_nothing(files: Iterable[tuple[Path, Callable[[BinaryIO], object]]]) -> None:
    """Every file is first written and fsynced beside its target; only when all of them
    are on disk are they renamed into place, so a failure (a full disk, a directory in
    the way, a refusal) leaves none of the outputs behind. `files` is consumed lazily:
    each output is made (and may be refused) just before it is staged."""
    staged: list[tuple[str, Path]] = []
    try:
        for target, fill in files:
            staged.append((stage(target, fill), target))
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


def stage(target: Path, fill: Callable[[BinaryIO], object]) -> str:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not target.is_file():
        raise IsADirectoryError(21, "not a regular file", str(target))
    clear_stale_temp_files(target.parent)
    fd, temp = tempfile.mkstemp(prefix=temp_prefix(target.name), suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w+b") as handle:
            fill(handle)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return temp
