"""Every kind of unusable input: exit 2, exactly one line on stderr, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from verifier.capture import fetch_chain
from verifier.store import save_capture

from .cli_helpers import run_cli
from .conftest import DOCUMENTED_CAPTURES, ROOT
from .drift_support import fixed_capture
from .test_capture_unit import access, fetcher, options

COSTS = "openai_org_costs"


def _bad(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


CASES: dict[str, tuple[bytes, str]] = {
    "empty": (b"", "file is empty"),
    "whitespace_only": (b"  \n\t", "file is empty"),
    "invalid_json": (b'{\n  "object": "page",\n  "data": [1,]\n}', "invalid JSON at line 3 column"),
    "truncated": (b'{"object": "page", "data": [', "invalid JSON at line 1 column"),
    "non_utf8": (b'{"object": "p\xe9ge"}', "not valid UTF-8 (byte offset 13)"),
    "utf8_bom": (b'\xef\xbb\xbf{"object": "page"}', "UTF-8 byte-order mark"),
    "utf16_bom": ('{"a": 1}'.encode("utf-16"), "byte-order mark"),
    "array_not_object": (b'[{"object": "bucket"}]', "expected a JSON object"),
    "string_not_object": (b'"page"', "expected a JSON object"),
    "nan": (b'{"data": [], "has_more": false, "value": NaN}', "NaN and Infinity are not JSON"),
    "infinity": (b'{"value": Infinity}', "NaN and Infinity are not JSON"),
    "minus_infinity": (b'{"value": -Infinity}', "NaN and Infinity are not JSON"),
    "deep_nesting": (b"[" * 10_000 + b"]" * 10_000, "nested too deeply"),
    "deep_objects": (b'{"a":' * 10_000 + b"1" + b"}" * 10_000, "nested too deeply"),
    "twenty_digit_integer": (b'{"value": 12345678901234567890}', "2**53-1"),
    "huge_integer": (b'{"value": -123456789012345678901234567890}', "2**53-1"),
    "overflow": (
        b'{"data": [],\n "value": 1e400}',
        "number out of range: 1e400 at line 2 column 11",
    ),
    "minus_overflow": (
        b'{"value": [-1.5E+999]}',
        "number out of range: -1.5E+999 at line 1 column 12",
    ),
    "long_overflow": (
        b'{"value": 1' + b"0" * 400 + b"}",
        "out of range: a number of 401 characters",
    ),
}


def _assert_one_line_error(stderr: str, expected: str) -> None:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("verify: error: ")
    assert expected in lines[0]
    assert "Traceback" not in stderr


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_file_exits_2_with_one_line(tmp_path: Path, case: str) -> None:
    data, expected = CASES[case]
    path = _bad(tmp_path, f"{case}.json", data)
    result = run_cli("check", "--surface", COSTS, str(path))
    assert result.code == 2
    assert result.stdout == ""
    _assert_one_line_error(result.stderr, expected)
    assert str(path) in result.stderr


def test_long_digit_strings_are_not_mistaken_for_integers(tmp_path: Path) -> None:
    body = json.loads((ROOT / "tests/data/documented/openai_org_costs.json").read_text())
    body["next_page"] = "page_12345678901234567890123"
    path = _bad(tmp_path, "cursor.json", json.dumps(body).encode())
    assert run_cli("check", "--surface", COSTS, str(path)).code == 0


def test_missing_file(tmp_path: Path) -> None:
    result = run_cli("check", "--surface", COSTS, str(tmp_path / "nope.json"))
    assert result.code == 2
    _assert_one_line_error(result.stderr, "no such file or directory")


def test_directory_without_json(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not json")
    result = run_cli("check", str(tmp_path))
    assert result.code == 2
    _assert_one_line_error(result.stderr, "directory contains no *.json files")


def test_unknown_surface_name(tmp_path: Path) -> None:
    path = _bad(tmp_path, "body.json", b"{}")
    result = run_cli("check", "--surface", "openai_org_invoices", str(path))
    assert result.code == 2
    _assert_one_line_error(result.stderr, "unknown surface 'openai_org_invoices'")
    assert "openai_org_costs" in result.stderr


def test_raw_body_without_surface(tmp_path: Path) -> None:
    path = _bad(tmp_path, "body.json", b'{"object": "page"}')
    result = run_cli("check", str(path))
    assert result.code == 2
    _assert_one_line_error(result.stderr, "say which surface it is with --surface")


def test_unknown_capture_format_version(tmp_path: Path) -> None:
    capture = json.loads((DOCUMENTED_CAPTURES / "openai_org_costs.json").read_text())
    capture["format_version"] = 99
    path = _bad(tmp_path, "future.json", json.dumps(capture).encode())
    result = run_cli("check", str(path))
    assert result.code == 2
    _assert_one_line_error(result.stderr, "capture format version 99 is not supported")


def test_capture_surface_conflicts_with_flag() -> None:
    path = DOCUMENTED_CAPTURES / "openai_org_costs.json"
    result = run_cli("check", "--surface", "openai_org_users", str(path))
    assert result.code == 2
    _assert_one_line_error(result.stderr, "is a openai_org_costs capture")


def test_missing_argument_is_a_one_line_usage_error() -> None:
    result = run_cli("check")
    assert result.code == 2
    _assert_one_line_error(result.stderr, "Missing argument")


def test_unknown_option_is_a_one_line_usage_error() -> None:
    result = run_cli("check", "--colour", "x.json")
    assert result.code == 2
    _assert_one_line_error(result.stderr, "No such option")


def test_input_files_are_left_untouched(tmp_path: Path) -> None:
    data = b'{"value": NaN}'
    path = _bad(tmp_path, "nan.json", data)
    run_cli("check", "--surface", COSTS, str(path))
    assert path.read_bytes() == data


def test_python_dash_m_gives_no_traceback(tmp_path: Path) -> None:
    path = _bad(tmp_path, "bad.json", b"{")
    proc = subprocess.run(
        [sys.executable, "-m", "verifier", "check", "--surface", COSTS, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    _assert_one_line_error(proc.stderr, "invalid JSON at line 1 column")


def _deep_costs_body(tmp_path: Path, levels: int) -> Path:
    """A valid costs body with an extra member nested `levels` deep: orjson reads it, the
    walkers that follow must still answer with one line and exit 2."""
    body = (ROOT / "tests/data/documented/openai_org_costs.json").read_text()
    deep = "1"
    for _ in range(levels):
        deep = '{"a":' + deep + "}"
    text = body.replace('"line_item": null', f'"line_item": null, "extra": {deep}', 1)
    return _bad(tmp_path, "deep.json", text.encode())


@pytest.mark.parametrize(
    "command",
    [
        ("diff", "--surface", COSTS),
        ("lock", "--surface", COSTS, "--locks-dir", "LOCKS"),
        ("anonymise", "--surface", COSTS, "--out", "OUT"),
    ],
    ids=["diff", "lock", "anonymise"],
)
def test_valid_but_very_deep_json_is_bad_input(tmp_path: Path, command: tuple[str, ...]) -> None:
    path = _deep_costs_body(tmp_path, 1000)
    args = [
        a.replace("LOCKS", str(tmp_path / "locks")).replace("OUT", str(tmp_path / "out"))
        for a in command
    ]
    result = run_cli(*args, str(path))
    assert result.code == 2
    _assert_one_line_error(result.stderr, str(path))
    assert not (tmp_path / "locks").exists()
    assert not (tmp_path / "out").exists()


def _costs_with_overflow(tmp_path: Path, results: int) -> Path:
    """The documented costs capture with `results` results in its bucket (over 1 MiB at
    9,000: the streamed readers), the last one's amount `1e400`."""
    capture = json.loads((DOCUMENTED_CAPTURES / f"{COSTS}.json").read_text())
    bucket = capture["pages"][0]["body"]["data"][0]
    bucket["results"] = bucket["results"] * results
    text = json.dumps(capture, indent=2)
    cut = text.rindex('"value": ') + len('"value": ')
    text = text[:cut] + "1e400" + text[text.index(",", cut) :]
    return _bad(tmp_path, f"costs-{results}.json", text.encode())


