"""The typed schema of a scoring model file.

The classes validate what a user writes in YAML; `leadq schema` publishes the
same classes as JSON Schema. Rule semantics live in the compiler.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import re2
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PrivateAttr,
    StringConstraints,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from leadq.model.qualification import (
    BUILTIN_FRAMEWORKS,
    Framework,
    builtin_frameworks,
)

RuleId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$"),
    Field(description="Rule id: a letter, then letters, digits, '_', '.' or '-'."),
]
Scalar = Union[str, int, float, bool]
# Limits on point values and score bounds. Within them every score, even a
# rule's points times millions of events, stays far below the largest
# double, so sums, rounding to 6 decimals and PostgreSQL stay finite.
MAX_RULE_POINTS = 1_000_000
MAX_SCORE = 1e12
# The validation context key that lifts these limits. A stored model version
# may predate them, and the service keeps scoring with it (see
# leadq.model.loading.parse_stored_model).
UNLIMITED_CONTEXT = "unlimited"
# The Pydantic error type of a value beyond its limit.
LIMIT_ERROR = "beyond_limit"


@dataclass(frozen=True)
class Limit:
    """Annotation of a number that is at most `maximum` either way.

    The check is skipped when the validation context sets UNLIMITED_CONTEXT.
    The JSON Schema publishes the limit as `minimum` and `maximum`.
    """

    maximum: float

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.with_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> dict:
        json_schema = handler(schema)
        json_schema["maximum"] = self.maximum
        # A number that must be above 0 (`gt=0`) publishes that bound instead.
        if "exclusiveMinimum" not in json_schema:
            json_schema["minimum"] = -self.maximum
        return json_schema

    def _check(self, value: float, info: ValidationInfo) -> float:
        if info.context and info.context.get(UNLIMITED_CONTEXT):
            return value
        # Written as a whole number, as Pydantic's own `le` message writes 1e12.
        bound = int(self.maximum)
        if value > self.maximum:
            raise PydanticCustomError(LIMIT_ERROR, "Input should be less than or equal to {le}", {"le": bound})
        if value < -self.maximum:
            raise PydanticCustomError(LIMIT_ERROR, "Input should be greater than or equal to {ge}", {"ge": -bound})
        return value


RulePoints = Annotated[float, Limit(MAX_RULE_POINTS)]
ScoreValue = Annotated[float, Limit(MAX_SCORE)]
FrameworkId = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$"),
    Field(description="Framework id: a lower-case letter, then letters, digits or '_'."),
]

# Regex syntax that RE2 (DuckDB, and SQLite through leadq), PostgreSQL and
# Spark (Java) do not all share: lookaround, backreferences, possessive forms.
_NON_PORTABLE_REGEX = re.compile(r"\(\?<?[=!]|\\[1-9]|\\k<|[*+?}]\+")


def _quiet_re2():
    """Return RE2 options that report errors by exception only, not on stderr."""
    options = re2.Options()
    options.log_errors = False
    return options


class Strict(BaseModel):
    # NaN and infinity would become SQL identifiers, not numbers.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)


class Test(Strict):
    """One test of a value; exactly one operator is set."""

    equals: Scalar | None = Field(
        None,
        description="Equal, trimmed and case-insensitive for text; true or "
        "false also match yes/no, y/n, t/f and 1/0.",
    )
    in_: list[Scalar] | None = Field(
        None, alias="in", description="Equal to one of these values."
    )
    not_in: list[Scalar] | None = Field(
        None, description="Present and equal to none of these values."
    )
    between: tuple[float, float] | None = Field(
        None, description="A number from the first to the second bound, inclusive."
    )
    at_least: float | None = Field(None, description="A number >= this.")
    at_most: float | None = Field(None, description="A number <= this.")
    regex: str | None = Field(
        None,
        description="Regular expression searched in the trimmed text; "
        "start with (?i) to ignore case.",
    )
    contains: str | None = Field(
        None, description="Contains this text, case-insensitive."
    )
    missing: bool | None = Field(
        None, description="true: the value is empty or absent; false: it is present."
    )
    email_domain_in: str | list[str] | None = Field(
        None,
        description="The domain of an email address is in a named list "
        "(from `lists`, or the built-in free_email) or in these domains.",
    )

    OPERATORS: ClassVar[tuple[str, ...]] = (
        "equals", "in_", "not_in", "between", "at_least", "at_most",
        "regex", "contains", "missing", "email_domain_in",
    )  # fmt: skip

    @model_validator(mode="after")
    def _one_operator(self) -> Test:
        chosen = [name for name in self.OPERATORS if getattr(self, name) is not None]
        names = ", ".join(op.rstrip("_") for op in self.OPERATORS)
        if not chosen:
            raise ValueError(f"needs one operator; expected one of: {names}")
        if len(chosen) > 1:
            found = ", ".join(op.rstrip("_") for op in chosen)
            raise ValueError(f"has several operators ({found}); use one per test")
        return self

    @field_validator("between")
    @classmethod
    def _ordered_bounds(cls, bounds: tuple[float, float] | None):
        if bounds is not None and bounds[0] > bounds[1]:
            raise ValueError(
                f"between [{bounds[0]}, {bounds[1]}] has its bounds reversed; "
                "write the lower bound first"
            )
        return bounds

    @field_validator("regex")
    @classmethod
    def _portable_regex(cls, pattern: str | None):
        if pattern is None:
            return pattern
        if _NON_PORTABLE_REGEX.search(pattern):
            raise ValueError(
                f"regular expression {pattern!r} uses lookaround, a backreference "
                "or a possessive quantifier, which not every engine supports; "
                "rewrite it without them"
            )
        if "(?" in pattern.replace("(?i)", "", 1).replace("(?:", ""):
            raise ValueError(
                f"regular expression {pattern!r} uses an inline flag or group "
                "other than (?i) at the start and (?:...); rewrite it without it"
            )
        if "(?i)" in pattern and not pattern.startswith("(?i)"):
            raise ValueError(f"put (?i) at the start of {pattern!r}")
        try:
            re2.compile(pattern, _quiet_re2())
        except re2.error as error:
            reason = error.args[0]
            if isinstance(reason, bytes):
                reason = reason.decode("utf-8", "replace")
            raise ValueError(f"invalid regular expression {pattern!r}: {reason}")
        return pattern

    @property
    def operator(self) -> str:
        return next(op for op in self.OPERATORS if getattr(self, op) is not None)

    @property
    def operand(self) -> Any:
        return getattr(self, self.operator)

    @property
    def is_numeric(self) -> bool:
        numeric_ops = {"between", "at_least", "at_most"}
        if self.operator in numeric_ops:
            return True
        return self.operator == "equals" and _is_number(self.equals)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class FieldTest(Test):
    """A test of one lead field."""

    field: str = Field(description="Lead field, after the `columns` mapping.")


class HalfLife(Strict):
    half_life_days: float = Field(
        gt=0, description="Points halve every this many days (continuous)."
    )


class DecayStep(Strict):
    after_days: float = Field(
        gt=0, description="Applies to events at least this many days old."
    )
    factor: float = Field(ge=0, le=1, description="Multiplier from that age on.")


class StepDecay(Strict):
    steps: list[DecayStep] = Field(min_length=1)

    @field_validator("steps")
    @classmethod
    def _ascending(cls, steps: list[DecayStep]):
        ages = [step.after_days for step in steps]
        if ages != sorted(set(ages)):
            raise ValueError(
                f"step ages {ages} must be strictly increasing; sort the steps "
                "by after_days"
            )
        return steps


def _decay_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return "steps" if isinstance(value, StepDecay) else "half_life"
    if isinstance(value, dict):
        return "steps" if "steps" in value else "half_life"
    return "none"


Decay = Annotated[
    Union[
        Annotated[HalfLife, Tag("half_life")],
        Annotated[StepDecay, Tag("steps")],
        Annotated[Literal["none"], Tag("none")],
    ],
    Discriminator(_decay_kind),
]

def _property_test_kind(value: Any) -> str:
    if isinstance(value, (dict, Test)):
        return "test"
    return "values" if isinstance(value, list) else "value"


PropertyTest = Annotated[
    Union[
        Annotated[Scalar, Tag("value")],
        Annotated[list[Scalar], Tag("values")],
        Annotated[Test, Tag("test")],
    ],
    Discriminator(_property_test_kind),
]


class FitRule(FieldTest):
    id: RuleId
    points: RulePoints = Field(description="Points added when the test is true.")
    description: str | None = None


class ActivityRule(Strict):
    """Points for events, such as a visit to the pricing page."""

    id: RuleId
    event: str | list[str] = Field(
        description="Event name, or several; `visit` counts returning visits."
    )
    where: dict[str, PropertyTest] = Field(
        default_factory=dict,
        description="Event property tests: a value (equals), a list (in), "
        "or an operator mapping.",
    )
    points: RulePoints = Field(description="Points per matching event, before decay.")
    max_points: Annotated[float, Field(gt=0), Limit(MAX_SCORE)] | None = Field(
        None, description="Cap of this rule's total for one lead, after decay."
    )
    unique_by: str | None = Field(
        None,
        description="Count one event per distinct value: a property name, "
        "or `day` / `week` in the model's time zone. The earliest one counts.",
    )
    within_days: float | None = Field(
        None, gt=0, description="Only events at most this many days old."
    )
    decay: Decay | None = Field(
        None, description="Overrides the section's decay; `none` turns it off."
    )
    description: str | None = None

    @property
    def events(self) -> list[str]:
        return [self.event] if isinstance(self.event, str) else list(self.event)

    def property_tests(self) -> dict[str, Test]:
        return {name: as_test(spec) for name, spec in self.where.items()}


def as_test(spec: PropertyTest) -> Test:
    if isinstance(spec, Test):
        return spec
    if isinstance(spec, list):
        return Test(in_=spec)
    return Test(equals=spec)


class Bounded(Strict):
    @model_validator(mode="after")
    def _min_below_max(self):
        if self.max is not None and self.min > self.max:
            raise ValueError(
                f"min {self.min:g} is above max {self.max:g}; swap them"
            )
        return self


class FitSection(Bounded):
    min: ScoreValue = 0
    max: ScoreValue | None = 100
    rules: list[FitRule] = Field(default_factory=list)


def _activity_rule_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return "field" if isinstance(value, FitRule) else "event"
    if isinstance(value, dict):
        return "field" if "field" in value and "event" not in value else "event"
    return None


# An engagement or product rule counts events, or it tests a lead field that
# already summarizes activity, such as a CRM's "number of visits". Field
# rules are not decayed.
SectionRule = Annotated[
    Union[Annotated[ActivityRule, Tag("event")], Annotated[FitRule, Tag("field")]],
    Discriminator(_activity_rule_kind),
]


class ActivitySection(Bounded):
    min: ScoreValue = 0
    max: ScoreValue | None = None
    decay: Decay = Field("none", description="Default decay of every event rule.")
    rules: list[SectionRule] = Field(default_factory=list)

    def event_rules(self) -> list[ActivityRule]:
        return [rule for rule in self.rules if isinstance(rule, ActivityRule)]


class Grades(Strict):
    """Lowest fit score of each grade; below C is D."""

    A: ScoreValue = 75
    B: ScoreValue = 50
    C: ScoreValue = 25

    @model_validator(mode="after")
    def _descending(self) -> Grades:
        if not self.A > self.B > self.C:
            raise ValueError(
                f"grade bands must descend (A > B > C), got A={self.A}, "
                f"B={self.B}, C={self.C}"
            )
        return self


class Visits(Strict):
    """The grouping of page views into visits, for rules on the `visit` event."""

    event: str = "page_viewed"
    gap_minutes: float = Field(
        30, gt=0, description="Inactivity that starts a new visit."
    )


ScoreName = Literal["fit", "engagement", "product", "total"]


class ScoreCondition(Strict):
    score: ScoreName
    at_least: ScoreValue | None = None
    below: ScoreValue | None = None

    @model_validator(mode="after")
    def _has_bound(self) -> ScoreCondition:
        if self.at_least is None and self.below is None:
            raise ValueError("a score condition needs at_least or below")
        return self


class GradeCondition(Strict):
    grade: list[Literal["A", "B", "C", "D"]]


class EventCondition(Strict):
    """How many events a lead had, optionally in a window."""

    events: str | list[str]
    where: dict[str, PropertyTest] = Field(default_factory=dict)
    within_days: float | None = Field(None, gt=0)
    at_least: int | None = Field(None, ge=0)
    at_most: int | None = Field(None, ge=0)

    @field_validator("at_least", "at_most", mode="before")
    @classmethod
    def _whole_count(cls, value):
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(
                f"an events condition counts whole events, so give a whole number such as "
                f"{int(value) + 1}, got {value:g}"
            )
        return value

    @model_validator(mode="after")
    def _has_bound(self) -> EventCondition:
        if self.at_least is None and self.at_most is None:
            raise ValueError("an events condition needs at_least or at_most")
        return self

    @property
    def names(self) -> list[str]:
        return [self.events] if isinstance(self.events, str) else list(self.events)

    def property_tests(self) -> dict[str, Test]:
        return {name: as_test(spec) for name, spec in self.where.items()}


class QualificationTest(Strict):
    """The latest complete qualification of a lead with one framework."""

    framework: str = Field(description="Framework id, such as bant or meddic.")
    result: Literal["passed", "failed"] = Field(
        "passed", description="The result it must have."
    )
    within_days: float | None = Field(
        None, gt=0, description="Recorded at most this many days before the as-of time."
    )


class QualificationCondition(Strict):
    qualification: QualificationTest


class AnswerTest(Strict):
    """An answer in the latest complete qualification with one framework.

    A criterion that was not answered has the answer `unknown`; a lead with
    no complete qualification has no answer, and the test is false.
    """

    framework: str
    criterion: str
    is_: Scalar | list[Scalar] | None = Field(
        None, alias="is", description="The answer, or one of several answers."
    )
    at_least: float | None = Field(
        None, description="Scale and number criteria: a value >= this."
    )
    at_most: float | None = Field(
        None, description="Scale and number criteria: a value <= this."
    )

    @model_validator(mode="after")
    def _one_kind_of_test(self) -> AnswerTest:
        bounded = self.at_least is not None or self.at_most is not None
        if (self.is_ is None) == (not bounded):
            raise ValueError(
                "an answer condition needs either `is` or at_least / at_most"
            )
        return self

    def as_test(self) -> Test:
        """Return the value test on the answer that this condition makes."""
        if isinstance(self.is_, list):
            return Test(in_=self.is_)
        if self.is_ is not None:
            return Test(equals=self.is_)
        if self.at_least is not None and self.at_most is not None:
            return Test(between=(self.at_least, self.at_most))
        if self.at_least is not None:
            return Test(at_least=self.at_least)
        return Test(at_most=self.at_most)


class AnswerCondition(Strict):
    answer: AnswerTest


class ProbabilityBounds(Strict):
    at_least: float | None = Field(None, ge=0, le=1)
    below: float | None = Field(None, ge=0, le=1)

    @model_validator(mode="after")
    def _has_bound(self) -> ProbabilityBounds:
        if self.at_least is None and self.below is None:
            raise ValueError("a probability condition needs at_least or below")
        return self


class ProbabilityCondition(Strict):
    """The predictive model's conversion probability (the `predictive` section)."""

    probability: ProbabilityBounds


