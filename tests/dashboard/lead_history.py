"""Leads with the history a backtest needs: creation times, events and outcomes."""

from __future__ import annotations

from leadq.model.loading import default_model_text
from tests.service.conftest import T0, Rows

DAY = 24 * 3600 * 1_000_000
# The default model makes a lead with a total of 80 or more an MQL; the
# edited model lowers that to 0, so every unqualified lead becomes one.
MQL_RULE = "        - score: total\n          at_least: 80\n"
EDITED = default_model_text().replace(MQL_RULE, MQL_RULE.replace("80", "0"))
HISTORY_LEADS = 13


def store_history(rows: Rows) -> list[int]:
    """Store 13 leads created 10 days apart from T0 (2026-05-01); 5 convert."""
    lead_ids = []
    for number in range(HISTORY_LEADS):
        created = T0 + number * 10 * DAY
        lead_id = rows.lead(created_at=created, updated_at=created)
        rows.event(lead_id, "page_viewed", created + DAY)
        if number % 3 == 0:
            rows.outcome(lead_id, created + 20 * DAY)
        lead_ids.append(lead_id)
    return lead_ids
