"""The `predictive` section's probability for stored leads, as of a rescore.

Rescoring predicts each lead's conversion probability from its stored
attributes and events, with the features that `leadq train` uses, as of the
rescore time. The probability is bound into the leads table before the
compiled query runs, as `leadq score` does for files, so probability
conditions of stages decide alike in both.

A stored model is text with no folder, so activation records the artefact's
absolute path in that text (`record_artefact_path`) and checks that the
artefact loads. Each process loads an artefact once per model version.
"""

from __future__ import annotations

import io
import logging
import math
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from ruamel.yaml import YAML

from leadq.compiler.query import CompiledModel
from leadq.errors import InputError, LeadqError, ModelError
from leadq.learning import require_learning
from leadq.learning.predictive import Prediction, predict_as_of
from leadq.service.lead_tables import StoredLeads

if TYPE_CHECKING:
    import pandas as pd

    from leadq.learning.artefact import Artefact
    from leadq.learning.features import FeatureSpec

log = logging.getLogger("leadq.service")

ARTEFACT_FIELD = "predictive.artefact"
# The rule of the stored reason (section `predictive`) that contains the probability.
PROBABILITY_RULE = "probability"

# (model version id, artefact path) -> the loaded artefact, or None when
# loading failed. The path is part of the key because a process may open
# several stores, whose version ids repeat.
_artefacts: dict[tuple[int, str], Artefact | None] = {}
_lock = threading.Lock()


def record_artefact_path(text: str, folder: Path | None, source: str) -> str:
    """Return the model text with `predictive.artefact` as an absolute path.

    A relative path starts from `folder`, the model file's folder. Text with
    no folder (a model sent over HTTP) must name an absolute path.
    """
    document = YAML(typ="rt").load(text)
    artefact = str(document["predictive"]["artefact"])
    if os.path.isabs(artefact):
        return text
    if folder is None:
        raise ModelError(
            f"the artefact path {artefact!r} is relative, and a model sent as "
            "text has no folder to resolve it from; give the absolute path, or "
            "run `leadq model activate FILE`",
            file=source,
            field=ARTEFACT_FIELD,
        )
    document["predictive"]["artefact"] = str((folder / artefact).resolve())
    return _dumped(document)


def _dumped(document) -> str:
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    stream = io.StringIO()
    yaml.dump(document, stream)
    return stream.getvalue()


def check_artefact(compiled: CompiledModel, source: str) -> Artefact:
    """Load the model's artefact; raise ModelError naming its path."""
    path = compiled.model.artefact_path()
    try:
        require_learning()
        from leadq.learning.artefact import load_artefact

        artefact = load_artefact(Path(path))
    except LeadqError as error:
        raise ModelError(str(error), file=source, field=ARTEFACT_FIELD) from None
    rule_ids = {rule.rule_id for rule in compiled.rules}
    missing = [rule for rule in artefact.spec.rules if rule not in rule_ids]
    if missing:
        raise ModelError(
            f"the artefact {path} reads the rules {', '.join(map(repr, missing))}, "
            "which the model does not have; train the predictive model again "
            "with `leadq train --model` on this model file",
            file=source,
            field=ARTEFACT_FIELD,
        )
    return artefact


def predict_stored(
    version_id: int, compiled: CompiledModel, stored: StoredLeads, as_of: int
) -> Prediction | None:
    """Predict the stored leads' probabilities as of `as_of` (microseconds UTC).

    Returns None without a `predictive` section, and when the artefact does
    not load: the error is logged once per model version, and probability
    conditions are then false, so events are still stored and scored.
    """
    if compiled.model.predictive is None:
        return None
    artefact = _loaded(version_id, compiled)
    if artefact is None:
        return None
    from leadq.learning.features import bound_lead_data

    # TODO: the rule features run the compiled query once more, on DuckDB as
    # in training, which is most of the time a prediction adds to a rescore.
    # The store's own run of the query would be cheaper, but its unrounded
    # contributions may differ from DuckDB's in the last bits.
    attributes = _attribute_frame(stored, artefact.spec)
    created = (
        _created_times(attributes, artefact.spec.created)
        if artefact.spec.created
        else None
    )
    data = bound_lead_data(compiled, stored.tables, attributes, created)
    return predict_as_of(artefact, data, as_of)


def _loaded(version_id: int, compiled: CompiledModel) -> Artefact | None:
    key = (version_id, compiled.model.artefact_path())
    with _lock:
        if key in _artefacts:
            return _artefacts[key]
    try:
        artefact = check_artefact(compiled, f"model version {version_id}")
    except LeadqError as error:
        log.error(
            "model version %d: no probabilities, the artefact did not load: %s",
            version_id,
            error,
        )
        artefact = None
    with _lock:
        _artefacts[key] = artefact
    return artefact


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
