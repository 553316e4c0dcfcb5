"""A large page of a capture run is anonymised, leak-gated and spooled in row slices
(verifier/page_stream.py), and what reaches the spool is byte for byte what the whole
page gives: over the corpus, hypothesis-made hostile bodies, sandbox pages, exact numbers
and leaks (refused with the whole page's message), and whole captures from the sandbox."""

from __future__ import annotations

import io
import itertools
import json
import re
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings

from verifier import inputs, page_stream
from verifier.capture import (
    Safety,
    capture_from_sandbox,
    default_safety,
    page_from_response,
    page_keeper,
)
from verifier.errors import RefusedError
from verifier.keys import key_from_text
from verifier.page_stream import LargePage, large_page, spool_page
from verifier.sandbox import SCENARIO_NAMES
from verifier.store import Page, PageSpool
from verifier.surfaces import get_surface

from .conftest import CANARIES, assert_no_canary
from .privacy_payloads import bodies
from .test_capture_unit import access
from .test_streamed_captures import corpus_bodies

KEY = key_from_text("page-stream test key, not a secret")
SAFETY = default_safety(KEY, CANARIES)
URL = "https://api.test/v1/organization/costs?page=abc&limit=7"
HEADERS = {"content-type": "application/json", "x-request-id": "req_123", "set-cookie": "s=1"}


@pytest.fixture(autouse=True)
def small_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slices of a few rows, so that every test body is cut into many of them."""
    monkeypatch.setattr(inputs, "_SPLIT_CHARS", 300)


def spooled(folder: Path, surface: str, page: Page) -> bytes | str:
    """What the capture's page keeper puts in a chain's spool (or its refusal)."""
    spool = PageSpool(folder)
    try:
        page_keeper(get_surface(surface), SAFETY, spool)(page)
        out = io.BytesIO()
        spool.copy_to(out)
        return out.getvalue()
    except RefusedError as exc:
        return f"refused: {exc.message}"
    finally:
        spool.discard()


def stream_only(folder: Path, surface: str, page: LargePage) -> bytes | None:
    """The streamed path alone, without the keeper's fallback: None when it refused."""
    spool = PageSpool(folder)
    try:
        assert SAFETY.stream is not None
        with spool.page() as write:
            SAFETY.stream(get_surface(surface), page, write)
        out = io.BytesIO()
        spool.copy_to(out)
        return out.getvalue()
    except RefusedError:
        return None
    finally:
        spool.discard()


def streamed_and_whole(folder: Path, surface: str, text: bytes) -> tuple[bytes | str, bytes | str]:
    large = large_page(200, URL, HEADERS, text, get_surface(surface))
    assert large is not None, "the body streams"
    return spooled(folder, surface, large), spooled(folder, surface, large.whole())


def test_every_corpus_body_spools_the_bytes_of_the_whole_page(tmp_path: Path) -> None:
    streamed = 0
    for name, surface, body in corpus_bodies():
        texts = (orjson.dumps(body), json.dumps(body, indent=2).encode())
        for text, by in itertools.product(texts, (None, get_surface(surface))):
            large = large_page(200, URL, HEADERS, text, by)
            if large is None:  # no `data` array: such a page is always decoded whole
                assert not (isinstance(body, dict) and isinstance(body.get("data"), list)), name
                continue
            whole = spooled(tmp_path, surface, large.whole())
            assert spooled(tmp_path, surface, large) == whole, name
            if isinstance(whole, bytes):  # the stream itself made it, no fallback
                assert stream_only(tmp_path, surface, large) == whole, name
                streamed += 1
    assert streamed >= 40


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies())
def test_hostile_bodies_spool_the_same_bytes_or_the_same_refusal(body: dict[str, Any]) -> None:
    folder = Path(".pytest-page-stream")
    surface = get_surface("openai_org_usage_completions")  # bucket by bucket
    large = large_page(200, URL, HEADERS, orjson.dumps(body), surface)
    if large is None:
        return
    got = spooled(folder, "openai_org_usage_completions", large)
    assert got == spooled(folder, "openai_org_usage_completions", large.whole())
    if isinstance(got, bytes):
        assert stream_only(folder, "openai_org_usage_completions", large) == got
        assert_no_canary(got)


def test_exact_numbers_and_k_anonymous_values_survive_the_slices(tmp_path: Path) -> None:
    """Numbers keep their text (`1.50`, 25 digits, `1E-8`); a date-shaped value at an
    unknown path is kept only when rows of 3 people share it, counted over all slices."""
    rows = [
        {
            "user_id": f"user-{n:04d}abcd",
            "email": f"person{n}@corp.example",
            "amount": {"value": "<short>" if n % 2 else "<long>", "n": 1e-8},
            "seen_on": "2026-05-01" if n < 3 else f"2026-06-{n:02d}",
        }
        for n in range(40)
    ]
    text = (
        b'{"object": "page", "total": 12.50, "data": '
        + json.dumps(rows, indent=1)
        .encode()
        .replace(b"1e-08", b"1E-8")
        .replace(b'"<short>"', b"1.50")
        .replace(b'"<long>"', b"0.1234567890123456789012345")
        + b', "has_more": false, "next_page": null}'
    )
    got, whole = streamed_and_whole(tmp_path, "openai_org_costs", text)
    assert isinstance(got, bytes) and got == whole
    large = large_page(200, URL, HEADERS, text, get_surface("openai_org_costs"))
    assert large is not None and stream_only(tmp_path, "openai_org_costs", large) == got
    assert b'"value": 1.50' in got and b'"value": 0.1234567890123456789012345' in got
    assert b"1E-8" in got and b'"total": 12.50' in got
    assert got.count(b'"2026-05-01"') == 3  # shared by three people: kept
    assert b"@corp.example" not in got


