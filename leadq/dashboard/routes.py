"""Mount the dashboard on the service's app: pages, static files, handlers."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from leadq.dashboard import (
    account_pages,
    lead_pages,
    qualification_pages,
    report_pages,
    settings_pages,
)
from leadq.dashboard.rendering import render
from leadq.dashboard.sessions import PageError, SignInRequired

STATIC = Path(__file__).parent / "static"


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

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/dashboard/leads", status_code=303)

    @app.exception_handler(SignInRequired)
    async def sign_in(request: Request, _error: SignInRequired) -> RedirectResponse:
        return RedirectResponse("/dashboard/sign-in", status_code=303)

    @app.exception_handler(PageError)
    async def page_error(request: Request, error: PageError):
        return render(
            request, "error.html", status_code=error.status, message=error.message
        )