class AllOf(Strict):
    all: list[Condition] = Field(min_length=1)


class AnyOf(Strict):
    any: list[Condition] = Field(min_length=1)


class NotOf(Strict):
    not_: Condition = Field(alias="not")


_CONDITION_KEYS = (
    "all", "any", "not", "score", "grade", "events", "field", "qualification", "answer",
    "probability",
)  # fmt: skip


def _condition_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return _CONDITION_CLASSES.get(type(value))
    if isinstance(value, dict):
        return next((key for key in _CONDITION_KEYS if key in value), None)
    return None


Condition = Annotated[
    Union[
        Annotated[AllOf, Tag("all")],
        Annotated[AnyOf, Tag("any")],
        Annotated[NotOf, Tag("not")],
        Annotated[ScoreCondition, Tag("score")],
        Annotated[GradeCondition, Tag("grade")],
        Annotated[EventCondition, Tag("events")],
        Annotated[FieldTest, Tag("field")],
        Annotated[QualificationCondition, Tag("qualification")],
        Annotated[AnswerCondition, Tag("answer")],
        Annotated[ProbabilityCondition, Tag("probability")],
    ],
    Discriminator(
        _condition_kind,
        custom_error_type="condition_kind",
        custom_error_message="a condition needs one of the keys "
        + ", ".join(_CONDITION_KEYS),
    ),
]
_CONDITION_CLASSES = {
    AllOf: "all",
    AnyOf: "any",
    NotOf: "not",
    ScoreCondition: "score",
    GradeCondition: "grade",
    EventCondition: "events",
    FieldTest: "field",
    QualificationCondition: "qualification",
    AnswerCondition: "answer",
    ProbabilityCondition: "probability",
}


