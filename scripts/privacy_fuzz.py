"""The big privacy run: thousands of generated hostile payloads through the real CLI.

    .venv/bin/python scripts/privacy_fuzz.py --examples 10000
    .venv/bin/python scripts/privacy_fuzz.py --atheris --runs 20000   # coverage-guided
    .venv/bin/python scripts/privacy_fuzz.py --atheris --seconds 900  # or for a time

Each payload (a raw body or a capture envelope with personal values and secrets planted
in values, member names, messages, HTML, headers and envelope fields, in the encodings
of tests/privacy_payloads.py) goes through one or more of check, diff, scan, lock, anonymise and
merge (round robin; `--all-commands` runs every one on every payload). Every output
(stdout, stderr, every file written) is searched for the planted values; exit codes
must be 0..3 and no traceback may appear. Prints the figures; exit 1 on any problem.
The suite runs the same properties with fewer examples (tests/test_privacy_properties.py).
"""

from __future__ import annotations

import argparse
import base64
import importlib
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.privacy_payloads import (
    ALL_COMMANDS,
    bodies,
    captures,
    problems,
    run_commands,
)
from verifier.surfaces import SURFACE_NAMES


class Tally:
    def __init__(self) -> None:
        self.payloads = 0
        self.outputs = 0
        self.codes: Counter[int] = Counter()
        self.problems: list[str] = []
        self.began = time.perf_counter()

    def add(self, document: Any, surface: str, commands: list[str], raw: bytes | None) -> None:
        outcomes = run_commands(document, surface, commands, raw)
        self.payloads += 1
        self.outputs += len(outcomes)
        self.codes.update(o.code for o in outcomes)
        for problem in problems(outcomes):
            self.problems.append(problem)


def _save(number: int, surface: str, document: Any, raw: bytes | None, commands: list[str]) -> Path:
    """The payload of a problem, to replay: `run_commands(document or None, surface,
    commands, raw)` from tests/privacy_payloads.py."""
    PROBLEMS_DIR.mkdir(exist_ok=True)
    path = PROBLEMS_DIR / f"problem-{os.getpid()}-{number}.json"
    record = {"surface": surface, "commands": commands, "document": document}
    if raw is not None:
        record["raw_base64"] = base64.b64encode(raw).decode()
    path.write_text(json.dumps(record))
    return path


def report(tally: Tally) -> None:
    print(
        f"payloads {tally.payloads}, outputs checked {tally.outputs}, "
        f"exit codes {dict(sorted(tally.codes.items()))}, problems {len(tally.problems)}, "
        f"{time.perf_counter() - tally.began:.0f} s",
        flush=True,
    )


PROBLEMS_DIR = Path(tempfile.gettempdir()) / "privacy-fuzz-problems"


def _check(
    tally: Tally, surface: str, document: Any, raw: bytes | None, commands: list[str]
) -> None:
    before = len(tally.problems)
    tally.add(document, surface, commands, raw)
    for problem in tally.problems[before:]:
        saved = _save(len(tally.problems), surface, document, raw, commands)
        print(f"PROBLEM {problem} (payload: {saved})", flush=True)
    if tally.payloads % 500 == 0:
        report(tally)


def structured_property(tally: Tally, examples: int, all_commands: bool) -> Any:
    """The hypothesis property over generated bodies and forged captures: run by
    hypothesis itself, or driven by atheris (`fuzz_one_input`)."""
    cases = st.one_of(
        st.tuples(st.sampled_from(SURFACE_NAMES), bodies()),
        captures().map(lambda c: (c["surface"], c)),
    )

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(cases)
    def one(case: tuple[str, Any]) -> None:
        surface, document = case
        turn = tally.payloads % len(ALL_COMMANDS)
        commands = list(ALL_COMMANDS) if all_commands else [ALL_COMMANDS[turn]]
        _check(tally, surface, document, None, commands)

    return one


def instrument_verifier(atheris: Any) -> None:
    """Instrument the functions of the loaded `verifier` modules (all of Python is slow)."""
    import inspect

    for name, module in list(sys.modules.items()):
        if not name.startswith("verifier"):
            continue
        for _, member in inspect.getmembers(module):
            if inspect.isfunction(member) and member.__module__ == name:
                atheris.instrument_func(member)
            elif inspect.isclass(member) and member.__module__ == name:
                for _, method in inspect.getmembers(member, inspect.isfunction):
                    atheris.instrument_func(method)


def atheris_run(tally: Tally, runs: int, seconds: int) -> None:
    """Coverage-guided: the fuzzer's bytes either drive the hypothesis strategies (a
    structured payload, so mutations explore documents rather than broken JSON), or are
    spliced into a generated document (bytes no strategy writes: bad UTF-8, broken
    escapes, truncation)."""
    atheris: Any = importlib.import_module("atheris")  # optional: pip install atheris

    structured = structured_property(tally, 1, False).hypothesis.fuzz_one_input
    seeds = [json.dumps(bodies().example()).encode() for _ in range(20)]

    def one(data: bytes) -> None:
        if not data or data[0] % 2 == 0:
            structured(data[1:])
            return
        provider = atheris.FuzzedDataProvider(data[1:])
        surface = SURFACE_NAMES[provider.ConsumeIntInRange(0, len(SURFACE_NAMES) - 1)]
        seed = seeds[provider.ConsumeIntInRange(0, len(seeds) - 1)]
        cut = provider.ConsumeIntInRange(0, len(seed))
        drop = provider.ConsumeIntInRange(0, 8)
        raw = seed[:cut] + provider.ConsumeBytes(provider.remaining_bytes()) + seed[cut + drop :]
        command = ALL_COMMANDS[tally.payloads % len(ALL_COMMANDS)]
        _check(tally, surface, None, raw, [command])

    instrument_verifier(atheris)  # coverage of the verifier code guides the mutations
    limits = [f"-runs={runs}"] + ([f"-max_total_time={seconds}"] if seconds else [])
    atheris.Setup([sys.argv[0], *limits], one)
    atheris.Fuzz()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--all-commands", action="store_true")
    parser.add_argument("--atheris", action="store_true", help="coverage-guided (atheris)")
    parser.add_argument("--runs", type=int, default=10_000, help="atheris runs")
    parser.add_argument("--seconds", type=int, default=0, help="atheris: stop after this long")
    args = parser.parse_args()
    tally = Tally()
    try:
        if args.atheris:
            atheris_run(tally, args.runs, args.seconds)
        else:
            structured_property(tally, args.examples, args.all_commands)()
    except SystemExit:
        pass  # atheris exits when its run count is reached
    report(tally)
    for problem in tally.problems[:20]:
        print("  " + problem)
    return 1 if tally.problems else 0


if __name__ == "__main__":
    sys.exit(main())
