"""Load a model file: parse YAML with positions, validate, check references."""

from __future__ import annotations

import json
import re
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from leadq.errors import ModelError
from leadq.lead_columns import folded
from leadq.model.qualification import UNKNOWN, Framework
from leadq.model.schema import (
    AllOf,
    AnswerCondition,
    AnyOf,
    EventCondition,
    FieldTest,
    LIMIT_ERROR,
    NotOf,
    QualificationCondition,
    STORED_CONTEXT,
    ScoringModel,
    Test,
    UNLIMITED_CONTEXT,
)

BUILTIN_LISTS = ("free_email",)
DEFAULT_MODEL_NAME = "default.yaml"


def load_model(path: str | Path) -> ScoringModel:
    """Read and validate a model file; raise ModelError naming file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelError(
            "model file not found; check the path, or run `leadq init` to write "
            "the default model",
            file=str(path),
        ) from None
    except IsADirectoryError:
        raise ModelError("is a directory, not a model file", file=str(path)) from None
    except UnicodeDecodeError as error:
        raise ModelError(
            f"is not UTF-8 text ({error.reason} at byte {error.start}); save "
            "the model file as UTF-8",
            file=str(path),
        ) from None
    model = parse_model(text, source=str(path))
    model._folder = str(path.parent)
    return model


def load_default_model() -> ScoringModel:
    return parse_model(default_model_text(), source="built-in default model")


def default_model_text() -> str:
    return (resources.files("leadq.model") / DEFAULT_MODEL_NAME).read_text("utf-8")


def parse_model(text: str, *, source: str, stored: bool = False) -> ScoringModel:
    """Parse and validate a model's YAML text; raise ModelError naming the line.

    `stored` marks the text of a stored model version, which is read as
    parse_stored_model reads it.
    """
    if stored:
        return parse_stored_model(text, source)[0]
    document, plain = _document(text, source)
    try:
        model = ScoringModel.model_validate(plain)
    except ValidationError as error:
        raise _first_error(error, document, source) from None
    check_references(model, document, source)
    _check_blank_columns(model, document, source)
    _check_blank_fields(model, document, source)
    _check_column_spellings(model.columns, document, source)
    return model


def parse_stored_model(text: str, source: str) -> tuple[ScoringModel, list[ModelError]]:
    """Parse a stored model version's text; return the model and its values beyond the limits.

    Older leadq releases stored versions without some of today's checks,
    and a store keeps scoring with its active version. So the `version:`
    is kept as it was accepted, and points and score bounds beyond
    MAX_RULE_POINTS and MAX_SCORE are kept too. Each such value comes back
    as a ModelError that names its line and field. `columns:` keys that
    differ only in case are kept without one, and a leads file column
    matches neither of them (leadq.lead_columns). Blank `columns:` and
    `event_columns:` keys and fields are kept too. Any other invalid value
    raises ModelError.
    """
    document, plain = _document(text, source)
    try:
        model = ScoringModel.model_validate(plain, context={STORED_CONTEXT: True})
        beyond_limits = []
    except ValidationError as limited:
        try:
            model = ScoringModel.model_validate(plain, context={STORED_CONTEXT: True, UNLIMITED_CONTEXT: True})
        except ValidationError as error:
            raise _first_error(error, document, source) from None
        # Only the limits differ between the two validations, so the first
        # one failed on limit errors alone.
        details = [detail for detail in limited.errors() if detail["type"] == LIMIT_ERROR]
        beyond_limits = [_detail_error(detail, document, source) for detail in details]
    check_references(model, document, source)
    return model, beyond_limits


def _document(text: str, source: str) -> tuple[Any, Any]:
    """Return the model's YAML document (with line positions) and its plain dicts and lists."""
    document = _parse_yaml(text, source)
    if not isinstance(document, dict):
        kind = "empty" if document is None else _yaml_kind(document)
        raise ModelError(
            f"the model must be a YAML mapping with a `stages` list, got {kind}",
            file=source,
            line=1,
        )
    plain = _plain_or_error(document, source)
    _reject_nul(plain, [], document, source)
    return document, plain


