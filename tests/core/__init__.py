"""Tests of the pure domain package ``core``."""
