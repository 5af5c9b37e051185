"""The tracking API of a real `leadq serve` process, on SQLite and PostgreSQL."""

from __future__ import annotations

import functools
import gzip
import json
import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from segment.analytics import request as segment_request
from sqlalchemy import create_engine, func, select

from leadq.service.errors import ApiError
from leadq.service.keys import key_hash
from leadq.service.tracking_body import BATCH_LIMIT, BodyReader
from leadq.store.tables import accounts, api_keys, events, leads, outbox, stage_history, webhook_subscriptions
from tests.conftest import STORE_DIALECTS, database_url
from tests.service.servers import Server, create_key, free_port, leadq
from tests.service.webhook_receiver import wait_until

MODEL = """
name: tracking test model
version: 1
key: email
fit:
  rules:
    - {id: big_company, field: company_size, at_least: 100, points: 20}
    - {id: partner, field: email, email_domain_in: [partner.example], points: 5}
engagement:
  rules:
    - {id: ping, event: ping, points: 1}
    - {id: demo, event: demo_requested, points: 10}
    - {id: cool_down, event: cool_down, points: -20}
    - {id: faded, event: faded, points: 5, decay: {half_life_days: 1}}
stages:
  - {id: sql, sticky: true, when: {score: engagement, at_least: 30}}
  - {id: mql, when: {score: engagement, at_least: 10}}
  - {id: unqualified}
"""


@pytest.fixture(scope="module", params=STORE_DIALECTS)
def service(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"serve-{request.param}")
    with database_url(request.param, folder) as url:
        model = folder / "model.yaml"
        model.write_text(MODEL, encoding="utf-8")
        done = leadq("model", "activate", str(model), "--database", url)
        assert done.returncode == 0, done.stderr
        keys = {kind: create_key(url, kind) for kind in ("write", "read", "admin")}
        server = Server(url, free_port(), folder / "serve.log").start()
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(
                webhook_subscriptions.insert().values(
                    url="http://127.0.0.1:9/", secret="s", event_types=json.dumps(["lead.stage_changed"]),
                    active=True, created_at=0,
                )
            )
        yield Service(server, url, keys, engine)
        server.stop()
        engine.dispose()


class Service:
    def __init__(self, server: Server, url: str, keys: dict, engine) -> None:
        self.server, self.url, self.keys, self.engine = server, url, keys, engine

    def post(self, path: str, body, kind: str = "write", headers: dict | None = None, **kwargs) -> httpx.Response:
        content = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return httpx.post(
            self.server.base + path, content=content, auth=(self.keys[kind], ""),
            headers={"content-type": "application/json", **(headers or {})}, timeout=60, **kwargs,
        )

    def lead(self, lead_key: str):
        with self.engine.connect() as connection:
            return connection.execute(select(leads).where(leads.c.lead_key == lead_key)).first()

    def count(self, table, *where) -> int:
        with self.engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(table).where(*where)).scalar_one()

    def history(self, lead_id: int) -> list[tuple]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(stage_history.c.old_stage, stage_history.c.new_stage)
                .where(stage_history.c.lead_id == lead_id).order_by(stage_history.c.id)
            )
            return [tuple(row) for row in rows]

    def stage_webhooks(self, lead_id: int) -> list[str]:
        with self.engine.connect() as connection:
            payloads = connection.execute(
                select(outbox.c.payload).where(outbox.c.event_type == "lead.stage_changed").order_by(outbox.c.id)
            )
            bodies = [json.loads(payload)["data"] for payload in payloads.scalars()]
        return [body["stage"] for body in bodies if body["lead"]["id"] == lead_id]


def ping(user: str, message_id: str, event: str = "ping") -> dict:
    return {"userId": user, "event": event, "messageId": message_id, "timestamp": "2026-01-05T10:00:00Z"}


def test_lead_becomes_mql_then_sql(service: Service):
    answer = service.post("/v1/identify", {"userId": "u-flow", "traits": {"email": "Flow@Example.com", "company_size": 250}})
    assert answer.status_code == 200, answer.text
    for index in range(10):
        assert service.post("/v1/track", ping("u-flow", f"flow-{index}")).status_code == 200
    lead = service.lead("u-flow")
    assert (lead.stage, lead.engagement, lead.fit, lead.email) == ("mql", 10.0, 20.0, "flow@example.com")
    service.post("/v1/track", ping("u-flow", "flow-demo-1", "demo_requested"))
    service.post("/v1/track", ping("u-flow", "flow-demo-2", "demo_requested"))
    lead = service.lead("u-flow")
    assert (lead.stage, lead.engagement) == ("sql", 30.0)
    assert service.history(lead.id) == [(None, "unqualified"), ("unqualified", "mql"), ("mql", "sql")]
    assert service.stage_webhooks(lead.id) == ["mql", "sql"]


def test_threshold_crossed_again_after_a_dip_fires_nothing(service: Service):
    for index in range(10):
        service.post("/v1/track", ping("u-dip", f"dip-{index}"))
    assert service.lead("u-dip").stage == "mql"
    service.post("/v1/track", ping("u-dip", "dip-cool", "cool_down"))
    assert service.lead("u-dip").stage == "unqualified"
    for index in range(10, 30):
        service.post("/v1/track", ping("u-dip", f"dip-{index}"))
    lead = service.lead("u-dip")
    assert lead.stage == "mql"
    assert service.history(lead.id)[-2:] == [("mql", "unqualified"), ("unqualified", "mql")]
    assert service.stage_webhooks(lead.id) == ["mql"]


def test_recycled_lead_fires_again(service: Service):
    for index in range(10):
        service.post("/v1/track", ping("u-again", f"again-{index}"))
    lead = service.lead("u-again")
    assert lead.stage == "mql"
    refused = service.post(f"/api/leads/{lead.id}/recycle", {"reason": "new\u0000"}, kind="admin")
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "reason"
    assert service.lead("u-again").stage == "mql"
    answer = service.post(f"/api/leads/{lead.id}/recycle", {"reason": "new project"}, kind="admin")
    assert answer.json()["stage"] == "unqualified"
    # Events after the recycle carry the time they arrive, after its baseline.
    for index in range(10, 20):
        service.post("/v1/track", {**ping("u-again", f"again-{index}"), "timestamp": None})
    assert service.lead("u-again").stage == "mql"
    assert service.stage_webhooks(lead.id) == ["mql", "unqualified", "mql"]


