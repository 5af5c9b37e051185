"""Suggest point values for a model's rules from the outcomes of past leads.

The data: one row per (cut-off, lead) as the backtest builds it, with one
0/1 indicator per rule (did the rule give the lead points as of the
cut-off) and the label "converted within the horizon". An L2-regularised
logistic regression on the indicators of the rules with enough data gives
each rule a coefficient in log-odds. The coefficients are then put on the
model's point scale: one factor, the sum of the rules' mean contributions
over the sum of the coefficients' sizes, keeps the total size of the
points, so stage thresholds keep their meaning. An event rule's points per
event (and its cap) change by the ratio of its new to its mean contribution.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from leadq.errors import LeadqError
from leadq.evaluation.extras import require
from leadq.evaluation.point_in_time import Snapshot


class NotEnoughData(LeadqError):
    """The history cannot support a fit, such as one without conversions."""


@dataclass(frozen=True)
class FitSettings:
    min_leads: int = 50
    min_conversions: int = 5
    # Inverse strength of the L2 penalty, as scikit-learn's `C`.
    regularization: float = 1.0


@dataclass
class RuleEvidence:
    """The evidence for one rule, and the suggestion made from it."""

    section: str
    rule_id: str
    points: float
    max_points: float | None
    fired: int
    fired_converted: int
    not_fired: int
    not_fired_converted: int
    coefficient: float | None = None
    suggested_points: float | None = None
    suggested_max_points: float | None = None
    # Why the rule keeps its points, when it does.
    reason: str | None = None

    @property
    def rate_with(self) -> float | None:
        return self.fired_converted / self.fired if self.fired else None

    @property
    def rate_without(self) -> float | None:
        return self.not_fired_converted / self.not_fired if self.not_fired else None

    @property
    def changed(self) -> bool:
        return self.suggested_points is not None and (
            self.suggested_points != self.points
            or self.suggested_max_points != self.max_points
        )

    def lift(self, base_rate: float) -> float | None:
        rate = self.rate_with
        return rate / base_rate if rate is not None and base_rate else None


@dataclass
class Suggestions:
    rules: list[RuleEvidence]
    rows: int
    converted: int
    # Points per unit of log-odds.
    scale: float | None
    settings: FitSettings
    notes: list[str] = field(default_factory=list)

    @property
    def base_rate(self) -> float:
        return self.converted / self.rows if self.rows else 0.0

    def changes(self) -> list[RuleEvidence]:
        return [rule for rule in self.rules if rule.changed]

    def as_dict(self) -> dict:
        rules = []
        for rule in self.rules:
            rules.append(
                {
                    **asdict(rule),
                    "rate_with": rule.rate_with,
                    "rate_without": rule.rate_without,
                    "lift": rule.lift(self.base_rate),
                    "changed": rule.changed,
                }
            )
        return {
            "rows": self.rows,
            "converted": self.converted,
            "base_rate": self.base_rate,
            "points_per_log_odds": self.scale,
            "settings": asdict(self.settings),
            "rules": rules,
            "notes": self.notes,
        }


def suggest_points(
    snapshot: Snapshot, settings: FitSettings = FitSettings()
) -> Suggestions:
    """Fit the rules' indicators to conversions and suggest new points."""
    rows = snapshot.rows
    labels = np.asarray(
        rows["converted"].to_pylist() if rows.num_columns else [], dtype=bool
    )
    _check_labels(labels)
    compiled = {
        (rule.section, rule.rule_id): rule.column for rule in snapshot.compiled.rules
    }
    evidence, contributions = [], []
    for section, rule in snapshot.model.all_rules():
        values = np.asarray(
            rows[compiled[(section, rule.id)]].to_numpy(zero_copy_only=False),
            dtype=float,
        )
        evidence.append(_evidence(section, rule, values != 0, labels, settings))
        contributions.append(values)
    suggestions = Suggestions(evidence, len(labels), int(labels.sum()), None, settings)
    supported = [index for index, rule in enumerate(evidence) if rule.reason is None]
    if supported:
        _fit(suggestions, supported, contributions, labels)
    return suggestions


def _check_labels(labels: np.ndarray) -> None:
    if len(labels) == 0:
        raise NotEnoughData(
            "no lead was open at any cut-off, so there is nothing to fit; choose other --cutoff times"
        )
    if labels.all() or not labels.any():
        kind = "every" if labels.all() else "no"
        raise NotEnoughData(
            f"{kind} lead converted within the horizon, so the data cannot tell rules apart; "
            "choose other --cutoff times or another --horizon"
        )


def _evidence(
    section, rule, fired: np.ndarray, labels: np.ndarray, settings: FitSettings
) -> RuleEvidence:
    evidence = RuleEvidence(
        section=section,
        rule_id=rule.id,
        points=rule.points,
        max_points=getattr(rule, "max_points", None),
        fired=int(fired.sum()),
        fired_converted=int((fired & labels).sum()),
        not_fired=int((~fired).sum()),
        not_fired_converted=int((~fired & labels).sum()),
    )
    evidence.reason = _unsupported_reason(evidence, settings)
    return evidence


def _unsupported_reason(rule: RuleEvidence, settings: FitSettings) -> str | None:
    if rule.fired < settings.min_leads:
        return f"fired for {rule.fired:,} leads, fewer than --min-leads {settings.min_leads}"
    if rule.not_fired < settings.min_leads:
        return (
            f"fired for all but {rule.not_fired:,} leads, so the data cannot compare leads "
            f"with and without it (--min-leads {settings.min_leads})"
        )
    if rule.fired_converted < settings.min_conversions:
        return (
            f"{rule.fired_converted:,} of the {rule.fired:,} leads it fired for converted, "
            f"fewer than --min-conversions {settings.min_conversions}"
        )
    return None


def _fit(
    suggestions: Suggestions,
    supported: list[int],
    contributions: list[np.ndarray],
    labels: np.ndarray,
) -> None:
    require("sklearn")
    from sklearn.linear_model import LogisticRegression

    indicators = np.column_stack(
        [contributions[index] != 0 for index in supported]
    ).astype(float)
    fitted = LogisticRegression(
        C=suggestions.settings.regularization, max_iter=1000
    ).fit(indicators, labels)
    coefficients = fitted.coef_[0]
    means = np.array([_mean_when_fired(contributions[index]) for index in supported])
    size = np.abs(coefficients).sum()
    if size == 0:
        suggestions.notes.append(
            "every coefficient is 0: the penalty is too strong; raise --regularization"
        )
        return
    suggestions.scale = float(np.abs(means).sum() / size)
    whole = all(float(rule.points).is_integer() for rule in suggestions.rules)
    for position, index in enumerate(supported):
        rule = suggestions.rules[index]
        rule.coefficient = float(coefficients[position])
        _rescale(rule, suggestions.scale * rule.coefficient, means[position], whole)


def _mean_when_fired(values: np.ndarray) -> float:
    fired = values[values != 0]
    return float(fired.mean()) if len(fired) else 0.0


def _rescale(rule: RuleEvidence, target: float, mean: float, whole: bool) -> None:
    """Scale points (and the cap) so the rule's mean contribution becomes `target`."""
    ratio = target / mean if mean else 0.0
    rule.suggested_points = _rounded(rule.points * ratio, whole)
    rule.suggested_max_points = rule.max_points
    capped = (
        _rounded(abs(rule.max_points * ratio), whole)
        if rule.max_points is not None
        else None
    )
    if capped:
        rule.suggested_max_points = capped


def _rounded(value: float, whole: bool) -> float:
    result = float(round(value)) if whole else round(value, 1)
    return result + 0.0
