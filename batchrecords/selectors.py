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
