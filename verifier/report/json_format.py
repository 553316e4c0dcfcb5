"""`--format json`: the public report document (see README, "JSON report")."""

from __future__ import annotations

import orjson

from verifier.findings import Report


def render(report: Report) -> str:
    return orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2).decode() + "\n"
