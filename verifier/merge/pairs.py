"""(UTC date, user id) -> slot, for the aggregates stored by column (`usage.UsageDays`,
`chatgpt.CodexDays`): a half year of a thousand seats is hundreds of thousands of pairs,
and a dict entry plus an int object per pair (about 90 bytes) weighed more than the
pair's figures. Here every user id is numbered once; each date has a dense array (user
number -> slot; 4 bytes per user known by then) and the user numbers in the order its
pairs came (4 bytes a pair). Slots are numbered 0, 1, 2... in the order pairs were made."""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator, Sequence
from typing import Any

_NONE = -1  # the user has no pair on this date
_TAKEN = -2  # the user's pair on this date was taken out (`remove`)


class PairIndex:
    __slots__ = ("_dates", "_names", "_users", "slots")

    def __init__(self) -> None:
        self._users: dict[str | None, int] = {}  # user id -> user number
        self._names: list[str | None] = []  # user number -> user id
        self._dates: dict[str, tuple[array[int], array[int]]] = {}  # slot by user, order
        self.slots = 0  # slots handed out

    def find(self, day: str, user_id: str | None) -> int | None:
        """The pair's slot, None when there is none."""
        number = self._users.get(user_id)
        entry = self._dates.get(day)
        if number is None or entry is None:
            return None
        by_user = entry[0]
        slot = by_user[number] if number < len(by_user) else _NONE
        return None if slot < 0 else slot

    def locate(self, day: str, user_id: str | None) -> tuple[int, bool]:
        """The pair's slot, and whether it is new (made now)."""
        slot = self.find(day, user_id)
        return (self.insert(day, user_id), True) if slot is None else (slot, False)

    def locate_all(self, day: str, users: Sequence[str | None]) -> list[int]:
        """`locate` for several users of one date (a bucket's results) at once: each
        pair's slot, made where there is none (a slot of `slots` or more is new)."""
        numbers, names = self._users, self._names
        entry = self._dates.get(day)
        if entry is None:
            entry = self._dates[day] = (array("i"), array("i"))
        by_user, order = entry
        found: list[int] = []
        for user_id in users:
            number = numbers.get(user_id)
            if number is None:
                number = numbers[user_id] = len(names)
                names.append(user_id)
            if number >= len(by_user):
                by_user.extend([_NONE] * (len(names) - len(by_user)))
            slot = by_user[number]
            if slot < 0:
                if slot == _NONE:  # a pair taken out is still in the order
                    order.append(number)
                slot = by_user[number] = self.slots
                self.slots += 1
            found.append(slot)
        return found

    def insert(self, day: str, user_id: str | None) -> int:
        """A new slot for a pair `find` does not know."""
        number = self._users.get(user_id)
        if number is None:
            number = self._users[user_id] = len(self._names)
            self._names.append(user_id)
        entry = self._dates.get(day)
        if entry is None:
            entry = self._dates[day] = (array("i"), array("i"))
        by_user, order = entry
        if number >= len(by_user):
            by_user.extend([_NONE] * (len(self._names) - len(by_user)))
        if by_user[number] == _NONE:  # a pair taken out is still in the order
            order.append(number)
        slot = by_user[number] = self.slots
        self.slots += 1
        return slot

    def remove(self, day: str, user_id: str | None) -> int:
        """Take a pair out; its slot (KeyError when there is none)."""
        slot = self.find(day, user_id)
        if slot is None:
            raise KeyError((day, user_id))
        self._dates[day][0][self._users[user_id]] = _TAKEN
        return slot

    def drop(self, day: str) -> None:
        """Take every pair of a date out (the join has read them)."""
        self._dates.pop(day, None)

    def of(self, day: str) -> Iterator[tuple[str | None, int]]:
        """(user id, slot) of one date's pairs, in the order they came."""
        entry = self._dates.get(day)
        if entry is None:
            return
        by_user, order = entry
        names = self._names
        for number in order:
            slot = by_user[number]
            if slot >= 0:
                yield names[number], slot

    def columns(self, day: str) -> tuple[list[str | None], list[int]]:
        """`of(day)` as two lists, user ids and slots, made in C-level passes."""
        entry = self._dates.get(day)
        if entry is None:
            return [], []
        by_user, order = entry
        users = list(map(self._names.__getitem__, order))
        slots = list(map(by_user.__getitem__, order))
        if slots and min(slots) < 0:  # some pairs were taken out
            kept = [position for position, slot in enumerate(slots) if slot >= 0]
            return [users[k] for k in kept], [slots[k] for k in kept]
        return users, slots

    def count(self, day: str) -> int:
        """About how many pairs a date has (those taken out too: an estimate, at once)."""
        entry = self._dates.get(day)
        return 0 if entry is None else len(entry[1])

    def days(self) -> list[str]:
        return list(self._dates)

    def dates(self) -> set[str]:
        """The dates with a pair (not taken out)."""
        return {day for day in self._dates if any(True for _ in self.of(day))}

    def __len__(self) -> int:
        return sum(1 for day in self._dates for _ in self.of(day))


def picker(slots: list[int]) -> Callable[[Sequence[Any]], Sequence[Any]]:
    """Takes the values at `slots` out of a column: a slice when they run in a row (a
    date-ordered capture's are), else one by one."""
    first = slots[0]
    if slots[-1] - first + 1 == len(slots) and slots == list(range(first, first + len(slots))):
        return lambda column: column[first : first + len(slots)]
    return lambda column: [column[slot] for slot in slots]
