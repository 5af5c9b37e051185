"""Record a qualification from the form on a lead's page (editors only)."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from leadq.dashboard.lead_pages import show_lead
from leadq.dashboard.path_ids import PageLeadId
from leadq.dashboard.qualification_form import Submission, submit_qualification
from leadq.dashboard.sessions import PageError, Session, editor_session
from leadq.errors import LeadNotFound
from leadq.qualification.answers import InvalidAnswers
from leadq.qualification.records import UnknownFramework

router = APIRouter(prefix="/dashboard", include_in_schema=False)
logger = logging.getLogger(__name__)


@router.post("/leads/{lead_id}/qualifications")
async def qualify_lead(
    request: Request,
    session: Annotated[Session, Depends(editor_session)],
    lead_id: PageLeadId,
):
    """Record the sent answers, or show the form again with each error."""
    form = await request.form()
    fields = {name: value for name, value in form.items() if isinstance(value, str)}
    store = request.app.state.store
    try:
        submission = await run_in_threadpool(
            submit_qualification, store, lead_id, fields, session.user.username
        )
    except UnknownFramework as error:
        raise PageError(400, f"The form was not recorded: {error}.") from None
    except LeadNotFound:
        raise PageError(404, f"No lead has the id {lead_id}.") from None
    except InvalidAnswers as invalid:
        # The active model changed between the check and the record.
        logger.warning(
            "qualification of lead %d rejected after the form check: %s",
            lead_id,
            invalid,
        )
        errors = {error.criterion: error.message for error in invalid.errors}
        submission = Submission(None, errors)

    if submission.recorded is None:
        return show_lead(
            request,
            lead_id,
            framework=fields.get("framework"),
            values=fields,
            errors=submission.errors,
            status_code=422,
        )
    stored = submission.recorded.qualification
    return RedirectResponse(
        f"/dashboard/leads/{stored.lead_id}?qualified={stored.id}#qualify-title",
        status_code=303,
    )
