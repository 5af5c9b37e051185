"""Jinja2 templates of the dashboard, with autoescaping on for every page.

Every string from a lead, an event or a model is escaped by Jinja2; no
template marks such a value safe. Times in the store are int64
microseconds (UTC) and show as UTC minutes.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from leadq.service.lead_records import as_datetime

TEMPLATES = Path(__file__).parent / "templates"
# Methods of a page's route. FastAPI's APIRoute, unlike Starlette's Route,
# does not add HEAD to a GET route, and uvicorn sends no body for HEAD.
# The server-sent event stream stays GET only, because a HEAD request
# would hold it open for nothing.
PAGE_METHODS = ["GET", "HEAD"]
# Sent with every page: no script, style or frame from another origin, and
# no inline script, so an injected <script> could not run even unescaped.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self'; script-src 'self'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def format_time(micros: int | datetime | None) -> str:
    moment = micros if isinstance(micros, datetime) else as_datetime(micros)
    if moment is None:
        return "–"
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def format_score(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def format_percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["when"] = format_time
    environment.filters["score"] = format_score
    environment.filters["percent"] = format_percent
    return environment


templates = Jinja2Templates(env=_environment())


def render(request: Request, template: str, /, status_code: int = 200, **context):
    """Render a page; the base layout reads the session from `request.state`."""
    context.setdefault("session", getattr(request.state, "session", None))
    response = templates.TemplateResponse(
        request, template, context, status_code=status_code
    )
    response.headers.update(SECURITY_HEADERS)
    return response
