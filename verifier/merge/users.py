"""Parser for `openai_org_users`: OpenAI user id -> email, the bridge between the
OpenAI surfaces (keyed by `user_id`) and ChatGPT (keyed by workspace user and email).
Reads through its consumer contract (`verifier.consumer.declared`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from verifier.consumer.declared import OPENAI_ORG_USERS as CONTRACT
from verifier.consumer.mapping import ReadingPlan
from verifier.errors import InputError
from verifier.inputs import Source
from verifier.merge.fields import readers
from verifier.merge.pages import data_arrays
from verifier.merge.values import ValueProblem
from verifier.surfaces import OPENAI_ORG_USERS

SURFACE = OPENAI_ORG_USERS


@dataclass
class Directory:
    emails: dict[str, str | None] = field(default_factory=dict)  # user id -> email
    sources: list[str] = field(default_factory=list)


def parse(source: Source, plan: ReadingPlan, into: Directory | None = None) -> Directory:
    directory = into if into is not None else Directory()
    id_reader, email_reader = readers(plan, "id", "email")
    for prefix, users in data_arrays(source):
        for index, user in enumerate(users):
            try:
                user_id = id_reader.identifier(user)
                if user_id is None:
                    raise ValueProblem(
                        id_reader.path, "expected an OpenAI user id, found an empty value"
                    )
                email = email_reader.identifier(user)
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


__all__ = ["CONTRACT", "SURFACE", "Directory", "parse"]
