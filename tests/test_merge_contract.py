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
from verifier.merge.breakdown import BREAKDOWNS
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


VENDOR_CODEX_ROW = {
    "object": "user.codex.usage.result",
    "start_time": 1777593600,
    "end_time": 1777680000,
    "user_id": "w1",
    "actor": {"type": "ACCOUNT_USER", "user_id": "w1", "email": "a@x.invalid"},
    "totals": {
        "threads": 1,
        "turns": 2,
        "credits": 3.5,
        "cost_usd": "0.25",
        "uncached_text_input_tokens": 5,
        "cached_text_input_tokens": 6,
        "text_output_tokens": 7,
    },
    "clients": [{"client_id": "CODEX_CLI", "threads": 1, "turns": 2, "credits": 3.5}],
    "models": [{"model": "gpt-5-codex", "speed": "fast", "credits": 3.5}],
}

SAMPLES = {
    "chatgpt_enterprise_usage": chatgpt_body(
        [chatgpt_row("w1", email="a@x.invalid", credits=1.5), chatgpt_row("w2", credits="2")]
    ),
    "openai_org_usage_completions": openai_body(
        [bucket([usage_result("u1", tokens_in=2, out=1), usage_result(None)])]
    ),
    "openai_org_costs": openai_body(
        [
            bucket(
                [
                    cost_result("u1", 0.5),
                    cost_result(None, "1"),
                    {**cost_result(None, "2"), "user_email": "b@x.invalid"},
                ]
            )
        ]
    ),
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


CASES = [
    *((surface, body) for surface, body in sorted(SAMPLES.items())),
    ("chatgpt_enterprise_usage", {"object": "page", **chatgpt_body([VENDOR_CODEX_ROW])}),
]


@pytest.mark.parametrize(("surface", "body"), CASES)
def test_each_parser_reads_only_the_paths_it_declares(surface: str, body: Any) -> None:
    log: set[str] = set()
    plain = source(surface, body)
    plan = plan_from_profile(CONTRACTS[surface], profile_source(plain))
    for by in (None, *BREAKDOWNS):  # the default table, then each Codex breakdown
        MergeInputs(plans={surface: plan}, breakdown=by).add(traced_source(plain, log))
    declared = consumed_paths(surface)
    assert log <= allowed(declared), f"undeclared reads: {sorted(log - allowed(declared))}"
    # And every field the plan located is really read (no stale declaration).
    located = {p.path for p in plan.fields.values() if p.located}
    assert located <= log, sorted(located - log)


def test_the_vendor_codex_sample_locates_every_field() -> None:
    plain = source(
        "chatgpt_enterprise_usage", {"object": "page", **chatgpt_body([VENDOR_CODEX_ROW])}
    )
    plan = plan_from_profile(CONTRACTS["chatgpt_enterprise_usage"], profile_source(plain))
    assert all(p.located for p in plan.fields.values())


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
        ("openai_org_costs", "data[].results[].user_email", True),
        ("openai_org_costs", "data[].results[].organization_id", False),  # ignored
        ("chatgpt_enterprise_usage", "data[].totals.cost_usd", True),
        ("chatgpt_enterprise_usage", "data[].totals.estimated_cost_usd", False),
        ("chatgpt_enterprise_usage", "data[].models[].credits", True),
        ("chatgpt_enterprise_usage", "data[].clients[].client_id", True),
        ("chatgpt_enterprise_usage", "data[].code_attribution", False),
        ("chatgpt_enterprise_usage", "data[].user", True),
        ("chatgpt_enterprise_usage", "next_page", False),
        ("openai_org_usage_completions", "data[].results[].model", False),
        ("openai_org_users", "data[].email", True),
        ("openai_org_users", "data[].name", False),
    ],
)
def test_is_consumed(surface: str, path: str, expected: bool) -> None:
    assert is_consumed(surface, path) is expected
