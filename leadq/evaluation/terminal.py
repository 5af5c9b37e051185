"""Rich tables of backtests, suggestions and reports for the terminal."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from leadq.evaluation.backtest import Backtest, ModelResult
from leadq.evaluation.funnel import Breakdown
from leadq.evaluation.model_edits import format_number
from leadq.evaluation.report import Report
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
    table = Table(
        title="Leads per stage and conversions in the horizon", header_style="bold"
    )
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
    table.add_row(
        "all", *_total_cells(backtest.a), *_total_cells(backtest.b), style="bold"
    )
    return table


def _stage_cells(result) -> list[str]:
    if result is None:
        return ["-", "-", "-", "-"]
    return [
        f"{result.leads:,}",
        f"{result.converted:,}",
        percent(result.rate),
        days(result.median_days),
    ]


def _total_cells(result: ModelResult) -> list[str]:
    rate = result.converted / result.leads if result.leads else None
    return [f"{result.leads:,}", f"{result.converted:,}", percent(rate), ""]


def _qualified_table(backtest: Backtest) -> Table:
    table = Table(
        title="MQL or better as a prediction of conversion", header_style="bold"
    )
    for name in (
        "model",
        "file",
        "qualified stages",
        "qualified",
        "converted",
        "precision",
        "recall",
    ):
        table.add_column(
            name,
            justify="left"
            if name in ("model", "file", "qualified stages")
            else "right",
        )
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
    table = Table(
        title="Rows whose stage differs, by stage in A and in B", header_style="bold"
    )
    for name in ("stage in A", "stage in B", "rows", "converted"):
        table.add_column(
            name, justify="right" if name in ("rows", "converted") else "left"
        )
    converted = {}
    for difference in backtest.differences:
        pair = (difference.stage_a, difference.stage_b)
        converted[pair] = converted.get(pair, 0) + difference.converted
    for (stage_a, stage_b), count in backtest.moves().most_common():
        table.add_row(
            Text(stage_a),
            Text(stage_b),
            f"{count:,}",
            f"{converted[(stage_a, stage_b)]:,}",
        )
    return table


def _differences_table(backtest: Backtest, limit: int) -> Table:
    shown = backtest.differences if not limit else backtest.differences[:limit]
    caption = None
    if len(shown) < len(backtest.differences):
        caption = f"showing {len(shown):,} of {len(backtest.differences):,}; --limit 0 shows all"
    table = Table(
        title="Leads whose stage differs", header_style="bold", caption=caption
    )
    for name in (
        "lead",
        "cut-off",
        "stage in A",
        "stage in B",
        "converted",
        "days to conversion",
    ):
        table.add_column(
            name, justify="right" if name == "days to conversion" else "left"
        )
    for d in shown:
        table.add_row(
            Text(d.lead),
            d.cutoff,
            Text(d.stage_a),
            Text(d.stage_b),
            "yes" if d.converted else "no",
            days(d.days_to_conversion),
        )
    return table


def evidence_table(suggestions: Suggestions) -> Table:
    base = percent(suggestions.base_rate)
    title = f"Evidence per rule ({suggestions.rows:,} leads at the cut-offs, {base} converted)"
    table = Table(title=title, header_style="bold")
    for name in (
        "rule",
        "points",
        "suggested",
        "fired for",
        "converted with",
        "converted without",
        "lift",
        "note",
    ):
        table.add_column(name, justify="left" if name in ("rule", "note") else "right")
    for rule in suggestions.rules:
        lift = rule.lift(suggestions.base_rate)
        table.add_row(
            Text(f"{rule.section}.{rule.rule_id}"),
            _points(rule.points, rule.max_points),
            _points(rule.suggested_points, rule.suggested_max_points)
            if rule.changed
            else "unchanged",
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


def report_tables(report: Report) -> list[Table]:
    tables = [breakdown_table(b) for b in report.breakdowns]
    tables += [_deciles_table(report), _forecast_table(report)]
    if report.stage_times is not None:
        tables.append(_stage_times_table(report))
    return tables


def breakdown_table(breakdown: Breakdown) -> Table:
    table = Table(
        title=f"Leads and conversions by {breakdown.dimension}", header_style="bold"
    )
    table.add_column(breakdown.dimension)
    for name in ("leads", "converted", "lost", "open", "rate"):
        table.add_column(name, justify="right")
    for group in breakdown.groups:
        table.add_row(Text(group.group), *_count_cells(group))
    table.add_row("all", *_count_cells(breakdown.total()), style="bold")
    return table


def _count_cells(group) -> list[str]:
    return [
        f"{group.leads:,}",
        f"{group.converted:,}",
        f"{group.lost:,}",
        f"{group.open:,}",
        percent(group.rate),
    ]


def _deciles_table(report: Report) -> Table:
    calibration = report.calibration
    rise = (
        "rates rise with the score"
        if calibration.rates_rise()
        else "rates do not always rise with the score"
    )
    caption = f"{calibration.method}; {rise}"
    table = Table(
        title="Conversion rate by score decile", header_style="bold", caption=caption
    )
    for name in ("decile", "scores", "leads", "converted", "rate"):
        table.add_column(name, justify="right")
    predicted = any(d.mean_probability is not None for d in calibration.deciles)
    if predicted:
        table.add_column("mean probability", justify="right")
    for d in calibration.deciles:
        cells = [
            str(d.decile),
            f"{d.min_score:g}-{d.max_score:g}",
            f"{d.leads:,}",
            f"{d.converted:,}",
            percent(d.rate),
        ]
        table.add_row(*cells, *([percent(d.mean_probability)] if predicted else []))
    return table


def _forecast_table(report: Report) -> Table:
    result = report.forecast
    level = f"{100 * result.level:g}%"
    table = Table(
        title="Forecast of the open leads", header_style="bold", show_header=False
    )
    table.add_column("what")
    table.add_column("value", overflow="fold")
    table.add_row("open leads", f"{result.open_leads:,}")
    table.add_row("expected conversions", f"{result.expected:,.1f}")
    table.add_row(
        f"{level} interval",
        f"{result.low:,.0f} to {result.high:,.0f} ({result.method})",
    )
    table.add_row("probabilities from", Text(result.probability_source))
    if result.expected_value is not None:
        table.add_row("expected pipeline value", f"{result.expected_value:,.2f}")
        table.add_row(
            f"{level} interval of the value",
            f"{result.value_low:,.2f} to {result.value_high:,.2f} (normal approximation)",
        )
        table.add_row("values from", Text(result.value_source))
    return table


def _stage_times_table(report: Report) -> Table:
    table = Table(title="Days in stage, from the stage history", header_style="bold")
    for name in (
        "stage",
        "ended stays",
        "median days",
        "current stays",
        "median days so far",
    ):
        table.add_column(name, justify="left" if name == "stage" else "right")
    for t in report.stage_times:
        table.add_row(
            Text(t.stage),
            f"{t.ended_stays:,}",
            days(t.median_days),
            f"{t.current_stays:,}",
            days(t.median_days_so_far),
        )
    return table
