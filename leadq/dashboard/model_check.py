"""Check an edited model file the way `leadq validate` and activation do.

The text is parsed and validated by `leadq.model.loading`, then compiled,
and nothing is stored. The first error names its line, which the page
marks in a numbered listing of the text.
"""

from __future__ import annotations

from dataclasses import dataclass

from leadq.compiler.query import compile_model
from leadq.errors import ModelError
from leadq.model.loading import parse_model
from leadq.model.schema import ScoringModel

SOURCE = "edited model"


@dataclass(frozen=True)
class ModelCheck:
    model: ScoringModel | None
    error: ModelError | None
    lines: list[str]

    @property
    def error_line(self) -> int | None:
        return self.error.line if self.error else None


def check_model_text(text: str) -> ModelCheck:
    lines = text.splitlines()
    try:
        model = parse_model(text, source=SOURCE)
        compile_model(model)
    except ModelError as error:
        return ModelCheck(None, error, lines)
    return ModelCheck(model, None, lines)


def rule_rows(model: ScoringModel) -> list[tuple[str, str, str, str]]:
    """Return (section, rule id, what it tests, points) for every scoring rule."""
    rows = []
    for section in ("fit", "engagement", "product"):
        part = getattr(model, section, None)
        for rule in getattr(part, "rules", None) or []:
            rows.append((section, rule.id, _tested(rule), f"{rule.points:+g}"))
    return rows


def _tested(rule) -> str:
    event = getattr(rule, "event", None)
    if event is not None:
        cap = getattr(rule, "max_points", None)
        return f"event {event}" + (
            f", at most {cap:g} points" if cap is not None else ""
        )
    return f"field {getattr(rule, 'field', '?')}"
