"""Webhook signatures: sign, verify, tampering and stale timestamps."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from leadq.service.signing import SignatureError, sign, signed_headers, verify

SECRET = "whsec_signing-test-secret-0123456789"
BODY = b'{"data":{"lead_id":7},"id":"d-1","type":"lead.stage_changed"}'
NOW = 1_800_000_000


def headers(body: bytes = BODY, timestamp: int = NOW) -> dict[str, str]:
    return signed_headers(SECRET, "d-1", "lead.stage_changed", body, timestamp)


def test_sign_matches_hmac():
    expected = hmac.new(
        SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256
    ).hexdigest()
    assert sign(SECRET, NOW, BODY) == f"v1={expected}"


def test_signed_headers_carry_ids():
    sent = headers()
    assert sent["leadq-delivery-id"] == "d-1"
    assert sent["leadq-event-type"] == "lead.stage_changed"
    assert sent["leadq-timestamp"] == str(NOW)
    assert sent["leadq-signature"] == sign(SECRET, NOW, BODY)


def test_verify_accepts_authentic_request():
    verify(SECRET, headers(), BODY, now=NOW + 10)


def test_verify_text_body_any_case():
    mixed = {name.title(): value for name, value in headers().items()}
    verify(SECRET, mixed, BODY.decode(), now=NOW)


def test_verify_rejects_tampered_body():
    tampered = BODY.replace(b"7", b"8")
    with pytest.raises(
        SignatureError, match="no v1 signature in leadq-signature matches"
    ):
        verify(SECRET, headers(), tampered, now=NOW)


def test_verify_rejects_wrong_secret():
    with pytest.raises(SignatureError, match="matches the body"):
        verify(SECRET + "x", headers(), BODY, now=NOW)


def test_verify_rejects_stale_timestamp():
    with pytest.raises(SignatureError, match="is 301 s old; at most 300 s"):
        verify(SECRET, headers(), BODY, now=NOW + 301)


def test_verify_rejects_future_timestamp():
    with pytest.raises(SignatureError, match="in the future"):
        verify(SECRET, headers(), BODY, tolerance_seconds=60, now=NOW - 61)


def test_verify_rejects_replayed_signature():
    replayed = headers() | {"leadq-timestamp": str(NOW + 400)}
    with pytest.raises(SignatureError, match="matches the body"):
        verify(SECRET, replayed, BODY, now=NOW + 400)


def test_verify_accepts_one_of_several_signatures():
    both = headers() | {"leadq-signature": f"v1={'0' * 64}, {sign(SECRET, NOW, BODY)}"}
    verify(SECRET, both, BODY, now=NOW)


@pytest.mark.parametrize(
    ("changed", "message"),
    [
        ({"leadq-timestamp": None}, "missing header leadq-timestamp"),
        ({"leadq-signature": None}, "missing header leadq-signature"),
        (
            {"leadq-timestamp": "soon"},
            "leadq-timestamp must be unix seconds, got 'soon'",
        ),
        ({"leadq-signature": "v0=abc"}, "leadq-signature has no v1= value"),
    ],
)
def test_verify_rejects_malformed_headers(changed, message):
    sent = {
        name: value
        for name, value in (headers() | changed).items()
        if value is not None
    }
    with pytest.raises(SignatureError) as raised:
        verify(SECRET, sent, BODY, now=NOW)
    assert str(raised.value) == message
