"""The leak gate's quick test (`Detector.no_trigger_in`) answers exactly as the trigger
regex does: it may only skip the regex where the regex would find nothing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import CANARY_CODEX_KEY, CANARY_OPENAI_KEY, CANARY_WORKSPACE_ID
from verifier.detect import _quickly_clean, detector

LITERALS = (CANARY_OPENAI_KEY, CANARY_CODEX_KEY, CANARY_WORKSPACE_ID)
PSEUDONYM = b'"u-0123456789abcdef01234567@anon.invalid"'
OLD_PSEUDONYM = b'"u-0123456789abcdef@anon.invalid"'

# Pieces that build pages: pseudonyms whole and cut, what glues a name to them, every
# trigger's characters in both cases, the canaries' pieces, and ordinary JSON.
FRAGMENTS = [
    PSEUDONYM,
    OLD_PSEUDONYM,
    PSEUDONYM[1:],
    PSEUDONYM[:-1],
    PSEUDONYM.upper(),
    b"jane.",
    b"u-",
    b"U-",
    b"0123456789abcdef",
    b"@",
    b"%40",
    b"%25",
    b"&#64;",
    b"&COMMAT;",
    b"[at]",
    b"(AT)",
    b"\\u0040",
    b"anon.invalid",
    b"ANON.INVALID",
    b"sk-",
    b"SK-",
    b"eyJ",
    b"BEARER ",
    b"example.com",
    "é".encode(),
    CANARY_OPENAI_KEY.encode()[-8:],
    CANARY_OPENAI_KEY.encode()[3:11].upper(),
    CANARY_WORKSPACE_ID.encode()[-8:],
    b'{"data":[{"credits":"1.50","user_id":',
    b'"},',
    b"]}",
    b" ",
    b'"',
]


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=12))
def test_quick_test_never_skips_a_trigger(parts: list[bytes]) -> None:
    data = b"".join(parts)
    found_by = detector(LITERALS)
    if _quickly_clean(data, found_by.anchor_bytes):
        assert found_by.trigger_bytes.search(data) is None
    assert found_by.no_trigger_in(data) == (found_by.trigger_bytes.search(data) is None)


def test_an_anonymised_page_is_answered_without_the_regex() -> None:
    page = b'{"data":[{"email":' + PSEUDONYM + b',"other":' + OLD_PSEUDONYM + b',"n":1}]}'
    assert _quickly_clean(page, detector(LITERALS).anchor_bytes)


def test_a_name_glued_to_a_pseudonym_goes_to_the_regex() -> None:
    forged = b'{"email":"jane.u-0123456789abcdef01234567@anon.invalid"}'
    found_by = detector(LITERALS)
    assert not _quickly_clean(forged, found_by.anchor_bytes)
    assert not found_by.no_trigger_in(forged)


def test_a_canary_piece_goes_to_the_regex() -> None:
    page = b'{"note":"' + CANARY_OPENAI_KEY.encode()[-8:].lower() + b'"}'
    found_by = detector(LITERALS)
    assert not _quickly_clean(page, found_by.anchor_bytes)
    assert not found_by.no_trigger_in(page)
