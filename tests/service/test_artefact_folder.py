"""Stored models load artefacts only from the store's artefacts folder."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import joblib
import pytest
from sqlalchemy import insert, select, update

from leadq.errors import ModelError
from leadq.learning.training import train
from leadq.service.ingest import Message, ingest_messages
from leadq.service.model_versions import (
    ActivationResult,
    VersionConflict,
    activate_model,
    activate_model_version,
)
from leadq.store.database import ARTEFACTS_VARIABLE, artefacts_folder, open_store
from leadq.store.tables import leads, model_versions
from tests.learning.conftest import MODEL, training_request, write_learning_files
from tests.service.servers import leadq


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """Train one artefact into the artefacts folder and copy it outside."""
    root = tmp_path_factory.mktemp("artefact-folder")
    files = write_learning_files(root, 300)
    inside = root / "artefacts" / "conversion"
    train(training_request(files), inside)
    outside = root / "elsewhere" / "conversion"
    shutil.copytree(inside, outside)
    return {"root": root, "artefacts": root / "artefacts", "inside": inside, "outside": outside}


@pytest.fixture()
def store(store, folders):
    """The test store, whose artefacts folder is the module's `artefacts`."""
    return store.with_artefacts(folders["artefacts"])


def _model_text(artefact: str | Path) -> str:
    section = f"predictive:\n  artefact: {artefact}\nstages:\n"
    return MODEL.replace("stages:\n", section)


def _activate(store, artefact: str | Path, folder: Path | None = None):
    with store.write() as connection:
        return activate_model(connection, _model_text(artefact), "model.yaml", folder)


def _versions(store) -> list:
    with store.read() as connection:
        return connection.execute(select(model_versions.c.id)).all()


def test_inside_folder_activates(store, folders):
    active = _activate(store, folders["inside"])
    assert active.model.artefact_path() == str(folders["inside"])


def test_outside_absolute_path(store, folders):
    with pytest.raises(ModelError) as raised:
        _activate(store, folders["outside"])
    message = str(raised.value)
    assert f"the artefact {folders['outside']} is outside the artefacts folder {folders['artefacts']}" in message
    assert "start leadq with --artefacts DIR (or LEADQ_ARTEFACTS_DIR)" in message
    assert raised.value.field == "predictive.artefact"
    assert _versions(store) == []


def test_dot_dot_leaves_folder(store, folders):
    path = f"{folders['artefacts']}/../elsewhere/conversion"
    with pytest.raises(ModelError) as raised:
        _activate(store, path)
    assert f"the artefact {path} (which resolves to {folders['outside']}) is outside" in str(raised.value)
    assert _versions(store) == []


def test_relative_path_leaves_folder(store, folders):
    # The model file lies in the artefacts folder, and its relative path
    # climbs out of it.
    with pytest.raises(ModelError) as raised:
        _activate(store, "../elsewhere/conversion", folders["artefacts"])
    assert f"the artefact {folders['outside']} is outside" in str(raised.value)


def test_symlink_to_outside(store, folders, tmp_path):
    link = folders["artefacts"] / f"link-{tmp_path.name}"
    link.symlink_to(folders["outside"], target_is_directory=True)
    with pytest.raises(ModelError) as raised:
        _activate(store, link)
    assert f"the artefact {link} (which resolves to {folders['outside']}) is outside" in str(raised.value)
    assert _versions(store) == []


def test_symlinked_model_file_outside(store, folders, tmp_path):
    directory = folders["artefacts"] / f"linked-file-{tmp_path.name}"
    directory.mkdir()
    shutil.copy(folders["inside"] / "metadata.json", directory / "metadata.json")
    (directory / "model.joblib").symlink_to(folders["outside"] / "model.joblib")
    with pytest.raises(ModelError) as raised:
        _activate(store, directory)
    expected = f"the artefact {directory / 'model.joblib'} (which resolves to {folders['outside'] / 'model.joblib'})"
    assert expected in str(raised.value)


