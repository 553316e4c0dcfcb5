"""The compiled fast reads (`verifier.merge.compiled`) agree with the careful
`FieldReader` path: a row the fast path reads gives the very value the careful path
gives (same type, same Decimal digits and exponent), and a row it leaves alone goes to
the careful path. Over whole captures, the parsers with their fast path give the same
merge, byte for byte, or the same one-line error, as with the careful path alone."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal, localcontext
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.merge_builders import (
    DAY,
    bucket,
    chatgpt_body,
    chatgpt_row,
    cost_result,
    documented_plans,
    openai_body,
    source,
    usage_result,
    users_body,
)
from verifier.consumer.mapping import FieldPlan
from verifier.consumer.model import ConsumedField
from verifier.errors import InputError
from verifier.merge import chatgpt, costs, merge_sources, usage
from verifier.merge.compiled import Kind, compile_reads
from verifier.merge.fields import FieldReader
from verifier.merge.output import write_csv
from verifier.merge.values import EXACT, ValueProblem

# --- one field at a time -------------------------------------------------------------

KEYS = ("a", "b", "c")

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.integers(min_value=-3, max_value=10**16),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e16, max_value=1e16),
    st.sampled_from([0.0, -0.0, 1e-30, 1e-31, 1e14, -1e14, 1e15, 12.0, 0.1, 5e-324]),
    st.text(max_size=6),
    st.sampled_from(["", "12", " 1.50 ", "1e3", "NaN", "usd", "2026-01-01T00:00:00Z"]),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.just([]),
    st.just({}),
)


def nested(depth: int) -> st.SearchStrategy[Any]:
    """A value at `KEYS[depth:]`: mostly objects all the way down (so the leaf is read),
    with missing keys, nulls and wrong types on the way now and then."""
    if depth == len(KEYS):
        return scalars
    inner = nested(depth + 1)
    objects = st.fixed_dictionaries({KEYS[depth]: inner}, optional={"other": scalars})
    sometimes_missing = st.fixed_dictionaries({}, optional={KEYS[depth]: inner})
    return st.one_of(objects, objects, objects, sometimes_missing, scalars)


def reader(depth: int, absent: str, nullable: bool, scale: Decimal | None) -> FieldReader:
    path = "data[]." + ".".join(KEYS[:depth])
    consumed = ConsumedField(
        name="field",
        paths=(("test", path),),
        types=frozenset({"number"}),
        role="count",
        nullable=nullable,
        absent=absent,  # type: ignore[arg-type]
    )
    return FieldReader(FieldPlan(consumed, path, "variant:test", scale=scale), "data[]")


def careful(field: FieldReader, kind: Kind, row: Any) -> Any:
    if kind == "plain":
        return field.value(row)
    method: Callable[[Any], Any] = getattr(field, kind)
    return method(row)


def same(fast: Any, slow: Any) -> bool:
    """Equal values of the same type; Decimals with the same sign, digits and exponent."""
    if isinstance(fast, Decimal) or isinstance(slow, Decimal):
        return type(fast) is type(slow) and fast.as_tuple() == slow.as_tuple()
    return type(fast) is type(slow) and fast == slow


readers = st.builds(
    reader,
    depth=st.integers(min_value=1, max_value=3),
    absent=st.sampled_from(["required", "zero", "unknown"]),
    nullable=st.booleans(),
    scale=st.sampled_from([None, Decimal("0.01"), Decimal(1000)]),
)
kinds = st.sampled_from(["plain", "count", "money", "identifier"])


@settings(max_examples=3000, deadline=None)
@given(readers, kinds, nested(0))
def test_a_field_read_fast_is_the_careful_reading(field: FieldReader, kind: Kind, row: Any) -> None:
    with localcontext(EXACT):
        fast = compile_reads([(field, kind)])(row)
        if fast is None:
            return  # the careful path decides this row; nothing fast to compare
        assert same(fast[0], careful(field, kind, row))  # and it did not raise


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.tuples(readers, kinds), min_size=1, max_size=5), nested(0))
def test_fields_sharing_objects_read_fast_are_their_careful_readings(
    fields: list[tuple[FieldReader, Kind]], row: Any
) -> None:
    """Fields under one object (`a.b`, `a.c`) share its read; a lenient read of an
    object no required field needs must not turn a careful error into a value."""
    with localcontext(EXACT):
        fast = compile_reads(fields)(row)
        if fast is None:
            return
        for (field, kind), value in zip(fields, fast, strict=True):
            assert same(value, careful(field, kind, row))


plain_values = {
    "plain": st.one_of(st.text(max_size=5), st.integers(min_value=-5, max_value=10**12)),
    "count": st.integers(min_value=0, max_value=2**62),
    "money": st.one_of(
        st.integers(min_value=-(10**14), max_value=10**14),
        st.floats(min_value=-1e13, max_value=1e13).filter(lambda x: x == 0 or abs(x) > 1e-29),
        st.decimals(min_value=-(10**13), max_value=10**13, places=12),  # ijson's numbers
    ),
    "identifier": st.text(max_size=5),
}


@settings(max_examples=500, deadline=None)
@given(readers, kinds, st.data())
def test_a_plain_row_is_read_fast(field: FieldReader, kind: Kind, data: st.DataObject) -> None:
    """The fast path is taken for what nearly every row is: objects all the way down and
    a value of the expected type."""
    row: Any = data.draw(plain_values[kind])
    for key in reversed(field.keys):
        row = {key: row, "other": 1}
    with localcontext(EXACT):
        fast = compile_reads([(field, kind)])(row)
        assert fast is not None
        assert same(fast[0], careful(field, kind, row))


def test_missing_values_read_fast_as_the_field_declares() -> None:
    """Absent and null are read without the careful path where the declaration allows."""
    counts = reader(2, "zero", True, None)
    unknown = reader(2, "unknown", True, None)
    money = reader(1, "zero", True, Decimal("0.01"))
    reads = compile_reads([(counts, "count"), (unknown, "count")])
    assert reads({}) == (0, None)
    assert reads({"a": {"b": None}}) == (0, None)
    assert reads({"a": None}) is None  # a null object above: the careful path decides
    assert compile_reads([(money, "money")])({"a": None}) == (Decimal(0),)  # not scaled
    assert compile_reads([(money, "money")])({"a": 150}) == (Decimal("1.50"),)
    assert counts.count({"a": None}) == 0
    strict = compile_reads([(reader(2, "required", False, None), "count")])
    assert strict({}) is None and strict({"a": {}}) is None
    with pytest.raises(ValueProblem, match="required by the merge but absent"):
        reader(2, "required", False, None).count({"a": {}})


def test_keys_are_never_code() -> None:
    """A key from a lock is a name bound in the function, whatever its text."""
    odd = "x'] + __import__('os') + row['"
    consumed = ConsumedField(
        name="field", paths=(("test", f"data[].{odd}"),), types=frozenset({"number"}), role="count"
    )
    field = FieldReader(FieldPlan(consumed, f"data[].{odd}", "variant:test"), "data[]")
    assert compile_reads([(field, "count")])({odd: 7}) == (7,)


# --- whole captures: fast path on, and off -------------------------------------------


@contextmanager
def careful_only() -> Iterator[None]:
    """The parsers with a fast path that always hands the row to the careful path."""

    def never(reads: Any) -> Callable[[Any], None]:
        return lambda row: None

    with (
        mock.patch.object(chatgpt, "compile_reads", never),
        mock.patch.object(usage, "compile_reads", never),
        mock.patch.object(costs, "compile_reads", never),
    ):
        yield


odd: st.SearchStrategy[Any] = st.sampled_from(
    [None, True, "12", " 3.5 ", "x", -1, 2.5, 12.0, 10**20, 1e20, [], {}, "USD", "eur", 0]
)


def maybe_odd(draw: Callable[..., Any], value: Any) -> Any:
    return draw(odd) if draw(st.integers(0, 9)) == 0 else value


def spoil(draw: Callable[..., Any], row: dict[str, Any], keys: Sequence[tuple[str, ...]]) -> None:
    """Now and then one value at `keys` replaced by an odd one, or removed."""
    for path in keys:
        if draw(st.integers(0, 14)):
            continue
        *above, last = path
        node: Any = row
        for key in above:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            if draw(st.booleans()):
                node.pop(last, None)
            else:
                node[last] = draw(odd)


CHATGPT_KEYS = [
    ("start_time",),
    ("user",),
    ("user", "id"),
    ("user", "email"),
    ("credits",),
    ("threads",),
    ("tokens",),
    ("tokens", "output"),
    ("totals",),
    ("totals", "cost_usd"),
]
RESULT_KEYS = [("user_id",), ("input_tokens",), ("input_cached_tokens",), ("amount",)]
COST_KEYS = [("user_id",), ("amount", "value"), ("amount", "currency"), ("amount",)]

amounts = st.one_of(
    st.integers(min_value=0, max_value=10**6),
    st.floats(min_value=0, max_value=1e6),
    st.decimals(min_value=0, max_value=10**6, places=4).map(str),
)


@st.composite
def captures(draw: Callable[..., Any]) -> list[Any]:
    rows = []
    for day_number in range(2):
        day = DAY + timedelta(days=day_number)
        for user in draw(st.lists(st.sampled_from(["wsu_1", "wsu_2", "wsu_3"]), unique=True)):
            row = chatgpt_row(
                user,
                day=day,
                email=draw(st.sampled_from([None, "a@x.invalid", "B@x.invalid"])),
                credits=draw(amounts),
                threads=draw(st.integers(0, 9)),
                tokens=(draw(st.integers(0, 99)), 0, draw(st.integers(0, 99))),
            )
            if draw(st.booleans()):  # the vendor's optional native dollars
                row["totals"] = {"cost_usd": draw(amounts)}
            spoil(draw, row, CHATGPT_KEYS)
            rows.append(row)
    usage_buckets, cost_buckets = [], []
    for day_number in range(2):
        day = DAY + timedelta(days=day_number)
        results = []
        for user in draw(st.lists(st.sampled_from([None, "user-1", "user-2"]), max_size=4)):
            result = usage_result(user, tokens_in=draw(st.integers(0, 99)), out=3, requests=1)
            spoil(draw, result, RESULT_KEYS)
            results.append(result)
        usage_buckets.append(bucket(results, day=day))
        charged = []
        for user in draw(st.lists(st.sampled_from([None, "", "user-1", "user-2"]), max_size=4)):
            result = cost_result(user, draw(amounts))
            if user is None and draw(st.booleans()):
                result["user_email"] = draw(st.sampled_from(["A@x.invalid", " b@x.invalid"]))
            spoil(draw, result, COST_KEYS)
            charged.append(result)
        cost_buckets.append(bucket(charged, day=day))
    grouped = draw(st.booleans())
    return [
        source("chatgpt_enterprise_usage", chatgpt_body(rows)),
        source("openai_org_usage_completions", openai_body(usage_buckets)),
        source(
            "openai_org_costs",
            openai_body(cost_buckets),
            query=None if grouped else {"bucket_width": "1d"},
        ),
        source("openai_org_users", users_body([("user-1", "a@x.invalid"), ("user-2", None)])),
    ]


PLANS = documented_plans()


def outcome(sources: list[Any]) -> bytes | str:
    """The merge's CSV bytes, or its one-line error."""
    try:
        return write_csv(merge_sources(sources, plans=PLANS))
    except InputError as error:
        return f"error: {error}"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(captures())
