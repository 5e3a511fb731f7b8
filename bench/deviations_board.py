"""Deviations benchmarks: raising (numbering under a locked counter), the escalation run, and
the QA board as open deviations grow. Prints wall-clock time and queries per operation.
Run: .venv/bin/python bench/deviations_board.py [--rows 100,1000,5000]"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
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
    parser.add_argument("--rows", default="100,1000,5000")
    args = parser.parse_args()
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
    from django.utils import timezone
    from guardian.shortcuts import assign_perm

    from deviations.models import Deviation
    from deviations.services import escalation, raise_deviation
    from mes import audit
    from mes.models import Site, User
    from mes.roles import ensure_roles

    ensure_roles()
    site = Site.objects.create(code="BENCH", name="Bench", kind="plant", time_zone="UTC")
    people = {}
    for username, role in (("bench-op", "Operator"), ("bench-qa", "QA Reviewer"),
                           ("bench-qp", "Qualified Person")):
        user = User.objects.create_user(username, "bench-password-1", full_name=username)
        user.groups.add(Group.objects.get(name=role))
        assign_perm("mes.view_site", user, site)
        people[role] = User.objects.get(pk=user.pk)
    operator, qa = people["Operator"], people["QA Reviewer"]

    ms, queries = timed(lambda: raise_deviation(
        reporter=operator, site=site, title="Bench", description="Bench",
        classification="critical"), repeat=20)
    print(f"raise_deviation (number, deadlines, first level): {ms:7.1f} ms  {queries} queries")

    client = Client()
    client.force_login(qa)
    done = Deviation.objects.count()
    for rows in row_counts:
        now = timezone.now()
        batch = [Deviation(site=site, number=f"DEV-BENCH-B-{n:06d}", year=2026, sequence=n + 10**5,
                           title=f"Bench {n}", description="Bench", detected_by=operator,
                           acknowledge_due_at=now + timedelta(minutes=n),
                           next_escalation_at=now + timedelta(minutes=n))
                 for n in range(done, rows)]
        audit.bulk_create_with_history(batch, Deviation, user=operator, reason="bench")
        done = rows
        ms, queries = timed(lambda: client.get("/deviations/"))
        print(f"board, {rows:>6} open deviations:                {ms:7.1f} ms  {queries} queries")

    later = timezone.now() + timedelta(minutes=30)
    with audit.acting_as(audit.system_user()):
        start = time.perf_counter()
        told = escalation.escalate_overdue(now=later)
    print(f"escalation run telling {told} levels:             "
          f"{(time.perf_counter() - start) * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
