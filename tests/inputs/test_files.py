"""Tests of leadq.inputs.files against real files written to tmp_path."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from leadq.errors import InputError
from leadq.inputs import SourceTable, files, read_source, read_table

EXTENSIONS = ".csv, .tsv, .txt, .parquet, .pq, .jsonl, .ndjson, .json"
JSON_LINE_FIX = 'write the line as one JSON object, such as {"email": "ana@example.com"}'
SURROGATE_FIX = "which is not valid Unicode text; remove it or replace it with the intended character"


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def read_error(path: Path, **kwargs: str) -> InputError:
    with pytest.raises(InputError) as caught:
        read_source(path, **kwargs)
    return caught.value


# --- CSV: delimiters, encodings, quoting --------------------------------------


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("comma.csv", b"id,name\n1,Ann\n2,Bob\n"),
        ("semicolon.csv", b"id;name\n1;Ann\n2;Bob\n"),
        ("tab.csv", b"id\tname\n1\tAnn\n2\tBob\n"),
        ("pipe.txt", b"id|name\n1|Ann\n2|Bob\n"),
        ("tab.tsv", b"id\tname\n1\tAnn\n2\tBob\n"),
    ],
)
def test_csv_delimiter_sniffed(tmp_path, name, data):
    table = read_table(write(tmp_path, name, data))
    assert table.column_names == ["id", "name"]
    assert table.to_pylist() == [
        {"id": "1", "name": "Ann"},
        {"id": "2", "name": "Bob"},
    ]


def test_csv_delimiter_quoted_in_header(tmp_path):
    path = write(tmp_path, "leads.csv", b'"a,b";c\n1;2\n')
    table = read_table(path)
    assert table.column_names == ["a,b", "c"]


def test_csv_delimiter_tie_uses_data(tmp_path):
    # The header splits into 2 fields on "," and on ";": the data row decides.
    path = write(tmp_path, "leads.csv", b"a,b;c\n1;2\n")
    table = read_table(path)
    assert table.column_names == ["a,b", "c"]
    assert table.to_pylist() == [{"a,b": "1", "c": "2"}]


def test_csv_single_column(tmp_path):
    table = read_table(write(tmp_path, "emails.csv", b"email\na@x.com\n"))
    assert table.to_pylist() == [{"email": "a@x.com"}]


def test_csv_all_columns_strings(tmp_path):
    path = write(tmp_path, "leads.csv", b"id,score,active,note\n007,1.5,true,NA\n")
    table = read_table(path)
    assert table.schema.types == [pa.string()] * 4
    assert table.to_pylist() == [
        {"id": "007", "score": "1.5", "active": "true", "note": "NA"}
    ]


def test_csv_empty_cells_null(tmp_path):
    path = write(tmp_path, "leads.csv", b'id,name,city\n1,,""\n2, ,x\n')
    table = read_table(path)
    assert table.column("name").to_pylist() == [None, " "]
    assert table.column("city").to_pylist() == [None, "x"]


def test_csv_header_whitespace_stripped(tmp_path):
    table = read_table(write(tmp_path, "leads.csv", b" id , name\n1,Ann\n"))
    assert table.column_names == ["id", "name"]


def test_csv_bom_stripped(tmp_path):
    path = write(tmp_path, "leads.csv", b"\xef\xbb\xbfid,name\n1,Ann\n")
    table = read_table(path)
    assert table.column_names == ["id", "name"]


def test_csv_bom_only_is_empty(tmp_path):
    error = read_error(write(tmp_path, "leads.csv", b"\xef\xbb\xbf"))
    assert error.message == "the file is empty: it has no header line"


def test_csv_cp1252_rejected(tmp_path):
    data = "id,name\n1,Ann\n2,Müller €\n".encode("cp1252")
    path = write(tmp_path, "leads.csv", data)
    error = read_error(path)
    assert str(error) == (
        f"{path}, line 3: the file is not valid UTF-8 (byte 0xFC); "
        "name the encoding with --encoding, for example --encoding cp1252"
    )
    assert error.line == 3


def test_csv_cp1252_rejected_past_sample(tmp_path):
    # The first 64 KiB are valid, so pyarrow finds the bad byte.
    rows = "".join(f"{i},name {i}\n" for i in range(10_000))
    data = ("id,name\n" + rows + "10000,Müller\n").encode("cp1252")
    error = read_error(write(tmp_path, "leads.csv", data))
    assert error.line == 10_002
    assert "(byte 0xFC)" in error.message


def test_csv_cp1252_with_encoding(tmp_path):
    data = "id,name\n1,Müller €\n".encode("cp1252")
    table = read_table(write(tmp_path, "leads.csv", data), encoding="cp1252")
    assert table.to_pylist() == [{"id": "1", "name": "Müller €"}]


def test_csv_cp1252_undefined_byte(tmp_path):
    path = write(tmp_path, "leads.csv", b"id,name\n1,A\x81\n")
    error = read_error(path, encoding="cp1252")
    assert error.line == 2
    assert error.message == (
        "byte 0x81 is not valid in the encoding cp1252; "
        "check the file's encoding and name it with --encoding"
    )


def test_csv_utf8_encoding_named(tmp_path):
    path = write(tmp_path, "leads.csv", "\ufeffid\nMüller\n".encode())
    table = read_table(path, encoding="UTF8")
    assert table.to_pylist() == [{"id": "Müller"}]


def test_csv_unknown_encoding(tmp_path):
    path = write(tmp_path, "leads.csv", b"id\n1\n")
    for encoding in ("klingon", "base64"):
        error = read_error(path, encoding=encoding)
        assert error.message == (
            f"unknown encoding {encoding!r}; use a Python codec name such as "
            "utf-8, cp1252 or latin-1"
        )


def test_csv_quoted_newlines_and_quotes(tmp_path):
    data = b'id,note\n1,"line one\nline two"\n2,"say ""hi"", then go"\n3,x\n'
    source = read_source(write(tmp_path, "leads.csv", data))
    assert source.table.column("note").to_pylist() == [
        "line one\nline two",
        'say "hi", then go',
        "x",
    ]
    assert source.line_numbers(0) == ("line", 2)
    assert source.line_numbers(1) == ("line", 4)
    assert source.line_numbers(2) == ("line", 5)


def test_csv_crlf(tmp_path):
    data = b'id,note\r\n1,a\r\n2,"b\r\nc"\r\n3,d\r\n'
    source = read_source(write(tmp_path, "leads.csv", data))
    assert source.table.to_pylist() == [
        {"id": "1", "note": "a"},
        {"id": "2", "note": "b\r\nc"},
        {"id": "3", "note": "d"},
    ]
    assert source.line_numbers(2) == ("line", 5)


def test_csv_line_numbers_one_line_rows(tmp_path):
    data = b"id,name\r\n1,a\r\n2,b\r\n\r\n\r\n"
    source = read_source(write(tmp_path, "leads.csv", data))
    assert source.table.num_rows == 2
    assert source.line_numbers(0) == ("line", 2)
    assert source.line_numbers(1) == ("line", 3)
    assert source.position(1) == {"line": 3}


def test_csv_line_numbers_blank_lines(tmp_path):
    data = b"\nid,name\n1,a\n\n\n2,b\n"
    source = read_source(write(tmp_path, "leads.csv", data))
    assert source.table.num_rows == 2
    assert source.line_numbers(1) == ("line", 6)
    assert source.line_numbers(0) == ("line", 3)
    assert source.format == "csv"


# --- CSV: empty and malformed files -------------------------------------------


def test_empty_file(tmp_path):
    path = write(tmp_path, "leads.csv", b"")
    error = read_error(path)
    assert str(error) == f"{path}: the file is empty"


def test_csv_blank_lines_only(tmp_path):
    error = read_error(write(tmp_path, "leads.csv", b"\n\r\n\n"))
    assert error.message == "the file is empty: it has no header line"


@pytest.mark.parametrize("data", [b"id,name", b"id,name\n", b"id,name\r\n\r\n"])
def test_csv_header_only(tmp_path, data):
    table = read_table(write(tmp_path, "leads.csv", data))
    assert table.num_rows == 0
    assert table.column_names == ["id", "name"]
    assert table.schema.types == [pa.string(), pa.string()]


def test_file_not_found(tmp_path):
    path = tmp_path / "missing.csv"
    error = read_error(path)
    assert str(error) == f"{path}: file not found"


def test_directory_rejected(tmp_path):
    directory = tmp_path / "leads.csv"
    directory.mkdir()
    error = read_error(directory)
    assert str(error) == f"{directory}: is a directory; expected a file"


def test_unknown_extension(tmp_path):
    path = write(tmp_path, "leads.xlsx", b"x")
    error = read_error(path)
    assert str(error) == (
        f"{path}: unsupported file type (extension '.xlsx'); "
        f"supported extensions: {EXTENSIONS}"
    )


def test_extension_case_insensitive(tmp_path):
    table = read_table(write(tmp_path, "LEADS.CSV", b"id\n1\n"))
    assert table.num_rows == 1


def test_csv_duplicate_headers(tmp_path):
    path = write(tmp_path, "leads.csv", b"id,email,name, email,name\n1,2,3,4,5\n")
    error = read_error(path)
    assert str(error) == (
        f"{path}, line 1: duplicate column names: 'email', 'name'; rename the columns so that each name appears once"
    )


def test_csv_empty_header_name(tmp_path):
    error = read_error(write(tmp_path, "leads.csv", b"id,name,\n1,2,3\n"))
    assert error.message == "column 3 has an empty name"
    assert error.line == 1


def test_csv_ragged_row_short(tmp_path):
    path = write(tmp_path, "leads.csv", b"id,name,city\n1,a,b\n2,c\n3,d,e\n")
    error = read_error(path)
    assert str(error) == (
        f"{path}, line 3: expected 3 fields as in the header, found 2; "
        "add or remove fields, and quote each value that contains the delimiter"
    )


def test_csv_unclosed_quote_named(tmp_path):
    error = read_error(write(tmp_path, "leads.csv", b'id,name,city\n1,"a,b\n2,c,d\n3,e,f\n'))
    assert error.line == 2
    assert error.message == (
        "expected 3 fields as in the header, found 2; a double quote on this line is not closed where "
        "it should be, so the lines after it were read into one field. Close or remove the quote"
    )


def test_csv_ragged_row_long(tmp_path):
    data = b'id,name\n1,"a\nb"\n\n2,c,d\n'
    error = read_error(write(tmp_path, "leads.csv", data))
    assert error.line == 5
    assert error.message.startswith("expected 2 fields as in the header, found 3; ")


# --- CSV: rows longer than pyarrow's block -----------------------------------


def test_csv_row_over_first_block(tmp_path):
    # pyarrow's first block is 1 MiB; a row over 2 MiB straddles two block ends.
    note = "B" * 3_000_000
    data = f'email,notes\na@x.co,"{note}"\nb@x.co,short\n'.encode()
    source = read_source(write(tmp_path, "leads.csv", data))
    assert source.table.column("notes").to_pylist() == [note, "short"]
    assert source.line_numbers(1) == ("line", 3)


def test_csv_row_over_limit_named(tmp_path, monkeypatch):
    # The real limit is 64 MiB; a lower one keeps the file small.
    monkeypatch.setattr(files, "MAX_CSV_BLOCK_BYTES", 2**20)
    data = b"email,notes\na@x.co,x\n" + b"b@x.co," + b"B" * 3_000_000 + b"\nc@x.co,y\n"
    path = write(tmp_path, "leads.csv", data)
    assert str(read_error(path)) == (
        f"{path}, line 3, column 'notes': the value is 2.9 MiB, and leadq reads CSV rows of up to 1 MiB; "
        "shorten the value or remove the column from the file"
    )


def test_csv_wide_row_over_limit_named(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "MAX_CSV_BLOCK_BYTES", 2 * 2**20)
    big = "B" * 1_800_000
    data = f"id,a,b,c\n1,x,y,z\n2,{big},{big},{big}\n".encode()
    path = write(tmp_path, "leads.csv", data)
    assert str(read_error(path)) == (
        f"{path}, line 3: the row is 5.1 MiB, and leadq reads CSV rows of up to 2 MiB; "
        "shorten its values or remove columns that hold long text"
    )


def test_csv_line_numbers_after_long_field(tmp_path):
    # Python's csv module limits fields to 131,072 characters by default.
    note = "B" * 200_000
    data = f'id,note\n1,"{note}"\n2,"two\nlines"\n3,x\n'.encode()
    source = read_source(write(tmp_path, "leads.csv", data))
    assert source.line_numbers(2) == ("line", 5)


# --- JSON lines ---------------------------------------------------------------


def test_jsonl_nested_properties(tmp_path):
    data = (
        b'{"lead_id": "L1", "properties": {"plan": "pro", "seats": 5, "tags": ["a"]}}\n'
        b'{"lead_id": "L2", "properties": {"b": null, "a": {"y": 1, "x": 2}}}\n'
        b'{"lead_id": "L3"}\n'
    )
    table = read_table(write(tmp_path, "events.jsonl", data))
    assert table.schema.types == [pa.string(), pa.string()]
    assert table.column("properties").to_pylist() == [
        '{"plan":"pro","seats":5,"tags":["a"]}',
        '{"a":{"x":2,"y":1},"b":null}',
        None,
    ]


def test_jsonl_scalar_types(tmp_path):
    data = (
        b'{"id": 1, "score": 1, "ok": true, "name": "a", "empty": null}\n'
        b'{"id": 2, "score": 2.5, "ok": false, "name": "b", "empty": null}\n'
    )
    table = read_table(write(tmp_path, "leads.ndjson", data))
    assert table.schema.names == ["id", "score", "ok", "name", "empty"]
    assert table.schema.types == [
        pa.int64(),
        pa.float64(),
        pa.bool_(),
        pa.string(),
        pa.string(),
    ]
    assert table.column("score").to_pylist() == [1.0, 2.5]


def test_jsonl_mixed_types_text(tmp_path):
    data = (
        b'{"id": 1, "flag": "yes", "big": 12345678901234567890}\n'
        b'{"id": "L2", "flag": true, "big": 1}\n'
    )
    table = read_table(write(tmp_path, "leads.jsonl", data))
    assert table.column("id").to_pylist() == ["1", "L2"]
    assert table.column("flag").to_pylist() == ["yes", "true"]
    assert table.column("big").to_pylist() == ["12345678901234567890", "1"]


def test_jsonl_nested_and_string_mix(tmp_path):
    data = b'{"p": "text"}\n{"p": {"k": 1}}\n'
    table = read_table(write(tmp_path, "events.jsonl", data))
    assert table.column("p").to_pylist() == ['"text"', '{"k":1}']


def test_jsonl_missing_keys_null(tmp_path):
    data = b'{"a": 1}\n{"b": "x"}\n{"a": 3}\n'
    table = read_table(write(tmp_path, "events.jsonl", data))
    assert table.to_pylist() == [
        {"a": 1, "b": None},
        {"a": None, "b": "x"},
        {"a": 3, "b": None},
    ]


def test_jsonl_bad_line(tmp_path):
    path = write(tmp_path, "events.jsonl", b'{"a": 1}\n{"a": 2\n{"a": 3}\n')
    error = read_error(path)
    assert str(error) == (
        f"{path}, line 2: invalid JSON: Expecting ',' delimiter at column 8; {JSON_LINE_FIX}"
    )


def test_jsonl_unterminated_string(tmp_path):
    error = read_error(write(tmp_path, "events.jsonl", b'{"a": "x}\n'))
    assert error.message == f"invalid JSON: Unterminated string starting at column 7; {JSON_LINE_FIX}"


def test_jsonl_two_objects_one_line(tmp_path):
    error = read_error(write(tmp_path, "events.jsonl", b'{"a": 1}{"a": 2}\n'))
    assert error.message == f"invalid JSON: Extra data at column 9; {JSON_LINE_FIX}"


def test_jsonl_not_object(tmp_path):
    error = read_error(write(tmp_path, "events.jsonl", b'{"a": 1}\n[1, 2]\n'))
    assert error.message == f"expected a JSON object on each line, found an array; {JSON_LINE_FIX}"
    assert error.line == 2


def test_jsonl_json_array_file(tmp_path):
    error = read_error(write(tmp_path, "events.json", b'[{"a": 1}, {"a": 2}]\n'))
    assert error.line == 1
    assert error.message.startswith("expected JSON lines (one object per line)")


def test_jsonl_duplicate_key(tmp_path):
    error = read_error(write(tmp_path, "events.jsonl", b'{"a": 1, "a": 2}\n'))
    assert error.message == "invalid JSON: duplicate key 'a'; write each key once per object"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_jsonl_nan_rejected(tmp_path, constant):
    error = read_error(write(tmp_path, "events.jsonl", f'{{"b": 1, "a": {constant}}}\n'.encode()))
    assert (error.line, error.column) == (1, "a")
    assert error.message == f"the value is {constant}, which is not valid JSON; write a number or null"


@pytest.mark.parametrize(
    ("number", "shown"), [("2.5e308", "2.5e308"), ("-1" + "0" * 309, "-1" + "0" * 35 + "...")]
)
def test_jsonl_beyond_double_rejected(tmp_path, number, shown):
    error = read_error(write(tmp_path, "events.jsonl", f'{{"a": 1}}\n{{"b": "x", "a": {number}}}\n'.encode()))
    assert (error.line, error.column) == (2, "a")
    assert error.message == (
        f"the value is {shown}, a number beyond the range of a double; write numbers between -1.8e308 and 1.8e308"
    )


def test_jsonl_nested_integer_beyond_double(tmp_path):
    error = read_error(write(tmp_path, "events.jsonl", b'{"p": {"n": [3, 1' + b"0" * 400 + b"]}}\n"))
    assert error.column == "p"
    assert error.message.startswith(f"p.n[1] is 1{'0' * 36}..., a number beyond the range of a double")


# Python's int() rejects integers of over 4,300 digits.
LONG_INTEGER = "9" * 5000


@pytest.mark.parametrize(
    ("value", "column", "shown"),
    [
        (LONG_INTEGER, "a", f"the value is {'9' * 37}..."),
        (f'{{"n": [-{LONG_INTEGER}]}}', "p", f"p.n[0] is -{'9' * 36}..."),
    ],
)
def test_jsonl_integer_over_int_limit(tmp_path, value, column, shown):
    line = f'{{"b": "x", "{column}": {value}}}\n'
    error = read_error(write(tmp_path, "events.jsonl", b'{"b": "y"}\n' + line.encode()))
    assert (error.line, error.column) == (2, column)
    assert error.message == (
        f"{shown}, a number beyond the range of a double; write numbers between -1.8e308 and 1.8e308"
    )


def test_jsonl_integer_over_int_limit_then_syntax_error(tmp_path):
    error = read_error(write(tmp_path, "events.jsonl", f'{{"a": {LONG_INTEGER}, oops}}\n'.encode()))
    assert (error.line, error.column) == (1, None)
    assert error.message == f"invalid JSON: Expecting property name enclosed in double quotes at column 5009; {JSON_LINE_FIX}"


NESTING_MESSAGE = (
    "the JSON value is nested too deeply, with objects or arrays more than 32 levels deep; "
    "flatten it to at most 32 levels"
)


def nested_line(levels: int) -> bytes:
    """Return a JSON lines line whose object nests `levels` levels, the line's object counted."""
    return b'{"email": "a@x.co", "p": ' + b"[" * (levels - 1) + b"]" * (levels - 1) + b"}\n"


