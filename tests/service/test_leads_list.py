"""GET /api/leads: filters, sort orders, cursor pages and parameter errors."""

from __future__ import annotations

import base64
import json

import pytest

T0 = 1_777_593_600_000_000  # 2026-05-01T00:00:00Z in microseconds
HOUR = 3_600_000_000

SORT_FIELDS = ("total", "fit", "engagement", "product", "updated_at", "created_at")


def ids_of(response) -> list[int]:
    assert response.status_code == 200, response.text
    return [lead["id"] for lead in response.json()["leads"]]


def expected_order(records: dict[int, dict], field: str, order: str) -> list[int]:
    """Sort ids like the API: by the field, None last, then by id."""
    present = [lead_id for lead_id in records if records[lead_id][field] is not None]
    missing = [lead_id for lead_id in records if records[lead_id][field] is None]
    reverse = order == "desc"
    present.sort(
        key=lambda lead_id: (records[lead_id][field], lead_id), reverse=reverse
    )
    missing.sort(reverse=reverse)
    return present + missing


@pytest.fixture()
def mixed_leads(rows) -> dict[int, dict]:
    """Scored leads with tied scores, unscored leads and one merged lead."""
    ids = []
    scores = [
        (80, 10, 0),
        (40, 30, 20),
        (80, 10, 0),
        (10, 0, 0),
        (55, 35, 5),
        (90, 40, 10),
    ]
    for number, (fit, engagement, product) in enumerate(scores):
        updated = T0 + (7 - number % 3) * HOUR
        ids.append(rows.scored_lead(fit, engagement, product, updated_at=updated))
    ids += [rows.lead(), rows.lead(updated_at=T0 + 7 * HOUR)]
    rows.scored_lead(99, 99, 99, merged_into=ids[0])
    return {lead_id: rows.record(lead_id) for lead_id in ids}


def test_list_default_sort(client, mixed_leads):
    response = client.get("/api/leads")
    assert ids_of(response) == expected_order(mixed_leads, "total", "desc")
    body = response.json()
    assert body["next_cursor"] is None
    assert body["limit"] == 50
    assert body["count"] is None


def test_list_excludes_merged_leads(client, mixed_leads):
    listed = ids_of(client.get("/api/leads"))
    assert sorted(listed) == sorted(mixed_leads)


@pytest.mark.parametrize("field", SORT_FIELDS)
@pytest.mark.parametrize("order", ("asc", "desc"))
def test_list_sort_orders(client, mixed_leads, field, order):
    response = client.get("/api/leads", params={"sort": field, "order": order})
    assert ids_of(response) == expected_order(mixed_leads, field, order)


def test_list_summary_fields(client, rows):
    lead_id = rows.scored_lead(
        80,
        12.5,
        0,
        stage="mql",
        stage_rule="mql.any.0",
        stage_since=T0 + 5,
        updated_at=T0 + HOUR,
    )
    lead = client.get("/api/leads").json()["leads"][0]
    assert lead["id"] == lead_id
    assert lead["total"] == 92.5
    assert lead["grade"] == "A"
    assert lead["stage"] == "mql"
    assert lead["stage_rule"] == "mql.any.0"
    assert lead["stage_since"] == "2026-05-01T00:00:00.000005Z"
    assert lead["updated_at"] == "2026-05-01T01:00:00Z"
    assert lead["scored_at"] == "2026-05-01T01:00:00Z"
    assert lead["email"].endswith("@example.com")


def test_list_filter_stage(client, rows):
    mql = rows.scored_lead(60, 0, 0, stage="mql")
    sql = rows.scored_lead(50, 0, 0, stage="sql")
    rows.scored_lead(40, 0, 0, stage="unqualified")
    assert ids_of(client.get("/api/leads", params={"stage": "mql"})) == [mql]
    both = client.get("/api/leads", params=[("stage", "mql"), ("stage", "sql")])
    assert ids_of(both) == [mql, sql]


def test_list_filter_grade(client, rows):
    a = rows.scored_lead(90, 0, 0)
    b = rows.scored_lead(60, 0, 0)
    rows.scored_lead(30, 0, 0)
    d = rows.scored_lead(5, 0, 0)
    assert ids_of(client.get("/api/leads", params={"grade": "A"})) == [a]
    several = client.get(
        "/api/leads", params=[("grade", "b"), ("grade", "D"), ("grade", "A")]
    )
    assert ids_of(several) == [a, b, d]


def test_list_filter_score_range(client, mixed_leads):
    response = client.get("/api/leads", params={"min_score": 90, "max_score": 100})
    expected = [
        i
        for i in expected_order(mixed_leads, "total", "desc")
        if mixed_leads[i]["total"] is not None and 90 <= mixed_leads[i]["total"] <= 100
    ]
    assert ids_of(response) == expected
    assert len(expected) == 4


def test_list_min_score_inclusive(client, mixed_leads):
    listed = ids_of(client.get("/api/leads", params={"min_score": 95}))
    assert [mixed_leads[i]["total"] for i in listed] == [140, 95]


