"""Capture files stream page by page, with row slices inside a page, and every reader gives
exactly what it gives when the file is loaded whole: check, diff, gate and lock, over the
corpus wrapped in multi-page captures, sandbox captures of every scenario, and hostile
variants (which must fail, or fall back, with the whole-file reader's one-line error)."""

from __future__ import annotations

import copy
import json
import os
import random
import tempfile
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import orjson
import pytest

from verifier import anonymise_files, inputs, leakscan
from verifier.anonymise_files import run_anonymise
from verifier.capture import SANDBOX_KEY_TEXT, capture_from_sandbox
from verifier.contract import run_check
from verifier.drift import run_diff
from verifier.errors import InputError, VerifierError
from verifier.exactjson import same_text
from verifier.gate import run_gate
from verifier.inputs import NotStreamable, StreamedSource, load_inputs
from verifier.leakscan import scan_paths
from verifier.lock import Review, build_lock, run_lock
from verifier.profile import ProfileSink, sketch_key
from verifier.sandbox import SCENARIO_NAMES
from verifier.store import Capture, Page, RequestInfo, save_capture
from verifier.surfaces import SURFACE_NAMES, get_surface

from .cli_helpers import run_cli
from .conftest import CANARIES, DOCUMENTED_BODIES, DOCUMENTED_CAPTURES, REFERENCE_PAYLOADS, ROOT
from .drift_support import fixed_capture

STREAMED = 0
WHOLE = 10**12
LOCKS = ROOT / "captures" / "locks"

_REFERENCE_PREFIXES = {
    "chatgpt_": "chatgpt_enterprise_usage",
    "codex_analytics_": "chatgpt_enterprise_usage",
    "openai_costs_": "openai_org_costs",
    "openai_usage_completions_": "openai_org_usage_completions",
    "openai_users_": "openai_org_users",
}


def corpus_bodies() -> list[tuple[str, str, Any]]:
    """(name, surface, raw body) of every raw body in the test corpus."""
    found: list[tuple[str, str, Any]] = []
    for path in sorted(REFERENCE_PAYLOADS.glob("*.json")):
        surface = next((s for p, s in _REFERENCE_PREFIXES.items() if path.name.startswith(p)), None)
        if surface is not None:
            found.append((path.stem, surface, json.loads(path.read_text())))
    for surface in SURFACE_NAMES:
        found.append((f"documented-{surface}", surface, _documented(surface)))
        for path in sorted((ROOT / "tests" / "data" / "contract" / surface).rglob("*.json")):
            found.append((f"{surface}-{path.stem}", surface, json.loads(path.read_text())))
    return found


def _documented(surface: str) -> Any:
    return json.loads((DOCUMENTED_BODIES / f"{surface}.json").read_text())


_ERROR_BODY = {"error": {"message": "group_by user_id is not supported", "type": "invalid"}}


def multi_page_capture(path: Path, surface: str, body: Any, rng: random.Random) -> Path:
    """The body as several pages: itself, a mutated copy, an error answer, itself again."""
    spec = get_surface(surface)
    mutated = copy.deepcopy(body)
    if isinstance(mutated, dict) and isinstance(mutated.get("data"), list) and mutated["data"]:
        row = rng.randrange(len(mutated["data"]))
        if isinstance(mutated["data"][row], dict) and mutated["data"][row]:
            key = rng.choice(sorted(mutated["data"][row]))
            mutated["data"][row][key] = rng.choice([None, "12.5", 3, [], {"x": 1}])
    pages = (
        Page(200, spec.url_template, {"content-type": "application/json"}, body),
        Page(200, spec.url_template, {}, mutated),
        Page(400, spec.url_template, {}, _ERROR_BODY),
        Page(502, spec.url_template, {}, None, "<html>Bad gateway</html>"),
        Page(200, spec.url_template, {}, body),
    )
    capture = fixed_capture(
        surface,
        pages,
        findings=(
            {
                "surface": surface,
                "source": "x",
                "kind": "pagination_changed",
                "path": "next_page",
                "pointer": "/pages/4/body/next_page",
                "severity": "breaking",
                "expected": "a cursor",
                "observed": "none",
                "message": "pagination broke",
                "consumed_by_merge": True,
            },
        ),
    )
    return save_capture(capture, path)