def _reject_nul(node: Any, path: list[Any], document: Any, source: str) -> None:
    """Raise for text with a NUL character, which PostgreSQL cannot store."""
    if isinstance(node, str) and "\x00" in node:
        _raise_at("the text contains a NUL character (\\0 or \\x00); remove it", document, path, source)
    if isinstance(node, dict):
        children = node.items()
    elif isinstance(node, list):
        children = enumerate(node)
    else:
        return
    for key, child in children:
        if isinstance(key, str) and "\x00" in key:
            _raise_at(f"the key {key!r} contains a NUL character; remove it", document, path, source)
        _reject_nul(child, [*path, key], document, source)


def parse_framework(text: str, source: str) -> Framework:
    """Parse one framework from YAML; raise ModelError naming file and line."""
    document = _parse_yaml(text, source)
    try:
        return Framework.model_validate(_plain_or_error(document, source))
    except ValidationError as error:
        raise _first_error(error, document, source) from None


def _yaml_kind(document: Any) -> str:
    if isinstance(document, list):
        return "a list"
    return f"a single value ({document!r})"


YAML_FIX = (
    "check the indentation on this line and the one before, and quote a value "
    "that contains ': ' or ' #' or starts with one of [ ] { } , & * ! | > % @"
)


def _parse_yaml(text: str, source: str) -> Any:
    yaml = YAML(typ="rt")
    try:
        return yaml.load(text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = error.problem or error.context or "invalid YAML"
        raise ModelError(f"invalid YAML: {problem}; {YAML_FIX}", file=source, line=line) from None
    except YAMLError as error:
        raise ModelError(f"invalid YAML: {error}", file=source) from None
    except ValueError as error:
        raise ModelError(f"invalid YAML: {error}; {DATE_FIX}", file=source, line=invalid_date_line(text)) from None
    except RecursionError:
        raise ModelError(f"invalid YAML: {DEPTH_PROBLEM}", file=source) from None


# ruamel reads an unquoted value such as 2026-02-30 as a date, and fails on
# one that is not a real day with a ValueError that carries no line.
DATE_FIX = "a value written as a date (YYYY-MM-DD) must be a real day; correct it, or quote it to keep it as text"
DEPTH_PROBLEM = "the document is nested too deep to read; a model nests a few levels"


def invalid_date_line(text: str) -> int | None:
    """Return the first line with a YYYY-MM-DD value that is not a real day, or None."""
    for number, line in enumerate(text.splitlines(), 1):
        for year, month, day in re.findall(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b", line):
            try:
                date(int(year), int(month), int(day))
            except ValueError:
                return number
    return None


# Values a model may expand to through YAML aliases; a few nested aliases
# can otherwise stand for billions of values (an "alias bomb").
MAX_VALUES = 200_000


def _plain(node: Any, budget: list[int] | None = None) -> Any:
    """Copy ruamel's commented containers into plain dicts and lists."""
    budget = [MAX_VALUES] if budget is None else budget
    budget[0] -= 1
    if budget[0] < 0:
        raise ModelError(
            f"the model has more than {MAX_VALUES:,} values, counting each value that "
            "YAML anchors and aliases repeat; shorten its lists or use fewer aliases"
        )
    if isinstance(node, dict):
        return {str(key): _plain(value, budget) for key, value in node.items()}
    if isinstance(node, list):
        return [_plain(item, budget) for item in node]
    return node


def _plain_or_error(document: Any, source: str) -> Any:
    try:
        return _plain(document)
    except ModelError as error:
        raise ModelError(error.message, file=source, line=1) from None


def _first_error(error: ValidationError, document: Any, source: str) -> ModelError:
    # A misspelled key also makes the right key missing: name the misspelling.
    details = error.errors()
    detail = next((d for d in details if d["type"] == "extra_forbidden"), details[0])
    return _detail_error(detail, document, source)


def _detail_error(detail: dict, document: Any, source: str) -> ModelError:
    """Build the ModelError of one Pydantic error, with its line, field and value."""
    location = list(detail["loc"])
    line, field = locate(document, location)
    message = detail["msg"].removeprefix("Value error, ")
    if detail["type"] == "extra_forbidden":
        message = _unknown_field_message(location, document)
    elif detail["type"] == "literal_error" and "decay" in location:
        message = (
            f"invalid decay {_show(detail['input'])}; write none, "
            "{half_life_days: 30} or {steps: [{after_days: 30, factor: 0.5}]}"
        )
    elif detail["type"] == "missing":
        message = "required field is missing"
    elif "input" in detail and detail["type"] != "value_error":
        message += f", got {_show(detail['input'])}"
    return ModelError(message, file=source, line=line, field=field)


EVENT_RULE_KEYS = ("event", "where", "max_points", "unique_by", "within_days", "decay")


def _unknown_field_message(location: list[Any], document: Any) -> str:
    key = location[-1]
    in_section = len(location) > 2 and location[0] in ("engagement", "product")
    if location[0] == "fit" and key in EVENT_RULE_KEYS:
        return (
            f"`{key}` belongs to event rules, but fit rules test lead fields; "
            "move the rule under engagement or product"
        )
    if in_section and key in EVENT_RULE_KEYS:
        return (
            f"`{key}` applies to event rules only; this rule tests a lead field "
            "(`field:`), so remove it, or count events with `event:` instead"
        )
    return "unknown field; check its spelling against `leadq schema`"


def _show(value: Any) -> str:
    text = json.dumps(_plain(value), default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def locate(document: Any, path: list[Any]) -> tuple[int | None, str]:
    """Find the 1-based line of a value in the YAML tree, and a dotted field name.

    Pydantic's error locations also contain the tags of unions, such as
    `score` for a score condition. A part that is not in the tree is such a
    tag and is skipped, unless it is the last part and no tag: an unknown or
    missing key.
    """
    node, line = document, 1
    names: list[str] = []
    parts = [_yaml_key(part) for part in path]
    for position, key in enumerate(parts):
        # A union tag named after its key (`answer`, then the field `answer`).
        if parts[position + 1 : position + 2] == [key]:
            continue
        is_last = all(part in UNION_TAGS for part in parts[position + 1 :])
        child = _child(node, key)
        # A tag that equals a key (`score: fit`) leads to a scalar, where the
        # rest of the path cannot be: skip it as a tag.
        if child is _ABSENT or not (is_last or _is_container(child)):
            if is_last and key not in UNION_TAGS:
                names.append(str(key))
            continue
        line = _line_of(node, key)
        node = child
        names.append(f"[{key}]" if isinstance(key, int) else str(key))
    field = ".".join(names).replace(".[", "[")
    return line, field


_ABSENT = object()
# Tags of the schema's unions that are never keys of a model file.
UNION_TAGS = {"half_life", "none", "value", "values", "test", "str", "int", "float", "bool"}


def _is_container(node: Any) -> bool:
    return isinstance(node, (CommentedMap, CommentedSeq))


def _yaml_key(part: Any) -> Any:
    if not isinstance(part, str):
        return part
    return {"not_": "not", "in_": "in", "is_": "is", "pass_rule": "pass"}.get(part, part)


def _child(node: Any, key: Any) -> Any:
    if isinstance(node, CommentedMap) and key in node:
        return node[key]
    if isinstance(node, CommentedSeq) and isinstance(key, int) and 0 <= key < len(node):
        return node[key]
    return _ABSENT


def _line_of(node: Any, key: Any) -> int:
    if isinstance(node, CommentedMap):
        return node.lc.key(key)[0] + 1
    return node.lc.item(key)[0] + 1


def check_references(model: ScoringModel, document: Any, source: str) -> None:
    """Check what the schema cannot: unique ids, one column per mapped field and names of lists."""
    for section in ("columns", "event_columns"):
        _check_one_column_per_field(getattr(model, section), section, document, source)
    seen: dict[str, list[Any]] = {}
    for section in ("fit", "engagement", "product"):
        for index, rule in enumerate(getattr(model, section).rules):
            _check_unique(rule.id, [section, "rules", index, "id"], seen, document, source)
    for index, stage in enumerate(model.stages):
        _check_unique(stage.id, ["stages", index, "id"], seen, document, source)
    for path, test in _tests_with_lists(model):
        _check_list_name(test, model, document, path, source)
    for path, condition in _qualification_conditions(model):
        _check_qualification(condition, model, document, path, source)


def _check_unique(rule_id, path, seen, document, source) -> None:
    if rule_id in seen:
        first_line, _ = locate(document, seen[rule_id])
        line, field = locate(document, path)
        raise ModelError(
            f"id {rule_id!r} is already used on line {first_line}; rule and "
            "stage ids must be unique",
            file=source,
            line=line,
            field=field,
        )
    seen[rule_id] = path


def _check_one_column_per_field(mapping: dict[str, str], section: str, document, source) -> None:
    """Raise when a `columns:` or `event_columns:` mapping maps two columns to one field.

    A file with both columns cannot bind, because they end up with the same
    name, and binding rejects an events file that lacks a mapped column.
    """
    columns_by_field: dict[str, str] = {}
    for column, field in mapping.items():
        first = columns_by_field.setdefault(field, column)
        if first == column:
            continue
        first_line, _ = locate(document, [section, first])
        _raise_at(
            f"columns {first!r} (line {first_line}) and {column!r} both map to the "
            f"field {field!r}; map only one column to each field, and remove or "
            "rename the other mapping",
            document, [section, column], source,
        )


def _check_blank_columns(model: ScoringModel, document, source) -> None:
    """Raise for a `columns:` key that is blank after trimming, or an empty `event_columns:` key.

    Readers reject files with an empty column name, and `columns:` keys
    match without surrounding spaces, so such a key matches no column.
    """
    for section, blank in (("columns", str.strip), ("event_columns", str)):
        for column in getattr(model, section):
            if blank(column) == "":
                line, _ = locate(document, [section, column])
                raise ModelError(
                    f"the key {column!r} is blank, so it names no column; write the file's column "
                    'name, such as "Job Title": job_title, or remove the mapping',
                    file=source,
                    line=line,
                    field=section,
                )


def _check_blank_fields(model: ScoringModel, document, source) -> None:
    """Raise for a `columns:` or `event_columns:` value that is blank after trimming.

    A column mapped to a blank field fills no field that a rule can read.
    """
    examples = {"columns": '"Job Title": job_title', "event_columns": '"Event Type": event'}
    for section, example in examples.items():
        for column, field in getattr(model, section).items():
            if field.strip() == "":
                _raise_at(
                    f"the column {column!r} maps to the blank field {field!r}, so it fills no "
                    f"field; write the field's name, such as {example}, or remove the mapping",
                    document, [section, column], source,
                )


def _check_column_spellings(mapping: dict[str, str], document, source) -> None:
    """Raise when two `columns:` keys differ only in case or surrounding spaces.

    Leads file columns match the keys without regard to either, so a
    column would match neither of the two keys.
    """
    first_of: dict[str, str] = {}
    for column in mapping:
        first = first_of.setdefault(folded(column), column)
        if first == column:
            continue
        first_line, _ = locate(document, ["columns", first])
        _raise_at(
            f"columns {first!r} (line {first_line}) and {column!r} differ only in case or "
            "surrounding spaces, and leadq matches a leads file's columns without regard to "
            "either; keep one of the two mappings",
            document, ["columns", column], source,
        )


def _check_list_name(test: Test, model, document, path, source) -> None:
    names = test.email_domain_in
    if not isinstance(names, str):
        return
    if names in model.lists or names in BUILTIN_LISTS:
        return
    known = sorted(set(model.lists) | set(BUILTIN_LISTS))
    line, field = locate(document, path + ["email_domain_in"])
    raise ModelError(
        f"unknown list {names!r}; define it under `lists:` or use one of: "
        + ", ".join(known),
        file=source,
        line=line,
        field=field,
    )


def _tests_with_lists(model: ScoringModel):
    for index, rule in enumerate(model.fit.rules):
        yield ["fit", "rules", index], rule
    for section in ("engagement", "product"):
        for index, rule in enumerate(getattr(model, section).rules):
            path = [section, "rules", index]
            if isinstance(rule, FieldTest):
                yield path, rule
            else:
                for name, test in rule.property_tests().items():
                    yield path + ["where", name], test
    for index, stage in enumerate(model.stages):
        if stage.when is not None:
            yield from _condition_tests(stage.when, ["stages", index, "when"])


def _condition_tests(condition, path):
    if isinstance(condition, FieldTest):
        yield path, condition
    elif isinstance(condition, (AllOf, AnyOf)):
        key = "all" if isinstance(condition, AllOf) else "any"
        for index, child in enumerate(getattr(condition, key)):
            yield from _condition_tests(child, path + [key, index])
    elif isinstance(condition, NotOf):
        yield from _condition_tests(condition.not_, path + ["not"])
    elif isinstance(condition, EventCondition):
        for name, test in condition.property_tests().items():
            yield path + ["where", name], test


def _qualification_conditions(model: ScoringModel):
    kinds = (QualificationCondition, AnswerCondition)
    for index, stage in enumerate(model.stages):
        if stage.when is not None:
            yield from _conditions_with_paths(stage.when, ["stages", index, "when"], kinds)


def _conditions_with_paths(condition, path, kinds):
    if isinstance(condition, kinds):
        yield path, condition
    elif isinstance(condition, (AllOf, AnyOf)):
        key = "all" if isinstance(condition, AllOf) else "any"
        for index, child in enumerate(getattr(condition, key)):
            yield from _conditions_with_paths(child, path + [key, index], kinds)
    elif isinstance(condition, NotOf):
        yield from _conditions_with_paths(condition.not_, path + ["not"], kinds)


def _check_qualification(condition, model, document, path, source) -> None:
    """Check that a condition names a known framework, criterion and answer."""
    frameworks = model.all_frameworks()
    if isinstance(condition, QualificationCondition):
        test, key = condition.qualification, "qualification"
    else:
        test, key = condition.answer, "answer"
    framework = frameworks.get(test.framework)
    if framework is None:
        _raise_at(
            f"unknown framework {test.framework!r}; define it under `frameworks:` "
            f"or use one of: {', '.join(sorted(frameworks))}",
            document, path + [key, "framework"], source,
        )
    if isinstance(condition, AnswerCondition):
        _check_answer_test(test, framework, document, path + [key], source)


def _check_answer_test(test, framework: Framework, document, path, source) -> None:
    criterion = framework.criterion(test.criterion)
    if criterion is None:
        known = ", ".join(c.id for c in framework.criteria)
        _raise_at(
            f"framework {test.framework!r} has no criterion {test.criterion!r}; "
            f"its criteria are: {known}",
            document, path + ["criterion"], source,
        )
    bounded = test.at_least is not None or test.at_most is not None
    if bounded and criterion.answer not in ("scale", "number"):
        _raise_at(
            f"criterion {criterion.id!r} has {criterion.answer} answers, which "
            "at_least and at_most cannot compare; test them with `is`",
            document, path + ["at_least" if test.at_least is not None else "at_most"], source,
        )
    allowed = _answer_values(criterion)
    values = test.is_ if isinstance(test.is_, list) else [test.is_]
    for value in values if test.is_ is not None and allowed else []:
        if value not in allowed:
            _raise_at(
                f"{value!r} is not an answer of criterion {criterion.id!r}; "
                f"its answers are: {', '.join(str(v) for v in allowed)}",
                document, path + ["is"], source,
            )


def _answer_values(criterion) -> list:
    """Return the answers a criterion can have, or [] when any value may do."""
    if criterion.answer == "status":
        return ["confirmed", "not_confirmed", UNKNOWN]
    if criterion.answer == "choice":
        return [*criterion.option_ids(), UNKNOWN]
    if criterion.answer == "scale":
        return [0, 1, 2, 3, UNKNOWN]
    return []


def _raise_at(message: str, document, path, source):
    line, field = locate(document, path)
    raise ModelError(message, file=source, line=line, field=field)
