"""Checks over every template of ours that the template engine does not make itself."""

import re
from pathlib import Path

import pytest
from django.conf import settings

OURS = ["templates", "mes", "training", "reagents", "deviations", "custody", "scheduling",
        "batchrecords"]


def _templates():
    for top in OURS:
        yield from (Path(settings.BASE_DIR) / top).rglob("*.html")


@pytest.mark.req("UI-TPL-001")
def test_no_template_has_a_comment_the_engine_would_print():
    # Django's {# #} comment must open and close on one line; one spanning lines is printed
    # on the page as text (it happened once in base.html).
    spanning = {}
    for path in _templates():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for opened in re.finditer(r"\{#", line):
                if "#}" not in line[opened.end():]:
                    spanning.setdefault(str(path.relative_to(settings.BASE_DIR)), []).append(number)
    assert spanning == {}
