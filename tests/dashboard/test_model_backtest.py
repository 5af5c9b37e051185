"""The backtest of an edited model on the model page, over HTTP."""

from __future__ import annotations

import pytest

from leadq.model.loading import default_model_text
from tests.dashboard.lead_history import EDITED, store_history
from tests.service.test_model_versions import store_active_version

sqlite_only = pytest.mark.parametrize("store", ["sqlite"], indirect=True)
PHONE_MISSING = "    - id: phone_missing\n      field: phone\n      missing: true\n      points: -5\n"


def backtest(client, text: str, horizon: str = "30"):
    data = {"text": text, "horizon": horizon, "csrf_token": client.csrf}
    return client.post("/dashboard/model/backtest", data=data)


def test_backtest_side_by_side(viewer, rows):
    store_history(rows)
    answer = backtest(viewer, EDITED)
    assert answer.status_code == 200, answer.text
    page = answer.text
    assert "Backtest: active model (A) against the edited model (B)" in page
    assert "3 cut-offs (2026-06-01, 2026-07-01, 2026-08-01)" in page
    assert "within 30 days after each" in page
    none = '<td class="num">0</td><td class="num">0</td><td class="num">–</td>'
    some = '<td class="num">15</td><td class="num">3</td><td class="num">20.0%</td>'
    table = page.split('<table id="backtest">')[1].split("</table>")[0]
    unqualified = table.split('<th scope="row">unqualified</th>')[1].split("</tr>")[0]
    mql = table.split('<th scope="row">mql</th>')[1].split("</tr>")[0]
    # Rows: leads at each cut-off that had not converted before it.
    assert unqualified.index(some) < unqualified.index(none)
    assert mql.index(none) < mql.index(some)
    assert "A (active): Default B2B software model" in table
    assert "B (edited): Default B2B software model" in table
    assert "Leads whose stage differs" in page
    assert "15 lead and cut-off pairs." in page
    assert "<td>2026-06-01</td><td>unqualified</td><td>mql</td><td>yes</td>" in page


@sqlite_only
def test_backtest_invalid_model_shows_line(editor, rows):
    store_history(rows)
    answer = backtest(editor, "name: broken\nstages:\n  - id: a\n    sticky: maybe\n")
    assert answer.status_code == 422
    assert "Line 4" in answer.text
    assert 'class="bad" aria-current="true"' in answer.text
    assert 'id="backtest"' not in answer.text


@sqlite_only
def test_backtest_errors_reported(editor, rows):
    empty = backtest(editor, EDITED)
    assert empty.status_code == 200
    assert (
        "The backtest did not run: there are no leads to evaluate; import or add "
        "leads first." in empty.text
    )
    store_history(rows)
    wrong = backtest(editor, EDITED, horizon="soon")
    assert (
        "The backtest did not run: horizon &#39;soon&#39; is not a number of days "
        "above 0 and at most 3650; use a number such as 90." in wrong.text
    )
    assert 'value="soon"' in wrong.text
    too_long = backtest(editor, EDITED, horizon="400")
    assert "too short for a month start followed by a horizon of 400 days" in (
        too_long.text
    )


def test_backtest_overflow_names_values_beyond_limits(editor, rows, store):
    store_history(rows)
    # An older leadq stored points beyond today's limits, for a rule that
    # every lead without a phone matches.
    body = default_model_text().replace(PHONE_MISSING, PHONE_MISSING.replace("-5", "-1e308"))
    version_id = store_active_version(store, body)

    answer = backtest(editor, EDITED)

    assert answer.status_code == 200
    error = answer.text.split('id="backtest-error"><p>')[1].split("</p>")[0]
    assert error == (
        f"The backtest did not run: scoring with the active model, Default B2B software "
        f"model v1 (#{version_id}), failed: overflow occurred during rounding. Its values "
        f"beyond the limits of this leadq release can make scores overflow: line 77, field "
        f"fit.rules[9].points: Input should be greater than or equal to -1000000, got -1e+308; "
        f"correct them in the model file, raise its `version:` and activate it with `leadq "
        f"model activate FILE`."
    )
    assert 'id="backtest"' not in answer.text


@sqlite_only
def test_backtest_needs_csrf(editor):
    data = {"text": EDITED, "horizon": "30"}
    answer = editor.post("/dashboard/model/backtest", data=data)
    assert answer.status_code == 403


class _Marker:
    """A pickle that creates a file when it loads."""

    def __init__(self, path) -> None:
        self.path = path

    def __reduce__(self):
        return (type(self.path).touch, (self.path,))


def test_backtest_artefact_outside_folder(editor, rows, store, tmp_path):
    # A pickle whose SHA-256 matches its metadata, outside the artefacts
    # folder: only the folder check keeps it from loading.
    import hashlib
    import json
    import pickle

    store_history(rows)
    artefact = tmp_path / "elsewhere"
    artefact.mkdir()
    marker = tmp_path / "loaded"
    payload = pickle.dumps(_Marker(marker))
    (artefact / "model.joblib").write_bytes(payload)
    metadata = {"format_version": 1, "model_sha256": hashlib.sha256(payload).hexdigest()}
    (artefact / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    answer = backtest(editor, EDITED + f"predictive:\n  artefact: {artefact}\n")
    assert answer.status_code == 200
    error = answer.text.split('id="backtest-error"><p>')[1].split("</p>")[0]
    assert error.startswith("The backtest did not run: model ")
    assert f"the artefact {artefact} is outside the artefacts folder {store.artefacts}" in error
    assert not marker.exists()
