"""The clinical identity's own audit trail is as restricted as the identity: mes's audit-trail
page and API ask this app before showing it, and each view is logged as a reveal."""

from __future__ import annotations

from custody.models import ClinicalIdentity
from custody.services.orders import reveal_clinical_identity
from mes.models import User


def reveal_identity_history(*, actor: User, record: ClinicalIdentity, purpose: str,
                            remote_addr: str = "") -> None:
    reveal_clinical_identity(actor=actor, patient=record.patient, purpose=purpose,
                             remote_addr=remote_addr)