def test_repeated_message_id_counts_once(service: Service):
    for _ in range(3):
        assert service.post("/v1/track", ping("u-repeat", "repeat-1")).status_code == 200
    answer = service.post("/v1/batch", {"batch": [{"type": "track", **ping("u-repeat", "repeat-1")}] * 2})
    assert answer.json() == {"success": True, "stored": 0, "repeated": 2}
    assert service.lead("u-repeat").engagement == 1.0
    assert service.count(events, events.c.message_id == "repeat-1") == 1


def test_retried_identify_changes_nothing(service: Service):
    first = {"userId": "u-retry", "messageId": "retry-1", "traits": {"title": "CEO"}}
    newer = {"userId": "u-retry", "messageId": "retry-2", "traits": {"title": "CTO"}}
    answers = [service.post("/v1/identify", body).json() for body in (first, newer, first)]
    assert [answer["repeated"] for answer in answers] == [0, 0, 1]
    assert json.loads(service.lead("u-retry").attributes) == {"title": "CTO"}


def test_email_trait_stored_normalized(service: Service):
    answer = service.post("/v1/identify", {"userId": "u-case", "traits": {"email": " Case@Example.COM "}})
    assert answer.status_code == 200, answer.text
    lead = service.lead("u-case")
    assert (lead.email, json.loads(lead.attributes)) == ("case@example.com", {"email": "case@example.com"})


def test_future_event_counts_when_due(service: Service):
    soon = datetime.now(UTC) + timedelta(seconds=3)
    answer = service.post("/v1/track", {**ping("u-soon", "soon-1"), "timestamp": soon.isoformat()})
    assert answer.status_code == 200, answer.text
    assert service.lead("u-soon").engagement == 0.0
    # `leadq serve` looks for due leads every 2 seconds.
    wait_until(lambda: service.lead("u-soon").engagement == 1.0, 30, "the event to count")
    assert service.lead("u-soon").rescore_at is None


def test_too_many_attributes_rejected(service: Service):
    def traits(start: int) -> dict:
        return {f"t{index}": 1 for index in range(start, start + 600)}

    first = service.post("/v1/identify", {"userId": "u-wide", "traits": traits(0)})
    assert first.status_code == 200, first.text
    second = service.post("/v1/identify", {"userId": "u-wide", "traits": {**traits(600), "title": "CEO"}})
    assert second.status_code == 400, second.text
    error = second.json()["error"]
    assert (error["code"], error["field"], error["value"]) == ("too_many_attributes", "traits", 1201)
    assert "1201 attribute names, over the limit of 1000 per lead or visitor" in error["message"]
    assert len(json.loads(service.lead("u-wide").attributes)) == 600
    known = service.post("/v1/identify", {"userId": "u-wide", "traits": {"t1": 2}})
    assert known.status_code == 200, known.text


def test_email_trait_any_case_sets_email(service: Service):
    traits = {" Email ": " Ann@Partner.EXAMPLE ", "title": "CEO"}
    answer = service.post("/v1/identify", {"userId": "u-caps-a", "traits": traits})

    assert answer.status_code == 200, answer.text
    lead = service.lead("u-caps-a")
    assert lead.email == "ann@partner.example"
    assert json.loads(lead.attributes) == {"email": "ann@partner.example", "title": "CEO"}
    assert lead.fit == 5.0


def test_email_trait_any_case_merges(service: Service):
    service.post("/v1/identify", {"userId": "u-caps-b", "traits": {"email": "caps-merge@example.com"}})
    track = {**ping("u-caps-c", "caps-c-1"), "context": {"traits": {"EMAIL": "Caps-Merge@Example.com"}}}
    answer = service.post("/v1/track", track)

    assert answer.status_code == 200, answer.text
    first, second = service.lead("u-caps-b"), service.lead("u-caps-c")
    assert second.merged_into == first.id
    assert first.email == "caps-merge@example.com"
    assert first.engagement == 1.0


def test_concurrent_requests_score_exactly(service: Service):
    ids = [f"burst-{index % 35}" for index in range(50)]

    def send(message_id: str) -> int:
        return service.post("/v1/track", ping("u-burst", message_id)).status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(send, ids))
    assert statuses == [200] * 50
    lead = service.lead("u-burst")
    assert lead.engagement == 35.0
    assert lead.stage == "sql"
    # Requests that arrive together are written in one transaction, so a
    # lead may go from unqualified to sql without an mql in between.
    history = service.history(lead.id)
    stages = [new for _, new in history]
    assert stages in (["unqualified", "mql", "sql"], ["unqualified", "sql"], ["mql", "sql"], ["sql"])
    assert [old for old, _ in history] == [None, *stages[:-1]]
    # One webhook per change to a stage other than the catch-all.
    assert service.stage_webhooks(lead.id) == [stage for stage in stages if stage != "unqualified"]


def test_visitor_events_count_after_identify(service: Service):
    visit = {"anonymousId": "anon-7", "event": "ping", "timestamp": "2026-01-04T08:00:00Z"}
    for index in range(4):
        assert service.post("/v1/track", {**visit, "messageId": f"anon-{index}"}).status_code == 200
    assert service.count(events, events.c.anonymous_id == "anon-7", events.c.lead_id.is_(None)) == 4
    service.post("/v1/identify", {"userId": "u-anon", "anonymousId": "anon-7", "traits": {"email": "anon@example.com"}})
    lead = service.lead("u-anon")
    assert lead.engagement == 4.0
    with service.engine.connect() as connection:
        times = connection.execute(select(events.c.ts).where(events.c.lead_id == lead.id)).scalars().all()
    assert set(times) == {1767513600000000}


def test_visitor_event_and_identify_in_one_batch(service: Service):
    visit = {"type": "track", "anonymousId": "anon-8", "event": "ping", "messageId": "anon-8-1"}
    identify = {"type": "identify", "userId": "u-anon-8", "anonymousId": "anon-8", "messageId": "anon-8-2"}
    answer = service.post("/v1/batch", {"batch": [visit, identify]})
    assert answer.status_code == 200
    lead = service.lead("u-anon-8")
    assert lead.engagement == 1.0
    assert service.count(events, events.c.anonymous_id == "anon-8", events.c.lead_id.is_(None)) == 0