def test_a_refusal_in_a_late_slice_is_the_whole_page_refusal(tmp_path: Path) -> None:
    """The gate refuses a slice: the whole page is gated instead, so the message is the
    one the whole page gets (here it names the page's size), and nothing is spooled."""

    def guard(data: bytes) -> None:
        if b"refuse_me" in data:
            raise RefusedError(f"refusing to write the capture: {len(data)} bytes")

    safety = Safety(
        anonymise=SAFETY.anonymise,
        guard=guard,
        stream=partial(spool_page, key=KEY, secrets=CANARIES, guard=guard),
    )
    rows: list[Any] = [{"line_item": "x", "amount": {"value": n}} for n in range(50)]
    rows[40]["refuse_me"] = 1
    body = {"object": "page", "data": rows, "has_more": False, "next_page": None}
    large = large_page(200, URL, HEADERS, orjson.dumps(body), get_surface("openai_org_costs"))
    assert large is not None
    messages, counts = [], []
    for page in (large, large.whole()):
        spool = PageSpool(tmp_path)
        try:
            with pytest.raises(RefusedError) as refused:
                page_keeper(get_surface("openai_org_costs"), safety, spool)(page)
            messages.append(refused.value.message)
            counts.append(spool.count)
        finally:
            spool.discard()
    assert messages[0] == messages[1]
    assert counts == [0, 0]


@pytest.mark.parametrize(
    "text",
    [
        b'{"data": [{"n": 12345678901234567890123}], "has_more": false}',  # a long integer
        b"\xef\xbb\xbf" + b'{"data": [], "has_more": false}',  # a byte-order mark
        b'[{"data": []}]',  # not an object
        b'{"data": [1, 2], "has_more": false} trailing',
        b'{"object": "page", "has_more": false}',  # no `data` array
    ],
)
def test_a_body_that_does_not_stream_is_decoded_whole(text: bytes) -> None:
    response = httpx.Response(200, content=text, request=httpx.Request("GET", URL))
    page = page_from_response(response, access("openai_org_costs"), 0)
    assert not isinstance(page, LargePage)
    assert page == page_from_response(response, access("openai_org_costs"))


def test_a_large_page_keeps_its_envelope_for_the_cursor() -> None:
    body = {"object": "page", "data": [{"a": 1}] * 3, "has_more": True, "next_page": "c2"}
    response = httpx.Response(200, json=body, request=httpx.Request("GET", URL))
    page = page_from_response(response, access("openai_org_costs"), 0)
    assert isinstance(page, LargePage)
    assert page.body == {**body, "data": []}
    assert page.whole() == page_from_response(response, access("openai_org_costs"))


@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
def test_a_sandbox_capture_streamed_page_by_page_equals_the_whole_one(
    tmp_path: Path, scenario: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same run with every 2xx page streamed and with none: the same files (but for
    the capture time in the envelope and the name)."""
    streamed: list[Page] = []
    original = page_stream.spool_page

    def counted(*args: Any, **kwargs: Any) -> Page:
        streamed.append(original(*args, **kwargs))
        return streamed[-1]

    monkeypatch.setattr(page_stream, "spool_page", counted)  # default_safety imports it
    files = {}
    for label, threshold in (("streamed", 0), ("whole", 10**12)):
        run = capture_from_sandbox(
            tmp_path / label,
            scenario=scenario,
            start=date(2026, 5, 1),
            end=date(2026, 5, 12),
            users=6,
            stream_page_bytes=threshold,
        )
        files[label] = {p.name.split("__")[0]: masked(p) for p in run.paths}
    assert files["streamed"] == files["whole"]
    assert len(files["whole"]) == 4
    assert len(streamed) >= 3  # pages that went through the stream, not a fallback


def masked(path: Path) -> bytes:
    """A capture file without what differs between two runs of one sandbox: the capture
    time, the file's name, the sandbox's port, its request ids (numbered in the order
    the concurrent requests came in) and its cursors (bound to the run's workspace id)."""
    data = path.read_bytes()
    captured_at = orjson.loads(data)["captured_at"].encode()
    data = data.replace(captured_at, b"<captured_at>").replace(str(path).encode(), b"<path>")
    data = re.sub(rb"127\.0\.0\.1:[0-9]+", b"<sandbox>", data)
    data = re.sub(rb"page_[A-Za-z0-9]+", b"<cursor>", data)
    return re.sub(rb'"x-request-id": "[^"]*"', b'"x-request-id": "<id>"', data)
