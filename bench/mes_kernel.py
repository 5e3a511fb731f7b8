"""Kernel benchmarks: signing and verifying, and the audit-trail page as history grows.

Prints wall-clock time per operation and the number of queries, so a regression in either
shows. Run: .venv/bin/python bench/mes_kernel.py [--rows 100,1000]"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mes.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402


def timed(func, repeat: int = 5) -> tuple[float, int]:
    durations, queries = [], 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            func()
            durations.append(time.perf_counter() - start)
        queries = len(captured)
    return statistics.median(durations) * 1000, queries


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="100,1000")
    args = parser.parse_args()
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    settings.SECURE_SSL_REDIRECT = False
    settings.ALLOWED_HOSTS = ["testserver"]
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0)
    try:
        run([int(n) for n in args.rows.split(",")])
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def run(row_counts: list[int]) -> None:
    from django.contrib.auth.models import Group
    from django.test import Client
    from guardian.shortcuts import assign_perm

    from mes import audit
    from mes.models import AccessChange, Meaning, Site, User
    from mes.services import signatures

    site = Site.objects.create(code="BENCH", name="Bench", kind="plant", time_zone="UTC")
    admin = User.objects.create_user("bench-admin", "bench-password-1", full_name="Bench Admin")
    admin.groups.add(Group.objects.get(name="Administrator"))
    assign_perm("mes.view_site", admin, site)
    other = User.objects.create_user("bench-op", "bench-password-1", full_name="Bench Op")
    admin = User.objects.get(pk=admin.pk)

    def new_change():
        change = AccessChange(user=other, action="grant", role=Group.objects.get(name="Planner"),
                              reason="bench", requested_by=admin)
        audit.stamp(change, user=admin, reason="bench")
        change.save()
        return change

    changes = iter([new_change() for _ in range(10)])
    ms, queries = timed(lambda: signatures.sign(user=admin, password="bench-password-1",
                                                record=next(changes),
                                                meaning=Meaning.APPROVED), repeat=10)
    print(f"sign (PBKDF2 re-authentication included): {ms:8.1f} ms  {queries} queries")
    change = new_change()
    signature = signatures.sign(user=admin, password="bench-password-1", record=change,
                                meaning=Meaning.APPROVED)
    ms, queries = timed(lambda: signatures.verify(signature), repeat=20)
    print(f"verify:                                    {ms:8.1f} ms  {queries} queries")

    client = Client()
    client.force_login(admin)
    done = 0
    for rows in row_counts:
        for i in range(done, rows):
            site.name = f"Bench {i}"
            audit.stamp(site, user=admin, reason=f"bench change {i}")
            site.save()
        done = rows
        url = f"/audit/mes/site/{site.pk}/"
        assert client.get(url).status_code == 200
        ms, queries = timed(lambda url=url: client.get(url), repeat=5)
        print(f"audit-trail page, {rows:>5} changes:         {ms:8.1f} ms  {queries} queries")


if __name__ == "__main__":
    main()
