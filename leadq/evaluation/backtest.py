"""Backtest two models over the same history, side by side.

Both models score the same (cut-off, lead) rows (see point_in_time). For
each model the backtest counts per stage the leads, the conversions in the
horizon, the conversion rate and the median days from the cut-off to the
conversion. It then treats "MQL or better" as a prediction of conversion:
precision is the share of qualified rows that converted, recall the share
of converted rows that were qualified. Rows whose stage differs between
the models are listed.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field

from leadq.errors import OptionError
from leadq.evaluation.point_in_time import CutoffPlan, Snapshot, format_time
from leadq.model.schema import ScoringModel

# The qualified stages from the least to the most advanced: a lead in mql
# or a stage after it in this list counts as "MQL or better".
QUALIFIED_LADDER = ("mql", "sql", "pql")
NO_STAGE = "(none)"


@dataclass(frozen=True)
class StageResult:
    stage: str
    leads: int
    converted: int
    rate: float | None
    median_days: float | None


@dataclass
class ModelResult:
    """One model's backtest: per stage results and the qualified prediction."""

    name: str
    path: str
    stages: list[StageResult]
    qualified_stages: list[str]
    leads: int
    converted: int
    qualified: int
    qualified_converted: int
    # The per stage results of each cut-off alone, by cut-off.
    stages_by_cutoff: dict[str, list[StageResult]] = field(default_factory=dict)

    @property
    def precision(self) -> float | None:
        return _ratio(self.qualified_converted, self.qualified)

    @property
    def recall(self) -> float | None:
        return _ratio(self.qualified_converted, self.converted)

    def as_dict(self) -> dict:
        return {**asdict(self), "precision": self.precision, "recall": self.recall}


@dataclass(frozen=True)
class StageDifference:
    lead: str
    cutoff: str
    stage_a: str
    stage_b: str
    converted: bool
    days_to_conversion: float | None


@dataclass
class Backtest:
    cutoffs: list[str]
    horizon_days: float
    a: ModelResult
    b: ModelResult
    differences: list[StageDifference]
    notes: list[str] = field(default_factory=list)

    def moves(self) -> Counter:
        """Count rows by their (stage in A, stage in B) pair."""
        return Counter((d.stage_a, d.stage_b) for d in self.differences)

    def as_dict(self) -> dict:
        return {
            "cutoffs": self.cutoffs,
            "horizon_days": self.horizon_days,
            "models": {"a": self.a.as_dict(), "b": self.b.as_dict()},
            "stage_differences": [asdict(d) for d in self.differences],
            "notes": self.notes,
        }


def qualified_stages(model: ScoringModel, given: list[str] | None) -> list[str]:
    """Return the stages that count as MQL or better for a model."""
    ids = [stage.id for stage in model.stages]
    if given:
        unknown = [stage for stage in given if stage not in ids]
        if unknown:
            raise OptionError(
                f"--qualified {', '.join(unknown)}: model {model.name!r} has no such "
                f"stage; its stages are {', '.join(ids)}"
            )
        return list(given)
    ladder = [stage for stage in QUALIFIED_LADDER if stage in ids]
    if "mql" not in ladder:
        raise OptionError(
            f"model {model.name!r} has no stage named mql, so 'MQL or better' is not "
            f"defined; name the qualified stages with --qualified, such as "
            f"--qualified {ids[0]}"
        )
    return ladder


def run_backtest(
    a: Snapshot,
    b: Snapshot,
    plan: CutoffPlan,
    labels,
    paths: tuple[str, str],
    qualified: list[str] | None = None,
) -> Backtest:
    """Compare two snapshots of the same rows; `labels` maps lead ids to keys."""
    results = [
        model_result(snapshot, path, qualified_stages(snapshot.model, qualified))
        for snapshot, path in zip((a, b), paths)
    ]
    return Backtest(
        cutoffs=[format_time(c) for c in plan.cutoffs],
        horizon_days=plan.horizon_days,
        a=results[0],
        b=results[1],
        differences=stage_differences(a, b, labels),
        notes=list(plan.notes),
    )


def model_result(snapshot: Snapshot, path: str, qualified: list[str]) -> ModelResult:
    rows = _rows(snapshot)
    stages = snapshot.model.ranked_stage_ids()
    picked = [r for r in rows if r["stage"] in qualified]
    by_cutoff = {
        format_time(cutoff): _stage_results(
            stages, [r for r in rows if r["cutoff"] == cutoff]
        )
        for cutoff in snapshot.cutoffs
    }
    return ModelResult(
        name=snapshot.model.name,
        path=path,
        stages=_stage_results(stages, rows),
        stages_by_cutoff=by_cutoff,
        qualified_stages=qualified,
        leads=len(rows),
        converted=sum(r["converted"] for r in rows),
        qualified=len(picked),
        qualified_converted=sum(r["converted"] for r in picked),
    )


def _stage_results(stages: list[str], rows: list[dict]) -> list[StageResult]:
    results = [
        _stage_result(stage, [r for r in rows if r["stage"] == stage])
        for stage in stages
    ]
    unstaged = [r for r in rows if r["stage"] not in stages]
    if unstaged:
        results.append(_stage_result(NO_STAGE, unstaged))
    return results


def _rows(snapshot: Snapshot) -> list[dict]:
    if snapshot.rows.num_columns == 0:
        return []
    return snapshot.rows.select(
        ["cutoff", "lead_id", "stage", "converted", "days_to_conversion"]
    ).to_pylist()


def _stage_result(stage: str, rows: list[dict]) -> StageResult:
    days = [r["days_to_conversion"] for r in rows if r["converted"]]
    converted = len(days)
    return StageResult(
        stage=stage,
        leads=len(rows),
        converted=converted,
        rate=_ratio(converted, len(rows)),
        median_days=round(statistics.median(days), 2) if days else None,
    )


def stage_differences(a: Snapshot, b: Snapshot, labels) -> list[StageDifference]:
    stages_b = {(r["cutoff"], r["lead_id"]): r["stage"] for r in _rows(b)}
    differences = []
    for row in _rows(a):
        stage_b = stages_b.get((row["cutoff"], row["lead_id"]))
        if stage_b == row["stage"]:
            continue
        differences.append(
            StageDifference(
                lead=labels(row["lead_id"]),
                cutoff=format_time(row["cutoff"]),
                stage_a=row["stage"] or NO_STAGE,
                stage_b=stage_b or NO_STAGE,
                converted=row["converted"],
                days_to_conversion=row["days_to_conversion"],
            )
        )
    return differences


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None
