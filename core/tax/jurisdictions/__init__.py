"""Jurisdiction files shipped with Mostrador, one TOML file per jurisdiction id (see docs/taxes.md)."""
