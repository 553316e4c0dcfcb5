"""Capture streams to disk: each page is anonymised, leak-gated and spooled as it arrives,
the chains keep only stubs, and the file assembled from the spools is byte for byte the
file a whole-capture write produces."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.test_capture_unit import IDENTITY, access, fetcher, options, page, run
from verifier.capture import ChainResult, Safety, fetch_chain, plan_windows
from verifier.errors import RefusedError
from verifier.exactjson import JsonNumber
from verifier.store import (
    Capture,
    Page,
    PageSpool,
    RequestInfo,
    page_bytes,
    save_new_capture,
    save_new_capture_spooled,
)

PAGES = [
    Page(200, "https://api.test/v1/x", {"content-type": "application/json"}, {"data": [], "a": {}}),
    Page(200, "u", {}, {"data": [{"v": JsonNumber("0.1234567890123456789"), "n": None}]}),
    Page(400, "u", {}, {"error": {"message": "no", "nested": [[], [1, {"é": "✓"}]]}}),
    Page(502, "u", {}, None, "<html>\nBad gateway</html>"),
    Page(200, "u", {}, {"data": [{"money": Decimal("1.50"), "text": 'line\nbreak "q"'}]}),
]


def capture(pages: tuple[Page, ...], **extra: Any) -> Capture:
    return Capture(
        surface="openai_org_costs",
        request=RequestInfo("GET", "https://api.test/v1/organization/costs", {"limit": 7}),
        pages=pages,
        captured_at="2026-05-02T00:00:00Z",
        key_fingerprint="sha256:0123456789abcdef",
        source="test",
        **extra,
    )


@pytest.mark.parametrize(
    "split",
    [[], [0], [5], [2, 3], [0, 5], [1, 1, 3], [0, 0, 5]],
    ids=lambda s: "-".join(map(str, s)) or "no-pages",
)
def test_spooled_pages_make_the_same_bytes_as_a_whole_write(
    tmp_path: Path, split: list[int]
) -> None:
    """`split` cuts PAGES into chains (a chain may have no pages)."""
    chains, start = [], 0
    for size in split:
        chains.append(PAGES[start : start + size])
        start += size
    pages = tuple(p for chain in chains for p in chain)
    findings = ({"kind": "http_status", "pointer": "/pages/2/status"},) if pages else ()
    whole = save_new_capture(capture(pages, findings=findings), tmp_path / "whole", "run")
    spools = []
    for chain in chains:
        spool = PageSpool(tmp_path / "streamed")
        for item in chain:
            spool.append(page_bytes(item))
        spools.append(spool)
    guarded: list[bytes] = []
    streamed = save_new_capture_spooled(
        capture((), findings=findings), spools, tmp_path / "streamed", "run", guard=guarded.append
    )
    for spool in spools:
        spool.discard()
    assert streamed.read_bytes() == whole.read_bytes()
    assert orjson.loads(guarded[0])["pages"] == []  # the envelope was gated, pages spooled
    assert [p.name for p in (tmp_path / "streamed").iterdir()] == [streamed.name]


def test_chains_keep_stubs_and_the_spool_holds_the_pages(tmp_path: Path) -> None:
    bodies = [page([{"n": n, "pad": "x" * 100}], f"c{n + 1}" if n < 4 else None) for n in range(5)]

    def handler(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("page")
        return httpx.Response(200, json=bodies[int(cursor[1:]) if cursor else 0])

    surface_access = access("openai_org_costs")
    windows, _ = plan_windows(surface_access.surface, options())
    spool = PageSpool(tmp_path)
    seen: list[Page] = []

    def keep(raw: Page) -> Page:
        seen.append(raw)
        spool.append(page_bytes(raw))
        return Page(raw.status, raw.url)

    result: ChainResult = fetch_chain(fetcher(handler), surface_access, windows[0], options(), keep)
    assert [p.body for p in result.pages] == [None] * 5  # the chain holds no body
    assert [p.body for p in seen] == bodies
    assert spool.count == 5
    spool.discard()


def test_a_leak_in_a_late_page_writes_nothing_at_all(tmp_path: Path) -> None:
    """The gate sees each page as it is spooled: a leak on page 3 of one surface stops
    the run, and neither that surface nor any other leaves a file or a temp file."""
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/users"):
            return httpx.Response(200, json={"object": "list", "data": [], "has_more": False})
        calls["n"] += 1
        cursor = request.url.params.get("page")
        n = int(cursor) if cursor else 0
        row = {"who": "leak@corp.example" if n == 2 else "ok"}
        return httpx.Response(200, json=page([row], str(n + 1) if n < 4 else None))

    def guard(data: bytes) -> None:
        if b"leak@corp.example" in data:
            raise RefusedError("refusing to write the capture: an email address")

    with pytest.raises(RefusedError):
        run(
            handler,
            tmp_path,
            ["openai_org_users", "openai_org_costs"],
            safety=Safety(anonymise=IDENTITY.anonymise, guard=guard),
        )
    assert list(tmp_path.iterdir()) == []
    assert calls["n"] == 3  # the chain stopped at the page that leaked


def test_a_captured_file_round_trips_its_pages(tmp_path: Path) -> None:
    bodies = [page([{"n": n}], f"{n + 1}" if n < 2 else None) for n in range(3)]

    def handler(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("page")
        return httpx.Response(200, json=bodies[int(cursor) if cursor else 0])

    result = run(handler, tmp_path, ["openai_org_costs"])
    document = orjson.loads(result.paths[0].read_bytes())
    assert [p["body"] for p in document["pages"]] == bodies
    assert [p.name for p in tmp_path.iterdir()] == [result.paths[0].name]
