"""Rewrite the compiled query for Spark SQL, keeping what it computes.

Spark (4.3) inlines a deterministic common table expression at every
reference, so the query computes such a CTE once per reference, and every
CROSS JOIN with the one-row `params` CTE becomes a broadcast nested loop
join. For Spark the tree is therefore rewritten:

- each read of `params.as_of` becomes the named parameter `:as_of`, cast
  to BIGINT as `params` casts it. Spark binds the parameter as a literal,
  so its optimizer folds the constants, and `params` and its joins go.
- each CTE that the query reads more than once becomes a statement of its
  own. leadq.spark caches its result as a temporary view, and the later
  statements read that view in place of the CTE.

The as-of time stays the only parameter: model values remain sqlglot
literals, as in every dialect.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlglot import exp

from leadq.compiler.query import CompiledModel

AS_OF_PARAMETER = "as_of"
PARAMS = "params"


@dataclass(frozen=True)
class SparkStatements:
    """The SQL of one run: views to cache, in order, then the final query."""

    views: list[tuple[str, str]]
    query: str


def spark_statements(
    compiled: CompiledModel, tables: dict[str, str], suffix: str
) -> SparkStatements:
    """Split the query into cached views and a final query for Spark.

    `tables` renames the input tables, as CompiledModel.sql does; each view
    is named `leadq_<cte>_<suffix>`, so runs in one session never share one.
    """
    query = _with_as_of_parameter(compiled.tree(tables))
    ctes = query.args["with_"].expressions
    shared = _read_more_than_once(query, {cte.alias for cte in ctes})
    views: list[tuple[str, str]] = []
    renames: dict[str, str] = {}
    read_once: dict[str, exp.Query] = {}
    for cte in ctes:
        body = _reading_views(cte.this, renames)
        if cte.alias not in shared:
            read_once[cte.alias] = body
            continue
        view = f"leadq_{cte.alias}_{suffix}"
        views.append((view, _inlining_ctes(body, read_once).sql(dialect="spark")))
        renames[cte.alias] = view
    final = query.copy()
    final.set("with_", None)
    final = _with_ctes(_reading_views(final, renames), read_once)
    return SparkStatements(views, final.sql(dialect="spark"))


def _with_as_of_parameter(query: exp.Select) -> exp.Select:
    """Read the as-of time from the named parameter instead of `params`."""
    query = query.transform(_as_of_reference)
    with_ = query.args["with_"]
    with_.set("expressions", [cte for cte in with_.expressions if cte.alias != PARAMS])
    return query


def _as_of_reference(node: exp.Expression) -> exp.Expression | None:
    if isinstance(node, exp.Join) and _is_params(node.this):
        return None
    if isinstance(node, exp.Column) and node.table == PARAMS:
        return _as_of()
    if isinstance(node, exp.Subquery) and isinstance(node.this, exp.Select):
        source = node.this.args.get("from_")
        if source is not None and _is_params(source.this):
            return _as_of()
    return node


def _is_params(node: exp.Expression) -> bool:
    return isinstance(node, exp.Table) and node.name == PARAMS and not node.db


def _as_of() -> exp.Expression:
    return exp.cast(exp.Placeholder(this=AS_OF_PARAMETER), "BIGINT")


def _read_more_than_once(query: exp.Expression, names: set[str]) -> set[str]:
    counts = Counter(name for name in _references(query) if name in names)
    return {name for name, count in counts.items() if count > 1}


def _references(node: exp.Expression) -> list[str]:
    """Name every table that `node` reads, once per reference."""
    return [table.name for table in node.find_all(exp.Table) if not table.db]


def _reading_views(node: exp.Expression, renames: dict[str, str]) -> exp.Expression:
    """Read each cached CTE from its view, under the CTE's name as alias."""

    def renamed(table: exp.Expression) -> exp.Expression:
        if isinstance(table, exp.Table) and not table.db and table.name in renames:
            return exp.to_table(renames[table.name]).as_(table.alias or table.name)
        return table

    return node.transform(renamed)


def _inlining_ctes(body: exp.Expression, ctes: dict[str, exp.Query]) -> exp.Expression:
    """Replace each read of a CTE with its query as a subquery.

    Spark does not match a cached plan that contains a CTE to the view
    that reads it, so the statements of cached views have none.
    """

    def inlined(table: exp.Expression) -> exp.Expression:
        if isinstance(table, exp.Table) and not table.db and table.name in ctes:
            query = _inlining_ctes(ctes[table.name], ctes)
            return query.subquery(table.alias or table.name)
        return table

    return body.transform(inlined)


def _with_ctes(body: exp.Expression, ctes: dict[str, exp.Query]) -> exp.Expression:
    """Attach the CTEs that `body` reads, directly or through other CTEs."""
    needed: set[str] = set()
    pending = [name for name in _references(body) if name in ctes]
    while pending:
        name = pending.pop()
        if name not in needed:
            needed.add(name)
            pending += [n for n in _references(ctes[name]) if n in ctes]
    for name in ctes:
        if name in needed:
            body = body.with_(name, as_=ctes[name])
    return body
