from leadq.learning.labels import Outcome, conversion_times

DAY = 86_400_000_000


def test_won_is_conversion():
    history = [Outcome("a", "won", 5 * DAY), Outcome("b", "lost", 3 * DAY)]
    assert conversion_times(history) == {"a": 5 * DAY}


def test_reopened_cancels_earlier_won():
    history = [Outcome("a", "won", 5 * DAY), Outcome("a", "reopened", 9 * DAY)]
    assert conversion_times(history) == {}


def test_reopened_at_same_time_cancels():
    history = [Outcome("a", "reopened", 5 * DAY), Outcome("a", "Won", 5 * DAY)]
    assert conversion_times(history) == {}


def test_won_after_reopening_counts():
    history = [
        Outcome("a", "won", 5 * DAY),
        Outcome("a", "reopened", 9 * DAY),
        Outcome("a", "converted", 12 * DAY),
    ]
    assert conversion_times(history) == {"a": 12 * DAY}


def test_reopening_touches_only_its_lead():
    history = [Outcome("a", "won", 5 * DAY), Outcome("b", "reopened", 9 * DAY)]
    assert conversion_times(history) == {"a": 5 * DAY}
