"""Kernel-only fixtures live here; the shared ones are in tests/conftest.py."""
