#!/usr/bin/env python3
"""Benchmark the whole pipeline on the tool's own capture files, at one or more sizes.

For each size (people x days) it starts the sandbox in its own process (as a remote API
would be), then runs every stage as a fresh `verify` process on the files the capture
wrote and records wall time and peak RSS (from the kernel, `wait4`):

  capture   verify capture (all four surfaces, live code path, --base-url to the sandbox)
  check     verify check DIR
  diff      verify diff DIR (against the documented schemas)
  lock      verify lock DIR --accept (into a locks directory of the run's own)
  gate      verify gate DIR (against those locks)
  merge     verify merge DIR (gate included)
  floor     orjson.loads of the same capture files, one after the other, in one process

and prints one table per size (ratio = wall / floor), then, with two or more sizes, the
peak RSS of each stage side by side: streaming keeps it flat as the data grows.

Targets (issue 11), at 1,500 people x 180 days: capture <= 200 MB; check, gate, merge
<= 150 MB each; check <= 1.5x the floor; merge (gate included) <= 4x the floor.

    .venv/bin/python scripts/bench_pipeline.py                  # 1,500 and 5,556 people x 180 days
    .venv/bin/python scripts/bench_pipeline.py --quick          # 150 and 300 people x 30 days
    .venv/bin/python scripts/bench_pipeline.py --people 1500 --days 180

Data goes under the git-ignored bench-data/pipeline/ (deleted and rewritten per run).
Figures move with machine load: run it on a quiet machine and compare within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench-data" / "pipeline"
SURFACES = (
    "chatgpt_enterprise_usage",
    "openai_org_usage_completions",
    "openai_org_costs",
    "openai_org_users",
)
FLOOR_CODE = """
import sys, time, orjson
began = time.perf_counter()
for name in sys.argv[1:]:
    with open(name, "rb") as handle:
        document = orjson.loads(handle.read())
    del document
print(time.perf_counter() - began)
"""
# stage -> (peak RSS target in MB, wall target as a multiple of the floor)
TARGETS: dict[str, tuple[float | None, float | None]] = {
    "capture": (200, None),
    "check": (150, 1.5),
    "gate": (150, None),
    "merge": (150, 4.0),
}


@dataclass(frozen=True)
class Measured:
    stage: str
    wall: float
    peak_mb: float
    exit_code: int


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--people",
        default=None,
        help="comma-separated sizes in people (default 1500,5556: 270k and 1M rows per "
        "surface over 180 days)",
    )
    parser.add_argument("--days", type=int, default=None, help="days of history (default 180)")
    parser.add_argument("--quick", action="store_true", help="150,300 people x 30 days")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args()
    quick_people, full_people = "150,300", "1500,5556"
    args.people = [
        int(p) for p in (args.people or (quick_people if args.quick else full_people)).split(",")
    ]
    args.days = args.days or (30 if args.quick else 180)
    return args


def verify_command() -> list[str]:
    return [sys.executable, "-m", "verifier"]


def run_measured(stage: str, command: list[str], env: dict[str, str], log: Path) -> Measured:
    """Run one fresh process; its own peak RSS comes from wait4 (kilobytes on Linux)."""
    began = time.perf_counter()
    with log.open("ab") as out:
        out.write(f"$ {' '.join(command)}\n".encode())
        out.flush()
        process = subprocess.Popen(command, stdout=out, stderr=out, env=env, cwd=ROOT)
        _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - began
    process.returncode = os.waitstatus_to_exitcode(status)
    return Measured(stage, wall, usage.ru_maxrss / 1024, process.returncode)


def start_sandbox(people: int, days: int, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    command = [*verify_command(), "sandbox", "--port", "0", "--users", str(people)]
    command += ["--days", str(days)]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=ROOT, text=True
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if "listening on " not in line:
        process.terminate()
        raise SystemExit(f"the sandbox did not start: {line!r}")
    return process, line.split("listening on ", 1)[1].split()[0]


def bench_size(
    people: int, days: int, env: dict[str, str], log: Path
) -> tuple[list[Measured], dict[str, int]]:
    work = DATA / f"{people}x{days}"
    shutil.rmtree(work, ignore_errors=True)
    captures, locks = work / "captures", work / "locks"
    captures.mkdir(parents=True)
    today = datetime.now(UTC).date()
    first: date = today - timedelta(days=days - 1)
    sandbox, url = start_sandbox(people, days, env)
    try:
        overrides = [arg for name in SURFACES for arg in ("--base-url", f"{name}={url}")]
        capture = run_measured(
            "capture",
            [
                *verify_command(),
                "capture",
                "--start",
                first.isoformat(),
                "--end",
                today.isoformat(),
                "--out",
                str(captures),
                *overrides,
            ],
            env,
            log,
        )
    finally:
        sandbox.terminate()
        sandbox.wait()
    files = sorted(str(p) for p in captures.glob("*.json"))
    if capture.exit_code != 0 or len(files) != len(SURFACES):
        raise SystemExit(f"capture failed (exit {capture.exit_code}); see {log}")
    v = verify_command()
    stages = [
        capture,
        run_measured("check", [*v, "check", str(captures)], env, log),
        run_measured("diff", [*v, "diff", str(captures)], env, log),
        run_measured(
            "lock",
            [
                *v,
                "lock",
                str(captures),
                "--accept",
                "--reviewer",
                "bench",
                "--locks-dir",
                str(locks),
            ],
            env,
            log,
        ),
        run_measured("gate", [*v, "gate", str(captures), "--locks-dir", str(locks)], env, log),
        run_measured(
            "merge",
            [
                *v,
                "merge",
                str(captures),
                "--out",
                str(work / "spend.csv"),
                "--locks-dir",
                str(locks),
            ],
            env,
            log,
        ),
        floor_of(files, env, log),
    ]
    rows = row_counts(files, env)
    for stage in stages:
        if stage.exit_code not in (0, 1):  # 1: findings (e.g. a gate warning), still a run
            raise SystemExit(f"{stage.stage} failed (exit {stage.exit_code}); see {log}")
    return stages, rows


def floor_of(files: list[str], env: dict[str, str], log: Path) -> Measured:
    """orjson.loads of every capture file in one fresh process; its own wall time."""
    measured = run_measured("floor", [sys.executable, "-c", FLOOR_CODE, *files], env, log)
    return measured


ROWS_CODE = """
import json, sys, orjson
counts = {}
for name in sys.argv[1:]:
    with open(name, "rb") as handle:
        document = orjson.loads(handle.read())
    total = 0
    for page in document["pages"]:
        for row in (page.get("body") or {}).get("data") or []:
            results = row.get("results") if isinstance(row, dict) else None
            total += len(results) if isinstance(results, list) else 1
    counts[name] = total
    del document
