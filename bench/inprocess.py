"""One page of the benchmark, opened in-process on the plant bench/pages.py built: the setup
bench/profile_page.py and bench/explain_page.py share."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def open_page(name: str, *, db: str = "mes_bench"):
    """Configure Django for the benchmark's database and settings, log the page's user in,
    and return (page, Django test client, URL). ``name`` is a name from PAGES."""
    sys.path.insert(0, str(ROOT))
    pg = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
    os.environ.update({"DATABASE_URL": f"{pg}/{db}",
                       "DJANGO_SETTINGS_MODULE": "bench.settings",
                       "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9"),
                       "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost"})
    import django

    django.setup()
    from django.test import Client
    from django.urls import reverse

    from bench.pages import PAGES, find_targets
    from mes.models import User

    page = next(p for p in PAGES if p.name == name)
    kwargs = find_targets()[page.target] if page.target else {}
    url = reverse(page.url_name, kwargs=kwargs) + (f"?{page.query}" if page.query else "")
    client = Client(HTTP_ACCEPT="application/json" if page.api else "text/html")
    client.force_login(User.objects.get(username=page.user))
    return page, client, url
