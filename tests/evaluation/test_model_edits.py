"""Edits of rule points in a model file's text."""

from __future__ import annotations

import pytest

from leadq.errors import ModelError
from leadq.evaluation.model_edits import edit_points, unified_diff
from leadq.model.loading import default_model_text

FLOW = """name: flow  # a comment
stages: [{id: all}]
fit:
  rules:
    - {id: a, field: x, equals: 1, points: 5}   # five
    - id: b
      field: y
      equals: 2
      points: 2.5   # keep this comment
"""


def test_flow_and_block_rules_edited():
    edited = edit_points(
        FLOW, "m.yaml", {("fit", "a"): {"points": -7.0}, ("fit", "b"): {"points": 12.5}}
    )
    assert "    - {id: a, field: x, equals: 1, points: -7}   # five\n" in edited
    assert "      points: 12.5   # keep this comment\n" in edited
    assert edited.count("\n") == FLOW.count("\n")


def test_default_model_diff_touches_only_points():
    text = default_model_text()
    changes = {("engagement", "demo_request"): {"points": 45.0, "max_points": 45.0}}
    diff = unified_diff(text, edit_points(text, "model.yaml", changes), "model.yaml")
    removed = [
        line
        for line in diff.splitlines()
        if line.startswith("-") and not line.startswith("---")
    ]
    added = [
        line
        for line in diff.splitlines()
        if line.startswith("+") and not line.startswith("+++")
    ]
    assert removed == ["-      points: 30", "-      max_points: 30"]
    assert added == ["+      points: 45", "+      max_points: 45"]


def test_unknown_rule_rejected():
    with pytest.raises(ModelError, match="no rule with the id 'nope' in `fit`"):
        edit_points(FLOW, "m.yaml", {("fit", "nope"): {"points": 1.0}})