@pytest.mark.parametrize("line", [b"[" * 100_000 + b"\n", b'{"p": ' * 100_000 + b"\n", nested_line(33)])
def test_jsonl_nested_too_deeply(tmp_path, line):
    path = write(tmp_path, "leads.jsonl", b'{"email": "b@x.co"}\n' + line)
    error = read_error(path)
    assert str(error) == f"{path}, line 2: {NESTING_MESSAGE}"


def test_jsonl_nested_too_deeply_long_integer(tmp_path):
    line = nested_line(33).replace(b'"p": ', f'"n": {LONG_INTEGER}, "p": '.encode())
    error = read_error(write(tmp_path, "leads.jsonl", line))
    assert str(error) == f"{tmp_path / 'leads.jsonl'}, line 1: {NESTING_MESSAGE}"


def test_jsonl_deepest_nesting_read(tmp_path):
    table = read_table(write(tmp_path, "leads.jsonl", nested_line(32)))
    assert table.column("p").to_pylist() == ["[" * 31 + "]" * 31]


def test_jsonl_surrogate_in_field(tmp_path):
    path = write(tmp_path, "leads.jsonl", b'{"email": "a@x.co"}\n{"email": "s@x.co", "title": "\\udc00CEO"}\n')
    error = read_error(path)
    assert str(error) == (
        f"{path}, line 2, column 'title': the value '\\udc00CEO' contains an unpaired "
        f"UTF-16 surrogate (\\udc00), {SURROGATE_FIX}"
    )


