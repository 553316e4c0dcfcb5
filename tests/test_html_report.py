"""`verify report`: one self-contained HTML page over anonymised sandbox captures, rendered
in headless Chromium (skipped, with the reason, where Debian's `chromium` is absent)."""

from __future__ import annotations

import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.conftest import CANARIES, DOCUMENTED_BODIES, ROOT, assert_no_canary
from tests.drift_support import write_capture
from tests.merge_builders import bucket, cost_result, openai_body, users_body
from tests.test_vendor_extras import DAY, DAY1, codex_row
from verifier.leakscan import scan_bytes
from verifier.merge import merge_paths

ANON_KEY = "report-tests-anonymisation-key-0123456789"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A month of sandbox captures of all four surfaces, plus an empty locks dir."""
    out = tmp_path_factory.mktemp("captures")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VERIFY_ANON_KEY", ANON_KEY)
        result = run_cli(
            "capture", "--sandbox", "--start", "2026-05-01", "--end", "2026-05-20",
            "--out", str(out / "2026-05"),
        )  # fmt: skip
    assert result.code == 0, result.stderr
    (out / "locks").mkdir()
    return out


def _report(captures: Path, out: Path, *extra: str) -> str:
    result = run_cli(
        "report", str(captures / "2026-05"), "--out", str(out),
        "--locks-dir", str(captures / "locks"), "--allow-unlocked", *extra,
    )  # fmt: skip
    assert result.code == 0, result.stdout + result.stderr
    assert f"wrote {out}" in result.stdout
    return out.read_text(encoding="utf-8")


def _cells(page: str, table_id: str) -> list[list[str]]:
    table = page.split(f'<table id="{table_id}">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", table)[1:]
    return [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in rows]


def test_page_is_self_contained_with_charts_and_pseudonyms_only(
    captures: Path, tmp_path: Path, canary_env: dict[str, str]
) -> None:
    page = _report(captures, tmp_path / "report.html", "--credit-usd-rate", "0.04")
    for fetch in ("http://", "https://", "<script", "<link", "src=", "url(", "@import"):
        assert fetch not in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    for chart in ("credits-chart", "dollars-chart", "coverage-grid"):
        assert f'id="{chart}"' in page
    dollars = page.split('id="dollars-chart"', 1)[1].split("</svg>", 1)[0]
    assert 'fill="#0f766e"' in dollars and 'fill="#7c3aed"' in dollars  # stacked surfaces
    assert "; top: " in dollars  # each bar names its top people
    assert _cells(page, "top-people")
    assert "people known on both surfaces" in page
    # only anonymised identities, no secret, nothing the leak scanner objects to
    assert all(e.endswith("@anon.invalid") for e in EMAIL.findall(page))
    assert scan_bytes(page.encode(), source="report.html", surface="", literals=CANARIES) == []
    assert_no_canary(page)


def test_daily_dollars_are_the_merge_totals_exactly(captures: Path, tmp_path: Path) -> None:
    page = _report(captures, tmp_path / "report.html")
    rows = _cells(page, "days")
    assert [r[0] for r in rows] == [f"2026-05-{d:02d}" for d in range(1, 21)]
    shown = sum(Decimal(r[2]) for r in rows)
    merged = merge_paths([captures / "2026-05"])
    expected = sum(r.api_cost_usd for r in merged.rows if r.api_cost_usd is not None)
    assert shown == expected and shown > 0
    credits = sum(r.codex_credits for r in merged.rows if r.codex_credits is not None)
    assert sum(Decimal(r[1]) for r in rows) == credits


def test_a_day_a_surface_did_not_cover_is_missing_not_zero(tmp_path: Path) -> None:
    out = tmp_path / "caps"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VERIFY_ANON_KEY", ANON_KEY)
        for surface, end in (
            ("openai_org_costs", "2026-05-03"),
            ("openai_org_users", "2026-05-06"),
            ("chatgpt_enterprise_usage", "2026-05-06"),
        ):
            args = ("--surface", surface, "--start", "2026-05-01", "--end", end, "--out", str(out))
            assert run_cli("capture", "--sandbox", *args).code == 0
    (tmp_path / "locks").mkdir()
    result = run_cli(
        "report", str(out), "--out", str(tmp_path / "r.html"),
        "--locks-dir", str(tmp_path / "locks"), "--allow-unlocked",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    page = (tmp_path / "r.html").read_text()
    rows = {r[0]: r for r in _cells(page, "days")}
    assert "missing" in rows["2026-05-05"][2]
    assert Decimal(rows["2026-05-02"][2]) >= 0
    assert "not covered" in page
    assert "openai_org_costs</code> 2026-05-04..2026-05-06 (3 day(s))" in page


def test_failing_gate_writes_the_findings_and_no_spend(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "captures" / "documented", tmp_path / "caps")
    costs = tmp_path / "caps" / "openai_org_costs.json"
    costs.write_text(costs.read_text().replace('"currency": "usd"', '"currency": 7'))
    out = tmp_path / "r.html"
    locks = ROOT / "captures" / "locks"
    result = run_cli("report", str(tmp_path / "caps"), "--out", str(out), "--locks-dir", str(locks))
    assert result.code == 1, result.stderr
    page = out.read_text()
    assert '<span class="verdict fail">FAIL</span>' in page
    assert "<h3>openai_org_costs</h3>" in page and "BREAKING" in page
    assert "amount.currency" in page
    assert 'id="dollars-chart"' not in page and "the gate failed" in page


def test_raw_bodies_are_refused_with_one_line(tmp_path: Path) -> None:
    body = str(DOCUMENTED_BODIES / "openai_org_costs.json")
    result = run_cli(
        "report", body, "--out", str(tmp_path / "r.html"), "--allow-unlocked",
        "--locks-dir", str(tmp_path),
    )  # fmt: skip
    assert result.code == 2
    assert "is not a capture file" in result.stderr and len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "r.html").exists()


# -- Codex native dollars and --by model|client ----------------------------------------------

PERSON_A = "u-65c3fb4ddcf009c8e11f1a8b@anon.invalid"  # pseudonyms, as anonymised captures hold
PERSON_B = "u-0123456789abcdef01234567@anon.invalid"
GPT5 = {"model": "gpt-5-codex", "speed": "standard", "credits": 6}


@pytest.fixture
def extras(tmp_path: Path) -> Path:
    """Two days of Codex rows in the vendor's documented shape: native dollars on all
    of the first day's rows (one has more digits than a double holds), missing on one
    row of the second day; one row lists its models; costs cover the first day only."""
    out = tmp_path / "extras"
    out.mkdir()
    rows = [
        codex_row(
            "w1", 10, email=PERSON_A, cost_usd=Decimal("0.12345678901234567891"), models=[GPT5]
        ),
        codex_row("w2", 5, email=PERSON_B, cost_usd=3),
        codex_row("w1", 7, start=DAY1 + DAY, email=PERSON_A, cost_usd=1.5),
        codex_row("w2", 2, start=DAY1 + DAY, email=PERSON_B),  # not sent: unknown
    ]
    page = {"object": "page", "data": rows, "has_more": False, "next_page": None}
    write_capture(out, "chatgpt_enterprise_usage", [page])
    write_capture(out, "openai_org_costs", [openai_body([bucket([cost_result("u1", "1.5")])])])
    write_capture(out, "openai_org_users", [users_body([("u1", PERSON_A)])])
    (tmp_path / "locks").mkdir()
    return out


def _extras_report(extras: Path, *extra: str) -> str:
    out = extras.parent / "report.html"
    result = run_cli(
        "report", str(extras), "--out", str(out), "--allow-unlocked",
        "--locks-dir", str(extras.parent / "locks"), *extra,
    )  # fmt: skip
    assert result.code == 0, result.stdout + result.stderr
    return out.read_text(encoding="utf-8")


def test_codex_native_dollars_are_shown_apart_exact_and_missing_where_unknown(
    extras: Path,
) -> None:
    page = _extras_report(extras, "--credit-usd-rate", "0.04")
    days = {row[0]: row for row in _cells(page, "days")}
    # date, credits, API dollars, Codex credits in dollars, top people, native dollars
    assert days["2026-05-01"][1:4] == ["15", "1.5", "0.60"]
    assert days["2026-05-01"][5] == "3.12345678901234567891"  # exact, not a double's sum
    assert "missing" in days["2026-05-02"][5]  # one row lacks cost_usd: unknown, not 1.5
    people = {row[1]: row for row in _cells(page, "top-people")}
    assert people[f"<code>{PERSON_A}</code>"][3:] == ["2.18", "1.62345678901234567891"]
    assert "missing" in people[f"<code>{PERSON_B}</code>"][4]
    # Its own chart; never stacked onto the dollars (API + credits x rate).
    native = page.split('id="native-chart"', 1)[1].split("</svg>", 1)[0]
    assert "2026-05-01 codex_native_cost_usd: 3.12345678901234567891 USD" in native
    assert "2026-05-02: missing" in native
    dollars = page.split('id="dollars-chart"', 1)[1].split("</svg>", 1)[0]
    assert "codex_native_cost_usd" not in dollars and "#a16207" not in dollars
    assert 'id="breakdown"' not in page  # --by person (the default): no breakdown
    assert scan_bytes(page.encode(), source="report.html", surface="", literals=CANARIES) == []


def test_captures_without_native_dollars_show_them_missing_never_zero(
    captures: Path, tmp_path: Path
) -> None:
    page = _report(captures, tmp_path / "report.html")
    assert 'id="native-missing"' in page and 'id="native-chart"' not in page
    assert all("missing" in row[-1] for row in _cells(page, "days"))
    assert all("missing" in row[-1] for row in _cells(page, "top-people"))


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        ("model", [["gpt-5-codex", "standard", "6", "1", "vendor"], ["", "", "18", "4"]]),
        ("client", [["", "24", "4"]]),  # no clients[] listed: all credits are the difference
    ],
)
def test_by_model_or_client_breaks_the_credits_down_as_the_merge_does(
    extras: Path, by: str, expected: list[list[str]]
) -> None:
    page = _extras_report(extras, "--by", by)
    parts = _cells(page, "breakdown")
    assert [row[: len(want)] for row, want in zip(parts, expected, strict=True)] == expected
    assert parts[-1][-1] == "difference to totals"
    # The parts add up to the Codex credits of the day table, exactly.
    credits = sum(Decimal(row[1]) for row in _cells(page, "days"))
    assert sum(Decimal(row[-3]) for row in parts) == credits == 24
    assert f"<h3>Codex credits by {by}</h3>" in page


def test_an_unknown_breakdown_is_a_usage_error(extras: Path) -> None:
    out = extras.parent / "report.html"
    result = run_cli("report", str(extras), "--out", str(out), "--by", "project")
    assert result.code == 2
    assert "'project' is not one of" in result.stderr
    assert not out.exists()


# -- headless Chromium ----------------------------------------------------------------------------


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("headless Chromium not installed (Debian: apt-get install chromium)")


def _headless(page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-dev-shm-usage", "--enable-logging=stderr", "--v=0",
            f"--user-data-dir={page.parent / 'chrome-profile'}", *args, page.as_uri(),
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _console_errors(stderr: str) -> list[str]:
    return [
        line
        for line in stderr.splitlines()
        if "CONSOLE" in line or "Uncaught" in line or "Content Security Policy" in line
    ]


def test_console_error_detection_works(tmp_path: Path) -> None:
    """The control for the next test: a page that logs an error is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><script>console.error('planted-error')</script>")
    result = _headless(bad, "--dump-dom")
    assert any("planted-error" in line for line in _console_errors(result.stderr)), result.stderr


def test_report_renders_in_headless_chromium_with_a_chart(captures: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    _report(captures, page, "--credit-usd-rate", "0.04")
    dom = _headless(page, "--dump-dom")
    assert dom.returncode == 0, dom.stderr
    assert _console_errors(dom.stderr) == []
    assert '<svg id="dollars-chart"' in dom.stdout and 'class="bar"' in dom.stdout
    shot = tmp_path / "report.png"
    result = _headless(page, f"--screenshot={shot}", "--window-size=1200,1400")
    assert result.returncode == 0 and shot.stat().st_size > 10_000  # a page was painted
