"""Raising a deviation: the one service every app calls, by hand or from a rule."""

from __future__ import annotations

from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from deviations.models import (
    Classification,
    Comment,
    Deviation,
    DeviationAttachment,
    DeviationCounter,
    PatientImpact,
    Source,
)
from deviations.services import deadlines, ladder
from mes import audit
from mes.errors import DomainError, PermissionRefused
from mes.services.notifications import notify

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024


def _choice(value: str, choices, field: str) -> str:
    if value not in choices.values:
        raise DomainError(
            f"“{value}” is not a valid {field.replace('_', ' ')}; choose one of "
            f"{', '.join(choices.values)}.", code="invalid", fields={field: ["Not valid."]})
    return value


def _number(site, detected_at: datetime) -> tuple[int, int, str]:
    """The next number of the site's year; the counter row stays locked until commit, so
    concurrent raisers wait and no number is skipped or given twice."""
    year = detected_at.astimezone(site.zone).year
    DeviationCounter.objects.get_or_create(site=site, year=year)
    counter = DeviationCounter.objects.select_for_update().get(site=site, year=year)
    counter.last_sequence += 1
    counter.save(update_fields=["last_sequence"])
    return year, counter.last_sequence, f"DEV-{site.code}-{year}-{counter.last_sequence:04d}"


def raise_deviation(*, reporter, site, title: str, description: str, subject=None,
                    classification: str = "minor", patient_impact: str = "unknown",
                    batch_number: str = "", patient_coi: str = "", source: str = "manual",
                    rule: str = "", data: dict | None = None,
                    attachments: list[tuple[str, str, bytes]] | None = None,
                    immediate_actions: str = "",
                    detected_at: datetime | None = None) -> Deviation:
    """Record a deviation, number it per site and year, set its deadlines from the site's
    policy and tell the first level of the site's escalation ladder.

    Runs in the caller's transaction (as a savepoint): if the caller rolls back, so does the
    deviation, its number and its notifications. A manual deviation needs the reporter's
    permission to raise and access to the site; an automatic one is raised by the rule.
    """
    title = (title or "").strip()
    description = (description or "").strip()
    problems = {}
    if not title:
        problems["title"] = ["Say in a few words what happened."]
    if len(title) > 200:
        problems["title"] = ["At most 200 characters."]
    if not description:
        problems["description"] = ["Describe what happened."]
    if problems:
        raise DomainError("The deviation is missing what happened.", code="invalid",
                          fields=problems)
    _choice(classification, Classification, "classification")
    _choice(patient_impact, PatientImpact, "patient_impact")
    _choice(source, Source, "source")
    if site is None:
        raise DomainError("A deviation belongs to a site.", code="invalid",
                          fields={"site": ["Required."]})
    if reporter is None or not reporter.is_active:
        raise PermissionRefused("A deviation is raised by an active, named person.")
    if source == Source.MANUAL:
        if not reporter.has_perm("deviations.raise_deviation"):
            raise PermissionRefused(f"{reporter.full_name} is not authorised to raise "
                                    "deviations.")
        if not reporter.has_site(site):
            raise PermissionRefused(f"{reporter.full_name} has no access to site {site}.")
    if source == Source.AUTOMATIC and not (rule or "").strip():
        raise DomainError("An automatic deviation names the rule that raised it.",
                          code="invalid", fields={"rule": ["Required for automatic."]})
    if subject is not None and subject.pk is None:
        raise DomainError("The subject of a deviation must be a saved record.", code="invalid")
    # Text content (an SVG built as a string) is stored as UTF-8.
    attachments = [(name, kind, content.encode() if isinstance(content, str) else content)
                   for name, kind, content in (attachments or [])]
    for filename, _content_type, content in attachments:
        if not filename or len(content) > MAX_ATTACHMENT_BYTES:
            raise DomainError(f"Attachment “{filename}” has no name or is larger than 10 MB.",
                              code="invalid", fields={"attachments": ["Too large."]})

    detected_at = detected_at or timezone.now()
    with transaction.atomic():
        year, sequence, number = _number(site, detected_at)
        acknowledge_due, disposition_due = deadlines.deadlines_for(
            site, classification, patient_impact, detected_at)
        deviation = Deviation(
            site=site, number=number, year=year, sequence=sequence, title=title,
            description=description,
            subject_type=ContentType.objects.get_for_model(subject) if subject else None,
            subject_id=subject.pk if subject else None,
            subject_label=str(subject)[:300] if subject else "",
            batch_number=(batch_number or "").strip(), patient_coi=(patient_coi or "").strip(),
            detected_at=detected_at, detected_by=reporter, source=source,
            rule=(rule or "").strip(), data=data or {}, classification=classification,
            patient_impact=patient_impact, immediate_actions=(immediate_actions or "").strip(),
            acknowledge_due_at=acknowledge_due, disposition_due_at=disposition_due,
            escalation_level=1, next_escalation_at=acknowledge_due,
        )
        audit.stamp(deviation, user=reporter, reason="Raised")
        deviation.save()
        for filename, content_type, content in attachments:
            attachment = DeviationAttachment(
                site=site, deviation=deviation, recorded_by=reporter, filename=filename[:200],
                content_type=(content_type or "application/octet-stream")[:100],
                content=bytes(content), size=len(content),
                sha256=DeviationAttachment.digest(bytes(content)))
            audit.stamp(attachment, user=reporter, reason="Attached when raised")
            attachment.save()
        _tell_first_level(deviation)
    return deviation