@pytest.mark.parametrize(
    ("line", "column", "message"),
    [
        (b'{"p": {"url": "\\ud800"}}', "p", "p.url '\\ud800' contains an unpaired UTF-16 surrogate (\\ud800)"),
        (b'{"p": {"\\ud800x": 1}}', "p", "a key of p '\\ud800x' contains an unpaired UTF-16 surrogate (\\ud800)"),
        (b'{"tags": ["ok", "a\\udfffb"]}', "tags", "tags[1] 'a\\udfffb' contains an unpaired UTF-16 surrogate (\\udfff)"),
        (b'{"\\udc00": 1}', None, "the key '\\udc00' contains an unpaired UTF-16 surrogate (\\udc00)"),
    ],
)  # fmt: skip
def test_jsonl_surrogate_anywhere(tmp_path, line, column, message):
    error = read_error(write(tmp_path, "events.jsonl", line + b"\n"))
    assert error.line == 1
    assert error.column == column
    assert error.message == f"{message}, {SURROGATE_FIX}"


def test_jsonl_surrogate_pair_read(tmp_path):
    table = read_table(write(tmp_path, "events.jsonl", b'{"a": "\\ud83d\\ude00", "p": {"b": "\\ud83d\\ude00"}}\n'))
    assert table.column("a").to_pylist() == ["\U0001f600"]
    assert table.column("p").to_pylist() == ['{"b":"\\ud83d\\ude00"}']


