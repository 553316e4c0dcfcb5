"""The consumer contract: each parser reads through its typed declaration
(`verifier.consumer`), reads only declared paths, and reads every field it declares."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.merge_builders import (
    bucket,
    chatgpt_body,
    chatgpt_row,
    cost_result,
    openai_body,
    source,
    usage_result,
    users_body,
)
from verifier import paths
from verifier.consumer import CONTRACTS, consumed_paths, is_consumed
from verifier.consumer.mapping import plan_from_profile
from verifier.inputs import Body, Source
from verifier.merge import chatgpt, costs, usage, users
from verifier.merge.core import MergeInputs
from verifier.profile import profile_source
from verifier.schemas import surface_nodes
from verifier.surfaces import SURFACES, get_surface


class TracedDict(dict[str, Any]):
    """A dict that records the contract path of every member read from it."""

    def __init__(self, data: dict[str, Any], path: str, log: set[str]) -> None:
        super().__init__(data)
        self._path, self._log = path, log

    def _wrap(self, key: str, value: Any) -> Any:
        here = paths.child(self._path, key)
        self._log.add(here)
        return traced(value, here, self._log)

    def __getitem__(self, key: str) -> Any:
        return self._wrap(key, super().__getitem__(key))

    def get(self, key: str, default: Any = None) -> Any:
        return self._wrap(key, super().__getitem__(key)) if key in self else default


class TracedList(list[Any]):
    def __init__(self, data: list[Any], path: str, log: set[str]) -> None:
        super().__init__(data)
        self._path, self._log = paths.item(path), log

    def __iter__(self) -> Iterator[Any]:
        return (traced(value, self._path, self._log) for value in super().__iter__())


def traced(value: Any, path: str, log: set[str]) -> Any:
    if isinstance(value, dict):
        return TracedDict(value, path, log)
    if isinstance(value, list):
        return TracedList(value, path, log)
    return value


def traced_source(plain: Source, log: set[str]) -> Source:
    bodies = tuple(
        Body(b.status, traced(b.value, paths.ROOT, log), b.pointer_prefix) for b in plain.bodies
    )
    return Source(plain.name, plain.surface, bodies, plain.capture)


SAMPLES = {
    "chatgpt_enterprise_usage": chatgpt_body(
        [chatgpt_row("w1", email="a@x.invalid", credits=1.5), chatgpt_row("w2", credits="2")]
    ),
    "openai_org_usage_completions": openai_body(
        [bucket([usage_result("u1", tokens_in=2, out=1), usage_result(None)])]
    ),
    "openai_org_costs": openai_body([bucket([cost_result("u1", 0.5), cost_result(None, "1")])]),
    "openai_org_users": users_body([("u1", "a@x.invalid"), ("u2", None)]),
}


def allowed(declared: frozenset[str]) -> set[str]:
    """Declared paths and their ancestors (reading `data[].user` to reach `.email`)."""
    out = set(declared)
    for path in declared:
        while path:
            path = paths.parent(path)
            out.add(path)
    return out - {paths.ROOT}


@pytest.mark.parametrize("surface", sorted(SAMPLES))
def test_each_parser_reads_only_the_paths_it_declares(surface: str) -> None:
    log: set[str] = set()
    plain = source(surface, SAMPLES[surface])
    plan = plan_from_profile(CONTRACTS[surface], profile_source(plain))
    MergeInputs(plans={surface: plan}).add(traced_source(plain, log))
    declared = consumed_paths(surface)
    assert log <= allowed(declared), f"undeclared reads: {sorted(log - allowed(declared))}"
    # And every field of the plan is really read (no stale declaration).
    assert plan.paths <= log


@pytest.mark.parametrize("surface", sorted(SURFACES))
def test_declared_paths_exist_in_the_documented_schema(surface: str) -> None:
    nodes = surface_nodes(get_surface(surface))
    assert consumed_paths(surface) <= set(nodes)


def test_each_parser_reads_through_the_contract_of_its_surface() -> None:
    for module in (chatgpt, usage, costs, users):
        assert module.CONTRACT is CONTRACTS[module.SURFACE.name]
        assert consumed_paths(module.SURFACE) == module.CONTRACT.paths
    assert consumed_paths("no_such_surface") == frozenset()


@pytest.mark.parametrize(
    ("surface", "path", "expected"),
    [
        ("openai_org_costs", "data[].results[].amount.value", True),
        ("openai_org_costs", "data[].results[].amount", True),  # an ancestor of a read
        ("openai_org_costs", "data[].results[].line_item", False),
        ("openai_org_costs", "data[].results[].project_id", False),
        ("chatgpt_enterprise_usage", "data[].user", True),
        ("chatgpt_enterprise_usage", "next_page", False),
        ("openai_org_usage_completions", "data[].results[].model", False),
        ("openai_org_users", "data[].email", True),
        ("openai_org_users", "data[].name", False),
    ],
)
def test_is_consumed(surface: str, path: str, expected: bool) -> None:
    assert is_consumed(surface, path) is expected
