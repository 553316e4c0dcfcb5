"""Parser for `openai_org_users`: OpenAI user id -> email, the bridge between the
OpenAI surfaces (keyed by `user_id`) and ChatGPT (keyed by workspace user and email).
Reads through its consumer contract (`verifier.consumer.declared`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from verifier.consumer.declared import OPENAI_ORG_USERS as CONTRACT
from verifier.consumer.mapping import ReadingPlan
from verifier.errors import InputError
from verifier.inputs import Source
from verifier.merge.fields import readers
from verifier.merge.pages import PageParser, feed
from verifier.merge.values import ValueProblem
from verifier.surfaces import OPENAI_ORG_USERS

SURFACE = OPENAI_ORG_USERS


@dataclass
class Directory:
    emails: dict[str, str | None] = field(default_factory=dict)  # user id -> email
    sources: list[str] = field(default_factory=list)


def parse(source: Source, plan: ReadingPlan, into: Directory | None = None) -> Directory:
    directory = into if into is not None else Directory()
    parser = Parser(source.name, plan)
    feed(parser, source)
    combine(directory, parser.directory, source.name)
    return directory


class Parser(PageParser):
    """One capture's users into a Directory of its own, slice by slice (a
    `verifier.merge.pages.RowParser`)."""

    def __init__(self, name: str, plan: ReadingPlan) -> None:
        super().__init__(name)
        self.directory = Directory()
        self._id, self._email = readers(plan, "id", "email")

    @property
    def sources(self) -> list[str]:
        return self.directory.sources

    def rows(self, prefix: str, first: int, rows: list[Any]) -> None:
        id_reader, email_reader = self._id, self._email
        for index, user in enumerate(rows, first):
            try:
                user_id = id_reader.identifier(user)
                if user_id is None:
                    raise ValueProblem(
                        id_reader.path, "expected an OpenAI user id, found an empty value"
                    )
                email = email_reader.identifier(user)
            except ValueProblem as problem:
                raise problem.at(self.name, prefix, (index,)) from None
            if not _add(self.directory.emails, user_id, email):
                raise InputError(self.name, f"{prefix}/data/{index}: {_TWICE}")


def combine(into: Directory, part: Directory, name: str) -> None:
    """Add one capture's users to those of the captures before it."""
    for user_id, email in part.emails.items():
        if not _add(into.emails, user_id, email):
            raise InputError(name, _TWICE)
    into.sources.extend(part.sources)


_TWICE = "user id listed twice with different emails; the join would be ambiguous"


def _add(emails: dict[str, str | None], user_id: str, email: str | None) -> bool:
    """Record a user's email; False when the id is already listed with another one."""
    known = emails.get(user_id)
    if user_id in emails and known != email and None not in (known, email):
        return False
    if email is not None or user_id not in emails:
        emails[user_id] = email
    return True


__all__ = ["CONTRACT", "SURFACE", "Directory", "Parser", "combine", "parse"]
