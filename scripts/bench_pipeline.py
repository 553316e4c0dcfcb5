#!/usr/bin/env python3
"""Benchmark the whole pipeline on the tool's own capture files, at one or more sizes.

For each size it starts the sandbox in its own process (as a remote API would be), then
runs every stage as a fresh `verify` process on the files the capture wrote and records
wall time, CPU time (user + system of the process and the workers it waited for, from
`wait4`) and memory three ways: the peak RSS `wait4` gives, which is the largest single
process of the tree; the peak of the tree's summed RSS (VmRSS of the process and its
descendants, sampled every 10 ms from /proc; an upper bound: a page a forked worker
shares with its parent counts once in each); and the peak of the tree's summed PSS
(sampled every 50 ms from /proc/PID/smaps_rollup; a shared page is divided among the
processes sharing it, so this is what the tree occupies). `verify gate` and `verify
merge` read the captures in parallel processes (`verifier/parallel.py`): the memory
targets are checked against the larger of the largest process and the tree's PSS. The
stages:

  capture   verify capture (all four surfaces, live code path, --base-url to the sandbox)
  check     verify check DIR
  diff      verify diff DIR (against the documented schemas)
  lock      verify lock DIR --accept (into a locks directory of the run's own)
  gate      verify gate DIR (against those locks)
  merge     verify merge DIR (gate included)
  floor     orjson.loads of the same capture files, one after the other, in one process

and prints one table per size (ratio = wall / floor, rows per surface above it), then,
with two or more sizes, the rows and the memory of each stage side by side: streaming
keeps it flat as the data grows.

A size is either a number of people on every surface (`--people`), or a number of rows
per surface (`--rows`): then the people of the OpenAI surfaces (usage and costs, 180
days of look-back) and of ChatGPT Codex usage (90 days) are each computed from the
sandbox's activity (`verifier.sandbox.data`: 3 person-days in 4 have API usage, 4 in 5
Codex usage), so every surface gets about that many rows (the users list: the OpenAI
people). `--people 1500x889` gives one size its own days. The default sizes are 1,500
people x 180 days (108k ChatGPT rows, 203k usage and cost results); the same 1,500
people x 889 days (1M usage and cost results: only the rows grow; ChatGPT keeps 90 days);
and 1,000,000 rows per surface x 180 days (7,408 people on the OpenAI surfaces, 13,889
on ChatGPT: the people per date grow too, and the merge holds one date's people).

Targets (issue 11), at 1,500 people x 180 days: capture <= 200 MB; check, gate, merge
<= 150 MB each; check <= 1.5x the floor; merge (gate included) <= 4x the floor. Memory
flat from the first size to the others.

    .venv/bin/python scripts/bench_pipeline.py                  # the three sizes above
    .venv/bin/python scripts/bench_pipeline.py --quick          # 150 and 300 people x 30 days
    .venv/bin/python scripts/bench_pipeline.py --people 1500 --days 60
    .venv/bin/python scripts/bench_pipeline.py --rows 1000000 --keep     # keep the captures
    .venv/bin/python scripts/bench_pipeline.py --rows 1000000 --reuse    # stages again on them

Capture at 1M rows per surface takes many minutes: `--keep` keeps a size's captures, and
`--reuse` runs the stages again on captures kept from an earlier run of the same size
(no sandbox, no capture; the capture row then says "reused"), e.g. to measure a change
to the readers. Data goes under the git-ignored bench-data/pipeline/<size>/ (deleted
after the run unless --keep or --reuse). Figures move with machine load: run it on a
quiet machine, compare within one run, and say the load average (printed per size).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import threading
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
    peak_mb: float  # wait4: the largest process of the tree
    exit_code: int
    tree_mb: float = math.nan  # the peak of the summed RSS of the process tree (sampled)
    cpu: float = math.nan  # user + system seconds of the tree
    pss_mb: float = math.nan  # the peak of the summed PSS of the process tree (sampled)

    @property
    def memory_mb(self) -> float:
        """The figure the memory targets are checked against: the larger of the largest
        process and the tree's summed PSS (its summed RSS where PSS was not sampled)."""
        tree = self.tree_mb if math.isnan(self.pss_mb) else self.pss_mb
        return self.peak_mb if math.isnan(tree) else max(self.peak_mb, tree)


@dataclass(frozen=True)
class Size:
    """People on the OpenAI surfaces (and in the users list), people with ChatGPT Codex
    usage, days of history; `rows`: the rows per surface asked for (None: by people)."""

    people: int
    codex_people: int
    days: int
    rows: int | None = None

    @property
    def label(self) -> str:
        if self.rows is not None:
            return f"{self.rows:,} rows"
        return f"{self.people:,} x {self.days} d"

    @property
    def folder(self) -> Path:
        if self.codex_people == self.people:
            return DATA / f"{self.people}x{self.days}"
        return DATA / f"{self.people}-{self.codex_people}x{self.days}"

    def describe(self) -> str:
        people = f"{self.people:,} people"
        if self.codex_people != self.people:
            people += f" ({self.codex_people:,} on ChatGPT)"
        return f"{people} x {self.days} days"


