"""Recompute the sealed audit trail from the database and report what changed."""

from django.core.management.base import BaseCommand, CommandError

from mes.audit import system_user
from mes.services.integrity import record_verification


class Command(BaseCommand):
    help = ("Verify the audit seals: the chain, each seal's signature, and every sealed row; "
            "reports rows changed, deleted, inserted into a sealed range or back-dated.")

    def handle(self, *args, **options):
        run = record_verification(user=system_user())
        for finding in run.findings:
            self.stdout.write(f"{finding['kind']}: {finding['detail']}")
        if run.finding_count > len(run.findings):
            self.stdout.write(f"… and {run.finding_count - len(run.findings)} more")
        summary = (f"{run.seals_checked} seals and {run.rows_checked} sealed rows checked; "
                   f"{run.finding_count} findings.")
        if run.finding_count:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))
