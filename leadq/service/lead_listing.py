"""Lists of leads: filters, sort orders, keyset pagination and stage counts.

A page ends with a cursor that contains the sort value and the id of its last
lead. The next page starts after that position, so leads inserted or
removed meanwhile move no other lead to a different page. A lead whose sort
value changes between two pages can appear twice or not at all, as in any
keyset pagination. Leads that were merged into another are never listed.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache

from sqlalchemy import Connection, Select, Text, and_, case, func, literal, or_, select, tuple_
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from leadq.errors import ModelError
from leadq.model.loading import default_model_text, parse_model
from leadq.service.damaged_leads import Rerun, damaged_attributes, damaged_error
from leadq.store import MAX_ID
from leadq.store.database import Store
from leadq.store.tables import leads, model_versions

logger = logging.getLogger(__name__)
# PostgreSQL's SQLSTATE for text that a cast cannot read, such as text that is not JSON.
INVALID_TEXT_REPRESENTATION = "22P02"
# Leads that naming_damaged_attributes reads per fetch.
SCAN_ROWS = 1000

SORT_COLUMNS = {
    "total": leads.c.total,
    "fit": leads.c.fit,
    "engagement": leads.c.engagement,
    "product": leads.c.product,
    "updated_at": leads.c.updated_at,
    "created_at": leads.c.created_at,
}
# Sort columns of int64 microseconds; the others are doubles.
INTEGER_SORTS = frozenset({"updated_at", "created_at"})
SUMMARY_COLUMNS = (
    leads.c.id,
    leads.c.lead_key,
    leads.c.email,
    leads.c.stage,
    leads.c.stage_rule,
    leads.c.stage_since,
    leads.c.fit,
    leads.c.engagement,
    leads.c.product,
    leads.c.total,
    leads.c.grade,
    leads.c.scored_at,
    leads.c.created_at,
    leads.c.updated_at,
)


class InvalidCursor(ValueError):
    """A cursor that this API did not write, or one written for another sort."""


@dataclass(frozen=True)
class LeadFilters:
    """Conditions that a listed lead meets; empty lists and None match all."""

    stages: list[str] = field(default_factory=list)
    grades: list[str] = field(default_factory=list)
    min_score: float | None = None
    max_score: float | None = None
    updated_since: int | None = None
    prefix: str | None = None
    # Lead attribute `source`, compared ignoring case.
    source: str | None = None
    # Prefix of the email or lead key, or text inside the name or company.
    search: str | None = None


@dataclass(frozen=True)
class Cursor:
    """Position after the last lead of a page: its sort value and id."""

    sort: str
    order: str
    value: float | int | None
    id: int


def encode_cursor(cursor: Cursor) -> str:
    text = json.dumps([cursor.sort, cursor.order, cursor.value, cursor.id])
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(text: str, sort: str, order: str) -> Cursor:
    """Decode a cursor. Raise InvalidCursor unless it fits this sort and order."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        sort_name, order_name, value, lead_id = json.loads(raw)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
        raise InvalidCursor("is not a cursor of this API") from None
    if (sort_name, order_name) != (sort, order):
        raise InvalidCursor(
            f"was written for sort={sort_name}&order={order_name}; "
            "use the same sort and order on every page"
        )
    if not _valid_value(value, sort in INTEGER_SORTS) or not _valid_id(lead_id):
        raise InvalidCursor("is not a cursor of this API")
    return Cursor(sort, order, value, lead_id)


def _valid_value(value: object, integer: bool) -> bool:
    """Return whether a sort value fits its column: an int64, or a finite double.

    The databases reject a parameter beyond either range with an error
    instead of comparing it.
    """
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -MAX_ID - 1 <= value <= MAX_ID
    return isinstance(value, float) and not integer and math.isfinite(value)


def _valid_id(lead_id: object) -> bool:
    return isinstance(lead_id, int) and not isinstance(lead_id, bool) and 1 <= lead_id <= MAX_ID


