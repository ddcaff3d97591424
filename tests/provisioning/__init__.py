"""Tests of the technician's provisioning tools."""