def test_symlink_inside_folder(store, folders, tmp_path):
    link = folders["artefacts"] / f"current-{tmp_path.name}"
    link.symlink_to(folders["inside"], target_is_directory=True)
    active = _activate(store, link)
    assert active.model.artefact_path() == str(link)


def test_api_rejects_outside(store, folders, client, keys):
    admin = {"Authorization": f"Bearer {keys.admin}"}
    before = _versions(store)
    answer = client.post(
        "/api/models", content=_model_text(folders["outside"]).encode(), headers=admin
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "invalid_model"
    assert error["field"] == "predictive.artefact"
    assert f"the artefact {folders['outside']} is outside the artefacts folder {folders['artefacts']}" in error["message"]
    assert _versions(store) == before
    accepted = client.post(
        "/api/models", content=_model_text(folders["inside"]).encode(), headers=admin
    )
    assert accepted.status_code == 201, accepted.text


def test_activate_command_outside(store, folders, tmp_path):
    model = tmp_path / "model.yaml"
    model.write_text(_model_text(folders["outside"]), encoding="utf-8")
    done = leadq(
        "model", "activate", str(model), "--database", store.url,
        "--artefacts", str(folders["artefacts"]),
    )  # fmt: skip
    assert done.returncode == 2
    assert f"is outside the artefacts folder {folders['artefacts']}" in done.stderr
    assert _versions(store) == []


def test_activate_command_environment(store, folders, tmp_path):
    model = tmp_path / "model.yaml"
    model.write_text(_model_text(folders["outside"]), encoding="utf-8")
    environment = {**os.environ, ARTEFACTS_VARIABLE: str(folders["outside"].parent)}
    done = leadq("model", "activate", str(model), "--database", store.url, env=environment)
    assert done.returncode == 0, done.stderr
    assert len(_versions(store)) == 1


def test_default_folder_beside_sqlite(tmp_path, monkeypatch):
    monkeypatch.delenv(ARTEFACTS_VARIABLE, raising=False)
    url = f"sqlite:///{tmp_path / 'data' / 'leadq.db'}"
    assert artefacts_folder(None, url) == tmp_path / "data" / "artefacts"
    monkeypatch.chdir(tmp_path)
    assert artefacts_folder(None, "postgresql+psycopg://u@127.0.0.1/x") == tmp_path / "artefacts"
    monkeypatch.setenv(ARTEFACTS_VARIABLE, str(tmp_path / "models"))
    assert artefacts_folder(None, url) == tmp_path / "models"
    assert artefacts_folder(tmp_path / "option", url) == tmp_path / "option"


def test_open_store_sets_folder(tmp_path, monkeypatch):
    monkeypatch.delenv(ARTEFACTS_VARIABLE, raising=False)
    (tmp_path / "data").mkdir()
    opened = open_store(f"sqlite:///{tmp_path / 'data' / 'leadq.db'}")
    try:
        assert opened.artefacts == tmp_path / "data" / "artefacts"
    finally:
        opened.dispose()


def test_stored_outside_path_not_loaded(store, tmp_path, caplog):
    # A version stored before the folder existed, or by a process with
    # another folder, names an artefact outside this store's folder.
    with store.write() as connection:
        connection.execute(
            insert(model_versions).values(
                name="learning test", version="1", body=_model_text(tmp_path / "outside"),
                digest="outside", created_at=1, activated_at=1, is_active=True,
            )
        )  # fmt: skip
    caplog.set_level(logging.ERROR, logger="leadq.service")
    ingest_messages(store, [Message("track", "t1", user_id="lead-1", event="demo_requested")])
    with store.read() as connection:
        reasons = json.loads(connection.execute(select(leads.c.reasons)).scalar_one())
    assert reasons
    assert not [reason for reason in reasons if reason["section"] == "predictive"]
    assert any("is outside the artefacts folder" in record.getMessage() for record in caplog.records)


def _retrain_in_place(directory: Path) -> None:
    """Write the artefact's model again as other bytes, as a new training run would."""
    model_path = directory / "model.joblib"
    joblib.dump(joblib.load(model_path), model_path, compress=3)
    metadata_path = directory / "metadata.json"
    metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
    metadata["model_sha256"] = hashlib.sha256(model_path.read_bytes()).hexdigest()
    metadata_path.write_text(json.dumps(metadata), encoding="utf-8")


def test_same_artefact_unchanged(store, folders, tmp_path):
    directory = folders["artefacts"] / f"unchanged-{tmp_path.name}"
    shutil.copytree(folders["inside"], directory)
    with store.write() as connection:
        first = activate_model_version(connection, _model_text(directory), "model.yaml")
        again = activate_model_version(connection, _model_text(directory), "model.yaml")
        stored = connection.execute(select(model_versions.c.artefact_sha256)).scalars().all()

    assert first.result is ActivationResult.ACTIVATED
    assert again.result is ActivationResult.UNCHANGED
    expected = hashlib.sha256((directory / "model.joblib").read_bytes()).hexdigest()
    assert stored == [expected]


def test_retrained_artefact_same_version_rejected(store, folders, tmp_path):
    directory = folders["artefacts"] / f"retrained-{tmp_path.name}"
    shutil.copytree(folders["inside"], directory)
    _activate(store, directory)
    _retrain_in_place(directory)

    with pytest.raises(VersionConflict) as raised:
        _activate(store, directory)

    # The model file has no `version:`, so the version is the default, 1.
    assert str(raised.value) == (
        "model.yaml, field version: model 'learning test' version 1 is stored "
        "already (model version #1) with a different artefact; add `version: 2` "
        "to the file, so that the change is stored as a new version"
    )
    assert len(_versions(store)) == 1


def test_artefact_hash_filled_for_older_version(store, folders, tmp_path):
    directory = folders["artefacts"] / f"older-{tmp_path.name}"
    shutil.copytree(folders["inside"], directory)
    _activate(store, directory)
    # A version stored before activation recorded the artefact's hash.
    with store.write() as connection:
        connection.execute(update(model_versions).values(artefact_sha256=None))

    with store.write() as connection:
        again = activate_model_version(connection, _model_text(directory), "model.yaml")
        stored = connection.execute(select(model_versions.c.artefact_sha256)).scalars().all()

    assert again.result is ActivationResult.UNCHANGED
    expected = hashlib.sha256((directory / "model.joblib").read_bytes()).hexdigest()
    assert stored == [expected]


def _predictive_reasons(store) -> list:
    with store.read() as connection:
        reasons = json.loads(connection.execute(select(leads.c.reasons)).scalar_one())
    return [reason for reason in reasons if reason["section"] == "predictive"]


def _activated_copy(store, folders, name: str) -> tuple[Path, str, str]:
    """Activate a copy of the trained artefact; return its folder and the version's label and SHA-256."""
    directory = folders["artefacts"] / name
    shutil.copytree(folders["inside"], directory)
    active = _activate(store, directory)
    with store.read() as connection:
        stored = connection.execute(
            select(model_versions.c.artefact_sha256).where(model_versions.c.id == active.id)
        ).scalar_one()
    return directory, f"model version {active.id}", stored


def _track(number: int) -> Message:
    return Message("track", f"t{number}", user_id="lead-1", event="demo_requested")


def test_retrained_in_place_not_loaded(store, folders, tmp_path, client, keys, caplog):
    directory, version, activated = _activated_copy(store, folders, f"in-place-{tmp_path.name}")
    _retrain_in_place(directory)
    retrained = hashlib.sha256((directory / "model.joblib").read_bytes()).hexdigest()
    caplog.set_level(logging.ERROR, logger="leadq.service")

    # The server treats it as an artefact that does not load: the event is
    # stored and scored, without a probability.
    answer = client.post(
        "/v1/track",
        json={"userId": "lead-1", "event": "demo_requested", "messageId": "t1"},
        headers={"Authorization": f"Bearer {keys.write}"},
    )

    assert answer.status_code == 200, answer.text
    assert _predictive_reasons(store) == []
    logged = [record.getMessage() for record in caplog.records]
    assert len(logged) == 1
    assert f"{version}: no probabilities, the artefact did not load" in logged[0]
    assert f"the artefact {directory} has changed since 'learning test' version 1" in logged[0]
    assert f"its model.joblib has the SHA-256 {retrained}" in logged[0]
    assert f"the version was activated with {activated}" in logged[0]
    assert "activate the retrained artefact as a new version" in logged[0]


def test_loaded_artefact_kept_after_retraining(store, folders, tmp_path, caplog):
    directory, _, _ = _activated_copy(store, folders, f"kept-{tmp_path.name}")
    ingest_messages(store, [_track(1)])
    before = _predictive_reasons(store)
    _retrain_in_place(directory)
    caplog.set_level(logging.ERROR, logger="leadq.service")

    ingest_messages(store, [_track(2)])

    # This process loaded the activated artefact already and keeps using it.
    assert before
    assert _predictive_reasons(store)
    assert caplog.records == []


def test_unhashed_version_loads_retrained(store, folders, tmp_path, caplog):
    directory, _, _ = _activated_copy(store, folders, f"unhashed-{tmp_path.name}")
    # A version stored before activation recorded the artefact's hash.
    with store.write() as connection:
        connection.execute(update(model_versions).values(artefact_sha256=None))
    _retrain_in_place(directory)
    caplog.set_level(logging.ERROR, logger="leadq.service")

    ingest_messages(store, [_track(1)])

    assert _predictive_reasons(store)
    assert caplog.records == []


def test_rescore_command_retrained_artefact(store, folders, tmp_path):
    directory, version, activated = _activated_copy(store, folders, f"rescore-{tmp_path.name}")
    ingest_messages(store, [_track(1)])
    _retrain_in_place(directory)

    done = leadq("rescore", "--database", store.url, "--artefacts", str(folders["artefacts"]))

    assert done.returncode == 1
    assert "error: nothing was rescored, because the predictive artefact of learning test v1 (#1) did not load" in done.stderr
    assert f"the version was activated with {activated}" in done.stderr
    assert "activate the retrained artefact as a new version" in done.stderr


def test_rescore_command_missing_artefact(store, folders, tmp_path):
    directory, _, _ = _activated_copy(store, folders, f"removed-{tmp_path.name}")
    (directory / "model.joblib").unlink()

    done = leadq("rescore", "--database", store.url, "--artefacts", str(folders["artefacts"]))

    assert done.returncode == 1
    assert f"no model artefact at {directory}" in done.stderr
    assert done.stderr.count(f"no model artefact at {directory}:") == 1
    assert done.stderr.startswith("error: nothing was rescored, because")


def test_import_command_missing_artefact(store, folders, tmp_path):
    directory, _, _ = _activated_copy(store, folders, f"import-{tmp_path.name}")
    ingest_messages(store, [_track(1)])
    with store.read() as connection:
        before = connection.execute(select(leads.c.id, leads.c.updated_at)).all()
    (directory / "model.joblib").unlink()
    path = tmp_path / "leads.csv"
    path.write_text("lead_id,industry,size\nlead-1,health,120\nlead-2,retail,40\n", encoding="utf-8")

    done = leadq(
        "import", "leads", str(path), "--database", store.url,
        "--artefacts", str(folders["artefacts"]),
    )  # fmt: skip

    assert done.returncode == 1
    assert done.stderr.startswith(
        "error: nothing was imported, because the predictive artefact of "
        "learning test v1 (#1) did not load: "
    )
    assert done.stderr.count(f"no model artefact at {directory}:") == 1
    assert done.stdout == ""
    with store.read() as connection:
        assert connection.execute(select(leads.c.id, leads.c.updated_at)).all() == before
