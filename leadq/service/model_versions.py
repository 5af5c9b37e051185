"""Model versions in the store: activate one, and read the active one.

A model is stored with its YAML text, so every score and stage change can
name the version that decided it. The first start activates the built-in
default model.

A model's name and version identify one content: its text and, with a
`predictive` section, the SHA-256 of its artefact's model.joblib.
Activating the content of the active version again changes nothing.
Activating the content of an earlier stored version makes that version
active again. Other content under a stored name and version is rejected
with VersionConflict, so one version never means two models.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

import pyarrow as pa
from ruamel.yaml import YAML
from sqlalchemy import Connection, bindparam, insert, select, text as sql_text, update

from leadq.compiler.query import CompiledModel, compile_model
from leadq.errors import LeadqError, ModelError
from leadq.model.loading import default_model_text, locate, parse_model, parse_stored_model
from leadq.model.schema import ScoringModel
from leadq.service.artefacts import check_artefact, expect_artefact_sha256, record_artefact_path
from leadq.service.event_bindings import create_binding_table, drop_unused_binding_tables, has_binding_table
from leadq.store.database import Store, artefacts_folder_of, now_micros
from leadq.store.tables import model_versions


@dataclass(frozen=True)
class ActiveModel:
    id: int
    model: ScoringModel
    compiled: CompiledModel
    # Values beyond the limits on points and score bounds, which a version
    # stored by an older leadq may have (leadq.model.loading.parse_stored_model).
    beyond_limits: tuple[ModelError, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.model.name} v{self.model.version} (#{self.id})"

    def limits_text(self) -> str:
        """Return the values beyond the limits, each with its line, field and limit."""
        values = "; ".join(_located(error) for error in self.beyond_limits[:SHOWN_LIMIT_ERRORS])
        more = len(self.beyond_limits) - SHOWN_LIMIT_ERRORS
        return f"{values}; and {more} more" if more > 0 else values

    def limits_warning(self) -> str | None:
        """Return the warning about values beyond the limits, with the fix, or None without them."""
        if not self.beyond_limits:
            return None
        return (
            f"the active model, {self.label}, has values beyond the limits of this "
            f"leadq release: {self.limits_text()}. leadq keeps scoring with them, "
            f"but `leadq model activate` rejects them; {LIMITS_FIX}"
        )


# The values beyond the limits that a message lists before "and N more".
SHOWN_LIMIT_ERRORS = 3
LIMITS_FIX = "correct them in the model file, raise its `version:` and activate it with `leadq model activate FILE`"


@contextmanager
def naming_values_beyond_limits(active: ActiveModel) -> Iterator[None]:
    """Raise a score overflow of the active version as a LeadqError that names its values beyond the limits.

    Points or score bounds beyond the limits, which a version stored by an
    older leadq may have, can make a score too large to round (Arrow:
    overflow occurred during rounding). The error names those values and
    the fix. Other Arrow errors, and any of a version without such values,
    are raised as they are.
    """
    try:
        yield
    except pa.ArrowInvalid as error:
        if not active.beyond_limits:
            raise
        raise LeadqError(
            f"scoring with the active model, {active.label}, failed: {error}. "
            f"Its values beyond the limits of this leadq release can make scores "
            f"overflow: {active.limits_text()}; {LIMITS_FIX}"
        ) from error


def _located(error: ModelError) -> str:
    """Return a ModelError's line, field and message without its source."""
    return str(ModelError(error.message, line=error.line, field=error.field))


class ActivationResult(str, Enum):
    """The change that an activation made."""

    # A new version was stored and made active.
    ACTIVATED = "activated"
    # The active version has this content already, so nothing changed.
    UNCHANGED = "unchanged"
    # An earlier stored version with this content is active again.
    REACTIVATED = "reactivated"


@dataclass(frozen=True)
class Activation:
    active: ActiveModel
    result: ActivationResult
    # When the version was first stored, in microseconds since the epoch.
    created_at: int


class VersionConflict(ModelError):
    """A model whose name and version are stored already with other content."""


@dataclass(frozen=True)
class _Content:
    """The content that a stored version must match to be the same model."""

    digest: str
    artefact_sha256: str | None

    def matches(self, row) -> bool:
        # Versions stored before the artefact's hash was recorded have NULL,
        # so their text alone decides.
        same_artefact = row.artefact_sha256 in (None, self.artefact_sha256)
        return row.digest == self.digest and same_artefact


@dataclass(frozen=True)
class _Parsed:
    """A model text parsed and compiled, with the values beyond the limits of a stored one."""

    model: ScoringModel
    compiled: CompiledModel
    beyond_limits: tuple[ModelError, ...] = ()


