"""Model versions: the same content changes nothing, other content needs a new version."""

from __future__ import annotations

import hashlib
import threading

import httpx
import pytest
from sqlalchemy import insert, select, update

from leadq.compiler.query import compile_model
from leadq.errors import LeadqError, ModelError
from leadq.model.loading import parse_model
from leadq.service.event_bindings import create_binding_table
from leadq.service.ingest import ingest_messages
from leadq.service.model_versions import (
    ActivationResult,
    VersionConflict,
    activate_model_version,
    active_model,
)
from leadq.service.schedule import rescore_all
from leadq.store.database import open_store
from leadq.store.tables import leads, model_versions, stage_history
from tests.conftest import STORE_DIALECTS, database_url
from tests.service.servers import Server, create_key, free_port, leadq
from tests.service.test_rescore_schedule import FIRST as SCHEDULE_MODEL
from tests.service.test_rescore_schedule import demo

FIRST = SCHEDULE_MODEL.lstrip().replace("schedule test model", "versions test model")
CHANGED = FIRST.replace("points: 10", "points: 25")
SECOND = CHANGED.replace("version: 1", "version: 2")


def conflict(stored_id: int, proposed: str) -> str:
    """Return the message for CHANGED when FIRST is stored as `stored_id`."""
    return (
        f"model 'versions test model' version 1 is stored already (model version "
        f"#{stored_id}) with different text; raise `version:` in the file, for "
        f"example to {proposed}, so that the change is stored as a new version"
    )


def activate(store, text: str, source: str = "model.yaml"):
    with store.write() as connection:
        return activate_model_version(connection, text, source)


def stored_versions(store) -> list[tuple]:
    query = select(
        model_versions.c.id,
        model_versions.c.version,
        model_versions.c.is_active,
        model_versions.c.activated_at,
    ).order_by(model_versions.c.id)
    with store.read() as connection:
        return [tuple(row) for row in connection.execute(query)]


def test_same_content_unchanged(store):
    first = activate(store, FIRST)
    before = stored_versions(store)
    ingest_messages(store, [demo("u1")])

    again = activate(store, FIRST)
    rescored = rescore_all(store, only_stale=True)

    assert first.result is ActivationResult.ACTIVATED
    assert again.result is ActivationResult.UNCHANGED
    assert again.active.id == first.active.id
    assert again.created_at == first.created_at
    assert stored_versions(store) == before
    assert rescored.leads == 0


def test_other_content_same_version_rejected(store):
    first = activate(store, FIRST)
    activate(store, SECOND)
    activate(store, FIRST)
    before = stored_versions(store)

    with pytest.raises(VersionConflict) as raised:
        activate(store, CHANGED, "changed.yaml")

    # Version 2 is stored, so the proposal skips it.
    assert str(raised.value) == f"changed.yaml, line 2, field version: {conflict(1, '3')}"
    assert raised.value.exit_code == 2
    assert stored_versions(store) == before
    with store.read() as connection:
        assert active_model(connection).id == first.active.id


def test_conflict_without_version_field(store):
    activate(store, FIRST.replace("name: versions test model", "name: leadq model"))
    unnamed = CHANGED.replace("name: versions test model\nversion: 1\n", "")

    with pytest.raises(VersionConflict) as raised:
        activate(store, unnamed, "unnamed.yaml")

    assert str(raised.value) == (
        "unnamed.yaml, field version: model 'leadq model' version 1 is stored "
        "already (model version #1) with different text; add `version: 2` to the "
        "file, so that the change is stored as a new version"
    )


def test_conflict_text_version(store):
    activate(store, FIRST.replace("version: 1", "version: v2026-4"))
    activate(store, FIRST.replace("version: 1", "version: v2026-5"))

    with pytest.raises(VersionConflict) as raised:
        activate(store, CHANGED.replace("version: 1", "version: v2026-4"))

    assert "raise `version:` in the file, for example to v2026-6," in str(raised.value)