def test_jsonl_surrogate_from_codec(tmp_path):
    # UTF-7 decodes +2AA- to U+D800 without any JSON escape.
    error = read_error(write(tmp_path, "events.jsonl", b'{"a": "x+2AA-"}\n'), encoding="utf-7")
    assert error.column == "a"
    assert error.message == f"the value 'x\\ud800' contains an unpaired UTF-16 surrogate (\\ud800), {SURROGATE_FIX}"


def test_jsonl_nested_infinity_path(tmp_path):
    error = read_error(write(tmp_path, "events.jsonl", b'{"p": {"x": [1, {"y": -1e400}]}}\n'))
    assert error.column == "p"
    assert error.message == (
        "p.x[1].y is -1e400, a number beyond the range of a double; write numbers between -1.8e308 and 1.8e308"
    )


def test_jsonl_nested_nan_path(tmp_path):
    error = read_error(write(tmp_path, "events.jsonl", b'{"p": {"x": 1, "y": [NaN]}}\n'))
    assert error.column == "p"
    assert error.message == "p.y[0] is NaN, which is not valid JSON; write a number or null"


def test_jsonl_large_numbers_kept(tmp_path):
    big = "17" + "0" * 307
    data = f'{{"a": 1.7e308, "p": {{"big": {big}, "small": 1e-400}}, "note": "{"1" * 400}"}}\n'
    source = read_source(write(tmp_path, "events.jsonl", data.encode()))
    assert source.table.column("a").to_pylist() == [1.7e308]
    assert source.table.column("p").to_pylist() == [f'{{"big":{big},"small":0.0}}']


