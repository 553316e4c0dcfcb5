"""The streamed merge table (issue 11): `verify merge` makes the rows date by date
straight into its output (`MergeStream` + `formats.write_table`), never holding the
table. Its bytes equal, in every format, those of the held table and those of the
writers as they were (csv.writer, one orjson document); its join coverage and counts
equal the held ones; the fast CSV writer is csv.writer byte for byte on hostile cells;
and a merge that fails midway leaves nothing written."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.cli_helpers import run_cli
from tests.conftest import DOCUMENTED_CAPTURES
from tests.merge_builders import openai_body, source
from verifier.capture import capture_from_sandbox
from verifier.errors import InputError, UsageError
from verifier.inputs import load_capture_inputs, load_sources
from verifier.lock import run_lock
from verifier.merge import core, output
from verifier.merge.core import (
    HeldTable,
    JoinCoverage,
    MergedRow,
    MergeResult,
    MergeStream,
    RowCounts,
    Share,
)
from verifier.merge.focus import FOCUS_COLUMNS, focus_records
from verifier.merge.formats import WRITERS, write, write_table
from verifier.merge.gated import gated_merge
from verifier.merge.load import NOT_A_CAPTURE
from verifier.merge.output import CsvOut, _money, columns, csv_bytes, csv_cell, metadata, records
from verifier.merge.values import money_text

OPTIONS: list[dict[str, Any]] = [
    {},
    {"credit_usd_rate": Decimal("0.04")},
    {"provisional": True},
    {"breakdown": "model"},
    {"breakdown": "client"},
]


def reference(result: MergeResult, fmt: str) -> bytes:
    """The bytes the writers wrote before the table was streamed: csv.writer over the
    whole table, one orjson document for json."""
    if fmt == "json":
        document = {"metadata": metadata(result), "rows": list(records(result))}
        return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    if fmt == "jsonl":
        return b"".join(orjson.dumps(record) + b"\n" for record in records(result))
    if fmt == "focus":
        charges = focus_records(result)
        return csv_bytes(FOCUS_COLUMNS, [[csv_cell(c[n]) for n in FOCUS_COLUMNS] for c in charges])
    table = [[csv_cell(value) for value in record.values()] for record in records(result)]
    return csv_bytes(columns(result), table)


def streamed(paths: list[Path], fmt: str, **options: Any) -> tuple[bytes, MergeResult]:
    """The table written as `verify merge` writes it: made date by date into the file."""
    stream = _stream(paths, **options)
    buffer = io.BytesIO()
    write_table(stream, fmt, buffer)
    return buffer.getvalue(), stream.result()


def _stream(paths: list[Path], **options: Any) -> MergeStream:
    inputs = core.parse_sources(load_sources(paths), breakdown=options.pop("breakdown", None))
    return MergeStream(inputs, consume=True, **options)


def held(paths: list[Path], **options: Any) -> MergeResult:
    inputs = core.parse_sources(load_sources(paths), breakdown=options.pop("breakdown", None))
    return core.merge(inputs, **options)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sandbox captures over several UTC dates (a batch per date)."""
    out = tmp_path_factory.mktemp("sandbox")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VERIFY_ANON_KEY", "streamed-output-key-0123456789abcdef0123")
        capture_from_sandbox(out, start=date(2026, 5, 1), end=date(2026, 5, 6), users=7)
    return out


# `--by` has no FOCUS form (refused: test_focus_refuses_a_breakdown).
CASES = [
    (fmt, options)
    for fmt in WRITERS
    for options in OPTIONS
    if not (fmt == "focus" and "breakdown" in options)
]


