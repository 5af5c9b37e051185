"""Name every damaged stored row that a command over the whole store reads.

A command that reads every lead, such as `leadq export` or `leadq report`,
writes nothing when one row is damaged (see leadq.service.stored_json). It
names all the damaged rows in one error, so that one pass of repairs is
enough.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from leadq.errors import LeadqError
from leadq.qualification.answers import COMPLETE_RESULTS
from leadq.service.stored_json import (
    DamagedLeadRow,
    account_traits,
    attribute_times,
    event_properties,
    lead_attributes,
    qualification_answers,
)
from leadq.store.tables import accounts, events, leads, qualifications

# Lines beyond this many are counted, not listed, so the error stays readable.
MAX_LISTED = 20


@dataclass(frozen=True)
class Rerun:
    """The step that a DamagedLeads error names for after the repair, and what lists the other rows."""

    # Completes "repair each one and ...".
    again: str = "run the command again"
    # The subject of "... lists once these are repaired".
    lister: str = "the command"


COMMAND = Rerun()
PAGE = Rerun(again="load the page again", lister="the page")
DOWNLOAD = Rerun(again="download the file again", lister="the download")


class DamagedLeads(LeadqError):
    """Several damaged stored rows, of one lead or more, found by one command or page."""

    def __init__(self, errors: list[DamagedLeadRow], outcome: str, rerun: Rerun = COMMAND) -> None:
        self.errors = sorted(errors, key=_lead_order)
        self.rerun = rerun
        lead_count = len({error.lead_id for error in errors})
        leads_text = "1 lead" if lead_count == 1 else f"{lead_count} leads"
        super().__init__(
            f"{len(errors)} stored rows of {leads_text} do not contain the JSON they should, "
            f"so {outcome}; repair each one and {rerun.again}"
        )

    def lines(self) -> list[str]:
        """Return the summary, each of the first MAX_LISTED rows' errors and a count of the rest."""
        listed = [str(error) for error in self.errors[:MAX_LISTED]]
        hidden = len(self.errors) - MAX_LISTED
        if hidden > 0:
            listed.append(f"and {hidden} more damaged rows, which {self.rerun.lister} lists once these are repaired")
        return [f"{self}:", *listed]


def _lead_order(error: DamagedLeadRow) -> tuple[bool, int]:
    return error.lead_id is None, error.lead_id or 0


def raise_damaged(errors: list[DamagedLeadRow], outcome: str) -> None:
    """Raise the one damaged row's own error, or DamagedLeads for several; do nothing for none."""
    error = damaged_error(errors, outcome)
    if error is not None:
        raise error


def damaged_error(
    errors: list[DamagedLeadRow], outcome: str, rerun: Rerun = COMMAND
) -> DamagedLeadRow | DamagedLeads | None:
    """Return the one damaged row's own error, DamagedLeads for several, or None for none."""
    if len(errors) == 1:
        return errors[0]
    return DamagedLeads(errors, outcome, rerun) if errors else None


def damaged_attributes(connection: Connection, batch_rows: int) -> list[DamagedLeadRow]:
    """Return the errors of every lead whose stored attributes are not a JSON object, by id.

    The leads are read `batch_rows` at a time, so a large store is never
    held in memory at once.
    """
    query = select(leads.c.id, leads.c.attributes).order_by(leads.c.id)
    # Closing the result ends PostgreSQL's server-side cursor of yield_per.
    with connection.execution_options(yield_per=batch_rows).execute(query) as result:
        return [error for row in result for error in errors_of(lead_attributes, row.attributes, row.id)]


def damaged_rows(connection: Connection) -> list[DamagedLeadRow]:
    """Return the errors of the damaged rows that scoring the stored leads reads.

    Those are the attributes, attribute times and account traits of the
    leads that were not merged, the properties of their events and the
    answers of their complete qualifications.
    """
    return [*_damaged_leads(connection), *_damaged_events(connection), *_damaged_answers(connection)]


def _damaged_leads(connection: Connection) -> list[DamagedLeadRow]:
    rows = connection.execute(
        select(leads.c.id, leads.c.attributes, leads.c.attribute_times, leads.c.account_id, accounts.c.traits)
        .select_from(leads.outerjoin(accounts, leads.c.account_id == accounts.c.id))
        .where(leads.c.merged_into.is_(None))
        .order_by(leads.c.id)
    )
    errors = []
    for row in rows:
        if row.traits is not None:
            errors += errors_of(account_traits, row.traits, row.account_id, row.id)
        errors += errors_of(lead_attributes, row.attributes, row.id)
        errors += errors_of(attribute_times, row.attribute_times, row.id)
    return errors


def _damaged_events(connection: Connection) -> list[DamagedLeadRow]:
    query = (
        select(events.c.properties, events.c.id, events.c.lead_id)
        .where(events.c.lead_id.is_not(None))
        .order_by(events.c.lead_id, events.c.id)
    )
    return _errors_in_rows(connection, query, event_properties)


def _damaged_answers(connection: Connection) -> list[DamagedLeadRow]:
    query = (
        select(qualifications.c.answers, qualifications.c.id, qualifications.c.lead_id)
        .where(qualifications.c.result.in_(COMPLETE_RESULTS))
        .order_by(qualifications.c.lead_id, qualifications.c.id)
    )
    return _errors_in_rows(connection, query, qualification_answers)


def _errors_in_rows(connection: Connection, query, read) -> list[DamagedLeadRow]:
    """Return the errors that `read` raises for the query's rows, whose columns are its arguments."""
    errors = []
    for row in connection.execute(query):
        errors += errors_of(read, *row)
    return errors


def errors_of(read, *arguments) -> list[DamagedLeadRow]:
    """Return the DamagedLeadRow that `read(*arguments)` raises, as a list of none or one."""
    try:
        read(*arguments)
    except DamagedLeadRow as error:
        return [error]
    return []
