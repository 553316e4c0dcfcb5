"""Build captures/documented/*.json from the documented sample payloads.

The bodies come from shared seeds (codex-analytics-sample-response.json) transcribed
into tests/data/documented/*.json; this script wraps each in the capture envelope and
anonymises it like any capture, so the committed files hold no email address.

The key is the fixed, PUBLIC "documented sample" key (`verifier.keys.DOCUMENTED_SAMPLE_KEY_TEXT`):
the samples are illustrative data and a public key keeps the files reproducible. Never use
that key for live data. The files pass the same leak gate as every capture.
Run: python scripts/build_documented_captures.py
"""

from __future__ import annotations

from pathlib import Path

import orjson

from verifier.anonymise import anonymise_capture
from verifier.keys import documented_sample_key
from verifier.leakscan import leak_guard
from verifier.store import Capture, Page, RequestInfo, save_capture
from verifier.surfaces import SURFACES

ROOT = Path(__file__).resolve().parent.parent
BODIES = ROOT / "tests" / "data" / "documented"
OUT = ROOT / "captures" / "documented"
CAPTURED_AT = "2026-05-02T00:00:00Z"


def build() -> list[Path]:
    key = documented_sample_key()
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
            # The documented samples have no time windows to record: they stay version 1
            # files (coverage inferred from their buckets), byte for byte as locked.
            format_version=1,
        )
        target = OUT / f"{surface.name}.json"
        anonymised = anonymise_capture(capture, key)
        written.append(save_capture(anonymised, target, guard=leak_guard(where=str(target))))
    return written


if __name__ == "__main__":
    for path in build():
        print(path.relative_to(ROOT))
