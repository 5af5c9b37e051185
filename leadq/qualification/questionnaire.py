"""Ask a framework's questions in the terminal with Rich prompts.

Each criterion shows its question and help text, then asks for an answer in
the form its type takes and checks it with the same rules as the API, so a
wrong answer is asked again with the reason. A blank answer is unknown.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.prompt import Confirm, Prompt
from rich.table import Table

from leadq.model.qualification import UNKNOWN, Criterion, Framework
from leadq.qualification.answers import Answer, AnswerError, Evaluation, value_of

STATUS_OPTIONS = (("confirmed", "Confirmed"), ("not_confirmed", "Not confirmed"))


def ask_answers(console: Console, framework: Framework) -> dict[str, dict]:
    """Ask every criterion; return raw answers with notes, keyed by criterion."""
    answers = {}
    for number, criterion in enumerate(framework.criteria, start=1):
        console.print()
        console.rule(f"{number}/{len(framework.criteria)} {criterion.label}")
        console.print(f"[bold]{criterion.question}[/bold]", highlight=False)
        if criterion.help:
            console.print(f"[dim]{criterion.help}[/dim]", highlight=False)
        value = _ask_value(console, criterion)
        note = Prompt.ask(
            "Note (Enter to skip)", console=console, default="", show_default=False
        )
        answers[criterion.id] = {"value": value, "note": note or None}
    return answers


def _ask_value(console: Console, criterion: Criterion) -> Any:
    options = _options(criterion)
    if options:
        for index, (_, label) in enumerate(options, start=1):
            console.print(f"  {index}) {label}", highlight=False)
    while True:
        text = Prompt.ask(
            _prompt_text(criterion, len(options)),
            console=console,
            default="",
            show_default=False,
        )
        raw = _chosen(text.strip(), options)
        try:
            return value_of(criterion, raw)
        except AnswerError as error:
            message = error.message
            if options:
                message = f"{text!r} is not in the list; type a number from 1 to {len(options)}, or press Enter for unknown"
            console.print(f"[red]{message}[/red]", highlight=False)


def _options(criterion: Criterion) -> list[tuple[str, str]]:
    if criterion.answer == "status":
        return list(STATUS_OPTIONS)
    if criterion.answer == "choice":
        return [(option.id, option.label) for option in criterion.options]
    return []


def _prompt_text(criterion: Criterion, options: int) -> str:
    if options:
        return f"Choose 1-{options} (Enter: unknown)"
    if criterion.answer == "scale":
        return "Score 0-3 (Enter: unknown)"
    if criterion.answer == "number":
        return f"Amount and unit, such as 50000 {criterion.units[0]} (Enter: unknown)"
    return "Date, YYYY-MM-DD (Enter: unknown)"


def _chosen(text: str, options: list[tuple[str, str]]) -> Any:
    """Map a number from the list to its option id; other text stays as typed."""
    if not text:
        return None
    if options and text.isdigit() and 1 <= int(text) <= len(options):
        return options[int(text) - 1][0]
    return text


def show_summary(
    console: Console,
    framework: Framework,
    answers: dict[str, Answer],
    evaluation: Evaluation,
) -> None:
    table = Table(title=f"{framework.name}: {evaluation.result}")
    for column in ("criterion", "answer", "met", "note"):
        table.add_column(column)
    for criterion in framework.criteria:
        answer = answers[criterion.id]
        met = {True: "yes", False: "no", None: "?"}[evaluation.met[criterion.id]]
        table.add_row(
            criterion.label, shown_value(answer.value), met, answer.note or ""
        )
    console.print()
    console.print(table)
    for reason in evaluation.reasons:
        console.print(f"  {reason}", highlight=False)


def shown_value(value: Any) -> str:
    if value is None:
        return UNKNOWN
    if isinstance(value, dict):
        return f"{value['amount']:g} {value['unit']}"
    return str(value)


def confirm_save(console: Console) -> bool:
    return Confirm.ask("Save this qualification?", console=console, default=True)