@pytest.fixture(scope="module")
def sandbox_captures(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """One capture per surface and scenario from the sandbox (faults included)."""
    out: list[Path] = []
    for scenario in SCENARIO_NAMES:
        folder = tmp_path_factory.mktemp(scenario)
        run = capture_from_sandbox(
            folder, scenario=scenario, start=date(2026, 5, 1), end=date(2026, 5, 4), users=4
        )
        out.extend(run.paths)
    assert len(out) >= 4 * len(SCENARIO_NAMES) - 1
    return out


def use_tiny_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads of 256 bytes and windows of 1 KiB: rows, pages and members straddle reads."""
    monkeypatch.setattr(inputs, "_READ_BYTES", 256)
    monkeypatch.setattr(inputs, "_WINDOW_BYTES", 1024)


def use_tiny_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slices of 64 characters: a row larger than that (after the first of its array) is
    decoded member by member, the items of its arrays in slices (each of them larger
    than a slice decoded the same way), and put together, as a usage or costs bucket of
    thousands of users' results is at the default slice size."""
    monkeypatch.setattr(inputs, "_SPLIT_CHARS", 64)


@pytest.fixture(params=["default-windows", "tiny-windows", "tiny-slices"])
def windows(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "tiny-windows":
        use_tiny_windows(monkeypatch)
    if request.param == "tiny-slices":
        use_tiny_slices(monkeypatch)
    return str(request.param)


@pytest.fixture(params=["tiny-windows", "tiny-slices"])
def tiny_windows(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads and windows so small that everything straddles them; or slices so small that
    buckets are decoded in parts."""
    if request.param == "tiny-windows":
        use_tiny_windows(monkeypatch)
    else:
        use_tiny_slices(monkeypatch)


def outcome(run: Callable[[int], Any], limit: int) -> str:
    try:
        result = run(limit)
    except VerifierError as exc:
        return f"{type(exc).__name__}: {exc.message}"
    return json.dumps(result, sort_keys=True, default=str)


def all_readers(path: Path) -> dict[str, Callable[[int], Any]]:
    """Every reader of capture files, as a function of the streaming threshold."""
    paths = [path]

    def lock(limit: int) -> Any:
        [item] = load_inputs(paths, stream_min_bytes=limit)
        moment = datetime(2026, 5, 2, tzinfo=UTC)  # accepted records carry it
        review = Review(by="reviewer-a", at="2026-05-02T00:00:00Z")
        built, findings, _kept = build_lock(
            item.surface, [item], accept=True, now=moment, review=review
        )
        document = built.to_json()
        document["locked_at"] = ""
        return [document, [f.to_json() for f in findings]]

    def anonymise(limit: int) -> Any:
        """With the sandbox's key: its captures are cleaned again, the raw ones (no
        fingerprint) anonymised, others refused for their key."""
        # Written to a temp dir, never next to the capture (which may be in the repo).
        with (
            tempfile.TemporaryDirectory() as scratch,
            mock.patch.dict(os.environ, {"VERIFY_ANON_KEY": SANDBOX_KEY_TEXT}),
        ):
            out = Path(scratch) / f"anonymised-{limit}-{path.stem}"
            run_anonymise((str(path),), out, None, 200, False, stream_min_bytes=limit)
            return {p.name: p.read_text() for p in sorted(out.iterdir())}

    return {
        "anonymise": anonymise,
        "scan": lambda limit: scan_paths(paths, CANARIES, stream_min_bytes=limit).to_json(),
        "check": lambda limit: run_check(paths, stream_min_bytes=limit).to_json(),
        "diff": lambda limit: run_diff(paths, stream_min_bytes=limit).to_json(),
        "diff-lock": lambda limit: run_diff(
            paths, against="lock", locks_dir=LOCKS, stream_min_bytes=limit
        ).to_json(),
        "gate": lambda limit: run_gate(paths, locks_dir=LOCKS, stream_min_bytes=limit).to_json(),
        "lock": lock,
    }


def assert_streamed_equals_whole(path: Path) -> None:
    for name, run in all_readers(path).items():
        assert outcome(run, STREAMED) == outcome(run, WHOLE), (name, path.name)


def whole_rows(path: Path) -> list[tuple[str, int, Any]]:
    """(body pointer, index, row) of every `data` item of a capture file read whole."""
    whole = orjson.loads(path.read_bytes())
    return [
        (f"/pages/{p}/body", i, row)
        for p, page in enumerate(whole["pages"])
        for i, row in enumerate(page["body"]["data"])
    ]


def really_streams(path: Path) -> bool:
    [item] = load_inputs([path], stream_min_bytes=STREAMED)
    if not isinstance(item, StreamedSource):
        return False
    try:
        item.stream_bodies(ProfileSink(item.surface, sketch_key([item])))
    except NotStreamable:
        return False
    return True


def test_documented_captures_stream_and_agree(windows: str) -> None:
    for path in sorted(DOCUMENTED_CAPTURES.glob("*.json")):
        assert really_streams(path), path.name
        assert_streamed_equals_whole(path)


def test_sandbox_captures_stream_and_agree(
    tiny_windows: None, sandbox_captures: list[Path]
) -> None:
    for path in sandbox_captures:
        assert really_streams(path), path.name
        assert_streamed_equals_whole(path)


def test_corpus_bodies_as_multi_page_captures_agree(tmp_path: Path, tiny_windows: None) -> None:
    rng = random.Random(11)
    streamed = 0
    bodies = corpus_bodies()
    assert len(bodies) > 30
    for name, surface, body in bodies:
        path = multi_page_capture(tmp_path / f"{name}.json", surface, body, rng)
        streamed += really_streams(path)
        assert_streamed_equals_whole(path)
    assert streamed > len(bodies) // 2  # most of them really streamed


def test_compact_and_reordered_layouts_agree(tmp_path: Path, tiny_windows: None) -> None:
    """Other writers' layouts: compact, tabs and CRLF, members in another order."""
    for source in sorted(DOCUMENTED_CAPTURES.glob("*.json")):
        document = json.loads(source.read_text())
        layouts = {
            "compact": json.dumps(document, separators=(",", ":")),
            "crlf": json.dumps(document, indent="\t").replace("\n", "\r\n"),
            "pages-last": json.dumps(
                {**{k: v for k, v in document.items() if k != "pages"}, "pages": document["pages"]}
            ),
            "pages-first": json.dumps({"pages": document["pages"], **document}),
            "body-first": json.dumps(
                {
                    **document,
                    "pages": [{"body": p["body"], **p} for p in document["pages"]],
                }
            ),
        }
        for layout, text in layouts.items():
            path = tmp_path / f"{layout}-{source.name}"
            path.write_text(text)
            assert_streamed_equals_whole(path)


def _capture_text(surface: str = "openai_org_costs") -> str:
    return (DOCUMENTED_CAPTURES / f"{surface}.json").read_text()


def _with_second_page(text: str, replace_in_page: Callable[[str], str]) -> str:
    """A capture whose second page is the first with a textual change."""
    document = json.loads(text)
    first = json.dumps(document["pages"][0], indent=2)
    document["pages"] = ["@FIRST@", "@SECOND@"]
    rendered = json.dumps(document, indent=2)
    return rendered.replace('"@FIRST@"', first).replace('"@SECOND@"', replace_in_page(first))


HOSTILE: dict[str, Callable[[], bytes]] = {
    "truncated": lambda: _capture_text().encode()[:-300],
    "nan-in-page-2": lambda: _with_second_page(
        _capture_text(), lambda p: p.replace('"value": 0.06', '"value": NaN', 1)
    ).encode(),
    "huge-int-in-page-2": lambda: _with_second_page(
        _capture_text(), lambda p: p.replace('"value": 0.06', '"value": 12345678901234567890', 1)
    ).encode(),
    "long-int-in-range": lambda: _with_second_page(
        _capture_text(), lambda p: p.replace('"value": 0.06', '"value": 1234567890123456', 1)
    ).encode(),
    "status-as-string": lambda: (
        _capture_text().replace('"status": 200', '"status": "200"').encode()
    ),
    "status-missing": lambda: _capture_text().replace('"status": 200,', "").encode(),
    "page-not-object": lambda: _with_second_page(_capture_text(), lambda _p: "[1, 2]").encode(),
    "data-null": lambda: _with_second_page(
        _capture_text(),
        lambda p: (
            p[: p.index('"data": [')] + '"data": null, "x": [' + p[p.index('"data": [') + 9 :]
        ),
    ).encode(),
    "repeated-pages": lambda: (
        _capture_text().replace('"findings": [', '"pages": [], "findings": [').encode()
    ),
    "repeated-member-in-page": lambda: (
        _capture_text().replace('"status": 200,', '"status": 200, "status": 201,').encode()
    ),
    "trailing-data": lambda: (_capture_text() + '{"x": 1}').encode(),
    "bom": lambda: b"\xef\xbb\xbf" + _capture_text().encode(),
    "latin-1": lambda: (
        _capture_text().replace('"object": "page"', '"object": "p\xe9ge"').encode("latin-1")
    ),
    "version-2": lambda: (
        _capture_text().replace('"format_version": 1', '"format_version": 2').encode()
    ),
    "unknown-surface": lambda: (
        _capture_text().replace('"surface": "openai_org_costs"', '"surface": "nope"').encode()
    ),
    "no-captured-at": lambda: _capture_text().replace('"captured_at"', '"captured_on"').encode(),
    "lone-surrogate": lambda: (
        _capture_text().replace('"object": "page"', '"object": "\\udc00"').encode()
    ),
    "deep-objects-in-arrays": lambda: (
        _capture_text()
        .replace(
            '"line_item": null', '"line_item": null, "x": ' + '[{"a": ' * 480 + "1" + "}]" * 480, 1
        )
        .encode()
    ),
    "deep-row": lambda: _with_second_page(
        _capture_text(),
        lambda p: p.replace('"value": 0.06', '"value": ' + "[" * 1020 + "]" * 1020, 1),
    ).encode(),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_captures_fail_or_fall_back_like_the_whole_reader(
    tmp_path: Path, windows: str, case: str
) -> None:
    path = tmp_path / f"{case}.json"
    path.write_bytes(HOSTILE[case]())
    assert_streamed_equals_whole(path)


def test_a_large_multi_page_capture_streams_in_row_slices(tmp_path: Path) -> None:
    """Hundreds of pages of thousands of rows: every row arrives once, in order, in
    slices of many rows, each page's body after its rows with `data` emptied."""
    body = _documented("openai_org_costs")
    spec = get_surface("openai_org_costs")
    bucket = body["data"][0]
    pages = []
    for page in range(40):
        rows = []
        for n in range(50):
            row = copy.deepcopy(bucket)
            row["start_time"] += 86_400 * (page * 50 + n)
            row["end_time"] += 86_400 * (page * 50 + n)
            rows.append(row)
        pages.append(Page(200, spec.url_template, {}, {**body, "data": rows}))
    capture = Capture(
        surface="openai_org_costs",
        request=RequestInfo("GET", spec.url_template, {}),
        pages=tuple(pages),
        captured_at="2026-05-02T00:00:00Z",
        key_fingerprint=None,
    )
    path = save_capture(capture, tmp_path / "big.json")
    [item] = load_inputs([path], stream_min_bytes=STREAMED)
    assert isinstance(item, StreamedSource)
    seen: list[tuple[str, int, Any]] = []
    slices: list[int] = []
    bodies: list[tuple[str, Any, bool]] = []

    class Sink:
        def rows(self, prefix: str, first: int, rows: list[Any]) -> None:
            slices.append(len(rows))
            seen.extend((prefix, first + i, row) for i, row in enumerate(rows))

        def body(self, body: inputs.Body) -> None:
            bodies.append((body.pointer_prefix, body.value, body.rows_streamed))

    meta = item.stream_bodies(Sink())
    assert meta is not None and meta.pages == () and meta.surface == "openai_org_costs"
    whole = orjson.loads(path.read_bytes())
    expected = whole_rows(path)
    assert seen == expected
    assert bodies == [
        (f"/pages/{p}/body", {**page["body"], "data": []}, True)
        for p, page in enumerate(whole["pages"])
    ]
    # Many rows per orjson decode on every page (the boundary of one page's rows also
    # occurs in the next page: a cut past the end of `data` is refused and cut again).
    assert sum(n for n in slices if n > 1) > 0.9 * len(seen)
    assert_streamed_equals_whole(path)


def test_a_large_bucket_is_decoded_in_parts_and_put_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bucket larger than a slice (at the default size: a day of thousands of users'
    results) never goes to orjson whole: its members and slices of its `results` do, and
    the bucket put together from them is the one the whole file holds; each part comes
    with its own text (the merge checks number texts part by part)."""
    split = 4096
    monkeypatch.setattr(inputs, "_SPLIT_CHARS", split)
    body = _documented("openai_org_costs")
    spec = get_surface("openai_org_costs")
    result = body["data"][0]["results"][0]
    pages = []
    for page in range(2):
        buckets = []
        for day in range(3):
            bucket = copy.deepcopy(body["data"][0])
            bucket["start_time"] += 86_400 * (page * 3 + day)
            bucket["results"] = [
                {**copy.deepcopy(result), "project_id": f"proj_{day}_{n}"} for n in range(400)
            ]
            buckets.append(bucket)
        pages.append(Page(200, spec.url_template, {}, {**body, "data": buckets}))
    capture = fixed_capture("openai_org_costs", tuple(pages))
    path = save_capture(capture, tmp_path / "large-buckets.json")
    decoded: list[int] = []

    def counted(text: str) -> Any:
        decoded.append(len(text))
        return orjson.loads(text)

    monkeypatch.setattr(inputs, "_FAST", inputs._Decoding(inputs._DECODER, counted))
    [item] = load_inputs([path], stream_min_bytes=STREAMED)
    assert isinstance(item, StreamedSource)
    seen: list[tuple[str, int, Any]] = []
    texts: list[tuple[str, list[Any]]] = []

    class Sink:
        def rows(self, prefix: str, first: int, rows: list[Any]) -> None:
            seen.extend((prefix, first + i, row) for i, row in enumerate(rows))

        def row_text(self, text: str, rows: list[Any]) -> None:
            texts.append((text, rows))

        def body(self, body: inputs.Body) -> None:
            pass

    item.stream_bodies(Sink())
    expected = whole_rows(path)
    assert seen == expected
    assert len(orjson.dumps(expected[0][2])) > 10 * split  # each bucket is many slices
    assert len(decoded) > 6 * 10 and max(decoded) < split + 64  # never a bucket at once
    assert texts and all(same_text(text, rows) for text, rows in texts)
    assert sum(len(rows) for _text, rows in texts) > 6 * 400  # every bucket's results
    assert_streamed_equals_whole(path)


def test_a_raw_body_and_a_capture_mismatch_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "costs.json"
    path.write_text(_capture_text())
    with pytest.raises(InputError, match="is a openai_org_costs capture but --surface"):
        load_inputs([path], "openai_org_users", stream_min_bytes=STREAMED)


def test_merge_streams_its_gate_and_writes_the_same_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox_captures: list[Path]
) -> None:
    """`verify merge` gates streamed captures (and plans with the coverage that pass
    indexed): the table and the summary are those of captures read whole."""
    documented = [p for p in sandbox_captures if "documented" in str(p.parent.name)]
    folder = tmp_path / "captures"
    folder.mkdir()
    for path in documented:
        (folder / path.name).write_bytes(path.read_bytes())
    locks = tmp_path / "locks"
    run_lock([folder], locks_dir=locks)
    outputs = []
    for limit in (WHOLE, STREAMED):
        monkeypatch.setattr(inputs, "STREAM_MIN_BYTES", limit)
        out = tmp_path / f"spend-{limit}.csv"
        result = run_cli("merge", str(folder), "--out", str(out), "--locks-dir", str(locks))
        assert result.code == 0, result.stderr
        outputs.append((out.read_bytes(), result.stdout.replace(str(out), "OUT")))
    assert outputs[0] == outputs[1]
    assert outputs[0][0].count(b"\n") > 10


def _leaky_capture(layout: str) -> str:
    """The documented costs capture with leaks planted everywhere a scan looks: rows,
    member names (withheld from paths), headers, the envelope, a finding, a second page;
    in the given member order and layout."""
    document = json.loads(_capture_text())
    page = document["pages"][0]
    page["headers"]["x-contact"] = "ops@corp.example"
    rows = page["body"]["data"]
    rows[0]["results"][0]["note"] = "mail jane.doe@corp.example, key sk-admin-abcdefghijklmnop"
    rows[-1]["ann@corp.example"] = {"inner": "Bearer abc.def.ghi", "ok": "fine"}
    page["body"]["contact"] = "billing@corp.example"
    second = copy.deepcopy(page)
    second["body"]["data"] = [*rows, {"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl": 1}]
    document["pages"] = [page, second, {"status": 500, "body_text": "<p>ops@corp.example</p>"}]
    document["request"]["query"]["emails"] = [CANARIES[0], "x@corp.example"]
    document["unknown"] = {"deep": [{"who": "z@corp.example"}]}
    if layout == "format-last":
        document = {
            **{k: v for k, v in document.items() if k != "format"},
            "format": "verify-capture",
        }
    if layout == "not-a-capture":
        document["format"] = "something-else"
    if layout == "surface-object":
        document["surface"] = {"name": "openai_org_costs"}
    if layout == "compact":
        return json.dumps(document, separators=(",", ":"))
    return json.dumps(document, indent=2)


@pytest.mark.parametrize(
    "layout", ["indented", "compact", "format-last", "not-a-capture", "surface-object"]
)
def test_scan_streams_a_leaky_capture_with_the_whole_file_findings(
    tmp_path: Path, windows: str, layout: str
) -> None:
    path = tmp_path / f"{layout}.json"
    path.write_text(_leaky_capture(layout))
    scans = [scan_paths([path], CANARIES, stream_min_bytes=limit) for limit in (STREAMED, WHOLE)]
    assert scans[0].to_json() == scans[1].to_json()
    assert len(scans[0].findings) >= 8
    if layout == "surface-object":  # read whole: the stream cannot tell the surface
        with pytest.raises(NotStreamable):
            leakscan._scan_streamed(path, CANARIES)
    else:  # really streamed, no fallback
        streamed = leakscan._scan_streamed(path, CANARIES)
        assert [f.to_json() for f in streamed] == [f.to_json() for f in scans[1].findings]


@pytest.mark.parametrize("chunk", [leakscan._CHUNK, 7], ids=["1MiB-chunks", "7-byte-chunks"])
def test_scan_streams_raw_bodies_arrays_and_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """Text (CSV, CRLF and lone CR line breaks, bytes that are not UTF-8) is scanned line
    by line and a top-level array in slices, with the line numbers and findings of the
    whole-file scan; 7-byte chunks cut lines, `\r\n` pairs and UTF-8 sequences."""
    monkeypatch.setattr(leakscan, "_CHUNK", chunk)
    body = _documented("chatgpt_enterprise_usage")
    body["data"][0]["email"] = "raw@corp.example"
    files = {
        "raw.json": json.dumps(body, indent=2).encode(),
        "array.json": json.dumps([body, {"k": CANARIES[1]}, "x@corp.example"]).encode(),
        "merged.csv": b"date,email\n2026-05-01,csv@corp.example\n",
        "crlf.csv": (
            "date,email\r\n2026-05-01,\u00e9t\u00e9@corp.example\r\r\nnote\rkey "
            + CANARIES[0]
            + "\r\n\n2026-05-02,b@corp.example"
        ).encode(),
        "latin-1.txt": "caf\u00e9,ann@corp.example\nok\n\u00e9,bob@corp.example\n".encode(
            "latin-1"
        ),
        "clean.json": json.dumps(_documented("openai_org_users")).encode(),
        "clean.csv": b"date,credits\n2026-05-01,3\n",
    }
    streamed_kinds = 0
    for name, data in files.items():
        path = tmp_path / name
        path.write_bytes(data)
        scans = [scan_paths([path], CANARIES, stream_min_bytes=n) for n in (STREAMED, WHOLE)]
        assert scans[0].to_json() == scans[1].to_json(), name
        if not name.startswith("clean"):  # really streamed, no fallback
            assert scans[1].findings, name
            streamed = leakscan._scan_streamed(path, CANARIES)
            assert [f.to_json() for f in streamed] == [f.to_json() for f in scans[1].findings]
            streamed_kinds += 1
    assert streamed_kinds == 5


def anonymised(path: Path, limit: int, surface: str | None, keep_raw: bool) -> dict[str, str]:
    """The output of `verify anonymise`; streamed (STREAMED), it must not fall back on
    reading the file whole."""
    out = path.parent / f"out-{limit}-{keep_raw}"
    whole = anonymise_files.output_bytes

    def not_whole(*args: Any) -> bytes:
        raise AssertionError("the streamed input was read whole")

    with mock.patch.object(anonymise_files, "output_bytes", whole if limit else not_whole):
        run_anonymise((str(path),), out, surface, 403, keep_raw, stream_min_bytes=limit)
    return {p.name: p.read_text() for p in sorted(out.iterdir())}


@pytest.mark.parametrize("keep_raw", [False, True], ids=["as-capture", "raw"])
def test_anonymise_streams_raw_bodies_with_the_whole_file_output(
    tmp_path: Path, windows: str, keep_raw: bool
) -> None:
    """Raw bodies of every surface, with personal data in rows and envelope, exact
    numbers, and values shared by few or many people (k-anonymity over all slices)."""
    for surface in SURFACE_NAMES:
        body = _documented(surface)
        rows = [copy.deepcopy(body["data"][n % len(body["data"])]) for n in range(30)]
        for n, row in enumerate(rows):
            if isinstance(row, dict):
                row["email"] = f"person{n % 7}@corp.example"
                row["seen_on"] = "2026-05-01" if n < 9 else f"2026-06-{n:02d}"
        body["data"] = rows
        body["contact"] = "ops@corp.example"
        text = json.dumps(body, indent=2).replace('"contact"', '"amount": 1.50, "contact"', 1)
        path = tmp_path / surface / "body.json"
        path.parent.mkdir()
        path.write_text(text)
        streamed = anonymised(path, STREAMED, surface, keep_raw)
        assert streamed == anonymised(path, WHOLE, surface, keep_raw), surface
        assert "corp.example" not in "".join(streamed.values())
        assert '"amount": 1.50' in "".join(streamed.values())


def test_anonymise_streams_a_leaky_capture_and_writes_what_the_whole_path_writes(
    tmp_path: Path, windows: str
) -> None:
    path = tmp_path / "leaky.json"
    document = json.loads(_leaky_capture("indented"))
    document["pages"][1]["status"] = 503  # a page decoded whole between streamed ones
    document["anonymisation"]["key_fingerprint"] = None
    path.write_text(json.dumps(document, indent=2))
    outputs = [anonymised(path, limit, None, False) for limit in (STREAMED, WHOLE)]
    assert outputs[0] == outputs[1]
    assert "corp.example" not in "".join(outputs[0].values())
