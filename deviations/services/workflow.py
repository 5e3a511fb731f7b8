"""What QA and the floor do with a deviation after it is raised.

Signed actions re-authenticate first, outside the transaction (so a wrong password counts
toward lockout), then lock the deviation, check the order of things, write the decision
record and sign it in one transaction: a refused signature leaves nothing behind.
"""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from deviations.models import (
    CapaAction,
    Classification,
    ClassificationDecision,
    Closure,
    Comment,
    Deviation,
    Disposition,
    Investigation,
    PatientImpact,
    Status,
)
from deviations.services import deadlines
from deviations.services.escalation import refresh_next_escalation
from deviations.services.independence import require_independence
from mes import audit
from mes.errors import DomainError, PermissionRefused, ReasonForChangeRequired
from mes.models import Meaning, User
from mes.services.notifications import notify
from mes.services.signatures import apply_signature, reauthenticate


def _require(actor: User, permission: str, action: str) -> None:
    if not actor.has_perm(permission):
        raise PermissionRefused(f"{actor.full_name} is not authorised to {action}.")


def _text(value: str, field: str, what: str) -> str:
    value = (value or "").strip()
    if not value:
        raise DomainError(f"{what} is required.", code="invalid", fields={field: ["Required."]})
    return value


def _lock(actor: User, deviation: Deviation) -> Deviation:
    """The deviation, locked, if the actor may see it; decisions need it still active."""
    locked = Deviation.objects.select_for_update(of=("self",)).select_related("site").get(
        pk=deviation.pk)
    if not actor.has_site(locked.site):
        raise PermissionRefused(f"{actor.full_name} has no access to site {locked.site}.")
    if not locked.is_active:
        raise DomainError(f"Deviation {locked.number} is {locked.get_status_display().lower()}"
                          "; nothing more can be decided on it.", code="not_active",
                          status=409)
    return locked


def _acknowledged(deviation: Deviation, action: str) -> None:
    if deviation.status == Status.OPEN:
        raise DomainError(f"Acknowledge deviation {deviation.number} before you {action}.",
                          code="not_acknowledged", status=409)


def _save(deviation: Deviation, actor: User, reason: str) -> None:
    audit.stamp(deviation, user=actor, reason=reason)
    deviation.save()


def _record(model, deviation: Deviation, actor: User, reason: str, **fields):
    record = model(site=deviation.site, deviation=deviation, recorded_by=actor, **fields)
    audit.stamp(record, user=actor, reason=reason)
    record.save()
    return record


def acknowledge_deviation(*, actor: User, password: str, deviation: Deviation,
                          note: str = "", request: HttpRequest | None = None) -> Deviation:
    """QA takes the deviation on, signed *acknowledged*; the acknowledgement deadline stops
    escalating, the disposition deadline (if any) takes over."""
    _require(actor, "deviations.acknowledge_deviation", "acknowledge deviations")
    signer = reauthenticate(user=actor, password=password, request=request)
    with transaction.atomic():
        deviation = _lock(actor, deviation)
        if deviation.status != Status.OPEN:
            raise DomainError(f"Deviation {deviation.number} is already acknowledged.",
                              code="already_acknowledged", status=409)
        apply_signature(signer=signer, record=deviation, meaning=Meaning.ACKNOWLEDGED,
                        reason=note or "Acknowledged")
        deviation.move_to(Status.ACKNOWLEDGED)
        deviation.acknowledged_at = timezone.now()
        deviation.acknowledged_by = signer
        deviation.escalation_level = 1
        refresh_next_escalation(deviation)
        _save(deviation, signer, f"Acknowledged by {signer.full_name}"
                                 + (f": {note.strip()}" if note.strip() else ""))
        notify(recipients=[deviation.detected_by], email=False,
               subject=f"{deviation.number} acknowledged by {signer.full_name}",
               link=reverse("deviations:detail", args=[deviation.pk]))
    return deviation


