"""Number texts a double cannot carry (17+ significant digits, `1.50`, `2.5E-7`), read
exactly in the one pass: a row slice whose text differs from orjson's shortest forms is
decoded again from that same text (`verifier.merge.stream._exact_items`) and the parser
gets those rows, so the capture is not read a second time. The merge's output equals,
byte for byte in every format (or as the same error), the output of the former route
(`read_exact` after the pass, ijson), and the numbers are the ones ijson reads."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import ijson
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.cli_helpers import run_cli
from tests.drift_support import documented_body, fixed_capture
from tests.merge_builders import documented_plans
from tests.test_parallel import forks, sequential
from tests.test_streamed_captures import use_tiny_slices, use_tiny_windows
from verifier.errors import InputError
from verifier.exactjson import JsonNumber
from verifier.inputs import load_capture_inputs
from verifier.merge import MergeResult, load_capture, merge_sources
from verifier.merge import load as merge_load
from verifier.merge import stream as merge_stream
from verifier.merge.formats import WRITERS, write
from verifier.merge.load import NOT_A_CAPTURE, merge_paths, read_capture
from verifier.store import Page, save_capture
from verifier.surfaces import get_surface

__all__ = ["forks"]  # the parallel tests' fixture

STREAMED = 0  # stream every capture, however small
DAY = 86400


def costs_capture(
    path: Path, texts: list[str], days: int = 3, users: int = 4, first_day: int = 0
) -> Path:
    """A costs capture of `days` buckets of `users` results each, the amounts the number
    texts `texts` in turn (written as they are, as a capture keeps the vendor's)."""
    body = documented_body("openai_org_costs")
    bucket, result = body["data"][0], body["data"][0]["results"][0]
    amounts = iter(texts * (days * users // len(texts) + 1))
    body["data"] = [
        {
            **bucket,
            "start_time": bucket["start_time"] + (first_day + day) * DAY,
            "end_time": bucket["end_time"] + (first_day + day) * DAY,
            "results": [
                {
                    **result,
                    "user_id": f"user_{user}",
                    "line_item": f"item {user % 2}",
                    "amount": {"value": JsonNumber(next(amounts)), "currency": "usd"},
                }
                for user in range(users)
            ],
        }
        for day in range(days)
    ]
    spec = get_surface("openai_org_costs")
    return save_capture(
        fixed_capture("openai_org_costs", (Page(200, spec.url_template, {}, body),)), path
    )


@contextmanager
def former_route() -> Iterator[None]:
    """The merge as it was: a slice that differs marks the capture inexact, and
    `read_exact` reads it again after the pass."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(merge_stream, "_exact_items", lambda text, rows: None)
        yield


def outputs(run: Callable[[], MergeResult]) -> dict[str, bytes] | str:
    """Every format's bytes, or the error the merge gives."""
    try:
        result = run()
    except InputError as error:
        return f"error: {error}"
    return {fmt: write(result, fmt) for fmt in WRITERS}


def one_pass_is_exact(path: Path) -> bool:
    [item] = load_capture_inputs([path], refusal=NOT_A_CAPTURE, stream_min_bytes=STREAMED)
    sink, _ = read_capture(item, documented_plans()["openai_org_costs"])
    return sink.exact


def assert_as_former_route(path: Path) -> None:
    """One pass (no second reading), and the former route's bytes or error."""
    assert one_pass_is_exact(path)
    now = outputs(lambda: merge_paths([path], stream_min_bytes=STREAMED))
    with former_route():
        before = outputs(lambda: merge_paths([path], stream_min_bytes=STREAMED))
    assert now == before
    assert now == outputs(lambda: merge_sources([load_capture(path)]))


@st.composite
def number_texts(draw: st.DrawFn, wholes: tuple[str, ...] = ("0", "1", "12", "987654321")) -> str:
    """JSON number texts: long fractions, trailing zeros, exponents, negative zero. (A
    digit run of 16 or more before any `.` sends a file to the strict whole-file reader,
    `verifier.inputs._CheckedReader`: `test_long_integer_parts_are_as_before`.)"""
    sign = draw(st.sampled_from(["", "-"]))
    whole = draw(st.sampled_from(wholes))
    fraction = draw(st.text("0123456789", max_size=24))
    exponent = draw(st.sampled_from(["", "e2", "E+2", "e-7", "E-10", "e0"]))
    return sign + whole + (f".{fraction}" if fraction else "") + exponent


WINDOWS = {
    "default-windows": lambda patch: None,
    "tiny-windows": use_tiny_windows,
    "tiny-slices": use_tiny_slices,  # buckets decoded member by member (`_assembled`)
}


def random_texts(rng: random.Random) -> list[str]:
    """Number texts as `number_texts` draws them, from a seeded generator: hypothesis
    raises the recursion limit while it runs a test, and a capture read with a limit
    above orjson's nesting limit is read whole, never streamed (`_streamable_head`)."""
    texts = []
    for _ in range(rng.randint(1, 6)):
        fraction = "".join(rng.choice("0123456789") for _ in range(rng.choice((0, 1, 2, 17, 24))))
        texts.append(
            rng.choice(("", "-"))
            + rng.choice(("0", "1", "12", "987654321"))
            + (f".{fraction}" if fraction else "")
            + rng.choice(("", "e2", "E+2", "e-7", "E-10", "e0"))
        )
    return texts


@pytest.mark.parametrize("windows", list(WINDOWS))
@pytest.mark.parametrize("seed", range(12))
def test_one_pass_gives_the_former_routes_bytes(
    seed: int, windows: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    WINDOWS[windows](monkeypatch)
    texts = random_texts(random.Random(seed))
    assert_as_former_route(costs_capture(tmp_path / "costs.json", texts))


@pytest.mark.parametrize("windows", list(WINDOWS))
def test_long_amounts_are_summed_from_their_texts_in_one_pass(
    windows: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    WINDOWS[windows](monkeypatch)
    texts = ["0.12345678901234567", "1.50", "2.5E-7", "-0.0", "1E+2", "3"]
    path = costs_capture(tmp_path / "costs.json", texts, days=2, users=6)
    assert_as_former_route(path)
    with former_route():
        assert not one_pass_is_exact(path)  # it was read twice
    csv = write(merge_paths([path], stream_min_bytes=STREAMED), "csv").decode()
    assert "0.12345678901234567" in csv and "1.50" in csv


def test_the_cli_merge_writes_the_former_routes_bytes(tmp_path: Path) -> None:
    """The command's pass goes through the gate's sink (`verifier.gate.GateSink`)."""
    path = costs_capture(tmp_path / "costs.json", ["0.12345678901234567", "1.50", "2.5E-7"])
    for fmt in ("csv", "json"):
        now = run_cli("merge", str(path), "--out", str(tmp_path / f"now.{fmt}"), "--allow-unlocked")
        with former_route():
            run_cli(
                "merge", str(path), "--out", str(tmp_path / f"before.{fmt}"), "--allow-unlocked"
            )
        assert now.code == 0, now.stderr
        now_bytes = (tmp_path / f"now.{fmt}").read_bytes()
        assert now_bytes == (tmp_path / f"before.{fmt}").read_bytes()
        assert b"0.12345678901234567" in now_bytes


def test_parallel_passes_keep_the_exact_rows(
    tmp_path: Path, forks: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exact rows are in the aggregates a worker process spills and hands back
    (`verifier.parallel`): same bytes as one process and as the former route, and no
    capture is read a second time."""
    texts = ["0.12345678901234567", "1.50", "2.5E-7", "-0.0"]
    paths = [
        costs_capture(tmp_path / "first.json", texts, first_day=0),
        costs_capture(tmp_path / "second.json", texts[::-1], first_day=5),
    ]
    with former_route():
        before = outputs(lambda: merge_paths(paths, stream_min_bytes=STREAMED))
    alone = sequential(
        lambda: outputs(lambda: merge_paths(paths, stream_min_bytes=STREAMED)), monkeypatch
    )

    def no_second_reading(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a capture was read a second time")

    monkeypatch.setattr(merge_load, "read_exact", no_second_reading)
    forks.clear()
    assert outputs(lambda: merge_paths(paths, stream_min_bytes=STREAMED)) == alone == before
    assert forks == [2], "the parallel path was not taken"


def test_a_slice_the_standard_library_refuses_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the exact decoding cannot be done, the capture is left to `read_exact`."""
    path = costs_capture(tmp_path / "costs.json", ["0.12345678901234567", "1.50"])
    exact = outputs(lambda: merge_paths([path], stream_min_bytes=STREAMED))

    class Refusing(json.JSONDecoder):
        def decode(self, s: str, *args: Any, **kwargs: Any) -> Any:
            raise json.JSONDecodeError("refused", s, 0)

    monkeypatch.setattr(merge_stream, "_EXACT_ITEMS", Refusing())
    assert not one_pass_is_exact(path)
    assert outputs(lambda: merge_paths([path], stream_min_bytes=STREAMED)) == exact


def test_long_integer_parts_are_as_before(tmp_path: Path) -> None:
    """A digit run of 16+ before any `.`: the file is read whole as before, and a long
    fraction with it gives the same bytes or the same error as before."""
    for texts in (["-123456789012345678.5E-10", "0.5"], ["123456789012345678901234", "0.5"]):
        path = costs_capture(tmp_path / "costs.json", texts)
        merge = partial(merge_paths, [path], stream_min_bytes=STREAMED)
        now = outputs(merge)
        with former_route():
            assert now == outputs(merge)


def test_an_amount_of_201_digits_is_the_same_error(tmp_path: Path) -> None:
    path = costs_capture(tmp_path / "costs.json", ["0." + "9" * 200])
    assert_as_former_route(path)
    assert str(outputs(lambda: merge_paths([path], stream_min_bytes=STREAMED))).startswith("error:")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.text(max_size=8)
    | st.integers(min_value=-(10**30), max_value=10**30).map(lambda n: JsonNumber(str(n)))
    | number_texts(("0", "7", "123456789012345678901234")).map(JsonNumber),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=12,
)


def as_text(value: Any) -> str:
    return orjson.dumps(value, default=lambda v: orjson.Fragment(v.text)).decode()


@settings(max_examples=300, deadline=None)
@given(items=st.lists(json_values, min_size=1, max_size=4), spaces=st.sampled_from([",", " ,\n "]))
def test_exact_items_are_ijsons_items(items: list[Any], spaces: str) -> None:
    """Decimals of their texts for fractions and exponents, ints for integers (beyond 64
    bits too), strings as they are: what `read_exact` (ijson) gives, type for type."""
    text = spaces.join(as_text(item) for item in items)
    rows = orjson.loads(f"[{text}]")
    exact = merge_stream._exact_items(text, rows)
    expected = list(ijson.items(f"[{text}]".encode(), "item", use_float=False))
    assert exact is not None
    assert typed(exact) == typed(expected)


def test_duplicate_keys_keep_the_last_value_as_ijson_does() -> None:
    text = '{"a": 1, "b": 0, "a": 2.50}'
    exact = merge_stream._exact_items(text, orjson.loads(f"[{text}]"))
    assert exact is not None
    assert typed(exact) == typed(list(ijson.items(f"[{text}]".encode(), "item", use_float=False)))
    assert list(exact[0].items()) == [("a", Decimal("2.50")), ("b", 0)]


def typed(value: Any) -> Any:
    """A value with every scalar's type and text, to compare exactly (Decimal('1.50') !=
    Decimal('1.5') here, and 1 != True)."""
    if isinstance(value, dict):
        return [(name, typed(member)) for name, member in value.items()]
    if isinstance(value, list):
        return [typed(item) for item in value]
    return (type(value).__name__, str(value) if isinstance(value, Decimal) else json.dumps(value))
