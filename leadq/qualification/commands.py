"""Commands of qualification: `leadq qualify` and `leadq qualify-report`."""

from __future__ import annotations

import getpass
import json
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from leadq.errors import InputError, InputErrors, OptionError
from leadq.qualification.answers_file import read_answers_file
from leadq.service.commands import DatabaseOption

if TYPE_CHECKING:
    from leadq.qualification.answers import InvalidAnswers

# The store and Rich prompts load inside each command, so that `leadq score`
# starts without SQLAlchemy.


class ReportFormat(str, Enum):
    table = "table"
    json = "json"


def qualify(
    lead: Annotated[
        str,
        typer.Argument(
            help="The lead: its id, lead key or email in the store.", metavar="LEAD"
        ),
    ],
    framework: Annotated[
        Optional[str],
        typer.Option(
            "--framework",
            help="Framework id: bant, champ or one of the active model's. Default: bant, or the answers file's `framework`.",
        ),
    ] = None,
    answers: Annotated[
        Optional[Path],
        typer.Option(
            "--answers",
            help="YAML or JSON file of answers; skips the questions and the confirmation.",
        ),
    ] = None,
    author: Annotated[
        Optional[str],
        typer.Option(
            "--author", help="Who held the conversation. Default: the login name."
        ),
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """Record a qualification conversation with a lead, then rescore it."""
    from leadq.output import console
    from leadq.store.database import open_store

    from_file = read_answers_file(answers) if answers else None
    framework_id = framework or (from_file or {}).get("framework") or "bant"
    author = author or (from_file or {}).get("author") or getpass.getuser()
    if not isinstance(author, str) or "\x00" in author:
        raise OptionError(f"the author {author!r} must be text without NUL characters (\\u0000)")
    store = open_store(database, create=False)
    try:
        # The store's errors come first, because no answer can fix them.
        if from_file is None and not sys.stdin.isatty():
            raise OptionError(
                "no terminal to ask the questions in; "
                "pass the answers with --answers FILE"
            )
        _qualify(store, console(), lead, framework_id, from_file, author, answers)
    finally:
        store.dispose()


def _qualify(
    store,
    out,
    lead: str,
    framework_id: str,
    from_file: dict | None,
    author: str,
    path: Path | None,
) -> None:
    from leadq.qualification.answers import InvalidAnswers, check_answers, evaluate
    from leadq.qualification.questionnaire import (
        ask_answers,
        confirm_save,
        show_summary,
    )
    from leadq.qualification.records import find_lead, framework_of, record_for_lead
    from leadq.service.model_versions import ensure_active_model
    from leadq.store.database import now_micros

    active = ensure_active_model(store)
    with store.read() as connection:
        lead_id = find_lead(connection, lead)
    framework = framework_of(active.model, framework_id)
    if from_file is None:
        out.print(
            f"{framework.name} qualification of lead {lead_id} ({lead})",
            highlight=False,
        )
        raw = ask_answers(out, framework)
        checked = check_answers(framework, raw)
        show_summary(
            out, framework, checked, evaluate(framework, checked, now_micros())
        )
        if not confirm_save(out):
            out.print("Nothing was saved.")
            return
    else:
        raw = from_file.get("answers", {})
    try:
        recorded = record_for_lead(store, lead_id, framework_id, raw, author)
    except InvalidAnswers as invalid:
        raise _located(invalid, path) from None
    _print_recorded(out, framework.name, recorded)


def _located(invalid: InvalidAnswers, path: Path | None) -> InputErrors:
    """Name the file and the field of each invalid answer."""
    file = str(path) if path is not None else None
    return InputErrors(
        [
            InputError(error.message, file=file, field=f"answers.{error.criterion}")
            for error in invalid.errors
        ]
    )


def _print_recorded(out, framework_name: str, recorded) -> None:
    stored = recorded.qualification
    out.print(
        f"saved qualification {stored.id}: {framework_name} {stored.result}",
        highlight=False,
    )
    for reason in stored.reasons:
        out.print(f"  {reason}", highlight=False)
    if recorded.stage != recorded.previous_stage:
        out.print(
            f"stage: {recorded.previous_stage or '(none)'} -> {recorded.stage}",
            highlight=False,
        )
    else:
        out.print(f"stage: {recorded.stage} (unchanged)", highlight=False)


def qualify_report(
    framework: Annotated[
        Optional[str], typer.Option("--framework", help="Only this framework id.")
    ] = None,
    output_format: Annotated[
        ReportFormat, typer.Option("--format", help="Output: a terminal table or JSON.")
    ] = ReportFormat.table,
    database: DatabaseOption = None,
) -> None:
    """Show how often each answer occurs and how many of those leads converted."""
    from leadq.output import console
    from leadq.qualification.records import UnknownFramework
    from leadq.qualification.report import framework_report, report_tables
    from leadq.service.model_versions import ensure_active_model
    from leadq.store.database import open_store

    store = open_store(database, create=False)
    try:
        active = ensure_active_model(store)
        frameworks = active.model.all_frameworks()
        if framework is not None and framework not in frameworks:
            raise UnknownFramework(framework, list(frameworks))
        with store.read() as connection:
            reports = framework_report(connection, frameworks, framework)
    finally:
        store.dispose()
    if output_format == ReportFormat.json:
        sys.stdout.write(
            json.dumps([report.as_json() for report in reports], indent=2) + "\n"
        )
        return
    out = console()
    if not reports:
        out.print("no complete qualifications recorded yet")
    for table in report_tables(reports):
        out.print(table)


def register(app: typer.Typer) -> None:
    app.command()(qualify)
    app.command("qualify-report")(qualify_report)
