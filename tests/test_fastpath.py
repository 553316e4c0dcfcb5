"""The compiled fast path (jsonschema-rs, formats on) and the streaming reader give exactly
the verdicts and findings of the reference (python-jsonschema over the whole document)."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pytest

from verifier import inputs
from verifier.contract import (
    Violation,
    fast_batch_validator_for,
    fast_row_validator_for,
    fast_validator_for,
    row_violations,
    rows_schema,
    run_check,
    validator_for,
    violation_of,
    violations,
)
from verifier.drift import run_diff
from verifier.errors import InputError
from verifier.inputs import StreamedSource, load_inputs, load_sources
from verifier.profile import ProfileSink, profile_input, profile_source, sketch_key
from verifier.surfaces import SURFACES, Surface

from .conftest import REFERENCE_PAYLOADS, ROOT
from .test_bad_input import CASES

CORPUS_DIRS = (ROOT / "tests" / "data", ROOT / "captures")


def corpus_files() -> list[Path]:
    files = [p for d in CORPUS_DIRS for p in sorted(d.rglob("*.json")) if "locks" not in p.parts]
    assert len(files) > 20
    return files


def documents() -> Iterator[tuple[str, Any]]:
    """Every corpus document, capture pages' bodies, and generated mutations of them."""
    originals: list[tuple[str, Any]] = []
    for path in corpus_files():
        document = json.loads(path.read_text(encoding="utf-8"))
        originals.append((path.name, document))
        if isinstance(document, dict) and document.get("format") == "verify-capture":
            originals.extend(
                (f"{path.name}#{i}", p["body"]) for i, p in enumerate(document["pages"])
            )
    yield from originals
    rng = random.Random(20261127)
    for name, document in originals:
        for n in range(12):
            yield f"{name}~{n}", mutate(document, rng)


ODD_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    12.0,
    0.5,
    1e300,
    "",
    "x",
    "12.50",
    "2026-05-01T00:00:00Z",
    "2026-05-01t00:00:00z",
    "2026-05-01T23:59:60Z",
    "2026-02-30T00:00:00Z",
    "2026-05-01 00:00:00Z",
    "2026-05-01T00:00:00+00:00",
    "a@b",
    "@",
    "no-at-sign",
    1777593600,
    1777593600000,
    [],
    {},
    ["usd"],
    {"value": 1},
]


def mutate(document: Any, rng: random.Random) -> Any:
    """Replace or delete a few values anywhere in a copy of `document`."""
    copied = copy.deepcopy(document)
    for _ in range(rng.randint(1, 3)):
        slots = list(_slots(copied))
        if not slots:
            break
        container, key = rng.choice(slots)
        if isinstance(container, dict) and rng.random() < 0.25:
            del container[key]
        else:
            container[key] = copy.deepcopy(rng.choice(ODD_VALUES))
    return copied


