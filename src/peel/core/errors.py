"""Errors that service code raises and every interface turns into a clear message."""

from __future__ import annotations


class InvalidInput(ValueError):
    """One or more fields are wrong; ``errors`` maps each field to what was expected."""

    def __init__(self, errors: dict[str, str], title: str = "The request has invalid fields"):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors
        self.title = title


class Conflict(InvalidInput):
    """The input is well-formed but clashes with what is stored (a duplicate, say)."""


class TooManyAttempts(RuntimeError):
    def __init__(self, retry_after_seconds: int) -> None:
        minutes = max(1, round(retry_after_seconds / 60))
        super().__init__(
            f"Too many failed sign-in attempts. Try again in {minutes} minute"
            + ("s" if minutes != 1 else "")
        )
        self.retry_after_seconds = retry_after_seconds
