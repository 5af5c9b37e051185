"""Checking answers and deciding passed, failed or incomplete."""

from __future__ import annotations

import pytest

from leadq.model.loading import parse_framework
from leadq.model.qualification import builtin_frameworks
from leadq.qualification.answers import InvalidAnswers, check_answers, evaluate

T0 = 1_777_593_600_000_000  # 2026-05-01T00:00:00Z in microseconds
BANT = builtin_frameworks()["bant"]
CHAMP = builtin_frameworks()["champ"]

DEAL = parse_framework(
    """
name: Deal check
criteria:
  - {id: budget, label: Budget, question: How much?, answer: number, units: [USD], at_least: 10000, weight: 3}
  - {id: close, label: Close date, question: When?, answer: date, within_days: 90}
pass:
  weighted_at_least: 70
""",
    "deal.yaml",
)


def result_of(framework, raw: dict) -> tuple[str, list[str]]:
    evaluation = evaluate(framework, check_answers(framework, raw), T0)
    return evaluation.result, evaluation.reasons


def test_bant_three_of_four_with_authority_passes():
    result, reasons = result_of(
        BANT,
        {
            "budget": "not_confirmed",
            "authority": "champion",
            "need": 2,
            "timeline": "this_quarter",
        },
    )
    assert result == "passed"
    assert reasons == [
        "3 of 4 criteria met (Authority, Need, Timeline); the rule needs 3",
        "Authority is required and met",
    ]


def test_bant_without_authority_fails():
    result, reasons = result_of(
        BANT,
        {
            "budget": "confirmed",
            "authority": "influencer",
            "need": 3,
            "timeline": "this_quarter",
        },
    )
    assert result == "failed"
    assert reasons[1] == "Authority is required and not met"


def test_bant_unknown_authority_incomplete():
    result, reasons = result_of(
        BANT, {"budget": "confirmed", "need": 3, "timeline": "next_quarter"}
    )
    assert result == "incomplete"
    assert reasons[-1] == "unknown: Authority"


def test_bant_two_unknowns_cannot_reach_three():
    result, _ = result_of(BANT, {"budget": "not_confirmed", "need": 0})
    assert result == "failed"


def test_champ_weighted_total():
    evaluation = evaluate(
        CHAMP,
        check_answers(
            CHAMP,
            {
                "challenges": 3,
                "authority": "decision_maker",
                "money": "confirmed",
                "prioritization": 1,
            },
        ),
        T0,
    )
    # (3 + 2 + 2 + 3 * 1/3) / 10 = 80%.
    assert evaluation.score == 80.0
    assert evaluation.result == "passed"


def test_champ_unknown_shows_best_case():
    _, reasons = result_of(CHAMP, {"challenges": 3, "authority": "decision_maker"})
    assert (
        reasons[1]
        == "weighted total 50.0 of 100; the rule needs 70 (100.0 if every unknown answer were met)"
    )


def test_number_and_date_criteria():
    raw = {"budget": {"amount": 12000, "unit": "usd"}, "close": "2026-06-15"}
    assert result_of(DEAL, raw)[0] == "passed"
    assert result_of(DEAL, {**raw, "close": "2026-12-31"})[0] == "passed"
    assert result_of(DEAL, {"budget": "9000 USD", "close": "2026-06-15"})[0] == "failed"


def test_date_in_the_past_not_met():
    evaluation = evaluate(
        DEAL, check_answers(DEAL, {"budget": "20000 USD", "close": "2026-04-01"}), T0
    )
    assert evaluation.met == {"budget": True, "close": False}


def test_notes_kept_and_trimmed():
    answers = check_answers(
        BANT, {"need": {"value": 2, "note": "  losing deals weekly "}}
    )
    assert answers["need"].note == "losing deals weekly"
    assert answers["budget"].value is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"budget": "yes"},
            "answer 'budget': 'yes' is not an answer; use confirmed, not_confirmed or unknown",
        ),
        (
            {"need": 4},
            "answer 'need': 4 is not on the scale; use a whole number from 0 to 3, or unknown",
        ),
        (
            {"need": True},
            "answer 'need': True is not on the scale; use a whole number from 0 to 3, or unknown",
        ),
        (
            {"authority": "ceo"},
            "answer 'authority': 'ceo' is not an option; use one of: decision_maker, champion, influencer, no_role, or unknown",
        ),
        (
            {"need": {"value": 2, "comment": "x"}},
            "answer 'need': unknown key 'comment'; an answer has `value` and `note`",
        ),
        (
            {"bugdet": "confirmed"},
            "answer 'bugdet': BANT has no criterion 'bugdet'; its criteria are: budget, authority, need, timeline",
        ),
    ],
)
def test_invalid_answers_rejected(raw, message):
    with pytest.raises(InvalidAnswers) as raised:
        check_answers(BANT, raw)
    assert str(raised.value) == message
    assert raised.value.exit_code == 2


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"budget": "lots"},
            "'lots' is not an amount with a unit; write an amount and a unit, such as 50000 USD",
        ),
        ({"budget": "5000 EUR"}, "unit 'EUR' is not accepted; use one of: USD"),
        (
            {"close": "next week"},
            "'next week' is not a date; write it as YYYY-MM-DD, such as 2027-03-31",
        ),
    ],
)
def test_invalid_number_and_date_rejected(raw, message):
    with pytest.raises(InvalidAnswers) as raised:
        check_answers(DEAL, raw)
    assert [error.message for error in raised.value.errors] == [message]