def list_leads(
    connection: Connection,
    filters: LeadFilters,
    sort: str,
    order: str,
    limit: int,
    after: Cursor | None = None,
    columns: tuple = SUMMARY_COLUMNS,
) -> tuple[list, Cursor | None]:
    """Return one page of leads and the cursor of the next page, or None.

    `columns` must contain the sort column and the id.
    """
    query = _filtered(select(*columns), filters).order_by(*_ordering(sort, order))
    rows = _rows_after(connection, query, after, limit + 1)
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], Cursor(sort, order, getattr(last, sort), last.id)


def count_leads(connection: Connection, filters: LeadFilters) -> int:
    query = _filtered(select(func.count()).select_from(leads), filters)
    return connection.execute(query).scalar_one()


def known_stages(connection: Connection) -> set[str]:
    query = select(leads.c.stage).where(leads.c.stage.is_not(None)).distinct()
    return set(connection.execute(query).scalars())


def _filtered(query: Select, filters: LeadFilters) -> Select:
    query = query.where(leads.c.merged_into.is_(None))
    if filters.stages:
        query = query.where(leads.c.stage.in_(filters.stages))
    if filters.grades:
        query = query.where(leads.c.grade.in_(filters.grades))
    if filters.min_score is not None:
        query = query.where(leads.c.total >= filters.min_score)
    if filters.max_score is not None:
        query = query.where(leads.c.total <= filters.max_score)
    if filters.updated_since is not None:
        query = query.where(leads.c.updated_at >= filters.updated_since)
    if filters.prefix:
        query = query.where(_prefix_match(filters.prefix))
    if filters.source:
        source = func.lower(attribute_text("source"))
        query = query.where(source == filters.source.strip().lower())
    if filters.search:
        query = query.where(_search_match(filters.search.strip()))
    return query


def _prefix_match(prefix: str):
    # lower() on both sides: LIKE ignores ASCII case on SQLite only.
    lowered = prefix.lower()
    return or_(
        func.lower(leads.c.email).startswith(lowered, autoescape=True),
        func.lower(leads.c.lead_key).startswith(lowered, autoescape=True),
    )


# Lead attributes that the search looks inside.
SEARCHED_ATTRIBUTES = ("name", "first_name", "last_name", "company")


def _search_match(text: str):
    # NOTE: the attribute part reads the JSON of every lead that the other
    # filters leave, so on a large store a search costs a full scan.
    lowered = text.lower()
    inside = or_(
        *[
            func.lower(attribute_text(name)).contains(lowered, autoescape=True)
            for name in SEARCHED_ATTRIBUTES
        ]
    )
    if _written_as_is(lowered):
        # Cheaper test first: the text must occur in the JSON document.
        raw = func.lower(leads.c.attributes).contains(lowered, autoescape=True)
        inside = and_(raw, inside)
    return or_(_prefix_match(text), inside)


def _written_as_is(text: str) -> bool:
    """Tell whether json.dumps writes the text unchanged inside a string."""
    return text.isascii() and text.isprintable() and not set(text) & {'"', "\\"}


class attribute_text(FunctionElement):
    """The text of one top-level key of a lead's `attributes` JSON, or NULL."""

    type = Text()
    inherit_cache = True

    def __init__(self, name: str) -> None:
        super().__init__(leads.c.attributes, literal(name))


@compiles(attribute_text)
def _attribute_text_sqlite(element, compiler, **kw) -> str:
    column, name = list(element.clauses)
    path = literal("$.") + func.json_quote(name)
    # json_extract raises on text that is not JSON, as a damaged row's may be.
    guarded = case((func.json_valid(column) == 1, func.json_extract(column, path)))
    return compiler.process(guarded, **kw)


@compiles(attribute_text, "postgresql")
def _attribute_text_postgresql(element, compiler, **kw) -> str:
    # NOTE: the cast fails the whole query on one lead whose attributes are
    # not JSON. PostgreSQL 16's `IS JSON` could skip that lead, but 15 has no
    # such test, so naming_damaged_attributes names the leads instead.
    column, name = list(element.clauses)
    return f"(CAST({compiler.process(column, **kw)} AS JSONB) ->> {compiler.process(name, **kw)})"


