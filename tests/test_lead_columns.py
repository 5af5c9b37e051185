"""Matching a leads file's column names to the model's `columns:` and fields."""

from __future__ import annotations

from leadq.lead_columns import lead_columns, match_names


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
