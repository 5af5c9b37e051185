"""Pages of leads: the ranked table, its CSV export and live stage changes,
one lead's page, and the recycle and erase actions with their confirmation.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, StreamingResponse

from leadq.dashboard.csv_export import csv_lines
from leadq.dashboard.lead_page_data import read_lead_page
from leadq.dashboard.lead_query import parse_lead_query
from leadq.dashboard.lead_rows import read_page
from leadq.dashboard.qualification_form import build_form
from leadq.dashboard.live import last_change_id, stage_events
from leadq.dashboard.path_ids import PageLeadId
from leadq.dashboard.rendering import PAGE_METHODS, render
from leadq.dashboard.sessions import PageError, Session, current_session, editor_session
from leadq.service.damaged_leads import DOWNLOAD, PAGE
from leadq.service.erasure import erase_lead, find_erasure
from leadq.service.errors import ApiError
from leadq.service.lead_actions import recycle
from leadq.service.lead_listing import (
    Cursor,
    count_leads,
    encode_cursor,
    known_stages,
    model_stage_order,
    naming_damaged_attributes,
)
from leadq.service.merges import resolve_survivor
from leadq.service.model_versions import ensure_active_model
from leadq.store import MAX_ID
from leadq.store.database import now_micros

router = APIRouter(prefix="/dashboard", include_in_schema=False)
EXPORT_PAGE = 1000
SORT_LABELS = {
    "total": "Score",
    "fit": "Fit",
    "engagement": "Engagement",
    "product": "Product",
    "updated_at": "Updated",
    "created_at": "Created",
}


@router.api_route("/leads", methods=PAGE_METHODS)
def leads_page(request: Request, session: Annotated[Session, Depends(current_session)]):
    store = request.app.state.store
    with (
        naming_damaged_attributes(store, "no lead was listed", PAGE),
        store.read() as connection,
    ):
        stages = _stages(connection)
        query = parse_lead_query(request.query_params, stages)
        rows, next_position = read_page(
            connection, query.filters, query.sort, query.order, query.after
        )
        matched = count_leads(connection, query.filters)
        live_after = last_change_id(connection)
    return render(
        request,
        "leads.html",
        query=query,
        rows=rows,
        matched=matched,
        stages=stages,
        sort_labels=SORT_LABELS,
        next_link=query.link(cursor=encode_cursor(next_position))
        if next_position
        else None,
        live_after=live_after,
    )


@router.api_route("/leads.csv", methods=PAGE_METHODS)
def leads_csv(request: Request, session: Annotated[Session, Depends(current_session)]):
    """Stream every lead of the current view (all pages) as CSV.

    A HEAD request gets the download's headers alone: the export reads
    every lead that the view matches, which the client does not receive.
    """
    if request.method == "HEAD":
        return _csv_response(iter(()))
    store = request.app.state.store
    with store.read() as connection:
        query = parse_lead_query(request.query_params, _stages(connection))

    def read_export_page(after: Cursor | None):
        with store.read() as connection:
            return read_page(
                connection, query.filters, query.sort, query.order, after, EXPORT_PAGE
            )

    # The first page is read before the response starts, so that its errors
    # get an error page instead of a cut-off download.
    with naming_damaged_attributes(store, "nothing was exported", DOWNLOAD):
        first = read_export_page(None)

    def pages():
        rows, after = first
        yield rows
        while after is not None:
            rows, after = read_export_page(after)
            yield rows

    return _csv_response(csv_lines(pages()))


def _csv_response(lines: Iterator[str]) -> StreamingResponse:
    headers = {"Content-Disposition": 'attachment; filename="leads.csv"'}
    return StreamingResponse(lines, media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/live/stages")
def live_stages(
    request: Request,
    session: Annotated[Session, Depends(current_session)],
    after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
):
    """Send stage changes after the row id `after` (or Last-Event-ID) as SSE."""
    start = _resumed_id(request.headers.get("last-event-id", ""), after)
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(
        stage_events(request, start), media_type="text/event-stream", headers=headers
    )


def _resumed_id(last_event_id: str, after: int) -> int:
    """Return the row id of a Last-Event-ID header, or `after` if it contains none.

    The browser sends back an id that the stream sent, so any other value
    falls back to `after` instead of failing the stream.
    """
    if last_event_id.isascii() and last_event_id.isdigit():
        resumed = int(last_event_id)
        if resumed <= MAX_ID:
            return resumed
    return after


@router.api_route("/leads/{lead_id}", methods=PAGE_METHODS)
def lead_page(
    request: Request,
    session: Annotated[Session, Depends(current_session)],
    lead_id: PageLeadId,
    before: str | None = None,
    framework: str | None = None,
    qualified: str | None = None,
):
    return show_lead(
        request, lead_id, before, framework=framework, qualified=qualified
    )


def show_lead(
    request: Request,
    lead_id: int,
    before: str | None = None,
    *,
    framework: str | None = None,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    qualified: str | None = None,
    status_code: int = 200,
):
    """Render a lead's page, with the qualification form as sent or empty.

    `qualified` is the id of a qualification just recorded, whose result
    the page announces. A merged lead's id redirects to the lead it was
    merged into.
    """
    store = request.app.state.store
    model = ensure_active_model(store).model
    with store.read() as connection:
        page = read_lead_page(connection, lead_id, before)
        if page is None:
            raise _missing(connection, lead_id)
        form = build_form(connection, model, page.detail.id, framework, values, errors)
    if page.detail.id != lead_id:
        return RedirectResponse(f"/dashboard/leads/{page.detail.id}", status_code=303)
    return render(
        request,
        "lead.html",
        status_code=status_code,
        page=page,
        lead=page.detail,
        recycled=request.query_params.get("recycled") == "1",
        form=form,
        qualified=next((q for q in form.history if str(q.id) == qualified), None),
    )


@router.api_route("/leads/{lead_id}/recycle", methods=PAGE_METHODS)
def recycle_form(
    request: Request,
    session: Annotated[Session, Depends(current_session)],
    lead_id: PageLeadId,
):
    return _confirm_page(request, lead_id, "recycle")


@router.post("/leads/{lead_id}/recycle")
async def recycle_lead(
    request: Request,
    session: Annotated[Session, Depends(editor_session)],
    lead_id: PageLeadId,
    reason: Annotated[str, Form(min_length=1, max_length=500)],
):
    store = request.app.state.store
    # The stage history has no column for a person, so the reason names who
    # recycled the lead.
    stated = (
        f"{reason.strip() or 'recycled'} (by {session.user.username} in the dashboard)"
    )
    try:
        answer = await run_in_threadpool(recycle, store, lead_id, stated)
    except ApiError as error:
        raise PageError(error.status, error.message) from None
    return RedirectResponse(
        f"/dashboard/leads/{answer.lead_id}?recycled=1", status_code=303
    )


@router.api_route("/leads/{lead_id}/erase", methods=PAGE_METHODS)
def erase_form(
    request: Request,
    session: Annotated[Session, Depends(current_session)],
    lead_id: PageLeadId,
):
    return _confirm_page(request, lead_id, "erase")


@router.post("/leads/{lead_id}/erase")
def erase(
    request: Request,
    session: Annotated[Session, Depends(editor_session)],
    lead_id: PageLeadId,
):
    with request.app.state.store.write() as connection:
        survivor = resolve_survivor(connection, lead_id)
        if survivor is None:
            raise _missing(connection, lead_id)
        record = erase_lead(connection, survivor, now_micros())
    return render(request, "erased.html", record=record)


def _confirm_page(request: Request, lead_id: int, action: str):
    with request.app.state.store.read() as connection:
        page = read_lead_page(connection, lead_id, None)
        if page is None:
            raise _missing(connection, lead_id)
    return render(request, f"confirm_{action}.html", lead=page.detail, name=page.name)


def _stages(connection) -> list[str]:
    order = model_stage_order(connection)
    return order + sorted(known_stages(connection) - set(order))


def _missing(connection, lead_id: int) -> PageError:
    if find_erasure(connection, lead_id) is not None:
        return PageError(410, f"Lead {lead_id} was erased.")
    return PageError(404, f"No lead has the id {lead_id}.")