BEYOND_RANGE = "beyond a double's range of about ±1.8e308"


@pytest.mark.parametrize(
    ("framework", "raw", "message"),
    [
        (
            BANT,
            {"budget": {"amount": float("inf")}},
            f"answer 'budget': amount is Infinity, {BEYOND_RANGE}; send a finite number",
        ),
        (
            DEAL,
            {"budget": {"value": {"amount": float("-inf"), "unit": "USD"}}},
            f"answer 'budget': amount is -Infinity, {BEYOND_RANGE}; send a finite number",
        ),
        (
            DEAL,
            {"budget": {"amount": float("nan"), "unit": "USD"}},
            "answer 'budget': amount is NaN, which is not a number; send a finite number",
        ),
        (
            DEAL,
            {"budget": {"amount": 10**400, "unit": "USD"}},
            f"answer 'budget': amount is a whole number {BEYOND_RANGE}; "
            "send a smaller number",
        ),
        (
            BANT,
            {"need": float("inf")},
            f"answer 'need': the value is Infinity, {BEYOND_RANGE}; send a finite number",
        ),
    ],
)
def test_non_finite_number_rejected(framework, raw, message):
    with pytest.raises(InvalidAnswers) as raised:
        check_answers(framework, raw)
    assert str(raised.value) == message


NEGATIVE = "is negative, but amounts cannot be negative; write 0 or more, such as 50000 USD"
TOO_LARGE = "is too large; the maximum is 10^12 (1,000,000,000,000), so write a smaller amount"


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("-5 USD", f"amount -5 {NEGATIVE}"),
        ("-0.5USD", f"amount -0.5 {NEGATIVE}"),
        ({"amount": -5, "unit": "USD"}, f"amount -5 {NEGATIVE}"),
        ({"amount": -1.5e3, "unit": "USD"}, f"amount -1500.0 {NEGATIVE}"),
        ("1e400 USD", f"amount 1e400 {TOO_LARGE}"),
        ("1_000_000_000_001 USD", f"amount 1_000_000_000_001 {TOO_LARGE}"),
        ("1" + "0" * 400 + " USD", f"amount 1{'0' * 400} {TOO_LARGE}"),
        ({"amount": 10**13, "unit": "USD"}, f"amount {10**13} {TOO_LARGE}"),
        ({"amount": 1e300, "unit": "USD"}, f"amount 1e+300 {TOO_LARGE}"),
    ],
)
def test_amount_out_of_range_rejected(amount, message):
    with pytest.raises(InvalidAnswers) as raised:
        check_answers(DEAL, {"budget": amount})
    assert [error.criterion for error in raised.value.errors] == ["budget"]
    assert [error.message for error in raised.value.errors] == [message]


@pytest.mark.parametrize(
    ("amount", "stored"),
    [
        ("0 USD", 0.0),
        ("-0 USD", 0.0),
        ("2.5e3 usd", 2500.0),
        ("1e12 USD", 1e12),
        ({"amount": 10**12, "unit": "USD"}, 1e12),
    ],
)
def test_amount_in_range_accepted(amount, stored):
    answers = check_answers(DEAL, {"budget": amount})
    assert answers["budget"].value == {"amount": stored, "unit": "USD"}
    assert str(answers["budget"].value["amount"]) == str(stored)


def test_every_invalid_answer_reported():
    raw = {
        "need": 7,
        "bugdet": "confirmed",
        "budget": "confirmed",
        "timeline": "soon",
        "authority": {"value": "champion", "note": 5},
    }
    with pytest.raises(InvalidAnswers) as raised:
        check_answers(BANT, raw)
    errors = raised.value.errors
    assert [error.criterion for error in errors] == [
        "need",
        "bugdet",
        "timeline",
        "authority",
    ]
    assert str(raised.value) == (
        "answer 'need': 7 is not on the scale; use a whole number from 0 to 3, or unknown\n"
        "answer 'bugdet': BANT has no criterion 'bugdet'; its criteria are: "
        "budget, authority, need, timeline\n"
        "answer 'timeline': 'soon' is not an option; use one of: this_quarter, "
        "next_quarter, this_year, no_date, or unknown\n"
        "answer 'authority': the note must be text, got 5"
    )