def test_earlier_version_reactivated(store):
    first = activate(store, FIRST)
    ingest_messages(store, [demo("u1"), demo("u2")])
    second = activate(store, SECOND)
    rescore_all(store, only_stale=True)

    again = activate(store, FIRST)
    rescored = rescore_all(store, only_stale=True)

    assert again.result is ActivationResult.REACTIVATED
    assert again.active.id == first.active.id
    assert again.created_at == first.created_at
    versions = stored_versions(store)
    assert [row[:3] for row in versions] == [(1, "1", True), (2, "2", False)]
    assert versions[0][3] > versions[1][3]
    assert rescored.leads == 2
    with store.read() as connection:
        history = connection.execute(
            select(stage_history.c.new_stage, stage_history.c.model_version_id)
            .where(stage_history.c.cause == "model")
            .order_by(stage_history.c.id)
        ).all()
    # The second model moved both leads to mql; the first one moves them back.
    assert [tuple(row) for row in history] == [
        ("mql", second.active.id),
        ("mql", second.active.id),
        ("unqualified", first.active.id),
        ("unqualified", first.active.id),
    ]


def test_concurrent_activations_store_once(store):
    barrier = threading.Barrier(2)
    results = []

    def activate_after_barrier() -> None:
        barrier.wait()
        results.append(activate(store, FIRST).result)

    threads = [threading.Thread(target=activate_after_barrier) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(results) == [ActivationResult.ACTIVATED, ActivationResult.UNCHANGED]
    assert len(stored_versions(store)) == 1


def test_api_activation_results(client, keys):
    admin = {"Authorization": f"Bearer {keys.admin}"}

    def post(text: str):
        return client.post("/api/models", content=text.encode(), headers=admin)

    first, same, changed, second, earlier = (
        post(FIRST),
        post(FIRST),
        post(CHANGED),
        post(SECOND),
        post(FIRST),
    )

    assert first.status_code == 201, first.text
    assert first.json()["result"] == "activated"
    assert same.status_code == 200, same.text
    assert same.json() == {**first.json(), "result": "unchanged"}
    assert changed.status_code == 409
    # The server activated the built-in default model first, as #1.
    assert changed.json()["error"] == {
        "code": "version_conflict",
        "message": "request body, line 2, field version: "
        + conflict(first.json()["id"], "2"),
        "field": "version",
    }
    assert second.status_code == 201
    assert earlier.status_code == 200
    assert earlier.json() == {**first.json(), "result": "reactivated"}


def test_api_body_not_utf8(client, keys, store):
    admin = {"Authorization": f"Bearer {keys.admin}"}
    body = FIRST.replace("versions test model", "modèle").encode("latin-1")
    before = stored_versions(store)

    answer = client.post("/api/models", content=body, headers=admin)

    assert answer.status_code == 400, answer.text
    position = body.index(b"\xe8")
    assert answer.json()["error"] == {
        "code": "invalid_model",
        "message": f"the body is not UTF-8 text: byte 0xe8 at position {position} "
        "is invalid there; send the model's YAML in UTF-8",
    }
    assert stored_versions(store) == before


@pytest.mark.parametrize("dialect", STORE_DIALECTS)
def test_activate_command_messages(dialect, tmp_path):
    model = tmp_path / "model.yaml"

    def activate_file(text: str):
        model.write_text(text, encoding="utf-8")
        return leadq("model", "activate", str(model), "--database", url)

    with database_url(dialect, tmp_path) as url:
        first = activate_file(FIRST)
        same = activate_file(FIRST)
        changed = activate_file(CHANGED)
        second = activate_file(SECOND)
        earlier = activate_file(FIRST)

    rescored = "leads are rescored by `leadq serve` or `leadq rescore`"
    label = "versions test model v1 (#1)"
    assert first.returncode == 0, first.stderr
    assert first.stdout == f"activated {label}; {rescored}\n"
    assert same.returncode == 0, same.stderr
    assert same.stdout == (
        f"{label} is active already with this content; nothing changed, "
        "so no lead is rescored\n"
    )
    assert changed.returncode == 2
    assert changed.stderr == f"error: {model}, line 2, field version: {conflict(1, '2')}\n"
    assert second.returncode == 0, second.stderr
    assert second.stdout == f"activated versions test model v2 (#2); {rescored}\n"
    assert earlier.returncode == 0, earlier.stderr
    assert earlier.stdout.startswith(f"reactivated {label}, stored at 20")
    assert earlier.stdout.endswith(f"Z; {rescored}\n")


def test_stored_unchecked_version_still_read(store):
    # An older leadq stored `version: true` as version 1 without a check.
    body = FIRST.replace("version: 1", "version: true")
    with store.write() as connection:
        connection.execute(
            insert(model_versions).values(
                name="versions test model", version="1", body=body, digest="older",
                created_at=1, activated_at=1, is_active=True,
            )
        )  # fmt: skip
        found = active_model(connection)

    assert found.model.version == 1
    with store.write() as connection, pytest.raises(ModelError) as raised:
        activate_model_version(connection, body, "model.yaml")
    assert raised.value.field == "version"
    assert "invalid version true" in str(raised.value)


@pytest.mark.parametrize("dialect", STORE_DIALECTS)
def test_activate_command_empty_version(dialect, tmp_path):
    model = tmp_path / "model.yaml"
    model.write_text(FIRST.replace("version: 1", 'version: ""'), encoding="utf-8")
    with database_url(dialect, tmp_path) as url:
        done = leadq("model", "activate", str(model), "--database", url)

    assert done.returncode == 2
    assert done.stderr.startswith(f'error: {model}, line 2, field version: invalid version "": it is empty;')


@pytest.mark.parametrize(
    ("stored", "conflicting", "proposed"),
    [
        (["1", "50"], "1", "2"),
        (["2026-01"], "2026-01", "2026-02"),
        (["2026-09", "2026-10"], "2026-09", "2026-11"),
        (["-1"], "-1", "1"),
        (["-1", "1"], "-1", "2"),
    ],
)
def test_conflict_proposes_next_free_version(store, stored, conflicting, proposed):
    for version in stored:
        activate(store, FIRST.replace("version: 1", f'version: "{version}"'))

    with pytest.raises(VersionConflict) as raised:
        activate(store, CHANGED.replace("version: 1", f'version: "{conflicting}"'))

    assert f"raise `version:` in the file, for example to {proposed}," in str(raised.value)


# A version that a leadq release from before the limits on points stored.
BEYOND = FIRST.replace("points: 10", "points: 5000000")
BEYOND_POINTS = (
    "line 6, field engagement.rules[0].points: Input should be less than or equal to 1000000, got 5000000"
)
LIMITS_FIX = (
    "correct them in the model file, raise its `version:` and activate it with `leadq model activate FILE`"
)


def limits_warning(version_id: int, values: str = BEYOND_POINTS) -> str:
    return (
        f"the active model, versions test model v1 (#{version_id}), has values beyond the "
        f"limits of this leadq release: {values}. leadq keeps scoring with them, but "
        f"`leadq model activate` rejects them; {LIMITS_FIX}"
    )


def store_active_version(store, body: str) -> int:
    """Store a version as an older leadq did, without today's checks, and make it the only active one.

    That leadq created the version's binding table when it activated it.
    """
    with store.write() as connection:
        connection.execute(update(model_versions).values(is_active=False))
        version_id = connection.execute(
            insert(model_versions)
            .values(
                name="versions test model", version="1", body=body,
                digest=hashlib.sha256(body.encode()).hexdigest(),
                created_at=1, activated_at=1, is_active=True,
            )
            .returning(model_versions.c.id)
        ).scalar_one()  # fmt: skip
        model = parse_model(body, source="older leadq", stored=True)
        create_binding_table(connection, compile_model(model))
    return version_id


def test_stored_points_beyond_limits_keep_scoring(store):
    version_id = store_active_version(store, BEYOND)
    ingest_messages(store, [demo("u1")])
    report = rescore_all(store)
    with store.read() as connection:
        found = active_model(connection)
        scored = connection.execute(select(leads.c.total, leads.c.stage, leads.c.model_version_id)).one()

    assert found.id == version_id
    assert [str(error) for error in found.beyond_limits] == [f"model version {version_id}, {BEYOND_POINTS}"]
    assert found.limits_warning() == limits_warning(version_id)
    assert tuple(scored) == (5_000_000.0, "mql", version_id)
    assert (report.leads, report.failed) == (1, {})


def test_beyond_limits_not_activated_again(store):
    store_active_version(store, BEYOND)

    with store.write() as connection, pytest.raises(ModelError) as raised:
        activate_model_version(connection, BEYOND, "model.yaml")

    assert str(raised.value) == f"model.yaml, {BEYOND_POINTS}"


def test_limits_warning_lists_three_values(store):
    body = BEYOND.replace("at_least: 20", "at_least: 2e12").replace(
        "engagement:\n", "engagement:\n  min: -3e12\n  max: 4e12\n"
    )
    version_id = store_active_version(store, body)
    with store.read() as connection:
        found = active_model(connection)

    values = (
        "line 5, field engagement.min: Input should be greater than or equal to -1000000000000, "
        "got -3000000000000.0; "
        "line 6, field engagement.max: Input should be less than or equal to 1000000000000, "
        "got 4000000000000.0; "
        "line 8, field engagement.rules[0].points: Input should be less than or equal to 1000000, "
        "got 5000000; and 1 more"
    )
    assert len(found.beyond_limits) == 4
    assert found.beyond_limits[3].field == "stages[0].when.at_least"
    assert found.limits_warning() == limits_warning(version_id, values)


def test_stored_values_too_large_to_score(store):
    version_id = store_active_version(store, FIRST.replace("points: 10", "points: 1e308"))

    with pytest.raises(LeadqError) as raised:
        ingest_messages(store, [demo("u1")])

    assert str(raised.value) == (
        f"scoring with the active model, versions test model v1 (#{version_id}), failed: "
        "overflow occurred during rounding. Its values beyond the limits of this leadq "
        "release can make scores overflow: line 6, field engagement.rules[0].points: "
        f"Input should be less than or equal to 1000000, got 1e+308; {LIMITS_FIX}"
    )


@pytest.mark.parametrize("dialect", STORE_DIALECTS)
def test_commands_warn_of_values_beyond_limits(dialect, tmp_path):
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(BEYOND.replace("version: 1", "version: 2").replace("points: 5000000", "points: 50"))
    with database_url(dialect, tmp_path) as url:
        store = open_store(url)
        try:
            version_id = store_active_version(store, BEYOND)
        finally:
            store.dispose()
        shown = leadq("model", "show", "--database", url)
        rescored = leadq("rescore", "--database", url)
        activated = leadq("model", "activate", str(fixed), "--database", url)
        fixed_run = leadq("rescore", "--database", url)

    warning = f"WARNING leadq.service: {limits_warning(version_id)}\n"
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == BEYOND
    assert shown.stderr == warning
    assert rescored.returncode == 0, rescored.stderr
    assert rescored.stdout == f"rescored 0 leads with versions test model v1 (#{version_id}); 0 stage changes\n"
    assert rescored.stderr == warning
    assert activated.returncode == 0, activated.stderr
    assert fixed_run.returncode == 0, fixed_run.stderr
    assert fixed_run.stderr == ""


def test_serve_starts_with_values_beyond_limits(store, tmp_path):
    version_id = store_active_version(store, BEYOND)
    write_key = create_key(store.url, "write")
    log = tmp_path / "serve.log"
    server = Server(store.url, free_port(), log).start()
    try:
        tracked = httpx.post(
            f"{server.base}/v1/track",
            json={"userId": "u1", "event": "demo_requested", "messageId": "m-1"},
            auth=(write_key, ""),
            timeout=30,
        )
    finally:
        server.stop()
    with store.read() as connection:
        scored = connection.execute(select(leads.c.total, leads.c.stage)).one()

    assert tracked.status_code == 200, tracked.text
    assert tuple(scored) == (5_000_000.0, "mql")
    assert f"WARNING leadq.service: {limits_warning(version_id)}\n" in log.read_text()
