"""Read the JSON columns of the rows stored for a lead.

Those are the lead's own row, its account's, its events' and its
qualifications'. leadq writes these columns itself, so text that is not
the JSON value a column should contain comes from an edit by hand or
another program that wrote to the database. Every reader raises
DamagedLeadRow for such text, with the lead, the row, an excerpt of the
text and the repair.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from leadq.errors import LeadqError

EXCERPT_LENGTH = 60
# Erasing a lead deletes its events and qualifications too.
OBJECT_FIX = "set them to a JSON object such as '{}' in the database, or erase the lead"
TRAITS_FIX = "set them to a JSON object such as '{}' in the database"
TIMES_FIX = "set them to a JSON object such as '{}' in the database, which leaves every attribute without a time"
# A rescore writes a lead's reasons anew without reading them.
REASONS_FIX = "run `leadq rescore` to write them anew, or erase the lead"
ARRAY_FIX = "set them to a JSON array such as '[]' in the database, or erase the lead"
REASONS_SHAPE = "a JSON array of objects with a text rule, a text section and numeric points"
# Answers of '{}' would leave the stored result, score and reasons in place,
# so the repair removes the whole qualification. Stage history rows may name
# it, and PostgreSQL enforces that reference.
ANSWERS_FIX = (
    "restore them from a backup, or delete the qualification in the database with "
    "`UPDATE stage_history SET qualification_id = NULL WHERE qualification_id = {id}; "
    "DELETE FROM qualifications WHERE id = {id};` and run `leadq rescore`, or erase the lead"
)
ANSWERS_SHAPE = (
    'a JSON object of criterion ids to answers such as {"value": "confirmed", "note": null}'
)


class DamagedLeadRow(LeadqError):
    """A stored row of a lead whose JSON column does not contain the JSON value it should.

    The row is the lead's own, its account's, or one of its events or
    qualifications. `lead_id` is the lead being read, or None when an
    account was read for no lead.
    """

    def __init__(self, lead_id: int | None, message: str) -> None:
        super().__init__(message)
        self.lead_id = lead_id

    def __reduce__(self):
        # The tracking group process sends this error to the HTTP process.
        return type(self), (self.lead_id, str(self)), self.__dict__


def lead_attributes(text: str | None, lead_id: int) -> dict:
    """Return a lead's stored attributes (column leads.attributes)."""
    value = _parsed(text)
    if not isinstance(value, dict):
        problem = f"the stored attributes of lead {lead_id} are not a JSON object"
        raise _damaged(lead_id, problem, text, OBJECT_FIX)
    return value


def account_traits(text: str | None, account_id: int, lead_id: int | None = None) -> dict:
    """Return an account's stored traits (column accounts.traits), read for `lead_id` if given."""
    value = _parsed(text)
    if not isinstance(value, dict):
        account = f"account {account_id}"
        if lead_id is not None:
            account += f", the account of lead {lead_id},"
        raise _damaged(lead_id, f"the stored traits of {account} are not a JSON object", text, TRAITS_FIX)
    return value


def attribute_times(text: str | None, lead_id: int) -> dict[str, int]:
    """Return the event times of a lead's attributes (column leads.attribute_times), in microseconds.

    NULL has none: the lead's attributes were stored before leadq recorded times.
    """
    if text is None:
        return {}
    value = _parsed(text)
    if not isinstance(value, dict) or not all(map(_is_time, value.values())):
        problem = f"the stored attribute times of lead {lead_id} are not a JSON object of whole numbers"
        raise _damaged(lead_id, problem, text, TIMES_FIX)
    return value


def _is_time(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def lead_reasons(text: str | None, lead_id: int) -> list[dict]:
    """Return a lead's stored reasons (column leads.reasons), or none for a lead never scored."""
    if text is None:
        return []
    value = _parsed(text)
    if not isinstance(value, list) or not all(map(_is_reason, value)):
        problem = f"the stored reasons of lead {lead_id} are not {REASONS_SHAPE}"
        raise _damaged(lead_id, problem, text, REASONS_FIX)
    return value


def reached_stages(text: str | None, lead_id: int) -> list[str]:
    """Return the stages a lead reached since its last recycle (column leads.reached)."""
    if text is None:
        return []
    value = _parsed(text)
    if not isinstance(value, list) or not all(isinstance(stage, str) for stage in value):
        message = f"the stored reached stages of lead {lead_id} are not a JSON array of stage ids"
        raise _damaged(lead_id, message, text, ARRAY_FIX)
    return value


def properties_of_events(
    texts: Sequence[str], event_ids: Sequence[int], lead_ids: Sequence[int]
) -> list[dict]:
    """Return the stored properties of events (column events.properties), one dict per text.

    The error for a damaged text names its event from `event_ids` and its
    lead from `lead_ids`.
    """
    # Decoding is most of the cost of binding events, so the texts are
    # decoded one at a time, to find the damaged one, only when one is damaged.
    try:
        values = list(map(json.loads, texts))
    except (TypeError, ValueError):
        values = []
    if len(values) == len(texts) and all(isinstance(value, dict) for value in values):
        return values
    return list(map(event_properties, texts, event_ids, lead_ids))


def event_properties(text: str | None, event_id: int, lead_id: int) -> dict:
    """Return an event's stored properties (column events.properties)."""
    value = _parsed(text)
    if not isinstance(value, dict):
        event = f"event {event_id} of lead {lead_id}"
        problem = f"the stored properties of {event} are not a JSON object"
        raise _damaged(lead_id, problem, text, OBJECT_FIX)
    return value


def qualification_answers(
    text: str | None, qualification_id: int, lead_id: int
) -> dict[str, dict]:
    """Return a qualification's stored answers (column qualifications.answers), by criterion id."""
    value = _parsed(text)
    if not isinstance(value, dict) or not all(map(_is_answer, value.values())):
        qualification = f"qualification {qualification_id} of lead {lead_id}"
        problem = f"the stored answers of {qualification} are not {ANSWERS_SHAPE}"
        raise _damaged(lead_id, problem, text, ANSWERS_FIX.format(id=qualification_id))
    return value


def qualification_reasons(
    text: str | None, qualification_id: int, lead_id: int
) -> list[str]:
    """Return the reasons of a qualification's result (column qualifications.reasons)."""
    value = _parsed(text)
    if not isinstance(value, list) or not all(isinstance(reason, str) for reason in value):
        qualification = f"qualification {qualification_id} of lead {lead_id}"
        problem = f"the stored reasons of {qualification} are not a JSON array of text"
        raise _damaged(lead_id, problem, text, ARRAY_FIX)
    return value


def _parsed(text: str | None):
    """Return the JSON value of the text, or None for text that is not JSON."""
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


def _is_reason(item) -> bool:
    if not isinstance(item, dict):
        return False
    number = _is_number(item.get("points"))
    return isinstance(item.get("rule"), str) and isinstance(item.get("section"), str) and number


def _is_answer(item) -> bool:
    """Tell whether an item is an answer as leadq stores it, with a value and a text or null note.

    A value that is an object is an amount, whose `amount` must be a number.
    """
    if not isinstance(item, dict) or "value" not in item:
        return False
    value, note = item["value"], item.get("note")
    if isinstance(value, dict) and not _is_number(value.get("amount")):
        return False
    return note is None or isinstance(note, str)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _damaged(lead_id: int | None, problem: str, text: str | None, fix: str) -> DamagedLeadRow:
    if text is not None and len(text) > EXCERPT_LENGTH:
        text = text[: EXCERPT_LENGTH - 3] + "..."
    return DamagedLeadRow(lead_id, f"{problem} ({text!r}); {fix}")
