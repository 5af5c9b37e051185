"""Domain exceptions. The CLI turns them into one-paragraph messages."""

from __future__ import annotations


class LeadqError(Exception):
    """Base class of every error that leadq reports to a user.

    The command exits with `exit_code`: 2 for invalid input (an option, a
    file, or an argument that names nothing in the store), 1 for a failure
    of the work itself.
    """

    exit_code = 1

    def lines(self) -> list[str]:
        """Return the lines of the message. The CLI writes `error: ` before each line."""
        return [str(self)]


class LocatedError(LeadqError):
    """An error in a file, with where it is: file, line, row, lead or event id, column, field.

    Spark binds events on its executors, where a row's position in the
    input is unknown; its errors name the event's id (`event_id`) instead.
    A table has no row order of its own, so errors in a table's data name
    the row's lead key (`lead_id`) or event id where it has one.
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        row: int | None = None,
        column: str | None = None,
        field: str | None = None,
        event_id: str | None = None,
        lead_id: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.row = row
        self.column = column
        self.field = field
        self.event_id = event_id
        self.lead_id = lead_id
        super().__init__(self._format())

    def _format(self) -> str:
        parts = [self.file] if self.file else []
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.event_id is not None:
            parts.append(f"event id {self.event_id!r}")
        if self.lead_id is not None:
            parts.append(f"lead id {self.lead_id!r}")
        if self.column is not None:
            parts.append(f"column {self.column!r}")
        if self.field:
            parts.append(f"field {self.field}")
        if not parts:
            return self.message
        return f"{', '.join(parts)}: {self.message}"


class ModelError(LocatedError):
    """An invalid model file: the line, the field, the bad value and the fix."""


class InputError(LocatedError):
    """A problem in a leads or events file: the file, line or row, and column.

    CSV and JSON lines files report the line in the file (the CSV header is
    line 1); Parquet files report the 1-based row.
    """


class InputErrors(LeadqError):
    """Several errors in one input, such as every invalid answer of an answers file."""

    exit_code = 2

    def __init__(self, errors: list[LocatedError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(error) for error in errors))

    def lines(self) -> list[str]:
        return [str(error) for error in self.errors]


class OptionError(LeadqError):
    """An option value that cannot work, such as an output file that is an input."""

    exit_code = 2


class LeadNotFound(LeadqError):
    """A lead id, lead key or email that names no lead in the store."""

    exit_code = 2


class ImportRowError(LeadqError):
    """A problem in one row of an import file: the row is rejected, the rest imported."""

    def __init__(self, column: str | None, reason: str) -> None:
        self.column = column
        self.reason = reason
        super().__init__(reason)
