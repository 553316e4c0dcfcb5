"""`verify report`: one self-contained HTML page (inline CSS and SVG, no script, and a
Content-Security-Policy that forbids every fetch) with the gate verdict and findings
grouped as in the text report, coverage per surface and day, daily spend charts (credits
and dollars per day, stacked by surface, each bar's top people in its tooltip), the Codex
native dollars on their own (never stacked onto the others), the top people, the
`--by model|client` breakdown of Codex credits when asked for, and the join coverage.
Every value comes from anonymised captures and is escaped; money is printed from its
Decimal, the chart only scales bars with it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from html import escape
from itertools import groupby

from verifier import __version__
from verifier.findings import Finding, sort_findings
from verifier.merge.breakdown import DIFFERENCE, LABEL_COLUMNS
from verifier.merge.core import Share
from verifier.spend import COVERAGE_BASIS, FULL, DaySpend, SpendView

NATIVE = "codex_native_cost_usd"
_COLOURS = {
    NATIVE: "#a16207",
    "chatgpt_enterprise_usage": "#7c3aed",
    "openai_org_costs": "#0f766e",
    "openai_org_usage_completions": "#2563eb",
    "openai_org_users": "#64748b",
}
_SEVERITY_CLASS = {"breaking": "sev-breaking", "warning": "sev-warning", "info": "sev-info"}
_TOP_PEOPLE = 10

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;
max-width:1100px;padding:0 1rem;color:#0f172a;background:#fff}
h1{font-size:1.5rem;margin:0 0 .25rem}h2{font-size:1.15rem;margin:2rem 0 .5rem;
border-bottom:1px solid #e2e8f0;padding-bottom:.25rem}h3{font-size:1rem;margin:1rem 0 .25rem}
.muted{color:#64748b}.verdict{display:inline-block;padding:.2rem .6rem;border-radius:.3rem;
font-weight:700;color:#fff}.pass{background:#15803d}.fail{background:#b91c1c}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #e2e8f0;
padding:.2rem .5rem;text-align:left;vertical-align:top}th{background:#f8fafc}
td.num{text-align:right;font-variant-numeric:tabular-nums}code{font-size:.9em}
.sev-breaking{color:#b91c1c;font-weight:700}.sev-warning{color:#b45309;font-weight:700}
.sev-info{color:#0369a1}.legend span{display:inline-block;margin-right:1rem}
.swatch{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;
vertical-align:middle}svg text{font:11px system-ui,sans-serif;fill:#334155}
.missing{color:#94a3b8;font-style:italic}
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def render(view: SpendView) -> str:
    gate = view.gate
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>verify report: {_e(gate.verdict.upper())}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>AI spend: contract gate and daily spend</h1>",
        f'<p class="muted">verify {_e(__version__)} over {len(gate.sources)} capture file(s). '
        "Every identifier is a pseudonym from the anonymised captures.</p>",
    ]
    parts += _gate_section(view)
    parts += _coverage_section(view)
    parts += _spend_section(view)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# ---- gate -------------------------------------------------------------------------------


def _gate_section(view: SpendView) -> list[str]:
    gate = view.gate
    data = gate.to_json()
    summary = data["summary"]
    css = "pass" if gate.verdict == "pass" else "fail"
    out = [
        '<section id="gate"><h2>Gate</h2>',
        f'<p><span class="verdict {css}">{_e(gate.verdict.upper())}</span> '
        f"{summary['breaking']} breaking, {summary['warning']} warning, "
        f"{summary['info']} info</p>",
    ]
    for label, key in (("No lock yet", "unlocked"), ("Not checked (no capture)", "uncaptured")):
        names = data.get(key) or []
        if names:
            shown = ", ".join(f"<code>{_e(n)}</code>" for n in names)
            out.append(f"<p><b>{label}:</b> {shown}</p>")
    ordered = sort_findings(gate.findings)
    for surface, by_surface in groupby(ordered, key=lambda f: f.surface):
        out.append(f"<h3>{_e(surface or '(files of no known surface)')}</h3>")
        for source, by_source in groupby(by_surface, key=lambda f: f.source):
            out.append(f"<p><code>{_e(source)}</code></p>")
            out.append(_findings_table(by_source))
    clean = sorted(set(gate.sources) - {f.source for f in gate.findings})
    if clean:
        out.append("<p>ok: " + ", ".join(f"<code>{_e(s)}</code>" for s in clean) + "</p>")
    out.append("</section>")
    return out


def _findings_table(findings: Iterable[Finding]) -> str:
    rows = [
        "<table><tr><th>severity</th><th>kind</th><th>path</th><th>expected</th>"
        "<th>observed</th><th>first pointer</th><th>read by merge</th></tr>"
    ]
    for f in findings:
        count = f" (x{f.occurrences})" if f.occurrences > 1 else ""
        rows.append(
            f'<tr><td class="{_SEVERITY_CLASS[f.severity]}">{_e(f.severity.upper())}</td>'
            f"<td>{_e(f.kind)}</td><td><code>{_e(f.path or '(document)')}</code>{count}</td>"
            f"<td>{_e(f.expected)}</td><td>{_e(f.observed)}</td>"
            f"<td><code>{_e(f.pointer or '/')}</code></td>"
            f"<td>{'yes' if f.consumed_by_merge else 'no'}</td></tr>"
        )
    rows.append("</table>")
    return "".join(rows)


# ---- coverage ---------------------------------------------------------------------------


def _coverage_section(view: SpendView) -> list[str]:
    out = [
        '<section id="coverage"><h2>Coverage per surface and day</h2>',
        f'<p class="muted">Coverage is {_e(COVERAGE_BASIS)}.</p>',
    ]
    if view.merged is None:
        out.append('<p class="missing">Not read: the gate failed (see above).</p></section>')
        return out
    if not view.dates:
        out.append('<p class="missing">No dated buckets in these captures.</p></section>')
        return out
    cell, label_w = 8, 230
    width = label_w + cell * len(view.dates) + 10
    height = 22 * len(view.coverage) + 24
    svg = [
        f'<svg id="coverage-grid" role="img" aria-label="coverage per surface and day" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
    ]
    for row, surface in enumerate(view.coverage):
        y = 22 * row + 4
        svg.append(f'<text x="0" y="{y + 11}">{_e(surface.surface)}</text>')
        if not surface.days:
            svg.append(f'<text x="{label_w}" y="{y + 11}">{_e(surface.note)}</text>')
            continue
        for column, day in enumerate(view.dates):
            state = surface.days.get(day)
            colour = {FULL: "#16a34a", None: "#e2e8f0"}.get(state, "#facc15")
            what = state or "not covered"
            svg.append(
                f'<rect x="{label_w + column * cell}" y="{y}" width="{cell - 1}" height="14" '
                f'fill="{colour}"><title>{_e(surface.surface)} {day}: {_e(what)}</title></rect>'
            )
    y = 22 * len(view.coverage) + 16
    svg.append(f'<text x="{label_w}" y="{y}">{_e(view.dates[0])}</text>')
    svg.append(f'<text x="{width - 10}" y="{y}" text-anchor="end">{_e(view.dates[-1])}</text>')
    svg.append("</svg>")
    out.append("".join(svg))
    out.append(
        '<p class="legend"><span><i class="swatch" style="background:#16a34a"></i>whole day'
        '</span><span><i class="swatch" style="background:#facc15"></i>partial day</span>'
        '<span><i class="swatch" style="background:#e2e8f0"></i>not covered</span></p>'
    )
    if view.gaps:
        out.append('<h3>Gaps inside the range</h3><ul id="gaps">')
        out.extend(
            f"<li><code>{_e(gap.surface)}</code> {_e(gap.label)} ({gap.days} day(s)): "
            f"{_e('; '.join(gap.reasons))}</li>"
            for gap in view.gaps
        )
        out.append("</ul>")
    out.append("</section>")
    return out


# ---- spend ------------------------------------------------------------------------------


def _spend_section(view: SpendView) -> list[str]:
    out = ['<section id="spend"><h2>Daily spend</h2>']
    if view.merged is None:
        out.append(
            '<p class="missing">No spend shown: the gate failed, so the merge refuses these '
            "captures (its numbers could be wrong). Fix or review the drift above, then "
            "<code>verify lock --accept --reviewer NAME</code>.</p></section>"
        )
        return out
    if view.merged.provisional:
        out.append("<p><b>PROVISIONAL:</b> unlocked surfaces were allowed.</p>")
    out.append("<h3>Credits per day (ChatGPT Codex)</h3>")
    out.append(
        _bar_chart(
            "credits-chart",
            view.days,
            ("chatgpt_enterprise_usage",),
            lambda day, _surface: day.credits,
            "credits",
        )
    )
    out.append("<h3>Dollars per day, stacked by surface</h3>")
    out.append(
        _bar_chart(
            "dollars-chart",
            view.days,
            view.dollar_surfaces,
            lambda day, surface: day.dollars.get(surface),
            "USD",
        )
    )
    if view.merged.credit_usd_rate is None:
        out.append(
            '<p class="muted">Codex credits are not in dollars: give <code>--credit-usd-rate'
            "</code> to stack them here.</p>"
        )
    out += _native_section(view)
    out += _day_table(view)
    out += _people_section(view)
    out += _breakdown_section(view)
    out += _join_section(view)
    out.append("</section>")
    return out


def _bar_chart(
    chart_id: str,
    days: Sequence[DaySpend],
    surfaces: Sequence[str],
    value: Callable[[DaySpend, str], Decimal | None],
    unit: str,
    absent: str = "not covered",
) -> str:
    width, height, left, bottom, top = 1000, 240, 70, 24, 10
    plot_w, plot_h = width - left - 10, height - bottom - top
    totals = [sum((value(d, s) or Decimal(0)) for s in surfaces) for d in days]
    peak = max(totals, default=Decimal(0))
    scale = float(peak) if peak > 0 else 1.0
    bar_w = plot_w / max(len(days), 1)
    svg = [
        f'<svg id="{chart_id}" class="chart" role="img" aria-label="{_e(unit)} per day" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" '
        'stroke="#94a3b8"/>',
        f'<text x="{left - 6}" y="{top + 8}" text-anchor="end">{_e(peak)}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end">0 {_e(unit)}</text>',
    ]
    for index, day in enumerate(days):
        x = left + index * bar_w
        values = [(s, value(day, s)) for s in surfaces]
        if all(v is None for _s, v in values):
            svg.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h - 3}" text-anchor="middle" '
                f'fill="#94a3b8"><title>{day.date}: {_e(absent)}</title>&#183;</text>'
            )
            continue
        y = float(top + plot_h)
        for surface, amount in values:
            if not amount:
                continue
            h = float(amount) / scale * plot_h
            y -= h
            tip = f"{day.date} {surface}: {amount} {unit}" + _tip_people(day)
            svg.append(
                f'<rect class="bar" x="{x + 0.5:.1f}" y="{y:.1f}" '
                f'width="{max(bar_w - 1, 0.5):.1f}" height="{h:.1f}" '
                f'fill="{_COLOURS.get(surface, "#475569")}"><title>{_e(tip)}</title></rect>'
            )
    if days:
        svg.append(f'<text x="{left}" y="{height - 6}">{_e(days[0].date)}</text>')
        svg.append(
            f'<text x="{width - 10}" y="{height - 6}" text-anchor="end">{_e(days[-1].date)}</text>'
        )
    svg.append("</svg>")
    legend = "".join(
        f'<span><i class="swatch" style="background:{_COLOURS.get(s, "#475569")}"></i>'
        f"{_e(s)}</span>"
        for s in surfaces
    )
    return "".join(svg) + f'<p class="legend">{legend}</p>'


def _tip_people(day: DaySpend) -> str:
    if not day.top:
        return ""
    return "; top: " + ", ".join(f"{person} {amount}" for person, amount in day.top)


def _money(value: Decimal | None) -> str:
    return '<span class="missing">missing</span>' if value is None else _e(value)


def _native_section(view: SpendView) -> list[str]:
    """Codex native dollars per day, a chart of their own: the vendor bills them apart
    from credits, and the merge never adds them to credits or API dollars."""
    out = [
        "<h3>Codex native dollars per day (<code>codex_native_cost_usd</code>)</h3>",
        '<p class="muted">The vendor\'s <code>totals.cost_usd</code>: Codex usage billed in '
        "dollars, separate from credits. Not included in the charts above, in the credits' "
        "dollar value or in the API dollars; a day is missing where the Codex capture does not "
        "cover it or a row behind it lacks the figure (never shown as 0).</p>",
    ]
    if all(day.native is None for day in view.days):
        out.append(
            '<p class="missing" id="native-missing">missing: no day has a known Codex native '
            "dollar figure (the Codex captures do not carry <code>totals.cost_usd</code> on "
            "every row, or cover no day).</p>"
        )
        return out
    out.append(
        _bar_chart("native-chart", view.days, (NATIVE,), lambda d, _s: d.native, "USD", "missing")
    )
    return out


def _day_table(view: SpendView) -> list[str]:
    head = "".join(f"<th>{_e(s)} USD</th>" for s in view.dollar_surfaces)
    rows = [
        "<details><summary>Spend per day (table)</summary>",
        f'<table id="days"><tr><th>date</th><th>credits</th>{head}<th>top people</th>'
        f"<th>{NATIVE}</th></tr>",
    ]
    for day in view.days:
        cells = "".join(
            f'<td class="num">{_money(day.dollars.get(s))}</td>' for s in view.dollar_surfaces
        )
        people = ", ".join(f"{_e(p)} ({_e(a)})" for p, a in day.top)
        rows.append(
            f'<tr><td>{day.date}</td><td class="num">{_money(day.credits)}</td>{cells}'
            f'<td>{people}</td><td class="num">{_money(day.native)}</td></tr>'
        )
    rows.append("</table></details>")
    return rows


def _people_section(view: SpendView) -> list[str]:
    out = [
        "<h3>Top people</h3>",
        '<table id="top-people"><tr><th>#</th><th>person (pseudonym)</th><th>credits</th>'
        f"<th>dollars</th><th>{NATIVE}</th></tr>",
    ]
    for rank, person in enumerate(view.people[:_TOP_PEOPLE], start=1):
        out.append(
            f"<tr><td>{rank}</td><td><code>{_e(person.person)}</code></td>"
            f'<td class="num">{_e(person.credits)}</td>'
            f'<td class="num">{_money(person.dollars)}</td>'
            f'<td class="num">{_money(person.native)}</td></tr>'
        )
    out.append("</table>")
    if len(view.people) > _TOP_PEOPLE:
        out.append(f'<p class="muted">and {len(view.people) - _TOP_PEOPLE} more.</p>')
    return out


def _breakdown_section(view: SpendView) -> list[str]:
    """`--by model|client`: Codex credits per model (client) over the range, as `verify
    merge --by` reads them; the rows add up to the credits of the chart above."""
    if view.breakdown is None:
        return []
    labels = LABEL_COLUMNS[view.breakdown]
    head = "".join(f"<th>{_e(label)}</th>" for label in labels)
    out = [
        f"<h3>Codex credits by {_e(view.breakdown)}</h3>",
        f'<p class="muted">From the vendor\'s <code>{_e(view.breakdown)}s[]</code>, summed over '
        f"the range; a <code>{_e(DIFFERENCE)}</code> row holds what the parts do not explain, "
        "so the rows add up to the Codex credits. Credits only: the vendor gives no tokens or "
        "dollars per part.</p>",
        f'<table id="breakdown"><tr>{head}<th>credits</th><th>person-days</th><th>basis</th></tr>',
    ]
    for part in view.parts:
        cells = "".join(
            f"<td>{_e(value)}</td>" if value is not None else "<td></td>" for value in part.labels
        )
        out.append(
            f'<tr>{cells}<td class="num">{_money(part.credits)}</td>'
            f'<td class="num">{part.person_days}</td><td>{_e(part.basis)}</td></tr>'
        )
    out.append("</table>")
    if not view.parts:
        out.append('<p class="missing">No Codex rows in these captures.</p>')
    return out


def _join_section(view: SpendView) -> list[str]:
    assert view.merged is not None
    coverage = view.merged.coverage

    def share(label: str, part: Share) -> str:
        ratio = part.ratio
        if ratio is None:
            return f"<tr><td>{label}</td><td>n/a (none)</td></tr>"
        shown = f"{ratio * 100:.2f}% ({part.joined} of {part.total})"
        return f"<tr><td>{label}</td><td>{_e(shown)}</td></tr>"

    return [
        '<h3>Join coverage</h3><table id="join">',
        share("credits attributed to people known on both surfaces", coverage.credits),
        share("dollars attributed to people known on both surfaces", coverage.dollars),
        f"<tr><td>people known on both surfaces</td><td>{coverage.people_joined} of "
        f"{coverage.people}</td></tr></table>",
    ]