ACTIVITY_CODE = """
import json
from verifier.sandbox.data import API_IDLE_ONE_IN, CODEX_IDLE_ONE_IN
from verifier.sandbox.endpoints import CODEX_LOOKBACK_DAYS
print(json.dumps([API_IDLE_ONE_IN, CODEX_IDLE_ONE_IN, CODEX_LOOKBACK_DAYS]))
"""


# 1,500 people over 180 days; the same people over 889 days (1M rows per OpenAI surface,
# only the rows grow); then `--rows 1000000` (the people grow to give 1M rows in 180 days).
DEFAULT_PEOPLE = "1500,1500x889"


def size_for_people(text: str, days: int) -> Size:
    """`N` people over `days`, or `NxD`: N people over D days."""
    people, _, own_days = text.partition("x")
    return Size(int(people), int(people), int(own_days) if own_days else days)


def size_for_rows(rows: int, days: int) -> Size:
    """The people each surface needs for about `rows` rows over `days` (the sandbox's
    activity; the Codex API's look-back caps its days). Asked of a child process: this
    one stays small (see `row_counts`)."""
    command = [sys.executable, "-c", ACTIVITY_CODE]
    output = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    api_idle, codex_idle, lookback = json.loads(output.stdout)
    people = math.ceil(rows / (days * (1 - 1 / api_idle)))
    codex_people = math.ceil(rows / (min(days, lookback) * (1 - 1 / codex_idle)))
    return Size(people, codex_people, days, rows)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--people",
        default=None,
        help="comma-separated sizes in people on every surface; PEOPLExDAYS (1500x889) "
        "gives one size its own days of history",
    )
    parser.add_argument(
        "--rows",
        default=None,
        help="comma-separated sizes in rows per surface (people computed per surface)",
    )
    parser.add_argument("--days", type=int, default=None, help="days of history (default 180)")
    parser.add_argument("--quick", action="store_true", help="150,300 people x 30 days")
    parser.add_argument("--keep", action="store_true", help="keep the captures of every size")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="no capture: run the stages on the captures kept (--keep) by an earlier run",
    )
    args = parser.parse_args()
    days = args.days or (30 if args.quick else 180)
    people, rows = args.people, args.rows
    if people is None and rows is None:
        people, rows = ("150,300", None) if args.quick else (DEFAULT_PEOPLE, "1000000")
    args.sizes = [size_for_people(p, days) for p in (people or "").split(",") if p]
    args.sizes += [size_for_rows(int(r), days) for r in (rows or "").split(",") if r]
    return args


def verify_command() -> list[str]:
    return [sys.executable, "-m", "verifier"]


def run_measured(stage: str, command: list[str], env: dict[str, str], log: Path) -> Measured:
    """Run one fresh process: its wall time; peak RSS and CPU time from wait4 (kilobytes
    on Linux; CPU of the process and of the children it waited for); and the peak of
    its process tree's summed RSS and PSS, sampled (`TreeMemory`)."""
    began = time.perf_counter()
    with log.open("ab") as out:
        out.write(f"$ {' '.join(command)}\n".encode())
        out.flush()
        process = subprocess.Popen(command, stdout=out, stderr=out, env=env, cwd=ROOT)
        tree = TreeMemory(process.pid)
        _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - began
    process.returncode = os.waitstatus_to_exitcode(status)
    rss_mb, pss_mb = tree.stop()
    return Measured(
        stage,
        wall,
        usage.ru_maxrss / 1024,
        process.returncode,
        tree_mb=rss_mb,
        cpu=usage.ru_utime + usage.ru_stime,
        pss_mb=pss_mb,
    )


class TreeMemory:
    """The peaks of the summed VmRSS (every 10 ms) and of the summed PSS (every 50 ms:
    a read of smaps_rollup costs about a millisecond) of a process and all its
    descendants, sampled by a thread (the children from /proc/PID/task/*/children).

    The RSS sum counts every page a forked worker still shares with its parent (the
    interpreter, the libraries, the heap it has not written to) once per process: an
    upper bound. PSS divides each shared page among the processes sharing it, so the PSS
    sum is what the tree occupies."""

    PSS_EVERY = 5  # RSS samples per PSS sample

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._rss_kb = self._pss_kb = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def stop(self) -> tuple[float, float]:
        """Stop sampling; the peaks in MB: summed RSS, summed PSS."""
        self._done.set()
        self._thread.join()
        return self._rss_kb / 1024, self._pss_kb / 1024

    def _sample(self) -> None:
        count = 0
        while not self._done.is_set():
            tree = _tree(self._pid)
            self._rss_kb = max(self._rss_kb, sum(map(_rss_kb, tree)))
            if count % self.PSS_EVERY == 0:
                self._pss_kb = max(self._pss_kb, sum(map(_pss_kb, tree)))
            count += 1
            self._done.wait(0.01)


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (those alive now)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    queue.extend(int(child) for child in handle.read().split())
            except OSError:
                continue
    return found


def _rss_kb(pid: int) -> int:
    return _proc_kb(f"/proc/{pid}/status", "VmRSS:")