@pytest.mark.parametrize(("fmt", "options"), CASES, ids=lambda v: str(v))
def test_streamed_bytes_equal_the_held_table_and_the_former_writers(
    sandbox: Path, fmt: str, options: dict[str, Any]
) -> None:
    for paths in ([DOCUMENTED_CAPTURES], [sandbox]):
        whole = held(paths, **options)
        data, result = streamed(paths, fmt, **options)
        assert data == write(whole, fmt) == reference(whole, fmt), (paths, fmt)
        assert result.coverage == whole.coverage
        assert result.counts == whole.counts
        assert result.parts == whole.parts


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_a_date_made_in_slices_of_its_people_writes_the_same_table(
    sandbox: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thousands of people a date are made a slice of people at a time (`ROW_SLICE`):
    slices of 2 give the bytes, coverage and counts of whole dates, and no batch is
    longer than a slice."""
    options = {"credit_usd_rate": Decimal("0.04")}
    whole = held([sandbox], **options)
    assert max(Counter(row.date for row in whole.rows).values()) > 2
    monkeypatch.setattr(core, "ROW_SLICE", 2)
    data, result = streamed([sandbox], fmt, **options)
    assert data == write(whole, fmt)
    assert (result.coverage, result.counts) == (whole.coverage, whole.counts)
    assert max(map(len, _stream([sandbox], **options).batches())) == 2


def test_a_held_table_is_written_a_slice_of_cells_at_a_time(
    sandbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A held table (one batch of every row) has its CSV cells made a slice of rows at a
    time (`_CELL_SLICE`): the bytes are csv.writer's all the same."""
    whole = held([sandbox])
    monkeypatch.setattr(output, "_CELL_SLICE", 3)
    assert write(whole, "csv") == reference(whole, "csv")


def test_counts_are_those_of_the_rows(sandbox: Path) -> None:
    whole = held([sandbox])
    rows = whole.rows
    assert len({row.date for row in rows}) > 1
    assert whole.counts == RowCounts(
        rows=len(rows),
        dates=len({row.date for row in rows}),
        partial=sum(1 for row in rows if row.partial),
    )


def test_focus_refuses_a_breakdown(sandbox: Path) -> None:
    with pytest.raises(UsageError, match="no --by model table"):
        write_table(_stream([sandbox], breakdown="model"), "focus", io.BytesIO())


def test_an_empty_table_is_written_as_before() -> None:
    empty = source("openai_org_costs", openai_body([]))  # a capture naming no date at all
    stream = MergeStream(core.parse_sources([empty]), consume=True)
    for fmt in WRITERS:
        buffer = io.BytesIO()
        write_table(stream, fmt, buffer)
        assert buffer.getvalue() == reference(stream.result(), fmt), fmt
    assert stream.result().counts == RowCounts()


_CELL = st.text(
    alphabet=st.sampled_from([",", '"', "\n", "\r", " ", "a", "Z", "0", "é", "\u2028", "\t", ";"]),
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 4).flatmap(lambda n: st.lists(st.lists(_CELL, min_size=n, max_size=n))))
def test_fast_csv_writer_is_csv_writer_byte_for_byte(rows: list[list[str]]) -> None:
    width = len(rows[0]) if rows else 2
    header = [f"h{i}" for i in range(width)]
    buffer = io.BytesIO()
    CsvOut(buffer, header).rows(rows)
    expected = io.StringIO()
    writer = csv.writer(expected, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    assert buffer.getvalue() == expected.getvalue().encode("utf-8")
    by_column = io.BytesIO()  # the same rows given column by column
    CsvOut(by_column, header).columns(list(zip(*rows, strict=True)))
    assert by_column.getvalue() == buffer.getvalue()


_TEXT = st.text(
    alphabet=st.sampled_from([",", '"', "\n", "\r", " ", "a", "@", "é", "\u2028", "\\", "ß"]),
    min_size=1,
    max_size=8,
)
_MONEY = st.one_of(st.none(), st.decimals(allow_nan=False, allow_infinity=False, places=6))
_COUNT = st.one_of(st.none(), st.integers(0, 2**63 - 1))


@st.composite
def merged_rows(draw: st.DrawFn) -> MergedRow:
    return MergedRow(
        date=draw(st.sampled_from(["2026-05-01", "2026-05-02"])),
        person=draw(_TEXT),
        email=draw(st.one_of(st.none(), _TEXT)),
        chatgpt_user_id=draw(st.one_of(st.none(), _TEXT)),
        openai_user_id=draw(st.one_of(st.none(), _TEXT)),
        codex_credits=draw(_MONEY),
        codex_threads=draw(_COUNT),
        codex_turns=draw(_COUNT),
        codex_input_tokens=draw(_COUNT),
        codex_cached_input_tokens=draw(_COUNT),
        codex_output_tokens=draw(_COUNT),
        api_input_tokens=draw(_COUNT),
        api_cached_input_tokens=draw(_COUNT),
        api_output_tokens=draw(_COUNT),
        api_requests=draw(_COUNT),
        api_cost_usd=draw(_MONEY),
        api_cost_basis=draw(st.sampled_from([None, "billed", "allocated", "unattributed"])),
        partial=draw(st.booleans()),
        codex_cost_usd=draw(_MONEY),
        total_cost_usd=draw(_MONEY),
        covered_by=draw(st.sampled_from(["", "chatgpt_enterprise_usage openai_org_costs"])),
        codex_native_cost_usd=draw(_MONEY),
    )


@settings(max_examples=150, deadline=None)
@given(
    st.lists(merged_rows(), max_size=6),
    st.one_of(st.none(), st.just(Decimal("0.04"))),
    st.booleans(),
)
def test_every_format_is_the_former_writers_bytes_on_hostile_values(
    rows: list[MergedRow], rate: Decimal | None, provisional: bool
) -> None:
    nothing = Share(Decimal(0), Decimal(0))
    result = MergeResult(
        rows=tuple(rows),
        coverage=JoinCoverage(nothing, nothing, 0, 0),
        surfaces=("chatgpt_enterprise_usage",),
        credit_usd_rate=rate,
        provisional=provisional,
        counts=RowCounts(rows=len(rows)),
    )
    for fmt in WRITERS:
        buffer = io.BytesIO()
        write_table(HeldTable(result), fmt, buffer)
        assert buffer.getvalue() == reference(result, fmt), fmt


@pytest.fixture(scope="module")
def sandbox_locks(sandbox: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    locks = tmp_path_factory.mktemp("locks")
    run_lock([sandbox], locks_dir=locks)
    return locks


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_cli_writes_the_library_merge_bytes(
    tmp_path: Path, sandbox: Path, sandbox_locks: Path, fmt: str
) -> None:
    out = tmp_path / f"spend.{fmt}"
    result = run_cli(
        "merge", str(sandbox), "--out", str(out), "--format", fmt,
        "--locks-dir", str(sandbox_locks),
    )  # fmt: skip
    assert result.code == 0, result.stderr
    sources = load_capture_inputs([sandbox], refusal=NOT_A_CAPTURE)
    _, library = gated_merge(sources, locks_dir=sandbox_locks)  # held, as a library has it
    assert library is not None
    assert out.read_bytes() == write(library, fmt)
    assert f"merged {len(library.rows)} row(s) over " in result.stdout


def test_a_merge_failing_midway_leaves_nothing_written(
    tmp_path: Path, sandbox: Path, sandbox_locks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The third date's rows fail after two dates were written into the temp file: the
    command exits 2 with one line, the old output stays as it was, no temp file stays."""
    finish = core._finish
    made: list[int] = []

    def failing(*args: Any, **kwargs: Any) -> list[MergedRow]:
        made.append(1)
        if len(made) == 3:
            raise InputError("merge", "a value the merge cannot add up")
        return finish(*args, **kwargs)

    monkeypatch.setattr(core, "_finish", failing)
    out = tmp_path / "spend.csv"
    out.write_bytes(b"the previous table\n")
    for fmt in WRITERS:
        made.clear()
        result = run_cli(
            "merge", str(sandbox), "--out", str(out), "--format", fmt,
            "--locks-dir", str(sandbox_locks),
        )  # fmt: skip
        assert result.code == 2, (fmt, result.stderr)
        assert "a value the merge cannot add up" in result.stderr
        assert "Traceback" not in result.stderr
        assert len(made) == 3
        assert out.read_bytes() == b"the previous table\n"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["spend.csv"]


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.decimals(allow_nan=False, allow_infinity=False),
            st.decimals(allow_nan=False, allow_infinity=False, places=12),
            st.decimals(allow_nan=False, allow_infinity=False, min_value=-1, max_value=1),
            st.sampled_from(
                [Decimal(t) for t in ("1E+2", "-0", "0E-10", "-0E+3", "1.50", "0.0000001")]
            ),
        ),
        max_size=8,
    )
)
def test_csv_money_cells_are_money_text(amounts: list[Decimal | None]) -> None:
    """The CSV writer's money column (`str` where it has no exponent) is `money_text`
    of each amount: plain digits, the amount's own exponent, never exponent notation."""
    assert _money(amounts) == [money_text(amount) or "" for amount in amounts]
