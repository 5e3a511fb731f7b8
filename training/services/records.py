"""Training records (21 CFR 11.10(i)).

The trainee records their training on an effective SOP revision and signs it *trained*; the
trainer named on the record then signs it *verified*. Only then, with a passed assessment,
does it count for the gate.

A completion from the external learning system is recorded once per reference and
attributed to the integration account that reported it, and to nobody else: an API token is
not a signature (21 CFR 11.200 needs the signer's password at the time of signing). It
therefore arrives *awaiting verification* and counts only once the trainer it names has
signed it *verified* in the MES, like any other record.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse

from mes import audit
from mes.errors import Conflict, DomainError, PermissionRefused
from mes.models import Meaning, Site, User
from mes.services.notifications import notify
from mes.services.signatures import apply_signature, reauthenticate
from training.models import SOPRevision, TrainingRecord, check_transition
from training.services._common import require_permission
from training.services.gate import local_date


def _check_training_facts(*, trainee: User, trainer: User, sop_revision: SOPRevision,
                          site: Site, trained_on: dt.date, assessment: str) -> None:
    if trainer.pk == trainee.pk:
        raise PermissionRefused("The trainer cannot be the trainee.",
                                fields={"trainer": ["Choose another person."]})
    if not trainee.has_site(site):
        raise PermissionRefused(f"{trainee.full_name} has no access to {site.code}.")
    if not (trainer.is_active and trainer.has_perm("training.verify_training")
            and trainer.has_site(site)):
        raise DomainError(f"{trainer.full_name} is not a trainer at {site.code}.",
                          code="not_a_trainer", fields={"trainer": ["Not a trainer here."]})
    if sop_revision.status != SOPRevision.Status.EFFECTIVE:
        raise DomainError(
            f"{sop_revision} is {sop_revision.get_status_display().lower()}; training is "
            "recorded on the effective revision.", code="revision_not_effective",
            fields={"sop_revision": ["Not the effective revision."]})
    if trained_on > local_date(site, None):
        raise DomainError("The training date is in the future.", code="invalid",
                          fields={"trained_on": ["In the future."]})
    if trained_on < sop_revision.effective_date:
        raise DomainError(
            f"{sop_revision} was not yet effective on {trained_on.isoformat()}.",
            code="invalid", fields={"trained_on": ["Before the revision took effect."]})
    if assessment not in TrainingRecord.Assessment.values:
        raise DomainError(f"Unknown assessment result “{assessment}”.", code="invalid",
                          fields={"assessment": ["Passed or failed."]})


def check_record_training(*, actor: User, sop_revision: SOPRevision, trainer: User,
                          site: Site, trained_on: dt.date, assessment: str, **_) -> None:
    """Everything recording a training checks before the signature (UI.md, Signing)."""
    require_permission(actor, "training.sign_own_training", "record training")
    _check_training_facts(trainee=actor, trainer=trainer, sop_revision=sop_revision,
                          site=site, trained_on=trained_on, assessment=assessment)


def record_training(*, actor: User, password: str, sop_revision: SOPRevision, trainer: User,
                    site: Site, trained_on: dt.date, assessment: str, comments: str = "",
                    request: HttpRequest | None = None) -> TrainingRecord:
    """The trainee records their own training and signs it as *trained*."""
    check_record_training(actor=actor, sop_revision=sop_revision, trainer=trainer, site=site,
                          trained_on=trained_on, assessment=assessment)
    signer = reauthenticate(user=actor, password=password, request=request)
    with transaction.atomic():
        record = TrainingRecord(trainee=signer, trainer=trainer, sop_revision=sop_revision,
                                site=site, trained_on=trained_on, assessment=assessment,
                                comments=(comments or "").strip(), recorded_by=signer)
        audit.stamp(record, user=signer, reason="Training recorded by the trainee")
        record.save()
        apply_signature(signer=signer, record=record, meaning=Meaning.TRAINED,
                        reason="I was trained on this SOP revision")
    return record


def check_verify_training(*, actor: User, record: TrainingRecord) -> None:
    """Everything verifying a training checks before the signature (it checks the status
    again under the lock)."""
    require_permission(actor, "training.verify_training", "verify training")
    if actor.pk != record.trainer_id:
        raise PermissionRefused("Only the trainer named on the record verifies it.")
    check_transition(TrainingRecord.ALLOWED, record.status, TrainingRecord.Status.COMPLETE,
                     "The training record")


def verify_training(*, actor: User, password: str, record: TrainingRecord,
                    request: HttpRequest | None = None) -> TrainingRecord:
    """The trainer named on the record confirms it and signs it as *verified*."""
    check_verify_training(actor=actor, record=record)
    signer = reauthenticate(user=actor, password=password, request=request)
    with transaction.atomic():
        record = TrainingRecord.objects.select_for_update().get(pk=record.pk)
        check_transition(TrainingRecord.ALLOWED, record.status,
                         TrainingRecord.Status.COMPLETE, "The training record")
        record.status = TrainingRecord.Status.COMPLETE
        audit.stamp(record, user=signer, reason="Verified by the trainer")
        record.save()
        apply_signature(signer=signer, record=record, meaning=Meaning.VERIFIED,
                        reason="Training given and assessed")
    return record


@transaction.atomic
def record_external_completion(*, actor: User, trainee: User, trainer: User,
                               sop_revision: SOPRevision, site: Site, trained_on: dt.date,
                               assessment: str, external_reference: str
                               ) -> tuple[TrainingRecord, bool]:
    """A completion reported by the external learning system, recorded by the integration
    account ``actor`` and left awaiting the named trainer's signature (nobody attests it
    until they sign). The same reference twice returns the first record (``created``
    False); the same reference with other facts is a conflict."""
    require_permission(actor, "training.import_training_record",
                       "record training from the learning system")
    reference = (external_reference or "").strip()
    if not reference:
        raise DomainError("The learning system's reference is required.", code="invalid",
                          fields={"external_reference": ["Required."]})
    existing = (TrainingRecord.objects.select_for_update()
                .filter(external_reference=reference).first())
    if existing is not None:
        same = (existing.trainee_id, existing.trainer_id, existing.sop_revision_id,
                existing.site_id, existing.trained_on, existing.assessment) == (
            trainee.pk, trainer.pk, sop_revision.pk, site.pk, trained_on, assessment)
        if not same:
            raise Conflict(f"The reference {reference} was already recorded with other "
                           "details.", code="reference_conflict")
        return existing, False
    _check_training_facts(trainee=trainee, trainer=trainer, sop_revision=sop_revision,
                          site=site, trained_on=trained_on, assessment=assessment)
    if not actor.has_site(site):
        raise PermissionRefused(f"{actor.full_name} has no access to {site.code}.")
    record = TrainingRecord(trainee=trainee, trainer=trainer, sop_revision=sop_revision,
                            site=site, trained_on=trained_on, assessment=assessment,
                            status=TrainingRecord.Status.AWAITING_VERIFICATION,
                            source=TrainingRecord.Source.LMS, external_reference=reference,
                            recorded_by=actor)
    audit.stamp(record, user=actor, reason=(
        f"Completion reported by the learning system ({reference}), recorded by "
        f"{actor.full_name}; awaiting verification by {trainer.full_name}"))
    record.save()
    notify(recipients=[trainer], email=False,
           subject=f"Verify the training of {trainee.full_name} on {sop_revision} "
                   f"(learning system {reference})",
           link=reverse("training:person", args=[trainee.pk]))
    return record, True
