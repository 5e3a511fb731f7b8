"""Refusal tests assert which refusal it was: its code, not only that something was refused
(a bare ``pytest.raises(DomainError)`` passes on any refusal, including the wrong one)."""

from __future__ import annotations

import re
from contextlib import contextmanager

import pytest

from mes.errors import DomainError


@contextmanager
def refused(code: str, *, match: str | None = None, field: str | None = None):
    """``with refused("reason_required", field="reason"): service(...)``"""
    with pytest.raises(DomainError) as info:
        yield info
    error = info.value
    assert error.code == code, f"refused with code {error.code!r} ({error.message}), not {code!r}"
    if match is not None:
        assert re.search(match, error.message), f"{error.message!r} does not match {match!r}"
    if field is not None:
        assert field in error.fields, f"the refusal names {sorted(error.fields)}, not {field!r}"
