"""The artefacts of stored models: where they may lie, and loading them once.

A model artefact is a pickle, and loading a pickle runs code. The service
therefore loads an artefact only from its store's artefacts folder (see
leadq.store.database.artefacts_folder), so an admin key that activates a
model cannot make it load any other file on the machine. The folder check
resolves `..` and symbolic links, of the artefact's directory and of its
two files, before anything is read.

A stored model is text with no folder, so activation records the artefact's
absolute path in that text (`record_artefact_path`). Each process loads an
artefact once per model version, and rejects it when its model.joblib is not
the one the version was activated with (`artefact_sha256`), so that one
version never gives two sets of probabilities.
"""

from __future__ import annotations

import io
import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from ruamel.yaml import YAML

from leadq.compiler.query import CompiledModel
from leadq.errors import LeadqError, ModelError
from leadq.learning import require_learning
from leadq.store.database import ARTEFACTS_VARIABLE

if TYPE_CHECKING:
    from leadq.learning.artefact import Artefact

log = logging.getLogger("leadq.service")

ARTEFACT_FIELD = "predictive.artefact"
# The files of an artefact directory, as leadq.learning.artefact writes them.
ARTEFACT_FILES = ("metadata.json", "model.joblib")

# (model version id, artefact path, artefacts folder, expected SHA-256) ->
# the loaded artefact, or the error that rejected it. A process may open
# several stores, whose version ids repeat.
_artefacts: dict[tuple[int, str, str, str | None], Artefact | LeadqError] = {}
# (model version id, artefacts folder) -> the `artefact_sha256` stored for
# that version, or None for versions stored before it was recorded.
_expected_sha256: dict[tuple[int, str], str | None] = {}
_lock = threading.Lock()


def record_artefact_path(
    text: str, folder: Path | None, source: str, artefacts: Path | None
) -> str:
    """Return the model text with `predictive.artefact` as an absolute path.

    A relative path starts from `folder`, the model file's folder. Text with
    no folder (a model sent over HTTP) must name an absolute path, inside
    the artefacts folder `artefacts`.
    """
    document = YAML(typ="rt").load(text)
    artefact = str(document["predictive"]["artefact"])
    if os.path.isabs(artefact):
        return text
    if folder is None:
        inside = f" inside {artefacts}" if artefacts is not None else ""
        raise ModelError(
            f"the artefact path {artefact!r} is relative, and a model sent as "
            f"text has no folder to resolve it from; give the absolute path of "
            f"the artefact{inside}, or run `leadq model activate FILE`",
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


def artefact_inside(path: str, artefacts: Path | None, source: str) -> Path:
    """Return the artefact directory `path` resolved, after checking that it
    and its files are inside the artefacts folder; raise ModelError if not."""
    if artefacts is None:
        raise ModelError(
            f"the artefact {path} cannot be checked, because this database "
            "connection has no artefacts folder; open the store with "
            "leadq.store.database.open_store",
            file=source,
            field=ARTEFACT_FIELD,
        )
    directory = Path(path).resolve()
    _check_inside(path, directory, artefacts, source)
    for name in ARTEFACT_FILES:
        _check_inside(str(Path(path) / name), (directory / name).resolve(), artefacts, source)
    return directory


def _check_inside(path: str, resolved: Path, artefacts: Path, source: str) -> None:
    if resolved.is_relative_to(artefacts):
        return
    described = path if str(resolved) == path else f"{path} (which resolves to {resolved})"
    raise ModelError(
        f"the artefact {described} is outside the artefacts folder {artefacts}, the "
        "only folder that the service loads artefacts from, because loading one "
        f"runs its code; train or copy the artefact into that folder (`leadq train "
        f"--output {artefacts / 'NAME'}`), or start leadq with --artefacts DIR "
        f"(or {ARTEFACTS_VARIABLE}) naming a folder that contains it",
        file=source,
        field=ARTEFACT_FIELD,
    )


def check_artefact(compiled: CompiledModel, artefacts: Path | None, source: str) -> Artefact:
    """Load the model's artefact from inside the artefacts folder.

    Raises ModelError naming its path when it lies outside the folder, does
    not load, or reads rules that the model lacks.
    """
    path = compiled.model.artefact_path()
    directory = artefact_inside(path, artefacts, source)
    try:
        require_learning()
        from leadq.learning.artefact import load_artefact

        artefact = load_artefact(directory)
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


def expect_artefact_sha256(version_id: int, artefacts: Path | None, sha256: str | None) -> None:
    """Record the SHA-256 of model.joblib stored for a model version (None: unknown).

    leadq.service.model_versions calls this whenever it reads or activates a
    version, so `loaded_artefact` can compare the file it loads.
    """
    with _lock:
        _expected_sha256[(version_id, str(artefacts))] = sha256


def loaded_artefact(
    version_id: int, compiled: CompiledModel, artefacts: Path | None
) -> Artefact | None:
    """Return a stored model version's artefact, loaded once per process.

    Returns None when it does not load, or when its model.joblib differs from
    the one the version was activated with, after logging the error once, so
    events are still stored and scored without probabilities.
    """
    loaded = _load_once(version_id, compiled, artefacts)
    return None if isinstance(loaded, LeadqError) else loaded


def artefact_error(
    version_id: int, compiled: CompiledModel, artefacts: Path | None
) -> LeadqError | None:
    """Return the error that keeps a stored version's artefact from loading, or None.

    The caller reports the error, so it is not logged. It is not kept
    either, so a later `loaded_artefact` tries again and logs it.
    """
    loaded = _load_once(version_id, compiled, artefacts, report=False)
    return loaded if isinstance(loaded, LeadqError) else None


def _load_once(
    version_id: int,
    compiled: CompiledModel,
    artefacts: Path | None,
    *,
    report: bool = True,
) -> Artefact | LeadqError:
    """Load an artefact, or return its error; with `report`, log and keep the error."""
    path = compiled.model.artefact_path()
    with _lock:
        expected = _expected_sha256.get((version_id, str(artefacts)))
        key = (version_id, path, str(artefacts), expected)
        if key in _artefacts:
            return _artefacts[key]
    source = f"model version {version_id}"
    try:
        loaded = check_artefact(compiled, artefacts, source)
        _check_sha256(loaded, expected, compiled, version_id)
    except LeadqError as error:
        if not report:
            return error
        log.error(
            "model version %d: no probabilities, the artefact did not load: %s",
            version_id,
            error,
        )
        loaded = error
    with _lock:
        _artefacts[key] = loaded
    return loaded


def _check_sha256(
    artefact: Artefact, expected: str | None, compiled: CompiledModel, version_id: int
) -> None:
    """Raise ModelError when the loaded model.joblib is not the version's own.

    load_artefact has checked that the loaded bytes match the metadata's
    `model_sha256`, so comparing that value compares the loaded file.
    """
    found = artefact.metadata["model_sha256"]
    if expected is None or found == expected:
        return
    model = compiled.model
    raise ModelError(
        f"the artefact {model.artefact_path()} has changed since {model.name!r} "
        f"version {model.version} was activated: its model.joblib has the SHA-256 "
        f"{found}, but the version was activated with {expected}, so one version "
        "would give two sets of probabilities; activate the retrained "
        "artefact as a new version (raise `version:` in the model file and run "
        "`leadq model activate FILE`), or put the activated artefact back",
        file=f"model version {version_id}",
        field=ARTEFACT_FIELD,
    )
