"""Demo data for training: the qualifications of an autologous CAR-T process, their SOPs and
revisions, and operators in every state the gate knows: valid, expiring soon, expired,
suspended, and not yet retrained on a new SOP revision.

Everything goes through the services with the demo people's own signatures (their demo
password), except one certification granted long ago, which is recorded as it would have
been then and then expired by the real expiry service. Idempotent: a loaded demo is left
as it is.
"""

from __future__ import annotations

import datetime as dt

from dateutil.relativedelta import relativedelta
from django.utils import timezone

from mes import audit
from mes.demo import DEMO_PASSWORD
from mes.models import Meaning, Site, User
from mes.services.signatures import apply_signature
from training.models import Certification, CertificationDecision, Qualification, SOPRevision
from training.services import certifications, expiry, records, sops

# code, name, kind, grade, validity (months), SOP number, SOP title
QUALIFICATIONS = [
    ("GOWN-B", "Aseptic gowning for grade B", "gowning", "B", 12,
     "SOP-GOWN-001", "Gowning for grade B cleanrooms"),
    ("CELL-SEL", "CD4/CD8 cell selection", "process", "", 24,
     "SOP-CS-010", "Magnetic cell selection of apheresis material"),
    ("ACT-TRANS", "T-cell activation and lentiviral transduction", "process", "", 24,
     "SOP-AT-020", "Activation and transduction"),
    ("EXPANSION", "Cell expansion in the bioreactor", "process", "", 24,
     "SOP-EXP-030", "Expansion, feeding and sampling"),
    ("HARVEST-FILL", "Harvest, formulation and fill", "process", "", 24,
     "SOP-HF-040", "Harvest, wash, formulation and bag fill"),
    ("CRYO", "Controlled-rate cryopreservation", "equipment", "", 24,
     "SOP-CRY-050", "Controlled-rate freezing and transfer to LN2 vapour"),
    ("VERIFY-2P", "Second-person verification of critical steps", "reviewer", "", 12,
     "SOP-QA-060", "Second-person verification"),
]
PROCESS = ["CELL-SEL", "ACT-TRANS", "EXPANSION", "HARVEST-FILL", "CRYO"]


