"""How `scripts/bench_pipeline.py` measures a stage's memory (issue 11): the largest
process from `wait4`, and the peaks of the process tree's summed RSS and summed PSS.
A forked child that shares its parent's pages counts them twice in the RSS sum and
once in the PSS sum. (Memory figures only; the bench's timings are not tested.)"""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path
from types import ModuleType

from tests.conftest import ROOT


def _bench() -> ModuleType:
    path = ROOT / "scripts/bench_pipeline.py"
    spec = importlib.util.spec_from_file_location("bench_pipeline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_pipeline", module)
    spec.loader.exec_module(module)
    return module


# 64 MiB written in the parent, then a forked child that only reads it: shared pages.
SHARING = textwrap.dedent(
    """
    import os, time
    block = bytearray(64 << 20)
    for i in range(0, len(block), 4096):
        block[i] = 1
    child = os.fork()
    if child == 0:
        time.sleep(0.6)
        os._exit(0)
    time.sleep(0.6)
    os.waitpid(child, 0)
    """
)


def test_a_shared_page_counts_twice_in_the_rss_sum_and_once_in_the_pss_sum(
    tmp_path: Path,
) -> None:
    bench = _bench()
    log = tmp_path / "log"
    measured = bench.run_measured("sharing", [sys.executable, "-c", SHARING], {}, log)
    assert measured.exit_code == 0
    assert measured.peak_mb >= 64  # the parent alone holds the block
    assert measured.tree_mb >= 2 * 64  # parent and child each count the shared block
    assert 64 <= measured.pss_mb < measured.tree_mb - 32  # shared once in all
    assert measured.memory_mb == max(measured.peak_mb, measured.pss_mb)
    assert log.read_text().startswith("$ ")


def test_without_a_pss_sample_the_target_falls_back_to_the_rss_sum() -> None:
    measured = _bench().Measured("merge", 1.0, 80.0, 0, tree_mb=120.0)
    assert measured.memory_mb == 120.0
    assert _bench().Measured("merge", 1.0, 80.0, 0).memory_mb == 80.0


def test_a_size_in_people_may_carry_its_own_days() -> None:
    bench = _bench()
    assert bench.size_for_people("1500", 180) == bench.Size(1500, 1500, 180)
    assert bench.size_for_people("1500x889", 180) == bench.Size(1500, 1500, 889)
    assert bench.size_for_people("1500x889", 180).label == "1,500 x 889 d"