def _pss_kb(pid: int) -> int:
    return _proc_kb(f"/proc/{pid}/smaps_rollup", "Pss:")


def _proc_kb(path: str, field: str) -> int:
    """A kB figure from a /proc file; 0 for a process gone, or a zombie (no memory)."""
    try:
        with open(path) as handle:
            for line in handle:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def start_sandbox(size: Size, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    command = [*verify_command(), "sandbox", "--port", "0", "--users", str(size.people)]
    command += ["--days", str(size.days), "--codex-users", str(size.codex_people)]
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
    size: Size, env: dict[str, str], log: Path, *, reuse: bool
) -> tuple[list[Measured], dict[str, int]]:
    work = size.folder
    captures, locks = work / "captures", work / "locks"
    if reuse:
        if len(list(captures.glob("*.json"))) != len(SURFACES):
            raise SystemExit(f"--reuse: no kept captures of {size.describe()} in {captures}")
        shutil.rmtree(locks, ignore_errors=True)
        capture = Measured("capture", math.nan, math.nan, 0)
    else:
        shutil.rmtree(work, ignore_errors=True)
        captures.mkdir(parents=True)
        capture = capture_size(size, captures, env, log)
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


def capture_size(size: Size, captures: Path, env: dict[str, str], log: Path) -> Measured:
    """`verify capture` of the whole history from a sandbox of this size."""
    today = datetime.now(UTC).date()
    first: date = today - timedelta(days=size.days - 1)
    sandbox, url = start_sandbox(size, env)
    try:
        overrides = [arg for name in SURFACES for arg in ("--base-url", f"{name}={url}")]
        command = [*verify_command(), "capture", "--start", first.isoformat()]
        command += ["--end", today.isoformat(), "--out", str(captures), *overrides]
        return run_measured("capture", command, env, log)
    finally:
        sandbox.terminate()
        sandbox.wait()


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


def print_table(size: Size, stages: list[Measured], rows: dict[str, int], size_mb: float) -> None:
    floor = next(s for s in stages if s.stage == "floor")
    print(
        f"\n{size.describe()}: {size_mb:.0f} MB of captures; load average "
        + " ".join(f"{n:.2f}" for n in os.getloadavg())
    )
    print("rows per surface: " + ", ".join(f"{k} {v:,}" for k, v in rows.items()))
    print(
        f"{'stage':<9} {'wall s':>8} {'x floor':>8} {'cpu s':>7} {'peak MB':>8} {'tree MB':>8}"
        f" {'PSS MB':>7}  target (memory: the larger of peak and tree PSS)"
    )
    for stage in stages:
        if math.isnan(stage.wall):
            print(f"{stage.stage:<9} {'reused':>8}")
            continue
        rss_target, wall_target = TARGETS.get(stage.stage, (None, None))
        ratio = stage.wall / floor.wall if floor.wall else float("nan")
        wanted = []
        if rss_target is not None:
            met = stage.memory_mb <= rss_target
            wanted.append(f"<= {rss_target:.0f} MB " + ("ok" if met else "MISSED"))
        if wall_target is not None and stage.stage != "floor":
            wanted.append(f"<= {wall_target}x " + ("ok" if ratio <= wall_target else "MISSED"))
        figures = f"{stage.wall:>8.2f} {ratio:>8.2f} {stage.cpu:>7.2f} {stage.peak_mb:>8.0f}"
        trees = f"{stage.tree_mb:>8.0f} {stage.pss_mb:>7.0f}"
        print(f"{stage.stage:<9} {figures} {trees}  {'; '.join(wanted)}")


def print_side_by_side(results: dict[Size, tuple[list[Measured], dict[str, int]]]) -> None:
    """Rows per surface and peak RSS per stage, one column per size."""
    sizes = list(results)
    print("\nrows and memory (MB: the larger of peak and tree PSS) by size: flat means streaming")
    print(f"{'':<28} " + " ".join(f"{size.label:>16}" for size in sizes))
    for surface in SURFACES:
        cells = " ".join(f"{results[size][1].get(surface, 0):>16,}" for size in sizes)
        print(f"{surface:<28} {cells}")
    for index, stage in enumerate(results[sizes[0]][0]):
        peaks = (results[size][0][index].memory_mb for size in sizes)
        cells = " ".join("reused".rjust(16) if math.isnan(p) else f"{p:>16.0f}" for p in peaks)
        print(f"{stage.stage + ' MB':<28} {cells}")


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
    results: dict[Size, tuple[list[Measured], dict[str, int]]] = {}
    for size in args.sizes:
        stages, rows = bench_size(size, env, log, reuse=args.reuse)
        captures = size.folder / "captures"
        size_mb = sum(p.stat().st_size for p in captures.glob("*.json")) / 1e6
        print_table(size, stages, rows, size_mb)
        results[size] = (stages, rows)
        if not (args.keep or args.reuse):
            shutil.rmtree(size.folder, ignore_errors=True)
    if len(results) > 1:
        print_side_by_side(results)
    print(f"\n(commands and their output: {log})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
