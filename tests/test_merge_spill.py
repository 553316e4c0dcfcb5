"""The merge's aggregates spilled to disk beyond a budget of pairs (`verifier.merge.spill`)
give the same table, byte for byte in every format, and the same errors, as held in
memory. The budget is lowered to one pair so that these small captures spill at every
slice (page) and every combined capture."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import run_cli
from tests.conftest import DOCUMENTED_CAPTURES
from tests.merge_builders import (
    DAY,
    DAY_SECONDS,
    bucket,
    chatgpt_body,
    chatgpt_row,
    cost_result,
    openai_body,
    source,
    unix,
    usage_result,
    users_body,
)
from tests.test_merge_streamed_output import CASES, sandbox, sandbox_locks
from verifier.errors import InputError
from verifier.inputs import Source, load_sources
from verifier.merge import core, spill
from verifier.merge.costs import CostDay
from verifier.merge.formats import WRITERS, write, write_table

__all__ = ["sandbox", "sandbox_locks"]  # module fixtures shared with the streamed tests

CHATGPT = "chatgpt_enterprise_usage"
USAGE = "openai_org_usage_completions"
COSTS = "openai_org_costs"
USERS = "openai_org_users"


@pytest.fixture
def spills(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts the chunks written, so a test knows the spilled path was taken."""
    put = spill.Spill.put
    chunks: list[int] = []

    def counted(self: spill.Spill, value: Any) -> spill.Token:
        chunks.append(1)
        return put(self, value)

    monkeypatch.setattr(spill.Spill, "put", counted)
    yield chunks


def outcome(make: Callable[[], bytes]) -> bytes | str:
    """The bytes, or the one-line error."""
    try:
        return make()
    except InputError as error:
        return f"error: {error}"


def both(make: Callable[[], bytes]) -> tuple[bytes | str, bytes | str]:
    """`make` held in memory, then with every aggregate spilled at one pair."""
    in_memory = outcome(make)
    with spill.set_budget(1):
        spilled = outcome(make)
    return in_memory, spilled


@pytest.mark.parametrize(("fmt", "options"), CASES, ids=lambda v: str(v))
def test_spilled_merge_writes_the_same_bytes(
    sandbox: Path, fmt: str, options: dict[str, Any], spills: list[int]
) -> None:
    for paths in ([DOCUMENTED_CAPTURES], [sandbox]):
        sources = load_sources(paths)

        def held(sources: list[Source] = sources) -> bytes:
            inputs = core.parse_sources(sources, breakdown=options.get("breakdown"))
            rest = {k: v for k, v in options.items() if k != "breakdown"}
            return write(core.merge(inputs, **rest), fmt)

        def consumed(sources: list[Source] = sources) -> bytes:
            inputs = core.parse_sources(sources, breakdown=options.get("breakdown"))
            rest = {k: v for k, v in options.items() if k != "breakdown"}
            buffer = io.BytesIO()
            write_table(core.MergeStream(inputs, consume=True, **rest), fmt, buffer)
            return buffer.getvalue()

        for make in (held, consumed):
            spills.clear()
            in_memory, spilled = both(make)
            assert isinstance(in_memory, bytes) and in_memory.count(b"\n") > 1
            assert spilled == in_memory, (paths, fmt, make.__name__)
            assert spills, "the spilled path was not taken"


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_cli_spilled_writes_the_same_file(
    tmp_path: Path,
    sandbox: Path,
    sandbox_locks: Path,
    fmt: str,
    monkeypatch: pytest.MonkeyPatch,
    spills: list[int],
) -> None:
    """The gated one pass (`verify merge`): the same file, and no temp file left."""
    files = []
    for run, budget in enumerate((spill.budget(), 1)):  # as shipped, then a pair
        monkeypatch.setattr(spill, "_BUDGET", [budget])
        out = tmp_path / f"spend-{run}.{fmt}"
        result = run_cli(
            "merge", str(sandbox), "--out", str(out), "--format", fmt,
            "--locks-dir", str(sandbox_locks),
        )  # fmt: skip
        assert result.code == 0, result.stderr
        files.append(out.read_bytes())
    assert spills
    assert files[0] == files[1]
    assert len(list(tmp_path.iterdir())) == 2  # the two outputs, no temp file


def merged(sources: list[Source]) -> Callable[[], bytes]:
    def make() -> bytes:
        inputs = core.parse_sources(sources)
        buffer = io.BytesIO()
        write_table(core.MergeStream(inputs, consume=True), "csv", buffer)
        return buffer.getvalue()

    return make


