"""Model versions in the store: activate one, and read the active one.

A model is stored with its YAML text, so every score and stage change can
name the version that decided it. The first start activates the built-in
default model.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, bindparam, insert, select, update

from leadq.compiler.query import CompiledModel, compile_model
from leadq.errors import ModelError
from leadq.model.loading import default_model_text, parse_model
from leadq.model.schema import ScoringModel
from leadq.service.artefacts import check_artefact, record_artefact_path
from leadq.service.event_bindings import create_binding_table, has_binding_table
from leadq.store.database import Store, artefacts_folder_of, now_micros
from leadq.store.tables import model_versions


@dataclass(frozen=True)
class ActiveModel:
    id: int
    model: ScoringModel
    compiled: CompiledModel

    @property
    def label(self) -> str:
        return f"{self.model.name} v{self.model.version} (#{self.id})"


# Model text digest -> the parsed and compiled model.
_compiled: dict[str, tuple[ScoringModel, CompiledModel]] = {}
_lock = threading.Lock()


def activate_model(connection: Connection, text: str, source: str, folder: Path | None = None) -> ActiveModel:
    """Validate and store a model, and make it the active version.

    An invalid model raises ModelError (file, line, field) and stores nothing.
    With a `predictive` section, the stored text names the artefact by its
    absolute path (a relative one starts from `folder`, the model file's
    folder). An artefact outside the store's artefacts folder, or one that
    does not load, is a ModelError.
    """
    model, compiled = _compiled_text(text, source)
    _check_catch_all(model, source)
    if model.predictive is not None:
        artefacts = artefacts_folder_of(connection)
        text = record_artefact_path(text, folder, source, artefacts)
        model, compiled = _compiled_text(text, source)
        check_artefact(compiled, artefacts, source)
    now = now_micros()
    connection.execute(
        update(model_versions).where(model_versions.c.is_active.is_(True)).values(is_active=False)
    )
    version_id = connection.execute(
        insert(model_versions)
        .values(
            name=model.name,
            version=str(model.version),
            body=text,
            digest=hashlib.sha256(text.encode("utf-8")).hexdigest(),
            created_at=now,
            activated_at=now,
            is_active=True,
        )
        .returning(model_versions.c.id)
    ).scalar_one()
    create_binding_table(connection, compiled)
    return ActiveModel(version_id, model, compiled)


def _check_catch_all(model: ScoringModel, source: str) -> None:
    """Raise ModelError unless the last stage has no `when`.

    Files may leave a lead without a stage, but the service keeps every
    lead's stage and its history, so each lead needs one.
    """
    last = model.stages[-1]
    if last.when is not None:
        index = len(model.stages) - 1
        raise ModelError(
            f"the last stage, {last.id!r}, has a `when` condition, so a lead that "
            "matches no stage would have none, which the service cannot store; "
            "remove its `when`, or add a last stage without one, such as "
            "`- {id: unqualified}`",
            file=source,
            field=f"stages[{index}].when",
        )


def active_model(connection: Connection) -> ActiveModel | None:
    """Return the active version, reading its text only when this process has not compiled it."""
    row = connection.execute(_ACTIVE_VERSION).first()
    if row is None:
        return None
    with _lock:
        cached = _compiled.get(row.digest)
    if cached is None:
        body = connection.execute(_VERSION_BODY, {"id": row.id}).scalar_one()
        cached = _compiled_text(body, f"model version {row.id}")
    model, compiled = cached
    return ActiveModel(row.id, model, compiled)


_ACTIVE_VERSION = select(model_versions.c.id, model_versions.c.digest).where(model_versions.c.is_active.is_(True))
_VERSION_BODY = select(model_versions.c.body).where(model_versions.c.id == bindparam("id"))


def ensure_active_model(store: Store) -> ActiveModel:
    """Return the active model, activating the built-in default on first use.

    It also creates the model's binding table, which stores from before
    binding tables lack.
    """
    with store.read() as connection:
        found = active_model(connection)
        ready = found is not None and has_binding_table(connection, found.compiled)
    if ready:
        return found
    with store.write() as connection:
        found = active_or_default_model(connection)
        create_binding_table(connection, found.compiled)
        return found


def active_or_default_model(connection: Connection) -> ActiveModel:
    """Return the active model; in a store without one, activate the built-in default."""
    found = active_model(connection)
    if found is None:
        found = activate_model(connection, default_model_text(), "built-in default model")
    return found


def _compiled_text(text: str, source: str) -> tuple[ScoringModel, CompiledModel]:
    """Parse and compile a model's text once per process; events reuse it."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    with _lock:
        cached = _compiled.get(digest)
    if cached is None:
        model = parse_model(text, source=source)
        cached = (model, compile_model(model))
        with _lock:
            _compiled[digest] = cached
    return cached
