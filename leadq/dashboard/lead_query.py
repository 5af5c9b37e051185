"""The leads page's query string: filters, sort and page, with their errors.

An invalid value is dropped and reported on the page, so a typo in one
filter leaves the others working.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from leadq.dashboard.lead_rows import day_start_micros
from leadq.service.lead_listing import (
    SORT_COLUMNS,
    Cursor,
    InvalidCursor,
    LeadFilters,
    decode_cursor,
)

GRADES = ("A", "B", "C", "D")
FILTER_NAMES = (
    "stage",
    "grade",
    "min_score",
    "max_score",
    "source",
    "updated_since",
    "q",
)


@dataclass
class LeadQuery:
    filters: LeadFilters
    sort: str = "total"
    order: str = "desc"
    after: Cursor | None = None
    errors: list[str] = field(default_factory=list)
    # The filters and sort as sent, to refill the form and build links.
    values: dict[str, list[str]] = field(default_factory=dict)

    def link(self, **changes) -> str:
        """Return the query string of this view with some parameters changed."""
        params = {name: list(items) for name, items in self.values.items()}
        for name, value in changes.items():
            params[name] = [] if value is None else [str(value)]
        pairs = [
            (name, item)
            for name, items in params.items()
            for item in items
            if item != ""
        ]
        return urlencode(pairs)

    def first(self, name: str) -> str:
        items = self.values.get(name) or [""]
        return items[0]


def parse_lead_query(params: QueryParams, known_stages: list[str]) -> LeadQuery:
    errors: list[str] = []
    values = {name: params.getlist(name) for name in (*FILTER_NAMES, "sort", "order")}
    filters = _filters(params, known_stages, errors)

    sort = params.get("sort") or "total"
    if sort not in SORT_COLUMNS:
        errors.append(
            f"Sort {sort!r} is unknown; use one of {', '.join(SORT_COLUMNS)}."
        )
        sort = "total"
    order = "asc" if params.get("order") == "asc" else "desc"

    query = LeadQuery(filters, sort, order, None, errors, values)
    query.after = _cursor(params.get("cursor"), sort, order, errors)
    return query


def _filters(
    params: QueryParams, known_stages: list[str], errors: list[str]
) -> LeadFilters:
    stages = [stage for stage in params.getlist("stage") if stage]
    for stage in stages:
        if stage not in known_stages:
            errors.append(
                f"Stage {stage!r} is unknown; the stages are {', '.join(known_stages)}."
            )
    grades = [grade.upper() for grade in params.getlist("grade") if grade]
    for grade in grades:
        if grade not in GRADES:
            errors.append(f"Grade {grade!r} is unknown; use A, B, C or D.")

    low = _number(params.get("min_score"), "Lowest score", errors)
    high = _number(params.get("max_score"), "Highest score", errors)
    if low is not None and high is not None and low > high:
        errors.append(
            f"Lowest score {low:g} is above highest score {high:g}; swap them."
        )

    return LeadFilters(
        stages=[stage for stage in stages if stage in known_stages],
        grades=[grade for grade in grades if grade in GRADES],
        min_score=low,
        max_score=high,
        updated_since=_day(params.get("updated_since"), errors),
        source=params.get("source") or None,
        search=(params.get("q") or "").strip()[:320] or None,
    )


def _number(text: str | None, label: str, errors: list[str]) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        errors.append(f"{label} {text!r} is not a number; write one such as 50.")
        return None
    if not math.isfinite(value):
        errors.append(f"{label} {text!r} is not a finite number; write one such as 50.")
        return None
    return value


def _day(text: str | None, errors: list[str]) -> int | None:
    if not text:
        return None
    try:
        return day_start_micros(text)
    except ValueError:
        errors.append(f"Updated since {text!r} is not a date; write it as 2026-05-01.")
        return None


def _cursor(
    text: str | None, sort: str, order: str, errors: list[str]
) -> Cursor | None:
    if not text:
        return None
    try:
        return decode_cursor(text, sort, order)
    except InvalidCursor:
        errors.append("The page link is out of date; showing the first page.")
        return None