def test_visitor_traits_reach_lead(service: Service):
    visitor = {"anonymousId": "anon-10", "traits": {"title": "CEO", "company_size": 250}, "messageId": "an10"}
    first = service.post("/v1/identify", visitor)
    assert first.status_code == 200, first.text
    assert first.json() == {"success": True, "stored": 0, "repeated": 0}
    assert service.lead("anon10@acme.example") is None
    linking = {"anonymousId": "anon-10", "traits": {"email": "anon10@acme.example"}, "messageId": "an10b"}
    assert service.post("/v1/identify", linking).status_code == 200

    lead = service.lead("anon10@acme.example")
    record = httpx.get(f"{service.server.base}/api/leads/{lead.id}", auth=(service.keys["read"], ""), timeout=60)
    assert record.status_code == 200, record.text
    body = record.json()
    assert body["attributes"] == {"title": "CEO", "company_size": 250, "email": "anon10@acme.example"}
    assert body["fit"] == 20.0


def test_visitor_group_reaches_lead(service: Service):
    visitor = {"anonymousId": "anon-11", "groupId": "initech", "traits": {"company_size": 250}, "messageId": "g11"}
    first = service.post("/v1/group", visitor)
    assert first.status_code == 200, first.text
    assert first.json() == {"success": True, "stored": 0, "repeated": 0}
    linking = {"anonymousId": "anon-11", "traits": {"email": "anon11@acme.example"}, "messageId": "g11b"}
    assert service.post("/v1/identify", linking).status_code == 200

    lead = service.lead("anon11@acme.example")
    record = httpx.get(f"{service.server.base}/api/leads/{lead.id}", auth=(service.keys["read"], ""), timeout=60)
    assert record.status_code == 200, record.text
    body = record.json()
    assert body["account"]["group_id"] == "initech"
    assert body["account"]["traits"] == {"company_size": 250}
    assert body["fit"] == 20.0


def test_revoked_write_key_stores_nothing(service: Service):
    key = create_key(service.url, "write")
    first = httpx.post(service.server.base + "/v1/track", json=ping("u-revoked", "revoked-1"), auth=(key, ""), timeout=30)
    assert first.status_code == 200
    with service.engine.begin() as connection:
        connection.execute(api_keys.update().where(api_keys.c.key_hash == key_hash(key)).values(revoked_at=1))
    second = httpx.post(service.server.base + "/v1/track", json=ping("u-revoked", "revoked-2"), auth=(key, ""), timeout=30)
    assert second.status_code == 401
    assert second.json()["error"]["code"] == "unknown_key"
    assert service.count(events, events.c.message_id == "revoked-2") == 0
    assert service.lead("u-revoked").engagement == 1.0


def test_same_email_merges_two_leads(service: Service):
    service.post("/v1/identify", {"userId": "u-merge-a", "traits": {"email": "merge@example.com"}})
    service.post("/v1/track", ping("u-merge-a", "merge-a-1"))
    service.post("/v1/identify", {"userId": "u-merge-b"})
    service.post("/v1/track", ping("u-merge-b", "merge-b-1"))
    service.post("/v1/identify", {"userId": "u-merge-b", "traits": {"email": " MERGE@example.com "}})
    first, second = service.lead("u-merge-a"), service.lead("u-merge-b")
    assert second.merged_into == first.id
    assert first.engagement == 2.0
    assert service.post("/v1/track", ping("u-merge-b", "merge-b-2")).status_code == 200
    assert service.lead("u-merge-a").engagement == 3.0


def test_merge_keeps_newest_history_row_true(service: Service):
    service.post("/v1/identify", {"userId": "u-hist-a", "traits": {"email": "hist@example.com"}})
    for index in range(3):
        service.post("/v1/track", ping("u-hist-a", f"hist-a-{index}", "demo_requested"))
    service.post("/v1/identify", {"userId": "u-hist-b"})
    service.post("/v1/identify", {"userId": "u-hist-b", "traits": {"email": "hist@example.com"}})
    first, second = service.lead("u-hist-a"), service.lead("u-hist-b")
    record = httpx.get(f"{service.server.base}/api/leads/{second.id}", auth=(service.keys["read"], ""), timeout=60)

    assert record.status_code == 200, record.text
    body = record.json()
    assert (body["id"], body["stage"]) == (first.id, "sql")
    changes = [(change["old_stage"], change["new_stage"]) for change in body["stage_history"]]
    assert changes == [("mql", "sql"), ("unqualified", "mql"), (None, "unqualified")]
    assert service.history(second.id) == [(None, "unqualified")]


def test_group_email_describes_the_company(service: Service):
    for user in ("u-group-a", "u-group-b"):
        service.post("/v1/identify", {"userId": user, "traits": {"email": f"{user}@acme.example"}})
        group = {"userId": user, "groupId": "acme", "traits": {"email": "billing@acme.example", "plan": "gold"}}
        assert service.post("/v1/group", group).status_code == 200
    # A company's email may be anything its CRM holds.
    odd = {"userId": "u-group-a", "groupId": "acme", "traits": {"email": "n/a"}}
    assert service.post("/v1/group", odd).status_code == 200
    first, second = service.lead("u-group-a"), service.lead("u-group-b")
    assert second.merged_into is None
    assert (first.email, second.email) == ("u-group-a@acme.example", "u-group-b@acme.example")
    assert first.account_id == second.account_id
    with service.engine.connect() as connection:
        traits = connection.execute(select(accounts.c.traits).where(accounts.c.id == first.account_id)).scalar_one()
    assert json.loads(traits) == {"email": "n/a", "plan": "gold"}


