"""Peel: one trusted, audited place for police forces and partner agencies to share data."""

__version__ = "0.1.0"
