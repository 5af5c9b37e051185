"""The `leadq train` command: evaluate predictive models, write the artefact and report."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from leadq.output import console


def train(
    leads: Annotated[Path, typer.Argument(help="Leads file: CSV, Parquet or JSON lines.", metavar="LEADS")],
    model: Annotated[Optional[Path], typer.Option("--model", "-m", help="Model file (YAML) whose rules become features. Default: the built-in B2B model.")] = None,
    events: Annotated[Optional[Path], typer.Option("--events", "-e", help="Events file.")] = None,
    outcomes: Annotated[Optional[Path], typer.Option("--outcomes", help="Outcomes file: the lead key, `outcome` (won, lost, reopened ...) and `at`.")] = None,
    label_column: Annotated[Optional[str], typer.Option("--label-column", help="Leads column that is 1 for converted leads, for data without timestamps; evaluated by cross-validation.")] = None,
    exclude: Annotated[Optional[list[str]], typer.Option("--exclude", help="Leads column that no feature may read, such as one filled in after the outcome; repeat for several.")] = None,
    missing_value: Annotated[Optional[list[str]], typer.Option("--missing-value", help="Text that means a missing answer, such as Select; repeat for several.")] = None,
    created_column: Annotated[Optional[str], typer.Option("--created-column", help="Leads column with the time each lead was created.")] = None,
    cutoff_start: Annotated[Optional[str], typer.Option("--cutoff-start", help="First cut-off date (ISO 8601), with --outcomes.")] = None,
    cutoff_end: Annotated[Optional[str], typer.Option("--cutoff-end", help="Last cut-off date (ISO 8601), with --outcomes.")] = None,
    every: Annotated[float, typer.Option("--every", min=0.01, help="Days between cut-offs.")] = 7,
    horizon: Annotated[float, typer.Option("--horizon", min=0.01, help="Days after a cut-off in which a conversion counts.")] = 30,
    test_from: Annotated[Optional[str], typer.Option("--test-from", help="Start of the held-out period (ISO 8601). Default: three quarters into the cut-off range.")] = None,
    folds: Annotated[int, typer.Option("--folds", min=2, help="Folds of the cross-validation, with --label-column.")] = 5,
    quick: Annotated[bool, typer.Option("--quick", help="One small LightGBM setting instead of the tuning grid: faster, a little less accurate.")] = False,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Directory to write the model artefact to.")] = None,
    report: Annotated[Optional[Path], typer.Option("--report", help="HTML report to write; its PNG plots go beside it.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the held-out metrics as one JSON line at the end.")] = False,
    timezone: Annotated[Optional[str], typer.Option("--timezone", help="IANA time zone of times written without an offset.")] = None,
    encoding: Annotated[Optional[str], typer.Option("--encoding", help="Text encoding of CSV files when not UTF-8.")] = None,
) -> None:
    """Train and evaluate predictive models of conversion; write the artefact and report."""
    from leadq.learning import require_learning

    require_learning()
    from leadq.learning.report import summary_table, write_report
    from leadq.learning.training import TrainingRequest, train as run_training
    from leadq.scoring import resolve_model

    scoring_model = resolve_model(model)
    request = TrainingRequest(
        scoring_model, leads, events, outcomes, label_column, list(exclude or []),
        list(missing_value or []), created_column, timezone, encoding,
        _moment(cutoff_start, scoring_model), _moment(cutoff_end, scoring_model),
        every, horizon, _moment(test_from, scoring_model), folds, quick,
    )  # fmt: skip
    result = run_training(request, output)
    out = console(stderr=as_json)
    out.print(summary_table(result.evaluation))
    if output is not None:
        out.print(f"wrote the {result.metadata['kind']} model artefact to {output}", markup=False)
    if report is not None:
        write_report(report, result.evaluation, scoring_model.name, result.training_set.spec.columns())
        out.print(f"wrote the report to {report}", markup=False)
    if as_json:
        metrics = {
            kind: {**r.metrics.as_dict(), "pooled_ece": r.pooled().ece}
            for kind, r in result.evaluation.results.items()
        }
        metrics["leadq"] = {"kind": result.evaluation.best(), **metrics[result.evaluation.best()]}
        metrics["rules"] = {"roc_auc": result.evaluation.rules_roc_auc}
        sys.stdout.write(json.dumps(metrics) + "\n")


def _moment(text, model):
    if text is None:
        return None
    from leadq.scoring import parse_as_of

    return parse_as_of(text, model)


def register(app: typer.Typer) -> None:
    app.command()(train)