@contextmanager
def naming_damaged_attributes(store: Store, outcome: str, rerun: Rerun) -> Iterator[None]:
    """Turn PostgreSQL's failure to cast a lead's attributes to JSONB into an error that names the leads.

    That is the one damaged lead's DamagedLeadRow, or DamagedLeads that
    lists every lead whose attributes are damaged, with `outcome` and
    `rerun` in its message. The leads are found by reading every lead's
    attributes, which costs a full scan, but only after such a failure.
    """
    try:
        yield
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) != INVALID_TEXT_REPRESENTATION:
            raise
        with store.read() as connection:
            damaged = damaged_error(damaged_attributes(connection, SCAN_ROWS), outcome, rerun)
        if damaged is None:
            raise
        raise damaged from error


def _ordering(sort: str, order: str) -> list:
    """Order by the sort column, unscored leads (NULL) last, then by id."""
    # NOTE: only the default order (total descending) has an index that
    # PostgreSQL uses (migration 0005); the other sort fields sort every
    # matching lead.
    column = SORT_COLUMNS[sort]
    if order == "asc":
        return [column.asc().nulls_last(), leads.c.id.asc()]
    return [column.desc().nulls_last(), leads.c.id.desc()]


def _rows_after(connection: Connection, query, cursor: Cursor | None, count: int) -> list:
    """Return up to `count` rows of the ordered query after the cursor.

    Scored leads come before unscored ones, so a cursor on a scored lead
    reads the scored leads after it, then the unscored leads from the start.
    Each of the two queries reads one range of the order's index. A single
    query with an OR of both parts made PostgreSQL scan the index from its start.
    """
    if cursor is None:
        return connection.execute(query.limit(count)).all()
    column = SORT_COLUMNS[cursor.sort]
    if cursor.value is None:
        return connection.execute(query.where(column.is_(None), _id_after(cursor)).limit(count)).all()
    rows = connection.execute(query.where(_scored_after(cursor)).limit(count)).all()
    if len(rows) < count:
        unscored = query.where(column.is_(None)).limit(count - len(rows))
        rows += connection.execute(unscored).all()
    return rows


def _scored_after(cursor: Cursor):
    """Match the scored leads after the cursor: a row value comparison of (sort value, id)."""
    position = tuple_(SORT_COLUMNS[cursor.sort], leads.c.id)
    start = tuple_(cursor.value, cursor.id)
    return position > start if cursor.order == "asc" else position < start


def _id_after(cursor: Cursor):
    return leads.c.id > cursor.id if cursor.order == "asc" else leads.c.id < cursor.id


@dataclass(frozen=True)
class StageGradeCount:
    stage: str | None
    grade: str | None
    count: int


def count_by_stage_and_grade(connection: Connection) -> list[StageGradeCount]:
    query = (
        select(leads.c.stage, leads.c.grade, func.count())
        .where(leads.c.merged_into.is_(None))
        .group_by(leads.c.stage, leads.c.grade)
    )
    return [StageGradeCount(*row) for row in connection.execute(query)]


def model_stage_order(connection: Connection) -> list[str]:
    """Return the stage ids of the active model, in its rank order.

    Without an active model version, the built-in default model's stages.
    """
    query = (
        select(model_versions.c.id, model_versions.c.body)
        .where(model_versions.c.is_active.is_(True))
        .order_by(model_versions.c.activated_at.desc(), model_versions.c.id.desc())
        .limit(1)
    )
    active = connection.execute(query).first()
    if active is None:
        return list(_ranked_stage_ids(default_model_text(), "built-in default model"))
    return list(_ranked_stage_ids(active.body, f"model version {active.id}"))


@lru_cache(maxsize=8)
def _ranked_stage_ids(body: str, source: str) -> tuple[str, ...]:
    try:
        return tuple(parse_model(body, source=source, stored=True).ranked_stage_ids())
    except ModelError as error:
        logger.warning("cannot read the stages of %s: %s", source, error)
        return ()
