"""Two Trainers granting the same certification at the same moment: exactly one wins."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from mes.errors import DomainError
from mes.models import ElectronicSignature
from tests.mes.factories import PASSWORD, person
from tests.training.factories import trained
from training.models import Certification
from training.services import certifications


@pytest.mark.postgres
@pytest.mark.req("TRN-CERT-002:one-current")
def test_concurrent_grants_leave_one_current_certification(transactional_db, site, roles,
                                                           cell_selection, sop_revision):
    tina = person("Trainer", sites=[site], username="tr1", full_name="Tina Trainer")
    quinn = person("QA Reviewer", sites=[site], username="qa1", full_name="Quinn QA")
    otto = person("Operator", sites=[site], username="op1", full_name="Otto Operator")
    trained(otto, sop_revision, trainer=tina, site=site)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def grant(actor):
        try:
            start.wait()
            certifications.grant_certification(actor=actor, password=PASSWORD, person=otto,
                                               qualification=cell_selection, site=site,
                                               reason=f"Granted by {actor.username}")
            outcomes.append("granted")
        except DomainError as error:
            outcomes.append(error.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=grant, args=(actor,)) for actor in (tina, quinn)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["already_certified", "granted"]
    assert Certification.objects.filter(person=otto).count() == 1
    assert ElectronicSignature.objects.count() == 1
