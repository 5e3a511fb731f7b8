"""The audit seal's cost: sealing, verifying and the integrity check per 10,000 rows, and the
peak Python memory of each (it streams, so memory should stay flat as rows grow).

Run: DATABASE_URL=postgres://postgres@127.0.0.1:5432/mes .venv/bin/python bench/audit_seal.py
     [--rows 10000,100000]"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mes.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402


def measured(func):
    tracemalloc.start()
    start = time.perf_counter()
    result = func()
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return result, seconds, peak / 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="10000,100000")
    args = parser.parse_args()
    settings.AUDIT_SEAL_MAX_ROWS = 10_000_000
    settings.AUDIT_SEAL_KEY_FILE = "/tmp/mes-bench-seal.pem"
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0)
    try:
        run([int(n) for n in args.rows.split(",")])
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def run(row_counts: list[int]) -> None:
    from mes import audit
    from mes.models import SecurityEvent
    from mes.services.integrity import run_integrity_check
    from mes.services.sealing import seal_audit_trail
    from mes.services.verification import verify_audit_trail

    system = audit.system_user()
    written = 0
    print(f"database: {connection.vendor}")
    for rows in row_counts:
        new = rows - written
        # security events are append-only with a history row each: 2 sealed rows per event
        with audit.acting_as(system):
            audit.bulk_create_with_history(
                (SecurityEvent(kind="login_failed", username=f"u{i}") for i in range(new)),
                SecurityEvent, user=system)
        written = rows
        seal, seconds, peak = measured(lambda: seal_audit_trail(user=system))
        per = seconds / seal.row_count * 10_000
        print(f"seal of {seal.row_count:>7} new rows: {seconds:6.2f} s "
              f"({per:5.2f} s per 10,000 rows), peak {peak:6.1f} MB")
        findings, seconds, peak = measured(lambda: list(verify_audit_trail()))
        print(f"verify_audit_trail, {2 * rows:>7} sealed rows: {seconds:6.2f} s, "
              f"peak {peak:6.1f} MB, {len(findings)} findings")
        run_, seconds, peak = measured(lambda: run_integrity_check(user=system))
        print(f"integrity check, {run_.rows_checked:>7} rows: {seconds:6.2f} s, "
              f"peak {peak:6.1f} MB, {run_.finding_count} findings")


if __name__ == "__main__":
    main()
