"""Walking a capture's pages: every page must be a 2xx JSON object, and the last page
must say there is nothing more, or the data is incomplete and a merge would undercount."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from verifier.errors import InputError
from verifier.inputs import Source
from verifier.merge.timestamps import DayReader
from verifier.merge.values import ValueProblem, array, flag, member


def data_arrays(source: Source) -> Iterator[tuple[str, list[Any]]]:
    """(pointer prefix, `data` array) of each page, after checking the page is usable."""
    if not source.bodies:
        raise InputError(source.name, "the capture has no pages, so there is nothing to merge")
    last_has_more = False
    for body in source.bodies:
        if not body.ok:
            raise InputError(
                source.name,
                f"page {body.pointer_prefix or '/'} is an HTTP {body.status} answer, not data; "
                "the capture is incomplete, so its totals would be wrong",
            )
        try:
            data = array(member(body.value, "data", "data"), "data")
            last_has_more = flag(member(body.value, "has_more", "has_more"), "has_more")
        except ValueProblem as problem:
            raise problem.at(source.name, body.pointer_prefix, ()) from None
        yield body.pointer_prefix, data
    if last_has_more:
        raise InputError(
            source.name,
            "the last page says has_more=true: the capture stops before the data does, "
            "so its totals would be too low; capture the whole window again",
        )


def buckets(
    source: Source, reader: DayReader, seen: dict[str, bool]
) -> Iterator[tuple[str, int, str, bool, list[Any]]]:
    """(prefix, bucket index, UTC date, partial, `results`) of each OpenAI time bucket.

    `seen` maps each UTC date already read for this surface to whether that bucket was
    partial: a second bucket for a date is an overlap (counted twice) unless both are
    clamped edge buckets."""
    for prefix, data in data_arrays(source):
        for index, bucket in enumerate(data):
            try:
                day, partial = reader.of(bucket)
                results = array(member(bucket, "results", "data[].results"), "data[].results")
            except ValueProblem as problem:
                raise problem.at(source.name, prefix, (index,)) from None
            earlier = seen.get(day)
            if earlier is not None and not (earlier and partial):
                raise InputError(
                    source.name,
                    f"{prefix}/data/{index}: a second bucket for UTC date {day}; "
                    "overlapping captures would count that day twice",
                )
            seen[day] = partial
            yield prefix, index, day, partial, results