def test_jsonl_skip_invalid_lines(tmp_path):
    data = (
        b'{"a": 1}\n'
        b"not json\n"
        b"\n"
        b'{"a": 2, "a": 3}\n'
        b'{"a": 4, "b": "\\udc00"}\n'
        b'{"a": 5, "p": {"n": 1e400}}\n'
        b"[1, 2]\n"
        b'{"a": 6}\n'
        b'{"a": 7, "": 1}\n'
        b'{"a": 8, " a ": 9}\n'
    )
    source = read_source(write(tmp_path, "events.jsonl", data), skip_invalid_lines=True)
    assert source.table.column_names == ["a"]
    assert source.table.column("a").to_pylist() == [1, 6]
    assert source.line_numbers(1) == ("line", 8)
    skipped = [(error.line, error.column, error.message.split(";")[0]) for error in source.skipped_lines]
    assert skipped == [
        (2, None, "invalid JSON: Expecting value at column 1"),
        (4, None, "invalid JSON: duplicate key 'a'"),
        (5, "b", "the value '\\udc00' contains an unpaired UTF-16 surrogate (\\udc00), which is not valid Unicode text"),
        (6, "p", "p.n is 1e400, a number beyond the range of a double"),
        (7, None, "expected a JSON object on each line, found an array"),
        (9, None, "the key '' is blank"),
        (10, None, "the keys 'a' and ' a ' name one column once surrounding spaces are trimmed"),
    ]


