"""Open the history that an evaluation command reads: files or the store.

Given a leads file, the history and the scores come from files, read as
`leadq score` reads them. Without one they come from the service's store,
and the models run inside its database.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from leadq.engines import EngineSettings
from leadq.evaluation.file_history import LeadColumns, OutcomeSource, file_history
from leadq.evaluation.history import LeadHistory
from leadq.evaluation.point_in_time import FileScorer, StoreScorer
from leadq.inputs import read_source
from leadq.model.schema import ScoringModel


@dataclass(frozen=True)
class FileInputs:
    leads: Path
    events: Path | None = None
    outcomes: OutcomeSource = OutcomeSource()
    columns: LeadColumns = LeadColumns()
    engine: str = "duckdb"
    settings: EngineSettings = EngineSettings()
    encoding: str | None = None
    timezone: str | None = None


@dataclass
class Evaluation:
    """A history and the scorer that scores its leads as of any time."""

    history: LeadHistory
    scorer: FileScorer | StoreScorer
    source: str


@contextmanager
def open_files(inputs: FileInputs, model: ScoringModel) -> Iterator[Evaluation]:
    """Read the files; `model` binds them to find each lead's first event."""
    leads = read_source(inputs.leads, encoding=inputs.encoding)
    events = (
        read_source(inputs.events, encoding=inputs.encoding) if inputs.events else None
    )
    scorer = FileScorer(
        leads,
        events,
        engine=inputs.engine,
        settings=inputs.settings,
        timezone=inputs.timezone,
    )
    _, bound = scorer.bound(model)
    history = file_history(
        leads,
        model,
        bound,
        inputs.outcomes,
        inputs.columns,
        timezone=inputs.timezone,
        encoding=inputs.encoding,
    )
    yield Evaluation(history, scorer, str(inputs.leads))


@contextmanager
def open_store_history(
    database: str | None, groups: tuple[str, ...] = ()
) -> Iterator[Evaluation]:
    """Read the store's history in one transaction; models run on its connection."""
    from leadq.store.database import open_store

    store = open_store(database, create=False)
    try:
        with store_evaluation(store, groups) as evaluation:
            yield evaluation
    finally:
        store.dispose()


@contextmanager
def store_evaluation(
    store, groups: tuple[str, ...] = (), columns: dict[str, str] | None = None
) -> Iterator[Evaluation]:
    """Read the store's history with the `groups` fields, named by the model's `columns:`."""
    from leadq.evaluation.store_history import store_history

    with store.read() as connection:
        history, lead_ids = store_history(connection, groups, columns)
        yield Evaluation(history, StoreScorer(connection, lead_ids), _shown(store.url))


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
