"""Lead histories: when each lead was first seen and how it ended.

Evaluation needs three times per lead besides its scores. The time it was
first seen limits a score as of T to leads that existed at T. The time it
converted gives the label, and the time it was closed (won or lost) ends
the time in which it is open. `file_history` reads them from the files that `leadq
score` takes plus an outcome source; `store_history` reads them from the
service's tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Outcome texts, compared trimmed and lower-cased. A lead with no outcome or
# an open one may still convert.
CONVERTED_VALUES = frozenset({"1", "true", "yes", "y", "won", "converted"})
LOST_VALUES = frozenset({"0", "false", "no", "n", "lost"})
OPEN_VALUES = frozenset({"", "open", "engaging", "prospecting", "pending"})
# A lead field or scored column with a predicted conversion probability.
PROBABILITY = "probability"


@dataclass(frozen=True)
class Outcome:
    """A lead's end: first conversion time, first close time, deal value.

    Times are microseconds since the epoch (UTC), or None when the source
    gives no time.
    """

    converted: bool
    converted_at: int | None = None
    closed_at: int | None = None
    value: float | None = None


@dataclass
class LeadHistory:
    """Leads by key: first-seen times, outcomes, display labels and fields.

    Keys are the `lead_id` values of a scored table: the normalized lead key
    for files, the internal id as text for the store.
    """

    first_seen: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    # The key that people use for the lead, where it differs from the scored id.
    labels: dict[str, str] = field(default_factory=dict)
    # Lead fields for grouping, such as the source a lead came from.
    fields: dict[str, dict[str, object]] = field(default_factory=dict)
    # Leads with no creation time and no events: no cut-off can include them.
    unknown_start: int = 0
    # The latest time in the data; conversions after it cannot be seen yet.
    latest: int | None = None
    notes: list[str] = field(default_factory=list)

    def label(self, lead_id: str) -> str:
        return self.labels.get(lead_id, lead_id)

    def outcome(self, lead_id: str) -> Outcome | None:
        return self.outcomes.get(lead_id)


def outcome_kind(text: object) -> str | None:
    """Return "converted", "lost" or "open" for an outcome value, or None if unknown."""
    value = "" if text is None else str(text).strip().lower()
    if value in CONVERTED_VALUES:
        return "converted"
    if value in LOST_VALUES:
        return "lost"
    if value in OPEN_VALUES:
        return "open"
    return None


def outcome_fix() -> str:
    """Return the sentence that lists the outcome values leadq understands."""
    return (
        "use one of "
        + ", ".join(sorted(CONVERTED_VALUES))
        + " for a conversion, "
        + ", ".join(sorted(LOST_VALUES))
        + " for a loss, or "
        + ", ".join(sorted(OPEN_VALUES - {""}))
        + " (or nothing) for an open lead"
    )


def merge_outcome(
    current: Outcome | None, kind: str, at: int | None, value: float | None
) -> Outcome | None:
    """Fold one outcome record into a lead's outcome: earliest conversion and close win."""
    if kind == "open":
        return current
    current = current or Outcome(False)
    converted_at = current.converted_at
    if kind == "converted":
        converted_at = _earliest(converted_at, at)
    return Outcome(
        converted=current.converted or kind == "converted",
        converted_at=converted_at,
        closed_at=_earliest(current.closed_at, at),
        value=current.value
        if current.value is not None or kind != "converted"
        else value,
    )


def _earliest(first: int | None, second: int | None) -> int | None:
    if first is None:
        return second
    if second is None:
        return first
    return min(first, second)
