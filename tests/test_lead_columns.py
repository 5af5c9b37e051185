"""Matching a leads file's column names and stored attribute names to the model's `columns:` and fields."""

from __future__ import annotations

from leadq.lead_columns import AttributeFields, lead_columns, match_names


def test_names_match_any_case():
    assert match_names([" Title ", "EMAIL", "plan"], {"title", "email"}) == {" Title ": "title", "EMAIL": "email"}


def test_equal_name_chosen_among_cases():
    assert match_names(["title", "TITLE"], {"title", "Title"}) == {"title": "title"}


def test_case_variants_both_match():
    assert match_names(["Title", "title"], {"title"}) == {"Title": "title", "title": "title"}


def test_absent_mapped_column():
    columns = lead_columns(["email", "Title"], {"title": "job_title", "company_size": "employees"})
    assert columns.fields == {"email": "email", "Title": "job_title"}
    assert columns.absent == {"company_size": "employees"}
    assert columns.column_of("job_title") == "Title"
    assert columns.column_of("employees") == "company_size"
    assert columns.column_of("industry") == "industry"


def test_attribute_fields_columns_then_fields():
    names = AttributeFields({"Job Title": "job_title", "title": "role"}, ["title", "industry"])
    assert names.field_of("job title") == "job_title"
    assert names.field_of(" TITLE ") == "role"
    assert names.field_of("Industry") == "industry"
    assert names.field_of("Plan") == "Plan"


def test_attribute_fields_ambiguous_name_kept():
    names = AttributeFields({}, ["title", "Title"])
    assert names.field_of("TITLE") == "TITLE"
    assert names.field_of("Title") == "Title"