def test_the_fast_path_changes_no_merge_and_no_error(sources: list[Any]) -> None:
    fast = outcome(sources)
    with careful_only():
        slow = outcome(sources)
    assert fast == slow


def test_a_foreign_currency_among_plain_results_is_the_same_error() -> None:
    """A currency the fast path leaves to `_add_result` is reported at its own result."""
    results = [cost_result("user-1", 1.5), cost_result("user-2", 2, currency="eur")]
    sources = [
        source("chatgpt_enterprise_usage", chatgpt_body([chatgpt_row("wsu_1")])),
        source("openai_org_costs", openai_body([bucket(results)])),
    ]
    fast = outcome(sources)
    with careful_only():
        assert outcome(sources) == fast
    assert isinstance(fast, str)
    assert "/pages/0/body/data/0/results/1/amount/currency" in fast


def test_an_empty_user_id_makes_a_per_day_capture_grouped_either_way() -> None:
    """`""` reads as no user, yet a result carrying it shows the capture is grouped by
    user: its dollars stay unattributed instead of being allocated by tokens."""
    sources = [
        source("chatgpt_enterprise_usage", chatgpt_body([chatgpt_row("wsu_1")])),
        source(
            "openai_org_usage_completions",
            openai_body([bucket([usage_result("user-1", tokens_in=5)])]),
        ),
        source(
            "openai_org_costs",
            openai_body([bucket([cost_result("", 1.5)])]),
            query={"bucket_width": "1d"},
        ),
        source("openai_org_users", users_body([("user-1", "a@x.invalid")])),
    ]
    fast = outcome(sources)
    with careful_only():
        assert outcome(sources) == fast
    assert isinstance(fast, bytes)
    assert b"unattributed,,,,0,0,0,0,0,0,0,0,0,0,1.5,unattributed" in fast
