"""The probability of a model's `predictive` section, for leads from files or the store.

The probability is predicted in Python from the features as of the scoring
time and bound into the leads table's `probability` column. Every engine
then reads the same value, so stage conditions on it agree across engines.

`leadq score` predicts before its query runs, with the rule features from
a run on DuckDB. The service and backtests run their query first, with
unknown probabilities, and read the rule features from that result
(`with_prediction`); the query runs again only when a stage tests the
probability.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from leadq.binding import with_probability
from leadq.compiler.query import CompiledModel
from leadq.engines import EngineTables
from leadq.inputs import SourceTable
from leadq.learning import require_learning

if TYPE_CHECKING:
    from leadq.learning.artefact import Artefact
    from leadq.learning.features import LeadData


@dataclass
class Prediction:
    # Aligned with the rows of the engine's leads table.
    probabilities: list[float]
    reasons: dict[str, str]  # lead key -> reasons as JSON text


def predict_leads(
    compiled: CompiledModel,
    leads: SourceTable,
    events: SourceTable | None,
    tables: EngineTables,
    as_of_micros: int,
    timezone: str | None,
) -> Prediction:
    """Predict each lead's conversion probability and its top factors."""
    require_learning()
    from leadq.learning.artefact import load_artefact
    from leadq.learning.features import lead_data

    artefact = load_artefact(Path(compiled.model.artefact_path()))
    data = lead_data(
        compiled, leads, events, timezone=timezone,
        created_column=artefact.spec.created, tables=tables,
    )  # fmt: skip
    return predict_as_of(artefact, data, as_of_micros)


def predict_as_of(
    artefact: Artefact, data: LeadData, as_of_micros: int, scored: pa.Table | None = None
) -> Prediction:
    """Predict from the features of `data` as of a time, in microseconds UTC.

    `scored` is the compiled query's result over `data.tables` as of that
    time, if the caller has run it (see features_as_of).
    """
    from leadq.learning.features import features_as_of

    features = features_as_of(data, artefact.spec, as_of_micros, scored)
    probabilities = artefact.probabilities(features).tolist()
    reasons = [json.dumps(items) for items in artefact.reasons(features)]
    return Prediction(probabilities, dict(zip(features.index.tolist(), reasons)))


def with_prediction(
    compiled: CompiledModel,
    tables: EngineTables,
    scored: pa.Table,
    prediction: Prediction,
    run_query: Callable[[EngineTables], pa.Table],
) -> pa.Table:
    """Return the query's result with each lead's predicted probability.

    `scored` is the result of `run_query(tables)` with unknown
    probabilities. When a stage tests the probability, the query runs
    again on a copy of the tables with the probabilities bound, and
    `tables` stays as it was. Otherwise no stage depends on the
    probability, so only the result's `probability` column is set.
    """
    if compiled.model.tests_probability():
        leads = with_probability(tables.leads, compiled.layout, prediction.probabilities)
        return run_query(EngineTables(leads, tables.events))
    by_key = dict(zip(tables.leads["lead_key"].to_pylist(), prediction.probabilities))
    column = pa.array([by_key.get(key) for key in scored["lead_key"].to_pylist()], pa.float64())
    if "probability" in scored.column_names:
        return scored.set_column(scored.column_names.index("probability"), "probability", column)
    return scored.append_column("probability", column)


def reasons_column(lead_ids: pa.ChunkedArray, prediction: Prediction) -> pa.Array:
    return pa.array([prediction.reasons.get(key, "[]") for key in lead_ids.to_pylist()], pa.string())
