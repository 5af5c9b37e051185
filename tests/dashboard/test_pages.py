"""Dashboard pages over HTTP: sign-in, roles, CSRF, escaping and each page."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import event, select

from leadq.dashboard import account_pages, lead_pages, qualification_pages, report_pages, settings_pages
from leadq.model.loading import default_model_text
from leadq.store.tables import api_keys, outbox
from tests.dashboard.conftest import PASSWORD, post_sign_in
from tests.service.conftest import HOUR, T0
from tests.service.test_model_versions import store_active_version

# Tests whose SQL is the same on every database (sign-in, roles, forms,
# escaping, and service functions that the service tests run on PostgreSQL)
# run on SQLite only.
sqlite_only = pytest.mark.parametrize("store", ["sqlite"], indirect=True)


@sqlite_only
def test_pages_need_sign_in(server):
    with httpx.Client(base_url=server, trust_env=False) as client:
        for path in (
            "/dashboard/leads",
            "/dashboard/funnel",
            "/dashboard/model",
            "/dashboard/settings",
            "/dashboard/leads.csv",
        ):
            answer = client.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"] == "/dashboard/sign-in", path


@sqlite_only
def test_sign_in_wrong_password(server, editor):
    with httpx.Client(base_url=server, trust_env=False) as client:
        answer = post_sign_in(client, "erin", "wrong password!")
    assert answer.status_code == 401
    assert "The user name or password is wrong." in answer.text
    assert "leadq_session" not in answer.cookies


@sqlite_only
def test_session_cookie_flags(server, editor):
    with httpx.Client(base_url=server, trust_env=False) as client:
        answer = post_sign_in(client, "erin", PASSWORD)
    cookie = answer.headers["set-cookie"].lower()
    assert "leadq_session=" in cookie
    assert "secure" in cookie
    assert "httponly" in cookie
    assert "samesite=strict" in cookie


@sqlite_only
def test_post_without_csrf_token_refused(editor, rows):
    lead_id = rows.scored_lead(80, 10, 0, stage="mql")
    answer = editor.post(
        f"/dashboard/leads/{lead_id}/recycle", data={"reason": "no token"}
    )
    assert answer.status_code == 403
    assert "security token" in answer.text
    wrong = editor.post(
        f"/dashboard/leads/{lead_id}/recycle",
        data={"reason": "x", "csrf_token": "forged"},
    )
    assert wrong.status_code == 403


@sqlite_only
def test_viewer_cannot_recycle(viewer, rows):
    lead_id = rows.scored_lead(80, 10, 0, stage="mql")
    answer = viewer.post(
        f"/dashboard/leads/{lead_id}/recycle",
        data={"reason": "try", "csrf_token": viewer.csrf},
    )
    assert answer.status_code == 403
    assert "vic is a viewer" in answer.text


@sqlite_only
def test_lead_strings_escaped(editor, rows):
    script = "<script>alert(1)</script>"
    lead_id = rows.scored_lead(
        80, 10, 0, attributes=json.dumps({"name": script, "company": "<b>Acme</b>"})
    )
    for path in ("/dashboard/leads", f"/dashboard/leads/{lead_id}"):
        page = editor.get(path).text
        assert script not in page, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path
        assert "<b>Acme</b>" not in page, path


def test_leads_filters_and_search(editor, rows):
    rows.scored_lead(
        90,
        10,
        0,
        stage="sql",
        attributes=json.dumps(
            {"name": "Ada Lovelace", "company": "Engines Ltd", "source": "webinar"}
        ),
    )
    rows.scored_lead(
        30,
        0,
        0,
        stage="unqualified",
        attributes=json.dumps({"name": "Bob Stone", "source": "ads"}),
    )
    by_stage = editor.get("/dashboard/leads", params={"stage": "sql"}).text
    assert "Ada Lovelace" in by_stage
    assert "Bob Stone" not in by_stage
    by_company = editor.get("/dashboard/leads", params={"q": "engines"}).text
    assert "Ada Lovelace" in by_company
    assert "Bob Stone" not in by_company
    by_source = editor.get("/dashboard/leads", params={"source": "ADS"}).text
    assert "Bob Stone" in by_source
    assert "Ada Lovelace" not in by_source
    by_score = editor.get("/dashboard/leads", params={"min_score": "50"}).text
    assert "Ada Lovelace" in by_score
    assert "Bob Stone" not in by_score


@sqlite_only
def test_leads_invalid_filter_reported(editor, rows):
    rows.scored_lead(90, 10, 0)
    page = editor.get("/dashboard/leads", params={"min_score": "lots", "grade": "Z"})
    assert page.status_code == 200
    assert "Lowest score &#39;lots&#39; is not a number" in page.text
    assert "Grade &#39;Z&#39; is unknown" in page.text
    reversed_range = editor.get(
        "/dashboard/leads", params={"min_score": "80", "max_score": "20"}
    )
    assert (
        "Lowest score 80 is above highest score 20; swap them." in reversed_range.text
    )


def test_leads_keyset_pages(editor, rows):
    for number in range(60):
        rows.scored_lead(number, 0, 0)
    first = editor.get("/dashboard/leads").text
    assert first.count('data-lead-id="') == 50
    next_link = first.split('rel="next" href="')[1].split('"')[0].replace("&amp;", "&")
    second = editor.get(next_link).text
    assert second.count('data-lead-id="') == 10
    assert 'rel="next"' not in second


@sqlite_only
def test_csv_export_guards_formulas(editor, rows):
    rows.scored_lead(
        80,
        0,
        0,
        attributes=json.dumps(
            {"name": '=HYPERLINK("http://x")', "company": "+cmd", "owner": "@owner"}
        ),
    )
    rows.scored_lead(
        20, 0, 0, attributes=json.dumps({"name": "Plain Name", "company": "-minus"})
    )
    answer = editor.get("/dashboard/leads.csv")
    assert answer.headers["content-type"].startswith("text/csv")
    text = answer.text
    assert "'=HYPERLINK" in text
    assert "'+cmd" in text
    assert "'@owner" in text
    assert "'-minus" in text
    assert "Plain Name" in text
    assert len(text.strip().splitlines()) == 3


def test_csv_export_follows_filters(editor, rows):
    rows.scored_lead(90, 0, 0, stage="sql", attributes=json.dumps({"name": "Kept"}))
    rows.scored_lead(
        10, 0, 0, stage="unqualified", attributes=json.dumps({"name": "Dropped"})
    )
    text = editor.get("/dashboard/leads.csv", params={"stage": "sql"}).text
    assert "Kept" in text
    assert "Dropped" not in text


def test_csv_export_head_reads_no_leads(editor, rows, store):
    rows.scored_lead(90, 0, 0, stage="sql")
    statements: list[str] = []

    def before_cursor_execute(connection, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    got = editor.get("/dashboard/leads.csv", params={"stage": "sql"})
    event.listen(store.engine, "before_cursor_execute", before_cursor_execute)
    try:
        head = editor.head("/dashboard/leads.csv", params={"stage": "sql"})
    finally:
        event.remove(store.engine, "before_cursor_execute", before_cursor_execute)
    # The session check reads dashboard_sessions and users, and only the export reads leads.
    read_leads = [statement for statement in statements if "FROM leads" in statement]

    assert got.status_code == head.status_code == 200
    assert len(got.text.splitlines()) == 2
    assert head.content == b""
    for name in ("content-type", "content-disposition"):
        assert head.headers.get(name) == got.headers.get(name), name
    # The length is unknown before the export runs, so neither response has a Content-Length.
    assert "content-length" not in head.headers
    assert "content-length" not in got.headers
    assert statements, "the session check ran no statement"
    assert read_leads == []


@sqlite_only
def test_lead_page_sections(editor, rows):
    lead_id = rows.scored_lead(
        80,
        20,
        5,
        stage="mql",
        email="ada@example.com",
        reasons=json.dumps(
            [
                {"rule": "size_sweet_spot", "section": "fit", "points": 25},
                {"rule": "demo_request", "section": "engagement", "points": 20},
            ]
        ),
    )
    rows.stage_change(lead_id, T0, "unqualified", "mql", rule="mql", reason="engaged")
    rows.snapshot(lead_id, T0, 40.0)
    rows.snapshot(lead_id, T0 + HOUR, 105.0)
    for number in range(30):
        rows.event(lead_id, "page_viewed", T0 + number)
    page = editor.get(f"/dashboard/leads/{lead_id}").text
    assert "size_sweet_spot" in page
    assert "demo_request" in page
    assert "engaged" in page
    assert "<polyline" in page
    assert page.count("<strong>page_viewed</strong>") == 25
    older = page.split('href="/dashboard/leads/%d?before=' % lead_id)[1].split('"')[0]
    second = editor.get(f"/dashboard/leads/{lead_id}?before={older}").text
    assert second.count("<strong>page_viewed</strong>") == 5


@sqlite_only
def test_recycle_records_reason(editor, rows):
    lead_id = rows.scored_lead(80, 10, 0, stage="mql")
    confirm = editor.get(f"/dashboard/leads/{lead_id}/recycle")
    assert "Recycle lead" in confirm.text
    answer = editor.post(
        f"/dashboard/leads/{lead_id}/recycle",
        data={"reason": "went quiet", "csrf_token": editor.csrf},
    )
    assert answer.status_code == 303
    page = editor.get(answer.headers["location"]).text
    assert "The lead was recycled" in page
    assert "went quiet (by erin in the dashboard)" in page


@sqlite_only
def test_erase_removes_lead(editor, rows):
    lead_id = rows.scored_lead(80, 10, 0)
    answer = editor.post(
        f"/dashboard/leads/{lead_id}/erase", data={"csrf_token": editor.csrf}
    )
    assert answer.status_code == 200
    assert f"Lead {lead_id} erased" in answer.text
    erased = editor.get(f"/dashboard/leads/{lead_id}")
    assert erased.status_code == 410


def test_funnel_numbers(editor, rows):
    first = rows.scored_lead(
        90, 0, 0, stage="sql", attributes=json.dumps({"source": "webinar"})
    )
    second = rows.scored_lead(10, 0, 0, stage="unqualified")
    rows.stage_change(first, T0, None, "unqualified")
    rows.stage_change(first, T0 + 24 * HOUR, "unqualified", "mql")
    rows.stage_change(first, T0 + 72 * HOUR, "mql", "sql")
    rows.stage_change(second, T0, None, "unqualified")
    rows.outcome(first, T0 + 100 * HOUR)
    page = editor.get("/dashboard/funnel").text
    assert "unqualified → mql → pql → sql" in page
    assert "50.0%" in page  # unqualified -> mql: one lead of two
    assert "2.0" in page  # two days in mql
    assert "webinar" in page
    assert "2026-05" in page


@sqlite_only
def test_model_validation_shows_line(editor):
    page = editor.get("/dashboard/model").text
    assert "Default B2B software model" in page
    assert "title_decision_maker" in page
    bad = "name: broken\nstages:\n  - id: a\n    sticky: maybe\n"
    answer = editor.post(
        "/dashboard/model/validate", data={"text": bad, "csrf_token": editor.csrf}
    )
    assert answer.status_code == 422
    assert "Line 4" in answer.text
    assert (
        'class="bad" aria-current="true"><code>    sticky: maybe</code>' in answer.text
    )


@sqlite_only
def test_model_page_shows_values_beyond_limits(editor, store):
    body = default_model_text().replace("points: 25", "points: 5000000", 1)
    store_active_version(store, body)

    answer = editor.get("/dashboard/model")

    assert answer.status_code == 200
    assert "<td>title_decision_maker</td>" in answer.text
    assert "<td class=\"num\">+5e+06</td>" in answer.text
    assert 'id="limits-warning"' in answer.text
    assert (
        "<li>Line 41, field fit.rules[0].points: Input should be less than or equal to 1000000, "
        "got 5000000</li>"
    ) in answer.text


@sqlite_only
def test_model_validation_accepts_valid(editor):
    answer = editor.post(
        "/dashboard/model/validate",
        data={"text": default_model_text(), "csrf_token": editor.csrf},
    )
    assert answer.status_code == 200
    assert "The edited model is valid" in answer.text


@sqlite_only
def test_keys_create_and_revoke(editor, store):
    created = editor.post(
        "/dashboard/settings/keys",
        data={"kind": "read", "name": "crm sync", "csrf_token": editor.csrf},
    )
    assert created.status_code == 200
    assert "shown only this once" in created.text
    secret = created.text.split('<code id="new-secret">')[1].split("</code>")[0]
    assert secret.startswith("lqr_")
    with store.read() as connection:
        key_id = connection.execute(
            select(api_keys.c.id).where(api_keys.c.name == "crm sync")
        ).scalar_one()
    assert (
        editor.get(
            "/api/leads", headers={"Authorization": f"Bearer {secret}"}
        ).status_code
        == 200
    )
    revoked = editor.post(
        f"/dashboard/settings/keys/{key_id}/revoke", data={"csrf_token": editor.csrf}
    )
    assert revoked.status_code == 303
    assert (
        editor.get(
            "/api/leads", headers={"Authorization": f"Bearer {secret}"}
        ).status_code
        == 401
    )
    assert secret not in editor.get("/dashboard/settings").text


@sqlite_only
def test_keys_create_name_too_long(editor, store):
    answer = editor.post(
        "/dashboard/settings/keys",
        data={"kind": "read", "name": "n" * 201, "csrf_token": editor.csrf},
    )

    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("text/html")
    assert (
        "The key was not created: the key name is 201 characters long; use a name "
        "of at most 200 characters." in answer.text
    )
    with store.read() as connection:
        assert connection.execute(select(api_keys.c.id)).all() == []
    assert 'name="name" maxlength="200"' in editor.get("/dashboard/settings").text


def add_webhook(client: httpx.Client, url: str, event_type: str) -> httpx.Response:
    data = {"url": url, "event_type": [event_type], "csrf_token": client.csrf}
    return client.post("/dashboard/settings/webhooks", data=data)


@sqlite_only
def test_webhook_send_test(editor, store):
    added = add_webhook(editor, "http://127.0.0.1:9/hook", "lead.stage_changed")
    assert added.status_code == 200
    assert "whsec_" in added.text
    subscription_id = int(added.text.split('id="webhook-')[1].split('"')[0])
    sent = editor.post(
        f"/dashboard/settings/webhooks/{subscription_id}/test",
        data={"csrf_token": editor.csrf},
    )
    assert sent.status_code == 303
    with store.read() as connection:
        types = (
            connection.execute(
                select(outbox.c.event_type).where(
                    outbox.c.subscription_id == subscription_id
                )
            )
            .scalars()
            .all()
        )
    assert types == ["webhook.test"]
    assert "webhook.test" in editor.get("/dashboard/settings").text


@sqlite_only
def test_webhook_invalid_url_reported(editor):
    answer = add_webhook(editor, "ftp://x", "lead.created")
    assert answer.status_code == 422
    assert "The subscription was not added" in answer.text


@sqlite_only
def test_sign_out_ends_session(server, editor):
    answer = editor.post("/dashboard/sign-out", data={"csrf_token": editor.csrf})
    assert answer.status_code == 303
    assert editor.get("/dashboard/leads").status_code == 303


def first_stage_event(client: httpx.Client, **headers) -> dict:
    with client.stream(
        "GET", "/dashboard/live/stages", params={"after": 0}, headers=headers
    ) as answer:
        assert answer.headers["content-type"].startswith("text/event-stream")
        for line in answer.iter_lines():
            if line.startswith("data: "):
                return json.loads(line.removeprefix("data: "))
    raise AssertionError("the stream ended without a stage event")


def test_live_stream_sends_stage_changes(editor, rows):
    lead_id = rows.scored_lead(80, 10, 0)
    first = rows.stage_change(lead_id, T0, "unqualified", "mql")
    rows.stage_change(lead_id, T0 + HOUR, "mql", "sql")
    change = first_stage_event(editor)
    assert (change["lead_id"], change["old_stage"], change["new_stage"]) == (
        lead_id,
        "unqualified",
        "mql",
    )
    resumed = first_stage_event(editor, **{"Last-Event-ID": str(first)})
    assert resumed["new_stage"] == "sql"


def test_live_stream_after_too_large(editor):
    answer = editor.get("/dashboard/live/stages", params={"after": 2**63})
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert (
        "The request was rejected because after is invalid: input should be less than "
        "or equal to 9223372036854775807." in answer.text
    )


# b"\xb2" arrives as "\u00b2" (superscript two), which str.isdigit accepts.
@pytest.mark.parametrize("last_event_id", [str(2**63).encode(), b"\xb2", b"x"])
def test_live_stream_ignores_invalid_resume_id(editor, rows, last_event_id):
    lead_id = rows.scored_lead(80, 10, 0)
    rows.stage_change(lead_id, T0, "unqualified", "mql")
    change = first_stage_event(editor, **{"Last-Event-ID": last_event_id})
    assert change["new_stage"] == "mql"


@sqlite_only
def test_viewer_sees_no_edit_forms(viewer):
    page = viewer.get("/dashboard/settings")
    assert page.status_code == 200
    assert "Create key" not in page.text
    assert "Send test" not in page.text
    denied = viewer.post(
        "/dashboard/settings/keys", data={"kind": "admin", "csrf_token": viewer.csrf}
    )
    assert denied.status_code == 403


@sqlite_only
def test_score_header_toggles_order(editor, rows):
    rows.scored_lead(90, 0, 0, attributes=json.dumps({"name": "High"}))
    rows.scored_lead(10, 0, 0, attributes=json.dumps({"name": "Low"}))
    page = editor.get("/dashboard/leads").text
    assert 'aria-sort="descending"' in page
    assert page.index(">High<") < page.index(">Low<")
    toggled = (
        page.split('<th scope="col" class="num" aria-sort="descending">')[1]
        .split('href="')[1]
        .split('"')[0]
    )
    ascending = editor.get(toggled.replace("&amp;", "&")).text
    assert 'aria-sort="ascending"' in ascending
    assert ascending.index(">Low<") < ascending.index(">High<")


LEAD_PATHS = [
    ("GET", "/dashboard/leads/{id}"),
    ("GET", "/dashboard/leads/{id}/recycle"),
    ("GET", "/dashboard/leads/{id}/erase"),
    ("POST", "/dashboard/leads/{id}/recycle"),
    ("POST", "/dashboard/leads/{id}/erase"),
    ("POST", "/dashboard/leads/{id}/qualifications"),
]


@pytest.mark.parametrize("lead_id", [str(2**63), "9" * 5000, "0", "abc", "²"])
@pytest.mark.parametrize(("method", "path"), LEAD_PATHS)
def test_lead_page_invalid_id(editor, method, path, lead_id):
    data = {"csrf_token": editor.csrf, "reason": "again"} if method == "POST" else None

    response = editor.request(method, path.format(id=lead_id), data=data)

    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert f"No lead has the id {lead_id}." in response.text


@sqlite_only
@pytest.mark.parametrize(("method", "path"), LEAD_PATHS)
def test_lead_page_invalid_id_needs_sign_in(server, method, path):
    with httpx.Client(base_url=server, trust_env=False) as client:
        response = client.request(method, path.format(id=2**63))

    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/sign-in"


SETTINGS_ID_PATHS = [
    ("/dashboard/settings/keys/{id}/revoke", "No unrevoked API key has the id {id}."),
    ("/dashboard/settings/webhooks/{id}/test", "No active webhook subscription has the id {id}."),
    ("/dashboard/settings/webhooks/{id}/remove", "No active webhook subscription has the id {id}."),
]


@sqlite_only
@pytest.mark.parametrize("item_id", ["999", "abc", str(2**63), "0", "²"])
@pytest.mark.parametrize(("path", "message"), SETTINGS_ID_PATHS)
def test_settings_unknown_id_page(editor, path, message, item_id):
    response = editor.post(path.format(id=item_id), data={"csrf_token": editor.csrf})

    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert f'<p class="error" role="alert">{message.format(id=item_id)}</p>' in response.text


@sqlite_only
@pytest.mark.parametrize(("path", "_message"), SETTINGS_ID_PATHS)
def test_settings_invalid_id_needs_sign_in(server, path, _message):
    with httpx.Client(base_url=server, trust_env=False) as client:
        response = client.post(path.format(id="abc"))

    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/sign-in"


@sqlite_only
def test_recycle_without_reason_page(editor, rows):
    lead_id = rows.scored_lead(80, 10, 0, stage="mql")

    response = editor.post(f"/dashboard/leads/{lead_id}/recycle", data={"csrf_token": editor.csrf})

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert "The request was rejected because reason is missing." in response.text


@sqlite_only
def test_live_stream_invalid_after_page(editor):
    response = editor.get("/dashboard/live/stages", params={"after": "abc"})

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert (
        "The request was rejected because after is invalid: input should be a valid integer, "
        "unable to parse string as an integer." in response.text
    )


@sqlite_only
def test_api_invalid_request_stays_json(editor, keys):
    response = editor.get("/api/leads/abc", headers={"Authorization": f"Bearer {keys.read}"})

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"


@sqlite_only
def test_head_answers_like_get(server, editor, rows):
    lead_id = rows.scored_lead(80, 10, 0)
    signed_in_paths = [
        "/dashboard/leads",
        "/dashboard/leads.csv",
        f"/dashboard/leads/{lead_id}",
        f"/dashboard/leads/{lead_id}/recycle",
        f"/dashboard/leads/{lead_id}/erase",
        "/dashboard/leads/999",
        "/dashboard/funnel",
        "/dashboard/model",
        "/dashboard/settings",
    ]
    with httpx.Client(base_url=server, trust_env=False) as anonymous:
        checks = [(anonymous, path) for path in ("/", "/dashboard/sign-in", "/dashboard/leads")]
        checks += [(editor, path) for path in signed_in_paths]
        for client, path in checks:
            got = client.get(path)
            head = client.head(path)

            assert head.status_code == got.status_code, path
            assert head.headers.get("content-type") == got.headers.get("content-type"), path
            assert head.headers.get("location") == got.headers.get("location"), path
            assert head.content == b"", path


def test_every_dashboard_page_answers_head():
    get_routes = [
        route
        for module in (account_pages, lead_pages, qualification_pages, report_pages, settings_pages)
        for route in module.router.routes
        if isinstance(route, APIRoute) and "GET" in route.methods
    ]

    assert len(get_routes) == 10
    for route in get_routes:
        expected = {"GET"} if route.path == "/dashboard/live/stages" else {"GET", "HEAD"}
        assert route.methods == expected, route.path
