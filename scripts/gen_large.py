"""Deterministic generator of large raw response bodies for the check/diff benchmark.

Writes, under a git-ignored directory (default `bench-data/`):
  chatgpt_enterprise_usage_<N>.json      one page with N Codex usage rows (documented shape)
  openai_org_usage_completions_<N>.json  N usage results spread over daily buckets

The same arguments always produce byte-identical files (no randomness, no clock).
Run: .venv/bin/python scripts/gen_large.py [--rows N] [--out DIR]
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import orjson

DAY = 86400
START = datetime(2026, 1, 1, tzinfo=UTC)
USERS_PER_DAY = 1000


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def chatgpt_row(index: int) -> dict[str, object]:
    """One person-day of Codex usage; values vary with the index but never randomly."""
    day = START + timedelta(days=index // USERS_PER_DAY)
    user = index % USERS_PER_DAY
    return {
        "start_time": _rfc3339(day),
        "end_time": _rfc3339(day + timedelta(days=1)),
        "user": {"email": f"user{user:04d}@example.com", "id": f"wsu_{user:06d}"},
        "credits": round((index * 7919 % 100_000) / 100, 2),
        "threads": index % 17,
        "turns": index % 97,
        "tokens": {
            "text_input": index * 31 % 1_000_000,
            "cached_input": index * 17 % 100_000,
            "output": index * 13 % 50_000,
        },
    }


@cache
def openai_user_id(user: int) -> str:
    """`user-` + 24 alphanumerics, the live id format (api-facts §1), derived from `user`."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    state = user * 2654435761 + 97
    chars = []
    for _ in range(24):
        state = (state * 6364136223846793005 + 1442695040888963407) % 2**64
        chars.append(alphabet[(state >> 32) % len(alphabet)])
    return "user-" + "".join(chars)


def usage_result(index: int) -> dict[str, object]:
    user = index % USERS_PER_DAY
    return {
        "object": "organization.usage.completions.result",
        "input_tokens": index * 31 % 1_000_000,
        "output_tokens": index * 13 % 50_000,
        "num_model_requests": index % 500,
        "input_cached_tokens": index * 17 % 100_000,
        "project_id": None,
        "user_id": openai_user_id(user),
        "api_key_id": None,
        "model": None,
        "batch": None,
    }


def usage_bucket(day: int, first: int, count: int) -> dict[str, object]:
    start = int(START.timestamp()) + day * DAY
    return {
        "object": "bucket",
        "start_time": start,
        "end_time": start + DAY,
        "results": [usage_result(first + i) for i in range(count)],
    }


def _write_page(path: Path, head: bytes, items: Iterator[bytes], tail: bytes) -> None:
    with path.open("wb") as out:
        out.write(head)
        for i, chunk in enumerate(items):
            out.write(b",\n" if i else b"\n")
            out.write(chunk)
        out.write(tail)


def _serialised(rows: Iterator[dict[str, object]]) -> Iterator[bytes]:
    for row in rows:
        yield orjson.dumps(row)


def write_chatgpt(out_dir: Path, rows: int) -> Path:
    path = out_dir / f"chatgpt_enterprise_usage_{rows}.json"
    head = b'{"data": ['
    tail = b'\n], "has_more": false, "next_page": null}\n'
    _write_page(path, head, _serialised(chatgpt_row(i) for i in range(rows)), tail)
    return path


def _buckets(rows: int) -> Iterator[dict[str, object]]:
    for day, first in enumerate(range(0, rows, USERS_PER_DAY)):
        yield usage_bucket(day, first, min(USERS_PER_DAY, rows - first))


def write_usage(out_dir: Path, rows: int) -> Path:
    path = out_dir / f"openai_org_usage_completions_{rows}.json"
    head = b'{"object": "page", "data": ['
    tail = b'\n], "has_more": false, "next_page": null}\n'
    _write_page(path, head, _serialised(_buckets(rows)), tail)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows/results per file")
    parser.add_argument("--out", type=Path, default=Path("bench-data"), help="output directory")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for path in (write_chatgpt(args.out, args.rows), write_usage(args.out, args.rows)):
        print(f"{path} {path.stat().st_size / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
