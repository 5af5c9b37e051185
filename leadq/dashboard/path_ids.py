"""Ids in the paths of dashboard pages.

FastAPI rejects a path id that is not a number with a JSON 422, so the
dashboard's routes take the id as text and check it here. An id that names
nothing gets the same not-found page as an unknown number. Routes take the
id after the session, so that a request without one is sent to sign in first.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from leadq.dashboard.sessions import PageError
from leadq.store import MAX_ID


def checked_id(text: str, not_found: str) -> int:
    """Return the id that the text writes; raise the not-found page with `not_found` for any other text."""
    digits = len(str(MAX_ID))
    # str.isdigit accepts digits such as "²" that int() rejects; isascii leaves them out.
    if text.isascii() and text.isdigit() and len(text) <= digits:
        if 1 <= int(text) <= MAX_ID:
            return int(text)
    raise PageError(404, not_found)


def page_lead_id(lead_id: Annotated[str, Path()]) -> int:
    return checked_id(lead_id, f"No lead has the id {lead_id}.")


def page_key_id(key_id: Annotated[str, Path()]) -> int:
    return checked_id(key_id, f"No unrevoked API key has the id {key_id}.")


def page_subscription_id(subscription_id: Annotated[str, Path()]) -> int:
    return checked_id(subscription_id, f"No active webhook subscription has the id {subscription_id}.")


# The API's LeadIdPath rejects an invalid id with a JSON 422 instead.
PageLeadId = Annotated[int, Depends(page_lead_id)]
PageKeyId = Annotated[int, Depends(page_key_id)]
PageSubscriptionId = Annotated[int, Depends(page_subscription_id)]
