"""Model files: validation errors name the file, line, field and the fix."""

from __future__ import annotations

import pytest

from leadq.errors import ModelError
from leadq.model.loading import load_default_model, load_model, parse_model

STAGES = "stages:\n  - id: all\n"


def error_of(text: str) -> ModelError:
    with pytest.raises(ModelError) as caught:
        parse_model(text, source="m.yaml")
    return caught.value


def test_default_model_is_valid():
    model = load_default_model()
    assert [stage.id for stage in model.stages] == [
        "disqualified", "pql", "sql", "mql", "unqualified",
    ]  # fmt: skip
    assert model.ranked_stage_ids()[-1] == "disqualified"


def test_missing_file(tmp_path):
    with pytest.raises(ModelError) as caught:
        load_model(tmp_path / "nope.yaml")
    assert "model file not found" in str(caught.value)
    assert "leadq init" in str(caught.value)


def test_empty_file():
    error = error_of("")
    assert str(error) == "m.yaml, line 1: the model must be a YAML mapping with a `stages` list, got empty"


def test_invalid_yaml_names_line():
    error = error_of("stages:\n  - id: a\n    when: {score: fit\n")
    assert error.line == 4
    assert "invalid YAML" in error.message


def test_duplicate_yaml_key():
    error = error_of("name: a\nname: b\n" + STAGES)
    assert error.line == 2
    assert "invalid YAML" in error.message


def test_nul_character_rejected():
    error = error_of('name: "a\\0b"\n' + STAGES)
    assert (error.line, error.field) == (1, "name")
    assert "NUL character" in error.message


def test_unknown_field():
    error = error_of("fit:\n  rulez: []\n" + STAGES)
    assert (error.line, error.field) == (2, "fit.rulez")
    assert "unknown field" in error.message


def test_wrong_value_type_names_value():
    error = error_of("fit:\n  rules:\n    - {id: r, field: x, equals: 1, points: ten}\n" + STAGES)
    assert (error.line, error.field) == (3, "fit.rules[0].points")
    assert 'got "ten"' in error.message


@pytest.mark.parametrize(
    ("text", "line", "field", "limit"),
    [
        ("fit:\n  rules:\n    - {id: r, field: x, equals: 1, points: 1e308}\n", 3, "fit.rules[0].points", "1000000"),
        ("engagement:\n  rules:\n    - {id: r, event: e, points: -2e6}\n", 3, "engagement.rules[0].points", "-1000000"),
        ("engagement:\n  max: 1.7e308\n", 2, "engagement.max", "1000000000000"),
        ("grades: {A: 1e13, B: 50, C: 25}\n", 1, "grades.A", "1000000000000"),
    ],
)
def test_points_beyond_limits_rejected(text, line, field, limit):
    error = error_of(text + STAGES)
    assert (error.line, error.field) == (line, field)
    assert limit in error.message


def test_fractional_event_count_rejected():
    text = "stages:\n  - {id: mql, when: {events: demo_requested, at_least: 0.5}}\n  - {id: unqualified}\n"
    error = error_of(text)
    assert (error.line, error.field) == (2, "stages[0].when.at_least")
    assert error.message == "an events condition counts whole events, so give a whole number such as 1, got 0.5"


def test_invalid_date_value_names_line():
    error = error_of("fit:\n  rules:\n    - {id: r, field: d, equals: 2026-02-30, points: 1}\n" + STAGES)
    assert error.line == 3
    assert error.message.startswith("invalid YAML: day is out of range for month; a value written as a date")


def test_deep_nesting_rejected():
    error = error_of("a: " + "[" * 5000 + "\n")
    assert error.message == "invalid YAML: the document is nested too deep to read; a model nests a few levels"


def test_two_operators_rejected():
    error = error_of("fit:\n  rules:\n    - {id: r, field: x, equals: 1, contains: a, points: 1}\n" + STAGES)
    assert error.line == 3
    assert "has several operators (equals, contains); use one per test" in error.message


def test_no_operator_rejected():
    error = error_of("fit:\n  rules:\n    - {id: r, field: x, points: 1}\n" + STAGES)
    assert "needs one operator" in error.message


def test_reversed_between():
    error = error_of("fit:\n  rules:\n    - {id: r, field: x, between: [9, 1], points: 1}\n" + STAGES)
    assert "bounds reversed" in error.message


