"""A newcomer finds every demo login in the README, with its role and sites."""

import re
from pathlib import Path

import pytest
from django.conf import settings

from mes import demo

pytestmark = pytest.mark.req("FND-RUN-006")


def test_the_readme_lists_every_demo_login_with_its_role():
    readme = (Path(settings.BASE_DIR) / "README.md").read_text(encoding="utf-8")
    rows = {m.group(1): m.group(2) for m in
            re.finditer(r"^\| `([a-z0-9-]+)` \| ([A-Za-z ]+) \|", readme, re.MULTILINE)}

    assert {username: role for username, _, role, _ in demo.PEOPLE} == {
        username: rows.get(username) for username, _, _, _ in demo.PEOPLE}
    assert demo.DEMO_PASSWORD in readme
