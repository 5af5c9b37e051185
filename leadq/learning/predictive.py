"""The probability of a model's `predictive` section, for leads from files or the store.

The probability is predicted in Python before the query runs, from the
features as of the scoring time, and bound into the leads table's
`probability` column. Every engine then reads the same value, so stage
conditions on it agree across engines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

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


def predict_as_of(artefact: Artefact, data: LeadData, as_of_micros: int) -> Prediction:
    """Predict from the features of `data` as of a time, in microseconds UTC."""
    from leadq.learning.features import features_as_of

    features = features_as_of(data, artefact.spec, as_of_micros)
    probabilities = artefact.probabilities(features).tolist()
    reasons = [json.dumps(items) for items in artefact.reasons(features)]
    return Prediction(probabilities, dict(zip(features.index.tolist(), reasons)))


def reasons_column(lead_ids: pa.ChunkedArray, prediction: Prediction) -> pa.Array:
    return pa.array([prediction.reasons.get(key, "[]") for key in lead_ids.to_pylist()], pa.string())
