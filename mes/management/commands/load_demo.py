"""Load (or top up) the demo: the kernel's data, then each app's ``demo.load()``."""

import importlib
from importlib.util import find_spec

from django.core.management.base import BaseCommand
from django.db import transaction

from mes import demo
from mes.apps import OUR_APPS
from mes.audit import system_user
from mes.services.integrity import record_verification
from mes.services.sealing import seal_audit_trail


class Command(BaseCommand):
    help = "Create the demo plant, people and records (idempotent)."

    def handle(self, *args, **options):
        with transaction.atomic():
            demo.load()
            for app in OUR_APPS[1:]:
                if find_spec(app) and find_spec(f"{app}.demo"):
                    importlib.import_module(f"{app}.demo").load()
        # The demo's audit trail sealed and verified, as the beat task and QA would have.
        seal = seal_audit_trail(user=system_user())
        run = record_verification(user=system_user())
        if seal:
            self.stdout.write(f"Audit trail sealed (seal {seal.number}, {seal.row_count} rows); "
                              f"verification: {run.finding_count} differences.")
        self.stdout.write(self.style.SUCCESS("Demo data loaded. Logins (password for all):"))
        for username, role, password in demo.logins():
            self.stdout.write(f"  {username:<14} {role:<18} {password}")
