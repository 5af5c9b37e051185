"""Recycle baselines across merges: each event counts as it did for the lead it came from.

A recycle leaves out the lead's events at or before its time. A merge moves
the merged lead's events to the survivor, and neither lead's earlier recycle
may then change which of the moved or kept events count. A recycle of the
survivor after the merge leaves out all of its events up to then.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from leadq.engines import run_on_connection
from leadq.service import lead_actions
from leadq.service.event_bindings import binding_table
from leadq.service.identity import merge
from leadq.service.imports import import_file
from leadq.service.ingest import Message, ingest_messages
from leadq.service.lead_actions import recycle
from leadq.service.lead_tables import read_stored_leads
from leadq.service.model_versions import activate_model, active_model
from leadq.service.rescoring import _scored
from leadq.service.schedule import rescore_all
from leadq.store.database import now_micros
from leadq.store.tables import events, leads
from tests.service.conftest import T0
from tests.service.test_merges import MODEL, identify, lead_ids

# One more property rule, so the model binds events into another table.
WIDER = MODEL.replace("version: 1", "version: 2").replace(
    "    - {id: demo,",
    "    - {id: pricing, event: page_viewed, where: {url: {contains: /pricing}}, points: 1}\n    - {id: demo,",
)
IMPORT_MODEL = MODEL.replace("key: email", "key: lead_id")


@pytest.fixture()
def model(store) -> None:
    with store.write() as connection:
        activate_model(connection, MODEL, "baselines.yaml")


def track_demo(store, user: str, message_id: str, at: int | None = T0) -> None:
    """Track a demo request at event time `at`, or at the time it arrives when `at` is None."""
    message = Message("track", message_id, user_id=user, event="demo_requested", timestamp=at)
    ingest_messages(store, [message])


def engagement(store, lead: int) -> float:
    with store.read() as connection:
        return connection.execute(select(leads.c.engagement).where(leads.c.id == lead)).scalar_one()


def event_leads(store) -> dict[str, int]:
    """Return each stored event's lead id by message id."""
    with store.read() as connection:
        return dict(connection.execute(select(events.c.message_id, events.c.lead_id)).all())


# Whether the older lead is recycled too, and the engagement of the merged lead.
OLDER_RECYCLED = pytest.mark.parametrize("older_recycled, merged_engagement", [(True, 10), (False, 20)])


def two_leads(store) -> tuple[int, int]:
    """Identify two leads, track `new-0` at T0 for the newer, and return the ids of the older and the newer."""
    identify(store, "u-old", "i-old", email="old@acme.example")
    identify(store, "u-new", "i-new", email="new@acme.example")
    track_demo(store, "u-new", "new-0")
    ids = lead_ids(store)
    return ids["u-old"], ids["u-new"]


def two_recycled_leads(store, older_recycled: bool = True) -> tuple[int, int]:
    """Identify two leads, give each events, recycle them, and return the ids of the older and the newer.

    The newer lead has `new-0` at T0 (`two_leads`), is recycled, then gets `new-1` at the
    time it arrives. The older lead has `old-0` at T0. With
    `older_recycled`, it is recycled after that, so `new-1` is at or before
    its baseline. `new-1` counts for the newer lead and `old-0` for the
    older one unless it was recycled, and so for the merged lead.
    """
    older, newer = two_leads(store)
    recycle(store, newer, "new project")
    track_demo(store, "u-new", "new-1", at=None)
    track_demo(store, "u-old", "old-0")
    if older_recycled:
        recycle(store, older, "bought elsewhere")
    assert engagement(store, newer) == 10
    assert engagement(store, older) == (0 if older_recycled else 10)
    return older, newer


def merge_by_identify(store) -> None:
    """Give the newer lead of `two_recycled_leads` the older one's email, which merges them."""
    identify(store, "u-new", "i-merge", email="old@acme.example")


def scored_both_ways(store, lead: int) -> tuple[float, float]:
    """Return the lead's engagement scored from stored bindings and from events bound in Python.

    Rescores read the bindings, and backtests, reports and predictive models
    bind the events in Python (leadq.service.lead_tables).
    """
    now = now_micros()
    with store.write() as connection:
        active = active_model(connection)
        in_store, _ = _scored(connection, active, [lead], now)
        stored = read_stored_leads(connection, active.compiled, [lead], now)
        in_python = run_on_connection(connection, active.compiled, stored.tables, now)
    return in_store["engagement_score"][0].as_py(), in_python["engagement_score"][0].as_py()


@OLDER_RECYCLED
def test_identify_merge_keeps_recycles_apart(store, model, older_recycled, merged_engagement):
    older, newer = two_recycled_leads(store, older_recycled)

    merge_by_identify(store)

    assert engagement(store, older) == merged_engagement
    assert event_leads(store) == {"new-0": older, "new-1": older, "old-0": older}


@OLDER_RECYCLED
def test_api_merge_keeps_recycles_apart(store, model, client, keys, older_recycled, merged_engagement):
    older, newer = two_recycled_leads(store, older_recycled)

    headers = {"Authorization": f"Bearer {keys.admin}"}
    response = client.post(f"/api/leads/{newer}/merge", json={"into": older}, headers=headers)

    assert response.status_code == 200, response.text
    assert engagement(store, older) == merged_engagement
    assert event_leads(store) == {"new-0": older, "new-1": older, "old-0": older}