def test_a_second_codex_row_on_a_later_page_is_refused_as_in_memory(spills: list[int]) -> None:
    """The date went to disk after the first page; the second page's row of the same
    user and date is still refused, with the same location."""
    pages = [
        chatgpt_body(
            [chatgpt_row("wsu", credits=1), chatgpt_row("other", credits=2)], has_more=True
        ),
        chatgpt_body([chatgpt_row("more", credits=3), chatgpt_row("wsu", credits="1.5")]),
    ]
    in_memory, spilled = both(merged([source(CHATGPT, *pages)]))
    assert isinstance(in_memory, str) and "count that day twice" in in_memory
    assert spilled == in_memory
    assert spills


def test_a_second_codex_row_in_a_later_capture_is_refused_as_in_memory(
    spills: list[int],
) -> None:
    first = source(
        CHATGPT,
        chatgpt_body([chatgpt_row("wsu", credits=1), chatgpt_row("b", day=DAY + timedelta(1))]),
        name="first.json",
    )
    second = source(CHATGPT, chatgpt_body([chatgpt_row("wsu", credits=2)]), name="second.json")
    in_memory, spilled = both(merged([first, second]))
    assert isinstance(in_memory, str) and "second.json" in in_memory
    assert "count that day twice" in in_memory
    assert spilled == in_memory


def test_clamped_edge_pieces_split_across_pages_add_up_as_in_memory(spills: list[int]) -> None:
    """Two clamped pieces of one day (Codex rows and usage buckets) on two pages, with
    other dates between them: added up, flagged partial, exactly as in memory."""
    noon = unix(DAY) + DAY_SECONDS // 2
    codex = source(
        CHATGPT,
        chatgpt_body(
            [
                chatgpt_row("wsu", start="2026-05-01T17:00:00Z", credits="0.10"),
                chatgpt_row("wsu", day=DAY + timedelta(1), credits="7.25"),
            ],
            has_more=True,
        ),
        chatgpt_body([chatgpt_row("wsu", end="2026-05-01T12:00:00Z", credits="0.05", turns=2)]),
    )
    api = source(
        USAGE,
        openai_body(
            [bucket([usage_result("u", out=1), usage_result(None, out=4)], end=noon)],
            has_more=True,
        ),
        openai_body(
            [
                bucket([usage_result("u", out=2, requests=1)], start=noon),
                bucket([usage_result("u", tokens_in=5)], day=DAY + timedelta(1)),
            ]
        ),
    )
    dollars = source(
        COSTS,
        openai_body([bucket([cost_result("u", "0.0100"), cost_result(None, 1)])], has_more=True),
        openai_body([bucket([cost_result("u", "2.50")], day=DAY + timedelta(1))]),
        query={"group_by": ["user_id"]},
    )
    users = source(USERS, users_body([("u", "a@x.invalid")]))
    in_memory, spilled = both(merged([codex, api, dollars, users]))
    assert isinstance(in_memory, bytes) and b"0.15" in in_memory
    assert spilled == in_memory
    assert spills


def test_costs_read_back_are_exact_text(spills: list[int]) -> None:
    """Amounts go to disk as their exact text and come back with their exponent."""
    costs = CostDay(by_user={"u": Decimal("1.50"), None: Decimal("0E-8")})
    costs.stash(spill.Spill())
    assert costs.held() == 0
    assert costs.by_user == {"u": Decimal("1.50"), None: Decimal("0E-8")}
    assert [str(v) for v in costs.by_user.values()] == ["1.50", "0E-8"]


def test_costs_read_for_a_look_stay_on_disk() -> None:
    """`amounts` reads a stashed day from the disk and leaves it there (the restatement
    digests read every shared date in turn: none of them comes back to memory)."""
    costs = CostDay(by_user={"u": Decimal("1.50")}, by_email={"a@x.invalid": Decimal("2")})
    assert costs.amounts() == ({"u": Decimal("1.50")}, {"a@x.invalid": Decimal("2")})
    costs.stash(spill.Spill())
    by_user, by_email = costs.amounts()
    assert (by_user, by_email) == ({"u": Decimal("1.50")}, {"a@x.invalid": Decimal("2")})
    assert str(by_user["u"]) == "1.50"
    assert costs.held() == 0  # still on disk
    assert costs.by_user == {"u": Decimal("1.50")}  # and back when read for good
    assert costs.held() == 2
