"""Mostrador test suite."""