def test_api_merge_into_newer_lead(store, model, client, keys):
    older, newer = two_recycled_leads(store)

    headers = {"Authorization": f"Bearer {keys.admin}"}
    response = client.post(f"/api/leads/{older}/merge", json={"into": newer}, headers=headers)

    assert response.status_code == 200, response.text
    assert engagement(store, newer) == 10


@OLDER_RECYCLED
def test_readers_agree_after_merge(store, model, older_recycled, merged_engagement):
    older, _ = two_recycled_leads(store, older_recycled)

    merge_by_identify(store)

    assert scored_both_ways(store, older) == (merged_engagement, merged_engagement)


def test_model_change_keeps_recycles_apart(store, model):
    older, _ = two_recycled_leads(store)
    merge_by_identify(store)
    with store.write() as connection:
        wider = activate_model(connection, WIDER, "wider.yaml")

    report = rescore_all(store)

    assert report.failed == {}
    assert engagement(store, older) == 10
    assert scored_both_ways(store, older) == (10, 10)
    with store.read() as connection:
        bound = connection.execute(select(func.count()).select_from(binding_table(wider.compiled))).scalar_one()
    assert bound == 3


def test_survivor_recycle_after_merge_excludes_all(store, model):
    older, _ = two_recycled_leads(store)
    merge_by_identify(store)

    recycle(store, older, "starts over")
    recycled = engagement(store, older)
    track_demo(store, "u-new", "after-recycle", at=None)

    assert recycled == 0
    assert engagement(store, older) == 10
    assert scored_both_ways(store, older) == (10, 10)


def test_late_event_follows_survivor_baseline(store, model):
    older, _ = two_recycled_leads(store)
    merge_by_identify(store)

    # The merged lead's user id now names the survivor, whose recycle
    # leaves out an event dated at or before it.
    track_demo(store, "u-new", "late", at=T0)

    assert engagement(store, older) == 10


def test_chained_merges_keep_each_recycle(store, model):
    for user in ("first", "second", "third"):
        identify(store, f"u-{user}", f"i-{user}", email=f"{user}@acme.example")
    ids = lead_ids(store)
    first, second = ids["u-first"], ids["u-second"]
    track_demo(store, "u-second", "second-0")
    recycle(store, second, "new project")
    track_demo(store, "u-third", "third-0")
    track_demo(store, "u-third", "third-1")

    identify(store, "u-third", "i-merge-1", email="second@acme.example")
    after_first_merge = engagement(store, second)
    identify(store, "u-second", "i-merge-2", email="first@acme.example")

    assert after_first_merge == 20
    assert engagement(store, first) == 20
    assert scored_both_ways(store, first) == (20, 20)
    assert set(event_leads(store).values()) == {first}


def test_recycle_during_merge_recycles_survivor(store, model):
    older, newer = two_leads(store)
    answers = []
    recycling = threading.Thread(target=lambda: answers.append(recycle(store, newer, "new project")))

    # The recycle starts while the merge's transaction is open, so it
    # finds the newer lead not merged yet and must wait for the merge.
    with store.write() as connection:
        merge(connection, older, newer, now_micros())
        recycling.start()
        time.sleep(0.5)
    recycling.join(timeout=60)

    assert answers[0].lead_id == older
    assert engagement(store, older) == 0
    assert scored_both_ways(store, older) == (0, 0)


def test_merge_during_recycle_keeps_it(store, model):
    older, newer = two_leads(store)
    merging = threading.Thread(target=lead_actions._merge, args=(store, newer, older))

    # The merge starts while the recycle's transaction is open, so it must
    # wait for the recycle's baseline before it decides the moved events.
    with store.write() as connection:
        lead_actions._recycle(connection, newer, "new project")
        merging.start()
        time.sleep(0.5)
    merging.join(timeout=60)

    assert event_leads(store) == {"new-0": older}
    assert engagement(store, older) == 0
    assert scored_both_ways(store, older) == (0, 0)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@OLDER_RECYCLED
def test_import_merge_keeps_recycles_apart(store, tmp_path, older_recycled, merged_engagement):
    with store.write() as connection:
        activate_model(connection, IMPORT_MODEL, "import.yaml")
    header = "event_id,lead_id,event,timestamp\n"
    import_file(store, "leads", write(tmp_path, "leads.csv", "lead_id,email\nL-1,ana@acme.example\nL-2,bob@corp.example\n"))
    ids = lead_ids(store)
    older, newer = ids["L-1"], ids["L-2"]
    import_file(store, "events", write(tmp_path, "new-0.csv", header + "new-0,L-2,demo_requested,2026-05-01T00:00:00Z\n"))
    recycle(store, newer, "new project")
    now = datetime.now(timezone.utc).isoformat()
    import_file(store, "events", write(tmp_path, "new-1.csv", header + f"new-1,L-2,demo_requested,{now}\n"))
    import_file(store, "events", write(tmp_path, "old-0.csv", header + "old-0,L-1,demo_requested,2026-05-01T00:00:00Z\n"))
    if older_recycled:
        recycle(store, older, "bought elsewhere")

    report = import_file(store, "leads", write(tmp_path, "merge.csv", "lead_id,email\nL-2,ana@acme.example\n"))

    assert report.rejected == []
    assert engagement(store, older) == merged_engagement
    assert event_leads(store) == {"new-0": older, "new-1": older, "old-0": older}
