"""Project settings from `[tool.verify]` in `pyproject.toml`:

    [tool.verify]
    captures = "captures"            # what `verify gate` and `verify report` read by default
    locks = "captures/locks"         # where the <surface>.lock.json files are
    consumers = "consumers.toml"     # what external parsers read (see verifier.external)

The nearest `pyproject.toml` from the working directory upwards is used (as ruff and
pytest find theirs); paths in it are relative to its directory. Without one, or without a
`[tool.verify]` table, the defaults are `captures/` and `captures/locks/` in the working
directory (beside the pyproject.toml when the table exists). Command-line options always win."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from verifier.errors import InputError
from verifier.lock import DEFAULT_LOCKS_DIR

DEFAULT_CAPTURES_DIR = Path("captures")
_KEYS = ("captures", "locks", "consumers")


@dataclass(frozen=True, slots=True)
class ToolConfig:
    captures: Path = DEFAULT_CAPTURES_DIR
    locks: Path = DEFAULT_LOCKS_DIR
    consumers: Path | None = None
    source: Path | None = None  # the pyproject.toml the settings came from


def find_pyproject(start: Path | None = None) -> Path | None:
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_config(start: Path | None = None) -> ToolConfig:
    """`[tool.verify]` of the nearest pyproject.toml; bad settings are exit 2, one line."""
    pyproject = find_pyproject(start)
    if pyproject is None:
        return ToolConfig()
    try:
        document = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(pyproject), f"unreadable ({exc.__class__.__name__})") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(str(pyproject), f"invalid TOML: {exc}") from None
    table = document.get("tool", {}).get("verify")
    if table is None:
        return ToolConfig()
    where = f"{pyproject} [tool.verify]"
    if not isinstance(table, dict):
        raise InputError(where, "must be a table")
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise InputError(where, f"unknown key {unknown[0]!r} (known: {', '.join(_KEYS)})")
    for key, value in table.items():
        if not isinstance(value, str) or not value:
            raise InputError(where, f"{key} must be a non-empty path string")
    base = pyproject.parent

    def resolved(key: str, default: Path) -> Path:
        value: str = table.get(key, str(default))
        return base / value

    consumers = table.get("consumers")
    return ToolConfig(
        captures=resolved("captures", DEFAULT_CAPTURES_DIR),
        locks=resolved("locks", DEFAULT_LOCKS_DIR),
        consumers=base / consumers if consumers else None,
        source=pyproject,
    )