@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [
        ("(unclosed", "invalid regular expression"),
        ("(?<=a)b", "lookaround"),
        ("(a)\\\\1", "backreference"),
        ("(?s)a.b", "inline flag"),
    ],
)
def test_regex_rejected(pattern, fragment):
    error = error_of(f"fit:\n  rules:\n    - id: r\n      field: x\n      regex: '{pattern}'\n      points: 1\n" + STAGES)
    assert error.line == 5
    assert fragment in error.message


def test_duplicate_rule_id():
    text = "fit:\n  rules:\n    - {id: r, field: x, equals: 1, points: 1}\n    - {id: r, field: y, equals: 1, points: 1}\n" + STAGES
    error = error_of(text)
    assert (error.line, error.field) == (4, "fit.rules[1].id")
    assert "already used on line 3" in error.message


@pytest.mark.parametrize("section", ["columns", "event_columns"])
def test_two_columns_to_one_field(section):
    text = f"{section}:\n  kind: event\n  ts: timestamp\n  action: event\n" + STAGES
    error = error_of(text)
    assert (error.file, error.line, error.field) == ("m.yaml", 4, f"{section}.action")
    assert "columns 'kind' (line 2) and 'action' both map to the field 'event'" in error.message
    assert "map only one column to each field" in error.message


@pytest.mark.parametrize(
    ("section", "key"), [("columns", '""'), ("columns", "'  '"), ("event_columns", '""')]
)
def test_blank_column_key(section, key):
    error = error_of(f"{section}:\n  title: job_title\n  {key}: industry\n" + STAGES)
    assert (error.file, error.line, error.field) == ("m.yaml", 3, section)
    assert error.message == (
        f"the key {key.strip(chr(34) + chr(39))!r} is blank, so it names no column; write the file's "
        'column name, such as "Job Title": job_title, or remove the mapping'
    )


@pytest.mark.parametrize(
    ("section", "value", "example"),
    [
        ("columns", '""', '"Job Title": job_title'),
        ("columns", "'  '", '"Job Title": job_title'),
        ("event_columns", '""', '"Event Type": event'),
        ("event_columns", "' '", '"Event Type": event'),
    ],
)
def test_blank_mapped_field(section, value, example):
    error = error_of(f"{section}:\n  title: job_title\n  Job Title: {value}\n" + STAGES)
    assert (error.file, error.line, error.field) == ("m.yaml", 3, f"{section}.Job Title")
    assert error.message == (
        f"the column 'Job Title' maps to the blank field {value.strip(chr(34) + chr(39))!r}, so it "
        f"fills no field; write the field's name, such as {example}, or remove the mapping"
    )


def test_stored_blank_mapped_field_kept():
    model = parse_model("columns:\n  Job Title: ''\n" + STAGES, source="v1", stored=True)
    assert model.columns == {"Job Title": ""}


def test_spaced_event_column_key_valid():
    model = parse_model("event_columns:\n  ' ': page\n" + STAGES, source="m.yaml")
    assert model.event_columns == {" ": "page"}


@pytest.mark.parametrize("second", ["TITLE", "'title '", "' Title'"])
def test_columns_differing_in_case(second):
    text = f"columns:\n  Title: job_title\n  email: email\n  {second}: role\n" + STAGES
    error = error_of(text)
    key = second.strip("'")
    assert (error.file, error.line, error.field) == ("m.yaml", 4, f"columns.{key}")
    assert error.message == (
        f"columns 'Title' (line 2) and {key!r} differ only in case or surrounding spaces, and leadq "
        "matches a leads file's columns without regard to either; keep one of the two mappings"
    )


def test_stored_columns_differing_in_case_kept():
    model = parse_model("columns:\n  Title: job_title\n  TITLE: role\n" + STAGES, source="v1", stored=True)
    assert model.columns == {"Title": "job_title", "TITLE": "role"}


def test_event_columns_differing_in_case_valid():
    model = parse_model("event_columns:\n  Kind: event\n  kind: page\n" + STAGES, source="m.yaml")
    assert model.event_columns == {"Kind": "event", "kind": "page"}


def test_distinct_mapped_fields_valid():
    model = parse_model("event_columns:\n  kind: event\n  ts: timestamp\n" + STAGES, source="m.yaml")
    assert model.event_columns == {"kind": "event", "ts": "timestamp"}


