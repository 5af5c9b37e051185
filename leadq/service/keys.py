"""API keys: write keys send events, read keys read leads, admin keys manage.

A key is shown once, when it is created; the store keeps its SHA-256 hash.
Tracking requests authenticate as Segment's do, with HTTP Basic and the key
as the user name; the leads API also accepts `Authorization: Bearer KEY`.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import Connection, insert, select, update

from leadq.errors import LeadqError, OptionError
from leadq.service.errors import ApiError
from leadq.store.database import now_micros
from leadq.store.tables import api_keys
from leadq.store.value_lists import in_list

KINDS = ("write", "read", "admin")
PREFIXES = {"write": "lqw_", "read": "lqr_", "admin": "lqa_"}
# The longest unsupported Authorization scheme that a 401 message names;
# registered schemes, such as Negotiate and Digest, are far shorter.
MAX_SCHEME_LENGTH = 20
# The maximum length of a key name, in characters: enough to say what a
# key is for, and short enough to list keys one a line.
MAX_NAME_LENGTH = 200
# Scopes of each kind of key. Write keys cannot read and read keys cannot
# write; an admin key manages keys, webhooks, models and leads, and reads.
# Write and admin keys record qualifications.
SCOPES = {
    "write": {"track", "qualify"},
    "read": {"read"},
    "admin": {"read", "manage", "qualify"},
}


@dataclass(frozen=True)
class ApiKey:
    id: int
    kind: str
    name: str


def create_key(connection: Connection, kind: str, name: str) -> str:
    check_new_key(kind, name)
    key = PREFIXES[kind] + secrets.token_urlsafe(24)
    connection.execute(
        insert(api_keys).values(
            kind=kind,
            name=name,
            key_hash=key_hash(key),
            prefix=key[:8],
            created_at=now_micros(),
        )
    )
    return key


def check_new_key(kind: str, name: str) -> None:
    """Raise OptionError unless a key of this kind and name can be created."""
    if kind not in KINDS:
        raise OptionError(f"unknown key kind {kind!r}; expected one of {', '.join(KINDS)}")
    if not name.isprintable():
        raise OptionError(
            f"invalid key name {name!r}: it contains a control character such as a "
            "newline or tab; use a name of printable characters"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise OptionError(
            f"the key name is {len(name)} characters long; use a name of at most "
            f"{MAX_NAME_LENGTH} characters"
        )


@dataclass(frozen=True)
class StoredKey:
    """A key as the store keeps it: its first characters, never the secret."""

    id: int
    kind: str
    name: str
    prefix: str
    created_at: int
    revoked_at: int | None


class KeyNotFound(LeadqError):
    """No unrevoked API key has the id given."""

    exit_code = 2

    def __init__(self, key_id: int) -> None:
        super().__init__(f"no active API key has id {key_id}; `leadq keys list` shows the ids")
        self.key_id = key_id


class KeyAlreadyRevoked(LeadqError):
    """A request to revoke a key that is revoked already."""

    exit_code = 2

    def __init__(self, key_id: int, revoked_at: str) -> None:
        super().__init__(
            f"API key {key_id} was already revoked at {revoked_at}; `leadq keys list` shows the active keys"
        )
        self.key_id = key_id


def revoked_time(connection: Connection, key_id: int) -> int | None:
    """Return when the key with `key_id` was revoked, or None when it is active or missing."""
    query = select(api_keys.c.revoked_at).where(api_keys.c.id == key_id)
    return connection.execute(query).scalar_one_or_none()


def list_keys(connection: Connection) -> list[StoredKey]:
    """Return every key, revoked ones too, newest first."""
    query = select(
        api_keys.c.id,
        api_keys.c.kind,
        api_keys.c.name,
        api_keys.c.prefix,
        api_keys.c.created_at,
        api_keys.c.revoked_at,
    ).order_by(api_keys.c.id.desc())
    return [StoredKey(*row) for row in connection.execute(query)]


def revoke_key(connection: Connection, key_id: int, now: int) -> bool:
    """Revoke a key; requests with it fail from now on.

    Returns False when no unrevoked key has the id.
    """
    revoked = connection.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    ).rowcount
    return bool(revoked)


def find_key(connection: Connection, key: str) -> ApiKey | None:
    row = connection.execute(
        select(api_keys.c.id, api_keys.c.kind, api_keys.c.name).where(
            api_keys.c.key_hash == key_hash(key), api_keys.c.revoked_at.is_(None)
        )
    ).first()
    return ApiKey(row.id, row.kind, row.name) if row else None


_ACTIVE_HASHES = select(api_keys.c.key_hash).where(
    in_list(api_keys.c.key_hash, "hashes"), api_keys.c.revoked_at.is_(None)
)


def active_key_hashes(connection: Connection, hashes) -> set[str]:
    """Return the hashes, of those given, whose keys exist and are not revoked."""
    if not hashes:
        return set()
    return set(connection.execute(_ACTIVE_HASHES, {"hashes": sorted(hashes)}).scalars())


def presented_key(request: Request) -> str | None:
    """Return the key from `Authorization: Basic` (user name) or `Bearer`.

    Returns None without an Authorization header, or with an empty one.
    Raises a 401 `invalid_authorization` when a header names no key: another
    scheme, Basic or Bearer with nothing after it, Basic credentials that are
    not base64 of UTF-8 text, or an empty Basic user name.
    """
    header = request.headers.get("authorization", "").strip()
    if not header:
        return None
    scheme, _, credentials = header.partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer":
        return _bearer_token(credentials)
    if scheme.lower() == "basic":
        return _basic_user_name(credentials)
    raise _invalid_authorization(_unsupported_scheme_message(scheme))


def _unsupported_scheme_message(scheme: str) -> str:
    """Name the scheme only if it is a short word of ASCII letters.

    Anything else may be a credential sent without a scheme, such as a key
    alone, and a response must not echo it.
    """
    fix = (
        "send `Authorization: Bearer KEY`, or the key as HTTP Basic user name "
        "(curl -u KEY: does this)"
    )
    if scheme.isascii() and scheme.isalpha() and len(scheme) <= MAX_SCHEME_LENGTH:
        return f"the Authorization scheme {scheme!r} is not supported; {fix}"
    return f"the Authorization header has no scheme; {fix}"


def _bearer_token(credentials: str) -> str:
    if not credentials:
        raise _invalid_authorization(
            "the Authorization header has the Bearer scheme but no token; "
            "send `Authorization: Bearer KEY`"
        )
    return credentials


def _basic_user_name(credentials: str) -> str:
    fix = "send base64 of `KEY:` (curl -u KEY: does this)"
    if not credentials:
        raise _invalid_authorization(
            f"the Authorization header has the Basic scheme but no credentials; {fix}"
        )
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        # binascii.Error is a ValueError, and so is text outside ASCII.
        raise _invalid_authorization(
            "the Basic credentials of the Authorization header are not base64 of "
            f"UTF-8 text; {fix}"
        ) from None
    user_name = decoded.partition(":")[0]
    if not user_name:
        raise _invalid_authorization(
            "the Basic credentials of the Authorization header have an empty user "
            f"name, and the key is the user name; {fix}"
        )
    return user_name


def _invalid_authorization(message: str) -> ApiError:
    return ApiError(401, "invalid_authorization", message)


def required_key(request: Request) -> str:
    """Return the presented key, or raise a 401 that explains how to send one."""
    key = presented_key(request)
    if key is None:
        raise ApiError(
            401,
            "missing_key",
            "send an API key: HTTP Basic with the key as user name, or "
            "`Authorization: Bearer KEY`; `leadq keys create` makes one",
        )
    return key


def unknown_key_error() -> ApiError:
    return ApiError(401, "unknown_key", "the API key is unknown or revoked")


def authorize(request: Request, scope: str) -> ApiKey:
    key = required_key(request)
    with request.app.state.store.read() as connection:
        found = find_key(connection, key)
    if found is None:
        raise unknown_key_error()
    if scope not in SCOPES[found.kind]:
        raise ApiError(
            403,
            "wrong_key_kind",
            f"{_with_article(found.kind)} key cannot {_verb(scope)}; use "
            f"{_with_article(_kinds_with(scope))} key",
        )
    return found


def _verb(scope: str) -> str:
    verbs = {
        "track": "send events",
        "read": "read leads",
        "manage": "manage the service",
        "qualify": "record qualifications",
    }
    return verbs[scope]


def _kinds_with(scope: str) -> str:
    return " or ".join(kind for kind in KINDS if scope in SCOPES[kind])


def _with_article(words: str) -> str:
    return f"an {words}" if words[0] in "aeiou" else f"a {words}"


def key_hash(key: str) -> str:
    """Return the SHA-256 hash under which the store keeps a key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
