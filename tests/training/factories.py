"""Training factories. Records made here skip the signing flows on purpose: the gate's tests
need facts, and the flows have their own tests in test_certifications / test_records."""

from __future__ import annotations

import datetime as dt

import factory

from mes import audit
from training.models import (
    Certification,
    Qualification,
    QualificationSOP,
    SOPDocument,
    SOPRevision,
    TrainingRecord,
)


class SOPDocumentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SOPDocument
        django_get_or_create = ("number",)

    number = factory.Sequence(lambda n: f"SOP-{n:03d}")
    title = factory.Sequence(lambda n: f"Procedure {n}")


class SOPRevisionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SOPRevision

    document = factory.SubFactory(SOPDocumentFactory)
    revision = factory.Sequence(lambda n: str(n + 1))
    status = SOPRevision.Status.EFFECTIVE
    effective_date = dt.date(2026, 1, 1)


class QualificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Qualification
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"Q{n:03d}")
    name = factory.Sequence(lambda n: f"Qualification {n}")
    kind = Qualification.Kind.PROCESS
    validity_months = 12


def require_sop(qualification: Qualification, document: SOPDocument) -> None:
    QualificationSOP.objects.create(qualification=qualification, document=document)


def trained(person, revision: SOPRevision, *, trainer, site, on=dt.date(2026, 2, 1),
            assessment=TrainingRecord.Assessment.PASSED,
            status=TrainingRecord.Status.COMPLETE) -> TrainingRecord:
    return TrainingRecord.objects.create(
        trainee=person, trainer=trainer, sop_revision=revision, site=site, trained_on=on,
        assessment=assessment, status=status, recorded_by=trainer)


def certified(person, qualification, site, *, valid_from=dt.date(2026, 2, 1),
              valid_until=dt.date(2027, 1, 31), status=Certification.Status.ACTIVE
              ) -> Certification:
    return Certification.objects.create(person=person, qualification=qualification, site=site,
                                        valid_from=valid_from, valid_until=valid_until,
                                        status=status)


def supersede(old: SOPRevision, revision: str, effective: dt.date) -> SOPRevision:
    """A newer revision takes effect (directly, as the facts for the gate's tests)."""
    old.status = SOPRevision.Status.SUPERSEDED
    audit.stamp(old, user=None, reason="Superseded in test")
    old.save()
    return SOPRevision.objects.create(document=old.document, revision=revision,
                                      status=SOPRevision.Status.EFFECTIVE,
                                      effective_date=effective)