def classify_deviation(*, actor: User, password: str, deviation: Deviation,
                       classification: str, patient_impact: str, rationale: str,
                       request: HttpRequest | None = None) -> ClassificationDecision:
    """QA confirms or changes the provisional classification, signed *reviewed* by someone
    other than the raiser; the deadlines are recomputed from the detection time, and an
    escalation that is now already due is queued after commit."""
    _require(actor, "deviations.classify_deviation", "classify deviations")
    require_independence(actor, deviation, "classify")
    if classification not in Classification.values:
        raise DomainError("Choose minor, major or critical.", code="invalid",
                          fields={"classification": ["Not valid."]})
    if patient_impact not in PatientImpact.values:
        raise DomainError("Choose yes, no or unknown.", code="invalid",
                          fields={"patient_impact": ["Not valid."]})
    rationale = _text(rationale, "rationale", "A rationale")
    signer = reauthenticate(user=actor, password=password, request=request)
    with transaction.atomic():
        deviation = _lock(actor, deviation)
        decision = _record(ClassificationDecision, deviation, signer, rationale,
                           classification=classification, patient_impact=patient_impact,
                           rationale=rationale)
        apply_signature(signer=signer, record=decision, meaning=Meaning.REVIEWED,
                        reason=rationale)
        deviation.classification = classification
        deviation.patient_impact = patient_impact
        deviation.classification_confirmed = True
        acknowledge_due, disposition_due = deadlines.deadlines_for(
            deviation.site, classification, patient_impact, deviation.detected_at)
        if deviation.status == Status.OPEN:
            deviation.acknowledge_due_at = acknowledge_due
        deviation.disposition_due_at = disposition_due
        refresh_next_escalation(deviation)
        _save(deviation, signer, f"Classified {classification}, patient impact "
                                 f"{patient_impact}: {rationale}")
        if deviation.next_escalation_at and deviation.next_escalation_at <= timezone.now():
            from deviations.tasks import escalate_deviation

            pk = deviation.pk
            transaction.on_commit(lambda: escalate_deviation.delay(pk))
    return decision


def dispose_material(*, actor: User, password: str, deviation: Deviation, decision: str,
                     rationale: str, request: HttpRequest | None = None) -> Disposition:
    """QA decides what happens to the affected material, signed *approved* by someone other
    than the person who raised the deviation."""
    _require(actor, "deviations.dispose_deviation", "sign dispositions")
    require_independence(actor, deviation, "dispose")
    if decision not in Disposition.Decision.values:
        raise DomainError("Choose continue, hold, discard or use under concession.",
                          code="invalid", fields={"decision": ["Not valid."]})
    rationale = _text(rationale, "rationale", "A rationale")
    signer = reauthenticate(user=actor, password=password, request=request)
    with transaction.atomic():
        deviation = _lock(actor, deviation)
        _acknowledged(deviation, "dispose of the material")
        disposition = _record(Disposition, deviation, signer, rationale, decision=decision,
                              rationale=rationale)
        apply_signature(signer=signer, record=disposition, meaning=Meaning.APPROVED,
                        reason=rationale)
        deviation.disposition = decision
        refresh_next_escalation(deviation)
        _save(deviation, signer, f"Material disposition: {disposition.get_decision_display()}")
    return disposition


def record_investigation(*, actor: User, password: str, deviation: Deviation,
                         root_cause_category: str, narrative: str,
                         request: HttpRequest | None = None) -> Investigation:
    """The investigator, never the raiser, records the root cause, signed *authored*; a
    revision is a new signed record, the earlier one stays."""
    _require(actor, "deviations.investigate_deviation", "investigate deviations")
    require_independence(actor, deviation, "investigate")
    if root_cause_category not in Investigation.RootCause.values:
        raise DomainError("Choose a root-cause category.", code="invalid",
                          fields={"root_cause_category": ["Not valid."]})
    narrative = _text(narrative, "narrative", "The investigation narrative")
    signer = reauthenticate(user=actor, password=password, request=request)
    with transaction.atomic():
        deviation = _lock(actor, deviation)
        _acknowledged(deviation, "investigate")
        investigation = _record(Investigation, deviation, signer, "Investigation recorded",
                                root_cause_category=root_cause_category, narrative=narrative)
        apply_signature(signer=signer, record=investigation, meaning=Meaning.AUTHORED,
                        reason="Investigation")
        if deviation.status == Status.ACKNOWLEDGED:
            deviation.move_to(Status.UNDER_INVESTIGATION)
            _save(deviation, signer, "Investigation started")
    return investigation


@transaction.atomic
def add_capa(*, actor: User, deviation: Deviation, description: str, owner: User,
             due_date: date, effectiveness_check: str = "") -> CapaAction:
    """A corrective or preventive action with an owner at the site and a due date; the
    deviation waits for its CAPA."""
    _require(actor, "deviations.manage_capa", "add CAPA actions")
    description = _text(description, "description", "What the action is")
    deviation = _lock(actor, deviation)
    _acknowledged(deviation, "add CAPA actions")
    if owner is None or not owner.is_active or not owner.has_site(deviation.site):
        raise DomainError("The owner must be an active person at the deviation's site.",
                          code="invalid", fields={"owner": ["Not at this site."]})
    if due_date < timezone.localdate(timezone=deviation.site.zone):
        raise DomainError("The due date cannot be in the past.", code="invalid",
                          fields={"due_date": ["In the past."]})
    capa = _record(CapaAction, deviation, actor, "CAPA action added", description=description,
                   owner=owner, due_date=due_date,
                   effectiveness_check=(effectiveness_check or "").strip())
    if deviation.status != Status.PENDING_CAPA:
        deviation.move_to(Status.PENDING_CAPA)
        _save(deviation, actor, "CAPA action added")
    notify(recipients=[owner], subject=f"CAPA for {deviation.number}: {description[:80]}",
           body=f"Due {due_date:%Y-%m-%d}.", link=reverse("deviations:detail",
                                                         args=[deviation.pk]))
    return capa


