"""Privacy properties over generated hostile payloads: every reader and the anonymiser,
through the real CLI, never show a planted personal value or secret, never print a
traceback and exit within the contract (0..3). A moderate number of examples runs here;
`scripts/privacy_fuzz.py` runs 10,000+ (and atheris, where it installs)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.privacy_payloads import bodies, captures, problems, run_everything
from verifier.surfaces import SURFACE_NAMES

EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@EXAMPLES
@given(st.sampled_from(SURFACE_NAMES), bodies())
def test_no_planted_value_reaches_any_output_from_a_raw_body(
    surface: str, body: dict[str, Any]
) -> None:
    assert problems(run_everything(body, surface)) == []


@EXAMPLES
@given(captures())
def test_no_planted_value_reaches_any_output_from_a_forged_capture(
    capture: dict[str, Any],
) -> None:
    assert problems(run_everything(capture, capture["surface"])) == []
