"""Reagents benchmarks: consumption at the point of use (locked decrement + ledger entry), and
the genealogy pages (recall list, CSV, lots of a batch) and lot page as a lot's uses grow.
Prints wall-clock time and queries per operation.
Run: .venv/bin/python bench/reagents_genealogy.py [--uses 100,1000,10000]"""

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
    parser.add_argument("--uses", default="100,1000,10000")
    args = parser.parse_args()
    settings.SECURE_SSL_REDIRECT = False
    settings.ALLOWED_HOSTS = ["testserver"]
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0)
    try:
        run([int(n) for n in args.uses.split(",")])
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def run(use_counts: list[int]) -> None:
    import datetime as dt
    from decimal import Decimal

    from django.contrib.auth.models import Group
    from django.test import Client
    from django.utils import timezone
    from guardian.shortcuts import assign_perm

    from mes import audit
    from mes.models import Site, User
    from mes.roles import ensure_roles
    from reagents.models import LotStatus, ReagentLot, StockEntry
    from reagents.services import consume_lot, create_material

    ensure_roles()
    site = Site.objects.create(code="BENCH", name="Bench", kind="plant",
                               time_zone="Europe/Amsterdam")
    people = {}
    for username, role in (("bench-op", "Operator"), ("bench-qa", "QA Reviewer")):
        user = User.objects.create_user(username, "bench-password-1", full_name=username)
        user.groups.add(Group.objects.get(name=role))
        assign_perm("mes.view_site", user, site)
        people[role] = User.objects.get(pk=user.pk)
    operator, qa = people["Operator"], people["QA Reviewer"]
    material = create_material(user=qa, code="LV-BENCH", name="Vector", unit="mL",
                               storage_condition="-80", gtins=["09506000134352"])

    def new_lot(name: str, quantity: int) -> ReagentLot:
        with audit.acting_as(operator):
            return ReagentLot.objects.create(
                site=site, material=material, gtin="09506000134352", supplier_lot=name,
                expiry_date=timezone.now().date() + dt.timedelta(days=365),
                received_by=operator, quantity_received=quantity, quantity_on_hand=quantity,
                storage_location="F1", status=LotStatus.RELEASED)

    lot = new_lot("CONSUME", 10**6)
    counter = iter(range(10**6))
    ms, queries = timed(lambda: consume_lot(
        user=operator, lot=lot, quantity="1", material=material, purpose=site,
        batch_number=f"B-{next(counter)}", patient_coi="G123426000001"), repeat=50)
    print(f"consume_lot (lock, checks, ledger, history):   {ms:7.1f} ms  {queries} queries")

    client = Client()
    client.force_login(qa)
    for uses in use_counts:
        big = new_lot(f"USES-{uses}", uses)
        now = timezone.now()
        entries = [StockEntry(site=site, lot=big, kind=StockEntry.Kind.CONSUMPTION,
                              quantity=Decimal(-1), balance_after=Decimal(uses - n - 1),
                              occurred_at=now, entered_by=operator, reason="bench",
                              batch_number=f"U{uses}-{n:06d}",
                              patient_coi=f"G1234260{n % 10**5:05d}")
                   for n in range(uses)]
        audit.bulk_create_with_history(entries, StockEntry, user=operator, reason="bench")
        for label, url in (
                ("recall list", f"/reagents/lots/{big.pk}/genealogy/"),
                ("recall CSV", f"/reagents/lots/{big.pk}/recall.csv"),
                ("lot page (ledger page 1)", f"/reagents/lots/{big.pk}/"),
                ("lots of a batch", f"/reagents/genealogy/?batch_number=U{uses}-000007")):
            ms, queries = timed(lambda url=url: client.get(url))
            print(f"{label:<26} {uses:>6} uses: {ms:9.1f} ms  {queries} queries")


if __name__ == "__main__":
    main()
