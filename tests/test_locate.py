"""JSON pointer -> line and column, the one mapping github annotations and SARIF use."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.cli_helpers import run_cli
from verifier.findings import Finding
from verifier.locate import Position, locate_findings, locate_pointers

PRETTY = """{
  "object": "page",
  "data": [
    {
      "results": [
        {"amount": {"value": 0.13, "currency": "usd"}},
        {"amount": {"value": "0.2", "currency": "usd"}}
      ]
    }
  ],
  "a/b": {"t~x": [1, 2]},
  "naïve\\u00e9": {"k": true},
  "next_page": null
}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "body.json"
    path.write_text(text, encoding="utf-8")
    return path


def _text_at(text: str, position: Position) -> str:
    return text.split("\n")[position.line - 1][position.column - 1 :]


def test_pointers_map_to_the_first_byte_of_their_value(tmp_path: Path) -> None:
    path = _write(tmp_path, PRETTY)
    expected = {
        "": (1, "{"),
        "/object": (2, '"page",'),
        "/data/0/results/0/amount": (6, '{"value": 0.13,'),
        "/data/0/results/1/amount/value": (7, '"0.2",'),
        "/a~1b/t~0x/1": (11, "2]},"),
        "/naïveé/k": (12, "true}"),
        "/next_page": (13, "null"),
    }
    found = locate_pointers(path, expected)
    for pointer, (line, starts) in expected.items():
        assert found[pointer].line == line, pointer
        assert _text_at(PRETTY, found[pointer]).startswith(starts), pointer
    # columns count characters, not bytes: the key before `true` holds a non-ASCII letter
    assert found["/naïveé/k"] == Position(12, PRETTY.split("\n")[11].index("true") + 1)


def test_missing_pointer_falls_back_to_its_deepest_ancestor(tmp_path: Path) -> None:
    path = _write(tmp_path, PRETTY)
    found = locate_pointers(path, ["/data/0/results/7/amount", "/data/0/<withheld>/x"])
    assert found["/data/0/results/7/amount"] == Position(5, 18)  # the results array
    assert found["/data/0/<withheld>/x"] == Position(4, 5)


def test_unreadable_and_empty_files_give_no_position(tmp_path: Path) -> None:
    assert locate_pointers(tmp_path / "missing.json", ["/a"]) == {}
    assert locate_pointers(_write(tmp_path, ""), ["/a"]) == {}
    assert locate_pointers(_write(tmp_path, "{}"), ["not a pointer"]) == {}


def test_strings_holding_punctuation_do_not_confuse_the_scan(tmp_path: Path) -> None:
    text = '{"a": "x,]}{[:\\"", "b": [{"c": "}"}, {"c": 5}]}'
    found = locate_pointers(_write(tmp_path, text), ["/b/1/c"])
    assert found["/b/1/c"] == Position(1, text.index("5") + 1)


def test_text_findings_keep_their_line(tmp_path: Path) -> None:
    finding = Finding("", "notes.txt", "pii_leak", "line 3", "", "breaking", "", "", "")
    assert locate_findings([finding]) == {finding: Position(3, 1)}


@settings(max_examples=150, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
        max_leaves=20,
    ),
    st.sampled_from([None, 1, 2]),
)
def test_every_value_is_found_where_json_dumps_put_it(document: object, indent: int | None) -> None:
    """Property: for every pointer of a document serialised any way, the position names a
    character that starts that very value."""
    text = json.dumps(document, indent=indent, ensure_ascii=False)
    pointers = dict(_pointers(document, ""))
    with tempfile.TemporaryDirectory() as tmp:
        found = locate_pointers(_write(Path(tmp), text), pointers)
    lines = text.split("\n")
    for pointer, value in pointers.items():
        position = found[pointer]
        rest = (
            lines[position.line - 1][position.column - 1 :]
            + "\n"
            + "\n".join(lines[position.line :])
        )
        decoded, _ = json.JSONDecoder().raw_decode(rest)
        assert decoded == value, pointer


def _pointers(value: object, pointer: str) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = [(pointer, value)]
    if isinstance(value, dict):
        for key, child in value.items():
            token = key.replace("~", "~0").replace("/", "~1")
            out += _pointers(child, f"{pointer}/{token}")
    elif isinstance(value, list):
        for index, child in enumerate(value):
            out += _pointers(child, f"{pointer}/{index}")
    return out


def test_github_annotations_point_at_a_line(tmp_path: Path) -> None:
    body: dict[str, object] = {"object": "page", "data": [], "has_more": False, "next_page": None}
    body["data"] = [
        {
            "object": "bucket",
            "start_time": 1,
            "end_time": 2,
            "results": [{"object": "organization.costs.result", "amount": {"value": "x"}}],
        }
    ]
    path = tmp_path / "costs.json"
    path.write_text(json.dumps(body, indent=2))
    result = run_cli("check", "--surface", "openai_org_costs", str(path), "--format", "github")
    assert result.code == 1
    annotations = [line for line in result.stdout.splitlines() if line.startswith("::error")]
    assert annotations
    value_line = next(a for a in annotations if "amount.value" in a)
    expected_line = json.dumps(body, indent=2).split("\n").index('            "value": "x"') + 1
    assert f",line={expected_line},col=22," in value_line
