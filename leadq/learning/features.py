"""Point-in-time features: what was known about each lead at a cut-off time T.

Features of a lead as of T:

- `field:NAME`: a lead attribute from the leads file, text or number
- `fields:missing`: how many text attributes are missing
- `events:NAME:7d` (and each window), `events:NAME:all`: events of that name
  in the window before T, and all events up to T
- `days_since:NAME`: days from the lead's last event of that name to T
- `days_since:created`: days from the lead's first appearance to T
- `rule:ID`, `score:SECTION`: the scoring model's rule contributions and
  section scores as of T, from the compiled query: the caller's run of it
  on any engine, or a run on DuckDB

Events after T never count. Lead attributes have no history in a leads
file, so a lead enters a cut-off's rows only once it exists: its
created-at time (a leads column named on the command line) or its first
event is at or before T. A lead with neither is present at every cut-off.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadq.binding import bind, renamed_leads
from leadq.compiler.query import SCORE_DECIMALS, CompiledModel
from leadq.engines import EngineTables, run
from leadq.errors import InputError
from leadq.inputs import SourceTable, to_utc_micros
from leadq.model.schema import ScoringModel

DAY_MICROS = 86_400_000_000
WINDOWS = (7, 30, 90)
# Text columns with more distinct values than this share of the leads are
# ids (such as a second lead number), which no model can learn from.
ID_LIKE_SHARE = 0.5
MAX_EVENT_NAMES = 30


@dataclass
class FeatureSpec:
    """The features a predictive model reads, fixed when it is trained."""

    categorical: list[str] = field(default_factory=list)
    numeric: list[str] = field(default_factory=list)
    event_names: list[str] = field(default_factory=list)
    windows: list[int] = field(default_factory=lambda: list(WINDOWS))
    rules: list[str] = field(default_factory=list)
    missing_values: list[str] = field(default_factory=list)
    # The leads column with each lead's created-at time, if any.
    created: str | None = None

    def categorical_columns(self) -> list[str]:
        return [f"field:{name}" for name in self.categorical]

    def numeric_columns(self) -> list[str]:
        columns = [f"field:{name}" for name in self.numeric]
        if self.categorical:
            columns.append("fields:missing")
        for name in self.event_names:
            columns += [f"events:{name}:{days}d" for days in self.windows]
            columns += [f"events:{name}:all", f"days_since:{name}"]
        if self.created:
            columns.append("days_since:created")
        columns += [f"rule:{rule}" for rule in self.rules]
        return columns + ["score:fit", "score:engagement", "score:product"]

    def columns(self) -> list[str]:
        return self.categorical_columns() + self.numeric_columns()

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class LeadData:
    """Leads and events read and bound once, for features at any cut-off."""

    compiled: CompiledModel
    tables: EngineTables
    # One row per lead key, in the order of the engine's leads table.
    attributes: pd.DataFrame
    # lead_key, event_name, ts: one row per event id, known leads only.
    events: pd.DataFrame
    # When each lead first appears, microseconds UTC; NaN when unknown.
    first_seen: pd.Series

    @property
    def model(self) -> ScoringModel:
        return self.compiled.model


def lead_data(
    compiled: CompiledModel,
    leads: SourceTable,
    events: SourceTable | None,
    *,
    timezone: str | None = None,
    created_column: str | None = None,
    tables: EngineTables | None = None,
) -> LeadData:
    """Bind the files for the engine (unless `tables` are the bound files) and
    keep their attributes and events for features."""
    if tables is None:
        tables, _ = bind(compiled.model, compiled.layout, leads, events, timezone=timezone)
    keys = tables.leads["lead_key"].to_pylist()
    attributes = _attributes(compiled.model, leads, keys)
    created = None
    if created_column is not None:
        created = _created_times(leads, attributes, created_column, timezone)
    return bound_lead_data(compiled, tables, attributes, created)


def bound_lead_data(
    compiled: CompiledModel,
    tables: EngineTables,
    attributes: pd.DataFrame,
    created: pd.Series | None = None,
) -> LeadData:
    """Keep bound tables with their leads' attributes for features.

    `attributes` has one row per row of `tables.leads`, indexed by lead key;
    `created` contains each lead's created-at time in microseconds UTC (NaN
    when unknown).
    """
    keys = tables.leads["lead_key"].to_pylist()
    event_frame = _event_frame(tables, keys)
    first_seen = event_frame.groupby("lead_key")["ts"].min().reindex(keys).astype(float)
    if created is not None:
        first_seen = pd.concat([first_seen, created], axis=1).min(axis=1)
    return LeadData(compiled, tables, attributes, event_frame, first_seen)


def _attributes(model: ScoringModel, source: SourceTable, keys: list[str]) -> pd.DataFrame:
    table = renamed_leads(source, model.columns)
    frame = table.to_pandas(types_mapper=None)
    key_text = frame[model.key].astype("string").str.strip()
    if model.key == "email":
        key_text = key_text.str.lower()
    frame.index = pd.Index(key_text, name="lead_key")
    # The last row of a repeated key wins, as in binding.
    frame = frame[~frame.index.duplicated(keep="last")]
    return frame.reindex(keys)


def _event_frame(tables: EngineTables, keys: list[str]) -> pd.DataFrame:
    events = tables.events.select(["event_id", "lead_code", "event_name", "ts"])
    events = events.filter(pc.is_valid(events["lead_code"]))
    frame = events.to_pandas()
    # Repeated event ids count once, the earliest, as in the compiled query.
    frame = frame.sort_values(["ts"], kind="stable").drop_duplicates("event_id")
    frame["lead_key"] = np.asarray(keys, dtype=object)[frame["lead_code"].to_numpy()]
    return frame[["lead_key", "event_name", "ts"]].reset_index(drop=True)


def _created_times(source, attributes: pd.DataFrame, column: str, timezone) -> pd.Series:
    if column not in attributes.columns:
        raise InputError(
            f"missing the created-at column {column!r}; the file's columns are: "
            + ", ".join(repr(name) for name in attributes.columns),
            file=source.path,
        )
    text = pa.array(attributes[column].astype("string").to_list(), pa.string())
    micros = to_utc_micros(text, source=source, column=column, timezone=timezone or "UTC")
    return pd.Series(micros.to_numpy(zero_copy_only=False), index=attributes.index, dtype=float)


def infer_spec(
    data: LeadData,
    *,
    exclude: list[str],
    missing_values: list[str],
    created: str | None = None,
    windows: list[int] | None = None,
) -> FeatureSpec:
    """Choose the features: usable lead columns, frequent event names, every rule."""
    spec = FeatureSpec(missing_values=list(missing_values), created=created)
    if windows is not None:
        spec.windows = list(windows)
    skipped = set(exclude) | {data.model.key}
    for name in data.attributes.columns:
        if name in skipped:
            continue
        values = _attribute_values(data.attributes[name], spec.missing_values)
        kind = _attribute_kind(values)
        if kind == "numeric":
            spec.numeric.append(name)
        elif kind == "categorical":
            spec.categorical.append(name)
    counts = data.events["event_name"].value_counts()
    spec.event_names = sorted(counts.index[:MAX_EVENT_NAMES].tolist())
    spec.rules = [rule.rule_id for rule in data.compiled.rules]
    return spec


def _attribute_kind(values: pd.Series) -> str | None:
    present = values.dropna()
    if present.nunique() < 2:
        return None
    numbers = pd.to_numeric(present, errors="coerce")
    if numbers.notna().all():
        # Distinct whole numbers in every row are ids, such as a lead number.
        is_id = numbers.is_unique and (numbers % 1 == 0).all() and len(numbers) > 20
        return None if is_id else "numeric"
    if present.nunique() > ID_LIKE_SHARE * len(values):
        return None
    return "categorical"


def _attribute_values(column: pd.Series, missing_values: list[str]) -> pd.Series:
    """Trim text; blank and listed missing values (any case) become NaN."""
    text = column.astype("string").str.strip()
    missing = {value.strip().lower() for value in missing_values} | {""}
    return text.mask(text.str.lower().isin(missing)).astype(object).where(text.notna(), None)


def features_as_of(
    data: LeadData, spec: FeatureSpec, as_of: int, scored: pa.Table | None = None
) -> pd.DataFrame:
    """Return one row per lead of the features known at `as_of` (microseconds UTC).

    `scored` is the result of the compiled query over `data.tables` as of
    `as_of`, on any engine. Without it, the query runs on DuckDB for the
    rule features.
    """
    index = data.attributes.index
    columns: dict[str, pd.Series] = {}
    for name in spec.categorical:
        columns[f"field:{name}"] = _attribute_values(_column(data, name), spec.missing_values)
    for name in spec.numeric:
        values = _attribute_values(_column(data, name), spec.missing_values)
        columns[f"field:{name}"] = pd.to_numeric(values, errors="coerce").astype(float)
    if spec.categorical:
        missing = pd.concat([columns[f"field:{n}"].isna() for n in spec.categorical], axis=1)
        columns["fields:missing"] = missing.sum(axis=1).astype(float)
    columns.update(_event_features(data, spec, as_of))
    if spec.created:
        columns["days_since:created"] = (as_of - data.first_seen) / DAY_MICROS
    columns.update(_rule_features(data, spec, as_of, scored))
    frame = pd.DataFrame(columns, index=index)
    return frame[spec.columns()]


def _column(data: LeadData, name: str) -> pd.Series:
    if name not in data.attributes.columns:
        raise InputError(
            f"the predictive model reads the lead column {name!r}, which the "
            "leads file does not have; add it, or train the model again on this file"
        )
    return data.attributes[name]


def _event_features(data: LeadData, spec: FeatureSpec, as_of: int) -> dict[str, pd.Series]:
    """Count each lead's events per name and window, and the days since its last one.

    NumPy arrays of (lead, event name) cells, so that a rescore of one lead
    does not pay for pandas' group-by machinery.
    """
    index = data.attributes.index
    lead_codes = index.get_indexer(data.events["lead_key"])
    name_codes = pd.Index(spec.event_names).get_indexer(data.events["event_name"])
    times = data.events["ts"].to_numpy()
    known = (times <= as_of) & (name_codes >= 0) & (lead_codes >= 0)
    lead_codes, name_codes, times = lead_codes[known], name_codes[known], times[known]
    shape = (len(index), len(spec.event_names))

    columns: dict[str, pd.Series] = {}
    for days in spec.windows:
        recent = times > as_of - days * DAY_MICROS
        counts = _cell_counts(lead_codes[recent], name_codes[recent], shape)
        for position, name in enumerate(spec.event_names):
            columns[f"events:{name}:{days}d"] = pd.Series(counts[:, position], index=index)

    totals = _cell_counts(lead_codes, name_codes, shape)
    last = np.full(shape, np.nan)
    np.fmax.at(last, (lead_codes, name_codes), times.astype(float))
    for position, name in enumerate(spec.event_names):
        columns[f"events:{name}:all"] = pd.Series(totals[:, position], index=index)
        days_since = (as_of - last[:, position]) / DAY_MICROS
        columns[f"days_since:{name}"] = pd.Series(days_since, index=index)
    return columns


def _cell_counts(lead_codes: np.ndarray, name_codes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    counts = np.zeros(shape)
    np.add.at(counts, (lead_codes, name_codes), 1.0)
    return counts


def _rule_features(
    data: LeadData, spec: FeatureSpec, as_of: int, scored: pa.Table | None
) -> dict[str, pd.Series]:
    """Read the rule contributions and section scores, rounded as section scores are.

    Engines sum doubles in different orders, so unrounded contributions may
    differ in the last bits; rounded, every engine gives the same features.
    """
    result = scored if scored is not None else run(data.compiled, data.tables, as_of, "duckdb")
    keys = result["lead_key"].to_pylist()
    columns_by_rule = {rule.rule_id: rule.column for rule in data.compiled.rules}
    features = {}
    for rule_id in spec.rules:
        if rule_id not in columns_by_rule:
            raise InputError(
                f"the predictive model reads rule {rule_id!r}, which the scoring "
                "model no longer has; train the predictive model again with `leadq train`"
            )
        values = _rounded(result[columns_by_rule[rule_id]])
        features[f"rule:{rule_id}"] = pd.Series(values, index=keys, dtype=float)
    for section in ("fit", "engagement", "product"):
        values = _rounded(result[f"{section}_score"])
        features[f"score:{section}"] = pd.Series(values, index=keys, dtype=float)
    return {name: series.reindex(data.attributes.index).fillna(0.0) for name, series in features.items()}


def _rounded(column: pa.ChunkedArray) -> np.ndarray:
    # NOTE: two engines' values that straddle a rounding boundary still round
    # apart. The engine agreement tests bound differences by 1e-9, so it is rare.
    values = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
    return np.round(values, SCORE_DECIMALS)
