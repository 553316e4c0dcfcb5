"""Codex credits per model or per client (`verify merge --by model|client`).

What the vendor documents inside a Codex row (api-facts §2.1) decides what can be
broken down: each `models[]` entry has `model` ('other' when unknown), `speed` and
`credits`; each `clients[]` entry has `client_id`, `threads`, `turns` and `credits`.
Token members are named there only as "tokens...", so no token breakdown is read.

The vendor warns that totals can differ from the sum of the parts, and `models` may be
null. So per (date, person) the breakdown rows are the vendor's parts as sent, plus,
when the parts do not add up to the row's `totals.credits`, one `difference to totals`
row holding exactly the rest (negative when the parts exceed the total; the whole
credits when a row lists no parts). The breakdown's credits per person-day therefore
add up exactly to the default table's `codex_credits`, and nothing is invented: a part
whose credits the vendor did not send is empty, and so is the difference then.
Threads and turns are not additive across clients (one thread may use two), so they
get no difference row.

Model and client names are public vocabulary (`verifier.vocabulary`): anonymisation
keeps them, and replaces anything else that sits there."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial as partial_row
from typing import Any, Literal, NamedTuple, Protocol

from verifier.consumer.mapping import ReadingPlan
from verifier.merge.fields import ABSENT, FieldReader
from verifier.merge.values import ValueProblem, add_known, describe

Breakdown = Literal["model", "client"]
BREAKDOWNS: tuple[Breakdown, ...] = ("model", "client")

VENDOR_PART = "vendor"
DIFFERENCE = "difference to totals"

# Per breakdown: the container field, the label fields (the key), the amount fields.
_FIELDS: dict[Breakdown, tuple[str, tuple[str, ...], str, tuple[str, ...]]] = {
    "model": ("models", ("model", "model_speed"), "model_credits", ()),
    "client": ("clients", ("client_id",), "client_credits", ("client_threads", "client_turns")),
}
LABEL_COLUMNS: dict[Breakdown, tuple[str, ...]] = {
    "model": ("model", "speed"),
    "client": ("client_id",),
}
COUNT_COLUMNS: dict[Breakdown, tuple[str, ...]] = {
    "model": (),
    "client": ("codex_threads", "codex_turns"),
}


class Part:
    """One model's (client's) figures for one workspace user and day, summed over rows;
    None: a row's entry lacked the figure."""

    __slots__ = ("counts", "credits")

    def __init__(self, counts: int) -> None:
        self.credits: Decimal | None = Decimal(0)
        self.counts: list[int | None] = [0] * counts


@dataclass
class Parts:
    """The parts of one (day, workspace user), keyed by their labels."""

    by_label: dict[tuple[str | None, ...], Part] = field(default_factory=dict)

    def absorb(self, other: Parts) -> None:
        """Add the parts of the same key from another capture (two clamped edge pieces
        of one day, or two workspace users sharing one email)."""
        for label, part in other.by_label.items():
            _add_part(self.by_label, label, part, len(part.counts))


class PartReader:
    """Reads one row's breakdown entries through the reading plan."""

    def __init__(self, plan: ReadingPlan, by: Breakdown) -> None:
        container, labels, credits, counts = _FIELDS[by]
        self.container = FieldReader(plan[container], plan.contract.row)
        entry = plan[container].path + "[]"
        self.labels = tuple(FieldReader(plan[name], entry) for name in labels)
        self.credits = FieldReader(plan[credits], entry)
        self.counts = tuple(FieldReader(plan[name], entry) for name in counts)

    def add(self, parts: Parts, row: Any) -> None:
        entries = self.container.raw(row)
        if entries is ABSENT or entries is None:
            return  # not broken down: the difference row carries these credits
        if not isinstance(entries, list):
            raise ValueProblem(self.container.path, f"expected an array, found {describe(entries)}")
        for entry in entries:
            key = tuple(label.identifier(entry) for label in self.labels)
            part = parts.by_label.get(key)
            if part is None:
                part = parts.by_label[key] = Part(len(self.counts))
            part.credits = add_known(part.credits, self.credits.money(entry))
            for position, reader in enumerate(self.counts):
                part.counts[position] = add_known(part.counts[position], reader.count(entry))