def test_jsonl_skip_every_line(tmp_path):
    source = read_source(write(tmp_path, "events.jsonl", b"{\n{\n"), skip_invalid_lines=True)
    assert source.table.num_rows == 0
    assert [error.line for error in source.skipped_lines] == [1, 2]


def test_jsonl_skip_keeps_file_errors(tmp_path):
    path = write(tmp_path, "events.json", b'[{"a": 1}]\n')
    error = read_error(path, skip_invalid_lines=True)
    assert error.message.startswith("expected JSON lines (one object per line) but the file starts with a JSON array")


def test_jsonl_padded_key_same_column(tmp_path):
    source = read_source(write(tmp_path, "events.jsonl", b'{"a": 1}\n{" a": 2, "b ": 3}\n{"b": 4}\n'))
    assert source.table.column_names == ["a", "b"]
    assert source.table.column("a").to_pylist() == [1, 2, None]
    assert source.table.column("b").to_pylist() == [None, 3, 4]


@pytest.mark.parametrize("key", ["", "  "])
def test_jsonl_blank_key_rejected(tmp_path, key):
    path = write(tmp_path, "leads.jsonl", f'{{"email": "a@x.co"}}\n{{"email": "b@x.co", "{key}": 1}}\n'.encode())
    error = read_error(path)
    assert str(error) == f"""{path}, line 2: the key '{key}' is blank; name the field, such as "title", or remove the key"""


