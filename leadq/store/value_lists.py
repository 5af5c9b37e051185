"""A condition that a column's value is in a list given as one parameter.

`column.in_(bindparam(..., expanding=True))` renders one placeholder per
value, so the SQL text changes with the length of the list. On
PostgreSQL that costs a parse and a plan at every call, and psycopg never
prepares the statement. `in_list` renders `column = ANY(:name)` with one
array parameter there, so the text stays the same, and an expanding IN on
other databases.
"""

from __future__ import annotations

from sqlalchemy import Boolean, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal


class InList(ColumnElement[bool]):
    """`column IN` the list passed as parameter `name`."""

    type = Boolean()
    # Rendered as a plain condition, so SQLite gets no `= 1` after it.
    _is_implicitly_boolean = True
    inherit_cache = True
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("name", InternalTraversal.dp_string),
    ]

    def __init__(self, column, name: str) -> None:
        self.column = column
        self.name = name


def in_list(column, name: str) -> InList:
    """Return the condition that `column` is one of the values of list parameter `name`."""
    return InList(column, name)


@compiles(InList)
def _expanded(element: InList, compiler, **kw) -> str:
    return compiler.process(element.column.in_(bindparam(element.name, expanding=True)), **kw)


@compiles(InList, "postgresql")
def _any_of_array(element: InList, compiler, **kw) -> str:
    values = bindparam(element.name, type_=ARRAY(element.column.type))
    return compiler.process(element.column == any_(values), **kw)