# Model text digest -> the parsed and compiled model. `_stored_compiled`
# contains the texts of stored versions parsed as parse_stored_model does.
_compiled: dict[str, _Parsed] = {}
_stored_compiled: dict[str, _Parsed] = {}
_lock = threading.Lock()
log = logging.getLogger("leadq.service")
# The PostgreSQL advisory lock that makes activations wait for each other,
# so that two of them cannot store one name and version twice. The value
# is arbitrary ("leadqact" in ASCII), and binding tables lock other keys.
ACTIVATION_LOCK_KEY = 0x6C65_6164_7161_6374
# The trailing number of a version, which a VersionConflict proposes to raise.
TRAILING_NUMBER = re.compile(r"(.*?)(\d+)")


def activate_model(connection: Connection, text: str, source: str, folder: Path | None = None) -> ActiveModel:
    """Make a model the active version (see activate_model_version); return that version."""
    return activate_model_version(connection, text, source, folder).active


def activate_model_version(
    connection: Connection, text: str, source: str, folder: Path | None = None
) -> Activation:
    """Validate a model, store it unless it is stored already, and make it the active version.

    An invalid model raises ModelError (file, line, field) and stores nothing.
    With a `predictive` section, the stored text names the artefact by its
    absolute path (a relative one starts from `folder`, the model file's
    folder). An artefact outside the store's artefacts folder, or one that
    does not load, is a ModelError. Other content under a name and version
    that the store has raises VersionConflict.
    """
    parsed = _compiled_text(text, source)
    model, compiled = parsed.model, parsed.compiled
    _check_catch_all(model, source)
    artefact_sha256 = None
    if model.predictive is not None:
        artefacts = artefacts_folder_of(connection)
        text = record_artefact_path(text, folder, source, artefacts)
        parsed = _compiled_text(text, source)
        model, compiled = parsed.model, parsed.compiled
        artefact_sha256 = check_artefact(compiled, artefacts, source).metadata["model_sha256"]
    content = _Content(_digest(text), artefact_sha256)

    _lock_activations(connection)
    stored = _stored_versions(connection, model)
    same = [row for row in stored if content.matches(row)]
    if same:
        activation = _activate_stored(connection, same[-1], content, model, compiled)
    elif stored:
        raise _conflict(connection, stored[-1], content, model, text, source)
    else:
        activation = _store_version(connection, text, content, model, compiled)
    create_binding_table(connection, compiled)
    drop_unused_binding_tables(connection, compiled)
    return activation


def _lock_activations(connection: Connection) -> None:
    # SQLite needs no lock, because a writer there locks the whole database.
    if connection.dialect.name == "postgresql":
        connection.execute(sql_text("SELECT pg_advisory_xact_lock(:key)"), {"key": ACTIVATION_LOCK_KEY})


def _stored_versions(connection: Connection, model: ScoringModel) -> list:
    """Return the stored versions with the model's name and version, oldest first.

    Stores from before versions were checked may have several.
    """
    query = (
        select(
            model_versions.c.id,
            model_versions.c.digest,
            model_versions.c.artefact_sha256,
            model_versions.c.is_active,
            model_versions.c.created_at,
        )
        .where(model_versions.c.name == model.name, model_versions.c.version == str(model.version))
        .order_by(model_versions.c.id)
    )
    return connection.execute(query).all()


def _activate_stored(connection: Connection, row, content: _Content, model, compiled) -> Activation:
    """Make a stored version with this content active, unless it is active already."""
    if row.artefact_sha256 is None and content.artefact_sha256 is not None:
        connection.execute(
            update(model_versions)
            .where(model_versions.c.id == row.id)
            .values(artefact_sha256=content.artefact_sha256)
        )
    active = _active_version(connection, row.id, model, compiled, content.artefact_sha256)
    if row.is_active:
        return Activation(active, ActivationResult.UNCHANGED, row.created_at)

    _deactivate_all(connection)
    connection.execute(
        update(model_versions)
        .where(model_versions.c.id == row.id)
        .values(is_active=True, activated_at=now_micros())
    )
    return Activation(active, ActivationResult.REACTIVATED, row.created_at)


def _store_version(connection: Connection, text: str, content: _Content, model, compiled) -> Activation:
    now = now_micros()
    _deactivate_all(connection)
    version_id = connection.execute(
        insert(model_versions)
        .values(
            name=model.name,
            version=str(model.version),
            body=text,
            digest=content.digest,
            artefact_sha256=content.artefact_sha256,
            created_at=now,
            activated_at=now,
            is_active=True,
        )
        .returning(model_versions.c.id)
    ).scalar_one()
    active = _active_version(connection, version_id, model, compiled, content.artefact_sha256)
    return Activation(active, ActivationResult.ACTIVATED, now)


