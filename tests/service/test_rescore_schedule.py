"""The rescore schedule: leads of an older model version move to the active one."""

from __future__ import annotations

import logging
import re
import time

import pytest
from sqlalchemy import select, update

from leadq.service.ingest import Message, ingest_messages
from leadq.service.model_versions import activate_model
from leadq.service.schedule import RescoreWorker, rescore_all
from leadq.store.tables import leads, stage_history
from tests.service.servers import Server, free_port, leadq
from tests.service.webhook_receiver import wait_until

FIRST = """
name: schedule test model
version: 1
key: email
engagement:
  rules:
    - {id: demo, event: demo_requested, points: 10}
stages:
  - {id: mql, when: {score: engagement, at_least: 20}}
  - {id: unqualified}
"""
SECOND = FIRST.replace("version: 1", "version: 2").replace("at_least: 20", "at_least: 10")


def demo(user: str) -> Message:
    return Message("track", f"demo-{user}", user_id=user, event="demo_requested")


def test_activation_moves_leads_once(store):
    with store.write() as connection:
        activate_model(connection, FIRST, "first.yaml")
    ingest_messages(store, [demo("u1"), demo("u2")])
    with store.write() as connection:
        second = activate_model(connection, SECOND, "second.yaml")

    moved = rescore_all(store, only_stale=True)
    again = rescore_all(store, only_stale=True)

    assert (moved.leads, moved.stage_changes) == (2, 2)
    assert (again.leads, again.stage_changes) == (0, 0)
    with store.read() as connection:
        rows = connection.execute(select(leads.c.stage, leads.c.model_version_id)).all()
        history = connection.execute(
            select(stage_history.c.new_stage, stage_history.c.cause, stage_history.c.reason)
            .where(stage_history.c.cause == "model")
        ).all()
    assert sorted(rows) == [("mql", second.id), ("mql", second.id)]
    assert [tuple(row) for row in history] == [("mql", "model", f"model {second.label} activated")] * 2


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_logs_activation_and_stop(store, tmp_path, workers):
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text(FIRST, encoding="utf-8")
    second.write_text(SECOND, encoding="utf-8")
    assert leadq("model", "activate", str(first), "--database", store.url).returncode == 0
    log = tmp_path / "serve.log"
    server = Server(store.url, free_port(), log).start("--workers", workers)
    picked_up = (
        "INFO leadq.service: model schedule test model v2 (#2) is active now; "
        "the leads that older versions scored are rescored\n"
    )
    try:
        activated = leadq("model", "activate", str(second), "--database", store.url)
        wait_until(lambda: picked_up in log.read_text(), 30, "the activation's log line")
    finally:
        server.stop()

    assert activated.returncode == 0, activated.stderr
    output = log.read_text()
    stopped = "INFO leadq.service: leadq serve stopped\n"
    assert output.count(picked_up) == 1
    assert output.count(stopped) == 1
    assert output.index(picked_up) < output.index(stopped)
    timed = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ INFO leadq.service: leadq serve stopped$"
    assert re.search(timed, output, re.MULTILINE)


def _damaged_leads(store, users: list[str], damaged: list[int]) -> list[int]:
    """Store leads under FIRST, activate SECOND, and break the stored attributes of the leads at `damaged` places."""
    with store.write() as connection:
        activate_model(connection, FIRST, "first.yaml")
    ingest_messages(store, [demo(user) for user in users])
    with store.write() as connection:
        activate_model(connection, SECOND, "second.yaml")
        ids = connection.execute(select(leads.c.id).order_by(leads.c.id)).scalars().all()
        broken = [ids[place] for place in damaged]
        connection.execute(update(leads).where(leads.c.id.in_(broken)).values(attributes="{not json"))
    return broken


def _three_leads_one_damaged(store) -> int:
    return _damaged_leads(store, ["u1", "u2", "u3"], [1])[0]


def _stages(store) -> dict[int, str]:
    with store.read() as connection:
        return dict(connection.execute(select(leads.c.id, leads.c.stage)).all())


def test_rescore_all_skips_failing_lead(store):
    damaged = _three_leads_one_damaged(store)

    report = rescore_all(store, only_stale=True)

    assert (report.leads, report.stage_changes) == (2, 2)
    assert list(report.failed) == [damaged]
    assert report.failed[damaged] == (
        f"the stored attributes of lead {damaged} are not a JSON object ('{{not json'); "
        "set them to a JSON object such as '{}' in the database, or erase the lead"
    )
    stages = _stages(store)
    assert stages.pop(damaged) == "unqualified"
    assert set(stages.values()) == {"mql"}
    # A run that leaves the failed lead out finds nothing else to do.
    assert rescore_all(store, only_stale=True, skip={damaged}).failed == {}


def test_rescore_all_reports_every_lead_failing(store):
    damaged = _damaged_leads(store, ["u1", "u2"], [0, 1])

    report = rescore_all(store, only_stale=True)

    assert report.leads == 0
    assert sorted(report.failed) == damaged


def test_rescore_command_names_failed_lead(store):
    damaged = _three_leads_one_damaged(store)

    done = leadq("rescore", "--database", store.url)

    assert done.returncode == 1
    assert "rescored 2 leads with schedule test model v2 (#2); 2 stage changes" in done.stdout
    assert f"rescore of lead {damaged} failed, so it keeps its old scores: the stored attributes of lead {damaged} are not a JSON object" in done.stderr
    assert done.stderr.count(f"rescore of lead {damaged} failed") == 1
    assert "1 of the leads failed and the others were rescored" in done.stderr
    assert sorted(_stages(store).values()) == ["mql", "mql", "unqualified"]


def test_worker_logs_failed_lead_once(store, caplog):
    damaged = _three_leads_one_damaged(store)
    caplog.set_level(logging.ERROR, logger="leadq.service")

    worker = RescoreWorker(store, every_seconds=3600, poll_seconds=0.05)
    try:
        wait_until(lambda: sorted(_stages(store).values()) == ["mql", "mql", "unqualified"], 30, "the rescore")
        time.sleep(0.5)
    finally:
        worker.stop()

    messages = [record.getMessage() for record in caplog.records]
    failures = [message for message in messages if message.startswith("rescore of lead")]
    assert len(failures) == 1
    assert failures[0].startswith(f"rescore of lead {damaged} failed, so it keeps its old scores: the stored attributes")