def _slots(node: Any) -> Iterator[tuple[Any, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield node, key
            yield from _slots(value)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield node, index
            yield from _slots(value)


def reference_valid(surface: Surface, document: Any) -> bool:
    return next(iter(validator_for(surface).iter_errors(document)), None) is None


# The compiled validator may be *stricter* than the reference (jsonschema-rs checks
# `email` properly; python-jsonschema only wants an "@"): such documents go to the
# reference, which decides. It must never accept what the reference rejects, and the
# violations `check` reports must be exactly the reference's.


@pytest.mark.parametrize("surface", list(SURFACES.values()), ids=list(SURFACES))
def test_compiled_validator_never_accepts_what_the_reference_rejects(surface: Surface) -> None:
    checked = 0
    for name, document in documents():
        reference = reference_valid(surface, document)
        if fast_validator_for(surface).is_valid(document):
            assert reference, name
        assert list(violations(surface, document)) == reference_violations(surface, document)
        checked += 1
    assert checked > 500


@pytest.mark.parametrize("surface", list(SURFACES.values()), ids=list(SURFACES))
def test_row_validators_never_accept_what_the_reference_rejects(surface: Surface) -> None:
    items = rows_schema(surface)
    assert items is not None
    reference = validator_for(surface)
    rows_seen = 0
    for name, document in documents():
        rows = document.get("data") if isinstance(document, dict) else None
        if not isinstance(rows, list) or not rows:
            continue
        verdicts = []
        for index, row in enumerate(rows):
            expected = next(iter(reference.descend(row, items, path=index)), None) is None
            if fast_row_validator_for(surface).is_valid(row):
                assert expected, (name, index)
            located = [v for v in violations(surface, document) if v.parts[1:2] == (index,)]
            assert list(row_violations(surface, index, row)) == located, (name, index)
            verdicts.append(expected)
            rows_seen += 1
        if fast_batch_validator_for(surface).is_valid(rows):
            assert all(verdicts), name
    assert rows_seen > 100


def reference_violations(surface: Surface, document: Any) -> list[Violation]:
    return [violation_of(e) for e in validator_for(surface).iter_errors(document)]


def test_leap_seconds_are_refused_like_the_reference() -> None:
    surface = SURFACES["chatgpt_enterprise_usage"]
    body = json.loads((ROOT / "tests/data/documented/chatgpt_enterprise_usage.json").read_text())
    for value, valid in (("2026-05-01T23:59:60Z", False), ("2026-05-01t00:00:00z", True)):
        body["data"][0]["start_time"] = value
        assert reference_valid(surface, body) is valid
        assert fast_validator_for(surface).is_valid(body) is valid


STREAM_CASES = [
    ("openai_costs__official_example_2024-12_typo_discriminator.json", "openai_org_costs"),
    (
        "openai_usage_completions__official_example_2024-12_typo_discriminator.json",
        "openai_org_usage_completions",
    ),
    ("codex_analytics_usage__peer_fixture_page1.json", "chatgpt_enterprise_usage"),
    ("openai_users_list__official_example.json", "openai_org_users"),
]


@pytest.mark.parametrize(("name", "surface"), STREAM_CASES)
def test_streamed_check_equals_whole_check(name: str, surface: str) -> None:
    path = REFERENCE_PAYLOADS / name
    [item] = load_inputs([path], surface, stream_min_bytes=0)
    assert isinstance(item, StreamedSource)
    streamed = run_check([path], surface, stream_min_bytes=0)
    whole = run_check([path], surface, stream_min_bytes=10**12)
    assert streamed.to_json() == whole.to_json()


def test_streamed_check_of_generated_invalid_rows(tmp_path: Path) -> None:
    rng = random.Random(5)
    body = json.loads((ROOT / "tests/data/documented/openai_org_costs.json").read_text())
    body["data"] = [mutate(body["data"][0], rng) for _ in range(300)]
    path = tmp_path / "costs.json"
    path.write_text(json.dumps(body))
    streamed = run_check([path], "openai_org_costs", stream_min_bytes=0)
    whole = run_check([path], "openai_org_costs", stream_min_bytes=10**12)
    assert streamed.findings
    assert streamed.to_json() == whole.to_json()


@pytest.mark.parametrize("case", sorted(CASES))
def test_streaming_path_gives_the_same_input_errors(tmp_path: Path, case: str) -> None:
    data, expected = CASES[case]
    path = tmp_path / f"{case}.json"
    path.write_bytes(data)
    with pytest.raises(InputError, match=None) as streamed:
        run_check([path], "openai_org_costs", stream_min_bytes=0)
    with pytest.raises(InputError) as whole:
        run_check([path], "openai_org_costs", stream_min_bytes=10**12)
    assert streamed.value.message == whole.value.message
    assert expected in streamed.value.message


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b'{"data": [{"start_time": 12345678901234567890}], "has_more": false}', "2**53-1"),
        (b'{"data": [{"x": "\\ud800"}], "has_more": false}', "invalid JSON"),
        (b'{"data": [1,]}', "invalid JSON at line 1 column"),
        (b'{"data": [{"a": 1e400}], "has_more": false}', "number out of range: 1e400 at"),
        (b'{"data": [{"a": NaN}], "has_more": false}', "NaN and Infinity"),
        (b'{"data": [], "has_more": false} {"x": 1}', "invalid JSON"),
        (b'{"data": [{"a": 1}], "data": [{"b": 2}]}', None),
        (b'{"data": [{"a": ' + b"[" * 2000 + b"]" * 2000 + b"}]}", "nested too deeply"),
        (b'{"data": [], "object": "p\xe9ge"}', "not valid UTF-8"),
    ],
)
def test_row_level_problems_fall_back_to_the_strict_reader(
    tmp_path: Path, data: bytes, error: str | None
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(data)
    whole = _outcome(path, 10**12)
    assert _outcome(path, 0) == whole
    if error is not None:
        assert error in whole


def _outcome(path: Path, stream_min_bytes: int) -> str:
    """The check's JSON report, or its one-line input error."""
    try:
        report = run_check([path], "openai_org_costs", stream_min_bytes=stream_min_bytes)
    except InputError as exc:
        return exc.message
    return json.dumps(report.to_json())


def test_long_digit_strings_still_stream(tmp_path: Path) -> None:
    body = json.loads((ROOT / "tests/data/documented/openai_org_costs.json").read_text())
    body["data"][0]["results"][0]["user_id"] = "user-" + "1" * 40
    body["next_page"] = "page_" + "7" * 30
    path = tmp_path / "ids.json"
    path.write_text(json.dumps(body))
    [item] = load_inputs([path], "openai_org_costs", stream_min_bytes=0)
    assert isinstance(item, StreamedSource)
    rows: list[Any] = []
    envelope = item.stream(lambda _i, row: rows.append(row))
    assert envelope == {**body, "data": []}
    assert rows == body["data"]


def test_envelope_with_objects_is_exact(tmp_path: Path) -> None:
    body = {"meta": {"a": [1, {"b": None}]}, "data": [{"x": 1}, {"y": [2]}], "tail": {"z": "w"}}
    path = tmp_path / "env.json"
    path.write_text(json.dumps(body))
    [item] = load_inputs([path], "openai_org_costs", stream_min_bytes=0)
    assert isinstance(item, StreamedSource)
    rows: list[Any] = []
    assert item.stream(lambda _i, row: rows.append(row)) == {**body, "data": []}
    assert rows == body["data"]


def test_a_failing_row_consumer_is_not_mistaken_for_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    path.write_text(json.dumps({"data": [{"a": 1}, {"a": 2}], "has_more": False}))
    [item] = load_inputs([path], "openai_org_costs", stream_min_bytes=0)
    assert isinstance(item, StreamedSource)

    def explode(_index: int, _row: Any) -> None:
        raise ZeroDivisionError("consumer bug")

    with pytest.raises(ZeroDivisionError, match="consumer bug"):
        item.stream(explode)


def test_ids_that_look_like_exponents_still_stream(tmp_path: Path) -> None:
    body = json.loads((ROOT / "tests/data/documented/openai_org_costs.json").read_text())
    body["data"][0]["results"][0]["user_id"] = "user-3e5000a"
    path = tmp_path / "ids.json"
    path.write_text(json.dumps(body))
    [item] = load_inputs([path], "openai_org_costs", stream_min_bytes=0)
    assert isinstance(item, StreamedSource)
    assert item.stream(lambda _i, _row: None) == {**body, "data": []}


# -- The orjson row splitter: many rows per decode, cut at a learned boundary --------------


@pytest.fixture
def small_windows(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Windows of ~1 KiB (so a file spans many windows and cuts) and a record of how many
    rows each decode by the splitter returned."""
    monkeypatch.setattr(inputs, "_READ_BYTES", 256)
    monkeypatch.setattr(inputs, "_WINDOW_BYTES", 1024)
    decoded: list[int] = []
    rows_of = inputs._RowSplitter.rows

    def spy(self: Any, window: Any) -> list[Any] | None:
        rows = rows_of(self, window)
        if rows is not None:
            decoded.append(len(rows))
        return rows

    monkeypatch.setattr(inputs._RowSplitter, "rows", spy)
    return decoded


def _usage_body(rng: random.Random, buckets: int = 40) -> dict[str, Any]:
    documented = ROOT / "tests/data/documented/openai_org_usage_completions.json"
    body: dict[str, Any] = json.loads(documented.read_text())
    template = body["data"][0]
    strings = ["user_abc", '}]},{"object":"bucket"', "]}\n,\n{", "é ✓ 𝄞", "", 'a\\b"c']
    body["data"] = []
    for n in range(buckets):
        bucket = copy.deepcopy(template)
        bucket["start_time"] += 86_400 * n
        result = bucket["results"][0]
        bucket["results"] = []
        for _ in range(rng.randint(0, 6)):
            item = dict(result)
            item["input_tokens"] = rng.choice([0, 7, 10**15 - 1, -(10**15 - 1), 1.5, 1e300, None])
            item["user_id"] = rng.choice(strings)
            item["model"] = rng.choice([None, "gpt-4o", {"nested": [[], {}]}])
            bucket["results"].append(item)
        body["data"].append(bucket)
    return body


LAYOUTS: dict[str, Any] = {
    "newlines": lambda body: (
        '{"object": "page", "data": [\n'
        + ",\n".join(
            json.dumps(row, separators=(",", ":"), ensure_ascii=False) for row in body["data"]
        )
        + '\n], "has_more": false, "next_page": null}'
    ),
    "compact": lambda body: json.dumps(body, separators=(",", ":"), ensure_ascii=False),
    "spaced": lambda body: json.dumps(body, ensure_ascii=False),
    "indented": lambda body: json.dumps(body, indent=2, ensure_ascii=False),
    "crlf": lambda body: json.dumps(body, indent="\t", ensure_ascii=False).replace("\n", "\r\n"),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_split_rows_equal_the_whole_document(
    tmp_path: Path, small_windows: list[int], layout: str, seed: int
) -> None:
    body = _usage_body(random.Random(seed))
    path = tmp_path / "usage.json"
    path.write_text(LAYOUTS[layout](body), encoding="utf-8")
    [item] = load_inputs([path], "openai_org_usage_completions", stream_min_bytes=0)
    assert isinstance(item, StreamedSource)
    rows: list[tuple[int, Any]] = []
    envelope = item.stream(lambda index, row: rows.append((index, row)))
    whole = orjson.loads(path.read_bytes())
    assert rows == list(enumerate(whole["data"]))
    assert envelope == {**whole, "data": []}
    if layout != "compact":  # compact: a string holds the boundary `]},{"`; see below
        assert sum(small_windows) > len(body["data"]) // 2  # most rows were split
    sink = ProfileSink(item.surface, sketch_key([item]))  # a raw body: keyed fingerprints
    item.stream_bodies(sink)  # it really streams (NotStreamable otherwise)
    whole_profile = profile_source(load_sources([path], "openai_org_usage_completions")[0])
    assert sink.profiler.result() == whole_profile
    assert profile_input(item) == (whole_profile, [])
    streamed = run_diff([path], "openai_org_usage_completions", stream_min_bytes=0)
    assert streamed.to_json() == run_diff([path], "openai_org_usage_completions").to_json()


def test_a_boundary_inside_a_string_is_never_a_cut(
    tmp_path: Path, small_windows: list[int]
) -> None:
    # Compact rows end in `}]}` and begin with `{"`: the learned boundary `]},{` also
    # occurs inside the strings; the decode of a wrong cut fails, and the scanner takes over.
    trap = '"x]},{' * 40 + '"'
    rows: list[dict[str, Any]] = [{"results": [{"a": n}]} for n in range(2)]
    rows += [{"results": [{"a": n}], "s": trap if n % 3 else "-"} for n in range(60)]
    for row in rows:
        row["results"][-1]["s"] = trap
        row["results"].append({"b": []})
    body = {"data": rows, "has_more": False}
    path = tmp_path / "trap.json"
    path.write_text(json.dumps(body, separators=(",", ":")))
    [item] = load_inputs([path], "openai_org_costs", stream_min_bytes=0)
    assert isinstance(item, StreamedSource)
    seen: list[Any] = []
    assert item.stream(lambda _i, row: seen.append(row)) == {**body, "data": []}
    assert seen == rows


def _deep(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


SPLIT_FALLBACKS = {
    "nan": '{"a": NaN}',
    "infinity": '{"a": -Infinity}',
    "huge-int": '{"a": 9007199254740992}',
    "largest-int": '{"a": 9007199254740991}',
    "overflow": '{"a": 1e400}',
    "control-char": '{"a": "x\ty"}',
    "lone-surrogate": '{"a": "\\udc00"}',
    "trailing-comma": '{"a": [1,]}',
    "missing-comma": '{"a": 1} {"a": 2}',
    "deep-accepted": _deep(1022),  # 2 + 1022 levels: orjson takes the whole file
    "deep-refused": _deep(1023),  # 2 + 1023 levels: the whole file is too deep
    "bad-member": '{"a": tru}',
}


@pytest.mark.parametrize("case", sorted(SPLIT_FALLBACKS))
def test_split_rows_fall_back_exactly_like_the_strict_reader(
    tmp_path: Path, small_windows: list[int], monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    monkeypatch.setattr(inputs, "_WINDOW_BYTES", 8192)  # holds the deep rows (6 KiB)
    rows = [json.dumps({"results": [{"n": n, "pad": "p" * 200}]}) for n in range(120)]
    rows[90] = SPLIT_FALLBACKS[case]  # in a late window, after many split decodes
    path = tmp_path / f"{case}.json"
    path.write_text('{"object": "page", "data": [\n' + ",\n".join(rows) + "\n]}")
    whole = _outcome(path, 10**12)
    assert _outcome(path, 0) == whole
    assert sum(small_windows) > 60
    diffs = [_diff_outcome(path, limit) for limit in (0, 10**12)]
    assert diffs[0] == diffs[1]


def _diff_outcome(path: Path, stream_min_bytes: int) -> str:
    try:
        report = run_diff([path], "openai_org_costs", stream_min_bytes=stream_min_bytes)
    except InputError as exc:
        return exc.message
    except RecursionError:  # the profile's walk of a 1,000-level row, on either path
        return "RecursionError"
    return json.dumps(report.to_json())


def test_digit_run_sampling_is_exact() -> None:
    rng = random.Random(7)
    for _ in range(20_000):
        alphabet = rng.choice([b"0123456789a", b"0123456789", b"01,: -"])
        window = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 90)))
        exact = b"0" * 16 in window.translate(inputs._DIGITS_AS_ZERO)
        assert inputs._has_digit_run(window) == exact, window


def test_the_boundary_is_learned_from_a_later_row_when_the_first_is_cut(
    tmp_path: Path, small_windows: list[int]
) -> None:
    # The first window (1,024 bytes) ends between the comma after the first row and the
    # second row: the boundary is learned after the second row instead.
    head = '{"object": "page", "data": [\n'
    first = json.dumps({"results": [{"n": 0, "pad": ""}]})
    pad = 1024 - 2 - len(head) - len(first)
    rows = [{"results": [{"n": n, "pad": "p" * (pad if n == 0 else 30)}]} for n in range(80)]
    text = head + ",\n".join(json.dumps(row) for row in rows) + "\n]}"
    assert text[1022:1024] == ",\n"
    path = tmp_path / "late.json"
    path.write_text(text)
    [item] = load_inputs([path], "openai_org_costs", stream_min_bytes=0)
    assert isinstance(item, StreamedSource)
    seen: list[Any] = []
    assert item.stream(lambda _i, row: seen.append(row)) == {"object": "page", "data": []}
    assert seen == rows
    assert sum(small_windows) > 60


def _record_length(lengths: list[int], text: str) -> int:
    lengths.append(len(text.lstrip("-")))
    return 0


def test_the_long_integer_prefilter_misses_no_long_integer_token() -> None:
    """The strict reader's prefilter (cheap) flags every valid document that holds an
    integer token of 16+ digits (found here by the standard library's parser)."""
    rng = random.Random(16)
    leaves: list[Any] = [
        1234567890123456,
        -12345678901234567890,
        7,
        0.13080438340307526,
        1e300,
        "1234567890123456789",
        "id-9999999999999999",
        None,
    ]

    def value(depth: int) -> Any:
        if depth > 3 or rng.random() < 0.4:
            return rng.choice(leaves)
        if rng.random() < 0.5:
            return [value(depth + 1) for _ in range(rng.randint(0, 3))]
        return {f"k{n}": value(depth + 1) for n in range(rng.randint(0, 3))}

    flagged = 0
    for _ in range(5_000):
        indent = rng.choice([None, 1, 2, "\t"])
        data = json.dumps(value(0), indent=indent).encode()
        lengths: list[int] = []
        json.loads(data, parse_int=partial(_record_length, lengths))
        if max(lengths, default=0) >= 16:
            flagged += 1
            assert inputs._may_hold_long_integer(data), data
    assert flagged > 1_000
