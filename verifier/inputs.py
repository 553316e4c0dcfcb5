"""Reading payload files: capture files written by `verify capture` and raw response
bodies exactly as an API returned them. Every way a file can be unusable becomes an
InputError with one line naming the file and the problem (exit 2)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from verifier.errors import InputError, UsageError
from verifier.store import Capture, capture_from_json, is_capture_document
from verifier.surfaces import Surface, get_surface

# RFC 7493 (I-JSON): integers beyond +-(2**53 - 1) do not survive common JSON parsers.
MAX_EXACT_INT = 2**53 - 1
_LONG_DIGITS = re.compile(rb"\d{16,}")
_BOMS = {
    b"\xef\xbb\xbf": "UTF-8",
    b"\xff\xfe": "UTF-16 LE",
    b"\xfe\xff": "UTF-16 BE",
}
_NON_FINITE = ("NaN", "Infinity", "-Infinity")


@dataclass(frozen=True, slots=True)
class Body:
    """One response body inside a source, with where it sits in the source file."""

    status: int
    value: Any
    pointer_prefix: str  # "" for a raw body, "/pages/N/body" inside a capture file
    url: str = ""
    body_text: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class Source:
    """A payload file resolved to its surface."""

    name: str
    surface: Surface
    bodies: tuple[Body, ...]
    capture: Capture | None = None

    @property
    def ok_bodies(self) -> Iterator[Body]:
        return (body for body in self.bodies if body.ok)


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; a directory means every `*.json` directly inside it, sorted."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.glob("*.json") if p.is_file())
            if not found:
                raise InputError(str(path), "directory contains no *.json files")
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            raise InputError(str(path), "no such file or directory")
    if not files:
        raise UsageError("no input files given")
    return files


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except IsADirectoryError:
        raise InputError(str(path), "is a directory") from None
    except OSError as exc:
        raise InputError(str(path), f"cannot read: {exc.strerror or exc}") from None


def parse_json_bytes(data: bytes, source: str) -> Any:
    """Strict JSON: UTF-8 without BOM, no NaN/Infinity, bounded depth and integers."""
    if not data.strip():
        raise InputError(source, "file is empty")
    for bom, name in _BOMS.items():
        if data.startswith(bom):
            raise InputError(
                source, f"starts with a {name} byte-order mark; save it as UTF-8 without a BOM"
            )
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(source, f"is not valid UTF-8 (byte offset {exc.start})") from None
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InputError(source, _describe_decode_error(exc)) from None
    if _LONG_DIGITS.search(data):
        _check_integers(data, source)
    return document


def _describe_decode_error(exc: orjson.JSONDecodeError) -> str:
    where = f"line {exc.lineno} column {exc.colno}"
    text = exc.doc if isinstance(exc.doc, str) else ""
    rest = text[exc.pos : exc.pos + 9]
    if rest.startswith(_NON_FINITE) or text[max(exc.pos - 1, 0) :].startswith("-Infinity"):
        return f"invalid JSON at {where}: NaN and Infinity are not JSON numbers"
    if "depth" in exc.msg.lower() or "recursion" in exc.msg.lower():
        return f"invalid JSON at {where}: nested too deeply (more than 1024 levels)"
    return f"invalid JSON at {where}: {exc.msg}"


def _check_integers(data: bytes, source: str) -> None:
    """Only when long digit runs exist (rare): re-read with the standard library, which
    keeps integers exact (orjson turns integers beyond 64 bits into floats), and reject
    integers JSON cannot carry exactly."""

    def exact_int(text: str) -> int:
        value = int(text)
        if abs(value) > MAX_EXACT_INT:
            raise InputError(
                source,
                f"integer {text} is outside +-(2**53-1), the range JSON numbers keep exactly "
                "(RFC 7493)",
            )
        return value

    json.loads(data, parse_int=exact_int)


def load_json_file(path: Path) -> Any:
    return parse_json_bytes(read_bytes(path), str(path))


def source_from_document(document: Any, name: str, surface: Surface | None) -> Source:
    """Resolve a parsed file to a Source: a capture knows its surface, a raw body needs one."""
    if is_capture_document(document):
        capture = capture_from_json(document, name)
        if surface is not None and surface.name != capture.surface:
            raise InputError(
                name,
                f"is a {capture.surface} capture but --surface {surface.name} was given",
            )
        bodies = tuple(
            Body(page.status, page.body, f"/pages/{i}/body", page.url, page.body_text)
            for i, page in enumerate(capture.pages)
        )
        return Source(name, get_surface(capture.surface), bodies, capture)
    if surface is None:
        raise UsageError(f"{name}: raw response body; say which surface it is with --surface NAME")
    if not isinstance(document, dict):
        raise InputError(
            name, f"expected a JSON object (a response body), found a JSON {json_type(document)}"
        )
    return Source(name, surface, (Body(200, document, ""),))


def load_sources(paths: Sequence[str | Path], surface_name: str | None = None) -> list[Source]:
    surface = get_surface(surface_name) if surface_name else None
    return [
        source_from_document(load_json_file(path), str(path), surface)
        for path in expand_paths(paths)
    ]


def json_type(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return "number"
    return "object"
