"""Rich tables of backtests, suggestions and reports for the terminal."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from leadq.evaluation.backtest import Backtest, ModelResult
from leadq.evaluation.model_edits import format_number
from leadq.evaluation.suggestions import Suggestions


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def days(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def backtest_tables(backtest: Backtest, limit: int) -> list[Table]:
    tables = [_stage_table(backtest), _qualified_table(backtest)]
    if backtest.differences:
        tables.append(_moves_table(backtest))
        tables.append(_differences_table(backtest, limit))
    return tables


def _stage_table(backtest: Backtest) -> Table:
    table = Table(title="Leads per stage and conversions in the horizon", header_style="bold")
    table.add_column("stage")
    for label in ("A", "B"):
        table.add_column(f"{label} leads", justify="right")
        table.add_column(f"{label} converted", justify="right")
        table.add_column(f"{label} rate", justify="right")
        table.add_column(f"{label} median days", justify="right")
    a = {s.stage: s for s in backtest.a.stages}
    b = {s.stage: s for s in backtest.b.stages}
    for stage in list(a) + [s for s in b if s not in a]:
        cells = []
        for results in (a, b):
            cells += _stage_cells(results.get(stage))
        table.add_row(Text(stage), *cells)
    table.add_row("all", *_total_cells(backtest.a), *_total_cells(backtest.b), style="bold")
    return table


def _stage_cells(result) -> list[str]:
    if result is None:
        return ["-", "-", "-", "-"]
    return [f"{result.leads:,}", f"{result.converted:,}", percent(result.rate), days(result.median_days)]


def _total_cells(result: ModelResult) -> list[str]:
    rate = result.converted / result.leads if result.leads else None
    return [f"{result.leads:,}", f"{result.converted:,}", percent(rate), ""]


def _qualified_table(backtest: Backtest) -> Table:
    table = Table(title="MQL or better as a prediction of conversion", header_style="bold")
    for name in ("model", "file", "qualified stages", "qualified", "converted", "precision", "recall"):
        table.add_column(name, justify="left" if name in ("model", "file", "qualified stages") else "right")
    for label, result in (("A", backtest.a), ("B", backtest.b)):
        table.add_row(
            Text(f"{label}: {result.name}"),
            Text(result.path),
            Text(", ".join(result.qualified_stages)),
            f"{result.qualified:,}",
            f"{result.qualified_converted:,}",
            percent(result.precision),
            percent(result.recall),
        )
    return table


def _moves_table(backtest: Backtest) -> Table:
    table = Table(title="Rows whose stage differs, by stage in A and in B", header_style="bold")
    for name in ("stage in A", "stage in B", "rows", "converted"):
        table.add_column(name, justify="right" if name in ("rows", "converted") else "left")
    converted = {}
    for difference in backtest.differences:
        pair = (difference.stage_a, difference.stage_b)
        converted[pair] = converted.get(pair, 0) + difference.converted
    for (stage_a, stage_b), count in backtest.moves().most_common():
        table.add_row(Text(stage_a), Text(stage_b), f"{count:,}", f"{converted[(stage_a, stage_b)]:,}")
    return table


def _differences_table(backtest: Backtest, limit: int) -> Table:
    shown = backtest.differences if not limit else backtest.differences[:limit]
    caption = None
    if len(shown) < len(backtest.differences):
        caption = f"showing {len(shown):,} of {len(backtest.differences):,}; --limit 0 shows all"
    table = Table(title="Leads whose stage differs", header_style="bold", caption=caption)
    for name in ("lead", "cut-off", "stage in A", "stage in B", "converted", "days to conversion"):
        table.add_column(name, justify="right" if name == "days to conversion" else "left")
    for d in shown:
        table.add_row(Text(d.lead), d.cutoff, Text(d.stage_a), Text(d.stage_b), "yes" if d.converted else "no", days(d.days_to_conversion))
    return table


def evidence_table(suggestions: Suggestions) -> Table:
    base = percent(suggestions.base_rate)
    title = f"Evidence per rule ({suggestions.rows:,} leads at the cut-offs, {base} converted)"
    table = Table(title=title, header_style="bold")
    for name in ("rule", "points", "suggested", "fired for", "converted with", "converted without", "lift", "note"):
        table.add_column(name, justify="left" if name in ("rule", "note") else "right")
    for rule in suggestions.rules:
        lift = rule.lift(suggestions.base_rate)
        table.add_row(
            Text(f"{rule.section}.{rule.rule_id}"),
            _points(rule.points, rule.max_points),
            _points(rule.suggested_points, rule.suggested_max_points) if rule.changed else "unchanged",
            f"{rule.fired:,}",
            percent(rule.rate_with),
            percent(rule.rate_without),
            "-" if lift is None else f"{lift:.2f}",
            Text(rule.reason or ""),
        )
    return table


def _points(points: float | None, cap: float | None) -> str:
    if points is None:
        return "-"
    text = format_number(points)
    return text if cap is None else f"{text} (max {format_number(cap)})"
