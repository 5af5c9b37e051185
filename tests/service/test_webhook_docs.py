"""docs/webhooks.md: its receiver example verifies, its settings match the code."""

from __future__ import annotations

import json
import re
import time
from dataclasses import fields
from pathlib import Path
from types import SimpleNamespace

import pytest

from leadq.service.delivery import ENVIRONMENT, SETTINGS, DeliverySettings
from leadq.service.identity import Merge
from leadq.service.merge_rescoring import merged_payload
from leadq.service.signing import SignatureError, signed_headers, verify
from leadq.service.webhooks import EVENT_TYPES, TEST_EVENT_TYPE

DOCS = Path(__file__).parents[2] / "docs" / "webhooks.md"
SECRET = "whsec_docs-example-secret-0123456789"
BODY = b'{"data":{},"id":"d-1","type":"lead.created"}'


@pytest.fixture(scope="module")
def example_verify():
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    namespace: dict = {}
    exec(compile(blocks[0], str(DOCS), "exec"), namespace)
    return namespace["verify"]


def headers_at(timestamp: int) -> dict[str, str]:
    return signed_headers(SECRET, "d-1", "lead.created", BODY, timestamp)


def test_example_accepts_signed_request(example_verify):
    assert example_verify(SECRET, headers_at(int(time.time())), BODY)


def test_example_rejects_tampered_body(example_verify):
    assert not example_verify(SECRET, headers_at(int(time.time())), BODY + b" ")


def test_example_rejects_stale_timestamp(example_verify):
    assert not example_verify(SECRET, headers_at(int(time.time()) - 301), BODY)


def test_library_verify_as_documented():
    # The docs warn that the library's verify returns None and raises,
    # unlike the example, so `if not verify(...)` rejects valid webhooks.
    assert verify(SECRET, headers_at(int(time.time())), BODY) is None
    with pytest.raises(SignatureError):
        verify(SECRET, headers_at(int(time.time())), BODY + b" ")
    assert "so `if not verify(...)` would reject every valid webhook" in " ".join(
        DOCS.read_text(encoding="utf-8").split()
    )


def test_settings_documented_with_defaults():
    text = DOCS.read_text(encoding="utf-8")
    defaults = DeliverySettings()
    for setting in SETTINGS:
        default = getattr(defaults, setting.field)
        row = f"| `{setting.variable}` | {default:g} |"
        assert row in text, setting.variable


def test_every_setting_has_variable():
    assert set(ENVIRONMENT) == {field.name for field in fields(DeliverySettings)}


def documented_payloads() -> dict[str, dict]:
    """Return the `data` example of each event type in the Payloads section."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Payloads", 1)[1].split("\n## ", 1)[0]
    examples = re.findall(r"^`([a-z_.]+)`:\n\n```json\n(.*?)```", section, re.S | re.M)
    return {event_type: json.loads(example) for event_type, example in examples}


def test_every_event_type_has_payload():
    assert set(documented_payloads()) == {*EVENT_TYPES, TEST_EVENT_TYPE}


def test_merged_payload_matches_code():
    merge_record = Merge(42, "u-1001", "ann@acme.example", 57, "u-2002", "ann.smith@acme.example")
    survivor = SimpleNamespace(
        merged_into=None, stage="sql", stage_rule="sql: total >= 80", grade="A",
        fit=80.0, engagement=35.0, product=0.0, total=115.0,
    )  # fmt: skip
    model = SimpleNamespace(name="Default B2B software model", version=2)
    built = merged_payload(merge_record, survivor, None, SimpleNamespace(id=3, model=model))
    assert documented_payloads()["lead.merged"] == built
