"""The model artefact: a directory with the fitted, calibrated model and its metadata.

    ARTEFACT/model.joblib   the CalibratedModel, stored with joblib (a pickle)
    ARTEFACT/metadata.json  features, metrics, settings, data fingerprint,
                            library versions, the model file's rule ids

A pickle runs code when it loads, so load only artefacts you trust, as you
would any Python file. The metadata stores the SHA-256 of model.joblib, and
loading checks it, so a changed or damaged file is rejected.
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

from leadq.errors import LeadqError
from leadq.learning.estimators import CalibratedModel
from leadq.learning.features import FeatureSpec

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
FORMAT_VERSION = 1
LIBRARIES = ("leadq", "scikit-learn", "lightgbm", "numpy", "pandas", "duckdb")
REASONS_PER_DIRECTION = 3


class ArtefactError(LeadqError):
    """A missing, damaged or incompatible model artefact."""

    exit_code = 2


@dataclass
class Artefact:
    model: CalibratedModel
    spec: FeatureSpec
    metadata: dict

    def probabilities(self, features: pd.DataFrame) -> np.ndarray:
        return self.model.probabilities(features[self.spec.columns()])

    def reasons(self, features: pd.DataFrame) -> list[list[dict]]:
        """Return each lead's top factors up and down, in log-odds, as reasons."""
        values, _ = self.model.contributions(features[self.spec.columns()])
        names = self.spec.categorical_columns() + self.spec.numeric_columns()
        return [_top_factors(row, names) for row in values]


def _top_factors(row: np.ndarray, names: list[str]) -> list[dict]:
    order = np.argsort(-row, kind="stable")
    up = [i for i in order[:REASONS_PER_DIRECTION] if row[i] > 0]
    down = [i for i in order[::-1][:REASONS_PER_DIRECTION] if row[i] < 0]
    chosen = sorted(up + down, key=lambda i: (-abs(row[i]), names[i]))
    return [{"section": "predictive", "rule": names[i], "points": round(float(row[i]), 6)} for i in chosen]


def fingerprint(paths: list[Path | None]) -> str:
    """Hash the input files' bytes, in order, so metadata names the exact data."""
    digest = hashlib.sha256()
    for path in paths:
        if path is None:
            continue
        digest.update(Path(path).name.encode() + b"\0")
        with open(path, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    versions = {name: version(name) for name in LIBRARIES}
    versions["python"] = platform.python_version()
    return versions


def save_artefact(directory: Path, model: CalibratedModel, spec: FeatureSpec, details: dict) -> dict:
    """Write the artefact; return its metadata."""
    import joblib

    directory.mkdir(parents=True, exist_ok=True)
    model_path = directory / MODEL_FILE
    joblib.dump(model, model_path)
    metadata = {
        "format_version": FORMAT_VERSION,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model_sha256": hashlib.sha256(model_path.read_bytes()).hexdigest(),
        "settings": model.settings(),
        "features": spec.as_dict(),
        "feature_columns": spec.columns(),
        "libraries": library_versions(),
        **details,
    }
    (directory / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    return metadata


def load_artefact(directory: Path) -> Artefact:
    """Load an artefact; model.joblib is unpickled only if its SHA-256 matches the metadata's."""
    import joblib

    metadata_path = Path(directory) / METADATA_FILE
    model_path = Path(directory) / MODEL_FILE
    if not metadata_path.is_file() or not model_path.is_file():
        raise ArtefactError(
            f"no model artefact at {directory}: expected {METADATA_FILE} and "
            f"{MODEL_FILE}; create one with `leadq train --output {directory}`"
        )
    metadata = _read_metadata(metadata_path)
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ArtefactError(
            f"model artefact {directory} has format version "
            f"{metadata.get('format_version')!r}, but this leadq reads version "
            f"{FORMAT_VERSION}; train it again with `leadq train`"
        )
    # The bytes whose digest matches are the bytes unpickled, so the file
    # cannot change between the check and the load.
    payload = model_path.read_bytes()
    if hashlib.sha256(payload).hexdigest() != metadata.get("model_sha256"):
        raise ArtefactError(
            f"{model_path} does not match the SHA-256 in {METADATA_FILE}; the file "
            "was changed or damaged, so train the model again with `leadq train`"
        )
    spec = FeatureSpec(**metadata["features"])
    return Artefact(joblib.load(io.BytesIO(payload)), spec, metadata)


def _read_metadata(path: Path) -> dict:
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        metadata = error
    if not isinstance(metadata, dict):
        raise ArtefactError(
            f"{path} is not a JSON object of artefact metadata; the file was "
            "changed or damaged, so train the model again with `leadq train`"
        )
    return metadata