print(json.dumps(counts))
"""


def row_counts(files: list[str], env: dict[str, str]) -> dict[str, int]:
    """Rows the merge reads per surface (ChatGPT rows, bucket results, users), counted in a
    child process: a large parent would raise every later child's peak RSS (Linux keeps
    the parent's high-water mark across fork and exec)."""
    command = [sys.executable, "-c", ROWS_CODE, *files]
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    counts: dict[str, int] = json.loads(output)
    return {Path(name).name.split("__")[0]: count for name, count in counts.items()}


def print_table(
    people: int, days: int, stages: list[Measured], rows: dict[str, int], size_mb: float
) -> None:
    floor = next(s for s in stages if s.stage == "floor")
    print(
        f"\n{people} people x {days} days: {size_mb:.0f} MB of captures; rows per surface: "
        + ", ".join(f"{k} {v:,}" for k, v in rows.items())
    )
    print(f"{'stage':<9} {'wall s':>8} {'x floor':>8} {'peak MB':>8}  target")
    for stage in stages:
        rss_target, wall_target = TARGETS.get(stage.stage, (None, None))
        ratio = stage.wall / floor.wall if floor.wall else float("nan")
        wanted = []
        if rss_target is not None:
            wanted.append(
                f"<= {rss_target:.0f} MB " + ("ok" if stage.peak_mb <= rss_target else "MISSED")
            )
        if wall_target is not None and stage.stage != "floor":
            wanted.append(f"<= {wall_target}x " + ("ok" if ratio <= wall_target else "MISSED"))
        figures = f"{stage.wall:>8.2f} {ratio:>8.2f} {stage.peak_mb:>8.0f}"
        print(f"{stage.stage:<9} {figures}  {'; '.join(wanted)}")


def main() -> int:
    args = parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    log = DATA / "bench_pipeline.log"
    log.write_text("")
    key = "sk-bench-" + uuid.uuid4().hex  # a fake key the sandbox accepts, never a real one
    env = {
        **os.environ,
        "OPENAI_ADMIN_KEY": key,
        "CODEX_ANALYTICS_KEY": key,
        "CHATGPT_WORKSPACE_ID": str(uuid.uuid4()),
        "VERIFY_ANON_KEY": "bench-pipeline-" + uuid.uuid4().hex,
        "NO_COLOR": "1",
    }
    results: dict[int, list[Measured]] = {}
    for people in args.people:
        stages, rows = bench_size(people, args.days, env, log)
        work = DATA / f"{people}x{args.days}" / "captures"
        size_mb = sum(p.stat().st_size for p in work.glob("*.json")) / 1e6
        print_table(people, args.days, stages, rows, size_mb)
        results[people] = stages
        if not args.keep:
            shutil.rmtree(DATA / f"{people}x{args.days}", ignore_errors=True)
    if len(results) > 1:
        sizes = list(results)
        print("\npeak RSS (MB) by size: flat means streaming")
        print(f"{'stage':<9} " + " ".join(f"{f'{p} people':>12}" for p in sizes))
        for index, stage in enumerate(results[sizes[0]]):
            cells = " ".join(f"{results[p][index].peak_mb:>12.0f}" for p in sizes)
            print(f"{stage.stage:<9} {cells}")
    print(f"\n(commands and their output: {log})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
