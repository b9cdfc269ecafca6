"""Tests for crime analytics."""
