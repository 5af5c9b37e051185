"""Mount the dashboard on the service's app: pages, static files, handlers."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from leadq.dashboard import (
    account_pages,
    lead_pages,
    qualification_pages,
    report_pages,
    settings_pages,
)
from leadq.dashboard.rendering import PAGE_METHODS, render
from leadq.dashboard.sessions import PageError, SignInRequired
from leadq.service.damaged_leads import DamagedLeads
from leadq.service.errors import (
    damaged_lead_response,
    invalid_request_error,
    invalid_request_response,
)
from leadq.service.stored_json import DamagedLeadRow

STATIC = Path(__file__).parent / "static"
PREFIX = "/dashboard/"
log = logging.getLogger("leadq.service")


def install(app: FastAPI) -> None:
    app.mount(
        "/dashboard/static", StaticFiles(directory=STATIC), name="dashboard-static"
    )
    for module in (
        account_pages,
        lead_pages,
        qualification_pages,
        report_pages,
        settings_pages,
    ):
        app.include_router(module.router)

    @app.api_route("/", methods=PAGE_METHODS, include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/dashboard/leads", status_code=303)

    _install_handlers(app)


def _install_handlers(app: FastAPI) -> None:
    """Render the dashboard's errors as pages.

    The handlers of DamagedLeadRow and RequestValidationError replace those
    of leadq.service.errors, which create_app installs first, and keep
    their JSON responses outside the dashboard.
    """

    @app.exception_handler(SignInRequired)
    async def sign_in(request: Request, _error: SignInRequired) -> RedirectResponse:
        return RedirectResponse("/dashboard/sign-in", status_code=303)

    @app.exception_handler(PageError)
    async def page_error(request: Request, error: PageError):
        return render(
            request, "error.html", status_code=error.status, message=error.message
        )

    @app.exception_handler(DamagedLeadRow)
    async def damaged_lead(request: Request, error: DamagedLeadRow):
        if not request.url.path.startswith(PREFIX):
            return damaged_lead_response(request, error)
        log.error("%s %s failed: %s", request.method, request.url.path, error)
        return render(request, "error.html", status_code=500, message=_sentence(str(error)))

    # Only dashboard pages raise DamagedLeads in the service, so it gets no JSON response.
    @app.exception_handler(DamagedLeads)
    async def damaged_leads(request: Request, error: DamagedLeads):
        lines = error.lines()
        log.error("%s %s failed: %s", request.method, request.url.path, "; ".join(lines))
        message = _sentence(lines[0].removesuffix(":"))
        details = [_sentence(line) for line in lines[1:]]
        return render(request, "error.html", status_code=500, message=message, details=details)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError):
        if not request.url.path.startswith(PREFIX):
            return invalid_request_response(error)
        return render(request, "error.html", status_code=422, message=_rejection(error))


def _rejection(error: RequestValidationError) -> str:
    """Return the error page's message for the first field that FastAPI rejected."""
    field = invalid_request_error(error).field or "the request"
    first = error.errors()[0]
    if first["type"] == "missing":
        return f"The request was rejected because {field} is missing."
    problem = first["msg"][:1].lower() + first["msg"][1:]
    return _sentence(f"The request was rejected because {field} is invalid: {problem}")


def _sentence(text: str) -> str:
    """Start the text with a capital letter and end it with a full stop, as the pages' messages are."""
    return f"{text[:1].upper()}{text[1:].rstrip('.')}."
