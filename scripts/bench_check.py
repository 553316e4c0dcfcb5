"""Benchmark `verify check` and `verify diff --against documented` on large raw bodies.

For each generated file (scripts/gen_large.py: 1,000,000 ChatGPT usage rows; 1,000,000
OpenAI usage results over daily buckets) this times, in the same run and each in a fresh
process: `orjson.loads` of the file, `check-jsonschema --schemafile` with the same
schema, `verify check` and `verify diff --against documented`, with the peak resident
memory of each process (with its own children, from `os.wait4`).

Run:  .venv/bin/python scripts/bench_check.py            # 1,000,000 rows (minutes)
      .venv/bin/python scripts/bench_check.py --rows 20000 --skip-check-jsonschema
Prints a table; never asserts anything (timings are not tests).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SURFACES = ("chatgpt_enterprise_usage", "openai_org_usage_completions")
ORJSON_LOAD = "import sys, orjson; orjson.loads(open(sys.argv[1], 'rb').read())"


@dataclass(frozen=True)
class Timing:
    label: str
    seconds: float
    cpu_seconds: float  # user + system: steadier than wall time on a shared machine
    peak_mb: float
    exit_code: int


def measure(label: str, argv: list[str]) -> Timing:
    """Wall time and peak RSS of one child process, its own children included
    (`os.wait4` returns the rusage of exactly that child)."""
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        child = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=errors)
        _pid, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = exit_code = os.waitstatus_to_exitcode(status)
        if exit_code not in (0, 1):
            errors.seek(0)
            sys.stderr.write(errors.read().decode(errors="replace")[-2000:])
    cpu = usage.ru_utime + usage.ru_stime
    return Timing(label, seconds, cpu, usage.ru_maxrss / 1024, exit_code)


def data_file(out_dir: Path, surface: str, rows: int) -> Path:
    return out_dir / f"{surface}_{rows}.json"


def ensure_data(out_dir: Path, rows: int) -> None:
    if all(data_file(out_dir, s, rows).exists() for s in SURFACES):
        return
    subprocess.run(
        [
            PYTHON,
            str(ROOT / "scripts" / "gen_large.py"),
            "--rows",
            str(rows),
            "--out",
            str(out_dir),
        ],
        cwd=ROOT,
        check=True,
    )


def verify(*args: str) -> list[str]:
    return [PYTHON, "-m", "verifier", *args]


def bench_file(path: Path, surface: str, with_check_jsonschema: bool) -> list[Timing]:
    schema = ROOT / "schemas" / f"{surface}.schema.json"
    runs = [
        ("orjson.loads", [PYTHON, "-c", ORJSON_LOAD, str(path)]),
        ("verify check", verify("check", "--surface", surface, str(path))),
        ("verify diff --against documented", verify("diff", "--surface", surface, str(path))),
    ]
    tool = shutil.which("check-jsonschema") or str(Path(PYTHON).parent / "check-jsonschema")
    if with_check_jsonschema and os.path.exists(tool):
        runs.insert(1, ("check-jsonschema", [tool, "--schemafile", str(schema), str(path)]))
    return [measure(label, argv) for label, argv in runs]


def table(path: Path, timings: list[Timing]) -> str:
    size = path.stat().st_size / 1e6
    base = {t.label: t.seconds for t in timings}
    lines = [
        f"\n{path.name} ({size:.0f} MB)",
        f"{'command':<36}{'wall s':>9}{'cpu s':>9}{'peak RSS MB':>13}{'exit':>6}  ratio",
    ]
    for t in timings:
        ratio = ""
        if t.label == "verify check" and "check-jsonschema" in base:
            ratio = f"{base['check-jsonschema'] / t.seconds:.1f}x faster than check-jsonschema"
        elif t.label.startswith("verify diff") and "orjson.loads" in base:
            ratio = f"{t.seconds / base['orjson.loads']:.2f}x orjson.loads"
        lines.append(
            f"{t.label:<36}{t.seconds:>9.2f}{t.cpu_seconds:>9.2f}{t.peak_mb:>13.0f}"
            f"{t.exit_code:>6}  {ratio}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows/results per file")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-data", help="data directory")
    parser.add_argument(
        "--skip-check-jsonschema", action="store_true", help="do not time check-jsonschema"
    )
    args = parser.parse_args(argv)
    ensure_data(args.out, args.rows)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPU(s), rows={args.rows:,}")
    for surface in SURFACES:
        path = data_file(args.out, surface, args.rows)
        print(table(path, bench_file(path, surface, not args.skip_check_jsonschema)), flush=True)


if __name__ == "__main__":
    main()
