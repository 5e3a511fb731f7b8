"""Reads the pages and the API share, narrowed to the person's sites first."""

from __future__ import annotations

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404

from batchrecords.models import MasterRecord, MasterRecordVersion, Operation


def master_records(user):
    return (
        MasterRecord.objects.visible_to(user)
        .select_related("product", "site")
        .prefetch_related(
            Prefetch(
                "versions",
                queryset=MasterRecordVersion.objects.select_related(
                    "author", "approved_by"
                ).order_by("-number"),
            )
        )
        .order_by("product__code", "site__code")
    )


def master_record(user, pk: int) -> MasterRecord:
    return get_object_or_404(master_records(user), pk=pk)


def versions(user):
    return MasterRecordVersion.objects.visible_to(user).select_related(
        "master__product", "master__site", "author", "approved_by"
    )


def version(user, pk: int) -> MasterRecordVersion:
    return get_object_or_404(versions(user), pk=pk)


def procedure(version: MasterRecordVersion) -> list[Operation]:
    """The operations with their steps, materials and fields, in order (four queries)."""
    return list(
        version.operations.order_by("position").prefetch_related(
            "steps__materials", "steps__fields"
        )
    )


def passed_checks(batch) -> dict[str, int]:
    """What was verified automatically as the batch was made, for the review beside its
    exceptions: label scans matched, lots verified and consumed, equipment verified, and
    current values inside their limits (two queries)."""
    from django.db.models import Count, Q

    from batchrecords.models import StepScan, StepValue

    kinds = StepScan.Kind
    scans = StepScan.objects.filter(run__batch=batch, accepted=True).aggregate(
        labels=Count("pk", filter=Q(kind=kinds.PATIENT_LABEL)),
        lots=Count("pk", filter=Q(kind=kinds.LOT)),
        equipment=Count("pk", filter=Q(kind=kinds.EQUIPMENT)),
    )
    limited = (Q(field__alert_low__isnull=False) | Q(field__alert_high__isnull=False)
               | Q(field__action_low__isnull=False) | Q(field__action_high__isnull=False))
    values = StepValue.objects.filter(
        limited, run__batch=batch, number__isnull=False, corrected_by__isnull=True
    ).aggregate(in_limits=Count("pk", filter=Q(flag="")), checked=Count("pk"))
    return {
        "label_scans_matched": scans["labels"],
        "lots_verified": scans["lots"],
        "equipment_verified": scans["equipment"],
        "values_in_limits": values["in_limits"],
        "values_checked": values["checked"],
    }
