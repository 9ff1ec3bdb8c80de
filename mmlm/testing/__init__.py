"""Shared test helpers: one place for the checks every layer, preprocessor and model gets."""

from mmlm.testing.test_case import TestCase

__all__ = ["TestCase"]
