"""Renderers: one module per output format, each a pure `render(report) -> str`."""

from __future__ import annotations

from collections.abc import Callable

from verifier.errors import UsageError
from verifier.findings import Report
from verifier.report import github, json_format, junit, markdown, sarif, text

Renderer = Callable[[Report], str]

RENDERERS: dict[str, Renderer] = {
    "text": text.render,
    "json": json_format.render,
    "markdown": markdown.render,
    "junit": junit.render,
    "github": github.render,
    "sarif": sarif.render,
}


def render(report: Report, fmt: str) -> str:
    try:
        renderer = RENDERERS[fmt]
    except KeyError:
        raise UsageError(f"unknown format {fmt!r}; known: {', '.join(RENDERERS)}") from None
    return renderer(report)
