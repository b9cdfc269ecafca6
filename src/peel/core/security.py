"""Secrets: Argon2 password hashes, random tokens stored as SHA-256, TOTP, CSRF tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()

# A valid hash of a random password, checked when the email is unknown so that
# the response time does not reveal which accounts exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def use_fast_password_hashing_for_tests() -> None:
    """Cheap Argon2 parameters so test suites can create many users; never in production."""
    global _hasher, _DUMMY_HASH
    _hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    _DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


MIN_PASSWORD_LENGTH = 12


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password in constant work whether or not the account exists."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_problem(password: str) -> str | None:
    """Why a new password is unacceptable, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Password must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > 1024:
        return "Password must be at most 1024 characters"
    return None


def token_digest(token: str) -> str:
    """Tokens are long and random, so a plain SHA-256 is a safe way to store them."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


def new_api_token() -> tuple[str, str]:
    """A bearer token ``peel_<prefix>_<secret>`` and its look-up prefix."""
    prefix = secrets.token_hex(6)
    return f"peel_{prefix}_{secrets.token_urlsafe(32)}", prefix


def api_token_prefix(token: str) -> str | None:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "peel" or len(parts[1]) != 12:
        return None
    return parts[1]


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name="Peel")


def verify_totp(secret: str, code: str) -> bool:
    """Accept the current code and one step either side, for clock drift."""
    code = code.strip().replace(" ", "")
    if not code.isdigit() or len(code) != 6:
        return False
    return pyotp.TOTP(secret).verify(code, valid_window=1)


def csrf_token_for(secret_key: str, nonce: str) -> str:
    """The form token bound to the browser's CSRF cookie nonce."""
    return hmac.new(secret_key.encode(), b"csrf:" + nonce.encode(), hashlib.sha256).hexdigest()


def csrf_valid(secret_key: str, nonce: str | None, submitted: str | None) -> bool:
    if not nonce or not submitted:
        return False
    return constant_time_equal(csrf_token_for(secret_key, nonce), submitted)