def complete_capa(*, actor: User, password: str, capa: CapaAction, note: str,
                  request: HttpRequest | None = None) -> CapaAction:
    """The owner (or a CAPA manager) signs the action as *performed*."""
    note = _text(note, "note", "What was done")
    signer = reauthenticate(user=actor, password=password, request=request)
    with transaction.atomic():
        _lock(actor, capa.deviation)
        capa = CapaAction.objects.select_for_update().select_related("owner").get(pk=capa.pk)
        if capa.state != CapaAction.State.OPEN:
            raise DomainError("This CAPA action is already done.", code="already_done",
                              status=409)
        capa.state = CapaAction.State.DONE
        capa.done_at = timezone.now()
        capa.done_by = signer
        capa.completion_note = note
        audit.stamp(capa, user=signer, reason=f"Done: {note}")
        capa.save()
        apply_signature(signer=signer, record=capa, meaning=Meaning.PERFORMED, reason=note)
    return capa


def close_deviation(*, actor: User, password: str, deviation: Deviation, summary: str,
                    justification: str = "", request: HttpRequest | None = None) -> Closure:
    """QA closes, signed *approved* by someone other than the raiser. It needs an
    investigation, a disposition where one was due, and every CAPA action done - or a
    justification for the open ones, which the signature then covers."""
    _require(actor, "deviations.close_deviation", "close deviations")
    require_independence(actor, deviation, "close")
    summary = _text(summary, "summary", "A closing summary")
    justification = (justification or "").strip()
    signer = reauthenticate(user=actor, password=password, request=request)
    with transaction.atomic():
        deviation = _lock(actor, deviation)
        _acknowledged(deviation, "close it")
        if not deviation.investigations.exists():
            raise DomainError(f"Record the investigation of {deviation.number} before "
                              "closing it.", code="no_investigation", status=409)
        if deviation.disposition_due_at and not deviation.disposition:
            raise DomainError(f"Sign the disposition of the material affected by "
                              f"{deviation.number} before closing it.", code="no_disposition",
                              status=409)
        open_capa = deviation.capaactions.filter(state=CapaAction.State.OPEN).count()
        if open_capa and not justification:
            raise DomainError(
                f"{open_capa} CAPA action(s) are not done. Complete them, or give a "
                "justification for closing with them open; your signature covers it.",
                code="capa_open", status=409,
                fields={"justification": ["Required while CAPA actions are open."]})
        closure = _record(Closure, deviation, signer, "Closed", summary=summary,
                          justification=justification)
        apply_signature(signer=signer, record=closure, meaning=Meaning.APPROVED,
                        reason=justification or summary)
        deviation.move_to(Status.CLOSED)
        deviation.closed_at = timezone.now()
        deviation.next_escalation_at = None
        _save(deviation, signer, f"Closed: {summary}")
    return closure


@transaction.atomic
def cancel_deviation(*, actor: User, deviation: Deviation, reason: str) -> Deviation:
    """Only QA, never the raiser, cancels (raised in error, a duplicate), with a reason;
    never deleted."""
    _require(actor, "deviations.cancel_deviation", "cancel deviations (QA only)")
    require_independence(actor, deviation, "cancel")
    reason = (reason or "").strip()
    if not reason:
        raise ReasonForChangeRequired("A reason is required to cancel a deviation.",
                                      fields={"reason": ["Required."]})
    deviation = _lock(actor, deviation)
    deviation.move_to(Status.CANCELLED)
    deviation.cancellation_reason = reason
    deviation.next_escalation_at = None
    _save(deviation, actor, f"Cancelled: {reason}")
    return deviation


@transaction.atomic
def add_comment(*, actor: User, deviation: Deviation, text: str) -> Comment:
    """Anyone who may see the deviation adds to its timeline, also after closure."""
    _require(actor, "deviations.view_deviation", "comment on deviations")
    text = _text(text, "text", "A comment")
    if not actor.has_site(deviation.site):
        raise PermissionRefused(f"{actor.full_name} has no access to site {deviation.site}.")
    return _record(Comment, deviation, actor, "Comment", text=text)


@transaction.atomic
def record_immediate_actions(*, actor: User, deviation: Deviation, text: str) -> Deviation:
    """What was done at once to contain it (kept in the history, each change with a reason)."""
    _require(actor, "deviations.raise_deviation", "record immediate actions")
    text = _text(text, "immediate_actions", "The immediate actions")
    deviation = _lock(actor, deviation)
    deviation.immediate_actions = text
    _save(deviation, actor, "Immediate actions recorded")
    return deviation

