"""Frameworks in model files and qualification conditions: errors name the line."""

from __future__ import annotations

import pytest

from leadq.errors import ModelError
from leadq.model.loading import parse_model
from leadq.model.qualification import builtin_frameworks

GPCT = """
frameworks:
  gpct:
    name: GPCT
    criteria:
      - {id: goals, label: Goals, question: What are your goals?, answer: status}
      - {id: plans, label: Plans, question: How do you plan to reach them?, answer: scale}
      - id: challenges
        label: Challenges
        question: What stands in the way?
        answer: choice
        options:
          - {id: known, label: Known}
          - {id: vague, label: Vague}
        meets: [known]
      - {id: timeline, label: Timeline, question: By when?, answer: date, within_days: 60}
    pass:
      at_least: 3
      required: [goals]
"""


def error_of(text: str) -> str:
    with pytest.raises(ModelError) as caught:
        parse_model(text, source="m.yaml")
    return str(caught.value)


def with_stage(condition: str) -> str:
    return GPCT + f"stages:\n  - id: ready\n    when:\n{condition}\n  - id: rest\n"


def test_builtin_frameworks_valid():
    frameworks = builtin_frameworks()
    assert [c.id for c in frameworks["bant"].criteria] == [
        "budget",
        "authority",
        "need",
        "timeline",
    ]
    assert [c.id for c in frameworks["champ"].criteria] == [
        "challenges",
        "authority",
        "money",
        "prioritization",
    ]
    for framework in frameworks.values():
        for criterion in framework.criteria:
            assert criterion.question.endswith("?"), criterion.id
            assert criterion.help, criterion.id


def test_model_framework_and_conditions():
    model = parse_model(
        with_stage(
            "      all:\n"
            "        - qualification: {framework: gpct, within_days: 30}\n"
            "        - answer: {framework: gpct, criterion: challenges, is: known}\n"
            "        - answer: {framework: bant, criterion: need, at_least: 2}"
        ),
        source="m.yaml",
    )
    assert sorted(model.all_frameworks()) == ["bant", "champ", "gpct"]
    assert model.frameworks["gpct"].pass_rule.at_least == 3


def test_unknown_framework_in_condition():
    message = error_of(with_stage("      qualification: {framework: meddic}"))
    assert message == (
        "m.yaml, line 23, field stages[0].when.qualification.framework: unknown framework "
        "'meddic'; define it under `frameworks:` or use one of: bant, champ, gpct"
    )


def test_unknown_criterion_in_condition():
    message = error_of(
        with_stage("      answer: {framework: gpct, criterion: budget, is: confirmed}")
    )
    assert message.startswith(
        "m.yaml, line 23, field stages[0].when.answer.criterion: "
    )
    assert message.endswith(
        "has no criterion 'budget'; its criteria are: goals, plans, challenges, timeline"
    )


def test_unknown_answer_in_condition():
    message = error_of(
        with_stage("      answer: {framework: gpct, criterion: challenges, is: clear}")
    )
    assert message == (
        "m.yaml, line 23, field stages[0].when.answer.is: 'clear' is not an answer of "
        "criterion 'challenges'; its answers are: known, vague, unknown"
    )


def test_bound_on_status_rejected():
    message = error_of(
        with_stage("      answer: {framework: gpct, criterion: goals, at_least: 1}")
    )
    assert "cannot compare; test them with `is`" in message


def test_answer_condition_needs_one_test():
    message = error_of(with_stage("      answer: {framework: gpct, criterion: goals}"))
    assert message == (
        "m.yaml, line 23, field stages[0].when.answer: an answer condition needs "
        "either `is` or at_least / at_most"
    )


def test_choice_without_meets():
    text = GPCT.replace("        meets: [known]\n", "") + "stages:\n  - id: all\n"
    message = error_of(text)
    assert message == (
        "m.yaml, line 8, field frameworks.gpct.criteria[2]: choice criterion "
        "'challenges' needs `meets`, the option ids that meet it"
    )


def test_pass_rule_requires_unknown_criterion():
    text = (
        GPCT.replace("required: [goals]", "required: [budget]")
        + "stages:\n  - id: all\n"
    )
    message = error_of(text)
    assert message == (
        "m.yaml, line 3, field frameworks.gpct: the pass rule requires 'budget', which "
        "is not a criterion; the criteria are: goals, plans, challenges, timeline"
    )


def test_misspelled_criterion_key():
    text = (
        GPCT.replace("question: By when?", "questoin: By when?")
        + "stages:\n  - id: all\n"
    )
    message = error_of(text)
    assert message.startswith(
        "m.yaml, line 16, field frameworks.gpct.criteria[3].questoin: unknown field"
    )


@pytest.mark.parametrize(
    ("at_least", "reason"),
    [
        ("-1", "Input should be greater than or equal to 0, got -1"),
        ("2e12", "Input should be less than or equal to 1000000000000, got 2000000000000.0"),
    ],
)
def test_number_bound_out_of_range(at_least, reason):
    budget = (
        "      - {id: budget, label: Budget, question: How much?, answer: number, "
        f"units: [USD], at_least: {at_least}}}\n"
    )
    text = GPCT.replace("    pass:\n", budget + "    pass:\n") + "stages:\n  - id: all\n"
    message = error_of(text)
    assert message == f"m.yaml, line 17, field frameworks.gpct.criteria[4].at_least: {reason}"