def test_concurrent_same_email_one_lead(service: Service):
    def identify(index: int) -> int:
        body = {"userId": f"u-same-{index}", "traits": {"email": "same@example.com"}}
        return service.post("/v1/identify", body).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        assert list(pool.map(identify, range(20))) == [200] * 20
    survivors = service.count(leads, leads.c.email == "same@example.com", leads.c.merged_into.is_(None))
    assert survivors == 1
    with service.engine.connect() as connection:
        merged_into = dict(connection.execute(select(leads.c.id, leads.c.merged_into)).all())
        keys = [f"u-same-{index}" for index in range(20)]
        ids = connection.execute(select(leads.c.id).where(leads.c.lead_key.in_(keys))).scalars().all()

    def survivor(lead_id: int) -> int:
        while merged_into[lead_id] is not None:
            lead_id = merged_into[lead_id]
        return lead_id

    assert len({survivor(lead_id) for lead_id in ids}) == 1


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/v1/track", b"{not json", 400, None),
        ("/v1/track", {"userId": "u", "event": 5}, 400, "event"),
        ("/v1/track", {"event": "ping"}, 400, "userId"),
        ("/v1/track", {"userId": "u"}, 400, "event"),
        ("/v1/track", {"userId": "u", "event": "ping", "properties": [1]}, 400, "properties"),
        ("/v1/track", {"userId": "u", "event": "ping", "timestamp": "yesterday"}, 400, "timestamp"),
        ("/v1/track", {"userId": "u", "event": "ping", "timestamp": "2026-01-01T10:00:00"}, 400, "timestamp"),
        ("/v1/track", {"userId": ["u"], "event": "ping"}, 400, "userId"),
        ("/v1/group", {"userId": "u"}, 400, "groupId"),
        ("/v1/track", b'{"userId": "u", "event": "ping", "properties": {"n": NaN}}', 400, None),
        ("/v1/track", b'{"userId": "u", "event": "ping", "properties": {"n": 1e400}}', 400, "properties.n"),
        ("/v1/identify", b'{"userId": "u", "traits": {"n": 1' + b"0" * 5000 + b"}}", 400, "traits.n"),
        ("/v1/track", b'{"userId": "u", "event": "ping", "properties": {"n": -1' + b"0" * 399 + b"}}", 400, "properties.n"),
        ("/v1/identify", {"userId": "u", "traits": {"company_size": "1e400"}}, 400, "traits.company_size"),
        ("/v1/identify", b'{"userId": "u", "traits": {"sizes": [1, -1e309]}}', 400, "traits.sizes[1]"),
        ("/v1/track", b'{"userId": "u", "event": "ping", "properties": ' + b"[" * 5000 + b"]" * 5000 + b"}", 400, None),
        ("/v1/track", b'{"userId": "\\ud800", "event": "ping"}', 400, "userId"),
        ("/v1/track", b'{"userId": "u\\u0000", "event": "ping"}', 400, "userId"),
        ("/v1/track", b'{"userId": "u", "event": "ping", "properties": {"tags": ["a", "b\\u0000"]}}', 400, "properties.tags[1]"),
        ("/v1/track", b'{"userId": "u", "event": "ping", "properties": {"a\\u0000": 1}}', 400, "properties"),
        ("/v1/batch", b'{"batch": [{"type": "track", "userId": "u", "event": "p\\u0000"}]}', 400, "batch[0].event"),
        ("/v1/track", {"userId": "u", "event": "ping", "timestamp": "0001-01-01T00:00:00+14:00"}, 400, "timestamp"),
        ("/v1/track", {"userId": "u", "event": "ping", "timestamp": "1969-12-31T23:59:59Z"}, 400, "timestamp"),
        ("/v1/track", {"userId": "u", "event": "ping", "timestamp": "2999-01-01T00:00:00Z"}, 400, "timestamp"),
        ("/v1/identify", {"userId": "u", "traits": {"email": 12345}}, 400, "traits.email"),
        ("/v1/identify", {"userId": "u", "context": {"traits": {"email": ["a@b.co"]}}}, 400, "context.traits.email"),
        ("/v1/identify", {"userId": "u", "traits": {"email": ""}}, 400, "traits.email"),
        ("/v1/identify", {"userId": "u", "traits": {"email": "not-an-email"}}, 400, "traits.email"),
        ("/v1/identify", {"userId": "u", "context": {"traits": {"email": "ann@localhost"}}}, 400, "context.traits.email"),
        ("/v1/batch", {"batch": [{"type": "identify", "userId": "u", "traits": {"email": "a b@c.io"}}]}, 400, "batch[0].traits.email"),
        ("/v1/identify", {"userId": "u", "traits": {"company_size": "about 50"}}, 400, "traits.company_size"),
        ("/v1/identify", {"userId": "u", "traits": {" Company_Size": "about 50"}}, 400, "traits. Company_Size"),
        ("/v1/identify", {"userId": "u", "traits": {"company_size": True}}, 400, "traits.company_size"),
        ("/v1/batch", {"batch": "no"}, 400, "batch"),
        ("/v1/batch", {"batch": [{"type": "alias", "userId": "u"}]}, 400, "batch[0].type"),
        ("/v1/track", {"userId": "u", "event": "ping", "properties": {"x": "a" * 33_000}}, 413, None),
        ("/v1/batch", {"batch": [{"type": "track", "userId": "u", "event": "p", "properties": {"x": "a" * 30_000}}] * 18}, 413, None),
    ],
)
def test_bad_requests_are_rejected_naming_the_field(service: Service, path, body, status, field):
    answer = service.post(path, body)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["message"]
    assert error.get("field") == field


@pytest.mark.parametrize(
    ("path", "body", "field", "length"),
    [
        ("/v1/track", {"userId": "u" * 513, "event": "ping"}, "userId", 513),
        ("/v1/track", {"anonymousId": " " + "a" * 600 + " ", "event": "ping"}, "anonymousId", 600),
        ("/v1/track", {"userId": "u-long-id", "event": "ping", "messageId": "m" * 1000}, "messageId", 1000),
        ("/v1/batch", {"batch": [{"type": "group", "userId": "u-long-id", "groupId": "g" * 513}]}, "batch[0].groupId", 513),
    ],
)
def test_too_long_id_names_limit_and_fix(service: Service, path, body, field, length):
    answer = service.post(path, body)

    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == {
        "code": "invalid_value",
        "message": f"{field} has {length} characters, more than the limit of 512; send an id of at most "
        "512 characters, such as a database key or a hash of a longer id",
        "field": field,
    }
    assert service.lead("u-long-id") is None


def test_id_at_limit_accepted(service: Service):
    user = "u" * 512
    answer = service.post("/v1/track", {"userId": f"  {user}  ", "event": "ping", "messageId": "at-limit-1"})

    assert answer.status_code == 200, answer.text
    assert service.lead(user) is not None