def test_jsonl_keys_equal_once_trimmed(tmp_path):
    path = write(tmp_path, "leads.jsonl", b'{"email": "a@x.co", "title": "CEO", " title ": "CTO"}\n')
    error = read_error(path)
    assert str(error) == (
        f"{path}, line 1: the keys 'title' and ' title ' name one column once surrounding spaces "
        "are trimmed; write each key once per object"
    )


def test_jsonl_blank_lines_and_crlf(tmp_path):
    data = b'\xef\xbb\xbf{"a": 1}\r\n\r\n{"a": 2}\r\n   \n{"a": 3}'
    source = read_source(write(tmp_path, "events.jsonl", data))
    assert source.table.column("a").to_pylist() == [1, 2, 3]
    assert source.line_numbers(0) == ("line", 1)
    assert source.line_numbers(1) == ("line", 3)
    assert source.line_numbers(2) == ("line", 5)
    assert source.format == "jsonl"


def test_jsonl_line_numbers_no_blanks(tmp_path):
    source = read_source(write(tmp_path, "events.jsonl", b'{"a": 1}\n{"a": 2}\n'))
    assert source.line_numbers(1) == ("line", 2)


def test_jsonl_invalid_utf8(tmp_path):
    data = b'{"a": "x"}\n{"a": "M\xfcller"}\n'
    error = read_error(write(tmp_path, "events.jsonl", data))
    assert error.line == 2
    assert error.message == (
        "the file is not valid UTF-8 (byte 0xFC); "
        "name the encoding with --encoding, for example --encoding cp1252"
    )