def test_list_filter_updated_since(client, rows):
    rows.lead(updated_at=T0)
    later = rows.lead(updated_at=T0 + 2 * HOUR)
    exact = rows.lead(updated_at=T0 + HOUR)
    # 03:00 at +02:00 is 01:00 UTC; httpx encodes the + as %2B.
    since = client.get(
        "/api/leads", params={"updated_since": "2026-05-01T03:00:00+02:00"}
    )
    assert sorted(ids_of(since)) == [later, exact]
    utc = client.get(
        "/api/leads", params={"updated_since": "2026-05-01T01:00:00.000001Z"}
    )
    assert ids_of(utc) == [later]


def test_list_filter_prefix(client, rows):
    ana = rows.lead(email="ana@acme.example", lead_key="u-100")
    anabel = rows.lead(email="anabel@beta.example", lead_key="u-200")
    bob = rows.lead(email="bob@acme.example", lead_key="ANA-key")
    rows.lead(email=None, lead_key="zed")
    found = ids_of(
        client.get(
            "/api/leads", params={"q": "ANA", "sort": "created_at", "order": "asc"}
        )
    )
    assert found == [ana, anabel, bob]
    assert ids_of(client.get("/api/leads", params={"q": "u-2"})) == [anabel]
    assert ids_of(client.get("/api/leads", params={"q": "ana@"})) == [ana]


def test_list_prefix_wildcards_literal(client, rows):
    rows.lead(email="a_b@example.com")
    rows.lead(email="axb@example.com")
    percent = rows.lead(email="100%@example.com")
    underscore = ids_of(client.get("/api/leads", params={"q": "a_"}))
    assert len(underscore) == 1
    assert ids_of(client.get("/api/leads", params={"q": "100%"})) == [percent]
    assert ids_of(client.get("/api/leads", params={"q": "%"})) == []


def test_list_filters_combine(client, rows):
    wanted = rows.scored_lead(80, 20, 0, stage="mql", email="kim@acme.example")
    rows.scored_lead(80, 20, 0, stage="sql", email="kim2@acme.example")
    rows.scored_lead(20, 20, 0, stage="mql", email="kim3@acme.example")
    params = {"stage": "mql", "grade": "A", "min_score": 50, "q": "kim"}
    assert ids_of(client.get("/api/leads", params=params)) == [wanted]


def test_list_count(client, mixed_leads):
    body = client.get(
        "/api/leads", params={"count": "true", "limit": 2, "min_score": 1}
    ).json()
    assert body["count"] == 6
    assert len(body["leads"]) == 2


def walk_pages(client, params: dict, between_pages=None) -> list[int]:
    """Follow next_cursor to the end; call `between_pages(page)` after each."""
    seen: list[int] = []
    cursor = None
    for page in range(1, 200):
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        body = client.get("/api/leads", params=query).json()
        assert len(body["leads"]) <= params["limit"]
        seen += [lead["id"] for lead in body["leads"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
        if between_pages:
            between_pages(page)
    raise AssertionError("the pages did not end")


@pytest.mark.parametrize("field", SORT_FIELDS)
@pytest.mark.parametrize("order", ("asc", "desc"))
def test_pages_cover_all_once(client, mixed_leads, field, order):
    seen = walk_pages(client, {"sort": field, "order": order, "limit": 3})
    assert seen == expected_order(mixed_leads, field, order)


def test_last_page_full_has_no_cursor(client, rows):
    for total in range(4):
        rows.scored_lead(total, 0, 0)
    body = client.get("/api/leads", params={"limit": 4}).json()
    assert len(body["leads"]) == 4
    assert body["next_cursor"] is None


@pytest.mark.parametrize(
    ("field", "order"),
    [("total", "desc"), ("engagement", "asc"), ("updated_at", "asc")],
)
def test_pages_stable_under_inserts(client, rows, field, order):
    original = {}
    for number in range(30):
        engagement = None if number % 7 == 0 else float(number % 5) * 10
        fit = float(number % 4) * 25
        values = {"updated_at": T0 + (number % 6) * HOUR}
        if engagement is None:
            lead_id = rows.lead(**values)
        else:
            lead_id = rows.scored_lead(fit, engagement, 0, **values)
        original[lead_id] = number

    def insert_leads(page: int) -> None:
        # New leads land before, at and after the page boundary. Six new
        # leads per page of four would never let an ascending walk end.
        if page > 5:
            return
        for fit in (0.0, 25.0, 50.0, 75.0, 100.0):
            rows.scored_lead(fit, fit / 5, 0, updated_at=T0 + page * HOUR)
        rows.lead(updated_at=T0 + page * HOUR)

    seen = walk_pages(client, {"sort": field, "order": order, "limit": 4}, insert_leads)
    assert len(seen) == len(set(seen))
    assert set(original) <= set(seen)
    positions = [lead_id for lead_id in seen if lead_id in original]
    records = {lead_id: rows.record(lead_id) for lead_id in original}
    assert positions == expected_order(records, field, order)


@pytest.mark.parametrize(
    ("params", "field", "value"),
    [
        ({"limit": 0}, "limit", "0"),
        ({"limit": 501}, "limit", "501"),
        ({"limit": "many"}, "limit", "many"),
        ({"sort": "score"}, "sort", "score"),
        ({"order": "up"}, "order", "up"),
        ({"min_score": "high"}, "min_score", "high"),
        ({"max_score": "nan"}, "max_score", "nan"),
        ({"min_score": 50, "max_score": 10}, "min_score", 50.0),
        ({"grade": "E"}, "grade", "E"),
        ({"stage": "mqll"}, "stage", "mqll"),
        (
            {"updated_since": "2026-05-01T09:00:00"},
            "updated_since",
            "2026-05-01T09:00:00",
        ),
        ({"updated_since": "yesterday"}, "updated_since", "yesterday"),
        ({"q": ""}, "q", ""),
        ({"count": "maybe"}, "count", "maybe"),
    ],
)
def test_list_invalid_parameter(client, params, field, value):
    response = client.get("/api/leads", params=params)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == field
    assert error["value"] == value
    assert repr(value) in error["message"]


def test_list_unknown_stage_lists_stages(client, rows):
    rows.scored_lead(50, 0, 0, stage="legacy_stage")
    error = client.get("/api/leads", params={"stage": "mqll"}).json()["error"]
    assert error["message"] == (
        "stage 'mqll' is not a stage; the stages are sql, pql, mql, "
        "unqualified, disqualified, legacy_stage"
    )
    assert client.get("/api/leads", params={"stage": "legacy_stage"}).status_code == 200


def test_list_offset_plus_unencoded(client):
    # A raw + in a query string decodes to a space.
    response = client.get("/api/leads?updated_since=2026-05-01T09:00:00+02:00")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "updated_since"
    assert error["value"] == "2026-05-01T09:00:00 02:00"
    assert "write + as %2B" in error["message"]


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(
            json.dumps(["total", "desc", "x", 3]).encode()
        ).decode(),
        base64.urlsafe_b64encode(
            json.dumps(["total", "desc", 5, True]).encode()
        ).decode(),
    ],
)
def test_list_invalid_cursor(client, cursor):
    response = client.get("/api/leads", params={"cursor": cursor})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "cursor"
    assert error["value"] == cursor
    assert error["message"] == f"cursor {cursor!r} is not a cursor of this API"


