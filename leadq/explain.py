"""A lead's explanation for the terminal: every rule and the stage decision."""

from __future__ import annotations

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from leadq.model.schema import ActivityRule, FitRule
from leadq.output import printable
from leadq.results import ScoredLead, describe_test


def explain_panel(run, lead: ScoredLead) -> Panel:
    header = Text.assemble(
        ("stage ", "bold"),
        (lead.stage or "(none)", "bold cyan"),
        "  decided by ",
        printable(lead.stage_rule),
        "\n",
        ("fit ", "bold"),
        f"{lead.fit_score:g} (grade {lead.grade})   ",
        ("engagement ", "bold"),
        f"{lead.engagement_score:g}   ",
        ("product ", "bold"),
        f"{lead.product_score:g}   ",
        ("total ", "bold"),
        f"{lead.total_score:g}",
    )
    return Panel(
        Group(header, _rules_table(run, lead)),
        title=printable(lead.lead_id),
        title_align="left",
    )


def _rules_table(run, lead: ScoredLead) -> Table:
    rules = {rule.id: rule for _, rule in run.model.all_rules()}
    table = Table(header_style="bold", expand=False)
    table.add_column("section")
    table.add_column("rule")
    table.add_column("when")
    table.add_column("points", justify="right")
    for contribution in lead.contributions:
        rule = rules[contribution.rule_id]
        style = None if contribution.points else "dim"
        table.add_row(
            contribution.section,
            printable(contribution.rule_id),
            printable(describe_rule(rule)),
            f"{contribution.points:+.2f}",
            style=style,
        )
    return table


def plural_points(points: float) -> str:
    return f"{points:g} point" if abs(points) == 1 else f"{points:g} points"


def describe_rule(rule: FitRule | ActivityRule) -> str:
    """Write a rule's condition as a short phrase."""
    if isinstance(rule, FitRule):
        return describe_test(rule.field, rule)
    text = f"{', '.join(rule.events)}, {plural_points(rule.points)} each"
    tests = rule.property_tests()
    if tests:
        text += " where " + " and ".join(describe_test(n, t) for n, t in tests.items())
    if rule.unique_by:
        text += f", one per {rule.unique_by}"
    if rule.within_days:
        text += f", last {rule.within_days:g} days"
    if rule.max_points:
        text += f", max {rule.max_points:g}"
    return text
