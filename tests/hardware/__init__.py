"""Tests of the device libraries."""
