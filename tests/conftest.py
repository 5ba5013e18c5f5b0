"""Shared fixtures: see tests/factories.py and tests/personas.py."""
