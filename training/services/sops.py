"""SOP documents, their revisions, and qualifications (QA and Trainers maintain them).

Making a revision effective supersedes the revision in force, in one transaction: from that
moment training on the old revision no longer satisfies the gate (after the SOP's grace
period, default none).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction

from mes import audit
from mes.errors import DomainError
from mes.models import User
from training.models import (
    Qualification,
    QualificationSOP,
    SOPDocument,
    SOPRevision,
    check_transition,
)
from training.services._common import require_permission, require_reason

MANAGE = "training.add_sopdocument"


def _validated(record, exclude=()):
    try:
        record.full_clean(exclude=list(exclude), validate_constraints=False)
    except ValidationError as exc:
        raise DomainError("The details are not valid.", code="invalid",
                          fields=exc.message_dict) from exc
    return record


@transaction.atomic
def create_sop_document(*, actor: User, number: str, title: str,
                        retraining_grace_days: int = 0) -> SOPDocument:
    """Register an SOP; its revisions follow as drafts."""
    require_permission(actor, MANAGE, "maintain SOP documents")
    number = (number or "").strip().upper()
    if SOPDocument.objects.filter(number=number).exists():
        raise DomainError(f"SOP {number} already exists.", code="duplicate",
                          fields={"number": ["Already exists."]})
    document = _validated(SOPDocument(number=number, title=(title or "").strip(),
                                      retraining_grace_days=retraining_grace_days))
    audit.stamp(document, user=actor, reason="SOP registered")
    document.save()
    return document


@transaction.atomic
def add_sop_revision(*, actor: User, document: SOPDocument, revision: str,
                     summary: str = "") -> SOPRevision:
    """A new draft revision of an SOP."""
    require_permission(actor, MANAGE, "maintain SOP documents")
    revision = (revision or "").strip()
    if SOPRevision.objects.filter(document=document, revision=revision).exists():
        raise DomainError(f"{document.number} already has a revision {revision}.",
                          code="duplicate", fields={"revision": ["Already exists."]})
    record = _validated(SOPRevision(document=document, revision=revision, summary=summary))
    audit.stamp(record, user=actor, reason="Draft revision added")
    record.save()
    return record


@transaction.atomic
def make_revision_effective(*, actor: User, revision: SOPRevision, effective_date: dt.date,
                            reason: str) -> SOPRevision:
    """Put a draft revision in force and supersede the one it replaces."""
    require_permission(actor, MANAGE, "make SOP revisions effective")
    reason = require_reason(reason)
    # Lock every revision of the document: two revisions made effective at once must not
    # both win.
    revisions = list(SOPRevision.objects.select_for_update()
                     .filter(document_id=revision.document_id).order_by("pk"))
    target = next(r for r in revisions if r.pk == revision.pk)
    check_transition(SOPRevision.ALLOWED, target.status, SOPRevision.Status.EFFECTIVE,
                     f"{target}")
    for current in revisions:
        if current.status == SOPRevision.Status.EFFECTIVE:
            if effective_date < current.effective_date:
                raise DomainError(
                    f"{target} cannot take effect before {current} "
                    f"({current.effective_date.isoformat()}).", code="invalid",
                    fields={"effective_date": ["Before the revision in force."]})
            current.status = SOPRevision.Status.SUPERSEDED
            audit.stamp(current, user=actor, reason=f"Superseded by rev. {target.revision}: "
                                                    f"{reason}")
            current.save()
    target.status = SOPRevision.Status.EFFECTIVE
    target.effective_date = effective_date
    audit.stamp(target, user=actor, reason=reason)
    target.save()
    return target


@transaction.atomic
def create_qualification(*, actor: User, code: str, name: str, kind: str,
                         validity_months: int, cleanroom_grade: str = "",
                         sop_documents: Iterable[SOPDocument] = ()) -> Qualification:
    """A qualification with the SOPs whose effective revisions a certified person must know."""
    require_permission(actor, "training.add_qualification", "define qualifications")
    code = (code or "").strip().upper()
    if Qualification.objects.filter(code=code).exists():
        raise DomainError(f"Qualification {code} already exists.", code="duplicate",
                          fields={"code": ["Already exists."]})
    if (kind == Qualification.Kind.GOWNING) != bool(cleanroom_grade):
        raise DomainError("A gowning qualification names its cleanroom grade; other kinds "
                          "do not.", code="invalid",
                          fields={"cleanroom_grade": ["Required for gowning only."]})
    qualification = _validated(Qualification(
        code=code, name=(name or "").strip(), kind=kind, cleanroom_grade=cleanroom_grade,
        validity_months=validity_months))
    audit.stamp(qualification, user=actor, reason="Qualification defined")
    qualification.save()
    for document in sop_documents:
        link = QualificationSOP(qualification=qualification, document=document)
        audit.stamp(link, user=actor, reason="Qualification defined")
        link.save()
    return qualification
