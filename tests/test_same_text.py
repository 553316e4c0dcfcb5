"""`verifier.exactjson.same_text` (is a row slice's text what orjson writes for the rows
it decoded?) answers the same with the shortcut for a capture file's layout
(`_same_layout`, orjson's own indentation) as by comparing without whitespace: True for
every indented slice orjson wrote, at any depth, and False where a number's text is not
its double's shortest form, whatever the layout."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from verifier.exactjson import same_text

_WHITESPACE = b" \t\r\n"
_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=st.sampled_from(["a", " ", "\n", "\t", "é", '"', "\\", "}", "\u2028"])),
)
_VALUE = st.recursive(
    _SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from("abc "), inner, max_size=3)
    ),
    max_leaves=8,
)
_ITEMS = st.lists(
    st.dictionaries(st.sampled_from(["x", "y", " z"]), _VALUE, max_size=4), max_size=4
)


def by_stripping(text: str, items: list[Any]) -> bool:
    """The comparison without the shortcut."""
    written = orjson.dumps(items)[1:-1]
    return text.encode().translate(None, _WHITESPACE) == written.translate(None, _WHITESPACE)


def indented(items: list[Any], depth: int) -> str:
    """The items as a capture file holds them `depth` levels deep (what the streamed
    reader hands over: the first item's `{` to the last one's `}`)."""
    written = orjson.dumps(items, option=orjson.OPT_INDENT_2)[4:-2]
    return written.replace(b"\n", b"\n" + b"  " * depth).decode()


@settings(max_examples=300, deadline=None)
@given(_ITEMS, st.integers(0, 6))
def test_an_indented_slice_orjson_wrote_is_the_same_text(items: list[Any], depth: int) -> None:
    text = indented(items, depth)
    assert same_text(text, items) is True
    assert by_stripping(text, items)
    compact = orjson.dumps(items)[1:-1].decode()
    assert same_text(compact, items) is True


@settings(max_examples=300, deadline=None)
@given(_ITEMS.filter(bool), st.integers(0, 6), st.sampled_from(["0", "00", "e0", "E+00"]))
def test_a_number_written_otherwise_is_not_the_same_text(
    items: list[Any], depth: int, extra: str
) -> None:
    """A float's text with more digits, or another spelling, is seen in either layout."""
    items = [{**items[0], "n": 0.5}, *items[1:]]
    for text in (indented(items, depth), orjson.dumps(items)[1:-1].decode()):
        changed = text.replace('"n": 0.5', f'"n": 0.5{extra}').replace('"n":0.5', f'"n":0.5{extra}')
        assert changed != text
        assert same_text(changed, items) is False
        assert by_stripping(changed, items) is False


@settings(max_examples=300, deadline=None)
@given(_ITEMS, st.integers(0, 6), st.integers(0, 40), st.sampled_from([" ", "\n", "  \n ", ""]))
def test_the_shortcut_never_answers_otherwise(
    items: list[Any], depth: int, where: int, space: str
) -> None:
    """Whitespace moved about (outside strings or in): the answer is the comparison's."""
    text = indented(items, depth)
    at = min(where, len(text))
    changed = text[:at] + space + text[at:]
    assert same_text(changed, items) == by_stripping(changed, items)
