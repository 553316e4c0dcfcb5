"""Benchmark `verify merge` against DuckDB doing the same join and group-by in SQL.

Generates (deterministically, seed 2026) under bench-data/ (git-ignored):
  1,000,000 ChatGPT usage rows, 1,000,000 OpenAI usage results, 1,000,000 OpenAI cost
  results (grouped by user_id, float amounts as the API sends them) and the users list,
as capture files whose page cursors chain as the vendors' do, so that `verify gate`
passes them against locks taken from them (`verify lock ... --accept`, not timed). Then,
in the same run, times (wall clock, best of --repeat):
  - merge:   verifier.merge.load.merge_paths_table(...) into the CSV writer (files in,
             CSV bytes out; rows made date by date as `verify merge` makes them): the
             issue's target line
  - command: the whole `verify merge FILES --locks-dir LOCKS --out X.csv` in a fresh
             process (start-up, the gate's pass, the merge, the CSV), peak RSS from
             GNU time (the largest single process)
  - duckdb:  one SQL query reading the same capture files, joining users by id and
             email, grouping by (date, person), COPY ... TO a CSV file
and prints them and their ratios, and checks that the three tables agree.

--exact writes every cost amount as a 17-decimal text a double cannot hold (as live
costs send them; one in four as a JSON string), so the merge takes its exact path
(`verifier.merge.stream.read_exact`, ijson) for the costs capture, and DuckDB reads
amount.value as DECIMAL(38, 17): the dollar totals must then be equal to the last digit.
--spill-sizes also prints the merge's spill file per surface (one more merge, untimed).

Run:  .venv/bin/python scripts/bench_merge.py            (add --rows 270000 for a quick look)
      .venv/bin/python scripts/bench_merge.py --exact
"""

from __future__ import annotations

import argparse
import filecmp
import itertools
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from verifier.consumer import contract_for
from verifier.consumer.mapping import ReadingPlan, plan_from_profile
from verifier.inputs import load_sources
from verifier.merge import spill
from verifier.merge.load import merge_paths_table
from verifier.merge.output import write_csv_table
from verifier.parallel import JOBS_ENV
from verifier.profile import profile_source
from verifier.store import (
    Capture,
    Page,
    RequestInfo,
    atomic_write_bytes,
    save_capture,
    serialise,
)
from verifier.surfaces import SURFACES

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench-data"
FIRST_DAY = date(2026, 1, 1)
SEED = 2026
EXACT_DECIMALS = 17  # DuckDB's DECIMAL(38, 17) holds them exactly


