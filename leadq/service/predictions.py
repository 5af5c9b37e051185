"""The `predictive` section's probability for stored leads, as of a rescore.

Rescoring predicts each lead's conversion probability from its stored
attributes and events, with the features that `leadq train` uses, as of the
rescore time. The rule features come from the rescore's own run of the
compiled query on the store's connection, with unknown probabilities. The
probability is then bound into the leads table, and the query runs again
when a stage tests it (leadq.learning.predictive.with_prediction), so
probability conditions decide as they do in `leadq score`.

The artefact comes from leadq.service.artefacts, which loads it only from
the store's artefacts folder, once per model version and process.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING

from leadq.compiler.query import CompiledModel
from leadq.errors import InputError
from leadq.learning.predictive import Prediction, predict_as_of
from leadq.service.artefacts import loaded_artefact
from leadq.service.lead_tables import StoredLeads

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from leadq.learning.features import FeatureSpec, LeadData

log = logging.getLogger("leadq.service")

# The rule of the stored reason (section `predictive`) that contains the probability.
PROBABILITY_RULE = "probability"


def predict_stored(
    version_id: int,
    compiled: CompiledModel,
    stored: StoredLeads,
    as_of: int,
    artefacts: Path | None,
    scored: pa.Table,
) -> Prediction | None:
    """Predict the stored leads' probabilities as of `as_of` (microseconds UTC).

    `scored` is the compiled query's result over `stored.tables` as of
    `as_of`, run with unknown probabilities; the rule features come from
    it. Returns None without a `predictive` section, and when the artefact
    does not load from the artefacts folder: the error is logged once per
    model version, and probability conditions are then false, so events are
    still stored and scored.
    """
    if compiled.model.predictive is None:
        return None
    artefact = loaded_artefact(version_id, compiled, artefacts)
    if artefact is None:
        return None
    data = stored_lead_data(compiled, stored, artefact.spec)
    return predict_as_of(artefact, data, as_of, scored)


def stored_lead_data(compiled: CompiledModel, stored: StoredLeads, spec: FeatureSpec) -> LeadData:
    """Keep stored leads' bound tables with the attributes the features read."""
    from leadq.learning.features import bound_lead_data

    attributes = _attribute_frame(stored, spec)
    created = _created_times(attributes, spec.created) if spec.created else None
    return bound_lead_data(compiled, stored.tables, attributes, created)


def _attribute_frame(stored: StoredLeads, spec: FeatureSpec) -> pd.DataFrame:
    """Build one row per lead, indexed by lead key, with every column the model reads."""
    import pandas as pd

    keys = pd.Index(stored.tables.leads["lead_key"].to_pylist(), name="lead_key")
    frame = pd.DataFrame(stored.attributes, index=keys, dtype=object)
    needed = spec.categorical + spec.numeric + ([spec.created] if spec.created else [])
    for name in needed:
        if name not in frame.columns:
            frame[name] = None
    return frame


def _created_times(attributes: pd.DataFrame, column: str) -> pd.Series:
    """Parse each lead's created-at trait as `leadq score` does without --timezone.

    A value that does not parse is logged and counts as unknown, so one bad
    trait does not stop its lead from being scored.
    """
    import pandas as pd

    micros = [
        _created_micros(key, value, column) for key, value in attributes[column].items()
    ]
    return pd.Series(micros, index=attributes.index, dtype=float)


def _created_micros(lead_key: str, value, column: str) -> float:
    import pyarrow as pa

    from leadq.inputs import SourceTable, to_utc_micros

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return float("nan")
    text = pa.array([str(value)], pa.string())
    source = SourceTable(
        pa.table({column: text}), f"lead {lead_key}", "store", lambda i: ("row", i + 1)
    )
    try:
        parsed = to_utc_micros(text, source=source, column=column, timezone="UTC")
    except InputError as error:
        log.warning(
            "lead %s: invalid created-at trait %r, so the predictive model treats it as missing: %s",
            lead_key,
            column,
            error,
        )
        return float("nan")
    micros = parsed[0].as_py()
    return float("nan") if micros is None else float(micros)