@pytest.mark.parametrize(
    "timestamp", ["0000-12-01T00:00:00Z", "0001-01-01T00:00:00+14:00", "1969-12-31T23:59:59Z"]
)
def test_timestamp_outside_years_rejected(service: Service, timestamp):
    answer = service.post("/v1/track", {"userId": "u-year", "event": "ping", "timestamp": timestamp})

    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == {
        "code": "invalid_value",
        "message": f'timestamp "{timestamp}" is outside the years 1970 to 9999 in UTC; '
        "send the time the event happened",
        "field": "timestamp",
    }


def test_event_of_1975_decays_to_nothing(service: Service):
    # Over 18,000 half-lives, where PostgreSQL's POWER raises an underflow error.
    answer = service.post("/v1/track", {**ping("u-1975", "old-1"), "event": "faded", "timestamp": "1975-01-01T00:00:00Z"})

    assert answer.status_code == 200, answer.text
    assert service.lead("u-1975").engagement == 0


def test_rejected_batch_stores_nothing(service: Service):
    good = {"type": "track", **ping("u-half", "half-1")}
    bad = {"type": "track", "userId": "u-half", "event": "ping", "timestamp": "not a time"}
    answer = service.post("/v1/batch", {"batch": [good, bad]})
    assert answer.status_code == 400
    assert answer.json()["error"]["field"] == "batch[1].timestamp"
    assert service.count(events, events.c.message_id == "half-1") == 0
    assert service.lead("u-half") is None


@pytest.mark.parametrize(("kind", "status"), [(None, 401), ("read", 403), ("admin", 403), ("bogus", 401)])
def test_tracking_needs_a_write_key(service: Service, kind, status):
    auth = None if kind is None else ((service.keys.get(kind) or "lqw_unknown"), "")
    answer = httpx.post(service.server.base + "/v1/track", json=ping("u-key", "key-1"), auth=auth, timeout=30)
    assert answer.status_code == status
    assert answer.json()["error"]["code"]
    assert service.lead("u-key") is None


def test_sticky_stage_holds_and_recycle_releases(service: Service):
    for index in range(30):
        service.post("/v1/track", ping("u-sticky", f"sticky-{index}"))
    lead = service.lead("u-sticky")
    assert lead.stage == "sql"
    back = service.post(f"/api/leads/{lead.id}/stage", {"stage": "mql", "reason": "test"}, kind="admin")
    assert back.status_code == 409
    assert "recycle" in back.json()["error"]["message"]
    recycled = service.post(f"/api/leads/{lead.id}/recycle", {"reason": "bought elsewhere"}, kind="admin")
    assert recycled.status_code == 200, recycled.text
    lead = service.lead("u-sticky")
    assert (lead.stage, lead.engagement) == ("unqualified", 0.0)
    # Old events never count again, even when they are sent again.
    service.post("/v1/track", ping("u-sticky", "sticky-0"))
    assert service.lead("u-sticky").engagement == 0.0


def test_kill_during_ingest_loses_no_acknowledged_event(service: Service, tmp_path: Path):
    acknowledged: list[str] = []

    def send(index: int) -> None:
        message_id = f"crash-{index}"
        try:
            answer = service.post("/v1/track", ping(f"u-crash-{index % 5}", message_id))
        except httpx.TransportError:
            return
        if answer.status_code == 200:
            acknowledged.append(message_id)

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(send, index) for index in range(400)]
        while len(acknowledged) < 40:
            pass
        service.server.kill()
        for future in futures:
            future.result()
    service.server.start()
    with service.engine.connect() as connection:
        stored = set(connection.execute(select(events.c.message_id).where(events.c.message_id.like("crash-%"))).scalars())
    assert set(acknowledged) <= stored
    assert len(acknowledged) >= 40


def test_wrong_method_gets_a_json_error(service: Service):
    answer = httpx.get(service.server.base + "/v1/track", timeout=30)
    assert answer.status_code == 405
    assert answer.json()["error"]["code"] == "method_not_allowed"


def test_backslash_before_u0000_is_text(service: Service):
    # `\\u0000` in JSON is a backslash followed by "u0000", not a NUL character.
    body = b'{"userId": "u-backslash", "event": "ping", "messageId": "backslash-1", "properties": {"path": "C:\\\\u0000"}}'
    answer = service.post("/v1/track", body)
    assert answer.status_code == 200, answer.text
    with service.engine.connect() as connection:
        stored = connection.execute(select(events.c.properties).where(events.c.message_id == "backslash-1")).scalar_one()
    assert json.loads(stored) == {"path": "C:\\u0000"}


def test_nul_error_names_field_and_fix(service: Service):
    answer = service.post("/v1/track", b'{"userId": "u-nul", "event": "ping", "properties": {"note": "a\\u0000"}}')
    error = answer.json()["error"]
    assert answer.status_code == 400
    assert error["field"] == "properties.note"
    assert error["message"] == "properties.note contains a NUL character (\\u0000); remove it"
    assert service.lead("u-nul") is None


def nested(levels: int) -> list:
    value: list = []
    for _ in range(levels - 1):
        value = [value]
    return value


def test_deepest_nesting_is_stored_and_read(service: Service):
    # The body, `properties` and the lists: 32 levels of objects and lists.
    answer = service.post("/v1/track", {"userId": "u-deep", "event": "ping", "properties": {"a": nested(30)}})
    lead = service.lead("u-deep")
    record = httpx.get(
        f"{service.server.base}/api/leads/{lead.id}", auth=(service.keys["read"], ""), timeout=60
    )

    assert answer.status_code == 200, answer.text
    assert record.status_code == 200, record.text


def test_deeper_nesting_is_rejected(service: Service):
    answer = service.post("/v1/track", {"userId": "u-deeper", "event": "ping", "properties": {"a": nested(31)}})
    error = answer.json()["error"]
    where = "properties.a" + "[0]" * 30

    assert answer.status_code == 400
    assert error["code"] == "invalid_json"
    assert error["field"] == where
    assert error["message"] == f"{where} nests objects or lists more than 32 levels deep; flatten it"
    assert service.lead("u-deeper") is None


