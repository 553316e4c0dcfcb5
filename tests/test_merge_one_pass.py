"""One pass per capture for gate + merge (issue 11): the merge's sums come from the
gate's streamed reading (row slices decoded by orjson, number texts checked), and equal,
byte for byte in every output format, the merge of the same captures loaded whole with
exact decimals (ijson); totals equal an independent sum of the files' own number texts;
a capture whose number texts a double cannot carry is read exactly; and when the gate
fails nothing is written."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import ijson
import pytest

from tests.cli_helpers import run_cli
from tests.conftest import DOCUMENTED_CAPTURES
from tests.drift_support import documented_body, edit_captures, fixed_capture
from tests.merge_builders import documented_plans
from tests.test_streamed_captures import use_tiny_slices, use_tiny_windows
from verifier.capture import capture_from_sandbox
from verifier.errors import InputError
from verifier.exactjson import JsonNumber
from verifier.inputs import StreamedSource, expand_paths, load_capture_inputs
from verifier.lock import run_lock
from verifier.merge import MergeResult, load_capture, merge, merge_sources, parse_sources
from verifier.merge.formats import WRITERS, write
from verifier.merge.gated import gated_merge
from verifier.merge.load import NOT_A_CAPTURE, merge_paths, read_capture
from verifier.store import Page, save_capture
from verifier.surfaces import get_surface

STREAMED = 0  # stream every capture, however small


def one_pass(paths: list[Path], locks: Path, **options: Any) -> MergeResult:
    sources = load_capture_inputs(paths, refusal=NOT_A_CAPTURE, stream_min_bytes=STREAMED)
    assert all(isinstance(item, StreamedSource) for item in sources)
    for item in sources:  # the sums are the streamed pass's own, not a second reading
        sink, _ = read_capture(item, documented_plans()[item.surface.name])
        assert sink.exact and sink.error is None, item.name
    report, result = gated_merge(sources, locks_dir=locks, **options)
    assert result is not None, report.to_json()
    return result


def whole_file(paths: list[Path], locks: Path, **options: Any) -> MergeResult:
    """The merge of the same files loaded whole with exact decimals, read through the
    same reading plans (the locks'), with no gate and no streaming."""
    sources = load_capture_inputs(paths, refusal=NOT_A_CAPTURE, stream_min_bytes=STREAMED)
    report, _ = gated_merge(sources, locks_dir=locks)
    exact = [load_capture(path) for path in expand_paths(paths)]
    return merge_sources(exact, plans=report.plans, **options)


def assert_same_output(one: MergeResult, other: MergeResult) -> None:
    for fmt in WRITERS:
        assert write(one, fmt) == write(other, fmt), fmt


def text_sums(paths: list[Path]) -> tuple[Decimal, Decimal]:
    """Credits and dollars summed straight from the files' number texts (ijson)."""
    credits = dollars = Decimal(0)
    for path in expand_paths(paths):
        with path.open("rb") as handle:
            for prefix, event, value in ijson.parse(handle, use_float=False):
                if event != "number":
                    continue
                if prefix.endswith(".credits"):
                    credits += value
                elif prefix.endswith(".amount.value"):
                    dollars += value
    return credits, dollars


def row_sums(result: MergeResult) -> tuple[Decimal, Decimal]:
    credits = sum((r.codex_credits or Decimal(0) for r in result.rows), Decimal(0))
    dollars = sum((r.api_cost_usd or Decimal(0) for r in result.rows), Decimal(0))
    return credits, dollars


@pytest.fixture(scope="module")
def documented_locks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    locks = tmp_path_factory.mktemp("locks")
    run_lock([DOCUMENTED_CAPTURES], locks_dir=locks)
    return locks


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Path]:
    """Two sandbox runs whose ranges overlap (the dedupe drops one capture's dates and
    compares both versions of the shared ones), and locks made from them."""
    first = tmp_path_factory.mktemp("first")
    second = tmp_path_factory.mktemp("second")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VERIFY_ANON_KEY", "one-pass-key-0123456789abcdef0123456789")
        capture_from_sandbox(first, start=date(2026, 5, 1), end=date(2026, 5, 6), users=6)
        capture_from_sandbox(second, start=date(2026, 5, 4), end=date(2026, 5, 9), users=6)
    locks = tmp_path_factory.mktemp("sandbox-locks")
    run_lock([first], locks_dir=locks)
    return [first, second], locks


