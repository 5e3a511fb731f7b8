"""Cheap building blocks for pages that show many rows.

A dense table renders 50 rows of 6 to 10 cells. Done with ``{% url %}`` and chains of filters
per cell, the template engine spends most of the page's time resolving names and reversing the
same URL pattern again and again (issue 10's profiles: a third of the deviation board's time
was ``reverse``). Views of such tables prepare each row's values once, in Python, with these
helpers, and their templates print plain attributes.
"""

from __future__ import annotations

import functools

from django.urls import get_script_prefix, reverse

_SENTINEL = 2_147_483_647  # an integer no primary key of ours reaches; used to split a URL


@functools.lru_cache(maxsize=512)
def _url_parts(name: str, prefix: str) -> tuple[str, str] | None:
    url = reverse(name, args=[_SENTINEL])
    head, sep, tail = url.partition(str(_SENTINEL))
    if not sep or str(_SENTINEL) in tail:
        return None
    return head, tail


def row_url(name: str, pk: int) -> str:
    """``reverse(name, args=[pk])`` for a URL with one integer argument, reversed once per
    process and pattern instead of once per row (the result is identical)."""
    parts = _url_parts(name, get_script_prefix())
    if parts is None:
        return reverse(name, args=[pk])
    return f"{parts[0]}{int(pk)}{parts[1]}"
