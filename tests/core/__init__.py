"""Tests for the shared core."""