@pytest.mark.parametrize("windows", ["default", "tiny", "tiny-slices"])
def test_documented_captures_one_pass_equals_whole_file_exact(
    documented_locks: Path, windows: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if windows == "tiny":
        use_tiny_windows(monkeypatch)
    if windows == "tiny-slices":  # buckets decoded in parts, each part's text checked
        use_tiny_slices(monkeypatch)
    paths = [DOCUMENTED_CAPTURES]
    rate = {"credit_usd_rate": Decimal("0.04")}
    assert_same_output(one_pass(paths, documented_locks), whole_file(paths, documented_locks))
    assert_same_output(
        one_pass(paths, documented_locks, **rate), whole_file(paths, documented_locks, **rate)
    )
    assert row_sums(one_pass(paths, documented_locks)) == text_sums(paths)


def test_sandbox_captures_one_pass_equals_whole_file_exact(
    sandbox: tuple[list[Path], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    (first, second), locks = sandbox
    alone = one_pass([first], locks)
    assert_same_output(alone, whole_file([first], locks))
    assert row_sums(alone) == text_sums([first])
    use_tiny_windows(monkeypatch)
    both = one_pass([first, second], locks)
    assert_same_output(both, whole_file([first, second], locks))
    assert len({row.date for row in both.rows}) > len({row.date for row in alone.rows})
    use_tiny_slices(monkeypatch)  # and with every bucket decoded in parts
    assert_same_output(one_pass([first, second], locks), both)


def test_library_merge_paths_streams_and_equals_the_exact_whole_file_merge(
    sandbox: tuple[list[Path], Path],
) -> None:
    (first, second), _ = sandbox
    exact = [load_capture(path) for path in expand_paths([first, second])]
    assert_same_output(
        merge_paths([first, second], stream_min_bytes=STREAMED), merge_sources(exact)
    )


def costs_capture(path: Path, values: list[Any]) -> Path:
    """The documented costs body as a capture, its amounts replaced by `values` in turn
    (a `JsonNumber` is written as its text, as a capture keeps the vendor's)."""
    body = documented_body("openai_org_costs")
    for index, result in enumerate(r for b in body["data"] for r in b["results"]):
        result["amount"]["value"] = values[index % len(values)]
    spec = get_surface("openai_org_costs")
    return save_capture(
        fixed_capture("openai_org_costs", (Page(200, spec.url_template, {}, body),)), path
    )


def test_number_texts_a_double_cannot_carry_are_read_exactly(tmp_path: Path) -> None:
    texts = ["0.1234567890123456789012345", "1.50", "2.5E-7"]
    path = costs_capture(tmp_path / "costs.json", [JsonNumber(t) for t in texts])
    [item] = load_capture_inputs([path], refusal=NOT_A_CAPTURE, stream_min_bytes=STREAMED)
    sink, _ = read_capture(item, documented_plans()["openai_org_costs"])
    # The slice's text differs from its doubles' shortest form: its rows were decoded
    # again from that text in the same pass (tests/test_exact_rows.py), no second reading.
    assert sink.exact is True
    streamed = merge_paths([path], stream_min_bytes=STREAMED)
    assert_same_output(streamed, merge_sources([load_capture(path)]))
    assert row_sums(streamed)[1] == text_sums([path])[1]
    results = sum(len(b["results"]) for b in documented_body("openai_org_costs")["data"])
    exact = sum((Decimal(texts[i % len(texts)]) for i in range(results)), Decimal(0))
    assert row_sums(streamed)[1] == exact
    assert "0.1234567890123456789012345" in write(streamed, "csv").decode()


def test_shortest_form_numbers_need_no_second_reading(tmp_path: Path) -> None:
    path = costs_capture(tmp_path / "costs.json", [0.13080438340307526, 1.5, 2.5e-07, 7])
    [item] = load_capture_inputs([path], refusal=NOT_A_CAPTURE, stream_min_bytes=STREAMED)
    sink, _ = read_capture(item, documented_plans()["openai_org_costs"])
    assert sink.exact is True and sink.error is None
    assert row_sums(merge_paths([path], stream_min_bytes=STREAMED))[1] == text_sums([path])[1]


def test_an_amount_of_201_digits_is_an_input_error_not_a_crash(tmp_path: Path) -> None:
    path = costs_capture(tmp_path / "costs.json", [JsonNumber("9" * 200 + ".5")])
    with pytest.raises(InputError, match="significant digits"):
        merge_paths([path], stream_min_bytes=STREAMED)
    result = run_cli("merge", str(path), "--out", str(tmp_path / "out.csv"), "--allow-unlocked")
    assert result.code in (1, 2), result.stderr  # refused or bad input, one line each
    assert "Traceback" not in result.stderr and result.stderr.count("\n") <= 1
    assert not (tmp_path / "out.csv").exists()


def test_a_breaking_gate_writes_nothing_even_where_the_parsers_would_fail_too(
    tmp_path: Path, documented_locks: Path
) -> None:
    captures = tmp_path / "captures"
    shutil.copytree(DOCUMENTED_CAPTURES, captures)

    # A string where the money is: breaking drift on a consumed path for the gate, and a
    # value the costs parser cannot read; the gate's refusal comes first (exit 1).
    def break_the_money(body: dict[str, Any]) -> None:
        body["data"][0]["results"][0]["amount"]["value"] = "not a number"

    edit_captures(captures, "openai_org_costs", break_the_money)
    out = tmp_path / "spend.csv"
    result = run_cli(
        "merge", str(captures), "--out", str(out), "--locks-dir", str(documented_locks)
    )  # fmt: skip
    assert result.code == 1, result.stderr
    assert "merge refused, nothing written" in result.stderr
    assert "amount.value" in result.stderr
    assert not out.exists()
    assert list(tmp_path.glob("*.tmp")) == []


def test_the_date_by_date_join_that_releases_aggregates_gives_the_same_table(
    sandbox: tuple[list[Path], Path],
) -> None:
    (first, _), _ = sandbox
    sources = [load_capture(path) for path in expand_paths([first, DOCUMENTED_CAPTURES])]
    kept = parse_sources(sources[:4])
    assert_same_output(merge(kept), merge(parse_sources(sources[:4]), consume=True))
    assert kept.codex.days and kept.api_costs.days  # not consumed without `consume`
    documented = parse_sources(sources[4:])
    assert_same_output(merge(documented), merge(parse_sources(sources[4:]), consume=True))
