"""The artefacts of stored models: where they may lie, and loading them once.

A model artefact is a pickle, and loading a pickle runs code. The service
therefore loads an artefact only from its store's artefacts folder (see
leadq.store.database.artefacts_folder), so an admin key that activates a
model cannot make it load any other file on the machine. The folder check
resolves `..` and symbolic links, of the artefact's directory and of its
two files, before anything is read.

A stored model is text with no folder, so activation records the artefact's
absolute path in that text (`record_artefact_path`). Each process loads an
artefact once per model version.
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

# (model version id, artefact path, artefacts folder) -> the loaded
# artefact, or None when loading failed. A process may open several stores,
# whose version ids repeat.
_artefacts: dict[tuple[int, str, str], Artefact | None] = {}
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


def loaded_artefact(
    version_id: int, compiled: CompiledModel, artefacts: Path | None
) -> Artefact | None:
    """Return a stored model version's artefact, loaded once per process.

    Returns None when it does not load, after logging the error once, so
    events are still stored and scored without probabilities.
    """
    key = (version_id, compiled.model.artefact_path(), str(artefacts))
    with _lock:
        if key in _artefacts:
            return _artefacts[key]
    try:
        artefact = check_artefact(compiled, artefacts, f"model version {version_id}")
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