def test_unknown_list_name():
    text = "fit:\n  rules:\n    - {id: r, field: email, email_domain_in: rivals, points: -5}\n" + STAGES
    error = error_of(text)
    assert error.line == 3
    assert "unknown list 'rivals'" in error.message
    assert "free_email" in error.message


def test_unknown_condition_kind():
    error = error_of("stages:\n  - id: a\n    when: {scor: fit}\n  - id: b\n")
    assert (error.line, error.field) == (3, "stages[0].when")
    assert "a condition needs one of the keys" in error.message


def test_condition_error_inside_any():
    text = "stages:\n  - id: a\n    when:\n      any:\n        - {score: fit, at_least: high}\n  - id: b\n"
    error = error_of(text)
    assert error.line == 5
    assert error.field == "stages[0].when.any[0].at_least"


def test_only_last_stage_may_omit_when():
    error = error_of("stages:\n  - id: a\n  - id: b\n")
    assert "stage 'a' has no `when` condition" in error.message


def test_unknown_time_zone():
    error = error_of("timezone: Mars/Olympus\n" + STAGES)
    assert (error.line, error.field) == (1, "timezone")
    assert "unknown time zone 'Mars/Olympus'" in error.message


def test_rank_order_names_stages():
    error = error_of(STAGES + "rank_order: [sql]\n")
    assert "rank_order names 'sql', which is not a stage" in error.message


def test_step_decay_must_ascend():
    text = "engagement:\n  decay: {steps: [{after_days: 90, factor: 0}, {after_days: 30, factor: 0.5}]}\n" + STAGES
    error = error_of(text)
    assert "strictly increasing" in error.message


def test_field_rule_in_engagement():
    model = parse_model("engagement:\n  rules:\n    - {id: r, field: visits, at_least: 5, points: 10}\n" + STAGES, source="m")
    assert model.engagement.event_rules() == []
    assert model.engagement.rules[0].field == "visits"


def test_alias_bomb_rejected():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 10):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    error = error_of("\n".join(lines) + "\n" + STAGES)
    assert "has more than 200,000 values, counting each value that YAML anchors and aliases repeat" in error.message


def test_long_list_names_the_value_limit():
    domains = ", ".join(f"d{number}.example" for number in range(200_001))
    error = error_of(f"lists:\n  partners: [{domains}]\n" + STAGES)
    assert error.message.startswith("the model has more than 200,000 values")
    assert "shorten its lists" in error.message


def test_rank_order_error_names_repeated_stage():
    stages = "stages:\n  - {id: hot, when: {score: total, at_least: 50}}\n  - {id: hot}\n"
    error = error_of(stages + "rank_order: [cold]\n")
    assert "stage ids must be unique: 'hot' repeats" in error.message


EXAMPLES = 'write a whole number such as 2, or text such as "2026-01"'


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("true", f"invalid version true; {EXAMPLES}"),
        ("", f"invalid version null; {EXAMPLES}"),
        ('""', f'invalid version "": it is empty; {EXAMPLES}'),
        ('"  "', f'invalid version "  ": it is empty; {EXAMPLES}'),
        ('" 1 "', 'invalid version " 1 ": it starts or ends with spaces; remove them (`version: "1"`)'),
        (
            "2.5",
            'invalid version 2.5: YAML reads it as a decimal number; quote it (`version: "2.5"`) '
            f"or {EXAMPLES}",
        ),
        (
            "1.0",
            'invalid version 1.0: YAML reads it as a decimal number; quote it (`version: "1.0"`) '
            f"or {EXAMPLES}",
        ),
        ("[1]", f"invalid version [1]; {EXAMPLES}"),
    ],
)
def test_invalid_version_rejected(version, message):
    error = error_of(f"name: a\nversion: {version}\n" + STAGES)
    assert (error.line, error.field) == (2, "version")
    assert error.message == message


@pytest.mark.parametrize(
    ("version", "expected"), [("2", 2), ("-1", -1), ('"2.5"', "2.5"), ("2026-01", "2026-01"), ("v3", "v3")]
)
def test_valid_version_kept(version, expected):
    model = parse_model(f"version: {version}\n" + STAGES, source="m.yaml")
    assert model.version == expected


def test_stored_version_read_unchecked():
    # A stored model version keeps the version that an older leadq accepted.
    model = parse_model("version: true\n" + STAGES, source="model version 1", stored=True)
    assert model.version == 1
