"""Cost merge: one parser per surface plus the merge itself.

    chatgpt.py usage.py costs.py users.py   one parser per surface; each declares the
                                            contract paths it reads (CONSUMED_PATHS)
    parsers.py                              those declarations, by surface
    core.py                                 identity join, cost basis, rows, coverage
    dedupe.py reconcile.py                  each bucket once: overlapping captures,
                                            partial edge buckets, restatements
    allocate.py                             exact largest-remainder split
    load.py                                 capture files -> sources, exact money
    output.py focus.py formats.py           csv / jsonl / json / FOCUS 1.2 writers

Library use: `merge_sources(sources)` over loaded `Source`s, or `merge_paths(paths)`.
"""

from verifier.merge.core import (
    JoinCoverage,
    MergedRow,
    MergeInputs,
    MergeResult,
    merge,
    parse_sources,
)
from verifier.merge.load import load_capture, merge_paths, merge_sources

__all__ = [
    "JoinCoverage",
    "MergeInputs",
    "MergeResult",
    "MergedRow",
    "load_capture",
    "merge",
    "merge_paths",
    "merge_sources",
    "parse_sources",
]