def test_jsonl_blank_lines_only(tmp_path):
    error = read_error(write(tmp_path, "events.jsonl", b"\n\n"))
    assert error.message == "the file is empty: it has no JSON objects"


# --- Parquet ------------------------------------------------------------------


def test_parquet_round_trip(tmp_path):
    table = pa.table(
        {
            "lead_id": pa.array(["L1", "L2"]),
            "seats": pa.array([5, None], pa.int64()),
            "occurred_at": pa.array([0, 1_000_000], pa.timestamp("us", "UTC")),
        }
    )
    path = tmp_path / "events.parquet"
    pq.write_table(table, path)
    source = read_source(path)
    assert isinstance(source, SourceTable)
    assert source.table.equals(table)
    assert source.format == "parquet"
    assert source.line_numbers(0) == ("row", 1)
    assert source.position(4) == {"row": 5}


def test_parquet_names_stripped(tmp_path):
    path = tmp_path / "leads.pq"
    pq.write_table(pa.table({" id ": [1]}), path)
    assert read_table(path).column_names == ["id"]


def test_parquet_invalid_file(tmp_path):
    error = read_error(write(tmp_path, "leads.parquet", b"id,name\n1,a\n"))
    assert error.message.startswith("not a valid Parquet file: ")


def test_semicolon_in_quoted_header(tmp_path):
    path = tmp_path / "utm.csv"
    path.write_text('email,"UTM; source; medium"\na@b.example,google\n', encoding="utf-8")
    table = read_table(path)
    assert table.column_names == ["email", "UTM; source; medium"]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-32-be"])
def test_marked_unicode_needs_encoding(tmp_path, encoding):
    path = tmp_path / "marked.csv"
    text = "email,x\na@b.example,1\n"
    if encoding.endswith("-be"):
        text = "\ufeff" + text
    path.write_bytes(text.encode(encoding))
    family = encoding.removesuffix("-be").upper()
    with pytest.raises(InputError) as caught:
        read_table(path)
    assert str(caught.value) == (
        f"{path}, line 1: the file is {family} text (it starts with a {family} byte order "
        f"mark), not UTF-8; name the encoding with --encoding {family.lower()}"
    )
    assert read_table(path, encoding=family.lower()).num_rows == 1