def _active_version(connection: Connection, version_id: int, model, compiled, artefact_sha256) -> ActiveModel:
    """Build the ActiveModel, recording its artefact's stored SHA-256 for loaded_artefact."""
    if model.predictive is not None:
        expect_artefact_sha256(version_id, artefacts_folder_of(connection), artefact_sha256)
    return ActiveModel(version_id, model, compiled)


def _deactivate_all(connection: Connection) -> None:
    connection.execute(
        update(model_versions).where(model_versions.c.is_active.is_(True)).values(is_active=False)
    )


def _conflict(connection: Connection, latest, content: _Content, model, text: str, source: str) -> VersionConflict:
    """Build the error for other content under a stored name and version, with the fix."""
    different = "a different artefact" if latest.digest == content.digest else "different text"
    document = YAML(typ="rt").load(text)
    in_file = isinstance(document, dict) and "version" in document
    used_versions = set(
        connection.execute(
            select(model_versions.c.version).where(model_versions.c.name == model.name)
        ).scalars()
    )
    fix = _version_fix(in_file, _next_version(str(model.version), used_versions))
    return VersionConflict(
        f"model {model.name!r} version {model.version} is stored already "
        f"(model version #{latest.id}) with {different}; {fix}, so that the "
        "change is stored as a new version",
        file=source,
        line=locate(document, ["version"])[0] if in_file else None,
        field="version",
    )


def _version_fix(in_file: bool, proposed: str | None) -> str:
    # A file without `version:` has version 1, whose next version is 2 or more.
    if not in_file:
        return f"add `version: {proposed}` to the file"
    if proposed is not None:
        return f"raise `version:` in the file, for example to {proposed}"
    return "raise `version:` in the file to one that is not stored"


def _next_version(version: str, used_versions: set[str]) -> str | None:
    """Return the first unused version after `version`, or None when it has no trailing number.

    The trailing number goes up by one until the version is unused, and
    keeps its width, so 2026-01 becomes 2026-02. A negative number such as
    -1 becomes the first unused positive number, because -2 would read as
    a step down.
    """
    match = TRAILING_NUMBER.fullmatch(version)
    if match is None:
        return None
    prefix, digits = match.groups()
    if prefix == "-":
        prefix, digits = "", "0"
    number = int(digits) + 1
    while f"{prefix}{number:0{len(digits)}d}" in used_versions:
        number += 1
    return f"{prefix}{number:0{len(digits)}d}"


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
        cached = _compiled.get(row.digest) or _stored_compiled.get(row.digest)
    if cached is None:
        body = connection.execute(_VERSION_BODY, {"id": row.id}).scalar_one()
        cached = _compiled_text(body, f"model version {row.id}", stored=True)
    active = _active_version(connection, row.id, cached.model, cached.compiled, row.artefact_sha256)
    return replace(active, beyond_limits=cached.beyond_limits) if cached.beyond_limits else active


def still_active(connection: Connection, active: ActiveModel) -> ActiveModel:
    """Return `active` if it is still the active version, else the version active now.

    Work that spans several transactions, such as a rescore run or an
    import, calls this in each one, because an activation since `active`
    was read may have dropped its binding table.
    """
    row = connection.execute(_ACTIVE_VERSION).first()
    if row is None or row.id == active.id:
        return active
    return active_model(connection)


def warn_beyond_limits(active: ActiveModel) -> None:
    """Log the warning about the active version's values beyond the limits, if it has any.

    `leadq serve` calls this when it starts, and so do the commands that
    rescore, since they run often and unattended.
    """
    warning = active.limits_warning()
    if warning is not None:
        log.warning(warning)


_ACTIVE_VERSION = select(
    model_versions.c.id, model_versions.c.digest, model_versions.c.artefact_sha256
).where(model_versions.c.is_active.is_(True))
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


def _digest(text: str) -> str:
    """Return the SHA-256 of a model's text: its `digest` column and cache key."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _compiled_text(text: str, source: str, *, stored: bool = False) -> _Parsed:
    """Parse and compile a model's text once per process; events reuse it.

    `stored` text comes from a model version, which older leadq releases
    accepted with fewer checks (leadq.model.loading.parse_stored_model).
    Such a parse is cached only for reading stored versions, so activating
    the same text checks it.
    """
    digest = _digest(text)
    with _lock:
        cached = _compiled.get(digest) or (_stored_compiled.get(digest) if stored else None)
    if cached is None:
        if stored:
            model, beyond_limits = parse_stored_model(text, source)
        else:
            model, beyond_limits = parse_model(text, source=source), []
        cached = _Parsed(model, compile_model(model), tuple(beyond_limits))
        with _lock:
            (_stored_compiled if stored else _compiled)[digest] = cached
    return cached