class Stage(Strict):
    id: RuleId
    when: Condition | None = Field(
        None, description="Condition; the last stage may omit it to catch all."
    )
    description: str | None = None
    sticky: bool = Field(
        False,
        description="The service keeps a lead in this stage when its scores "
        "decay, until a stage listed before it or a recycle stage matches, or "
        "someone recycles the lead.",
    )
    recycle: bool = Field(
        False,
        description="When this stage matches, it takes a lead out of a sticky stage.",
    )


class Predictive(Strict):
    """A trained predictive model that adds a conversion probability to each lead."""

    artefact: str = Field(
        description="Model artefact directory written by `leadq train --output`, "
        "relative to the model file."
    )


DEFAULT_STAGE_IDS = ("disqualified", "pql", "sql", "mql", "unqualified")
# The validation context key that marks the text of a stored model version.
STORED_CONTEXT = "stored"
VERSION_EXAMPLES = 'a whole number such as 2, or text such as "2026-01"'


def check_version(version: Any) -> Any:
    """Return a model version that is a whole number or non-empty text; raise ValueError if not.

    Pydantic would turn true into 1 and 1.0 into 1, and a version stored
    with spaces would differ from the same version without them.
    """
    if isinstance(version, float):
        raise ValueError(
            f"invalid version {version!r}: YAML reads it as a decimal number; "
            f'quote it (`version: "{version!r}"`) or write {VERSION_EXAMPLES}'
        )
    if version is None or isinstance(version, bool) or not isinstance(version, (str, int)):
        shown = json.dumps(version, default=str)
        raise ValueError(f"invalid version {shown}; write {VERSION_EXAMPLES}")
    if isinstance(version, str) and not version.strip():
        raise ValueError(f"invalid version {json.dumps(version)}: it is empty; write {VERSION_EXAMPLES}")
    if isinstance(version, str) and version != version.strip():
        raise ValueError(
            f"invalid version {json.dumps(version)}: it starts or ends with spaces; "
            f'remove them (`version: "{version.strip()}"`)'
        )
    return version


