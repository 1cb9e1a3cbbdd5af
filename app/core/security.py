"""Passwords (Argon2id), access tokens (signed JWT) and API keys (random, stored hashed)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# RFC 9106's second recommended option (memory-constrained): Argon2id, t=3, m=64 MiB, p=4.
_hasher = PasswordHasher(
    time_cost=3, memory_cost=64 * 1024, parallelism=4, hash_len=32, salt_len=16
)
# Verified against when the user does not exist, so a wrong username costs as much time as
# a wrong password and does not reveal which usernames exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

API_KEY_PREFIX = "clk_"
TOKEN_ALGORITHM = "HS256"  # noqa: S105 - an algorithm name, not a secret


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_api_key() -> str:
    """A new API key: `clk_` and 32 random bytes, URL-safe. Shown once, stored hashed."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    # A 256-bit random key needs no slow hash: SHA-256 cannot be reversed or guessed.
    return hashlib.sha256(key.encode()).hexdigest()


def issue_access_token(
    secret: str, *, user_id: uuid.UUID, organisation_id: uuid.UUID, role: str, minutes: int
) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "org": str(organisation_id),
        "role": role,
        "iat": now,
        "exp": now + timedelta(minutes=minutes),
        "typ": "access",
    }
    return jwt.encode(claims, secret, algorithm=TOKEN_ALGORITHM)


def read_access_token(secret: str, token: str) -> dict[str, Any] | None:
    """The token's claims if it is genuine and unexpired, else None."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[TOKEN_ALGORITHM],
            options={"require": ["exp", "sub", "org", "typ"]},
        )
    except jwt.PyJWTError:
        return None
    return claims if claims.get("typ") == "access" else None