def _tell_first_level(deviation: Deviation) -> None:
    """Inbox entries commit with the deviation; their e-mails are queued after commit."""
    levels = ladder.ladder_for(deviation.site)
    if not levels:
        return
    first = levels[0]
    kind = "CRITICAL " if deviation.is_urgent else ""
    notify(
        recipients=ladder.recipients(first, deviation.site),
        subject=f"{kind}Deviation {deviation.number}: {deviation.title}",
        body=(f"{deviation.get_classification_display()} (provisional), patient impact "
              f"{deviation.get_patient_impact_display().lower()}. Raised by "
              f"{deviation.detected_by.full_name}. Acknowledge by "
              f"{deviation.acknowledge_due_at:%Y-%m-%d %H:%M} UTC."),
        link=reverse("deviations:detail", args=[deviation.pk]),
    )


SEVERITY = {Classification.MINOR: 0, Classification.MAJOR: 1, Classification.CRITICAL: 2}


def add_finding(*, reporter, deviation: Deviation, text: str, rule: str,
                classification: str | None = None, data: dict | None = None):
    """A rule's further finding about the event a deviation already records goes on that
    deviation, not on a new one (one event, one deviation): a comment on its timeline, the
    finding in its data, and a more severe provisional classification (never lowered, never
    over QA's confirmed one); the first level of the ladder is told. Refused on a closed or
    cancelled deviation: the caller raises a new one."""
    text, rule = (text or "").strip(), (rule or "").strip()
    if not text or not rule:
        raise DomainError("A finding says what was found and names its rule.", code="invalid",
                          fields={"text": ["Required."], "rule": ["Required."]})
    if classification is not None:
        _choice(classification, Classification, "classification")
    with transaction.atomic():
        deviation = Deviation.objects.select_for_update(of=("self",)).select_related(
            "site").get(pk=deviation.pk)
        if not deviation.is_active:
            raise DomainError(f"Deviation {deviation.number} is "
                              f"{deviation.get_status_display().lower()}; raise a new one.",
                              code="not_active", status=409)
        comment = Comment(site=deviation.site, deviation=deviation, recorded_by=reporter,
                          text=text)
        audit.stamp(comment, user=reporter, reason=f"Finding ({rule})")
        comment.save()
        record = dict(deviation.data or {})
        record["findings"] = [*record.get("findings", []),
                              {"rule": rule, "text": text, **(data or {})}]
        deviation.data = record
        if (classification and not deviation.classification_confirmed
                and SEVERITY[classification] > SEVERITY[deviation.classification]):
            deviation.classification = classification
        audit.stamp(deviation, user=reporter, reason=f"Further finding ({rule}): {text}")
        deviation.save()
        levels = ladder.ladder_for(deviation.site)
        if levels:
            kind = "CRITICAL " if deviation.is_urgent else ""
            notify(recipients=ladder.recipients(levels[0], deviation.site),
                   subject=f"{kind}Deviation {deviation.number}: further finding",
                   body=text, link=reverse("deviations:detail", args=[deviation.pk]))
    return comment
