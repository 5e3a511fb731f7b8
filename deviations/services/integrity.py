"""A data-integrity finding is a deviation: the kernel's integrity check calls this."""

from __future__ import annotations

from deviations.services.raising import raise_deviation
from mes.models import IntegrityRun, Site


def raise_integrity_deviations(run: IntegrityRun) -> None:
    """One critical deviation per manufacturing site: the database is shared by every site,
    so a record changed around the audit trail puts each site's data in question."""
    kinds = sorted({finding["kind"] for finding in run.findings})
    first = run.findings[0]["detail"] if run.findings else ""
    for site in Site.objects.filter(kind__in=[Site.Kind.PLANT, Site.Kind.CMO], is_active=True):
        raise_deviation(
            reporter=run.run_by, site=site, subject=run,
            title=f"Data integrity: {run.finding_count} differences found",
            description=(f"The {run.get_kind_display().lower()} finished at "
                         f"{run.finished_at:%Y-%m-%d %H:%M} UTC found {run.finding_count} "
                         f"differences ({', '.join(kinds)}). First: {first}"),
            classification="critical", patient_impact="unknown", source="automatic",
            rule="mes.integrity_check",
            data={"integrity_run": run.pk, "finding_count": run.finding_count,
                  "kinds": kinds})
