"""The labels of `leadq train --label-column`: read per lead, rejected at their line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from leadq.errors import InputError
from leadq.learning.training import build_training_set
from tests.learning.conftest import training_request, write_csv

ACCEPTED = (
    "use one of 1, converted, true, won, y, yes for a converted lead, or "
    "0, false, lost, n, no (or an empty cell) for one that did not convert"
)


def labelled_files(folder, files, labels: list[str]):
    """Write the leads of `files` with a Converted column of `labels`, one a lead."""
    lines = files["leads"].read_text(encoding="utf-8").splitlines()
    rows = [line.split(",") + [label] for line, label in zip(lines[1:], labels)]
    header = lines[0].split(",") + ["Converted"]
    return write_csv(folder / "labelled.csv", header, rows)


def label_request(files, leads):
    return training_request(
        files, leads=leads, outcomes=None, label_column="Converted", created_column=None
    )


@pytest.mark.parametrize("bad", ["yes?", "2", "maybe"])
def test_invalid_label_names_line(learning_files, tmp_path, bad):
    labels = ["1", "0", "Yes", " no ", "", bad, "1"]
    leads = labelled_files(tmp_path, learning_files, labels)
    with pytest.raises(InputError) as raised:
        build_training_set(label_request(learning_files, leads))
    # The header is line 1, so the sixth lead is on line 7.
    assert str(raised.value) == (
        f"{leads}, line 7, column 'Converted': {bad!r} is not an outcome; {ACCEPTED}"
    )
    assert raised.value.exit_code == 2


def test_invalid_label_in_json_lines(learning_files, tmp_path):
    leads = tmp_path / "leads.jsonl"
    rows = [
        {"lead_id": "lead-0", "industry": "retail", "Converted": 1},
        {"lead_id": "lead-1", "industry": "software", "Converted": True},
        {"lead_id": "lead-2", "industry": "health", "Converted": 2},
    ]
    leads.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    with pytest.raises(InputError) as raised:
        build_training_set(label_request(learning_files, leads))
    assert str(raised.value) == (
        f"{leads}, line 3, column 'Converted': '2' is not an outcome; {ACCEPTED}"
    )


def test_last_row_of_repeated_key_labels(learning_files, tmp_path):
    lines = learning_files["leads"].read_text(encoding="utf-8").splitlines()
    rows = [line.split(",") + ["0"] for line in lines[1:]]
    # lead-0 again at the end, converted: the last row of a key wins.
    rows.append(lines[1].split(",") + ["true"])
    header = lines[0].split(",") + ["Converted"]
    leads = write_csv(tmp_path / "labelled.csv", header, rows)
    training_set = build_training_set(label_request(learning_files, leads))
    labels = dict(zip(training_set.lead_keys, training_set.labels))
    assert len(labels) == len(lines) - 1
    assert labels["lead-0"] == 1
    assert sum(labels.values()) == 1


def test_missing_label_column_named(learning_files):
    request = label_request(learning_files, learning_files["leads"])
    with pytest.raises(InputError) as raised:
        build_training_set(request)
    assert str(raised.value) == (
        f"{learning_files['leads']}: missing the label column 'Converted'; the leads "
        "file's columns are: 'lead_id', 'industry', 'size', 'created_at'"
    )


def test_train_command_invalid_label(learning_files, tmp_path):
    leads = labelled_files(tmp_path, learning_files, ["1", "0", "2"])
    command = [
        sys.executable,
        "-m",
        "leadq",
        "train",
        str(leads),
        "--model",
        str(learning_files["model"]),
        "--label-column",
        "Converted",
        "--quick",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr == (
        f"error: {leads}, line 4, column 'Converted': '2' is not an outcome; {ACCEPTED}\n"
    )
