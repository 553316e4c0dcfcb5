"""The captures `scripts/bench_merge.py` generates are ones `verify merge` takes whole:
their cursors chain as the vendors' do, so the gate passes them against locks taken
from them, and with `--exact` every cost amount's text (17 decimals, some as JSON
strings) reaches the table exactly. (Small sizes; the bench's timings are not tested.)"""

from __future__ import annotations

import csv
import importlib.util
import re
import sys
from decimal import Decimal, localcontext
from pathlib import Path
from types import ModuleType

import pytest

from tests.cli_helpers import run_cli
from tests.conftest import ROOT


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_merge", ROOT / "scripts/bench_merge.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_merge", module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("exact", [False, True], ids=["doubles", "exact"])
def test_generated_captures_pass_the_gate_and_merge_whole(tmp_path: Path, exact: bool) -> None:
    bench = _bench()
    paths = bench.generate(3_000, 300, tmp_path / "data", exact=exact, strings=4)
    locks = tmp_path / "locks"
    files = [str(path) for path in paths.values()]
    accepted = run_cli("lock", *files, "--accept", "--reviewer", "bench", "--locks-dir", str(locks))
    assert accepted.code == 0, accepted.stderr
    gate = run_cli("gate", *files, "--locks-dir", str(locks))
    assert gate.code == 0, gate.stdout + gate.stderr
    assert "pagination_changed" not in gate.stdout
    out = tmp_path / "spend.csv"
    merged = run_cli("merge", *files, "--locks-dir", str(locks), "--out", str(out))
    assert merged.code == 0, merged.stderr
    costs = paths["openai_org_costs"].read_text()
    amounts = re.findall(r'"value": "?([0-9.eE+-]+)"?', costs)
    assert len(amounts) == 3_000
    if exact:
        assert all(len(a.split(".")[1]) == bench.EXACT_DECIMALS for a in amounts)
        assert costs.count('"value": "') == 750  # one in four a JSON string
    with out.open(newline="") as handle, localcontext(prec=200):
        table = sum(Decimal(r["api_cost_usd"]) for r in csv.DictReader(handle) if r["api_cost_usd"])
        # Every amount is billed to someone (a person or `unattributed`) exactly once.
        assert table == sum(Decimal(a) for a in amounts)
