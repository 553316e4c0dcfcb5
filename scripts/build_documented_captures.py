"""Build captures/documented/*.json from the documented sample payloads.

The bodies come from shared seeds (codex-analytics-sample-response.json) transcribed
into tests/data/documented/*.json; this script wraps each in the capture envelope.
Run: python scripts/build_documented_captures.py
"""

from __future__ import annotations

from pathlib import Path

import orjson

from verifier.store import Capture, Page, RequestInfo, save_capture
from verifier.surfaces import SURFACES

ROOT = Path(__file__).resolve().parent.parent
BODIES = ROOT / "tests" / "data" / "documented"
OUT = ROOT / "captures" / "documented"
CAPTURED_AT = "2026-05-02T00:00:00Z"


def build() -> list[Path]:
    written = []
    for surface in SURFACES.values():
        body = orjson.loads((BODIES / f"{surface.name}.json").read_bytes())
        query = dict(surface.query)
        capture = Capture(
            surface=surface.name,
            request=RequestInfo("GET", surface.url_template, query),
            pages=(Page(status=200, url=surface.url_template, headers={}, body=body),),
            captured_at=CAPTURED_AT,
            key_fingerprint=None,
            source="documented",
        )
        written.append(save_capture(capture, OUT / f"{surface.name}.json"))
    return written


if __name__ == "__main__":
    for path in build():
        print(path.relative_to(ROOT))
