"""Reads other apps and several views share: what blocks release, what holds a suite, the
QA board and an operator's own deviations, with their joins (no N+1)."""

from __future__ import annotations

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q, QuerySet

from deviations.models import Classification, Deviation, Status

BOARD_RELATED = ("site", "detected_by", "acknowledged_by", "subject_type")


def visible_subject(user, label: str, pk):
    """The record ``app_label.model`` with primary key ``pk`` if this person may see it (its
    kind's ``visible_to`` and its site), else None. An unknown kind raises LookupError."""
    try:
        model = apps.get_model(label)
    except (LookupError, ValueError):
        raise LookupError(f"Unknown kind of record “{label}”.") from None
    if not str(pk).isdigit():
        return None
    records = model._default_manager.all()
    if hasattr(records, "visible_to"):
        records = records.visible_to(user)
    record = records.filter(pk=pk).first()
    site = getattr(record, "site", None)
    if record is None or (site is not None and not user.has_site(site)):
        return None
    return record


def open_deviations_for(*, subject=None, batch_number: str | None = None,
                        patient_coi: str | None = None) -> QuerySet[Deviation]:
    """Deviations not yet closed or cancelled that affect the record, the batch or the
    patient (any of them). Release lists these as blockers. Not scoped to a person: the
    caller decides who may see them."""
    match = Q()
    if subject is not None:
        match |= Q(subject_type=ContentType.objects.get_for_model(subject),
                   subject_id=subject.pk)
    if batch_number:
        match |= Q(batch_number=batch_number)
    if patient_coi:
        match |= Q(patient_coi=patient_coi)
    if not match:
        return Deviation.objects.none()
    return (Deviation.objects.active().filter(match).select_related(*BOARD_RELATED)
            .order_by("detected_at", "pk"))


def holding_deviations(subject) -> QuerySet[Deviation]:
    """Open critical deviations on ``subject`` (a suite, a piece of equipment...)."""
    return Deviation.objects.active().about(subject).filter(
        classification=Classification.CRITICAL).order_by("detected_at", "pk")


def suite_on_hold(subject) -> bool:
    """An open critical deviation on a suite puts it on hold; scheduling asks here."""
    return holding_deviations(subject).exists()


def held_subject_ids(model) -> set[int]:
    """Primary keys of the records of ``model`` (e.g. every suite) that an open critical
    deviation holds, in one query: for boards that show many suites at once."""
    return set(Deviation.objects.active().filter(
        subject_type=ContentType.objects.get_for_model(model),
        classification=Classification.CRITICAL).values_list("subject_id", flat=True))


def board(user, *, site=None, classification: str = "", patient_impact: str = "",
          status: str = "", include_closed: bool = False) -> QuerySet[Deviation]:
    """The QA board: the person's sites, most pressing deadline first."""
    deviations = Deviation.objects.visible_to(user).select_related(*BOARD_RELATED)
    if site is not None:
        deviations = deviations.filter(site=site)
    if classification:
        deviations = deviations.filter(classification=classification)
    if patient_impact:
        deviations = deviations.filter(patient_impact=patient_impact)
    if status:
        deviations = deviations.filter(status=status)
    elif not include_closed:
        deviations = deviations.active()
    return deviations.order_by("next_escalation_at", "acknowledge_due_at", "pk")


def raised_by(user) -> QuerySet[Deviation]:
    """"My deviations": what this person raised, newest first."""
    return (Deviation.objects.visible_to(user).filter(detected_by=user)
            .select_related(*BOARD_RELATED).order_by("-detected_at", "-pk"))


def waiting_counts(user) -> dict[str, int]:
    """For the live badge: deviations at the person's sites waiting for acknowledgement, and
    how many of those (or of the dispositions due) are past their deadline. One query."""
    from django.db.models import Count
    from django.utils import timezone

    now = timezone.now()
    overdue = (Q(status=Status.OPEN, acknowledge_due_at__lte=now)
               | Q(disposition_due_at__lte=now, disposition=""))
    return Deviation.objects.visible_to(user).active().aggregate(
        waiting=Count("pk", filter=Q(status=Status.OPEN)),
        overdue=Count("pk", filter=overdue))


def timeline(deviation: Deviation) -> list[dict]:
    """The deviation's story in time order: every recorded change of the deviation (with
    who and why: acknowledgement, classification, escalations, status) and every comment."""
    from deviations.models import Comment

    entries = []
    for row in deviation.history.select_related("history_user").order_by("history_date"):
        text = row.history_change_reason or ""
        if row.history_type == "+":
            text = f"Raised ({row.get_source_display().lower()})"
        entries.append({"at": row.history_date, "who": row.history_user, "text": text,
                        "kind": "escalation" if text.startswith("Escalated") else "change"})
    for comment in (Comment.objects.filter(deviation=deviation)
                    .select_related("recorded_by")):
        entries.append({"at": comment.recorded_at, "who": comment.recorded_by,
                        "text": comment.text, "kind": "comment"})
    # Decision records the page has prefetched (no extra queries).
    for capa in deviation.capaactions.all():
        entries.append({"at": capa.recorded_at, "who": capa.recorded_by,
                        "text": f"CAPA added for {capa.owner.full_name}: {capa.description}",
                        "kind": "capa"})
        if capa.done_at:
            entries.append({"at": capa.done_at, "who": capa.done_by,
                            "text": f"CAPA done: {capa.completion_note}", "kind": "capa"})
    for investigation in deviation.investigations.all():
        entries.append({"at": investigation.recorded_at, "who": investigation.recorded_by,
                        "text": "Investigation signed: "
                                f"{investigation.get_root_cause_category_display()}",
                        "kind": "decision"})
    return sorted(entries, key=lambda entry: entry["at"])


def detail(user, pk: int) -> Deviation:
    """One deviation the person may see, with its records loaded for the page."""
    from django.db.models import Prefetch
    from django.shortcuts import get_object_or_404

    from deviations.models import CapaAction

    return get_object_or_404(
        Deviation.objects.visible_to(user).select_related(*BOARD_RELATED).prefetch_related(
            "classificationdecisions__recorded_by", "dispositions__recorded_by",
            "investigations__recorded_by", "closures__recorded_by",
            "escalationevents", "deviationattachments",
            Prefetch("capaactions", CapaAction.objects.select_related(
                "owner", "recorded_by", "done_by"))),
        pk=pk)
