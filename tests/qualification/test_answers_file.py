"""Reading the YAML or JSON answers file of `leadq qualify --answers`."""

from __future__ import annotations

import codecs
import sys

import pytest

from leadq.errors import InputError
from leadq.qualification.answers_file import read_answers_file

ANSWERS = '{"framework": "bant", "answers": {"budget": "confirmed", "need": 3}}\n'
UTF8_FIX = "save it as UTF-8"
JSON_FIX = (
    "correct the JSON there: write keys and text in double quotes, separate "
    "items with commas and leave no comma after the last item"
)


def rejected(path) -> InputError:
    with pytest.raises(InputError) as raised:
        read_answers_file(path)
    assert raised.value.exit_code == 2
    return raised.value


@pytest.mark.parametrize("name", ["answers.json", "answers.yaml", "answers.JSON"])
def test_json_answers_read(tmp_path, name):
    path = tmp_path / name
    path.write_text(ANSWERS, encoding="utf-8")
    assert read_answers_file(path) == {
        "framework": "bant",
        "answers": {"budget": "confirmed", "need": 3},
    }


def test_utf8_byte_order_mark_skipped(tmp_path):
    path = tmp_path / "answers.json"
    path.write_bytes(codecs.BOM_UTF8 + ANSWERS.encode("utf-8"))
    assert read_answers_file(path)["answers"] == {"budget": "confirmed", "need": 3}


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (
            '{"answers": {"budget": "confirmed",\n  "need": 3,}}\n',
            2,
            "Expecting property name enclosed in double quotes at column 13",
        ),
        ('{"answers": {"budget": \'confirmed\'}}', 1, "Expecting value at column 24"),
        # The missing brace is found at the end of the file.
        ('{"answers": {"need": 3}\n', 2, "Expecting ',' delimiter at column 1"),
        ('{"answers": {"need": "a\tb"}}', 1, "Invalid control character at column 24"),
        ("", 1, "Expecting value at column 1"),
    ],
)
def test_json_syntax_error_located(tmp_path, text, line, reason):
    path = tmp_path / "answers.json"
    path.write_text(text, encoding="utf-8")
    error = rejected(path)
    assert str(error) == f"{path}, line {line}: invalid JSON: {reason}; {JSON_FIX}"
    assert error.line == line


def test_json_repeated_key_rejected(tmp_path):
    path = tmp_path / "answers.json"
    path.write_text('{"answers": {"need": 1, "need": 3}}', encoding="utf-8")
    assert str(rejected(path)) == (
        f"{path}: invalid JSON: the key 'need' appears twice in one object; keep one of them"
    )


@pytest.mark.parametrize("name", ["answers.json", "answers.yaml"])
def test_number_beyond_digit_limit_rejected(tmp_path, name):
    kind = "JSON" if name.endswith(".json") else "YAML"
    path = tmp_path / name
    digits = sys.get_int_max_str_digits() + 1
    path.write_text('{"answers": {"need": ' + "9" * digits + "}}", encoding="utf-8")
    assert str(rejected(path)) == (
        f"{path}: invalid {kind}: a whole number has more than "
        f"{sys.get_int_max_str_digits()} digits; write a smaller number"
    )


def test_json_nested_too_deep_rejected(tmp_path):
    path = tmp_path / "answers.json"
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    assert str(rejected(path)) == (
        f"{path}: invalid JSON: the document is nested too deep to read; "
        "an answers file nests a few levels"
    )


def test_yaml_alias_expansion_rejected(tmp_path):
    path = tmp_path / "answers.yaml"
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        levels.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 10) + "]")
    path.write_text("\n".join(levels) + "\nanswers: {budget: *a8}\n", encoding="utf-8")

    assert str(rejected(path)) == (
        f"{path}: the answers file expands to more than 200,000 values through YAML "
        "anchors and aliases; write the values out or use fewer aliases"
    )


def test_yaml_syntax_error_located(tmp_path):
    path = tmp_path / "answers.yaml"
    path.write_text("answers:\n  budget: [confirmed\n  need: 3\n", encoding="utf-8")
    error = rejected(path)
    assert str(error) == (
        f"{path}, line 3: invalid YAML: expected ',' or ']', but got ':' at column 7; "
        "check the indentation on this line and the one before, and quote a value "
        "that contains ': ' or ' #' or starts with one of [ ] { } , & * ! | > % @"
    )


@pytest.mark.parametrize(
    ("encoding", "message"),
    [
        (
            "utf-16",
            "the file is UTF-16 text (it starts with a UTF-16 byte order mark), "
            f"not UTF-8; {UTF8_FIX}",
        ),
        (
            "utf-32",
            "the file is UTF-32 text (it starts with a UTF-32 byte order mark), "
            f"not UTF-8; {UTF8_FIX}",
        ),
        (
            "utf-16-le",
            "the file contains NUL bytes (the first at byte 1), so it is not "
            f"UTF-8 text but likely UTF-16 or UTF-32; {UTF8_FIX}",
        ),
        (
            "utf-16-be",
            "the file contains NUL bytes (the first at byte 0), so it is not "
            f"UTF-8 text but likely UTF-16 or UTF-32; {UTF8_FIX}",
        ),
        (
            "utf-32-le",
            "the file contains NUL bytes (the first at byte 1), so it is not "
            f"UTF-8 text but likely UTF-16 or UTF-32; {UTF8_FIX}",
        ),
        (
            "utf-32-be",
            "the file contains NUL bytes (the first at byte 0), so it is not "
            f"UTF-8 text but likely UTF-16 or UTF-32; {UTF8_FIX}",
        ),
    ],
)
@pytest.mark.parametrize("name", ["answers.json", "answers.yaml"])
def test_utf16_and_utf32_rejected(tmp_path, name, encoding, message):
    path = tmp_path / name
    path.write_bytes(ANSWERS.encode(encoding))
    assert str(rejected(path)) == f"{path}: {message}"


def test_cp1252_byte_names_line(tmp_path):
    path = tmp_path / "answers.yaml"
    path.write_bytes("answers:\n  need: {value: 3, note: café}\n".encode("cp1252"))
    assert str(rejected(path)) == (
        f"{path}, line 2: the file is not UTF-8 text (byte 0xE9 is invalid there); "
        f"{UTF8_FIX}"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[1, 2]",
            "the answers file must be a mapping with `answers:`, a mapping of "
            "criterion id to answer, such as {answers: {budget: confirmed}}",
        ),
        (
            '{"answers": {}, "when": "today", "1": 2}',
            "unknown key '1'; use answers, framework and author",
        ),
    ],
)
def test_layout_checked(tmp_path, text, message):
    path = tmp_path / "answers.json"
    path.write_text(text, encoding="utf-8")
    assert str(rejected(path)) == f"{path}: {message}"


def test_missing_file_rejected(tmp_path):
    path = tmp_path / "nowhere.yaml"
    assert str(rejected(path)) == f"{path}: answers file not found; check the path"
