"""Time and memory of one capture request against each attack of the hostile loopback
server (tests/hostile_server.py): decompression bomb, dripping body, dripping headers,
hanging server cancelled after 0.5 s, reset. Figures only; the suite asserts outcomes.

    .venv/bin/python scripts/hostile_server_check.py [--timeout 1] [--max-body-mb 1]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.hostile_server import BOMB_INFLATED_BYTES, hostile_server
from verifier.http_guard import HttpGuard

ATTACKS = ("bomb", "drip", "drip-headers", "hang", "reset", "ok")


def one(base: str, route: str, timeout: float, max_bytes: int) -> tuple[str, float, float]:
    guard = HttpGuard(max_body_bytes=max_bytes)
    if route == "hang":
        threading.Timer(0.5, guard.cancel_all).start()  # Ctrl-C half a second in
    tracemalloc.start()
    began = time.perf_counter()
    try:
        with httpx.Client(trust_env=False) as client:
            response = guard.get(client, f"{base}/{route}/v1", headers={}, timeout=timeout)
        outcome = f"HTTP {response.status_code}, {len(response.content)} bytes"
    except Exception as exc:  # the figure is which error, how fast, how much memory
        outcome = exc.__class__.__name__
    seconds = time.perf_counter() - began
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return outcome, seconds, peak / 1024 / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=1.0)
    parser.add_argument("--max-body-mb", type=int, default=1)
    args = parser.parse_args()
    print(
        f"whole-request timeout {args.timeout} s, cap {args.max_body_mb} MB "
        f"(the bomb inflates to {BOMB_INFLATED_BYTES // 1024 // 1024} MB)"
    )
    with hostile_server() as (base, _):
        for route in ATTACKS:
            outcome, seconds, peak = one(base, route, args.timeout, args.max_body_mb << 20)
            print(f"{route:>13}: {outcome:<32} {seconds:6.2f} s  peak {peak:7.1f} MiB (Python)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