def raw_cursor(text: str) -> str:
    """Encode cursor JSON text as the API does, keeping literals such as 1e999."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


MAX_ID = 2**63 - 1


@pytest.mark.parametrize(
    ("sort", "text"),
    [
        ("total", '["total", "desc", null, 99999999999999999999999]'),
        ("total", f'["total", "desc", 5.0, {MAX_ID + 1}]'),
        ("total", '["total", "desc", 5.0, 0]'),
        ("total", '["total", "desc", 5.0, -3]'),
        ("total", '["total", "desc", 1e999, 3]'),
        ("total", '["total", "desc", -Infinity, 3]'),
        ("total", '["total", "desc", NaN, 3]'),
        ("total", f'["total", "desc", {MAX_ID + 1}, 3]'),
        ("updated_at", f'["updated_at", "desc", {-MAX_ID - 2}, 3]'),
        ("updated_at", '["updated_at", "desc", 1777593600000000.5, 3]'),
    ],
)
def test_list_cursor_out_of_range(client, rows, sort, text):
    rows.scored_lead(50, 0, 0)
    cursor = raw_cursor(text)
    response = client.get("/api/leads", params={"cursor": cursor, "sort": sort})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == {
        "code": "invalid_cursor",
        "message": f"cursor {cursor!r} is not a cursor of this API",
        "field": "cursor",
        "value": cursor,
    }


@pytest.mark.parametrize(
    ("sort", "text", "listed"),
    [
        ("total", f'["total", "desc", 100.0, {MAX_ID}]', 1),
        ("total", f'["total", "desc", {MAX_ID}, 1]', 1),
        ("updated_at", f'["updated_at", "desc", {-MAX_ID - 1}, {MAX_ID}]', 0),
        ("updated_at", f'["updated_at", "asc", {MAX_ID}, 1]', 0),
    ],
)
def test_list_cursor_at_int64_limits(client, rows, sort, text, listed):
    rows.scored_lead(50, 0, 0)
    order = json.loads(text)[1]
    response = client.get("/api/leads", params={"cursor": raw_cursor(text), "sort": sort, "order": order})
    assert len(ids_of(response)) == listed


def test_cursor_bound_to_sort(client, rows):
    for total in range(3):
        rows.scored_lead(total, 0, 0)
    cursor = client.get("/api/leads", params={"limit": 1}).json()["next_cursor"]
    response = client.get(
        "/api/leads", params={"limit": 1, "cursor": cursor, "sort": "fit"}
    )
    assert response.status_code == 400
    assert (
        "was written for sort=total&order=desc" in response.json()["error"]["message"]
    )