@pytest.mark.parametrize(("path", "levels"), [("/v1/track", 30_000), ("/v1/batch", 100_000)])
def test_recursion_deep_body_rejected(service: Service, path, levels):
    message = json.dumps({"type": "track", "userId": "u-recursion", "event": "ping"})[:-1]
    body = message + ', "properties": {"a": ' + "[" * levels
    if path == "/v1/batch":
        body = '{"batch": [' + body
    answer = service.post(path, body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == {
        "code": "invalid_json",
        "message": "the body nests objects or lists too deeply; flatten it",
    }
    assert service.lead("u-recursion") is None


@pytest.mark.parametrize(
    ("path", "body", "where", "key", "field"),
    [
        ("/v1/identify", b'{"userId": "u-700", "userId": "u-701", "traits": {}}', "the body", "userId", "userId"),
        (
            "/v1/identify",
            b'{"userId": "u-702", "traits": {"title": "CEO", "plan": "team", "title": "CTO"}}',
            "traits",
            "title",
            "traits.title",
        ),
        (
            "/v1/batch",
            b'{"batch": [{"type": "track", "userId": "u-703", "event": "ping"},'
            b' {"type": "track", "userId": "u-703", "event": "ping", "event": "demo_requested"}]}',
            "batch[1]",
            "event",
            "batch[1].event",
        ),
        (
            "/v1/batch",
            b'{"batch": [{"type": "identify", "userId": "u-704", "context": {"traits": {"a": 1, "a": 1}}}]}',
            "batch[0].context.traits",
            "a",
            "batch[0].context.traits.a",
        ),
    ],
)
def test_repeated_key_rejected(service: Service, path, body, where, key, field):
    answer = service.post(path, body)

    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == {
        "code": "duplicate_key",
        "message": f'{where} contains the key "{key}" more than once; send each key once',
        "field": field,
    }
    for user in ("u-700", "u-701", "u-702", "u-703", "u-704"):
        assert service.lead(user) is None


NOT_AN_EMAIL = 'which is not an email address; send an address such as "ada@example.com", or leave the trait out'
ONE_TRAIT = "which name one trait once trimmed and lower-cased; send one of them"
NAME_THE_TRAIT = 'name the trait, such as "title", or leave it out'


@pytest.mark.parametrize(
    ("path", "body", "field", "code", "message"),
    [
        (
            "/v1/identify",
            {"userId": "u-key-1", "traits": {"EMAIL": "garbage"}},
            "traits.EMAIL",
            "invalid_value",
            f'traits.EMAIL is "garbage", {NOT_AN_EMAIL}',
        ),
        (
            "/v1/identify",
            {"userId": "u-key-long", "traits": {"Email": "a" * 243 + "@example.com"}},
            "traits.Email",
            "invalid_value",
            "traits.Email has 255 bytes, over the limit of 254 bytes for an email address; "
            "send the person's address, or leave the trait out",
        ),
        (
            "/v1/identify",
            {"userId": "u-key-null", "traits": {"email": None}},
            "traits.email",
            "invalid_type",
            'traits.email must be a string such as "ada@example.com", got null',
        ),
        (
            "/v1/identify",
            {"userId": "u-key-2", "context": {"traits": {" Email ": 5}}},
            "context.traits. Email ",
            "invalid_type",
            'context.traits. Email  must be a string such as "ada@example.com", got 5',
        ),
        (
            "/v1/identify",
            {"userId": "u-key-3", "traits": {"": "CEO"}},
            "traits",
            "invalid_value",
            f'traits contains the blank key ""; {NAME_THE_TRAIT}',
        ),
        (
            "/v1/track",
            {**ping("u-key-4", "key-4"), "context": {"traits": {"title": "CEO", "   ": 1}}},
            "context.traits",
            "invalid_value",
            f'context.traits contains the blank key "   "; {NAME_THE_TRAIT}',
        ),
        (
            "/v1/group",
            {"userId": "u-key-5", "groupId": "g-key-5", "traits": {" ": "gold"}},
            "traits",
            "invalid_value",
            f'traits contains the blank key " "; {NAME_THE_TRAIT}',
        ),
        (
            "/v1/identify",
            {"userId": "u-key-6", "traits": {"title": "CEO", " Title ": "CTO"}},
            "traits. Title ",
            "duplicate_key",
            f'traits contains the keys "title" and " Title ", {ONE_TRAIT}',
        ),
        (
            "/v1/identify",
            {"userId": "u-key-7", "traits": {"email": "a@acme.io", "Email": "b@acme.io"}},
            "traits.Email",
            "duplicate_key",
            f'traits contains the keys "email" and "Email", {ONE_TRAIT}',
        ),
        (
            "/v1/batch",
            {
                "batch": [
                    {"type": "track", **ping("u-key-8", "key-8")},
                    {"type": "identify", "userId": "u-key-8", "traits": {"Title": "CEO", "title": "CTO"}},
                ]
            },
            "batch[1].traits.title",
            "duplicate_key",
            f'batch[1].traits contains the keys "Title" and "title", {ONE_TRAIT}',
        ),
        (
            "/v1/batch",
            {
                "batch": [
                    {"type": "track", **ping("u-key-9", "key-9")},
                    {"type": "page", "userId": "u-key-9", "context": {"traits": {"Email": "boss@"}}},
                ]
            },
            "batch[1].context.traits.Email",
            "invalid_value",
            f'batch[1].context.traits.Email is "boss@", {NOT_AN_EMAIL}',
        ),
    ],
)
def test_trait_key_rejected(service: Service, path, body, field, code, message):
    answer = service.post(path, body)

    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == {"code": code, "message": message, "field": field}
    for index in range(1, 10):
        assert service.lead(f"u-key-{index}") is None
        assert service.count(events, events.c.message_id == f"key-{index}") == 0
    assert service.count(accounts, accounts.c.group_id == "g-key-5") == 0


def test_group_trait_keys_keep_their_case(service: Service):
    traits = {"Email": "n/a", "Plan": "gold", "plan": "silver"}
    answer = service.post("/v1/group", {"userId": "u-key-group", "groupId": "g-key-group", "traits": traits})

    assert answer.status_code == 200, answer.text
    with service.engine.connect() as connection:
        stored = connection.execute(select(accounts.c.traits).where(accounts.c.group_id == "g-key-group")).scalar_one()
    assert json.loads(stored) == traits
    assert service.lead("u-key-group").email is None


def test_same_key_in_two_objects_accepted(service: Service):
    body = {"userId": "u-705", "traits": {"userId": "u-705", "title": "CEO"}, "context": {"traits": {"title": "CTO"}}}
    answer = service.post("/v1/identify", body)

    assert answer.status_code == 200, answer.text
    assert json.loads(service.lead("u-705").attributes) == {"userId": "u-705", "title": "CEO"}


@pytest.mark.parametrize("email", ["", "   ", "not-an-email", "ann@", "@acme.io", "ann@acme", "ann@acme..io", "a@b@c.io"])
def test_identify_rejects_implausible_email(service: Service, email):
    answer = service.post("/v1/identify", {"userId": "u-bad-email", "traits": {"email": email}})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_value"
    assert error["field"] == "traits.email"
    assert error["message"].startswith(f"traits.email is {json.dumps(email)}, which is not an email address;")
    assert 'such as "ada@example.com"' in error["message"]
    assert service.lead("u-bad-email") is None


def test_identify_accepts_plausible_email(service: Service):
    body = {"userId": "u-good-email", "traits": {"email": " José.Ng+leads@Sub.Example.co.uk "}}
    assert service.post("/v1/identify", body).status_code == 200
    assert service.lead("u-good-email").email == "josé.ng+leads@sub.example.co.uk"


def gzipped(body) -> bytes:
    # A fixed header time keeps the bytes, and so the parameter ids that
    # pytest-xdist's workers must agree on, the same from second to second.
    return gzip.compress(json.dumps(body).encode("utf-8"), mtime=0)


GZIP = {"Content-Encoding": "gzip"}


def test_segment_library_gzip_batch(service: Service):
    identify = {"type": "identify", "userId": "u-gzip", "messageId": "gzip-1", "traits": {"email": "gzip@example.com"}}
    batch = [identify, {"type": "track", **ping("u-gzip", "gzip-2")}, {"type": "track", **ping("u-gzip", "gzip-3")}]
    answer = segment_request.post(service.keys["write"], host=service.server.base, gzip=True, batch=batch)
    assert answer.request.headers["Content-Encoding"] == "gzip"
    assert answer.status_code == 200
    assert answer.json() == {"success": True, "stored": 2, "repeated": 0}
    lead = service.lead("u-gzip")
    assert (lead.email, lead.engagement) == ("gzip@example.com", 2.0)


def test_gzip_single_messages_are_stored(service: Service):
    identify = {"userId": "u-gzip-one", "traits": {"email": "gzip-one@example.com", "company_size": 250}}
    assert service.post("/v1/identify", gzipped(identify), headers=GZIP).status_code == 200
    answer = service.post("/v1/track", gzipped(ping("u-gzip-one", "gzip-one-1")), headers={"Content-Encoding": "GZIP"})
    assert answer.status_code == 200, answer.text
    # Two gzip members decompress to their concatenation (RFC 1952).
    text = json.dumps(ping("u-gzip-one", "gzip-one-2")).encode("utf-8")
    members = gzip.compress(text[:20]) + gzip.compress(text[20:])
    assert service.post("/v1/track", members, headers=GZIP).status_code == 200
    lead = service.lead("u-gzip-one")
    assert (lead.fit, lead.engagement) == (20.0, 2.0)


def _bad_crc(body: bytes) -> bytes:
    return body[:-8] + bytes([body[-8] ^ 0xFF]) + body[-7:]


@pytest.mark.parametrize(
    ("body", "encoding", "status", "code", "start"),
    [
        (json.dumps(ping("u-enc", "enc-1")).encode(), "gzip", 400, "invalid_gzip", "the body is not valid gzip ("),
        (gzipped(ping("u-enc", "enc-1"))[:-10], "gzip", 400, "invalid_gzip", "the gzip body ends before its compressed data"),
        (_bad_crc(gzipped(ping("u-enc", "enc-1"))), "gzip", 400, "invalid_gzip", "the body is not valid gzip ("),
        (gzipped(ping("u-enc", "enc-1")) + b"\0\0\0", "gzip", 400, "invalid_gzip", "the body is not valid gzip ("),
        (b"", "gzip", 400, "invalid_gzip", "the gzip body ends before its compressed data"),
        (gzipped(ping("u-enc", "enc-1")), None, 400, "invalid_json", "the body is compressed with gzip but has no"),
        (json.dumps(ping("u-enc", "enc-1")).encode(), "br", 415, "unsupported_encoding", "Content-Encoding 'br' is not"),
        (gzipped(ping("u-enc", "enc-1")), "gzip, gzip", 415, "unsupported_encoding", "Content-Encoding 'gzip, gzip'"),
    ],
)  # fmt: skip
def test_bad_encoding_is_rejected(service: Service, body, encoding, status, code, start):
    answer = service.post("/v1/track", body, headers={"Content-Encoding": encoding} if encoding else None)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == code
    assert error["message"].startswith(start), error["message"]
    assert "; " in error["message"]
    assert service.lead("u-enc") is None


UTF16_MESSAGE = "the body is UTF-16 or UTF-32 text, not UTF-8; send JSON in UTF-8"


@pytest.mark.parametrize(
    ("codec", "message"),
    [
        ("utf-16", UTF16_MESSAGE),
        ("utf-16-le", UTF16_MESSAGE),
        ("utf-16-be", UTF16_MESSAGE),
        ("utf-32", UTF16_MESSAGE),
        ("utf-32-be", UTF16_MESSAGE),
        ("latin-1", "the body is not UTF-8 text (byte 0xe9 at position {position} is invalid there); send JSON in UTF-8"),
    ],
)
def test_body_not_utf8_rejected(service: Service, codec, message):
    user = f"u-{codec}"
    body = json.dumps(ping(user, f"{codec}-1", event="café"), ensure_ascii=False).encode(codec)
    answer = service.post("/v1/track", body)
    assert answer.status_code == 400, answer.text
    expected = message.format(position=body.find(b"\xe9"))
    assert answer.json()["error"] == {"code": "invalid_json", "message": expected}
    assert service.lead(user) is None


def test_utf8_byte_order_mark_skipped(service: Service):
    body = json.dumps(ping("u-bom", "bom-1"), ensure_ascii=False)
    answer = service.post("/v1/track", body.encode("utf-8-sig"))
    assert answer.status_code == 200, answer.text
    assert service.lead("u-bom") is not None


def test_identity_encoding_is_plain(service: Service):
    answer = service.post("/v1/track", ping("u-identity", "identity-1"), headers={"Content-Encoding": "identity"})
    assert answer.status_code == 200, answer.text


def big_message(size: int, user: str = "u-big") -> dict:
    """A track message of `size` bytes as compact JSON."""
    message = {"userId": user, "event": "ping", "properties": {"x": ""}}
    message["properties"]["x"] = "a" * (size - len(json.dumps(message, separators=(",", ":"))))
    return message


def test_oversized_message_error(service: Service):
    body = json.dumps(big_message(40_000), separators=(",", ":"))
    answer = service.post("/v1/track", body)
    assert answer.status_code == 413
    message = answer.json()["error"]["message"]
    assert message == (
        "the message has 40000 bytes, over the limit of 32 KB (32768 bytes) per message; "
        "shrink its properties, traits or context, for example by leaving out long text values"
    )
    assert "fewer messages" not in message


def test_message_at_limit_accepted(service: Service):
    body = json.dumps({**big_message(32_768 - 40, "u-at-limit"), "messageId": "at-limit"}, separators=(",", ":"))
    assert len(body) <= 32_768
    assert service.post("/v1/track", body).status_code == 200
    assert service.post("/v1/track", gzip.compress(body.encode()), headers=GZIP).status_code == 200
    assert service.count(events, events.c.message_id == "at-limit") == 1


def test_gzip_message_over_limit(service: Service):
    answer = service.post("/v1/identify", gzipped(big_message(40_000)), headers=GZIP)
    assert answer.status_code == 413
    message = answer.json()["error"]["message"]
    assert message.startswith("the message decompresses to more than 32768 bytes, over the limit of 32 KB")
    assert "shrink its properties" in message


def test_batch_over_limit_message(service: Service):
    messages = [{"type": "track", **big_message(30_000)}] * 18
    for body, headers, size in [
        (json.dumps({"batch": messages}).encode(), None, "has 540"),
        (gzipped({"batch": messages}), GZIP, "decompresses to more than 512000 bytes"),
    ]:
        answer = service.post("/v1/batch", body, headers=headers)
        assert answer.status_code == 413
        message = answer.json()["error"]["message"]
        assert message.startswith(f"the batch {size}"), message
        assert message.endswith("over the limit of 500 KB (512000 bytes) per batch; send fewer messages per batch")


def test_batch_item_counts_utf8_bytes(service: Service):
    # 16,000 two-byte characters: 32,071 bytes as UTF-8, 96,087 with \u escapes.
    message = {"type": "track", "userId": "u-utf8", "messageId": "utf8", "event": "ping", "properties": {"s": "é" * 16_000}}
    assert service.post("/v1/batch", {"batch": [message]}).status_code == 200
    assert service.count(events, events.c.message_id == "utf8") == 1


def test_batch_message_without_type_named(service: Service):
    answer = service.post("/v1/batch", {"batch": [{"userId": "u", "event": "ping"}]})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "missing_field"
    assert error["field"] == "batch[0].type"
    assert error["message"] == "batch[0].type is required: one of track, page, identify, group"


def test_batch_item_over_limit(service: Service):
    answer = service.post("/v1/batch", {"batch": [{"type": "track", **ping("u", "m")}, {"type": "track", **big_message(33_000)}]})
    assert answer.status_code == 413
    error = answer.json()["error"]
    assert error["field"] == "batch[1]"
    assert "over the limit of 32 KB (32768 bytes) per message; shrink its properties" in error["message"]


@functools.cache
def gzip_bomb() -> bytes:
    """400 MB of zeros compressed with gzip: about 400 KB, under the 500 KB limit of a batch."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    zeros = bytes(1 << 20)
    return b"".join(compressor.compress(zeros) for _ in range(400)) + compressor.flush()


def peak_memory(pid: int) -> int:
    """Return the process's peak resident memory in bytes (Linux's VmHWM)."""
    status = Path(f"/proc/{pid}/status").read_text()
    kilobytes = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(kilobytes) * 1024


def test_gzip_bomb_stops_at_limit(service: Service):
    bomb = gzip_bomb()
    assert len(bomb) < 500 * 1024
    before = peak_memory(service.server.process.pid)
    answer = service.post("/v1/batch", bomb, headers=GZIP)
    assert answer.status_code == 413
    assert answer.json()["error"]["message"].startswith("the batch decompresses to more than 512000 bytes")
    # Decompressing the whole body would raise the peak by 400 MB.
    assert peak_memory(service.server.process.pid) - before < 64 * 1024 * 1024


def test_oversized_gzip_body_rejected(service: Service):
    body = gzip.compress(os.urandom(520 * 1024))
    answer = service.post("/v1/batch", body, headers=GZIP)
    assert answer.status_code == 413
    message = answer.json()["error"]["message"]
    assert message.startswith(f"the batch has {len(body)} bytes compressed with gzip, over the limit of 500 KB")


def test_body_reader_stops_in_first_chunk():
    bomb = gzip_bomb()
    reader = BodyReader("batch", "gzip")
    with pytest.raises(ApiError) as raised:
        for start in range(0, len(bomb), 65_536):
            reader.add(bomb[start : start + 65_536])
    assert raised.value.status == 413
    assert reader.received == 65_536
    assert len(reader.body) == BATCH_LIMIT + 1


def test_control_character_message_reads_once(service: Service):
    answer = service.post("/v1/track", b'{"userId": "u-\x01", "event": "ping"}')
    message = answer.json()["error"]["message"]
    assert answer.status_code == 400
    assert message == "the body is not valid JSON: Invalid control character at line 1, column 15"


@pytest.mark.parametrize("body", [b"", b" \r\n"])
def test_empty_body_rejected(service: Service, body):
    answer = service.post("/v1/track", body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert (error["code"], error["message"]) == (
        "invalid_json",
        "the body is empty; send a JSON object such as the examples in docs/api.md",
    )


def test_chunked_oversized_body_error(service: Service):
    # A generator body goes out chunked, without a Content-Length.
    chunks = (b"x" * 16_384 for _ in range(640))
    answer = httpx.post(
        service.server.base + "/v1/track", content=chunks, auth=(service.keys["write"], ""),
        headers={"content-type": "application/json"}, timeout=60,
    )
    assert answer.status_code == 413
    message = answer.json()["error"]["message"]
    assert message.startswith("the message has more than 32768 bytes, over the limit of 32 KB")


def test_float_user_id_names_accepted_types(service: Service):
    answer = service.post("/v1/track", {"userId": 1.5, "event": "ping"})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["field"] == "userId"
    assert error["message"] == "userId must be a string or an integer, got 1.5"
