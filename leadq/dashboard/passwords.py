"""Password hashes with scrypt from the standard library (RFC 7914).

A hash is stored as `scrypt$N$r$p$SALT$KEY` with the salt and key in
URL-safe base64, so the cost can rise later without breaking old hashes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# N=2**14, r=8, p=1 uses 16 MiB of memory per hash, the cost that RFC 7914
# section 2 suggests for interactive sign-in.
COST = 2**14
BLOCK_SIZE = 8
PARALLELISM = 1
KEY_LENGTH = 32
MIN_PASSWORD_LENGTH = 12


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    key = _derive(password, salt, COST, BLOCK_SIZE, PARALLELISM)
    return "$".join(
        ["scrypt", str(COST), str(BLOCK_SIZE), str(PARALLELISM), _b64(salt), _b64(key)]
    )


def verify_password(password: str, stored: str) -> bool:
    """Check a password against a stored hash; a malformed hash matches nothing."""
    try:
        scheme, cost, block_size, parallelism, salt, key = stored.split("$")
        expected = base64.urlsafe_b64decode(key)
        derived = _derive(
            password,
            base64.urlsafe_b64decode(salt),
            int(cost),
            int(block_size),
            int(parallelism),
        )
    except ValueError:
        return False
    return scheme == "scrypt" and hmac.compare_digest(derived, expected)


def password_problem(password: str) -> str | None:
    """Return why a new password is too weak, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return (
            f"is {len(password)} characters long; use at least "
            f"{MIN_PASSWORD_LENGTH} characters"
        )
    return None


def _derive(
    password: str, salt: bytes, cost: int, block_size: int, parallelism: int
) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=cost,
        r=block_size,
        p=parallelism,
        maxmem=2 * 128 * cost * block_size,
        dklen=KEY_LENGTH,
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")