class PartRow(NamedTuple):
    """One row of the breakdown table: a person's credits of one model (client) on one
    UTC date, or the difference between the row totals and the listed parts."""

    date: str
    person: str
    email: str | None
    chatgpt_user_id: str | None
    labels: tuple[str | None, ...]
    credits: Decimal | None
    counts: tuple[int | None, ...]
    basis: str  # VENDOR_PART or DIFFERENCE
    partial: bool


Identity = tuple[str | None, str | None, str | None]  # email, chatgpt ids, openai ids


class DayTotals(Protocol):
    """What the breakdown needs of a Codex day (`verifier.merge.chatgpt.CodexDay`)."""

    credits: Decimal
    partial: bool


def part_rows(
    by: Breakdown,
    days: Mapping[tuple[str, str | None], DayTotals],
    parts: dict[tuple[str, str | None], Parts],
    person_of: Callable[[str | None], str],
    identity_of: Callable[[str], Identity],
) -> tuple[PartRow, ...]:
    """The breakdown table, sorted by (date, person, labels, basis)."""
    counts = len(_FIELDS[by][3])
    merged: dict[tuple[str, str], dict[tuple[str | None, ...], Part]] = {}
    totals: dict[tuple[str, str], tuple[Decimal, bool]] = {}
    for (day, user_id), codex_day in days.items():
        key = (day, person_of(user_id))
        credits, partial = totals.get(key, (Decimal(0), False))
        totals[key] = (credits + codex_day.credits, partial or codex_day.partial)
        target = merged.setdefault(key, {})
        for label, part in parts.get((day, user_id), Parts()).by_label.items():
            _add_part(target, label, part, counts)
    out: list[PartRow] = []
    for (day, person), labelled in sorted(merged.items()):
        email, chatgpt_ids, _openai = identity_of(person)
        credits, partial = totals[(day, person)]
        row = partial_row(PartRow, day, person, email, chatgpt_ids)
        listed: Decimal | None = Decimal(0)
        for label, part in sorted(labelled.items(), key=lambda item: _sort_key(item[0])):
            out.append(row(label, part.credits, tuple(part.counts), VENDOR_PART, partial))
            listed = add_known(listed, part.credits)
        rest = None if listed is None else credits - listed
        if rest is None or rest != 0:
            unlabelled = (None,) * len(LABEL_COLUMNS[by])
            out.append(row(unlabelled, rest, (None,) * counts, DIFFERENCE, partial))
    return tuple(out)


def _add_part(
    target: dict[tuple[str | None, ...], Part],
    label: tuple[str | None, ...],
    part: Part,
    counts: int,
) -> None:
    """Two workspace users sharing one email are one person: their parts add up."""
    total = target.get(label)
    if total is None:
        total = target[label] = Part(counts)
    total.credits = add_known(total.credits, part.credits)
    total.counts = [add_known(a, b) for a, b in zip(total.counts, part.counts, strict=True)]


def _sort_key(label: tuple[str | None, ...]) -> tuple[str, ...]:
    return tuple(value or "" for value in label)


def columns(by: Breakdown) -> tuple[str, ...]:
    return (
        "date",
        "person",
        "email",
        "chatgpt_user_id",
        *LABEL_COLUMNS[by],
        "codex_credits",
        *COUNT_COLUMNS[by],
        "basis",
        "partial",
    )


def values(row: PartRow, money: Callable[[Decimal | None], str | None]) -> list[Any]:
    return [
        row.date,
        row.person,
        row.email,
        row.chatgpt_user_id,
        *row.labels,
        money(row.credits),
        *row.counts,
        row.basis,
        row.partial,
    ]


def iter_values(
    rows: Sequence[PartRow], money: Callable[[Decimal | None], str | None]
) -> Iterator[list[Any]]:
    return (values(row, money) for row in rows)