@pytest.mark.parametrize("results", [1, 9_000], ids=["small", "streamed"])
def test_an_out_of_range_number_is_named_by_every_command(tmp_path: Path, results: int) -> None:
    """`1e400` overflows a double: every command that reads the file says so (not only
    "invalid JSON"), where, and exits 2 with one line."""
    path = _costs_with_overflow(tmp_path, results)
    assert (path.stat().st_size > 2**20) == (results > 1)
    line = len(path.read_text()[: path.read_text().index("1e400")].splitlines())
    expected = f"number out of range: 1e400 at line {line} column 28"
    out = tmp_path / "out"
    commands = [
        ["check", str(path)],
        ["diff", str(path)],
        ["lock", str(path), "--locks-dir", str(out / "locks")],
        ["gate", str(path), "--allow-unlocked"],
        ["merge", str(path), "--allow-unlocked", "--out", str(out / "spend.csv")],
        ["anonymise", str(path), "--out", str(out / "anonymised")],
    ]
    for command in commands:
        result = run_cli(*command, env={"VERIFY_ANON_KEY": "overflow-test-key-0123456789abcdef"})
        assert result.code == 2, (command, result.stderr)
        _assert_one_line_error(result.stderr, expected)
        assert "invalid JSON" not in result.stderr
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))


def test_a_captured_answer_with_an_out_of_range_number_fails_the_gate(tmp_path: Path) -> None:
    """An API answer holding `1e400` is no JSON the capture can keep as data: it keeps
    the text, and check, gate and merge refuse that page, saying why (before, only a
    warning said its body was null, and the gate passed without its rows)."""
    first = {
        "object": "page",
        "data": [{"object": "bucket", "start_time": 0, "end_time": 86400, "results": []}],
        "has_more": True,
        "next_page": "page_2",
    }
    second = (
        b'{"object": "page", "data": [{"object": "bucket", "start_time": 86400,'
        b' "end_time": 172800, "results": [{"object": "organization.costs.result",'
        b' "amount": {"value": 1e400, "currency": "usd"}}]}], "has_more": false,'
        b' "next_page": null}'
    )

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("page"):
            return httpx.Response(200, content=second)
        return httpx.Response(200, json=first)

    chain = fetch_chain(fetcher(answer), access(COSTS), None, options())
    assert chain.pages[1].body is None and chain.pages[1].body_text is not None
    path = save_capture(fixed_capture(COSTS, chain.pages), tmp_path / "costs.json")
    expected = f"not JSON: number out of range: 1e400 at line 1 column {second.index(b'1e400') + 1}"
    for command in (["check"], ["gate", "--allow-unlocked"]):
        result = run_cli(*command, str(path), "--format", "json")
        assert result.code == 1, result.stderr
        findings = json.loads(result.stdout)["findings"]
        [finding] = [f for f in findings if f["pointer"] == "/pages/1/body"]
        assert finding["severity"] == "breaking" and finding["consumed_by_merge"]
        assert expected in finding["observed"]
    out = tmp_path / "spend.csv"
    result = run_cli("merge", str(path), "--allow-unlocked", "--out", str(out))
    assert result.code == 1 and "merge refused, nothing written" in result.stderr
    assert not out.exists()
