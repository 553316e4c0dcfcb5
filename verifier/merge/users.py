"""Parser for `openai_org_users`: OpenAI user id -> email, the bridge between the
OpenAI surfaces (keyed by `user_id`) and ChatGPT (keyed by workspace user and email)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from verifier.errors import InputError
from verifier.inputs import Source
from verifier.merge.pages import data_arrays
from verifier.merge.values import ValueProblem, identifier, member, optional_member
from verifier.surfaces import OPENAI_ORG_USERS

SURFACE = OPENAI_ORG_USERS

# The consumer contract: every path this parser reads (ancestors are implied).
CONSUMED_PATHS = frozenset({"data", "has_more", "data[].id", "data[].email"})


@dataclass
class Directory:
    emails: dict[str, str | None] = field(default_factory=dict)  # user id -> email
    sources: list[str] = field(default_factory=list)


def parse(source: Source, into: Directory | None = None) -> Directory:
    directory = into if into is not None else Directory()
    for prefix, users in data_arrays(source):
        for index, user in enumerate(users):
            try:
                user_id, email = _read_user(user)
            except ValueProblem as problem:
                raise problem.at(source.name, prefix, (index,)) from None
            known = directory.emails.get(user_id)
            if user_id in directory.emails and known != email and None not in (known, email):
                raise InputError(
                    source.name,
                    f"{prefix}/data/{index}: user id listed twice with different emails; "
                    "the join would be ambiguous",
                )
            if email is not None or user_id not in directory.emails:
                directory.emails[user_id] = email
    directory.sources.append(source.name)
    return directory


def _read_user(user: Any) -> tuple[str, str | None]:
    user_id = identifier(member(user, "id", "data[].id"), "data[].id")
    if user_id is None:
        raise ValueProblem("data[].id", "expected an OpenAI user id, found an empty value")
    return user_id, identifier(optional_member(user, "email", "data[].email"), "data[].email")
