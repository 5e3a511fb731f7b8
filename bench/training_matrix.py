"""Training benchmarks: the certification matrix page, the roster gate and one-person gate
as people grow (30 qualifications, each requiring its own SOP, every cell certified and
trained). Prints wall-clock time and queries per operation.
Run: .venv/bin/python bench/training_matrix.py [--people 10,200,1000]"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mes.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402

QUALIFICATIONS = 30


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
    parser.add_argument("--people", default="10,200,1000")
    args = parser.parse_args()
    settings.SECURE_SSL_REDIRECT = False
    settings.ALLOWED_HOSTS = ["testserver"]
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0)
    try:
        run([int(n) for n in args.people.split(",")])
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def run(counts: list[int]) -> None:
    from django.contrib.auth.models import Group
    from django.test import Client
    from guardian.shortcuts import assign_perm

    from mes import audit
    from mes.models import Site, User
    from mes.roles import ensure_roles
    from training.models import (
        Certification,
        Qualification,
        QualificationSOP,
        SOPDocument,
        SOPRevision,
        TrainingRecord,
    )
    from training.services.gate import check_certified, check_certified_many

    ensure_roles()
    site = Site.objects.create(code="BENCH", name="Bench", kind="plant", time_zone="UTC")
    trainer = User.objects.create_user("bench-trainer", "bench-password-1",
                                       full_name="Bench Trainer")
    trainer.groups.add(Group.objects.get(name="Trainer"))
    assign_perm("mes.view_site", trainer, site)
    trainer = User.objects.get(pk=trainer.pk)
    revisions, quals = [], []
    with audit.acting_as(trainer):
        for i in range(QUALIFICATIONS):
            document = SOPDocument.objects.create(number=f"SOP-B{i:02d}", title=f"Bench {i}")
            revisions.append(SOPRevision.objects.create(
                document=document, revision="1", status="effective",
                effective_date=dt.date(2026, 1, 1)))
            quals.append(Qualification.objects.create(code=f"B{i:02d}", name=f"Bench {i}",
                                                      kind="process", validity_months=24))
            QualificationSOP.objects.create(qualification=quals[-1], document=document)

    client = Client()
    client.force_login(trainer)
    done = 0
    codes = [q.code for q in quals]
    for count in counts:
        new = [User(username=f"bench{n:05d}", full_name=f"Bench Person {n:05d}", password="!")
               for n in range(done, count)]
        audit.bulk_create_with_history(new, User, user=trainer)
        people = list(User.objects.filter(username__in=[u.username for u in new]))
        for person in people:
            assign_perm("mes.view_site", person, site)
        audit.bulk_create_with_history(
            [TrainingRecord(trainee=p, trainer=trainer, sop_revision=r, site=site,
                            trained_on=dt.date(2026, 2, 1), assessment="passed",
                            status="complete", recorded_by=trainer)
             for p in people for r in revisions], TrainingRecord, user=trainer)
        audit.bulk_create_with_history(
            [Certification(person=p, qualification=q, site=site,
                           valid_from=dt.date(2026, 2, 1), valid_until=dt.date(2028, 1, 31))
             for p in people for q in quals], Certification, user=trainer)
        done = count
        everyone = list(User.objects.filter(username__startswith="bench0"))
        ms, queries = timed(lambda: client.get("/training/", {"site": site.pk}))
        print(f"matrix page, {count:>5} people x {QUALIFICATIONS}:     {ms:8.1f} ms  "
              f"{queries} queries")
        ms, queries = timed(partial(check_certified_many, people=everyone,
                                    qualification_codes=codes, site=site))
        print(f"roster gate, {count:>5} people x {QUALIFICATIONS}:     {ms:8.1f} ms  "
              f"{queries} queries")
        ms, queries = timed(partial(check_certified, person=everyone[0],
                                    qualification_codes=codes, site=site))
        print(f"one person, {QUALIFICATIONS} qualifications:          {ms:8.1f} ms  "
              f"{queries} queries")


if __name__ == "__main__":
    main()
