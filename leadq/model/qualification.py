"""The typed schema of qualification frameworks, such as BANT, CHAMP or MEDDIC.

A framework is a list of criteria that a salesperson asks about in one
conversation, and a pass rule over the answers. The built-in frameworks are
YAML files beside this module (`frameworks/*.yaml`); a model file adds or
replaces frameworks under `frameworks:`. leadq.qualification evaluates the
answers.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

BUILTIN_FRAMEWORKS = ("bant", "champ")
STATUS_VALUES = ("confirmed", "not_confirmed", "unknown")
# The answer of a criterion that was not answered, in every answer type.
UNKNOWN = "unknown"
SCALE_MAX = 3
# The largest amount of a number answer, and of a number criterion's at_least.
MAX_AMOUNT = 10**12

AnswerType = Literal["status", "scale", "choice", "number", "date"]
CriterionId = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$"),
    Field(
        description="Criterion id: a lower-case letter, then letters, digits or '_'."
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Option(_Strict):
    """One answer of a choice criterion."""

    id: CriterionId
    label: str = Field(min_length=1, description="What the salesperson reads out.")


class Criterion(_Strict):
    """One question of a framework and what counts as meeting it."""

    id: CriterionId
    label: str = Field(min_length=1, description="Short name shown in tables.")
    question: str = Field(min_length=1, description="The question to read out.")
    help: str = Field("", description="What a good answer sounds like.")
    answer: AnswerType = Field(
        description="status (confirmed / not confirmed / unknown), scale (0-3), "
        "choice (one of `options`), number (an amount with a unit) or date."
    )
    options: list[Option] = Field(
        default_factory=list, description="The answers of a choice criterion."
    )
    meets: list[str] = Field(
        default_factory=list,
        description="Choice criteria: the option ids that meet the criterion.",
    )
    scale_meets: int = Field(
        2,
        ge=1,
        le=SCALE_MAX,
        description="Scale criteria: the lowest value that meets it.",
    )
    units: list[str] = Field(
        default_factory=list,
        description="Number criteria: the units an amount may have, such as USD, EUR.",
    )
    at_least: float | None = Field(
        None,
        ge=0,
        le=MAX_AMOUNT,
        description="Number criteria: the lowest amount that meets it (any unit).",
    )
    within_days: int | None = Field(
        None,
        ge=0,
        description="Date criteria: a date at most this many days after the "
        "conversation meets it.",
    )
    weight: float = Field(1, gt=0, description="Weight in a weighted pass rule.")

    @model_validator(mode="after")
    def _settings_of_type(self) -> Criterion:
        if self.answer == "choice":
            self._check_choice()
        elif self.options or self.meets:
            raise ValueError(
                f"criterion {self.id!r} has options, but only choice criteria "
                "take them; set `answer: choice` or remove the options"
            )
        if self.answer == "number" and not self.units:
            raise ValueError(
                f"number criterion {self.id!r} needs `units`, such as [USD, EUR]"
            )
        if self.answer == "number" and self.at_least is None:
            raise ValueError(
                f"number criterion {self.id!r} needs `at_least`, the lowest "
                "amount that meets it"
            )
        if self.answer == "date" and self.within_days is None:
            raise ValueError(
                f"date criterion {self.id!r} needs `within_days`, such as 90"
            )
        return self

    def _check_choice(self) -> None:
        ids = [option.id for option in self.options]
        if len(ids) < 2:
            raise ValueError(f"choice criterion {self.id!r} needs at least 2 options")
        if len(set(ids)) != len(ids) or UNKNOWN in ids:
            raise ValueError(
                f"choice criterion {self.id!r}: option ids must be unique and "
                f"not {UNKNOWN!r}, got {', '.join(ids)}"
            )
        if not self.meets:
            raise ValueError(
                f"choice criterion {self.id!r} needs `meets`, the option ids "
                "that meet it"
            )
        for option_id in self.meets:
            if option_id not in ids:
                raise ValueError(
                    f"`meets` names {option_id!r}, which is not an option of "
                    f"{self.id!r}; its options are: {', '.join(ids)}"
                )

    def option_ids(self) -> list[str]:
        return [option.id for option in self.options]


class PassRule(_Strict):
    """When a qualification passes; every part that is set must hold."""

    at_least: int | None = Field(
        None, ge=1, description="At least this many criteria are met."
    )
    required: list[str] = Field(
        default_factory=list, description="Criteria that must be met."
    )
    weighted_at_least: float | None = Field(
        None,
        ge=0,
        le=100,
        description="The weighted total (0-100) is at least this. A met "
        "criterion counts its full weight, a scale answer value/3 of it.",
    )

    @model_validator(mode="after")
    def _has_a_part(self) -> PassRule:
        if (
            self.at_least is None
            and not self.required
            and self.weighted_at_least is None
        ):
            raise ValueError(
                "a pass rule needs at_least, required or weighted_at_least"
            )
        return self


class Framework(_Strict):
    """A qualification framework: its criteria and pass rule."""

    name: str = Field(min_length=1, description="Display name, such as BANT.")
    version: str | int = 1
    description: str = ""
    criteria: list[Criterion] = Field(min_length=1)
    pass_rule: PassRule = Field(alias="pass")

    model_config = ConfigDict(populate_by_name=True)

    @model_validator(mode="after")
    def _known_criteria(self) -> Framework:
        ids = [criterion.id for criterion in self.criteria]
        repeated = sorted({name for name in ids if ids.count(name) > 1})
        if repeated:
            raise ValueError(
                f"criterion ids must be unique, {', '.join(repeated)} repeats"
            )
        for name in self.pass_rule.required:
            if name not in ids:
                raise ValueError(
                    f"the pass rule requires {name!r}, which is not a criterion; "
                    f"the criteria are: {', '.join(ids)}"
                )
        if self.pass_rule.at_least is not None and self.pass_rule.at_least > len(ids):
            raise ValueError(
                f"the pass rule needs {self.pass_rule.at_least} criteria met, "
                f"but the framework has {len(ids)}"
            )
        return self

    def criterion(self, criterion_id: str) -> Criterion | None:
        return next((c for c in self.criteria if c.id == criterion_id), None)


def builtin_framework_text(framework_id: str) -> str:
    folder = resources.files("leadq.model") / "frameworks"
    return (folder / f"{framework_id}.yaml").read_text("utf-8")


@cache
def builtin_frameworks() -> dict[str, Framework]:
    """Parse the built-in frameworks; they are part of the package and valid."""
    from leadq.model.loading import parse_framework

    return {
        name: parse_framework(builtin_framework_text(name), f"built-in {name}.yaml")
        for name in BUILTIN_FRAMEWORKS
    }