class ScoringModel(Strict):
    """A scoring model: fit, engagement and product rules, grades and stages."""

    name: str = "leadq model"
    version: str | int = Field(
        1,
        description="Model version: a whole number, or text such as \"2026-01\" "
        "(quote a decimal: \"2.5\"). No booleans, empty text or leading and "
        "trailing spaces.",
    )
    timezone: str = Field(
        "UTC", description="IANA time zone for days and weeks, such as Europe/Berlin."
    )
    key: str = Field(
        "lead_id",
        description="Lead field that identifies a lead in leads and events "
        "files: an id, or `email` (compared trimmed and lower-cased).",
    )
    columns: dict[str, str] = Field(
        default_factory=dict, description="Leads file column name -> lead field."
    )
    event_columns: dict[str, str] = Field(
        default_factory=dict,
        description="Events file column name -> event_id, event, timestamp, "
        "properties, the key field, or a property name.",
    )
    lists: dict[str, list[str]] = Field(
        default_factory=dict, description="Named value lists, such as competitors."
    )
    visits: Visits = Field(default_factory=Visits)
    fit: FitSection = Field(default_factory=FitSection)
    grades: Grades = Field(default_factory=Grades)
    engagement: ActivitySection = Field(default_factory=ActivitySection)
    product: ActivitySection = Field(default_factory=ActivitySection)
    stages: list[Stage] = Field(min_length=1)
    frameworks: dict[FrameworkId, Framework] = Field(
        default_factory=dict,
        description="Qualification frameworks by id, besides the built-in "
        f"{' and '.join(BUILTIN_FRAMEWORKS)}; a model may replace those.",
    )
    predictive: Predictive | None = Field(
        None, description="Predictive model whose probability `leadq score` adds."
    )
    rank_order: list[str] | None = Field(
        None,
        description="Stage ids in the order a ranked list shows them; stages "
        "not named follow in the order of `stages`. Default: the order of `stages`.",
    )

    @field_validator("version", mode="before")
    @classmethod
    def _plain_version(cls, version: Any, info: ValidationInfo) -> Any:
        # A stored model version keeps the version that an older leadq accepted.
        if info.context and info.context.get(STORED_CONTEXT):
            return version
        return check_version(version)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {name!r}; use an IANA name such as "
                "'UTC' or 'Europe/Berlin'"
            ) from None
        return name

    @model_validator(mode="after")
    def _catch_all_last(self) -> ScoringModel:
        for stage in self.stages[:-1]:
            if stage.when is None:
                raise ValueError(
                    f"stage {stage.id!r} has no `when` condition, but only the "
                    "last stage may omit it"
                )
        return self

    @model_validator(mode="after")
    def _known_rank_stages(self) -> ScoringModel:
        stage_ids = [stage.id for stage in self.stages]
        repeated = sorted({stage_id for stage_id in stage_ids if stage_ids.count(stage_id) > 1})
        hint = f" (stage ids must be unique: {', '.join(map(repr, repeated))} repeats)" if repeated else ""
        for stage_id in self.rank_order or []:
            if stage_id not in stage_ids:
                raise ValueError(
                    f"rank_order names {stage_id!r}, which is not a stage; the "
                    f"stages are: {', '.join(stage_ids)}{hint}"
                )
        return self

    def all_frameworks(self) -> dict[str, Framework]:
        """Return the built-in frameworks, replaced or extended by the model's."""
        return {**builtin_frameworks(), **self.frameworks}

    # The folder of the model file, which relative artefact paths start from.
    _folder: str = PrivateAttr(".")

    def artefact_path(self) -> str | None:
        if self.predictive is None:
            return None
        return os.path.join(self._folder, self.predictive.artefact)

    def tests_probability(self) -> bool:
        """Return whether a stage condition tests the predictive probability."""
        return any(
            stage.when is not None and _has_probability(stage.when)
            for stage in self.stages
        )

    @model_validator(mode="after")
    def _probability_needs_predictive(self) -> ScoringModel:
        if self.predictive is not None:
            return self
        for stage in self.stages:
            if stage.when is not None and _has_probability(stage.when):
                raise ValueError(
                    f"stage {stage.id!r} tests the probability, but the model has no "
                    "`predictive` section; add one that names a model artefact"
                )
        return self

    def ranked_stage_ids(self) -> list[str]:
        named = list(dict.fromkeys(self.rank_order or []))
        return named + [stage.id for stage in self.stages if stage.id not in named]

    def all_rules(self) -> list[tuple[str, FitRule | ActivityRule]]:
        rules: list[tuple[str, FitRule | ActivityRule]] = []
        rules += [("fit", rule) for rule in self.fit.rules]
        rules += [("engagement", rule) for rule in self.engagement.rules]
        rules += [("product", rule) for rule in self.product.rules]
        return rules


def _has_probability(condition) -> bool:
    if isinstance(condition, ProbabilityCondition):
        return True
    if isinstance(condition, (AllOf, AnyOf)):
        children = condition.all if isinstance(condition, AllOf) else condition.any
        return any(_has_probability(child) for child in children)
    if isinstance(condition, NotOf):
        return _has_probability(condition.not_)
    return False


AllOf.model_rebuild()
AnyOf.model_rebuild()
NotOf.model_rebuild()
Stage.model_rebuild()
