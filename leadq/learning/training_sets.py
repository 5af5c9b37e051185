"""Training sets: features as of cut-off times with the label that followed.

At a cut-off T, the rows are the leads that exist at T and have not
converted by T; the label is 1 when the lead converted within the horizon
after T (T < conversion <= T + horizon). Data without timestamps gives one
snapshot: every lead once, with its recorded outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadq.binding import normalized_keys, renamed_leads
from leadq.errors import InputError
from leadq.inputs import SourceTable
from leadq.learning.features import DAY_MICROS, FeatureSpec, LeadData, features_as_of
from leadq.learning.labels import Outcome, conversion_times
from leadq.outcomes import is_converted
from leadq.scoring import micros_since_epoch

# Cut-off of a snapshot of data without timestamps.
SNAPSHOT = -1


@dataclass
class TrainingSet:
    features: pd.DataFrame
    labels: np.ndarray
    lead_keys: np.ndarray
    # The cut-off of each row, microseconds UTC (SNAPSHOT for a snapshot).
    cutoffs: np.ndarray
    # When each row's lead first appeared (NaN when unknown).
    first_seen: np.ndarray
    spec: FeatureSpec

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, rows: np.ndarray) -> TrainingSet:
        return TrainingSet(
            self.features.iloc[rows].reset_index(drop=True),
            self.labels[rows],
            self.lead_keys[rows],
            self.cutoffs[rows],
            self.first_seen[rows],
            self.spec,
        )


def point_in_time_set(
    data: LeadData,
    spec: FeatureSpec,
    cutoffs: list[int],
    horizon_days: float,
    history: list[Outcome],
) -> TrainingSet:
    """Stack the features of every cut-off with the label "converted within the horizon"."""
    converted = pd.Series(conversion_times(history), dtype=float).reindex(data.attributes.index)
    horizon = horizon_days * DAY_MICROS
    parts = []
    for cutoff in sorted(cutoffs):
        exists = data.first_seen.isna() | (data.first_seen <= cutoff)
        open_at_cutoff = converted.isna() | (converted > cutoff)
        rows = (exists & open_at_cutoff).to_numpy()
        features = features_as_of(data, spec, cutoff)[rows]
        labels = (converted[rows] <= cutoff + horizon).to_numpy(dtype=int)
        parts.append((features, labels, cutoff, data.first_seen[rows].to_numpy()))
    return _stacked(parts, spec)


def snapshot_set(
    data: LeadData, spec: FeatureSpec, leads: SourceTable, label_column: str, as_of: int
) -> TrainingSet:
    """Return every lead once, labelled by a column of the leads file such as Converted."""
    labels = _column_labels(data, leads, label_column)
    features = features_as_of(data, spec, as_of)
    return _stacked([(features, labels, SNAPSHOT, data.first_seen.to_numpy())], spec)


def _stacked(parts, spec: FeatureSpec) -> TrainingSet:
    features = pd.concat([part[0] for part in parts])
    keys = features.index.to_numpy(dtype=object)
    cutoffs = np.concatenate([np.full(len(part[1]), part[2], dtype=np.int64) for part in parts])
    return TrainingSet(
        features.reset_index(drop=True),
        np.concatenate([part[1] for part in parts]).astype(int),
        keys,
        cutoffs,
        np.concatenate([part[3] for part in parts]).astype(float),
        spec,
    )


def _column_labels(data: LeadData, leads: SourceTable, column: str) -> np.ndarray:
    """Return each lead's label from its row of the leads file.

    Every row is checked, so an invalid value is reported at its line even
    when a later row of the same lead key replaces it.
    """
    table = renamed_leads(leads, data.model.columns)
    if column not in table.column_names:
        raise InputError(
            f"missing the label column {column!r}; the leads file's columns are: "
            + ", ".join(repr(name) for name in table.column_names),
            file=leads.path,
        )
    values = pc.cast(table[column], pa.string()).to_pylist()
    labels = [int(is_converted(value, leads, row, column)) for row, value in enumerate(values)]
    keys = normalized_keys(pc.cast(table[data.model.key], pa.string()), data.model.key)
    by_key = pd.Series(labels, index=keys.to_pylist())
    # The last row of a repeated key wins, as in binding.
    by_key = by_key[~by_key.index.duplicated(keep="last")]
    return by_key.reindex(data.attributes.index).to_numpy(dtype=int)


def cutoff_range(start: datetime, end: datetime, every_days: float) -> list[int]:
    """Return cut-offs from `start` to `end` inclusive, `every_days` apart, in microseconds."""
    step = every_days * DAY_MICROS
    first, last = micros_since_epoch(start), micros_since_epoch(end)
    count = int((last - first) // step) + 1
    return [int(first + position * step) for position in range(count)]