def load() -> dict:
    if Qualification.objects.filter(code="CELL-SEL").exists():
        return {}
    people = {u.username: u for u in User.objects.filter(username__in=[
        "operator", "operator2", "supervisor", "trainer", "qa", "bos-operator"])}
    if len(people) < 6:
        return {}  # the kernel's demo people are not there
    lei, bos = Site.objects.get(code="LEI"), Site.objects.get(code="BOS")
    today = timezone.localdate()
    trainer, qa = people["trainer"], people["qa"]
    ago = lambda days: today - dt.timedelta(days=days)  # noqa: E731

    # SOPs, revision 1 in force for almost two years; qualifications that require them.
    revisions: dict[str, SOPRevision] = {}
    quals: dict[str, Qualification] = {}
    with audit.acting_as(qa):
        for code, name, kind, grade, months, number, title in QUALIFICATIONS:
            document = sops.create_sop_document(actor=qa, number=number, title=title,
                                                retraining_grace_days=0)
            revision = sops.add_sop_revision(actor=qa, document=document, revision="1",
                                             summary="First issue")
            revisions[code] = sops.make_revision_effective(
                actor=qa, revision=revision, effective_date=ago(700),
                reason="Approved under change control CC-2024-001")
            quals[code] = sops.create_qualification(
                actor=qa, code=code, name=name, kind=kind, cleanroom_grade=grade,
                validity_months=months, sop_documents=[document])

    def train(person, code, *, site=lei, by=trainer, on=None):
        record = records.record_training(actor=person, password=DEMO_PASSWORD,
                                         sop_revision=revisions[code], trainer=by, site=site,
                                         trained_on=on or ago(690), assessment="passed")
        return records.verify_training(actor=by, password=DEMO_PASSWORD, record=record)

    def grant(person, code, valid_from, *, site=lei, by=trainer, reason=None):
        return certifications.grant_certification(
            actor=by, password=DEMO_PASSWORD, person=person, qualification=quals[code],
            site=site, valid_from=valid_from,
            reason=reason or f"Observed performance of {quals[code].name.lower()} passed")

    olga, omar = people["operator"], people["operator2"]
    for person in (olga, omar):
        for code in ["GOWN-B", *PROCESS]:
            train(person, code)
    train(people["supervisor"], "GOWN-B")
    train(people["supervisor"], "VERIFY-2P")
    for code in ("GOWN-B", "CELL-SEL"):
        train(people["bos-operator"], code, site=bos, by=qa)

    # Olga: valid everywhere; her gowning expires in 19 days.
    grant(olga, "GOWN-B", ago(345), reason="Gowning qualification with settle plates passed")
    for code in PROCESS:
        grant(olga, code, ago(300))
    # Omar: gowning and selection valid; activation/transduction about to need retraining;
    # harvest and fill suspended; cryopreservation granted long ago and now expired.
    grant(omar, "GOWN-B", ago(100))
    for code in ("CELL-SEL", "ACT-TRANS", "EXPANSION", "HARVEST-FILL"):
        grant(omar, code, ago(300))
    harvest = Certification.objects.get(person=omar, qualification=quals["HARVEST-FILL"])
    certifications.suspend_certification(
        actor=trainer, password=DEMO_PASSWORD, certification=harvest,
        reason="Aseptic technique during bag fill under investigation (DEV-2026-014)")
    _granted_long_ago(omar, quals["CRYO"], lei, trainer, valid_from=ago(800))
    # The supervisor verifies critical steps; Beth works at the Boston CMO.
    grant(people["supervisor"], "VERIFY-2P", ago(200))
    grant(people["supervisor"], "GOWN-B", ago(200))
    for code in ("GOWN-B", "CELL-SEL"):
        grant(people["bos-operator"], code, ago(120), site=bos, by=qa)

    # Revision 2 of the transduction SOP took effect two weeks ago: Olga is retrained, Omar
    # recorded his training but the trainer has yet to verify it.
    with audit.acting_as(qa):
        new = sops.add_sop_revision(actor=qa, document=revisions["ACT-TRANS"].document,
                                    revision="2", summary="New vector thaw procedure")
        revisions["ACT-TRANS"] = sops.make_revision_effective(
            actor=qa, revision=new, effective_date=ago(14),
            reason="Change control CC-2026-031: vector thaw at room temperature")
        draft = sops.add_sop_revision(actor=qa, document=revisions["HARVEST-FILL"].document,
                                      revision="2", summary="Draft: closed-system fill")
    train(olga, "ACT-TRANS", on=ago(7))
    records.record_training(actor=omar, password=DEMO_PASSWORD,
                            sop_revision=revisions["ACT-TRANS"], trainer=trainer, site=lei,
                            trained_on=ago(1), assessment="passed")
    # A completion reported by the learning system: recorded by the integration's account,
    # it waits for the named trainer's signature like any other record.
    with audit.acting_as(trainer):
        records.record_external_completion(
            actor=trainer, trainee=people["supervisor"], trainer=trainer,
            sop_revision=revisions["CELL-SEL"], site=lei, trained_on=ago(30),
            assessment="passed", external_reference="LMS-DEMO-0001")

    # The daily task's work, as beat would do it tonight.
    with audit.acting_as(audit.system_user()):
        expiry.expire_certifications()
        expiry.warn_of_expiry()
    return {"qualifications": quals, "draft": draft}


def _granted_long_ago(person: User, qualification: Qualification, site: Site, trainer: User,
                      *, valid_from: dt.date) -> Certification:
    """A certification granted before the MES was in use, recorded with its real dates and
    the trainer's signature; the expiry service then expires it as it would have."""
    valid_until = (valid_from + relativedelta(months=qualification.validity_months)
                   - dt.timedelta(days=1))
    reason = "Certified on paper before the MES went live (training file TF-2024-118)"
    with audit.acting_as(trainer):
        cert = Certification(person=person, qualification=qualification, site=site,
                             valid_from=valid_from, valid_until=valid_until)
        audit.stamp(cert, user=trainer, reason=reason)
        cert.save()
        decision = CertificationDecision(certification=cert, site=site,
                                         action=CertificationDecision.Action.GRANT,
                                         reason=reason, decided_by=trainer)
        audit.stamp(decision, user=trainer, reason=reason)
        decision.save()
        apply_signature(signer=trainer, record=decision, meaning=Meaning.APPROVED,
                        reason=reason)
    return cert