def _stamp(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _user_id(rng: random.Random) -> str:
    """`user-` + 24 alphanumerics, the live format (api-facts §1)."""
    return "user-" + "".join(rng.choice(_ALPHABET) for _ in range(24))


def _capture(surface: str, bodies: list[Any]) -> Capture:
    spec = SURFACES[surface]
    return Capture(
        surface=surface,
        request=RequestInfo("GET", spec.url_template, dict(spec.query)),
        pages=tuple(Page(200, spec.url_template, {}, body) for body in bodies),
        captured_at="2026-05-02T00:00:00Z",
        key_fingerprint=None,
        source="bench",
    )


def _pages(
    items: list[Any], size: int, envelope: Callable[[list[Any], bool, int], Any]
) -> list[Any]:
    chunks = [items[i : i + size] for i in range(0, len(items), size)] or [[]]
    return [envelope(chunk, i < len(chunks) - 1, i) for i, chunk in enumerate(chunks)]


def _users_page(chunk: list[Any], more: bool, index: int) -> dict[str, Any]:
    """The users list pages by `after=<last_id>` (api-facts §1)."""
    del index
    ends = {"first_id": chunk[0]["id"], "last_id": chunk[-1]["id"]} if chunk else {}
    return {"object": "list", "data": chunk, **ends, "has_more": more}


def _chatgpt_page(chunk: list[Any], more: bool, index: int) -> dict[str, Any]:
    return {"data": chunk, "has_more": more, "next_page": _cursor(index, more)}


def _cursor(index: int, more: bool) -> str | None:
    """A page's `next_page`: a new non-empty string while `has_more` is true, null on the
    last page, so the chain is one `verify gate` accepts (verifier/pagination.py)."""
    return f"page_{index + 1:06d}" if more else None


def _page(chunk: list[Any], more: bool, index: int) -> dict[str, Any]:
    return {"object": "page", "data": chunk, "has_more": more, "next_page": _cursor(index, more)}


def _exact_amount(rng: random.Random) -> str:
    """An amount in [0, 3) written with 17 decimals, as live costs send them
    (`0.34090000000000000`, api-facts §1.3): its text is never a double's shortest form,
    so the merge must read the capture with exact numbers (`read_exact`, ijson)."""
    units = rng.randrange(0, 3 * 10**EXACT_DECIMALS)
    return f"{units // 10**EXACT_DECIMALS}.{units % 10**EXACT_DECIMALS:0{EXACT_DECIMALS}d}"


_STRING_AMOUNT = re.compile(rb'"value": "([0-9]+\.[0-9]+)"')


def _save_exact_costs(capture: Capture, path: Path, strings: int) -> None:
    """Write the costs capture with its amount texts as JSON numbers, except one in
    `strings` (none at 0) left a JSON string (live costs send both): orjson cannot write
    a number's text, so the serialised bytes are edited before the atomic write."""
    count = itertools.count(1)

    def as_number(found: re.Match[bytes]) -> bytes:
        if strings and next(count) % strings == 0:
            return found.group(0)
        return b'"value": ' + found.group(1)

    atomic_write_bytes(path, _STRING_AMOUNT.sub(as_number, serialise(capture.to_json())))


def generate(
    rows: int, users: int, out: Path, *, exact: bool = False, strings: int = 4
) -> dict[str, Path]:
    """Write the four capture files; `rows` rows per data surface over rows/users days.
    `exact`: cost amounts as 17-decimal texts (`_exact_amount`), one in `strings` a JSON
    string; else doubles."""
    rng = random.Random(SEED)
    days = max(1, rows // users)
    out.mkdir(parents=True, exist_ok=True)
    emails = [f"u-{i:06x}@anon.invalid" if i % 10 else None for i in range(users)]
    openai_ids = [_user_id(rng) for _ in range(users)]
    paths = {name: out / f"{name}.json" for name in SURFACES}

    directory = [
        {
            "object": "organization.user",
            "id": openai_ids[i],
            "email": emails[i],
            "added_at": 1711471533 + i,
        }
        for i in range(users)
        if i % 7  # some API users are missing from the users list
    ]
    save_capture(
        _capture("openai_org_users", _pages(directory, 100, _users_page)),
        paths["openai_org_users"],
    )

    chat_rows = []
    for d in range(days):
        day = FIRST_DAY + timedelta(days=d)
        start, end = (
            f"{day.isoformat()}T00:00:00Z",
            f"{(day + timedelta(days=1)).isoformat()}T00:00:00Z",
        )
        for i in range(users):
            user: dict[str, Any] = {"id": f"wsu_{i:08d}"}
            if emails[i] is not None and i % 5:
                user["email"] = emails[i]
            chat_rows.append(
                {
                    "start_time": start,
                    "end_time": end,
                    "user": user,
                    "credits": rng.randrange(0, 5000) if i % 3 else round(rng.random() * 900, 2),
                    "threads": rng.randrange(0, 40),
                    "turns": rng.randrange(0, 200),
                    "tokens": {
                        "text_input": rng.randrange(0, 500_000),
                        "cached_input": rng.randrange(0, 100_000),
                        "output": rng.randrange(0, 50_000),
                    },
                }
            )
    chat_pages = _pages(chat_rows, 1000, _chatgpt_page)
    save_capture(
        _capture("chatgpt_enterprise_usage", chat_pages), paths["chatgpt_enterprise_usage"]
    )
    del chat_rows, chat_pages

    usage_buckets, cost_buckets = [], []
    for d in range(days):
        day = FIRST_DAY + timedelta(days=d)
        edges = {"object": "bucket", "start_time": _stamp(day), "end_time": _stamp(day) + 86400}
        usage_results, cost_results = [], []
        for i in range(users):
            user_id = None if i % 97 == 0 else openai_ids[i]
            usage_results.append(
                {
                    "object": "organization.usage.completions.result",
                    "input_tokens": rng.randrange(0, 400_000),
                    "input_cached_tokens": rng.randrange(0, 50_000),
                    "output_tokens": rng.randrange(0, 40_000),
                    "num_model_requests": rng.randrange(0, 900),
                    "user_id": user_id,
                }
            )
            cost_results.append(
                {
                    "object": "organization.costs.result",
                    "amount": {
                        "value": _exact_amount(rng) if exact else rng.random() * 3,
                        "currency": "usd",
                    },
                    "line_item": None,
                    "user_id": user_id,
                    "project_id": None,
                }
            )
        usage_buckets.append({**edges, "results": usage_results})
        cost_buckets.append({**edges, "results": cost_results})
    save_capture(
        _capture("openai_org_usage_completions", _pages(usage_buckets, 31, _page)),
        paths["openai_org_usage_completions"],
    )
    costs = _capture("openai_org_costs", _pages(cost_buckets, 180, _page))
    if exact:
        _save_exact_costs(costs, paths["openai_org_costs"], strings)
    else:
        save_capture(costs, paths["openai_org_costs"])
    return paths


DUCKDB_SQL = """
COPY (
WITH
users AS (
  SELECT u.id AS id, lower(u.email) AS email
  FROM (SELECT unnest(p.body.data) AS u
        FROM (SELECT unnest(pages) AS p FROM read_json('{users}', {big})))
),
codex AS (
  SELECT CAST(r.start_time AS TIMESTAMPTZ)::DATE AS day,
         coalesce(lower(r."user".email), 'chatgpt:' || r."user".id) AS person,
         r.credits::DECIMAL(38, 10) AS codex_credits, r.threads AS codex_threads,
         r.turns AS codex_turns, r.tokens.text_input AS codex_input_tokens,
         r.tokens.cached_input AS codex_cached_input_tokens,
         r.tokens.output AS codex_output_tokens
  FROM (SELECT unnest(p.body.data) AS r
        FROM (SELECT unnest(pages) AS p FROM read_json('{chatgpt}', {big})))
),
api_buckets AS (
  SELECT to_timestamp(b.start_time)::DATE AS day, unnest(b.results) AS x
  FROM (SELECT unnest(p.body.data) AS b
        FROM (SELECT unnest(pages) AS p FROM read_json('{usage}', {big})))
),
api AS (
  SELECT day, CASE WHEN x.user_id IS NULL THEN 'unattributed'
                   ELSE coalesce(users.email, 'openai:' || x.user_id) END AS person,
         x.input_tokens AS api_input_tokens, x.input_cached_tokens AS api_cached_input_tokens,
         x.output_tokens AS api_output_tokens, x.num_model_requests AS api_requests
  FROM api_buckets LEFT JOIN users ON users.id = x.user_id
),
cost_buckets AS (
  SELECT to_timestamp(b.start_time)::DATE AS day, unnest(b.results) AS x
  FROM (SELECT unnest(p.body.data) AS b
        FROM (SELECT unnest(pages) AS p FROM {costs_read}))
),
cost AS (
  SELECT day, CASE WHEN x.user_id IS NULL THEN 'unattributed'
                   ELSE coalesce(users.email, 'openai:' || x.user_id) END AS person,
         x.amount.value::DECIMAL(38, 17) AS api_cost_usd
  FROM cost_buckets LEFT JOIN users ON users.id = x.user_id
)
SELECT day AS date, person,
       sum(codex_credits) AS codex_credits, sum(codex_threads) AS codex_threads,
       sum(codex_turns) AS codex_turns, sum(codex_input_tokens) AS codex_input_tokens,
       sum(codex_cached_input_tokens) AS codex_cached_input_tokens,
       sum(codex_output_tokens) AS codex_output_tokens,
       sum(api_input_tokens) AS api_input_tokens,
       sum(api_cached_input_tokens) AS api_cached_input_tokens,
       sum(api_output_tokens) AS api_output_tokens, sum(api_requests) AS api_requests,
       sum(api_cost_usd) AS api_cost_usd
FROM (SELECT * FROM codex UNION ALL BY NAME SELECT * FROM api
      UNION ALL BY NAME SELECT * FROM cost)
GROUP BY day, person
ORDER BY day, person
) TO '{out}' (HEADER, DELIMITER ',')
"""


def reading_plans() -> dict[str, ReadingPlan]:
    """Where the merge reads each field, as `verify merge` has it from the locks (made
    once, not timed): the documented shapes, which the generated files have."""
    plans = {}
    for path in sorted((ROOT / "captures" / "documented").glob("*.json")):
        (source,) = load_sources([path])
        contract = contract_for(source.surface)
        assert contract is not None
        plans[source.surface.name] = plan_from_profile(contract, profile_source(source))
    return plans


def run_merge(paths: dict[str, Path], out: Path, plans: dict[str, ReadingPlan]) -> int:
    """The merge as `verify merge` runs it after the gate: one streamed pass per file
    through the locks' reading plans, the rows made date by date into the CSV."""
    table = merge_paths_table(list(paths.values()), plans=plans)
    with out.open("wb") as handle:
        write_csv_table(table, handle)
    return table.result().counts.rows


# A capture file is one JSON object.
BIG = "maximum_object_size = 2000000000"
# With --exact the costs capture is read with the members the query uses typed, so that
# amount.value is read as DECIMAL(38, 17) from its text (numbers and numeric strings);
# inferred, a column of numbers is DOUBLE and one of numbers and strings is JSON whose
# numbers were doubles already.
EXACT_COSTS_COLUMNS = (
    "{pages: 'STRUCT(body STRUCT(data STRUCT(start_time BIGINT, results STRUCT("
    "user_id VARCHAR, amount STRUCT(value DECIMAL(38, 17)))[])[]))[]'}"
)


def run_duckdb(paths: dict[str, Path], out: Path, *, exact: bool = False) -> int:
    costs = f"read_json('{paths['openai_org_costs']}', {BIG}"
    costs += f", columns = {EXACT_COSTS_COLUMNS})" if exact else ")"
    sql = DUCKDB_SQL.format(
        users=paths["openai_org_users"],
        chatgpt=paths["chatgpt_enterprise_usage"],
        usage=paths["openai_org_usage_completions"],
        costs_read=costs,
        out=out,
        big=BIG,
    )
    with duckdb.connect() as connection:
        connection.execute(sql)
    with out.open("rb") as handle:
        return sum(1 for _ in handle) - 1


def take_locks(paths: dict[str, Path], locks: Path) -> None:
    """The locks `verify merge`'s gate compares with, taken from these captures as a
    user would (`verify lock ... --accept`); not timed."""
    command = [sys.executable, "-m", "verifier", "lock", *map(str, paths.values())]
    command += ["--accept", "--reviewer", "bench", "--locks-dir", str(locks)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def spill_sizes(paths: dict[str, Path], plans: dict[str, ReadingPlan]) -> dict[str, list[int]]:
    """The merge's spill files (`verifier.merge.spill`) per surface: [bytes, pairs]. A
    spill file only grows (chunks are appended, never rewritten), so the bytes of every
    chunk put are the file's size. Counted in a separate, untimed merge."""
    sizes: dict[str, list[int]] = {}
    put = spill.Spill.put

    def counted(self: spill.Spill, value: Any) -> spill.Token:
        token = put(self, value)
        caller = sys._getframe(1)
        if caller.f_code.co_name == "stash":  # costs.CostDay.stash: a date's amounts
            surface, pairs = "openai_org_costs", sum(map(len, value))
        else:  # spill.SpilledDates.put, called by chatgpt.CodexDays / usage.UsageDays
            owner = caller.f_back.f_locals.get("self") if caller.f_back else None
            module = type(owner).__module__
            surface = {"verifier.merge.chatgpt": "chatgpt_enterprise_usage"}.get(
                module, "openai_org_usage_completions"
            )
            pairs = int(caller.f_locals["pairs"])
        entry = sizes.setdefault(surface, [0, 0])
        entry[0] += token[1]
        entry[1] += pairs
        return token

    spill.Spill.put = counted  # type: ignore[method-assign]
    # One process: a forked worker's chunks would be counted in the worker's copy of
    # `sizes` (verifier.parallel); the files are the same either way.
    jobs = os.environ.get(JOBS_ENV)
    os.environ[JOBS_ENV] = "1"
    try:
        run_merge(paths, DATA / "spill-count.csv", plans)
    finally:
        spill.Spill.put = put  # type: ignore[method-assign]
        if jobs is None:
            del os.environ[JOBS_ENV]
        else:
            os.environ[JOBS_ENV] = jobs
    return sizes


GNU_TIME = Path("/usr/bin/time")


def run_command(paths: dict[str, Path], locks: Path, out: Path, peaks: list[float]) -> int:
    """The whole `verify merge` command in a fresh process: start-up, the gate's pass over
    every capture against the locks, the merge and the CSV. Its peak RSS goes to `peaks`,
    from GNU time: wait4 here would report at least this process's own peak, which a
    child started by vfork inherits at exec."""
    command = [sys.executable, "-m", "verifier", "merge", *map(str, paths.values())]
    command += ["--locks-dir", str(locks), "--out", str(out)]
    with tempfile.TemporaryDirectory() as scratch:
        peak_file = Path(scratch) / "peak"
        if GNU_TIME.exists():
            command = [str(GNU_TIME), "-f", "%M", "-o", str(peak_file), *command]
        done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if done.returncode != 0:
            message = done.stderr.decode(errors="replace").strip()
            raise SystemExit(f"verify merge exited {done.returncode}: {message}")
        if peak_file.exists():
            peaks.append(int(peak_file.read_text().split()[-1]) / 1024)
    with out.open("rb") as handle:
        return sum(1 for _ in handle) - 1


def best_of(repeat: int, job: Callable[[], int]) -> tuple[float, int]:
    best, rows = float("inf"), 0
    for _ in range(repeat):
        began = time.perf_counter()
        rows = job()
        best = min(best, time.perf_counter() - began)
    return best, rows


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per data surface")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument(
        "--exact",
        action="store_true",
        help="cost amounts as 17-decimal texts a double cannot hold (the merge's exact read)",
    )
    parser.add_argument(
        "--strings",
        type=int,
        default=4,
        metavar="N",
        help="with --exact: one amount in N is a JSON string, as live costs send some "
        "(each is a schema violation the gate explains); 0: numbers only",
    )
    parser.add_argument(
        "--spill-sizes",
        action="store_true",
        help="also print the merge's spill file size per surface (one more, untimed merge)",
    )
    args = parser.parse_args(argv)

    exact = f"-exact-strings-{args.strings}" if args.exact else ""
    data = DATA / f"rows-{args.rows}-users-{args.users}{exact}"
    paths = {name: data / f"{name}.json" for name in SURFACES}
    locks = data / "locks"
    if args.regenerate or not all(p.exists() for p in paths.values()):
        began = time.perf_counter()
        paths = generate(args.rows, args.users, data, exact=args.exact, strings=args.strings)
        shutil.rmtree(locks, ignore_errors=True)
        print(f"generated {data.relative_to(ROOT)} in {time.perf_counter() - began:.1f} s")
    if not locks.is_dir():
        take_locks(paths, locks)
    sizes = ", ".join(f"{p.name} {p.stat().st_size / 1e6:.0f} MB" for p in paths.values())
    print(f"inputs: {sizes}")
    print(f"load average before: {load()}")

    plans = reading_plans()
    merge_s, merge_rows = best_of(args.repeat, lambda: run_merge(paths, data / "merge.csv", plans))
    # Peak RSS of this process after the merge, before DuckDB runs (meaningful when the
    # files were not generated in this process).
    merge_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peaks: list[float] = []
    cli_out = data / "command.csv"
    cli_s, cli_rows = best_of(args.repeat, lambda: run_command(paths, locks, cli_out, peaks))
    duck_s, duck_rows = best_of(
        args.repeat, lambda: run_duckdb(paths, data / "duckdb.csv", exact=args.exact)
    )
    print(f"load average after: {load()}")
    if args.spill_sizes:
        for surface, (size, pairs) in sorted(spill_sizes(paths, plans).items()):
            print(
                f"spill file {surface}: {size / 1e6:.1f} MB for {pairs} (date, user) pairs"
                f" = {size / max(pairs, 1):.1f} bytes per pair"
            )
    print(f"verify merge : {merge_s:7.2f} s  {merge_rows} rows  peak RSS {merge_peak:.0f} MB")
    print(
        f"verify merge command: {cli_s:7.2f} s  {cli_rows} rows  peak RSS "
        + (f"{min(peaks):.0f} MB" if peaks else "unknown (no /usr/bin/time)")
        + " (fresh process, gate included, --locks-dir, CSV out)"
    )
    print(f"duckdb {duckdb.__version__:6s}: {duck_s:7.2f} s  {duck_rows} rows")
    print(f"ratio merge/duckdb: {merge_s / duck_s:.2f}x (target <= 1.0x, issue 11)")
    print(f"ratio command/duckdb: {cli_s / duck_s:.2f}x")
    same_csv = filecmp.cmp(data / "merge.csv", cli_out, shallow=False)
    print(f"command CSV = library CSV, byte for byte: {'yes' if same_csv else 'NO'}")
    merge_sums, duck_sums = column_sums(data / "merge.csv"), column_sums(data / "duckdb.csv")
    print(f"totals (credits, dollars, API tokens): merge  {merge_sums}")
    print(f"                                       duckdb {duck_sums}")
    # Without --exact DuckDB reads amount.value as a double, so its dollars differ in the
    # last digits; the merge reads the JSON text exactly. With --exact both read the text
    # exactly and every total must match.
    dollars = Decimal(merge_sums[1]) - Decimal(duck_sums[1])
    same = (
        merge_sums[0] == duck_sums[0]
        and merge_sums[2] == duck_sums[2]
        and (dollars == 0 if args.exact else abs(dollars) < Decimal("1e-9"))
    )
    if merge_rows != duck_rows or merge_rows != cli_rows or not same or not same_csv:
        print("WARNING: the outputs differ", file=sys.stderr)
        return 1
    return 0


def column_sums(path: Path) -> tuple[str, str, int]:
    """Totals of one output (not timed), to check both tools computed the same table."""
    with duckdb.connect() as connection:
        row = connection.execute(
            "SELECT sum(codex_credits::DECIMAL(38, 10)), sum(api_cost_usd::DECIMAL(38, 17)),"
            " sum(api_input_tokens::BIGINT) + sum(api_output_tokens::BIGINT)"
            f" FROM read_csv('{path}', all_varchar = true)"
        ).fetchone()
    assert row is not None
    return (format(row[0].normalize(), "f"), format(row[1].normalize(), "f"), int(row[2]))


if __name__ == "__main__":
    sys.exit(main())
